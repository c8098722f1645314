"""`host verify`: training samples through the simulated core and the fixed-point golden model, compared bit for bit.

One build of hdl.verify_core.VerifyCore per config and lane count (cached in build/sim/<simulator>/);
every case is a fresh start of the same core with its own run-time settings (beta, sigma, N, sweep
count and order, centered or positive, warm start, seed: initial parameters, noise seeds and
samples). The golden side is golden.fixed_ep.FixedEP with a Trace; the RTL side is
host/flows/verify_tb.py, which runs all cases in one simulation. Compared per sample, in the order the
hardware computes them: every relaxation iterate of every phase and sweep, the measured voltages M1
and M2, every conductance and bias after the update, the prediction and hit, and (when the case's
variant is the build's) the count of saturated reciprocals. With `netlist` (a family, "ecp5") the core is the
netlist yosys synthesises from it, simulated with the family's cell models (sim/netlist.py; cached in the build
folder): the same comparison then checks what synthesis changed (memory mapping, initial values, X propagation).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden import config
from golden.config import Config, ConfigError
from golden.datasets import load as load_dataset
from golden.fixed_ep import FixedEP, Trace
from golden.fixed_formats import derive, lr_codes
from golden.network import Layout, sweep_order
from hdl.layout import DEFAULT_DEPTH
from hdl.plan import CoreBuild
from hdl.relax import SweepOrder
from hdl.verify_core import VerifyCore
from sim.build import SimBuild, run_folder, simulators
from sim.netlist import CELL_MODELS
from sim.synth import Netlist

PHASES = ("free", "-beta", "+beta")
MEASUREMENTS = ("M1", "M2")
MAX_SWEEPS = 8          # the trace buffer holds TRAIN samples of up to this many sweeps per phase
MAX_SAMPLES = 4         # N: the verified core's max_samples (a build constant)
BETAS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DRAWS = 200             # random settings tried per case before giving up
MISSING = np.iinfo(np.int64).min  # no code has this value: a value the trace did not report
TOPLEVEL = "verify_core"
CORE_MODULE = f"{TOPLEVEL}.core"  # VerifyCore's EPCore in the Verilog: the part a netlist check synthesises


class VerifyError(ValueError):
    """A verification that cannot run (bad config or request); the message is one line."""


@dataclass
class Case:
    """One fresh start of the core: a config of run-time settings (same build) and its samples."""

    cfg: Config
    idx: np.ndarray  # training-set indices of its samples


@dataclass
class Mismatch:
    """A value where the RTL and the golden model differ."""

    quantity: str   # iterate, measurement, conductance, bias, prediction, hit, recip saturations, trace
    case: int
    sample: int
    phase: str
    sweep: int | None
    layer: int | None
    index: str
    golden: int | str
    rtl: int | str

    def describe(self) -> str:
        where = [f"case {self.case}", f"sample {self.sample}"]
        if self.phase:
            where.append(f"phase {self.phase}")
        if self.sweep is not None:
            where.append(f"sweep {self.sweep}")
        if self.layer is not None:
            where.append(f"layer {self.layer}")
        if self.index:
            where.append(f"index {self.index}")
        return f"{self.quantity}, {', '.join(where)}: golden {self.golden}, RTL {self.rtl}"


@dataclass
class Report:
    """The outcome of a verification."""

    cases: int
    samples: int
    compared: dict[str, int]
    mismatches: list[Mismatch]
    cycles: list[int]
    final_identical: int  # cases whose final parameters are identical
    seconds: float
    netlist: Netlist | None = None  # the synthesised core that was simulated (None: the Amaranth source)

    @property
    def first(self) -> Mismatch | None:
        return self.mismatches[0] if self.mismatches else None


def core_config(config_file: str | Path | None, model: str | None = None) -> Config:
    """The config of the core to verify (the hardware defaults: fixed point, online), or VerifyError for
    more sweeps than the trace holds (`core_build` checks what the core cannot do)."""
    cfg = config.load(model, config_file, hardware=True)
    _require(cfg.sweeps <= MAX_SWEEPS, f"sweeps = {cfg.sweeps}: the verification trace holds at most {MAX_SWEEPS}")
    return cfg


def core_build(cfg: Config, lanes: int, clock_gating: bool = True, depth: int = DEFAULT_DEPTH) -> CoreBuild:
    """The verified core: `cfg` with `lanes` lanes, MAX_SAMPLES and pipeline `depth`; ConfigError (one line) for
    what it cannot run."""
    return CoreBuild(cfg, lanes, clock_gating, MAX_SAMPLES, depth)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise VerifyError(message)


def _case_config(base: Config, rng: np.random.Generator) -> Config:
    """Random run-time settings on the base config: the same build (formats, sizes, learning-rate shifts)."""
    values = {
        "seed": int(rng.integers(0, 2**32)),
        "beta": float(rng.choice(BETAS)),
        "sigma": 0.0 if rng.random() < 0.3 else float(rng.uniform(0.005, 0.2)),
        "samples": int(rng.integers(1, MAX_SAMPLES + 1)),
        "variant": str(rng.choice(config.VARIANTS)),
        "warm_start": bool(rng.random() < 0.7),
        "order": str(rng.choice(config.SWEEP_ORDERS)),
        "sweeps": int(rng.integers(1, max(base.sweeps, 4) + 1)),
    }
    return dataclasses.replace(base, **values, hidden=list(base.hidden), fixed=dataclasses.replace(base.fixed))


def _same_build(base: Config, cfg: Config) -> bool:
    """Whether the case's settings fit the build: the learning-rate shifts are constants of the core."""
    c0, c1 = derive(base), derive(cfg)
    _, s_w0, _, s_b0 = lr_codes(base, c0, 0)
    _, s_w1, _, s_b1 = lr_codes(cfg, c1, 0)
    return np.array_equal(s_w0, s_w1) and np.array_equal(s_b0, s_b1) and c1.beta_g < 2 ** c1.g_bits


def make_cases(base: Config, count: int, samples: int, seed: int, train_size: int) -> list[Case]:
    """`count` cases of `samples` samples: the first runs the config's own settings, the others random
    run-time settings drawn from `seed` (each accepted by the golden model's checks and the build)."""
    rng = np.random.default_rng([seed, 0x7E51F1])
    cases = []
    for k in range(count):
        for _ in range(DRAWS):
            cfg = base if k == 0 else _case_config(base, rng)
            try:
                cfg.validate()
                if _same_build(base, cfg):
                    break
            except ConfigError:
                pass
            if k == 0:
                raise VerifyError("the config's own beta does not fit the core's beta_g port")
        else:
            raise VerifyError(f"no run-time settings accepted for this config in {DRAWS} draws")
        cases.append(Case(cfg, rng.integers(0, train_size, samples)))
    return cases


@dataclass
class GoldenRun:
    """What the golden model computed for one case."""

    theta0: np.ndarray
    seeds: np.ndarray
    labels: np.ndarray
    trace: Trace
    saturations: np.ndarray  # saturated reciprocals counted by each sample's refresh


def run_golden(case: Case, X: np.ndarray, Y: np.ndarray) -> GoldenRun:
    """The golden model from the case's initial state over its samples, with a trace."""
    ep = FixedEP(case.cfg)
    theta0, seeds = ep.theta.copy(), ep._state.copy()
    trace = Trace.empty(len(case.idx), case.cfg.sweeps, ep.layout)
    saturations = np.zeros(len(case.idx), np.int64)
    for t, i in enumerate(case.idx):  # one call per sample, to read each sample's saturation count
        one = Trace.empty(1, case.cfg.sweeps, ep.layout)
        before = int(ep.flags[0])
        ep.train(X, Y, np.array([i]), one)
        saturations[t] = int(ep.flags[0]) - before
        trace.iterates[t], trace.measured[t], trace.theta[t] = one.iterates[0], one.measured[0], one.theta[0]
    return GoldenRun(theta0, seeds, Y[case.idx].astype(np.int64), trace, saturations)


def write_cases(path: Path, cases: list[Case], runs: list[GoldenRun], X: np.ndarray) -> None:
    """The case file host/flows/verify_tb.py reads: initial parameters, seeds, run settings and samples."""
    arrays: dict[str, list] = {name: [] for name in ("theta", "seeds", "pixels", "labels", "beta_g", "sn", "samples",
                                                    "nsweeps", "order", "centered", "warm_start", "k_w", "k_b")}
    for case, run in zip(cases, runs, strict=True):
        cfg = case.cfg
        c = derive(cfg)
        k_w, _, k_b, _ = lr_codes(cfg, c, 0)
        for name, value in (("theta", run.theta0), ("seeds", run.seeds), ("pixels", X[case.idx]),
                            ("labels", run.labels), ("beta_g", c.beta_g), ("sn", c.sn), ("samples", cfg.samples),
                            ("nsweeps", cfg.sweeps), ("order", SweepOrder[cfg.order.upper()].value),
                            ("centered", cfg.variant == "centered"), ("warm_start", cfg.warm_start),
                            ("k_w", k_w[1:]), ("k_b", k_b[1:])):
            arrays[name].append(np.asarray(value, np.int64))
    np.savez(path, **{name: np.stack(values) for name, values in arrays.items()})


def build_name(build: CoreBuild) -> str:
    """The build folder of a verified core (builds whose Verilog is the same share it)."""
    return f"verify-{build.name}"


def run_rtl(plan: CoreBuild, simulator: str, cases: list[Case], runs: list[GoldenRun],
            X: np.ndarray, netlist: str | None = None) -> tuple[dict[str, np.ndarray], Netlist | None]:
    """Build VerifyCore for `plan` (once per build; its core synthesised for the family `netlist` when given) and
    run every case on `simulator`; returns the results and the netlist simulated."""

    harness = VerifyCore(plan, MAX_SWEEPS)
    # quick: a verification simulates a few hundred thousand cycles, less than the optimised C++ takes to compile
    build = SimBuild.create(harness, toplevel=TOPLEVEL, case=build_name(plan) + (f"-{netlist}" if netlist else ""),
                            simulator=simulator, quick=True, public=VerifyCore.BACKDOOR,
                            netlist=(CORE_MODULE, netlist) if netlist else None)
    with run_folder("verify") as private:  # the run's files: never in the build folder other runs share
        cases_file, results_file = private / "cases.npz", private / "results.npz"
        write_cases(cases_file, cases, runs, X)
        build.run("host.flows.verify_tb", {
            "cases": str(cases_file), "results": str(results_file), "fields": harness.entry_fields(),
            "lanes": plan.lanes, "v_bits": plan.consts.v_bits, "n_params": plan.n_params,
            "timeout_cycles": plan.timeout_cycles(MAX_SWEEPS)}, folder=private)
        with np.load(results_file) as results:
            return dict(results), build.netlist


def compare(cases: list[Case], runs: list[GoldenRun], rtl: dict[str, np.ndarray], build_cfg: Config,
            lanes: int) -> tuple[dict[str, int], list[Mismatch], int]:
    """Every compared value in hardware order; returns counts per quantity, the mismatches, and the
    number of cases whose final parameters are identical."""
    lay = Layout.of(build_cfg.sizes)
    top, nf = lay.top, lay.n_free
    sizes, n_off = [int(v) for v in lay.sizes], [int(v) for v in lay.n_off]
    compared: dict[str, int] = {}
    mismatches: list[Mismatch] = []
    entries = rtl["entries"]
    row = 0
    identical = 0

    def check(quantity: str, golden: np.ndarray, got: np.ndarray, where) -> None:
        compared[quantity] = compared.get(quantity, 0) + golden.size
        want, have = golden.ravel(), got.ravel()
        for k in np.flatnonzero(want != have):
            rtl_value = "no trace entry" if have[k] == MISSING else int(have[k])
            mismatches.append(Mismatch(quantity, *where(int(k)), golden=int(want[k]), rtl=rtl_value))

    def node(flat: int) -> tuple[int, int]:
        l = max(k for k in range(1, top + 1) if n_off[k] <= flat)
        return l, flat - n_off[l]

    for c, (case, run) in enumerate(zip(cases, runs, strict=True)):
        cfg = case.cfg
        centered = cfg.variant == "centered"
        phases = [0, 1, 2] if centered else [0, 2]
        order = [int(l) for l in sweep_order(cfg.order, lay)]
        prev_sat = int(rtl["load_saturations"][c])
        for t in range(len(case.idx)):
            count = int(rtl["trace_count"][c, t])
            rows = entries[row:row + count]
            row += count
            want_count = len(phases) * cfg.sweeps * sum(-(-sizes[l] // lanes) for l in range(1, top + 1)) + 2 * nf
            if int(rtl["trace_overflow"][c, t]) or count != want_count:
                mismatches.append(Mismatch("trace", c, t, "", None, None, "entries", want_count,
                                           f"{count}{' (overflow)' if rtl['trace_overflow'][c, t] else ''}"))
            # The RTL's iterates and measurements in golden's arrays; places no entry wrote stay MISSING.
            got_iter = np.full((3, cfg.sweeps, nf), MISSING, np.int64)
            got_meas = np.full((2, nf), MISSING, np.int64)
            for kind, phase, sweep, layer, index, mask, *values in rows.tolist():
                if kind == 0 and phase < 3 and sweep < cfg.sweeps and 1 <= layer <= top:
                    for p in range(lanes):
                        j = index * lanes + p
                        if mask >> p & 1 and j < sizes[layer]:
                            got_iter[phase, sweep, n_off[layer] + j] = values[p]
                elif kind == 1 and phase < 2 and index < nf:
                    got_meas[phase, index] = values[0]
            gold = run.trace
            for phase in phases:
                for sweep in range(cfg.sweeps):
                    for l in order:
                        sl = slice(n_off[l], n_off[l] + sizes[l])
                        check("iterate", gold.iterates[t, phase, sweep, sl], got_iter[phase, sweep, sl],
                              lambda k, p=phase, s=sweep, l=l: (c, t, PHASES[p], s, l, str(k)))
            for m in range(2):
                check("measurement", gold.measured[t, m], got_meas[m],
                      lambda k, m=m: (c, t, MEASUREMENTS[m], None, node(k)[0], str(node(k)[1])))
            theta = rtl["theta"][c, t]
            for l in range(1, top + 1):
                w0, b0 = int(lay.w_off[l]), int(lay.b_off[l])
                w = slice(w0, w0 + sizes[l - 1] * sizes[l])
                check("conductance", gold.theta[t, w], theta[w],
                      lambda k, l=l: (c, t, "", None, l, f"{k // sizes[l]},{k % sizes[l]}"))
                b = slice(b0, b0 + sizes[l])
                check("bias", gold.theta[t, b], theta[b], lambda k, l=l: (c, t, "", None, l, str(k)))
            out = gold.iterates[t, 0, -1, n_off[top]:]
            pred = int(np.argmax(out))
            check("prediction", np.array([pred]), rtl["pred"][c, t:t + 1], lambda k: (c, t, "free", None, top, ""))
            hit = int(pred == int(run.labels[t]))
            check("hit", np.array([hit]), rtl["hit"][c, t:t + 1], lambda k: (c, t, "free", None, top, ""))
            sat = int(rtl["recip_saturations"][c, t])
            if cfg.variant == build_cfg.variant:
                check("recip saturations", run.saturations[t:t + 1], np.array([sat - prev_sat]),
                      lambda k: (c, t, "", None, None, ""))
            prev_sat = sat
        identical += bool(np.array_equal(run.trace.theta[-1], rtl["theta"][c, -1]))
    return compared, mismatches, identical


def verify(cfg: Config, samples: int, seed: int, lanes: int = 1, simulator: str = "verilator", cases: int = 1,
           rtl_fixed: dict | None = None, golden_fixed: dict | None = None, clock_gating: bool = True,
           netlist: str | None = None, depth: int = DEFAULT_DEPTH) -> Report:
    """Run `cases` cases of `samples` training samples through the golden model and the simulated core
    built for `cfg` with `lanes` lanes, and compare. `rtl_fixed` / `golden_fixed` override [fixed]
    settings of one side only (to show that the check fails when the two disagree). `clock_gating`
    False checks the core as synthesized instead of the simulation build (CoreBuild.clock_gating); `depth` is
    the core's pipeline depth (CoreBuild.depth). `netlist` ("ecp5") simulates the core's netlist synthesised for
    that family instead of its source (clock gating off)."""

    _require(samples >= 1, f"--images must be >= 1, got {samples}")
    _require(cases >= 1, f"--cases must be >= 1, got {cases}")
    _require(0 <= seed < 2**32, f"--seed must be in [0, 2^32), got {seed}")
    _require(netlist in (None, *CELL_MODELS), f"--netlist: unknown family {netlist!r} (choose from "
             f"{', '.join(CELL_MODELS)})")
    # yosys's ECP5 models redeclare output ports as wires: Icarus 11 rejects that in the Verilog-2005 mode that
    # Amaranth's Verilog needs (sim/build.py ICARUS_ARGS)
    _require(netlist is None or simulator == "verilator", "--netlist needs --simulator verilator (Icarus cannot "
             "read yosys's cell models as Verilog-2005)")
    plan = core_build(_with_fixed(cfg, rtl_fixed), lanes, clock_gating and netlist is None, depth)
    simulators(simulator)  # SimulatorUnavailable (one line) before any work
    start = time.perf_counter()
    data = load_dataset(cfg.dataset, cfg.data_dir, progress=False)
    X, Y = data.train_x, data.train_y
    todo = make_cases(cfg, cases, samples, seed, len(Y))
    golden_cases = [Case(_with_fixed(case.cfg, golden_fixed), case.idx) for case in todo]
    runs = [run_golden(case, X, Y) for case in golden_cases]
    rtl, synthesised = run_rtl(plan, simulator, todo, runs, X, netlist)
    compared, mismatches, identical = compare(todo, runs, rtl, cfg, lanes)
    return Report(cases, samples, compared, mismatches, [int(v) for v in rtl["cycles"].ravel()], identical,
                  time.perf_counter() - start, synthesised)


def _with_fixed(cfg: Config, fixed: dict | None) -> Config:
    if not fixed:
        return cfg
    out = dataclasses.replace(cfg, hidden=list(cfg.hidden), fixed=dataclasses.replace(cfg.fixed, **fixed))
    return out.validate()


def summary(report: Report, cfg: Config, lanes: int, simulator: str, clock_gating: bool = True) -> list[str]:
    """The lines `host verify` prints."""
    total = sum(report.compared.values())
    parts = ", ".join(f"{n:,} {q}" for q, n in report.compared.items())
    cases = f"{report.cases} case{'s' if report.cases > 1 else ''}"
    netlist = report.netlist
    if netlist is None:
        model = "source" if clock_gating else "source, no clock gating"
    else:
        model = f"{netlist.family.upper()} netlist"
    lines = [f"verify: {report.samples} samples x {cases}, {'-'.join(map(str, cfg.sizes))} with P = {lanes} on "
             f"{simulator} ({model}): {len(report.mismatches)} mismatches ({total:,} values compared: {parts})",
             f"final parameters identical in {report.final_identical} of {report.cases} cases; "
             f"{int(np.mean(report.cycles)):,} cycles per TRAIN sample; {report.seconds:.1f} s"]
    if netlist is not None:
        cells = ", ".join(f"{n:,} {cell}" for cell, n in sorted(netlist.cells.items()) if not cell.startswith("$"))
        lines.append(f"netlist: {CORE_MODULE} by yosys ({'abc9' if netlist.abc9 else 'classic abc'}): {cells}; "
                     f"synthesis {netlist.seconds:.1f} s{' (an earlier run)' if netlist.reused else ''}")
    if report.first is not None:
        lines.append(f"first mismatch: {report.first.describe()}")
    return lines
