"""Solvers of program (8): one module per algorithm, one ``solve(problem, ...)`` signature.

Every solver takes a :class:`~convexnn.problem.ConvexProblem` and returns a
:class:`~convexnn.solution.ConvexSolution`; they know nothing of networks or scikit-learn.
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["SOLVERS", "resolve_solver", "solve"]

#: solver name -> module in this package defining ``solve(problem, **options)``
SOLVERS = {
    "conic": "conic",
    "fista": "proximal",
    "augmented_lagrangian": "augmented_lagrangian",
    "admm": "admm",
}

#: above this many variables (2 d P k) a gated problem goes to a first-order solver
CONIC_MAX_VARIABLES = 4_000


def _available(name: str) -> bool:
    try:
        import_module(f".{SOLVERS[name]}", __name__)
    except ModuleNotFoundError:
        return False
    return True


def resolve_solver(problem, solver: str = "auto") -> str:
    """The solver ``"auto"`` stands for.

    The conic reference for program (8) and for small gated problems; a first-order solver
    (``admm``, else ``fista``) for larger gated relaxations.
    """
    if solver != "auto":
        if solver not in SOLVERS:
            raise ValueError(f"solver must be 'auto' or one of {sorted(SOLVERS)}; got {solver!r}")
        return solver
    n, d, P, k = problem.shape
    if 2 * d * P * k <= CONIC_MAX_VARIABLES or not problem.gated:
        # the first-order solvers of the cone-constrained program do not yet reach certified
        # gaps reliably (issue 3), so exact programs stay on the reference solver
        return "conic"
    return next((name for name in ("admm", "fista") if _available(name)), "conic")


def solve(problem, solver: str = "auto", **options):
    """Solve ``problem`` with the named solver (see each solver module for its options)."""
    name = resolve_solver(problem, solver)
    module = import_module(f".{SOLVERS[name]}", __name__)
    return module.solve(problem, **options)
