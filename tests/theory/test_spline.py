"""1-D and rank-one data (JMLR Lemma 6, Corollaries 3-5, 8-10, Proposition 1, Theorem 11).

References: the paper's exact rationals (Appendix 11), dense dictionaries of kinks that are NOT
restricted to data points, and the piecewise-linear interpolant. Clarabel runs at gap tolerance
1e-9 (solvers.conic.ACCURATE), so optimal values agree to ~1e-9 relative; asserts use 1e-7.
"""

from fractions import Fraction

import numpy as np
import pytest

from convexnn.theory import (
    NeuronDictionary,
    fit_l1,
    fit_rank_one,
    fit_spline,
    min_l1_interpolation,
    rank_one_dictionary,
    spline_dictionary,
)

RTOL = 1e-7

# Proposition 1 / Appendix 11
A_PROP1 = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
Y_PROP1 = np.array([1.0, -1.0, 1.0, 1.0, -1.0])


def prop1_dictionary(b):
    """Neurons (u, b) with u = +1 for the first half of ``b`` and -1 for the second."""
    half = len(b) // 2
    return NeuronDictionary(np.repeat([1.0, -1.0], half)[:, None], np.asarray(b, float))


@pytest.mark.parametrize("b", [[2, 1, 0, -1, -1, 0, 1, 2],            # kinks at data points
                               [2, 1, 0, -0.5, -1, 0, 0.5, 2]])       # kinks at +-0.5
def test_proposition1_min_l1_value_is_8_for_both_dictionaries(b):
    fit = min_l1_interpolation(prop1_dictionary(b), A_PROP1[:, None], Y_PROP1)
    assert fit.objective == pytest.approx(8.0, rel=RTOL)
    np.testing.assert_allclose(fit.predict(A_PROP1[:, None])[:, 0], Y_PROP1, atol=1e-8)
    # strong duality of (49)/(50): v^T y = ||w||_1 with ||A_e^T v||_inf <= 1
    v = fit.dual[:, 0]
    assert v @ Y_PROP1 == pytest.approx(8.0, rel=RTOL)
    features = prop1_dictionary(b).features(A_PROP1[:, None])
    assert np.abs(features.T @ v).max() <= 1 + 1e-7


def test_proposition1_paper_dual_point_certifies_the_paper_weights():
    # the printed w* and v* (Appendix 11) satisfy (50) exactly, in rational arithmetic
    b = [2, 1, 0, -1, -1, 0, 1, 2]
    w = [Fraction(0), Fraction(6419, 5000), Fraction(-3919, 2500), Fraction(-8581, 5000),
         Fraction(13581, 5000), Fraction(-1081, 2500), Fraction(-1419, 5000), Fraction(0)]
    v = [1, -3, 2, 1, -1]
    u = [1, 1, 1, 1, -1, -1, -1, -1]
    F = [[max(Fraction(a) * uj + bj, 0) for uj, bj in zip(u, b, strict=True)]
         for a in [-2, -1, 0, 1, 2]]
    assert [sum(f * wj for f, wj in zip(row, w, strict=True)) for row in F] == list(Y_PROP1)
    assert sum(abs(wj) for wj in w) == 8
    correlations = [sum(F[i][j] * v[i] for i in range(5)) for j in range(8)]
    assert all(abs(c) <= 1 for c in correlations)
    assert sum(vi * yi for vi, yi in zip(v, Y_PROP1, strict=True)) == 8


@pytest.mark.parametrize("c", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_proposition1_regularized_optimum_for_every_c(c):
    # (51): beta ||w||_1 + 1/(2n) ||A_e w - y||^2 with beta = 1e-4 is our mean squared loss
    b = [2, 1, 0, -c, -1, -1, 0, c, 1, 2]
    fit = fit_l1(prop1_dictionary(b), A_PROP1[:, None], Y_PROP1, beta=1e-4)
    assert fit.objective == pytest.approx(1999 / 2500000, rel=RTOL)


def test_spline_fits_reach_the_proposition1_values():
    assert fit_spline(A_PROP1, Y_PROP1).objective == pytest.approx(8.0, rel=RTOL)
    assert fit_spline(A_PROP1, Y_PROP1, beta=1e-4).objective == pytest.approx(1999 / 2500000,
                                                                              rel=RTOL)


def dense_kink_dictionary(a, n_grid):
    """u = +-1 with kinks on a fine grid spanning the data and beyond, data points excluded."""
    span = a.max() - a.min()
    grid = np.linspace(a.min() - span, a.max() + span, n_grid)
    grid = grid[np.min(np.abs(grid[:, None] - a[None, :]), axis=1) > 1e-3]
    return NeuronDictionary(np.repeat([1.0, -1.0], grid.size)[:, None],
                            np.concatenate([-grid, grid]))


@pytest.mark.parametrize("loss, beta", [("squared", 0.01), ("hinge", 0.02)])
def test_1d_kinks_lie_on_data_points_and_no_other_kink_helps(loss, beta):
    # Lemma 6 / Corollary 3 and Theorem 13 (same extreme points for any loss): adding ~800
    # neurons with kinks off the data points does not lower the optimum, and the spline's
    # dual point is feasible for all of them (|Lam^T f| <= beta: a global certificate, as
    # Lam^T (a - t)_+ is piecewise linear in t with breaks at the data).
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(-2, 2, 9))
    y = np.sin(2 * a) + 0.3 * rng.standard_normal(9)
    if loss == "hinge":
        y = np.where(y > 0, 1.0, -1.0)
    fit = fit_spline(a, y, loss=loss, beta=beta, output_bias=True)
    net = fit.network()
    kinks = -net.b[net.U[:, 0] != 0] / net.U[net.U[:, 0] != 0, 0]
    assert np.all(np.min(np.abs(kinks[:, None] - a[None, :]), axis=1) < 1e-12)
    np.testing.assert_allclose(net.predict(a[:, None]), fit.predict(a[:, None]), atol=1e-10)

    dense = dense_kink_dictionary(a, 800)
    richer = fit_l1(spline_dictionary(a).concat(dense), a[:, None], y, loss=loss, beta=beta,
                    output_bias=True)
    assert richer.objective == pytest.approx(fit.objective, rel=1e-6)
    Lam = fit.dual[:, 0]
    assert abs(Lam.sum()) < 1e-9  # the free output constant's dual constraint
    assert np.abs(dense.features(a[:, None]).T @ Lam).max() <= beta * (1 + 1e-6)


def test_1d_fit_tends_to_the_linear_interpolant_as_beta_vanishes():
    rng = np.random.default_rng(1)
    a = np.sort(rng.uniform(-2, 2, 8))
    y = rng.standard_normal(8)
    grid = np.linspace(a.min(), a.max(), 1001)[:, None]
    interpolant = np.interp(grid[:, 0], a, y)
    errors = []
    for beta in (1e-3, 1e-5, 1e-7):
        net = fit_spline(a, y, beta=beta).network()
        errors.append(np.abs(net.predict(grid)[:, 0] - interpolant).max())
    # once beta is below the data's scale the deviation is linear in beta (soft-thresholding)
    assert errors[1] / errors[0] < 0.05
    assert errors[2] / errors[1] == pytest.approx(0.01, rel=0.05)
    assert errors[2] < 1e-3


def test_hinge_beta_zero_is_the_hard_margin_l1_svm():
    # Theorem 11 / Figure 8: for separable labels a small beta gives the hard-margin l1-SVM;
    # the objective (18) in the paper's weight-decay form is 2 beta' ||w||_1 = 1.6e-4 with
    # beta' = 1e-5 for both label sets of Figure 8 (||w||_1 = 8).
    for y in ([1, -1, 1, -1, -1], [1, -1, 1, 1, -1]):
        y = np.array(y, float)
        hard = fit_spline(A_PROP1, y, loss="hinge")
        assert np.all(y * hard.predict(A_PROP1[:, None])[:, 0] >= 1 - 1e-8)
        assert 2 * 1e-5 * hard.objective == pytest.approx(1.6e-4, rel=RTOL)
        soft = fit_spline(A_PROP1, y, loss="hinge", beta=1e-3)
        assert soft.l1_norm == pytest.approx(hard.objective, rel=1e-6)


def test_rank_one_equals_spline_in_the_data_coordinate_and_random_neurons_do_not_help():
    # Corollary 5: A = c a^T; optimal neurons are u = +-a/||a||, b = -+c_k ||a||
    rng = np.random.default_rng(2)
    c, direction = rng.standard_normal(7), rng.standard_normal(4)
    A = np.outer(c, direction)
    y = rng.standard_normal(7)
    beta = 0.01
    fit = fit_rank_one(A, y, beta=beta, output_bias=True)
    spline = fit_spline(c * np.linalg.norm(direction), y, beta=beta, output_bias=True)
    assert fit.objective == pytest.approx(spline.objective, rel=RTOL)
    neurons = rank_one_dictionary(A)
    unit = direction / np.linalg.norm(direction)
    np.testing.assert_allclose(np.abs(neurons.U @ unit), 1.0, atol=1e-12)
    # 300 random unit directions with biases spread over the data's range do not lower it
    U = rng.standard_normal((300, 4))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    b = -np.einsum("id,id->i", A[rng.integers(0, 7, 300)], U) + rng.normal(0, 0.1, 300)
    richer = fit_l1(neurons.concat(NeuronDictionary(U, b)), A, y, beta=beta, output_bias=True)
    assert richer.objective == pytest.approx(fit.objective, rel=1e-6)


def test_rank_one_dictionary_rejects_rank_two_data():
    with pytest.raises(ValueError, match="rank one"):
        rank_one_dictionary(np.eye(3))
