"""Solvers of program (8): one module per algorithm, one ``solve(problem, ...)`` signature."""

from . import conic

__all__ = ["conic", "solve"]


def solve(problem, solver: str = "conic", **options):
    """Solve ``problem`` with the named solver; see each solver module for its options."""
    registry = {"conic": conic.solve}
    if solver not in registry:
        raise ValueError(f"solver must be one of {sorted(registry)}; got {solver!r}")
    return registry[solver](problem, **options)
