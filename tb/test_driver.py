"""cocotb testbench of host.driver on hdl.top.EPTop: the behavioural checks of tb/driver_checks.py, run by the real
driver over cocotbext-axi's AXI4-Lite master (host/backends/sim.py) inside the simulation.

Parameters (sim.build.tb_params): case (a JSON file of driver_checks.golden_case, written by
tests/test_host_driver.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
from cocotb.clock import Clock

from host.backends.sim import AxiBus
from tb.driver_checks import (check_errors, check_identify, check_stalls, check_timeout, check_train, check_window)
from sim.build import tb_params


async def setup(dut, idle: bool = False) -> tuple[AxiBus, dict]:
    """Clock, reset and the bus of a fresh core; the case."""
    Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
    bus = AxiBus(dut, idle=idle)
    await bus.reset()
    return bus, json.loads(Path(tb_params()["case"]).read_text())


@cocotb.test()
async def identify(dut) -> None:
    await check_identify(*await setup(dut))


@cocotb.test()
async def train(dut) -> None:
    await check_train(*await setup(dut))


@cocotb.test()
async def stalls(dut) -> None:
    """Random idle cycles and back-pressure on the AXI channels, random waits between accesses."""
    await check_stalls(*await setup(dut, idle=True))


@cocotb.test()
async def window(dut) -> None:
    await check_window(*await setup(dut))


@cocotb.test()
async def timeout(dut) -> None:
    await check_timeout(*await setup(dut))


@cocotb.test()
async def errors(dut) -> None:
    await check_errors(*await setup(dut))
