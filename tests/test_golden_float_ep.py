"""Correctness tests of the float golden model (golden/float_ep.py): relaxation, EP gradient, noise, training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from golden import config, datasets, network
from golden.config import Config
from golden.float_ep import FloatEP, load_batch, measure, relax
from golden.network import ModelError

GAIN = 100.0
# Small networks with one and two hidden layers. Their seed-0 initialisations leave every node
# some conductance (a node whose conductances are all 0 has den_j = 0: refresh divides by it).
HIDDEN = {"1hidden": [10], "2hidden": [8, 12]}
# Networks that small lose all their active diodes when trained on MNIST; behaviour tests that
# train for many steps use DRN-XS's shape.
XS = [100]
ORDERS = ("forward", "backward", "alternating")


# ---------------------------------------------------------------------------------------------
# helpers


def make_model(hidden: list[int], **overrides) -> FloatEP:
    """A float64 FloatEP with these hidden layers (lr 0.01 everywhere unless overridden)."""
    n = len(hidden) + 1
    # beta 0.1: the outputs of networks this small have a total conductance near 1, and the -beta
    # phase is a minimisation only while it exceeds beta (FloatEP.check stops a run otherwise)
    values = dict(hidden=list(hidden), dtype="float64", lr_weights=[0.01] * n, lr_biases=[0.01] * n, beta=0.1)
    values.update(overrides)
    return FloatEP(Config(**values).validate())


def make_positive(m: FloatEP, seed: int = 1) -> None:
    """Replace m's parameters: every conductance strictly > 0 (U(0.1 s, s)), biases N(0, 0.1).

    With no conductance at 0, a small SGD step never triggers the clamp, so the step is exactly
    -lr * gradient and the gradient can be read back from it.
    """
    rng = np.random.default_rng(seed)
    lay = m.layout
    for l in range(1, lay.top + 1):
        s = 1 / np.sqrt(lay.sizes[l - 1])
        lay.weights(m.theta, l)[:] = rng.uniform(0.1 * s, s, (lay.sizes[l - 1], lay.sizes[l]))
        lay.biases(m.theta, l)[:] = rng.normal(0, 0.1, lay.sizes[l])
    m.refresh()


def put_batch(m: FloatEP, X: np.ndarray, labels: np.ndarray, idx) -> tuple[np.ndarray, np.ndarray]:
    """Put samples idx into m's input buffers (as train_batches does); return their V_in rows and one-hot y."""
    idx = np.asarray(idx, np.int64)
    load_batch(X, labels, idx, m.dtype.type(m.cfg.input_gain), m._D, m._Xg, m._Y, m._P)
    return network.input_voltages(X[idx], m.cfg.input_gain), np.eye(10)[labels[idx]]


def views(m: FloatEP, S: np.ndarray, B: int) -> list[np.ndarray]:
    """The (B, n_l) blocks of the free layers 1..top inside the flat state buffer S."""
    sizes, s_off = m.layout.sizes, m._lay[4]
    return [S[s_off[l]:s_off[l] + B * sizes[l]].reshape(B, sizes[l]) for l in range(1, m.layout.top + 1)]


def random_feasible_states(m: FloatEP, S: np.ndarray, B: int, rng: np.random.Generator) -> None:
    """Random states obeying the diodes: excitatory >= 0, inhibitory <= 0, output any sign."""
    layers = views(m, S, B)
    for V in layers[:-1]:
        half = V.shape[1] // 2
        V[:, :half] = rng.uniform(0, 2, (B, half))
        V[:, half:] = -rng.uniform(0, 2, (B, V.shape[1] - half))
    layers[-1][:] = rng.normal(0, 2, layers[-1].shape)


def run_relax(m: FloatEP, S: np.ndarray, B: int, beta: float, order, nsweeps: int) -> None:
    relax(m.theta, m._lay, m._den, m._rden, m._P, S, m._T, B, m._Y, m.dtype.type(beta),
          np.asarray(order, np.int64), nsweeps)


def batch_energy(m: FloatEP, v_in: np.ndarray, states: list[np.ndarray], beta: float, y: np.ndarray) -> float:
    """Sum over the rows of network.energy (the float64 reference)."""
    return sum(network.energy(m.theta, m.layout, v_in[r], [V[r] for V in states], beta, y[r])
               for r in range(len(v_in)))


def energy_gradient(theta, layout, v_in, states, beta, y) -> list[np.ndarray]:
    """dF/dV_j = sum_neighbours g (V_j - V_i) - b_j [+ beta (V_j - y_j) at the output], per free layer."""
    layers = [v_in] + list(states)
    grads = []
    for l in range(1, layout.top + 1):
        W = layout.weights(theta, l)
        V = layers[l]
        g = V * W.sum(0) - layers[l - 1] @ W - layout.biases(theta, l)
        if l < layout.top:
            W_next = layout.weights(theta, l + 1)
            g += V * W_next.sum(1) - layers[l + 1] @ W_next.T
        else:
            g += beta * (V - y)
        grads.append(g)
    return grads


def kkt_violation(layout, states, grads, layers) -> float:
    """Largest violation of the optimality conditions of min F over the diode boxes, for `layers`.

    Interior nodes (excitatory V > 0, inhibitory V < 0, every output node): dF/dV = 0.
    Nodes at the bound V = 0: excitatory dF/dV >= 0, inhibitory dF/dV <= 0.
    """
    worst = 0.0
    for l in layers:
        V, g = states[l - 1], grads[l - 1]
        if l == layout.top:
            worst = max(worst, np.abs(g).max())
            continue
        half = V.shape[1] // 2
        exc, inh = (slice(None), slice(0, half)), (slice(None), slice(half, None))
        worst = max(worst,
                    np.abs(g[exc][V[exc] > 0]).max(initial=0), np.maximum(-g[exc][V[exc] == 0], 0).max(initial=0),
                    np.abs(g[inh][V[inh] < 0]).max(initial=0), np.maximum(g[inh][V[inh] == 0], 0).max(initial=0))
    return worst


def numpy_relax(theta, layout, v_in, y, beta, order, max_sweeps=2000) -> list[np.ndarray]:
    """Independent plain-NumPy relaxation of one sample from V = 0: sweeps until a sweep changes nothing."""
    W = [None] + [layout.weights(theta, l) for l in range(1, layout.top + 1)]
    b = [None] + [layout.biases(theta, l) for l in range(1, layout.top + 1)]
    V = [np.asarray(v_in, np.float64)] + [np.zeros(n) for n in layout.sizes[1:]]
    drive = V[0] @ W[1]  # the clamped input's current into layer 1
    for _ in range(max_sweeps):
        before = [v.copy() for v in V]
        for l in order:
            num = (drive if l == 1 else V[l - 1] @ W[l]) + b[l]
            den = W[l].sum(0)
            if l < layout.top:
                u = (num + W[l + 1] @ V[l + 1]) / (den + W[l + 1].sum(1))
                half = u.size // 2
                V[l] = np.concatenate([np.maximum(u[:half], 0), np.minimum(u[half:], 0)])
            else:
                V[l] = (num + beta * y) / (den + beta)
        if all(np.array_equal(a, c) for a, c in zip(before, V)):
            break
    return V[1:]


def loss_at_equilibrium(theta, layout, v_in, y, order) -> float:
    """C = 1/2 ||V_out* - y||^2 at the free equilibrium (plain NumPy)."""
    return 0.5 * float(np.sum((numpy_relax(theta, layout, v_in, y, 0.0, order)[-1] - y) ** 2))


def ep_gradient(theta, layout, v_in, first, second, beta1, beta2) -> np.ndarray:
    """[dE/dtheta(second) - dE/dtheta(first)] / (beta2 - beta1), averaged over rows, in plain NumPy.

    dE/dg_ij = 1/2 (V_i - V_j)^2 and dE/db_j = -V_j, with V_i the previous layer (V_in for layer 1).
    """
    grad = np.zeros(layout.n_params)
    for states, sign in ((first, -1.0), (second, 1.0)):
        layers = [v_in] + list(states)
        for l in range(1, layout.top + 1):
            drop = layers[l - 1][:, :, None] - layers[l][:, None, :]
            layout.weights(grad, l)[:] += sign * 0.5 * (drop * drop).mean(0)
            layout.biases(grad, l)[:] -= sign * layers[l].mean(0)
    return grad / (beta2 - beta1)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b||."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def weights_of(m: FloatEP, theta: np.ndarray | None = None) -> np.ndarray:
    """All conductances of theta (default m.theta), concatenated."""
    th = m.theta if theta is None else theta
    return np.concatenate([m.layout.weights(th, l).ravel() for l in range(1, m.layout.top + 1)])


def accuracy(m: FloatEP, X: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(m.predict(X) == labels))


@pytest.fixture(scope="module")
def subset() -> datasets.Dataset:
    return datasets.load("mnist-subset")


# ---------------------------------------------------------------------------------------------
# 1. relaxation = exact layer-wise minimisation of the nudged energy


@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("beta", [0.0, 0.1, -0.1], ids=["free", "+beta", "-beta"])
def test_each_layer_update_minimises_its_layer_exactly_and_never_raises_F(subset, hidden, order, beta):
    m = make_model(hidden, order=order)
    lay, B = m.layout, 3
    # with -beta, F is convex in an output node only while its conductance exceeds beta
    assert m._den[lay.n_off[lay.top]:].min() > abs(beta)
    v_in, y = put_batch(m, subset.train_x, subset.train_y, [0, 1, 2])
    S = m._S0
    random_feasible_states(m, S, B, np.random.default_rng(7))
    start = S.copy()
    states = views(m, S, B)
    F = F0 = batch_energy(m, v_in, states, beta, y)
    for _ in range(4):
        for l in m.order:
            run_relax(m, S, B, beta, [l], 1)
            F_new = batch_energy(m, v_in, states, beta, y)
            assert F_new <= F + 1e-9 * abs(F), f"layer {l} raised F from {F!r} to {F_new!r}"
            F = F_new
            # the update minimised F over layer l given its neighbours: KKT holds on layer l
            grads = energy_gradient(m.theta, lay, v_in, states, beta, y)
            assert kkt_violation(lay, states, grads, [l]) < 1e-9, f"layer {l} is not at its minimum"
    assert F < F0 - 1e-3 * abs(F0)  # the random start was far from the minimum
    # a relax call of 4 sweeps does exactly these layer updates
    per_layer = S.copy()
    S[:] = start
    run_relax(m, S, B, beta, m.order, 4)
    np.testing.assert_array_equal(S, per_layer)


@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("beta", [0.0, 0.1, -0.1], ids=["free", "+beta", "-beta"])
def test_relaxation_reaches_the_kkt_point_of_F(subset, hidden, order, beta):
    m = make_model(hidden, order=order)
    lay, B = m.layout, 3
    v_in, y = put_batch(m, subset.train_x, subset.train_y, [3, 4, 5])
    random_feasible_states(m, m._S0, B, np.random.default_rng(11))
    run_relax(m, m._S0, B, beta, m.order, 200)
    states = views(m, m._S0, B)
    grads = energy_gradient(m.theta, lay, v_in, states, beta, y)
    assert kkt_violation(lay, states, grads, range(1, lay.top + 1)) < 1e-9
    hidden_states = np.concatenate([V.ravel() for V in states[:-1]])
    # the test covers both kinds of node: some diodes sit at their bound, some conduct
    assert np.any(hidden_states == 0) and np.any(hidden_states != 0)


@pytest.mark.parametrize("name", list(config.PRESETS))
def test_presets_start_where_the_minus_beta_phase_is_a_minimisation(name):
    # F = E - beta*C is convex in an output node only while its total conductance exceeds beta;
    # below that, relax's output update (.. - beta*y) / (den - beta) is a maximum, not a minimum
    cfg = config.preset(name)
    lay = network.Layout.of(cfg.sizes)
    theta = network.init_params(cfg, lay, np.float64)
    assert lay.weights(theta, lay.top).sum(0).min() > 1.5 * cfg.beta


@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_every_order_relaxes_to_the_numpy_reference_equilibrium(subset, hidden, beta):
    # for beta >= 0, F is strictly convex: one minimum, whatever the order and the start
    idx = [6, 7, 8]
    for order in ORDERS:
        m = make_model(hidden, order=order)
        v_in, y = put_batch(m, subset.train_x, subset.train_y, idx)
        random_feasible_states(m, m._S0, len(idx), np.random.default_rng(3))
        run_relax(m, m._S0, len(idx), beta, m.order, 200)
        for r in range(len(idx)):
            ref = numpy_relax(m.theta, m.layout, v_in[r], y[r], beta, network.sweep_order("forward", m.layout))
            for V, V_ref in zip(views(m, m._S0, len(idx)), ref):
                np.testing.assert_allclose(V[r], V_ref, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# 2. the EP step follows the true gradient of the loss


@dataclass
class GradientProblem:
    hidden: list[int]
    theta: np.ndarray        # strictly positive conductances, random biases
    sample: int
    coords: np.ndarray       # parameters whose gradient is checked
    true_grad: np.ndarray    # dC/dtheta[coords] by central finite differences


@pytest.fixture(scope="module", params=list(HIDDEN.values()), ids=list(HIDDEN.keys()))
def gradient_problem(request, subset) -> GradientProblem:
    """dC/dtheta at the free equilibrium of one sample, by finite differences of a NumPy relaxation.

    Checked parameters: input conductances from lit pixels (both the positive and the negated copy)
    and from dark pixels, and a random half of all other conductances and biases.
    """
    hidden, sample = request.param, 3
    m = make_model(hidden)
    make_positive(m)
    lay = m.layout
    rng = np.random.default_rng(5)
    x = subset.train_x[sample]
    n1 = lay.sizes[1]
    lit, dark = np.flatnonzero(x > 0), np.flatnonzero(x == 0)
    rows = np.concatenate([rng.choice(lit, 25), 784 + rng.choice(lit, 25), rng.choice(dark, 10),
                           784 + rng.choice(dark, 10)])
    inputs = lay.w_off[1] + rows * n1 + rng.integers(0, n1, rows.size)
    first_other = lay.w_off[1] + lay.sizes[0] * n1
    others = rng.choice(np.arange(first_other, lay.n_params), (lay.n_params - first_other) // 2, replace=False)
    coords = np.unique(np.concatenate([inputs, others]))
    v_in = network.input_voltages(x, GAIN)
    y = np.eye(10)[subset.train_y[sample]]
    order = network.sweep_order("forward", lay)
    eps = 1e-6
    true_grad = np.empty(coords.size)
    for k, c in enumerate(coords):
        up, down = m.theta.copy(), m.theta.copy()
        up[c] += eps
        down[c] -= eps
        true_grad[k] = (loss_at_equilibrium(up, lay, v_in, y, order)
                        - loss_at_equilibrium(down, lay, v_in, y, order)) / (2 * eps)
    return GradientProblem(hidden, m.theta.copy(), sample, coords, true_grad)


def ep_step_gradient(problem: GradientProblem, subset, variant: str, beta: float) -> np.ndarray:
    """The gradient one noise-free EP step applied: (theta_before - theta_after) / lr, batch of one."""
    lr = 1e-7
    m = make_model(problem.hidden, batch_size=1, beta=beta, sweeps=300, variant=variant, warm_start=False,
                   momentum=0.0, sigma=0.0, lr_weights=[lr] * (len(problem.hidden) + 1),
                   lr_biases=[lr] * (len(problem.hidden) + 1))
    m.load_state({"theta": problem.theta, "velocity": np.zeros_like(problem.theta)})
    m.train(subset.train_x, subset.train_y, np.array([problem.sample]))
    assert weights_of(m).min() > 0  # no clamp: the step is exactly -lr * gradient
    return (problem.theta - m.theta) / lr


def test_centered_ep_step_is_the_true_gradient_of_the_loss(gradient_problem, subset):
    grad = ep_step_gradient(gradient_problem, subset, "centered", 1e-4)
    assert relative_error(grad[gradient_problem.coords], gradient_problem.true_grad) < 1e-5


def test_positive_ep_is_first_order_in_beta_and_centered_second_order(gradient_problem, subset):
    p = gradient_problem
    err = {(variant, beta): relative_error(ep_step_gradient(p, subset, variant, beta)[p.coords], p.true_grad)
           for variant in ("centered", "positive") for beta in (1e-4, 1e-2)}
    assert err["positive", 1e-4] < 1e-2
    assert err["positive", 1e-2] < 0.1
    # bias O(beta): 100x the beta, about 100x the error; centered, O(beta^2), stays far below
    assert 20 < err["positive", 1e-2] / err["positive", 1e-4] < 500
    assert err["centered", 1e-2] < 1e-3
    assert err["centered", 1e-2] < err["positive", 1e-2] / 20
    assert err["centered", 1e-4] < err["positive", 1e-4] / 20


@pytest.mark.parametrize("variant", ["centered", "positive"])
def test_update_applies_the_mean_ep_gradient_of_the_batch(subset, variant):
    lr, idx = 1e-6, np.array([10, 11, 12])
    m = make_model([8, 12], batch_size=3, variant=variant, warm_start=False, lr_weights=[lr] * 3,
                   lr_biases=[lr] * 3)
    make_positive(m)
    theta0 = m.theta.copy()
    m.train(subset.train_x, subset.train_y, idx)
    assert weights_of(m).min() > 0
    v_in = network.input_voltages(subset.train_x[idx], GAIN)
    # the kernels leave the phases in S0 (free), S1 (-beta), S2 (+beta)
    first, beta1 = (m._S1, -m.cfg.beta) if variant == "centered" else (m._S0, 0.0)
    want = ep_gradient(theta0, m.layout, v_in, views(m, first, 3), views(m, m._S2, 3), beta1, m.cfg.beta)
    assert relative_error((theta0 - m.theta) / lr, want) < 1e-8


@pytest.mark.parametrize("reading", ["measurements", "updates"])
def test_noisy_update_uses_the_measured_states(subset, reading):
    lr, idx, N = 1e-6, np.array([13, 14]), 3
    m = make_model([8, 12], batch_size=2, sigma=0.05, samples=N, reading=reading, warm_start=False,
                   lr_weights=[lr] * 3, lr_biases=[lr] * 3)
    make_positive(m)
    theta0 = m.theta.copy()
    m.begin_epoch(0)
    m.train(subset.train_x, subset.train_y, idx)
    rows = m.repeats * 2  # "updates": N noisy copies of each state, row q*B + r is copy q of sample r
    v_in = np.tile(network.input_voltages(subset.train_x[idx], GAIN), (m.repeats, 1))
    M1, M2 = views(m, m._M1, rows), views(m, m._M2, rows)
    for measured, phase in ((M1, m._S1), (M2, m._S2)):  # both phases are read with noise
        noise = np.concatenate(measured, 1) - np.tile(np.concatenate(views(m, phase, 2), 1), (m.repeats, 1))
        assert noise.std() == pytest.approx(m.noise_scale, rel=0.4)
    want = ep_gradient(theta0, m.layout, v_in, M1, M2, -m.cfg.beta, m.cfg.beta)
    assert relative_error((theta0 - m.theta) / lr, want) < 1e-8


# ---------------------------------------------------------------------------------------------
# 3. measurement noise


def measured_noise(m: FloatEP, B: int, R: int) -> tuple[np.ndarray, np.ndarray]:
    """Measure a random known state of B rows R times; return the state (B, n_free) and noise (R, B, n_free)."""
    m.begin_epoch(0)  # seeds the noise (and clears S0)
    rng = np.random.default_rng(0)
    for V in views(m, m._S0, B):
        V[:] = rng.normal(0, 1, V.shape)
    measure(m._S0, m._M1, m._lay, B, R, m.dtype.type(m.noise_scale))
    state = np.concatenate(views(m, m._S0, B), axis=1)
    read = np.concatenate(views(m, m._M1, R * B), axis=1).reshape(R, B, -1)
    return state, read - state


def assert_gaussian(noise: np.ndarray, std: float) -> None:
    """Zero mean, this standard deviation (2%) and the normal's share within one standard deviation."""
    n = noise.size
    assert abs(noise.mean()) < 5 * std / np.sqrt(n)
    assert noise.std() == pytest.approx(std, rel=0.02)
    assert np.mean(np.abs(noise) < std) == pytest.approx(0.6827, abs=0.01)


@pytest.mark.parametrize("N", [1, 4, 16])
def test_measurements_reading_gives_noise_sigma_over_sqrt_n(N):
    sigma = 0.01
    m = make_model(XS, sigma=sigma, samples=N, reading="measurements")
    assert m.repeats == 1
    assert m.noise_scale == sigma / np.sqrt(N)
    _, noise = measured_noise(m, B=1000, R=1)  # 110 000 readings
    assert_gaussian(noise, sigma / np.sqrt(N))


@pytest.mark.parametrize("N", [1, 4, 16])
def test_updates_reading_gives_n_copies_each_with_noise_sigma(N):
    sigma = 0.01
    m = make_model(XS, sigma=sigma, samples=N, reading="updates", batch_size=1000)  # room for 1000 x N rows
    assert m.repeats == N and m.noise_scale == sigma
    _, noise = measured_noise(m, B=1000, R=N)
    for q in range(N):
        assert_gaussian(noise[q], sigma)
    if N > 1:
        assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < 0.02  # independent copies
        # averaged over the copies, the noise is sigma / sqrt(N), as in the "measurements" reading
        assert noise.mean(0).std() == pytest.approx(sigma / np.sqrt(N), rel=0.02)


def train_subset(m: FloatEP, subset, n: int = 400, epoch: int = 0) -> FloatEP:
    m.begin_epoch(epoch)
    m.train(subset.train_x, subset.train_y, np.arange(n))
    return m


def test_zero_sigma_is_bit_identical_to_the_noise_free_path(subset):
    plain = train_subset(make_model(XS), subset)
    for reading in ("updates", "measurements"):
        m = make_model(XS, sigma=0.0, samples=8, reading=reading)
        assert m.repeats == 1 and m.noise_scale == 0
        np.testing.assert_array_equal(train_subset(m, subset).theta, plain.theta)


def test_noisy_training_repeats_with_the_same_seed_and_differs_with_another(subset):
    a = train_subset(make_model(XS, sigma=1e-3, seed=4), subset)
    b = train_subset(make_model(XS, sigma=1e-3, seed=4), subset)
    np.testing.assert_array_equal(a.theta, b.theta)
    noise_free = make_model(XS, seed=4)
    assert not np.array_equal(a.theta, train_subset(noise_free, subset).theta)
    # another seed draws other noise (same initial parameters, loaded from the seed-4 model)
    c = make_model(XS, sigma=1e-3, seed=5)
    c.load_state(make_model(XS, seed=4).state())
    assert not np.array_equal(a.theta, train_subset(c, subset).theta)
    # and another epoch reseeds the noise differently
    d = train_subset(make_model(XS, sigma=1e-3, seed=4, lr_decay=1.0), subset, epoch=1)
    assert not np.array_equal(a.theta, d.theta)


# ---------------------------------------------------------------------------------------------
# 4. training behaviour


def one_step(m: FloatEP, subset, idx) -> np.ndarray:
    """Train on the batch idx; return the parameter change."""
    before = m.theta.copy()
    m.train(subset.train_x, subset.train_y, np.asarray(idx, np.int64))
    return m.theta - before


def test_momentum_accumulates_the_gradients(subset):
    lr, mu = 1e-5, 0.9
    heavy = make_model([8, 12], batch_size=2, momentum=mu, warm_start=False, lr_weights=[lr] * 3,
                       lr_biases=[lr] * 3)
    make_positive(heavy)
    g1 = -one_step(heavy, subset, [0, 1]) / lr
    np.testing.assert_allclose(heavy.velocity, g1, rtol=1e-9, atol=1e-9)
    theta1, v1 = heavy.theta.copy(), heavy.velocity.copy()
    step2 = one_step(heavy, subset, [2, 3])
    # the plain gradient of the second batch at theta1, from a momentum-free copy
    plain = make_model([8, 12], batch_size=2, momentum=0.0, warm_start=False, lr_weights=[lr] * 3,
                       lr_biases=[lr] * 3)
    plain.load_state({"theta": theta1, "velocity": np.zeros_like(theta1)})
    g2 = -one_step(plain, subset, [2, 3]) / lr
    assert weights_of(heavy).min() > 0
    np.testing.assert_allclose(heavy.velocity, mu * v1 + g2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(step2, -lr * (mu * v1 + g2), rtol=1e-9, atol=1e-14)
    assert relative_error(step2, -lr * g2) > 0.1  # the momentum term mattered


def layer_changes(m: FloatEP, delta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    top = m.layout.top
    return ([m.layout.weights(delta, l) for l in range(1, top + 1)],
            [m.layout.biases(delta, l) for l in range(1, top + 1)])


def test_learning_rate_zero_freezes_a_layer(subset):
    m = make_model([8, 12], lr_weights=[0.01, 0.0, 0.01], lr_biases=[0.0, 0.01, 0.0])
    dW, db = layer_changes(m, one_step(m, subset, [0, 1, 2, 3]))
    assert [np.any(d != 0) for d in dW] == [True, False, True]
    assert [np.any(d != 0) for d in db] == [False, True, False]


def test_learning_rates_scale_each_layer_step(subset):
    base_lr, scale = 1e-6, [1.0, 2.0, 5.0]

    def step(weight_scale, bias_scale):
        m = make_model([8, 12], warm_start=False, lr_weights=[base_lr * s for s in weight_scale],
                       lr_biases=[base_lr * s for s in bias_scale])
        make_positive(m)
        return layer_changes(m, one_step(m, subset, [0, 1, 2, 3]))

    unit_W, unit_b = step([1, 1, 1], [1, 1, 1])
    W, b = step(scale, scale[::-1])
    for l in range(3):
        np.testing.assert_allclose(W[l], scale[l] * unit_W[l], rtol=1e-7, atol=1e-15)
        np.testing.assert_allclose(b[l], scale[::-1][l] * unit_b[l], rtol=1e-7, atol=1e-15)


def test_conductances_stay_non_negative_after_every_step(subset):
    m = make_model(XS, batch_size=2, lr_weights=[0.05, 0.05], lr_biases=[0.05, 0.05])
    m.begin_epoch(0)
    newly_clamped = 0
    for start in range(0, 100, 2):
        before = weights_of(m)
        m.train(subset.train_x, subset.train_y, np.arange(start, start + 2))
        after = weights_of(m)
        assert after.min() >= 0
        newly_clamped += np.count_nonzero((before > 0) & (after == 0))
    assert newly_clamped > 0  # steps did try to push conductances below 0
    biases = np.concatenate([m.layout.biases(m.theta, l) for l in (1, 2)])
    assert biases.min() < 0 < biases.max()  # biases are not clamped


def test_begin_epoch_decays_the_learning_rates_and_resets_the_warm_state(subset):
    decay, epoch = 0.5, 3
    m = make_model(XS, lr_weights=[0.01, 0.02], lr_biases=[0.03, 0.04], lr_decay=decay)
    train_subset(m, subset, n=8)
    assert np.any(m._S0 != 0)
    m.begin_epoch(epoch)
    assert not np.any(m._S0)
    np.testing.assert_array_equal(m._lr_w[1:], np.array([0.01, 0.02]) * decay ** epoch)
    np.testing.assert_array_equal(m._lr_b[1:], np.array([0.03, 0.04]) * decay ** epoch)
    # the decayed model trains like one configured with the decayed rates
    decayed = train_subset(make_model(XS, lr_decay=decay), subset, epoch=epoch)
    scaled = make_model(XS, lr_weights=[0.01 * decay ** epoch] * 2, lr_biases=[0.01 * decay ** epoch] * 2)
    np.testing.assert_array_equal(decayed.theta, train_subset(scaled, subset).theta)


def test_warm_start_carries_the_state_across_batches(subset):
    warm = make_model(XS, warm_start=True, sweeps=2)
    cold = make_model(XS, warm_start=False, sweeps=2)
    # the first batch of an epoch starts from rest either way
    for m in (warm, cold):
        m.begin_epoch(0)
        m.train(subset.train_x, subset.train_y, np.arange(4))
    np.testing.assert_array_equal(warm.theta, cold.theta)
    for m in (warm, cold):
        m.train(subset.train_x, subset.train_y, np.arange(4, 40))
    assert not np.array_equal(warm.theta, cold.theta)
    # only the warm model depends on the state left by the previous batch
    for m, depends in ((warm, True), (cold, False)):
        results = []
        for fill in (0.0, 0.3):
            twin = make_model(XS, warm_start=m.cfg.warm_start, sweeps=2)
            twin.load_state(m.state())
            twin._S0[:] = fill
            results.append(one_step(twin, subset, [40, 41, 42, 43]))
        assert np.array_equal(*results) != depends


def test_float32_and_float64_train_alike(subset):
    m32, m64 = (FloatEP(config.load("drn-xs", overrides={"dtype": dt})) for dt in ("float32", "float64"))
    m64.load_state(m32.state())
    step32, step64 = one_step(m32, subset, [0, 1, 2, 3]), one_step(m64, subset, [0, 1, 2, 3])
    assert m32.theta.dtype == np.float32 and m64.theta.dtype == np.float64
    assert relative_error(step32.astype(np.float64), step64) < 1e-3
    order = np.random.default_rng(0).permutation(len(subset.train_x))
    for m in (m32, m64):
        m.begin_epoch(0)
        m.train(subset.train_x, subset.train_y, order)
    p32, p64 = m32.predict(subset.test_x), m64.predict(subset.test_x)
    assert np.mean(p32 == subset.test_y) >= 0.8 and np.mean(p64 == subset.test_y) >= 0.8
    assert np.mean(p32 == p64) >= 0.9


def test_state_round_trip_restores_predictions_and_training(subset):
    cfg = dict(momentum=0.9, dtype="float32")
    m = train_subset(make_model(XS, **cfg), subset, n=200)
    saved = m.state()
    assert np.any(saved["velocity"] != 0)
    twin = make_model(XS, seed=9, **cfg)
    assert not np.array_equal(twin.theta, saved["theta"])
    twin.load_state(saved)
    np.testing.assert_array_equal(twin.predict(subset.test_x), m.predict(subset.test_x))
    for model in (m, twin):
        model.begin_epoch(1)
        model.train(subset.train_x, subset.train_y, np.arange(200, 300))
    np.testing.assert_array_equal(twin.theta, m.theta)
    np.testing.assert_array_equal(twin.velocity, m.velocity)
    assert not np.array_equal(saved["theta"], m.theta)  # state() returned a copy
    with pytest.raises(ValueError, match="checkpoint theta"):
        make_model([10]).load_state(saved)


def test_drn_xs_learns_the_mnist_subset_in_one_epoch(subset):
    m = FloatEP(config.load("drn-xs"))
    m.begin_epoch(0)
    hits = m.train(subset.train_x, subset.train_y, np.random.default_rng(0).permutation(len(subset.train_x)))
    assert hits / len(subset.train_x) > 0.7  # free-phase hits while learning
    assert accuracy(m, subset.test_x, subset.test_y) >= 0.80


# ---------------------------------------------------------------------------------------------
# 5. real data


def test_drn_xs_reaches_93_percent_on_mnist_in_one_epoch(shared_datasets):
    ds = datasets.load("mnist", data_dir=shared_datasets, download=False, progress=False)
    m = FloatEP(config.load("drn-xs"))
    m.begin_epoch(0)
    m.train(ds.train_x, ds.train_y, np.random.default_rng(0).permutation(len(ds.train_x)))
    assert accuracy(m, ds.test_x, ds.test_y) >= 0.93


def test_an_ill_posed_minus_beta_phase_stops_training_with_a_clear_error(subset):
    m = make_model([10], beta=1.0)  # output total conductance about 0.3 < beta
    with pytest.raises(ModelError, match="no longer a minimisation"):
        m.train(subset.train_x, subset.train_y, np.arange(8))


def test_a_node_without_conductance_stops_training_with_a_clear_error(subset):
    m = make_model([2])  # seed 0 leaves a hidden node with every conductance at 0
    assert np.any(m._den == 0) and np.all(np.isfinite(m._rden))
    with pytest.raises(ModelError, match="has no conductance left"):
        m.train(subset.train_x, subset.train_y, np.arange(4))


def test_nudge_is_half_the_phase_difference_and_changes_nothing():
    m = make_model([8, 12])
    make_positive(m)
    data = datasets.load("mnist-subset", progress=False)
    theta, warm = m.theta.copy(), m._S0.copy()
    idx = np.arange(40)
    moves = m.nudge(data.train_x, data.train_y, idx)
    assert len(moves) == 3 and all(v > 0 for v in moves)
    assert (m.theta == theta).all() and (m._S0 == warm).all()
    # the same from the relax kernel by hand, output layer: every node moves, median of |V+ - V-| / 2
    lay, c = m._lay, m.cfg
    load_batch(data.train_x, data.train_y, idx, np.float64(c.input_gain), m._D, m._Xg, m._Y, m._P)
    states = []
    for beta in (c.beta, -c.beta):
        S = np.zeros_like(m._S1)
        for b in (0.0, beta):
            relax(m.theta, lay, m._den, m._rden, m._P, S, m._T, idx.size, m._Y, b, m.order, c.sweeps)
        top = lay[4][3]
        states.append(S[top:top + idx.size * 10])
    assert moves[-1] == pytest.approx(np.median(np.abs(states[0] - states[1])) / 2)
    # the nudge is the response to beta: smaller beta, smaller move (linear near beta = 0)
    half = make_model([8, 12], beta=0.05)
    half.theta[:] = m.theta
    half.refresh()
    assert half.nudge(data.train_x, data.train_y, idx)[-1] == pytest.approx(moves[-1] / 2, rel=0.05)
