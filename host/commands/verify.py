"""`host verify`: the simulated core against the fixed-point golden model, bit for bit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hdl.layout import DEFAULT_DEPTH
from host.commands.options import CliError, Renamed, integer
from host.flows import verify
from sim.build import SimulationError, SimulatorUnavailable
from sim.synth import SynthesisError


def add(sub: argparse._SubParsersAction) -> None:
    """The `verify` command's options."""
    v = sub.add_parser("verify", help="the simulated core against the fixed-point golden model, bit for bit",
                       description="Run training images through the simulated RTL core and the fixed-point golden "
                                   "model and compare every relaxation iterate, measurement, parameter update and "
                                   "prediction. Exit status 0: identical, 1: mismatches or a failed simulation or "
                                   "synthesis, 2: bad input.")
    v.add_argument("--config", type=Path, help="TOML file of settings (precision fixed, batch_size 1)")
    v.add_argument("--model", help="preset when --config names none (default drn-xs)")
    v.add_argument("--images", type=integer, default=4, metavar="K", help="training images per case (default 4)")
    v.add_argument("--samples", action=Renamed, new="--images K (training images per case)")
    v.add_argument("--seed", type=integer, default=0, help="seed of the cases' settings and images (default 0)")
    v.add_argument("--cases", type=integer, default=1,
                   help="C: cases; the first runs the config's settings, the others random run-time settings "
                        "(beta, sigma, N, sweeps, order, variant, warm start, seed) on the same core (default 1)")
    v.add_argument("--lanes", type=integer, default=1, help="P: the core's lanes (default 1)")
    v.add_argument("--depth", type=integer, default=DEFAULT_DEPTH,
                   help=f"the core's pipeline depth: registered stages per product (default {DEFAULT_DEPTH})")
    v.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    v.add_argument("--no-clock-gating", dest="clock_gating", action="store_false",
                   help="check the core as synthesized: no clock gating of idle lane units (slower to simulate)")
    v.add_argument("--netlist", nargs="?", const="ecp5", metavar="FAMILY",
                   help="check the core's netlist as yosys synthesises it for FAMILY (default ecp5), simulated with "
                        "the family's cell models, instead of its source (no clock gating)")
    v.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`host verify`: golden vs RTL over K images per case; exit 1 on any mismatch."""
    try:
        cfg = verify.core_config(args.config, args.model)
        report = verify.verify(cfg, args.images, args.seed, args.lanes, args.simulator, args.cases,
                               clock_gating=args.clock_gating, netlist=args.netlist, depth=args.depth)
    except (verify.VerifyError, SimulatorUnavailable) as e:
        raise CliError(str(e)) from None
    except SimulationError as e:  # a build that fails or a core that never finishes: the RTL failed
        print(f"verify: the simulation failed: {e}", file=sys.stderr)
        return 1
    except SynthesisError as e:  # the core does not synthesise: a failed check, in one line
        print(f"verify: {e}", file=sys.stderr)
        return 1
    for line in verify.summary(report, cfg, args.lanes, args.simulator, args.clock_gating):
        print(line)
    return 1 if report.mismatches else 0
