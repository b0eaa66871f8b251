"""The projector for a device and dtype, and what the package computes with it.

* :func:`make_cone_projector` picks the compiled CPU projector (:mod:`._compiled`) or the
  batched torch one (:mod:`._torch`);
* :func:`project_onto_cones` is the exact polish of a solver's nearly feasible iterate;
* :func:`cone_maxima` is the dual constraint of many groups at once, for the certificates, the
  separation oracle's pricing and gap-safe screening.
"""

from __future__ import annotations

import torch

from ._torch import ConeProjector

__all__ = ["cone_maxima", "make_cone_projector", "project_onto_cones"]

#: whether :func:`make_cone_projector` may return the compiled CPU projector
COMPILED = True
#: largest factor store (bytes, zero-allocated) of a compiled projector; beyond, torch's
COMPILED_MAX_BYTES = 2**32
#: most entries of the (n x groups) signs and margins :func:`cone_maxima` holds at once (its
#: groups go in blocks of ``MAX_ENTRIES // n``)
MAX_ENTRIES = 2**24


def make_cone_projector(X: torch.Tensor, signs: torch.Tensor, k: int):
    """The projector onto the pattern cones for ``X``'s device and dtype.

    CPU tensors in float32 or float64 get :class:`._compiled.CompiledConeProjector` (one
    compiled loop per group, each group's Cholesky factor kept across calls: the batched torch
    steps are launch-bound on the CPU) when numba is importable and its factor store fits
    ``COMPILED_MAX_BYTES``; GPUs, other dtypes and installs without numba get
    :class:`._torch.ConeProjector`.
    """
    if COMPILED and X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64):
        try:
            from ._compiled import CompiledConeProjector
        except ImportError:
            pass
        else:
            if CompiledConeProjector.store_bytes(*X.shape, signs.shape[1] * k) \
                    <= COMPILED_MAX_BYTES:
                return CompiledConeProjector(X, signs, k)
    return ConeProjector(X, signs, k)


def project_onto_cones(lifted, U: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``U`` (d, 2P, k) with every group that violates its cone replaced by its projection.

    The exact polish of a nearly feasible iterate: each violating group moves by the distance to
    its cone, after which the point satisfies the cones to rounding and its objective is an
    honest upper bound of the optimum. ``lifted`` is a solver's lifted program (its ``X``,
    cone signs ``sign`` (n, 2P) and ``n``); ``pre`` are the pre-activations ``X U``.
    """
    n = lifted.n
    projector = make_cone_projector(lifted.X, lifted.sign, U.shape[2])
    margins = (lifted.sign[:, :, None] * pre).reshape(n, -1)
    return projector(U, torch.nonzero((margins < 0).any(dim=0)).squeeze(1), margins)


def cone_maxima(X: torch.Tensor, G: torch.Tensor, signs: torch.Tensor,
                columns: torch.Tensor | None = None) -> torch.Tensor:
    """``max_{v in K_q, ||v|| <= 1} <g_qc, v>`` for the groups of ``G``: ``||P_{K_q} g_qc||``.

    ``K_q = {v : S_q * (X v) >= 0}`` is the cone of pattern ``q`` (``S_q = 2 D_q - 1``). By
    conic duality (the step from which Pilanci & Ergen derive program (8)) the maximum is the
    norm of the projection of ``g`` onto ``K_q``, and by Moreau's decomposition

        ||P_K g|| = min_{a >= 0} ||g + B a||,      B = X^T diag(S_q).

    Groups with ``S_q * (X g) >= 0`` are in their cone and cost one norm; the others are
    projected together by :func:`make_cone_projector`'s projector, run to completion (exact
    projections: Lawson-Hanson until no constraint is violated beyond the projector's relative
    precision, the dense NNLS (:func:`convexnn.cones.nnls`) for the groups still unfinished
    after ``max_steps``; never the truncated steps ADMM takes between its checks), so the
    values are the maxima to rounding.

    **Why the values are safe upper bounds.** Both projectors return ``g + B a`` for multipliers
    ``a >= 0`` (Lawson-Hanson's iterates stay non-negative, and so do the dense NNLS's). For *any*
    ``a >= 0``, ``||g + B a||`` is at least the minimum above, i.e. at least the true maximum: an
    inexact projection (a stopping tolerance, rounding in the factors) can only overestimate a
    group's dual constraint. A certificate that scales its dual candidate by ``beta / max`` is
    then at most more conservative (a smaller scale), never infeasible; a screening test
    compares a value that is too large, so it screens less, never a group it may not.

    Parameters
    ----------
    X : Tensor of shape (n, d)
    G : Tensor of shape (d, Q, k)
        The vectors ``g_qc``; groups are ``(q, c)``, flattened to ``q k + c``.
    signs : Tensor of shape (n, Q)
        ``S_q`` per pattern (the column ``q`` is shared by the ``k`` outputs).
    columns : LongTensor of shape (m,), optional
        The flattened groups to compute; all by default. They go in blocks of
        ``MAX_ENTRIES // n`` groups, one projector each.

    Returns
    -------
    Tensor of shape (Q, k), or (m,) with ``columns``
        In ``X``'s dtype and on its device.
    """
    d, Q, k = G.shape
    flat = G.reshape(d, Q * k)
    if columns is None:
        columns = torch.arange(Q * k, device=G.device)
        whole = True
    else:
        columns = torch.as_tensor(columns, dtype=torch.long, device=G.device)
        whole = False
    block = max(1, MAX_ENTRIES // max(X.shape[0], 1))
    parts = [_maxima(X, flat[:, part], signs[:, torch.div(part, k, rounding_mode="floor")])
             for part in columns.split(block)]
    values = torch.cat(parts) if parts else flat.new_zeros(0)
    return values.reshape(Q, k) if whole else values


def _maxima(X: torch.Tensor, V: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """:func:`cone_maxima` of the columns of ``V`` (d, m), column ``j`` with signs ``S[:, j]``."""
    values = torch.linalg.vector_norm(V, dim=0)
    margins = S * (X @ V)  # (n, m)
    outside = torch.nonzero((margins < 0).any(dim=0)).squeeze(1)
    if outside.numel() == 0:
        return values
    projector = make_cone_projector(X, S[:, outside], 1)
    projected = projector(V[:, outside, None], torch.arange(outside.numel(), device=X.device),
                          margins[:, outside])  # steps=None: exact
    values[outside] = torch.linalg.vector_norm(projected[:, :, 0], dim=0)
    return values
