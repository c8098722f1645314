"""`host verify` (host/flows/verify.py): the simulated core against the golden model over random cores and run-time settings.

Eight cores are generated at random (1-2 tiny hidden layers, formats and rounding modes of the
[fixed] table, P = 1, 2, 4), each built once and run for 13 cases of 4 samples with random run-time
settings (beta, sigma incl. 0, N 1..4, sweeps, order, centered/positive, warm start, seed) in one
simulation, at pipeline depths 1, 2, 3 (the default) and 4 twice each: 104 cases, 0 mismatches.
Then the checker must fail: a core built with another rounding of the voltages than the golden
model's, and a golden model with another rounding of the update, each report mismatches whose first divergence is where the difference first acts.
The builds gate the clocks of idle lane units, as `host verify` does by default; one core also runs
3 cases built as synthesized (no clock gating). When Icarus is installed, two of the cores also
run 2 cases on it. The builds run two at a time (the suite's machine has two cores).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from golden import config
from golden.config import Config, ConfigError
from hdl.layout import DEFAULT_DEPTH
from host import cli
from host.flows import verify
from host.flows.verify import Report
from sim.build import simulators

CORES = 8
CASES = 13
SAMPLES = 4
SEED = 2026
UNGATED_CASES = 3
DEPTHS = [DEFAULT_DEPTH, 1, 2, 4, DEFAULT_DEPTH, 1, 2, 4]  # core k's pipeline depth: every depth is bit-exact
FIRST_CORE = """\
hidden = [2]
lr_weights = [0.05, 0.05]
lr_biases = [0.05, 0.05]
"""


def random_core(rng: np.random.Generator, lanes: int, layers: int) -> Config:
    """A core config drawn at random until the golden model's checks accept it: tiny hidden layers,
    formats with little headroom (so saturation happens), random rounding and learning-rate modes."""
    while True:
        v_frac, g_frac = int(rng.integers(6, 15)), int(rng.integers(8, 21))
        r_frac = int(rng.integers(12, min(30, 62 - g_frac) + 1))
        rounding = ["nearest", "truncate"] + (["stochastic"] if lanes == 1 else [])
        shift = rng.random() < 0.25
        fixed = {
            "v_frac": v_frac, "v_bits": v_frac + int(rng.integers(9, 13)),
            "vin_bits": v_frac + int(rng.integers(8, 11)),  # the input gain 100 needs 8 bits above v_frac
            "g_frac": g_frac, "g_bits": g_frac + int(rng.integers(1, 4)),
            "b_bits": v_frac + g_frac + int(rng.integers(2, 10)),
            "acc_bits": v_frac + g_frac + int(rng.integers(3, 10)),
            "recip_frac": r_frac, "recip_bits": int(rng.integers(min(r_frac, 20), 32)),
            "noise_frac": int(rng.integers(8, 20)), "upd_bits": 2 * v_frac + int(rng.integers(6, 20)),
            "lr_frac": int(rng.integers(16, 28)), "lr_mode": "shift" if shift else "multiply",
            "round_v": str(rng.choice(rounding[:2])), "round_noise": str(rng.choice(rounding[:2])),
            "round_update": str(rng.choice(rounding)), "noise_lanes": int(rng.integers(1, 9)),
        }
        # n_1 of 2 or 4: the input layer's 1568 x n_1 conductances dominate the cycles of a sample
        hidden = [2 * int(rng.integers(1, 3))] + [2 * int(rng.integers(1, 4)) for _ in range(layers - 1)]
        # shift mode: lr / (2 (beta2 - beta1)) and lr_b / (beta2 - beta1) must be powers of two
        lr = [2.0 ** -int(rng.integers(2, 6)) * 4 if shift else float(rng.uniform(0.01, 0.1)) for _ in hidden + [0]]
        lr_b = [v / 2 for v in lr] if shift else [float(rng.uniform(0.01, 0.1)) for _ in lr]
        values = {"hidden": hidden, "lr_weights": lr, "lr_biases": lr_b, "lr_decay": 1.0 if shift else 0.99,
                  "sweeps": int(rng.integers(1, 5)), "seed": int(rng.integers(0, 2**32)), "fixed": fixed}
        try:
            return config.apply(config.load(hardware=True), values, "random core").validate()
        except ConfigError:
            continue


def json_fixed(cfg: Config) -> str:
    """The [fixed] table of a config as a comparable string."""
    return repr(sorted(dataclasses.asdict(cfg.fixed).items()))


def cores(first: Path) -> list[tuple[str, Config, int]]:
    """The cores under test: the first from a TOML file (also run through the CLI), the others random;
    P = 1, 2 three times each and 4 twice (the core's lanes are a power of two), one and two hidden
    layers four times each."""
    rng = np.random.default_rng(SEED)
    out = [("core0", verify.core_config(first), 1)]
    for k in range(1, CORES):
        lanes, layers = [1, 2, 4, 2, 4, 1, 2][k - 1], 1 + k % 2
        out.append((f"core{k}", random_core(rng, lanes, layers), lanes))
    return out


@pytest.fixture(scope="module")
def first_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "core0.toml"
    path.write_text(FIRST_CORE)
    return path


@pytest.fixture(scope="module")
def reports(first_config: Path) -> dict[str, tuple[Config, int, Report]]:
    """Every verification of this module, two simulations at a time: name -> (config, lanes, report)."""
    built = cores(first_config)
    jobs = {name: (cfg, lanes, "verilator", CASES, {"depth": depth})
            for (name, cfg, lanes), depth in zip(built, DEPTHS, strict=True)}
    core0 = jobs["core0"][0]
    # golden rounds voltages to nearest; Icarus builds in seconds where it is installed
    quick = "icarus" if "icarus" in simulators() else "verilator"
    jobs["altered_rtl"] = (core0, 1, quick, 1, {"rtl_fixed": {"round_v": "truncate"}})
    jobs["ungated_core3"] = (*jobs["core3"][:3], UNGATED_CASES, {"clock_gating": False, "depth": DEPTHS[3]})
    if "icarus" in simulators():
        for name, cfg, lanes in (built[0], built[3]):
            jobs[f"icarus_{name}"] = (cfg, lanes, "icarus", 2, jobs[name][4])

    def run(name: str) -> tuple[Config, int, Report]:
        cfg, lanes, simulator, cases, altered = jobs[name]
        return cfg, lanes, verify.verify(cfg, SAMPLES, SEED, lanes, simulator, cases, **altered)

    with ThreadPoolExecutor(2) as pool:
        done = dict(zip(jobs, pool.map(run, jobs), strict=True))
    # on core0's build (built above): a golden model whose update truncates
    done["altered_golden"] = (core0, 1, verify.verify(core0, SAMPLES, SEED, 1, "verilator", 1,
                                                      golden_fixed={"round_update": "truncate"}))
    return done


@pytest.mark.sim
def test_random_cores_match_golden(reports: dict[str, tuple[Config, int, Report]]) -> None:
    """>= 100 cases of >= 4 samples over 8 differently generated cores: 0 mismatches."""
    runs = [reports[f"core{k}"] for k in range(CORES)]
    builds = {(tuple(cfg.sizes), json_fixed(cfg), lanes) for cfg, lanes, _ in runs}
    assert len(builds) == CORES
    assert {lanes for _, lanes, _ in runs} == {1, 2, 4}
    assert {len(cfg.hidden) for cfg, _, _ in runs} == {1, 2}
    assert sum(r.cases for _, _, r in runs) >= 100 and all(r.samples >= 4 for _, _, r in runs)
    for k, (cfg, lanes, report) in enumerate(runs):
        first = report.first.describe() if report.first else ""
        assert not report.mismatches, f"core{k} {cfg.sizes} P = {lanes} {cfg.fixed}: {len(report.mismatches)} " \
                                      f"mismatches, first {first}"
        assert report.final_identical == report.cases
        for quantity in ("iterate", "measurement", "conductance", "bias", "prediction", "hit"):
            assert report.compared[quantity] > 0, quantity
    # the run-time settings did vary between the cases
    rounding = {cfg.fixed.round_update for cfg, _, _ in runs} | {cfg.fixed.round_v for cfg, _, _ in runs}
    assert rounding >= {"nearest", "truncate"}


@pytest.mark.sim
def test_icarus_matches_golden(reports: dict[str, tuple[Config, int, Report]]) -> None:
    """The same bench on Icarus (when installed): two cores (P = 1 and 4), 2 cases of 4 samples each."""
    runs = [report for name, (_, _, report) in reports.items() if name.startswith("icarus_")]
    if not runs:
        pytest.skip("Icarus Verilog is not installed")
    assert len(runs) == 2
    for report in runs:
        assert not report.mismatches, report.first.describe()
        assert report.final_identical == report.cases == 2


@pytest.mark.sim
def test_the_core_as_synthesized_matches_golden(reports: dict[str, tuple[Config, int, Report]]) -> None:
    """Core3 (P = 4, two hidden layers) without clock gating: 0 mismatches, and the same cycles per sample as
    the clock-gated build in the same cases."""
    cfg, lanes, report = reports["ungated_core3"]
    assert lanes == 4 and len(cfg.hidden) == 2
    assert not report.mismatches, report.first.describe()
    assert report.final_identical == report.cases == UNGATED_CASES
    assert report.cycles == reports["core3"][2].cycles[:UNGATED_CASES * SAMPLES]


def test_cases_vary_the_run_time_settings(first_config: Path) -> None:
    """The cases of one core cover every run-time setting (no simulation: the case generator alone)."""
    cfg = verify.core_config(first_config)
    cases = verify.make_cases(cfg, CASES * 3, SAMPLES, SEED, 5000)
    assert cases[0].cfg is cfg
    settings = [c.cfg for c in cases[1:]]
    assert {c.sigma == 0 for c in settings} == {True, False}
    assert {c.samples for c in settings} == {1, 2, 3, 4}
    assert len({c.beta for c in settings}) >= 4 and len({c.seed for c in settings}) == len(settings)
    assert {c.variant for c in settings} == set(config.VARIANTS)
    assert {c.order for c in settings} == set(config.SWEEP_ORDERS)
    assert {c.warm_start for c in settings} == {True, False} and len({c.sweeps for c in settings}) >= 3


@pytest.mark.sim
def test_an_altered_rtl_fails_at_the_first_iterate(reports: dict[str, tuple[Config, int, Report]]) -> None:
    """A core that truncates the node voltages where the golden model rounds to nearest diverges in the
    first layer update of the first sweep of the first sample's free phase."""
    report = reports["altered_rtl"][2]
    assert report.mismatches
    first = report.first
    assert (first.quantity, first.case, first.sample, first.phase, first.sweep, first.layer) == \
        ("iterate", 0, 0, "free", 0, 1)
    assert first.golden != first.rtl


@pytest.mark.sim
def test_an_altered_golden_fails_at_the_first_update(reports: dict[str, tuple[Config, int, Report]]) -> None:
    """A golden model that truncates the update where the core rounds to nearest agrees on every iterate
    and measurement of the first sample and diverges in its parameter update."""
    report = reports["altered_golden"][2]
    assert report.mismatches
    first = report.first
    assert (first.quantity, first.case, first.sample) == ("conductance", 0, 0)
    assert {m.quantity for m in report.mismatches if m.sample == 0} <= {"conductance", "bias"}


@pytest.mark.sim
def test_cli_reports_a_match_and_a_mismatch(reports: dict[str, tuple[Config, int, Report]], first_config: Path,
                                            capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command on core0's build (cached): exit 0 and the summary; with a report of mismatches, exit 1
    and the first divergence."""
    argv = ["verify", "--config", str(first_config), "--images", "4", "--seed", "5", "--cases", "2"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("verify: 4 samples x 2 cases, 1568-2-10 with P = 1 on verilator (source): "
                             "0 mismatches (")
    assert out[1].startswith("final parameters identical in 2 of 2 cases; ")
    asked = []
    monkeypatch.setattr(verify, "verify", lambda *args, **kwargs: asked.append(kwargs) or reports["altered_rtl"][2])
    assert cli.main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("first mismatch: iterate, case 0, sample 0, phase free, sweep 0, layer 1, index ")
    assert cli.main([*argv, "--no-clock-gating", "--depth", "2"]) == 1
    assert "on verilator (source, no clock gating): " in capsys.readouterr().out
    assert asked == [{"clock_gating": True, "netlist": None, "depth": DEFAULT_DEPTH},
                     {"clock_gating": False, "netlist": None, "depth": 2}]


@pytest.mark.parametrize("args, message", [
    (["--images", "0"], "--images must be >= 1, got 0"),
    (["--cases", "0"], "--cases must be >= 1, got 0"),
    (["--lanes", "0"], "lanes must be a power of two from 1 to 128 (the widest layer, rounded up), got 0"),
    (["--lanes", "3"], "lanes must be a power of two from 1 to 128 (the widest layer, rounded up), got 3"),
    (["--seed", "-1"], "--seed must be in [0, 2^32), got -1"),
    (["--simulator", "questa"], "argument --simulator: invalid choice"),
    (["--model", "nope"], "unknown model preset 'nope'"),
    (["--config", "batch.toml"], "batch_size = 4: the core trains online, one sample per update; set batch_size = 1"),
    (["--config", "float.toml"], "precision = float: the core computes the fixed-point model only"),
    (["--config", "stochastic.toml", "--lanes", "2"], "round_update = stochastic: the core's update rounds"),
    (["--config", "sweeps.toml"], "sweeps = 9: the verification trace holds at most 8"),
    (["--config", "missing.toml"], "does not exist"),
])
def test_bad_input_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                               args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batch.toml").write_text("batch_size = 4\n")
    (tmp_path / "float.toml").write_text('precision = "float"\n')
    (tmp_path / "stochastic.toml").write_text('[fixed]\nround_update = "stochastic"\n')
    (tmp_path / "sweeps.toml").write_text("sweeps = 9\n")
    assert cli.main(["verify", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("host: error: ") and message in err and err.count("\n") == 1, err


def test_missing_simulator_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no iverilog there
    assert cli.main(["verify", "--simulator", "icarus"]) == 2
    err = capsys.readouterr().err
    assert err == "host: error: simulator 'icarus' is not available: Icarus Verilog is not installed " \
                  "(apt-get install iverilog)\n"


def test_failed_simulation_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A core that fails in simulation (a build error, a TRAIN that never ends) is a failed verification."""
    from sim.build import SimulationError

    def hang(*args: object, **kwargs: object) -> Report:
        raise SimulationError("1 of 1 cocotb tests failed: host.flows.verify_tb.run_cases (verilator, ...)")

    monkeypatch.setattr(verify, "verify", hang)
    assert cli.main(["verify"]) == 1
    assert capsys.readouterr().err == ("verify: the simulation failed: 1 of 1 cocotb tests failed: "
                                       "host.flows.verify_tb.run_cases (verilator, ...)\n")


def ideal_rtl(cases: list[verify.Case], runs: list[verify.GoldenRun], cfg: Config, lanes: int) -> dict:
    """The results file an RTL identical to the golden model would produce (entries in hardware order)."""
    from golden.network import Layout, sweep_order

    lay = Layout.of(cfg.sizes)
    sizes, n_off, top = [int(v) for v in lay.sizes], [int(v) for v in lay.n_off], lay.top
    entries, counts = [], []
    for case, run in zip(cases, runs, strict=True):
        for t in range(len(case.idx)):
            start = len(entries)
            for phase in ([0, 1, 2] if case.cfg.variant == "centered" else [0, 2]):
                for sweep in range(case.cfg.sweeps):
                    for l in sweep_order(case.cfg.order, lay):
                        for g in range(-(-sizes[l] // lanes)):
                            js = [j for j in range(g * lanes, (g + 1) * lanes) if j < sizes[l]]
                            values = [int(run.trace.iterates[t, phase, sweep, n_off[l] + j]) for j in js]
                            entries.append([0, phase, sweep, l, g, (1 << len(js)) - 1] + values
                                           + [0] * (lanes - len(js)))
            for m in range(2):
                for v in range(lay.n_free):
                    layer = max(k for k in range(1, top + 1) if n_off[k] <= v)
                    entries.append([1, m, 0, layer, v, 1, int(run.trace.measured[t, m, v])] + [0] * (lanes - 1))
            counts.append(len(entries) - start)
    preds = np.array([[int(np.argmax(r.trace.iterates[t, 0, -1, n_off[top]:])) for t in range(len(c.idx))]
                      for c, r in zip(cases, runs, strict=True)])
    shape = preds.shape
    return {"entries": np.array(entries, np.int64), "trace_count": np.array(counts).reshape(shape),
            "trace_overflow": np.zeros(shape, np.int64), "theta": np.stack([r.trace.theta for r in runs]),
            "pred": preds, "hit": np.stack([p == r.labels for p, r in zip(preds, runs)]).astype(np.int64),
            "load_saturations": np.zeros(len(cases), np.int64),
            "recip_saturations": np.stack([np.cumsum(r.saturations) for r in runs])}


def test_compare_names_the_first_divergence(first_config: Path) -> None:
    """compare() without a simulator: an ideal RTL matches; a lost trace entry, a wrong measurement and a
    wrong conductance are each reported where they are, the earliest first."""
    from golden.datasets import load

    cfg, lanes = verify.core_config(first_config), 2
    data = load(cfg.dataset, progress=False)
    cases = verify.make_cases(cfg, 3, 2, SEED, len(data.train_y))
    runs = [verify.run_golden(case, data.train_x, data.train_y) for case in cases]
    rtl = ideal_rtl(cases, runs, cfg, lanes)
    compared, mismatches, identical = verify.compare(cases, runs, rtl, cfg, lanes)
    assert mismatches == [] and identical == 3 and compared["iterate"] > 0 and compared["recip saturations"] > 0
    rtl["theta"][2, 1, 5] += 1                    # case 2, sample 1: conductance W1[2, 1]
    rtl["entries"][-1, 6] += 1                    # case 2, sample 1: the last measured node of M2
    skip = int(rtl["trace_count"][0].sum())       # case 1, sample 0: its first entry is lost
    rtl["entries"] = np.delete(rtl["entries"], skip, axis=0)
    rtl["trace_count"][1, 0] -= 1
    _, mismatches, identical = verify.compare(cases, runs, rtl, cfg, lanes)
    assert identical == 2
    described = [m.describe() for m in mismatches]
    assert described[0].startswith("trace, case 1, sample 0, index entries: golden ")
    assert described[1].startswith("iterate, case 1, sample 0, phase free, sweep 0, layer 1, index 0: golden ")
    assert described[1].endswith("RTL no trace entry")
    assert any(d.startswith("iterate, case 1, sample 0, phase free, sweep 0, layer 1, index 1: ") for d in described)
    assert described[-2].startswith("measurement, case 2, sample 1, phase M2, layer 2, index 9: golden ")
    assert described[-1].startswith("conductance, case 2, sample 1, layer 1, index 2,1: golden ")
