"""Sample-space linear systems ``(shift I + K) y = b`` with ``K = F F^T`` for the lifted map ``F``.

``F U = sum_q mask_q X u_q`` has ``n`` rows and ``dQ`` columns; ``K = F F^T`` is only ``n x n``:
``K = sum_q diag(mask_q) X X^T diag(mask_q) = (X X^T) * (mask mask^T)`` (Hadamard product; the
lifted operator forms it, :meth:`convexnn.problem.Operators.kernel`). ADMM's
``U``-step ``(F^T F + r I) U = c`` reduces to one such system by the Woodbury identity, so the
lifted matrix is never formed. Three solvers, one interface (``set_shift``, ``__call__``):

* :class:`DirectSolver` forms ``K`` (``O(n^2 (d + Q))``) and refactors ``shift I + K`` when the
  shift changes (``O(n^3)``) - the fastest choice up to a few thousand samples;
* :class:`GramSolver` forms the ``dQ x dQ`` parameter-space Gram ``F^T F`` instead
  (``O(n (dQ)^2)``, then ``O((dQ)^3)`` per shift) - for many samples and few variables, and for
  samples split across processes;
* :class:`NystromPCG` never forms ``K``: conjugate gradients with products ``F (F^T y)`` and a
  randomized Nyström preconditioner (Frangella, Tropp & Udell, SIAM J. Matrix Anal. Appl. 2023),
  whose low-rank factor is shift-independent, so changing the shift is free.
"""

from __future__ import annotations

import torch

from ..cones._linalg import solve_with_factor
from ..problem import Operators

__all__ = ["DirectSolver", "GramSolver", "MAX_GRAM_VARIABLES", "NystromPCG"]

#: largest ``d * Q`` whose Gram matrix ``F^T F`` the :class:`GramSolver` forms (512 MB in float64)
MAX_GRAM_VARIABLES = 8_000


class DirectSolver:
    """``(shift I + K)^{-1}`` by a Cholesky factor of ``K = (X X^T) * (mask mask^T)``."""

    #: solves are exact (to rounding), so ``F U`` can be read off the solution
    exact = True

    def __init__(self, lifted: Operators):
        self.K = lifted.kernel()
        self.factor = None

    def set_shift(self, shift: float) -> None:
        self.factor = _cholesky(_shifted(self.K, shift))

    def __call__(self, b: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
        return solve_with_factor(self.factor, b)


class NystromPCG:
    """``(shift I + K)^{-1}`` by conjugate gradients with a randomized Nyström preconditioner.

    The rank-``rank`` approximation ``K ~ V diag(lam) V^T`` comes from one sketch ``K Omega``
    (Frangella, Tropp & Udell 2023, Algorithm 2.1, with the stabilizing shift); the preconditioner
    ``P^{-1} = (lam_min + shift) V (diag(lam) + shift)^{-1} V^T + (I - V V^T)`` leaves
    ``P^{-1} (shift I + K)`` with a spectrum clustered near 1, so CG needs few iterations; each
    solve starts from the previous solution.

    Every sample-indexed matrix (``Omega``, the sketch, ``V``, the CG vectors) is held by rows, so
    the same code runs with the samples split across processes: its sums over samples go through
    the operator's sharding (all-reduces then), and the factorizations that need the whole
    columns are of small ``rank x rank`` Gram matrices: ``Omega`` is orthonormalized by Cholesky
    QR (twice, for a Gaussian matrix as accurate as Householder), and the sketch's singular
    vectors come from the eigendecomposition of its Gram matrix.

    Parameters
    ----------
    lifted : Operators
    rank : int
        Sketch size (capped at ``n``; with ``rank = n`` the preconditioner is exact).
    rtol : float
        Relative residual at which CG stops.
    max_cg : int
        Most CG iterations per solve.
    chunk : int
        Sketch columns pushed through the maps at once (they act as extra outputs).
    """

    exact = False

    def __init__(self, lifted: Operators, rank: int = 200, rtol: float = 1e-10, max_cg: int = 200,
                 seed: int = 0, chunk: int = 32):
        self.lifted, self.rtol, self.max_cg = lifted, rtol, max_cg
        sharding = self.sharding = lifted.sharding
        n_total = int(sharding.sum(torch.tensor(float(lifted.n_samples), dtype=torch.float64)))
        rank = min(rank, n_total)
        generator = torch.Generator(device=lifted.device).manual_seed(seed)
        Omega = sharding.randn(lifted.n_samples, rank, generator=generator, dtype=lifted.dtype,
                               device=lifted.device)
        for _ in range(2):  # Cholesky QR: Omega R^{-1} with R^T R = Omega^T Omega
            R = torch.linalg.cholesky(sharding.sum(Omega.T @ Omega))
            Omega = torch.linalg.solve_triangular(R, Omega.T, upper=False).T
        Y = torch.cat([self.apply_K(Omega[:, j:j + chunk]) for j in range(0, rank, chunk)], 1)
        nu = torch.finfo(lifted.dtype).eps * float(sharding.norm(Y))
        Y = Y + nu * Omega
        C = torch.linalg.cholesky(sharding.sum(Omega.T @ Y))
        B = torch.linalg.solve_triangular(C, Y.T, upper=False).T  # Y C^{-T}
        # B = V diag(sigma) W^T: W and sigma^2 from B^T B, V = B W / sigma (descending)
        sigma2, W = torch.linalg.eigh(sharding.sum(B.T @ B))
        sigma2, W = sigma2.flip(0).clamp(min=0.0), W.flip(1)
        kept = sigma2 > (torch.finfo(lifted.dtype).eps * float(sigma2[0])) ** 2
        sigma2, W = sigma2[kept], W[:, kept]
        self.V = (B @ W) / torch.sqrt(sigma2)
        self.lam = torch.clamp(sigma2 - nu, min=0.0)
        self.shift = 1.0

    def set_shift(self, shift: float) -> None:
        self.shift = shift

    def apply_K(self, Y: torch.Tensor) -> torch.Tensor:
        return self.lifted.predict(self.lifted.adjoint(Y))

    def precondition(self, R: torch.Tensor) -> torch.Tensor:
        VtR = self.sharding.sum(self.V.T @ R)
        scale = (self.lam[-1] + self.shift) / (self.lam + self.shift)
        return self.V @ (scale[:, None] * VtR) + R - self.V @ VtR

    def _column_norms(self, A: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.sharding.sum((A * A).sum(0)))

    def __call__(self, b: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
        # preconditioned CG, one independent recursion per column of b (per output)
        tiny = torch.finfo(b.dtype).tiny
        total = self.sharding.sum
        Y = guess
        R = b - self.shift * Y - self.apply_K(Y)
        Z = self.precondition(R)
        direction = Z
        rz = total((R * Z).sum(0))
        target = self.rtol * self._column_norms(b)
        for _ in range(self.max_cg):
            if torch.all(self._column_norms(R) <= target):
                break
            AP = self.shift * direction + self.apply_K(direction)
            alpha = rz / total((direction * AP).sum(0)).clamp_min(tiny)
            Y = Y + alpha * direction
            R = R - alpha * AP
            Z = self.precondition(R)
            rz_next = total((R * Z).sum(0))
            direction = Z + (rz_next / rz.clamp_min(tiny)) * direction
            rz = rz_next
        return Y


class GramSolver:
    """``(shift I + K)^{-1} b`` with ``K = F F^T``, solved in parameter space (``dQ x dQ``).

    By the push-through identity ``(r I + F F^T)^{-1} = (I - F (r I + F^T F)^{-1} F^T) / r``, the
    sample-space solve needs the parameter-space Gram ``F^T F = sum_j (m_j m_j^T) kron
    (x_j x_j^T)`` (``m_j`` the mask row of sample ``j``), formed once in ``O(n (dQ)^2)`` and
    refactored when the shift changes (``O((dQ)^3)``); a solve is then one adjoint, a triangular
    solve and one prediction, and its result equals :class:`DirectSolver`'s to rounding. It is
    the direct solver for many samples and few variables (``dQ < n``), and the only one when the
    samples are split across processes (:mod:`convexnn.distributed`): each process sums its
    rows' terms and one all-reduce adds them.

    Parameters
    ----------
    lifted : Operators
        The maps of the problem (samples split across processes or not).
    chunk : int
        Samples whose rows of the lifted matrix are formed at once (:meth:`Operators.gram`).
    """

    exact = True

    def __init__(self, lifted, chunk: int = 1024):
        self.lifted = lifted
        size = lifted.d * lifted.Q
        if size > MAX_GRAM_VARIABLES:
            raise ValueError(
                f"the 'gram' linear solver factors the {size} x {size} matrix F^T F (d * Q = "
                f"{lifted.d} * {lifted.Q}); at most {MAX_GRAM_VARIABLES} is supported: use fewer "
                "patterns or features")
        self.gram = lifted.gram(chunk)
        self.shift, self.factor = None, None

    def set_shift(self, shift: float) -> None:
        self.shift = shift
        self.factor = _cholesky(_shifted(self.gram, shift))

    def __call__(self, b: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
        lifted = self.lifted
        rhs = lifted.adjoint(b)  # F^T b, (d, Q, k)
        W = solve_with_factor(self.factor, rhs.reshape(lifted.d * lifted.Q, -1))
        return (b - lifted.predict(W.reshape(rhs.shape))) / self.shift


def _cholesky(A: torch.Tensor) -> torch.Tensor:
    """The lower Cholesky factor of ``A``: compiled (:func:`convexnn.cones._compiled.cholesky`)
    on the CPU with torch on one thread, torch's otherwise.

    The searches factor again at every change of ADMM's penalties: keel:segment's rounds
    refactored 293 times (n = 1,504, 46 ms each with torch's), 13.5 of their 32 s; their
    recorded programs took 27.4-27.8 s against 31.6-33.8 s with the compiled factorization
    (keel:vehicle and keel:pima 2 % less; measured). With more threads torch's own (torch's
    two-thread factorization was as fast, and BLAS's threads would spin beside torch's)."""
    if A.device.type != "cpu" or torch.get_num_threads() > 1:
        return torch.linalg.cholesky(A)
    from ..cones._compiled import cholesky

    return cholesky(A)


def _shifted(A: torch.Tensor, shift: float) -> torch.Tensor:
    """``A + shift I`` (a copy; no identity matrix formed)."""
    out = A.clone()
    out.diagonal().add_(shift)
    return out
