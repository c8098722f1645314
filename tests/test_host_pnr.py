"""host hdl pnr (host/flows/pnr.py, sim/synth.py): the parts, the fit check, the abc9 fallback with a stand-in
yosys, and one real place-and-route of a tiny core with its timing checked."""

from __future__ import annotations

import json
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from host.cli import main
from host.flows import pnr
from sim.synth import SynthesisError, synthesise

ROOT = Path(__file__).resolve().parents[1]
# Measured on 2 shared cores (docs/pnr.md): examples/small.toml's core at P = 1 routes at about 44 MHz; a pipelined
# datapath can only raise it.
TINY_FMAX_MHZ = 35.0


def test_parts_and_the_fit_check_before_placement():
    assert pnr.part("lfe5u-85f") is pnr.PARTS["LFE5U-85F"]
    with pytest.raises(SynthesisError, match="unknown part 'LFE5U-12F'; known ECP5 parts: LFE5U-25F, LFE5U-45F"):
        pnr.part("LFE5U-12F")
    cells = {"LUT4": 6267, "CCU2C": 1461, "TRELLIS_DPR16X4": 159, "TRELLIS_FF": 5044, "DP16KD": 10,
             "MULT18X18D": 37, "PFUMX": 779}
    used = pnr.synthesis_use(cells, pnr.PARTS["LFE5U-25F"])
    assert used["LUT4"]["used"] == 6267 + 2 * 1461 + 4 * 159 and used["MULT18X18D"] == \
        {"used": 37, "available": 28, "share": 1.3214}
    assert not pnr.fits(used) and pnr.fits(pnr.synthesis_use(cells, pnr.PARTS["LFE5U-85F"]))


# A stand-in for yosys: abc9 fails as yosys 0.70's does on larger cores; with the classic mapping it writes the outputs.
FAKE_YOSYS = '''#!{python}
import json, sys
script = sys.argv[sys.argv.index("-p") + 1]
log = open(sys.argv[sys.argv.index("-l") + 1], "w")
log.write("2.45. Executing OPT pass.\\n2.46. Executing ABC9 pass.\\n2.46.23.6. Executing AIGER frontend.\\n")
if "abc -lut" not in script:
    log.write("ERROR: Assert `GetSize(conn.first)==GetSize(conn.second)' failed in kernel/rtlil.cc:2412.\\n")
    sys.exit(1)
open("netlist.json", "w").write("{{}}")
json.dump({{"design": {{"num_cells_by_type": {{"LUT4": 3, "TRELLIS_FF": 2}}}}}}, open("stat.json", "w"))
'''


def stand_in(folder: Path, text: str) -> Path:
    path = folder / "fake-yosys"
    path.write_text(text.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_an_abc9_failure_is_retried_with_the_classic_mapping(tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS", str(stand_in(tmp_path, FAKE_YOSYS)))
    (tmp_path / "design.il").write_text("module \\top\nend\n")
    result = synthesise(tmp_path / "design.il", "top", "ecp5", tmp_path / "s" / "design.json")
    assert result.abc9 is False and result.cells == {"LUT4": 3, "TRELLIS_FF": 2}
    assert result.path == tmp_path / "s" / "design.json" and result.path.read_text() == "{}"


def test_another_synthesis_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS", str(stand_in(tmp_path, FAKE_YOSYS.replace("ABC9 pass", "FLATTEN pass").replace(
        '"abc -lut" not in script', "True"))))
    (tmp_path / "design.il").write_text("module \\top\nend\n")
    with pytest.raises(SynthesisError, match=r"synth_ecp5 of top failed: 2.46.23.6. Executing AIGER frontend.; "
                                             r"ERROR: Assert") as e:
        synthesise(tmp_path / "design.il", "top", "ecp5", tmp_path / "s" / "design.json")
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_tiny_core_places_routes_and_reports_its_timing(tmp_path, monkeypatch, capsys):
    config = ROOT / "examples" / "small.toml"
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # the tools' private folder, to see it go
    out = tmp_path / "pnr"
    assert main(["hdl", "pnr", "--part", "LFE5U-85F", "--config", str(config), "--lanes", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["nextpnr-report.json", "nextpnr.log", "report.json", "yosys.log"]
    assert list(private.iterdir()) == []
    report = json.loads((out / "report.json").read_text())
    (clock,) = report["clocks"]
    assert clock["name"] == "clk" and clock["target_mhz"] == pnr.TARGET_MHZ
    assert clock["fmax_mhz"] >= TINY_FMAX_MHZ, clock
    assert clock["pass"] == (clock["fmax_mhz"] >= clock["target_mhz"]) and report["timing_met"] == clock["pass"]
    path = report["critical_path"]  # inside the core: every pin is one register away
    assert path["from"].startswith("ep_top.") and path["to"].startswith("ep_top.") and "TRELLIS" not in path["to"]
    assert 1000 / path["delay_ns"] == pytest.approx(clock["fmax_mhz"], rel=0.2)
    used = report["resources"]
    assert set(used) == {"LUT4", "TRELLIS_FF", "DP16KD", "MULT18X18D"} and report["fits"]
    assert used["MULT18X18D"]["used"] > 0 and used["DP16KD"]["used"] > 0 and used["LUT4"]["available"] == 83_640
    assert report["synthesis"]["abc9"] is True and report["peak_memory_mb"] > 0
    assert report["seconds"]["total"] >= report["seconds"]["place_and_route"] > 0
    printed = capsys.readouterr().out
    assert "~/.cache/YoWASP" in printed and f"Fmax {clock['fmax_mhz']:.2f} MHz" in printed
