"""The dense NNLS (``convexnn.cones.nnls``, Lawson & Hanson) against CVXPY + Clarabel and the
problem's optimality conditions, float64.

``x >= 0`` minimizes ``||A x - b||`` iff ``w = A^T (b - A x) <= 0`` with ``w_j = 0`` where
``x_j > 0`` (KKT). The solution's residual norm is unique (the objective is strictly convex in
``A x``), so it is compared with Clarabel's optimum: Clarabel's gap tolerance 1e-9 on the squared
residual gives ~1e-9 absolute on residuals of order 1, hence 1e-7 here.
"""

import cvxpy as cp
import numpy as np
import pytest

from convexnn.cones import nnls

#: one group's cone projection (``B = X^T diag(s)``, ``g`` the dual constraint's vector) of a
#: 6-sample, 10-feature program of the cutting-plane tests: SciPy 1.17.1's ``nnls(B, -g)``
#: returned a point whose residual is 1.14 times the minimum (0.02 = beta: the constraint is
#: tight) and reported an ``rnorm`` of 0.0175 that is not that point's residual
B_REPORTED = np.array([
    [
        -0.03116906771474648, -0.2085954058529522, 0.15386338606382122, 0.6298738792899518,
        -0.4442755081024941, 0.11362167450896818,
    ],
    [
        -0.32326727300115593, 0.6111592305417543, -0.19013981081000944, 0.23076899915409663,
        -0.5127618668940133, 0.02512270846634839,
    ],
    [
        0.5763852240405803, 0.6702920398569182, -0.24519795070893585, 0.8581807799947411,
        0.07680174022563804, 0.21613346017509538,
    ],
    [
        -0.10204499721807078, 1.0832439123695268, -0.010305093609982672, -2.1840228117203178,
        -0.017838089375974964, -0.09451283442842562,
    ],
    [
        -0.2239741807917589, -0.24969636664371253, -0.2163742949692833, -0.29670549083212444,
        -0.5951294374790006, 0.18391043741441312,
    ],
    [
        0.2502887313415513, 0.1543632326877616, -0.013433006008909194, -0.38275748578844776,
        0.37967777662087343, 0.13719220489810013,
    ],
    [
        0.16208695112101082, 0.10696848208141438, 0.21693186241938103, -0.6708492655368218,
        -0.6009293669329554, 0.4511722728294009,
    ],
    [
        -0.3336483611869512, 0.3958774256031604, 0.048692879365983356, 0.1274814275083318,
        0.9228993695568777, 0.3474385671092923,
    ],
    [
        -0.4466331067245409, 0.8522889861102593, 0.07542596308602449, 1.4125795862703465,
        -0.07550703675965852, 0.013740859566710888,
    ],
    [
        0.3193904007760456, 0.9897118610852038, 0.16681395107394822, 0.5893775460220361,
        -0.2580366478630027, -0.20906715940275647,
    ],
])
G_REPORTED = np.array([
    0.005116923251139118, -0.005164324248972478, -0.01673541317804622, 0.003751879985350922,
    -0.006524347917245735, -0.0021326151434971816, 0.007422835044321048, 0.005989879242910489,
    0.005379697139315776, 0.0023509585937808585,
])


def clarabel_residual(A, b) -> float:
    x = cp.Variable(A.shape[1], nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)))
    problem.solve(solver="CLARABEL")
    return float(np.sqrt(max(problem.value, 0.0)))


def assert_kkt(A, b, x, atol=1e-10):
    assert np.all(x >= 0)
    w = A.T @ (b - A @ x)
    assert np.all(w <= atol)
    assert np.all(np.abs(w[x > 0]) <= atol)


@pytest.mark.parametrize("seed", range(40))
def test_random_problems_match_clarabel_and_satisfy_kkt(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 16, size=2)
    A = rng.standard_normal((m, n))
    if seed % 3 == 0:  # a repeated column and a zero column: a rank-deficient passive set
        A = np.hstack([A, A[:, :1], np.zeros((m, 1))])
    b = rng.standard_normal(m)
    x, rnorm = nnls(A, b)
    assert rnorm == pytest.approx(np.linalg.norm(A @ x - b), rel=1e-12)
    assert rnorm == pytest.approx(clarabel_residual(A, b), abs=1e-7)
    assert_kkt(A, b, x)


def test_the_instance_scipy_got_wrong():
    x, rnorm = nnls(B_REPORTED, -G_REPORTED)
    assert rnorm == pytest.approx(clarabel_residual(B_REPORTED, -G_REPORTED), abs=1e-7)
    assert rnorm == pytest.approx(0.02, rel=1e-6)  # the dual constraint at its bound beta
    assert_kkt(B_REPORTED, -G_REPORTED, x, atol=1e-14)


def test_inside_the_cone_and_at_zero():
    A = np.eye(3)
    x, rnorm = nnls(A, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x, [1, 2, 3], rtol=1e-15)
    assert rnorm == pytest.approx(0.0, abs=1e-15)
    x, rnorm = nnls(A, -np.ones(3))  # every column points away: x = 0
    assert np.all(x == 0) and rnorm == pytest.approx(np.sqrt(3))
    x, rnorm = nnls(np.zeros((2, 2)), np.ones(2))
    assert np.all(x == 0) and rnorm == pytest.approx(np.sqrt(2))


def test_scale_does_not_change_the_solution():
    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((8, 12)), rng.standard_normal(8)
    x, _ = nnls(A, b)
    for scale in (1e-12, 1e12):
        y, _ = nnls(A * scale, b * scale)
        np.testing.assert_allclose(y, x, rtol=1e-8, atol=1e-12)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="A must be 2-D"):
        nnls(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="one entry per row"):
        nnls(np.ones((3, 2)), np.ones(2))
