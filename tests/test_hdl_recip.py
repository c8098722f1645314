# amaranth: UnusedElaboratable=no
"""Reciprocal divider (hdl/recip.py) against the golden r(d) of golden.fixed_ep._recip, in Amaranth's simulator."""

from __future__ import annotations

import random

import pytest
from amaranth.back import verilog

from golden.fixed_ep import _recip
from hdl.recip import Reciprocal
from hdl_sim import simulate

TIMEOUT = 200  # cycles; far above any latency tested here


def golden(d: int, m: int, bits: int) -> tuple[int, bool]:
    """Golden reciprocal and the contract's status flag (d <= 0)."""
    return int(_recip(d, m, bits)), d <= 0


def run_divisions(dut: Reciprocal, ds: list[int], gap: int = 0) -> list[tuple[int, int, int, int, int]]:
    """Start one division per d (back to back, or with `gap` idle cycles); (d, result, flag, clipped, cycles) each."""
    out: list[tuple[int, int, int, int, int]] = []

    async def bench(ctx) -> None:
        for d in ds:
            ctx.set(dut.d, d)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.d, 0)  # d is only sampled with start
            cycles = 1
            while not ctx.get(dut.done):
                assert cycles < TIMEOUT, f"no done for d={d}"
                await ctx.tick()
                cycles += 1
            out.append((d, ctx.get(dut.result), ctx.get(dut.flag), ctx.get(dut.clipped), cycles))
            if gap:
                await ctx.tick().repeat(gap)

    simulate(dut, bench)
    return out


def check(dut: Reciprocal, ds: list[int]) -> None:
    """Every result and status flag equals the golden model's; the cycle count is the documented one."""
    for d, result, flag, clipped, cycles in run_divisions(dut, ds):
        want, want_flag = golden(d, dut.m, dut.recip_bits)
        assert (result, bool(flag)) == (want, want_flag), f"d={d}: got {result}, flag {flag}; want {want}"
        exact_clip = d > 0 and (1 << dut.m) // d >= (1 << dut.recip_bits)
        assert bool(clipped) == exact_clip, f"d={d}: clipped {clipped}"
        assert cycles == (1 if d <= 0 or exact_clip else dut.latency), f"d={d}: {cycles} cycles"


@pytest.mark.parametrize("d_bits,m,recip_bits", [
    (6, 8, 5),    # the brief's small case: saturation, exact division and zero quotients all occur
    (6, 3, 5),    # m < recip_bits: the dividend's 1 enters in the first step, nothing saturates
    (6, 4, 5),    # m + 1 == recip_bits
    (6, 5, 5),    # m == recip_bits: only d = 1 saturates
    (6, 62, 5),   # every positive d saturates: the division path is unreachable
    (4, 0, 1),    # smallest m: floor(1 / d)
    (8, 12, 6),
    (9, 10, 10),  # recip_bits > m
])
def test_recip_matches_golden_for_every_small_denominator(d_bits: int, m: int, recip_bits: int) -> None:
    dut = Reciprocal(d_bits, m, recip_bits)
    check(dut, list(range(-(1 << (d_bits - 1)), 1 << (d_bits - 1))))


@pytest.mark.parametrize("d_bits,m,recip_bits", [(40, 44, 28), (40, 62, 31), (30, 44, 28), (48, 20, 24)])
def test_recip_matches_golden_for_random_realistic_denominators(d_bits: int, m: int, recip_bits: int) -> None:
    rng = random.Random(d_bits * 1000 + m)
    top = (1 << (d_bits - 1)) - 1
    edges = [0, 1, 2, 3, -1, -2, top, -top - 1, top - 1]
    edges += [1 << k for k in range(d_bits - 1)] + [(1 << k) + s for k in range(1, d_bits - 1) for s in (-1, 1)]
    clip = 1 << max(m - recip_bits, 0)  # d <= clip saturates: both sides of the boundary
    edges += [c for c in (clip - 1, clip, clip + 1) if -top - 1 <= c <= top]
    edges += [d for d in ((1 << m) - 1, 1 << m, (1 << m) + 1) if d <= top]  # quotient 1 / 0 boundary
    lognormal = [min(int(2 ** rng.uniform(0, d_bits - 1)), top) for _ in range(150)]
    uniform = [rng.randint(-top - 1, top) for _ in range(50)]
    check(Reciprocal(d_bits, m, recip_bits), edges + lognormal + uniform)


def test_recip_realistic_division_takes_recip_bits_plus_one_cycles() -> None:
    dut = Reciprocal(40, 44, 28)
    assert (dut.steps, dut.latency) == (28, 29)
    (d, result, flag, clipped, cycles), = run_divisions(dut, [12345678])
    assert (result, flag, clipped, cycles) == ((1 << 44) // 12345678, 0, 0, 29)
    assert Reciprocal(6, 3, 5).steps == 4  # m + 1 quotient bits when m < recip_bits


def test_recip_ignores_start_while_busy_and_holds_result_until_next_start() -> None:
    dut = Reciprocal(16, 20, 12)
    log: list[tuple[int, int, int]] = []

    async def bench(ctx) -> None:
        ctx.set(dut.d, 1000)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.d, 3)  # would saturate if accepted
        for _ in range(dut.latency - 1):
            assert ctx.get(dut.busy) and not ctx.get(dut.done)
            await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.done) and not ctx.get(dut.busy)
        log.append((ctx.get(dut.result), ctx.get(dut.flag), ctx.get(dut.clipped)))
        for _ in range(5):
            await ctx.tick()
            assert not ctx.get(dut.done)
            log.append((ctx.get(dut.result), ctx.get(dut.flag), ctx.get(dut.clipped)))

    simulate(dut, bench)
    assert log == [((1 << 20) // 1000, 0, 0)] * 6


def test_recip_nonpositive_denominator_sets_flag_and_all_ones() -> None:
    dut = Reciprocal(40, 44, 28)
    results = run_divisions(dut, [0, -1, -(1 << 39), 5], gap=3)
    assert [(r, f, c) for _, r, f, c, _ in results] == [((1 << 28) - 1, 1, 0)] * 3 + [((1 << 28) - 1, 0, 1)]


def test_recip_rejects_impossible_widths() -> None:
    for args in ((1, 8, 5), (6, -1, 5), (6, 8, 0)):
        with pytest.raises(ValueError):
            Reciprocal(*args)


@pytest.mark.parametrize("d_bits,m,recip_bits", [(40, 44, 28), (6, 62, 5), (4, 0, 1)])
def test_recip_converts_to_verilog(d_bits: int, m: int, recip_bits: int) -> None:
    text = verilog.convert(Reciprocal(d_bits, m, recip_bits), name="recip", emit_src=False)
    assert "module recip" in text
    for port in ("start", "d", "busy", "done", "result", "flag", "clipped"):
        assert port in text
    assert f"[{d_bits - 1}:0] d" in text and (recip_bits == 1 or f"[{recip_bits - 1}:0] result" in text)
