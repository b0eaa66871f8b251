"""Gap-safe screening against the conic reference, float64.

Small problems (12 points in 2-D plus a bias, all 134 activation patterns enumerated): a dual
point from a loose ADMM solve (certified relative gap 1e-2) screens groups; every screened group
must be zero in the conic (CVXPY + Clarabel) solution. "Zero" there means at most
``ACTIVE_RTOL = 1e-4`` times the largest group: interior-point points keep every group slightly
nonzero (up to 3e-5 of the largest, measured, see ``convexnn._groups``), while the groups these
optima use are at least 2e-2 of the largest, so the tolerance separates the two by 200x. Each
case also checks that the test has teeth: the unsafe rule without the ball (radius 0, i.e.
trusting the loose dual's constraints) screens groups the reference uses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from convexnn import ConvexProblem, certify, solve
from convexnn._groups import ACTIVE_RTOL
from convexnn.solvers import _screening, admm
from convexnn.solvers._screening import pattern_norms, screen, strong_concavity

pytestmark = pytest.mark.usefixtures("one_thread")

#: the loss, its outputs and a beta at which a 1e-2 solve already screens most groups
CASES = [("squared", 1), ("logistic", 1), ("cross_entropy", 3)]


def small_problem(loss: str, beta: float, *, gated: bool = False) -> ConvexProblem:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    if loss == "squared":
        y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    elif loss == "cross_entropy":
        y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)]
    else:  # logistic, hinge: circle against outside
        y = np.where(np.linalg.norm(X, axis=1) > 1.0, 1.0, -1.0)
    return ConvexProblem.build(X, y, loss=loss, beta=beta, patterns="exact", gated=gated)


def zero_groups(solution) -> np.ndarray:
    """(P, k, sides): the groups of an interior-point solution that are zero (see the header)."""
    blocks = [solution.V] if solution.W is None else [solution.V, solution.W]
    norms = np.stack([np.linalg.norm(B, axis=0) for B in blocks], axis=-1)
    return norms <= ACTIVE_RTOL * norms.max()


def unsafe(problem, dual, primal, monkeypatch):
    """The same rule with the ball's radius forced to 0 (not safe)."""
    with monkeypatch.context() as patch:
        patch.setattr(_screening, "strong_concavity", lambda problem: math.inf)
        return screen(problem, dual, primal)


@pytest.mark.parametrize(("loss", "k"), CASES)
def test_screened_groups_are_zero_in_the_conic_solution(loss, k, monkeypatch):
    problem = small_problem(loss, beta=0.1)
    assert problem.shape[2:] == (134, k)
    zero = zero_groups(solve(problem, "conic"))
    loose = solve(problem, "admm", tol=1e-2)
    result = screen(problem, loose.dual, loose.objective)
    assert result.screened.shape == (134, k, 2)
    assert result.fraction >= 0.5  # a rule that screens little could not fail
    assert not np.any(result.screened & ~zero)
    assert np.any(unsafe(problem, loose.dual, loose.objective, monkeypatch).screened & ~zero)


def test_screened_groups_of_the_gated_relaxation_are_zero():
    problem = small_problem("squared", beta=0.1, gated=True)
    zero = zero_groups(solve(problem, "conic"))
    loose = solve(problem, "admm", tol=1e-2)
    result = screen(problem, loose.dual, loose.objective)
    assert result.screened.shape == (134, 1, 1)
    assert result.fraction >= 0.5
    assert not np.any(result.screened & ~zero)


@pytest.mark.parametrize(("loss", "k"), CASES)
def test_near_the_optimum_most_zero_groups_are_screened(loss, k):
    """At the conic solution's own gap (~1e-9 relative) the ball is tiny: nearly every zero
    group is screened (those left have constraints at beta: degenerate zero groups, which no
    safe rule can screen), at a beta where the loose solve above screens almost nothing."""
    problem = small_problem(loss, beta=1e-2)
    reference = solve(problem, "conic")
    zero = zero_groups(reference)
    result = screen(problem, reference.dual, reference.objective)
    assert not np.any(result.screened & ~zero)
    assert np.sum(result.screened) >= 0.9 * np.sum(zero)


def test_hinge_screens_nothing():
    """The hinge loss's conjugate is linear on a box: no strongly concave dual, no ball."""
    problem = small_problem("hinge", beta=0.1)
    loose = solve(problem, "admm", tol=1e-2)
    result = screen(problem, loose.dual, loose.objective)
    assert strong_concavity(problem) is None
    assert math.isinf(result.radius)
    assert not np.any(result.screened)
    assert result.kept_patterns.size == 134


def test_a_primal_value_below_the_dual_bound_is_refused():
    problem = small_problem("squared", beta=0.1)
    loose = solve(problem, "admm", tol=1e-2)
    lower = screen(problem, loose.dual, loose.objective).lower_bound
    with pytest.raises(ValueError, match="below the dual bound"):
        screen(problem, loose.dual, lower - 1e-3)


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_the_dual_is_exactly_mu_strongly_concave(loss):
    """``L*(A) + L*(B) - 2 L*((A + B) / 2) >= (mu / 4) ||A - B||^2`` for ``L*`` mu-strongly
    convex, with equality for the pair at the least curvature on the sample of largest weight
    (squared: anywhere; logistic: a = 1/2; cross-entropy: p = (1/2, 1/2, 0) along (1, -1, 0)):
    the constant is safe (the inequality holds) and not loose (it is attained). Checked against
    the losses' own conjugates, with sample weights (the 1/n and weight conventions)."""
    k = 3 if loss == "cross_entropy" else 1
    problem = small_problem(loss, beta=0.1)
    n = problem.shape[0]
    weights = np.linspace(0.5, 2.0, n)
    problem = ConvexProblem(problem.X, problem.Y, loss, 0.1, problem.patterns,
                            sample_weight=weights)
    mu = strong_concavity(problem)
    ops = problem.operators()
    Y = ops.Y.numpy()
    if loss == "squared":
        S = np.zeros((n, k))
    elif loss == "logistic":  # a = -s y = 1/2
        S = -0.5 * Y
    else:  # p = s + y = (1/2, 1/2, 0)
        S = np.tile([0.5, 0.5, 0.0], (n, 1)) - Y
    step = np.zeros((n, k))
    step[-1, :2] = [1e-3, -1e-3] if k == 3 else [1e-3]  # on the sample of largest weight

    def conjugate(S):  # L*(Lam) with Lam = w s / n (the per-sample dual variable s)
        Lam = torch.as_tensor(weights[:, None] * S / n)
        return problem.loss.conjugate(Lam, ops.Y, ops.weights)

    A, B = S - step, S + step
    distance2 = float(np.sum((weights[:, None] * (A - B) / n) ** 2))
    curvature = conjugate(A) + conjugate(B) - 2 * conjugate(S)
    assert curvature >= mu / 4 * distance2 * (1 - 1e-6)
    assert curvature <= mu / 4 * distance2 * (1 + 1e-3)  # higher order terms at this step
    assert mu == pytest.approx(1 / problem.loss.lipschitz(ops.weights), rel=1e-12)


def test_pattern_norms(monkeypatch):
    problem = small_problem("squared", beta=0.1)
    X, D = problem.X, problem.patterns.D
    exact = np.array([np.linalg.norm(X[D[:, i]], 2) if D[:, i].any() else 0.0
                      for i in range(D.shape[1])])
    np.testing.assert_allclose(pattern_norms(X, D), exact, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(_screening, "EXACT_NORM_FEATURES", 0)  # the bound for many features
    bound = pattern_norms(X, D)
    assert np.all(bound >= exact * (1 - 1e-12))
    assert np.all(bound <= np.linalg.norm(X, 2) * (1 + 1e-12))


def _gap_on_all_patterns(output: str) -> float:
    """The full-program gap ADMM prints after a run on the patterns screening kept."""
    line = next(line for line in output.splitlines() if "gap on all" in line)
    return float(line.split("patterns")[1].split()[0])


def test_admm_screens_then_certifies_on_all_patterns(capsys):
    """ADMM to 1e-8 drops the screened patterns at its 1e-4 check and certifies its point on
    all patterns; the objective is the conic optimum (Clarabel at 1e-9: within 1e-7)."""
    problem = small_problem("logistic", beta=1e-2)
    solution = admm.solve(problem, tol=1e-8, verbose=True)
    output = capsys.readouterr().out
    assert "screening:" in output
    assert _gap_on_all_patterns(output) <= 1e-8
    assert solution.status == "optimal"
    assert solution.V.shape == (3, 134, 1)
    assert certify(solution).relative_gap <= 1e-8
    reference = solve(problem, "conic").objective
    assert abs(solution.objective - reference) <= 1e-7 * abs(reference)


def test_admm_recovers_from_an_unsafe_screening(monkeypatch, capsys):
    """With the unsafe rule (radius 0) groups the optimum uses are dropped: the check on all
    patterns catches it and ADMM goes on with all of them to a certified optimum."""
    monkeypatch.setattr(_screening, "strong_concavity", lambda problem: math.inf)
    problem = small_problem("logistic", beta=1e-2)
    solution = admm.solve(problem, tol=1e-8, verbose=True)
    assert _gap_on_all_patterns(capsys.readouterr().out) > 1e-6
    assert solution.status == "optimal"
    assert certify(solution).relative_gap <= 1e-8
    reference = solve(problem, "conic").objective
    assert abs(solution.objective - reference) <= 1e-7 * abs(reference)


def test_strong_concavity_reads_the_read_only_weights_without_warning():
    # a problem's arrays are read-only; torch warns when it wraps one without copying
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    problem = ConvexProblem.build(X, X[:, 0], beta=1e-3, patterns="sampled", n_patterns=4,
                                  seed=0, sample_weight=np.arange(1.0, 13.0))
    assert not problem.sample_weight.flags.writeable
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mu = strong_concavity(problem)
    # mean squared loss with weights w: gradient Lipschitz max(w) / n
    assert mu == pytest.approx(12 / 12.0)
