"""Exact Euclidean projections onto the pattern cones ``K_q = {v : S_q * (X v) >= 0}``, batched.

By Moreau's decomposition the projection of ``v0`` is ``v0 + B a`` with ``B = X^T diag(S_q)`` and

    a = argmin_{a >= 0} ||v0 + B a||,                                                    (NNLS)

whose support (the constraints active at the projection) has about ``d`` elements at most. This
module runs the Lawson-Hanson active-set method on (NNLS) for many groups at once: every outer
step adds each unfinished group's most violated constraint and re-solves the least-squares
problem on each group's active ("passive") set in one batched ``m x m`` Cholesky solve, stepping
back to keep ``a >= 0``; each step touches only the groups not yet optimal. Warm starts reuse
the previous multipliers, so a projection whose active set did not move costs one solve and two
masked products. Groups unfinished after ``max_steps`` steps (nearly dependent rows) are handed
to SciPy's Lawson-Hanson, so an exact projection is always exact; a truncated one (``steps``)
stops early and is only closer to the cone (ADMM uses those between its certificate checks).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls

__all__ = ["ConeProjector", "project_onto_cones"]


class ConeProjector:
    """Projections of the groups of ``(d, Q, k)`` tensors onto their cones, with warm starts.

    Internally every per-group quantity is stored group-major, ``(groups, n)``, so that the
    reductions over constraints and the selections of unfinished groups touch contiguous memory
    (the column-major layout was measured 2-3x slower on these small, overhead-bound kernels).

    Parameters
    ----------
    X : Tensor of shape (n, d)
    signs : Tensor of shape (n, Q)
        ``S_q = 2 D_q - 1`` per group (column ``q``, shared by the ``k`` outputs).
    k : int
        Number of outputs (groups are ``(q, c)``, flattened to ``q k + c``).
    max_steps : int
        Lawson-Hanson outer steps of an exact projection before the SciPy fallback.
    """

    def __init__(self, X: torch.Tensor, signs: torch.Tensor, k: int, max_steps: int = 200):
        self.X, self.max_steps = X, max_steps
        self._signs = signs.T.repeat_interleave(k, dim=0).contiguous()  # (Q k, n)
        self.row_norm = float(torch.linalg.vector_norm(X, dim=1).max())
        #: relative accuracy of the constraints (and ridge of the normal equations): 1e-13 in
        #: float64, what the dtype resolves otherwise
        self.precision = max(1e-13, 100 * torch.finfo(X.dtype).eps)
        self._a = torch.zeros_like(self._signs)  # NNLS solutions of the last projections

    @property
    def signs(self) -> torch.Tensor:
        """The cone sign of every constraint of every group: (n, Q k)."""
        return self._signs.T

    @property
    def multipliers(self) -> torch.Tensor:
        """NNLS solutions of the last projections (warm starts and cone multipliers): a
        writable (n, Q k) view."""
        return self._a.T

    def __call__(self, V0: torch.Tensor, columns: torch.Tensor, margins: torch.Tensor,
                 steps: int | None = None) -> torch.Tensor:
        """``V0`` (d, Q, k) with the flattened groups ``columns`` projected onto their cones.

        ``margins`` (n, Q k) are the constraint values ``S * (X V0)``. With ``steps`` the
        Lawson-Hanson iteration is cut after that many steps (an approximate projection, closer
        to the cone; no fallback); by default the projection is exact.
        """
        d = self.X.shape[1]
        flat = V0.reshape(d, -1).clone()
        if columns.numel() > 0:
            a, shift = self._lawson_hanson(flat[:, columns].T, self._signs[columns],
                                           self._a[columns], margins[:, columns].T, steps)
            self._a[columns] = a
            flat[:, columns] += shift.T
        return flat.reshape(V0.shape)

    def _lawson_hanson(self, v0, S, a, margin0, steps):
        """NNLS ``min_{a >= 0} ||v0 + (S a) X||`` per row, from the warm start ``a`` (G, n).

        ``v0`` is (G, d). Returns ``a`` and ``(S a) X`` (G, d), the move to the projection.
        Every step works on the groups not yet optimal only.
        """
        X = self.X
        tol = self.precision * self.row_norm * torch.linalg.vector_norm(v0, dim=1)
        a = self._feasible_least_squares(margin0, S, a, a > 0)
        shift = (S * a) @ X
        todo = torch.arange(v0.shape[0], device=v0.device)
        for _ in range(self.max_steps if steps is None else steps):
            # constraint values at v0 + shift; the most violated one enters the passive set
            St, at = S[todo], a[todo]
            passive = at > 0
            violation = (St * (shift[todo] @ X.T)).add_(margin0[todo]).neg_().mul_(~passive)
            worst, row = violation.max(dim=1)
            unfinished = worst > tol[todo]
            if not torch.any(unfinished):
                return a, shift
            todo, row, passive = todo[unfinished], row[unfinished], passive[unfinished]
            passive[torch.arange(todo.numel(), device=a.device), row] = True
            St = S[todo]
            a[todo] = self._feasible_least_squares(margin0[todo], St, a[todo], passive)
            shift[todo] = (St * a[todo]) @ X
        if steps is None:
            a = self._scipy_fallback(v0, S, a, todo)
            shift[todo] = (S[todo] * a[todo]) @ X
        return a, shift

    def _feasible_least_squares(self, margin0, S, a, passive):
        """Lawson-Hanson inner loop: least squares on the passive set, stepping back to ``a >= 0``.

        Starting from a feasible ``a`` supported in ``passive``, solve the unconstrained least
        squares on the passive set; where it has non-positive entries move to the boundary and
        drop the entries that reached zero (entries that only just entered, at 0, simply leave).
        Terminates in at most ``|passive|`` rounds; each round solves the unfinished groups.
        """
        a = a.clone()
        todo = torch.arange(a.shape[0], device=a.device)
        for _ in range(passive.shape[1]):
            solution = self._passive_least_squares(margin0, S, passive)
            bad = passive & (solution <= 0)
            finished = ~bad.any(dim=1)
            if torch.all(finished):
                a[todo] = solution
                return a
            a[todo[finished]] = solution[finished]
            keep = ~finished
            todo, solution, bad = todo[keep], solution[keep], bad[keep]
            passive, margin0, S, at = passive[keep], margin0[keep], S[keep], a[todo]
            fresh = bad & (at <= 0)
            stepping = ~fresh.any(dim=1, keepdim=True)
            ratio = (at / (at - solution).clamp_min(1e-300)).masked_fill_(~bad, torch.inf)
            step = ratio.amin(dim=1, keepdim=True).clamp_(max=1.0).mul_(stepping)
            at = at + step * (solution - at)
            passive = passive & ~fresh & ~(stepping & (at <= 1e-15 * at.amax(dim=1, keepdim=True)))
            a[todo] = at * passive
        return a.clamp_min(0)

    def _passive_least_squares(self, margin0, S, passive):
        """``argmin ||v0 + B_P s||`` on each group's passive constraints, zero elsewhere: (G, n).

        The normal equations ``(B_P^T B_P) s = -B_P^T v0 = -margin0_P`` are solved by Cholesky,
        with a tiny relative ridge for nearly dependent rows; groups are padded to a common
        passive size with zero rows and a unit diagonal.
        """
        m = int(passive.sum(dim=1).max())
        if m == 0:
            return torch.zeros_like(S)
        order = torch.topk(passive.to(torch.uint8), m, dim=1, sorted=False).indices  # (G, m)
        valid = torch.gather(passive, 1, order).to(S.dtype)
        signs = torch.gather(S, 1, order) * valid  # (G, m)
        rows = self.X[order] * signs[:, :, None]  # (G, m, d): rows of B_P^T
        gram = rows @ rows.transpose(1, 2)
        ridge = self.precision * gram.diagonal(dim1=1, dim2=2).amax(dim=1, keepdim=True)
        gram.diagonal(dim1=1, dim2=2).add_(ridge * valid + (1 - valid))
        rhs = -(torch.gather(margin0, 1, order) * valid)  # (G, m)
        s = torch.cholesky_solve(rhs[:, :, None], torch.linalg.cholesky(gram))[:, :, 0]
        return torch.zeros_like(S).scatter_(1, order, s * valid)

    def _scipy_fallback(self, v0, S, a, todo):
        X = self.X.detach().cpu().double().numpy()
        for row in todo.tolist():
            B = X.T * S[row].detach().cpu().double().numpy()
            sol, _ = nnls(B, -v0[row].detach().cpu().double().numpy(), maxiter=10 * B.shape[1])
            a[row] = torch.as_tensor(np.asarray(sol), dtype=a.dtype, device=a.device)
        return a


def project_onto_cones(lifted, U: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``U`` (d, 2P, k) with every group that violates its cone replaced by its projection.

    The exact polish of a nearly feasible iterate: each violating group moves by the distance to
    its cone, after which the point satisfies the cones to rounding and its objective is an
    honest upper bound of the optimum. ``pre`` are the pre-activations ``X U``.
    """
    n = lifted.n
    projector = ConeProjector(lifted.X, lifted.sign, U.shape[2])
    margins = (lifted.sign[:, :, None] * pre).reshape(n, -1)
    return projector(U, torch.nonzero((margins < 0).any(dim=0)).squeeze(1), margins)
