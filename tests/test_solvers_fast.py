"""First-order solvers (FISTA, augmented Lagrangian, ADMM) against the conic reference, float64.

Tolerances: every solve here asks for a *certified* relative duality gap ``tol``; a certified gap
means ``p* <= objective <= p* (1 + tol)``, and the conic reference (Clarabel at 1e-10) is within
~1e-9 of ``p*``, so a correct solver is within ``tol`` (+1e-9) of the reference. We ask for 1e-6
and compare at 1e-6 relative (+1e-12 absolute). ``convexnn.certify`` (exact NNLS cone checks,
independent of the solvers' torch certificates) must confirm the solver's own gap. The problems
are small (n = 24, d = 2 plus bias, 20 sampled patterns) so that the whole file runs in well
under a minute on two cores.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from convexnn import ConvexProblem, ConvexSolution, TwoLayerReLU, certify
from convexnn._threads import one_torch_thread
from convexnn.cones import ConeProjector, _torch
from convexnn.cones._linalg import solve_with_factor
from convexnn.losses import get_loss
from convexnn.solvers import admm, augmented_lagrangian, conic, proximal, solve
from convexnn.solvers._linsys import DirectSolver, GramSolver, NystromPCG

TOL = 1e-6
#: one-hot targets for the multi-class problems
CLASSES = 3


pytestmark = pytest.mark.usefixtures("one_thread")


def raw_data(loss: str, n: int = 24, d: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if loss == "squared":
        y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(n)
    elif loss in ("logistic", "hinge"):
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    else:  # one-hot classes (for multi-class squared and cross-entropy)
        y = np.eye(CLASSES)[rng.integers(0, CLASSES, n)]
    return X, y


@cache
def problem(loss: str, gated: bool = False, multiclass: bool = False,
            beta: float = 1e-2) -> ConvexProblem:
    X, y = raw_data("one_hot" if multiclass else loss)
    return ConvexProblem.build(X, y, loss=loss, beta=beta, patterns="sampled", n_patterns=20,
                               seed=0, gated=gated)


@cache
def reference(loss: str, gated: bool = False, multiclass: bool = False,
              beta: float = 1e-2) -> float:
    return conic.solve(problem(loss, gated, multiclass, beta)).objective


@cache
def solved(solver: str, loss: str, gated: bool = False, multiclass: bool = False,
           beta: float = 1e-2) -> ConvexSolution:
    return solve(problem(loss, gated, multiclass, beta), solver=solver, tol=TOL, max_iter=50_000)


CASES = [  # (solver, loss, gated, multiclass)
    ("fista", "squared", True, False),
    ("fista", "logistic", True, False),
    ("fista", "squared", True, True),
    ("fista", "cross_entropy", True, True),
    ("admm", "squared", False, False),
    ("admm", "logistic", False, False),
    ("admm", "hinge", False, False),
    ("admm", "squared", False, True),
    ("admm", "cross_entropy", False, True),
    ("admm", "hinge", True, False),
    ("augmented_lagrangian", "squared", False, False),
    ("augmented_lagrangian", "logistic", False, False),
]
# The augmented Lagrangian also solves the multi-class programs, but certifying 1e-6 there takes
# it ~40k FISTA iterations (20 s), too slow for this file; ADMM covers multi-class program (8).


def cone_violation(target: ConvexProblem, V: np.ndarray, W: np.ndarray) -> float:
    """Largest ``max(0, -(2 D_i - I) X b_ic)`` over both blocks, in NumPy from the data."""
    sign = np.where(target.patterns.D, 1.0, -1.0)[:, :, None]
    return max(float(np.max(-sign * np.einsum("nd,dpk->npk", target.X, B), initial=0.0))
               for B in (V, W))


@pytest.mark.parametrize("solver, loss, gated, multiclass", CASES)
def test_optimum_matches_conic_reference(solver, loss, gated, multiclass):
    solution = solved(solver, loss, gated, multiclass)
    assert solution.status == "optimal"
    assert solution.solver == solver
    expected = reference(loss, gated, multiclass)
    assert solution.objective == pytest.approx(expected, rel=TOL, abs=1e-12)
    # an independent check of the solver's own certificate (exact NNLS per group)
    assert certify(solution).relative_gap <= 1.01 * TOL
    assert solution.history["gap"][-1] <= TOL


@pytest.mark.parametrize("solver, loss, multiclass", [
    ("admm", "squared", False), ("admm", "squared", True), ("admm", "hinge", False),
    ("augmented_lagrangian", "squared", False), ("augmented_lagrangian", "logistic", False),
])
def test_recovered_network_reproduces_convex_predictions(solver, loss, multiclass):
    # Theorem 1 needs the cones: then (X u)_+ alpha = D X v for every neuron
    solution = solved(solver, loss, False, multiclass)
    X_raw, _ = raw_data("one_hot" if multiclass else loss)
    network = TwoLayerReLU.from_convex(solution)
    np.testing.assert_allclose(network.predict(X_raw), solution.predict_training(), rtol=0,
                               atol=1e-8)
    assert cone_violation(solution.problem, solution.V, solution.W) <= 1e-10


@pytest.mark.parametrize("solver, gated", [
    ("fista", True), ("admm", False), ("augmented_lagrangian", False),
])
def test_warm_start_from_a_rough_solution_takes_fewer_iterations(solver, gated):
    # refine a 1e-3 solution to 1e-6: fewer iterations than solving from zero (ADMM starts from
    # the solution's own dual, the augmented Lagrangian re-estimates its cone multipliers)
    target = problem("squared", gated)
    rough = solve(target, solver=solver, tol=1e-3)
    warm = solve(target, solver=solver, tol=TOL, warm_start=rough)
    cold = solved(solver, "squared", gated, False)
    assert rough.status == warm.status == "optimal"
    assert warm.iterations < cold.iterations
    assert warm.objective == pytest.approx(reference("squared", gated), rel=TOL, abs=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_admm_warm_started_at_its_own_solution_certifies_it_at_once(loss):
    # the start is ADMM's fixed point: the point, its dual, and the cone projections' active
    # sets (seeded by one exact prox); before the last, the first truncated projections threw
    # the point off and certifying 1e-6 again took 150 (squared) and 90 (logistic) iterations
    target = problem(loss)
    done = admm.solve(target, tol=TOL)
    again = admm.solve(target, tol=TOL, warm_start=done)
    assert again.status == "optimal" and again.iterations <= 20  # two checks (every 10)
    assert again.objective == pytest.approx(reference(loss), rel=TOL, abs=1e-12)
    # a dual or cone multipliers that do not fit this program are not used: grad L at the
    # point instead, projections from empty active sets
    odd = admm.solve(target, tol=TOL, warm_start=replace(done, dual=np.ones((3, 1)),
                                                         cone_multipliers=np.ones((3, 2, 1))))
    assert odd.status == "optimal"
    assert odd.objective == pytest.approx(reference(loss), rel=TOL, abs=1e-12)


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_admm_cone_multipliers_are_complementary_to_the_point(loss):
    # KKT of each cone constraint s_j x_j^T v >= 0 of every group: a multiplier >= 0, positive
    # only where the constraint is tight at the returned point. Checked on the data, not
    # through the solver; 1e-8 relative to ||x_j|| ||v|| (the point is exact to ~1e-13, the
    # threshold only separates the tight rows from the others, which are O(1) off)
    target = problem(loss)
    done = admm.solve(target, tol=TOL)
    n, d, P, k = target.shape
    M = done.cone_multipliers
    assert M.shape == (n, 2 * P, k) and np.all(M >= 0)
    X, signs = target.X, np.where(target.patterns.D, 1.0, -1.0)
    tight_rows = 0
    for half, B in enumerate((done.V, done.W)):
        for i, c in zip(*np.nonzero(np.linalg.norm(B, axis=0) > 0), strict=True):
            margins = signs[:, i] * (X @ B[:, i, c])
            tight = margins <= 1e-8 * np.linalg.norm(X, axis=1) * np.linalg.norm(B[:, i, c])
            assert np.all(margins >= -1e-10)
            assert np.all(M[~tight, half * P + i, c] == 0)
            tight_rows += int(np.sum(M[:, half * P + i, c] > 0))
    assert tight_rows > 0  # (10 and 8 measured) the check is not vacuous


@pytest.mark.parametrize("solver, gated", [
    ("fista", True), ("admm", False), ("admm", True), ("augmented_lagrangian", False),
])
def test_tiny_budgets_are_not_reported_optimal(solver, gated):
    target = problem("squared", gated)
    stopped = solve(target, solver=solver, tol=TOL, max_iter=3)
    assert stopped.status == "max_iter"
    assert stopped.iterations == 3
    assert certify(stopped).relative_gap > TOL  # honest: it really is not optimal yet
    timed = solve(target, solver=solver, tol=TOL, time_limit=1e-9)
    assert timed.status == "time_limit"
    if not gated:  # even an early stop returns a point inside the cones
        assert cone_violation(target, stopped.V, stopped.W) <= 1e-10


def test_admm_out_of_time_keeps_the_groups_inside_their_cones(monkeypatch):
    # When the exact projection at the time limit is expected to overrun it (digits: 4.1 s at
    # a 5 s limit), ADMM zeroes the groups its truncated projection left outside their cones
    # instead: the point is still a network (no cone violation) and its certificate, computed
    # independently, is valid
    target = problem("squared")
    monkeypatch.setattr(admm.ConeProx, "exact_seconds", lambda self: float("inf"))
    stopped = admm.solve(target, tol=TOL, time_limit=0.05, check_every=1000)
    assert stopped.status == "time_limit"
    assert cone_violation(target, stopped.V, stopped.W) == 0.0
    certificate = certify(stopped)
    assert certificate.valid and certificate.lower_bound <= certificate.primal
    assert certificate.primal == pytest.approx(stopped.objective, rel=1e-12)


def test_admm_keeps_back_the_final_projections_time(monkeypatch):
    # ADMM stops iterating when the time left is what its final exact projection is expected
    # to take (here pretended 1.5 s of a 2 s limit), so it returns long before the limit with
    # its point projected exactly (nothing zeroed): without the reserve it iterates to 2 s
    target = problem("squared")
    monkeypatch.setattr(admm.ConeProx, "exact_seconds", lambda self: 1.5)
    stopped = admm.solve(target, tol=1e-12, time_limit=2.0, check_every=100_000)
    # (no check before the stop; the certificate there, polished, may meet even 1e-12)
    assert stopped.status in ("time_limit", "optimal")
    assert stopped.time < 1.2
    zero = np.zeros_like(stopped.V)
    assert stopped.objective < 0.9 * target.objective(zero, zero)  # not the zeroed groups
    assert cone_violation(target, stopped.V, stopped.W) <= 1e-10


@pytest.mark.parametrize("linear_solver", ["cg", "gram"])
def test_admm_linear_solver_paths_match_reference(linear_solver):
    # the Nyström-preconditioned CG and the parameter-space Gram factorization (what "auto"
    # takes for many samples) on a small problem, against the conic reference
    target = problem("squared")
    solution = admm.solve(target, tol=TOL, linear_solver=linear_solver, rank=10)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(reference("squared"), rel=TOL, abs=1e-12)


@pytest.mark.parametrize("threads", [1, 2])  # compiled LAPACK on one thread, torch's on two
@pytest.mark.parametrize("kind", [DirectSolver, GramSolver])
def test_linear_systems_solve_the_shifted_system(kind, threads):
    # (shift I + K) y = b against NumPy's dense solve, whichever factorization serves; 1e-10
    # relative: the shifted matrices here have condition numbers of at most ~1e3
    lifted = problem("squared").operators()
    system = kind(lifted)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        system.set_shift(0.3)
    finally:
        torch.set_num_threads(before)
    if kind is DirectSolver:
        A, b = lifted.kernel().numpy(), np.random.default_rng(1).standard_normal((lifted.n, 2))
        y = system(torch.as_tensor(b), None).numpy()
    else:  # the parameter-space system (F^T F + shift I) on the stacked variable
        A = system.gram.numpy()
        b = np.random.default_rng(1).standard_normal((A.shape[0], 2))
        y = solve_with_factor(system.factor, torch.as_tensor(b)).numpy()
    expected = np.linalg.solve(A + 0.3 * np.eye(A.shape[0]), b)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    assert np.allclose(np.triu(system.factor.numpy(), 1), 0)


def test_admm_auto_linear_solver_factors_the_smaller_matrix(monkeypatch):
    lifted = problem("squared").operators()
    n, size = lifted.n, lifted.d * lifted.Q
    assert n <= size  # this small problem: the n x n sample-space matrix is the smaller one
    assert isinstance(admm._linear_system(lifted, "auto", 10, 1e-10), DirectSolver)
    monkeypatch.setattr(admm, "DIRECT_MAX_SAMPLES", n - 1)  # too many samples to factor: CG
    assert isinstance(admm._linear_system(lifted, "auto", 10, 1e-10), NystromPCG)
    monkeypatch.undo()
    X = np.random.default_rng(0).standard_normal((size + 50, 2))
    y = np.maximum(X[:, 0], 0)
    many = ConvexProblem.build(X, y, beta=1e-3, n_patterns=5, seed=0)
    lifted = many.operators()
    assert lifted.d * lifted.Q < lifted.n
    assert isinstance(admm._linear_system(lifted, "auto", 10, 1e-10), GramSolver)
    with pytest.raises(ValueError, match="linear_solver must be 'auto', 'direct', 'gram' or"):
        admm.solve(many, linear_solver="lu")


def test_gradient_solvers_refuse_what_they_cannot_solve():
    with pytest.raises(ValueError, match="hinge"):
        proximal.solve(problem("hinge", gated=True))
    with pytest.raises(ValueError, match="hinge"):
        augmented_lagrangian.solve(problem("hinge"))
    with pytest.raises(ValueError, match="gated"):
        proximal.solve(problem("squared"))
    with pytest.raises(ValueError, match="gated"):
        augmented_lagrangian.solve(problem("squared", gated=True))
    with pytest.raises(ValueError, match="tol"):
        admm.solve(problem("squared"), tol=0)
    with pytest.raises(ValueError, match="warm_start"):
        admm.solve(problem("squared"), warm_start=solved("fista", "squared", True, False))


def test_float32_runs_and_returns_float64_arrays():
    solution = proximal.solve(problem("squared", gated=True), dtype=torch.float32, max_iter=50)
    assert solution.V.dtype == np.float64
    assert solution.status in ("optimal", "max_iter", "stalled")
    assert np.isfinite(solution.objective)


@pytest.mark.parametrize("block", [5, 128])
def test_cone_projections_are_exact(monkeypatch, block):
    # groups in blocks of 5 (three blocks, the last one short) or all in one; later rounds start
    # from the previous multipliers at moved points (warm starts whose passive sets shrink and
    # grow); the last round steps from those projections across constraint 0, so that it is
    # active in passive sets of different sizes; SciPy's NNLS is the independent reference (the cone
    # multipliers are the certificates' dual variables, so they are checked as well)
    monkeypatch.setattr(_torch, "CPU_BLOCK", block)
    rng = np.random.default_rng(1)
    n, d, groups = 40, 4, 12
    X = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])
    signs = np.sign(X @ rng.standard_normal((d, groups)))
    X_t, S_t = torch.as_tensor(X), torch.as_tensor(signs)
    projector = ConeProjector(X_t, S_t, 1)

    def check(V0):
        margins = S_t * (X_t @ torch.as_tensor(V0[:, :, 0]))
        projected = projector(torch.as_tensor(V0), torch.arange(groups), margins).numpy()
        for q in range(groups):
            B = X.T * signs[:, q]
            a, _ = nnls(B, -V0[:, q, 0])
            np.testing.assert_allclose(projected[:, q, 0], V0[:, q, 0] + B @ a, atol=1e-10)
            # the multipliers solve the same NNLS (not unique where the projection is 0):
            # non-negative, they reproduce the projection, and only active constraints carry them
            mult = projector.multipliers[:, q].numpy()
            assert mult.min() >= 0
            np.testing.assert_allclose(V0[:, q, 0] + B @ mult, projected[:, q, 0], atol=1e-10)
            assert np.abs(mult * (B.T @ projected[:, q, 0])).max() <= 1e-10
        return projected

    V0 = rng.standard_normal((d, groups, 1))
    check(V0)
    projected = check(V0 + 0.5 * rng.standard_normal(V0.shape))
    check(projected - 0.3 * (X[0][:, None] * signs[0])[:, :, None])


@pytest.mark.parametrize("loss, targets", [
    ("squared", "real"), ("hinge", "signs"), ("logistic", "signs"), ("cross_entropy", "onehot"),
])
@pytest.mark.parametrize("rho", [1e-4, 1e-1, 1e2])
def test_loss_proximal_operators_are_optimal(loss, targets, rho):
    rng = np.random.default_rng(2)
    n = 30
    V = torch.as_tensor(3 * rng.standard_normal((n, CLASSES if targets == "onehot" else 1)))
    Y = {"real": rng.standard_normal((n, 1)), "signs": np.sign(rng.standard_normal((n, 1))),
         "onehot": np.eye(CLASSES)[rng.integers(0, CLASSES, n)]}[targets]
    Y, weights = torch.as_tensor(Y), torch.as_tensor(rng.uniform(0.5, 2, n))
    loss_fn = get_loss(loss)
    Z = loss_fn.prox(V, Y, weights, rho)

    def objective(W):
        return float(loss_fn.value(W, Y, weights) + rho / 2 * ((W - V) ** 2).sum())

    # a minimizer of a strongly convex function: no random perturbation decreases it
    best = objective(Z)
    for _ in range(20):
        assert objective(Z + 1e-4 * torch.as_tensor(rng.standard_normal(V.shape))) >= best
    # started elsewhere (ADMM passes its previous prox), the same minimizer (to Newton's 1e-13
    # steps, times the conditioning 1 + 1/(n rho) of the problem)
    far = Z + torch.as_tensor(5 * rng.standard_normal(V.shape))
    torch.testing.assert_close(loss_fn.prox(V, Y, weights, rho, start=far), Z,
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_cross_entropy_prox_matches_the_batched_newton(dtype):
    # the CPU path (a compiled Newton loop per row) against the batched torch iteration that
    # GPUs run, on ADMM's step sizes (rho 1e-4: steps of 170 per sample) with and without a
    # start; both are Newton to steps of 1e-13 relative on a problem whose Hessian is >= I, so
    # they agree to ~1e-12 (float32 inputs: to the float32 rounding of the result)
    from convexnn.losses import get_loss

    loss = get_loss("cross_entropy")
    rng = np.random.default_rng(5)
    n, k = 60, 4
    V = torch.as_tensor(5 * rng.standard_normal((n, k)), dtype=dtype)
    Y = torch.as_tensor(np.eye(k)[rng.integers(0, k, n)], dtype=dtype)
    start = V + torch.as_tensor(rng.standard_normal((n, k)), dtype=dtype)
    atol = 1e-11 if dtype == torch.float64 else 1e-5
    for rho in (1e-4, 1e-2, 1.0):
        step = torch.full((n, 1), 1 / (n * rho), dtype=dtype)
        for guess in (None, start):
            as64 = [None if T is None else T.double() for T in (V, Y, step, guess)]
            batched = loss._prox_rows(*as64).to(dtype)
            torch.testing.assert_close(loss._prox_elementwise(V, Y, step, guess), batched,
                                       rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_anderson_acceleration_finds_the_same_fixed_point_faster(kind):
    # a contractive affine map x <- M x + b with spectral radius 0.95: the plain iteration needs
    # 461 steps for 1e-10 (Anderson with memory 5: 148); the fixed point is solve(I - M, b),
    # computed independently. The points are NumPy arrays (ADMM on the CPU) or tensors
    from convexnn.solvers._anderson import Anderson

    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    M = Q @ np.diag(np.linspace(-0.95, 0.95, 30)) @ Q.T
    b = rng.standard_normal(30)
    fixed = np.linalg.solve(np.eye(30) - M, b)
    if kind == "torch":
        M, b = torch.as_tensor(M), torch.as_tensor(b)

    def iterations(memory):
        accelerator, x = Anderson(memory) if memory else None, b * 0
        for it in range(1, 2000):
            gx = M @ x + b
            if np.linalg.norm(np.asarray(gx) - fixed) <= 1e-10:
                return it
            x = gx if accelerator is None else accelerator(x, gx)[0]
            assert type(x) is type(b)
        return it

    plain, accelerated = iterations(0), iterations(5)
    assert accelerated < plain / 3


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_anderson_keeps_the_points_dtype(kind):
    # its small system is solved in float64; a float32 run's points stay float32 (a float64
    # candidate broke float32 ADMM's products)
    from convexnn.solvers._anderson import Anderson

    accelerator = Anderson(3)
    x = np.arange(4, dtype=np.float32)
    x = torch.from_numpy(x) if kind == "torch" else x
    for _ in range(4):
        x = accelerator(x, 0.5 * x + 1)[0]
        assert x.dtype == (torch.float32 if kind == "torch" else np.float32)


def test_anderson_rejects_an_extrapolation_that_increases_the_residual():
    from convexnn.solvers._anderson import Anderson

    accelerator = Anderson(2)
    x0, x1 = torch.tensor([0.0]), torch.tensor([1.0])
    assert accelerator(x0, x1)[0] is x1  # one pair: nothing to combine yet
    candidate, rejected = accelerator(x1, torch.tensor([1.5]))
    assert not rejected and candidate is not None
    # pretend the map jumps away at the candidate: its residual (10) exceeds the previous (0.5)
    fallback, rejected = accelerator(candidate, candidate + 10)
    assert rejected and float(fallback) == 1.5 and accelerator.size == 0


@pytest.mark.parametrize("loss, multiclass", [("squared", False), ("squared", True),
                                             ("cross_entropy", True), ("hinge", False),
                                             ("logistic", False)])
def test_admm_compiled_iteration_follows_the_torch_steps(loss, multiclass):
    # the fused plain iteration (solvers/_fused.py) against ADMM's own torch steps from the same
    # iterate, twenty iterations each way, with a change of penalties in between (a new shift of
    # the linear system): the same arithmetic in another order, so the iterates agree to
    # rounding (1e-12 relative; they drift apart only through the truncated projections' active
    # sets, which rounding does not flip here). The affine loss prox (squared) is compiled; the
    # others are the loss's own, started where the torch steps start them
    def run():
        run = admm._ADMM(problem(loss, multiclass=multiclass), tol=TOL,
                         limits=(100, None, False), device="cpu", dtype=torch.float64,
                         relaxation=1.6, linear_solver="auto", rank=200, cg_rtol=1e-10,
                         cone_tol=1e-10, anderson=0)
        return run, run.start(None, None, 1.0)

    with one_torch_thread():  # several outputs are compiled only on one thread
        (fused, s), (plain, t) = run(), run()
    assert fused.fused is not None
    plain.fused = None
    for it in range(20):
        if it == 10:
            for r, state in ((fused, s), (plain, t)):
                state.rho_p *= 4
                r.system.set_shift(state.rho_p / state.rho_z)
        U, FU = fused.fused(s)
        V, FV = plain.u_step(t)
        plain.prox_steps(t, V, FV, it, checking=False, final=False)
        for a, b in zip((U, FU, *s.variables()), (V, FV, *t.variables()), strict=True):
            assert a.shape == b.shape
            scale = max(float(b.abs().max()), 1e-300)
            assert float((a - b).abs().max()) <= 1e-12 * scale
    assert float(s.p.abs().max()) > 0  # not a trivial run: some groups are nonzero


@pytest.mark.parametrize("case", ["gated", "float32", "cg", "outputs on two threads",
                                  "outputs, many rows"])
def test_admm_compiled_iteration_serves_only_its_case(case, monkeypatch):
    # program (8), float64, the direct system; several outputs only on one thread and for
    # small n^2 k; anything else runs the torch steps (and still reaches the reference: the
    # CASES above)
    from convexnn.solvers import _fused

    outputs = case.startswith("outputs")
    prob = problem("squared", gated=case == "gated", multiclass=outputs)
    if case == "outputs, many rows":  # one entry n^2 k too many
        n, _, _, k = prob.shape
        monkeypatch.setattr(_fused, "MAX_SUBSTITUTION_ENTRIES", n * n * k - 1)

    def run():
        return admm._ADMM(prob, tol=TOL, limits=(100, None, False), device="cpu",
                          dtype=torch.float32 if case == "float32" else torch.float64,
                          relaxation=1.6, linear_solver="cg" if case == "cg" else "auto",
                          rank=20, cg_rtol=1e-10, cone_tol=1e-10, anderson=0)

    if case == "outputs on two threads":
        before = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            assert run().fused is None
        finally:
            torch.set_num_threads(before)
        with one_torch_thread():
            assert run().fused is not None
        return
    with one_torch_thread():
        assert run().fused is None


def test_cone_prox_times_its_calls_from_the_second_on():
    # the first call of each kind may load or compile the kernels: it does not set the time an
    # exact prox is expected to take (the reserve a time limit keeps back)
    run = admm._ADMM(problem("squared"), tol=TOL, limits=(100, None, False), device="cpu",
                     dtype=torch.float64, relaxation=1.6, linear_solver="auto", rank=200,
                     cg_rtol=1e-10, cone_tol=1e-10, anderson=0)
    prox, V = run.prox_p, torch.ones(run.lifted.d, run.lifted.Q, 1, dtype=torch.float64)
    prox(V, 1e-3, exact=False)
    assert prox.exact_seconds() == 0.0
    prox(V, 1e-3, exact=False)
    truncated = prox.exact_seconds()
    assert truncated > 0
    prox(V, 1e-3)
    assert prox.exact_seconds() == truncated  # one exact call: still the truncated estimate
    prox(V, 1e-3)
    assert prox.exact_seconds() == prox.seconds[True] > 0


def test_squared_loss_affine_prox_is_its_prox():
    rng = np.random.default_rng(1)
    Y, V = (torch.as_tensor(rng.standard_normal((7, 2))) for _ in range(2))
    weights = torch.as_tensor(rng.uniform(0, 2, 7))
    scale, offset = get_loss("squared").affine_prox(Y, weights, 0.3)
    # the prox by its definition: argmin_z w_j / (2 n) (z - y)^2 + rho / 2 (z - v)^2
    step = weights[:, None] / (7 * 0.3)
    np.testing.assert_allclose(scale * V + offset, (V + step * Y) / (1 + step), rtol=1e-14)
    np.testing.assert_allclose(scale * V + offset, get_loss("squared").prox(V, Y, weights, 0.3),
                               rtol=1e-14)
    for name in ("hinge", "logistic", "cross_entropy"):
        assert get_loss(name).affine_prox(Y, weights, 0.3) is None


@pytest.mark.parametrize("anderson", [0, 5])
def test_admm_with_and_without_anderson_acceleration_reach_the_reference(anderson):
    solution = admm.solve(problem("squared"), tol=TOL, anderson=anderson)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(reference("squared"), rel=TOL, abs=1e-12)
    with pytest.raises(ValueError, match="anderson"):
        admm.solve(problem("squared"), anderson=-1)


def test_admm_skips_exact_checks_far_from_the_target_and_still_certifies(capsys):
    # far from the optimum a check only estimates its gap (no exact projections); the run must
    # still end at a certified point equal to the conic reference, and every check it recorded
    # must be a certified one (a point inside the cones)
    solution = admm.solve(problem("squared"), tol=TOL, verbose=True)
    printed = capsys.readouterr().out
    assert "not certified yet" in printed
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(reference("squared"), rel=TOL, abs=1e-12)
    recorded = [line for line in printed.splitlines() if " objective " in line]
    assert len(recorded) == len(solution.history["gap"]) >= 1
    assert max(solution.history["cone_violation"]) <= 1e-10


@pytest.mark.parametrize("scale", [1e-8, 1e8])
@pytest.mark.parametrize("solver", ["conic", "admm"])
def test_targets_of_extreme_scale_solve_as_the_rescaled_program(scale, solver):
    # program (8) with the squared loss is homogeneous: (s Y, s beta) has solution s V and
    # objective s^2 p*; before the fix, y * 1e8 failed in Clarabel and y * 1e-8 returned a point
    # 600x above the optimum with status optimal. Reference: Clarabel on the unit-scale program.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.sin(X[:, 0]) + X[:, 1]
    build = {"patterns": "sampled", "n_patterns": 30, "seed": 0}
    reference = solve(ConvexProblem.build(X, y, beta=1e-3, **build), "conic")
    problem = ConvexProblem.build(X, scale * y, beta=1e-3 * scale, **build)
    solution = solve(problem, solver)
    assert solution.status == "optimal"
    # ADMM certifies 1e-6 relative, Clarabel 1e-9
    assert solution.objective / scale**2 == pytest.approx(reference.objective, rel=2e-6)
    assert certify(solution).relative_gap < 2e-6


@pytest.mark.parametrize("entries_limit, inside", [(10**12, 1), (1, 3)])
def test_small_first_order_solves_run_torch_on_one_thread(monkeypatch, entries_limit, inside):
    # a second torch thread made small ADMM solves up to 1.9x slower (convexnn._threads); the
    # caller's count is restored afterwards, and large programs keep it
    import convexnn.solvers as solvers_module

    seen = []
    monkeypatch.setattr(admm, "solve", lambda problem, **options: seen.append(
        torch.get_num_threads()) or "solved")
    monkeypatch.setattr(solvers_module, "ONE_THREAD_MAX_ENTRIES", entries_limit)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        assert solvers_module.solve(problem("squared"), "admm") == "solved"
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert seen == [inside] and after == 3


@pytest.mark.parametrize("scale", [1.0, 1e6])
def test_admm_reports_each_check_with_the_dual_of_the_program_asked(scale):
    # on_check sees every certificate check; its last dual is the solution's, in the units of
    # the program given (targets of scale 1e6 are solved rescaled; Lam scales with the targets)
    X, y = raw_data("squared")
    problem = ConvexProblem.build(X, scale * y, beta=scale * 1e-2, patterns="sampled",
                                  n_patterns=12, seed=1)
    seen = []
    solution = solve(problem, "admm", tol=1e-6, on_check=lambda gap, Lam: seen.append(
        (gap, Lam.detach().clone().numpy())))
    assert solution.status == "optimal" and len(seen) >= 2
    assert all(Lam.shape == (X.shape[0], 1) for _, Lam in seen)
    assert seen[-1][0] <= 1e-6
    np.testing.assert_allclose(seen[-1][1], solution.dual, rtol=1e-9, atol=1e-12 * scale)
    with pytest.raises(TypeError, match="on_check must be callable"):
        solve(problem, "admm", on_check=1)
