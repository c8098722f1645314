"""`host bench golden|sim|sweep`: speed figures of the golden model, the simulated core and a noise sweep."""

from __future__ import annotations

import argparse

from host.commands.options import CliError, Renamed, count, only_for
from host.flows import train_sim
from host.studies import speed
from sim.build import SimulatorUnavailable, simulators

# The options that apply to one benchmark only.
WHAT_OPTIONS = {"images": ("sim",), "quick": ("golden",), "points": ("sweep",), "workers": ("sweep",)}


def add(sub: argparse._SubParsersAction) -> None:
    """The `bench` command's options."""
    b = sub.add_parser("bench", help="speed figures: golden model, simulated core, noise sweep",
                       description="Benchmarks that print figures (and a JSON line).")
    b.add_argument("what", choices=("golden", "sim", "sweep"),
                   help="golden: float and fixed-point golden-model training throughput, against GEMM; sim: training "
                        "through the simulated core (docs/demo.toml's network) and the projection to boards; sweep: "
                        "a noise sweep on a local Dask cluster against the same sweep run serially")
    b.add_argument("--repeats", type=count, help="timed repeats per figure (median reported; default golden 5, sim 3, "
                                                 "sweep 1)")
    b.add_argument("--images", type=count, metavar="K", help="sim: training images per repeat (default 20)")
    b.add_argument("--samples", action=Renamed, new="--images K (sim: training images per repeat)")
    b.add_argument("--quick", action="store_true", help="golden: fewer samples per repeat (smoke test)")
    b.add_argument("--points", type=count, help="sweep: points of the sweep (default 8)")
    b.add_argument("--workers", type=count, help="sweep: workers of the local cluster (default 2)")
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`host bench golden`: training throughput and the fraction of GEMM throughput it reaches; `host bench sim`:
    training through the simulated core and the projected board throughput; `host bench sweep`: a noise sweep on
    a local cluster against the same sweep run serially."""
    only_for(args, WHAT_OPTIONS, "bench", args.what)
    if args.what == "sim":
        try:
            simulators("verilator")
        except SimulatorUnavailable as e:
            raise CliError(str(e)) from None
        train_sim.bench(repeats=args.repeats or 3, samples=args.images or 20)
    elif args.what == "sweep":
        speed.sweep(points=args.points or 8, workers=args.workers or 2, repeats=args.repeats or 1)
    else:
        speed.golden(repeats=args.repeats or 5, quick=args.quick)
    return 0
