"""The input projection in gateware: P_j = sat(sum_i vin_i D_ij, acc_bits) over non-zero inputs (docs/fixed-point.md 4).

`golden.fixed_ep.project` is the reference; tests/test_hdl_project.py checks it bit for bit.
"""

from __future__ import annotations

from amaranth.hdl import Cat, MemoryData, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.fixed_formats import PIXEL_LEVELS, FixedConstants

from .arith import registered, saturate
from .layout import ProjectionLayout

CYCLE_BITS = 32


class InputProjection(wiring.Component):
    """P_j = sat(sum_i vin(pixel_i) * D[i, j], acc_bits) for j < n1, one sample at a time, with `lanes` MAC lanes.

    The conductances come from the core's shared parameter port (the UpdateEngine's banks, see
    hdl/params.py): lane p owns the columns j = p, p + P, ... and reads W1[i, p + k P] (GP) and
    W1[784 + i, p + k P] (GM) at address i * K + k, K = ceil(n1 / P), in the same cycle, and forms
    D[i, j] = W+ - W- (golden's `D`) itself (padding columns j >= n1 hold 0 in both).

    Ports (clock domain `sync`)
    ---------------------------
    vin_we, vin_addr, vin_data (In): write entry vin_addr (a pixel value) of the 256-entry
        input-voltage table (golden consts.vin_table; the table resets to consts.vin_table).
    par_addr (Out), par_gp, par_gm (In, ArrayLayout(unsigned(g_bits), P)): the shared parameter read
        port, each lane's GP and GM word at the previous cycle's par_addr (read while busy).
    start (In): a pulse, while not busy; begins a sample (clears the pixel count and the cycle
        counter; the sums are not cleared but overwritten by the first non-zero pixel's products,
        so a sample costs no clearing cycles). Writes to the tables must not overlap a sample.
    pix_valid, pix_data (In), pix_ready (Out): the sample's `pixels` pixels (uint8) in order,
        one per cycle at most, taken at a clock edge where pix_valid and pix_ready are both high
        (valid/ready; pix_ready is combinational from the unit's state and table output).
    busy, done (Out): busy from the edge after start until done; done stays high until the next start.
    rd_index (In), rd_data (Out): rd_data = P_{rd_index}, combinational, valid while done.
        The lanes hold the exact sums; the read port saturates them to acc_bits (once, as golden).
    cycles (Out): clock cycles the sample has been busy (stops at done).

    Pipeline and cycles
    -------------------
    A pixel taken at edge t looks up vin at edge t (table read); in the next cycle the unit knows
    vin. A pixel with vin = 0 (a zero pixel: vin(0) = 0) is dropped there: one cycle, no MAC; the
    next pixel is taken in that same cycle. A non-zero one issues K reads of the shared port
    (k = 0..K-1) in K cycles, the next pixel being taken in the last of them; two cycles later each
    product vin * D is added into lane p's sum k (stages: W+ and W- read, D and product register,
    accumulate; a pipelined build registers D before the product, one cycle more).
    The golden model skips exactly the inputs with vin = 0 too. With the pixels streamed back to
    back (pix_valid always high), `cycles` = pixels + nonzero * (K - 1) + 4 (+ 1 pipelined), nonzero being the
    number of pixels with vin(p) != 0 (ProjectionLayout.expected_cycles); idle input cycles add one each.
    (A non-zero pixel's pass cycle is its first MAC cycle, hence K - 1 and not K per pixel.)

    `pixels` is 784 (golden.config.INPUT_PIXELS) in the core; tests use fewer. The sums are exact:
    vin_bits + g_bits + bit_length(pixels - 1) + 1 bits. `vin_table` is the table's MemoryData (a
    simulation may read and write it directly).
    """

    def __init__(self, consts: FixedConstants, geometry: ProjectionLayout) -> None:
        self.consts, self.geometry = consts, geometry
        self.n1, self.lanes, self.pixels = n1, lanes, pixels = geometry.n1, geometry.lanes, geometry.pixels
        self.k_count = geometry.k_count  # K: columns per lane
        self.d_shape = signed(consts.g_bits + 1)
        # Exact sum: |vin| <= 2^(vin_bits-1), |D| < 2^g_bits, `pixels` terms.
        self.sum_bits = consts.vin_bits + consts.g_bits + (pixels - 1).bit_length() + 1
        self.vin_table = MemoryData(shape=signed(consts.vin_bits), depth=PIXEL_LEVELS,
                                    init=[int(v) for v in consts.vin_table])
        super().__init__({
            "vin_we": In(1),
            "vin_addr": In(range(PIXEL_LEVELS)),
            "vin_data": In(signed(consts.vin_bits)),
            "par_addr": Out(range(pixels * self.k_count)),
            "par_gp": In(data.ArrayLayout(unsigned(consts.g_bits), lanes)),
            "par_gm": In(data.ArrayLayout(unsigned(consts.g_bits), lanes)),
            "start": In(1),
            "pix_valid": In(1),
            "pix_data": In(unsigned(8)),
            "pix_ready": Out(1),
            "busy": Out(1),
            "done": Out(1),
            "rd_index": In(range(n1)),
            "rd_data": Out(signed(consts.acc_bits)),
            "cycles": Out(CYCLE_BITS),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        K, P = self.k_count, self.lanes
        depth = self.pixels * K

        m.submodules.vin_mem = vin_mem = Memory(data=self.vin_table)
        vin_w = vin_mem.write_port()
        vin_r = vin_mem.read_port()
        m.d.comb += [vin_w.en.eq(self.vin_we), vin_w.addr.eq(self.vin_addr), vin_w.data.eq(self.vin_data)]

        taken = Signal(range(self.pixels + 1))   # pixels taken so far
        base = Signal(range(depth + K))          # i * K of the next pixel
        a_valid = Signal()                       # stage A holds a pixel (its vin on vin_r.data)
        a_base = Signal(range(depth + K))
        k = Signal(range(K))
        seen = Signal()                          # a non-zero pixel has been issued in full
        vin = vin_r.data
        nonzero = vin != 0
        last_k = k == K - 1
        ready = self.busy & (taken < self.pixels) & (~a_valid | ~nonzero | last_k)
        accept = ready & self.pix_valid
        m.d.comb += [self.pix_ready.eq(ready), vin_r.addr.eq(self.pix_data), vin_r.en.eq(accept)]

        # Stage A: issue the D reads of a non-zero pixel, k = 0..K-1.
        issue = a_valid & nonzero
        with m.If(accept):
            m.d.sync += [taken.eq(taken + 1), base.eq(base + K), a_base.eq(base), a_valid.eq(1), k.eq(0)]
        with m.Elif(issue & ~last_k):
            m.d.sync += k.eq(k + 1)
        with m.Elif(a_valid & (~nonzero | last_k)):
            m.d.sync += a_valid.eq(0)
        with m.If(issue & last_k):
            m.d.sync += seen.eq(1)

        # Stage B: D read out; stage C: product; then accumulate into lane sum k.
        b_valid, b_first = Signal(), Signal()
        b_vin = Signal(signed(self.consts.vin_bits))
        b_k = Signal(range(K))
        m.d.sync += [b_valid.eq(issue), b_first.eq(~seen), b_vin.eq(vin), b_k.eq(k)]
        # A pipelined build registers D (stage B') so that no memory output feeds a multiplier directly.
        staged = self.geometry.pipe.mem_stage
        d = [self.par_gp[p] - self.par_gm[p] for p in range(P)]
        if staged:
            d = [Signal(self.d_shape, name=f"d{p}", reset_less=True) for p in range(P)]
            for p in range(P):
                with m.If(b_valid):
                    m.d.sync += d[p].eq(self.par_gp[p] - self.par_gm[p])
            b_valid, b_first, b_vin, b_k = (registered(m, x, name) for x, name in
                                            ((b_valid, "bd_valid"), (b_first, "bd_first"), (b_vin, "bd_vin"),
                                             (b_k, "bd_k")))
        c_valid, c_first = Signal(), Signal()
        c_k = Signal(range(K))
        m.d.sync += [c_valid.eq(b_valid), c_first.eq(b_first), c_k.eq(b_k)]

        lane_sums = []
        m.d.comb += self.par_addr.eq(a_base + k)
        for p in range(P):
            prod = Signal(signed(self.consts.vin_bits + self.d_shape.width), name=f"prod{p}", reset_less=True)
            with m.If(b_valid):  # loaded for valid data only, no reset: see MulRound.in_valid
                m.d.sync += prod.eq(b_vin * d[p])

            sums = Memory(shape=signed(self.sum_bits), depth=K, init=[])
            m.submodules[f"sums{p}"] = sums
            sw = sums.write_port()
            sr = sums.read_port(domain="comb")
            m.d.comb += [sr.addr.eq(c_k), sw.addr.eq(c_k), sw.en.eq(c_valid),
                         sw.data.eq(Mux(c_first, 0, sr.data) + prod)]
            out = sums.read_port(domain="comb")
            lane_sums.append(out)

        # Read port: lane rd_index mod P, sum rd_index // P, saturated; no non-zero pixel: 0.
        lane_sel = Signal(range(P))
        row = Signal(range(K))
        m.d.comb += [lane_sel.eq(self.rd_index % P), row.eq(self.rd_index // P)]
        exact = Signal(signed(self.sum_bits))
        with m.Switch(lane_sel):
            for p, out in enumerate(lane_sums):
                m.d.comb += out.addr.eq(row)
                with m.Case(p):
                    m.d.comb += exact.eq(out.data)
        m.d.comb += self.rd_data.eq(Mux(seen, saturate(exact, self.consts.acc_bits), 0))

        # Control: busy until every pixel is taken and has left stage C (a zero pixel too, so that
        # the count does not depend on the last pixel).
        lefts = [Signal(name="b_left")]
        m.d.sync += lefts[0].eq(a_valid & (~nonzero | last_k))
        for name in ("bd_left", "c_left")[1 - staged:]:
            lefts.append(registered(m, lefts[-1], name))
        drained = (taken == self.pixels) & ~a_valid & ~Cat(*lefts).any()
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), self.cycles.eq(0), taken.eq(0), base.eq(0),
                         a_valid.eq(0), seen.eq(0)]
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(drained):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        return m
