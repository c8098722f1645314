"""host/studies/explore.py: the Pareto front, the grid's checks, the folder's settings, accuracies read from a bit
sweep, and `host explore` end to end on a Xilinx estimate (resumed by a second run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden import config
from golden.config import ConfigError
from golden.train import RunError
from host.cli import main
from host.studies import explore
from sim.build import ROOT

DEMO = ROOT / "docs" / "demo.toml"


def design(key: str, part: str, accuracy: float, rate: float | None, fits: bool = True) -> dict:
    return {"key": key, "part": part, "test_accuracy": accuracy, "samples_per_second": rate, "fits": fits}


def test_pareto_front_per_part() -> None:
    """A design is on its part's front unless a fitting design of the same part is at least as good in accuracy
    and speed and better in one; designs that do not fit, or of another part, beat nothing."""
    rows = [design("slow-best", "a", 0.95, 100.0), design("fast", "a", 0.90, 1000.0),
            design("beaten", "a", 0.89, 900.0), design("tie-twin", "a", 0.90, 1000.0),
            design("too-big", "a", 0.99, 5000.0, fits=False), design("other-part", "b", 0.80, 50.0),
            design("no-clock", "b", 0.99, None)]
    assert explore.pareto(rows) == {"slow-best", "fast", "tie-twin", "other-part"}


def test_grid_checks_every_design() -> None:
    base = config.load(None, DEMO, hardware=True)
    designs = explore.grid(base, [8, 10], [12], ["nearest"], [1, 2], [1, 3], ["xc7z020", "lfe5u-85f"])
    assert len(designs) == 16 and len({d.key for d in designs}) == 16
    assert {(d.part, d.build(base).family) for d in designs} == {("xc7z020", "xilinx"), ("lfe5u-85f", "ecp5")}
    assert explore.family("LFE5U-85F") == "ecp5" and explore.family("xczu7ev") == "xilinx"
    with pytest.raises(ConfigError, match="unknown part 'z80'"):
        explore.grid(base, [8], [12], ["nearest"], [1], [3], ["z80"])
    with pytest.raises(ConfigError, match="power of two"):
        explore.grid(base, [8], [12], ["nearest"], [3], [3], ["xc7z020"])
    with pytest.raises(ConfigError, match="every grid axis"):
        explore.grid(base, [], [12], ["nearest"], [1], [3], ["xc7z020"])


def test_open_study_resumes_only_the_same_settings(tmp_path: Path) -> None:
    study = explore.Study(config={"hidden": [32]}, speed=6, clock_mhz=125.0)
    explore.open_study(tmp_path / "x", study)
    explore.open_study(tmp_path / "x", study)  # the same settings: resumed
    with pytest.raises(RunError, match=r"other settings \(clock_mhz\)"):
        explore.open_study(tmp_path / "x", explore.Study(config={"hidden": [32]}, speed=6, clock_mhz=100.0))
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "note").write_text("mine")
    with pytest.raises(RunError, match="holds no exploration"):
        explore.open_study(tmp_path / "y", study)


def test_accuracy_from_a_bit_sweep(tmp_path: Path) -> None:
    base = config.load(None, DEMO, hardware=True)
    rows = [{"rounding": "nearest", "sigma": 0.0, "v_frac": 10, "g_frac": 14, "test_accuracy": 0.9,
             "float_accuracy": 0.91, "delta": -0.01},
            {"rounding": "nearest", "sigma": 0.01, "v_frac": 10, "g_frac": 14, "test_accuracy": 0.5,
             "float_accuracy": 0.6, "delta": -0.1}]
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"config": base.to_dict(), "rows": rows}))
    found = explore.accuracy_from_sweep(sweep, base)
    assert found == {"nearest-v10-g14": {"test_accuracy": 0.9, "float_accuracy": 0.91, "delta": -0.01}}
    sweep.write_text(json.dumps({"config": {**base.to_dict(), "hidden": [100]}, "rows": rows}))
    with pytest.raises(ConfigError, match=r"is a sweep of \[100\]"):
        explore.accuracy_from_sweep(sweep, base)


@pytest.mark.slow
def test_explore_on_a_xilinx_estimate_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One format (its accuracy from a bit sweep's summary) x two lane counts of a 1568-2-10 core on the xc7z020
    (yosys's estimate, the clock assumed): every table is written, the throughput follows from the clock and the
    plan's cycles, the Pareto front is consistent with the rows, and a rerun finds every design done."""
    tiny = tmp_path / "tiny.toml"
    tiny.write_text('model = "drn-xs"\nhidden = [2]\n')
    base = config.load(None, tiny, hardware=True)
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"config": base.to_dict(), "rows": [
        {"rounding": "nearest", "sigma": 0.0, "v_frac": 10, "g_frac": 12, "test_accuracy": 0.5, "float_accuracy": 0.6,
         "delta": -0.1}]}))
    out = tmp_path / "explore"
    argv = ["explore", "--config", str(tiny), "--v-frac", "10", "--g-frac", "12", "--lanes", "1,2", "--depth", "3",
            "--part", "xc7z020", "--clock-mhz", "100", "--accuracy", str(sweep), "--serial", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["lanes"]: r for r in summary["designs"]}
    assert sorted(rows) == [1, 2] and all(r["fits"] and r["clock_from"].startswith("assumed") for r in rows.values())
    for r in rows.values():
        assert r["samples_per_second"] == pytest.approx(100e6 / r["cycles_per_sample"], abs=0.1)
        assert (r["test_accuracy"], r["v_bits"], r["g_frac"]) == (0.5, 19, 12)
    assert rows[2]["cycles_per_sample"] < rows[1]["cycles_per_sample"] and rows[2]["dsp"] > rows[1]["dsp"]
    assert {r["key"] for r in summary["designs"] if r["pareto"]} == explore.pareto(summary["designs"])
    assert summary["pareto"]["xc7z020"]
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## xc7z020" in (out / "pareto.md").read_text()
    capsys.readouterr()
    before = (out / "designs.csv").read_text()
    assert main(argv) == 0
    assert "1 of 1 formats' accuracies and 2 of 2 designs already known" in capsys.readouterr().out
    assert (out / "designs.csv").read_text() == before


def test_damaged_inputs_are_one_line_errors(tmp_path: Path) -> None:
    """A stored point of the wrong shape and a sweep summary whose rows lack a field end in RunError, not a
    traceback."""
    base = config.load(None, DEMO, hardware=True)
    explore.open_study(tmp_path / "x", explore.Study(config={"hidden": [32]}, speed=6, clock_mhz=125.0))
    (tmp_path / "x" / "points" / "float.json").write_text("[0.9]")
    with pytest.raises(RunError, match=r"float.json is damaged \(no test_accuracy\)"):
        explore._stored(tmp_path / "x", "float", explore.ACCURACY[:1])
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"config": base.to_dict(), "rows": [{"rounding": "nearest", "sigma": 0.0}]}))
    with pytest.raises(RunError, match="not a sweep.json written by host sweep bits"):
        explore.accuracy_from_sweep(sweep, base)
