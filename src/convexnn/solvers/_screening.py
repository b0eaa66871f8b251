"""Gap-safe screening of program (8): groups that are zero at every optimum, from a duality gap.

The dual of program (8) (Pilanci & Ergen, ICML 2020; :mod:`convexnn.certificates`) is

    max_Lam  D(Lam) = -L*(Lam)
    s.t.     f_ics(lam_c) = max_{v in K_i, ||v|| <= 1} s <X^T D_i lam_c, v>  <=  beta
             for every pattern i, output c and sign s.

**The safe ball** (the Gap Safe rules of Fercoq, Gramfort & Salmon, ICML 2015, and Ndiaye et al.,
JMLR 2017, for this dual). When ``L`` is ``(1/mu)``-smooth, ``L*`` is ``mu``-strongly convex,
so ``D`` is ``mu``-strongly concave and has one maximizer ``Lam*`` over the (convex) feasible
set. For a feasible ``Lam_f`` and ``t`` in (0, 1] the point ``Lam* + t (Lam_f - Lam*)`` is
feasible, so strong concavity gives::

    D(Lam*) >= D(Lam* + t (Lam_f - Lam*))
            >= (1 - t) D(Lam*) + t D(Lam_f) + (mu / 2) t (1 - t) ||Lam_f - Lam*||^2;

divided by ``t``, with ``t -> 0``: ``D(Lam*) - D(Lam_f) >= (mu / 2) ||Lam* - Lam_f||^2`` (no
differentiability needed). Any feasible primal value ``P >= p* >= D(Lam*)`` (weak duality), so
with the gap ``G = P - D(Lam_f)``::

    ||Lam* - Lam_f||_F <= r = sqrt(2 G / mu).

**The group test.** ``f_ics`` is the support function of ``K_i`` intersected with the unit ball
(a subset of the ball, so 1-Lipschitz) at ``s X^T D_i lam_c``, hence Lipschitz in ``lam_c`` with
constant ``||D_i X||_2``: ``f_ics(lam*_c) <= f_ics(lam_f,c) + ||D_i X||_2 r``. When that is below
``beta`` the group is zero at *every* primal optimum: by Fenchel-Young, for any primal point
``(V, W)`` with prediction ``Z``,

    P(V, W) >= D(Lam*) + sum_{i,c} [<X^T D_i lam*_c, v_ic> + beta ||v_ic||]
                       + sum_{i,c} [-<X^T D_i lam*_c, w_ic> + beta ||w_ic||],

every bracket is >= 0 by dual feasibility (the ``v`` bracket is bounded by ``||v|| (beta -
f_ic,-1)``, the ``w`` bracket by ``||w|| (beta - f_ic,+1)``), and at an optimum the sum is 0
(strong duality of (8): its constraints are linear and ``L`` is finite everywhere), so a bracket
whose constraint is strict forces its group to 0. The group of ``v_ic`` is tested with ``s = -1``,
that of ``w_ic`` with ``s = +1``; the gated relaxation has one group ``u_ic`` with the constraint
``||X^T D_i lam_c|| <= beta`` (the cone is all of R^d).

The cheap bound ``||X^T D_i lam_c|| >= f_ics`` is tried first; the exact cone maximum (the
batched NNLS of :func:`convexnn.cones.cone_maxima`, as in the certificates) only for groups the
cheap bound does not screen and the exact one still can (``||D_i X||_2 r < beta``).

**The constant mu per loss.** The losses are means (:mod:`convexnn.losses`),
``L(Z) = (1/n) sum_j w_j l(z_j, y_j)``, so ``L*(Lam) = (1/n) sum_j w_j l*(n lam_j / w_j)`` and
``mu = n / (w_max kappa)`` where ``l*`` is ``1/kappa``-strongly convex (``kappa`` the curvature
bound of ``l``): squared ``l* = s^2/2 + s y`` (``kappa = 1``); logistic ``l* = a log a + (1 - a)
log(1 - a)`` with ``a = -s y`` in [0, 1], second derivative ``1 / (a (1 - a)) >= 4``
(``kappa = 1/4``); cross-entropy ``l* = sum_c p_c log p_c`` on the simplex ``p = s + y``, whose
Hessian ``diag(1/p)`` gives ``d^T diag(1/p) d >= ||d||_1^2 >= 2 ||d||^2`` along the simplex
(``sum_c d_c = 0``) (``kappa = 1/2``). In general the conjugate of a convex function with
``L``-Lipschitz gradient is ``1/L``-strongly convex, so ``mu = 1 / Loss.lipschitz(w)`` for every
smooth loss, the constant the solvers' step sizes already rely on (the tests check it on the
conjugates above; a wrong one is caught by the final check on all patterns).
The hinge loss is not smooth, its conjugate (linear on a box) is not strongly convex, the dual
maximizer need not be unique and no ball follows from the gap: nothing is screened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..certificates import dual_bound
from ..cones import cone_maxima

__all__ = ["Screening", "pattern_norms", "safe_radius", "screen", "strong_concavity"]

#: relative slack for rounding: of the gap (two sums of n float64 terms, each within n eps
#: relative for n up to 1e4) and of the group test's comparison with beta
ROUNDING = 1e-12
#: above this many features ``||D_i X||_2`` is bounded by ``min(||X||_2, ||D_i X||_F)`` instead of
#: computed (a batched d x d eigenvalue problem per pattern)
EXACT_NORM_FEATURES = 64


@dataclass(frozen=True)
class Screening:
    """Which groups of program (8) are zero at every optimum.

    Attributes
    ----------
    screened : ndarray of shape (n_patterns, n_outputs, 2), dtype bool
        True for a group proven zero at every optimum: ``[..., 0]`` the group ``v_ic`` of ``V``,
        ``[..., 1]`` the group ``w_ic`` of ``W``. Shape ``(n_patterns, n_outputs, 1)`` (the
        groups of ``V``) for the gated relaxation.
    radius : float
        ``sqrt(2 gap / mu)``: the dual optimum lies within it of :attr:`dual` (inf: no screening).
    gap : float
        The duality gap used (with the rounding slack).
    lower_bound : float
        ``-L*(dual)``.
    dual : ndarray of shape (n_samples, n_outputs)
        The feasible dual point (the candidate mapped into the conjugate's domain and scaled).
    n_exact : int
        Groups whose exact cone maximum was computed (the cheap bound did not screen them).
    """

    screened: np.ndarray
    radius: float
    gap: float
    lower_bound: float
    dual: np.ndarray
    n_exact: int = 0

    @property
    def kept_patterns(self) -> np.ndarray:
        """Indices of the patterns with at least one group not screened."""
        return np.flatnonzero(~self.screened.all(axis=(1, 2)))

    @property
    def fraction(self) -> float:
        """The fraction of groups screened."""
        return float(self.screened.mean()) if self.screened.size else 0.0


def strong_concavity(problem) -> float | None:
    """``mu`` with ``-L*`` ``mu``-strongly concave, or None (a loss that is not smooth)."""
    loss = problem.loss
    if not loss.smooth:
        return None
    lipschitz = loss.lipschitz(torch.tensor(problem.sample_weight))  # a copy: read-only array
    return 1.0 / lipschitz if 0 < lipschitz < math.inf else None


def safe_radius(problem, primal: float, bound: float) -> tuple[float, float]:
    """``(gap, r)``: the gap ``primal - bound`` with the rounding slack, and ``sqrt(2 gap / mu)``
    (inf when the dual is not strongly concave, see :func:`strong_concavity`)."""
    if not bound <= primal + ROUNDING * abs(primal):
        raise ValueError(f"the primal value {primal!r} is below the dual bound {bound!r}: it is "
                         "not the objective of a feasible point of this problem")
    gap = max(primal - bound, 0.0) + ROUNDING * max(abs(primal), abs(bound))
    mu = strong_concavity(problem)
    return gap, (math.inf if mu is None else math.sqrt(2 * gap / mu))


def pattern_norms(X: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Upper bounds of ``||D_i X||_2`` (the rows of pattern ``i``), one per column of ``D``.

    Exact (the largest eigenvalue of each ``X^T D_i X``) up to ``EXACT_NORM_FEATURES`` features,
    else ``min(||X||_2, ||D_i X||_F)`` (a submatrix's spectral norm is at most the matrix's, and
    at most its own Frobenius norm).
    """
    X = torch.tensor(X, dtype=torch.float64)  # a copy: the problem's arrays are read-only
    mask = torch.tensor(D, dtype=torch.float64)  # (n, P)
    if X.shape[1] > EXACT_NORM_FEATURES:
        frobenius = torch.sqrt(mask.T @ (X**2).sum(dim=1))
        return torch.clamp(frobenius, max=float(torch.linalg.matrix_norm(X, ord=2))).numpy()
    grams = torch.einsum("np,nd,ne->pde", mask, X, X)
    return torch.sqrt(torch.linalg.eigvalsh(grams)[:, -1].clamp(min=0)).numpy()


def _exact_maxima(problem, G: torch.Tensor, patterns: np.ndarray) -> np.ndarray:
    """``max_{v in K_i, ||v|| <= 1} s <g_ic, v>`` for ``patterns``: (len, k, 2), ``s = -1`` first.

    By :func:`convexnn.cones.cone_maxima`: the norm of the projection ``s g + B a`` for
    multipliers ``a >= 0``, never below the maximum (a safe value).
    """
    X = torch.tensor(problem.X, dtype=torch.float64)  # a copy: the problem's are read-only
    signs = 2 * torch.as_tensor(problem.patterns.D[:, patterns], dtype=torch.float64) - 1
    T = torch.stack([-G[:, patterns], G[:, patterns]], dim=3)  # (d, m, k, 2): s = -1, +1
    m, k = len(patterns), G.shape[2]
    return cone_maxima(X, T.reshape(X.shape[1], m, 2 * k), signs).reshape(m, k, 2).numpy()


def screen(problem, dual, primal: float) -> Screening:
    """The groups of ``problem`` that are zero at every optimum (module docstring).

    Parameters
    ----------
    problem : ConvexProblem
    dual : array-like of shape (n_samples, n_outputs)
        A dual candidate (a solver's dual, or the loss gradient at a point): it is mapped into the
        conjugate's domain and scaled into the dual feasible set here, as for a certificate.
    primal : float
        The objective of a *feasible* point of the problem (an upper bound of its optimum; e.g.
        ``solution.objective`` of a first-order solver's point, which satisfies the cones).

    Returns
    -------
    Screening
        Nothing screened for the hinge loss (no strongly concave dual).
    """
    n, d, P, k = problem.shape
    sides = 1 if problem.gated else 2
    ops = problem.operators()
    Lam = torch.as_tensor(np.asarray(dual, dtype=float).reshape(n, k), dtype=ops.dtype)
    Lam = problem.loss.into_domain(Lam, ops.Y, ops.weights)
    bound, scales = dual_bound(problem, Lam.numpy())
    gap, radius = safe_radius(problem, primal, bound)
    Lam_f = Lam * torch.as_tensor(scales, dtype=Lam.dtype)
    if math.isinf(radius):
        return Screening(np.zeros((P, k, sides), dtype=bool), radius, gap, bound, Lam_f.numpy())
    # the shift of each group's constraint over the safe ball, and the test's threshold
    shift = pattern_norms(problem.X, problem.patterns.D)[:, None, None] * radius
    threshold = problem.beta * (1 - ROUNDING)
    G = ops.correlations(Lam_f)  # (d, P, k): X^T D_i lam_c
    cheap = (torch.linalg.vector_norm(G, dim=0).numpy()[:, :, None] + shift) < threshold
    screened = np.broadcast_to(cheap, (P, k, sides)).copy()
    if problem.gated:  # the cheap bound is the exact constraint
        return Screening(screened, radius, gap, bound, Lam_f.numpy())
    # the exact maxima can still screen where the ball alone leaves room below beta
    candidates = np.flatnonzero((~screened & (shift < threshold)).any(axis=(1, 2)))
    if candidates.size:
        exact = _exact_maxima(problem, G, candidates)
        screened[candidates] |= exact + shift[candidates] < threshold
    return Screening(screened, radius, gap, bound, Lam_f.numpy(), n_exact=2 * k * candidates.size)

