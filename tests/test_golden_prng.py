"""Tests of golden.prng: pinned vectors, an independent Python-int reference, and the noise statistics.

The pinned file tests/vectors/prng.json is written by `make_vectors`; regenerate it only on a
deliberate change of the contract (docs/fixed-point.md section 5), with
`.venv/bin/python tests/test_golden_prng.py`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numba as nb
import numpy as np
import pytest

from golden.prng import GAUSS_SD, draw, gauss_code, lane_seed, mix32, seed_lanes, xorshift32

VECTORS = Path(__file__).parent / "vectors" / "prng.json"
VECTOR_CASES = [(0, 0, 4), (1, 0, 4), (12345, 7, 16), (2**31 - 1, 99, 1)]
VECTOR_WORDS = 32


# Independent reference: the doc's formulas on Python ints, sharing no code with golden.prng.

def ref_mix(x: int) -> int:
    x %= 2**32
    x ^= x >> 16
    x = (x * 0x7FEB352D) % 2**32
    x ^= x >> 15
    x = (x * 0x846CA68B) % 2**32
    x ^= x >> 16
    return x


def ref_lane_seed(seed: int, epoch: int, p: int) -> int:
    return ref_mix(seed * 0x9E3779B1 + epoch * 0x85EBCA77 + p * 0xC2B2AE3D + 1) or 1


def ref_words(x: int, n: int) -> list[int]:
    out = []
    for _ in range(n):
        x = (x ^ (x << 13)) % 2**32
        x ^= x >> 17
        x = (x ^ (x << 5)) % 2**32
        out.append(x)
    return out


def ref_gauss(word: int) -> int:
    return sum(word.to_bytes(4, "little")) - 510


# Vectors.

def make_vectors() -> dict:
    """Lane seeds, the first VECTOR_WORDS words of every lane and lane 0's Gaussian codes, per case."""
    cases = []
    for seed, epoch, lanes in VECTOR_CASES:
        state = seed_lanes(seed, epoch, lanes)
        seeds = [int(s) for s in state]
        words = [[draw(state, p) for _ in range(VECTOR_WORDS)] for p in range(lanes + 1)]
        cases.append(dict(seed=seed, epoch=epoch, lanes=lanes, lane_seeds=seeds, words=words,
                          gauss_lane0=[gauss_code(w) for w in words[0]]))
    return dict(about="golden.prng bit stream, docs/fixed-point.md section 5: lane p (0..lanes, lanes = the "
                      "rounding generator) starts at lane_seeds[p]; words[p] are its first draws",
                cases=cases)


def write_vectors() -> None:
    text = json.dumps(make_vectors(), indent=1)
    text = re.sub(r"\[[-\d,\s]+\]", lambda m: "[" + ", ".join(re.findall(r"-?\d+", m.group(0))) + "]", text)
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(text + "\n")


@pytest.fixture(scope="module")
def vectors() -> dict:
    return json.loads(VECTORS.read_text())


def test_module_reproduces_the_pinned_vectors(vectors):
    assert vectors == json.loads(json.dumps(make_vectors()))
    assert [(c["seed"], c["epoch"], c["lanes"]) for c in vectors["cases"]] == VECTOR_CASES


def test_reference_reproduces_the_pinned_vectors(vectors):
    for case in vectors["cases"]:
        seeds = [ref_lane_seed(case["seed"], case["epoch"], p) for p in range(case["lanes"] + 1)]
        assert case["lane_seeds"] == seeds
        assert case["words"] == [ref_words(s, VECTOR_WORDS) for s in seeds]
        assert case["gauss_lane0"] == [ref_gauss(w) for w in case["words"][0]]


@nb.njit
def _seeds_and_words(seed, epoch, lanes, n):
    """lane_seed, draw and gauss_code called from inside numba: (seeds, words, codes)."""
    state = np.empty(lanes + 1, np.int64)
    for p in range(lanes + 1):
        state[p] = lane_seed(seed, epoch, p)
    seeds = state.copy()
    words = np.empty((lanes + 1, n), np.int64)
    codes = np.empty((lanes + 1, n), np.int64)
    for p in range(lanes + 1):
        for i in range(n):
            words[p, i] = draw(state, p)
            codes[p, i] = gauss_code(words[p, i])
    return seeds, words, codes


def test_kernels_called_inside_numba_match_the_vectors(vectors):
    for case in vectors["cases"]:
        seeds, words, codes = _seeds_and_words(case["seed"], case["epoch"], case["lanes"], VECTOR_WORDS)
        assert seeds.tolist() == case["lane_seeds"]
        assert words.tolist() == case["words"]
        assert codes[0].tolist() == case["gauss_lane0"]


# Module against the independent reference.

def test_mix32_and_xorshift32_match_the_reference():
    rng = np.random.default_rng(1)
    xs = [0, 1, 2**31, 2**32 - 1] + [int(x) for x in rng.integers(0, 2**32, 2000)]
    assert [mix32(x) for x in xs] == [ref_mix(x) for x in xs]
    assert [xorshift32(x) for x in xs] == [ref_words(x, 1)[0] for x in xs]
    assert [gauss_code(x) for x in xs] == [ref_gauss(x) for x in xs]


@pytest.mark.parametrize("seed, epoch, lanes", [(0, 0, 64), (7, 3, 8), (2**32 - 1, 2**32 - 1, 3),
                                                (2**40 + 5, 1, 3), (123456789, 100, 1024)])
def test_lane_streams_match_the_reference(seed, epoch, lanes):
    state = seed_lanes(seed, epoch, lanes)
    assert state.dtype == np.int64 and state.shape == (lanes + 1,)
    seeds = [ref_lane_seed(seed, epoch, p) for p in range(lanes + 1)]
    assert state.tolist() == seeds
    for p in (0, lanes // 2, lanes):
        assert [draw(state, p) for _ in range(200)] == ref_words(seeds[p], 200)


def test_seeds_are_taken_mod_2_32():
    assert seed_lanes(2**32 + 5, 2**33 + 1, 2).tolist() == seed_lanes(5, 1, 2).tolist()
    with pytest.raises(ValueError, match="lanes"):
        seed_lanes(0, 0, -1)


def test_lane_seed_never_returns_zero():
    # The one pre-hash value 0 (mix(0) = 0): seed = -1 / 0x9E3779B1 mod 2^32 at epoch 0, lane 0.
    seed = -pow(0x9E3779B1, -1, 2**32) % 2**32
    assert ref_mix(seed * 0x9E3779B1 + 1) == 0
    assert lane_seed(seed, 0, 0) == 1 and ref_lane_seed(seed, 0, 0) == 1
    assert all(lane_seed(s, e, p) != 0 for s in range(20) for e in range(20) for p in range(20))


@nb.njit
def _nonzero_steps(xs):
    for x in xs:
        if xorshift32(x) == 0:
            return False
    return True


def test_xorshift32_keeps_nonzero_states_nonzero():
    xs = np.random.default_rng(2).integers(1, 2**32, 10**6, dtype=np.int64)
    assert _nonzero_steps(xs)
    assert _nonzero_steps(np.array([1 << b for b in range(32)] + [2**32 - 1], np.int64))
    assert xorshift32(0) == 0  # why 0 is the forbidden state


def test_lanes_are_different_streams():
    state = seed_lanes(3, 5, 16)
    words = np.array([[draw(state, p) for _ in range(1000)] for p in range(17)])
    assert len({tuple(row) for row in words}) == 17
    # Stronger: no word is shared between two lanes' first 1000, so no lane is a shifted copy of another.
    owners = {}
    for p, row in enumerate(words):
        for w in set(row.tolist()):
            assert owners.setdefault(w, p) == p


# Statistics of the Gaussian code.

STAT_LANES = 16
STAT_DRAWS = 2**18  # per lane: 4.2 M codes in all


@nb.njit
def _codes(state, n):
    """n consecutive Gaussian codes of every lane in `state`, one row per lane."""
    out = np.empty((state.size, n), np.int64)
    for p in range(state.size):
        for i in range(n):
            out[p, i] = gauss_code(draw(state, p))
    return out


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return _codes(seed_lanes(2024, 0, STAT_LANES - 1), STAT_DRAWS)


def irwin_hall_4_pmf() -> tuple[np.ndarray, np.ndarray]:
    """The exact distribution of the code: values -510..510 and their probabilities."""
    byte = np.full(256, 1 / 256)
    pmf = byte
    for _ in range(3):
        pmf = np.convolve(pmf, byte)
    return np.arange(-510, 511), pmf


def test_code_mean_sd_and_range(codes):
    c = codes.ravel()
    assert c.size >= 10**6
    assert abs(c.mean()) < 3 * GAUSS_SD / math.sqrt(c.size)
    assert c.std() == pytest.approx(GAUSS_SD, rel=0.005)
    assert c.min() >= -510 and c.max() <= 510
    values, pmf = irwin_hall_4_pmf()
    assert math.sqrt(pmf @ values**2) == pytest.approx(GAUSS_SD, rel=1e-12)


def test_code_tails_are_irwin_hall_not_gaussian(codes):
    c = np.abs(codes.ravel())
    values, pmf = irwin_hall_4_pmf()
    # Exact P(|c| > k sd) against the Gaussian's: 0.3317 vs 0.3173 (+4.5%), 0.0426 vs 0.0455 (-6.3%),
    # 0.00043 vs 0.0027 (6.3x smaller: 3 sd is near the +-3.45 sd end of the range).
    bands = {1: (1.03, 1.06), 2: (0.92, 0.95), 3: (0.15, 0.17)}
    for k, (lo, hi) in bands.items():
        exact = pmf[np.abs(values) > k * GAUSS_SD].sum()
        gauss = math.erfc(k / math.sqrt(2))
        assert lo < exact / gauss < hi
        empirical = np.mean(c > k * GAUSS_SD)
        assert abs(empirical - exact) < 4 * math.sqrt(exact * (1 - exact) / c.size)


@pytest.mark.parametrize("n", [4, 16])
def test_sum_of_n_consecutive_codes_has_sd_sqrt_n(codes, n):
    # A measurement sums N consecutive draws of one lane: they must add like independent codes.
    sums = codes.reshape(STAT_LANES, -1, n).sum(axis=2).ravel()
    assert sums.std() == pytest.approx(math.sqrt(n) * GAUSS_SD, rel=0.01)
    assert abs(sums.mean()) < 3 * math.sqrt(n) * GAUSS_SD / math.sqrt(sums.size)


if __name__ == "__main__":
    write_vectors()
