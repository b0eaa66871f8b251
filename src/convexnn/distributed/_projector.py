"""The two pieces of ADMM that are not sums over samples, for samples split across processes.

Everything else a first-order solver does is row-local or a sum over samples, which the
sharding all-reduces (:mod:`convexnn._sharding`). Two things are neither:

* **the cone projections** (:mod:`convexnn.cones`): the Lawson-Hanson method adds, at every
  step, the *most violated* constraint of a group over all samples and solves a least-squares
  problem on the group's active ("passive") constraints, which can live on any process.
  :class:`ShardedConeProjector` finds that constraint across processes and gathers the few
  active rows (about ``d`` per group) to every process, where an unchanged
  :class:`~convexnn.cones.ConeProjector` takes the step on them; the same steps are taken as on
  one process, so truncated projections (ADMM's cheap steps) are reproduced as well as exact ones;
* **ADMM's linear system** (:mod:`convexnn.solvers._linsys`), ``(r I + K) y = b`` with the
  ``n x n`` sample-space ``K = F F^T``: it couples all samples.
  :class:`~convexnn.solvers._linsys.GramSolver` solves it in parameter
  space through ``F^T F`` (``dQ x dQ``, a sum over samples, all-reduced once), whose size does
  not grow with ``n``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cones import ConeProjector

__all__ = ["ShardedConeProjector"]


class ShardedConeProjector:
    """:class:`~convexnn.cones.ConeProjector` for a process's rows of ``X``; the same interface.

    Parameters
    ----------
    X : Tensor of shape (n_local, d)
        This process's rows.
    signs : Tensor of shape (n_local, Q)
        Their cone signs ``S_q``.
    k : int
        Number of outputs.
    sharding : ProcessGroupSharding
        The collectives (see :mod:`convexnn.distributed`).
    max_steps : int
        Lawson-Hanson steps of an exact projection before the exact fallback.

    Notes
    -----
    Only ``ConeProjector``'s public behaviour is used: on the gathered rows, ``steps=0`` solves
    the least squares of the warm start's active set, ``steps=1`` adds the most violated
    constraint and re-solves. Rows outside a group's gathered set get a far positive margin, so
    the constraint added is the one chosen across processes.
    """

    def __init__(self, X: torch.Tensor, signs: torch.Tensor, k: int, sharding,
                 max_steps: int = 200):
        self.X, self.sharding, self.max_steps = X, sharding, max_steps
        n, Q = signs.shape
        self.signs = signs[:, :, None].expand(n, Q, k).reshape(n, Q * k)
        self.row_norm = float(sharding.max(torch.linalg.vector_norm(X, dim=1).max()))
        #: the relative accuracy ConeProjector uses for this dtype
        self.precision = ConeProjector(X[:1], signs[:1], 1).precision
        #: NNLS solutions of the last projections, (n_local, Q k): warm starts and multipliers
        self.multipliers = torch.zeros(n, Q * k, dtype=X.dtype, device=X.device)
        #: margin of the constraints a gathered subproblem must ignore (never violated; finite,
        #: so that padded entries of its least squares stay 0 * margin = 0)
        self.far = float(torch.finfo(X.dtype).max) ** 0.5

    def __call__(self, V0: torch.Tensor, columns: torch.Tensor, margins: torch.Tensor,
                 steps: int | None = None) -> torch.Tensor:
        """``V0`` (d, Q, k) with the groups ``columns`` projected (see ``ConeProjector``).

        ``columns`` must be the same on every process; ``margins`` are this process's rows.
        """
        d = self.X.shape[1]
        flat = V0.reshape(d, -1).clone()
        if columns.numel() > 0:
            S = self.signs[:, columns]
            a, shift = self._lawson_hanson(flat[:, columns], S, self.multipliers[:, columns],
                                           margins[:, columns], steps)
            self.multipliers[:, columns] = a
            flat[:, columns] += shift
        return flat.reshape(V0.shape)

    def bounds(self, flat: torch.Tensor) -> torch.Tensor:
        """``||v + B a||`` per group (see ``ProjectorState.bounds``), summed over processes."""
        moves = self.sharding.sum(self.X.T @ (self.signs * self.multipliers))
        return torch.linalg.vector_norm(flat + moves, dim=0)

    def release(self, groups: torch.Tensor) -> None:
        """Forget the multipliers of ``groups`` (see ``ProjectorState.release``)."""
        self.multipliers[:, groups] = 0

    def _lawson_hanson(self, v0, S, a, margin0, steps):
        """Lawson-Hanson on every process's rows: ``(a, shift)`` for the columns of ``v0`` (d, G).

        Each step adds, per unfinished column, the constraint most violated over all samples
        (ties go to the lowest global row, as on one process) and re-solves on the gathered
        active rows; after ``max_steps`` (exact projections only) constraint generation finishes
        the unfinished columns exactly.
        """
        X, sharding = self.X, self.sharding
        tol = self.precision * self.row_norm * torch.linalg.vector_norm(v0, dim=0)
        a, shift = self._solve_gathered(v0, S, a, margin0, a > 0, steps=0)
        todo = torch.arange(v0.shape[1], device=v0.device)
        for _ in range(self.max_steps if steps is None else steps):
            margin = margin0[:, todo] + S[:, todo] * (X @ shift[:, todo])
            passive = a[:, todo] > 0
            worst, owner, row = sharding.argmax(torch.where(passive, torch.zeros_like(margin),
                                                            -margin))
            unfinished = worst > tol[todo]
            if not torch.any(unfinished):
                return a, shift
            todo, owner, row = todo[unfinished], owner[unfinished], row[unfinished]
            working = passive[:, unfinished]
            mine = torch.nonzero(owner == sharding.rank).squeeze(1)
            working[row[mine], mine] = True
            a[:, todo], shift[:, todo] = self._solve_gathered(
                v0[:, todo], S[:, todo], a[:, todo], margin0[:, todo], working, steps=1)
        if steps is None:  # constraint generation: exact on the gathered rows, until no
            # constraint of any process is violated (or none is left to add: rounding)
            working = torch.zeros_like(a, dtype=torch.bool)
            while todo.numel() > 0:
                margin = margin0[:, todo] + S[:, todo] * (X @ shift[:, todo])
                grown = working[:, todo] | (a[:, todo] > 0) | (margin < -tol[todo])
                new = sharding.any((grown & ~working[:, todo]).any(dim=0))
                todo, grown = todo[new], grown[:, new]
                if todo.numel() == 0:
                    break
                working[:, todo] = grown
                a[:, todo], shift[:, todo] = self._solve_gathered(
                    v0[:, todo], S[:, todo], a[:, todo], margin0[:, todo], grown, steps=None)
        return a, shift

    def _solve_gathered(self, v0, S, a, margin0, working, steps):
        """Lawson-Hanson with ``steps`` on the rows in ``working`` (n_local, G), gathered.

        Every process solves the same gathered problem with a :class:`ConeProjector` warm
        started at ``a`` and keeps its own rows of the multipliers; returns them and the shift
        ``X^T (S a)`` (d, G), the same on every process.
        """
        rows, X_rows, (m0, Sg, ag, mask), start = self._gather(working, margin0, S, a)
        if X_rows.shape[0] == 0:  # no constraint in play anywhere: the projection is v0
            return torch.zeros_like(a), torch.zeros_like(v0)
        projector = ConeProjector(X_rows, Sg, 1, max_steps=self.max_steps)
        projector.multipliers[:] = ag
        G = v0.shape[1]
        projector(v0[:, :, None], torch.arange(G, device=v0.device),
                  torch.where(mask, m0, torch.full_like(m0, self.far)), steps)
        gathered = projector.multipliers
        result = torch.zeros_like(a)
        result[rows] = gathered[start:start + rows.numel()]
        return result, X_rows.T @ (Sg * gathered)

    def _gather(self, working, *columns):
        """The rows with a ``working`` entry, gathered from every process in process order.

        Returns ``(rows, X_rows, dense, start)``: this process's row indices, the gathered rows
        of ``X`` (R, d), the gathered ``columns`` as dense (R, G) matrices that are zero off the
        working entries, followed by the working mask itself, and where this process's rows
        start among the R. Only the working entries travel.
        """
        rows = torch.nonzero(working.any(dim=1)).squeeze(1)
        entries = torch.nonzero(working[rows])  # (nnz, 2): position among rows, column
        values = [C[rows][entries[:, 0], entries[:, 1]] for C in columns]
        table = torch.stack([entries[:, 0].to(self.X.dtype), entries[:, 1].to(self.X.dtype),
                             *values], dim=1)
        (X_rows, table), counts = self.sharding.gather_rows(self.X[rows], table)
        row_counts, entry_counts = counts[:, 0], counts[:, 1]
        starts = np.concatenate([[0], np.cumsum(row_counts)[:-1]]).astype(np.int64)
        # row positions are local to each process: shift them by the process's start
        base = torch.as_tensor(np.repeat(starts, entry_counts), dtype=table.dtype,
                               device=table.device)
        R, G = X_rows.shape[0], working.shape[1]
        at = ((table[:, 0] + base).long(), table[:, 1].long())
        dense = []
        for j in range(len(columns)):
            M = torch.zeros(R, G, dtype=self.X.dtype, device=self.X.device)
            M[at] = table[:, 2 + j]
            dense.append(M)
        mask = torch.zeros(R, G, dtype=torch.bool, device=self.X.device)
        mask[at] = True
        return rows, X_rows, [*dense, mask], int(starts[self.sharding.rank])
