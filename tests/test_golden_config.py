"""Tests of golden.config: presets, TOML files, overrides and validation."""

import pytest

from golden import config
from golden.config import ConfigError


def test_presets_follow_the_drn_reference_settings():
    one = config.preset("drn-1h")
    assert one.sizes == [1568, 1024, 10]
    assert (one.input_gain, one.sweeps, one.beta, one.batch_size, one.momentum) == (480.0, 4, 0.5, 32, 0.9)
    three = config.preset("drn-3h")
    assert three.sizes == [1568, 1024, 1024, 1024, 10]
    assert three.lr_biases == pytest.approx([lr / 10 for lr in three.lr_weights])
    assert config.preset("drn-2h", "fashion_mnist").input_gain == 1250.0
    assert config.preset("drn-2h", "mnist").input_gain == 2000.0
    xs = config.preset("drn-xs")
    assert (xs.sizes, xs.batch_size, xs.epochs) == ([1568, 100, 10], 4, 10)


def test_presets_are_independent_copies():
    a = config.preset("drn-xs")
    a.hidden.append(4)
    assert config.preset("drn-xs").hidden == [100]


def test_toml_file_then_command_line_override(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('model = "drn-1h"\nsigma = 1e-4\nsamples = 4\nhidden = [64]\nlr_weights = [0.01, 1]\n')
    cfg = config.load(config_file=f, overrides={"sigma": 2e-4, "beta": None})
    assert cfg.model == "drn-1h" and cfg.hidden == [64]
    assert cfg.sigma == 2e-4 and cfg.samples == 4 and cfg.beta == 0.5
    assert cfg.lr_weights == [0.01, 1.0] and isinstance(cfg.lr_weights[1], float)


@pytest.mark.parametrize("text, message", [
    ("sigma = -1.0", "sigma must be >= 0"),
    ("samples = 0", "samples (N) must be >= 1"),
    ("hidden = [7]", "must be an even integer"),
    ("lr_weights = [0.1]", "lr_weights: 1 values given, the network has 2"),
    ("order = 'random'", "order must be one of"),
    ("colour = 3", "unknown setting 'colour'"),
    ("beta = 'big'", "beta must be float"),
    ("epochs = 2.5", "epochs must be int"),
    ("this is not toml", "is not valid TOML"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        config.load(config_file=f)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_preset_and_missing_file():
    with pytest.raises(ConfigError, match="unknown model preset 'drn-9h'"):
        config.load("drn-9h")
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(config_file="no/such/file.toml")


def test_config_round_trips_through_its_dict():
    cfg = config.load("drn-2h", overrides={"sigma": 3e-5})
    again = config.apply(config.Config(), cfg.to_dict(), "stored").validate()
    assert again == cfg


def test_hardware_load_puts_the_core_defaults_between_the_preset_and_the_file(tmp_path):
    cfg = config.load("drn-xs", hardware=True)
    assert (cfg.precision, cfg.batch_size, cfg.momentum) == ("fixed", 1, 0.0)
    assert config.load("drn-xs").precision == "float"  # only when asked
    f = tmp_path / "c.toml"
    f.write_text("batch_size = 8\n")
    assert config.load(config_file=f, hardware=True).batch_size == 8  # the file still wins
