"""Linear circular CNNs == (weighted) Fourier lasso; agreement with the circulant SDP.

'Agree where both apply': a two-layer circular CNN with full-length filters is also a linear
CNN whose patches are the circular shifts of the input, i.e. the nuclear-norm program (N) of
``linear.py`` over ``M in R^{Cd x d}`` (structure: the prediction only sees the circular
diagonals of ``M``). That SDP is derived and solved independently of any DFT, so its optimum
equalling the Fourier lasso checks the Fourier derivation, the conjugate-pair bookkeeping and
the weight ``beta / sqrt(d)``. Both are interior-point solutions at 1e-9; compared at 1e-7.
Other tolerances: ``conftest.py``.
"""

import numpy as np
import pytest

from convexnn.architectures import (
    DeepCircularCNN,
    circular_geometry,
    circular_network,
    fourier_basis,
    fourier_regularizer,
    lasso_objective,
    linear_predictor,
    network_objective,
    solve_fourier_lasso,
    solve_linear_cnn,
    train_nonconvex,
    weight_decay_regularizer,
)

from .conftest import EXACT_RTOL, assert_at_or_above

BETA = 0.1


@pytest.mark.parametrize("shape", [(6,), (5,), (3, 4)])
def test_fourier_basis_is_orthonormal_and_measures_the_unitary_dft(shape, rng):
    basis = fourier_basis(shape)
    d = int(np.prod(shape))
    np.testing.assert_allclose(basis.R @ basis.R.T, np.eye(d), atol=1e-12)
    theta = rng.standard_normal((1, *shape))
    alpha = basis.R @ theta.ravel()
    mu = basis.multiplicity
    by_classes = sum(np.sqrt(mu[p]) * np.linalg.norm(alpha[basis.row_class == p])
                     for p in range(mu.size))
    # sum over all frequencies of |F theta| (both members of a pair) = sum_p sqrt(mu_p) ||a_p||
    assert fourier_regularizer(theta) * np.sqrt(d) == pytest.approx(by_classes, rel=1e-12)
    unitary = np.fft.fftn(theta[0], norm="ortho")
    assert by_classes == pytest.approx(np.abs(unitary).sum(), rel=1e-12)


@pytest.mark.parametrize("input_shape", [(2, 6), (1, 3, 4)])
def test_fourier_lasso_agrees_with_the_circulant_sdp(input_shape, rng):
    x = rng.standard_normal((10, *input_shape))
    y = rng.standard_normal(10)
    lasso = solve_fourier_lasso(x, y, beta=BETA)
    geometry = circular_geometry(input_shape)
    for form in ("sdp", "nuclear"):
        sdp = solve_linear_cnn(x, y, geometry, beta=BETA, form=form)
        assert sdp.objective == pytest.approx(lasso.objective, rel=1e-7)


@pytest.mark.parametrize("input_shape", [(2, 6), (1, 3, 4)])
def test_recovered_circular_cnn_attains_the_lasso_and_training_stays_above(input_shape, rng):
    x = rng.standard_normal((10, *input_shape))
    y = rng.standard_normal(10)
    lasso = solve_fourier_lasso(x, y, beta=BETA)
    net = circular_network(lasso)
    assert net.n_paths == 1  # one channel carries every frequency (module docstring)
    np.testing.assert_allclose(linear_predictor(net, input_shape), lasso.theta, atol=1e-8)
    assert network_objective(net, x, y, beta=BETA) == pytest.approx(lasso.objective,
                                                                     rel=EXACT_RTOL)
    finals = [train_nonconvex(DeepCircularCNN(input_shape, 3, seed=seed), x, y, beta=BETA,
                              epochs=400, lr=0.05).final for seed in range(3)]
    assert_at_or_above(finals, lasso.objective, close_rtol=1e-4)


def test_hinge_loss_lasso_is_attained_by_the_recovered_network(rng):
    x = rng.standard_normal((12, 1, 5))
    y = np.where(x[:, 0, 0] + x[:, 0, 2] > 0, 1.0, -1.0)
    lasso = solve_fourier_lasso(x, y, loss="hinge", beta=BETA)
    net = circular_network(lasso)
    assert network_objective(net, x, y, loss="hinge", beta=BETA) == pytest.approx(
        lasso.objective, rel=EXACT_RTOL)


def test_deep_circular_cnn_with_path_regularization_is_a_weighted_fourier_lasso(rng):
    """Depth 3, penalty beta/3 sum ||layer||^3 per path: exact, pairs weigh 2^{1/2} more."""
    x = rng.standard_normal((10, 1, 6))
    y = rng.standard_normal(10)
    lasso = solve_fourier_lasso(x, y, beta=BETA, depth=3)
    net = circular_network(lasso)  # one path per active frequency class
    assert network_objective(net, x, y, beta=BETA, power=3) == pytest.approx(
        lasso.objective, rel=EXACT_RTOL)
    finals = [train_nonconvex(DeepCircularCNN((1, 6), 6, 3, seed=seed), x, y, beta=BETA,
                              epochs=600, lr=0.05, power=3).final for seed in range(3)]
    assert_at_or_above(finals, lasso.objective, close_rtol=1e-4)


def test_deep_circular_cnn_with_weight_decay_is_a_nonconvex_quasi_norm(rng):
    """Depth 3, plain weight decay: exactly (3/2) d^{-2/3} sum |F theta|^{2/3}, not convex."""
    x = rng.standard_normal((10, 1, 6))
    y = rng.standard_normal(10)
    theta = solve_fourier_lasso(x, y, beta=BETA, depth=3).theta
    wd = circular_network(solve_fourier_lasso(x, y, beta=BETA, depth=3),
                          regularization="weight_decay")
    assert network_objective(wd, x, y, beta=BETA) == pytest.approx(
        lasso_objective(x, y, theta, beta=0.0) + BETA * weight_decay_regularizer(theta, 3),
        rel=EXACT_RTOL)
    # any network pays at least the quasi-norm of its linear predictor
    for seed in range(3):
        other = DeepCircularCNN((1, 6), 2, 3, seed=seed)
        other_theta = linear_predictor(other, (1, 6))
        assert float(other.penalty(1.0).detach()) >= weight_decay_regularizer(other_theta, 3)
    # non-convex: the midpoint of two single-frequency predictors pays more than the average
    a = np.cos(2 * np.pi * np.arange(6) / 6)[None]
    b = np.cos(4 * np.pi * np.arange(6) / 6)[None]
    assert weight_decay_regularizer((a + b) / 2, 3) > (weight_decay_regularizer(a, 3)
                                                       + weight_decay_regularizer(b, 3)) / 2
    # at depth 2 both regularizers are the convex Fourier l1 norm
    assert weight_decay_regularizer(a + b, 2) == pytest.approx(fourier_regularizer(a + b, 2))
