"""Tests of golden.files: atomic writes leave either the old file or the new one, never a part."""

import os

import pytest

from golden.files import atomic_write_bytes, atomic_write_text, atomic_writer


def test_writes_replace_the_file_whole(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_text(target, "first ü\n")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["result.json"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_a_failed_write_keeps_the_old_file_and_leaves_no_part(tmp_path):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_text_is_utf8_whatever_the_locale(tmp_path, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C")
    atomic_write_text(tmp_path / "t.txt", "σ_c ≈ 5e-5")
    assert (tmp_path / "t.txt").read_bytes().decode("utf-8") == "σ_c ≈ 5e-5"
