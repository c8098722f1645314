"""`host hdl generate|estimate|bench|regmap`: the EP core's generated files, resource estimates, simulation benchmark
and register map."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from golden import config
from golden.files import atomic_write_text
from hdl.estimate import PARTS, EstimateError, estimate, part
from hdl.estimate import describe as describe_estimate
from hdl.core import EPCore
from hdl.generate import TOP, describe, generate, write_regmap
from hdl.plan import DEFAULT_LANES, CoreBuild
from host.commands.options import CliError, Parser, Renamed, out_file, out_folder
from host.flows.core_bench import bench as core_bench
from sim.build import SimulationError, simulators

MAX_BENCH_IMAGES = 1000  # the images travel to the testbench as JSON


def _add_config(parser: argparse.ArgumentParser, lanes: bool = True) -> None:
    parser.add_argument("--model", help="preset (default drn-xs, or the config file's model)")
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
    core = EPCore(CoreBuild.load(args.model, args.config, args.lanes))
    result = {"model": core.cfg.model, "sizes": core.sizes, "lanes": core.lanes, "g_bits": core.cfg.fixed.g_bits,
              **estimate(core, TOP, args.part)}
    text = json.dumps(result)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(describe_estimate(result))
    print(text)


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


COMMANDS = {"generate": _generate, "estimate": _estimate, "bench": _bench, "regmap": _regmap}


def run(args: argparse.Namespace) -> int:
    """`host hdl ...`; synthesis, simulation and file errors end in one line (exit 2)."""
    try:
        COMMANDS[args.what](args)
    except (EstimateError, SimulationError) as e:
        raise CliError(str(e)) from None
    except OSError as e:  # a file the command writes: its name and the reason, without the errno
        raise CliError(f"cannot write {e.filename}: {e.strerror}" if e.filename else str(e)) from None
    return 0
