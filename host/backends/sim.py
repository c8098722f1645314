"""host.driver's Bus on the simulated EPTop: cocotbext-axi's AxiLiteMaster on the `s_axil` port, clock cycles as time.

    bus = AxiBus(dut, idle=True)            # inside a cocotb test, after the clock is started
    await bus.reset()
    core = EPCoreInterface(bus, cfg, regmap)

`idle` adds random idle cycles on AW, W and AR and back-pressure on B and R (bus stalls);
`stall` (0..1) additionally waits 1-20 random clock cycles before that share of the accesses.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator

from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.axi")


def pauses(rng: random.Random, busy: float) -> Iterator[bool]:
    """A pause pattern: runs of 1-4 paused cycles in about `busy` of the runs, else runs of 1-6 free cycles."""
    while True:
        if rng.random() < busy:
            yield from [True] * rng.randint(1, 4)
        else:
            yield from [False] * rng.randint(1, 6)


class AxiBus:
    """32-bit reads and writes on EPTop's AXI4-Lite slave; `wait` lets clock cycles pass."""

    def __init__(self, dut: object, idle: bool = False, stall: float = 0.0, seed: int = 7) -> None:
        self.dut = dut
        self.axi = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.rng = random.Random(seed)
        self.stall = stall
        if idle:
            for channel in (self.axi.write_if.aw_channel, self.axi.write_if.w_channel, self.axi.read_if.ar_channel,
                            self.axi.write_if.b_channel, self.axi.read_if.r_channel):
                channel.set_pause_generator(pauses(random.Random(self.rng.random()), 0.3))

    async def reset(self, cycles: int = 4) -> None:
        """Hold the core in reset for `cycles` clock cycles."""
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0

    async def _maybe_stall(self) -> None:
        if self.stall and self.rng.random() < self.stall:
            await ClockCycles(self.dut.clk, self.rng.randint(1, 20))

    async def read(self, offset: int) -> int:
        await self._maybe_stall()
        return await self.axi.read_dword(offset)

    async def write(self, offset: int, value: int) -> None:
        await self._maybe_stall()
        await self.axi.write_dword(offset, value)

    async def wait(self, cycles: int) -> None:
        await ClockCycles(self.dut.clk, cycles)
