"""Tests of host.studies.speed: the FLOP count and the benchmark's printed figures."""

import json

import pytest

from golden import config
from host.studies import speed


def test_min_flops_of_drn_1h():
    parts = speed.min_flops_per_sample(config.preset("drn-1h"))
    assert parts["input"] == 2 * 1568 * 1024
    assert parts["gradient"] == 2 * (1568 * 1024 + 1024 * 10)
    # 3 phases x 4 sweeps, each using the 1024x10 output conductances in both directions
    assert parts["relaxation"] == 2 * 3 * 4 * 2 * 1024 * 10
    positive = config.preset("drn-1h")
    positive.variant = "positive"
    assert speed.min_flops_per_sample(positive)["relaxation"] == 2 * 2 * 4 * 2 * 1024 * 10


def test_quick_bench_prints_figures_and_a_json_line(capsys):
    result = speed.golden(repeats=1, quick=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == result
    for model in ("drn-xs", "drn-1h"):
        row = result["models"][model]
        assert row["samples_per_second"] > 0 and result["gemm_gflops"] > 0
        # figures depend on the machine's load: check they are consistent, not fast
        expected = row["samples_per_second"] * row["min_flop_per_sample"] / 1e9 / result["gemm_gflops"]
        # ... from the printed figures, which are rounded (GEMM to 0.1 GFLOP/s: a large share on a loaded machine)
        assert row["gemm_fraction"] == pytest.approx(expected, rel=0.05 / result["gemm_gflops"] + 1e-3, abs=2e-3)
        assert row["fixed_samples_per_second"] > 0
        assert any(line.strip().startswith(f"{model}:") for line in lines)


def test_sweep_bench_prints_both_times_and_finds_the_same_results(capsys):
    result = speed.sweep(points=3, workers=2, epochs=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == result
    assert result["points"] == 3 and result["identical_results"] is True
    serial, dask = result["serial_seconds"], result["dask_seconds"]  # rounded to 0.01 s: a share of a short run
    assert result["ratio"] == pytest.approx(dask / serial, rel=0.005 / serial + 0.005 / dask + 0.001)
    assert any(line.strip().startswith("serial:") for line in lines)
