# amaranth: UnusedElaboratable=no
"""The update engine (hdl/update.py) against golden accumulate + apply_update (batch 1) in Amaranth's simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module

from golden import config, datasets
from golden.fixed_ep import FixedEP, accumulate, apply_update
from golden.fixed_formats import lr_codes
from golden.prng import seed_lanes
from hdl_sim import random_codes, simulate
from hdl.noise_lanes import NoiseLanes
from hdl.layout import DEFAULT_DEPTH, Pipeline, UpdateLayout
from hdl.update import UpdateEngine, UpdateMem

SMALL = {"v_frac": 3, "v_bits": 8, "vin_bits": 9, "g_frac": 4, "g_bits": 7, "b_bits": 12, "acc_bits": 11,
         "recip_frac": 5, "recip_bits": 9, "upd_bits": 12, "round_v": "truncate"}


def model(hidden: list[int], small: bool, rounding: str, lr_mode: str) -> FixedEP:
    """A batch-1 fixed-point golden model of a 1568-hidden-10 network with learning rates that reach the limits."""
    n = len(hidden) + 1
    if lr_mode == "shift":  # powers of two after / (2 (beta2 - beta1)) and / (beta2 - beta1)
        lr_w, lr_b = [0.25, 4.0, 1.0][:n], [0.125, 2.0, 0.5][:n]
    else:
        lr_w, lr_b = [0.5, 0.3, 0.7][:n], [0.4, 0.6, 0.2][:n]
    fixed = {"round_update": rounding, "lr_mode": lr_mode, **(SMALL if small else {})}
    values = {"precision": "fixed", "momentum": 0.0, "hidden": hidden, "batch_size": 1, "lr_weights": lr_w,
              "lr_biases": lr_b, "fixed": fixed}
    if small:  # biases with 12 bits: a step of up to 16 Q reaches their limits
        values.update(input_gain=10.0, lr_biases=[8 * lr for lr in lr_b])
    if lr_mode == "shift":
        values["lr_decay"] = 1.0
    cfg = config.apply(config.preset("drn-xs"), values, "test").validate()
    return FixedEP(cfg)


class Harness(Elaboratable):
    """UpdateEngine with NoiseLanes(1), whose lane 1 is the rounding generator, as the core wires it."""

    def __init__(self, dut: UpdateEngine) -> None:
        self.dut = dut
        self.noise = NoiseLanes(1)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = dut = self.dut
        m.submodules.noise = noise = self.noise
        m.d.comb += [noise.draw[1].eq(dut.draw), dut.word.eq(noise.word[1])]
        return m


def run_engine(h: Harness, img: dict, k_w: list[int], k_b: list[int], seed_word: int) -> dict:
    """Seed the rounding lane, load the images (non-zero words), run once, read GP, GM and B back."""
    dut, noise = h.dut, h.noise
    out: dict = {}

    async def bench(ctx) -> None:
        ctx.set(noise.seed_load, 1)
        ctx.set(noise.seed_lane, 1)
        ctx.set(noise.seed_data, seed_word)
        await ctx.tick()
        ctx.set(noise.seed_load, 0)
        ctx.set(dut.wr_en, 1)
        for mem in UpdateMem:
            ctx.set(dut.wr_mem, mem)
            for p, words in enumerate(img[mem]):
                for a, word in enumerate(words):
                    if word:
                        ctx.set(dut.wr_bank, p)
                        ctx.set(dut.wr_addr, a)
                        ctx.set(dut.wr_data, word)
                        await ctx.tick()
        ctx.set(dut.wr_en, 0)
        for l in range(dut.top):
            ctx.set(dut.k_w[l], k_w[l])
            ctx.set(dut.k_b[l], k_b[l])
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        counted = draws = 0
        while not ctx.get(dut.done):
            assert ctx.get(dut.busy)
            draws += ctx.get(dut.draw)
            await ctx.tick()
            counted += 1
            assert counted < 100_000
        await ctx.tick()
        assert not ctx.get(dut.busy)
        out.update(cycles=ctx.get(dut.cycles), counted=counted + 1, draws=draws, word=ctx.get(noise.word[1]))
        for mem in (UpdateMem.GP, UpdateMem.GM, UpdateMem.B):
            ctx.set(dut.rd_mem, mem)
            banks = []
            for p in range(dut.lanes):
                ctx.set(dut.rd_bank, p)
                words = []
                for a in range(dut.depth[mem]):
                    ctx.set(dut.rd_addr, a)
                    await ctx.tick()
                    words.append(ctx.get(dut.rd_data))
                    if mem != UpdateMem.B:  # the shared read port shows the same word
                        assert ctx.get((dut.rd_gp if mem == UpdateMem.GP else dut.rd_gm)[p]) == words[-1]
                banks.append(words)
            out[mem] = banks

    simulate(h, bench)
    return out


MNIST = datasets.load("mnist-subset", progress=False)


@pytest.mark.parametrize("hidden,small,lanes,rounding,lr_mode,seed,depth", [
    ([4], False, 1, "nearest", "multiply", 1, DEFAULT_DEPTH),
    ([6], True, 2, "truncate", "multiply", 2, 1),
    ([4], True, 4, "nearest", "shift", 3, DEFAULT_DEPTH),
    ([4, 6], False, 2, "truncate", "shift", 4, 1),
    ([4, 12], True, 4, "truncate", "multiply", 5, DEFAULT_DEPTH),
    ([2, 6], False, 4, "nearest", "multiply", 6, DEFAULT_DEPTH),
    ([2], True, 1, "stochastic", "multiply", 7, 1),
    ([2, 4], False, 1, "stochastic", "shift", 8, DEFAULT_DEPTH),
])
def test_update_matches_golden(hidden: list[int], small: bool, lanes: int, rounding: str, lr_mode: str,
                               seed: int, depth: int) -> None:
    rng = np.random.default_rng(seed)
    ep = model(hidden, small, rounding, lr_mode)
    c, lay = ep.consts, ep.layout
    theta = np.zeros(lay.n_params, np.int64)
    gmax = (1 << c.g_bits) - 1
    for l in range(1, lay.top + 1):
        a, b = int(lay.sizes[l - 1]), int(lay.sizes[l])
        w = random_codes(rng, c.g_bits, a * b, False)
        w[rng.random(a * b) < (0.7 if l == 1 else 0.2)] = 0
        w[rng.random(a * b) < 0.05] = gmax
        theta[lay.w_off[l]:lay.w_off[l] + a * b] = w
        theta[lay.b_off[l]:lay.b_off[l] + b] = random_codes(rng, c.b_bits, b, True)
    ep.load_state({"theta": theta})
    M1, M2 = (random_codes(rng, c.v_bits, lay.n_free, True) for _ in range(2))
    vin = c.vin_table[MNIST.train_x[seed]].astype(np.int64)
    k_w, s_w, k_b, s_b = lr_codes(ep.cfg, c, 0)
    state = seed_lanes(seed, 0, c.lanes)

    dut = UpdateEngine(c, UpdateLayout([int(n) for n in lay.sizes], lanes, Pipeline(depth)), list(s_w[1:]),
                       list(s_b[1:]))
    got = run_engine(Harness(dut), dut.bank_images(theta, M1, M2, vin), [int(k) for k in k_w[1:]],
                     [int(k) for k in k_b[1:]], int(state[c.lanes]))

    want = theta.copy()
    n1 = int(lay.sizes[1])
    GX, colA = np.zeros((784, n1), np.int64), np.zeros(n1, np.int64)
    A, Q = np.zeros(lay.n_params, np.int64), np.zeros(lay.n_free, np.int64)
    accumulate(vin, ep._lay, M1, M2, GX, colA, A, Q)
    apply_update(want, ep._lay, GX, colA, A, Q, k_w, s_w, k_b, s_b, c.round_update, state, c.lanes,
                 c.upd_bits, c.g_bits, c.b_bits)
    assert dut.theta(got) == [int(v) for v in want]
    assert got["cycles"] == got["counted"] == dut.params.cycle_count()
    if rounding == "stochastic":
        assert got["draws"] == lay.n_params
        assert got["word"] == int(state[c.lanes])
    else:
        assert got["draws"] == 0
    # The limits are reached: conductances clamped at 0 and at the top, biases saturated (narrow formats).
    w_new = np.concatenate([lay.weights(want, l).ravel() for l in range(1, lay.top + 1)])
    w_old = np.concatenate([lay.weights(theta, l).ravel() for l in range(1, lay.top + 1)])
    assert np.any((w_new == 0) & (w_old > 0)) and np.any((w_new == gmax) & (w_old < gmax))
    if small:
        b_new = np.concatenate([lay.biases(want, l) for l in range(1, lay.top + 1)])
        assert np.any(np.abs(b_new) >= (1 << (c.b_bits - 1)) - 1)


def test_cycle_formula() -> None:
    dut = UpdateLayout([1568, 100, 10], 16, Pipeline(1))
    assert dut.cycle_count() == (1 + 1569 * 7) + (1 + 101 * 1) + 7 + 1  # 11,094
    small = UpdateLayout([1568, 6, 8, 10], 4, Pipeline(1))
    assert small.cycle_count() == (1 + 1569 * 2) + (1 + 7 * 2) + (1 + 9 * 3) + 7 + 1
    # pipelined: the drop product and MulRound's product each depth - 1 stages longer
    assert UpdateLayout([1568, 100, 10], 16, Pipeline(3)).cycle_count() == 11_094 + 2 * 2


def test_stochastic_needs_one_lane() -> None:
    ep = model([4], False, "stochastic", "multiply")
    with pytest.raises(ValueError, match="lanes = 1"):
        UpdateEngine(ep.consts, UpdateLayout([1568, 4, 10], 2), [32, 32], [4, 4])


def test_update_engine_converts_to_verilog() -> None:
    ep = model([6, 8], False, "nearest", "shift")
    k_w, s_w, k_b, s_b = lr_codes(ep.cfg, ep.consts, 0)
    dut = UpdateEngine(ep.consts, UpdateLayout([1568, 6, 8, 10], 2), list(s_w[1:]), list(s_b[1:]))
    text = verilog.convert(dut, name="update_engine", emit_src=False)
    assert "module update_engine" in text
    for port in ("start", "k_w", "k_b", "busy", "done", "cycles", "draw", "word", "wr_data", "rd_data"):
        assert port in text
