"""Reciprocal unit: a sequential restoring divider for r(d) = usat(floor(2^M / d), recip_bits) (docs/fixed-point.md section 3)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class Reciprocal(wiring.Component):
    """floor(2^m / d) saturated to `recip_bits` bits, one bit per clock, for a signed `d_bits`-bit denominator.

    Ports
    -----
    start : In(1)
        Accepted when the unit is idle (`busy` low); `d` is sampled in the same cycle. A start
        while `busy` is ignored.
    d : In(signed(d_bits))
        Denominator code (units 2^-F_g).
    busy : Out(1)
        High while the quotient bits are being produced.
    done : Out(1)
        One-cycle pulse: `result`, `flag` and `clipped` are valid from this cycle until the next
        accepted start (`result` changes while `busy`).
    result : Out(unsigned(recip_bits))
        r(d): floor(2^m / d) if that is below 2^recip_bits, else 2^recip_bits - 1.
    flag : Out(1)
        The contract's status flag: d <= 0 (result is then all ones).
    clipped : Out(1)
        d > 0 but floor(2^m / d) >= 2^recip_bits, so the result was saturated to all ones; this is
        ordinary saturation (small denominators) and not the contract's status flag.

    Timing
    ------
    A division needs only the quotient bits that can be non-zero once saturation is decided up
    front: q >= 2^recip_bits exactly when d <= 2^(m - recip_bits), so a non-saturated q has at most
    `steps` = min(recip_bits, m + 1) bits and the long division starts from the partial remainder
    floor(2^m / 2^steps), which is below d whenever q does not saturate. Latency from the start
    cycle to the done cycle: `latency` = steps + 1 cycles for a division, 1 cycle when d <= 0 or
    the result saturates. A new start is accepted in the done cycle, so back-to-back divisions
    take steps + 1 cycles each. Area: (d_bits - 1)-bit remainder, divisor and subtractor,
    recip_bits-bit quotient shift register, a small step counter.
    """

    def __init__(self, d_bits: int, m: int, recip_bits: int) -> None:
        if d_bits < 2:
            raise ValueError(f"d_bits must be >= 2, got {d_bits}")
        if m < 0:
            raise ValueError(f"m must be >= 0, got {m}")
        if recip_bits < 1:
            raise ValueError(f"recip_bits must be >= 1, got {recip_bits}")
        self.d_bits = d_bits
        self.m = m
        self.recip_bits = recip_bits
        self.steps = min(recip_bits, m + 1)
        self.latency = self.steps + 1
        super().__init__({
            "start": In(1),
            "d": In(signed(d_bits)),
            "busy": Out(1),
            "done": Out(1),
            "result": Out(unsigned(recip_bits)),
            "flag": Out(1),
            "clipped": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, M, S = self.recip_bits, self.m, self.steps
        ones = (1 << R) - 1
        pos_bits = self.d_bits - 1  # a positive d fits here
        # q >= 2^R  <=>  d <= 2^(M - R); below that threshold only S quotient bits can be non-zero.
        clip_limit = 1 << (M - R) if M >= R else 0
        rem0 = (1 << M) >> S
        # Every positive d saturates when rem0 does not fit below d: then no division ever runs.
        rem0 = rem0 if rem0 < (1 << pos_bits) else 0

        divisor = Signal(unsigned(pos_bits))
        rem = Signal(unsigned(pos_bits))
        count = Signal(range(max(S, 2)))
        q = self.result

        # Dividend bits below position S: 2^M has its only 1 at bit M, shifted in at the first step when M < S.
        bit_in = (count == M) if M < S else 0
        trial = Cat(bit_in, rem)  # 2 * rem + bit, pos_bits + 1 bits
        fits = trial >= divisor
        m.d.sync += self.done.eq(0)

        with m.If(self.busy):
            m.d.sync += [
                rem.eq(Mux(fits, trial - divisor, trial)),
                q.eq(Cat(fits, q[:-1]) if R > 1 else fits),
                count.eq(count - 1),
            ]
            with m.If(count == 0):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        with m.Elif(self.start):
            with m.If(self.d <= 0):
                m.d.sync += [q.eq(ones), self.flag.eq(1), self.clipped.eq(0), self.done.eq(1)]
            with m.Elif(self.d <= clip_limit):
                m.d.sync += [q.eq(ones), self.flag.eq(0), self.clipped.eq(1), self.done.eq(1)]
            with m.Else():
                m.d.sync += [
                    divisor.eq(self.d[:pos_bits]),
                    rem.eq(rem0),
                    q.eq(0),
                    count.eq(S - 1),
                    self.busy.eq(1),
                    self.flag.eq(0),
                    self.clipped.eq(0),
                ]
        return m
