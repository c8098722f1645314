"""`host sweep bits|noise` and `host report`: studies over a grid of settings, and the report of a noise study."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from golden import config
from golden.datasets import DATASET_NAMES, load as load_dataset
from golden.train import prepare_out
from host.commands.options import CliError, Deprecated, Parser, count, float_list, int_list, integer, number, \
    str_list
from host.studies import bits, critical, noise
from host.studies.report import report
from host.studies.runner import Runner, TaskError


def add(sub: argparse._SubParsersAction) -> None:
    """The `sweep` group's options."""
    w = sub.add_parser("sweep", help="studies over a grid of settings: noise, bits",
                       description="Sweeps that write a table (CSV and JSON) and plots (PNG).")
    studies = w.add_subparsers(dest="what", required=True, metavar="STUDY", parser_class=Parser)
    n = studies.add_parser("noise", help="accuracy against measurement noise, the critical noise sigma_c",
                           description="Train a grid of runs over sigma (log-spaced, plus 0), N, datasets, models "
                                       "and seeds as Dask tasks; bisect each seed's sigma_c; write a tidy table. "
                                       "Rerunning with the same --out resumes (finished points are not rerun) or "
                                       "extends the grid. host report DIR draws the plots.")
    n.add_argument("--model", type=str_list, help="presets or TOML config files (comma list; default drn-xs)")
    n.add_argument("--dataset", type=str_list, help=f"comma list of {', '.join(DATASET_NAMES)} (default mnist-subset)")
    n.add_argument("--data-dir", help="folder with <dataset>/<official .gz files>; workers read it too")
    n.add_argument("--sigma", type=float_list, help="explicit noise levels (comma list; 0 is always added)")
    n.add_argument("--sigma-range", type=float_list, metavar="MIN,MAX",
                   help=f"log-spaced sigmas from MIN to MAX (default {noise.SIGMA_RANGE[0]:g},{noise.SIGMA_RANGE[1]:g})")
    n.add_argument("--per-decade", type=count, help=f"sigmas per decade of --sigma-range (default {noise.PER_DECADE})")
    readings = n.add_mutually_exclusive_group()
    readings.add_argument("--readings", type=int_list, metavar="N,...",
                          help="N, measurements averaged per state (comma list; default 1)")
    readings.add_argument("--samples", dest="readings", type=int_list, action=Deprecated, new="--readings")
    n.add_argument("--seeds", type=int_list, help="comma list (default 0,1,2)")
    n.add_argument("--epochs", type=count, help="epochs per point (default 3)")
    n.add_argument("--train-samples", type=count, metavar="K", help="train on the first K training images only")
    n.add_argument("--test-samples", type=count, metavar="K", help="test on the first K test images only")
    n.add_argument("--average", dest="reading", choices=config.NOISE_READINGS,
                   help="what the N readings average: the measured voltages or the updates (default: the model's)")
    n.add_argument("--precision", choices=config.PRECISIONS, help="float or fixed (default: the model's)")
    n.add_argument("--keep", type=number, help=f"sigma_c: accuracy kept, a fraction of noise-free (default {critical.KEEP})")
    n.add_argument("--refine", type=integer, help="bisection rounds of each seed's sigma_c bracket (default 3)")
    n.add_argument("--quick", action="store_true",
                   help="a small study for a first look or a test (bundled data, 1 epoch, 2 seeds, N 1,4): the "
                        "options given still apply")
    where = n.add_mutually_exclusive_group()
    where.add_argument("--workers", type=count, help="local Dask cluster of this many processes (default: the cores)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786)")
    where.add_argument("--serial", action="store_true", help="no Dask: one point after another in this process")
    n.add_argument("--out", type=Path, help="study folder (default runs/<time>-sweep-noise); an existing one resumes")
    n.add_argument("--no-report", action="store_true", help="only the tables, no plots and report.md")
    n.set_defaults(run=sweep_noise)

    q = studies.add_parser("bits", help="fixed-point formats and rounding against float",
                           description="Accuracy and update fidelity of fixed-point formats against float.")
    q.add_argument("--model", help="preset (default drn-xs)")
    q.add_argument("--config", type=Path, help="TOML file of settings, as for train")
    q.add_argument("--dataset", choices=DATASET_NAMES)
    q.add_argument("--data-dir")
    q.add_argument("--epochs", type=integer, default=1, help="epochs per point (default 1)")
    q.add_argument("--seed", type=integer)
    q.add_argument("--v-frac", type=int_list, default=[4, 6, 8, 10, 12, 16],
                   help="fraction bits of voltages to sweep (comma list)")
    q.add_argument("--g-frac", type=int_list, default=[8, 10, 12, 14, 16, 20],
                   help="fraction bits of conductances to sweep (comma list)")
    q.add_argument("--rounding", type=str_list, default=["nearest", "truncate", "stochastic"],
                   help="rounding sets: nearest, truncate, stochastic (update only) (comma list)")
    q.add_argument("--sigma", type=float_list, default=[0.0], help="noise levels (comma list)")
    q.add_argument("--workers", type=count, help="local Dask cluster of this many processes (default: the cores)")
    q.add_argument("--out", type=Path, help="output folder (default runs/<time>-sweep-bits)")
    q.set_defaults(run=sweep_bits)

    r = sub.add_parser("report", help="plots and a Markdown report of a noise study",
                       description="Rebuild the tables of a host sweep noise folder, draw accuracy against sigma, "
                                   "sigma_c against N and the training curves (PNG), and write report.md.")
    r.add_argument("dir", type=Path, help="the study folder")
    r.add_argument("--keep", type=number, help=f"sigma_c threshold, a fraction of the noise-free accuracy "
                                               f"(default {critical.KEEP})")
    r.set_defaults(run=run_report)


def sweep_bits(args: argparse.Namespace) -> int:
    """`host sweep bits`: accuracy and update fidelity of fixed-point formats against float."""
    base = config.load(args.model, args.config, {"dataset": args.dataset, "data_dir": args.data_dir,
                                                 "epochs": args.epochs, "seed": args.seed, "momentum": 0.0})
    points = bits.grid(base, args.v_frac, args.g_frac, args.rounding, args.sigma)  # checks every point
    out = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-sweep-bits"
    load_dataset(base.dataset, base.data_dir)  # download once, before the workers start
    prepare_out(out, resumable=False)  # sweep bits starts afresh: it has no --resume
    print(f"sweep bits: {base.model} {base.sizes} on {base.dataset}, {base.epochs} epoch(s) per point -> {out}")
    bits.sweep(base, points, out, args.workers)
    print(f"results in {out}/sweep.csv, sweep.json, sweep.png")
    return 0


QUICK = {"dataset": ["mnist-subset"], "epochs": 1, "train_samples": 2000, "test_samples": 500, "seeds": [0, 1],
         "readings": [1, 4], "sigma_range": [1e-3, 1e-1], "per_decade": 2, "refine": 2}


def sweep_noise(args: argparse.Namespace) -> int:
    """`host sweep noise`: the grid on Dask (or serially), bisection of sigma_c, tables, then the report."""
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
    points = noise.grid(study, pick("model", ["drn-xs"]), datasets, sigmas, pick("readings", [1]),
                        pick("seeds", [0, 1, 2]), args.data_dir)
    out = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-sweep-noise"
    for d in datasets:  # download once, before the workers start
        load_dataset(d, args.data_dir)
    noise.open_study(out, study)  # an occupied or unwritable --out fails before any worker starts
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



def run_report(args: argparse.Namespace) -> int:
    """`host report DIR`: tables, figures and report.md of a noise study."""
    keep = args.keep if args.keep is not None else critical.KEEP
    config.require(0 < keep < 1, f"--keep must be between 0 and 1, got {keep:g}")
    for path in report(args.dir, keep):
        print(path)
    return 0
