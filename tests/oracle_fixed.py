"""Independent oracle of the fixed-point EP model: docs/fixed-point.md on plain Python integers.

Written from the contract alone, for tests: it shares no code with golden/fixed_ep.py,
golden/fixed_arith.py, golden/fixed_formats.py or golden/prng.py (the generator, its seeding and
the Gaussian code are re-implemented here). Every value is a Python int, every sum exact, every
saturation and rounding is where the doc writes it; slow, one value at a time.

The oracle counts every saturation it performs (`Oracle.stats`) so that tests can check that
their cases reach the edges of the formats. `perturb` deliberately breaks one rule, to show that
a comparison against the oracle can fail.

Points where the doc is silent and the oracle follows the model: a train() call ends with an
update of its last (possibly partial) batch, and the next call starts at batch position 0; a
learning rate of 0 gives k_code = 0 in either lr_mode (in shift mode 0 is no power of two).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

PIXELS = 784
OUTPUTS = 10
MASK32 = 2**32 - 1
GAUSS_SD = math.sqrt(4 * (256**2 - 1) / 12)
PERTURBATIONS = ("round_v_truncate", "lane_order", "update_order", "recip_nearest")


# Section 5: generator, seeding, Gaussian code.

def mix(x: int) -> int:
    """lowbias32 hash."""
    x &= MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


def xorshift32(x: int) -> int:
    """One step (13, 17, 5) on 32 bits."""
    x ^= (x << 13) & MASK32
    x ^= x >> 17
    x ^= (x << 5) & MASK32
    return x


def lane_seed(seed: int, epoch: int, p: int) -> int:
    """Start state of lane p (0..L; L is the rounding generator) in an epoch."""
    x = mix((seed * 0x9E3779B1 + epoch * 0x85EBCA77 + p * 0xC2B2AE3D + 1) % 2**32)
    return x if x != 0 else 1


def seed_lanes(seed: int, epoch: int, lanes: int) -> list[int]:
    """States of the L noise lanes and, last, the rounding generator."""
    return [lane_seed(seed, epoch, p) for p in range(lanes + 1)]


def gauss(word: int) -> int:
    """Irwin-Hall code of a word: its four bytes summed, minus 510."""
    return (word & 255) + ((word >> 8) & 255) + ((word >> 16) & 255) + ((word >> 24) & 255) - 510


# Notation of the doc's preamble.

def rnd(x: int, s: int, mode: str, u: int = 0) -> int:
    """x / 2^s rounded: truncate = floor, nearest = half to even, stochastic = floor(x + dither); s < 0 shifts left."""
    if s < 0:
        return x << -s
    if s == 0:
        return x
    if mode == "stochastic":
        x += u % (1 << s) if s <= 32 else u << (s - 32)
        return x >> s
    q = x >> s
    if mode == "nearest":
        r = x - (q << s)
        half = 1 << (s - 1)
        if r > half or (r == half and q & 1):
            q += 1
    return q


def round_half_even(x: Fraction | float) -> int:
    """Nearest integer, ties to even (Python's round does exactly this for Fraction and float)."""
    return int(round(x))


@dataclass
class Formats:
    """The `[fixed]` table and the config values the integer model needs."""

    Fv: int
    Fg: int
    Fr: int
    Fs: int
    Fk: int
    v_bits: int
    vin_bits: int
    g_bits: int
    b_bits: int
    acc_bits: int
    recip_bits: int
    upd_bits: int
    round_v: str
    round_noise: str
    round_update: str
    lanes: int
    lr_mode: str

    @classmethod
    def of(cls, cfg: Any) -> "Formats":
        fx = cfg.fixed
        return cls(fx.v_frac, fx.g_frac, fx.recip_frac, fx.noise_frac, fx.lr_frac, fx.v_bits, fx.vin_bits,
                   fx.g_bits, fx.b_bits, fx.acc_bits, fx.recip_bits, fx.upd_bits, fx.round_v, fx.round_noise,
                   fx.round_update, fx.noise_lanes, fx.lr_mode)


def vin_table(gain: float, f: Formats, stats: Counter | None = None) -> list[int]:
    """Section 2: vin(p) = sat(round_half_even(g_in * p / 255 * 2^F_v), vin_bits), computed exactly."""
    hi = (1 << (f.vin_bits - 1)) - 1
    out = []
    for p in range(256):
        v = round_half_even(Fraction(gain) * p / 255 * 2**f.Fv)
        if not -hi - 1 <= v <= hi:
            if stats is not None:
                stats["vin"] += 1
            v = min(max(v, -hi - 1), hi)
        out.append(v)
    return out


def noise_coefficient(sigma: float, samples: int, f: Formats) -> int:
    """Section 5: sn = round_half_even(sigma / (sd * N) * 2^(F_v + F_s)) (sd is irrational: float, as written)."""
    return round_half_even(sigma / (GAUSS_SD * samples) * 2 ** (f.Fv + f.Fs))


def lr_codes(cfg: Any, epoch: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """Section 6: (k_w, s_w, k_b, s_b), index l = 1..top (index 0 unused), from the exact rational k.

    k = lr_w * decay^epoch / (2 (beta2 - beta1) B), k_b = lr_b * decay^epoch / ((beta2 - beta1) B);
    multiply: k_code = round_half_even(k 2^F_k); shift: k = 2^-F_k exactly, k_code = 1 (F_k from k).
    Shifts: 2 F_v + F_k - F_g (conductances), F_k - F_g (biases). ValueError if shift mode meets a k
    that is not a power of two.
    """
    f = Formats.of(cfg)
    span = Fraction(cfg.beta) * (2 if cfg.variant == "centered" else 1)
    decay = Fraction(cfg.lr_decay) ** epoch
    top = len(cfg.hidden) + 1
    k_w, s_w, k_b, s_b = [0] * (top + 1), [0] * (top + 1), [0] * (top + 1), [0] * (top + 1)
    for l in range(1, top + 1):
        for lr, div, codes, shifts, extra in ((cfg.lr_weights[l - 1], 2 * span * cfg.batch_size, k_w, s_w, 2 * f.Fv),
                                              (cfg.lr_biases[l - 1], span * cfg.batch_size, k_b, s_b, 0)):
            k = Fraction(lr) * decay / div
            if f.lr_mode == "shift" and k != 0:
                e = -(k.numerator.bit_length() - k.denominator.bit_length())  # candidate F_k
                if k != Fraction(2) ** -e:
                    raise ValueError(f"shift mode: k = {k} is not a power of two")
                code, fk = 1, e
            else:
                code, fk = round_half_even(k * 2**f.Fk), f.Fk
            codes[l] = code
            shifts[l] = extra + fk - f.Fg
    return k_w, s_w, k_b, s_b


@dataclass
class Net:
    """Parameter codes per layer: W[l][i][j] (layer l-1 node i to layer l node j) and b[l][j], l = 1..top."""

    sizes: list[int]
    W: list[list[list[int]]]
    b: list[list[int]]

    @classmethod
    def from_flat(cls, sizes: Sequence[int], theta: Sequence[int]) -> "Net":
        """Unpack the flat layout: for l = 1..top, W_l row-major then b_l."""
        flat = [int(t) for t in theta]
        W, b, pos = [[]], [[]], 0
        for l in range(1, len(sizes)):
            a, c = sizes[l - 1], sizes[l]
            W.append([flat[pos + i * c:pos + (i + 1) * c] for i in range(a)])
            pos += a * c
            b.append(flat[pos:pos + c])
            pos += c
        if pos != len(flat):
            raise ValueError(f"theta has {len(flat)} codes, the layout {list(sizes)} needs {pos}")
        return cls(list(sizes), W, b)

    def flat(self) -> list[int]:
        out: list[int] = []
        for l in range(1, len(self.sizes)):
            for row in self.W[l]:
                out.extend(row)
            out.extend(self.b[l])
        return out


@dataclass
class Step:
    """What one call of `train_batch` / `train` returns."""

    theta: list[int]
    warm: list[list[int]]  # per batch position
    lanes: list[int]
    hits: int
    stats: Counter = field(default_factory=Counter)
    flagged: bool = False  # some used denominator was <= 0 after an update (the hardware status flag)


class Oracle:
    """One network's codes, formats and the derived per-update quantities (section 3), in Python ints."""

    def __init__(self, cfg: Any, theta: Sequence[int], perturb: str | None = None) -> None:
        if perturb is not None and perturb not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {perturb!r}")
        self.cfg = cfg
        self.perturb = perturb
        self.f = f = Formats.of(cfg)
        self.sizes = [2 * PIXELS, *cfg.hidden, OUTPUTS]
        self.top = len(self.sizes) - 1
        self.net = Net.from_flat(self.sizes, theta)
        self.stats: Counter = Counter()
        self.vin = vin_table(cfg.input_gain, f, self.stats)
        self.beta_g = Fraction(cfg.beta) * 2**f.Fg
        if self.beta_g.denominator != 1:
            raise ValueError(f"beta {cfg.beta} is not a multiple of 2^-{f.Fg}")
        self.beta_g = int(self.beta_g)
        self.beta_c = self.beta_g << f.Fv
        self.sn = noise_coefficient(cfg.sigma, cfg.samples, f)
        self.centered = cfg.variant == "centered"
        free = list(range(1, self.top + 1))
        self.order = {"forward": free, "backward": free[::-1]}.get(cfg.order, free[0::2] + free[1::2])
        self.n_off = [0] * (self.top + 1)
        for l in range(2, self.top + 1):
            self.n_off[l] = self.n_off[l - 1] + self.sizes[l - 1]
        self.refresh()

    # Section 3.

    def _sat(self, x: int, bits: int, name: str) -> int:
        hi = (1 << (bits - 1)) - 1
        if x > hi:
            self.stats[name] += 1
            return hi
        if x < -hi - 1:
            self.stats[name] += 1
            return -hi - 1
        return x

    def recip(self, d: int) -> int:
        """r(d) = usat(floor(2^(F_g + F_r) / d), recip_bits); 2^recip_bits - 1 for d <= 0."""
        f = self.f
        top = (1 << f.recip_bits) - 1
        if d <= 0:
            self.stats["recip_den"] += 1
            return top
        if self.perturb == "recip_nearest":
            q = (2 * (1 << (f.Fg + f.Fr)) + d) // (2 * d)
        else:
            q = (1 << (f.Fg + f.Fr)) // d
        if q > top:
            self.stats["recip"] += 1
            return top
        return q

    def refresh(self) -> bool:
        """Totals and reciprocals of every free node; outputs get one per nudging sign. Returns the status flag."""
        net, sizes, top = self.net, self.sizes, self.top
        den = [[0] * n for n in sizes]
        for l in range(1, top + 1):
            below, here = den[l - 1], den[l]
            for i, row in enumerate(net.W[l]):
                for j, g in enumerate(row):
                    here[j] += g
                    if l > 1:
                        below[i] += g
        self.den = den
        self.r = [[]] + [[self.recip(d) for d in den[l]] for l in range(1, top)]
        signs = (-1, 0, 1) if self.centered else (0, 1)
        self.r_out = {s: [self.recip(d + self.beta_g * s) for d in den[top]] for s in signs}
        bad = any(d <= 0 for l in range(1, top) for d in den[l])
        bad |= any(d + self.beta_g * s <= 0 for s in signs for d in den[top])
        return bad

    # Section 4.

    def project(self, x: Sequence[int]) -> list[int]:
        """P_j = sat(sum_{i < 1568} g_ij vin_i, acc_bits) with vin_i = vin(p_i), -vin(p_{i-784})."""
        W1 = self.net.W[1]
        n1 = self.sizes[1]
        P = [0] * n1
        for i in range(PIXELS):
            v = self.vin[int(x[i])]
            if v:
                for row, vi in ((W1[i], v), (W1[PIXELS + i], -v)):
                    for j in range(n1):
                        P[j] += row[j] * vi
        return [self._sat(p, self.f.acc_bits, "P") for p in P]

    def relax(self, P: list[int], V: list[list[int]], label: int, s: int, nsweeps: int) -> None:
        """`nsweeps` sweeps of layer updates of V (V[l], l = 1..top) in place, nudging sign s."""
        f, net, sizes, top = self.f, self.net, self.sizes, self.top
        shift = f.Fg + f.Fr
        mode = "truncate" if self.perturb == "round_v_truncate" else f.round_v
        for _ in range(nsweeps):
            for l in self.order:
                n = sizes[l]
                if l == 1:
                    acc = list(P)
                else:
                    below = V[l - 1]
                    acc = [sum(net.W[l][i][j] * below[i] for i in range(sizes[l - 1])) for j in range(n)]
                if l < top:
                    above, Wup = V[l + 1], net.W[l + 1]
                    for j in range(n):
                        acc[j] += sum(g * vk for g, vk in zip(Wup[j], above))
                    r = self.r[l]
                else:
                    r = self.r_out[s]
                new = []
                for j in range(n):
                    a = acc[j] + net.b[l][j]
                    if l == top and j == label:
                        a += self.beta_c * s
                    a = self._sat(a, f.acc_bits, "acc")
                    u = self._sat(rnd(a * r[j], shift, mode), f.v_bits, "v")
                    if l < top:
                        u = max(u, 0) if j < n // 2 else min(u, 0)
                    new.append(u)
                V[l] = new

    def free_phase(self, x: Sequence[int], V: list[list[int]], nsweeps: int) -> int:
        """Free phase of one sample from V (in place); returns the prediction (lowest index on ties)."""
        self.relax(self.project(x), V, -1, 0, nsweeps)
        out = V[self.top]
        return out.index(max(out))

    # Section 5.

    def measure(self, V: list[list[int]], lanes: list[int]) -> list[list[int]]:
        """M = sat(V + rnd((c_1 + .. + c_N) sn, F_s, round_noise), v_bits); node g of the free nodes uses lane g mod L."""
        f = self.f
        if self.sn == 0:
            return [list(v) for v in V]
        L = f.lanes
        M: list[list[int]] = [[]]
        for l in range(1, self.top + 1):
            row = []
            for j, v in enumerate(V[l]):
                lane = (self.n_off[l] + j) % L
                if self.perturb == "lane_order":
                    lane = L - 1 - lane
                c = 0
                for _ in range(self.cfg.samples):
                    lanes[lane] = xorshift32(lanes[lane])
                    c += gauss(lanes[lane])
                row.append(self._sat(v + rnd(c * self.sn, f.Fs, f.round_noise), f.v_bits, "meas"))
            M.append(row)
        return M

    # Section 6.

    def train_batch(self, images: Sequence[Sequence[int]], labels: Sequence[int], warm: list[list[int]],
                    lanes: list[int], lr: tuple[list[int], ...]) -> Step:
        """One batch: per sample free / nudged phases, measurements, exact sums; then the update and section 3.

        warm[t] is the warm-start state of batch position t (the free state of the sample at that
        position in the previous batch); the positions this batch uses are replaced.
        """
        f, cfg, net, sizes, top = self.f, self.cfg, self.net, self.sizes, self.top
        lanes = list(lanes)
        warm = [list(w) for w in warm]
        A = [[]] + [[[0] * sizes[l] for _ in range(sizes[l - 1])] for l in range(1, top + 1)]
        Q = [[]] + [[0] * sizes[l] for l in range(1, top + 1)]
        hits = 0
        for t, (x, label) in enumerate(zip(images, labels)):
            label = int(label)
            V0 = self._unflat(warm[t] if cfg.warm_start else [0] * sum(sizes[1:]))
            P = self.project(x)
            self.relax(P, V0, label, 0, cfg.sweeps)
            out = V0[top]
            hits += out.index(max(out)) == label
            warm[t] = self._flat(V0)
            phases = []
            for s in ((-1, 1) if self.centered else (1,)):
                V = [list(v) for v in V0]
                self.relax(P, V, label, s, cfg.sweeps)
                phases.append(V)
            first = phases[0] if self.centered else V0
            M1 = self.measure(first, lanes)
            M2 = self.measure(phases[-1], lanes)
            ins = [self.vin[int(p)] for p in x]
            ins += [-v for v in ins]
            for l in range(1, top + 1):
                below1, below2 = (ins, ins) if l == 1 else (M1[l - 1], M2[l - 1])
                c1, c2, Al = M1[l], M2[l], A[l]
                for i in range(sizes[l - 1]):
                    a1, a2, row = below1[i], below2[i], Al[i]
                    for j in range(sizes[l]):
                        d1 = a1 - c1[j]
                        d2 = a2 - c2[j]
                        row[j] += (d2 + d1) * (d2 - d1)
                for j in range(sizes[l]):
                    Q[l][j] += c2[j] - c1[j]
        k_w, s_w, k_b, s_b = lr
        mode = f.round_update
        rlane = f.lanes
        gmax = (1 << f.g_bits) - 1

        def dither() -> int:
            if mode != "stochastic":
                return 0
            lanes[rlane] = xorshift32(lanes[rlane])
            return lanes[rlane]

        for l in range(1, top + 1):
            biases_first = self.perturb == "update_order"
            if biases_first:
                self._update_biases(l, Q[l], k_b[l], s_b[l], mode, dither)
            for i, row in enumerate(net.W[l]):
                Arow = A[l][i]
                for j in range(sizes[l]):
                    a = self._sat(Arow[j], f.upd_bits, "A")
                    g = row[j] - rnd(a * k_w[l], s_w[l], mode, dither())
                    if g < 0:
                        self.stats["g_zero"] += 1
                        g = 0
                    elif g > gmax:
                        self.stats["g_top"] += 1
                        g = gmax
                    row[j] = g
            if not biases_first:
                self._update_biases(l, Q[l], k_b[l], s_b[l], mode, dither)
        flagged = self.refresh()
        return Step(net.flat(), warm, lanes, hits, self.stats, flagged)

    def _update_biases(self, l: int, Q: list[int], k: int, s: int, mode: str, dither) -> None:
        b = self.net.b[l]
        for j in range(self.sizes[l]):
            b[j] = self._sat(b[j] + rnd(Q[j] * k, s, mode, dither()), self.f.b_bits, "b")

    def _unflat(self, flat: Sequence[int]) -> list[list[int]]:
        V: list[list[int]] = [[]]
        pos = 0
        for l in range(1, self.top + 1):
            V.append([int(v) for v in flat[pos:pos + self.sizes[l]]])
            pos += self.sizes[l]
        return V

    def _flat(self, V: list[list[int]]) -> list[int]:
        return [v for l in range(1, self.top + 1) for v in V[l]]

    def predict(self, images: Sequence[Sequence[int]]) -> list[int]:
        """Free phase from rest with `sweeps_eval` sweeps, argmax of the output codes."""
        return [self.free_phase(x, self._unflat([0] * sum(self.sizes[1:])), self.cfg.sweeps_eval) for x in images]


def begin_epoch(cfg: Any, epoch: int) -> tuple[list[list[int]], list[int], tuple[list[int], ...]]:
    """(warm states per batch position, lane states, learning-rate codes) at the start of an epoch: states zero."""
    zero = [0] * (sum(cfg.hidden) + OUTPUTS)
    return [list(zero) for _ in range(cfg.batch_size)], seed_lanes(cfg.seed, epoch, cfg.fixed.noise_lanes), \
        lr_codes(cfg, epoch)


def train_batch(cfg: Any, theta: Sequence[int], warm: Sequence[Sequence[int]], lanes: Sequence[int],
                images: Sequence[Sequence[int]], labels: Sequence[int], lr: tuple[list[int], ...],
                perturb: str | None = None) -> Step:
    """One training step: one batch from these codes, warm states and lanes, its update and section 3."""
    return Oracle(cfg, theta, perturb).train_batch(images, labels, [list(w) for w in warm], list(lanes), lr)


def train(cfg: Any, theta: Sequence[int], warm: Sequence[Sequence[int]], lanes: Sequence[int],
          images: Sequence[Sequence[int]], labels: Sequence[int], lr: tuple[list[int], ...],
          perturb: str | None = None) -> Step:
    """Samples in order, an update after every batch_size of them and after a final partial batch.

    A final partial batch uses the factors of a full one (B = batch_size, section 6) and its
    samples take the warm states of the first batch positions. Hits, saturation counts and the
    status flag are summed over the batches.
    """
    B = cfg.batch_size
    step = Step([int(t) for t in theta], [list(w) for w in warm], list(lanes), 0)
    hits, stats, flagged = 0, Counter(), False
    for t in range(0, len(images), B):
        step = train_batch(cfg, step.theta, step.warm, step.lanes, images[t:t + B], labels[t:t + B], lr, perturb)
        hits += step.hits
        stats += step.stats
        flagged |= step.flagged
    return Step(step.theta, step.warm, step.lanes, hits, stats, flagged)


def predict(cfg: Any, theta: Sequence[int], images: Sequence[Sequence[int]], perturb: str | None = None) -> list[int]:
    """Predicted class of each image: free phase from rest (`sweeps_eval` sweeps), argmax of the output codes."""
    return Oracle(cfg, theta, perturb).predict(images)
