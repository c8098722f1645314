"""Helpers shared by the Amaranth-simulator tests of hdl/: random codes, running a unit to `done`, and the
shared parameter memory the engines read."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Elaboratable, MemoryData, Module, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hdl.layout import ParamLayout


def random_codes(rng: np.random.Generator, bits: int, size: int, signed: bool) -> np.ndarray:
    """Codes spread over bit lengths (small and large magnitudes both common), with the extremes."""
    lengths = rng.integers(0, bits - int(signed) + 1, size)
    v = rng.integers(0, 1 << 62, size) & ((np.int64(1) << lengths) - 1)
    if signed:
        v = np.where(rng.random(size) < 0.5, v, -v - 1)
    return v.astype(np.int64)


def simulate(dut, bench) -> None:
    """Run the testbench coroutine `bench(ctx)` on `dut` with a 100 MHz clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


async def start_and_wait(ctx, dut, limit: int) -> None:
    """Pulse `start`, tick until `done` (asserting `busy` meanwhile), then one more tick; fail after `limit` cycles."""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    for _ in range(limit):
        if ctx.get(dut.done):
            break
        assert ctx.get(dut.busy)
        await ctx.tick()
    else:
        raise AssertionError(f"no done within {limit} cycles")
    await ctx.tick()
    assert not ctx.get(dut.busy)


class SharedParams(Elaboratable):
    """An engine that reads the conductances through the core's shared parameter port (`par_addr` out,
    every lane's GP and GM word on `par_gp`, `par_gm` the next cycle), with GP and GM banks in the
    ParamLayout standing in for the UpdateEngine's. `gp[p]`, `gm[p]` are the banks' MemoryData."""

    def __init__(self, dut: Elaboratable, params: ParamLayout, g_bits: int) -> None:
        self.dut, self.params = dut, params
        self.gp = [MemoryData(shape=unsigned(g_bits), depth=params.gp_depth, init=[]) for _ in range(params.lanes)]
        self.gm = [MemoryData(shape=unsigned(g_bits), depth=params.gm_depth, init=[]) for _ in range(params.lanes)]

    def load(self, ctx, theta) -> None:
        """Write golden's flat theta's conductances into the banks (every word, padding included)."""
        gp, gm, _ = self.params.images(theta)
        for datas, image in ((self.gp, gp), (self.gm, gm)):
            for p, words in enumerate(image):
                for a, word in enumerate(words):
                    ctx.set(datas[p][a], word)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = dut = self.dut
        for name, datas, port in (("gp", self.gp, dut.par_gp), ("gm", self.gm, dut.par_gm)):
            for p, d in enumerate(datas):
                mem = Memory(data=d)
                m.submodules[f"{name}{p}"] = mem
                rd = mem.read_port()
                m.d.comb += [rd.addr.eq(dut.par_addr), port[p].eq(rd.data)]
        return m
