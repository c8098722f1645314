"""`host bitstream`: a PYNQ overlay of the core, its sources and Vivado script generated from the config, built by
Vivado (host/flows/bitstream.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from golden.config import ConfigError
from hdl.plan import DEFAULT_LANES, CoreBuild
from host.commands.options import CliError, out_folder
from host.flows.bitstream import BOARDS, BUILD, OVERLAYS, OverlayError, board, run_vivado, vivado, \
    write_sources


def add(sub: argparse._SubParsersAction) -> None:
    """The `bitstream` command's options."""
    b = sub.add_parser("bitstream", help="a PYNQ overlay of the core (ep_core.bit + .hwh), built by Vivado",
                       description="Write EPTop's Verilog, the register map, the config and a Vivado "
                                   "script into build/overlay/<board>/, then build the overlay there with Vivado "
                                   "(ep_core.bit + .hwh in --out). Without Vivado on PATH it stops in one line.")
    b.add_argument("--board", required=True, help=f"one of {', '.join(BOARDS)}")
    b.add_argument("--model", help="preset (default drn-xs, or the config file's model)")
    b.add_argument("--config", type=Path, help="TOML file of settings, as for host train")
    b.add_argument("--lanes", type=int, help=f"P (default: the config file's [run] lanes, else {DEFAULT_LANES}, or the "
                                                  "widest layer rounded up if less)")
    b.add_argument("--out", type=Path, help="overlay folder (default host/overlays/<board>)")
    b.add_argument("--tcl-only", action="store_true", help="write the sources and build.tcl, do not run Vivado")
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the sources into build/overlay/<board>/ and, unless --tcl-only, run Vivado there."""
    try:
        b = board(args.board)
        if args.out is not None:
            out_folder(args.out)
        tool = None if args.tcl_only else vivado()
        build = CoreBuild.load(args.model, args.config, args.lanes)
        folder = BUILD / b.name
        write_sources(build, b, folder)
        out = (args.out or OVERLAYS / b.name).resolve()
        if tool is None:
            print(f"host bitstream: wrote {folder / 'build.tcl'}; run it there with: vivado -mode batch -source "
                  f"build.tcl -tclargs {out}")
            return 0
        run_vivado(tool, folder, out)
    except (OverlayError, ConfigError, ValueError) as error:
        raise CliError(str(error)) from None
    print(f"host bitstream: overlay in {out}")
    return 0
