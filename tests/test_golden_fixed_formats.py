"""Tests of golden.fixed_formats: derived constants and the rejection of impossible formats."""

import pytest

from golden import config
from golden.config import ConfigError
from golden.fixed_formats import derive, lr_codes


def fixed(model="drn-xs", fixed=None, **overrides):
    """A fixed-point config of a preset with overrides and formats, not yet validated."""
    cfg = config.apply(config.preset(model), {"precision": "fixed", "momentum": 0.0, **overrides}, "test")
    config.apply(cfg.fixed, fixed or {}, "test")
    return cfg


@pytest.mark.parametrize("model", ["drn-xs", "drn-1h", "drn-2h", "drn-3h"])
def test_presets_have_valid_default_formats(model):
    c = derive(fixed(model).validate())
    assert c.vin_table[0] == 0 and c.vin_table[255] == round(config.preset(model).input_gain * 2 ** c.Fv)
    assert all(c.vin_table[1:] >= c.vin_table[:-1])
    assert c.beta_g == config.preset(model).beta * 2 ** c.Fg and c.beta_c == c.beta_g << c.Fv


def test_learning_rate_codes_in_multiply_and_shift_mode():
    cfg = fixed().validate()
    c = derive(cfg)
    k_w, s_w, k_b, s_b = lr_codes(cfg, c, 0)
    # k = lr / (2 (beta2 - beta1) B) = 0.006 / (2 * 2 * 4)
    assert k_w[1] == round(0.006 / 16 * 2 ** 24) and s_w[1] == 2 * c.Fv + 24 - c.Fg
    assert k_b[2] == round(0.006 / 8 * 2 ** 24) and s_b[2] == 24 - c.Fg
    assert lr_codes(cfg, c, 3)[0][1] == round(0.006 * 0.99 ** 3 / 16 * 2 ** 24)
    shift = fixed(lr_weights=[2 ** -4, 2 ** -6], lr_biases=[2 ** -3, 0.0], lr_decay=1.0,
                  fixed={"lr_mode": "shift"})
    k_w, s_w, k_b, s_b = lr_codes(shift, derive(shift), 5)
    assert list(k_w[1:]) == [1, 1] and s_w[1] == 2 * 14 + 8 - 20 and s_w[2] == 2 * 14 + 10 - 20
    assert k_b[1] == 1 and s_b[1] == 6 - 20 and k_b[2] == 0


@pytest.mark.parametrize("overrides, fixed_values, message", [
    ({"beta": 0.3}, {"g_frac": 8}, "is not a multiple of 2^-8"),
    ({"momentum": 0.9}, {}, "momentum must be 0"),
    ({"reading": "updates"}, {}, "reading must be 'measurements'"),
    ({}, {"lr_mode": "shift"}, "needs lr_decay = 1"),
    ({"lr_decay": 1.0}, {"lr_mode": "shift"}, "is not a power of two"),
    ({}, {"lr_frac": 4}, "rounds to 0 with lr_frac = 4"),
    ({}, {"round_v": "stochastic"}, "only available for the update"),
    ({"input_gain": 600.0}, {"vin_bits": 20, "v_frac": 12}, "needs more than vin_bits = 20"),
    ({}, {"v_bits": 14}, "must exceed v_frac"),
    ({}, {"g_bits": 30, "v_bits": 30, "vin_bits": 30}, "must fit 63 bits"),
    ({"sigma": 1e-9}, {"noise_frac": 4}, "rounds to no noise"),
    ({}, {"acc_bits": 30}, "acc_bits must exceed"),
    ({}, {"recip_bits": 40}, "recip_bits must be <= 31"),
    ({}, {"v_bits": 1}, "between 2 and 62"),
])
def test_impossible_formats_are_rejected_with_one_line(overrides, fixed_values, message):
    with pytest.raises(ConfigError) as e:
        fixed(fixed=fixed_values, **overrides).validate()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_fixed_table_in_toml(tmp_path):
    f = tmp_path / "fx.toml"
    f.write_text('precision = "fixed"\n[fixed]\nv_frac = 12\nround_update = "stochastic"\n')
    cfg = config.load(config_file=f)
    assert cfg.fixed.v_frac == 12 and cfg.fixed.round_update == "stochastic" and cfg.fixed.g_frac == 20
    f.write_text('[fixed]\nv_fraction = 12\n')
    with pytest.raises(ConfigError, match="unknown setting 'fixed.v_fraction'"):
        config.load(config_file=f)
