# amaranth: UnusedElaboratable=no
"""The relaxation engine (hdl/relax.py) against golden.fixed_ep.relax in Amaranth's simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.back import verilog

from golden import config
from golden.fixed_arith import TRUNCATE
from golden.fixed_ep import FixedEP, relax
from golden.fixed_formats import FixedConstants
from golden.network import sweep_order
from hdl_sim import random_codes, simulate, start_and_wait
from hdl.layout import DEFAULT_DEPTH, Pipeline, RelaxLayout
from hdl.relax import RelaxEngine, RelaxMem, SweepOrder

ORDERS = {SweepOrder.ALTERNATING: "alternating", SweepOrder.FORWARD: "forward", SweepOrder.BACKWARD: "backward"}


def model(hidden: list[int], small: bool) -> FixedEP:
    """A fixed-point golden model of a 1568-hidden-10 network, default or narrow formats."""
    lrs = [0.1] * (len(hidden) + 1)
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0, "hidden": hidden,
                                                 "lr_weights": lrs, "lr_biases": lrs}, "test").validate()
    ep = FixedEP(cfg)
    if small:  # narrow formats: every saturation is easy to reach
        ep.consts = dataclasses.replace(ep.consts, Fv=3, Fg=4, Fr=5, v_bits=8, vin_bits=9, g_bits=7, b_bits=12,
                                        acc_bits=11, recip_bits=9, round_v=TRUNCATE, beta_g=5, beta_c=40)
    return ep


def random_theta(rng: np.random.Generator, ep: FixedEP) -> None:
    """Random conductance and bias codes, sparse (the input layer's very sparse) so that the totals vary
    from a few codes, where the reciprocals are large and the states saturate, to many."""
    c, lay = ep.consts, ep.layout
    theta = np.zeros(lay.n_params, np.int64)
    for l in range(1, lay.top + 1):
        a, b = int(lay.sizes[l - 1]), int(lay.sizes[l])
        w = random_codes(rng, c.g_bits, a * b, False)
        w[rng.random(a * b) < (0.995 if l == 1 else 0.8)] = 0
        theta[lay.w_off[l]:lay.w_off[l] + a * b] = w
        theta[lay.b_off[l]:lay.b_off[l] + b] = random_codes(rng, c.b_bits, b, True)
    ep.load_state({"theta": theta})


def run_engine(dut: RelaxEngine, img: dict, runs: list[tuple[int, SweepOrder, int, list[int]]]) -> list:
    """Load `img`, then for each (sign, order, nsweeps, V0): load V0, run, read V back; (states, cycles) per run."""
    out: list = []

    async def write(ctx, mem: RelaxMem, banks: list[list[int]], skip_zero: bool) -> None:
        ctx.set(dut.wr_mem, mem)
        for p, words in enumerate(banks):
            for a, word in enumerate(words):
                if word or not skip_zero:
                    ctx.set(dut.wr_bank, p)
                    ctx.set(dut.wr_addr, a)
                    ctx.set(dut.wr_data, word)
                    ctx.set(dut.wr_en, 1)
                    await ctx.tick()
        ctx.set(dut.wr_en, 0)

    async def bench(ctx) -> None:
        for mem in (RelaxMem.G, RelaxMem.B, RelaxMem.R, RelaxMem.P, RelaxMem.Y):
            await write(ctx, mem, img[mem], True)
        for sign, order, nsweeps, V0 in runs:
            await write(ctx, RelaxMem.V, dut.bank_images(img["theta"], img["recip"], img["recip_out"],
                                                         img["P"], V0, img["y"])[RelaxMem.V], False)
            ctx.set(dut.sign, sign)
            ctx.set(dut.beta_c, img["beta_c"])
            ctx.set(dut.order, order)
            ctx.set(dut.nsweeps, nsweeps)
            await start_and_wait(ctx, dut, 100000)
            cycles = ctx.get(dut.cycles)
            banks = []
            for p in range(dut.lanes):
                words = []
                for a in range(dut.v_depth):
                    ctx.set(dut.rd_bank, p)
                    ctx.set(dut.rd_addr, a)
                    await ctx.tick()
                    words.append(ctx.get(dut.rd_data))
                banks.append(words)
            out.append((dut.states(banks), cycles))

    simulate(dut, bench)
    return out


@pytest.mark.parametrize("hidden,small,lanes,seed", [
    ([4], False, 1, 1),
    ([6], True, 2, 2),
    ([12], True, 4, 3),
    ([6, 8], False, 2, 4),
    ([10, 4], True, 1, 5),
    ([8, 12], True, 4, 6),
    ([12, 6], False, 4, 7),
    ([100], False, 16, 8),  # DRN-XS
])
@pytest.mark.parametrize("depth", [1, DEFAULT_DEPTH])
def test_relax_matches_golden(hidden: list[int], small: bool, lanes: int, seed: int, depth: int) -> None:
    rng = np.random.default_rng(seed)
    ep = model(hidden, small)
    random_theta(rng, ep)
    c: FixedConstants = ep.consts
    lay = ep.layout
    nf, n1, nout = lay.n_free, int(lay.sizes[1]), int(lay.sizes[lay.top])
    P = random_codes(rng, c.acc_bits, n1, True)
    y = np.zeros(nout, np.bool_)
    y[rng.integers(nout)] = True
    dut = RelaxEngine(c, RelaxLayout([int(n) for n in lay.sizes], lanes, Pipeline(depth)))
    img = dut.bank_images(ep.theta, ep._recip, ep._recip_out, P, np.zeros(nf, np.int64), y)
    img.update({"beta_c": c.beta_c, "theta": ep.theta, "recip": ep._recip, "recip_out": ep._recip_out, "P": P, "y": y})

    runs, want = [], []
    for sign in (-1, 0, 1):
        for order in SweepOrder:
            nsweeps = int(rng.integers(0, 4))
            V0 = random_codes(rng, c.v_bits, nf, True)
            V = V0.copy()
            relax(ep.theta, ep._lay, ep._WT, ep._recip, ep._recip_out, P, V, np.zeros(max(lay.sizes[1:]), np.int64),
                  y, sign, c.beta_c, sweep_order(ORDERS[order], lay), nsweeps, c.shift_v, c.round_v, c.v_bits,
                  c.acc_bits)
            runs.append((sign, order, nsweeps, list(V0)))
            want.append((list(V), dut.geometry.cycle_count(nsweeps)))
    got = run_engine(dut, img, runs)
    for run, (states, cycles), (V, n) in zip(runs, got, want, strict=True):
        assert states == V, run[:3]
        assert cycles == n, run[:3]
    assert any(w != list(r[3]) for r, (w, _) in zip(runs, want))  # the runs changed the states
    hi = 1 << (c.v_bits - 1)
    if small:  # the narrow formats reach the state saturation
        assert any(v in (hi - 1, -hi) for w, _ in want for v in w)


def test_cycle_formula() -> None:
    dut = RelaxLayout([1568, 6, 8, 10], 4, Pipeline(1))
    # groups ceil(n / 4): 2, 2, 3; terms: 8, 6 + 10, 8
    assert dut.cycle_count(3) == 3 * ((1 + 2 * 8 + 8) + (1 + 2 * 16 + 8) + (1 + 3 * 8 + 8)) + 1
    drn_xs = RelaxLayout([1568, 100, 10], 16, Pipeline(1))
    assert drn_xs.cycle_count(4) == 4 * ((1 + 7 * 10 + 8) + (1 + 1 * 100 + 8)) + 1  # 753
    # pipelined: the read data registered once, depth - 1 more product stages
    assert RelaxLayout([1568, 100, 10], 16, Pipeline(3)).cycle_count(4) == 753 + 4 * 2 * 3


def test_relax_engine_converts_to_verilog() -> None:
    dut = RelaxEngine(model([6, 8], False).consts, RelaxLayout([1568, 6, 8, 10], 2))
    text = verilog.convert(dut, name="relax_engine", emit_src=False)
    assert "module relax_engine" in text
    for port in ("start", "sign", "nsweeps", "order", "busy", "done", "cycles", "wr_data", "rd_data"):
        assert port in text
