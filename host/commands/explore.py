"""`host explore`: the co-design explorer over formats x lanes x pipeline depths x parts (host/studies/explore.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from golden import config
from golden.datasets import DATASET_NAMES, load as load_dataset
from hdl.layout import DEFAULT_DEPTH
from host.commands.hdl import HARDWARE_CONFIG
from host.commands.options import CliError, count, int_list, number, str_list
from host.flows import pnr
from host.studies import explore
from host.studies.runner import Runner, TaskError


def add(sub: argparse._SubParsersAction) -> None:
    """The `explore` command's options."""
    e = sub.add_parser("explore", help="co-design explorer: formats x lanes x parts, accuracy against throughput",
                       description="For every design of a grid of number formats, lanes and parts: the golden "
                                   "accuracy against float (trained, or read from a host sweep bits sweep.json), the "
                                   "resources and routed clock (place and route on ECP5, yosys's estimate on "
                                   "Xilinx), the core cycles per training sample and the training samples/s; the "
                                   "Pareto-optimal designs per part (docs/explore.md). Designs run as Dask tasks; "
                                   "rerunning with the same --out resumes.")
    e.add_argument("--model", help="preset, at the wide default formats (default: docs/hw-drn-xs.toml)")
    e.add_argument("--config", type=Path, help="TOML file of settings, as for train")
    e.add_argument("--dataset", choices=DATASET_NAMES)
    e.add_argument("--data-dir")
    e.add_argument("--epochs", type=count, default=1, help="epochs of each format's training (default 1)")
    e.add_argument("--v-frac", type=int_list, help="fraction bits of voltages (comma list; default the config's)")
    e.add_argument("--g-frac", type=int_list, help="fraction bits of conductances (comma list; default the config's)")
    e.add_argument("--rounding", type=str_list, default=["nearest"], help="rounding sets (comma list; default nearest)")
    e.add_argument("--lanes", type=int_list, default=[4, 8], metavar="P,...", help="lanes (comma list; default 4,8)")
    e.add_argument("--depth", type=int_list, default=[DEFAULT_DEPTH], metavar="D,...",
                   help=f"pipeline depths of the products (comma list; default {DEFAULT_DEPTH}; docs/core.md)")
    e.add_argument("--part", type=str_list, default=["LFE5U-85F"],
                   help=f"parts (comma list; default LFE5U-85F): {', '.join(pnr.PARTS)} are placed and routed, "
                        "xc7z020, xck26 and xczu7ev estimated")
    e.add_argument("--speed", type=int, choices=pnr.SPEEDS, default=6, help="ECP5 speed grade (default 6)")
    e.add_argument("--clock-mhz", type=number, default=pnr.TARGET_MHZ, metavar="MHZ",
                   help=f"target clock of place and route, assumed on Xilinx parts (default {pnr.TARGET_MHZ:g})")
    e.add_argument("--accuracy", type=Path, metavar="SWEEP_JSON",
                   help="a host sweep bits sweep.json of the same network: its formats are not trained again")
    e.add_argument("--workers", type=count, help="local Dask cluster of this many processes (default: the cores)")
    e.add_argument("--serial", action="store_true", help="no Dask: one task after another in this process")
    e.add_argument("--out", type=Path, help="folder (default runs/<time>-explore); an existing one resumes")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`host explore`: the grid's designs, their tables, the Pareto front per part."""
    if args.model is None and args.config is None:
        args.config = HARDWARE_CONFIG
    base = config.load(args.model, args.config, {"dataset": args.dataset, "data_dir": args.data_dir,
                                                 "epochs": args.epochs}, hardware=True)
    designs = explore.grid(base, args.v_frac or [base.fixed.v_frac], args.g_frac or [base.fixed.g_frac], args.rounding,
                           args.lanes, args.depth, args.part)
    accuracy = explore.accuracy_from_sweep(args.accuracy, base) if args.accuracy else None
    study = explore.Study(config={k: v for k, v in base.to_dict().items() if k != "data_dir"}, speed=args.speed,
                          clock_mhz=args.clock_mhz)
    out = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-explore"
    load_dataset(base.dataset, base.data_dir)  # download once, before the workers start
    explore.open_study(out, study)
    try:
        with Runner(workers=args.workers, serial=args.serial) as runner:
            print(f"explore: {len(designs)} designs of {base.model} {base.sizes} ({runner.description}) -> {out}; "
                  f"ECP5 parts are placed and routed: {pnr.FIRST_RUN}")
            summary = explore.explore(study, designs, out, runner, accuracy, data_dir=base.data_dir)
    except TaskError as e:
        raise CliError(str(e)) from None
    for part, keys in summary["pareto"].items():
        print(f"Pareto-optimal on {part}: {', '.join(keys) if keys else 'no design fits'}")
    print(f"tables in {out}/designs.csv, summary.json, pareto.md, pareto.png")
    if summary["failed"]:
        print(f"host: {len(summary['failed'])} design(s) failed, the first: {summary['failed'][0]}; rerun the same "
              "command to retry them", file=sys.stderr)
        return 1
    return 0
