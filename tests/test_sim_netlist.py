"""`host verify --netlist` (sim/netlist.py, sim/synth.py): the tiny core synthesised by yosys synth_ecp5 and simulated
with the ECP5 cell models matches the golden model; the comparison on that build still fails where it should; a
synthesis that fails is one line and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from host import cli
from host.flows import verify
from sim.netlist import harness
from sim.synth import SynthesisError, synthesise

TINY = 'model = "drn-xs"\nhidden = [2]\nlr_weights = [0.05, 0.05]\nlr_biases = [0.05, 0.05]\n'
IMAGES = 2


@pytest.mark.sim
def test_the_ecp5_netlist_matches_golden(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """1568-2-10, P = 1, 2 images: 0 mismatches on the netlist (block RAM, multipliers and flip-flops of the ECP5
    mapping); a golden model that truncates the update disagrees with the same build at the first conductance."""
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    assert cli.main(["verify", "--config", str(config), "--images", str(IMAGES), "--netlist"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"verify: {IMAGES} samples x 1 case, 1568-2-10 with P = 1 on verilator (ECP5 netlist): "
                             "0 mismatches ("), out
    assert out[1].startswith("final parameters identical in 1 of 1 cases; ")
    assert out[2].startswith("netlist: verify_core.core by yosys (abc9): ")
    assert " DP16KD, " in out[2] and " MULT18X18D, " in out[2]
    cfg = verify.core_config(config)
    report = verify.verify(cfg, IMAGES, 0, netlist="ecp5", golden_fixed={"round_update": "truncate"})
    assert report.netlist is not None and report.netlist.reused and report.netlist.cells["DP16KD"] > 0
    assert (report.first.quantity, report.first.case, report.first.sample) == ("conductance", 0, 0)


def test_the_harness_keeps_everything_but_the_synthesised_module() -> None:
    text = "".join(f"(* generator = \"Amaranth\" *)\nmodule {name}(a);\n  input a;\nendmodule\n"
                   for name in ("top", "\\top.core ", "\\top.core.alu ", "\\top.corex ", "\\top.trace "))
    kept = harness(text, "top.core")
    assert "module top(" in kept and "top.corex" in kept and "top.trace" in kept
    assert "top.core " not in kept and "top.core.alu" not in kept and kept.count("endmodule") == 3
    with pytest.raises(SynthesisError, match="the design has no module top.cpu"):
        harness(text, "top.cpu")


def test_a_failed_synthesis_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.v"
    broken.write_text("module top(input a, output b);\n  assign b = ;\nendmodule\n")
    out = tmp_path / "out" / "top.v"
    with pytest.raises(SynthesisError) as error:
        synthesise(broken, "top", "ecp5", out)
    assert str(error.value).startswith("yosys synth_ecp5 of top failed: ") and "\n" not in str(error.value)
    assert list(out.parent.iterdir()) == []
    with pytest.raises(SynthesisError, match="unknown family 'gowin'"):
        synthesise(broken, "top", "gowin", out)


def test_a_failed_synthesis_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise SynthesisError("yosys synth_ecp5 of verify_core.core failed: ERROR: out of memory")

    monkeypatch.setattr(verify, "verify", fail)
    assert cli.main(["verify", "--netlist"]) == 1
    assert capsys.readouterr().err == "verify: yosys synth_ecp5 of verify_core.core failed: ERROR: out of memory\n"
