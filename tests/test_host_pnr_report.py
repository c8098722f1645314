"""Tests of host.flows.pnr_report: nextpnr's report JSON and Vivado's report text into one schema."""

from __future__ import annotations

import pytest

from host.flows.pnr_report import clock_name, describe, design_name, from_nextpnr, from_vivado

# Two paths of a nextpnr-ecp5 --report (its shape, shortened): a register-to-register path of clk and a pin path.
NEXTPNR = {
    "fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 44.55, "constraint": 125}},
    "utilization": {"TRELLIS_COMB": {"available": 83640, "used": 10641}, "TRELLIS_FF": {"available": 83640, "used": 5044},
                    "DP16KD": {"available": 208, "used": 10}, "MULT18X18D": {"available": 156, "used": 37},
                    "TRELLIS_IO": {"available": 365, "used": 104}},
    "critical_paths": [
        {"from": "posedge $glbnet$clk$TRELLIS_IO_IN", "to": "posedge $glbnet$clk$TRELLIS_IO_IN", "path": [
            {"type": "clk-to-q", "delay": 0.525, "from": {"cell": "ep_top.core.word$6_TRELLIS_FF_Q_298", "port": "CLK"},
             "to": {"cell": "ep_top.core.word$6_TRELLIS_FF_Q_298", "port": "Q"}},
            {"type": "routing", "delay": 0.924, "net": "ep_top.core.word$6[308]",
             "from": {"cell": "ep_top.core.word$6_TRELLIS_FF_Q_298", "port": "Q"},
             "to": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46_DI_CCU2C_S0$CCU2_COMB0", "port": "B"}},
            {"type": "logic", "delay": 0.443, "from": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46_DI_CCU2C_S0$CCU2_COMB0",
                                                        "port": "B"},
             "to": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46_DI_CCU2C_S0$CCU2_COMB0", "port": "F"}},
            {"type": "routing", "delay": 0.13, "net": "ep_top.core.mul.p_TRELLIS_FF_Q_46_DI",
             "from": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46_DI_CCU2C_S0$CCU2_COMB0", "port": "F"},
             "to": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46", "port": "DI"}},
            {"type": "setup", "delay": 0.0, "from": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46", "port": "DI"},
             "to": {"cell": "ep_top.core.mul.p_TRELLIS_FF_Q_46", "port": "DI"}}]},
        {"from": "posedge $glbnet$clk$TRELLIS_IO_IN", "to": "<async>", "path": [
            {"type": "routing", "delay": 9.0, "net": "s_axil_rdata[26]$TRELLIS_IO_OUT",
             "from": {"cell": "s_axil_rdata_TRELLIS_FF_Q_26", "port": "Q"}, "to": {"cell": "s_axil_rdata[26]$tr_io", "port": "I"}}]},
    ],
}


def test_nextpnr_names_map_to_the_designs_signals():
    assert design_name("ep_top.core.mul.p_TRELLIS_FF_Q_46") == "ep_top.core.mul.p"
    assert design_name("ep_top.core.mul.p_TRELLIS_FF_Q_45_DI_CCU2C_S1$CCU2_COMB1") == "ep_top.core.mul.p"
    assert design_name("ep_top.params.mem_DP16KD_2") == "ep_top.params.mem"
    assert design_name("ep_top.core.word$6[308]") == "ep_top.core.word$6[308]"  # Amaranth's own $n stays
    assert design_name("s_axil_rdata[26]$TRELLIS_IO_OUT") == "s_axil_rdata[26]"
    assert design_name("$auto$alumacc.cc:485$123") == "$auto$alumacc.cc:485$123"
    assert clock_name("$glbnet$clk$TRELLIS_IO_IN") == "clk" and clock_name("clk") == "clk"


def test_nextpnr_report_gives_clocks_critical_path_and_resources():
    report = from_nextpnr(NEXTPNR)
    assert report["clocks"] == [{"name": "clk", "target_mhz": 125, "fmax_mhz": 44.55, "pass": False}]
    assert report["timing_met"] is False
    path = report["critical_path"]  # the register-to-register path, not the longer one to a pin
    assert (path["from"], path["to"], path["clock"]) == ("ep_top.core.word$6[308]", "ep_top.core.mul.p", "clk")
    assert path["delay_ns"] == pytest.approx(2.022) and path["routing_ns"] == pytest.approx(1.054)
    assert path["steps"] == 5
    assert report["resources"] == {
        "LUT4": {"used": 10641, "available": 83640, "share": 0.1272},
        "TRELLIS_FF": {"used": 5044, "available": 83640, "share": 0.0603},
        "DP16KD": {"used": 10, "available": 208, "share": 0.0481},
        "MULT18X18D": {"used": 37, "available": 156, "share": 0.2372}}
    assert report["fits"] is True
    text = describe(report)
    assert "Fmax 44.55 MHz, target 125 MHz: FAIL" in text and "MULT18X18D" in text and text.endswith("fits")


def test_a_met_clock_passes():
    raw = {**NEXTPNR, "fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 131.2, "constraint": 125}}}
    assert from_nextpnr(raw)["timing_met"] is True


# Excerpts in the layout Vivado 2022-2024 prints (report_timing_summary -max_paths 10; report_utilization), shortened.
TIMING = """\
------------------------------------------------------------------------------------------------
| Design Timing Summary
| ---------------------
------------------------------------------------------------------------------------------------

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints
    -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------     --------     --------  ----------------------  --------------------
     -1.250      -35.402                     61                 9973        0.021        0.000                      0                 9973        4.020        0.000                       0                  4102


Timing constraints are not met.


------------------------------------------------------------------------------------------------
| Clock Summary
| -------------
------------------------------------------------------------------------------------------------

Clock       Waveform(ns)         Period(ns)      Frequency(MHz)
-----       ------------         ----------      --------------
clk_fpga_0  {0.000 5.000}        10.000          100.000


------------------------------------------------------------------------------------------------
| Intra Clock Table
| -----------------
------------------------------------------------------------------------------------------------

Clock             WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints
-----             -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------     --------     --------  ----------------------  --------------------
clk_fpga_0         -1.250      -35.402                     61                 9973        0.021        0.000                      0                 9973        4.020        0.000                       0                  4102


------------------------------------------------------------------------------------------------
| Inter Clock Table
| -----------------
------------------------------------------------------------------------------------------------

From Clock    To Clock          WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints
----------    --------          -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------


------------------------------------------------------------------------------------------------
| Timing Details
| --------------
------------------------------------------------------------------------------------------------


---------------------------------------------------------------------------------------------------
From Clock:  clk_fpga_0
  To Clock:  clk_fpga_0

Setup :           61  Failing Endpoints,  Worst Slack       -1.250ns,  Total Violation      -35.402ns
Hold  :            0  Failing Endpoints,  Worst Slack        0.021ns,  Total Violation        0.000ns
PW    :            0  Failing Endpoints,  Worst Slack        4.020ns,  Total Violation        0.000ns
---------------------------------------------------------------------------------------------------


Max Delay Paths
--------------------------------------------------------------------------------------
Slack (VIOLATED) :        -1.250ns  (required time - arrival time)
  Source:                 ep_i/ep_core_0/inst/regfile/rdata_reg[3]/C
                            (rising edge-triggered cell FDRE clocked by clk_fpga_0  {rise@0.000ns fall@5.000ns period=10.000ns})
  Destination:            ep_i/ep_core_0/inst/core/params/mem_reg_0/ADDRARDADDR[9]
                            (rising edge-triggered cell RAMB36E1 clocked by clk_fpga_0  {rise@0.000ns fall@5.000ns period=10.000ns})
  Path Group:             clk_fpga_0
  Path Type:              Setup (Max at Slow Process Corner)
  Requirement:            10.000ns  (clk_fpga_0 rise@10.000ns - clk_fpga_0 rise@0.000ns)
  Data Path Delay:        10.731ns  (logic 6.402ns (59.659%)  route 4.329ns (40.341%))
  Logic Levels:           9  (CARRY4=4 DSP48E1=1 LUT2=2 LUT6=2)

Min Delay Paths
--------------------------------------------------------------------------------------
Slack (MET) :             0.021ns  (arrival time - required time)
  Source:                 ep_i/ep_core_0/inst/core/a_reg[0]/C
"""

UTILIZATION = """\
1. Slice Logic
--------------

+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| Slice LUTs                 | 21034 |     0 |          0 |     53200 | 39.54 |
|   LUT as Logic             | 20510 |     0 |          0 |     53200 | 38.55 |
|   LUT as Memory            |   524 |     0 |          0 |     17400 |  3.01 |
| Slice Registers            | 18233 |     0 |          0 |    106400 | 17.14 |
|   Register as Flip Flop    | 18233 |     0 |          0 |    106400 | 17.14 |
| F7 Muxes                   |   310 |     0 |          0 |     26600 |  1.17 |
+----------------------------+-------+-------+------------+-----------+-------+

3. Memory
---------

+-------------------+------+-------+------------+-----------+-------+
|     Site Type     | Used | Fixed | Prohibited | Available | Util% |
+-------------------+------+-------+------------+-----------+-------+
| Block RAM Tile    | 96.5 |     0 |          0 |       140 | 68.93 |
|   RAMB36/FIFO*    |   93 |     0 |          0 |       140 | 66.43 |
|   RAMB18          |    7 |     0 |          0 |       280 |  2.50 |
+-------------------+------+-------+------------+-----------+-------+

4. DSP
------

+----------------+------+-------+------------+-----------+--------+
|    Site Type   | Used | Fixed | Prohibited | Available |  Util% |
+----------------+------+-------+------------+-----------+--------+
| DSPs           |  232 |     0 |          0 |       220 | 105.45 |
|   DSP48E1 only |  232 |       |            |           |        |
+----------------+------+-------+------------+-----------+--------+
"""


def test_vivado_reports_give_the_same_schema():
    report = from_vivado(TIMING, UTILIZATION)
    assert report.keys() == from_nextpnr(NEXTPNR).keys()
    (clock,) = report["clocks"]
    assert clock["name"] == "clk_fpga_0" and clock["target_mhz"] == 100.0 and not clock["pass"]
    assert clock["fmax_mhz"] == pytest.approx(1000 / 11.25, abs=0.01)
    assert report["timing_met"] is False
    path = report["critical_path"]
    assert path["from"] == "ep_i/ep_core_0/inst/regfile/rdata_reg[3]/C"
    assert path["to"] == "ep_i/ep_core_0/inst/core/params/mem_reg_0/ADDRARDADDR[9]"
    assert (path["clock"], path["delay_ns"], path["logic_ns"], path["routing_ns"], path["slack_ns"]) == \
        ("clk_fpga_0", 10.731, 6.402, 4.329, -1.25)
    assert {k: (r["used"], r["available"]) for k, r in report["resources"].items()} == {
        "LUT": (21034, 53200), "FF": (18233, 106400), "BRAM36": (96.5, 140), "DSP": (232, 220)}
    assert report["fits"] is False  # 232 DSPs of 220


def test_vivado_met_timing_and_an_older_utilization_layout():
    met = TIMING.replace("-1.250", "1.406").replace("VIOLATED", "MET")
    old = UTILIZATION.replace(" Prohibited |", "").replace("          0 |     53200", "     53200")
    report = from_vivado(met, old.replace("|          0 |", "|"))
    assert report["timing_met"] and report["clocks"][0]["fmax_mhz"] == pytest.approx(1000 / 8.594, abs=0.01)
    assert report["resources"]["LUT"] == {"used": 21034, "available": 53200, "share": 0.3954}


def test_missing_sections_give_an_empty_report():
    report = from_vivado("", "")
    assert report == {"clocks": [], "timing_met": False, "critical_path": None, "resources": {}, "fits": None}
