"""`host hdl bench` on a tiny core (1568-2-10, P = 1) in Verilator: the figures, and the core's cycles and
hits against the formula and golden FixedEP."""

import json

import pytest

from hdl.plan import CoreBuild
from host.cli import main
from sim.build import BUILD_ROOT, SimulatorUnavailable, simulators

pytestmark = pytest.mark.sim


def tiny_config(tmp_path, hidden: int):
    """A 1568-hidden-10 config file; fails the test (not skips) when Verilator is missing."""
    try:
        simulators("verilator")
    except SimulatorUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f"hidden = [{hidden}]\n")
    return cfg


def test_bench_reports_cycles_speed_and_agreement(tmp_path, capsys):
    cfg = tiny_config(tmp_path, 2)
    assert main(["hdl", "bench", "--config", str(cfg), "--lanes", "1", "--images", "2"]) == 0
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
    assert result["pgo"] and any("profile-guided" in line for line in lines)
    assert result["clock_gating"] and "idle lane units clock-gated" in lines[0]


def test_bench_of_the_core_as_synthesized_simulates_the_same_cycles(tmp_path, capsys):
    """--no-clock-gating benches the ungated core (its own build, here plain C++): the same cycles and hits as
    the gated one (the build of the test above, reused)."""
    cfg = tiny_config(tmp_path, 2)
    results = []
    for extra in ([], ["--no-clock-gating", "--no-pgo"]):
        assert main(["hdl", "bench", "--config", str(cfg), "--lanes", "1", "--images", "2", *extra]) == 0
        lines = capsys.readouterr().out.splitlines()
        results.append(json.loads(lines[-1]))
    assert [r["clock_gating"] for r in results] == [True, False] and "clock-gated" not in lines[0]
    assert results[0]["train_cycles"] == results[1]["train_cycles"] == results[1]["train_cycles_formula"]
    assert results[0]["hits"] == results[1]["hits"] == results[1]["golden_hits"]
    ungated = CoreBuild.load(None, cfg, 1, clock_gating=False).name
    assert ungated.startswith("1568-2-10-p1-") and ungated.endswith("-ungated")
    assert (BUILD_ROOT / "verilator" / f"ep_core-bench-{ungated}").is_dir()


def test_bench_profile_guided_build_keeps_the_cycles_and_is_reused(tmp_path, capsys):
    """The default bench build is profile-guided: an instrumented build profiles a one-sample run, the final
    build uses the counts and simulates the same cycles and hits as plain C++ (--no-pgo); an unchanged
    design reuses the profiled build without profiling again; a plain build after it compiles afresh."""
    cfg = tiny_config(tmp_path, 4)
    args = ["hdl", "bench", "--config", str(cfg), "--lanes", "2", "--images", "2"]
    folder = BUILD_ROOT / "verilator" / f"ep_core-bench-{CoreBuild.load(None, cfg, 2, clock_gating=True).name}"
    (folder / "profile.json").unlink(missing_ok=True)  # a profiling run from scratch
    results = []
    for extra in ([], [], ["--no-pgo"]):
        assert main(args + extra) == 0
        results.append(json.loads(capsys.readouterr().out.splitlines()[-1]))
        if not extra:
            assert results[-1]["pgo"] and (folder / "profile.json").is_file() and any(folder.glob("*.gcda"))
            profiled = json.loads((folder / "profile.measured.json").read_text())
            assert profiled["train"][0]["cycles"] == results[-1]["train_cycles"][0]  # the profiling run: sample 1
            profiled_at = (folder / "profile.log").stat().st_mtime_ns
            if len(results) == 1:
                first_profile = profiled_at
    assert profiled_at == first_profile  # the second run did not profile again
    assert not results[2]["pgo"] and not (folder / "profile.json").exists()
    for result in results:
        assert result["train_cycles"] == result["train_cycles_formula"] == results[0]["train_cycles"]
        assert result["hits"] == result["golden_hits"]


def test_bench_rejects_a_bad_image_count_in_one_line(tmp_path, capsys):
    assert main(["hdl", "bench", "--images", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--images must be from 1 to 1000, got 0" in err
