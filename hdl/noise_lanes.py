"""The noise source in gateware: xorshift32 lanes and their Irwin-Hall Gaussian codes (docs/fixed-point.md section 5).

`golden/prng.py` is the reference this component matches bit for bit (tb/test_noise.py checks it in
Verilator and Icarus, tests/test_hdl_noise_lanes.py in Amaranth's simulator).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.prng import lane_seed

WORD_BITS = 32
CODE_SHAPE = signed(11)  # sum of four bytes - 510: -510..510


def xorshift32_step(x: Value) -> Value:
    """The Amaranth expression of one xorshift32 step (13, 17, 5) of a 32-bit value."""
    a = (x ^ (x << 13))[:WORD_BITS]
    b = a ^ (a >> 17)
    return (b ^ (b << 5))[:WORD_BITS]


class NoiseLanes(wiring.Component):
    """`lanes` xorshift32 noise generators plus the rounding generator (lane index `lanes`).

    Ports (P = lanes + 1 generators, lane p = 0..lanes; clock domain `sync`):
      seed_load, seed_lane, seed_data (In): while seed_load is high at a clock edge, lane seed_lane's
        state becomes seed_data (a seed is never a draw; a seed_lane above `lanes` is ignored; the
        host writes golden.prng.lane_seed values, never 0, xorshift's stuck state).
      draw (In, P bits): bit p high at a clock edge advances lane p one xorshift32 step. Any subset
        of lanes may draw in the same cycle. A seed load of lane p in the same cycle wins: lane p
        takes the seed and its draw is dropped.
      drawn (Out, P bits): bit p is high during the cycle after lane p drew.
      word (Out, P x 32 bits, lane p in bits 32p..32p+31): lane p's state register. In the cycle
        after a draw (drawn[p] high) it is the draw's result, the state after the step, as
        golden.prng.draw returns it; it holds until lane p's next draw or seed load.
      code (Out, P x signed 11 bits, lane p in bits 11p..11p+10): golden.prng.gauss_code of word[p]
        (the sum of its four bytes minus 510), combinational from the state register.

    Latency: one clock. A draw strobed at edge k is presented from edge k on, i.e. on word/code in
    the following cycle together with drawn; back-to-back draws of a lane give one word per cycle.
    After reset every lane p holds golden.prng.lane_seed(0, 0, p), the seeds of seed 0, epoch 0.
    """

    def __new__(cls, lanes: int) -> NoiseLanes:
        # checked before the component exists: one that failed to construct would be reported as never used
        if not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be an integer >= 1, got {lanes!r}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        count = lanes + 1
        super().__init__({
            "seed_load": In(1),
            "seed_lane": In(range(count)),
            "seed_data": In(WORD_BITS),
            "draw": In(count),
            "drawn": Out(count),
            "word": Out(data.ArrayLayout(WORD_BITS, count)),
            "code": Out(data.ArrayLayout(CODE_SHAPE, count)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for p in range(self.lanes + 1):
            state = Signal(WORD_BITS, name=f"state{p}", init=int(lane_seed(0, 0, p)))
            seeded = self.seed_load & (self.seed_lane == p)
            with m.If(seeded):
                m.d.sync += state.eq(self.seed_data)
            with m.Elif(self.draw[p]):
                m.d.sync += state.eq(xorshift32_step(state))
            m.d.sync += self.drawn[p].eq(self.draw[p] & ~seeded)
            byte_sum = state[0:8] + state[8:16] + state[16:24] + state[24:32]
            m.d.comb += [
                self.word[p].eq(state),
                self.code[p].eq(byte_sum - 510),
            ]
        return m

