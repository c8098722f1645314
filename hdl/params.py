"""The layout of the core's one parameter memory: where every conductance and bias lives in the lanes' banks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.config import INPUT_PIXELS
from golden.network import Layout


class ParamLayout:
    """Lane p = j mod P holds column j of every weight matrix and bias j of every layer (group g = j div P).

    The conductances are split into two memories per lane so that each has one read and one write
    port (a simple dual-port block RAM) and layer 1's W+ and W- rows can be read in the same cycle:
    GP holds W_1[i, j] (i < 784, the input nodes) at i G_1 + g and, for l >= 2, W_l[i, j] at
    g_base[l] + i G_l + g (g_base[2] = 784 G_1); GM holds W_1[784 + i, j] (the negated input copies) at
    i G_1 + g. B holds b_l[j] at v_base[l] + g. G_l = ceil(n_l / P); padding words (j >= n_l) are 0.
    """

    def __init__(self, sizes: Sequence[int], lanes: int) -> None:
        if len(sizes) < 3 or int(sizes[0]) != 2 * INPUT_PIXELS:
            raise ValueError(f"sizes: {2 * INPUT_PIXELS} inputs, at least one hidden layer and the output are needed")
        self.sizes = n = [int(v) for v in sizes]
        self.top = top = len(n) - 1
        self.lanes = lanes
        self.layout = Layout.of(n)
        self.groups = [0] + [-(-n[l] // lanes) for l in range(1, top + 1)]
        self.rows = [0, INPUT_PIXELS] + n[1:top]  # GP rows of layer l (layer 1: W1[+]; its W1[-] rows are in GM)
        self.g_base = [0] * (top + 2)
        self.v_base = [0] * (top + 2)
        for l in range(1, top + 1):
            self.g_base[l + 1] = self.g_base[l] + self.rows[l] * self.groups[l]
            self.v_base[l + 1] = self.v_base[l] + self.groups[l]
        self.gp_depth = self.g_base[top + 1]
        self.gm_depth = INPUT_PIXELS * self.groups[1]
        self.v_depth = self.v_base[top + 1]

    def weight(self, l: int, i: int, j: int) -> tuple[bool, int, int]:
        """(in GM, bank, address) of the conductance W_l[i, j]."""
        p, g = j % self.lanes, j // self.lanes
        if l == 1 and i >= INPUT_PIXELS:
            return True, p, (i - INPUT_PIXELS) * self.groups[1] + g
        return False, p, self.g_base[l] + i * self.groups[l] + g

    def bias(self, l: int, j: int) -> tuple[int, int]:
        """(bank, address) of the bias b_l[j] (and of node j of layer l in every per-node memory)."""
        return j % self.lanes, self.v_base[l] + j // self.lanes

    def images(self, theta: Sequence[int]) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
        """The GP, GM and B banks' words from golden's flat theta."""
        lay, n, L = self.layout, self.sizes, self.lanes
        gp, gm = [[0] * self.gp_depth for _ in range(L)], [[0] * self.gm_depth for _ in range(L)]
        b = [[0] * self.v_depth for _ in range(L)]
        for l in range(1, self.top + 1):
            for j in range(n[l]):
                for i in range(n[l - 1]):
                    minus, p, a = self.weight(l, i, j)
                    (gm if minus else gp)[p][a] = int(theta[int(lay.w_off[l]) + i * n[l] + j])
                p, a = self.bias(l, j)
                b[p][a] = int(theta[int(lay.b_off[l]) + j])
        return gp, gm, b

    def theta(self, gp: Sequence[Sequence[int]], gm: Sequence[Sequence[int]],
              b: Sequence[Sequence[int]]) -> list[int]:
        """Golden's flat theta from the GP, GM and B banks' words (the inverse of `images`)."""
        lay, n = self.layout, self.sizes
        out = [0] * lay.n_params
        for l in range(1, self.top + 1):
            for j in range(n[l]):
                for i in range(n[l - 1]):
                    minus, p, a = self.weight(l, i, j)
                    out[int(lay.w_off[l]) + i * n[l] + j] = (gm if minus else gp)[p][a]
                p, a = self.bias(l, j)
                out[int(lay.b_off[l]) + j] = b[p][a]
        return out


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
    """Golden's flat parameter index -> its word in the ParamLayout, combinationally (no table).

    A conductance W_l[i, j] at index w_off[l] + i n_l + j: i = x div n_l by a multiplication with a
    constant reciprocal (`divider`, exact over the layer's indices), j = x - i n_l, then the bank
    j mod P and the address g_base[l] + i G_l + j div P (layer 1's rows i >= 784 in GM at
    (i - 784) G_1 + j div P). A bias b_l[j] at b_off[l] + j: bank j mod P, address v_base[l] + j div P.

    Ports: index (In) ; bias, minus (In GM), bank, addr (Out, in the same cycle).
    """

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
        words = []  # per layer: (weights' end, biases' end, minus, bank, address, bias bank, bias address)
        for l in range(1, pl.top + 1):
            w0, b0 = int(lay.w_off[l]), int(lay.b_off[l])
            mul, shift = self.dividers[l]
            x = Signal(range(n[l - 1] * n[l]), name=f"x{l}")
            i = Signal(range(n[l - 1]), name=f"i{l}")
            j = Signal(range(n[l]), name=f"j{l}")
            jb = Signal(range(n[l]), name=f"jb{l}")
            minus = Signal(name=f"minus{l}")
            row = Signal(range(pl.rows[l]), name=f"row{l}")
            m.d.comb += [x.eq(self.index - w0), i.eq((x * mul) >> shift), j.eq(x - i * n[l]), jb.eq(self.index - b0),
                         minus.eq(i >= INPUT_PIXELS if l == 1 else 0), row.eq(Mux(minus, i - INPUT_PIXELS, i))]
            words.append((w0 + n[l - 1] * n[l], b0 + n[l], minus, j % pl.lanes,
                          pl.g_base[l] + row * pl.groups[l] + (j >> lg), jb % pl.lanes, pl.v_base[l] + (jb >> lg)))
        for l, (w_end, b_end, minus, bank, addr, b_bank, b_addr) in enumerate(words, 1):
            with (m.If if l == 1 else m.Elif)(self.index < w_end):
                m.d.comb += [self.minus.eq(minus), self.bank.eq(bank), self.addr.eq(addr)]
            with m.Elif(self.index < b_end):
                m.d.comb += [self.bias.eq(1), self.bank.eq(b_bank), self.addr.eq(b_addr)]
        return m
