"""Reference solver: program (8) and its dual SOCP (7) through CVXPY + Clarabel.

Exact to interior-point accuracy; the cost grows cubically, so use it for problems up to a few
thousand variables (2 d P k). Written to read like the programs of Pilanci & Ergen (ICML 2020):
program (8), and its dual with one pair of second-order-cone constraints per pattern, by conic
duality, for any convex loss (Ergen & Pilanci, JMLR 2021, Theorem 13).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace

import cvxpy as cp
import numpy as np
import torch

from ..problem import ConvexProblem
from ..solution import ConvexSolution
from ._common import as_numpy, prune
from ._errors import ConicSolverError

__all__ = ["ACCURATE", "ConicSolverError", "DualSolution", "solve", "solve_dual",
           "solve_program"]

#: Clarabel tolerances for reference solutions (its defaults are 1e-8; 1e-10 often ends in
#: "almost solved" on these degenerate programs, whose optimal faces are not single points)
ACCURATE = {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9, "max_iter": 500}


def solve_program(prob: cp.Problem, name: str, *, solver: str = "CLARABEL",
                  verbose: bool = False, allow_limit: bool = False,
                  **options) -> tuple[str, float]:
    """Solve a CVXPY program with the reference tolerances; return ``(status, seconds)``.

    ``status`` is ``"optimal"`` or ``"inaccurate"`` (CVXPY's "optimal_inaccurate"); with
    ``allow_limit``, also ``"max_iter"`` or ``"time_limit"`` when the solver stopped at the
    ``max_iter`` or ``time_limit`` option with a (not optimal) point.

    Raises
    ------
    ConicSolverError
        Naming the program ``name`` when the solver fails or ends in any other status
        (infeasible, unbounded, iteration limit...).
    """
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # CVXPY's "Solution may be inaccurate" warning: the status says it ("inaccurate"),
            # and solve() then checks the point with the certificate, which often clears it
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            prob.solve(solver=solver, verbose=verbose, **{**ACCURATE, **options})
    except cp.SolverError as exc:
        raise ConicSolverError(
            f"the conic solver {solver} failed on {name}: {exc} (badly scaled data is the "
            "usual cause: standardize the features)"
        ) from exc
    elapsed = time.perf_counter() - start
    if allow_limit and prob.status == cp.USER_LIMIT:
        limit = options.get("time_limit")
        return ("time_limit" if limit is not None and elapsed >= limit else "max_iter"), elapsed
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        # these programs are feasible and bounded: any other status is numerical trouble
        raise ConicSolverError(
            f"the conic solver {solver} failed on {name}: CVXPY status {prob.status!r} "
            "(numerical trouble; badly scaled or ill-conditioned data is the usual cause: "
            "standardize the features or rescale beta)"
        )
    return ("optimal" if prob.status == cp.OPTIMAL else "inaccurate"), elapsed


def solve(problem: ConvexProblem, *, solver: str = "CLARABEL", verbose: bool = False,
          **options) -> ConvexSolution:
    """Solve program (8) (or the gated relaxation) to interior-point accuracy.

    Parameters
    ----------
    problem : ConvexProblem
    solver : str, default="CLARABEL"
        Any CVXPY conic solver that handles SOCP (and exponential cones for logistic and
        cross-entropy losses).
    verbose : bool
        Print the solver's log.
    **options
        Passed to the solver (Clarabel: ``tol_gap_rel``, ``max_iter``...).

    Returns
    -------
    ConvexSolution
        With ``dual`` set to ``Lam = grad L(Z*)``, the dual variable of ``Z = prediction``.
        ``status`` is Clarabel's, except that an "optimal_inaccurate" point is checked by
        :func:`convexnn.certify`: ``"optimal"`` when its certified relative gap is at most
        ``max(tol_gap_rel, VERIFIED_GAP)`` and its cone violation at most
        ``max(tol_feas, VERIFIED_CONE)``, else ``"inaccurate"``, with the certified numbers in
        ``reason`` either way.
    """
    _check_one_row_per_sample(problem)
    n, d, P, k = problem.shape
    X, Y, D = problem.X, problem.Y, problem.patterns.D.astype(float)
    S = 2 * D - 1  # (2 D_i - I) for all i, as columns
    beta = problem.beta

    V = [cp.Variable((d, P)) for _ in range(k)]
    W = [] if problem.gated else [cp.Variable((d, P)) for _ in range(k)]
    Z = cp.Variable((n, k))
    # prediction sum_i D_i X (v_i - w_i), one column per output
    groups = V if problem.gated else [v - w for v, w in zip(V, W, strict=True)]
    prediction = cp.hstack([cp.reshape(cp.sum(cp.multiply(D, X @ u), axis=1), (n, 1),
                                       order="C") for u in groups])
    link = Z == prediction
    constraints = [link]
    if not problem.gated:  # cone constraints (2 D_i - I) X v_i >= 0, (2 D_i - I) X w_i >= 0
        constraints += [cp.multiply(S, X @ block) >= 0 for block in V + W]
    penalty = sum(cp.sum(cp.norm(block, 2, axis=0)) for block in V + W)
    objective = problem.loss.cvxpy(Z, Y, problem.sample_weight) + beta * penalty
    prob = cp.Problem(cp.Minimize(objective), constraints)

    status, elapsed = solve_program(prob, "program (8)", solver=solver, verbose=verbose,
                                    allow_limit=True, **options)

    def stack(blocks):
        return np.stack([b.value for b in blocks], axis=-1)

    V_val, W_val = _polish(problem, stack(V), None if problem.gated else stack(W))
    # CVXPY's multiplier y of "Z == prediction" enters its Lagrangian as +y^T (Z - prediction),
    # so stationarity in Z gives y = -grad L(Z*); the dual point is Lam = -y (checked in tests).
    solution = ConvexSolution(
        problem=problem,
        V=V_val,
        W=W_val,
        objective=problem.objective(V_val, W_val),
        dual=-np.asarray(link.dual_value, dtype=float).reshape(n, k),
        status=status,
        solver=f"conic-{solver.lower()}",
        iterations=int(prob.solver_stats.num_iters or 0),
        time=elapsed,
        history={"objective": [float(prob.value)], "time": [elapsed]},
    )
    return _verify_inaccurate(solution, options) if status == "inaccurate" else solution


#: an "optimal_inaccurate" point whose independent certificate reaches this relative gap (or
#: the requested ``tol_gap_rel`` when looser) is optimal: the default ``tol`` of the first-order
#: solvers, and what Clarabel's "optimal" points certify at (1e-9 to 4e-7 measured: the
#: certificate's dual candidate is the loss gradient at the polished point)
VERIFIED_GAP = 1e-6
#: ... with cone violations below this (or ``tol_feas`` when looser): the estimators' bound for
#: a network that reproduces the convex model; Clarabel's polished optimal points have ~1e-11
VERIFIED_CONE = 1e-8


def _verify_inaccurate(solution: ConvexSolution, options: dict) -> ConvexSolution:
    """The ``solution`` of an "optimal_inaccurate" solve, checked by :func:`convexnn.certify`:
    ``"optimal"`` when its certified gap and cone violation meet the tolerances, else still
    ``"inaccurate"``; either way the reason gives the certified numbers.

    Clarabel's "almost solved" only says its own residuals met reduced tolerances; on small
    cross-entropy programs it ends so for points the certificate verifies to 1e-7 (and for
    others 3e-4 off), so the certificate decides.
    """
    from ..certificates import certify  # certificates build on solutions: imported when needed

    gap_tol = max(float(options.get("tol_gap_rel", ACCURATE["tol_gap_rel"])), VERIFIED_GAP)
    cone_tol = max(float(options.get("tol_feas", ACCURATE["tol_feas"])), VERIFIED_CONE)
    certificate = certify(solution)
    checked = (f"the independent certificate gives relative gap "
               f"{certificate.relative_gap:.2e} and cone violation "
               f"{certificate.cone_violation:.1e} (tolerances {gap_tol:.0e} and {cone_tol:.0e})")
    head = (f"{solution.solver} reported reduced accuracy ('optimal_inaccurate') after "
            f"{solution.iterations} iterations")
    if certificate.relative_gap <= gap_tol and certificate.cone_violation <= cone_tol:
        return replace(solution, status="optimal", reason=f"{head}, but {checked}: optimal")
    return replace(solution, reason=f"{head}, and {checked}: not certified optimal (badly scaled "
                                    "or ill-conditioned data is the usual cause)")


def _polish(problem: ConvexProblem, V: np.ndarray, W: np.ndarray | None):
    """Zero the negligible groups of an interior-point point (as the first-order solvers do):
    ``TwoLayerReLU.from_convex`` drops them, so afterwards the network reproduces the convex
    predictions up to the cone violations (<= 6e-9 measured on unit-scale data). Projecting them
    away would remove those too, but lands cone-active samples exactly on their hyperplanes, where
    the stationary-subgradient candidate of ``certify_network`` for hinge networks degrades
    (measured: 3% -> 18% relative gap on tests/test_certificates.py's hinge case)."""
    lifted = problem.operators()
    U = prune(torch.as_tensor(V if W is None else np.concatenate([V, W], axis=1)))
    V, W = lifted.split(U)
    return as_numpy(V), None if W is None else as_numpy(W)


def _check_one_row_per_sample(problem: ConvexProblem) -> None:
    """The programs here are written for one row of ``X`` per sample."""
    if problem.rows_per_sample != 1:
        raise ValueError(
            f"the conic solver writes program (8) with one row of X per sample; this program "
            f"sums {problem.rows_per_sample} rows per sample (a convolutional program: solve "
            f"it with convexnn.architectures.solve_conv_relu, or solver='admm')")


@dataclass
class DualSolution:
    """Optimum of the dual SOCP (7): ``Lam`` (n, k) and the dual value ``-L*(Lam)``."""

    Lam: np.ndarray
    value: float
    status: str
    time: float


def solve_dual(problem: ConvexProblem, *, solver: str = "CLARABEL", verbose: bool = False,
               **options) -> DualSolution:
    """Solve the finite dual SOCP (7) of program (8) for any loss::

        max_Lam  -L*(Lam)
        s.t.     || -X^T D_i lam_c + X^T (2 D_i - I) a_ic ||_2 <= beta,   a_ic >= 0
                 ||  X^T D_i lam_c + X^T (2 D_i - I) b_ic ||_2 <= beta,   b_ic >= 0

    for every pattern ``i`` and output ``c`` (gated relaxation: ``||X^T D_i lam_c|| <= beta``).
    Here ``Lam`` is the gradient of the loss at the primal optimum; for the squared loss with
    ``Lam = -v / n`` this is the dual of Pilanci & Ergen (ICML 2020) in their variable ``v``.
    Only samples of positive weight enter.
    """
    _check_one_row_per_sample(problem)
    n, d, P, k = problem.shape
    X, Y, D = problem.X, problem.Y, problem.patterns.D.astype(float)
    S = 2 * D - 1
    beta, w = problem.beta, problem.sample_weight
    active = w > 0

    Lam = cp.Variable((n, k))
    conj, constraints = problem.loss.conjugate_cvxpy(Lam[active], Y[active], w[active])
    if not np.all(active):
        constraints.append(Lam[~active] == 0)
    for c in range(k):
        G = X.T @ cp.multiply(D, cp.reshape(Lam[:, c], (n, 1), order="C"))  # (d, P): X^T D_i lam
        if problem.gated:
            constraints.append(cp.norm(G, 2, axis=0) <= beta)
            continue
        for sign in (-1.0, 1.0):
            A = cp.Variable((n, P), nonneg=True)
            constraints.append(cp.norm(sign * G + X.T @ cp.multiply(S, A), 2, axis=0) <= beta)
    prob = cp.Problem(cp.Maximize(-conj), constraints)

    status, elapsed = solve_program(prob, "the dual SOCP (7)", solver=solver, verbose=verbose,
                                    **options)
    return DualSolution(Lam=np.asarray(Lam.value, float), value=float(prob.value),
                        status=status, time=elapsed)
