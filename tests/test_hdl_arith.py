# amaranth: UnusedElaboratable=no
"""Pipelined arithmetic units (hdl/arith.py) against golden.fixed_arith's sat/usat/mul_round in Amaranth's simulator."""

from __future__ import annotations

import dataclasses
import random

import pytest
from amaranth.back import verilog

from golden import config
from golden.fixed_arith import NEAREST, STOCHASTIC, TRUNCATE, mul_round, sat, usat
from golden.fixed_formats import FixedConstants, derive
from hdl.arith import BiasUpdate, ConductanceUpdate, MulRound, NodeKind, NodeUpdate, Rounding
from hdl.layout import Pipeline
from hdl_sim import simulate

MODES = (TRUNCATE, NEAREST, STOCHASTIC)
# The core before pipelining, the default, and a deeper tree of Xilinx-sized partial products.
PIPES = [Pipeline(1), Pipeline(), Pipeline(4, "xilinx")]


def default_fmt() -> FixedConstants:
    """The DRN-XS preset's derived constants (the default formats)."""
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0}, "test")
    return derive(cfg.validate())


DEFAULT = default_fmt()
# Narrow formats: every saturation is easy to reach with random operands.
SMALL = dataclasses.replace(DEFAULT, Fv=3, Fg=4, Fr=5, v_bits=8, vin_bits=9, g_bits=7, b_bits=12, acc_bits=11,
                            recip_bits=9, upd_bits=14, round_v=TRUNCATE, round_update=STOCHASTIC, beta_c=40)


def run_pipeline(dut, inputs: list[dict], outputs: tuple[str, ...], gaps: list[int] | None = None) -> list[tuple]:
    """Drive operand set i after gaps[i] idle cycles (none: back to back); the outputs of each, in order.

    Checks that out_valid rises exactly `dut.latency` cycles after each operand and never otherwise.
    """
    schedule: list[dict | None] = []
    for i, item in enumerate(inputs):
        schedule += [None] * (gaps[i] if gaps else 0) + [item]
    schedule += [None] * (dut.latency + 1)
    got: list[tuple] = []
    starts: list[int] = []
    valid_at: list[int] = []

    async def bench(ctx) -> None:
        for cycle, item in enumerate(schedule):
            if item is None:
                ctx.set(dut.in_valid, 0)
            else:
                for name, value in item.items():
                    ctx.set(getattr(dut, name), value)
                ctx.set(dut.in_valid, 1)
                starts.append(cycle)
            await ctx.tick()
            if ctx.get(dut.out_valid):
                valid_at.append(cycle + 1)
                got.append(tuple(ctx.get(getattr(dut, name)) for name in outputs))

    simulate(dut, bench)
    assert valid_at == [c + dut.latency for c in starts]
    return got


def signed_value(rng: random.Random, bits: int) -> int:
    """A signed `bits`-bit value: magnitudes spread evenly over bit lengths, with the extremes often."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    pick = rng.random()
    if pick < 0.1:
        return rng.choice((lo, hi, lo + 1, hi - 1, 0, -1, 1))
    v = rng.getrandbits(rng.randint(0, bits - 1))
    return v if rng.random() < 0.5 else -v - 1


def unsigned_value(rng: random.Random, bits: int) -> int:
    """An unsigned `bits`-bit value, spread over bit lengths, with 0, 1 and the maximum often."""
    if rng.random() < 0.1:
        return rng.choice((0, 1, (1 << bits) - 1))
    return rng.getrandbits(rng.randint(0, bits))


def reference_mul_round(a: int, m: int, s: int, mode: int, u: int) -> int:
    """golden mul_round; above s = 62 (where the golden model refuses stochastic rounding) its formula in Python."""
    if mode == STOCHASTIC and s > 62:
        return (a * m + (u << (s - 32))) >> s
    return int(mul_round(a, m, s, mode, u))


def tie_operands(rng: random.Random, a_bits: int, m_bits: int, s: int) -> tuple[int, int] | None:
    """a, m with a * m = k 2^s + 2^(s-1) exactly (a rounding tie), or None if none fits the widths."""
    for _ in range(20):
        j = rng.randint(0, min(m_bits - 1, s - 1))
        step, half = 1 << (s - j), 1 << (s - 1 - j)
        top = ((1 << (a_bits - 1)) - 1 - half) // step
        if top < 0:
            continue
        k = rng.randint(-top - 1, top)
        return k * step + half, 1 << j
    return None


def mulround_operands(rng: random.Random, dut: MulRound, n: int) -> list[dict]:
    """n random operand sets over every shift and mode, a tenth of them rounding ties."""
    out = []
    for _ in range(n):
        sel = rng.randrange(len(dut.shifts))
        s = dut.shifts[sel]
        a, m = signed_value(rng, dut.a_bits), unsigned_value(rng, dut.m_bits)
        if s > 0 and rng.random() < 0.1:
            a, m = tie_operands(rng, dut.a_bits, dut.m_bits, s) or (a, m)
        item = {"a": a, "m": m, "mode": Rounding(rng.choice(MODES)), "u": rng.getrandbits(32)}
        if len(dut.shifts) > 1:
            item["shift_sel"] = sel
        out.append(item)
    return out


def check_mulround(dut: MulRound, inputs: list[dict], gaps: list[int] | None = None) -> None:
    clip = sat if dut.signed_out else usat
    got = run_pipeline(dut, inputs, ("result",), gaps)
    for item, (result,) in zip(inputs, got, strict=True):
        s = dut.shifts[item.get("shift_sel", 0)]
        want = clip(reference_mul_round(item["a"], item["m"], s, item["mode"].value, item["u"]), dut.out_bits)
        assert result == want, f"{item}, s={s}: got {result}, want {want}"


SHIFTS = (0, 1, 5, 31, 32, 33, 44, 61, 62, 92, -3)


@pytest.mark.parametrize("a_bits,m_bits,out_bits,signed_out", [
    (56, 28, 28, True),    # the default formats' acc * r (shift 44) -> v_bits
    (63, 31, 62, True),    # the widest operands and result
    (62, 31, 23, False),   # an update product saturated to an unsigned result
    (12, 7, 10, True),     # narrow: saturation in most results
])
def test_mulround_matches_golden_over_shifts_and_modes(a_bits: int, m_bits: int, out_bits: int,
                                                        signed_out: bool) -> None:
    rng = random.Random(a_bits * 100 + m_bits)
    dut = MulRound(a_bits, m_bits, SHIFTS, out_bits, signed_out)
    check_mulround(dut, mulround_operands(rng, dut, 4000))


@pytest.mark.parametrize("s", [0, 31, 32, 33, 44, 61, 62])
def test_mulround_single_shift_with_gaps(s: int) -> None:
    rng = random.Random(s)
    dut = MulRound(56, 28, s, 28)
    inputs = mulround_operands(rng, dut, 300)
    check_mulround(dut, inputs, [rng.choice((0, 0, 1, 3)) for _ in inputs])


@pytest.mark.parametrize("a_bits,m_bits,shifts,out_bits,signed_out", [
    (63, 31, (32, 33, 61, 92), 62, True),  # the widest operands, every shift >= 32: the split product
    (56, 28, (92,), 28, True),
    (62, 31, (38, 44), 17, False),
])
@pytest.mark.parametrize("pipe", PIPES)
def test_mulround_split_product(a_bits: int, m_bits: int, shifts: tuple[int, ...], out_bits: int,
                                signed_out: bool, pipe: Pipeline) -> None:
    rng = random.Random(sum(shifts))
    dut = MulRound(a_bits, m_bits, shifts, out_bits, signed_out, pipe=pipe)
    assert dut.latency == pipe.depth + 2
    check_mulround(dut, mulround_operands(rng, dut, 3000))


def test_mulround_result_holds_while_idle() -> None:
    """Idle cycles with other operands on the inputs load nothing: the last result stays."""
    dut = MulRound(63, 31, (32, 5), 62)
    operand = {"a": -(1 << 61) + 12345, "m": (1 << 31) - 3, "mode": Rounding.NEAREST, "u": 0, "shift_sel": 1}
    want = sat(reference_mul_round(operand["a"], operand["m"], 5, NEAREST, 0), 62)
    seen: list[int] = []

    async def bench(ctx) -> None:
        for name, value in operand.items():
            ctx.set(getattr(dut, name), value)
        ctx.set(dut.in_valid, 1)
        await ctx.tick()
        ctx.set(dut.in_valid, 0)
        ctx.set(dut.a, 7)
        ctx.set(dut.shift_sel, 0)
        for _ in range(dut.latency + 5):
            await ctx.tick()
            seen.append(ctx.get(dut.result))

    simulate(dut, bench)
    assert seen[dut.latency - 1:] == [want] * 6


def test_mulround_rejects_impossible_parameters() -> None:
    for args in ((1, 8, 4, 8), (64, 8, 4, 8), (8, 32, 4, 8), (8, 8, 93, 8), (8, 8, -63, 8), (8, 8, (), 8),
                 (8, 8, 4, 64), (8, 8, 4, 1)):
        with pytest.raises(ValueError):
            MulRound(*args)


def node_reference(fmt: FixedConstants, acc: int, bias: int, nudge: int, r: int, kind: NodeKind) -> int:
    """Section 4 with golden's functions, as golden.fixed_ep.relax computes it."""
    t = acc + bias + (nudge if kind == NodeKind.OUTPUT else 0)
    u = sat(mul_round(sat(t, fmt.acc_bits), r, fmt.shift_v, fmt.round_v, 0), fmt.v_bits)
    return max(u, 0) if kind == NodeKind.EXCITATORY else min(u, 0) if kind == NodeKind.INHIBITORY else u


@pytest.mark.parametrize("fmt,sum_bits", [
    (DEFAULT, 60),
    (SMALL, 14),
    (dataclasses.replace(SMALL, round_v=NEAREST), 11),
])
@pytest.mark.parametrize("pipe", PIPES)
def test_node_update_matches_golden(fmt: FixedConstants, sum_bits: int, pipe: Pipeline) -> None:
    rng = random.Random(sum_bits)
    dut = NodeUpdate(fmt, sum_bits, pipe)
    assert dut.latency == pipe.node_latency == pipe.depth + 4
    inputs = []
    for _ in range(2000):
        inputs.append({
            "acc": signed_value(rng, sum_bits), "bias": signed_value(rng, fmt.b_bits),
            "nudge": rng.choice((0, fmt.beta_c, -fmt.beta_c, signed_value(rng, fmt.acc_bits))),
            "r": unsigned_value(rng, fmt.recip_bits), "kind": NodeKind(rng.randrange(3)),
        })
    gaps = [rng.choice((0, 0, 0, 2)) for _ in inputs]
    got = run_pipeline(dut, inputs, ("v",), gaps)
    for item, (v,) in zip(inputs, got, strict=True):
        assert v == node_reference(fmt, **item), item


def conductance_reference(fmt: FixedConstants, A: int, k: int, s: int, g: int, u: int) -> int:
    """Section 6 with golden's functions, as golden.fixed_ep.apply_update computes it."""
    return usat(g - reference_mul_round(sat(A, fmt.upd_bits), k, s, fmt.round_update, u), fmt.g_bits)


def drop_operands(rng: random.Random, fmt: FixedConstants) -> dict:
    w = max(fmt.v_bits, fmt.vin_bits)
    a1 = signed_value(rng, w)
    a2 = a1 if rng.random() < 0.3 else signed_value(rng, w)  # the input layer: a1 = a2 = vin
    return {"a1": a1, "a2": a2, "c1": signed_value(rng, w), "c2": signed_value(rng, w)}


@pytest.mark.parametrize("fmt,shifts,sum_bits", [
    (DEFAULT, (32, 44, 8), None),
    (DEFAULT, 32, 64),
    (SMALL, (1, 6, 33), None),   # stochastic rounding
    (dataclasses.replace(SMALL, round_update=NEAREST), 4, 17),
])
@pytest.mark.parametrize("pipe", PIPES)
def test_conductance_update_matches_golden(fmt: FixedConstants, shifts, sum_bits: int | None, pipe: Pipeline) -> None:
    rng = random.Random(fmt.g_bits + (sum_bits or 0))
    dut = ConductanceUpdate(fmt, shifts, sum_bits, pipe)
    assert dut.latency == (pipe.conductance_latency if sum_bits is None else pipe.depth + 4)
    inputs = []
    for _ in range(2000):
        item = drop_operands(rng, fmt) if sum_bits is None else {"A": signed_value(rng, sum_bits)}
        item.update({"k": unsigned_value(rng, 31), "g": unsigned_value(rng, fmt.g_bits), "u": rng.getrandbits(32)})
        if len(dut.shifts) > 1:
            item["shift_sel"] = rng.randrange(len(dut.shifts))
        inputs.append(item)
    gaps = [rng.choice((0, 0, 0, 1)) for _ in inputs]
    got = run_pipeline(dut, inputs, ("g_new",), gaps)
    for item, (g_new,) in zip(inputs, got, strict=True):
        if sum_bits is None:
            d1, d2 = item["a1"] - item["c1"], item["a2"] - item["c2"]
            A = (d2 + d1) * (d2 - d1)
        else:
            A = item["A"]
        s = dut.shifts[item.get("shift_sel", 0)]
        assert g_new == conductance_reference(fmt, A, item["k"], s, item["g"], item["u"]), item


@pytest.mark.parametrize("fmt,shifts,sum_bits", [
    (DEFAULT, (4, -14, 0, 40), None),
    (DEFAULT, 4, 40),
    (SMALL, (2, -5, 9), None),   # stochastic rounding
    (dataclasses.replace(SMALL, round_update=NEAREST), 3, 13),
])
@pytest.mark.parametrize("pipe", PIPES)
def test_bias_update_matches_golden(fmt: FixedConstants, shifts, sum_bits: int | None, pipe: Pipeline) -> None:
    rng = random.Random(fmt.b_bits + (sum_bits or 0))
    dut = BiasUpdate(fmt, shifts, sum_bits, pipe)
    assert dut.latency == pipe.bias_latency
    inputs = []
    for _ in range(2000):
        if sum_bits is None:
            item = {"c1": signed_value(rng, fmt.v_bits), "c2": signed_value(rng, fmt.v_bits)}
        else:
            item = {"Q": signed_value(rng, sum_bits)}
        item.update({"k": unsigned_value(rng, 31), "b": signed_value(rng, fmt.b_bits), "u": rng.getrandbits(32)})
        if len(dut.shifts) > 1:
            item["shift_sel"] = rng.randrange(len(dut.shifts))
        inputs.append(item)
    got = run_pipeline(dut, inputs, ("b_new",), [rng.choice((0, 0, 0, 1)) for _ in inputs])
    for item, (b_new,) in zip(inputs, got, strict=True):
        Q = item["Q"] if sum_bits is not None else item["c2"] - item["c1"]
        s = dut.shifts[item.get("shift_sel", 0)]
        want = sat(item["b"] + reference_mul_round(Q, item["k"], s, fmt.round_update, item["u"]), fmt.b_bits)
        assert b_new == want, item


@pytest.mark.parametrize("name,make,ports", [
    ("mulround", lambda: MulRound(56, 28, 44, 28), ("a", "m", "mode", "u", "in_valid", "out_valid", "result")),
    ("mulround_sel", lambda: MulRound(62, 31, (32, 8, -4), 23, signed_out=False), ("shift_sel", "result")),
    ("node_update", lambda: NodeUpdate(DEFAULT, 60), ("acc", "bias", "nudge", "r", "kind", "v")),
    ("conductance_update", lambda: ConductanceUpdate(DEFAULT, (32, 36)),
     ("a1", "a2", "c1", "c2", "k", "g", "u", "shift_sel", "g_new")),
    ("conductance_update_sum", lambda: ConductanceUpdate(DEFAULT, 32, 64), ("A", "g_new")),
    ("bias_update", lambda: BiasUpdate(DEFAULT, 4), ("c1", "c2", "k", "b", "u", "b_new")),
    ("bias_update_sum", lambda: BiasUpdate(SMALL, (2, -5), 13), ("Q", "shift_sel", "b_new")),
])
def test_arith_units_convert_to_verilog(name: str, make, ports: tuple[str, ...]) -> None:
    text = verilog.convert(make(), name=name, emit_src=False)
    assert f"module {name}" in text
    for port in ports:
        assert port in text
