"""`host train`: train a network on the golden model, the simulated core or a PYNQ board."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from golden import config
from golden import train as loop
from golden.datasets import DATASET_NAMES, head, load as load_dataset
from hdl.plan import CoreBuild, default_lanes
from host.backends.pynq import open_board
from host.commands.options import CliError, Deprecated, count, integer, number, only_for
from host.driver import CoreError, DriverExecutor, EPCoreInterface, run_sync
from host.flows import train_sim
from host.flows.bitstream import BOARDS, OverlayError, board
from sim.build import SimulatorUnavailable, simulators

TARGETS = ("golden", "sim", "pynq")
# The options that apply to some targets only; the others apply to all (the hardware targets check the values).
TARGET_OPTIONS = {"dtype": ("golden",), "lanes": ("sim",), "overlay": ("pynq",), "board": ("pynq",)}


def add(sub: argparse._SubParsersAction) -> None:
    """The `train` command's options."""
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
    t.add_argument("--train-samples", type=count, metavar="K", help="train on the first K training images only (default: the --config file's [run] train_samples)")
    t.add_argument("--test-samples", type=count, metavar="K",
                   help="test on the first K test images only (default: the --config file's [run] test_samples)")
    t.add_argument("--sigma", type=number, help="measurement noise std on the voltages used by the update")
    readings = t.add_mutually_exclusive_group()
    readings.add_argument("--readings", type=integer, metavar="N", help="measurements averaged per state")
    readings.add_argument("--samples", dest="readings", type=integer, action=Deprecated, new="--readings")
    t.add_argument("--beta", type=number, help="nudging strength")
    t.add_argument("--momentum", type=number, help="SGD momentum (0 for --precision fixed)")
    t.add_argument("--epochs", type=integer)
    t.add_argument("--batch-size", type=integer)
    t.add_argument("--seed", type=integer)
    t.add_argument("--dtype", choices=config.DTYPES,
                   help="--target golden, --precision float: float32 (default) or float64")
    t.add_argument("--precision", choices=config.PRECISIONS,
                   help="float (reference) or fixed (bit-accurate hardware model, formats in [fixed] of --config)")
    t.add_argument("--out", type=Path,
                   help="folder for metrics.json and checkpoint.npz (default runs/<time>-<model>-<dataset>)")
    t.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run in DIR on its target (optionally with more --epochs)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--lanes", type=count, metavar="P",
                   help="--target sim: the simulated core's lanes, a power of two (default: the --config file's "
                        "[run] lanes, as docs/demo.toml's for the demo, else 16 capped by the network)")
    t.add_argument("--overlay", type=Path, metavar="FILE.bit",
                   help="--target pynq: an overlay holding the core, its .hwh beside it (it fixes the lanes)")
    t.add_argument("--board", help=f"--target pynq: the packaged overlay of this board ({', '.join(BOARDS)}; "
                                   "default $BOARD)")
    t.set_defaults(run=run)


def _overrides(args: argparse.Namespace) -> dict:
    return {"dataset": args.dataset, "data_dir": args.data_dir, "sigma": args.sigma, "samples": args.readings,
            "beta": args.beta, "momentum": args.momentum, "epochs": args.epochs, "batch_size": args.batch_size,
            "seed": args.seed, "dtype": args.dtype, "precision": args.precision}


def _hardware_target(args: argparse.Namespace, cfg: config.Config) -> tuple[int, object]:
    """For --target sim or pynq: the config checked against what the core can do, the lanes (sim) and the
    executor (pynq; the simulation makes its own)."""
    lanes = args.lanes if args.lanes is not None else default_lanes(cfg)
    CoreBuild(cfg, lanes if args.target == "sim" else 1)  # ConfigError (one line) for what the core cannot run
    if args.target == "sim":
        try:
            simulators("verilator")
        except SimulatorUnavailable as e:
            raise CliError(str(e)) from None
        return lanes, None
    try:
        name = None if args.board is None else board(args.board).name  # an unknown board fails here, naming them
        bus = open_board(bitfile=args.overlay, board=name)
    except (CoreError, OverlayError) as e:
        raise CliError(str(e)) from None
    return lanes, DriverExecutor(EPCoreInterface(bus, cfg), run_sync)


def run(args: argparse.Namespace) -> int:
    """`host train`: resolve the config, load the data, train (golden model, simulated core or board), write results;
    the hardware targets end with a bit-for-bit check against the fixed-point golden model."""
    metrics = None
    limits = (args.train_samples, args.test_samples)
    if args.resume is not None:
        if args.model or args.config or args.out or args.train_samples or args.test_samples:
            raise CliError("--resume continues a stored run: do not combine it with --model, --config, --out or "
                           "--train/test-samples")
        out = args.resume
        metrics, state = loop.load_run(out)
        target = metrics.get("target", "golden")
        if args.target not in (None, target):
            raise CliError(f"--resume continues {out} on its target, --target {target}, not --target {args.target}")
        only_for(args, TARGET_OPTIONS, "--target", target)
        cfg = loop.resume_config(metrics, _overrides(args))
        done = len(metrics["epochs"])
        if cfg.epochs <= done:
            raise CliError(f"{out} has already run {done} epoch(s), --epochs {cfg.epochs} adds none: give --epochs "
                           f"above {done} to continue it")
        limits = (metrics["dataset"]["train_samples"], metrics["dataset"]["test_samples"])
        if target == "sim" and args.lanes is None:  # the run's own core, not a new build
            hardware = metrics.get("hardware")
            lanes = hardware.get("lanes") if isinstance(hardware, dict) else None
            args.lanes = lanes if isinstance(lanes, int) and not isinstance(lanes, bool) else None
    else:
        target = args.target or "golden"
        only_for(args, TARGET_OPTIONS, "--target", target)
        if target == "sim" and args.model is None and args.config is None:
            args.config = train_sim.DEMO_CONFIG
        run_options = config.run_options(args.config)  # the file's [run]: defaults of the options below
        limits = (args.train_samples or run_options.get("train_samples"),
                  args.test_samples or run_options.get("test_samples"))
        if target == "sim" and args.lanes is None:
            args.lanes = run_options.get("lanes")
        cfg = config.load(args.model, args.config, _overrides(args), hardware=target != "golden")
        if args.dtype is not None and cfg.precision != "float":
            raise CliError(f"--dtype applies to --precision float only, not {cfg.precision}")
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
    args.run_folder = out  # for main's Ctrl-C message
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
        metrics = loop.load_run(out)[0]
    else:
        metrics = loop.train(cfg, data, executor, out, target, metrics, progress=not args.no_progress)
    last = metrics["epochs"][-1]
    print(f"done: test accuracy {100 * last['test_accuracy']:.2f}% after {last['epoch']} epochs; "
          f"results in {out / loop.METRICS}")
    if target == "golden":
        return 0
    theta = loop.load_run(out)[1]["theta"]
    difference = train_sim.golden_difference(cfg, data, theta)
    print(f"bit-exact with golden: {'yes' if difference is None else 'no'} (the fixed-point golden model trained "
          f"on the same samples with the same settings{'' if difference is None else ': ' + difference})")
    return 0 if difference is None else 1
