"""Tests of golden.train: data order, run folders, checkpoints and the resumed config."""

import numpy as np
import pytest

from golden import config
from golden.config import ConfigError
from golden.train import RunError, epoch_order, load_run, prepare_out, resume_config


def test_epoch_order_depends_only_on_seed_and_epoch():
    cfg = config.preset("drn-xs")
    a, b = epoch_order(cfg, 3, 1000), epoch_order(cfg, 3, 1000)
    assert np.array_equal(a, b) and np.array_equal(np.sort(a), np.arange(1000))
    assert not np.array_equal(a, epoch_order(cfg, 4, 1000))


def test_prepare_out_refuses_a_folder_with_a_run(tmp_path):
    prepare_out(tmp_path / "new" / "deeper")
    assert (tmp_path / "new" / "deeper").is_dir()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text("{}")
    with pytest.raises(RunError, match="already holds a run"):
        prepare_out(tmp_path / "old")


def test_load_run_names_what_is_wrong(tmp_path):
    with pytest.raises(RunError, match="checkpoint.npz is missing"):
        load_run(tmp_path)
    (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunError, match="is unreadable"):
        load_run(tmp_path)


def test_resume_config_allows_only_epochs_and_data_dir():
    stored = {"config": config.preset("drn-xs").to_dict()}
    cfg = resume_config(stored, {"epochs": 20, "data_dir": "elsewhere", "sigma": None})
    assert cfg.epochs == 20 and cfg.data_dir == "elsewhere" and cfg.hidden == [100]
    with pytest.raises(ConfigError, match="only --epochs and --data-dir may change, not beta"):
        resume_config(stored, {"beta": 0.5})
