"""The EP core behind its AXI4-Lite register file: the top level a board or a simulator drives."""

from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, ClockSignal, DomainRenamer, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from golden.config import INPUT_PIXELS

from .axil import AXIL_PREFIX, RegisterFile
from .core import CoreMode, EPCore
from .plan import CoreBuild
from .regmap.core import core_register_map
from .regmap.language import DATA_BITS

WINDOW_BITS = 2 * DATA_BITS  # an element of the MEM_* window: {MEM_*DATA_HI, MEM_*DATA_LO}


class EPTop(wiring.Component):
    """EPCore(build) and RegisterFile(core_register_map(build.cfg)): only the `s_axil_*` ports, clock and reset.

    The registers (docs/registers.md) drive the core directly: the host must not change run settings
    while STATUS.busy. What the top adds to the core:

    - commands: CTRL.start starts the core when it is idle (else ERRORS.start_busy); CTRL.soft_reset
      resets the core's registers (its memories are kept); STATUS.done is sticky until the next start;
    - the MEM_* window: an access pointer loaded by MEM_ADDR and advanced by each MEM_WDATA_LO write
      and MEM_RDATA_LO read, over PARAMS (the core's parameter port), STATE (the warm-start state)
      and PIXELS (a 784-byte memory the top streams into the core at TRAIN and INFER). Writes past
      the end of a space are ignored.
      The element at the pointer is read every cycle, so MEM_RDATA_LO is valid whenever the bus
      reads it (a parameter two cycles after the pointer moves, the others one: the AXI slave's reads
      are at least two cycles apart, and a read waits for the response of the write before it). Accesses while busy are
      ignored and set ERRORS.mem_busy;
    - counters: TRAIN and INFER samples, TRAIN hits, saturated reciprocals since clear_counters
      (ERRORS.recip_sat when it grows), and a 64-bit busy-cycle counter read as LO then HI.

    The build's `clock_gating` is EPCore's (a simulation speed-up; off for synthesis).
    """

    def __init__(self, build: CoreBuild, addr_width: int | None = None) -> None:
        self.build, self.cfg = build, build.cfg
        self.regmap = core_register_map(build.cfg, build.max_samples)
        self.core = EPCore(build)
        self.regfile = RegisterFile(self.regmap, addr_width)
        if self.core.data_bits > WINDOW_BITS:
            raise ValueError(f"parameter codes of {self.core.data_bits} bits do not fit the {WINDOW_BITS}-bit window")
        super().__init__({name: member for name, member in self.regfile.signature.members.items()
                          if name.startswith(AXIL_PREFIX)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        core, rf = self.core, self.regfile
        r = rf.regs
        m.submodules.regfile = rf
        # The core's clock domain: reset by `rst` or CTRL.soft_reset (EPCore registers its reset input).
        m.domains.soft = soft = ClockDomain(local=True)
        m.d.comb += [soft.clk.eq(ClockSignal()), soft.rst.eq(ResetSignal() | r.ctrl.soft_reset)]
        m.submodules.core = DomainRenamer("soft")(core)
        for name in self.signature.members:
            outer, inner = getattr(self, name), getattr(rf, name)
            m.d.comb += inner.eq(outer) if self.signature.members[name].flow == wiring.In else outer.eq(inner)
        top = len(self.cfg.sizes) - 1
        busy = core.busy

        # Commands and status.
        start = r.ctrl.start & ~busy
        running = Signal(CoreMode)
        done = Signal()
        with m.If(start):
            m.d.sync += [running.as_value().eq(r.ctrl.mode), done.eq(0)]
        with m.If(core.done):
            m.d.sync += done.eq(1)
        m.d.comb += [core.start.eq(start), core.mode.as_value().eq(r.ctrl.mode),
                     r.status.busy.eq(busy), r.status.done.eq(done), r.status.hit.eq(core.hit),
                     r.prediction.eq(core.pred)]

        # Run settings.
        command = Mux(start, r.ctrl.mode, running.as_value())  # the running command's, not a later write's
        infer = command == CoreMode.INFER.value
        m.d.comb += [core.label.eq(r.label), core.beta_g.eq(r.beta_g), core.sn.eq(r.noise_sn), core.samples.eq(r.noise_n),
                     core.nsweeps.eq(Mux(infer, r.sweeps.eval, r.sweeps.train)),
                     core.order.as_value().eq(r.settings.order), core.centered.eq(r.settings.centered),
                     core.warm_start.eq(r.settings.warm_start),
                     core.seed_load.eq(r.seed_data_wstb), core.seed_lane.eq(r.seed_lane),
                     core.seed_data.eq(r.seed_data)]
        for l in range(1, top + 1):
            m.d.comb += [core.k_w[l - 1].eq(getattr(r, f"lr_k_w{l}")), core.k_b[l - 1].eq(getattr(r, f"lr_k_b{l}"))]

        # Counters.
        clear = r.ctrl.clear_counters
        samples, hits, sat_base = Signal(32), Signal(32), Signal(32)
        sample_end = core.done & ((running == CoreMode.TRAIN) | (running == CoreMode.INFER))
        with m.If(clear):
            m.d.sync += [samples.eq(0), hits.eq(0), sat_base.eq(core.recip_saturations)]
        with m.Elif(sample_end):
            m.d.sync += [samples.eq(samples + 1), hits.eq(hits + ((running == CoreMode.TRAIN) & core.hit))]
        sat_seen = Signal(32)
        m.d.sync += sat_seen.eq(core.recip_saturations)
        cycles, cycles_prev, cycles_hi = Signal(64), Signal(64), Signal(32)
        m.d.sync += [cycles_prev.eq(cycles), cycles.eq(Mux(clear, 0, cycles + busy))]
        with m.If(r.cycle_count_lo_rstb):  # the bus sampled LO from `cycles` one cycle ago
            m.d.sync += cycles_hi.eq(cycles_prev[32:])
        m.d.comb += [r.sample_count.eq(samples), r.hit_count.eq(hits),
                     r.recip_sat_count.eq(core.recip_saturations - sat_base),
                     r.cycle_count_lo.eq(cycles[:32]), r.cycle_count_hi.eq(cycles_hi)]

        # The MEM_* window: read the element at the pointer every cycle (see the class docstring).
        space = r.mem_space.space
        wstb, rstb = r.mem_wdata_lo_wstb, r.mem_rdata_lo_rstb
        access = (wstb | rstb) & ~busy
        ptr, ptr_next = Signal(32), Signal(32, init=1)  # ptr + 1 kept ready: no adder between a strobe and ParamAddress
        addr = Signal(32)
        m.d.comb += addr.eq(Mux(r.mem_addr_wstb, r.mem_addr, Mux(access, ptr_next, ptr)))
        m.d.sync += [ptr.eq(addr), ptr_next.eq(addr + 1)]
        spaces = dict(self.regmap["MEM_SPACE"].field("space").values)

        m.submodules.pixels = pixels = Memory(shape=8, depth=INPUT_PIXELS, init=[])
        pix_r, pix_w = pixels.read_port(), pixels.write_port()
        wdata = Cat(r.mem_wdata_lo, r.mem_wdata_hi)
        m.d.comb += [core.param_raddr.eq(addr), core.state_raddr.eq(addr),
                     core.param_addr.eq(ptr), core.param_wdata.eq(wdata),
                     core.param_we.eq(wstb & ~busy & (space == spaces["PARAMS"]) & (ptr < core.n_params)),
                     core.state_waddr.eq(ptr), core.state_wdata.eq(wdata),
                     core.state_we.eq(wstb & ~busy & (space == spaces["STATE"]) & (ptr < core.n_free)),
                     pix_w.addr.eq(ptr), pix_w.data.eq(r.mem_wdata_lo),
                     pix_w.en.eq(wstb & ~busy & (space == spaces["PIXELS"]) & (ptr < INPUT_PIXELS))]
        element = Signal(WINDOW_BITS)
        with m.Switch(space):
            with m.Case(spaces["PARAMS"]):
                m.d.comb += element.eq(core.param_rdata.as_signed())
            with m.Case(spaces["STATE"]):
                m.d.comb += element.eq(core.state_rdata.as_signed())
            with m.Case(spaces["PIXELS"]):
                m.d.comb += element.eq(pix_r.data)
        rdata_hi = Signal(32)
        with m.If(rstb):  # the element the bus read one cycle ago is still on `element`
            m.d.sync += rdata_hi.eq(element[32:])
        m.d.comb += [r.mem_rdata_lo.eq(element[:32]), r.mem_rdata_hi.eq(rdata_hi)]
        m.d.comb += r.errors_set.as_value().eq(Cat(
            core.recip_saturations != sat_seen,
            r.ctrl.start & busy,
            (wstb | rstb) & busy))

        # Pixel streaming: the same read-ahead as the window, on the pixel memory's one read port.
        pix_idx = Signal(range(INPUT_PIXELS + 1))
        streaming = Signal()
        taken = core.pix_valid & core.pix_ready
        with m.If(r.ctrl.soft_reset):
            m.d.sync += streaming.eq(0)
        with m.Elif(start & ((r.ctrl.mode == CoreMode.TRAIN.value) | infer)):
            m.d.sync += [streaming.eq(1), pix_idx.eq(0)]
        with m.Elif(taken):
            m.d.sync += pix_idx.eq(pix_idx + 1)
            with m.If(pix_idx == INPUT_PIXELS - 1):
                m.d.sync += streaming.eq(0)
        m.d.comb += [core.pix_valid.eq(streaming), core.pix_data.eq(pix_r.data),
                     pix_r.addr.eq(Mux(busy | start, Mux(start, 0, pix_idx + taken), addr))]
        return m
