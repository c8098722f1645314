# amaranth: UnusedElaboratable=no
"""hdl/params.py: ParamLayout's images and ParamAddress's index mapping against ParamLayout, in Amaranth's simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.network import Layout
from hdl.layout import ParamLayout
from hdl.params import ParamAddress, divider


def expected(pl: ParamLayout, index: int) -> tuple[int, int, int, int]:
    """(bias, minus, bank, address) of a flat index by ParamLayout.weight / bias."""
    lay, n = pl.layout, pl.sizes
    for l in range(1, pl.top + 1):
        w0, b0 = int(lay.w_off[l]), int(lay.b_off[l])
        if w0 <= index < w0 + n[l - 1] * n[l]:
            minus, bank, addr = pl.weight(l, *divmod(index - w0, n[l]))
            return 0, int(minus), bank, addr
        if b0 <= index < b0 + n[l]:
            return (1, 0, *pl.bias(l, index - b0))
    raise AssertionError(index)


@pytest.mark.parametrize("sizes,lanes,sample", [
    ([1568, 6, 8, 10], 4, None),      # every index
    ([1568, 5, 3], 1, None),
    ([1568, 100, 10], 16, 4000),      # DRN-XS: every region's ends and random indices
])
def test_param_address_matches_layout(sizes: list[int], lanes: int, sample: int | None) -> None:
    pl = ParamLayout(sizes, lanes)
    dut = ParamAddress(pl)
    lay = pl.layout
    if sample is None:
        indices = list(range(lay.n_params))
    else:
        ends = [int(v) + k for l in range(1, pl.top + 1) for v in (lay.w_off[l], lay.b_off[l]) for k in (-1, 0, 1)]
        rng = np.random.default_rng(0)
        indices = sorted({i for i in ends if 0 <= i < lay.n_params} | set(rng.integers(0, lay.n_params, sample).tolist()))
    got = []

    async def bench(ctx) -> None:
        for index in indices:  # the word of an index comes out ParamAddress.latency = 1 cycle later
            ctx.set(dut.index, index)
            await ctx.tick()
            got.append((ctx.get(dut.bias), ctx.get(dut.minus), ctx.get(dut.bank), ctx.get(dut.addr)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [expected(pl, i) for i in indices]


def test_images_round_trip_and_fill_every_word_once() -> None:
    pl = ParamLayout([1568, 6, 8, 10], 4)
    n_params = Layout.of(pl.sizes).n_params
    theta = list(range(1, n_params + 1))  # distinct non-zero codes
    gp, gm, b = pl.images(theta)
    assert pl.theta(gp, gm, b) == theta
    words = [w for banks in (gp, gm, b) for bank in banks for w in bank if w]
    assert sorted(words) == theta  # no parameter lost or written twice
    assert len(gp[0]) == 784 * 2 + 6 * 2 + 8 * 3 and len(gm[0]) == 784 * 2  # G_l = 2, 2, 3


def test_divider_is_exact_and_small() -> None:
    for d, limit in ((100, 156_800), (10, 1000), (1024, 1568 * 1024), (7, 50)):
        mul, shift = divider(d, limit)
        x = np.arange(limit, dtype=np.int64)
        assert np.array_equal((x * mul) >> shift, x // d)
        assert mul < 1 << (limit.bit_length() + 2)
