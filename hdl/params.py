"""The layout of the core's one parameter memory: where every conductance and bias lives in the lanes' banks."""

from __future__ import annotations

from collections.abc import Sequence

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
