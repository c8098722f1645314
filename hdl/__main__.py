"""`python -m hdl`: the EP core's generated files, resource estimates, simulation benchmark and register map."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from golden import config
from golden.files import atomic_write_text
from sim.build import SimulationError

from .estimate import PARTS, EstimateError, estimate, part
from .estimate import describe as describe_estimate
from .core import EPCore
from .generate import TOP, describe, generate, write_regmap
from .plan import DEFAULT_LANES, CoreBuild

PROG = "python -m hdl"
MAX_BENCH_SAMPLES = 1000  # the images travel to the testbench as JSON


def _add_config(parser: argparse.ArgumentParser, lanes: bool = True) -> None:
    parser.add_argument("--model", help="preset (default drn-xs, or the config file's model)")
    parser.add_argument("--config", type=Path, help="TOML file of settings, as for host train")
    if lanes:
        parser.add_argument("--lanes", type=int, help=f"P (default {DEFAULT_LANES}, or the widest layer rounded up if less)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="Verilog, register map and summary.json of the core for a config")
    _add_config(g)
    g.add_argument("--out", type=Path, required=True, help="output folder")
    e = sub.add_parser("estimate", help="synthesise the core (yosys synth_xilinx) and compare with a part")
    _add_config(e)
    e.add_argument("--part", required=True, help=f"one of {', '.join(PARTS)}")
    e.add_argument("--out", type=Path, help="JSON file for the estimate (it is printed in any case)")
    b = sub.add_parser("bench", help="simulated cycles per second of the core training real MNIST samples")
    _add_config(b)
    b.add_argument("--simulator", default="verilator", help="verilator (default) or icarus")
    b.add_argument("--samples", type=int, default=5, help="K training samples (default 5)")
    b.add_argument("--no-pgo", dest="pgo", action="store_false",
                   help="Verilator: plain optimised C++, not profile-guided (which profiles a one-sample run first)")
    b.add_argument("--no-clock-gating", dest="clock_gating", action="store_false",
                   help="the core as synthesized: its idle lane units not clock-gated (slower to simulate)")
    r = sub.add_parser("regmap", help="register map files for a config")
    _add_config(r, lanes=False)
    r.add_argument("--out", type=Path, required=True, help="output folder")
    return parser


def _regmap(args: argparse.Namespace) -> None:
    for path in write_regmap(config.load(args.model, args.config, hardware=True), args.out):
        print(path)


def _generate(args: argparse.Namespace) -> None:
    paths, info = generate(EPCore(CoreBuild.load(args.model, args.config, args.lanes)), args.out)
    for path in paths:
        print(path)
    print(describe(info))


def _estimate(args: argparse.Namespace) -> None:
    part(args.part)  # an unknown part fails before the core is built
    core = EPCore(CoreBuild.load(args.model, args.config, args.lanes))
    result = {"model": core.cfg.model, "sizes": core.sizes, "lanes": core.lanes, "g_bits": core.cfg.fixed.g_bits,
              **estimate(core, TOP, args.part)}
    text = json.dumps(result)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(describe_estimate(result))
    print(text)


def _bench(args: argparse.Namespace) -> None:
    from host.flows.core_bench import bench  # imported late: the golden fixed-point model loads its numba kernels

    config.require(1 <= args.samples <= MAX_BENCH_SAMPLES,
                   f"samples must be from 1 to {MAX_BENCH_SAMPLES}, got {args.samples}")
    bench(EPCore(CoreBuild.load(args.model, args.config, args.lanes, args.clock_gating)), args.simulator, args.samples,
          args.pgo)


COMMANDS = {"generate": _generate, "estimate": _estimate, "bench": _bench, "regmap": _regmap}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `python -m hdl generate|estimate|bench|regmap ...`; bad input is one line and exit 2."""
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (config.ConfigError, EstimateError, SimulationError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
