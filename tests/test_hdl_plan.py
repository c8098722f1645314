"""hdl/plan.py: CoreBuild's checks, defaults, names and the formulas and copy programs the gateware and host read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from golden import config
from golden.config import ConfigError
from hdl.plan import DEFAULT_LANES, MAX_SAMPLES, CoreBuild, default_lanes, most_lanes
from host.cli import main as host_main

ROOT = Path(__file__).resolve().parents[1]


def load(model: str = "drn-xs", **overrides: object) -> config.Config:
    return config.load(model, overrides=overrides, hardware=True)


CONFIGS = {
    "drn-xs-16": (dict(), 16),
    "demo-8": (dict(hidden=[32], lr_weights=[0.001, 0.001], lr_biases=[0.001, 0.001], epochs=1), 8),
    "tiny-2-4-p2": (dict(hidden=[2, 4], sigma=0.05, samples=2, lr_weights=[0.05] * 3, lr_biases=[0.05] * 3), 2),
    "tiny-2-p1-pos": (dict(hidden=[2], variant="positive"), 1),
}
# What EPCore's own formulas and copy programs gave for these builds before the plan held them (depth 1: the
# core before pipelining; every depth adds only its pipeline stages, test_pipeline_stages_add_fixed_cycles).
PINNED = {
    "drn-xs-16": {"train": [21417, 21001, 21857, 21441, 23109, 22129, 23549, 22569, 22413, 21997, 22853, 22437, 24105, 23125, 24545, 23565, 26121, 25705, 26561, 26145, 27813, 26833, 28253, 27273],
                 "infer": [1322, 1886, 2318, 2882, 6026, 6590], "load": 8161, "lower": [20100, 19975, 21225, 20725, 21138, 21013, 22263, 21763],
                 "trace": [244, 236, 412, 348], "units": {"proj": 1784, "relax": 753, "meas": [115, 445], "update": 11094, "refresh": 5883},
                 "copy": {"sync_a": 2113, "sync_b": 163, "py": 113, "v_from_s0": 113, "v_from_zero": 113, "v_from_free": 113, "v_to_free_s0": 113, "v_to_free": 113, "v_to_s1": 113, "clear_s0": 113},
                 "bank_bits": 4, "addr_bits": 13, "programs": "29950c3d486e04c9f108f60ba19175229c2666661b517dba10efe22455ec979f"},
    "demo-8": {"train": [12105, 11891, 12273, 12059, 13203, 12623, 13371, 12791, 12603, 12389, 12771, 12557, 13701, 13121, 13869, 13289, 14457, 14243, 14625, 14411, 15555, 14975, 15723, 15143],
                 "infer": [1052, 1418, 1550, 1916, 3404, 3770], "load": 4265, "lower": [12864, 12784, 13584, 13264, 13528, 13448, 14248, 13928],
                 "trace": [102, 96, 228, 180], "units": {"proj": 1286, "relax": 489, "meas": [47, 173], "update": 6352, "refresh": 3495},
                 "copy": {"sync_a": 685, "sync_b": 83, "py": 45, "v_from_s0": 45, "v_from_zero": 45, "v_from_free": 45, "v_to_free_s0": 45, "v_to_free": 45, "v_to_s1": 45, "clear_s0": 45},
                 "bank_bits": 3, "addr_bits": 12, "programs": "11c8f6c5f6000f8eedacb8a554be20c68927d6ab6995173e9e0ff6c244d8dc8a"},
    "tiny-2-4-p2": {"train": [4263, 4148, 4327, 4212, 4938, 4598, 5002, 4662, 4263, 4148, 4327, 4212, 4938, 4598, 5002, 4662, 4263, 4148, 4327, 4212, 4938, 4598, 5002, 4662],
                 "infer": [923, 1148, 923, 1148, 923, 1148], "load": 1491, "lower": [3328, 3280, 3760, 3568, 3494, 3446, 3926, 3734],
                 "trace": [56, 48, 224, 160], "units": {"proj": 788, "relax": 301, "meas": [21, 69], "update": 1611, "refresh": 1335},
                 "copy": {"sync_a": 115, "sync_b": 39, "py": 15, "v_from_s0": 19, "v_from_zero": 19, "v_from_free": 19, "v_to_free_s0": 19, "v_to_free": 19, "v_to_s1": 19, "clear_s0": 19},
                 "bank_bits": 1, "addr_bits": 10, "programs": "e6228b2b5896a24118227b5a06261bb7d51660997bfa31a9249ae3c8b4c7af9d"},
    "tiny-2-p1-pos": {"train": [6877, 6787, 6925, 6835, 7399, 7135, 7447, 7183, 7043, 6953, 7091, 7001, 7565, 7301, 7613, 7349, 7661, 7571, 7709, 7619, 8183, 7919, 8231, 7967],
                 "infer": [898, 1072, 1064, 1238, 1682, 1856], "load": 2613, "lower": [6432, 6392, 6792, 6632, 6764, 6724, 7124, 6964],
                 "trace": [60, 48, 312, 216], "units": {"proj": 954, "relax": 233, "meas": [17, 53], "update": 3178, "refresh": 2521},
                 "copy": {"sync_a": 55, "sync_b": 35, "py": 15, "v_from_s0": 15, "v_from_zero": 15, "v_from_free": 15, "v_to_free_s0": 15, "v_to_free": 15, "v_to_s1": 15, "clear_s0": 15},
                 "bank_bits": 1, "addr_bits": 11, "programs": "281f81ade59fa37b4a4805b90a643303c6446c42bca0546790cd17763f46535f"},
}


@pytest.mark.parametrize("name", PINNED)
def test_cycle_formulas_and_programs_are_the_cores(name: str) -> None:
    overrides, lanes = CONFIGS[name]
    b, want = CoreBuild(load(**overrides), lanes, depth=1), PINNED[name]
    sn = b.consts.sn or 5
    assert [b.train_cycles(k, s, x, n, cen) for k in (0, 166, 784) for s in (1, 4) for x, n in ((0, 1), (sn, 3))
            for cen in (True, False)] == want["train"]
    assert [b.infer_cycles(k, s) for k in (0, 166, 784) for s in (1, 4)] == want["infer"]
    assert b.load_cycles() == want["load"] and b.tail_cycles() == want["load"] - 1
    assert [b.lower_bound(k, s, cen) for k in (0, 166) for s in (1, 4) for cen in (True, False)] == want["lower"]
    assert [b.trace_entries_per_train(s, cen) for s in (1, 8) for cen in (True, False)] == want["trace"]
    assert {"proj": b.projection.expected_cycles(166), "relax": b.relax.cycle_count(4),
            "meas": [b.measure.expected_cycles(0, 4), b.measure.expected_cycles(3, 4)],
            "update": b.update.cycle_count(), "refresh": b.refresh.cycle_count()} == want["units"]
    assert {k: b.copy_cycles(k) for k in b.segments} == want["copy"]
    assert b.clear_cycles() == want["copy"]["clear_s0"] + 1
    assert (b.bank_bits, b.addr_bits) == (want["bank_bits"], want["addr_bits"])
    programs = {k: [(e[0].value, e[1], e[2], e[3].value, e[4], e[5]) for e in v] for k, v in b.programs.items()}
    assert hashlib.sha256(json.dumps(programs, sort_keys=True).encode()).hexdigest() == want["programs"]
    starts = [b.segments[k][0] for k in b.programs]
    assert starts == sorted(starts) and b.rom == [e for p in b.programs.values() for e in p]


@pytest.mark.parametrize("name", PINNED)
def test_pipeline_stages_add_fixed_cycles(name: str) -> None:
    """Each product stage beyond the first, and the registered memory reads, cost drain cycles only: per
    layer update of the relaxation, once in the projection, the measurement and the update."""
    overrides, lanes = CONFIGS[name]
    cfg = load(**overrides)
    base = CoreBuild(cfg, lanes, depth=1)
    updates = base.top  # layer updates per sweep
    for depth, family in ((2, "ecp5"), (3, "ecp5"), (4, "xilinx")):
        b = CoreBuild(cfg, lanes, depth=depth, family=family)
        extra = depth - 1
        for k, s, cen in ((0, 1, True), (166, 4, False), (784, 4, True)):
            phases = 3 if cen else 2
            relax = phases * (s * updates * (extra + 1))
            want = 1 + relax + 2 * (extra + 2) + 2 * extra  # projection, relaxation, 2 measurements, update
            assert b.train_cycles(k, s, 0, 1, cen) - base.train_cycles(k, s, 0, 1, cen) == want
            assert b.infer_cycles(k, s) - base.infer_cycles(k, s) == 1 + s * updates * (extra + 1)
        assert b.load_cycles() == base.load_cycles() and b.lower_bound(166, 4, True) == base.lower_bound(166, 4, True)


@pytest.mark.parametrize("overrides, lanes", [
    (dict(), 16), (dict(), 8), (dict(hidden=[32]), 8), (dict(hidden=[32]), 4), (dict(hidden=[64]), 16)])
def test_train_cycles_within_a_tenth_of_the_macs(overrides: dict, lanes: int) -> None:
    """A TRAIN sample takes at most 1.1 x MACs / P cycles at every depth, MACs = `lower_bound`'s operations
    (projection, relaxation, update and totals: one multiply-accumulate per lane per cycle), for a typical
    sample (166 non-zero pixels, 4 sweeps, centered). Domain: hidden layers of 32 nodes or more at
    P <= n_hidden / 4. Smaller networks (1568-2-10, P = 1: about 1.1 x to 1.3 x) spend a fixed few hundred
    cycles per layer update, copy and unit start that their few MACs do not cover."""
    cfg = load(**overrides)
    for depth in (1, 2, 3, 4):
        b = CoreBuild(cfg, lanes, depth=depth)
        assert b.train_cycles(166, 4, b.consts.sn, 4, True) <= 1.1 * b.lower_bound(166, 4, True), depth


def test_the_smallest_core_copies_what_it_did() -> None:
    """1568-2-10 with one lane: the copy programs entry by entry (source, bank, address -> destination)."""
    b = CoreBuild(load(hidden=[2], variant="positive"), 1)
    p = {k: [(e[0].name, *e[1:3], e[3].name, *e[4:]) for e in v] for k, v in b.programs.items()}
    assert p["sync_a"][:2] == [("UPD_GP", 0, 1568, "RELAX_G", 0, 0), ("UPD_GP", 0, 1569, "RELAX_G", 0, 1)]
    assert len(p["sync_a"]) == 2 * 2 * 10 + 12 and len(p["sync_b"]) == b.refresh.r_depth == 32
    assert p["py"] == [("PROJ", 0, 0, "RELAX_P", 0, 0), ("PROJ", 0, 1, "RELAX_P", 0, 1)] + [
        ("LABEL", 0, j, "RELAX_Y", 0, j) for j in range(10)]
    assert p["v_to_s1"][:2] == [("RELAX_V", 0, 0, "S1", 0, 0), ("RELAX_V", 0, 1, "S1", 0, 1)]
    assert p["clear_s0"] == [("ZERO", 0, v, "S0", 0, v) for v in range(12)]


def test_a_valid_config_passes() -> None:
    cfg = load()
    for lanes in (1, 2, 4, 8, 16, 32, 64, 128):
        assert CoreBuild(cfg, lanes).lanes == lanes
    stochastic = load(fixed={"round_update": "stochastic"})
    assert CoreBuild(stochastic, 1).lanes == 1


@pytest.mark.parametrize("overrides, lanes, build, message", [
    ({"precision": "float"}, 16, {}, "precision = float: the core computes the fixed-point model only"),
    ({"batch_size": 4}, 16, {}, "batch_size = 4: the core trains online, one sample per update; set batch_size = 1"),
    ({"samples": 17}, 16, {}, "samples (N) = 17: the core measures at most 16 times"),
    ({"samples": 5}, 16, {"max_samples": 4}, "samples (N) = 5: the core measures at most 4 times"),
    ({}, 16, {"max_samples": 0}, "max_samples must be an integer >= 1, got 0"),
    ({}, 3, {}, "lanes must be a power of two from 1 to 128 (the widest layer, rounded up), got 3"),
    ({}, 0, {}, "lanes must be a power of two from 1 to 128 (the widest layer, rounded up), got 0"),
    ({}, 256, {}, "lanes must be a power of two from 1 to 128 (the widest layer, rounded up), got 256"),
    ({"hidden": [32]}, 64, {}, "lanes must be a power of two from 1 to 32 (the widest layer, rounded up), got 64"),
    ({}, 16, {"depth": 0}, "depth must be an integer >= 1 (registered stages per product), got 0"),
    ({}, 16, {"family": "ice40"}, "family must be one of ecp5, xilinx, got 'ice40'"),
    ({"fixed": {"round_update": "stochastic"}}, 2, {},
     "round_update = stochastic: the core's update rounds stochastically with one lane only; use lanes 1"),
])
def test_each_rule_is_one_line(overrides: dict, lanes: int, build: dict, message: str) -> None:
    cfg = load(**{k: v for k, v in overrides.items() if k != "fixed"})
    if "fixed" in overrides:
        cfg = dataclasses.replace(cfg, fixed=dataclasses.replace(cfg.fixed, **overrides["fixed"]))
    with pytest.raises(ConfigError) as error:
        CoreBuild(cfg, lanes, **build)
    assert str(error.value) == message and "\n" not in message


def test_defaults() -> None:
    assert (DEFAULT_LANES, MAX_SAMPLES) == (16, 16)
    assert most_lanes(load()) == 128 and default_lanes(load()) == DEFAULT_LANES
    assert most_lanes(load(hidden=[32])) == 32 and default_lanes(load(hidden=[32])) == 16
    assert most_lanes(load(hidden=[2])) == 16  # the output's 10 nodes, rounded up
    b = CoreBuild.load("drn-xs", None)
    assert (b.lanes, b.max_samples, b.clock_gating) == (DEFAULT_LANES, MAX_SAMPLES, False)


def test_build_names_follow_what_the_verilog_depends_on() -> None:
    cfg = load()
    base = CoreBuild(cfg, 16)
    assert base.name == CoreBuild(load(), 16).name  # stable
    assert base.name.startswith("1568-100-10-p16-") and base.name.endswith("-ungated")
    assert CoreBuild(cfg, 16, clock_gating=True).name == base.name.removesuffix("-ungated")
    runtime = dataclasses.replace(cfg, hidden=list(cfg.hidden), seed=7, sigma=0.2, beta=0.5, sweeps=8, epochs=3,
                                  samples=2)
    assert CoreBuild(runtime, 16).name == base.name  # run-time settings share a build
    others = [CoreBuild(cfg, 8), CoreBuild(cfg, 16, max_samples=4), CoreBuild(load(hidden=[64]), 16),
              CoreBuild(dataclasses.replace(cfg, fixed=dataclasses.replace(cfg.fixed, g_bits=20)), 16),
              CoreBuild(load(lr_weights=[0.01, 0.01]), 16), CoreBuild(load(variant="positive"), 16),
              CoreBuild(cfg, 16, depth=1), CoreBuild(cfg, 16, family="xilinx")]
    names = {b.name for b in others}
    assert len(names) == len(others) and base.name not in names
    assert base.build_id == CoreBuild(runtime, 8).build_id != others[3].build_id


def test_timeout_is_generous() -> None:
    b = CoreBuild(load(), 1)
    slowest = b.train_cycles(784, b.cfg.sweeps, 1, b.max_samples, True)
    assert b.timeout_cycles() >= 4 * slowest > 4 * CoreBuild(load(), 16).train_cycles(784, 4, 1, 16, True)
    assert b.timeout_cycles(8) > b.timeout_cycles()


def test_the_plan_imports_no_amaranth() -> None:
    code = "import sys, hdl.plan; sys.exit(any(m.split('.')[0] == 'amaranth' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


STOCHASTIC_TOML = '[fixed]\nround_update = "stochastic"\n'


def test_generate_with_stochastic_rounding_and_lanes_is_one_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "s.toml").write_text(STOCHASTIC_TOML)
    out = tmp_path / "core"
    assert host_main(["hdl", "generate", "--config", str(tmp_path / "s.toml"), "--lanes", "4", "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err == ("host: error: round_update = stochastic: the core's update rounds stochastically with "
                   "one lane only; use lanes 1\n")


def test_train_sim_with_stochastic_rounding_and_lanes_is_one_line(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "s.toml").write_text(STOCHASTIC_TOML)
    assert host_main(["train", "--target", "sim", "--config", str(tmp_path / "s.toml"), "--lanes", "2"]) == 2
    err = capsys.readouterr().err
    assert err == ("host: error: round_update = stochastic: the core's update rounds stochastically with one lane "
                   "only; use lanes 1\n")


def test_a_config_files_run_table_is_read_by_every_command() -> None:
    """docs/demo.toml, which host train runs, loads for the hdl commands: its [run] lanes are their default P."""
    demo = Path(__file__).resolve().parents[1] / "docs" / "demo.toml"
    assert CoreBuild.load(None, demo).lanes == 8 and CoreBuild.load(None, demo, 4).lanes == 4
    assert config.load(None, demo).hidden == [32]
