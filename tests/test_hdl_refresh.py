# amaranth: UnusedElaboratable=no
"""The refresh engine (hdl/refresh.py) against golden.fixed_ep.refresh in Amaranth's simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.back import verilog

from golden import config
from golden.fixed_arith import TRUNCATE
from golden.fixed_ep import FixedEP, refresh
from hdl_sim import SharedParams, simulate, start_and_wait
from hdl.layout import RefreshLayout
from hdl.refresh import RefreshEngine, RefreshMem


def model(hidden: list[int], small: bool, variant: str) -> FixedEP:
    """A fixed-point golden model of a 1568-hidden-10 network, default or narrow formats."""
    lrs = [0.1] * (len(hidden) + 1)
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0, "hidden": hidden,
                                                 "variant": variant, "lr_weights": lrs, "lr_biases": lrs},
                       "test").validate()
    ep = FixedEP(cfg)
    if small:  # narrow formats: r(d) saturates for totals d <= 2^(Fg + Fr - recip_bits) = 8
        ep.consts = dataclasses.replace(ep.consts, Fv=3, Fg=4, Fr=8, v_bits=8, vin_bits=9, g_bits=7, b_bits=12,
                                        acc_bits=11, recip_bits=9, round_v=TRUNCATE, beta_g=5, beta_c=40)
    return ep


def random_theta(rng: np.random.Generator, ep: FixedEP) -> np.ndarray:
    """Conductance codes spread over bit lengths, sparse, with a hidden node and an output node without any
    conductance (den = 0), a hidden node whose total is 3 and an output node whose total is beta_g
    (den - beta_g = 0)."""
    c, lay = ep.consts, ep.layout
    theta = np.zeros(lay.n_params, np.int64)
    for l in range(1, lay.top + 1):
        a, b = int(lay.sizes[l - 1]), int(lay.sizes[l])
        lengths = rng.integers(0, c.g_bits + 1, a * b)
        w = rng.integers(0, 1 << 62, a * b) & ((np.int64(1) << lengths) - 1)
        w[rng.random(a * b) < (0.9 if l == 1 else 0.4)] = 0
        theta[lay.w_off[l]:lay.w_off[l] + a * b] = w
        theta[lay.b_off[l]:lay.b_off[l] + b] = rng.integers(-100, 100, b)
    top = lay.top
    for l in range(1, top + 1):
        lay.weights(theta, l)[:, :] = np.where(rng.random(lay.weights(theta, l).shape) < 0.02,
                                               (1 << c.g_bits) - 1, lay.weights(theta, l))  # the largest code
    j = int(rng.integers(lay.sizes[1]))  # a hidden node of layer 1 with no conductance
    lay.weights(theta, 1)[:, j] = 0
    lay.weights(theta, 2)[j, :] = 0
    j = (j + 1) % int(lay.sizes[1])  # and one with a total of 3
    lay.weights(theta, 1)[:, j] = 0
    lay.weights(theta, 2)[j, :] = 0
    lay.weights(theta, 1)[int(rng.integers(lay.sizes[0])), j] = 3
    k, q = rng.choice(int(lay.sizes[top]), 2, replace=False)
    W = lay.weights(theta, top)
    W[:, k] = 0                                      # den = 0 at the output
    W[:, q] = 0
    W[(j + 1) % int(lay.sizes[top - 1]), q] = c.beta_g  # den = beta_g at the output (not via the nodes above)
    return theta


def run_engine(h: SharedParams, thetas: list[np.ndarray]) -> list:
    """For each theta: load the parameter banks, run, read den and the reciprocals; (den, R banks, flags, cycles)
    per run."""
    out: list = []
    dut = h.dut
    L = dut.lanes

    async def bench(ctx) -> None:
        for theta in thetas:
            h.load(ctx, theta)
            ctx.set(dut.beta_g, dut.consts.beta_g)
            await start_and_wait(ctx, dut, 1_000_000)
            cycles, flags = ctx.get(dut.cycles), ctx.get(dut.flags)

            async def read(mem: RefreshMem, p: int, a: int) -> int:
                ctx.set(dut.rd_mem, mem)
                ctx.set(dut.rd_bank, p)
                ctx.set(dut.rd_addr, a)
                await ctx.tick()
                return ctx.get(dut.rd_data)

            den = [[await read(RefreshMem.DEN, p, a) for a in range(dut.v_depth)] for p in range(L)]
            R = [[await read(RefreshMem.R, p, a) for a in range(dut.r_depth)] for p in range(L)]
            out.append((den, R, flags, cycles))

    simulate(h, bench)
    return out


@pytest.mark.parametrize("hidden,small,lanes,variant,seed", [
    ([4], False, 1, "centered", 1),
    ([6], True, 2, "positive", 2),
    ([12], True, 4, "centered", 3),
    ([6, 8], False, 2, "positive", 4),
    ([10, 4], True, 1, "centered", 5),
    ([8, 12], False, 4, "centered", 6),
    ([6, 2], True, 4, "positive", 7),
    ([100], False, 16, "centered", 8),  # DRN-XS
])
def test_refresh_matches_golden(hidden: list[int], small: bool, lanes: int, variant: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ep = model(hidden, small, variant)
    c, lay = ep.consts, ep.layout
    centered = variant == "centered"
    dut = RefreshEngine(c, RefreshLayout([int(n) for n in lay.sizes], lanes, c), centered)
    thetas = [random_theta(rng, ep) for _ in range(2)]  # the second run overwrites the first's sums
    got = run_engine(SharedParams(dut, dut.params, c.g_bits), thetas)
    nout, top = int(lay.sizes[lay.top]), lay.top
    o = int(lay.n_off[top])
    for theta, (den, R, flags, cycles) in zip(thetas, got, strict=True):
        ep.theta[:] = theta
        want = refresh(ep.theta, ep._lay, ep._WT, ep._D, ep._den, ep._recip, ep._recip_out, c.beta_g, c.shift_v,
                       c.recip_bits, centered)
        assert want >= 2 + centered  # the forced zero totals are counted
        got_den = [den[b][a] for b, a in map(dut.node_word, range(lay.n_free))]
        np.testing.assert_array_equal(got_den, ep._den)
        got_recip = [R[b][a] for b, a in map(dut.node_word, range(o))]
        np.testing.assert_array_equal(got_recip, ep._recip[:o])
        got_out = [[R[b][a] for b, a in (dut.out_word(s, j) for j in range(nout))] for s in (-1, 0, 1)]
        np.testing.assert_array_equal(got_out, ep._recip_out)
        assert flags == want
        assert cycles == dut.params.cycle_count()
        top_code = (1 << c.recip_bits) - 1
        if small:  # saturation by a small positive total, not only by den <= 0
            assert any(r == top_code and d > 0 for r, d in zip(ep._recip[:o], ep._den[:o]))


def test_cycle_formula() -> None:
    c = model([6, 8], False, "centered").consts
    dut = RefreshLayout([1568, 6, 8, 10], 4, c)
    # groups 2, 2, 3; G words 784 * 2 + 6 * 2 + 8 * 3; jobs 2 + 2 + 3 * 3; Reciprocal latency min(28, 45) + 1
    assert dut.latency == 29
    assert dut.cycle_count() == 784 * 2 + 6 * 2 + 8 * 3 + 13 * 29 + 5
    drn_xs = RefreshLayout([1568, 100, 10], 16, model([100], False, "centered").consts)
    assert drn_xs.cycle_count() == 784 * 7 + 100 * 1 + (7 + 3) * 29 + 5  # 5883


def test_bad_lanes() -> None:
    c = model([4], False, "centered").consts
    with pytest.raises(ValueError, match="power of two"):
        RefreshLayout([1568, 4, 10], 3, c)


def test_refresh_engine_converts_to_verilog() -> None:
    c = model([6, 8], True, "centered").consts
    dut = RefreshEngine(c, RefreshLayout([1568, 6, 8, 10], 2, c), True)
    text = verilog.convert(dut, name="refresh_engine", emit_src=False)
    assert "module refresh_engine" in text
    for port in ("start", "busy", "done", "cycles", "flags", "par_addr", "par_gp", "rd_data"):
        assert port in text
