"""`python -m hdl bench` on a tiny core (1568-2-10, P = 1) in Verilator: the figures, and the core's cycles and
hits against the formula and golden FixedEP."""

import json

import pytest

from hdl.__main__ import main
from tb.runner import SimulatorUnavailable, simulators

pytestmark = pytest.mark.sim


def test_bench_reports_cycles_speed_and_agreement(tmp_path, capsys):
    try:
        simulators("verilator")
    except SimulatorUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("hidden = [2]\n")
    assert main(["bench", "--config", str(cfg), "--lanes", "1", "--samples", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    result = json.loads(lines[-1])
    assert result["bench"] == "core" and result["sizes"] == [1568, 2, 10] and result["samples"] == 2
    assert result["train_cycles"] == result["train_cycles_formula"]
    assert all(b < m for b, m in zip(result["lower_bound"], result["train_cycles"], strict=True))
    assert result["load_cycles"] == result["load_cycles_formula"]
    assert result["hits"] == result["golden_hits"]
    assert result["free_cycles_per_second"] > 10_000 and 0.5 < result["free_share"] < 1
    assert result["free_cycles_per_cpu_second"] >= 0.9 * result["free_cycles_per_second"]  # CPU time <= wall time
    assert any("M cycles/s" in line for line in lines)


def test_bench_rejects_a_bad_sample_count_in_one_line(tmp_path, capsys):
    assert main(["bench", "--samples", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "samples must be from 1 to 1000, got 0" in err
