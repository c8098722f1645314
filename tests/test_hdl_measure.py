# amaranth: UnusedElaboratable=no
"""hdl.measure.Measure with hdl.noise_lanes.NoiseLanes against golden.fixed_ep.measure in Amaranth's simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, MemoryData, Module, signed
from amaranth.lib.memory import Memory

from golden import config
from golden.fixed_arith import NEAREST, STOCHASTIC, TRUNCATE
from golden.fixed_ep import measure
from golden.fixed_formats import FixedConstants, derive
from golden.network import Layout
from golden.prng import seed_lanes
from hdl.layout import MeasureLayout
from hdl.measure import Measure
from hdl.noise_lanes import NoiseLanes
from hdl_sim import simulate

DEFAULT = derive(config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0}, "test").validate())
SMALL = dataclasses.replace(DEFAULT, Fv=3, Fs=5, v_bits=8, round_noise=TRUNCATE)
FORMATS = {"default-nearest": DEFAULT, "default-truncate": dataclasses.replace(DEFAULT, round_noise=TRUNCATE),
           "small-truncate": SMALL, "small-nearest": dataclasses.replace(SMALL, round_noise=NEAREST)}
LAY = Layout.of([1568, 4, 10]).offsets()  # golden measure takes a layout but reads only V.size


class Harness(Elaboratable):
    """Measure wired to NoiseLanes(L) and to a V memory (a synchronous read port), as the core wires it."""

    def __init__(self, consts: FixedConstants, n_free: int, lanes: int, max_samples: int) -> None:
        self.dut = Measure(consts, MeasureLayout(n_free, lanes, max_samples, consts.round_noise))
        self.noise = NoiseLanes(lanes)
        self.v = MemoryData(shape=signed(consts.v_bits), depth=n_free, init=[])

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = dut = self.dut
        m.submodules.noise = noise = self.noise
        m.submodules.v = mem = Memory(data=self.v)
        rd = mem.read_port()
        lanes = dut.lanes
        m.d.comb += [rd.addr.eq(dut.v_addr), dut.v_data.eq(rd.data), noise.draw[:lanes].eq(dut.draw)]
        m.d.comb += [dut.code[p].eq(noise.code[p]) for p in range(lanes)]
        return m


def random_voltages(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    """Codes of `bits` bits with the extremes, zero and small values well represented; V[0], V[1] near the limits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = rng.integers(lo, hi + 1, n)
    pick = rng.random(n)
    v[pick < 0.3] = rng.choice([lo, hi, 0, -1, 1, lo + 1, hi - 1], int(np.sum(pick < 0.3)))
    small = (pick >= 0.3) & (pick < 0.5)
    v[small] = rng.integers(max(lo, -300), min(hi, 300) + 1, int(np.sum(small)))
    v[:2] = [hi - 5, lo + 5][:n]
    return v.astype(np.int64)


def run(h: Harness, seeds: np.ndarray, jobs: list[tuple[np.ndarray, int, int]]) -> list[dict]:
    """Seed every lane through the ports, then one measurement per (V, sn, N), back to back."""
    dut, noise = h.dut, h.noise
    results: list[dict] = []

    async def bench(ctx) -> None:
        for p, s in enumerate(seeds):
            ctx.set(noise.seed_load, 1)
            ctx.set(noise.seed_lane, p)
            ctx.set(noise.seed_data, int(s))
            await ctx.tick()
        ctx.set(noise.seed_load, 0)
        for V, sn, N in jobs:
            for g, v in enumerate(V):
                ctx.set(h.v[g], int(v))
            ctx.set(dut.sn, sn)
            ctx.set(dut.samples, N)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.sn, 0)  # taken with start only
            ctx.set(dut.samples, 0)
            writes, counted, draws = [], 0, 0
            while not ctx.get(dut.done):
                draws += bin(ctx.get(dut.draw)).count("1")
                await ctx.tick()
                counted += 1
                if ctx.get(dut.m_we):
                    writes.append((ctx.get(dut.m_addr), ctx.get(dut.m_data)))
                assert counted < 10_000
            states = [ctx.get(noise.word[p]) for p in range(len(seeds))]
            results.append({"writes": writes, "cycles": ctx.get(dut.cycles), "counted": counted,
                            "draws": draws, "states": states})

    simulate(h, bench)
    return results


def check(consts: FixedConstants, n_free: int, lanes: int, max_samples: int, jobs: list[tuple[np.ndarray, int, int]],
          seed: int) -> int:
    """Every M, write order, lane state and cycle count against golden; returns the saturated measurements."""
    h = Harness(consts, n_free, lanes, max_samples)
    state = seed_lanes(seed, 2, lanes)
    results = run(h, state.copy(), jobs)
    saturated = 0
    for (V, sn, N), got in zip(jobs, results, strict=True):
        before = state.copy()
        want = np.zeros(n_free, np.int64)
        measure(V, want, LAY, lanes, state, sn, N, consts.Fs, consts.round_noise, consts.v_bits)
        assert got["writes"] == [(g, int(w)) for g, w in enumerate(want)], (sn, N)
        assert got["states"] == [int(x) for x in state]
        assert got["cycles"] == got["counted"] == h.dut.geometry.expected_cycles(sn, N)
        if sn == 0 or N == 0:
            assert got["draws"] == 0 and np.array_equal(state, before)
        else:
            assert got["draws"] == n_free * N
        top = (1 << (consts.v_bits - 1)) - 1
        saturated += int(np.sum(((want == top) | (want == -top - 1)) & (want != V)))
    return saturated


@pytest.mark.parametrize("consts", FORMATS.values(), ids=FORMATS.keys())
@pytest.mark.parametrize("lanes,max_samples", [(1, 1), (3, 2), (4, 4), (3, 4), (4, 1)])
def test_measurements_in_a_row_match_golden(consts: FixedConstants, lanes: int, max_samples: int) -> None:
    """Measurements back to back (the lanes continue): every N up to max_samples; small sn, sn giving rounding
    ties (an odd multiple of 2^(F_s - 1)), huge sn (saturation) and sn = 0."""
    rng = np.random.default_rng(lanes * 10 + max_samples)
    n_free = 13
    tie = (2 * int(rng.integers(0, 8)) + 1) << (consts.Fs - 1)
    jobs = []
    for N in range(1, max_samples + 1):
        for sn in (int(rng.integers(1, 1 << 12)), tie, int(rng.integers(1 << 20, 1 << 31)), 0):
            jobs.append((random_voltages(rng, n_free, consts.v_bits), sn, N))
    jobs.append((random_voltages(rng, n_free, consts.v_bits), 1234, 0))  # N = 0: no draws either
    saturated = check(consts, n_free, lanes, max_samples, jobs, seed=lanes + 7 * max_samples)
    assert saturated > 0  # the huge coefficients saturate some measurements


def test_sn_from_config_and_one_node() -> None:
    """The derived sn of a noisy config (sigma 0.05, N = 4) and the smallest sizes."""
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0, "sigma": 0.05,
                                                 "samples": 4}, "test").validate()
    consts = derive(cfg)
    assert consts.sn > 0 and consts.round_noise == NEAREST
    rng = np.random.default_rng(5)
    jobs = [(random_voltages(rng, 1, consts.v_bits), consts.sn, 4) for _ in range(3)]
    check(consts, 1, 1, 4, jobs, seed=3)
    check(consts, 5, 8, 4, [(random_voltages(rng, 5, consts.v_bits), consts.sn, 4) for _ in range(2)], seed=4)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        MeasureLayout(0, 1, 1, DEFAULT.round_noise)
    with pytest.raises(ValueError):
        MeasureLayout(4, 1, 0, DEFAULT.round_noise)
    with pytest.raises(ValueError):
        MeasureLayout(4, 1, 1, STOCHASTIC)


def test_converts_to_verilog() -> None:
    text = verilog.convert(Measure(DEFAULT, MeasureLayout(110, 16, 4, DEFAULT.round_noise)), name="measure", emit_src=False)
    assert "module measure" in text
    for port in ("draw", "code", "v_addr", "m_we", "m_data", "cycles"):
        assert port in text
