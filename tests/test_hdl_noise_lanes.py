"""hdl.noise_lanes.NoiseLanes in Amaranth's simulator: the port contract and golden.prng's stream, bit for bit.

The fast companion of the cocotb testbench (tests/test_tb_noise.py, marked `sim`): directed cases
of the seed interface and a few hundred random cycles per lane count.
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from golden.prng import draw, gauss_code, seed_lanes
from hdl.noise_lanes import NoiseLanes


def simulate(lanes: int, testbench) -> None:
    """Run `testbench(ctx, dut)` on NoiseLanes(lanes) with a clock."""
    dut = NoiseLanes(lanes)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx) -> None:
        await testbench(ctx, dut)

    sim.add_testbench(bench)
    sim.run()


def outputs(ctx, dut: NoiseLanes) -> tuple[list[int], list[int], int]:
    """Every lane's word and code, and the drawn mask, as seen after the last clock edge."""
    count = dut.lanes + 1
    return ([ctx.get(dut.word[p]) for p in range(count)], [ctx.get(dut.code[p]) for p in range(count)],
            ctx.get(dut.drawn))


def expect(ctx, dut: NoiseLanes, state, drawn: int) -> None:
    words, codes, got_drawn = outputs(ctx, dut)
    assert words == [int(x) for x in state]
    assert codes == [int(gauss_code(int(x))) for x in state]
    assert got_drawn == drawn


@pytest.mark.parametrize("lanes", [1, 3, 8])
def test_random_draws_match_golden(lanes: int) -> None:
    """Reset state, a seeded epoch, then random lane sets per cycle with idle cycles, against golden.prng."""
    rng = random.Random(lanes)
    count = lanes + 1

    async def bench(ctx, dut: NoiseLanes) -> None:
        state = seed_lanes(0, 0, lanes)
        expect(ctx, dut, state, 0)
        seeds = seed_lanes(99, 3, lanes)
        for p in range(count):
            ctx.set(dut.seed_load, 1)
            ctx.set(dut.seed_lane, p)
            ctx.set(dut.seed_data, int(seeds[p]))
            await ctx.tick()
            state[p] = seeds[p]
        ctx.set(dut.seed_load, 0)
        expect(ctx, dut, state, 0)
        for _ in range(300):
            mask = rng.randrange(2**count) if rng.random() < 0.8 else 0
            ctx.set(dut.draw, mask)
            await ctx.tick()
            for p in range(count):
                if mask >> p & 1:
                    draw(state, p)
            expect(ctx, dut, state, mask)

    simulate(lanes, bench)


def test_seed_load_wins_over_draw_and_out_of_range_lane_is_ignored() -> None:
    lanes = 4

    async def bench(ctx, dut: NoiseLanes) -> None:
        state = seed_lanes(0, 0, lanes)
        ctx.set(dut.draw, 0b11111)
        ctx.set(dut.seed_load, 1)
        ctx.set(dut.seed_lane, 2)
        ctx.set(dut.seed_data, 0xDEADBEEF)
        await ctx.tick()
        for p in (0, 1, 3, 4):
            draw(state, p)
        state[2] = 0xDEADBEEF
        expect(ctx, dut, state, 0b11011)
        ctx.set(dut.draw, 0)
        ctx.set(dut.seed_lane, 7)  # no lane 7: nothing changes
        await ctx.tick()
        expect(ctx, dut, state, 0)
        ctx.set(dut.seed_load, 0)
        ctx.set(dut.draw, 0b00100)  # the seed itself is never a draw: the first draw steps it
        await ctx.tick()
        draw(state, 2)
        expect(ctx, dut, state, 0b00100)

    simulate(lanes, bench)


def test_code_range_extremes() -> None:
    """Words of all-zero and all-one bytes give the codes -510 and +510."""
    async def bench(ctx, dut: NoiseLanes) -> None:
        for value, code in ((0x00000000, -510), (0xFFFFFFFF, 510), (0x80808080, 2)):
            ctx.set(dut.seed_load, 1)
            ctx.set(dut.seed_lane, 0)
            ctx.set(dut.seed_data, value)
            await ctx.tick()
            assert ctx.get(dut.code[0]) == code

    simulate(1, bench)


@pytest.mark.parametrize("lanes", [0, -1, 2.0])
def test_bad_lane_count(lanes) -> None:
    with pytest.raises(ValueError, match="lanes must be an integer >= 1"):
        NoiseLanes(lanes)
