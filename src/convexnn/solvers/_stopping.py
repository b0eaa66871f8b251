"""Certified stopping for the first-order solvers: duality gaps computed in torch.

Weak duality (Pilanci & Ergen, ICML 2020, for program (8) with a convex loss; Ergen & Pilanci,
JMLR 2021, Theorem 13; :mod:`convexnn.certificates`): for every ``Lam`` (n, k) with

    max_{u in K_q, ||u|| <= 1}  -<H_qc, u>  <= beta   for all groups (q, c),   H = adjoint(Lam),

the value ``-L*(Lam)`` is a lower bound of the program's optimum. ``K_q = R^d`` for the gated
relaxation (the maximum is ``||H_qc||``) and ``K_q = {u : S_q * (X u) >= 0}`` for program (8), where
conic duality gives (the per-pattern dual constraint from which Pilanci & Ergen, ICML 2020, derive
program (8))

    max_{u in K_q, ||u|| <= 1} -<H_qc, u>  =  min_{a >= 0} ||X^T (S_q * a) - H_qc||.        (*)

Any ``a >= 0`` in (*) gives an *upper* bound of the maximum, hence a certified feasibility scale.
The solvers' own multipliers of the cone constraints are such ``a`` (they converge to the optimal
ones), so the exact program's certificate costs two products instead of one non-negative least
squares problem per group (what :func:`convexnn.certificates.dual_constraint_max` solves); groups
whose bound still exceeds ``beta`` get a few batched projected-gradient steps on (*).

The dual candidate (the loss gradient at the current prediction, or a solver's own dual
estimate) is scaled by the best ``t <= beta / max bound``, per output where the loss sums over
outputs (by :func:`convexnn._duality.best_output_scales`, to a looser accuracy than
:func:`convexnn.certificates.dual_bound`). These are fast equivalents of the
:mod:`convexnn.certificates` functions for use inside solver loops; ``certify`` re-checks a
final point independently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._duality import best_output_scales
from ..problem import Operators
from ._common import prune

__all__ = [
    "Float64Check",
    "Gap",
    "batched_nnls",
    "best_of_gaps",
    "cone_bounds",
    "exact_gap",
    "gated_gap",
]


@dataclass(frozen=True)
class Gap:
    """One certificate check: ``primal >= optimum >= dual`` (primal only if the point is feasible).

    Attributes
    ----------
    primal, dual : float
    relative : float
        ``(primal - dual) / max(|primal|, 1e-12)``.
    Lam : Tensor of shape (n_samples, n_outputs)
        The dual candidate, unscaled.
    """

    primal: float
    dual: float
    relative: float
    Lam: torch.Tensor


def _candidate(lifted, Lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A dual candidate below float64 mapped into the conjugate's domain in float64: ``(in the
    solve's dtype, for the constraints; in float64, for the dual value)``. Float64 candidates
    are used as they are.

    The conjugate's domain is checked to 1e-10 (cross-entropy: rows of ``p = s + y`` summing to
    1), which float32 gradients miss by ~1e-7, so every ``t > 0`` gave ``+inf`` and the gap read
    1 (measured): the dual value is computed in float64. ADMM's dual ``rho a_z`` accumulates
    float32 rounding over the iterations: for cross-entropy its rows drifted off the domain by
    far more than one rounding, so the dual value, taken at the candidate mapped into the
    domain, no longer matched the feasibility scale, taken at the raw candidate (float32 gaps
    of 6e-5 for a point certified at 1e-6 in float64, measured): the constraints are therefore
    taken at the mapped candidate too, rounded to the solve's dtype.
    """
    if Lam.dtype == torch.float64:
        return Lam, Lam
    as64 = torch.float64
    Y, weights = lifted.Y.to(as64), lifted.weights.to(as64)
    mapped = lifted.loss.into_domain(Lam.to(as64), Y, weights)
    return mapped.to(Lam.dtype), mapped


def _gap(lifted: Operators, U: torch.Tensor, Z: torch.Tensor, Lam: torch.Tensor,
         Lam64: torch.Tensor, bounds: torch.Tensor) -> Gap:
    """The gap at ``U`` with the candidate ``Lam`` (and its float64 copy ``Lam64``, see
    :func:`_candidate`) whose groups' constraints are at most ``bounds`` (groups, k)."""
    primal = float(lifted.loss_value(Z) + lifted.penalty(U))
    worst = bounds.max(dim=0).values.cpu().to(torch.float64).numpy()
    as64 = torch.float64
    dual, _ = best_output_scales(lifted.loss, Lam64, lifted.Y.to(as64), lifted.weights.to(as64),
                                 worst, lifted.beta, rtol=1e-7)
    return Gap(primal, dual, (primal - dual) / max(abs(primal), 1e-12), Lam)


def best_of_gaps(*gaps: Gap) -> Gap:
    """The check with the best (largest) lower bound among checks of the same point."""
    return max(gaps, key=lambda gap: gap.dual)


def gated_gap(lifted: Operators, U: torch.Tensor, Z: torch.Tensor,
              Lam: torch.Tensor | None = None) -> Gap:
    """Certified gap of the gated relaxation at ``U`` (d, P, k) with prediction ``Z`` (n, k).

    The dual candidate ``Lam`` defaults to ``grad L(Z)``.
    """
    Lam, Lam64 = _candidate(lifted, lifted.loss_gradient(Z) if Lam is None else Lam)
    return _gap(lifted, U, Z, Lam, Lam64, lifted.group_norms(lifted.adjoint(Lam)))


def batched_nnls(lifted: Operators, target: torch.Tensor, signs: torch.Tensor, a: torch.Tensor,
                 steps: int, free: torch.Tensor | None = None):
    """Approximately ``argmin_{a >= 0} ||X^T (s_j * a_j) - target_j||`` for many columns ``j``.

    Accelerated projected gradient (step ``1 / ||X||^2``), batched over columns: ``target`` is
    (d, m), ``signs`` and the start ``a`` are (n, m); entries where ``free`` is False stay 0.
    Returns the best iterate and its residual norm (m,) per column (iterates are >= 0, so every
    residual norm is the value of a feasible point of (*)).
    """
    X = lifted.X
    step = 1.0 / lifted.x_norm2
    x = a if free is None else a * free
    rx = X.T @ (signs * x) - target  # residual at the iterate x
    best, best_x = torch.linalg.vector_norm(rx, dim=0), x
    y, ry, t = x, rx, 1.0
    for _ in range(steps):
        x_next = torch.relu(y - step * (signs * (X @ ry)))  # gradient step at the extrapolation
        if free is not None:
            x_next = x_next * free
        rx_next = X.T @ (signs * x_next) - target
        norm = torch.linalg.vector_norm(rx_next, dim=0)
        better = norm < best
        best, best_x = torch.where(better, norm, best), torch.where(better, x_next, best_x)
        t_next = 0.5 * (1 + math.sqrt(1 + 4 * t**2))
        momentum = (t - 1) / t_next
        # extrapolate the point and (the map being linear) its residual
        y = x_next + momentum * (x_next - x)
        ry = rx_next + momentum * (rx_next - rx)
        x, rx, t = x_next, rx_next, t_next
    return best_x, best


def cone_bounds(lifted: Operators, H: torch.Tensor, M: torch.Tensor | None, beta: float,
                refine_steps: int = 30, moves: torch.Tensor | None = None) -> torch.Tensor:
    """Upper bounds (Q, k) of the left side of (*) from multipliers ``M`` (n, Q, k) >= 0.

    Each group's bound is the smaller of ``||H_qc||`` (``a = 0``) and
    ``||X^T (S_q * M_qc) - H_qc||``;
    groups still above ``beta`` are improved by :func:`batched_nnls` from the better of the two.
    Every bound returned is the residual of some ``a >= 0``, so it is valid. ``moves``, when
    given, are the ``X^T (S_q * M_qc)`` (d, Q, k) (the compiled projector's, from each group's
    few nonzero multipliers); ``M`` is then read only by the refinement.
    """
    at_zero = lifted.group_norms(H)
    if moves is None:
        moves = lifted.transpose(lifted.sign[:, :, None] * M)
    at_M = lifted.group_norms(moves - H)
    bounds = torch.minimum(at_zero, at_M)
    over = bounds > beta
    if refine_steps == 0 or not torch.any(over):
        return bounds
    q, c = torch.nonzero(over, as_tuple=True)
    start = M[:, q, c] * (at_M[q, c] < at_zero[q, c])
    _, refined = batched_nnls(lifted, H[:, q, c], lifted.sign[:, q], start, refine_steps)
    bounds[q, c] = torch.minimum(bounds[q, c], refined)
    return bounds


def exact_gap(lifted: Operators, U: torch.Tensor, pre: torch.Tensor, M: torch.Tensor | None,
              refine_steps: int = 30, Lam: torch.Tensor | None = None,
              moves: torch.Tensor | None = None) -> Gap:
    """Gap of program (8) at ``U`` (d, 2P, k) with pre-activations ``pre`` and multipliers ``M``
    (or their ``moves``, see :func:`cone_bounds`).

    The dual candidate ``Lam`` defaults to ``grad L`` at ``U``'s prediction. The dual side is
    certified; the primal side is an upper bound of the optimum only when ``U`` satisfies the
    cones (check :meth:`Operators.cone_defect`, or polish with
    :func:`convexnn.cones.project_onto_cones`).
    """
    Z = lifted.predict_from(pre)
    Lam, Lam64 = _candidate(lifted, lifted.loss_gradient(Z) if Lam is None else Lam)
    bounds = cone_bounds(lifted, lifted.adjoint(Lam), M, lifted.beta, refine_steps, moves)
    return _gap(lifted, U, Z, Lam, Lam64, bounds)


class Float64Check:
    """Certificates in float64 for a solve that runs in a lower precision (float32).

    A float32 iterate is certified here after a cast to float64, so that an ``"optimal"``
    status never rests on float32 rounding of the check itself. For program (8) the cast point
    is first projected onto the cones in float64: the float32 projections satisfy the cones only
    to their precision (cone defects of 3e-4 on breast_cancer, measured), never to the default
    ``cone_tol = 1e-10``, so without this a float32 run of program (8) could not end optimal.
    The float64 projector is kept between checks (its warm starts make later checks cheap).

    Parameters
    ----------
    problem : ConvexProblem
    device :
        The solve's device.
    """

    def __init__(self, problem, device):
        self.lifted = problem.operators(device, torch.float64)
        self._projector = None

    def _cast(self, T: torch.Tensor) -> torch.Tensor:
        return T.to(torch.float64)

    def _dual(self, Lam: torch.Tensor) -> torch.Tensor:
        """A low-precision dual candidate in float64, mapped into the conjugate's domain (see
        :func:`_candidate`)."""
        lifted = self.lifted
        return lifted.loss.into_domain(self._cast(Lam), lifted.Y, lifted.weights)

    def gated(self, U: torch.Tensor, Lam: torch.Tensor | None = None):
        """``(U, gap)`` of the gated relaxation at ``U`` in float64: the better of the checks
        with ``grad L`` at the point and with the solver's dual ``Lam`` (if given)."""
        lifted = self.lifted
        U = self._cast(U)
        Z = lifted.predict(U)
        gaps = [gated_gap(lifted, U, Z)]
        if Lam is not None:
            gaps.append(gated_gap(lifted, U, Z, self._dual(Lam)))
        return U, best_of_gaps(*gaps)

    def exact(self, U: torch.Tensor, M: torch.Tensor, Lam: torch.Tensor | None = None):
        """``(point, gap, defect)`` of program (8) at ``U`` in float64: ``point`` is ``U``
        projected onto the cones and pruned, ``M`` (n, Q, k) the solver's cone multipliers and
        ``Lam`` its dual candidate (default ``grad L`` at the point)."""
        lifted = self.lifted
        if self._projector is None:
            self._projector = lifted.sharding.cone_projector(lifted.X, lifted.sign, lifted.k)
        U = self._cast(U)
        margins = (lifted.sign[:, :, None] * lifted.preactivations(U)).reshape(lifted.n, -1)
        violated = torch.nonzero(~lifted.sharding.all((margins >= 0).all(dim=0))).squeeze(1)
        point = prune(self._projector(U, violated, margins))
        pre = lifted.preactivations(point)
        gap = exact_gap(lifted, point, pre, self._cast(M),
                        Lam=None if Lam is None else self._dual(Lam))
        return point, gap, lifted.cone_defect(pre)
