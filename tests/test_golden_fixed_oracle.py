"""The numba fixed-point model (golden/fixed_ep.py) against the independent oracle (tests/oracle_fixed.py).

Each case is drawn from np.random.default_rng(seed): layer sizes, every format and rounding mode,
sweep order, variant, warm start, beta, noise, lanes, batch size, epoch, learning rates (multiply
and shift mode), parameter codes (realistic, sparse, wild, nodes without conductance, near the
format limits) and inputs (MNIST and random images). About a third of the cases use widths close
to their minimum so that saturation happens; `test_cases_reach_the_edges_of_the_formats` checks it.
The model and the oracle train on the same samples from the same codes and must agree bit for bit
on the parameters, hits, predictions, warm-start states and generator states.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import oracle_fixed as orc
from golden import config, datasets
from golden.config import Config, ConfigError, Fixed
from golden.fixed_ep import FixedEP
from golden.fixed_formats import derive, lr_codes

CASES = 300
PREDICT_TEST_IMAGES = 2
HARD_SATURATIONS = ("vin", "recip", "P", "acc", "v", "meas", "A", "g_top", "b")


@functools.lru_cache(maxsize=1)
def subset() -> datasets.Dataset:
    return datasets.load("mnist-subset")


# ---------------------------------------------------------------------------------------------
# drawing cases


@dataclass
class Case:
    seed: int
    cfg: Config
    theta: np.ndarray          # starting codes, flat layout
    X: np.ndarray              # (n, 784) uint8 training samples
    labels: np.ndarray         # (n,) uint8
    calls: list[np.ndarray]    # train() calls: sample indices of each
    epoch: int
    X_pred: np.ndarray         # images for predict()
    attempts: int              # configs drawn until one validated

    def describe(self) -> str:
        c, fixed = self.cfg, vars(self.cfg.fixed)
        return (f"case seed={self.seed}: hidden={c.hidden} gain={c.input_gain} beta={c.beta} sweeps={c.sweeps}/"
                f"{c.sweeps_eval} order={c.order} variant={c.variant} warm={c.warm_start} sigma={c.sigma} "
                f"N={c.samples} B={c.batch_size} calls={[len(i) for i in self.calls]} epoch={self.epoch} "
                f"lr_w={c.lr_weights} lr_b={c.lr_biases} decay={c.lr_decay} seed={c.seed} fixed={fixed}")


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _draw_config(rng: np.random.Generator) -> tuple[Config, bool]:
    tiny = bool(rng.random() < 0.35)
    hidden = [2 * int(rng.integers(1, 7)) for _ in range(int(rng.integers(1, 3)))]
    batch = int(rng.integers(1, 4))
    Fv = int(rng.integers(2, 17))
    v_bits = min(Fv + int(rng.integers(2, 5) if tiny else rng.integers(4, 14)), 29)
    gain = float(rng.choice([1.0, 5.0, 20.0, 100.0, 400.0]) * rng.uniform(0.5, 1.5))
    vin_min = math.floor(math.log2(gain * 2**Fv)) + 2  # smallest width whose top exceeds gain * 2^Fv
    vin_bits = vin_min + (0 if tiny else int(rng.integers(0, 4)))
    Fg = int(rng.integers(2, 21))
    g_bits = max(2, Fg + int(rng.integers(-3, 3) if tiny else rng.integers(-1, 8)))
    g_bits = min(g_bits, 51 - max(v_bits, vin_bits))
    acc_bits = min(62, Fv + Fg + int(rng.integers(1, 4) if tiny else rng.integers(10, 30)))
    b_bits = min(62, Fv + Fg + int(rng.integers(1, 4) if tiny else rng.integers(3, 30)))
    Fr = int(rng.integers(2, min(30, 62 - Fg) + 1))
    # 1/den of a realistic node is below 2^7: wide reciprocals cover it, tiny ones saturate
    recip_bits = int(rng.integers(2, 9)) if tiny else min(31, Fr + int(rng.integers(4, 12)))
    upd_bits = int(np.clip(2 * Fv + (rng.integers(-2, 4) if tiny else rng.integers(4, 30)), 2, 62))
    variant = str(rng.choice(["centered", "positive"]))
    e = int(rng.integers(0, min(Fg, 8) + 1))
    beta = float(int(rng.integers(1, 9)) * 2.0**-e * (2.0 ** int(rng.integers(0, 6)) if rng.random() < 0.2 else 1))
    span = beta * (2 if variant == "centered" else 1)
    lr_mode = str(rng.choice(["multiply", "shift"], p=[0.7, 0.3]))
    n_layers = len(hidden) + 1
    if lr_mode == "shift":
        decay = 1.0
        lr_w = [2.0 ** -int(rng.integers(-2, 20)) * 2 * span * batch for _ in range(n_layers)]
        lr_b = [2.0 ** -int(rng.integers(-2, 20)) * span * batch for _ in range(n_layers)]
        Fk = int(rng.integers(1, 63))  # unused in shift mode
    else:
        decay = float(rng.choice([1.0, 0.99, 0.9, 0.5]))
        hi = 20.0 if rng.random() < 0.2 else 0.3
        lr_w = [_log_uniform(rng, 1e-5, hi) for _ in range(n_layers)]
        lr_b = [0.0 if rng.random() < 0.15 else _log_uniform(rng, 1e-5, hi) for _ in range(n_layers)]
        k_min = min([lr / (2 * span * batch) for lr in lr_w] + [lr / (span * batch) for lr in lr_b if lr > 0])
        Fk = int(np.clip(math.ceil(-math.log2(k_min)) + int(rng.integers(1, 14)), 1, 62))
    sigma, samples = 0.0, int(rng.integers(1, 5))
    Fs = int(rng.integers(1, 21))
    if rng.random() < 0.6:
        sigma = _log_uniform(rng, 1e-4, 1.0) * (10.0 if tiny else 1.0)
        Fs_min = math.ceil(math.log2(2 * orc.GAUSS_SD * samples / sigma)) - Fv
        Fs = int(np.clip(Fs_min + int(rng.integers(0, 9)), 1, 62))
    fixed = Fixed(v_frac=Fv, v_bits=v_bits, vin_bits=vin_bits, g_frac=Fg, g_bits=g_bits, b_bits=b_bits,
                  acc_bits=acc_bits, recip_frac=Fr, recip_bits=recip_bits, noise_frac=Fs, upd_bits=upd_bits,
                  lr_frac=Fk, lr_mode=lr_mode, round_v=str(rng.choice(["truncate", "nearest"])),
                  round_noise=str(rng.choice(["truncate", "nearest"])),
                  round_update=str(rng.choice(["truncate", "nearest", "stochastic"])),
                  noise_lanes=int(rng.integers(1, 6)))
    cfg = Config(hidden=hidden, input_gain=gain, beta=beta, sweeps=int(rng.integers(1, 5)),
                 sweeps_eval=int(rng.integers(1, 5)), order=str(rng.choice(config.SWEEP_ORDERS)), variant=variant,
                 warm_start=bool(rng.random() < 0.6), sigma=sigma, samples=samples, reading="measurements",
                 batch_size=batch, epochs=3, lr_weights=lr_w, lr_biases=lr_b, momentum=0.0, lr_decay=decay,
                 precision="fixed", fixed=fixed, seed=int(rng.integers(0, 2**32)))
    return cfg, tiny


def _draw_theta(rng: np.random.Generator, cfg: Config, tiny: bool) -> np.ndarray:
    """Starting codes; with tiny formats also wild ones (anywhere in the format, at its limits)."""
    fx = cfg.fixed
    sizes = cfg.sizes
    gmax = 2**fx.g_bits - 1
    bhi = 2 ** (fx.b_bits - 1)
    W, b = [None], [None]
    for l in range(1, len(sizes)):
        shape = (sizes[l - 1], sizes[l])
        style = rng.choice(["init", "init", "wild", "scaled"] if tiny else ["init"] * 6 + ["scaled"] * 3 + ["wild"])
        if style == "init":
            s = rng.uniform(0.5, 4) / math.sqrt(sizes[l - 1])
            w = np.clip(np.rint(np.maximum(rng.uniform(-s, s, shape), 0) * 2.0**fx.g_frac), 0, gmax)
        elif style == "wild":
            w = rng.integers(0, gmax + 1, shape).astype(np.float64)
            w[rng.random(shape) < 0.3] = 0
            w[rng.random(shape) < 0.1] = gmax
        else:
            w = rng.integers(0, 2 ** int(rng.integers(0, fx.g_bits + 1)), shape).astype(np.float64)
        W.append(w.astype(np.int64))
        bstyle = rng.choice(["zero", "small", "small", "wild"] if tiny else ["zero"] * 5 + ["small"] * 14 + ["wild"])
        if bstyle == "zero":
            bl = np.zeros(sizes[l], np.int64)
        elif bstyle == "small":
            lim = min(bhi - 1, int(rng.uniform(0, 2) * 2 ** (fx.v_frac + fx.g_frac)))
            bl = rng.integers(-lim, lim + 1, sizes[l])
        else:
            bl = rng.integers(-bhi, bhi, sizes[l])
            bl[rng.random(sizes[l]) < 0.2] = bhi - 1
            bl[rng.random(sizes[l]) < 0.2] = -bhi
        b.append(bl.astype(np.int64))
    if rng.random() < 0.2:  # a hidden node without any conductance (den = 0)
        l = int(rng.integers(1, len(sizes) - 1))
        j = int(rng.integers(0, sizes[l]))
        W[l][:, j] = 0
        W[l + 1][j, :] = 0
    return np.concatenate([np.concatenate([W[l].ravel(), b[l]]) for l in range(1, len(sizes))])


def _draw_images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    data = subset()
    X = np.zeros((n, 784), np.uint8)
    y = np.zeros(n, np.uint8)
    for t in range(n):
        kind = rng.choice(["mnist", "mnist", "mnist", "uniform", "sparse", "flat"])
        if kind == "mnist":
            k = int(rng.integers(0, len(data.train_y)))
            X[t], y[t] = data.train_x[k], data.train_y[k]
            continue
        if kind == "uniform":
            X[t] = rng.integers(0, 256, 784)
        elif kind == "sparse":
            X[t] = rng.integers(0, 256, 784) * (rng.random(784) < 0.1)
        else:
            X[t] = rng.choice([0, 1, 128, 255])
        y[t] = rng.integers(0, 10)
    return X, y


def _valid(cfg: Config, epoch: int) -> bool:
    try:
        cfg.validate()
        lr_codes(cfg, derive(cfg), epoch)
    except ConfigError:
        return False
    # docs/fixed-point.md rejects a gain whose largest input code does not fit vin_bits; the model
    # checks the unrounded value (see test_largest_input_code_saturates_or_is_rejected): keep the
    # random cases clear of that one edge.
    top = orc.round_half_even(Fraction(cfg.input_gain) * 2**cfg.fixed.v_frac)
    return top < 2 ** (cfg.fixed.vin_bits - 1)


@functools.lru_cache(maxsize=None)
def draw_case(seed: int) -> Case:
    rng = np.random.default_rng(seed)
    for attempt in range(1, 200):
        cfg, tiny = _draw_config(rng)
        epoch = int(rng.integers(0, 3))
        if _valid(cfg, epoch):
            break
    else:
        raise AssertionError(f"seed {seed}: no valid config drawn")
    theta = _draw_theta(rng, cfg, tiny)
    n = int(rng.integers(1, 5))
    X, labels = _draw_images(rng, n)
    idx = np.arange(n)
    calls = [idx] if n == 1 or rng.random() < 0.7 else np.split(idx, [int(rng.integers(1, n))])
    test = subset().test_x
    X_pred = np.concatenate([X[:1], test[rng.integers(0, len(test), PREDICT_TEST_IMAGES)]])
    return Case(seed, cfg, theta, X, labels, calls, epoch, X_pred, attempt)


# ---------------------------------------------------------------------------------------------
# running both


@dataclass
class Outcome:
    theta: np.ndarray
    hits: int
    predictions: list[int]
    warm: list[list[int]] | None
    lanes: list[int] | None
    flagged: bool


def run_model(case: Case) -> Outcome:
    m = FixedEP(case.cfg)
    m.load_state({"theta": case.theta.copy()})
    m.begin_epoch(case.epoch)
    flags = int(m.flags[0])
    hits = sum(int(m.train(case.X, case.labels, idx)) for idx in case.calls)
    # The warm-start state and the generator states are not public attributes: read them if present.
    warm = getattr(m, "_S0", None)
    lanes = getattr(m, "_state", None)
    return Outcome(m.theta.copy(), hits, m.predict(case.X_pred).tolist(),
                   None if warm is None else warm.tolist(), None if lanes is None else lanes.tolist(),
                   int(m.flags[0]) > flags)


def run_oracle(case: Case, perturb: str | None = None) -> tuple[Outcome, Counter]:
    """The oracle on the case's train() calls, then its predictions; also its saturation counts."""
    warm, lanes, lr = orc.begin_epoch(case.cfg, case.epoch)
    theta = case.theta.tolist()
    X = case.X.tolist()
    hits, flagged, stats = 0, False, Counter()
    for idx in case.calls:
        step = orc.train(case.cfg, theta, warm, lanes, [X[i] for i in idx], [int(case.labels[i]) for i in idx],
                         lr, perturb)
        theta, warm, lanes = step.theta, step.warm, step.lanes
        hits += step.hits
        flagged |= step.flagged
        stats += step.stats
    predictions = orc.predict(case.cfg, theta, case.X_pred.tolist(), perturb)
    return Outcome(np.array(theta, np.int64), hits, predictions, warm, lanes, flagged), stats


@functools.lru_cache(maxsize=None)
def model_outcome(seed: int) -> Outcome:
    return run_model(draw_case(seed))


@functools.lru_cache(maxsize=None)
def oracle_outcome(seed: int) -> tuple[Outcome, Counter]:
    return run_oracle(draw_case(seed))


def first_difference(case: Case, a: np.ndarray, b: np.ndarray) -> str:
    """Where two flat parameter vectors first differ: layer, conductance (i, j) or bias j."""
    sizes = case.cfg.sizes
    pos = 0
    for l in range(1, len(sizes)):
        na, nc = sizes[l - 1], sizes[l]
        for kind, count in (("W", na * nc), ("b", nc)):
            d = np.flatnonzero(a[pos:pos + count] != b[pos:pos + count])
            if d.size:
                k = int(d[0])
                where = f"({k // nc}, {k % nc})" if kind == "W" else f"[{k}]"
                return (f"{kind}_{l}{where}: model {a[pos + k]}, oracle {b[pos + k]} "
                        f"(start {case.theta[pos + k]}; {int(np.sum(a != b))} codes differ)")
            pos += count
    return "no difference"


def mismatch(case: Case, got: Outcome, want: Outcome) -> str | None:
    """None if the outcomes agree, else what differs first."""
    if not np.array_equal(got.theta, want.theta):
        return first_difference(case, got.theta, want.theta)
    if got.hits != want.hits:
        return f"hits: model {got.hits}, oracle {want.hits}"
    if got.predictions != want.predictions:
        return f"predictions: model {got.predictions}, oracle {want.predictions}"
    if case.cfg.warm_start and got.warm is not None and got.warm != want.warm:
        return f"warm-start state: model {got.warm}, oracle {want.warm}"
    if got.lanes is not None and got.lanes != want.lanes:
        return f"generator states: model {got.lanes}, oracle {want.lanes}"
    # The status flag (section 3): a denominator <= 0, of a nudging value in use, after an update.
    if got.flagged != want.flagged:
        return f"status flag after the updates: model {got.flagged}, oracle {want.flagged}"
    return None


# ---------------------------------------------------------------------------------------------
# the oracle's own generator against the pinned vectors


def test_oracle_generator_reproduces_the_pinned_vectors():
    vectors = json.loads((Path(__file__).parent / "vectors" / "prng.json").read_text())
    for case in vectors["cases"]:
        seeds = orc.seed_lanes(case["seed"], case["epoch"], case["lanes"])
        assert seeds == case["lane_seeds"]
        for x, words in zip(seeds, case["words"]):
            got = []
            for _ in words:
                x = orc.xorshift32(x)
                got.append(x)
            assert got == words
        assert [orc.gauss(w) for w in case["words"][0]] == case["gauss_lane0"]


def test_oracle_rounding_modes():
    assert [orc.rnd(x, 1, "truncate") for x in (-3, -2, -1, 1, 2, 3)] == [-2, -1, -1, 0, 1, 1]
    assert [orc.rnd(x, 1, "nearest") for x in (-3, -1, 1, 3, 5)] == [-2, 0, 0, 2, 2]
    assert [orc.rnd(x, 2, "nearest") for x in (-7, -6, -5, 5, 6, 7)] == [-2, -2, -1, 1, 2, 2]
    assert orc.rnd(5, -3, "nearest") == 40
    assert orc.rnd(3, 2, "stochastic", 2**32 - 1) == (3 + 3) >> 2
    assert orc.rnd(3, 34, "stochastic", 5) == (3 + (5 << 2)) >> 34


# ---------------------------------------------------------------------------------------------
# model against oracle


@pytest.mark.parametrize("seed", range(CASES))
def test_model_matches_the_oracle(seed):
    case = draw_case(seed)
    got = model_outcome(seed)
    want, _ = oracle_outcome(seed)
    problem = mismatch(case, got, want)
    assert problem is None, f"{case.describe()}\n  first difference: {problem}"


@pytest.mark.parametrize("seed", range(CASES))
def test_learning_rate_codes_match_the_model(seed):
    case = draw_case(seed)
    want = orc.lr_codes(case.cfg, case.epoch)
    got = lr_codes(case.cfg, derive(case.cfg), case.epoch)
    for name, g, w in zip(("k_w", "s_w", "k_b", "s_b"), got, want):
        assert g[1:].tolist() == w[1:], f"{case.describe()}\n  {name}: model {g[1:].tolist()}, oracle {w[1:]}"


@pytest.mark.parametrize("seed", range(0, CASES, 4))
def test_derived_constants_match_the_model(seed):
    case = draw_case(seed)
    c = derive(case.cfg)
    f = orc.Formats.of(case.cfg)
    assert c.vin_table.tolist() == orc.vin_table(case.cfg.input_gain, f)
    assert c.sn == orc.noise_coefficient(case.cfg.sigma, case.cfg.samples, f)
    assert c.beta_g == orc.Oracle(case.cfg, case.theta.tolist()).beta_g


def test_cases_are_mostly_valid_and_varied():
    cases = [draw_case(s) for s in range(CASES)]
    assert sum(c.attempts for c in cases) < 2 * CASES  # few redraws
    seen = {k: {getattr(c.cfg, k) for c in cases} for k in ("order", "variant", "warm_start", "batch_size",
                                                                 "samples", "sweeps")}
    seen.update({k: {getattr(c.cfg.fixed, k) for c in cases}
                 for k in ("round_v", "round_noise", "round_update", "lr_mode", "noise_lanes")})
    assert all(len(v) > 1 for v in seen.values()), seen
    assert {c.epoch for c in cases} == {0, 1, 2}
    assert {len(c.hidden) for c in (c.cfg for c in cases)} == {1, 2}
    assert sum(c.cfg.sigma > 0 for c in cases) > CASES // 3
    assert sum(len(c.X) % c.cfg.batch_size != 0 for c in cases) > CASES // 5  # partial batches
    assert sum(any(len(i) % c.cfg.batch_size for i in c.calls) for c in cases) > CASES // 5


def test_cases_reach_the_edges_of_the_formats():
    """A decent fraction of cases saturate somewhere, and every saturation point is reached by some case."""
    stats = [oracle_outcome(s)[1] for s in range(CASES)]
    hard = [any(st[k] for k in HARD_SATURATIONS) for st in stats]
    assert sum(hard) >= CASES // 4, f"only {sum(hard)} of {CASES} cases saturate"
    for k in HARD_SATURATIONS + ("recip_den", "g_zero"):
        if k == "vin":  # no valid config saturates the input table (section 1 rejects it)
            continue
        assert sum(bool(st[k]) for st in stats) >= 3, f"saturation point {k!r} reached by fewer than 3 cases"


# ---------------------------------------------------------------------------------------------
# the comparison can fail


def _applies(case: Case, perturb: str) -> bool:
    fx = case.cfg.fixed
    return {"round_v_truncate": fx.round_v == "nearest",
            "lane_order": case.cfg.sigma > 0 and fx.noise_lanes > 1,
            "update_order": fx.round_update == "stochastic",
            "recip_nearest": True}[perturb]


@pytest.mark.parametrize("perturb", orc.PERTURBATIONS)
def test_a_perturbed_oracle_is_caught(perturb):
    """Each deliberate rule change of the oracle makes some of the first applicable cases mismatch."""
    tried = caught = 0
    for seed in range(CASES):
        case = draw_case(seed)
        if not _applies(case, perturb):
            continue
        tried += 1
        want, _ = run_oracle(case, perturb)
        caught += mismatch(case, model_outcome(seed), want) is not None
        if caught >= 3 or tried >= 40:
            break
    assert caught >= 3, f"{perturb}: only {caught} of {tried} cases noticed the perturbation"


# ---------------------------------------------------------------------------------------------
# doc statements the model does not follow (docs/fixed-point.md sections 1 and 2)


def test_a_top_input_code_that_rounds_past_vin_bits_is_rejected():
    # gain * 2^F_v = 2047.75: rounds to 2048, one above the top of a 12-bit signed code (section 1).
    cfg = Config(hidden=[4], input_gain=2047.75 / 16, precision="fixed", momentum=0.0, lr_weights=[0.01, 0.01],
                 lr_biases=[0.01, 0.01], beta=1.0,
                 fixed=Fixed(v_frac=4, v_bits=12, vin_bits=12, g_frac=8, g_bits=12, acc_bits=30, b_bits=30,
                             recip_frac=8, recip_bits=20, upd_bits=40, lr_frac=20))
    with pytest.raises(ConfigError, match="needs more than vin_bits = 12"):
        cfg.validate()
    cfg.input_gain = 2047.25 / 16  # rounds to 2047: accepted, and the tables agree
    assert derive(cfg.validate()).vin_table.tolist() == orc.vin_table(cfg.input_gain, orc.Formats.of(cfg))
