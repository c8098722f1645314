"""Update engine: the online (batch 1) weight update of one sample with P lanes (docs/fixed-point.md section 6)."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.config import INPUT_PIXELS
from golden.fixed_arith import STOCHASTIC
from golden.fixed_formats import MAX_MULTIPLIER_BITS, FixedConstants

from .arith import BiasUpdate, ConductanceUpdate
from .gating import gated_domain
from .layout import UpdateLayout

CYCLE_BITS = 32


class UpdateMem(enum.Enum, shape=3):
    """Which memory the host ports `wr_*` / `rd_*` access (all banked by lane but VIN, which has one bank)."""

    GP = 0   # conductances: layer 1's input rows 0..783 (W1[+]) and every layer above, see UpdateEngine
    B = 1    # biases
    M1 = 2   # measured codes of the first phase (free nodes)
    M2 = 3   # measured codes of the second phase
    VIN = 4  # the sample's input codes vin_i, i < 784 (bank 0)
    GM = 5   # conductances of layer 1's input rows 784..1567 (W1[-])


class UpdateEngine(wiring.Component):
    """Section 6 for one sample with B = 1: every conductance and bias updated in place, bit-exact with
    golden `accumulate` followed by `apply_update` (batch_size = 1).

    Lane p owns the columns j = p, p + P, ... of every weight matrix and the biases of those nodes: a
    layer l of n_l nodes has G_l = ceil(n_l / P) groups. The engine walks layer 1..top; in each it
    issues the rows i = 0..n_{l-1}-1, for each row the groups g = 0..G_l-1 (so with P = 1 the order is
    golden's row-major order), then the G_l bias groups. Per issue every lane reads its conductance
    (or bias) and its node's codes c1, c2 from its own banks, all lanes share a = the row's node:
    a = +vin_i (i < 784) or -vin_(i-784) for layer 1, a = M(layer l-1)_i above. One
    `ConductanceUpdate` (B = 1 form, a1 = a2 = a for the input layer) and one `BiasUpdate` per lane
    compute the new codes, which are written back to the same address. Parameters are disjoint, so
    layers follow each other without draining.

    The shifts s_w[l], s_b[l] are constants of the run (golden.fixed_formats.lr_codes: lr_frac, or
    the per-layer power of two in lr_mode shift, which needs lr_decay = 1); the factors k_w[l],
    k_b[l] decay per epoch and are run-time inputs, taken at `start`.

    Stochastic rounding draws one word per updated value from the rounding generator (NoiseLanes
    lane L, through `draw` / `word`) in golden's serial order; the engine supports it with P = 1 only
    (the constructor rejects stochastic rounding with P > 1). Truncate and nearest draw nothing.

    Memories (bank p holds lane p's words; the host writes them through `wr_*` while idle): GP, GM
    and B in the `ParamLayout` (`params`); M1, M2 at v_base[l] + g hold the codes of node g P + p of
    layer l; VIN (one bank) holds vin_i at i. `bank_images` builds the images from golden's arrays,
    `theta` turns the GP, GM and B banks back into golden's flat theta.

    These memories are the core's one parameter memory: the other engines read the conductances
    through the shared read port `rd_addr` -> `rd_gp`, `rd_gm` (every lane's GP and GM word at the
    same address, the next cycle) while this engine is idle.

    Ports
    -----
    start : In(1)
        Accepted when idle; `k_w` and `k_b` are sampled in the same cycle.
    k_w, k_b : In(ArrayLayout(unsigned(31), top))
        Element l - 1 is layer l's factor code (lr_codes' k_w[l], k_b[l]).
    busy : Out(1)
        High from the cycle after an accepted start through the `done` cycle; the host ports write
        nothing and `rd_*` does not read while it is high.
    done : Out(1)
        One-cycle pulse at the end of the run, once every new code is written.
    cycles : Out(unsigned(32))
        Cycles of the last run, from the cycle after `start` to `done` inclusive (UpdateLayout.cycle_count).
    draw : Out(1) ; word : In(32)
        To NoiseLanes.draw[L] and from NoiseLanes.word[L] (stochastic rounding only; `draw` is 0
        otherwise): one draw per issued value, its word read in the next cycle.
    wr_en, wr_mem, wr_bank, wr_addr, wr_data : In
        Host write of one word into memory `wr_mem`, bank `wr_bank`, address `wr_addr`.
    rd_mem, rd_bank, rd_addr : In ; rd_data : Out
        Host read of GP, GM or B, bank `rd_bank`, address `rd_addr`: the word is on rd_data in the
        next cycle (a synchronous read port; while idle).
    rd_gp, rd_gm : Out(ArrayLayout(unsigned(g_bits), P))
        The shared read port: every lane's GP and GM word at the `rd_addr` of the previous cycle.

    Cycles (UpdateLayout.cycle_count): layer l takes 1 + (n_{l-1} + 1) G_l cycles; a run takes
    sum_l (1 + (n_{l-1} + 1) G_l) + drain + 1 with drain = 1 + ConductanceUpdate latency = 7: about
    n_params / P (DRN-XS, P = 16: 1 + 1569 x 7 + 1 + 101 x 1 + 8 = 11,094).
    """

    def __init__(self, fmt: FixedConstants, params: UpdateLayout, w_shifts: Sequence[int], b_shifts: Sequence[int],
                 clock_gating: bool = False) -> None:
        # internal invariants: a CoreBuild never asks for these (it rejects stochastic rounding with lanes > 1)
        self.top = top = params.top
        if len(w_shifts) != top or len(b_shifts) != top:
            raise ValueError(f"one weight and one bias shift per layer ({top}) are needed")
        if fmt.round_update == STOCHASTIC and params.lanes != 1:
            raise ValueError("stochastic rounding of the update draws in a serial order: it needs lanes = 1")
        self.fmt, self.clock_gating = fmt, clock_gating
        self.lanes = lanes = params.lanes
        self.layout, self.sizes = params.layout, params.sizes
        self.log_lanes = lanes.bit_length() - 1
        self.w_shifts, self.b_shifts = [int(s) for s in w_shifts], [int(s) for s in b_shifts]
        self.params = pl = params
        self.groups, self.g_base, self.v_base = pl.groups, pl.g_base, pl.v_base
        self.gp_depth, self.gm_depth, self.v_depth = pl.gp_depth, pl.gm_depth, pl.v_depth
        self.depth = {UpdateMem.GP: self.gp_depth, UpdateMem.GM: self.gm_depth, UpdateMem.B: self.v_depth,
                      UpdateMem.M1: self.v_depth, UpdateMem.M2: self.v_depth, UpdateMem.VIN: INPUT_PIXELS}
        self.shape = {UpdateMem.GP: unsigned(fmt.g_bits), UpdateMem.GM: unsigned(fmt.g_bits),
                      UpdateMem.B: signed(fmt.b_bits), UpdateMem.M1: signed(fmt.v_bits),
                      UpdateMem.M2: signed(fmt.v_bits), UpdateMem.VIN: signed(fmt.vin_bits)}
        self._w_sel = sorted(set(self.w_shifts))
        self._b_sel = sorted(set(self.b_shifts))
        self.g_latency, self.b_latency = params.pipe.conductance_latency, params.pipe.bias_latency
        self.drain = params.drain
        data_bits = max(fmt.g_bits, fmt.b_bits, fmt.v_bits, fmt.vin_bits) + 1
        addr_bits = max(max(self.depth.values()) - 1, 1).bit_length()
        bank_bits = max(self.log_lanes, 1)
        k_shape = data.ArrayLayout(unsigned(MAX_MULTIPLIER_BITS), top)
        super().__init__({
            "start": In(1), "k_w": In(k_shape), "k_b": In(k_shape),
            "busy": Out(1), "done": Out(1), "cycles": Out(unsigned(CYCLE_BITS)),
            "draw": Out(1), "word": In(32),
            "wr_en": In(1), "wr_mem": In(UpdateMem), "wr_bank": In(unsigned(bank_bits)),
            "wr_addr": In(unsigned(addr_bits)), "wr_data": In(signed(data_bits)),
            "rd_mem": In(UpdateMem), "rd_bank": In(unsigned(bank_bits)), "rd_addr": In(unsigned(addr_bits)),
            "rd_data": Out(signed(max(fmt.g_bits + 1, fmt.b_bits))),
            "rd_gp": Out(data.ArrayLayout(unsigned(fmt.g_bits), lanes)),
            "rd_gm": Out(data.ArrayLayout(unsigned(fmt.g_bits), lanes)),
        })

    # ---- host side: memory images ------------------------------------------------------------

    def bank_images(self, theta: Sequence[int], M1: Sequence[int], M2: Sequence[int],
                    vin: Sequence[int]) -> dict[UpdateMem, list[list[int]]]:
        """Every memory's words per bank from golden's arrays (theta in the flat Layout, M1 and M2 in
        n_off order, vin the 784 input codes); padding words (j >= n_l) are 0."""
        lay, n = self.layout, self.sizes
        img = dict(zip((UpdateMem.GP, UpdateMem.GM, UpdateMem.B), self.params.images(theta)))
        for mem, values in ((UpdateMem.M1, M1), (UpdateMem.M2, M2)):
            img[mem] = [[0] * self.v_depth for _ in range(self.lanes)]
            for l in range(1, self.top + 1):
                for j in range(n[l]):
                    p, a = self.params.bias(l, j)
                    img[mem][p][a] = int(values[int(lay.n_off[l]) + j])
        img[UpdateMem.VIN] = [[int(v) for v in vin]]
        return img

    def theta(self, banks: dict[UpdateMem, Sequence[Sequence[int]]]) -> list[int]:
        """The GP, GM and B banks' words (`banks[mem][p][address]`) as golden's flat theta."""
        return self.params.theta(banks[UpdateMem.GP], banks[UpdateMem.GM], banks[UpdateMem.B])

    # ---- gateware ----------------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt, L, top, lg, n = self.fmt, self.lanes, self.top, self.log_lanes, self.sizes
        half_in = INPUT_PIXELS
        mems = {mem: [Memory(shape=self.shape[mem], depth=self.depth[mem], init=[])
                      for _ in range(L if mem != UpdateMem.VIN else 1)] for mem in UpdateMem}
        for mem, banks in mems.items():
            for p, bank in enumerate(banks):
                setattr(m.submodules, f"{mem.name.lower()}{p}", bank)
        rd_gp = [bank.read_port() for bank in mems[UpdateMem.GP]]
        rd_gm = [bank.read_port() for bank in mems[UpdateMem.GM]]
        rd_b = [bank.read_port() for bank in mems[UpdateMem.B]]
        rd_c1 = [bank.read_port() for bank in mems[UpdateMem.M1]]  # this lane's node c
        rd_c2 = [bank.read_port() for bank in mems[UpdateMem.M2]]
        rd_a1 = [bank.read_port() for bank in mems[UpdateMem.M1]]  # the row's node a (lower layer)
        rd_a2 = [bank.read_port() for bank in mems[UpdateMem.M2]]
        rd_vin = mems[UpdateMem.VIN][0].read_port()
        wr = {mem: [bank.write_port() for bank in banks] for mem, banks in mems.items()}

        w_sel = [self._w_sel.index(s) for s in self.w_shifts]
        b_sel = [self._b_sel.index(s) for s in self.b_shifts]
        cu = [ConductanceUpdate(fmt, self._w_sel, pipe=self.params.pipe) for _ in range(L)]
        bu = [BiasUpdate(fmt, self._b_sel, pipe=self.params.pipe) for _ in range(L)]
        on_lanes = gated_domain(m, "lanes", self.busy, self.clock_gating)  # operands enter and drain while busy
        for p in range(L):
            assert (cu[p].latency, bu[p].latency) == (self.g_latency, self.b_latency)
            setattr(m.submodules, f"cu{p}", on_lanes(cu[p]))
            setattr(m.submodules, f"bu{p}", on_lanes(bu[p]))

        # Host writes (GP, GM and B write ports are the engine's while busy).
        for mem in UpdateMem:
            for p, port in enumerate(wr[mem]):
                host = self.wr_en & (self.wr_mem == mem) & ~self.busy & ((self.wr_bank == p) if L > 1 else 1)
                m.d.comb += [port.addr.eq(self.wr_addr), port.data.eq(self.wr_data), port.en.eq(host)]

        # Run state.
        k_w = Signal.like(self.k_w)
        k_b = Signal.like(self.k_b)
        layer = Signal(range(top + 2))
        n_groups = Signal(range(max(self.groups) + 1))
        n_rows = Signal(range(max(n[:top]) + 1))
        n_nodes = Signal(range(max(n[1:]) + 1))
        v_lo = Signal(range(self.v_depth + 1))
        v_self = Signal(range(self.v_depth + 1))
        is_first = Signal()
        kw_cur = Signal(unsigned(MAX_MULTIPLIER_BITS))
        kb_cur = Signal(unsigned(MAX_MULTIPLIER_BITS))
        wsel_cur = Signal(range(len(self._w_sel)))
        bsel_cur = Signal(range(len(self._b_sel)))
        i = Signal(range(max(n[:top]) + 1))
        g = Signal(range(max(self.groups) + 1))
        g_addr = Signal(range(self.gp_depth + 1))
        in_gm = Signal()  # layer 1's rows 784..1567: GM from address 0
        drain = Signal(range(self.drain + 1))

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [k_w.eq(self.k_w), k_b.eq(self.k_b), layer.eq(1), self.cycles.eq(0),
                                 self.busy.eq(1)]
                    m.next = "LAYER"
            with m.State("LAYER"):
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.Switch(layer):
                    for l in range(1, top + 1):
                        with m.Case(l):
                            m.d.sync += [n_groups.eq(self.groups[l]), n_rows.eq(n[l - 1]), n_nodes.eq(n[l]),
                                         v_lo.eq(self.v_base[l - 1] if l > 1 else 0), v_self.eq(self.v_base[l]),
                                         is_first.eq(l == 1), kw_cur.eq(k_w[l - 1]), kb_cur.eq(k_b[l - 1]),
                                         wsel_cur.eq(w_sel[l - 1]), bsel_cur.eq(b_sel[l - 1]),
                                         g_addr.eq(self.g_base[l])]
                m.d.sync += [i.eq(0), g.eq(0), in_gm.eq(0)]
                m.next = "WEIGHTS"
            with m.State("WEIGHTS"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), g_addr.eq(g_addr + 1)]
                with m.If(g == n_groups - 1):
                    m.d.sync += [g.eq(0), i.eq(i + 1)]
                    with m.If(is_first & (i == half_in - 1)):
                        m.d.sync += [g_addr.eq(0), in_gm.eq(1)]
                    with m.If(i == n_rows - 1):
                        m.next = "BIASES"
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.State("BIASES"):
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.If(g == n_groups - 1):
                    m.d.sync += layer.eq(layer + 1)
                    with m.If(layer == top):
                        m.d.sync += drain.eq(self.drain - 1)
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "LAYER"
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.State("DRAIN"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), drain.eq(drain - 1)]
                with m.If(drain == 0):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), self.busy.eq(0)]
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"

        # Stage 0: issue the reads of one conductance (or bias) group, and the rounding draw.
        w_issue = fsm.ongoing("WEIGHTS")
        b_issue = fsm.ongoing("BIASES")
        node_addr = Signal(range(self.v_depth + 1))
        m.d.comb += node_addr.eq(v_self + g)
        in_row = Signal(range(half_in))
        m.d.comb += in_row.eq(Mux(i < half_in, i, i - half_in))
        for p in range(L):
            m.d.comb += [rd_gp[p].addr.eq(Mux(self.busy, g_addr, self.rd_addr)),
                         rd_gm[p].addr.eq(Mux(self.busy, g_addr, self.rd_addr)),
                         self.rd_gp[p].eq(rd_gp[p].data), self.rd_gm[p].eq(rd_gm[p].data),
                         rd_b[p].addr.eq(Mux(self.busy, node_addr, self.rd_addr)),
                         rd_c1[p].addr.eq(node_addr), rd_c2[p].addr.eq(node_addr),
                         rd_a1[p].addr.eq(v_lo + (i >> lg)), rd_a2[p].addr.eq(v_lo + (i >> lg))]
        m.d.comb += rd_vin.addr.eq(in_row)
        if fmt.round_update == STOCHASTIC:
            m.d.comb += self.draw.eq(w_issue | b_issue)

        # Stage 1: read data (and the drawn word) arrive and enter the update units.
        w1, b1, first1, neg1, gm1 = Signal(), Signal(), Signal(), Signal(), Signal()
        asel1 = Signal(max(lg, 1))
        waddr1 = Signal.like(g_addr)
        baddr1 = Signal.like(node_addr)
        act1 = Signal(L)
        m.d.sync += [w1.eq(w_issue), b1.eq(b_issue), first1.eq(is_first), neg1.eq(i >= half_in),
                     asel1.eq(i & (L - 1)), waddr1.eq(g_addr), baddr1.eq(node_addr), gm1.eq(in_gm)]
        for p in range(L):
            m.d.sync += act1[p].eq(((g << lg) + p) < n_nodes)
        vin1 = rd_vin.data
        a_in = Mux(neg1, -vin1, vin1)
        a1_hi = Array(port.data for port in rd_a1)[asel1] if L > 1 else rd_a1[0].data
        a2_hi = Array(port.data for port in rd_a2)[asel1] if L > 1 else rd_a2[0].data
        a1 = Mux(first1, a_in, a1_hi)
        a2 = Mux(first1, a_in, a2_hi)
        u = self.word if fmt.round_update == STOCHASTIC else 0
        for p in range(L):
            m.d.comb += [cu[p].in_valid.eq(w1 & act1[p]), cu[p].a1.eq(a1), cu[p].a2.eq(a2),
                         cu[p].c1.eq(rd_c1[p].data), cu[p].c2.eq(rd_c2[p].data), cu[p].k.eq(kw_cur),
                         cu[p].g.eq(Mux(gm1, rd_gm[p].data, rd_gp[p].data)), cu[p].u.eq(u),
                         bu[p].in_valid.eq(b1 & act1[p]), bu[p].c1.eq(rd_c1[p].data), bu[p].c2.eq(rd_c2[p].data),
                         bu[p].k.eq(kb_cur), bu[p].b.eq(rd_b[p].data), bu[p].u.eq(u)]
            if len(self._w_sel) > 1:
                m.d.comb += cu[p].shift_sel.eq(wsel_cur)
            if len(self._b_sel) > 1:
                m.d.comb += bu[p].shift_sel.eq(bsel_cur)

        # The units' outputs are written back to the addresses they were read from.
        def delayed(x: Signal, k: int, name: str) -> Signal:
            for d in range(k):
                r = Signal.like(x, name=f"{name}_d{d}")
                m.d.sync += r.eq(x)
                x = r
            return x

        waddr_w = delayed(waddr1, self.g_latency, "waddr")
        gm_w = delayed(gm1, self.g_latency, "gm")
        baddr_w = delayed(baddr1, self.b_latency, "baddr")
        for p in range(L):
            host_gp, host_gm = wr[UpdateMem.GP][p], wr[UpdateMem.GM][p]
            host_b = wr[UpdateMem.B][p]
            with m.If(self.busy):
                m.d.comb += [host_gp.addr.eq(waddr_w), host_gp.data.eq(cu[p].g_new),
                             host_gp.en.eq(cu[p].out_valid & ~gm_w),
                             host_gm.addr.eq(waddr_w), host_gm.data.eq(cu[p].g_new),
                             host_gm.en.eq(cu[p].out_valid & gm_w),
                             host_b.addr.eq(baddr_w), host_b.data.eq(bu[p].b_new), host_b.en.eq(bu[p].out_valid)]

        # Host reads of GP, GM and B.
        rd_mem1, rd_bank1 = Signal(UpdateMem), Signal.like(self.rd_bank)
        m.d.sync += [rd_mem1.eq(self.rd_mem), rd_bank1.eq(self.rd_bank)]

        def pick(ports: list) -> object:
            return Array(port.data for port in ports)[rd_bank1] if L > 1 else ports[0].data

        with m.Switch(rd_mem1):
            with m.Case(UpdateMem.GM):
                m.d.comb += self.rd_data.eq(pick(rd_gm))
            with m.Case(UpdateMem.B):
                m.d.comb += self.rd_data.eq(pick(rd_b))
            with m.Default():
                m.d.comb += self.rd_data.eq(pick(rd_gp))
        return m
