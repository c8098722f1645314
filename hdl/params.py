"""The parameter memory's address decoder: golden's flat parameter index to its word in the ParamLayout (hdl/layout.py)."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.config import INPUT_PIXELS

from .layout import ParamLayout


def divider(d: int, limit: int) -> tuple[int, int]:
    """(m, s) with floor(x * m / 2^s) == floor(x / d) for every 0 <= x < limit: division by a constant as a multiply."""
    s = max(d - 1, 1).bit_length()
    while True:
        m = -(-(1 << s) // d)
        if (m * d - (1 << s)) * limit <= (1 << s):  # the error x (m d - 2^s) / (d 2^s) stays below 1 / d
            break
        s += 1
    x = np.arange(limit, dtype=np.int64)  # x m < limit 2^s / d: well inside 63 bits at the core's sizes
    assert np.array_equal((x * m) >> s, x // d)
    return m, s


class ParamAddress(wiring.Component):
    """Golden's flat parameter index -> its word in the ParamLayout, in two stages (no table).

    A conductance W_l[i, j] at index w_off[l] + i n_l + j: i = x div n_l by a multiplication with a
    constant reciprocal (`divider`, exact over the layer's indices), registered with x; then
    j = x - i n_l, the bank j mod P and the address g_base[l] + i G_l + j div P (layer 1's rows
    i >= 784 in GM at (i - 784) G_1 + j div P), the two constant products i n_l and i G_l side by side.
    A bias b_l[j] at b_off[l] + j: bank j mod P, address v_base[l] + j div P.

    Ports: index (In) ; bias, minus (In GM), bank, addr (Out): those of the index one cycle earlier, so
    that no multiplier chain reaches a memory's address from the index's source in one cycle.
    """

    latency = 1

    def __init__(self, params: ParamLayout) -> None:
        self.params = pl = params
        n = pl.sizes
        self.dividers = [(0, 0)] + [divider(n[l], n[l - 1] * n[l]) for l in range(1, pl.top + 1)]
        super().__init__({
            "index": In(range(pl.layout.n_params)), "bias": Out(1), "minus": Out(1), "bank": Out(range(pl.lanes)),
            "addr": Out(range(max(pl.gp_depth, pl.v_depth))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        pl, n, lay = self.params, self.params.sizes, self.params.layout
        lg = pl.lanes.bit_length() - 1
        index = Signal.like(self.index, name="index_r")
        m.d.sync += index.eq(self.index)
        words = []  # per layer: (weights' end, biases' end, minus, bank, address, bias bank, bias address)
        for l in range(1, pl.top + 1):
            w0, b0 = int(lay.w_off[l]), int(lay.b_off[l])
            mul, shift = self.dividers[l]
            i = Signal(range(n[l - 1]), name=f"i{l}")
            x = Signal(range(n[l - 1] * n[l]), name=f"x{l}")
            m.d.sync += [i.eq(((self.index - w0)[:len(x)] * mul) >> shift), x.eq(self.index - w0)]
            j = Signal(range(n[l]), name=f"j{l}")
            jb = Signal(range(n[l]), name=f"jb{l}")
            minus = Signal(name=f"minus{l}")
            row_base = Signal(range(pl.gp_depth + 1), name=f"row_base{l}")  # g_base[l] + row G_l
            m.d.comb += [j.eq(x - i * n[l]), jb.eq(index - b0), minus.eq(i >= INPUT_PIXELS if l == 1 else 0),
                         row_base.eq(pl.g_base[l] + i * pl.groups[l]
                                     - Mux(minus, INPUT_PIXELS * pl.groups[l], 0))]
            words.append((w0 + n[l - 1] * n[l], b0 + n[l], minus, j % pl.lanes,
                          row_base + (j >> lg), jb % pl.lanes, pl.v_base[l] + (jb >> lg)))
        for l, (w_end, b_end, minus, bank, addr, b_bank, b_addr) in enumerate(words, 1):
            with (m.If if l == 1 else m.Elif)(index < w_end):
                m.d.comb += [self.minus.eq(minus), self.bank.eq(bank), self.addr.eq(addr)]
            with m.Elif(index < b_end):
                m.d.comb += [self.bias.eq(1), self.bank.eq(b_bank), self.addr.eq(b_addr)]
        return m
