"""Relaxation engine: the layer updates of one sample in one phase with P lanes (docs/fixed-point.md section 4)."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.fixed_formats import FixedConstants
from .arith import NodeKind, NodeUpdate
from .gating import gated_domain
from .layout import RelaxLayout


class SweepOrder(enum.Enum, shape=2):
    """The layer order of a sweep, as golden.network.sweep_order names it."""

    ALTERNATING = 0
    FORWARD = 1
    BACKWARD = 2


class RelaxMem(enum.Enum, shape=3):
    """Which memory the host write port `wr_*` loads (every one is banked by lane)."""

    G = 0  # conductance rows, see RelaxEngine.bank_images
    B = 1  # biases
    R = 2  # reciprocals: the hidden nodes', then the output nodes' for sign -1, 0, +1
    P = 3  # input contributions P_j of layer 1
    Y = 4  # one-hot label
    V = 5  # node states


def layer_orders(top: int) -> dict[SweepOrder, list[int]]:
    """The free layers in the order each SweepOrder updates them (golden.network.sweep_order)."""
    free = list(range(1, top + 1))
    return {SweepOrder.ALTERNATING: free[0::2] + free[1::2], SweepOrder.FORWARD: free,
            SweepOrder.BACKWARD: free[::-1]}


class RelaxEngine(wiring.Component):
    """`nsweeps` sweeps of exact layer updates of one sample's node states, bit-exact with golden `relax`.

    Lane p owns the nodes j = p, p + P, ... of every free layer: a layer of n nodes is updated in
    G = ceil(n / P) groups of P nodes. For each group the lanes multiply-accumulate one term per
    cycle, the T = n_{l-1} + n_{l+1} terms g * V (the conductances to the layer below, none for
    layer 1 whose sum starts from P_j, then those to the layer above, none for the output layer),
    each lane reading its own conductance bank and all lanes the same broadcast neighbour state.
    The nudge s * beta_c * y_j of an output node starts its exact sum (beta_c is a run-time input of
    up to g_bits + F_v bits, too wide for NodeUpdate's acc_bits nudge port; the sum is exact, so
    adding it there is the same). The exact sum then goes through one `NodeUpdate` per lane (bias,
    saturation, * r_j, rounding, saturation, diode clamp). A layer reads only its neighbour layers,
    so new states are written as soon as they come out; the pipeline drains before the next layer
    starts. All lanes of a group write their new states in the same cycle, shown on `wb_*`.

    Memories (one per quantity, bank p holds lane p's words; loaded through `wr_*` while idle):
    G rows of T conductance codes per group, B biases, R reciprocals (hidden nodes, then three
    copies of the output layer's for sign -1, 0, +1), P the input contributions, Y the label, V the
    states (read back through `rd_*`). `bank_images` gives every memory's contents from the golden
    model's arrays and `states` turns the V banks back into golden's flat state vector.

    Ports
    -----
    start : In(1)
        Accepted when idle; `sign`, `beta_c`, `nsweeps` and `order` are sampled in the same cycle.
    sign : In(signed(2))
        Nudging sign -1, 0, +1 (picks the output reciprocals and the nudge).
    beta_c : In(unsigned(g_bits + F_v))
        beta as a current code (F_v + F_g fraction bits): beta_g << F_v for any conductance code beta_g.
    nsweeps : In(unsigned(sweep_bits))
    order : In(SweepOrder)
    busy : Out(1)
        High from the cycle after an accepted start through the `done` cycle; the host ports
        write nothing and `rd_*` does not read while it is high.
    done : Out(1)
        One-cycle pulse at the end of the run.
    cycles : Out(unsigned(32))
        Cycles of the last run, counted from the cycle after `start` to `done` inclusive.
    wr_en, wr_mem, wr_bank, wr_addr, wr_data : In
        Host write of one word into memory `wr_mem`, bank `wr_bank`, address `wr_addr`.
    rd_bank, rd_addr : In ; rd_data : Out(signed(v_bits))
        Host read of the V memory, data in the next cycle (while idle).
    wb_valid, wb_layer, wb_group, wb_sweep, wb_mask, wb_data : Out
        The V write-back of one group: in a cycle with wb_valid, node j = wb_group * P + p of layer
        wb_layer gets wb_data[p] for the lanes p in wb_mask (j < n_l), in sweep wb_sweep of the run.

    Cycles: a layer update takes 1 + G_l * T_l + drain cycles, drain = 3 + NodeUpdate latency (+ 1 with the
    read data registered, a pipelined build: RelaxLayout.drain);
    a run takes nsweeps * sum_l (1 + G_l T_l + drain) + 1 (RelaxLayout.cycle_count).
    """

    def __init__(self, fmt: FixedConstants, geometry: RelaxLayout, sweep_bits: int = 8,
                 clock_gating: bool = False) -> None:
        self.fmt, self.geometry, self.sweep_bits, self.clock_gating = fmt, geometry, sweep_bits, clock_gating
        self.lanes = lanes = geometry.lanes
        self.layout, self.sizes, self.top = geometry.layout, geometry.sizes, geometry.top
        self.log_lanes = lanes.bit_length() - 1
        self.groups, self.terms, self.g_base, self.v_base = geometry.groups, geometry.terms, geometry.g_base, geometry.v_base
        self.g_depth, self.v_depth = geometry.g_depth, geometry.v_depth
        top = self.top
        self.depth = {RelaxMem.G: self.g_depth, RelaxMem.B: self.v_depth,
                      RelaxMem.R: geometry.r_depth, RelaxMem.P: self.groups[1],
                      RelaxMem.Y: self.groups[top], RelaxMem.V: self.v_depth}
        self.shape = {RelaxMem.G: unsigned(fmt.g_bits), RelaxMem.B: signed(fmt.b_bits),
                      RelaxMem.R: unsigned(fmt.recip_bits), RelaxMem.P: signed(fmt.acc_bits),
                      RelaxMem.Y: unsigned(1), RelaxMem.V: signed(fmt.v_bits)}
        prod_bits = fmt.g_bits + fmt.v_bits + 1
        self.beta_bits = fmt.g_bits + fmt.Fv  # beta_c of the largest beta_g code
        self.init_bits = max(fmt.acc_bits, self.beta_bits + 1)  # P_j or +-beta_c
        self.sum_bits = max(prod_bits + max(self.terms).bit_length(), self.init_bits) + 1
        self.node_latency, self.drain = geometry.node_latency, geometry.drain
        data_bits = max(fmt.g_bits, fmt.b_bits, fmt.recip_bits, fmt.acc_bits, fmt.v_bits) + 1
        addr_bits = max(max(self.depth.values()) - 1, 1).bit_length()
        super().__init__({
            "start": In(1), "sign": In(signed(2)), "beta_c": In(unsigned(self.beta_bits)),
            "nsweeps": In(unsigned(sweep_bits)), "order": In(SweepOrder),
            "busy": Out(1), "done": Out(1), "cycles": Out(unsigned(32)),
            "wr_en": In(1), "wr_mem": In(RelaxMem), "wr_bank": In(unsigned(max(self.log_lanes, 1))),
            "wr_addr": In(unsigned(addr_bits)), "wr_data": In(signed(data_bits)),
            "rd_bank": In(unsigned(max(self.log_lanes, 1))), "rd_addr": In(unsigned(addr_bits)),
            "rd_data": Out(signed(fmt.v_bits)),
            "wb_valid": Out(1), "wb_layer": Out(range(self.top + 1)),
            "wb_group": Out(range(max(self.groups) + 1)), "wb_sweep": Out(unsigned(sweep_bits)),
            "wb_mask": Out(lanes), "wb_data": Out(data.ArrayLayout(signed(fmt.v_bits), lanes)),
        })

    # ---- host side: memory images ------------------------------------------------------------

    def bank_images(self, theta: Sequence[int], recip: Sequence[int], recip_out: Sequence[Sequence[int]],
                    P: Sequence[int], V: Sequence[int], y: Sequence[int]) -> dict[RelaxMem, list[list[int]]]:
        """Every memory's words per bank from golden's arrays (theta in the flat Layout, the free
        nodes' recip and V in n_off order, recip_out[sign + 1][j], P of layer 1, y of the output).

        G bank p holds, for every layer l and group g, the row of node j = g P + p: the conductances
        W_l[i, j] for i < n_{l-1} (l > 1), then W_{l+1}[j, k] for k < n_{l+1} (l < top); zeros
        when j >= n_l.
        """
        lay, top, n, L = self.layout, self.top, self.sizes, self.lanes
        img = {mem: [[0] * self.depth[mem] for _ in range(L)] for mem in RelaxMem}

        def w(l: int, i: int, j: int) -> int:
            return int(theta[int(lay.w_off[l]) + i * n[l] + j])

        for l in range(1, top + 1):
            for j in range(n[l]):
                p, g = j % L, j // L
                row = ([w(l, i, j) for i in range(n[l - 1])] if l > 1 else []) + \
                      ([w(l + 1, j, k) for k in range(n[l + 1])] if l < top else [])
                a = self.g_base[l] + g * self.terms[l]
                img[RelaxMem.G][p][a:a + len(row)] = row
                node = int(lay.n_off[l]) + j
                addr = self.v_base[l] + g
                img[RelaxMem.B][p][addr] = int(theta[int(lay.b_off[l]) + j])
                img[RelaxMem.V][p][addr] = int(V[node])
                if l < top:
                    img[RelaxMem.R][p][addr] = int(recip[node])
                else:
                    for s in range(3):
                        img[RelaxMem.R][p][addr + s * self.groups[top]] = int(recip_out[s][j])
                    img[RelaxMem.Y][p][g] = int(bool(y[j]))
                if l == 1:
                    img[RelaxMem.P][p][g] = int(P[j])
        return img

    def states(self, banks: Sequence[Sequence[int]]) -> list[int]:
        """The V banks' words as golden's flat state vector (n_off order)."""
        return [banks[j % self.lanes][self.v_base[l] + j // self.lanes]
                for l in range(1, self.top + 1) for j in range(self.sizes[l])]

    # ---- gateware ----------------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt, L, top, lg = self.fmt, self.lanes, self.top, self.log_lanes
        mems = {mem: [Memory(shape=self.shape[mem], depth=self.depth[mem], init=[]) for _ in range(L)]
                for mem in RelaxMem}
        rd = {mem: [] for mem in RelaxMem}
        wr = {mem: [] for mem in RelaxMem}
        for mem, banks in mems.items():
            for p, bank in enumerate(banks):
                setattr(m.submodules, f"{mem.name.lower()}{p}", bank)
                rd[mem].append(bank.read_port())
                wr[mem].append(bank.write_port())
        nodes = [NodeUpdate(fmt, self.sum_bits, self.geometry.pipe) for _ in range(L)]
        on_lanes = gated_domain(m, "lanes", self.busy, self.clock_gating)  # operands enter and drain while busy
        for p, node in enumerate(nodes):
            assert node.latency == self.node_latency
            setattr(m.submodules, f"node{p}", on_lanes(node))

        # Host writes (the V write port is the engine's while busy).
        for mem in RelaxMem:
            if mem == RelaxMem.V:
                continue
            for p, port in enumerate(wr[mem]):
                m.d.comb += [port.addr.eq(self.wr_addr), port.data.eq(self.wr_data),
                             port.en.eq(self.wr_en & (self.wr_mem == mem) & ~self.busy
                                        & ((self.wr_bank == p) if L > 1 else 1))]

        # Run state.
        sign = Signal(signed(2))
        beta_c = Signal.like(self.beta_c)
        nsweeps = Signal.like(self.nsweeps)
        order = Signal(SweepOrder)
        sweep = Signal.like(self.nsweeps)
        step = Signal(range(top + 1))
        drain = Signal(range(self.drain + 1))
        # Layer constants, latched when a layer starts.
        n_groups = Signal(range(max(self.groups) + 1))
        n_terms = Signal(range(max(self.terms) + 1))
        n_lo = Signal(range(max(self.sizes[1:]) + 1))       # terms from the layer below (0 for layer 1)
        n_nodes = Signal(range(max(self.sizes[1:]) + 1))
        half = Signal.like(n_nodes)
        v_lo = Signal(range(self.v_depth + 1))
        v_hi = Signal(range(self.v_depth + 1))
        v_self = Signal(range(self.v_depth + 1))
        is_top = Signal()
        is_first = Signal()
        layer = Signal(range(top + 1))
        # Issue counters.
        g = Signal(range(max(self.groups) + 1))
        t = Signal(range(max(self.terms) + 1))
        i = Signal(range(max(self.sizes[1:]) + 1))
        upper = Signal()
        g_addr = Signal(range(self.g_depth + 1))

        orders = layer_orders(top)
        cur_layer = Signal(range(top + 1))
        with m.Switch(order):
            for o, seq in orders.items():
                with m.Case(o):
                    m.d.comb += cur_layer.eq(Array(Const(v, range(top + 1)) for v in seq)[step])

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [sign.eq(self.sign), beta_c.eq(self.beta_c), nsweeps.eq(self.nsweeps), order.eq(self.order),
                                 sweep.eq(0), step.eq(0), self.cycles.eq(0), self.busy.eq(1)]
                    with m.If(self.nsweeps == 0):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "LAYER"
            with m.State("LAYER"):
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.Switch(cur_layer):
                    for l in range(1, top + 1):
                        lo = self.sizes[l - 1] if l > 1 else 0
                        with m.Case(l):
                            m.d.sync += [n_groups.eq(self.groups[l]), n_terms.eq(self.terms[l]),
                                         n_lo.eq(lo), n_nodes.eq(self.sizes[l]), half.eq(self.sizes[l] // 2),
                                         v_lo.eq(self.v_base[l - 1] if l > 1 else 0),
                                         v_hi.eq(self.v_base[l + 1] if l < top else 0),
                                         v_self.eq(self.v_base[l]), is_top.eq(l == top), is_first.eq(l == 1),
                                         layer.eq(l),
                                         upper.eq(lo == 0), g_addr.eq(self.g_base[l])]
                m.d.sync += [g.eq(0), t.eq(0), i.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), g_addr.eq(g_addr + 1)]
                with m.If(t == n_terms - 1):
                    m.d.sync += [t.eq(0), i.eq(0), upper.eq(n_lo == 0), g.eq(g + 1)]
                    with m.If(g == n_groups - 1):
                        m.d.sync += drain.eq(self.drain - 1)
                        m.next = "DRAIN"
                with m.Else():
                    m.d.sync += t.eq(t + 1)
                    with m.If(~upper & (i == n_lo - 1)):
                        m.d.sync += [upper.eq(1), i.eq(0)]
                    with m.Else():
                        m.d.sync += i.eq(i + 1)
            with m.State("DRAIN"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), drain.eq(drain - 1)]
                with m.If(drain == 0):
                    with m.If(step == top - 1):
                        m.d.sync += [step.eq(0), sweep.eq(sweep + 1)]
                        with m.If(sweep == nsweeps - 1):
                            m.next = "DONE"
                        with m.Else():
                            m.next = "LAYER"
                    with m.Else():
                        m.d.sync += step.eq(step + 1)
                        m.next = "LAYER"
            with m.State("DONE"):
                m.d.sync += [self.cycles.eq(self.cycles + 1), self.busy.eq(0)]
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"

        # Stage 0: the reads of one term (and of the group's node words) while RUN issues.
        valid0 = fsm.ongoing("RUN")
        node_addr = Signal(range(self.depth[RelaxMem.R] + 1))
        r_addr = Signal.like(node_addr)
        m.d.comb += [node_addr.eq(v_self + g),
                     r_addr.eq(node_addr + Mux(is_top, (sign + 1) * self.groups[top], 0))]
        v_addr = Signal(range(self.v_depth + 1))
        m.d.comb += v_addr.eq(Mux(upper, v_hi, v_lo) + (i >> lg))
        for p in range(L):
            m.d.comb += [rd[RelaxMem.G][p].addr.eq(g_addr), rd[RelaxMem.B][p].addr.eq(node_addr),
                         rd[RelaxMem.R][p].addr.eq(r_addr), rd[RelaxMem.P][p].addr.eq(g),
                         rd[RelaxMem.Y][p].addr.eq(g),
                         rd[RelaxMem.V][p].addr.eq(Mux(self.busy, v_addr, self.rd_addr))]
        m.d.comb += self.rd_data.eq(Array(port.data for port in rd[RelaxMem.V])[self.rd_bank] if L > 1
                                    else rd[RelaxMem.V][0].data)

        # Stage 1: the read data arrive; the group's node words are latched on its first term.
        valid1, first1, last1, top1, first_layer1 = Signal(), Signal(), Signal(), Signal(), Signal()
        vsel1 = Signal(max(lg, 1))
        waddr1 = Signal.like(node_addr)
        act1 = Signal(L)
        kind1 = [Signal(NodeKind, name=f"kind1_{p}") for p in range(L)]
        m.d.sync += [valid1.eq(valid0), first1.eq(t == 0), last1.eq(t == n_terms - 1), top1.eq(is_top),
                     first_layer1.eq(is_first), vsel1.eq(i & (L - 1)), waddr1.eq(node_addr)]
        for p in range(L):
            j = (g << lg) + p
            m.d.sync += act1[p].eq(j < n_nodes)
            with m.If(is_top):
                m.d.sync += kind1[p].eq(NodeKind.OUTPUT)
            with m.Elif(j < half):
                m.d.sync += kind1[p].eq(NodeKind.EXCITATORY)
            with m.Else():
                m.d.sync += kind1[p].eq(NodeKind.INHIBITORY)
        v1 = Array(port.data for port in rd[RelaxMem.V])[vsel1] if L > 1 else rd[RelaxMem.V][0].data
        nudge = Mux(sign > 0, beta_c, Mux(sign < 0, -beta_c, 0))
        # The group's identity, carried to its write-back.
        tag = data.StructLayout({"act": L, "addr": range(self.depth[RelaxMem.R] + 1), "layer": range(top + 1),
                                 "group": range(max(self.groups) + 1), "sweep": unsigned(self.sweep_bits)})
        tag1, ids1 = Signal(tag), Signal(tag)
        m.d.sync += [ids1.layer.eq(layer), ids1.group.eq(g), ids1.sweep.eq(sweep)]
        m.d.comb += [tag1.eq(ids1), tag1.act.eq(act1), tag1.addr.eq(waddr1)]

        # Stage 1b (a pipelined build only): the read data and everything beside them registered once,
        # so that no memory output feeds the multipliers directly (only the valid bit has a reset).
        def late(x: object, name: str, reset_less: bool = True) -> object:
            if not self.geometry.pipe.mem_stage:
                return x
            reg = Signal.like(x, name=f"{name}_m", reset_less=reset_less)
            m.d.sync += reg.eq(x)
            return reg

        valid1 = late(valid1, "valid1", reset_less=False)
        first1, last1, top1 = late(first1, "first1"), late(last1, "last1"), late(top1, "top1")
        first_layer1, tag1, v1 = late(first_layer1, "first_layer1"), late(tag1, "tag1"), late(v1, "v1")
        kind1 = [late(k, f"kind1_{p}") for p, k in enumerate(kind1)]
        read1 = {mem: [late(port.data, f"{mem.name.lower()}{p}_data") for p, port in enumerate(rd[mem])]
                 for mem in (RelaxMem.G, RelaxMem.P, RelaxMem.Y, RelaxMem.B, RelaxMem.R)}

        # Stage 2: one product per lane is added to its exact sum; the last one goes to the node update.
        valid2, first2, last2 = Signal(), Signal(), Signal()
        m.d.sync += [valid2.eq(valid1), first2.eq(first1), last2.eq(last1)]
        prod_bits = fmt.g_bits + fmt.v_bits + 1
        tag_g = Signal(tag)
        with m.If(valid1 & first1):
            m.d.sync += tag_g.eq(tag1)
        for p, node in enumerate(nodes):
            prod = Signal(signed(prod_bits), name=f"prod{p}", reset_less=True)
            init = Signal(signed(self.init_bits), name=f"init{p}")
            acc = Signal(signed(self.sum_bits), name=f"acc{p}")
            total = Signal(signed(self.sum_bits), name=f"total{p}")
            bias = Signal(signed(fmt.b_bits), name=f"bias{p}")
            r = Signal(unsigned(fmt.recip_bits), name=f"r{p}")
            kind = Signal(NodeKind, name=f"kind{p}")
            with m.If(valid1):  # loaded for valid data only, no reset: see MulRound.in_valid
                m.d.sync += prod.eq(read1[RelaxMem.G][p] * v1)
            with m.If(valid1 & first1):
                m.d.sync += [init.eq(Mux(first_layer1, read1[RelaxMem.P][p],
                                         Mux(top1 & read1[RelaxMem.Y][p], nudge, 0))),
                             bias.eq(read1[RelaxMem.B][p]), r.eq(read1[RelaxMem.R][p]), kind.eq(kind1[p])]
            m.d.comb += total.eq(Mux(first2, init, acc) + prod)
            with m.If(valid2):
                m.d.sync += acc.eq(total)
            m.d.sync += [node.in_valid.eq(valid2 & last2), node.acc.eq(total), node.bias.eq(bias), node.r.eq(r),
                         node.kind.eq(kind)]

        # Stage 3 + NodeUpdate latency: write the new states back (all lanes of the group at once).
        tag_w = tag_g
        for k in range(self.node_latency + 1):
            d = Signal(tag, name=f"tag_d{k}")
            m.d.sync += d.eq(tag_w)
            tag_w = d
        for p, port in enumerate(wr[RelaxMem.V]):
            host = self.wr_en & (self.wr_mem == RelaxMem.V) & ((self.wr_bank == p) if L > 1 else 1)
            m.d.comb += [port.addr.eq(Mux(self.busy, tag_w.addr, self.wr_addr)),
                         port.data.eq(Mux(self.busy, nodes[p].v, self.wr_data)),
                         port.en.eq(Mux(self.busy, nodes[p].out_valid & tag_w.act[p], host)),
                         self.wb_data[p].eq(nodes[p].v)]
        m.d.comb += [self.wb_valid.eq(self.busy & nodes[0].out_valid), self.wb_layer.eq(tag_w.layer),
                     self.wb_group.eq(tag_w.group), self.wb_sweep.eq(tag_w.sweep), self.wb_mask.eq(tag_w.act)]
        return m
