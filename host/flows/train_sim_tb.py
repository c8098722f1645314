"""cocotb tests of `host train --target sim` and `host bench sim`: host.flows.train_sim's synchronous code drives the simulated
EPTop through host.driver over the AXI4-Lite bus model (host/backends/sim.py).

Parameters (sim.build.tb_params): those of host.flows.train_sim.run_loop (test `train`) or host.flows.train_sim.run_bench (test `bench`).
The training loop (golden/train.py) is synchronous: it runs in a cocotb bridge thread, and every driver coroutine
it starts is awaited in the simulation's scheduler (`awaited`), so no Python runs beside the simulator.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge, resume

from host.flows import train_sim
from host.backends.sim import AxiBus
from sim.build import tb_params


@resume
async def awaited(coro: Coroutine[Any, Any, Any]) -> Any:
    """Called from the bridge thread: await a driver coroutine in the simulation and return its result."""
    return await coro


async def setup(dut: Any) -> AxiBus:
    """Clock (100 MHz), reset and the bus of a fresh core."""
    Clock(dut.clk, train_sim.PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
    bus = AxiBus(dut)
    for channel in (bus.axi.write_if, bus.axi.read_if):  # a log line per access would cost a third of the time
        channel.log.setLevel(logging.WARNING)
    await bus.reset()
    return bus


@cocotb.test()
async def train(dut: Any) -> None:
    """golden/train.py's loop on the core: metrics.json and the checkpoint in the run's folder."""
    await bridge(train_sim.run_loop)(await setup(dut), awaited, tb_params())


@cocotb.test()
async def bench(dut: Any) -> None:
    """Timed training through the driver: samples/s, busy and simulated cycles per sample."""
    await bridge(train_sim.run_bench)(await setup(dut), awaited, tb_params())
