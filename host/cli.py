"""The `host` command: train, run studies over a grid of settings, benchmark, verify the RTL against golden."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn, Sequence

import numpy as np

from golden import config
from golden.datasets import DATASET_NAMES, DatasetError, head, load as load_dataset
from host.studies import critical, noise

TARGETS = ("golden", "sim", "pynq")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line instead of usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message} (see {self.prog} --help)")


def _int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def _count(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    return [_int(t) for t in text.split(",") if t]


def _float_list(text: str) -> list[float]:
    return [_number(t) for t in text.split(",") if t]


def _str_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(prog="host", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a network on the golden model, the simulated core or a board",
                       description="Train a deep resistive network with equilibrium propagation.")
    t.add_argument("--target", choices=TARGETS,
                   help="what runs the training steps: golden (the golden model, float or fixed), sim (the RTL "
                        "core simulated by Verilator), pynq (the core on a PYNQ board); default golden, or the "
                        "resumed run's")
    t.add_argument("--model", help=f"preset: {', '.join(config.PRESETS)} (default drn-xs; --target sim: docs/demo.toml)")
    t.add_argument("--config", type=Path, help="TOML file of settings (see README); the command line overrides it")
    t.add_argument("--dataset", choices=DATASET_NAMES, help="default: mnist-subset (bundled)")
    t.add_argument("--data-dir", help="folder with <dataset>/<official .gz files>; downloads go there")
    t.add_argument("--train-samples", type=_count, metavar="K", help="train on the first K training images only")
    t.add_argument("--test-samples", type=_count, metavar="K", help="test on the first K test images only")
    t.add_argument("--sigma", type=_number, help="measurement noise std on the voltages used by the update")
    t.add_argument("--samples", type=_int, help="N: measurements averaged per state")
    t.add_argument("--beta", type=_number, help="nudging strength")
    t.add_argument("--momentum", type=_number, help="SGD momentum (0 for --precision fixed)")
    t.add_argument("--epochs", type=_int)
    t.add_argument("--batch-size", type=_int)
    t.add_argument("--seed", type=_int)
    t.add_argument("--dtype", choices=config.DTYPES, help="float precision: float32 (default) or float64")
    t.add_argument("--precision", choices=config.PRECISIONS,
                   help="float (reference) or fixed (bit-accurate hardware model, formats in [fixed] of --config)")
    t.add_argument("--out", type=Path,
                   help="folder for metrics.json and checkpoint.npz (default runs/<time>-<model>-<dataset>)")
    t.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR (optionally with more --epochs)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--lanes", type=_count, metavar="P",
                   help="--target sim: the simulated core's lanes, a power of two (default: docs/demo.toml's)")
    t.add_argument("--overlay", type=Path, metavar="FILE.bit",
                   help="--target pynq: an overlay holding the core, its .hwh beside it")
    t.add_argument("--board", help="--target pynq: the packaged overlay of this board (pynq-z2, kv260, zcu104; "
                                   "default $BOARD)")

    w = sub.add_parser("sweep", help="studies over a grid of settings",
                       description="Sweeps that write a table (CSV and JSON) and plots (PNG).")
    studies = w.add_subparsers(dest="what", required=True, parser_class=_Parser)
    q = studies.add_parser("bits", help="fixed-point formats and rounding against float",
                           description="Accuracy and update fidelity of fixed-point formats against float.")
    q.add_argument("--model", help="preset (default drn-xs)")
    q.add_argument("--config", type=Path, help="TOML file of settings, as for train")
    q.add_argument("--dataset", choices=DATASET_NAMES)
    q.add_argument("--data-dir")
    q.add_argument("--epochs", type=_int, default=1, help="epochs per point (default 1)")
    q.add_argument("--seed", type=_int)
    q.add_argument("--v-frac", type=_int_list, default=[4, 6, 8, 10, 12, 16],
                   help="fraction bits of voltages to sweep (comma list)")
    q.add_argument("--g-frac", type=_int_list, default=[8, 10, 12, 14, 16, 20],
                   help="fraction bits of conductances to sweep (comma list)")
    q.add_argument("--rounding", type=_str_list, default=["nearest", "truncate", "stochastic"],
                   help="rounding sets: nearest, truncate, stochastic (update only) (comma list)")
    q.add_argument("--sigma", type=_float_list, default=[0.0], help="noise levels (comma list)")
    q.add_argument("--workers", type=_count, help="local Dask cluster of this many processes (default: the cores)")
    q.add_argument("--out", type=Path, help="output folder (default runs/<time>-sweep-bits)")

    n = studies.add_parser("noise", help="accuracy against measurement noise, the critical noise sigma_c",
                           description="Train a grid of runs over sigma (log-spaced, plus 0), N, datasets, models "
                                       "and seeds as Dask tasks; bisect each seed's sigma_c; write a tidy table. "
                                       "Rerunning with the same --out resumes (finished points are not rerun) or "
                                       "extends the grid. host report DIR draws the plots.")
    n.add_argument("--model", type=_str_list, help="presets or TOML config files (comma list; default drn-xs)")
    n.add_argument("--dataset", type=_str_list, help=f"comma list of {', '.join(DATASET_NAMES)} (default mnist-subset)")
    n.add_argument("--data-dir", help="folder with <dataset>/<official .gz files>; workers read it too")
    n.add_argument("--sigma", type=_float_list, help="explicit noise levels (comma list; 0 is always added)")
    n.add_argument("--sigma-range", type=_float_list, metavar="MIN,MAX",
                   help=f"log-spaced sigmas from MIN to MAX (default {noise.SIGMA_RANGE[0]:g},{noise.SIGMA_RANGE[1]:g})")
    n.add_argument("--per-decade", type=_count, help=f"sigmas per decade of --sigma-range (default {noise.PER_DECADE})")
    n.add_argument("--samples", type=_int_list, metavar="N,...", help="N, measurements averaged per state (default 1)")
    n.add_argument("--seeds", type=_int_list, help="comma list (default 0,1,2)")
    n.add_argument("--epochs", type=_count, help="epochs per point (default 3)")
    n.add_argument("--train-samples", type=_count, metavar="K", help="train on the first K training images only")
    n.add_argument("--test-samples", type=_count, metavar="K", help="test on the first K test images only")
    n.add_argument("--reading", choices=config.NOISE_READINGS, help="how N samples combine (default: the model's)")
    n.add_argument("--precision", choices=config.PRECISIONS, help="float or fixed (default: the model's)")
    n.add_argument("--keep", type=_number, help=f"sigma_c: accuracy kept, a fraction of noise-free (default {critical.KEEP})")
    n.add_argument("--refine", type=_int, help="bisection rounds of each seed's sigma_c bracket (default 3)")
    n.add_argument("--quick", action="store_true",
                   help="a small study for a first look or a test (bundled data, 1 epoch, 2 seeds, N 1,4): the "
                        "options given still apply")
    where = n.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_count, help="local Dask cluster of this many processes (default: the cores)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786)")
    where.add_argument("--serial", action="store_true", help="no Dask: one point after another in this process")
    n.add_argument("--out", type=Path, help="study folder (default runs/<time>-sweep-noise); an existing one resumes")
    n.add_argument("--no-report", action="store_true", help="only the tables, no plots and report.md")

    r = sub.add_parser("report", help="plots and a Markdown report of a noise study",
                       description="Rebuild the tables of a host sweep noise folder, draw accuracy against sigma, "
                                   "sigma_c against N and the training curves (PNG), and write report.md.")
    r.add_argument("dir", type=Path, help="the study folder")
    r.add_argument("--keep", type=_number, help=f"sigma_c threshold, a fraction of the noise-free accuracy "
                                                f"(default {critical.KEEP})")

    b = sub.add_parser("bench", help="print speed figures", description="Benchmarks that print figures (and a JSON line).")
    b.add_argument("what", choices=("golden", "sim", "sweep"),
                   help="golden: float and fixed-point golden-model training throughput, against GEMM; sim: training "
                        "through the simulated core (docs/demo.toml's network) and the projection to boards; sweep: "
                        "a noise sweep on a local Dask cluster against the same sweep run serially")
    b.add_argument("--repeats", type=_count, help="timed repeats per figure (median reported; default golden 5, sim 3)")
    b.add_argument("--samples", type=_count, default=20, help="sim: training samples per repeat (default 20)")
    b.add_argument("--quick", action="store_true", help="fewer samples per repeat (smoke test)")
    b.add_argument("--points", type=_count, default=8, help="sweep: points of the sweep (default 8)")
    b.add_argument("--workers", type=_count, default=2, help="sweep: workers of the local cluster (default 2)")

    v = sub.add_parser("verify", help="the simulated core against the fixed-point golden model, bit for bit",
                       description="Run training samples through the simulated RTL core and the fixed-point golden "
                                   "model and compare every relaxation iterate, measurement, parameter update and "
                                   "prediction. Exit status 0: identical, 1: mismatches, 2: bad input.")
    v.add_argument("--config", type=Path, help="TOML file of settings (precision fixed, batch_size 1)")
    v.add_argument("--model", help="preset when --config names none (default drn-xs)")
    v.add_argument("--samples", type=_int, default=4, help="K: training samples per case (default 4)")
    v.add_argument("--seed", type=_int, default=0, help="seed of the cases' settings and samples (default 0)")
    v.add_argument("--cases", type=_int, default=1,
                   help="C: cases; the first runs the config's settings, the others random run-time settings "
                        "(beta, sigma, N, sweeps, order, variant, warm start, seed) on the same core (default 1)")
    v.add_argument("--lanes", type=_int, default=1, help="P: the core's lanes (default 1)")
    v.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    v.add_argument("--no-clock-gating", dest="clock_gating", action="store_false",
                   help="check the core as synthesized: no clock gating of idle lane units (slower to simulate)")
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    return {"dataset": args.dataset, "data_dir": args.data_dir, "sigma": args.sigma, "samples": args.samples,
            "beta": args.beta, "momentum": args.momentum, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
            "dtype": args.dtype, "precision": args.precision}


def _hardware_target(args: argparse.Namespace, cfg: config.Config) -> tuple[int, object]:
    """For --target sim or pynq: the config checked against what the core can do, the lanes (sim) and the
    executor (pynq; the simulation makes its own)."""
    from hdl.plan import CoreBuild, default_lanes

    lanes = args.lanes if args.lanes is not None else default_lanes(cfg)
    CoreBuild(cfg, lanes if args.target == "sim" else 1)  # ConfigError (one line) for what the core cannot run
    if args.target == "sim":
        from sim.build import SimulatorUnavailable, simulators

        try:
            simulators("verilator")
        except SimulatorUnavailable as e:
            raise CliError(str(e)) from None
        return lanes, None
    from host.backends.pynq import open_board
    from host.driver import CoreError, DriverExecutor, EPCoreInterface, run_sync

    try:
        bus = open_board(bitfile=args.overlay, board=args.board)
    except CoreError as e:
        raise CliError(str(e)) from None
    return lanes, DriverExecutor(EPCoreInterface(bus, cfg), run_sync)


def cmd_train(args: argparse.Namespace) -> int:
    """`host train`: resolve the config, load the data, train (golden model, simulated core or board), write results;
    the hardware targets end with a bit-for-bit check against the fixed-point golden model."""
    from golden import train as loop
    from host.flows import train_sim

    metrics = None
    limits = (args.train_samples, args.test_samples)
    if args.resume is not None:
        if args.model or args.config or args.out or args.train_samples or args.test_samples:
            raise CliError("--resume continues a stored run: do not combine it with --model, --config, --out or "
                           "--train/test-samples")
        out = args.resume
        metrics, state = loop.load_run(out)
        cfg = loop.resume_config(metrics, _overrides(args))
        target = args.target or metrics.get("target", "golden")
        limits = (metrics["dataset"]["train_samples"], metrics["dataset"]["test_samples"])
    else:
        target = args.target or "golden"
        model, overrides = args.model, _overrides(args)
        if target == "sim" and args.model is None and args.config is None:
            cfg_values, run = train_sim.demo()
            model = cfg_values.pop("model")
            overrides = {**cfg_values, **{k: v for k, v in overrides.items() if v is not None}}
            limits = (args.train_samples or run["train_samples"], args.test_samples or run["test_samples"])
            args.lanes = run["lanes"] if args.lanes is None else args.lanes
        cfg = config.load(model, args.config, overrides, hardware=target != "golden")
        out = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.model}-{cfg.dataset}"
    args.target = target
    lanes, executor = _hardware_target(args, cfg) if target != "golden" else (0, loop.golden_executor(cfg))
    data = head(load_dataset(cfg.dataset, cfg.data_dir, progress=not args.no_progress), *limits)
    if metrics is None:
        loop.prepare_out(out)  # only now: a run that cannot start leaves no folder behind
    else:
        if executor is not None:
            try:
                executor.load_state(state)
            except (KeyError, ValueError) as e:
                raise loop.RunError(f"cannot resume from {out}: the checkpoint does not fit its config ({e})") from None
        print(f"resuming {out} after epoch {len(metrics['epochs'])}")
    how = {"golden": cfg.precision, "sim": f"fixed, P = {lanes}, Verilator", "pynq": "fixed"}[target]
    print(f"training {cfg.model} {cfg.sizes} on {data.name} ({len(data.train_y)} train, "
          f"{len(data.test_y)} test; {data.source}) with --target {target} ({how}), sigma={cfg.sigma:g}, "
          f"N={cfg.samples}, beta={cfg.beta:g} -> {out}")
    if data.note:
        print(f"note: {data.note}")
    if target == "sim":
        started = time.perf_counter()
        plan = train_sim.simulation_build(cfg, lanes)
        print(f"building the core for Verilator (build/sim/verilator/{train_sim.build_name(plan)}; a few minutes "
              "the first time, then reused)")
        build = train_sim.build_core(plan)
        print(f"core ready after {time.perf_counter() - started:.0f} s; training in the simulation")
        train_sim.train(build, cfg, data, out, lanes, resume=metrics is not None, progress=not args.no_progress)
        metrics = json.loads((out / loop.METRICS).read_text())
    else:
        metrics = loop.train(cfg, data, executor, out, target, metrics, progress=not args.no_progress)
    last = metrics["epochs"][-1]
    print(f"done: test accuracy {100 * last['test_accuracy']:.2f}% after {last['epoch']} epochs; "
          f"results in {out / loop.METRICS}")
    if target == "golden":
        return 0
    theta = np.load(out / loop.CHECKPOINT)["theta"]
    difference = train_sim.golden_difference(cfg, data, theta)
    print(f"bit-exact with golden: {'yes' if difference is None else 'no'} (the fixed-point golden model trained "
          f"on the same samples with the same settings{'' if difference is None else ': ' + difference})")
    return 0 if difference is None else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    """`host sweep bits|noise`."""
    return {"bits": _sweep_bits, "noise": _sweep_noise}[args.what](args)


def _sweep_bits(args: argparse.Namespace) -> int:
    """`host sweep bits`: accuracy and update fidelity of fixed-point formats against float."""
    from golden.train import prepare_out
    from host.studies import bits

    base = config.load(args.model, args.config, {"dataset": args.dataset, "data_dir": args.data_dir,
                                                 "epochs": args.epochs, "seed": args.seed, "momentum": 0.0})
    points = bits.grid(base, args.v_frac, args.g_frac, args.rounding, args.sigma)  # checks every point
    out = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-sweep-bits"
    load_dataset(base.dataset, base.data_dir)  # download once, before the workers start
    prepare_out(out)
    print(f"sweep bits: {base.model} {base.sizes} on {base.dataset}, {base.epochs} epoch(s) per point -> {out}")
    bits.sweep(base, points, out, args.workers)
    print(f"results in {out}/sweep.csv, sweep.json, sweep.png")
    return 0


QUICK = {"dataset": ["mnist-subset"], "epochs": 1, "train_samples": 2000, "test_samples": 500, "seeds": [0, 1],
         "samples": [1, 4], "sigma_range": [1e-3, 1e-1], "per_decade": 2, "refine": 2}


def _sweep_noise(args: argparse.Namespace) -> int:
    """`host sweep noise`: the grid on Dask (or serially), bisection of sigma_c, tables, then the report."""
    from host.studies.report import report
    from host.studies.runner import Runner, TaskError

    given = {k: v for k, v in vars(args).items() if v is not None}
    pick = lambda name, default: given.get(name, QUICK.get(name, default) if args.quick else default)  # noqa: E731
    datasets = pick("dataset", ["mnist-subset"])
    for d in datasets:
        if d not in DATASET_NAMES:
            raise CliError(f"unknown dataset {d!r}: choose from {', '.join(DATASET_NAMES)}")
    if args.sigma is not None:
        sigmas = args.sigma
    else:
        bounds = pick("sigma_range", list(noise.SIGMA_RANGE))
        if len(bounds) != 2:
            raise CliError(f"--sigma-range takes MIN,MAX, got {len(bounds)} values")
        sigmas = noise.sigma_grid(bounds[0], bounds[1], pick("per_decade", noise.PER_DECADE))
    keep = pick("keep", critical.KEEP)
    config.require(0 < keep < 1, f"--keep must be between 0 and 1, got {keep:g}")
    refine = pick("refine", 3)
    config.require(refine >= 0, f"--refine must be >= 0, got {refine}")
    study = noise.Study(epochs=pick("epochs", 3), train_samples=pick("train_samples", None),
                        test_samples=pick("test_samples", None), reading=args.reading, precision=args.precision)
    points = noise.grid(study, pick("model", ["drn-xs"]), datasets, sigmas, pick("samples", [1]),
                        pick("seeds", [0, 1, 2]), args.data_dir)
    out = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-sweep-noise"
    signal.signal(signal.SIGTERM, _interrupted)  # a batch system's stop: end like Ctrl-C, workers shut down
    for d in datasets:  # download once, before the workers start
        load_dataset(d, args.data_dir)
    try:
        with Runner(workers=args.workers, scheduler=args.scheduler, serial=args.serial) as runner:
            print(f"sweep noise: {len(points)} grid points ({study.epochs} epoch(s) each), then {refine} bisection "
                  f"round(s), {runner.description} -> {out}")
            summary, errors = noise.sweep(study, points, out, runner, refine, keep, args.data_dir)
    except TaskError as e:
        raise CliError(str(e)) from None
    for e in summary["critical"]:
        where = f"{e['sigma_c']:.3g} (x/÷ {10 ** (e['log10_std'] or 0):.2f} over {e['estimated']} seeds)" \
            if e["sigma_c"] else "outside the grid"
        print(f"sigma_c {e['model']} {e['dataset']} N={e['samples']}: {where}; noise-free accuracy "
              f"{100 * e['noise_free_accuracy']:.2f}%")
    for law in summary["sqrt_law"]:
        print(f"sqrt(N) law {law['model']} {law['dataset']}: slope {law['slope']:.3f} (the paper: 0.5)")
    print(f"tables in {out}/sweep.csv, curves.csv, critical.csv, sweep.json")
    if not args.no_report:
        files = report(out, keep, summary)
        print(f"report in {out}/report.md ({len(files) - 1} figures)")
    if errors:
        print(f"host: {len(errors)} point(s) failed, the first: {errors[0]}; rerun the same command to retry them",
              file=sys.stderr)
        return 1
    return 0


def _interrupted(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def cmd_report(args: argparse.Namespace) -> int:
    """`host report DIR`: tables, figures and report.md of a noise study."""
    from host.studies.report import report

    keep = args.keep if args.keep is not None else critical.KEEP
    config.require(0 < keep < 1, f"--keep must be between 0 and 1, got {keep:g}")
    for path in report(args.dir, keep):
        print(path)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """`host bench golden`: training throughput and the fraction of GEMM throughput it reaches; `host bench sim`:
    training through the simulated core and the projected board throughput."""
    if args.what == "sim":
        from host.flows import train_sim
        from sim.build import SimulatorUnavailable, simulators

        try:
            simulators("verilator")
        except SimulatorUnavailable as e:
            raise CliError(str(e)) from None
        train_sim.bench(repeats=args.repeats or 3, samples=args.samples)
        return 0
    from host.studies import speed

    if args.what == "sweep":
        speed.sweep(points=args.points, workers=args.workers, repeats=args.repeats or 1)
        return 0
    speed.golden(repeats=args.repeats or 5, quick=args.quick)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """`host verify`: golden vs RTL over K samples per case; exit 1 on any mismatch."""
    from host.flows import verify
    from sim.build import SimulationError, SimulatorUnavailable

    try:
        cfg = verify.core_config(args.config, args.model)
        report = verify.verify(cfg, args.samples, args.seed, args.lanes, args.simulator, args.cases,
                               clock_gating=args.clock_gating)
    except (verify.VerifyError, SimulatorUnavailable) as e:
        raise CliError(str(e)) from None
    except SimulationError as e:  # a build that fails or a core that never finishes: the RTL failed
        print(f"verify: the simulation failed: {e}", file=sys.stderr)
        return 1
    for line in verify.summary(report, cfg, args.lanes, args.simulator, args.clock_gating):
        print(line)
    return 1 if report.mismatches else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `host` console script."""
    from golden.network import ModelError
    from golden.train import RunError
    from host.driver import CoreError
    from host.flows.train_sim import SimError

    try:
        args = build_parser().parse_args(argv)
        return {"train": cmd_train, "sweep": cmd_sweep, "report": cmd_report, "bench": cmd_bench,
                "verify": cmd_verify}[args.command](args)
    except (CliError, config.ConfigError, DatasetError, RunError, ModelError) as e:
        print(f"host: error: {e}", file=sys.stderr)
        return 2
    except (CoreError, SimError) as e:  # the core failed during a run: a driver error, a simulation that broke off
        print(f"host: error: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("host: error: out of memory: the network, batch or data is too large for this machine", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("host: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
