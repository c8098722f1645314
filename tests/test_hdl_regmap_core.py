"""The EP core's register map (hdl/regmap/core.py): the contract registers for a config, codes from the gateware's enums, the build id."""

from __future__ import annotations

import dataclasses

from amaranth.hdl import Shape

from golden import config
from golden.config import Config
from golden.fixed_formats import derive, lr_codes
from hdl.core import CoreMode
from hdl.plan import build_id
from hdl.regmap.core import CORE_ID, core_register_map
from hdl.relax import SweepOrder


def test_core_map_holds_the_contract_registers_for_the_config() -> None:
    cfg = Config(hidden=[100, 50], lr_weights=[0.05] * 3, lr_biases=[0.05] * 3)
    rm = core_register_map(cfg)
    for name in ("ID", "BUILD_ID", "CTRL", "STATUS", "ERRORS", "PREDICTION", "LABEL", "SETTINGS", "SWEEPS",
                 "BATCH_SIZE", "BETA_G", "NOISE_SN", "NOISE_N", "SEED_LANE", "SEED_DATA", "SAMPLE_COUNT",
                 "HIT_COUNT", "RECIP_SAT_COUNT", "CYCLE_COUNT_LO", "CYCLE_COUNT_HI", "MEM_SPACE", "MEM_ADDR",
                 "MEM_WDATA_HI", "MEM_WDATA_LO", "MEM_RDATA_LO", "MEM_RDATA_HI"):
        assert name in rm, name
    layers = [r.name for r in rm if r.name.startswith("LR_K_W")]
    assert layers == ["LR_K_W1", "LR_K_W2", "LR_K_W3"]  # one per weight layer of 1568-100-50-10
    assert rm["ID"].reset == CORE_ID and rm["ID"].const
    assert rm["BUILD_ID"].reset == build_id(cfg)
    assert rm["SEED_LANE"].width == (cfg.fixed.noise_lanes).bit_length()  # reaches the rounding generator L
    assert rm["LABEL"].width == 4 and rm["ERRORS"].access == "w1c"
    assert dict(rm["CTRL"].field("mode").values) == {m.name: m.value for m in CoreMode}  # the core's codes
    assert rm["BATCH_SIZE"].const and rm["BATCH_SIZE"].reset == 1  # online learning only
    assert rm["BETA_G"].width == cfg.fixed.g_bits
    _, s_w, _, s_b = lr_codes(cfg, derive(cfg), 0)
    for l in (1, 2, 3):  # the build's shifts, as signed bytes
        shifts = rm[f"LR_SHIFT{l}"]
        assert shifts.const and shifts.reset == (int(s_w[l]) & 0xFF) | (int(s_b[l]) & 0xFF) << 8
    assert rm["CTRL"].field("start").pulse and rm["ERRORS"].field("recip_sat").mask == 1


def test_core_map_codes_are_the_gateware_enums_and_the_config_names() -> None:
    rm = core_register_map(Config())
    for field, codes in ((rm["CTRL"].field("mode"), CoreMode), (rm["SETTINGS"].field("order"), SweepOrder)):
        assert dict(field.values) == {c.name: c.value for c in codes}, field.name
        assert field.width == Shape.cast(codes).width, field.name  # the register field carries every code
    assert [name.lower() for name, _ in rm["SETTINGS"].field("order").values] == list(config.SWEEP_ORDERS)


def test_build_id_changes_with_formats_and_sizes_only() -> None:
    base = Config()
    assert build_id(base) == build_id(Config(beta=0.5, sigma=0.1, seed=3))  # run settings are registers
    assert build_id(base) != build_id(Config(hidden=[200]))
    assert build_id(base) != build_id(Config(fixed=dataclasses.replace(base.fixed, recip_bits=27)))
