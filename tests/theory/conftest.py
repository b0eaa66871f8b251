"""Independent references for the theory tests: program (8) by the conic solver, its
equality-constrained (minimum-norm) version, and random whitened data."""

import cvxpy as cp
import numpy as np

from convexnn import ConvexProblem, enumerate_patterns
from convexnn.solvers import conic


def whitened_data(n, d, seed):
    """``A`` (n, d) with orthonormal rows and Gaussian targets, independent of theory.whiten."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, n)))
    return Q.T, rng.standard_normal(n)


def program8(A, y, *, loss="squared", beta):
    """Optimum of program (8) without bias, all patterns enumerated (the global optimum)."""
    problem = ConvexProblem.build(A, y, loss=loss, beta=beta, bias=False, patterns="exact")
    assert problem.patterns.exact
    return conic.solve(problem)


def min_norm_interpolation(A, y):
    """``min sum ||v_i|| + ||w_i|| s.t. sum_i D_i A (v_i - w_i) = y`` with the cones of (8):
    problem (4) without bias over all patterns, the reference for Lemmas 9 and 10."""
    patterns = enumerate_patterns(A)
    D = patterns.D.astype(float)
    S = 2 * D - 1
    V, W = cp.Variable((A.shape[1], D.shape[1])), cp.Variable((A.shape[1], D.shape[1]))
    constraints = [cp.sum(cp.multiply(D, A @ (V - W)), axis=1) == y,
                   cp.multiply(S, A @ V) >= 0, cp.multiply(S, A @ W) >= 0]
    objective = cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
    prob = cp.Problem(cp.Minimize(objective), constraints)
    prob.solve(solver="CLARABEL", **conic.ACCURATE)
    assert prob.status == cp.OPTIMAL
    return prob.value
