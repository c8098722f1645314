# amaranth: UnusedElaboratable=no
"""hdl.project.InputProjection against golden.fixed_ep.project in Amaranth's simulator, bit and cycle exact."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from amaranth.back import verilog

from golden import config, datasets
from golden.config import INPUT_PIXELS
from golden.fixed_arith import TRUNCATE
from golden.fixed_ep import FixedEP, project
from golden.fixed_formats import FixedConstants
from hdl_sim import SharedParams, simulate
from hdl.layout import DEFAULT_DEPTH, ParamLayout, Pipeline, ProjectionLayout
from hdl.project import InputProjection


def network(n1: int, seed: int, g_bits: int | None = None) -> FixedEP:
    """A golden model with hidden size n1 whose conductances are random codes (of g_bits bits)."""
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0, "hidden": [n1]}, "test")
    ep = FixedEP(cfg.validate())
    rng = np.random.default_rng(seed)
    theta = ep.theta.copy()
    top = (1 << (g_bits or ep.consts.g_bits)) - 1
    for l in range(1, ep.layout.top + 1):
        ep.layout.weights(theta, l)[:] = rng.integers(0, top + 1, ep.layout.weights(theta, l).shape)
    ep.load_state({"theta": theta})  # and its D
    return ep


def small_consts(c: FixedConstants, seed: int) -> FixedConstants:
    """Narrow formats (acc_bits 12): most sums saturate. A random table with vin(0) = 0 and a few other zeros."""
    rng = np.random.default_rng(seed)
    table = rng.integers(-255, 256, 256)
    table[0] = 0
    table[rng.integers(1, 256, 8)] = 0
    return dataclasses.replace(c, Fv=3, Fg=4, v_bits=8, vin_bits=9, g_bits=7, acc_bits=12, round_v=TRUNCATE,
                               vin_table=table.astype(np.int64))


def blank_table(c: FixedConstants) -> FixedConstants:
    """The same formats with an all-zero reset table: the table must then come through the unit's port."""
    return dataclasses.replace(c, vin_table=np.zeros(256, np.int64))


def run(dut: InputProjection, theta: np.ndarray, samples: list[np.ndarray], table: np.ndarray | None = None,
        gaps: random.Random | None = None) -> list[tuple[list[int], int, int]]:
    """Load theta's conductances into the shared parameter banks, optionally the vin table through its
    port, then each sample: (P read through rd_index, the cycle counter, the cycles counted here)."""
    h = SharedParams(dut, ParamLayout([2 * INPUT_PIXELS, dut.n1, 10], dut.lanes), dut.consts.g_bits)
    out: list[tuple[list[int], int, int]] = []

    async def bench(ctx) -> None:
        h.load(ctx, theta)
        if table is not None:
            for p in range(256):
                ctx.set(dut.vin_we, 1)
                ctx.set(dut.vin_addr, p)
                ctx.set(dut.vin_data, int(table[p]))
                await ctx.tick()
            ctx.set(dut.vin_we, 0)
        for pixels in samples:
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            assert ctx.get(dut.busy) and not ctx.get(dut.done)
            i, counted = 0, 0
            while not ctx.get(dut.done):
                valid = i < len(pixels) and (gaps is None or gaps.random() < 0.7)
                ctx.set(dut.pix_valid, valid)
                if valid:
                    ctx.set(dut.pix_data, int(pixels[i]))
                take = valid and ctx.get(dut.pix_ready)
                await ctx.tick()
                counted += 1
                i += take
                assert counted < 100_000
            ctx.set(dut.pix_valid, 0)
            assert i == len(pixels) and not ctx.get(dut.busy)
            got = []
            for j in range(dut.n1):
                ctx.set(dut.rd_index, j)
                got.append(ctx.get(dut.rd_data))
            out.append((got, ctx.get(dut.cycles), counted))

    simulate(h, bench)
    return out


def check(dut: InputProjection, ep: FixedEP, samples: list[np.ndarray], table: np.ndarray,
          load_table: bool = False, gaps: random.Random | None = None) -> int:
    """P bit for bit (against golden `project` on the first `pixels` rows of ep's D) and the cycle counter;
    returns how many P_j saturated."""
    D = ep._D[:dut.pixels]
    results = run(dut, ep.theta, samples, table if load_table else None, gaps)
    top = (1 << (dut.consts.acc_bits - 1)) - 1
    saturated = 0
    for pixels, (got, cycles, counted) in zip(samples, results, strict=True):
        vin = table[np.asarray(pixels, np.int64)].astype(np.int64)
        want = np.zeros(dut.n1, np.int64)
        project(vin, D, want, dut.consts.acc_bits)
        assert got == [int(x) for x in want]
        assert cycles == counted
        if gaps is None:
            assert cycles == dut.geometry.expected_cycles(int(np.count_nonzero(vin)))
        saturated += int(np.sum((want == top) | (want == -top - 1)))
    return saturated


@pytest.mark.parametrize("small", [False, True], ids=["default", "small"])
@pytest.mark.parametrize("n1,lanes", [(16, 4), (10, 4), (6, 1), (12, 2), (4, 2)])
def test_mnist_and_random_images(n1: int, lanes: int, small: bool) -> None:
    """Three real MNIST images and a dense random one, back to back, on random conductance codes:
    default formats, or small ones (acc_bits 12, a random vin table with zeros: most sums saturate)."""
    ep = network(n1, seed=n1 * 10 + lanes, g_bits=7 if small else None)
    consts = small_consts(ep.consts, n1) if small else ep.consts
    images = datasets.load("mnist-subset").train_x
    rng = np.random.default_rng(n1 + 100 * lanes)
    samples = [images[k] for k in (0, 1234 + n1, 4000 + lanes)]
    samples.append(np.where(rng.random(images.shape[1]) < 0.4, 0, rng.integers(1, 256, images.shape[1])))
    dut = InputProjection(blank_table(consts) if small else consts, ProjectionLayout(n1, lanes))
    saturated = check(dut, ep, samples, consts.vin_table, load_table=small)
    assert (saturated > 0) == small


@pytest.mark.parametrize("n1,lanes", [(4, 1), (8, 2), (14, 4), (12, 2), (16, 1)])
@pytest.mark.parametrize("depth", [1, DEFAULT_DEPTH])
def test_random_pixels_small_formats_saturate(n1: int, lanes: int, depth: int) -> None:
    """Short random samples (some all-zero), a table and D loaded through the ports, idle input cycles."""
    ep = network(n1, seed=n1 + lanes, g_bits=7)
    consts = small_consts(ep.consts, n1)
    pixels = 40
    rng = np.random.default_rng(n1 * 3 + lanes)
    samples = [np.where(rng.random(pixels) < 0.5, 0, rng.integers(0, 256, pixels)) for _ in range(3)]
    samples.insert(1, np.zeros(pixels, np.int64))
    samples.append(np.full(pixels, 255))
    geometry = ProjectionLayout(n1, lanes, pixels=pixels, pipe=Pipeline(depth))
    dut = InputProjection(blank_table(consts), geometry)
    assert check(dut, ep, samples, consts.vin_table, load_table=True) > 0
    check(InputProjection(blank_table(consts), geometry), ep, samples, consts.vin_table,
          load_table=True, gaps=random.Random(n1))


def test_rejects_bad_sizes() -> None:
    ep = network(4, 0)
    for kwargs in ({"n1": 0, "lanes": 1}, {"n1": 4, "lanes": 0}):
        with pytest.raises(ValueError):
            ProjectionLayout(**kwargs)


def test_converts_to_verilog() -> None:
    ep = network(6, 0)
    text = verilog.convert(InputProjection(ep.consts, ProjectionLayout(100, 16, pixels=16)), name="input_projection", emit_src=False)
    assert "module input_projection" in text
    for port in ("pix_ready", "rd_data", "cycles", "par_addr", "par_gp", "vin_we"):
        assert port in text
