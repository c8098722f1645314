# amaranth: UnusedElaboratable=no
"""hdl.trace.TraceBuffer in Amaranth's simulator: entries kept in order, count, clear, overflow, read port."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from hdl.trace import TraceBuffer
from hdl_sim import simulate

LAYOUT = data.StructLayout({"tag": 4, "value": signed(6)})


def run(depth: int, offers: list[tuple[bool, bool, dict]]) -> tuple[list[tuple[int, int, list]], list[dict]]:
    """Offer (clear, valid, entry) once per cycle; return (count, overflow) after each cycle and the stored entries."""
    dut = TraceBuffer(LAYOUT, depth)
    seen: list[tuple[int, int, list]] = []
    stored: list[dict] = []

    async def bench(ctx) -> None:
        for clear, valid, entry in offers:
            ctx.set(dut.clear, clear)
            ctx.set(dut.valid, valid)
            ctx.set(dut.entry, entry)
            await ctx.tick()
            seen.append((ctx.get(dut.count), ctx.get(dut.overflow), []))
        ctx.set(dut.valid, 0)
        ctx.set(dut.clear, 0)
        for a in range(ctx.get(dut.count)):
            ctx.set(dut.raddr, a)
            await ctx.tick()
            word = ctx.get(dut.rdata)
            stored.append({"tag": word.tag, "value": word.value})

    simulate(dut, bench)
    return seen, stored


def model(depth: int, offers: list[tuple[bool, bool, dict]]) -> tuple[list[tuple[int, int]], list[dict]]:
    kept: list[dict] = []
    overflow = 0
    states = []
    for clear, valid, entry in offers:
        if clear:
            kept, overflow = [], 0
        if valid:
            if len(kept) < depth:
                kept.append(entry)
            else:
                overflow = 1
        states.append((len(kept), overflow))
    return states, kept


@pytest.mark.parametrize("depth", [1, 5, 16])
def test_trace_buffer_keeps_entries_in_order(depth: int) -> None:
    rng = random.Random(depth)
    offers = []
    for _ in range(60):
        offers.append((rng.random() < 0.08, rng.random() < 0.6,
                       {"tag": rng.randrange(16), "value": rng.randrange(-32, 32)}))
    offers.append((True, True, {"tag": 9, "value": -7}))  # a clear with an entry keeps it as the first
    offers += [(False, True, {"tag": k, "value": k - 32}) for k in range(depth + 2)]  # fills and overflows
    seen, stored = run(depth, offers)
    states, kept = model(depth, offers)
    assert [(c, o) for c, o, _ in seen] == states
    assert stored == kept
    assert stored[0] == {"tag": 9, "value": -7} and states[-1] == (depth, 1)


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth >= 1"):
        TraceBuffer(LAYOUT, 0)
