"""ADMM's plain iteration of program (8) in compiled passes, for small programs on the CPU.

Between certificate checks an ADMM iteration of program (8) is the ``U``-step, the loss's prox,
the truncated cone prox and the dual updates (:mod:`.admm`'s ``u_step`` and ``prox_steps``). In
torch that is about forty tensor operations, each a dispatch of a few microseconds; on the
neuron search's restricted programs (a few hundred samples and groups) the dispatches cost more
than the arithmetic (keel:bupa, 239 samples, 398 groups: 0.32 ms for the ``U``-step's two
masked products and solve, 0.19 ms around the 0.45 ms cone prox; measured). Here the same
iteration is two compiled passes around the compiled cone prox
(:meth:`convexnn.cones.CompiledConeProjector.prox_points`):

1. ``U``-step and loss prox: ``e = (r I + K)^{-1} (F q - w)`` by the direct system's Cholesky
   factor (two substitutions; the explicit inverse, one product, saved 0.05 ms an iteration
   on keel:bupa, but recomputing it at each new shift cost more: keel:segment's 1,617 rows
   took 48 s instead of 31, measured), ``U = q - F^T e``, ``F U = w + r e``, over-relaxed, then
   ``z = prox(F U + a_z)`` for a loss whose prox is affine per sample (the squared loss:
   :meth:`convexnn.losses.Loss.affine_prox`); the cone prox's input ``U + a_p`` is written
   group-major, as the projector reads it;
2. the scaled dual updates, with the projector's output read back to ``(d, Q)``.

The arithmetic is the torch path's, so the iterates agree to rounding (tested). It serves the
common case: program (8), one output, float64 on the CPU, the direct linear system and a loss
of affine prox; anything else takes the torch path.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from ..cones._compiled import _JIT

__all__ = ["FusedIteration"]


@njit(**_JIT)
def _u_step(X, D, factor, z, a_z, p, a_p, r, alpha, scale, offset, U, FU, z_new, points):
    """Pass 1: the over-relaxed ``U`` (d, Q) and ``F U`` (n,), the loss prox ``z_new`` (n,)
    and the cone prox's input ``points`` (Q, d) = ``(U + a_p)^T``."""
    n, d = X.shape
    P = D.shape[1]
    delta = np.empty((d, P))  # v - w of q = p - a_p
    for c in range(d):
        for i in range(P):
            delta[c, i] = (p[c, i] - a_p[c, i]) - (p[c, P + i] - a_p[c, P + i])
    pre = np.dot(X, delta)  # (n, P)
    b = np.empty(n)  # F q - w
    for j in range(n):
        total = 0.0
        for i in range(P):
            total += D[j, i] * pre[j, i]
        b[j] = total - (z[j] - a_z[j])
    e = b  # (L L^T) e = b: forward, then backward substitution along L's rows
    for j in range(n):
        total = e[j]
        for c in range(j):
            total -= factor[j, c] * e[c]
        e[j] = total / factor[j, j]
    for j in range(n - 1, -1, -1):
        e[j] /= factor[j, j]
        for c in range(j):
            e[c] -= factor[j, c] * e[j]
    masked = np.empty((n, P))  # D * e: F^T e = +-X^T (D * e)
    for j in range(n):
        for i in range(P):
            masked[j, i] = D[j, i] * e[j]
    half = np.dot(X.T, masked)  # (d, P)
    for c in range(d):
        for g in range(2 * P):
            step = half[c, g] if g < P else -half[c, g - P]  # the v groups, then the w groups
            U[c, g] = alpha * (p[c, g] - a_p[c, g] - step) + (1 - alpha) * p[c, g]
            points[g, c] = U[c, g] + a_p[c, g]
    for j in range(n):
        FU[j] = alpha * ((z[j] - a_z[j]) + r * e[j]) + (1 - alpha) * z[j]
        z_new[j] = scale[j] * (FU[j] + a_z[j]) + offset[j]


@njit(**_JIT)
def _dual_step(U, FU, z_new, a_z, a_p, projected, p_new, a_z_new, a_p_new):
    """Pass 2: ``p`` (d, Q) from the projector's group-major output and the scaled duals
    ``a_z + F U - z``, ``a_p + U - p``."""
    d, Q = U.shape
    for c in range(d):
        for g in range(Q):
            p_new[c, g] = projected[g, c]
            a_p_new[c, g] = a_p[c, g] + U[c, g] - projected[g, c]
    for j in range(FU.shape[0]):
        a_z_new[j] = a_z[j] + FU[j] - z_new[j]


class FusedIteration:
    """The plain iteration of one ADMM run (``run``: :class:`.admm._ADMM`) in compiled passes;
    :meth:`applies` says whether it serves the run."""

    def __init__(self, run):
        lifted = run.lifted
        self.run = run
        self.X = lifted.X.numpy()
        self.D = lifted.D.numpy()
        self._prox = None  # (rho_z, scale, offset) of the loss prox
        self._factor = (None, None)  # (the system's factor, its row-major copy)
        self.n, self.d, self.Q = lifted.n, lifted.d, lifted.Q

    @staticmethod
    def applies(run) -> bool:
        """Program (8) with one output, float64 on the CPU in one process, the direct
        linear system and a loss of affine prox (the caller, ``admm._fused_iteration``, has
        checked that the cone projector is the compiled one)."""
        from ._linsys import DirectSolver

        lifted = run.lifted
        return (not run.gated and lifted.k == 1 and lifted.dtype == torch.float64
                and lifted.device.type == "cpu" and not lifted.sharding.distributed
                and lifted.rows_per_sample == 1 and type(run.system) is DirectSolver
                and lifted.loss.affine_prox(lifted.Y, lifted.weights, 1.0) is not None)

    def _rows(self) -> np.ndarray:
        """The direct system's Cholesky factor, row-major (LAPACK's is column-major, and the
        substitutions along its columns made digits' iterations 1.5x slower, measured)."""
        factor = self.run.system.factor
        if self._factor[0] is not factor:
            self._factor = (factor, np.ascontiguousarray(factor.numpy()))
        return self._factor[1]

    def _affine_prox(self, rho_z: float):
        if self._prox is None or self._prox[0] != rho_z:
            lifted = self.run.lifted
            scale, offset = lifted.loss.affine_prox(lifted.Y, lifted.weights, rho_z)
            self._prox = (rho_z, scale[:, 0].numpy(), offset[:, 0].numpy())
        return self._prox[1:]

    def __call__(self, s):
        """One plain iteration from the iterate ``s`` (updated in place); returns the
        over-relaxed ``U`` (d, Q, 1) and ``F U`` (n, 1), as :meth:`.admm._ADMM.u_step`."""
        run, n, d, Q = self.run, self.n, self.d, self.Q
        s.ratio = r = s.rho_p / s.rho_z
        flat = lambda T, *shape: np.ascontiguousarray(T.numpy().reshape(shape))  # noqa: E731
        z, a_z = flat(s.z, n), flat(s.a_z, n)
        p, a_p = flat(s.p, d, Q), flat(s.a_p, d, Q)
        scale, offset = self._affine_prox(s.rho_z)
        U, FU, z_new = np.empty((d, Q)), np.empty(n), np.empty(n)
        points = np.empty((Q, d))
        _u_step(self.X, self.D, self._rows(), z, a_z, p, a_p, r, run.alpha, scale,
                offset, U, FU, z_new, points)
        projected = run.prox_p.points(points, run.lifted.beta / s.rho_p, exact=False)
        p_new, a_z_new, a_p_new = np.empty((d, Q)), np.empty(n), np.empty((d, Q))
        _dual_step(U, FU, z_new, a_z, a_p, projected, p_new, a_z_new, a_p_new)
        as_tensor = lambda A, *shape: torch.from_numpy(A).reshape(shape)  # noqa: E731
        s.z, s.a_z = as_tensor(z_new, n, 1), as_tensor(a_z_new, n, 1)
        s.p, s.a_p = as_tensor(p_new, d, Q, 1), as_tensor(a_p_new, d, Q, 1)
        return as_tensor(U, d, Q, 1), as_tensor(FU, n, 1)
