"""Whitened closed forms (JMLR Theorems 9, 12, 15) and Lemmas 9-10 against program (8).

The reference is the conic solution of program (8) without bias and with all 2^n patterns (the
global optimum, since whitened data realize every pattern). Our losses are means, so the paper's
thresholds ``||y_+||``, ``sqrt(n_+)`` are crossed at ``beta = threshold / n``. Clarabel runs at
gap tolerance 1e-9; objectives are compared at 1e-6 relative (plus 1e-10 absolute), predictions
(unique for the strictly convex squared loss) at 1e-6.
"""

import numpy as np
import pytest

from convexnn.theory import (
    hinge_closed_form,
    l0_l1_condition,
    min_cardinality_interpolation,
    one_hot_closed_form,
    squared_closed_form,
    whiten,
)

from .conftest import min_norm_interpolation, program8, whitened_data

RTOL, ATOL = 1e-6, 1e-10


def betas_around(thresholds, n):
    """Mean-loss betas below both, between, and above both paper thresholds."""
    low, high = sorted(thresholds)
    return [0.5 * low / n, 0.5 * (low + high) / n, 1.5 * high / n]


@pytest.mark.parametrize("seed", [0, 1])
def test_squared_closed_form_equals_program8_with_2_1_0_neurons(seed):
    A, y = whitened_data(6, 9, seed)
    n = len(y)
    p, q = np.linalg.norm(np.maximum(y, 0)), np.linalg.norm(np.maximum(-y, 0))
    counts = []
    for beta in betas_around([p, q], n):
        closed = squared_closed_form(A, y, beta=beta)
        reference = program8(A, y, beta=beta)
        assert closed.objective == pytest.approx(reference.objective, rel=RTOL, abs=ATOL)
        np.testing.assert_allclose(closed.predict(A), reference.predict_training(), atol=1e-6)
        net = closed.network()
        assert net.objective(A, y, beta=beta) == pytest.approx(closed.objective, rel=1e-12)
        counts.append(net.n_neurons)
    assert counts == [2, 1, 0]


def test_squared_closed_form_dual_is_the_paper_dual():
    # v* = beta' (y)_+ / p - beta' (-y)_+ / q (Appendix proof of Theorem 9), v = -n Lam
    A, y = whitened_data(5, 8, 3)
    n, beta = len(y), 0.01
    p, q = np.linalg.norm(np.maximum(y, 0)), np.linalg.norm(np.maximum(-y, 0))
    v = -n * squared_closed_form(A, y, beta=beta).dual[:, 0]
    np.testing.assert_allclose(v, n * beta * (np.maximum(y, 0) / p - np.maximum(-y, 0) / q),
                               atol=1e-12)


@pytest.mark.parametrize("seed", [0, 4])
def test_hinge_closed_form_equals_program8_with_2_1_0_neurons(seed):
    A, y = whitened_data(6, 9, seed)
    y = np.where(y > 0, 1.0, -1.0)
    if len(set(y)) == 1:
        y[0] = -y[0]
    n = len(y)
    sizes = [np.sqrt(np.sum(y > 0)), np.sqrt(np.sum(y < 0))]
    if sizes[0] == sizes[1]:  # make the classes unequal so that "one neuron" has a range
        y[np.flatnonzero(y < 0)[0]] = 1.0
        sizes = [np.sqrt(np.sum(y > 0)), np.sqrt(np.sum(y < 0))]
    counts = []
    for beta in betas_around(sizes, n):
        closed = hinge_closed_form(A, y, beta=beta)
        reference = program8(A, y, loss="hinge", beta=beta)
        assert closed.objective == pytest.approx(reference.objective, rel=RTOL, abs=ATOL)
        counts.append(closed.network().n_neurons)
    assert counts == [2, 1, 0]


def test_one_hot_closed_form_equals_multioutput_program8():
    A, _ = whitened_data(6, 8, 5)
    labels = np.array([0, 0, 0, 1, 1, 2])
    Y = np.eye(3)[labels]
    n = len(labels)
    counts = []
    # class sizes 3, 2, 1: thresholds sqrt(3), sqrt(2), 1 (paper scale)
    for beta_paper in (0.5, 1.2, 1.5, 2.0):
        closed = one_hot_closed_form(A, Y, beta=beta_paper / n)
        reference = program8(A, Y, beta=beta_paper / n)
        assert closed.objective == pytest.approx(reference.objective, rel=RTOL, abs=ATOL)
        np.testing.assert_allclose(closed.predict(A), reference.predict_training(), atol=1e-6)
        counts.append(closed.network().n_neurons)
    assert counts == [3, 2, 1, 0]


def test_whiten_gives_orthonormal_rows_and_maps_new_points_linearly():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((5, 12))
    white, T = whiten(A)
    np.testing.assert_allclose(white @ white.T, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(A @ T, white, atol=1e-12)
    with pytest.raises(ValueError, match="whitened"):
        squared_closed_form(A, rng.standard_normal(5), beta=0.1)


def test_lemma9_interpolates_with_two_neurons_and_is_l1_optimal_on_whitened_data():
    A, y = whitened_data(5, 7, 7)
    net = min_cardinality_interpolation(A, y)
    assert net.dictionary.n_neurons == 2
    np.testing.assert_allclose(net.predict(A)[:, 0], y, atol=1e-12)
    # Lemma 10 / Corollary 7: the condition holds with value exactly 1, and the two neurons
    # attain the minimum-l1 interpolation value over all networks
    assert l0_l1_condition(A, y) == pytest.approx(1.0, abs=1e-7)
    assert net.objective == pytest.approx(min_norm_interpolation(A, y), rel=RTOL)


def test_lemma10_condition_separates_optimal_from_suboptimal_two_neuron_networks():
    # on non-whitened full-row-rank data, value <= 1 iff Lemma 9's network is l1-optimal
    rng = np.random.default_rng(8)
    verdicts = []
    for _ in range(3):
        A = rng.standard_normal((4, 6))
        y = rng.standard_normal(4)
        value = l0_l1_condition(A, y)
        optimal = min_cardinality_interpolation(A, y).objective
        reference = min_norm_interpolation(A, y)
        assert reference <= optimal * (1 + RTOL)
        if value <= 1 + 1e-7:
            assert optimal == pytest.approx(reference, rel=RTOL)
        verdicts.append(value > 1 + 1e-7 and reference < optimal * (1 - 1e-4))
    assert any(verdicts)  # at least one instance where the condition fails and l0 != l1
