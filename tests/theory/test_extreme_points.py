"""Extreme-point neurons (JMLR Lemma 7 / eq (10), Theorems 6-7, Lemma 8).

Lemma 7's projection is checked by its optimality condition (the variational inequality of a
projection onto a convex hull), not by another solver; Lemma 8 against a brute-force search.
"""

import numpy as np
import pytest

from convexnn.theory import extreme_point, vertex_interpolation, vertex_neurons


def test_lemma7_neurons_project_onto_the_hull_and_fire_on_one_sample():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((12, 2))  # in 2-D several samples are inside the hull
    neurons = vertex_neurons(A)
    mixtures = neurons.mixtures
    assert np.all(mixtures >= 0) and np.allclose(mixtures.sum(1), 1, atol=1e-12)
    assert np.all(np.diag(mixtures) == 0)
    projections = mixtures @ A
    residual = A - projections
    for i in range(len(A)):
        # p is the projection of a_i onto conv{a_j, j != i} iff (a_j - p)^T (a_i - p) <= 0
        others = np.delete(A, i, axis=0)
        assert np.max((others - projections[i]) @ residual[i]) <= 1e-12
    np.testing.assert_allclose(neurons.activations,
                               np.where(neurons.is_vertex, np.linalg.norm(residual, axis=1), 0),
                               atol=1e-12)
    H = neurons.dictionary.features(A)
    np.testing.assert_array_equal(H - np.diag(np.diag(H)), 0)  # active on its own sample only
    # a 2-D Gaussian cloud has interior points; those get no neuron
    assert 2 < neurons.is_vertex.sum() < len(A)


def test_theorem6_and_7_gaussian_samples_are_vertices_and_interpolate():
    n = 10
    d = int(np.ceil(2 * n * np.log(n - 1))) + 1  # d > 2 n log(n - 1)
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    net = vertex_interpolation(A, y)
    np.testing.assert_allclose(net.predict(A)[:, 0], y, atol=1e-10)
    np.testing.assert_allclose(net.network().predict(A)[:, 0], y, atol=1e-10)


def test_vertex_interpolation_refuses_interior_points():
    A = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.2, 0.2]])
    with pytest.raises(ValueError, match="convex hull"):
        vertex_interpolation(A, np.ones(4))


def test_lemma8_extreme_point_beats_a_brute_force_search():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((6, 2))
    alpha = rng.standard_normal(6)
    alpha -= alpha.mean()  # 1^T alpha = 0 keeps the problem bounded (Appendix 9)
    point = extreme_point(A, alpha)
    assert np.linalg.norm(point.u) <= 1 + 1e-8
    attained = alpha @ np.maximum(A @ point.u + point.b, 0)
    assert attained == pytest.approx(point.value, rel=1e-6)
    # 20000 unit directions x 801 biases: nothing does better (up to solver tolerance)
    U = rng.standard_normal((2, 20000))
    U /= np.linalg.norm(U, axis=0)
    Z = A @ U
    best = max(float((alpha @ np.maximum(Z + b, 0)).max()) for b in np.linspace(-4, 4, 801))
    assert best <= point.value * (1 + 1e-6)
    assert best >= point.value * (1 - 1e-2)  # and the search gets close: the value is attained
    with pytest.raises(ValueError, match="1\\^T alpha"):
        extreme_point(A, np.abs(alpha))
