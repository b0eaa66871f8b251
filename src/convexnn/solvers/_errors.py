"""The solvers' own exception (its module imports nothing, so catching it costs no import)."""

from __future__ import annotations

__all__ = ["ConicSolverError"]


class ConicSolverError(RuntimeError):
    """The interior-point solver failed on a program (numerical trouble, not an input error).

    ``solvers.solve(..., "auto")`` and the neuron search fall back to ADMM on it."""
