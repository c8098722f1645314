"""The noisy measurement in gateware: M_g = sat(V_g + rnd((c_1 + ... + c_N) sn, F_s), v_bits) (docs/fixed-point.md 5).

`golden.fixed_ep.measure` is the reference; tests/test_hdl_measure.py checks it bit for bit, with
hdl.noise_lanes.NoiseLanes as the noise source.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed_formats import MAX_MULTIPLIER_BITS, FixedConstants

from .arith import MulRound, Rounding, registered, saturate
from .layout import MeasureLayout
from .noise_lanes import CODE_SHAPE

CYCLE_BITS = 32


class Measure(wiring.Component):
    """One measurement of the `n_free` free nodes' voltages, node g = 0..n_free-1 in order, from noise lane g mod L.

    The noise lanes are not inside: the unit drives the draw strobes of lanes 0..L-1 of an
    hdl.noise_lanes.NoiseLanes(L) (its `draw[:L]`) and reads their `code` outputs, so the core's one noise
    source (whose lane L, the rounding generator, serves the update) is shared.

    Ports (clock domain `sync`)
    ---------------------------
    start (In): a pulse; sn and samples are taken with it (not while busy).
    sn (In, unsigned 31 bits): the noise coefficient code (F_v + F_s fraction bits).
    samples (In, range(max_samples + 1)): N, the draws per node. sn = 0 or N = 0 measures M = V
        and draws nothing (the lanes' states do not move).
    busy, done (Out): busy from the edge after start until the last M is written; done then stays
        high until the next start.
    draw (Out, L bits), code (In, L x signed 11 bits): to NoiseLanes.draw[:L] and NoiseLanes.code[:L].
        Bit g mod L of draw is high for the N cycles of node g's draws (one draw per cycle); the
        code of a draw is read in the following cycle (NoiseLanes' 1-cycle latency).
    v_addr (Out), v_data (In, signed v_bits): V is read like a synchronous memory read port,
        v_data being V[v_addr of the previous cycle].
    m_we, m_addr, m_data (Out, signed v_bits): M[m_addr] = m_data is written where m_we is high
        (a synchronous memory write port), once per node, in node order.
    cycles (Out): clock cycles busy (stops at done).

    `max_samples` bounds the run-time N (the width of the code sum, 11 + bit_length(max_samples)
    bits). The product sum * sn is MulRound(shift F_s, mode round_noise) saturated to v_bits + 2,
    which leaves sat(V + ., v_bits) unchanged. Nodes are measured one after another, one draw per
    cycle (measuring L nodes at once on their L lanes would divide the cycles by L, at the price
    of L-wide V and M ports; the measurement is a few hundred cycles of a ~20k-cycle sample).

    Cycles: node g takes max(N', 1) cycles of draws (N' = 0 when sn = 0, else N), back to back;
    the code sum, MulRound's stages and the final add-and-saturate follow in a pipeline, so
    `cycles` = n_free * max(N', 1) + 2 + MulRound's latency, + 2 in a pipelined build, which registers
    the draw's code and the node's sum before the multiplier (MeasureLayout.expected_cycles).
    """

    def __init__(self, consts: FixedConstants, geometry: MeasureLayout) -> None:
        self.consts, self.geometry = consts, geometry
        self.n_free, self.lanes, self.max_samples = n_free, lanes, max_samples = (geometry.n_free, geometry.lanes,
                                                                                 geometry.max_samples)
        self.sum_shape = signed(CODE_SHAPE.width + max_samples.bit_length())  # |c_1 + ... + c_N| <= 510 N
        self.mul = MulRound(self.sum_shape.width, MAX_MULTIPLIER_BITS, consts.Fs, consts.v_bits + 2,
                            mode=Rounding(consts.round_noise), pipe=geometry.pipe)
        super().__init__({
            "start": In(1),
            "sn": In(unsigned(MAX_MULTIPLIER_BITS)),
            "samples": In(range(max_samples + 1)),
            "busy": Out(1),
            "done": Out(1),
            "draw": Out(lanes),
            "code": In(data.ArrayLayout(CODE_SHAPE, lanes)),
            "v_addr": Out(range(n_free)),
            "v_data": In(signed(consts.v_bits)),
            "m_we": Out(1),
            "m_addr": Out(range(n_free)),
            "m_data": Out(signed(consts.v_bits)),
            "cycles": Out(CYCLE_BITS),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.mul = mul = self.mul
        L = self.lanes

        sn = Signal.like(self.sn)
        count = Signal.like(self.samples)  # draws per node, 0 for none
        issuing = Signal()                 # stage D: a draw (or the one no-draw cycle) of node g
        g = Signal(range(self.n_free))
        lane = Signal(range(L))
        j = Signal(range(self.max_samples))
        noisy = count != 0
        last_j = ~noisy | (j == count - 1)

        # Stage D: strobe lane g mod L, N cycles per node (one cycle and no strobe without noise).
        m.d.comb += [self.draw[p].eq(issuing & noisy & (lane == p)) for p in range(L)]
        with m.If(issuing):
            with m.If(~last_j):
                m.d.sync += j.eq(j + 1)
            with m.Else():
                m.d.sync += [j.eq(0), g.eq(g + 1), lane.eq(Mux(lane == L - 1, 0, lane + 1))]
                with m.If(g == self.n_free - 1):
                    m.d.sync += issuing.eq(0)

        # Stage E: the draw's code; sum of the node's codes; the last one goes to the multiplier.
        e_valid, e_first, e_last, e_noisy = Signal(), Signal(), Signal(), Signal()
        e_lane = Signal(range(L))
        e_g = Signal(range(self.n_free))
        m.d.sync += [e_valid.eq(issuing), e_first.eq(j == 0), e_last.eq(last_j), e_noisy.eq(noisy),
                     e_lane.eq(lane), e_g.eq(g)]
        code = Signal(CODE_SHAPE)
        m.d.comb += code.eq(self.code[e_lane])
        staged = self.geometry.pipe.mem_stage  # a pipelined build registers the code and the node's sum
        if staged:
            code_r = Signal(CODE_SHAPE, reset_less=True)
            m.d.sync += code_r.eq(code)
            code = code_r
            e_valid, e_first, e_last, e_noisy, e_g = (registered(m, x)
                                                      for x in (e_valid, e_first, e_last, e_noisy, e_g))
        partial = Signal(self.sum_shape)
        total = Signal(self.sum_shape)
        m.d.comb += total.eq(Mux(e_noisy, Mux(e_first, 0, partial) + code, 0))
        m.d.sync += partial.eq(total)
        m.d.comb += [mul.m.eq(sn), mul.u.eq(0)]
        if staged:  # the sum enters the multiplier from its register, a cycle later
            m.d.comb += [mul.in_valid.eq(registered(m, e_valid & e_last)), mul.a.eq(partial)]
            e_g = registered(m, e_g)
        else:
            m.d.comb += [mul.in_valid.eq(e_valid & e_last), mul.a.eq(total)]

        # The node index travels beside the multiplier; V is read one cycle before its result.
        gs = [e_g]
        for i in range(mul.latency):
            reg = Signal(range(self.n_free), name=f"g_d{i + 1}")
            m.d.sync += reg.eq(gs[-1])
            gs.append(reg)
        m.d.comb += self.v_addr.eq(gs[-2])
        m.d.sync += [self.m_we.eq(mul.out_valid), self.m_addr.eq(gs[-1]),
                     self.m_data.eq(saturate(self.v_data + mul.result, self.consts.v_bits))]

        # Control.
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), self.cycles.eq(0), sn.eq(self.sn),
                         count.eq(Mux(self.sn == 0, 0, self.samples)), issuing.eq(1), g.eq(0), lane.eq(0), j.eq(0)]
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(self.m_we & (self.m_addr == self.n_free - 1)):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        return m
