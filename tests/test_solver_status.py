"""Statuses that tell the truth: float32 runs of the first-order solvers, and the conic solver's
"inaccurate".

float32: the gap a float32 run certifies depends on the problem's conditioning. On a
well-conditioned problem it reaches what float64 reaches; on an ill-conditioned one the iterates
end in a noise ball whose gap floor is ~1e-5 to 1e-3 (the dual candidate, the loss gradient, is
accurate to about the square root of the objective's rounding), and the run must say so by
stopping as "stalled", well before ``max_iter``. Every certificate here is the independent
float64 one of :func:`convexnn.certify` (exact NNLS per group), whatever precision the solver ran
in.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import torch
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning

from convexnn import ConvexProblem, ConvexReLUClassifier, certify
from convexnn.solvers import admm, conic, solve
from convexnn.solvers._common import Monitor

pytestmark = pytest.mark.usefixtures("one_thread")

#: iteration budget of the float32 runs that cannot reach their tol
BUDGET = 10_000


@cache
def well_conditioned(gated: bool = True) -> ConvexProblem:
    X, y = make_regression(n_samples=60, n_features=5, noise=0.1, random_state=0)
    return ConvexProblem.build(X, y / y.std(), beta=1e-3, patterns="sampled", n_patterns=50,
                               seed=0, gated=gated)


@cache
def ill_conditioned(gated: bool) -> ConvexProblem:
    # 24 samples in 2-D with a small beta: float64 FISTA needs ~1000 iterations for 1e-6
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 2))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(24)
    return ConvexProblem.build(X, y, beta=1e-3, patterns="sampled", n_patterns=20, seed=0,
                               gated=gated)


# ------------------------------------------------------------------------------------ float32
def test_float32_fista_reaches_the_float64_gap_on_a_well_conditioned_problem():
    # FISTA's backtracking compared function values whose float32 rounding exceeds the decrease
    # near the optimum: the Lipschitz estimate doubled to infinity and the run froze at a gap of
    # 0.15 until max_iter. Measured now: optimal after 400 iterations, as in float64.
    target = well_conditioned()
    solution = solve(target, "fista", dtype=torch.float32, tol=1e-6)
    reference = solve(target, "fista", tol=1e-6)
    assert solution.status == "optimal"
    assert solution.iterations <= 2 * reference.iterations
    # the float64 certificate of the returned point, not the solver's own float32 check
    assert certify(solution).relative_gap <= 1e-6


@pytest.mark.parametrize("solver, gated", [("fista", True), ("admm", True), ("admm", False)])
def test_float32_below_its_resolution_stalls_early_with_the_reason(solver, gated):
    # tol=1e-7 is out of float32's reach on this problem (certified floors 2.5e-5 to 6.3e-5,
    # measured); before, all three ran to max_iter (FISTA at a gap of 0.8, ADMM's program (8)
    # never meeting its cone tolerance in float32). Measured stops: 2790, 960 and 1490
    # iterations.
    solution = solve(ill_conditioned(gated), solver, dtype=torch.float32, tol=1e-7,
                     max_iter=BUDGET)
    assert solution.status == "stalled"
    assert solution.iterations <= BUDGET // 2
    assert "float32" in solution.reason and "tol=1.0e-07 is below" in solution.reason
    # a stalled run returns the best point it certified: within the float32 floor (1e-3 leaves
    # a 15x margin over the worst measured, 6e-5)
    certificate = certify(solution)
    assert certificate.relative_gap <= 1e-3
    assert certificate.cone_violation <= 1e-10  # program (8)'s point is inside the cones


def test_float32_program_8_ends_optimal_when_tol_is_within_reach():
    # float32 projections meet the cones only to ~1e-5 relative, never cone_tol = 1e-10: ADMM
    # now certifies program (8) at points projected in float64 (before: max_iter, always)
    solution = solve(ill_conditioned(False), "admm", dtype=torch.float32, tol=1e-3,
                     max_iter=BUDGET)
    assert solution.status == "optimal"
    certificate = certify(solution)
    assert certificate.relative_gap <= 1e-3
    assert certificate.cone_violation <= 1e-10


@pytest.mark.parametrize("solver, gated", [("fista", True), ("admm", True), ("admm", False)])
def test_float32_cross_entropy_is_certified(solver, gated):
    # float32 softmax rows miss the conjugate's domain (rows summing to 1, checked to 1e-10), so
    # every scaled dual read +inf and the gap 1; ADMM's float32 cross-entropy prox lost its
    # descent direction. Measured now: optimal after 340 (FISTA), 100 and 140 (ADMM) iterations
    # (and at tol=1e-6 too, after 1070, 150 and 290).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 2))
    Y = np.eye(3)[rng.integers(0, 3, 24)]
    target = ConvexProblem.build(X, Y, loss="cross_entropy", beta=1e-2, patterns="sampled",
                                 n_patterns=20, seed=0, gated=gated)
    solution = solve(target, solver, dtype=torch.float32, tol=1e-4, max_iter=BUDGET)
    assert solution.status == "optimal"
    assert certify(solution).relative_gap <= 1e-4


def test_float32_reason_says_when_tol_is_beyond_its_resolution():
    solution = solve(ill_conditioned(True), "fista", dtype=torch.float32, tol=1e-6, max_iter=5)
    assert solution.status == "max_iter"
    assert "below the sqrt(eps)" in solution.reason and "float32" in solution.reason
    float64 = solve(ill_conditioned(True), "fista", tol=1e-6, max_iter=5)
    assert "sqrt(eps)" not in float64.reason


def _monitor(objectives, gaps, dtype):
    monitor = Monitor("test", 10**6, np.inf, False, patience=20, dtype=dtype)
    for it, (objective, gap) in enumerate(zip(objectives, gaps, strict=True)):
        monitor.record(it, objective, gap)
    return monitor


def test_stall_rule_in_low_precision_tells_noise_from_slow_descent():
    rng = np.random.default_rng(0)
    checks = 60
    flat_gaps = np.full(checks, 3e-4)  # no 1% improvement of the best gap
    # ADMM's float32 noise ball: the objective jitters by 1e-4 relative around a constant
    noise = 1.0 + 1e-4 * rng.standard_normal(checks)
    assert _monitor(noise, flat_gaps, torch.float32).stalled
    # FISTA on a plateau of its gap: a steady descent of 5 float32 units per window is progress
    eps32 = torch.finfo(torch.float32).eps
    descent = 1.0 - 0.25 * eps32 * np.arange(checks)
    assert not _monitor(descent, flat_gaps, torch.float32).stalled
    # float64 keeps its rule: the noise is progress there, a frozen objective is not
    assert not _monitor(noise, flat_gaps, torch.float64).stalled
    assert _monitor(np.ones(checks), flat_gaps, torch.float64).stalled
    # an improving gap is never a stall
    assert not _monitor(noise, np.geomspace(1e-2, 1e-4, checks), torch.float32).stalled


# -------------------------------------------------------------------- conic "inaccurate"
def twelve_samples(seed: int):
    """12 samples in 2-D with 3 random classes (one-hot targets)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((12, 2))
    return X, rng.integers(0, 3, 12)


@cache
def cross_entropy_12() -> ConvexProblem:
    X, y = twelve_samples(4)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return ConvexProblem.build(X, np.eye(3)[y], loss="cross_entropy", beta=1e-2,
                               patterns="exact")


def test_conic_inaccurate_cross_entropy_is_verified_optimal():
    # Clarabel (0.11) ends this program "optimal_inaccurate" after 26 iterations, for a point
    # the independent certificate verifies to 2.3e-7 (before: status "inaccurate")
    solution = conic.solve(cross_entropy_12())
    assert solution.status == "optimal"
    certificate = certify(solution)
    assert certificate.relative_gap <= conic.VERIFIED_GAP
    assert certificate.cone_violation <= conic.VERIFIED_CONE


def test_conic_verification_promotes_only_what_it_certifies(monkeypatch):
    # deterministic whatever Clarabel's version says: a point solved to the reference accuracy,
    # reported "inaccurate", is certified optimal; one stopped after 5 interior-point iterations
    # stays inaccurate, with the certified numbers in its reason
    real = conic.solve_program

    def reported_inaccurate(max_iter):
        def run(prob, name, **options):
            _, elapsed = real(prob, name, **{**options, "max_iter": max_iter})
            return "inaccurate", elapsed
        return run

    monkeypatch.setattr(conic, "solve_program", reported_inaccurate(500))
    accurate = conic.solve(cross_entropy_12())
    assert accurate.status == "optimal" and "'optimal_inaccurate'" in accurate.reason
    monkeypatch.setattr(conic, "solve_program", reported_inaccurate(5))
    rough = conic.solve(cross_entropy_12())
    certificate = certify(rough)
    assert certificate.relative_gap > conic.VERIFIED_GAP
    assert rough.status == "inaccurate"
    assert f"relative gap {certificate.relative_gap:.2e}" in rough.reason


def test_classifier_does_not_warn_on_a_verified_cross_entropy_fit():
    # the report's symptom: a correct fit (certified 1.1e-7) came with a ConvergenceWarning
    X, y = twelve_samples(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = ConvexReLUClassifier(loss="cross_entropy", solver="conic", beta=1e-2).fit(X, y)
    assert model.solution_.status == "optimal"
    assert certify(model.solution_).relative_gap <= conic.VERIFIED_GAP


def test_auto_keeps_large_programs_off_the_interior_point():
    # "auto" sends program (8) to the conic reference only while its variables and cone rows
    # (2 P k (d + n)) stay at most CONIC_MAX_PROGRAM: digits with 100 patterns (3.7 million)
    # made CVXPY's model exhaust 24 GiB; above the bound ADMM solves it
    from convexnn.solvers import CONIC_MAX_PROGRAM, resolve_solver

    rng = np.random.default_rng(0)
    for n, P, expected in [(40, 20, "conic"), (400, 200, "admm")]:
        X, y = rng.standard_normal((n, 4)), rng.standard_normal(n)
        problem = ConvexProblem.build(X, y, beta=1e-3, n_patterns=P, seed=0)
        n_, d, P_, k = problem.shape
        assert (2 * P_ * k * (d + n_) <= CONIC_MAX_PROGRAM) == (expected == "conic")
        assert resolve_solver(problem) == expected


def _conic_fails(monkeypatch):
    """Make every conic solve fail as Clarabel does when it stalls ("InsufficientProgress")."""
    def fail(prob, name, **options):
        raise conic.ConicSolverError(f"the conic solver CLARABEL failed on {name}: stalled")

    monkeypatch.setattr(conic, "solve_program", fail)


def test_auto_falls_back_to_admm_when_the_conic_solver_fails(monkeypatch):
    # Clarabel stalled ("InsufficientProgress") on default cross-entropy fits of 12-30
    # separable points, and the fit raised; "auto" now solves the program by ADMM instead.
    # The reference optimum is the conic solver's own (before it is made to fail); both are
    # certified to 1e-6 relative, so their objectives agree to 2e-6
    problem = ConvexProblem.build(*make_regression(n_samples=14, n_features=2, noise=5.0,
                                                   random_state=0), beta=1e-2, n_patterns=12,
                                  seed=0)
    problem = ConvexProblem(problem.X, problem.Y / np.abs(problem.Y).max(), problem.loss,
                            problem.beta, problem.patterns, bias=problem.bias)
    reference = conic.solve(problem)
    _conic_fails(monkeypatch)
    with pytest.raises(conic.ConicSolverError, match="stalled"):  # asked by name: no fallback
        solve(problem, "conic")
    # the fallback of a small program runs torch on one thread, as a first-order solve asked
    # by name does (a second thread only costs time there): seen from inside ADMM's solve
    threads, admm_solve = [], admm.solve

    def counted(*args, **kwargs):
        threads.append(torch.get_num_threads())
        return admm_solve(*args, **kwargs)

    monkeypatch.setattr(admm, "solve", counted)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        solution = solve(problem, "auto", tol=1e-6)
    finally:
        torch.set_num_threads(before)
    assert threads == [1]
    assert solution.solver == "admm" and solution.status == "optimal"
    assert "solved by admm instead" in solution.reason and "stalled" in solution.reason
    assert solution.objective == pytest.approx(reference.objective, rel=2e-6)


def test_auto_certifies_a_saturated_logistic_program():
    # 12 separable points in 2-D, all 134 patterns, logistic loss: Clarabel (0.11) ends
    # "optimal_inaccurate" at a point certified to 6.5e-6 where 1e-6 was asked, and the default
    # fit came with a ConvergenceWarning; "auto" now goes on by ADMM from that point. Whichever
    # solver ends it, the result is certified to 1e-6 by the independent certificate
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    X = ((X - X.mean(0)) / X.std(0))[:12]
    problem = ConvexProblem.build(X, np.sign(X[:, 0] * X[:, 1]), loss="logistic",
                                  beta=1e-3, patterns="exact")
    solution = solve(problem, "auto")
    assert solution.status == "optimal"
    assert certify(solution).relative_gap <= conic.VERIFIED_GAP


def _rough_conic(monkeypatch):
    """Make the conic solver stop after 5 interior-point iterations, reported "inaccurate"
    (its certificate then misses 1e-6, as
    ``test_conic_verification_promotes_only_what_it_certifies`` asserts)."""
    real = conic.solve_program

    def rough(prob, name, **options):
        _, elapsed = real(prob, name, **{**options, "max_iter": 5})
        return "inaccurate", elapsed

    monkeypatch.setattr(conic, "solve_program", rough)


def test_auto_goes_on_by_admm_from_an_inaccurate_conic_point(monkeypatch):
    # the point's certificate misses 1e-6: ADMM starts from it (its warm start) and ends
    # certified, at the optimum of the unpatched conic solver (both certified to 1e-6: the
    # objectives agree to 2e-6)
    problem = cross_entropy_12()
    reference = conic.solve(problem)
    assert reference.status == "optimal"
    _rough_conic(monkeypatch)
    starts, admm_solve = [], admm.solve

    def recorded(problem, **options):
        starts.append(options.get("warm_start"))
        return admm_solve(problem, **options)

    monkeypatch.setattr(admm, "solve", recorded)
    solution = solve(problem, "auto")
    assert len(starts) == 1 and starts[0].status == "inaccurate"
    assert starts[0].solver.startswith("conic")
    assert solution.solver == "admm" and solution.status == "optimal"
    assert "not certified optimal; solved by admm instead" in solution.reason
    assert certify(solution).relative_gap <= conic.VERIFIED_GAP
    assert solution.objective == pytest.approx(reference.objective, rel=2e-6)
    # nothing left of the time limit (the conic solve took it all): the conic point as it is
    monkeypatch.setattr(conic, "solve", lambda problem, **options: replace(
        starts[0], time=float(options["time_limit"])))
    spent = solve(problem, "auto", time_limit=0.5)
    assert spent.status == "inaccurate" and len(starts) == 1


def test_auto_gives_the_conic_solver_a_tol_and_refuses_first_order_options():
    # "auto" on a small program is the conic solver: a first-order tol becomes Clarabel's
    # tolerances (Clarabel refused "tol" as an unknown setting), and options that only the
    # first-order solvers take are refused by name with the way out, not by CVXPY
    problem = ConvexProblem.build(*make_regression(n_samples=14, n_features=2, noise=5.0,
                                                   random_state=0), beta=1e-2, n_patterns=12,
                                  seed=0)
    problem = ConvexProblem(problem.X, problem.Y / np.abs(problem.Y).max(), problem.loss,
                            problem.beta, problem.patterns, bias=problem.bias)
    loose = solve(problem, "auto", tol=1e-3)
    assert loose.solver.startswith("conic") and loose.status == "optimal"
    tight = solve(problem, "auto")
    # the looser interior point stops earlier, near the optimum (its own gap, 1e-3, is
    # Clarabel's; the independent certificate of such a point was 2.6e-3, measured)
    assert loose.iterations < tight.iterations
    assert certify(loose).relative_gap <= 1e-2
    assert tight.objective <= loose.objective * (1 + 1e-9)
    for option in ({"device": "cpu"}, {"rho": 1.0}, {"warm_start": tight}):
        with pytest.raises(ValueError, match=f"{next(iter(option))}.*solver='admm'"):
            solve(problem, "auto", **option)


def test_classifier_and_search_fall_back_when_the_conic_solver_fails(monkeypatch):
    # the estimator's exact path (all patterns of 12 points) and the neuron search's conic
    # rounds (small hinge programs) both end with a certified network instead of raising
    from convexnn.search import neuron_search

    X, y = twelve_samples(2)
    _conic_fails(monkeypatch)
    model = ConvexReLUClassifier(loss="cross_entropy", beta=1e-2).fit(X, y)
    assert model.solution_.solver == "admm" and model.certificate_.valid
    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((40, 2)), np.sign(rng.standard_normal(40))
    result = neuron_search(X, labels, loss="hinge", beta=1e-2, max_rounds=2, tol=1e-3, seed=0)
    assert result.solution.solver == "admm" and result.certificate().valid
