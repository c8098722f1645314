"""host/flows/bitstream.py without Vivado: the generated Tcl names the right files, part, PS, ports, VLNV and base address
for every board; the sources it packages; `make bitstream` without Vivado ends in one line."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from hdl.plan import CoreBuild
from host.flows import bitstream
from host.backends.pynq import OVERLAY_NAME, VLNV
from tb.driver_checks import OVERRIDES, make_config
from hdl.verilog import top_ports

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {  # board: part, PS IP, PS master port, base address
    "pynq-z2": ("xc7z020clg400-1", "processing_system7", "M_AXI_GP0", "0x40000000"),
    "kv260": ("xck26-sfvc784-2LV-c", "zynq_ultra_ps_e", "M_AXI_HPM0_FPD", "0xa0000000"),
    "zcu104": ("xczu7ev-ffvc1156-2-e", "zynq_ultra_ps_e", "M_AXI_HPM0_FPD", "0xa0000000"),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_tcl_names_the_boards_part_ps_address_and_the_core(name: str) -> None:
    part, ps, master, base = EXPECTED[name]
    tcl = bitstream.build_tcl(bitstream.board(name.upper()))
    vendor, library, ip, version = VLNV.split(":")
    assert f"set part {part}\n" in tcl
    assert f"create_bd_cell -type ip -vlnv xilinx.com:ip:{ps} ps" in tcl
    assert f"-rule xilinx.com:bd_rule:{ps}" in tcl
    assert f"Master /ps/{master} " in tcl
    assert f"set_property offset {base} $seg" in tcl and "set_property range 4096 $seg" in tcl
    assert f"-vendor {vendor} -library {library} " in tcl
    assert f"set_property name {ip} $core" in tcl and f"set_property version {version} $core" in tcl
    assert f"create_bd_cell -type ip -vlnv {VLNV} ep_core_0" in tcl
    assert "add_files -norecurse ep_top.v" in tcl and "set_property top ep_top" in tcl
    assert "-busif s_axil -clock clk" in tcl and "-clock clk -reset rst" in tcl
    assert "set_property value ACTIVE_HIGH" in tcl
    assert "get_bd_intf_pins ep_core_0/s_axil]" in tcl and "ep_core_0/s_axil/reg0" in tcl
    assert re.search(r"FREQMHZ \{100\}", tcl)
    for ext in ("bit", "hwh"):
        assert f"[file join $overlay_dir {OVERLAY_NAME}.{ext}]" in tcl
    assert str(ROOT) not in tcl and "/home" not in tcl


def test_sources_hold_the_ports_the_tcl_names(tmp_path: Path) -> None:
    cfg = make_config(OVERRIDES)
    b = bitstream.board("pynq-z2")
    files = bitstream.write_sources(CoreBuild(cfg, 2), b, tmp_path)
    assert sorted(f.name for f in files) == ["build.tcl", "config.json", "ep_top.v", "ep_top_ooc.xdc", "regmap.json"]
    ports = top_ports(tmp_path / "ep_top.v", bitstream.TOP)
    assert {"clk", "rst"} <= set(ports)
    assert {p.removeprefix("s_axil_") for p in ports if p.startswith("s_axil_")} == {
        "awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
        "araddr", "arprot", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"}
    verilog = (tmp_path / "ep_top.v").read_text()
    assert re.search(r"input \[11:0\] s_axil_awaddr;", verilog), "the 4 KiB window the Tcl assigns"
    assert json.loads((tmp_path / "config.json").read_text())["config"] == cfg.to_dict()
    assert json.loads((tmp_path / "regmap.json").read_text())["name"] == "ep_core"
    assert (tmp_path / "build.tcl").read_text() == bitstream.build_tcl(b)


def test_make_bitstream_without_vivado_fails_in_one_line() -> None:
    done = subprocess.run(["make", "--no-print-directory", "bitstream", "BOARD=kv260"], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode != 0
    assert done.stdout == ""
    assert re.fullmatch(r"Makefile:\d+: \*\*\* vivado is not on PATH: .*--board kv260 writes the Tcl without it\)\.  "
                        r"Stop\.\n", done.stderr)


def test_make_bitstream_runs_host_bitstream(tmp_path: Path) -> None:
    """With a vivado on PATH, the target builds through `host bitstream` with the board, config and lanes given."""
    fake = tmp_path / "vivado"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    argv = ["make", "--no-print-directory", "-n", "bitstream", "BOARD=kv260", "CONFIG=c.toml", "LANES=4"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ".venv/bin/host bitstream --board kv260 --config c.toml --lanes 4"


def test_tcl_constrains_the_clock_writes_the_reports_and_fails_on_negative_slack() -> None:
    tcl = bitstream.build_tcl(bitstream.board("pynq-z2"))
    assert bitstream.ooc_xdc() == "create_clock -period 10.000 -name clk [get_ports clk]\n"
    assert "add_files -fileset constrs_1 -norecurse ep_top_ooc.xdc" in tcl
    assert "abs([get_property PERIOD $core_clock] - 10.000) > 0.001" in tcl
    assert f"report_timing_summary -max_paths 10 -file [file join $overlay_dir {OVERLAY_NAME}.timing_summary.rpt]" in tcl
    assert f"report_utilization -file [file join $overlay_dir {OVERLAY_NAME}.utilization.rpt]" in tcl
    check, copy = tcl.index('if {$wns ne "" && $wns < 0} { error'), tcl.index(f"{OVERLAY_NAME}.bit]")
    assert check < copy  # a design that misses timing leaves no bitstream


def test_the_reports_beside_the_bitstream_become_the_pnr_json(tmp_path: Path) -> None:
    from test_host_pnr_report import TIMING, UTILIZATION

    assert bitstream.timing_report(tmp_path) is None
    (tmp_path / f"{OVERLAY_NAME}.timing_summary.rpt").write_text(TIMING)
    (tmp_path / f"{OVERLAY_NAME}.utilization.rpt").write_text(UTILIZATION)
    report = bitstream.timing_report(tmp_path)
    assert report["tool"] == "vivado" and report["clocks"][0]["name"] == "clk_fpga_0" and not report["timing_met"]
