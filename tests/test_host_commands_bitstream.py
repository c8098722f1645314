"""`host bitstream` (host/commands/bitstream.py) without Vivado: bad input and a missing Vivado end in one line."""

from __future__ import annotations

import pytest

from host.cli import main


def test_command_errors_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert main(["bitstream", "--board", "zedboard", "--tcl-only"]) == 2
    assert capsys.readouterr().err == ("host: error: unknown board 'zedboard': choose one of "
                                       "pynq-z2, kv260, zcu104\n")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["bitstream", "--board", "kv260"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("host: error: vivado is not on PATH") and err.count("\n") == 1


def test_tcl_only_writes_the_sources_and_names_the_vivado_command(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture, tmp_path) -> None:
    from host.commands import bitstream

    monkeypatch.setattr(bitstream, "BUILD", tmp_path / "build")
    (tmp_path / "tiny.toml").write_text("hidden = [2]\n")
    argv = ["bitstream", "--board", "pynq-z2", "--config", str(tmp_path / "tiny.toml"), "--lanes", "2", "--tcl-only",
            "--out", str(tmp_path / "overlay")]
    assert main(argv) == 0
    folder = tmp_path / "build" / "pynq-z2"
    assert capsys.readouterr().out == (f"host bitstream: wrote {folder / 'build.tcl'}; run it there with: vivado -mode "
                                       f"batch -source build.tcl -tclargs {tmp_path / 'overlay'}\n")
    assert sorted(p.name for p in folder.iterdir()) == ["build.tcl", "config.json", "ep_top.v", "ep_top_ooc.xdc",
                                                        "regmap.json"]
