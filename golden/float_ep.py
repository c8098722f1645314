"""Float EP on deep resistive networks: numba kernels for relaxation, noisy EP gradients and SGD.

Parameters live in one flat vector `theta`: for each weight layer l = 1..L+1 (L hidden layers)
the conductances W_l (pre x post, row-major) then the biases b_l of layer l. Layer 0 is the
clamped input: 784 pixel voltages g_in*x followed by their negated copies -g_in*x, so W_1's
first 784 rows connect the positive copies and the last 784 the negated ones. Because the two
copies are exact negatives, the input's contribution g_in*x @ W_1 equals g_in*x @ D with
D = W_1[:784] - W_1[784:]: it is computed once per sample with half the multiply-adds, and the
input-layer gradient is one matrix product X^T dV whose two row halves differ only in sign.

States of the free layers (hidden and output) live in flat buffers too: layer l's block of
`rows x n_l` values starts at s_off[l] = capacity * n_off[l], where n_off[l] is the index of the
layer's first node among the free nodes and `capacity` the most rows a buffer holds.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .config import INPUT_PIXELS, OUTPUT_UNITS, Config
from .network import Layout, ModelError, init_params, input_difference_and_totals, sweep_order, view

@nb.njit(cache=True, inline="always")
def _typed(like, x):
    """x as a scalar of like's dtype, so float32 kernels stay in float32 (numba promotes literals)."""
    out = np.empty(1, like.dtype)
    out[0] = x
    return out[0]


@nb.njit(cache=True)
def relax(theta: np.ndarray, lay: tuple, den: np.ndarray, rden: np.ndarray, P: np.ndarray, S: np.ndarray,
          T: np.ndarray, B: int, Y: np.ndarray, beta: float, order: np.ndarray, nsweeps: int) -> None:
    """Exact layer-wise minimisation of E + beta*C over `nsweeps` sweeps of the layers in `order`.

    Each layer update sets every node to the minimiser of the (quadratic) nudged energy given its
    neighbours, then applies the diode: V_j = clamp((sum_i g_ij V_i + sum_k g_jk V_k + b_j
    [+ beta y_j]) / (den_j [+ beta])). P holds the clamped input's contribution to layer 1 and
    `rden` the reciprocal of every node's total conductance den_j.
    """
    sizes, w_off, b_off, n_off, s_off = lay
    top = sizes.size - 1
    zero = _typed(S, 0)
    for _ in range(nsweeps):
        for l in order:
            n = sizes[l]
            V = view(S, s_off[l], B, n)
            b = theta[b_off[l]:b_off[l] + n]
            d = rden[n_off[l]:n_off[l] + n]
            dt = den[n_off[l]:n_off[l] + n]
            if l == 1:
                V[:, :] = P[:B]
            else:
                np.dot(view(S, s_off[l - 1], B, sizes[l - 1]), view(theta, w_off[l], sizes[l - 1], n), V)
            if l < top:
                Tl = view(T, 0, B, n)
                np.dot(view(S, s_off[l + 1], B, sizes[l + 1]),
                       view(theta, w_off[l + 1], n, sizes[l + 1]).T, Tl)
                half = n // 2
                for r in range(B):
                    for j in range(half):  # excitatory diodes: V >= 0
                        V[r, j] = max((V[r, j] + Tl[r, j] + b[j]) * d[j], zero)
                    for j in range(half, n):  # inhibitory diodes: V <= 0
                        V[r, j] = min((V[r, j] + Tl[r, j] + b[j]) * d[j], zero)
            else:
                for r in range(B):
                    for j in range(n):
                        # train_batches never runs a phase whose den + beta <= 0 (a maximum, not a minimum)
                        q = dt[j] + beta
                        V[r, j] = (V[r, j] + b[j] + beta * Y[r, j]) / q if q > 0 else zero


@nb.njit(cache=True)
def refresh(theta: np.ndarray, lay: tuple, D: np.ndarray, den: np.ndarray, rden: np.ndarray) -> None:
    """Recompute what depends only on the weights: D = W1[+] - W1[-], totals and their reciprocals."""
    input_difference_and_totals(theta, lay, D, den)
    one, zero = _typed(den, 1), _typed(den, 0)
    for j in range(den.size):
        # a node with no conductance has no defined voltage: hold it at 0 (training stops on it)
        rden[j] = one / den[j] if den[j] > 0 else zero


@nb.njit(cache=True)
def ill_posed(den: np.ndarray, lay: tuple, beta: float, centered: bool) -> bool:
    """True if a free node has no conductance or an output's den - beta <= 0 in the centered variant
    (the -beta phase is then not a minimisation): the batch must not run."""
    sizes, w_off, b_off, n_off, s_off = lay
    top = sizes.size - 1
    for j in range(den.size):
        if den[j] <= 0 or (centered and j >= n_off[top] and den[j] <= beta):
            return True
    return False


@nb.njit(cache=True)
def load_batch(X: np.ndarray, labels: np.ndarray, idx: np.ndarray, gain: float, D: np.ndarray,
               Xg: np.ndarray, Y: np.ndarray, P: np.ndarray) -> None:
    """Input voltages g_in*x (x = pixel/255), one-hot targets, and the input's contribution P = Xg @ D."""
    scale = gain / _typed(Xg, 255)
    B = idx.size
    Y[:B] = 0
    for r in range(B):
        src = X[idx[r]]
        for i in range(src.size):
            Xg[r, i] = src[i] * scale
        Y[r, labels[idx[r]]] = 1
    np.dot(Xg[:B], D, P[:B])


@nb.njit(cache=True)
def measure(S: np.ndarray, M: int, lay: tuple, B: int, R: int, scale: float) -> None:
    """Read the free nodes' voltages with noise: R stacked copies of each state, each + scale*N(0,1)."""
    sizes, w_off, b_off, n_off, s_off = lay
    for l in range(1, sizes.size):
        n = sizes[l]
        V = view(S, s_off[l], B, n)
        Ml = view(M, s_off[l], R * B, n)
        for q in range(R):
            for r in range(B):
                for j in range(n):
                    Ml[q * B + r, j] = V[r, j] + scale * np.random.standard_normal()


@nb.njit(cache=True)
def _sgd_dense(W, vel, row, col, cross, scross, coef, lr, mu):
    """W -= lr * velocity of grad_ij = coef*(row_i + col_j) + scross*cross_ij; then clamp W >= 0."""
    rows, cols = W.shape
    zero = _typed(W, 0)
    if mu != zero:
        for i in range(rows):
            ri = row[i]
            for j in range(cols):
                g = mu * vel[i, j] + coef * (ri + col[j]) + scross * cross[i, j]
                vel[i, j] = g
                W[i, j] = max(W[i, j] - lr * g, zero)
    else:
        for i in range(rows):
            ri = row[i]
            for j in range(cols):
                W[i, j] = max(W[i, j] - lr * (coef * (ri + col[j]) + scross * cross[i, j]), zero)


@nb.njit(cache=True)
def _sgd_bias(b, vel, grad, lr, mu):
    for j in range(b.size):
        g = grad[j]
        if mu != 0:
            g = mu * vel[j] + g
            vel[j] = g
        b[j] -= lr * g


@nb.njit(cache=True)
def _square_diff(M1, M2, out):
    """out_j = 1/2 sum_rows (M2^2 - M1^2), the part of the conductance gradient that one node's voltage gives."""
    out[:] = 0
    half = _typed(out, 0.5)
    for r in range(M1.shape[0]):
        for j in range(M1.shape[1]):
            out[j] += half * (M2[r, j] * M2[r, j] - M1[r, j] * M1[r, j])


@nb.njit(cache=True)
def update(theta: np.ndarray, vel: np.ndarray, lay: tuple, Xg: np.ndarray, M1: np.ndarray, M2: np.ndarray,
           B: int, R: int, beta1: float, beta2: float, lr_w: np.ndarray, lr_b: np.ndarray, mu: float,
           G: np.ndarray, Xa: np.ndarray, Xb: np.ndarray, sq_a: np.ndarray, sq_c: np.ndarray, gb: np.ndarray) -> None:
    """One SGD step from the EP gradient [dE/dtheta(M2) - dE/dtheta(M1)] / (beta2 - beta1).

    M1 and M2 hold R*B measured states of the two nudged phases; the gradient is their mean.
    With dE/dg_ij = 1/2 (V_i - V_j)^2 the difference splits into per-node squares and one
    matrix product: 1/2(a2^2 - a1^2) + 1/2(c2^2 - c1^2) - (a2 c2 - a1 c1).
    """
    sizes, w_off, b_off, n_off, s_off = lay
    rows = R * B
    coef = _typed(theta, 1.0 / ((beta2 - beta1) * rows))
    for l in range(1, sizes.size):
        na, nc = sizes[l - 1], sizes[l]
        C1 = view(M1, s_off[l], rows, nc)
        C2 = view(M2, s_off[l], rows, nc)
        sc = sq_c[:nc]
        _square_diff(C1, C2, sc)
        g = gb[:nc]
        g[:] = 0
        for r in range(rows):
            for j in range(nc):
                g[j] -= C2[r, j] - C1[r, j]
        for j in range(nc):
            g[j] *= coef
        W = view(theta, w_off[l], na, nc)
        Vw = view(vel, w_off[l], na, nc)
        if l == 1:
            # clamped input: no squares, and the noisy copies of a sample share its input
            half = na // 2
            dsum = view(Xb, 0, B, nc)
            dsum[:, :] = 0
            for r in range(rows):
                for j in range(nc):
                    dsum[r % B, j] += C2[r, j] - C1[r, j]
            Gl = view(G, 0, half, nc)
            np.dot(Xg[:B].T, dsum, Gl)
            zero = sq_a[:half]
            zero[:] = 0
            _sgd_dense(view(theta, w_off[l], half, nc), view(vel, w_off[l], half, nc),
                       zero, sc, Gl, -coef, coef, lr_w[l], mu)
            _sgd_dense(view(theta, w_off[l] + half * nc, half, nc), view(vel, w_off[l] + half * nc, half, nc),
                       zero, sc, Gl, coef, coef, lr_w[l], mu)
        else:
            A1 = view(M1, s_off[l - 1], rows, na)
            A2 = view(M2, s_off[l - 1], rows, na)
            sa = sq_a[:na]
            _square_diff(A1, A2, sa)
            cross = view(Xa, 0, na, nc)
            other = view(Xb, 0, na, nc)
            np.dot(A2.T, C2, cross)
            np.dot(A1.T, C1, other)
            cross -= other
            _sgd_dense(W, Vw, sa, sc, cross, -coef, coef, lr_w[l], mu)
        _sgd_bias(theta[b_off[l]:b_off[l] + nc], vel[b_off[l]:b_off[l] + nc], g, lr_b[l], mu)


@nb.njit(cache=True)
def _copy_state(src, dst, lay, B):
    sizes, w_off, b_off, n_off, s_off = lay
    for l in range(1, sizes.size):
        n = B * sizes[l]
        dst[s_off[l]:s_off[l] + n] = src[s_off[l]:s_off[l] + n]


@nb.njit(cache=True)
def _rest_state(S, lay, B):
    sizes, w_off, b_off, n_off, s_off = lay
    for l in range(1, sizes.size):
        S[s_off[l]:s_off[l] + B * sizes[l]] = 0


@nb.njit(cache=True)
def _correct(S, lay, B, labels, idx):
    sizes, w_off, b_off, n_off, s_off = lay
    top = sizes.size - 1
    out = view(S, s_off[top], B, sizes[top])
    hits = 0
    for r in range(B):
        if np.argmax(out[r]) == labels[idx[r]]:
            hits += 1
    return hits


@nb.njit(cache=True)
def train_batches(theta: np.ndarray, vel: np.ndarray, lay: tuple, D: np.ndarray, den: np.ndarray,
                  rden: np.ndarray, X: np.ndarray, labels: np.ndarray, idx: np.ndarray, batch: int,
                  gain: float, beta: float, centered: bool, order: np.ndarray, nsweeps: int, warm: bool,
                  R: int, scale: float, lr_w: np.ndarray, lr_b: np.ndarray, mu: float, Xg: np.ndarray,
                  Y: np.ndarray, P: np.ndarray, S0: np.ndarray, S1: np.ndarray, S2: np.ndarray,
                  M1: np.ndarray, M2: np.ndarray, T: np.ndarray, G: np.ndarray, Xa: np.ndarray,
                  Xb: np.ndarray, sq_a: np.ndarray, sq_c: np.ndarray, gb: np.ndarray) -> tuple[int, int]:
    """Train on the samples `idx` in consecutive batches; return (free-phase hits, samples done).

    Stops before a batch whose energy is not well posed (see ill_posed); samples done < idx.size then.
    """
    sizes, w_off, b_off, n_off, s_off = lay
    hits = 0
    zero = beta - beta
    for start in range(0, idx.size, batch):
        if ill_posed(den, lay, beta, centered):
            return hits, start
        bidx = idx[start:start + batch]
        B = bidx.size
        load_batch(X, labels, bidx, gain, D, Xg, Y, P)
        if not warm:
            _rest_state(S0, lay, B)
        relax(theta, lay, den, rden, P, S0, T, B, Y, zero, order, nsweeps)
        hits += _correct(S0, lay, B, labels, bidx)
        _copy_state(S0, S2, lay, B)
        relax(theta, lay, den, rden, P, S2, T, B, Y, beta, order, nsweeps)
        if centered:
            _copy_state(S0, S1, lay, B)
            relax(theta, lay, den, rden, P, S1, T, B, Y, -beta, order, nsweeps)
            first, beta1 = S1, -beta
        else:
            first, beta1 = S0, zero
        if scale > 0:
            measure(first, M1, lay, B, R, scale)
            measure(S2, M2, lay, B, R, scale)
            update(theta, vel, lay, Xg, M1, M2, B, R, beta1, beta, lr_w, lr_b, mu, G, Xa, Xb, sq_a, sq_c, gb)
        else:
            update(theta, vel, lay, Xg, first, S2, B, 1, beta1, beta, lr_w, lr_b, mu, G, Xa, Xb, sq_a, sq_c, gb)
        refresh(theta, lay, D, den, rden)
    return hits, idx.size


@nb.njit(cache=True)
def predict(theta: np.ndarray, lay: tuple, D: np.ndarray, den: np.ndarray, rden: np.ndarray, X: np.ndarray,
            labels: np.ndarray, idx: np.ndarray, batch: int, gain: float, order: np.ndarray, nsweeps: int,
            Xg: np.ndarray, Y: np.ndarray, P: np.ndarray, S0: np.ndarray, T: np.ndarray, out: np.ndarray) -> None:
    """Free-phase relaxation from zero state; out[k] = argmax of the output voltages of sample idx[k]."""
    sizes, w_off, b_off, n_off, s_off = lay
    top = sizes.size - 1
    zero = gain - gain
    for start in range(0, idx.size, batch):
        bidx = idx[start:start + batch]
        B = bidx.size
        load_batch(X, labels, bidx, gain, D, Xg, Y, P)
        _rest_state(S0, lay, B)
        relax(theta, lay, den, rden, P, S0, T, B, Y, zero, order, nsweeps)
        V = view(S0, s_off[top], B, sizes[top])
        for r in range(B):
            out[start + r] = np.argmax(V[r])


@nb.njit(cache=True)
def seed(s: int) -> None:
    """Seed numba's generator (the one `measure` draws from) in this thread."""
    np.random.seed(s)


class FloatEP:
    """The float golden model: a DRN, its optimiser state and the buffers its kernels work in."""

    eval_batch = 1000

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.layout = Layout.of(cfg.sizes)
        self.dtype = np.dtype(cfg.dtype)
        self.theta = init_params(cfg, self.layout, self.dtype)
        self.velocity = np.zeros_like(self.theta)
        self.order = sweep_order(cfg.order, self.layout)
        noisy = cfg.sigma > 0
        # "updates" reading: N noisy copies of each state, one update each, averaged
        self.repeats = cfg.samples if noisy and cfg.reading == "updates" else 1
        # "measurements" reading: the mean of N N(0, sigma^2) readings is exactly N(0, sigma^2/N)
        self.noise_scale = cfg.sigma / np.sqrt(cfg.samples) if self.repeats == 1 else cfg.sigma
        rows = max(cfg.batch_size, self.eval_batch)
        cap = max(cfg.batch_size * self.repeats, self.eval_batch)  # rows of the largest state block
        self._lay = self.layout.kernel_tuple(cap)
        sizes = self.layout.sizes
        n1, dt = int(sizes[1]), self.dtype
        widest = int(max(sizes[1:]))
        pairs = max([int(sizes[l - 1] * sizes[l]) for l in range(2, len(sizes))] + [rows * n1])
        state = lambda: np.zeros(cap * self.layout.n_free, dt)  # noqa: E731
        self._S0, self._S1, self._S2 = state(), state(), state()
        self._M1, self._M2 = (state(), state()) if noisy else (self._S1, self._S2)
        self._Xg = np.zeros((rows, INPUT_PIXELS), dt)
        self._Y = np.zeros((rows, OUTPUT_UNITS), dt)
        self._P = np.zeros((rows, n1), dt)
        self._T = np.zeros(rows * widest, dt)
        self._G = np.zeros(INPUT_PIXELS * n1, dt)
        self._Xa, self._Xb = np.zeros(pairs, dt), np.zeros(pairs, dt)
        self._sq_a = np.zeros(max(INPUT_PIXELS, widest), dt)
        self._sq_c, self._gb = np.zeros(widest, dt), np.zeros(widest, dt)
        self._D = np.zeros((INPUT_PIXELS, n1), dt)
        self._den = np.zeros(self.layout.n_free, dt)
        self._rden = np.zeros(self.layout.n_free, dt)
        self._lr_w = np.zeros(len(sizes), dt)
        self._lr_b = np.zeros(len(sizes), dt)
        self.refresh()
        self.begin_epoch(0)

    def refresh(self) -> None:
        """Recompute the weight-derived quantities after theta changed outside the kernels."""
        refresh(self.theta, self._lay, self._D, self._den, self._rden)

    def status(self) -> dict[str, int]:
        """Counters for the metrics (none: the float model stops instead of saturating)."""
        return {}

    def check(self) -> None:
        """Raise ModelError if a node has no conductance or the -beta phase is not a minimisation."""
        top = self.layout.top
        if not np.all(self._den > 0):
            l = int(np.searchsorted(self.layout.n_off[1:], int(np.argmin(self._den > 0)), side="right"))
            raise ModelError(f"a node of layer {l} has no conductance left (all its conductances are 0): "
                             "its voltage is undefined; use another seed, a wider layer or a smaller learning rate")
        out = self._den[self.layout.n_off[top]:]
        if self.cfg.variant == "centered" and out.min() <= self.cfg.beta:
            raise ModelError(f"an output node's total conductance ({out.min():.3g}) fell to beta = {self.cfg.beta:g} "
                             "or below, so the -beta phase is no longer a minimisation; lower beta or use "
                             "variant = 'positive'")

    def begin_epoch(self, epoch: int) -> None:
        """Set the epoch's decayed learning rates, reseed the noise and reset the warm-start state."""
        decay = self.cfg.lr_decay ** epoch
        self._lr_w[1:] = np.array(self.cfg.lr_weights) * decay
        self._lr_b[1:] = np.array(self.cfg.lr_biases) * decay
        seed(np.random.SeedSequence([self.cfg.seed, 1, epoch]).generate_state(1)[0])
        self._S0[:] = 0

    def train(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> int:
        """One EP step per batch of the samples `idx` (in order); returns free-phase hits."""
        c, t = self.cfg, self.dtype.type
        hits, done = train_batches(
            self.theta, self.velocity, self._lay, self._D, self._den, self._rden, X, labels,
            np.ascontiguousarray(idx, np.int64), c.batch_size, t(c.input_gain), t(c.beta),
            c.variant == "centered", self.order, c.sweeps, c.warm_start, self.repeats,
            t(self.noise_scale), self._lr_w, self._lr_b, t(c.momentum), self._Xg, self._Y, self._P,
            self._S0, self._S1, self._S2, self._M1, self._M2, self._T, self._G, self._Xa, self._Xb,
            self._sq_a, self._sq_c, self._gb)
        if done < len(idx):
            self.check()
        return hits

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class of every image in X (free phase from rest, `sweeps_eval` sweeps)."""
        out = np.zeros(len(X), np.int64)
        idx = np.arange(len(X), dtype=np.int64)
        dummy = np.zeros(len(X), np.uint8)
        predict(self.theta, self._lay, self._D, self._den, self._rden, X, dummy, idx, self.eval_batch,
                self.dtype.type(self.cfg.input_gain), self.order, self.cfg.sweeps_eval, self._Xg,
                self._Y, self._P, self._S1, self._T, out)
        return out

    def nudge(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> list[float]:
        """Per free layer, the median of |V+ - V-| / 2 (positive variant: |V+ - V0|) over the samples `idx` and
        the nodes not at rest in both phases, without noise and without an update: the signal that EP's update
        reads, the scale to compare measurement noise with. Leaves the parameters and the noise as they were."""
        c, t = self.cfg, self.dtype.type
        sizes, s_off = self.layout.sizes, self._lay[4]
        zero, beta = t(0), t(c.beta)
        half = 0.5 if c.variant == "centered" else 1.0
        moves: list[list[np.ndarray]] = [[] for _ in sizes]
        idx = np.ascontiguousarray(idx, np.int64)
        for start in range(0, idx.size, self.eval_batch):
            bidx = idx[start:start + self.eval_batch]
            B = bidx.size
            load_batch(X, labels, bidx, t(c.input_gain), self._D, self._Xg, self._Y, self._P)
            phases = []
            for b in ((beta, -beta) if c.variant == "centered" else (beta, zero)):
                S = self._S1
                _rest_state(S, self._lay, B)
                relax(self.theta, self._lay, self._den, self._rden, self._P, S, self._T, B, self._Y, zero,
                      self.order, c.sweeps)
                if b != zero:
                    relax(self.theta, self._lay, self._den, self._rden, self._P, S, self._T, B, self._Y, b,
                          self.order, c.sweeps)
                phases.append(S[:s_off[-1] + B * sizes[-1]].copy())
            for l in range(1, len(sizes)):
                a, b = (ph[s_off[l]:s_off[l] + B * sizes[l]] for ph in phases)
                moves[l].append(half * np.abs(a - b)[(a != 0) | (b != 0)])
        return [float(np.median(np.concatenate(m))) if sum(x.size for x in m) else 0.0
                for m in (moves[l] for l in range(1, len(sizes)))]

    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to resume: parameters and optimiser state."""
        return {"theta": self.theta.copy(), "velocity": self.velocity.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned (shapes must match this config)."""
        for key in ("theta", "velocity"):
            arr = np.asarray(state[key])
            if arr.shape != self.theta.shape:
                raise ValueError(f"checkpoint {key} has {arr.size} values, this network has {self.theta.size}")
            getattr(self, key)[:] = arr
        self.refresh()
