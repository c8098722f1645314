"""hdl.gating: a unit on a gated clock behaves as with a clock enable; without gating nothing changes."""

from __future__ import annotations

import random

from amaranth.back import verilog
from amaranth.hdl import ClockDomain, EnableInserter, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from hdl_sim import simulate

from hdl.gating import gated_domain


class Unit(wiring.Component):
    """Counts its clock edges and samples an input from the parent's domain at each."""

    def __init__(self) -> None:
        super().__init__({"x": In(8), "count": Out(8), "got": Out(8)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.sync += [self.count.eq(self.count + 1), self.got.eq(self.x)]
        return m


class Parent(wiring.Component):
    """A Unit clocked while `enable`: gated (`gating`), or, as the reference, with a clock enable."""

    def __init__(self, gating: bool | None) -> None:
        self.gating = gating
        super().__init__({"enable": In(1), "tick": Out(8), "count": Out(8), "got": Out(8)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.gating is None:
            m.submodules.unit = unit = EnableInserter(self.enable)(Unit())
        else:
            m.submodules.unit = gated_domain(m, "gated", self.enable, self.gating)(unit := Unit())
        m.d.sync += self.tick.eq(self.tick + 1)
        m.d.comb += [unit.x.eq(self.tick), self.count.eq(unit.count), self.got.eq(unit.got)]
        return m


def run(dut: Parent, pattern: list[int]) -> list[tuple[int, int, int]]:
    rows = []

    async def bench(ctx) -> None:
        for enable in pattern:
            ctx.set(dut.enable, enable)
            await ctx.tick()
            rows.append((ctx.get(dut.tick), ctx.get(dut.count), ctx.get(dut.got)))

    simulate(dut, bench)
    return rows


def test_gated_unit_matches_a_clock_enable() -> None:
    rng = random.Random(3)
    # The gate samples its enable on falling edges: the simulation starts low, so the first cycle's is 0.
    pattern = [0] + [rng.choice((0, 1, 1)) for _ in range(200)]
    gated, reference = run(Parent(True), pattern), run(Parent(None), pattern)
    assert gated == reference
    assert reference[-1][1] == sum(pattern) % 256  # the reference counts the enabled cycles
    assert 0 < sum(pattern) < len(pattern)


def test_reset_reaches_an_idle_gated_unit() -> None:
    """The reset is part of the gate's enable: it clears the unit's registers while `enable` is low."""
    dut = Parent(True)
    top = Module()
    top.domains.sync = sync = ClockDomain()
    top.submodules.parent = dut
    counts = []

    async def bench(ctx) -> None:
        for enable, rst in [(0, 0)] + [(1, 0)] * 5 + [(0, 0), (0, 1), (0, 0), (0, 0)]:
            ctx.set(dut.enable, enable)
            ctx.set(sync.rst, rst)
            await ctx.tick()
            counts.append(ctx.get(dut.count))

    simulate(top, bench)
    assert counts == [0, 1, 2, 3, 4, 5, 5, 0, 0, 0]


def test_ungated_unit_runs_every_cycle() -> None:
    pattern = [0, 1, 0, 0, 1]
    assert [count for _, count, _ in run(Parent(False), pattern)] == [1, 2, 3, 4, 5]


def test_gated_clock_in_the_verilog_only_with_gating() -> None:
    gated = verilog.convert(Parent(True), name="parent", emit_src=False)
    plain = verilog.convert(Parent(False), name="parent", emit_src=False)
    assert "negedge" in gated and "gated_en" in gated
    assert "negedge" not in plain and "gated_en" not in plain
