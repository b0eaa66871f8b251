"""Solvers of program (8): one module per algorithm, one ``solve(problem, ...)`` signature.

Every solver takes a :class:`~convexnn.problem.ConvexProblem` and returns a
:class:`~convexnn.solution.ConvexSolution`; they know nothing of networks or scikit-learn.
"""

from __future__ import annotations

from importlib import import_module

from .._sharding import PROCESS_GROUP
from .._validation import check_instance
from ..problem import ConvexProblem

__all__ = ["SOLVERS", "resolve_solver", "solve"]

#: solver name -> module in this package defining ``solve(problem, **options)``
SOLVERS = {
    "conic": "conic",
    "fista": "proximal",
    "augmented_lagrangian": "augmented_lagrangian",
    "admm": "admm",
}

#: above this many variables (2 d P k) a problem goes to a first-order solver: there the conic
#: solver's time grows ~cubically (breast_cancer with 100 patterns, 6200 variables: ~100 s for
#: Clarabel against ~5 s for ADMM to a certified 1e-4, benchmarks/bench_exact.py)
CONIC_MAX_VARIABLES = 4_000


def _available(name: str) -> bool:
    try:
        import_module(f".{SOLVERS[name]}", __name__)
    except ModuleNotFoundError:
        return False
    return True


def resolve_solver(problem, solver: str = "auto") -> str:
    """The solver ``"auto"`` stands for.

    The conic reference (interior point, exact to 1e-9) for problems of at most
    ``CONIC_MAX_VARIABLES`` variables; above that, ADMM (certified, any loss, program (8) and the
    gated relaxation), or FISTA for a gated relaxation if ADMM is unavailable.
    """
    check_instance(problem, ConvexProblem, "problem", " (make one with ConvexProblem.build)")
    if solver != "auto":
        if not isinstance(solver, str) or solver not in SOLVERS:
            raise ValueError(f"solver must be 'auto' or one of {sorted(SOLVERS)}; got {solver!r}")
        return solver
    n, d, P, k = problem.shape
    if 2 * d * P * k <= CONIC_MAX_VARIABLES:
        return "conic"
    candidates = ("admm", "fista") if problem.gated else ("admm",)
    return next((name for name in candidates if _available(name)), "conic")


def solve(problem, solver: str = "auto", **options):
    """Solve ``problem`` with the named solver (see each solver module for its options).

    Inside :func:`convexnn.distributed.activate` the samples are split across its processes.
    """
    name = resolve_solver(problem, solver)
    if PROCESS_GROUP.get() is not None:
        from ..distributed import solve as solve_distributed

        return solve_distributed(problem, name, **options)
    module = import_module(f".{SOLVERS[name]}", __name__)
    return module.solve(problem, **options)
