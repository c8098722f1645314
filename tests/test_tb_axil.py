"""RTL simulation of hdl.axil.RegisterFile (tb/test_axil.py) on every available simulator, for two register
maps and address widths.

Cases: the core map of a one-hidden-layer config at the map's own address width (7 bits: 32 words,
every address mapped) and of a two-hidden-layer config at 12 bits (a 4 KiB window, as Vivado assigns
it: words past the map are unmapped). One build per (simulator, case) serves the whole module.
"""

from __future__ import annotations

import pytest

from golden.config import Config
from hdl.axil import RegisterFile
from hdl.regmap.core import core_register_map
from sim.build import SimBuild, SimulatorUnavailable, simulators

pytestmark = pytest.mark.sim

try:
    SIMULATORS = simulators()
except SimulatorUnavailable:  # tests/test_tb_noise.py reports it in one line
    SIMULATORS = []

CASES = {"1h-aw7": (Config(hidden=[16]), None), "2h-aw12": (Config(hidden=[32, 16], lr_weights=[0.05] * 3, lr_biases=[0.05] * 3), 12)}
OPS = 400  # random accesses per random_traffic run (four runs per case: idle and back-pressure on/off)
BUS_TESTS = 4 * 4  # reset_values, register_access, errors_and_unmapped, random_traffic x idle x back-pressure


@pytest.fixture(scope="module", params=[(s, c) for s in SIMULATORS for c in CASES], ids=lambda p: f"{p[0]}-{p[1]}")
def axil_build(request: pytest.FixtureRequest) -> tuple[SimBuild, RegisterFile]:
    """RegisterFile of one case built for one simulator, shared by the tests below."""
    simulator, case = request.param
    cfg, addr_width = CASES[case]
    regfile = RegisterFile(core_register_map(cfg), addr_width)
    build = SimBuild.create(regfile, toplevel="register_file", case=f"register_file-{case}", simulator=simulator)
    return build, regfile


def test_register_file_over_axi_lite_matches_the_model(axil_build: tuple[SimBuild, RegisterFile]) -> None:
    build, regfile = axil_build
    ran = build.run("tb.test_axil", {"regmap": regfile.regmap.to_json(), "addr_width": regfile.addr_width,
                                     "ops": OPS, "rng_seed": regfile.addr_width})
    assert ran == BUS_TESTS
