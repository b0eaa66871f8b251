"""Euclidean projections onto the pattern cones ``K_q = {v : S_q * (X v) >= 0}``, batched.

The low-level kernels shared by the solvers (ADMM's projections, the augmented Lagrangian's
polish, screening), the separation oracle and the certificates. This package imports nothing
from the rest of ``convexnn`` (only torch, NumPy, SciPy and numba), so that any module may use
it without an import cycle.

* :class:`ConeProjector` (:mod:`._torch`): batched Lawson-Hanson in torch, for GPUs;
* :class:`CompiledConeProjector` (:mod:`._compiled`): the same per group in compiled loops
  (numba), each group's Cholesky factor kept between calls; imported on first use;
* :func:`make_cone_projector`: the one for a device and dtype;
* :func:`project_onto_cones`: a solver's iterate with its violating groups projected;
* :func:`cone_maxima`: ``max_{v in K_q, ||v|| <= 1} <g, v>`` for many groups at once, the dual
  constraint of program (8);
* :func:`nnls` (:mod:`._nnls`): one dense non-negative least squares (Lawson & Hanson), the
  projectors' last resort and the library's single-problem NNLS.
"""

from __future__ import annotations

from ._nnls import nnls
from ._projections import cone_maxima, make_cone_projector, project_onto_cones
from ._torch import ConeProjector

__all__ = ["CompiledConeProjector", "ConeProjector", "cone_maxima", "make_cone_projector", "nnls",
           "project_onto_cones"]


def __getattr__(name: str):
    # the compiled projector imports numba (0.2-0.4 s, measured) only when it is first asked for
    if name == "CompiledConeProjector":
        from ._compiled import CompiledConeProjector

        return CompiledConeProjector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
