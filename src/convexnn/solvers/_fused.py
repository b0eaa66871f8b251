"""ADMM's plain iteration of program (8) in compiled passes, for small programs on the CPU.

Between certificate checks an ADMM iteration of program (8) is the ``U``-step, the loss's prox,
the truncated cone prox and the dual updates (:mod:`.admm`'s ``u_step`` and ``prox_steps``). In
torch that is about forty tensor operations, each a dispatch of a few microseconds; on the
neuron search's restricted programs (a few hundred samples and groups) the dispatches cost more
than the arithmetic (keel:bupa, 239 samples, 398 groups: 0.32 ms for the ``U``-step's two
masked products and solve, 0.19 ms around the 0.45 ms cone prox; measured). Here the same
iteration is compiled passes around the loss prox and the compiled cone prox
(:meth:`convexnn.cones.CompiledConeProjector.prox_points`):

1. ``U``-step: ``e = (r I + K)^{-1} (F q - w)`` by the direct system's Cholesky factor (two
   substitutions per output; the explicit inverse, one product, saved 0.05 ms an iteration on
   keel:bupa, but recomputing it at each new shift cost more: keel:segment's 1,617 rows took
   48 s instead of 31, measured), ``U = q - F^T e``, ``F U = w + r e``, over-relaxed; the cone
   prox's input ``U + a_p`` is written group-major, as the projector reads it;
2. the loss prox ``z = prox(F U + a_z)``: compiled where it is affine per sample (the squared
   loss: :meth:`convexnn.losses.Loss.affine_prox`), else the loss's own (cross-entropy's is
   compiled per row, :mod:`convexnn._loss_kernels`);
3. the scaled dual updates, with the projector's output read back to ``(d, Q, k)``.

Where torch runs on several threads (and so do the projections), the compiled products use BLAS on
one: at its two threads on the 2-core machine its workers' spinning slowed the projections that
follow (breast_cancer, 100 patterns: 2.8 ms an iteration against 2.2; with torch on one thread,
BLAS's two threads were 1-4 % faster; measured). The arithmetic is the torch path's, so the
iterates agree to rounding (tested). It serves program (8) in float64 on the CPU in one process
with the direct linear system, every loss; several outputs only on one thread and for small ``n``
(see ``MAX_SUBSTITUTION_ENTRIES``: cross-entropy's neuron search on 60 x 3 points took 0.88 s
instead of 1.11, median of three seeds); anything else takes the torch path.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from numba import njit

from ..cones._compiled import _JIT, _SERIAL_BLAS

__all__ = ["FusedIteration"]

#: with several outputs the compiled passes serve programs run on one thread with at most
#: this many entries ``n^2 k`` (their substitutions' work, on one thread where torch's take its
#: threads). On digits' rows, 100 patterns, ten outputs, one thread, an iteration took 0.92-0.98
#: of the torch steps' time up to 1,000 rows, 1.06-1.11 at all 1,797; on two threads 1.1-1.6
#: (measured)
MAX_SUBSTITUTION_ENTRIES = 10**7


@njit(**_JIT)
def _u_step(X, D, factor, z, a_z, p, a_p, r, alpha, U, FU, prox_in, points):
    """Pass 1: the over-relaxed ``U`` (d, Q, k) and ``F U`` (n, k), the loss prox's input
    ``prox_in = F U + a_z`` (n, k) and the cone prox's input ``points`` (Q k, d), the rows of
    ``U + a_p`` group-major (group ``(q, c)`` in row ``q k + c``)."""
    n, d = X.shape
    P, k = D.shape[1], z.shape[1]
    delta = np.empty((d, P * k))  # v - w of q = p - a_p
    for c in range(d):
        for i in range(P):
            for o in range(k):
                delta[c, i * k + o] = ((p[c, i, o] - a_p[c, i, o])
                                       - (p[c, P + i, o] - a_p[c, P + i, o]))
    pre = np.dot(X, delta)  # (n, P k)
    e = np.empty((k, n))  # F q - w, one row per output (contiguous for the substitutions)
    for j in range(n):
        for o in range(k):
            total = 0.0
            for i in range(P):
                total += D[j, i] * pre[j, i * k + o]
            e[o, j] = total - (z[j, o] - a_z[j, o])
    for o in range(k):  # (L L^T) e = F q - w: forward, then backward along L's rows
        for j in range(n):
            total = e[o, j]
            for c in range(j):
                total -= factor[j, c] * e[o, c]
            e[o, j] = total / factor[j, j]
        for j in range(n - 1, -1, -1):
            e[o, j] /= factor[j, j]
            for c in range(j):
                e[o, c] -= factor[j, c] * e[o, j]
    masked = np.empty((n, P * k))  # D * e: F^T e = +-X^T (D * e)
    for j in range(n):
        for i in range(P):
            for o in range(k):
                masked[j, i * k + o] = D[j, i] * e[o, j]
    half = np.dot(X.T, masked)  # (d, P k)
    for c in range(d):
        for g in range(2 * P):
            for o in range(k):
                # the v groups, then the w groups
                step = half[c, g * k + o] if g < P else -half[c, (g - P) * k + o]
                U[c, g, o] = alpha * (p[c, g, o] - a_p[c, g, o] - step) + (1 - alpha) * p[c, g, o]
                points[g * k + o, c] = U[c, g, o] + a_p[c, g, o]
    for j in range(n):
        for o in range(k):
            FU[j, o] = alpha * ((z[j, o] - a_z[j, o]) + r * e[o, j]) + (1 - alpha) * z[j, o]
            prox_in[j, o] = FU[j, o] + a_z[j, o]


@njit(**_JIT)
def _affine(scale, offset, V, out):
    """``out = scale * V + offset`` entrywise (an affine loss prox)."""
    for j in range(V.shape[0]):
        for o in range(V.shape[1]):
            out[j, o] = scale[j, o] * V[j, o] + offset[j, o]


@njit(**_JIT)
def _dual_step(U, FU, z_new, a_z, a_p, projected, p_new, a_z_new, a_p_new):
    """Pass 2: ``p`` (d, Q, k) from the projector's group-major output and the scaled duals
    ``a_z + F U - z``, ``a_p + U - p``."""
    d, Q, k = U.shape
    for c in range(d):
        for g in range(Q):
            for o in range(k):
                p_new[c, g, o] = projected[g * k + o, c]
                a_p_new[c, g, o] = a_p[c, g, o] + U[c, g, o] - projected[g * k + o, c]
    for j in range(FU.shape[0]):
        for o in range(FU.shape[1]):
            a_z_new[j, o] = a_z[j, o] + FU[j, o] - z_new[j, o]


class FusedIteration:
    """The plain iteration of one ADMM run (``run``: :class:`.admm._ADMM`) in compiled passes;
    :meth:`applies` says whether it serves the run."""

    def __init__(self, run):
        lifted = run.lifted
        self.run = run
        self.X = lifted.X.numpy()
        self.D = lifted.D.numpy()
        self._prox = None  # (rho_z, scale, offset) of an affine loss prox
        self._factor = (None, None)  # (the system's factor, its row-major copy)
        self.n, self.d, self.Q, self.k = lifted.n, lifted.d, lifted.Q, lifted.k
        self.affine = lifted.loss.affine_prox(lifted.Y, lifted.weights, 1.0) is not None

    @staticmethod
    def applies(run) -> bool:
        """Program (8), float64 on the CPU in one process, the direct linear system, and with
        several outputs torch on one thread and at most ``MAX_SUBSTITUTION_ENTRIES`` entries
        ``n^2 k`` (the caller, ``admm._fused_iteration``, has checked that the cone projector
        is the compiled one)."""
        from ._linsys import DirectSolver

        lifted = run.lifted
        return (not run.gated and lifted.dtype == torch.float64
                and lifted.device.type == "cpu" and not lifted.sharding.distributed
                and lifted.rows_per_sample == 1 and type(run.system) is DirectSolver
                and (lifted.k == 1 or (torch.get_num_threads() == 1 and lifted.n**2 * lifted.k
                                       <= MAX_SUBSTITUTION_ENTRIES)))

    def _rows(self) -> np.ndarray:
        """The direct system's Cholesky factor, row-major (LAPACK's is column-major, and the
        substitutions along its columns made digits' iterations 1.5x slower, measured)."""
        factor = self.run.system.factor
        if self._factor[0] is not factor:
            self._factor = (factor, np.ascontiguousarray(factor.numpy()))
        return self._factor[1]

    def _loss_prox(self, V: np.ndarray, s) -> np.ndarray:
        """``z = prox_{L / rho_z}(V)`` (n, k): from the loss's affine form where it has one,
        else by the loss's own prox (started at ``s.z``, as the torch steps start it)."""
        lifted = self.run.lifted
        if not self.affine:
            z = lifted.loss.prox(torch.from_numpy(V), lifted.Y, lifted.weights, s.rho_z,
                                 start=s.z)
            return np.ascontiguousarray(z.numpy())
        if self._prox is None or self._prox[0] != s.rho_z:
            scale, offset = lifted.loss.affine_prox(lifted.Y, lifted.weights, s.rho_z)
            shape = (self.n, self.k)
            self._prox = (s.rho_z, *(np.ascontiguousarray(T.expand(shape).numpy())
                                     for T in (scale, offset)))
        z = np.empty_like(V)
        _affine(self._prox[1], self._prox[2], V, z)
        return z

    def __call__(self, s):
        """One plain iteration from the iterate ``s`` (updated in place); returns the
        over-relaxed ``U`` (d, Q, k) and ``F U`` (n, k), as :meth:`.admm._ADMM.u_step`."""
        run, n, d, Q, k = self.run, self.n, self.d, self.Q, self.k
        s.ratio = r = s.rho_p / s.rho_z
        flat = lambda T, *shape: np.ascontiguousarray(T.numpy().reshape(shape))  # noqa: E731
        z, a_z = flat(s.z, n, k), flat(s.a_z, n, k)
        p, a_p = flat(s.p, d, Q, k), flat(s.a_p, d, Q, k)
        U, FU, V = np.empty((d, Q, k)), np.empty((n, k)), np.empty((n, k))
        points = np.empty((Q * k, d))
        with _SERIAL_BLAS if torch.get_num_threads() > 1 else contextlib.nullcontext():
            _u_step(self.X, self.D, self._rows(), z, a_z, p, a_p, r, run.alpha, U, FU, V,
                    points)
        z_new = self._loss_prox(V, s)
        projected = run.prox_p.points(points, run.lifted.beta / s.rho_p, exact=False)
        p_new, a_z_new, a_p_new = np.empty((d, Q, k)), np.empty((n, k)), np.empty((d, Q, k))
        _dual_step(U, FU, z_new, a_z, a_p, projected, p_new, a_z_new, a_p_new)
        as_tensor = torch.from_numpy
        s.z, s.a_z = as_tensor(z_new), as_tensor(a_z_new)
        s.p, s.a_p = as_tensor(p_new), as_tensor(a_p_new)
        return as_tensor(U), as_tensor(FU)
