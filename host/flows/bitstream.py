"""The overlay flow: EPTop's Verilog and a Vivado Tcl script, generated from the config, that package the core as
IP and build a PYNQ overlay (ep_core.bit + ep_core.hwh in host/overlays/<board>/, beside the driver).

    host bitstream --board pynq-z2 [--model drn-xs | --config FILE.toml] [--lanes 16] [--tcl-only]
    make bitstream BOARD=pynq-z2|kv260|zcu104 [CONFIG=FILE.toml] [LANES=16]

writes into build/overlay/<board>/: ep_top.v (EPTop with a 4 KiB AXI4-Lite window), regmap.json,
config.json (the config the core was generated from: the driver needs it) and build.tcl, then runs
`vivado -mode batch -source build.tcl -tclargs <overlay folder>` there. build.tcl:
1. packages ep_top.v as IP VLNV (host.backends.pynq.VLNV, the DefaultIP driver's bindto): the s_axil_* ports
   as the AXI4-Lite slave `s_axil` (memory map s_axil, block reg0 of 4 KiB), clk as its clock, rst
   as its active-high reset;
2. builds block design `ep` for the board's part: the Zynq PS (processing_system7 on PYNQ-Z2,
   zynq_ultra_ps_e on KV260 and ZCU104; the board preset when Vivado has the board files) with
   FCLK0 at 100 MHz, its master port connected to the core by Vivado's AXI automation (interconnect,
   processor system reset), the core at the board's base address;
3. synthesises, implements and writes the bitstream, then copies it and the block design's .hwh
   into the overlay folder as ep_core.bit and ep_core.hwh (with ep_core.regmap.json and ep_core.config.json), the
   layout pynq.Overlay and host.backends.pynq.open_board expect.
The core's clock: the IP carries an out-of-context constraint (create_clock on clk at CLOCK_HZ, ep_top_ooc.xdc)
for its own synthesis; in the block design the PS's FCLK0 at CLOCK_HZ drives it, and the script checks that the
clock reaching the core has that period. After implementation it writes ep_core.timing_summary.rpt and
ep_core.utilization.rpt into the overlay folder and fails on a negative worst setup slack (WNS) before it copies the
bitstream; `timing_report` turns the two reports into the JSON of host/flows/pnr_report.py (ep_core.pnr.json).
Without Vivado on PATH it stops with one line (after writing the sources with --tcl-only).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from golden.files import atomic_write_text
from hdl.plan import CoreBuild
from hdl.top import EPTop
from hdl.verilog import write_verilog
from host.backends.pynq import CLOCK_HZ, OVERLAY_NAME, OVERLAYS, VLNV
from host.flows.pnr_report import from_vivado

TOP = "ep_top"  # the Verilog module the IP packages
ADDR_BITS = 12  # AXI address bits decoded by the core: a 4 KiB window, the smallest block Vivado assigns
BUILD = Path(__file__).resolve().parents[2] / "build" / "overlay"
PERIOD_NS = 1e9 / CLOCK_HZ
REPORTS = {"timing": f"{OVERLAY_NAME}.timing_summary.rpt", "utilization": f"{OVERLAY_NAME}.utilization.rpt"}


@dataclass(frozen=True)
class Board:
    """A PYNQ board: its part, processing system, the PS master port the core hangs on, the core's base address."""

    name: str
    part: str
    board_part: str  # used when Vivado has the board files installed
    ps: str          # IP name of the processing system
    master: str      # the PS's AXI master interface pin
    base: int        # byte address of the core's registers as the PS sees them


BOARDS = {b.name: b for b in (
    Board("pynq-z2", "xc7z020clg400-1", "tul.com.tw:pynq-z2:part0:1.0", "processing_system7", "M_AXI_GP0", 0x4000_0000),
    Board("kv260", "xck26-sfvc784-2LV-c", "xilinx.com:kv260_som:part0:1.4", "zynq_ultra_ps_e", "M_AXI_HPM0_FPD",
          0xA000_0000),
    Board("zcu104", "xczu7ev-ffvc1156-2-e", "xilinx.com:zcu104:part0:1.1", "zynq_ultra_ps_e", "M_AXI_HPM0_FPD",
          0xA000_0000),
)}


class OverlayError(RuntimeError):
    """A board, config or tool the flow cannot use (one-line message)."""


def board(name: str) -> Board:
    """The board called `name` (case-insensitive)."""
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise OverlayError(f"unknown board {name!r}: choose one of {', '.join(BOARDS)}") from None


def _ps_config(b: Board) -> str:
    """The PS's settings: its master port on, FCLK0 / pl_clk0 at the core's clock."""
    mhz = CLOCK_HZ // 1_000_000
    if b.ps == "processing_system7":
        return (f"CONFIG.PCW_USE_M_AXI_GP0 {{1}} CONFIG.PCW_EN_CLK0_PORT {{1}} "
                f"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{mhz}}}")
    return (f"CONFIG.PSU__USE__M_AXI_GP0 {{1}} CONFIG.PSU__USE__M_AXI_GP1 {{0}} CONFIG.PSU__USE__M_AXI_GP2 {{0}} "
            f"CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {{{mhz}}}")


def build_tcl(b: Board) -> str:
    """The Vivado batch script for board `b`; run in the folder of ep_top.v with -tclargs <overlay folder>."""
    vendor, library, name, version = VLNV.split(":")
    ps_config = ('make_external "FIXED_IO, DDR" apply_board_preset $preset Master Disable Slave Disable'
                 if b.ps == "processing_system7" else "apply_board_preset $preset")
    return f"""# Generated by host/flows/bitstream.py for {b.name}: package {TOP}.v as IP {VLNV} and build a PYNQ overlay.
# Run in its folder: vivado -mode batch -source build.tcl -tclargs <overlay folder>
if {{$argc != 1}} {{ error "usage: vivado -mode batch -source build.tcl -tclargs <overlay folder>" }}
set overlay_dir [file normalize [lindex $argv 0]]
set part {b.part}
set board_part {b.board_part}

# 1. The core as IP: AXI4-Lite slave s_axil (inferred from the s_axil_* ports), clock clk, reset rst (active high);
# its clock constrained at {CLOCK_HZ // 1_000_000} MHz for its out-of-context synthesis.
create_project -force ip_pkg ip_pkg -part $part
add_files -norecurse {TOP}.v
add_files -fileset constrs_1 -norecurse {TOP}_ooc.xdc
set_property USED_IN {{synthesis implementation out_of_context}} [get_files {TOP}_ooc.xdc]
set_property top {TOP} [current_fileset]
update_compile_order -fileset sources_1
ipx::package_project -root_dir ip -vendor {vendor} -library {library} -taxonomy /UserIP -import_files -force
set core [ipx::current_core]
set_property name {name} $core
set_property version {version} $core
set_property display_name {{EP core (Equilibrium Propagation)}} $core
set_property supported_families {{zynq Production zynquplus Production}} $core
if {{[llength [ipx::get_bus_interfaces s_axil -of_objects $core]] == 0}} {{
  ipx::infer_bus_interfaces xilinx.com:interface:aximm_rtl:1.0 $core
}}
if {{[llength [ipx::get_bus_interfaces clk -of_objects $core]] == 0}} {{
  ipx::infer_bus_interface clk xilinx.com:signal:clock_rtl:1.0 $core
}}
if {{[llength [ipx::get_bus_interfaces rst -of_objects $core]] == 0}} {{
  ipx::infer_bus_interface rst xilinx.com:signal:reset_rtl:1.0 $core
}}
set rst_if [ipx::get_bus_interfaces rst -of_objects $core]
if {{[llength [ipx::get_bus_parameters POLARITY -of_objects $rst_if]] == 0}} {{ ipx::add_bus_parameter POLARITY $rst_if }}
set_property value ACTIVE_HIGH [ipx::get_bus_parameters POLARITY -of_objects $rst_if]
ipx::associate_bus_interfaces -busif s_axil -clock clk $core
ipx::associate_bus_interfaces -clock clk -reset rst $core
set map [ipx::get_memory_maps s_axil -of_objects $core]
if {{[llength $map] == 0}} {{ set map [ipx::add_memory_map s_axil $core] }}
set_property slave_memory_map_ref s_axil [ipx::get_bus_interfaces s_axil -of_objects $core]
set block [ipx::get_address_blocks reg0 -of_objects $map]
if {{[llength $block] == 0}} {{ set block [ipx::add_address_block reg0 $map] }}
set_property range {1 << ADDR_BITS} $block
set_property usage register $block
ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
close_project

# 2. The block design: the Zynq PS and the core at {b.base:#010x}, FCLK0 at {CLOCK_HZ // 1_000_000} MHz.
create_project -force overlay overlay -part $part
set preset [llength [get_board_parts -quiet $board_part]]
if {{$preset}} {{ set_property board_part $board_part [current_project] }}
set_property ip_repo_paths [file normalize ip] [current_project]
update_ip_catalog
create_bd_design ep
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:{b.ps} ps]
apply_bd_automation -rule xilinx.com:bd_rule:{b.ps} -config [list {ps_config}] $ps
set_property -dict [list {_ps_config(b)}] $ps
create_bd_cell -type ip -vlnv {VLNV} ep_core_0
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{Master /ps/{b.master} Clk_master Auto Clk_slave Auto Clk_xbar Auto intc_ip {{New AXI Interconnect}} master_apm 0}} [get_bd_intf_pins ep_core_0/s_axil]
assign_bd_address [get_bd_addr_segs ep_core_0/s_axil/reg0]
set seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces ps/*] -filter {{NAME =~ *ep_core_0*}}]
set_property range {1 << ADDR_BITS} $seg
set_property offset {b.base:#010x} $seg
validate_bd_design
save_bd_design
make_wrapper -files [get_files ep.bd] -top
add_files -norecurse [glob overlay/overlay.*/sources_1/bd/ep/hdl/ep_wrapper.v]
set_property top ep_wrapper [current_fileset]
update_compile_order -fileset sources_1

# 3. Bitstream; ep_core.bit and ep_core.hwh side by side in the overlay folder (pynq.Overlay's layout).
launch_runs impl_1 -to_step write_bitstream -jobs 2
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] != "100%"}} {{ error "implementation failed: see overlay/overlay.runs/impl_1" }}
file mkdir $overlay_dir
open_run impl_1
report_timing_summary -max_paths 10 -file [file join $overlay_dir {REPORTS["timing"]}]
report_utilization -file [file join $overlay_dir {REPORTS["utilization"]}]
set core_clock [get_clocks -of_objects [get_pins -hierarchical -filter {{NAME =~ */ep_core_0/clk}}]]
if {{[llength $core_clock] != 1 || abs([get_property PERIOD $core_clock] - {PERIOD_NS:.3f}) > 0.001}} {{
  error "the core's clock is not one clock of {PERIOD_NS:.3f} ns: $core_clock"
}}
set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
if {{$wns ne "" && $wns < 0}} {{ error "timing not met at {CLOCK_HZ // 1_000_000} MHz: WNS $wns ns (see {REPORTS["timing"]})" }}
file copy -force overlay/overlay.runs/impl_1/ep_wrapper.bit [file join $overlay_dir {OVERLAY_NAME}.bit]
file copy -force [lindex [glob overlay/overlay.*/sources_1/bd/ep/hw_handoff/ep.hwh] 0] [file join $overlay_dir {OVERLAY_NAME}.hwh]
foreach extra {{regmap.json config.json}} {{ file copy -force $extra [file join $overlay_dir {OVERLAY_NAME}.$extra] }}
puts "overlay: [file join $overlay_dir {OVERLAY_NAME}.bit] and .hwh"
"""


def ooc_xdc() -> str:
    """The core's clock for its out-of-context synthesis as IP."""
    return f"create_clock -period {PERIOD_NS:.3f} -name clk [get_ports clk]\n"


def timing_report(overlay: Path) -> dict | None:
    """The place-and-route report (host/flows/pnr_report.py's schema) from the Vivado reports in `overlay`, or
    None when they are not there."""
    timing, utilization = (overlay / REPORTS[k] for k in ("timing", "utilization"))
    if not (timing.is_file() and utilization.is_file()):
        return None
    return {"tool": "vivado", **from_vivado(timing.read_text(errors="replace"), utilization.read_text(errors="replace"))}


def write_sources(build: CoreBuild, b: Board, folder: Path) -> list[Path]:
    """ep_top.v, regmap.json, config.json, build.tcl and ep_top_ooc.xdc for board `b` in `folder`."""

    top = EPTop(build, addr_width=ADDR_BITS)
    folder.mkdir(parents=True, exist_ok=True)
    files = [write_verilog(top, TOP, folder)]
    for name, text in (("regmap.json", top.regmap.to_json()),
                       ("config.json", json.dumps({"config": build.cfg.to_dict(), "lanes": build.lanes}, indent=2) + "\n"),
                       ("build.tcl", build_tcl(b)), (f"{TOP}_ooc.xdc", ooc_xdc())):
        atomic_write_text(folder / name, text)
        files.append(folder / name)
    return files


def vivado() -> str:
    """The vivado executable on PATH; OverlayError in one line when there is none."""
    found = shutil.which("vivado")
    if found is None:
        raise OverlayError("vivado is not on PATH: source <Vivado>/settings64.sh (2022.2 or newer) and run again, "
                           "or use --tcl-only to write the sources and build.tcl for another machine")
    return found


def run_vivado(tool: str, folder: Path, out: Path) -> None:
    """Build the overlay with `tool` (vivado) from the sources in `folder` into `out`; OverlayError when it fails."""
    done = subprocess.run([tool, "-mode", "batch", "-nojournal", "-log", "vivado.log", "-source", "build.tcl",
                           "-tclargs", str(out)], cwd=folder)
    report = timing_report(out)
    if report is not None:  # written also when timing failed: the report says by how much
        atomic_write_text(out / f"{OVERLAY_NAME}.pnr.json", json.dumps(report, indent=1) + "\n")
    if done.returncode:
        raise OverlayError(f"Vivado failed (exit {done.returncode}); log: {folder / 'vivado.log'}")
