"""Pipelined fixed-point units: exact rounded multiply, node and parameter updates (docs/fixed-point.md 4, 6)."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed_arith import MAX_SHIFT, NEAREST, STOCHASTIC, TRUNCATE
from golden.fixed_formats import MAX_MULTIPLIER_BITS, FixedConstants

from .layout import Pipeline

MIN_SHIFT = -62  # a left shift beyond this saturates every non-zero product in the golden model
MAX_OUT_BITS = 63


class Rounding(enum.Enum, shape=2):
    """Rounding mode, with golden.fixed_arith's codes (the value 3 rounds like TRUNCATE)."""

    TRUNCATE = 0
    NEAREST = 1
    STOCHASTIC = 2


assert (Rounding.TRUNCATE.value, Rounding.NEAREST.value, Rounding.STOCHASTIC.value) == (TRUNCATE, NEAREST, STOCHASTIC)


class NodeKind(enum.Enum, shape=2):
    """Which clamp a node update applies: max(u, 0), min(u, 0) or none (the value 3 acts as OUTPUT)."""

    EXCITATORY = 0
    INHIBITORY = 1
    OUTPUT = 2


def saturate(x: Value, bits: int, signed_out: bool = True) -> Value:
    """sat(x, bits) (or usat when not signed_out) of a signed or unsigned value, as a `bits`-bit value."""
    lo = -(1 << (bits - 1)) if signed_out else 0
    hi = (1 << (bits - 1)) - 1 if signed_out else (1 << bits) - 1
    return Mux(x > hi, hi, Mux(x < lo, lo, x))[:bits]


def _limbs(x: Value, width: int) -> list[tuple[Value, int]]:
    """x as (limb, weight) pairs, x = sum limb 2^weight, each limb an operand of a `width`-bit signed
    multiplier input: unsigned limbs of width - 1 bits and, for a signed x, a signed top limb."""
    top = width if x.shape().signed else width - 1
    limbs, lo = [], 0
    while len(x) - lo > top:
        limbs.append((x[lo:lo + width - 1], lo))
        lo += width - 1
    rest = x[lo:]
    limbs.append((rest.as_signed() if x.shape().signed else rest, lo))
    return limbs


def product(m: Module, a: Value, b: Value, valids: Sequence[Value], block: tuple[int, int], name: str) -> Value:
    """a * b through len(valids) registered stages: with one, the product itself (the last stage's
    value, to be registered by the caller on valids[-1]); with more, block-sized partial products
    registered on valids[0], then an adder tree, one registered level per further valid, whose last
    sum is returned for the caller's register. Exact for any signedness."""
    if len(valids) == 1:
        return a * b
    terms = []
    for x, wx in _limbs(a, block[0]):
        for y, wy in _limbs(b, block[1]):
            reg = Signal.like(x * y, name=f"{name}_pp{len(terms)}", reset_less=True)
            with m.If(valids[0]):
                m.d.sync += reg.eq(x * y)
            terms.append((reg, wx + wy))
    levels = len(valids) - 1
    fan = 2
    while fan ** levels < len(terms):
        fan += 1
    for level, valid in enumerate(valids[1:], 1):
        groups = [terms[i:i + fan] for i in range(0, len(terms), fan)]
        sums = [(sum(v << (w - min(w for _, w in g)) for v, w in g), min(w for _, w in g)) for g in groups]
        if level == levels:
            return sum(v << w for v, w in sums)
        terms = []
        for v, w in sums:
            reg = Signal.like(v, name=f"{name}_sum{level}_{len(terms)}", reset_less=True)
            with m.If(valid):
                m.d.sync += reg.eq(v)
            terms.append((reg, w))
    raise AssertionError("unreachable")


def _shifts(s: int | Sequence[int]) -> tuple[int, ...]:
    shifts = (s,) if isinstance(s, int) else tuple(s)
    if not shifts:
        raise ValueError("at least one shift is needed")
    for v in shifts:
        if not isinstance(v, int) or not MIN_SHIFT <= v <= MAX_SHIFT:
            raise ValueError(f"shift must be an integer in {MIN_SHIFT}..{MAX_SHIFT}, got {v!r}")
    return shifts


class MulRound(wiring.Component):
    """sat(mul_round(a, m, s, mode, u), out_bits) (usat when not `signed_out`), one result per cycle.

    `s` is a constant shift, or a sequence of constant shifts of which the run-time `shift_sel`
    input picks one per operand (a core updating one layer at a time selects that layer's shift).
    A negative shift is an exact left shift (the mode then does not matter, as in the golden model).

    Ports
    -----
    in_valid : In(1)
        The operands below are taken in this cycle (one operand set per cycle, no back-pressure).
        Each stage's data registers load only in a cycle where the stage holds valid data (an idle
        unit does not toggle) and have no reset, only the valid bits do: a reset term would make the
        wide arithmetic depend on the `rst` input, which Verilator re-evaluates on both edges of the
        clock. `result` keeps its last value while out_valid is low.
    a : In(signed(a_bits))
    m : In(unsigned(m_bits))
    mode : In(Rounding)
        TRUNCATE: floor; NEAREST: half to even; STOCHASTIC: floor after adding the dither
        u mod 2^s (s <= 32) or u * 2^(s - 32) (s > 32), as golden.fixed_arith.mul_round (which
        defines stochastic rounding for s <= 62 only; the same formula is used above).
        Absent when the constructor's `mode` fixes it (the units use one mode per build: the
        rounding logic of the other modes is then not built).
    u : In(unsigned(32))
        Random word for STOCHASTIC; ignored otherwise.
    shift_sel : In(range(len(s)))
        Only when several shifts are given: index of the shift used for this operand.
    out_valid : Out(1)
        `result` belongs to the operands taken `latency` cycles earlier.
    result : Out(signed(out_bits)) or Out(unsigned(out_bits))

    Timing and widths
    -----------------
    `latency` = depth + 2 (`pipe`, hdl/layout.py Pipeline): the exact product a * m (a_bits + m_bits
    bits, signed) in `depth` registered stages (one: a single multiply; more: the family's block-sized
    partial products, then an adder tree); the next stage adds the rounding term (0,
    2^(s-1) - 1 + bit s of the product, or the dither) in a
    max(a_bits + m_bits, s_max + 1) + 1-bit adder; the last shifts by s and saturates to out_bits.
    A product wider than 64 bits with every shift >= 32 is kept as floor(product / 2^32) and its
    low 32 bits, and stage 2 keeps only floor(sum / 2^32), which is all stage 3 shifts out: stages
    2 and 3 then compute in values of at most 64 bits, which Verilator computes natively (wider
    ones word by word).
    Bit-exact with the golden model for out_bits <= 62 (the golden mul_round clips at
    +-(2^62 - 1) before its caller's saturation; at out_bits = 63 a quotient below -2^62 gives
    -2^62 here).
    """

    def __init__(self, a_bits: int, m_bits: int, s: int | Sequence[int], out_bits: int,
                 signed_out: bool = True, mode: Rounding | None = None, pipe: Pipeline = Pipeline()) -> None:
        if not 2 <= a_bits <= 63:
            raise ValueError(f"a_bits must be in 2..63, got {a_bits}")
        if not 1 <= m_bits <= MAX_MULTIPLIER_BITS:
            raise ValueError(f"m_bits must be in 1..{MAX_MULTIPLIER_BITS}, got {m_bits}")
        if not (2 if signed_out else 1) <= out_bits <= MAX_OUT_BITS:
            raise ValueError(f"out_bits must be in {2 if signed_out else 1}..{MAX_OUT_BITS}, got {out_bits}")
        self.a_bits, self.m_bits, self.out_bits, self.signed_out = a_bits, m_bits, out_bits, signed_out
        self.pipe, self.latency = pipe, pipe.mul_latency
        self.shifts = _shifts(s)
        self.fixed_mode = None if mode is None else Rounding(mode)
        ports = {
            "in_valid": In(1),
            "a": In(signed(a_bits)),
            "m": In(unsigned(m_bits)),
            **({"mode": In(Rounding)} if mode is None else {}),
            "u": In(unsigned(32)),
            "out_valid": Out(1),
            "result": Out(signed(out_bits) if signed_out else unsigned(out_bits)),
        }
        if len(self.shifts) > 1:
            ports["shift_sel"] = In(range(len(self.shifts)))
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shifts = self.shifts
        p_bits = self.a_bits + self.m_bits
        s_max = max(max(shifts), 0)
        t_bits = max(p_bits, s_max + 1) + 1
        sel_in = self.shift_sel if len(shifts) > 1 else Const(0, 1)

        # Stages 1..depth: the exact product; the operand's controls travel beside it.
        split = p_bits > 64 and min(shifts) >= 32  # as (p_hi, p_lo): see "Timing and widths"
        valids = _valid_chain(m, self.in_valid, self.pipe.depth)
        valid1, last = valids[-1], valids[-2]  # the product is out; its last stage loads
        sel1 = _delay(m, sel_in, valids[:-1], "sel")
        u1 = _delay(m, self.u, valids[:-1], "u") if self.fixed_mode in (None, Rounding.STOCHASTIC) else self.u
        if self.fixed_mode is None:
            mode1 = _delay(m, self.mode, valids[:-1], "mode")
            nearest, stochastic = mode1 == Rounding.NEAREST, mode1 == Rounding.STOCHASTIC
        else:
            nearest, stochastic = self.fixed_mode == Rounding.NEAREST, self.fixed_mode == Rounding.STOCHASTIC
        prod = product(m, self.a, self.m, valids[:-1], self.pipe.block, "p")
        if split:  # p = p_hi 2^32 + p_lo: the later stages compute in words of at most 64 bits
            p_hi = Signal(signed(p_bits - 32), reset_less=True)
            p_lo = Signal(32, reset_less=True)
            with m.If(last):
                m.d.sync += [p_hi.eq(prod[32:]), p_lo.eq(prod[:32])]
        else:
            p = Signal(signed(p_bits), reset_less=True)
            with m.If(last):
                m.d.sync += p.eq(prod)

        # Stage 2: product + rounding term, so that the quotient is a plain arithmetic shift.
        addend = Signal(unsigned(s_max + 1))
        with m.Switch(sel1):
            for i, s in enumerate(shifts):
                with m.Case(i):
                    if s > 0:
                        dither = u1[:s] if s <= 32 else Cat(Const(0, s - 32), u1)
                        # bit s of the product (sign-extended)
                        tie_bit = p_hi[min(s - 32, p_bits - 33)] if split else p[min(s, p_bits - 1)]
                        with m.If(nearest):
                            m.d.comb += addend.eq((1 << (s - 1)) - 1 + tie_bit)
                        with m.Elif(stochastic):
                            m.d.comb += addend.eq(dither)
        sel2 = Signal.like(sel_in, reset_less=True)
        valid2 = Signal()
        m.d.sync += valid2.eq(valid1)
        if split:  # t = floor((p + addend) / 2^32): the low words' carry into the high word
            t = Signal(signed(t_bits - 32), reset_less=True)
            t_next = p_hi + addend[32:] + (p_lo + addend[:32])[32]
        else:
            t = Signal(signed(t_bits), reset_less=True)
            t_next = p + addend
        with m.If(valid1):
            m.d.sync += [t.eq(t_next), sel2.eq(sel1)]

        # Stage 3: shift and saturate.
        result = Signal.like(self.result, reset_less=True)
        m.d.comb += self.result.eq(result)
        with m.If(valid2), m.Switch(sel2):
            for i, s in enumerate(shifts):
                with m.Case(i):
                    if split:
                        q = t.shift_right(s - 32)
                    else:
                        q = t.shift_right(s) if s >= 0 else t.shift_left(-s)
                    m.d.sync += result.eq(saturate(q, self.out_bits, self.signed_out))
        m.d.sync += self.out_valid.eq(valid2)
        return m


class NodeUpdate(wiring.Component):
    """Section 4's layer update of one hidden or output node, one node per cycle.

    V = clamp(sat(rnd(sat(acc + bias + nudge, acc_bits) * r, F_g + F_r, round_v), v_bits)), with
    clamp = max(., 0) for EXCITATORY, min(., 0) for INHIBITORY, none for OUTPUT. The nudge
    s * beta_c * y_j is precomputed by the caller (0, +beta_c or -beta_c) and is added only when
    `kind` is OUTPUT (the golden model adds it at the output layer only). The rounding mode is
    the config's round_v, a constant (stochastic rounding of node voltages is rejected by the config).

    Ports
    -----
    in_valid : In(1)
    acc : In(signed(sum_bits))
        The exact weighted sum (P_j or the lower layer's sum, plus the upper layer's), unsaturated.
    bias : In(signed(b_bits))
    nudge : In(signed(acc_bits))
    r : In(unsigned(recip_bits))
        The reciprocal of this node's (phase's) denominator.
    kind : In(NodeKind)
    out_valid : Out(1)
    v : Out(signed(v_bits))

    Timing: `latency` = 1 + MulRound's + 1 (sum and saturation, MulRound, clamp), one node per cycle; `v`
    keeps its last value while out_valid is low (an idle unit does not toggle).
    Widths: the sum adder has max(sum_bits, b_bits, acc_bits) + 2 bits; the multiplier
    acc_bits x recip_bits.
    """

    def __init__(self, fmt: FixedConstants, sum_bits: int, pipe: Pipeline = Pipeline()) -> None:
        if sum_bits < 2:
            raise ValueError(f"sum_bits must be >= 2, got {sum_bits}")
        if fmt.round_v == STOCHASTIC:
            raise ValueError("node voltages cannot use stochastic rounding")
        self.fmt, self.sum_bits = fmt, sum_bits
        self.mul = MulRound(fmt.acc_bits, fmt.recip_bits, fmt.shift_v, fmt.v_bits, mode=Rounding(fmt.round_v),
                            pipe=pipe)
        self.latency = 1 + self.mul.latency + 1
        super().__init__({
            "in_valid": In(1),
            "acc": In(signed(sum_bits)),
            "bias": In(signed(fmt.b_bits)),
            "nudge": In(signed(fmt.acc_bits)),
            "r": In(unsigned(fmt.recip_bits)),
            "kind": In(NodeKind),
            "out_valid": Out(1),
            "v": Out(signed(fmt.v_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        m.submodules.mul = mul = self.mul
        # valids[i]: an operand is in stage i (valids[1] is mul.in_valid, valids[-1] mul.out_valid).
        valids = _valid_chain(m, self.in_valid, 1 + mul.latency)
        kind = _delay(m, self.kind, valids[:-1], "kind")

        hidden = (self.kind == NodeKind.EXCITATORY) | (self.kind == NodeKind.INHIBITORY)
        total = self.acc + self.bias + Mux(hidden, 0, self.nudge)
        a, r = Signal.like(mul.a, reset_less=True), Signal.like(mul.m, reset_less=True)  # as in MulRound
        m.d.comb += [mul.a.eq(a), mul.m.eq(r), mul.u.eq(0), mul.in_valid.eq(valids[1])]
        with m.If(self.in_valid):
            m.d.sync += [a.eq(saturate(total, fmt.acc_bits)), r.eq(self.r)]

        u = mul.result
        with m.If(valids[-1]), m.Switch(kind):
            with m.Case(NodeKind.EXCITATORY):
                m.d.sync += self.v.eq(Mux(u[-1], 0, u))
            with m.Case(NodeKind.INHIBITORY):
                m.d.sync += self.v.eq(Mux(u[-1], u, 0))
            with m.Default():
                m.d.sync += self.v.eq(u)
        m.d.sync += self.out_valid.eq(valids[-1])
        return m


def registered(m: Module, x: Value, name: str | None = None) -> Signal:
    """x one cycle later."""
    reg = Signal.like(x, name=name)
    m.d.sync += reg.eq(x)
    return reg


def _valid_chain(m: Module, valid: Value, n: int) -> list[Value]:
    """[valid, valid delayed by 1, ..., by n cycles]: the valid bit of each stage of an n-stage pipeline."""
    chain = [valid]
    for i in range(n):
        reg = Signal(name=f"valid_d{i + 1}")
        m.d.sync += reg.eq(chain[-1])
        chain.append(reg)
    return chain


def _delay(m: Module, x: Value, valids: Sequence[Value], name: str) -> Value:
    """x delayed by len(valids) cycles, stage i + 1 loading only when valids[i] is high.

    The data follows its operand down the pipeline; an idle unit's stages hold their values and
    have no reset, so Verilator's model does no work for them (data is read only where valid)."""
    for i, valid in enumerate(valids):
        reg = Signal.like(x, name=f"{name}_d{i + 1}", reset_less=True)
        with m.If(valid):
            m.d.sync += reg.eq(x)
        x = reg
    return x


class ConductanceUpdate(wiring.Component):
    """Section 6's update of one conductance per cycle.

    g' = usat(g - rnd(sat(A, upd_bits) * k, s, round_update), g_bits).

    With `sum_bits` None (B = 1, online) the unit forms A = (d2 + d1)(d2 - d1) itself from the
    measured codes, d1 = a1 - c1 and d2 = a2 - c2 (for the input layer a1 = a2 = vin); with
    `sum_bits` given it takes the batch sum A as an input of that width.
    The factor k is a run-time input (it decays per epoch); the shift is one of the constants
    `shifts` (one per layer from golden.fixed_formats.lr_codes, or a single value: in multiply
    mode every layer has the same shift), picked per conductance by `shift_sel`.

    Ports
    -----
    in_valid : In(1)
    a1, a2, c1, c2 : In(signed(max(v_bits, vin_bits)))      (B = 1 only)
    A : In(signed(sum_bits))                                 (batch sum only)
    k : In(unsigned(31))
    g : In(unsigned(g_bits))
    u : In(unsigned(32))
        Rounding generator's word, used when round_update is stochastic.
    shift_sel : In(range(len(shifts)))                       (more than one shift only)
    out_valid : Out(1)
    g_new : Out(unsigned(g_bits))

    Timing (`g_new` keeps its last value while out_valid is low, as NodeUpdate's `v`):
    `latency` = 1 + depth + MulRound's + 1 for B = 1 (d2 + d1 and d2 - d1; their product in `depth`
    stages, saturated to upd_bits; MulRound; subtract and clamp), 1 + MulRound's + 1 with a batch sum.
    Widths: the drop product is a (w + 2) x (w + 2)-bit multiply, w = max(v_bits, vin_bits);
    the update multiply is upd_bits x 31; MulRound saturates to g_bits + 1 bits, which is
    enough for the final usat to agree with the exact difference.
    """

    def __init__(self, fmt: FixedConstants, shifts: int | Sequence[int], sum_bits: int | None = None,
                 pipe: Pipeline = Pipeline()) -> None:
        if sum_bits is not None and sum_bits < 2:
            raise ValueError(f"sum_bits must be >= 2, got {sum_bits}")
        self.fmt, self.sum_bits, self.pipe = fmt, sum_bits, pipe
        self.mul = MulRound(fmt.upd_bits, MAX_MULTIPLIER_BITS, shifts, fmt.g_bits + 1, mode=Rounding(fmt.round_update),
                            pipe=pipe)
        self.shifts = self.mul.shifts
        self.latency = (1 + pipe.depth if sum_bits is None else 1) + self.mul.latency + 1
        w = max(fmt.v_bits, fmt.vin_bits)
        ports = {"in_valid": In(1)}
        if sum_bits is None:
            ports.update({name: In(signed(w)) for name in ("a1", "a2", "c1", "c2")})
        else:
            ports["A"] = In(signed(sum_bits))
        ports.update({"k": In(unsigned(MAX_MULTIPLIER_BITS)), "g": In(unsigned(fmt.g_bits)), "u": In(unsigned(32))})
        if len(self.shifts) > 1:
            ports["shift_sel"] = In(range(len(self.shifts)))
        ports.update({"out_valid": Out(1), "g_new": Out(unsigned(fmt.g_bits))})
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        m.submodules.mul = mul = self.mul
        pre = 1 + self.pipe.depth if self.sum_bits is None else 1
        # valids[i]: an operand is in stage i (valids[pre] is mul.in_valid, valids[-1] mul.out_valid).
        valids = _valid_chain(m, self.in_valid, pre + mul.latency)
        valid = valids[pre - 1]
        if self.sum_bits is None:
            d1 = self.a1 - self.c1
            d2 = self.a2 - self.c2
            e, f = Signal(signed(len(d1) + 1), reset_less=True), Signal(signed(len(d1) + 1), reset_less=True)
            with m.If(self.in_valid):
                m.d.sync += [e.eq(d2 + d1), f.eq(d2 - d1)]
            total = product(m, e, f, valids[1:pre], self.pipe.block, "drop")
        else:
            total = self.A
        # MulRound's operands, loaded for a valid operand only and without reset, as in MulRound.
        a = Signal.like(mul.a, reset_less=True)
        with m.If(valid):
            m.d.sync += a.eq(saturate(total, fmt.upd_bits))
        m.d.comb += [mul.a.eq(a), mul.in_valid.eq(valids[pre]), mul.m.eq(_delay(m, self.k, valids[:pre], "k")),
                     mul.u.eq(_delay(m, self.u, valids[:pre], "u"))]
        if len(self.shifts) > 1:
            m.d.comb += mul.shift_sel.eq(_delay(m, self.shift_sel, valids[:pre], "sel"))
        g = _delay(m, self.g, valids[:-1], "g")
        with m.If(valids[-1]):
            m.d.sync += self.g_new.eq(saturate(g - mul.result, fmt.g_bits, signed_out=False))
        m.d.sync += self.out_valid.eq(valids[-1])
        return m


class BiasUpdate(wiring.Component):
    """Section 6's bias update, one per cycle: b' = sat(b + rnd(Q * k_b, s_b, round_update), b_bits).

    With `sum_bits` None (B = 1) Q = c2 - c1 is formed from the two measured codes; with
    `sum_bits` given, Q is an input of that width (the exact batch sum; the contract does not
    saturate it). k_b is a run-time input; the shift is one of `shifts` (s_b may be negative:
    an exact left shift), picked by `shift_sel` when there are several.

    Ports
    -----
    in_valid : In(1)
    c1, c2 : In(signed(v_bits))             (B = 1 only)
    Q : In(signed(sum_bits))                (batch sum only)
    k : In(unsigned(31))
    b : In(signed(b_bits))
    u : In(unsigned(32))
    shift_sel : In(range(len(shifts)))      (more than one shift only)
    out_valid : Out(1)
    b_new : Out(signed(b_bits))

    Timing: `latency` = 1 + MulRound's + 1 (Q registered, MulRound, add and saturate); `b_new` keeps its
    last value while out_valid is low. Widths: the
    multiply is (v_bits + 1 or sum_bits) x 31; MulRound saturates to b_bits + 1 bits, enough for
    the final sat to agree with the exact sum.
    """

    def __init__(self, fmt: FixedConstants, shifts: int | Sequence[int], sum_bits: int | None = None,
                 pipe: Pipeline = Pipeline()) -> None:
        if sum_bits is not None and not 2 <= sum_bits <= 63:
            raise ValueError(f"sum_bits must be in 2..63, got {sum_bits}")
        self.fmt, self.sum_bits = fmt, sum_bits
        q_bits = fmt.v_bits + 1 if sum_bits is None else sum_bits
        self.mul = MulRound(q_bits, MAX_MULTIPLIER_BITS, shifts, fmt.b_bits + 1, mode=Rounding(fmt.round_update),
                            pipe=pipe)
        self.shifts = self.mul.shifts
        self.latency = 1 + self.mul.latency + 1
        ports = {"in_valid": In(1)}
        if sum_bits is None:
            ports.update({"c1": In(signed(fmt.v_bits)), "c2": In(signed(fmt.v_bits))})
        else:
            ports["Q"] = In(signed(sum_bits))
        ports.update({"k": In(unsigned(MAX_MULTIPLIER_BITS)), "b": In(signed(fmt.b_bits)), "u": In(unsigned(32))})
        if len(self.shifts) > 1:
            ports["shift_sel"] = In(range(len(self.shifts)))
        ports.update({"out_valid": Out(1), "b_new": Out(signed(fmt.b_bits))})
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        m.submodules.mul = mul = self.mul
        # valids[i]: an operand is in stage i (valids[1] is mul.in_valid, valids[-1] mul.out_valid).
        valids = _valid_chain(m, self.in_valid, 1 + mul.latency)
        q = self.c2 - self.c1 if self.sum_bits is None else self.Q
        first = valids[:1]  # MulRound's operands: loaded for a valid operand only, as in ConductanceUpdate
        m.d.comb += [mul.a.eq(_delay(m, q, first, "q")), mul.m.eq(_delay(m, self.k, first, "k")),
                     mul.u.eq(_delay(m, self.u, first, "u")), mul.in_valid.eq(valids[1])]
        if len(self.shifts) > 1:
            m.d.comb += mul.shift_sel.eq(_delay(m, self.shift_sel, first, "sel"))
        b = _delay(m, self.b, valids[:-1], "b")
        with m.If(valids[-1]):
            m.d.sync += self.b_new.eq(saturate(b + mul.result, fmt.b_bits))
        m.d.sync += self.out_valid.eq(valids[-1])
        return m
