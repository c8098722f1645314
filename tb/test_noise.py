"""cocotb testbench of hdl.noise_lanes.NoiseLanes: every word and code against golden.prng, bit for bit.

Parameters (sim.build.tb_params): lanes (L, as built), cases ([seed, epoch] pairs), draws (minimum
number of checked draws per case), rng_seed. Python acts on falling edges: it sets the inputs for
the next rising edge, then reads the outputs one cycle later; idle stretches run without Python.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from golden.prng import MASK32, draw, gauss_code, seed_lanes
from sim.build import tb_params

CODE_BITS = 11


class NoiseTB:
    """Clock, reset, stimulus and the golden.prng model of a NoiseLanes with `lanes` lanes."""

    def __init__(self, dut: object, lanes: int) -> None:
        self.dut = dut
        self.lanes = lanes
        self.count = lanes + 1
        assert len(dut.draw) == self.count, f"the design has {len(dut.draw) - 1} lanes, the run says {lanes}"
        self.lane_index_max = 2 ** len(dut.seed_lane) - 1
        self.state = seed_lanes(0, 0, lanes)  # the reset state
        self.draws = 0
        self.cycle = 0
        Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)

    async def reset(self) -> None:
        """Hold the synchronous reset for two cycles; the lanes return to seed 0, epoch 0."""
        dut = self.dut
        dut.rst.value = 1
        dut.draw.value = 0
        dut.seed_load.value = 0
        dut.seed_lane.value = 0
        dut.seed_data.value = 0
        await ClockCycles(dut.clk, 2, rising=False)
        dut.rst.value = 0
        self.state = seed_lanes(0, 0, self.lanes)
        self.check(0)

    def check(self, drawn: int) -> None:
        """Compare every lane's word and code, and the drawn mask, with the model."""
        dut = self.dut
        words = dut.word.value.to_unsigned()
        codes = dut.code.value.to_unsigned()
        got_drawn = dut.drawn.value.to_unsigned()
        assert got_drawn == drawn, f"cycle {self.cycle}: drawn {got_drawn:#x}, expected {drawn:#x}"
        for p in range(self.count):
            word = (words >> (32 * p)) & MASK32
            code = (codes >> (CODE_BITS * p)) & (2**CODE_BITS - 1)
            code -= (code >> (CODE_BITS - 1)) << CODE_BITS
            want = int(self.state[p])
            assert word == want, f"cycle {self.cycle}, lane {p}: word {word:#010x}, golden {want:#010x}"
            want_code = int(gauss_code(want))
            assert code == want_code, f"cycle {self.cycle}, lane {p}: code {code}, golden {want_code}"

    async def step(self, mask: int, seed: tuple[int, int] | None = None) -> None:
        """One clock: draw the lanes in `mask` and, with `seed` = (lane, value), load a seed; check
        the outputs a cycle later against the model (a seed load of a drawing lane wins)."""
        dut = self.dut
        dut.draw.value = mask
        if seed is not None:
            dut.seed_load.value = 1
            dut.seed_lane.value, dut.seed_data.value = seed
        await FallingEdge(dut.clk)
        self.cycle += 1
        dut.draw.value = 0
        dut.seed_load.value = 0
        if seed is not None and seed[0] < self.count:
            self.state[seed[0]] = seed[1]
            mask &= ~(1 << seed[0])
        for p in range(self.count):
            if mask >> p & 1:
                draw(self.state, p)
                self.draws += 1
        self.check(mask)

    async def idle(self, cycles: int) -> None:
        """Let the design run `cycles` clocks with no input from Python; nothing may change."""
        await ClockCycles(self.dut.clk, cycles, rising=False)
        self.cycle += cycles
        self.check(0)

    def random_mask(self, rng: random.Random) -> int:
        """A random non-empty set of lanes: one lane, all lanes, or a random subset."""
        kind = rng.random()
        if kind < 0.3:
            return 1 << rng.randrange(self.count)
        if kind < 0.4:
            return 2**self.count - 1
        return rng.randrange(1, 2**self.count)

    async def seed_epoch(self, seed: int, epoch: int, rng: random.Random) -> None:
        """Load the lanes' seeds of (seed, epoch) in a random order, with random gaps and draws of
        random lanes (also of the lane being seeded) in the same cycles."""
        seeds = seed_lanes(seed, epoch, self.lanes)
        order = list(range(self.count))
        rng.shuffle(order)
        for p in order:
            if rng.random() < 0.3:
                await self.idle(rng.randint(1, 5))
            mask = self.random_mask(rng) if rng.random() < 0.5 else 0
            await self.step(mask, (p, int(seeds[p])))
        if self.lane_index_max > self.lanes:  # a seed_lane beyond the last lane is ignored
            await self.step(0, (rng.randint(self.count, self.lane_index_max), 0x12345678))


def _setup(dut: object) -> tuple[NoiseTB, dict, random.Random]:
    params = tb_params()
    tb = NoiseTB(dut, int(params["lanes"]))
    return tb, params, random.Random(params.get("rng_seed", 1))


@cocotb.test()
async def reset_state(dut: object) -> None:
    """After reset the lanes draw the stream of seed 0, epoch 0; a reset mid-stream restarts it."""
    tb, params, rng = _setup(dut)
    await tb.reset()
    for _ in range(50):
        await tb.step(tb.random_mask(rng))
    await tb.reset()
    for p in range(tb.count):
        await tb.step(1 << p)
    dut._log.info("reset_state: %d draws checked", tb.draws)


@cocotb.test()
async def seeded_draws(dut: object) -> None:
    """Per (seed, epoch): seed every lane, then draw random lane sets in random cycles with random
    idle stretches (some long) until `draws` words have been checked against golden.prng."""
    tb, params, rng = _setup(dut)
    await tb.reset()
    minimum = int(params.get("draws", 5000))
    for seed, epoch in params["cases"]:
        await tb.seed_epoch(seed, epoch, rng)
        start = tb.draws
        while tb.draws - start < minimum:
            roll = rng.random()
            if roll < 0.05:
                await tb.idle(rng.randint(50, 500))
            elif roll < 0.25:
                await tb.idle(rng.randint(1, 8))
            if rng.random() < 0.2:  # a burst of one lane, a word per cycle
                lane = 1 << rng.randrange(tb.count)
                for _ in range(rng.randint(2, 12)):
                    await tb.step(lane)
            else:
                await tb.step(tb.random_mask(rng))
        dut._log.info("seed %d epoch %d: %d draws checked", seed, epoch, tb.draws - start)
    assert tb.draws >= minimum * len(params["cases"])
