"""Tests of golden.network: the flat layout, initialisation, sweep orders, input voltages, energy."""

import numpy as np

from golden import config
from golden.network import Layout, energy, init_params, input_difference_and_totals, input_voltages, sweep_order


def test_layout_places_every_parameter_once():
    lay = Layout.of([1568, 6, 4, 10])
    assert lay.n_params == 1568 * 6 + 6 + 6 * 4 + 4 + 4 * 10 + 10 and lay.n_free == 20
    theta = np.arange(lay.n_params, dtype=np.float64)
    seen = np.concatenate([np.r_[lay.weights(theta, l).ravel(), lay.biases(theta, l)] for l in (1, 2, 3)])
    assert np.array_equal(np.sort(seen), theta)
    assert lay.weights(theta, 2).shape == (6, 4) and list(lay.n_off[1:]) == [0, 6, 10]
    assert np.array_equal(lay.kernel_tuple(8)[4], lay.n_off * 8)


def test_initial_conductances_are_clamped_uniform_and_seeded():
    cfg = config.preset("drn-xs")
    lay = Layout.of(cfg.sizes)
    a, b = init_params(cfg, lay, np.dtype(np.float64)), init_params(cfg, lay, np.dtype(np.float64))
    assert np.array_equal(a, b)
    w = lay.weights(a, 1)
    s = 1 / np.sqrt(1568)
    assert w.min() == 0 and w.max() <= s and 0.45 < np.mean(w == 0) < 0.55
    assert not lay.biases(a, 1).any()
    cfg.seed = 1
    assert not np.array_equal(init_params(cfg, lay, np.dtype(np.float64)), a)


def test_sweep_orders():
    lay = Layout.of([1568, 4, 4, 4, 10])
    assert list(sweep_order("forward", lay)) == [1, 2, 3, 4]
    assert list(sweep_order("backward", lay)) == [4, 3, 2, 1]
    assert list(sweep_order("alternating", lay)) == [1, 3, 2, 4]


def test_input_voltages_and_the_difference_identity():
    x = np.array([[0, 255, 51]], np.uint8)
    assert np.allclose(input_voltages(x, 100.0), [[0, 100, 20, 0, -100, -20]])
    lay = Layout.of([1568, 4, 10])
    theta = np.random.default_rng(0).random(lay.n_params)
    D, den = np.zeros((784, 4)), np.zeros(14)
    input_difference_and_totals(theta, lay.offsets(), D, den)
    v = input_voltages(np.random.default_rng(1).integers(0, 256, (1, 784)), 10.0)[0]
    assert np.allclose(v @ lay.weights(theta, 1), v[:784] @ D)
    W1, W2 = lay.weights(theta, 1), lay.weights(theta, 2)
    assert np.allclose(den[:4], W1.sum(0) + W2.sum(1)) and np.allclose(den[4:], W2.sum(0))


def test_energy_of_a_tiny_network_by_hand():
    lay = Layout.of([1568, 2, 10])
    theta = np.zeros(lay.n_params)
    lay.weights(theta, 1)[0, 0] = 2.0     # input 0 to hidden 0
    lay.weights(theta, 2)[1, 3] = 0.5     # hidden 1 to output 3
    lay.biases(theta, 2)[3] = 1.0
    v_in = np.zeros(1568)
    v_in[0] = 3.0
    hidden, out = np.array([1.0, -2.0]), np.zeros(10)
    out[3] = 1.0
    e = 0.5 * 2.0 * (3 - 1) ** 2 + 0.5 * 0.5 * (-2 - 1) ** 2 - 1.0 * 1.0
    assert np.isclose(energy(theta, lay, v_in, [hidden, out]), e)
    y = np.eye(10)[3]
    assert np.isclose(energy(theta, lay, v_in, [hidden, out], beta=2.0, y=y), e)  # output at its target
    assert np.isclose(energy(theta, lay, v_in, [hidden, out], beta=2.0, y=np.eye(10)[0]), e + 2.0)
