"""Tests of host.studies.noise: the sigma grid, the points, a study folder's table, resume, extension and lost workers."""

import csv
import json
import os
import re
import signal

import pytest

from golden.config import ConfigError
from golden.train import RunError
from host.studies import noise
from host.studies.runner import Runner

STUDY = noise.Study(epochs=1, train_samples=1000, test_samples=300)
SIGMAS = [1e-3, 1e-2, 1e-1]


def test_sigma_grid_is_zero_then_log_spaced_and_rounded():
    grid = noise.sigma_grid(1e-4, 1e-1, 3)
    assert grid[0] == 0.0 and len(grid) == 11
    assert grid[1:] == sorted(grid[1:]) and grid[1] == 1e-4 and grid[-1] == 0.1 and grid[2] == 0.000215
    with pytest.raises(ConfigError, match="need 0 < min < max"):
        noise.sigma_grid(1e-2, 1e-3, 3)


def test_grid_shares_the_noise_free_run_and_checks_every_config():
    points = noise.grid(STUDY, ["drn-xs"], ["mnist-subset"], SIGMAS, [1, 4], [0, 1])
    assert len(points) == 2 * (1 + 2 * len(SIGMAS))
    assert [p for p in points if p.sigma == 0] == [noise.Point("drn-xs", "mnist-subset", 0.0, 1, s) for s in (0, 1)]
    with pytest.raises(ConfigError, match="unknown model preset 'drn-xxl'"):
        noise.grid(STUDY, ["drn-xxl"], ["mnist-subset"], SIGMAS, [1], [0])
    with pytest.raises(ConfigError, match="samples \\(N\\) must be >= 1"):
        noise.grid(STUDY, ["drn-xs"], ["mnist-subset"], SIGMAS, [0], [0])


def test_a_config_file_is_a_model(tmp_path):
    toml = tmp_path / "narrow.toml"
    toml.write_text('model = "drn-xs"\nhidden = [20]\n')
    point = noise.Point(str(toml), "mnist-subset", 1e-3, 1, 0)
    assert point.label == "narrow" and point.key == "narrow_mnist-subset_N1_seed0_sigma1.000000e-03"
    assert noise.point_config(STUDY, point).hidden == [20]


def run(out, runner=None, seeds=(0,), refine=1, log=None, **kw):
    points = noise.grid(STUDY, ["drn-xs"], ["mnist-subset"], SIGMAS, [1, 4], list(seeds))
    lines = []
    summary, errors = noise.sweep(STUDY, points, out, runner or Runner(serial=True), refine=refine,
                                  log=log or lines.append, **kw)
    return summary, errors, lines


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_sweep_writes_a_tidy_table_and_resumes_without_rerunning(tmp_path):
    out = tmp_path / "study"
    summary, errors, lines = run(out)
    assert errors == []
    rows = read_csv(out / "sweep.csv")
    assert tuple(rows[0]) == noise.COLUMNS
    grid_rows = [r for r in rows if r["bisection"] == "0"]
    assert len(grid_rows) == 1 + 2 * len(SIGMAS)
    for n in ("1", "4"):
        sig = [float(r["sigma"]) for r in grid_rows if r["samples"] == n and float(r["sigma"]) > 0]
        assert sig == sorted(sig) == SIGMAS
    assert all(0 <= float(r["test_accuracy"]) <= 1 and r["epochs"] == "1" and r["train_samples"] == "1000"
               for r in rows)
    assert all(0 < float(r["nudge_hidden"]) < float(r["nudge_output"]) for r in rows)  # float: the signal scale
    curves = read_csv(out / "curves.csv")
    assert tuple(curves[0]) == noise.CURVE_COLUMNS and len(curves) == len(rows)
    crit = read_csv(out / "critical.csv")
    assert [c["samples"] for c in crit] == ["1", "4"]
    for c in crit:  # the grid brackets the crossing on the bundled subset
        assert SIGMAS[0] <= float(c["sigma_c"]) <= SIGMAS[-1]
        assert float(c["sigma_c_per_nudge"]) == pytest.approx(float(c["sigma_c"]) / float(c["nudge_hidden"]))
    assert {r["bisection"] for r in rows} == {"0", "1"}  # one round of bisection ran
    assert json.loads((out / "sweep.json").read_text())["critical"] == summary["critical"]
    again, errors, lines = run(out)
    assert errors == [] and again["rows"] == summary["rows"]
    assert lines == [f"{len(grid_rows)} of {len(grid_rows)} grid points already done in {out}"]


def test_extending_a_study_runs_only_the_new_points_and_keeps_its_settings(tmp_path):
    out = tmp_path / "study"
    run(out, refine=0)
    _, errors, lines = run(out, seeds=(0, 1), refine=0)
    assert errors == [] and lines[0] == f"7 of 14 grid points already done in {out}"
    assert len(read_csv(out / "sweep.csv")) == 14
    other = noise.Study(epochs=2, train_samples=1000, test_samples=300)
    with pytest.raises(RunError, match="holds a study with other settings: epochs 1 \\(asked 2\\)"):
        noise.sweep(other, [], out, Runner(serial=True))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="holds no noise study"):
        noise.sweep(STUDY, [], tmp_path / "busy", Runner(serial=True))


def test_a_failed_point_loses_no_other_and_a_rerun_completes(tmp_path, monkeypatch):
    out = tmp_path / "study"
    real = noise.run_point

    def flaky(task):
        if task[1].sigma == SIGMAS[1] and task[1].samples == 4:
            raise RuntimeError("power cut")
        return real(task)

    monkeypatch.setattr(noise, "run_point", flaky)
    _, errors, _ = run(out)
    assert len(errors) == 1 and "power cut" in errors[0]
    assert len(list((out / noise.POINTS).glob("*.json"))) == 6  # every other grid point is stored
    monkeypatch.setattr(noise, "run_point", real)
    summary, errors, lines = run(out)
    assert errors == [] and lines[0] == f"6 of 7 grid points already done in {out}"
    assert len([r for r in summary["rows"] if not r["bisection"]]) == 7


def test_a_worker_killed_mid_sweep_loses_no_finished_point(tmp_path):
    """SIGKILL one of two Dask workers after the first stored point: the sweep still finishes every point."""
    out = tmp_path / "study"
    with Runner(workers=2) as runner:
        killed = []

        def log(line):
            if line.startswith("  [") and not killed:
                pid = next(iter(runner._client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        summary, errors, _ = run(out, runner=runner, refine=0, log=log)
    assert killed and errors == []
    assert len(summary["rows"]) == 7 and len(list((out / noise.POINTS).glob("*.json"))) == 7
    serial, _, _ = run(tmp_path / "serial", refine=0)  # and the points are the same runs as in one process
    assert [r["test_accuracy"] for r in summary["rows"]] == [r["test_accuracy"] for r in serial["rows"]]


def test_a_damaged_point_file_is_named(tmp_path):
    out = tmp_path / "study"
    run(out, refine=0)
    victim = sorted((out / noise.POINTS).glob("*.json"))[0]
    victim.write_text("{")
    with pytest.raises(RunError, match=re.escape(f"{victim.name} is damaged")):
        noise.tables(out)
