"""Fixed-point EP: the bit-accurate specification of the hardware (docs/fixed-point.md), numba kernels.

Codes are int64. Parameters share the float model's flat layout (network.Layout): conductance
codes (unsigned, F_g) and bias codes (signed, F_v + F_g). Samples run one at a time, as the
hardware runs them; the updates of a batch are summed exactly and applied at its end.
Section numbers below refer to docs/fixed-point.md. A training run can record a `Trace` of every
relaxation iterate, measurement and parameter update, which `host verify` compares with the RTL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .config import INPUT_PIXELS, Config
from .fixed_arith import STOCHASTIC, mul_round, mul_round_wide, sat, usat
from .fixed_formats import FixedConstants, derive, lr_codes
from .network import Layout, init_params, input_difference_and_totals, sweep_order, view
from .prng import draw, gauss_code, seed_lanes


@nb.njit(cache=True)
def _recip(d, M, bits):
    """Section 3: floor(2^M / d) saturated to `bits` bits; d <= 0 saturates (and is counted by the caller)."""
    top = (1 << bits) - 1
    if d <= 0:
        return top
    return min((1 << M) // d, top)


@nb.njit(cache=True)
def refresh(theta: np.ndarray, lay: tuple, WT: np.ndarray, D: np.ndarray, den: np.ndarray, recip: np.ndarray,
            recip_out: np.ndarray, beta_g: int, M: int, rbits: int, centered: bool) -> int:
    """Section 3: transposed copies, D = W1[+] - W1[-], totals and reciprocals.

    Returns how many denominators of the phases in use (no -beta phase unless centered) are <= 0.
    """
    sizes, w_off, b_off, n_off = lay
    top = sizes.size - 1
    input_difference_and_totals(theta, lay, D, den)
    for l in range(2, top + 1):
        na, nc = sizes[l - 1], sizes[l]
        W = view(theta, w_off[l], na, nc)
        T = view(WT, w_off[l], nc, na)
        for i in range(na):
            for j in range(nc):
                T[j, i] = W[i, j]
    bad = 0
    o = n_off[top]
    for j in range(den.size):
        recip[j] = _recip(den[j], M, rbits)
        bad += den[j] <= 0 and j < o  # the outputs are counted per nudging value below
    for j in range(sizes[top]):
        for s in range(3):  # nudging sign -1, 0, +1
            d = den[o + j] + (s - 1) * beta_g
            recip_out[s, j] = _recip(d, M, rbits)
            bad += d <= 0 and (centered or s > 0)
    return bad


@nb.njit(cache=True)
def project(vin: np.ndarray, D: np.ndarray, P: np.ndarray, acc_bits: int) -> None:
    """Section 4: P_j = sat(sum_i vin_i (W1[+]_ij - W1[-]_ij), acc_bits), over the non-zero inputs."""
    n1 = P.size
    P[:] = 0
    for i in range(vin.size):
        v = vin[i]
        if v != 0:
            row = D[i]
            for j in range(n1):
                P[j] += v * row[j]
    for j in range(n1):
        P[j] = sat(P[j], acc_bits)


@nb.njit(cache=True)
def relax(theta: np.ndarray, lay: tuple, WT: np.ndarray, recip: np.ndarray, recip_out: np.ndarray,
          P: np.ndarray, V: np.ndarray, acc: np.ndarray, y: np.ndarray, sign: int, beta_c: int,
          order: np.ndarray, nsweeps: int, shift: int, mode: int, vbits: int, abits: int,
          trace: np.ndarray | None = None) -> None:
    """Section 4: `nsweeps` sweeps of exact layer updates of one sample's state V (flat, n_off layout).

    With `trace` (nsweeps x n_free), trace[sweep, n_off[l]:] receives layer l's new states after its update.
    """
    sizes, w_off, b_off, n_off = lay
    top = sizes.size - 1
    for sweep in range(nsweeps):
        for l in order:
            n, o = sizes[l], n_off[l]
            a = acc[:n]
            b = theta[b_off[l]:b_off[l] + n]
            if l == 1:
                a[:] = P
            else:
                na, oa = sizes[l - 1], n_off[l - 1]
                T = view(WT, w_off[l], n, na)
                for k in range(n):
                    s = 0
                    for i in range(na):
                        s += T[k, i] * V[oa + i]
                    a[k] = s
            if l < top:
                nc, oc = sizes[l + 1], n_off[l + 1]
                T = view(WT, w_off[l + 1], nc, n)
                for k in range(nc):
                    vk = V[oc + k]
                    if vk != 0:
                        for j in range(n):
                            a[j] += T[k, j] * vk
                half = n // 2
                if shift >= 32:
                    for j in range(n):
                        a[j] = sat(mul_round_wide(sat(a[j] + b[j], abits), recip[o + j], shift, mode != 0), vbits)
                else:
                    for j in range(n):
                        a[j] = sat(mul_round(sat(a[j] + b[j], abits), recip[o + j], shift, mode, 0), vbits)
                for j in range(half):
                    V[o + j] = max(a[j], 0)
                for j in range(half, n):
                    V[o + j] = min(a[j], 0)
            else:
                for j in range(n):
                    t = a[j] + b[j] + (sign * beta_c if y[j] else 0)
                    V[o + j] = sat(mul_round(sat(t, abits), recip_out[sign + 1, j], shift, mode, 0), vbits)
            if trace is not None:
                trace[sweep, o:o + n] = V[o:o + n]


@nb.njit(cache=True)
def measure(V: np.ndarray, M: int, lay: tuple, lanes: int, state: np.ndarray, sn: int, N: int, Fs: int,
            mode: int, vbits: int) -> None:
    """Section 5: M = sat(V + rnd((c_1 + ... + c_N) * sn, F_s), v_bits), lane (n_off[l] + j) mod L."""
    if sn == 0:
        M[:] = V
        return
    for g in range(V.size):  # free nodes in order: layer 1..top, node 0..n-1
        lane = g % lanes
        c = 0
        for _ in range(N):
            c += gauss_code(draw(state, lane))
        M[g] = sat(V[g] + mul_round(c, sn, Fs, mode, 0), vbits)


@nb.njit(cache=True)
def accumulate(vin: np.ndarray, lay: tuple, M1: np.ndarray, M2: np.ndarray, GX: np.ndarray, colA: np.ndarray,
               A: np.ndarray, Q: np.ndarray) -> None:
    """Section 6, per sample: add the products p_ij and q_j of one sample to the batch sums (exact).

    For the clamped input a_i = +-vin_i: p_ij = q_j s_j -+ 2 vin_i q_j with q = c2 - c1, s = c1 + c2,
    so its batch sum is colA_j -+ 2 GX_ij with GX = sum vin_i q_j over non-zero inputs only.
    """
    sizes, w_off, b_off, n_off = lay
    top = sizes.size - 1
    for l in range(1, top + 1):
        o, n = n_off[l], sizes[l]
        for j in range(n):
            Q[o + j] += M2[o + j] - M1[o + j]
    n1 = sizes[1]
    q = M2[:n1] - M1[:n1]
    for j in range(n1):
        colA[j] += q[j] * (M1[j] + M2[j])
    for i in range(vin.size):
        v = vin[i]
        if v != 0:
            row = GX[i]
            for j in range(n1):
                row[j] += v * q[j]
    for l in range(2, top + 1):
        na, nc, oa, oc = sizes[l - 1], sizes[l], n_off[l - 1], n_off[l]
        Al = view(A, w_off[l], na, nc)
        for i in range(na):
            a1, a2 = M1[oa + i], M2[oa + i]
            for j in range(nc):
                d1 = a1 - M1[oc + j]
                d2 = a2 - M2[oc + j]
                Al[i, j] += (d2 + d1) * (d2 - d1)


@nb.njit(cache=True)
def _fast_row(W, col, X, sgn, k, s, nearest, gmax):
    """W_j <- clip(W_j - rnd((col_j + sgn * X_j) * k, s), 0, gmax): the update of one row when nothing saturates.

    Branch-free so that it vectorises; used only when the caller has checked |A| * k < 2^62.
    """
    mask = (1 << s) - 1
    half = 1 << (s - 1)
    for j in range(W.size):
        v = (col[j] + sgn * X[j]) * k
        q = v >> s
        if nearest:
            r = v & mask
            q += (r > half) | ((r == half) & (q & 1))
        W[j] = min(max(W[j] - q, 0), gmax)


@nb.njit(cache=True)
def apply_update(theta: np.ndarray, lay: tuple, GX: np.ndarray, colA: np.ndarray, A: np.ndarray,
                 Q: np.ndarray, k_w: np.ndarray, s_w: np.ndarray, k_b: np.ndarray, s_b: np.ndarray,
                 mode: int, state: np.ndarray, rlane: int, ubits: int, gbits: int, bbits: int) -> None:
    """Section 6, end of batch: g <- usat(g - rnd(A k), g_bits), b <- sat(b + rnd(Q k_b), b_bits); clears the sums.

    When every |A_ij| is below 2^(upd_bits-1) and |A_ij| k < 2^62 (checked from bounds), truncate and
    nearest rounding take a vectorised path with the same results.
    """
    sizes, w_off, b_off, n_off = lay
    top = sizes.size - 1
    gmax = (1 << gbits) - 1
    zeros = np.zeros(np.max(sizes[1:]), np.int64)
    for l in range(1, top + 1):
        na, nc = sizes[l - 1], sizes[l]
        W = view(theta, w_off[l], na, nc)
        Al = view(A, w_off[l], na, nc)
        k, s = k_w[l], s_w[l]
        half = na // 2
        if l == 1:
            bound = np.max(np.abs(colA)) + 2 * np.max(np.abs(GX))
        else:
            bound = np.max(np.abs(Al))
        fast = (mode != STOCHASTIC and 0 < s <= 62 and bound < (1 << (ubits - 1))
                and bound < (1 << 62) // max(k, 1))
        for i in range(na):
            if fast:
                if l == 1:
                    if i < half:
                        _fast_row(W[i], colA, GX[i], -2, k, s, mode != 0, gmax)
                    else:
                        _fast_row(W[i], colA, GX[i - half], 2, k, s, mode != 0, gmax)
                else:
                    _fast_row(W[i], zeros, Al[i], 1, k, s, mode != 0, gmax)
                continue
            for j in range(nc):
                if l == 1:
                    a = colA[j] - 2 * GX[i, j] if i < half else colA[j] + 2 * GX[i - half, j]
                else:
                    a = Al[i, j]
                u = draw(state, rlane) if mode == STOCHASTIC else 0
                W[i, j] = usat(W[i, j] - mul_round(sat(a, ubits), k, s, mode, u), gbits)
        b = theta[b_off[l]:b_off[l] + nc]
        for j in range(nc):
            u = draw(state, rlane) if mode == STOCHASTIC else 0
            b[j] = sat(b[j] + mul_round(Q[n_off[l] + j], k_b[l], s_b[l], mode, u), bbits)
    GX[:, :] = 0
    colA[:] = 0
    A[:] = 0
    Q[:] = 0


@nb.njit(cache=True)
def _argmax_out(V, lay):
    sizes, w_off, b_off, n_off = lay
    top = sizes.size - 1
    return np.argmax(V[n_off[top]:n_off[top] + sizes[top]])


@nb.njit(cache=True)
def _load(X, idx, vin_table, vin):
    src = X[idx]
    for i in range(vin.size):
        vin[i] = vin_table[src[i]]


@nb.njit(cache=True)
def train_samples(theta: np.ndarray, lay: tuple, WT: np.ndarray, D: np.ndarray, den: np.ndarray,
                  recip: np.ndarray, recip_out: np.ndarray, X: np.ndarray, labels: np.ndarray,
                  idx: np.ndarray, batch: int, vin_table: np.ndarray, order: np.ndarray, nsweeps: int,
                  centered: bool, warm: bool, beta_g: int, beta_c: int, sn: int, N: int, lanes: int,
                  state: np.ndarray, k_w: np.ndarray, s_w: np.ndarray, k_b: np.ndarray, s_b: np.ndarray,
                  fmt: tuple, flags: np.ndarray, S0: np.ndarray, S1: np.ndarray, S2: np.ndarray,
                  M1: np.ndarray, M2: np.ndarray, P: np.ndarray, acc: np.ndarray, vin: np.ndarray,
                  y: np.ndarray, GX: np.ndarray, colA: np.ndarray, A: np.ndarray, Q: np.ndarray,
                  trace: tuple) -> int:
    """Train on samples `idx` one at a time, applying the summed update after every `batch` of them.

    fmt = (Fv, Fg, Fr, Fs, v_bits, acc_bits, recip_bits, upd_bits, g_bits, b_bits, round_v,
    round_noise, round_update). Returns the free-phase hits; flags[0] counts saturated reciprocals.
    trace = (iterates, measured, theta) of Trace's shapes for idx.size samples, or with 0 samples (off).
    """
    Fv, Fg, Fr, Fs, vbits, abits, rbits, ubits, gbits, bbits, rv, rn, ru = fmt
    shift = Fg + Fr  # FixedConstants.shift_v
    t_iter, t_meas, t_theta = trace
    hits = 0
    count = 0
    for t in range(idx.size):
        _load(X, idx[t], vin_table, vin)
        project(vin, D, P, abits)
        label = labels[idx[t]]
        y[:] = False
        y[label] = True
        free = S0[count]  # warm start: the free state of this batch position in the previous batch
        if not warm:
            free[:] = 0
        relax(theta, lay, WT, recip, recip_out, P, free, acc, y, 0, beta_c, order, nsweeps, shift, rv, vbits, abits,
              _phase_trace(t_iter, t, 0))
        hits += _argmax_out(free, lay) == label
        if centered:
            S1[:] = free
            relax(theta, lay, WT, recip, recip_out, P, S1, acc, y, -1, beta_c, order, nsweeps, shift, rv, vbits, abits,
                  _phase_trace(t_iter, t, 1))
            first = S1
        else:
            first = free
        S2[:] = free
        relax(theta, lay, WT, recip, recip_out, P, S2, acc, y, 1, beta_c, order, nsweeps, shift, rv, vbits, abits,
              _phase_trace(t_iter, t, 2))
        measure(first, M1, lay, lanes, state, sn, N, Fs, rn, vbits)
        measure(S2, M2, lay, lanes, state, sn, N, Fs, rn, vbits)
        accumulate(vin, lay, M1, M2, GX, colA, A, Q)
        count += 1
        if count == batch or t == idx.size - 1:
            apply_update(theta, lay, GX, colA, A, Q, k_w, s_w, k_b, s_b, ru, state, lanes, ubits, gbits, bbits)
            flags[0] += refresh(theta, lay, WT, D, den, recip, recip_out, beta_g, shift, rbits, centered)
            count = 0
        if t_meas.shape[0] > 0:
            t_meas[t, 0] = M1
            t_meas[t, 1] = M2
            t_theta[t] = theta
    return hits


@nb.njit(cache=True)
def _phase_trace(iterates: np.ndarray, t: int, phase: int):
    """Sample t's iterates of one phase (nsweeps x n_free), or None when the run records no trace."""
    return iterates[t, phase] if iterates.shape[0] > 0 else None


@nb.njit(cache=True)
def predict(theta: np.ndarray, lay: tuple, WT: np.ndarray, D: np.ndarray, recip: np.ndarray,
            recip_out: np.ndarray, X: np.ndarray, idx: np.ndarray, vin_table: np.ndarray, order: np.ndarray,
            nsweeps: int, fmt: tuple, S: np.ndarray, P: np.ndarray, acc: np.ndarray, vin: np.ndarray,
            y: np.ndarray, out: np.ndarray) -> None:
    """Free phase from rest (section 4) for each sample idx[k]; out[k] = argmax of the output codes."""
    Fv, Fg, Fr, Fs, vbits, abits, rbits, ubits, gbits, bbits, rv, rn, ru = fmt
    y[:] = False
    for t in range(idx.size):
        _load(X, idx[t], vin_table, vin)
        project(vin, D, P, abits)
        S[:] = 0
        relax(theta, lay, WT, recip, recip_out, P, S, acc, y, 0, 0, order, nsweeps, Fg + Fr, rv, vbits, abits)
        out[t] = _argmax_out(S, lay)


@dataclass
class Trace:
    """What a training run computed, per sample t (for `host verify`): phase 0 free, 1 -beta, 2 +beta.

    iterates[t, phase, sweep, n_off[l] + j]: node j of layer l after its update in that sweep (the
    -beta rows stay 0 in the positive variant); measured[t, 0 / 1]: M1 / M2, the measured voltages
    of the update; theta[t]: the parameter codes after sample t (updated when its batch ends).
    """

    iterates: np.ndarray
    measured: np.ndarray
    theta: np.ndarray

    @classmethod
    def empty(cls, samples: int, nsweeps: int, layout: Layout) -> Trace:
        """A zeroed trace for `samples` training samples (0: the kernels record nothing)."""
        nf = layout.n_free if samples else 0
        return cls(np.zeros((samples, 3, nsweeps if samples else 0, nf), np.int64),
                   np.zeros((samples, 2, nf), np.int64),
                   np.zeros((samples, layout.n_params if samples else 0), np.int64))


class FixedEP:
    """The fixed-point golden model: parameter codes, noise generators and the buffers of its kernels."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.consts: FixedConstants = derive(cfg)
        c = self.consts
        self.layout = Layout.of(cfg.sizes)
        lay = self.layout
        self._lay = lay.offsets()
        self.theta = quantise_params(init_params(cfg, lay, np.dtype(np.float64)), lay, c)
        self.order = sweep_order(cfg.order, lay)
        self.fmt = (c.Fv, c.Fg, c.Fr, c.Fs, c.v_bits, c.acc_bits, c.recip_bits, c.upd_bits, c.g_bits, c.b_bits,
                    c.round_v, c.round_noise, c.round_update)
        n1, nf, top = int(lay.sizes[1]), lay.n_free, lay.top
        i64 = np.int64
        self._WT = np.zeros(lay.n_params, i64)
        self._D = np.zeros((INPUT_PIXELS, n1), i64)
        self._den = np.zeros(nf, i64)
        self._recip = np.zeros(nf, i64)
        self._recip_out = np.zeros((3, int(lay.sizes[top])), i64)
        self._S0 = np.zeros((cfg.batch_size, nf), i64)
        self._S1, self._S2, self._M1, self._M2 = (np.zeros(nf, i64) for _ in range(4))
        self._P = np.zeros(n1, i64)
        self._acc = np.zeros(int(max(lay.sizes[1:])), i64)
        self._vin = np.zeros(INPUT_PIXELS, i64)
        self._y = np.zeros(int(lay.sizes[top]), np.bool_)
        self._GX = np.zeros((INPUT_PIXELS, n1), i64)
        self._colA = np.zeros(n1, i64)
        self._A = np.zeros(lay.n_params, i64)
        self._Q = np.zeros(nf, i64)
        self.flags = np.zeros(1, i64)
        self._no_trace = Trace.empty(0, 0, lay)
        self.refresh()
        self.begin_epoch(0)

    def refresh(self) -> None:
        """Recompute the weight-derived quantities after theta changed outside the kernels."""
        c = self.consts
        self.flags[0] += refresh(self.theta, self._lay, self._WT, self._D, self._den, self._recip, self._recip_out,
                                 c.beta_g, c.shift_v, c.recip_bits, self.cfg.variant == "centered")

    def status(self) -> dict[str, int]:
        """Counters for the metrics: saturated reciprocals so far (the hardware's status flag, section 3)."""
        return {"recip_saturations": int(self.flags[0])}

    def begin_epoch(self, epoch: int) -> None:
        """Quantise the epoch's decayed learning rates, reseed the generators, reset the warm-start state."""
        self._k_w, self._s_w, self._k_b, self._s_b = lr_codes(self.cfg, self.consts, epoch)
        self._state = seed_lanes(self.cfg.seed, epoch, self.consts.lanes)
        self._S0[:] = 0

    def train(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray, trace: Trace | None = None) -> int:
        """One sample at a time over `idx`, an update per batch (and for a final partial one); returns free-phase hits.

        `trace` (Trace.empty(len(idx), cfg.sweeps, layout)) receives what every sample computed.
        """
        c, cfg = self.consts, self.cfg
        t = trace if trace is not None else self._no_trace
        if trace is not None and trace.iterates.shape != (len(idx), 3, cfg.sweeps, self.layout.n_free):
            raise ValueError(f"trace of shape {trace.iterates.shape} for {len(idx)} samples of {cfg.sweeps} sweeps")
        return train_samples(
            self.theta, self._lay, self._WT, self._D, self._den, self._recip, self._recip_out, X, labels,
            np.ascontiguousarray(idx, np.int64), cfg.batch_size, c.vin_table, self.order, cfg.sweeps,
            cfg.variant == "centered", cfg.warm_start, c.beta_g, c.beta_c, c.sn, cfg.samples, c.lanes,
            self._state, self._k_w, self._s_w, self._k_b, self._s_b, self.fmt, self.flags,
            self._S0, self._S1, self._S2, self._M1, self._M2, self._P, self._acc, self._vin, self._y,
            self._GX, self._colA, self._A, self._Q, (t.iterates, t.measured, t.theta))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class of every image in X (free phase from rest, `sweeps_eval` sweeps)."""
        out = np.zeros(len(X), np.int64)
        S = np.zeros(self.layout.n_free, np.int64)
        predict(self.theta, self._lay, self._WT, self._D, self._recip, self._recip_out, X,
                np.arange(len(X), dtype=np.int64), self.consts.vin_table, self.order, self.cfg.sweeps_eval,
                self.fmt, S, self._P, self._acc, self._vin, self._y, out)
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to resume: the parameter codes."""
        return {"theta": self.theta.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned."""
        arr = np.asarray(state["theta"])
        if arr.shape != self.theta.shape or arr.dtype.kind != "i":
            raise ValueError(f"checkpoint theta has {arr.size} {arr.dtype} values, this network has "
                             f"{self.theta.size} integer codes")
        self.theta[:] = arr
        self.refresh()

    def real_params(self) -> np.ndarray:
        """The parameters as real numbers (conductances / 2^F_g, biases / 2^(F_v+F_g)), float64."""
        return dequantise_params(self.theta, self.layout, self.consts)


def quantise_params(theta: np.ndarray, layout: Layout, c: FixedConstants) -> np.ndarray:
    """Real parameters to codes: nearest code (ties to even), saturated to the formats."""
    out = np.zeros(layout.n_params, np.int64)
    for l in range(1, layout.top + 1):
        w = np.rint(layout.weights(theta, l) * 2.0 ** c.Fg)
        layout.weights(out, l)[:] = np.clip(w, 0, 2 ** c.g_bits - 1).astype(np.int64)
        b = np.rint(layout.biases(theta, l) * 2.0 ** (c.Fv + c.Fg))
        lim = 2 ** (c.b_bits - 1)
        layout.biases(out, l)[:] = np.clip(b, -lim, lim - 1).astype(np.int64)
    return out


def dequantise_params(codes: np.ndarray, layout: Layout, c: FixedConstants) -> np.ndarray:
    """Codes to real parameters (float64)."""
    out = np.zeros(layout.n_params, np.float64)
    for l in range(1, layout.top + 1):
        layout.weights(out, l)[:] = layout.weights(codes, l) / 2.0 ** c.Fg
        layout.biases(out, l)[:] = layout.biases(codes, l) / 2.0 ** (c.Fv + c.Fg)
    return out
