"""Refresh engine: totals den_j and reciprocals after a weight update (docs/fixed-point.md 3).

`golden.fixed_ep.refresh` is the reference; tests/test_hdl_refresh.py checks it bit for bit.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, MemoryData, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.fixed_formats import FixedConstants

from .gating import gated_domain
from .layout import REFRESH_DRAIN, RefreshLayout
from .recip import Reciprocal

CYCLE_BITS = 32


class RefreshMem(enum.Enum, shape=1):
    """The engine's memories the host reads (`rd_*`)."""

    DEN = 0  # totals den_j of the free nodes
    R = 1    # reciprocals: hidden nodes, then the output nodes' for sign -1, 0, +1


class RefreshEngine(wiring.Component):
    """Section 3 after a weight update, bit-exact with golden `refresh` (den, recip, recip_out, its count).

    Lanes: lane p owns the nodes j = p, p + P, ... of every free layer (groups g of P nodes, G_l =
    ceil(n_l / P) groups), as in RelaxEngine and InputProjection.

    Sums (one conductance word per lane per cycle, two in layer 1), read through the core's shared
    parameter port (`par_addr` -> `par_gp`, `par_gm` the next cycle, the UpdateEngine's GP and GM
    banks in the `ParamLayout`): every conductance once, in the order layer l, group g, row i, at
    address g_base[l] + i G_l + g. Layer 1 reads W1[i, j] (GP) and W1[784 + i, j] (GM) of its node
    j = g P + p together and lane p adds W+ + W- to its column sum. In a layer l >= 2 lane p adds
    W_l[i, j] to its column sum (the total from below of
    node j) and an adder tree over the lanes sums row i's P conductances, which are added to node i of
    layer l - 1 (its total from above) by a read-modify-write of a second totals memory (a row's
    total is complete after the layer's last group). Column sums are written when a group's last row
    has been read. Sums are exact (no saturation anywhere).

    Divisions. One `Reciprocal` per lane (P units). A job is one group of nodes: each hidden group
    (den_j), then every output group three times (den_j + s beta_g for s = -1, 0, +1). All lanes start
    together, d = total from below + total from above (+ s beta_g); jobs are issued every
    `Reciprocal.latency` = steps + 1 cycles (a divider that saturates is done earlier and holds its
    result); the results of a job are written while the next one starts. `flags` counts the
    denominators <= 0 of the nodes (padding lanes j >= n_l excluded) and of the output's signs in use
    (sign -1 only when `centered`), golden refresh's return value, for the last run.

    Memories (bank p holds lane p's words; `node_word`, `out_word` locate a quantity):
    DEN: den_j of layer l at v_base[l] + g (RelaxEngine's node layout); R: recip_j of a hidden node
    at its node address, recip_out[s + 1][j] at v_base[top] + (s + 1) G_top + g (RelaxEngine's R
    layout). `r_banks`, `lo_banks`, `hi_banks` are the memories' MemoryData (a simulation may read
    and write them directly; DEN = lo + hi).

    Ports
    -----
    start : In(1)
        Accepted when idle; `beta_g` is sampled in the same cycle.
    beta_g : In(unsigned(g_bits))
        beta as a conductance code (F_g fraction bits).
    busy : Out(1)
        From the cycle after an accepted start through the `done` cycle; the host ports write
        nothing and `rd_*` does not read while it is high.
    done : Out(1)
        One-cycle pulse at the end of the run.
    cycles : Out(unsigned(32))
        Cycles of the last run, from the cycle after `start` to `done` inclusive.
    flags : Out(unsigned(32))
        Saturated denominators of the last run (see above).
    par_addr : Out ; par_gp, par_gm : In(ArrayLayout(unsigned(g_bits), P))
        The shared parameter read port (while busy).
    rd_mem (DEN or R), rd_bank, rd_addr : In ; rd_data : Out(unsigned)
        Host read, data in the next cycle (while idle).

    Cycles (RefreshLayout.cycle_count): words + jobs * (steps + 1) + 5, words = 784 G_1 + sum_{l >= 2} G_l n_{l-1}
    (the depth of a GP bank: layer 1's 1568 n_1 conductances take 784 G_1 cycles, two per lane per
    cycle, the layers above one per lane per cycle), jobs = sum_{hidden l} G_l + 3 G_top, steps =
    min(recip_bits, F_g + F_r + 1); 5 = 2 drain cycles, the first totals' read, the last results'
    write, done. DRN-XS (1568-100-10) with P = 16 and the default formats: 5488 + 100 + 10 * 29 + 5
    = 5883 cycles. The divisions do not overlap the sums (a hidden node's total is complete only
    after the layer above).
    """

    def __init__(self, consts: FixedConstants, params: RefreshLayout, centered: bool,
                 clock_gating: bool = False) -> None:
        self.consts, self.centered, self.clock_gating = consts, bool(centered), clock_gating
        self.params = pl = params
        self.lanes = L = pl.lanes
        n, top = self.sizes, self.top = pl.sizes, pl.top
        self.log_lanes = L.bit_length() - 1
        self.layout = pl.layout
        self.groups, self.rows, self.g_base, self.v_base = pl.groups, pl.rows, pl.g_base, pl.v_base
        self.words, self.v_depth, self.hidden_depth, self.r_depth = pl.words, pl.v_depth, pl.hidden_depth, pl.r_depth
        self.jobs, self.steps, self.latency = pl.jobs, pl.steps, pl.latency
        fan = max((n[l - 1] + (n[l + 1] if l < top else 0)) for l in range(1, top + 1))
        self.den_bits = consts.g_bits + fan.bit_length()
        self.d_bits = max(self.den_bits, consts.g_bits) + 2  # den + s beta_g for any beta_g code, signed
        self.lo_banks = [MemoryData(shape=unsigned(self.den_bits), depth=self.v_depth, init=[]) for _ in range(L)]
        self.hi_banks = [MemoryData(shape=unsigned(self.den_bits), depth=self.hidden_depth, init=[])
                         for _ in range(L)]
        self.r_banks = [MemoryData(shape=unsigned(consts.recip_bits), depth=self.r_depth, init=[])
                        for _ in range(L)]
        bank_bits = max(self.log_lanes, 1)
        addr_bits = max(self.r_depth - 1, 1).bit_length()
        words = data.ArrayLayout(unsigned(consts.g_bits), L)
        super().__init__({
            "start": In(1), "beta_g": In(unsigned(consts.g_bits)), "busy": Out(1), "done": Out(1),
            "cycles": Out(unsigned(CYCLE_BITS)), "flags": Out(unsigned(CYCLE_BITS)),
            "par_addr": Out(range(pl.gp_depth)), "par_gp": In(words), "par_gm": In(words),
            "rd_mem": In(RefreshMem), "rd_bank": In(unsigned(bank_bits)), "rd_addr": In(unsigned(addr_bits)),
            "rd_data": Out(unsigned(max(self.den_bits + 1, consts.recip_bits))),
        })

    # ---- host side: addresses ----------------------------------------------------------------

    def node_word(self, node: int) -> tuple[int, int]:
        """(bank, address) of free node `node` (golden's n_off order) in DEN and, for a hidden node, in R."""
        return self.params.node_word(node)

    def out_word(self, sign: int, j: int) -> tuple[int, int]:
        """(bank, address) of recip_out[sign + 1][j] in R."""
        return j % self.lanes, self.v_base[self.top] + (sign + 1) * self.groups[self.top] + j // self.lanes

    # ---- gateware ----------------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        c, L, lg, top, n = self.consts, self.lanes, self.log_lanes, self.top, self.sizes

        def bank(name: str, data: list[MemoryData], p: int) -> Memory:
            mem = Memory(data=data[p])
            setattr(m.submodules, f"{name}{p}", mem)
            return mem

        lo_mem = [bank("lo", self.lo_banks, p) for p in range(L)]
        hi_mem = [bank("hi", self.hi_banks, p) for p in range(L)]
        r_mem = [bank("r", self.r_banks, p) for p in range(L)]
        lo_w, hi_w, r_w = ([x.write_port() for x in mems] for mems in (lo_mem, hi_mem, r_mem))
        lo_r, r_r = ([x.read_port() for x in mems] for mems in (lo_mem, r_mem))
        hi_r = [x.read_port(transparent_for=(w,)) for x, w in zip(hi_mem, hi_w)]
        units = [Reciprocal(self.d_bits, c.shift_v, c.recip_bits) for _ in range(L)]
        for u in units:
            assert u.latency == self.latency

        def const_of(sel: Signal, values: list[int], shape) -> Signal:
            """values[sel] for the layer index `sel` (a constant mux)."""
            out = Signal(shape)
            with m.Switch(sel):
                for l in range(1, top + 1):
                    with m.Case(l):
                        m.d.comb += out.eq(values[l])
            return out

        # ---- sums: one parameter address per cycle, g_base[l] + i G_l + g ----
        sl = Signal(range(top + 2))
        sg = Signal(range(max(self.groups) + 1))
        si = Signal(range(max(self.rows) + 1))
        addr = Signal(range(self.words + max(self.groups) + 1))
        s_gbase = const_of(sl, self.g_base, range(self.words + 1))
        s_gnext = const_of(sl, self.g_base[1:], range(self.words + 1))
        s_groups = const_of(sl, self.groups, range(max(self.groups) + 1))
        s_rows = const_of(sl, self.rows, range(max(self.rows) + 1))
        s_nodes = const_of(sl, n, range(max(n) + 1))
        s_vbase = const_of(sl, self.v_base, range(self.v_depth + 1))
        s_vbelow = const_of(sl, [0, 0] + self.v_base[1:top], range(self.v_depth + 1))
        last_i, last_g = si == s_rows - 1, sg == s_groups - 1

        # ---- divisions: one job (group of P denominators) every `latency` cycles ----
        job = Signal(range(self.jobs + 1))
        dl = Signal(range(top + 2))
        dg = Signal(range(max(self.groups) + 1))
        ds = Signal(range(3))
        tick = Signal(range(self.latency))
        pend = Signal()
        pend_addr = Signal(range(self.r_depth + 1))
        pend_act = Signal(L)
        pend_count = Signal()
        d_groups = const_of(dl, self.groups, range(max(self.groups) + 1))
        d_nodes = const_of(dl, n, range(max(n) + 1))
        d_vbase = const_of(dl, self.v_base, range(self.v_depth + 1))
        den_addr = Signal(range(self.v_depth + 1))
        m.d.comb += den_addr.eq(d_vbase + dg)
        d_top = dl == top
        d_act = Signal(L)
        m.d.comb += d_act.eq(Cat(*[(dg << lg) + p < d_nodes for p in range(L)]))

        beta = Signal.like(self.beta_g)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), self.cycles.eq(0), self.flags.eq(0), beta.eq(self.beta_g),
                                 sl.eq(1), sg.eq(0), si.eq(0), addr.eq(0),
                                 job.eq(0), dl.eq(1), dg.eq(0), ds.eq(0), tick.eq(0), pend.eq(0)]
                    m.next = "SUM"
            with m.State("SUM"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), addr.eq(addr + s_groups), si.eq(si + 1)]
                with m.If(last_i):
                    m.d.sync += [si.eq(0), sg.eq(sg + 1), addr.eq(s_gbase + sg + 1)]
                    with m.If(last_g):
                        m.d.sync += [sg.eq(0), sl.eq(sl + 1), addr.eq(s_gnext)]
                        with m.If(sl == top):
                            m.next = "DRAIN0"
            for k in range(REFRESH_DRAIN):
                with m.State(f"DRAIN{k}"):
                    m.d.sync += self.cycles.eq(self.cycles + 1)
                    m.next = f"DRAIN{k + 1}" if k + 1 < REFRESH_DRAIN else "PREP"
            with m.State("PREP"):  # the first job's totals are read
                m.d.sync += self.cycles.eq(self.cycles + 1)
                m.next = "DIV"
            with m.State("DIV"):
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.If(tick == 0):
                    with m.If(pend):  # the previous job's results
                        for p, u in enumerate(units):
                            m.d.comb += [r_w[p].addr.eq(pend_addr), r_w[p].data.eq(u.result),
                                         r_w[p].en.eq(pend_act[p])]
                        m.d.sync += self.flags.eq(self.flags + sum(
                            (units[p].flag & pend_act[p] & pend_count) for p in range(L)))
                    with m.If(job == self.jobs):
                        m.next = "DONE"
                    with m.Else():
                        for u in units:
                            m.d.comb += u.start.eq(1)
                        m.d.sync += [pend.eq(1), pend_addr.eq(job), pend_act.eq(d_act),
                                     pend_count.eq(~d_top | (ds != 0) | self.centered), job.eq(job + 1)]
                        with m.If(dg == d_groups - 1):
                            m.d.sync += dg.eq(0)
                            with m.If(~d_top):
                                m.d.sync += dl.eq(dl + 1)
                            with m.Else():
                                m.d.sync += ds.eq(ds + 1)
                        with m.Else():
                            m.d.sync += dg.eq(dg + 1)
                        if self.latency > 1:
                            m.d.sync += tick.eq(1)
                with m.Else():
                    m.d.sync += tick.eq(Mux(tick == self.latency - 1, 0, tick + 1))
            with m.State("DONE"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), self.busy.eq(0)]
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"

        summing = fsm.ongoing("SUM")
        dividing = fsm.ongoing("PREP") | fsm.ongoing("DIV")
        # The units start, divide and are read in DIV only (PREP reads the first totals from memory).
        on_div = gated_domain(m, "div", fsm.ongoing("DIV"), self.clock_gating)
        for p, u in enumerate(units):
            setattr(m.submodules, f"recip{p}", on_div(u))

        # Denominators: total from below + from above (none for the output) + s beta_g at the output.
        offset = Mux(d_top, Mux(ds == 0, -beta, Mux(ds == 1, 0, beta)), 0)
        for p, u in enumerate(units):
            m.d.comb += u.d.eq(lo_r[p].data + Mux(d_top, 0, hi_r[p].data) + offset)

        # Stage 0: GP (and GM) reads at `addr`; stage 1: data and column sums; stage 2: row totals.
        v1, first_layer1, upper1, first_i1, last_i1, first_g1 = (Signal(name=x) for x in
                                                                  ("v1", "first_layer1", "upper1", "first_i1",
                                                                   "last_i1", "first_g1"))
        act1 = Signal(L)
        lo_addr1 = Signal(range(self.v_depth + 1))
        row_bank1 = Signal(max(lg, 1))
        row_addr1 = Signal(range(self.v_depth + 1))
        m.d.sync += [v1.eq(summing), first_layer1.eq(sl == 1), upper1.eq(sl > 1), first_i1.eq(si == 0),
                     last_i1.eq(last_i), first_g1.eq(sg == 0), lo_addr1.eq(s_vbase + sg),
                     row_bank1.eq(si & (L - 1) if L > 1 else 0), row_addr1.eq(s_vbelow + (si >> lg)),
                     act1.eq(Cat(*[(sg << lg) + p < s_nodes for p in range(L)]))]
        m.d.comb += self.par_addr.eq(addr)

        row_terms = []
        for p in range(L):
            wp, wm = self.par_gp[p], self.par_gm[p]
            col = Signal(unsigned(self.den_bits), name=f"col{p}")
            total = Signal(unsigned(self.den_bits), name=f"total{p}")
            m.d.comb += total.eq(Mux(first_i1, 0, col) + wp + Mux(first_layer1, wm, 0))
            with m.If(v1):
                m.d.sync += col.eq(total)
            m.d.comb += [lo_w[p].addr.eq(lo_addr1), lo_w[p].data.eq(total),
                         lo_w[p].en.eq(v1 & last_i1 & act1[p])]
            row_terms.append(Mux(act1[p], wp, 0))
        v2, first_g2 = Signal(), Signal()
        row2 = Signal(unsigned(self.den_bits))
        row_bank2 = Signal.like(row_bank1)
        row_addr2 = Signal.like(row_addr1)
        m.d.sync += [v2.eq(v1 & upper1), first_g2.eq(first_g1), row2.eq(sum(row_terms)),
                     row_bank2.eq(row_bank1), row_addr2.eq(row_addr1)]
        hi_old = Array(port.data for port in hi_r)[row_bank2] if L > 1 else hi_r[0].data
        for p in range(L):
            m.d.comb += [hi_w[p].addr.eq(row_addr2), hi_w[p].data.eq(row2 + Mux(first_g2, 0, hi_old)),
                         hi_w[p].en.eq(v2 & ((row_bank2 == p) if L > 1 else 1))]

        # Read addresses: the sums' row totals, the divisions' totals, else the host's.
        for p in range(L):
            m.d.comb += [hi_r[p].addr.eq(Mux(v1, row_addr1, Mux(dividing, den_addr, self.rd_addr))),
                         lo_r[p].addr.eq(Mux(dividing, den_addr, self.rd_addr)),
                         r_r[p].addr.eq(self.rd_addr)]

        # Host reads: data in the next cycle.
        rd_mem, rd_bank, rd_hidden = Signal(RefreshMem), Signal.like(self.rd_bank), Signal()
        m.d.sync += [rd_mem.eq(self.rd_mem), rd_bank.eq(self.rd_bank), rd_hidden.eq(self.rd_addr < self.hidden_depth)]

        def pick(ports: list) -> object:
            return Array(port.data for port in ports)[rd_bank] if L > 1 else ports[0].data

        with m.Switch(rd_mem):
            with m.Case(RefreshMem.DEN):
                m.d.comb += self.rd_data.eq(pick(lo_r) + Mux(rd_hidden, pick(hi_r), 0))
            with m.Case(RefreshMem.R):
                m.d.comb += self.rd_data.eq(pick(r_r))
        return m

