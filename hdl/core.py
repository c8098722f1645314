"""The EP core: the units of hdl/ wired together with a sequencer that trains one sample (batch 1) or infers one."""

from __future__ import annotations

from amaranth.hdl import (Array, Cat, ClockDomain, ClockSignal, Const, DomainRenamer, Module, Mux, ResetSignal,
                          Signal, signed, unsigned)
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.config import INPUT_PIXELS
from golden.fixed_formats import MAX_MULTIPLIER_BITS

from .measure import Measure
from .noise_lanes import NoiseLanes
from .params import ParamAddress
from .plan import CoreBuild, Dst, Src
from .project import InputProjection
from .refresh import RefreshEngine, RefreshMem
from .relax import RelaxEngine, RelaxMem, SweepOrder
from .update import UpdateEngine, UpdateMem

CYCLE_BITS = 32


class CoreMode(enum.Enum, shape=2):
    """The command `start` runs."""

    TRAIN = 0   # one sample: projection, three phases, measurements, update, refresh, copies
    INFER = 1   # one sample: projection, free phase from rest, prediction
    LOAD = 2    # after host parameter writes: copies to the engines, refresh, copies back
    CLEAR = 3   # warm-start state to 0 (golden begin_epoch)


class TraceKind(enum.Enum, shape=1):
    """What a trace entry reports (EPCore's trace port)."""

    ITERATE = 0  # the RelaxEngine wrote the new values of one group of nodes of one layer
    MEASURE = 1  # Measure wrote one measured node


class EPCore(wiring.Component):
    """One online (batch 1) training sample or one inference, bit-exact with golden `train_samples` / `predict`.

    Units: InputProjection, RelaxEngine, Measure with NoiseLanes(consts.lanes) (lane L, the rounding
    generator, serves the UpdateEngine), UpdateEngine, RefreshEngine, all with `lanes` P lanes.

    One parameter memory: the UpdateEngine's GP, GM and B banks (hdl/layout.py `ParamLayout`) hold
    every conductance and bias once. InputProjection and RefreshEngine read the conductances in
    place through its shared read port (one address, every lane's GP and GM word the next cycle);
    the sequencer runs one engine at a time, so the port is driven by whichever runs (projection,
    refresh) or, while idle, by the host parameter port. The RelaxEngine keeps its own small copies:
    the rows of the conductances of layers >= 2 (each twice: from below and, transposed, from above),
    the biases and the reciprocals. A copy engine moves one word per cycle between the units' host
    ports, driven by a ROM of (source, bank, address, destination, bank, address) entries that the
    build computes from the layouts (hdl/plan.py `CoreBuild.programs`), in segments:

    - `sync_a` (after an update or a host load): GP (layers >= 2) and B -> Relax G and B;
    - then RefreshEngine runs, then `sync_b`: Refresh R -> Relax R;
    - `py`: Projection P -> Relax P, the one-hot label -> Relax Y;
    - `v_from_s0`, `v_from_zero`, `v_from_free`: a state into Relax V;
    - `v_to_free_s0`, `v_to_free`, `v_to_s1`: Relax V out (the prediction, argmax of the output
      codes with the lowest index on ties, is taken on the way);
    - `clear_s0`.

    TRAIN: pixels (the Update VIN memory is written as they stream), `py`, V <- S0 (warm_start) or 0,
    free phase (sign 0), V -> FREE and S0, prediction; if centered: sign -1 from the free state,
    V -> S1, V <- FREE; sign +1; Measure (S1 or FREE) -> M1 then (Relax V) -> M2 on the shared noise
    lanes; update; `sync_a`; refresh; `sync_b`. INFER: pixels, `py`, V <- 0, free phase, V -> FREE,
    prediction. LOAD: `sync_a`, refresh, `sync_b`. CLEAR: S0 <- 0.

    Constants of the build (the units take them as constants): the learning-rate shifts s_w, s_b
    (from lr_codes(cfg, consts, 0)), refresh's centered flag count (cfg.variant), max_samples.
    Run-time settings (sampled at `start`, held by the host while busy): beta_g (beta as a
    conductance code, F_g fraction bits; the RelaxEngine gets beta_c = beta_g << F_v), sn, samples
    (N), k_w, k_b, nsweeps, order, centered, warm_start, label.

    Trace (golden-vs-RTL verification): in every cycle with `trace_valid` the core reports one entry,
    in the order the hardware writes the values:

    - trace_kind ITERATE: the RelaxEngine wrote the new states of one group of nodes of one layer,
      all lanes of the group in the same cycle (one entry per group): trace_phase 0 free (TRAIN or
      INFER), 1 the -beta phase, 2 the +beta phase; trace_sweep the sweep 0..nsweeps-1 within the
      phase; trace_layer l (1..top); trace_index the group g (nodes j = g P + p for lane p);
      trace_mask the lanes with j < n_l; trace_data[p] the new code of node j.
    - trace_kind MEASURE: Measure wrote one measured node: trace_phase 0 for the first measurement
      (M1: the -beta state when centered, else the free state), 1 for the second (M2, the +beta
      state); trace_sweep 0; trace_layer the node's layer; trace_index the flat free-node index
      (golden n_off order); trace_mask 1; trace_data[0] the measured code (the other elements 0).

    `CoreBuild.trace_entries_per_train` gives the number of entries of a TRAIN sample.

    Ports
    -----
    start, mode : In ; busy, done (1-cycle pulse), cycles (of the last command), pred, hit : Out
    pix_valid, pix_data : In ; pix_ready : Out -- the 784 pixels of a TRAIN/INFER sample
    label, beta_g, sn, samples, k_w, k_b, nsweeps, order, centered, warm_start : In
    trace_valid, trace_kind, trace_phase, trace_sweep, trace_layer, trace_index, trace_mask, trace_data : Out
    param_we, param_addr, param_wdata : In -- a parameter code at golden's flat Layout index, written one
        cycle later (idle only; run LOAD afterwards); param_raddr : In ; param_rdata : Out (two cycles later,
        idle only): `ParamAddress` takes a cycle of its own, so that no multiplier chain reaches a memory's
        address in one cycle
    seed_load, seed_lane, seed_data : In -- NoiseLanes' seed port (idle only)
    state_raddr : In ; state_rdata : Out -- the warm-start state S0, flat node order (next cycle)
    state_we, state_waddr, state_wdata : In -- write S0 (idle only: a resumed run's warm-start state)
    recip_saturations : Out -- sum of the RefreshEngine's flag counts over its runs

    Clock gating (`clock_gating`, for simulation): the lane units of the RelaxEngine (NodeUpdate), the
    UpdateEngine (ConductanceUpdate, BiasUpdate) and the RefreshEngine (Reciprocal) get a clock that
    runs only while their engine is busy (the reciprocals: while it divides), hdl/gating.py. A TRAIN
    sample keeps every lane unit idle most of the time, and Verilator evaluates a unit only on its own
    clock's edges, so the simulation runs faster (docs/core.md). Results and cycle counts are the same
    (the units are fed and drained while busy, and reset with the core); the default, ungated, is the
    design to synthesize (a clock gated in logic does not belong in an FPGA's fabric).

    The cycles of every command are `CoreBuild`'s formulas (hdl/plan.py); docs/core.md works them out
    for DRN-XS.
    """

    def __init__(self, build: CoreBuild) -> None:
        self.build = b = build
        self.cfg, self.consts, self.lanes, self.clock_gating = b.cfg, b.consts, b.lanes, b.clock_gating
        c, L = b.consts, b.lanes
        self.sizes, self.top, self.n_free, self.n_params, self.out_off = b.sizes, b.top, b.n_free, b.n_params, b.out_off
        n, top = self.sizes, self.top
        self.layout = b.relax.layout
        w_shifts, b_shifts = b.shifts
        self.project = InputProjection(c, b.projection)
        self.relax = RelaxEngine(c, b.relax, clock_gating=b.clock_gating)
        self.measure = Measure(c, b.measure)
        self.noise = NoiseLanes(c.lanes)
        self.update = UpdateEngine(c, b.update, w_shifts, b_shifts, b.clock_gating)
        self.refresh = RefreshEngine(c, b.refresh, b.centered, b.clock_gating)
        self.data_bits, self.bank_bits, self.addr_bits = b.data_bits, b.bank_bits, b.addr_bits
        self.segments = b.segments
        self.rom_layout = data.StructLayout({"src": Src, "sbank": self.bank_bits, "saddr": self.addr_bits,
                                             "dst": Dst, "dbank": self.bank_bits, "daddr": self.addr_bits})
        self.rom = [dict(zip(("src", "sbank", "saddr", "dst", "dbank", "daddr"), e)) for e in b.rom]
        k_shape = data.ArrayLayout(unsigned(MAX_MULTIPLIER_BITS), top)
        super().__init__({
            "start": In(1), "mode": In(CoreMode), "busy": Out(1), "done": Out(1),
            "cycles": Out(unsigned(CYCLE_BITS)), "pred": Out(range(max(n[top], 2))), "hit": Out(1),
            "pix_valid": In(1), "pix_data": In(unsigned(8)), "pix_ready": Out(1),
            "label": In(range(max(n[top], 2))), "beta_g": In(unsigned(c.g_bits)), "sn": In(unsigned(MAX_MULTIPLIER_BITS)),
            "samples": In(range(b.max_samples + 1)), "k_w": In(k_shape), "k_b": In(k_shape),
            "nsweeps": In(unsigned(8)), "order": In(SweepOrder), "centered": In(1), "warm_start": In(1),
            "param_we": In(1), "param_addr": In(range(self.n_params)), "param_wdata": In(signed(self.data_bits)),
            "param_raddr": In(range(self.n_params)), "param_rdata": Out(signed(self.data_bits)),
            "seed_load": In(1), "seed_lane": In(range(c.lanes + 1)), "seed_data": In(32),
            "state_raddr": In(range(self.n_free)), "state_rdata": Out(signed(c.v_bits)),
            "state_we": In(1), "state_waddr": In(range(self.n_free)), "state_wdata": In(signed(c.v_bits)),
            "recip_saturations": Out(unsigned(CYCLE_BITS)),
            "trace_valid": Out(1), "trace_kind": Out(TraceKind), "trace_phase": Out(2), "trace_sweep": Out(8),
            "trace_layer": Out(range(top + 1)), "trace_index": Out(range(max(self.n_free, max(self.relax.groups)) + 1)),
            "trace_mask": Out(L), "trace_data": Out(data.ArrayLayout(signed(c.v_bits), L)),
        })

    # ---- gateware ------------------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        # Every register resets from a registered copy of the domain's reset: logic that depends on a
        # top-level input (as every reset term does on `rst`) is evaluated by Verilator on both clock
        # edges and again after them; from a register it runs once per cycle. The reset takes effect
        # (and ends) one cycle later.
        m = Module()
        m.domains.core = core = ClockDomain(local=True)
        reset = Signal(reset_less=True)
        m.d.sync += reset.eq(ResetSignal())
        m.d.comb += [core.clk.eq(ClockSignal()), core.rst.eq(reset)]
        m.submodules.datapath = DomainRenamer("core")(self._datapath())
        return m

    def _datapath(self) -> Module:
        m = Module()
        c, L, top, n = self.consts, self.lanes, self.top, self.sizes
        proj, relax, meas, noise, upd, ref = (self.project, self.relax, self.measure, self.noise, self.update,
                                              self.refresh)
        for name, unit in (("project", proj), ("relax", relax), ("measure", meas), ("noise", noise),
                           ("update", upd), ("refresh", ref)):
            m.submodules[name] = unit
        nl = c.lanes

        # Noise: Measure draws lanes 0..L-1, the update the rounding lane.
        m.d.comb += noise.draw.eq(Cat(meas.draw, upd.draw))
        for q in range(nl):
            m.d.comb += meas.code[q].eq(noise.code[q])
        m.d.comb += upd.word.eq(noise.word[nl])

        # Flat state memories.
        flat = {}
        for name in ("s0", "free", "s1"):
            mem = Memory(shape=signed(c.v_bits), depth=self.n_free, init=[])
            m.submodules[f"{name}_mem"] = mem
            flat[name] = (mem.read_port(), mem.write_port())

        # Copy ROM.
        m.submodules.rom = rom = Memory(shape=self.rom_layout, depth=len(self.rom), init=self.rom)
        rom_r = rom.read_port(domain="comb")
        pc = Signal(range(len(self.rom) + 1))
        end = Signal.like(pc)
        copying = Signal()
        e = rom_r.data
        m.d.comb += rom_r.addr.eq(pc)

        # Node maps (Measure's flat node index -> engine bank/address).
        nodes = [self.build.node_word(v) for v in range(self.n_free)]
        node_bank = Array(Const(b, self.bank_bits) for b, _ in nodes)
        node_addr = Array(Const(x, self.addr_bits) for _, x in nodes)

        # Run settings.
        label = Signal.like(self.label)
        centered, warm = Signal(), Signal()
        meas_second = Signal()   # 0: first phase -> M1, 1: second -> M2
        measuring = Signal()

        # Stage B of the copy: the entry's destination, one cycle after its source address.
        b_valid = Signal()
        b_src = Signal(Src)
        b_dst = Signal(Dst)
        b_dbank = Signal(self.bank_bits)
        b_daddr = Signal(self.addr_bits)
        b_const = Signal(signed(self.data_bits))
        b_sbank = Signal(self.bank_bits)
        m.d.sync += [b_valid.eq(copying & (pc < end)), b_src.eq(e.src), b_dst.eq(e.dst), b_dbank.eq(e.dbank),
                     b_daddr.eq(e.daddr), b_sbank.eq(e.sbank),
                     b_const.eq(Mux(e.src == Src.LABEL, e.saddr == label, 0))]
        with m.If(e.src == Src.PROJ):
            m.d.sync += b_const.eq(proj.rd_data)

        # Source read addresses (stage A) and data (stage B).
        m.d.comb += [proj.rd_index.eq(e.saddr)]
        busy = self.busy
        m.d.comb += [upd.rd_mem.eq(Mux(e.src == Src.UPD_B, UpdateMem.B, UpdateMem.GP)), upd.rd_bank.eq(e.sbank),
                     upd.rd_addr.eq(e.saddr), ref.rd_mem.eq(RefreshMem.R), ref.rd_bank.eq(e.sbank),
                     ref.rd_addr.eq(e.saddr),
                     relax.rd_bank.eq(b_sbank), relax.rd_addr.eq(e.saddr)]  # Relax's bank picks the data
        for name in ("s0", "free", "s1"):
            m.d.comb += flat[name][0].addr.eq(e.saddr)
        src_data = Signal(signed(self.data_bits))
        with m.Switch(b_src):
            with m.Case(Src.ZERO, Src.LABEL, Src.PROJ):
                m.d.comb += src_data.eq(b_const)
            with m.Case(Src.S0):
                m.d.comb += src_data.eq(flat["s0"][0].data)
            with m.Case(Src.FREE):
                m.d.comb += src_data.eq(flat["free"][0].data)
            with m.Case(Src.S1):
                m.d.comb += src_data.eq(flat["s1"][0].data)
            with m.Case(Src.RELAX_V):
                m.d.comb += src_data.eq(relax.rd_data)
            with m.Case(Src.UPD_GP, Src.UPD_B):
                m.d.comb += src_data.eq(upd.rd_data)
            with m.Case(Src.REF_R):
                m.d.comb += src_data.eq(ref.rd_data)

        # Host parameter port: flat index -> the parameter memory's GP, GM or B word (computed, no table).
        m.submodules.param_w = pm_w = ParamAddress(upd.params)
        m.submodules.param_r = pm_r = ParamAddress(upd.params)
        m.d.comb += [pm_w.index.eq(self.param_addr), pm_r.index.eq(self.param_raddr)]

        def param_mem(a: ParamAddress) -> Mux:
            return Mux(a.bias, UpdateMem.B, Mux(a.minus, UpdateMem.GM, UpdateMem.GP))

        with m.If(~busy):
            m.d.comb += [upd.rd_mem.eq(param_mem(pm_r)), upd.rd_bank.eq(pm_r.bank), upd.rd_addr.eq(pm_r.addr),
                         flat["s0"][0].addr.eq(self.state_raddr)]
        m.d.comb += [self.param_rdata.eq(upd.rd_data), self.state_rdata.eq(flat["s0"][0].data)]

        # The shared parameter read port: the one engine that runs addresses it (one at a time).
        m.d.comb += [proj.par_gp.eq(upd.rd_gp), proj.par_gm.eq(upd.rd_gm),
                     ref.par_gp.eq(upd.rd_gp), ref.par_gm.eq(upd.rd_gm)]
        with m.If(proj.busy):
            m.d.comb += upd.rd_addr.eq(proj.par_addr)
        with m.Elif(ref.busy):
            m.d.comb += upd.rd_addr.eq(ref.par_addr)

        # Seeds.
        m.d.comb += [noise.seed_load.eq(self.seed_load & ~busy), noise.seed_lane.eq(self.seed_lane),
                     noise.seed_data.eq(self.seed_data)]

        # Destination writes (stage B), host parameter writes, VIN writes while streaming, M writes.
        wr_valid = b_valid
        vin_rom = Memory(shape=signed(c.vin_bits), depth=256, init=[int(v) for v in c.vin_table])
        m.submodules.vin_rom = vin_rom
        vin_r = vin_rom.read_port(domain="comb")
        pix_idx = Signal(range(INPUT_PIXELS + 1))
        streaming = Signal()
        m.d.comb += vin_r.addr.eq(self.pix_data)
        taken = streaming & self.pix_valid & proj.pix_ready
        m.d.comb += [proj.pix_valid.eq(streaming & self.pix_valid), proj.pix_data.eq(self.pix_data),
                     self.pix_ready.eq(streaming & proj.pix_ready)]
        with m.If(taken):
            m.d.sync += pix_idx.eq(pix_idx + 1)

        # Update write port.
        param_we, param_wdata = Signal(), Signal.like(self.param_wdata)  # beside their ParamAddress stage
        m.d.sync += [param_we.eq(self.param_we), param_wdata.eq(self.param_wdata)]
        with m.If(~busy):
            m.d.comb += [upd.wr_en.eq(param_we), upd.wr_mem.eq(param_mem(pm_w)),
                         upd.wr_bank.eq(pm_w.bank), upd.wr_addr.eq(pm_w.addr),
                         upd.wr_data.eq(param_wdata)]
        with m.Elif(streaming):
            m.d.comb += [upd.wr_en.eq(taken), upd.wr_mem.eq(UpdateMem.VIN), upd.wr_bank.eq(0),
                         upd.wr_addr.eq(pix_idx), upd.wr_data.eq(vin_r.data)]
        with m.Elif(measuring):
            m.d.comb += [upd.wr_en.eq(meas.m_we), upd.wr_mem.eq(Mux(meas_second, UpdateMem.M2, UpdateMem.M1)),
                         upd.wr_bank.eq(node_bank[meas.m_addr]), upd.wr_addr.eq(node_addr[meas.m_addr]),
                         upd.wr_data.eq(meas.m_data)]
        # Measure's V reads: the first phase from S1 or FREE, the second from Relax V.
        meas_src_s1 = Signal()
        meas_bank = Signal(self.bank_bits)
        m.d.sync += meas_bank.eq(node_bank[meas.v_addr])
        with m.If(measuring):
            m.d.comb += [flat["s1"][0].addr.eq(meas.v_addr), flat["free"][0].addr.eq(meas.v_addr),
                         relax.rd_bank.eq(meas_bank), relax.rd_addr.eq(node_addr[meas.v_addr])]
        m.d.comb += meas.v_data.eq(Mux(meas_second, relax.rd_data,
                                       Mux(meas_src_s1, flat["s1"][0].data, flat["free"][0].data)))

        relax_mem = {Dst.RELAX_G: RelaxMem.G, Dst.RELAX_B: RelaxMem.B, Dst.RELAX_R: RelaxMem.R,
                     Dst.RELAX_P: RelaxMem.P, Dst.RELAX_Y: RelaxMem.Y, Dst.RELAX_V: RelaxMem.V}
        m.d.comb += [relax.wr_bank.eq(b_dbank), relax.wr_addr.eq(b_daddr), relax.wr_data.eq(src_data)]
        for d, mem in relax_mem.items():
            with m.If(b_dst == d):
                m.d.comb += [relax.wr_mem.eq(mem), relax.wr_en.eq(wr_valid)]
        for name, dsts in (("s0", (Dst.FREE_S0, Dst.S0)), ("free", (Dst.FREE, Dst.FREE_S0)), ("s1", (Dst.S1,))):
            w = flat[name][1]
            m.d.comb += [w.addr.eq(b_daddr), w.data.eq(src_data),
                         w.en.eq(wr_valid & sum((b_dst == d for d in dsts), Const(0)).bool())]
        with m.If(~busy):  # the host restores a warm-start state (a resumed run)
            m.d.comb += [flat["s0"][1].addr.eq(self.state_waddr), flat["s0"][1].data.eq(self.state_wdata),
                         flat["s0"][1].en.eq(self.state_we)]

        # Prediction: argmax over the output nodes as they are copied out of Relax V.
        best = Signal(signed(c.v_bits))
        j_out = Signal(range(max(n[top], 2)))
        m.d.comb += j_out.eq(b_daddr - self.out_off)
        with m.If(wr_valid & ((b_dst == Dst.FREE) | (b_dst == Dst.FREE_S0)) & (b_daddr >= self.out_off)):
            with m.If((b_daddr == self.out_off) | (src_data > best)):
                m.d.sync += [best.eq(src_data), self.pred.eq(j_out)]

        # Unit controls.
        m.d.comb += [relax.nsweeps.eq(self.nsweeps), relax.order.eq(self.order),
                     relax.beta_c.eq(self.beta_g << c.Fv), ref.beta_g.eq(self.beta_g),
                     meas.sn.eq(self.sn), meas.samples.eq(self.samples),
                     upd.k_w.eq(self.k_w), upd.k_b.eq(self.k_b)]
        flags = self.recip_saturations
        with m.If(ref.done):
            m.d.sync += flags.eq(flags + ref.flags)

        with m.If(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # Trace: the RelaxEngine's group write-backs and Measure's writes (never in the same cycle).
        relax_phase = Signal(2)
        node_layer = Array(Const(max(k for k in range(1, top + 1) if int(self.layout.n_off[k]) <= v), range(top + 1))
                           for v in range(self.n_free))
        with m.If(relax.wb_valid):
            m.d.comb += [self.trace_valid.eq(1), self.trace_kind.eq(TraceKind.ITERATE),
                         self.trace_phase.eq(relax_phase), self.trace_sweep.eq(relax.wb_sweep),
                         self.trace_layer.eq(relax.wb_layer), self.trace_index.eq(relax.wb_group),
                         self.trace_mask.eq(relax.wb_mask), self.trace_data.eq(relax.wb_data)]
        with m.Elif(measuring & meas.m_we):
            m.d.comb += [self.trace_valid.eq(1), self.trace_kind.eq(TraceKind.MEASURE),
                         self.trace_phase.eq(meas_second), self.trace_layer.eq(node_layer[meas.m_addr]),
                         self.trace_index.eq(meas.m_addr), self.trace_mask.eq(1),
                         self.trace_data[0].eq(meas.m_data)]

        def copy(name: str, then: str) -> None:
            """States `name` (start the segment) and the copy itself, then `then`."""
            start, length = self.segments[name]
            with m.State(f"C_{name}"):
                m.d.sync += [pc.eq(start), end.eq(start + length), copying.eq(1)]
                m.next = f"W_{name}"
            with m.State(f"W_{name}"):
                with m.If(pc < end):
                    m.d.sync += pc.eq(pc + 1)
                with m.Elif(~b_valid):
                    m.d.sync += copying.eq(0)
                    m.next = then

        def run(name: str, unit, then: str, stmts=()) -> None:
            with m.State(f"R_{name}"):
                m.d.comb += unit.start.eq(1)
                for s in stmts:
                    m.d.comb += s
                m.next = f"D_{name}"
            with m.State(f"D_{name}"):
                for s in stmts:
                    m.d.comb += s
                with m.If(unit.done):
                    m.next = then

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [busy.eq(1), self.cycles.eq(0), label.eq(self.label), centered.eq(self.centered),
                                 warm.eq(self.warm_start), pix_idx.eq(0), meas_second.eq(0)]
                    with m.Switch(self.mode):
                        with m.Case(CoreMode.TRAIN, CoreMode.INFER):
                            m.d.sync += streaming.eq(1)
                            m.next = "R_proj"
                        with m.Case(CoreMode.LOAD):
                            m.next = "C_sync_a"
                        with m.Case(CoreMode.CLEAR):
                            m.next = "C_clear_s0"
                    mode = Signal(CoreMode)
                    m.d.sync += mode.eq(self.mode)
            with m.State("R_proj"):
                m.d.comb += proj.start.eq(1)
                m.next = "D_proj"
            with m.State("D_proj"):
                with m.If(proj.done):
                    m.d.sync += streaming.eq(0)
                    m.next = "C_py"
            copy("py", "V0")
            with m.State("V0"):
                with m.If((mode == CoreMode.TRAIN) & warm):
                    m.next = "C_v_from_s0"
                with m.Else():
                    m.next = "C_v_from_zero"
            copy("v_from_s0", "R_free")
            copy("v_from_zero", "R_free")
            run("free", relax, "V1", [relax.sign.eq(0), relax_phase.eq(0)])
            with m.State("V1"):
                with m.If(mode == CoreMode.TRAIN):
                    m.next = "C_v_to_free_s0"
                with m.Else():
                    m.next = "C_v_to_free"
            copy("v_to_free", "DONE")
            copy("v_to_free_s0", "V2")
            with m.State("V2"):
                m.d.sync += self.hit.eq(self.pred == label)
                with m.If(centered):
                    m.next = "R_neg"
                with m.Else():
                    m.next = "R_pos"
            run("neg", relax, "C_v_to_s1", [relax.sign.eq(-1), relax_phase.eq(1)])
            copy("v_to_s1", "C_v_from_free")
            copy("v_from_free", "R_pos")
            run("pos", relax, "R_m1", [relax.sign.eq(1), relax_phase.eq(2)])
            with m.State("R_m1"):
                m.d.comb += meas.start.eq(1)
                m.d.sync += [measuring.eq(1), meas_src_s1.eq(centered)]
                m.next = "D_m1"
            with m.State("D_m1"):
                with m.If(meas.done):
                    m.d.sync += meas_second.eq(1)
                    m.d.comb += meas.start.eq(1)
                    m.next = "D_m2"
            with m.State("D_m2"):
                with m.If(meas.done & ~meas.start):
                    m.d.sync += [measuring.eq(0), meas_second.eq(0)]
                    m.next = "R_upd"
            run("upd", upd, "C_sync_a")
            copy("sync_a", "R_ref")
            run("ref", ref, "C_sync_b")
            copy("sync_b", "DONE")
            copy("clear_s0", "DONE")
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.d.sync += busy.eq(0)
                m.next = "IDLE"
        return m
