"""Trace capture for golden-vs-RTL verification: TraceBuffer records a core's trace entries for the host."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class TraceBuffer(wiring.Component):
    """Stores every entry offered with `valid` (one per cycle) at the next free address of a memory of
    `depth` entries; `clear` empties it (an entry offered in the same cycle is the first one kept).

    Ports
    -----
    valid : In(1) ; entry : In(layout) -- an entry to record in this cycle
    clear : In(1) -- count <- 0, overflow <- 0
    count : Out -- entries recorded since the last clear (at most `depth`)
    overflow : Out(1) -- an entry was dropped because the memory was full (sticky until clear)
    raddr : In ; rdata : Out(layout) -- the entry at raddr, one cycle later
    """

    def __init__(self, layout: data.StructLayout, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"a TraceBuffer needs a depth >= 1, got {depth}")
        self.layout = layout
        self.depth = depth
        super().__init__({
            "valid": In(1), "entry": In(layout), "clear": In(1),
            "count": Out(range(depth + 1)), "overflow": Out(1),
            "raddr": In(range(depth)), "rdata": Out(layout),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.layout, depth=self.depth, init=[])
        w = mem.write_port()
        r = mem.read_port()
        at = Signal.like(self.count)
        m.d.comb += at.eq(Mux(self.clear, 0, self.count))
        room = at < self.depth
        m.d.comb += [w.addr.eq(at), w.data.eq(self.entry), w.en.eq(self.valid & room),
                     r.addr.eq(self.raddr), self.rdata.eq(r.data)]
        m.d.sync += [self.count.eq(Mux(self.valid & room, at + 1, at)),
                     self.overflow.eq((self.overflow & ~self.clear) | (self.valid & ~room))]
        return m
