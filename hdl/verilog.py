"""Verilog output of a component: reproducible text (no source locations, no absolute paths) and its port names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from golden.files import atomic_write_text

if TYPE_CHECKING:  # the testbenches read top_ports in the simulator: keep Amaranth out of their imports
    from amaranth.lib import wiring

ROOT = Path(__file__).resolve().parents[1]


def write_verilog(component: wiring.Component, toplevel: str, folder: Path) -> Path:
    """Convert `component` to Verilog module `toplevel` in `folder/<toplevel>.v`, reproducibly (no
    source locations, no absolute paths); the file is rewritten (atomically) only when its text changes."""
    from amaranth.back import verilog

    text = verilog.convert(component, name=toplevel, emit_src=False)
    for path in {str(ROOT), str(Path.home())}:
        if path in text:  # emit_src=False should leave none: a file that names this machine is not shipped
            raise RuntimeError(f"the Verilog of {toplevel} contains the absolute path {path}")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{toplevel}.v"
    if not target.is_file() or target.read_text() != text:
        atomic_write_text(target, text)
    return target


def top_ports(verilog: Path, toplevel: str) -> list[str]:
    """The port names of module `toplevel` in a Verilog file written by `write_verilog`."""
    text = verilog.read_text()
    start = text.index(f"module {toplevel}(") + len(f"module {toplevel}(")
    return [port.strip() for port in text[start:text.index(");", start)].split(",")]
