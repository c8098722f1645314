"""The `host` command: train, run studies, benchmark, check the RTL against golden, generate the core's files and
build its PYNQ overlay."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from golden.config import ConfigError
from golden.datasets import DatasetError
from golden.network import ModelError
from golden.train import CHECKPOINT, RunError
from host.commands import bench, bitstream, hdl, studies, train, verify
from host.commands.options import CliError, Parser
from host.driver import CoreError
from host.flows.train_sim import SimError

# The commands in the order `host --help` lists them: software first, then the core in simulation, then hardware.
GROUPS = (train, studies, bench, verify, hdl, bitstream)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = Parser(prog="host", description="Equilibrium Propagation on the golden model, the simulated core "
                                                 "and PYNQ boards: one command, its subcommands below.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `host` console script."""
    args = None
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "deprecated", None):
            print(f"host: warning: {args.deprecated}", file=sys.stderr)
        return args.run(args)
    except (CliError, ConfigError, DatasetError, RunError, ModelError) as e:
        print(f"host: error: {e}", file=sys.stderr)
        return 2
    except (CoreError, SimError) as e:  # the core failed during a run: a driver error, a simulation that broke off
        print(f"host: error: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("host: error: out of memory: the network, batch or data is too large for this machine", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        folder = getattr(args, "run_folder", None)  # set by a command whose run can be continued
        resume = f"; continue it with: host train --resume {folder}" if folder and (folder / CHECKPOINT).exists() else ""
        print(f"host: interrupted{resume}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
