"""Tests of host.studies.critical: the sigma_c bracket and estimate, bisection, spread over seeds, the sqrt(N) law, the gain."""

import math

import numpy as np
import pytest

from host.studies import critical


def logistic(sigma: float, sigma_c: float, top: float = 0.9, bottom: float = 0.1) -> float:
    """An accuracy curve that falls through keep * top at exactly sigma_c (for keep = 0.9)."""
    if sigma == 0:
        return top
    # solve top*keep = bottom + (top-bottom) / (1 + (s/s0)^4) at s = sigma_c for s0
    frac = (0.9 * top - bottom) / (top - bottom)
    s0 = sigma_c / (1 / frac - 1) ** 0.25
    return bottom + (top - bottom) / (1 + (sigma / s0) ** 4)


def rows_for(curve, sigmas, model="m", dataset="d", samples=1, seed=0):
    return [{"model": model, "dataset": dataset, "samples": samples, "seed": seed, "sigma": s,
             "test_accuracy": curve(s)} for s in sigmas]


def test_bracket_is_the_first_crossing_going_up():
    b = critical.bracket([(0.0, 0.9), (1e-3, 0.89), (1e-2, 0.5), (1e-1, 0.85), (1e-4, 0.92)])
    assert (b.lo, b.hi, b.threshold) == (1e-3, 1e-2, pytest.approx(0.81))
    # linear in log sigma between (1e-3, 0.89) and (1e-2, 0.5): 0.81 is reached 0.08/0.39 of a decade up
    assert b.estimate == pytest.approx(10 ** (-3 + 0.08 / 0.39))
    assert b.censored == ""


def test_bracket_outside_the_grid_is_censored_not_estimated():
    assert critical.bracket([(0.0, 0.9), (1e-3, 0.1)]).censored == "below"
    assert critical.bracket([(0.0, 0.9), (1e-3, 0.1)]).estimate is None
    above = critical.bracket([(0.0, 0.9), (1e-3, 0.89)])
    assert above.censored == "above" and above.estimate is None
    assert critical.bracket([(1e-3, 0.89)]) is None  # no noise-free reference


def test_bisection_converges_on_the_crossing():
    true = 3.3e-3
    rows = rows_for(lambda s: logistic(s, true), [0.0, 1e-4, 1e-3, 1e-2, 1e-1])
    rounds = 0
    while todo := critical.refinements(rows):
        assert [(group, seed) for group, seed, _ in todo] == [(("m", "d", 1), 0)]
        rows += rows_for(lambda s: logistic(s, true), [sigma for _, _, sigma in todo])
        rounds += 1
    # from a decade to MIN_RATIO: log2(log 10 / log 1.02) = 6.9 halvings
    assert rounds == 7
    (e,) = critical.estimate(rows)
    assert e["sigma_c"] == pytest.approx(true, rel=0.01)


def test_estimate_across_seeds_is_a_geometric_mean_with_log_spread():
    grid = list(np.geomspace(1e-4, 1e-1, 61))
    values = {0: 1e-3, 1: 4e-3}
    rows = []
    for seed, sc in values.items():
        rows += rows_for(lambda s, sc=sc: logistic(s, sc), [0.0, *grid], seed=seed)
    (e,) = critical.estimate(rows)
    assert e["sigma_c"] == pytest.approx(2e-3, rel=0.02)
    assert e["log10_std"] == pytest.approx(np.std(np.log10([1e-3, 4e-3]), ddof=1), abs=0.01)
    assert (e["seeds"], e["estimated"], e["below_grid"], e["above_grid"]) == (2, 2, 0, 0)
    assert e["sigma_c_min"] < e["sigma_c"] < e["sigma_c_max"]


def test_one_noise_free_run_serves_every_n():
    rows = rows_for(lambda s: logistic(s, 1e-3), [0.0, 1e-4, 1e-3, 1e-2], samples=1)
    rows += [r for r in rows_for(lambda s: logistic(s, 2e-3), [1e-4, 1e-3, 1e-2], samples=4)]
    estimates = critical.estimate(rows)
    assert [e["samples"] for e in estimates] == [1, 4]
    assert all(e["noise_free_accuracy"] == pytest.approx(0.9) and e["sigma_c"] for e in estimates)


def test_sqrt_law_slope():
    estimates = [{"model": "m", "dataset": "d", "samples": n, "sigma_c": 2e-3 * math.sqrt(n)} for n in (1, 4, 16, 64)]
    (law,) = critical.sqrt_law(estimates)
    assert law["slope"] == pytest.approx(0.5) and law["slope_se"] == pytest.approx(0, abs=1e-9)
    assert law["sigma_c_at_1"] == pytest.approx(2e-3)
    assert critical.sqrt_law(estimates[:1]) == []  # one N: no slope


def test_gain_compares_the_best_sigma_below_sigma_c_with_no_noise():
    def curve(s):
        return 0.95 if 0 < s <= 1e-3 else logistic(s, 5e-3)  # noise helps up to 1e-3

    rows = []
    for seed, jitter in enumerate((0.0, 0.002, -0.002)):
        rows += [{**r, "test_accuracy": r["test_accuracy"] + jitter}
                 for r in rows_for(curve, [0.0, 1e-4, 1e-3, 1e-2, 1e-1], seed=seed)]
    (e,) = critical.estimate(rows)
    assert e["best_sigma"] in (1e-4, 1e-3)
    assert e["gain"] == pytest.approx(0.05) and e["gain_z"] > 2
