"""Running the architectures' CVXPY programs with the core's reference tolerances."""

from __future__ import annotations

import time

import cvxpy as cp

from ..solvers.conic import ACCURATE


def solve_program(prob: cp.Problem, name: str, *, solver: str = "CLARABEL",
                  verbose: bool = False, **options) -> tuple[str, float]:
    """Solve ``prob``; return ``(status, seconds)`` with status ``"optimal"`` or ``"inaccurate"``.

    Raises
    ------
    RuntimeError
        Naming the program ``name`` when the solver fails or ends in another status.
    """
    start = time.perf_counter()
    try:
        prob.solve(solver=solver, verbose=verbose, **{**ACCURATE, **options})
    except cp.SolverError as exc:
        raise RuntimeError(f"the conic solver {solver} failed on {name}: {exc}") from exc
    elapsed = time.perf_counter() - start
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"the conic solver failed on {name}: status {prob.status!r}")
    return ("optimal" if prob.status == cp.OPTIMAL else "inaccurate"), elapsed
