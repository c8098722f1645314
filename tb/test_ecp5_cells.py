"""cocotb bench of the cell check of tests/test_tb_ecp5_cells.py: random stimulus, every output of every cycle recorded.

Parameters (sim.build.tb_params): seed, cycles, results (the .npy to write: per cycle the inputs INPUTS, then the
outputs OUTPUTS that answer them); the test compares them with its model, nothing is checked here. Python acts on
falling edges.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from sim.build import tb_params

INPUTS = ("addr", "we", "waddr", "wdata", "raddr", "a", "b")
OUTPUTS = ("rom", "ram", "sprod", "uprod")


@cocotb.test()
async def record(dut: object) -> None:
    """ROM addresses in order (every word read), random RAM writes and reads and operands, and the outputs."""
    params = tb_params()
    rng = np.random.default_rng(int(params["seed"]))
    Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2, rising=False)
    dut.rst.value = 0
    rows = []
    depth = 2 ** len(dut.waddr)
    for t in range(int(params["cycles"])):
        dut.addr.value = t % 2 ** len(dut.addr)
        dut.we.value = int(rng.random() < 0.5)
        dut.waddr.value = int(rng.integers(0, depth))
        dut.raddr.value = int(dut.waddr.value) if rng.random() < 0.25 else int(rng.integers(0, depth))
        dut.wdata.value = int(rng.integers(0, 2 ** len(dut.wdata)))
        dut.a.value = int(rng.integers(0, 2 ** 18))
        dut.b.value = int(rng.integers(0, 2 ** 18))
        await FallingEdge(dut.clk)
        rows.append([int(getattr(dut, name).value) for name in INPUTS + OUTPUTS])
    np.save(params["results"], np.array(rows, np.int64))
