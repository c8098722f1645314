"""Behaviour tests of the fixed-point golden model (its bit-exactness is tests/test_golden_fixed_oracle.py)."""

import dataclasses

import numpy as np
import pytest

from golden import config, datasets
from golden.fixed_ep import FixedEP
from golden.prng import GAUSS_SD
from golden.train import accuracy, epoch_order, golden_executor


@pytest.fixture(scope="module")
def subset():
    return datasets.load("mnist-subset")


def xs(**overrides) -> config.Config:
    return config.load("drn-xs", overrides={"precision": "fixed", **overrides})


def test_wide_formats_track_the_float_model_on_mnist(shared_datasets):
    """Issue 3: same accuracy within 0.3% as float on DRN-XS, MNIST, one epoch."""
    data = datasets.load("mnist", shared_datasets)
    accs = []
    for cfg in (xs(), config.load("drn-xs", overrides={"dtype": "float64"})):
        model = golden_executor(cfg)
        model.begin_epoch(0)
        model.train(data.train_x, data.train_y, epoch_order(cfg, 0, len(data.train_y)))
        accs.append(accuracy(model, data.test_x, data.test_y))
    assert accs[0] > 0.93
    assert abs(accs[0] - accs[1]) <= 0.003, accs


def test_codes_stay_inside_their_formats(subset):
    cfg = xs(batch_size=1)
    config.apply(cfg.fixed, {"g_bits": 14, "g_frac": 12, "b_bits": 30}, "test")
    m = FixedEP(cfg.validate())
    for start in range(0, 600, 200):
        m.train(subset.train_x, subset.train_y, np.arange(start, start + 200))
        for l in (1, 2):
            w = m.layout.weights(m.theta, l)
            assert w.min() >= 0 and w.max() <= 2 ** 14 - 1
            b = m.layout.biases(m.theta, l)
            assert b.min() >= -(2 ** 29) and b.max() < 2 ** 29
    assert m.layout.weights(m.theta, 1).max() > 0


def test_noise_has_sigma_over_sqrt_n_in_volts(subset):
    for n in (1, 4):
        cfg = xs(sigma=0.05, samples=n)
        m = FixedEP(cfg)
        V = np.arange(m.layout.n_free, dtype=np.int64) * 7
        M = np.zeros_like(V)
        noise = []
        from golden.fixed_ep import measure
        c = m.consts
        for _ in range(400):
            measure(V, M, m._lay, c.lanes, m._state, c.sn, n, c.Fs, c.round_noise, c.v_bits)
            noise.append((M - V) / 2 ** c.Fv)
        noise = np.concatenate(noise)
        assert abs(noise.mean()) < 4 * 0.05 / np.sqrt(n * noise.size)
        assert noise.std() == pytest.approx(0.05 / np.sqrt(n), rel=0.01)
        # |c_1 + ... + c_N| <= 510 N, so one reading never exceeds sigma * 510 / sd (3.45 sigma)
        assert np.abs(noise).max() <= 0.05 * 510 / GAUSS_SD + 2 ** -c.Fv


def test_zero_sigma_draws_nothing_and_noise_is_seeded(subset):
    m = FixedEP(xs())
    before = m._state.copy()
    m.train(subset.train_x, subset.train_y, np.arange(40))
    assert np.array_equal(m._state, before)
    runs = []
    for seed in (0, 0, 1):
        cfg = xs(sigma=0.01, seed=seed)
        m = FixedEP(cfg)
        m.load_state({"theta": FixedEP(xs()).theta})  # same start, so only the noise differs
        m.train(subset.train_x, subset.train_y, np.arange(40))
        runs.append(m.theta.copy())
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_training_in_chunks_equals_training_at_once(subset):
    a, b = FixedEP(xs(sigma=0.01)), FixedEP(xs(sigma=0.01))
    a.train(subset.train_x, subset.train_y, np.arange(64))
    b.train(subset.train_x, subset.train_y, np.arange(32))
    b.train(subset.train_x, subset.train_y, np.arange(32, 64))
    assert np.array_equal(a.theta, b.theta)
    c = FixedEP(xs(sigma=0.01))
    c.load_state(b.state())
    assert np.array_equal(c.predict(subset.test_x[:50]), b.predict(subset.test_x[:50]))


def test_stochastic_rounding_keeps_updates_below_one_lsb(subset):
    """With few conductance bits, nearest rounding loses the small updates that stochastic rounding keeps."""
    moved = {}
    for rounding in ("nearest", "stochastic"):
        cfg = xs()
        config.apply(cfg.fixed, {"g_frac": 8, "g_bits": 11, "round_update": rounding}, "test")
        m = FixedEP(cfg.validate())
        start = m.theta.copy()
        m.train(subset.train_x, subset.train_y, np.arange(8))
        moved[rounding] = int(np.count_nonzero(m.theta != start))
    assert moved["stochastic"] > 3 * max(moved["nearest"], 1)


def test_saturated_reciprocals_are_counted(subset):
    cfg = dataclasses.replace(xs(), hidden=[4], lr_weights=[0.006, 0.006], lr_biases=[0.006, 0.006])
    m = FixedEP(cfg.validate())  # outputs of 4 hidden nodes have a total conductance far below beta = 1
    assert m.flags[0] > 0


@pytest.mark.parametrize("values", [
    {"sigma": 0.0, "variant": "centered", "order": "alternating"},
    {"sigma": 0.05, "samples": 3, "variant": "positive", "order": "backward", "batch_size": 2},
])
def test_trace_records_the_run_without_changing_it(subset, values):
    """A traced run computes what the untraced one does; its iterates, measurements and parameters are
    those the run went through (the last free iterate is the warm-start state, sigma 0 measures exactly)."""
    from golden.fixed_ep import Trace

    cfg = xs(hidden=[4, 6], lr_weights=[0.05] * 3, lr_biases=[0.05] * 3, **{"batch_size": 1, **values})
    traced, plain = FixedEP(cfg), FixedEP(cfg)
    idx = np.arange(5)
    trace = Trace.empty(len(idx), cfg.sweeps, traced.layout)
    assert traced.train(subset.train_x, subset.train_y, idx, trace) == plain.train(subset.train_x, subset.train_y, idx)
    assert np.array_equal(traced.theta, plain.theta) and np.array_equal(traced._state, plain._state)
    assert np.array_equal(trace.theta[-1], plain.theta)
    assert not np.array_equal(trace.theta[0], trace.theta[-1])
    last = (len(idx) - 1) % cfg.batch_size
    assert np.array_equal(trace.iterates[-1, 0, -1], plain._S0[last])
    centered = cfg.variant == "centered"
    assert trace.iterates[:, 1].any() == centered
    first = trace.iterates[:, 1 if centered else 0, -1]
    if cfg.sigma == 0:
        assert np.array_equal(trace.measured[:, 0], first)
        assert np.array_equal(trace.measured[:, 1], trace.iterates[:, 2, -1])
    else:
        assert not np.array_equal(trace.measured[:, 0], first)
        assert np.abs(trace.measured[:, 0] - first).max() < 2 ** plain.consts.Fv  # noise below 1 V
    with pytest.raises(ValueError, match="trace of shape"):
        traced.train(subset.train_x, subset.train_y, idx[:2], trace)
