"""The `host` command: train, run studies, benchmark, check the RTL against golden, generate the core's files and
build its PYNQ overlay."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Sequence

from golden.config import ConfigError
from golden.datasets import DatasetError
from golden.network import ModelError
from golden.train import CHECKPOINT, RunError
from host.commands import bench, bitstream, explore, hdl, studies, train, verify
from host.commands.options import CliError, Parser
from host.driver import CoreError
from host.flows.train_sim import SimError
from sim.build import SimulationError

# The commands in the order `host --help` lists them: software first, then the core in simulation, then hardware.
GROUPS = (train, studies, bench, verify, hdl, explore, bitstream)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = Parser(prog="host", description="Equilibrium Propagation on the golden model, the simulated core "
                                                 "and PYNQ boards: one command, its subcommands below.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.add(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM as an exception, so that cleanup runs (a simulation's process group is ended, sim/process.py); not
    SystemExit, which cocotb's runner raises for a failed simulation."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated(128 + signum)


def _resume_hint(args: argparse.Namespace | None) -> str:
    """How to continue a stopped run: its folder, once an epoch is stored there (`run_folder`, set by train)."""
    folder = getattr(args, "run_folder", None)
    return f"; continue it with: host train --resume {folder}" if folder and (folder / CHECKPOINT).exists() else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `host` console script."""
    args = None
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "deprecated", None):
            print(f"host: warning: {args.deprecated}", file=sys.stderr)
        return args.run(args)
    except (CliError, ConfigError, DatasetError, RunError, ModelError) as e:
        print(f"host: error: {e}", file=sys.stderr)
        return 2
    except (CoreError, SimError, SimulationError) as e:  # the core or its simulation failed: a driver error, a
        # simulation that broke off, a build that did not compile (its first line names the log with the rest)
        print(f"host: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    except MemoryError:
        print("host: error: out of memory: the network, batch or data is too large for this machine", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"host: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130
    except Terminated as e:
        print(f"host: terminated{_resume_hint(args)}", file=sys.stderr)
        return e.args[0]
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
