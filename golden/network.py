"""Shape of a deep resistive network: flat parameter layout, initialisation, sweep order, energy."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .config import Config


class ModelError(RuntimeError):
    """The network reached a state the model cannot continue from (one line for the user)."""


@dataclass(frozen=True)
class Layout:
    """Where each layer's conductances, biases and node states live in the flat buffers."""

    sizes: np.ndarray   # nodes per layer, input (2*784) first, output last
    w_off: np.ndarray   # w_off[l]: start of W_l (sizes[l-1] x sizes[l]) in theta, l >= 1
    b_off: np.ndarray   # b_off[l]: start of b_l in theta
    n_off: np.ndarray   # n_off[l]: index of layer l's first node among the free nodes
    n_params: int
    n_free: int

    @classmethod
    def of(cls, sizes: list[int]) -> "Layout":
        """The layout of a network with these layer sizes."""
        top = len(sizes) - 1
        w_off = np.zeros(top + 1, np.int64)
        b_off = np.zeros(top + 1, np.int64)
        n_off = np.zeros(top + 1, np.int64)
        pos = nodes = 0
        for l in range(1, top + 1):
            w_off[l] = pos
            pos += sizes[l - 1] * sizes[l]
            b_off[l] = pos
            pos += sizes[l]
            n_off[l] = nodes
            nodes += sizes[l]
        return cls(np.array(sizes, np.int64), w_off, b_off, n_off, pos, nodes)

    def offsets(self) -> tuple[np.ndarray, ...]:
        """(sizes, w_off, b_off, n_off) for the kernels."""
        return (self.sizes, self.w_off, self.b_off, self.n_off)

    def kernel_tuple(self, capacity: int) -> tuple[np.ndarray, ...]:
        """offsets() and s_off, which places blocks of `capacity` rows of every free layer's states."""
        return (*self.offsets(), self.n_off * capacity)

    def weights(self, theta: np.ndarray, l: int) -> np.ndarray:
        """View of W_l (pre x post) inside theta."""
        a, b = self.sizes[l - 1], self.sizes[l]
        return theta[self.w_off[l]:self.w_off[l] + a * b].reshape(a, b)

    def biases(self, theta: np.ndarray, l: int) -> np.ndarray:
        """View of b_l inside theta."""
        return theta[self.b_off[l]:self.b_off[l] + self.sizes[l]]

    @property
    def top(self) -> int:
        """Index of the output layer."""
        return len(self.sizes) - 1


@nb.njit(cache=True, inline="always")
def view(buf: np.ndarray, off: int, rows: int, cols: int) -> np.ndarray:
    """The (rows, cols) row-major block of a flat buffer starting at `off` (a view, for the kernels)."""
    return buf[off:off + rows * cols].reshape((rows, cols))


@nb.njit(cache=True)
def input_difference_and_totals(theta: np.ndarray, lay: tuple, D: np.ndarray, den: np.ndarray) -> None:
    """D = W1[+] - W1[-] (the clamped input's effective conductances) and den_j = sum of the
    conductances at every free node j; the same for float and fixed-point parameters."""
    sizes, w_off = lay[0], lay[1]
    n_off = lay[3]
    den[:] = 0
    n1 = sizes[1]
    half = sizes[0] // 2
    W1 = view(theta, w_off[1], sizes[0], n1)
    for i in range(half):
        for j in range(n1):
            D[i, j] = W1[i, j] - W1[half + i, j]
            den[j] += W1[i, j] + W1[half + i, j]
    for l in range(2, sizes.size):
        W = view(theta, w_off[l], sizes[l - 1], sizes[l])
        lo, hi = n_off[l - 1], n_off[l]
        for i in range(sizes[l - 1]):
            for j in range(sizes[l]):
                den[lo + i] += W[i, j]
                den[hi + j] += W[i, j]


def init_params(cfg: Config, layout: Layout, dtype: np.dtype) -> np.ndarray:
    """Conductances U(-s, s), s = weight_gain/sqrt(fan_in), clamped at 0; biases 0 (seeded by cfg.seed)."""
    rng = np.random.default_rng([cfg.seed, 0])
    theta = np.zeros(layout.n_params, dtype)
    for l in range(1, layout.top + 1):
        s = cfg.weight_gain / np.sqrt(layout.sizes[l - 1])
        W = layout.weights(theta, l)
        W[:] = np.maximum(rng.uniform(-s, s, W.shape), 0)
    return theta


def sweep_order(order: str, layout: Layout) -> np.ndarray:
    """Free layers in the order one sweep updates them (alternating: odd layers, then even ones)."""
    free = list(range(1, layout.top + 1))
    if order == "forward":
        seq = free
    elif order == "backward":
        seq = free[::-1]
    else:
        seq = free[0::2] + free[1::2]
    return np.array(seq, np.int64)


def input_voltages(x: np.ndarray, gain: float) -> np.ndarray:
    """Clamped input voltages g_in * concat(x, -x) of uint8 images (x = pixel/255), float64."""
    v = np.asarray(x, np.float64) * (gain / 255)
    return np.concatenate([v, -v], axis=-1)


def energy(theta: np.ndarray, layout: Layout, v_in: np.ndarray, states: list[np.ndarray],
           beta: float = 0.0, y: np.ndarray | None = None) -> float:
    """Nudged energy F = sum 1/2 g_ij (V_i - V_j)^2 - sum b_j V_j + beta/2 ||V_out - y||^2 of one sample.

    `states` are the free layers' voltages (layer 1 first). Plain NumPy in float64: a reference
    for tests and diagnostics, not a hot path.
    """
    layers = [np.asarray(v_in, np.float64)] + [np.asarray(s, np.float64) for s in states]
    th = np.asarray(theta, np.float64)
    total = 0.0
    for l in range(1, layout.top + 1):
        W = layout.weights(th, l)
        drop = layers[l - 1][:, None] - layers[l][None, :]
        total += 0.5 * float(np.sum(W * drop * drop)) - float(layout.biases(th, l) @ layers[l])
    if beta:
        total += 0.5 * beta * float(np.sum((layers[-1] - y) ** 2))
    return total
