"""The verification harness: EPCore with a pixel memory and a TraceBuffer, so a TRAIN sample runs with no host action per clock."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.config import INPUT_PIXELS, Config

from .core import EPCore
from .trace import TraceBuffer

TRACE_FIELDS = ("kind", "phase", "sweep", "layer", "index", "mask", "data")


class VerifyCore(wiring.Component):
    """EPCore(cfg, lanes) whose pixels come from a memory the host fills before `start`, and whose
    trace entries of the last command are kept in a TraceBuffer sized for TRAIN samples of up to
    `max_sweeps` sweeps per phase.

    Ports: every EPCore port except pix_* and trace_* (forwarded unchanged), and
    pix_we, pix_addr, pix_data : In -- write pixel pix_addr (0..783) of the next sample (idle only)
    trace_count, trace_overflow : Out ; trace_raddr : In ; trace_rdata : Out -- the TraceBuffer's
        entries of the last command (emptied at every `start`; `entry_fields` describes an entry)
    """

    def __init__(self, cfg: Config, lanes: int, max_sweeps: int = 8) -> None:
        self.core = core = EPCore(cfg, lanes)
        self.max_sweeps = max_sweeps
        members = core.signature.members
        self.entry = data.StructLayout({name: members[f"trace_{name}"].shape for name in TRACE_FIELDS})
        self.trace = TraceBuffer(self.entry, core.trace_entries_per_train(max_sweeps, True))
        self.forwarded = [name for name in members if not name.startswith(("pix_", "trace_"))]
        super().__init__({
            **{name: members[name] for name in self.forwarded},
            "pix_we": In(1), "pix_addr": In(range(INPUT_PIXELS)), "pix_data": In(8),
            "trace_count": Out(range(self.trace.depth + 1)), "trace_overflow": Out(1),
            "trace_raddr": In(range(self.trace.depth)), "trace_rdata": Out(self.entry),
        })

    def entry_fields(self) -> dict[str, tuple[int, int]]:
        """(bit offset, width) of every field of a trace entry as read from trace_rdata; `data` holds
        `lanes` signed elements of v_bits each, lane 0 in the lowest bits."""
        return {name: (field.offset, field.width) for name, field in self.entry}

    def elaborate(self, platform: object) -> Module:
        m = Module()
        core, trace = self.core, self.trace
        m.submodules.core = core
        m.submodules.trace = trace
        for name in self.forwarded:
            inner, outer = getattr(core, name), getattr(self, name)
            if self.signature.members[name].flow == wiring.In:
                m.d.comb += inner.eq(outer)
            else:
                m.d.comb += outer.eq(inner)

        # Pixels: written by the host, streamed to the core from the start of every command.
        m.submodules.pixels = pixels = Memory(shape=8, depth=INPUT_PIXELS, init=[])
        write = pixels.write_port()
        read = pixels.read_port(domain="comb")
        m.d.comb += [write.addr.eq(self.pix_addr), write.data.eq(self.pix_data), write.en.eq(self.pix_we & ~core.busy)]
        index = Signal(range(INPUT_PIXELS + 1))
        begin = self.start & ~core.busy
        m.d.comb += [read.addr.eq(index), core.pix_data.eq(read.data), core.pix_valid.eq(index < INPUT_PIXELS)]
        with m.If(begin):
            m.d.sync += index.eq(0)
        with m.Elif(core.pix_valid & core.pix_ready):
            m.d.sync += index.eq(index + 1)

        # Trace: every entry of the current command.
        m.d.comb += [trace.valid.eq(core.trace_valid), trace.clear.eq(begin),
                     trace.raddr.eq(self.trace_raddr), self.trace_rdata.eq(trace.rdata),
                     self.trace_count.eq(trace.count), self.trace_overflow.eq(trace.overflow)]
        for name in TRACE_FIELDS:
            m.d.comb += trace.entry[name].eq(getattr(core, f"trace_{name}"))
        return m
