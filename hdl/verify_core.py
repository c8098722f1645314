"""The verification harness: EPCore with pixel and parameter memories and a TraceBuffer (a TRAIN sample runs free)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.config import INPUT_PIXELS

from .core import EPCore
from .plan import CoreBuild
from .trace import TraceBuffer

TRACE_FIELDS = ("kind", "phase", "sweep", "layer", "index", "mask", "data")


class VerifyCore(wiring.Component):
    """EPCore(build) whose pixels come from a memory filled before `start`, whose parameters move
    between the core and a memory of their own without the host, and whose trace entries of the
    last command are kept in a TraceBuffer sized for TRAIN samples of up to `max_sweeps` sweeps per phase.

    The memories `pixels` (784 x 8 bits) and `params` (n_params codes in golden's flat layout) are
    top-level memories of the generated Verilog, so a simulation testbench may also read and write
    them directly between commands (host/flows/verify_tb.py does: no clock per word).

    Ports: every EPCore port except pix_* and trace_* (forwarded unchanged; the transfers below drive
    the param_* ports while they run), and
    pix_we, pix_addr, pix_data : In -- write pixel pix_addr (0..783) of the next sample (idle only)
    xfer_start, xfer_out : In ; xfer_busy, xfer_done : Out -- copy every parameter code from `params`
        into the core (xfer_out 0: n_params cycles; run LOAD afterwards) or from the core into `params`
        (xfer_out 1: n_params + 1 cycles); done pulses once at the end (idle core only)
    trace_count, trace_overflow : Out ; trace_raddr : In ; trace_rdata : Out -- the TraceBuffer's
        entries of the last command (emptied at every `start`; `entry_fields` describes an entry)

    The build's `clock_gating` is EPCore's.
    """

    BACKDOOR = ("pixels", "params")  # the memories a testbench may access directly

    def __init__(self, build: CoreBuild, max_sweeps: int = 8) -> None:
        self.core = core = EPCore(build)
        self.max_sweeps = max_sweeps
        members = core.signature.members
        self.entry = data.StructLayout({name: members[f"trace_{name}"].shape for name in TRACE_FIELDS})
        self.trace = TraceBuffer(self.entry, build.trace_entries_per_train(max_sweeps, True))
        self.forwarded = [name for name in members if not name.startswith(("pix_", "trace_"))]
        super().__init__({
            **{name: members[name] for name in self.forwarded},
            "pix_we": In(1), "pix_addr": In(range(INPUT_PIXELS)), "pix_data": In(8),
            "xfer_start": In(1), "xfer_out": In(1), "xfer_busy": Out(1), "xfer_done": Out(1),
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

        # Parameter transfers: one code per cycle between `params` and the core's parameter port.
        n = core.n_params
        m.submodules.params = params = Memory(shape=signed(core.data_bits), depth=n, init=[])
        p_read = params.read_port(domain="comb")
        p_write = params.write_port()
        addr = Signal(range(n + 1))
        out = Signal()
        # The core's read data of an address come two cycles later: pending, then late (written here).
        pending, late = Signal(), Signal()
        pending_addr, late_addr = Signal(range(n)), Signal(range(n))
        m.d.comb += [p_read.addr.eq(addr), p_write.addr.eq(late_addr), p_write.data.eq(core.param_rdata),
                     p_write.en.eq(late)]
        m.d.sync += [pending.eq(self.xfer_busy & out & (addr < n)), pending_addr.eq(addr), late.eq(pending),
                     late_addr.eq(pending_addr), self.xfer_done.eq(0)]
        with m.If(self.xfer_busy):
            with m.If(addr < n):
                m.d.sync += addr.eq(addr + 1)
                with m.If(out):
                    m.d.comb += core.param_raddr.eq(addr)
                with m.Else():
                    m.d.comb += [core.param_we.eq(1), core.param_addr.eq(addr), core.param_wdata.eq(p_read.data)]
            with m.Elif(~pending & ~late):
                m.d.sync += [self.xfer_busy.eq(0), self.xfer_done.eq(1)]
        with m.Elif(self.xfer_start & ~core.busy):
            m.d.sync += [self.xfer_busy.eq(1), addr.eq(0), out.eq(self.xfer_out)]

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
