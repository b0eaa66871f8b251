"""Cutting-plane training (JMLR Algorithms 1 and 3, Proposition 2; the restricted optimum never
increases).

Reference: program (8) without bias, all patterns, by the conic solver. The method stops when
the relaxed oracle's violation is below ``1 + tol``; with ``tol = 1e-8`` its objective is within
~1e-8 relative of the optimum, and we assert 1e-6. Each restricted solve is accurate to
Clarabel's gap tolerance 1e-9 (absolute and relative), i.e. ~1e-8 relative on objectives of
~0.1: that is the slack of the monotonicity check.
"""

import numpy as np
import pytest

from convexnn.theory import cutting_plane, fit_spline, relaxed_separation

from .conftest import program8, whitened_data

RTOL = 1e-6


def spike_free_instances():
    A, y = whitened_data(6, 10, 0)
    scaled = np.diag([1.0, 2.0, 0.5, 3.0, 1.5, 0.7]) @ A  # Sigma V^T: spike-free, not whitened
    return {"whitened": (A, y), "Sigma V^T": (scaled, y)}


def assert_non_increasing(values, slack=1e-8):
    values = np.asarray(values)
    assert np.all(np.diff(values) <= slack * np.abs(values[:-1]))


@pytest.mark.parametrize("loss", ["squared", "hinge"])
@pytest.mark.parametrize("name", ["whitened", "Sigma V^T"])
def test_cutting_plane_reaches_program8_on_spike_free_data(name, loss):
    A, y = spike_free_instances()[name]
    if loss == "hinge":
        y = np.where(y > 0, 1.0, -1.0)
    beta = 0.02
    result = cutting_plane(A, y, loss=loss, beta=beta, tol=1e-8)
    optimum = program8(A, y, loss=loss, beta=beta).objective
    assert result.converged
    assert result.fit.objective == pytest.approx(optimum, rel=RTOL)
    history = result.history
    assert_non_increasing(history["objective"])
    assert history["objective"][-1] == result.fit.objective
    # the relaxation is exact on spike-free data, so the scaled dual points are lower bounds
    assert np.all(np.asarray(history["dual_bound"]) <= optimum * (1 + 1e-8))
    assert history["dual_bound"][-1] == pytest.approx(optimum, rel=RTOL)
    net = result.network()
    assert net.objective(A, y, loss=loss, beta=beta) == pytest.approx(result.fit.objective,
                                                                      rel=1e-9)


def test_relaxed_oracle_matches_a_brute_force_search_over_the_cone():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 3))
    A[:, 0] = np.abs(A[:, 0]) + 0.5  # the cone {A u >= 0} has interior
    Lam = rng.standard_normal(5)
    neurons, values = relaxed_separation(A, Lam)
    U = rng.standard_normal((3, 200000))
    U /= np.linalg.norm(U, axis=0)
    feasible = np.all(A @ U >= 0, axis=0)
    for sign, value, u in zip((-1, 1), values, neurons.U, strict=True):
        assert np.all(A @ u >= -1e-10) and np.linalg.norm(u) <= 1 + 1e-12
        assert sign * Lam @ A @ u == pytest.approx(value, rel=1e-9)
        brute = (sign * Lam @ A @ U[:, feasible]).max()
        assert brute <= value * (1 + 1e-9) and brute >= value * (1 - 1e-2)


def test_algorithm3_with_bias_never_increases_and_bounds_the_1d_optimum():
    # Algorithm 3 on 1-D data: Lemma-7 neurons (only the two end samples are vertices) plus
    # the relaxed oracle. The exact optimum of the unregularized-bias problem is the spline
    # with a free output constant (Lemma 6); the method's values decrease towards it from above.
    rng = np.random.default_rng(2)
    a = np.sort(rng.uniform(-2, 2, 8))
    y = np.sin(2 * a)
    beta = 0.01
    result = cutting_plane(a[:, None], y, beta=beta, bias=True, max_iter=20)
    assert_non_increasing(result.history["objective"])
    optimum = fit_spline(a, y, beta=beta, output_bias=True).objective
    assert result.fit.objective >= optimum * (1 - 1e-8)
    assert abs(result.dual.sum()) < 1e-9  # 1^T Lam = 0, the dual of the free output constant
    np.testing.assert_allclose(result.network().predict(a[:, None]),
                               result.fit.predict(a[:, None]), atol=1e-10)


def test_data_that_are_not_spike_free_are_checked_by_the_separation_oracle():
    # 10 Gaussian points in 2-D without bias: the relaxed oracle alone stopped at the zero
    # network's pair (converged=True, 2.5x the optimum); the exact check over the plane's
    # patterns finds the violations it misses, and the method goes on to program (8)'s optimum
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    result = cutting_plane(A, y, beta=0.01, tol=1e-8)
    optimum = program8(A, y, loss="squared", beta=0.01).objective
    assert result.spike_free is False
    assert result.converged and result.exact_check
    assert result.fit.objective == pytest.approx(optimum, rel=RTOL)
