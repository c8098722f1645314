"""RTL simulation of hdl.noise_lanes.NoiseLanes (tb/test_noise.py) on every available simulator and lane count.

One build per (simulator, lanes) serves every test of the module. `EPFPGA_SIM=icarus` (or
`make sim SIM=icarus`) restricts the simulators; a named simulator that is missing fails
test_requested_simulators_run with one line.
"""

from __future__ import annotations

import pytest

from hdl.noise_lanes import NoiseLanes
from sim.build import SimBuild, SimulationError, SimulatorUnavailable, simulators

pytestmark = pytest.mark.sim

try:
    SIMULATORS, UNAVAILABLE = simulators(), None
except SimulatorUnavailable as error:  # reported by test_requested_simulators_run, in one line
    SIMULATORS, UNAVAILABLE = [], str(error)

LANES = (1, 4, 16)
CASES = [[0, 0], [12345, 7], [2**31 - 1, 99]]  # (seed, epoch), as in tests/vectors/prng.json
DRAWS = 4000  # minimum checked draws per (seed, epoch)


@pytest.fixture(scope="module", params=[(s, n) for s in SIMULATORS for n in LANES],
                ids=lambda case: f"{case[0]}-lanes{case[1]}")
def noise_build(request: pytest.FixtureRequest) -> tuple[SimBuild, int]:
    """NoiseLanes(lanes) built for one simulator, and its lane count, shared by the tests below."""
    simulator, lanes = request.param
    build = SimBuild.create(NoiseLanes(lanes), toplevel="noise_lanes", case=f"noise_lanes-{lanes}",
                            simulator=simulator)
    return build, lanes


def test_requested_simulators_run() -> None:
    """The simulators named in $EPFPGA_SIM exist here (a missing one fails this test in one line)."""
    if UNAVAILABLE:
        pytest.fail(UNAVAILABLE, pytrace=False)
    assert SIMULATORS


def test_noise_matches_golden(noise_build: tuple[SimBuild, int]) -> None:
    build, lanes = noise_build
    ran = build.run("tb.test_noise", {"lanes": lanes, "cases": CASES, "draws": DRAWS, "rng_seed": lanes})
    assert ran == 2  # reset_state and seeded_draws


@pytest.mark.parametrize("noise_build", [(s, 4) for s in SIMULATORS], indirect=True,
                         ids=lambda case: f"{case[0]}-lanes{case[1]}")
def test_failing_run_names_the_tests(noise_build: tuple[SimBuild, int]) -> None:
    """A run whose parameters contradict the build fails every test, and the error says which."""
    build, _ = noise_build
    with pytest.raises(SimulationError) as error:
        build.run("tb.test_noise", {"lanes": 3, "cases": CASES}, name="wrong_lanes")
    message = str(error.value)
    assert "2 of 2 cocotb tests failed: tb.test_noise.reset_state, tb.test_noise.seeded_draws" in message
    assert "tb.test_noise.reset_state: the design has 4 lanes, the run says 3" in message
    assert "wrong_lanes.log" in message


@pytest.mark.parametrize("simulator", SIMULATORS[-1:])  # Icarus when present: its build takes a second
def test_waves_on_request(monkeypatch: pytest.MonkeyPatch, simulator: str) -> None:
    """Waveforms are recorded, in a build of their own, only when $EPFPGA_WAVES asks for them."""
    plain = SimBuild.create(NoiseLanes(1), toplevel="noise_lanes", case="noise_lanes-1", simulator=simulator)
    assert plain.waves_file is None
    monkeypatch.setenv("EPFPGA_WAVES", "1")
    build = SimBuild.create(NoiseLanes(1), toplevel="noise_lanes", case="noise_lanes-1", simulator=simulator)
    assert build.folder.name == "noise_lanes-1-waves" and build.waves_file is not None
    build.waves_file.unlink(missing_ok=True)
    build.run("tb.test_noise", {"lanes": 1, "cases": [[5, 1]], "draws": 50})
    assert build.waves_file.stat().st_size > 0
    assert not list(plain.folder.glob("*.vcd")) + list(plain.folder.glob("*.fst"))
