"""sim.build without a simulator run: simulator selection, the clock wrapper, results parsing, parameters, the build lock."""

from __future__ import annotations

import multiprocessing
import shutil
import time
from pathlib import Path

import pytest

from hdl.noise_lanes import NoiseLanes
from hdl.verilog import top_ports, write_verilog
from sim import build
from sim.build import SimulatorUnavailable, _build_lock, clock_wrapper, failed_tests, simulators, tb_params


def test_default_simulators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(build.SIM_ENV, raising=False)
    expected = ["verilator"] + (["icarus"] if shutil.which("iverilog") else [])
    assert simulators() == expected


def test_requested_simulators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(build.SIM_ENV, "verilator")
    assert simulators() == ["verilator"]
    assert simulators(" verilator ,") == ["verilator"]


@pytest.mark.parametrize("name, reason", [("questa", "unknown simulator (choose from verilator, icarus)"),
                                          ("icarus", "Icarus Verilog is not installed")])
def test_missing_simulator_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                                       reason: str) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no iverilog there
    with pytest.raises(SimulatorUnavailable) as error:
        simulators(name)
    assert str(error.value) == f"simulator {name!r} is not available: {reason}" + (
        " (apt-get install iverilog)" if name == "icarus" else "")
    assert "\n" not in str(error.value)


def test_clock_wrapper_drives_clk_and_keeps_every_other_port(tmp_path: Path) -> None:
    path = write_verilog(NoiseLanes(2), "noise_lanes", tmp_path)
    text = clock_wrapper(path, "noise_lanes", 10)
    wrapper = tmp_path / "noise_lanes_clocked.v"
    wrapper.write_text(text)
    ports = top_ports(path, "noise_lanes")
    assert top_ports(wrapper, "noise_lanes_clocked") == [p for p in ports if p != "clk"]
    assert "  input [31:0] seed_data;" in text and "  output [2:0] drawn;" in text
    assert "always #5 clk = ~clk;" in text and ".clk(clk)" in text
    with pytest.raises(ValueError, match="even number"):
        clock_wrapper(path, "noise_lanes", 5)


def test_failed_tests_are_named(tmp_path: Path) -> None:
    xml = tmp_path / "results.xml"
    xml.write_text(
        '<testsuites><testsuite name="all" tests="3" failures="1" errors="1">'
        '<testcase classname="tb.test_x" name="ok"/>'
        '<testcase classname="tb.test_x" name="bad"><failure message="boom"/></testcase>'
        '<testcase classname="tb.test_x" name="crash"><error message="oops"/></testcase>'
        "</testsuite></testsuites>")
    assert failed_tests(xml) == (3, {"tb.test_x.bad": "boom", "tb.test_x.crash": "oops"})


def test_tb_params(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(build.PARAMS_ENV, raising=False)
    assert tb_params() == {}
    (tmp_path / "p.json").write_text('{"lanes": 4}')
    monkeypatch.setenv(build.PARAMS_ENV, str(tmp_path / "p.json"))
    assert tb_params() == {"lanes": 4}


@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_waves_switch(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv(build.WAVES_ENV, value)
    assert build.waves_requested() is on


def _hold_build_lock(folder: str, started: str, seconds: float) -> None:
    """In another process: hold the build lock of `folder` for `seconds`, after saying so in `started`."""
    with _build_lock(Path(folder)):
        Path(started).write_text("held")
        time.sleep(seconds)
        (Path(folder) / "built").write_text("done")


def test_build_lock_makes_a_second_builder_wait(tmp_path: Path) -> None:
    """Two processes building the same case: the second enters only after the first has finished its build."""
    folder, started = tmp_path / "case", tmp_path / "started"
    folder.mkdir()
    other = multiprocessing.get_context("fork").Process(target=_hold_build_lock,
                                                          args=(str(folder), str(started), 1.0))
    other.start()
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started.exists(), "the other builder never took the lock"
        with _build_lock(folder):
            assert (folder / "built").read_text() == "done"
    finally:
        other.join(60)
    assert other.exitcode == 0
