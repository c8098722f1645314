"""Tests of golden.fixed_arith against exact Python integers."""

import numpy as np
import pytest

from golden.fixed_arith import LIMIT, MAX_SHIFT, NEAREST, STOCHASTIC, TRUNCATE, mul_round, mul_round_wide, sat, usat


def exact(a: int, m: int, s: int, mode: int, u: int) -> int:
    """The contract in plain Python integers (unbounded)."""
    v = a * m
    if s <= 0:
        q = v << -s
    else:
        if mode == STOCHASTIC:
            v += (u % (1 << s)) if s <= 32 else u << (s - 32)
        q, r = divmod(v, 1 << s)  # floor division, 0 <= r < 2^s
        if mode == NEAREST and (r > (1 << (s - 1)) or (r == (1 << (s - 1)) and q % 2 == 1)):
            q += 1
    return max(-LIMIT, min(LIMIT, q))


def random_cases(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        abits = int(rng.integers(0, 62))
        a = int(rng.integers(-(1 << abits), 1 << abits, endpoint=False)) if abits else 0
        m = int(rng.integers(0, 1 << int(rng.integers(1, 32))))
        s = int(rng.integers(-8, MAX_SHIFT + 1))
        yield a, m, s, int(rng.integers(0, 1 << 32))


@pytest.mark.parametrize("mode", [TRUNCATE, NEAREST, STOCHASTIC])
def test_mul_round_is_exact_on_random_operands(mode):
    for a, m, s, u in random_cases(20000, mode):
        if mode == STOCHASTIC and s > 62:
            continue
        assert mul_round(a, m, s, mode, u) == exact(a, m, s, mode, u), (a, m, s, u)


@pytest.mark.parametrize("a, m, s", [
    (5, 1, 1), (7, 1, 1), (-5, 1, 1), (-7, 1, 1), (6, 1, 2), (10, 1, 2), (-6, 1, 2),   # ties go to even
    ((1 << 61) - 1, (1 << 31) - 1, 31), (-(1 << 61), (1 << 31) - 1, 31), ((1 << 61) - 1, (1 << 31) - 1, 32),
    (3 << 30, 1, 31), (1 << 30, 1, 31), (-(1 << 30), 1, 31), ((1 << 61) + 12345, 3, 0), (3, 5, -61),
])
def test_mul_round_edge_cases(a, m, s):
    for mode in (TRUNCATE, NEAREST):
        assert mul_round(a, m, s, mode, 0) == exact(a, m, s, mode, 0)


def test_saturation():
    assert sat(200, 8) == 127 and sat(-200, 8) == -128 and sat(-5, 8) == -5
    assert usat(-3, 4) == 0 and usat(16, 4) == 15 and usat(9, 4) == 9



@pytest.mark.parametrize("mode", [TRUNCATE, NEAREST])
def test_wide_path_gives_the_same_results(mode):
    for a, m, s, u in random_cases(20000, 10 + mode):
        s = max(s, 32)
        assert mul_round_wide(a, m, s, mode == NEAREST) == mul_round(a, m, s, mode, 0), (a, m, s)
