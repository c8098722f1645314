"""hdl.verilog: reproducible Verilog, rewritten only when it changes, and its port names."""

from __future__ import annotations

from pathlib import Path

from hdl import verilog
from hdl.noise_lanes import NoiseLanes
from hdl.verilog import top_ports, write_verilog


def test_verilog_is_reproducible_and_rewritten_only_on_change(tmp_path: Path) -> None:
    path = write_verilog(NoiseLanes(2), "noise_lanes", tmp_path)
    text = path.read_text()
    assert "module noise_lanes(" in text
    assert "(* src" not in text and str(verilog.ROOT) not in text
    assert "/site-packages/" not in text
    before = path.stat().st_mtime_ns
    assert write_verilog(NoiseLanes(2), "noise_lanes", tmp_path).read_text() == text
    assert path.stat().st_mtime_ns == before
    write_verilog(NoiseLanes(3), "noise_lanes", tmp_path)
    assert path.read_text() != text


def test_top_ports_are_the_module_header(tmp_path: Path) -> None:
    path = write_verilog(NoiseLanes(1), "noise_lanes", tmp_path)
    ports = top_ports(path, "noise_lanes")
    assert sorted(ports) == sorted(["clk", "rst", "seed_load", "seed_lane", "seed_data", "draw", "drawn", "word", "code"])
