"""Helpers shared by the Amaranth-simulator tests of hdl/: random codes and running a unit to `done`."""

from __future__ import annotations

import numpy as np


def random_codes(rng: np.random.Generator, bits: int, size: int, signed: bool) -> np.ndarray:
    """Codes spread over bit lengths (small and large magnitudes both common), with the extremes."""
    lengths = rng.integers(0, bits - int(signed) + 1, size)
    v = rng.integers(0, 1 << 62, size) & ((np.int64(1) << lengths) - 1)
    if signed:
        v = np.where(rng.random(size) < 0.5, v, -v - 1)
    return v.astype(np.int64)


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
