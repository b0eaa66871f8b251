"""Augmented Lagrangian method for the exact program (8) with its cone constraints.

Program (8) stacked as ``U = [V, W]`` (d, 2P, k) (see :mod:`._common`)::

    min_U  L(sum_q mask_q X u_q) + beta sum_{q,c} ||u_qc||   s.t.  S_q * (X u_qc) >= 0.

With multipliers ``M >= 0`` (n, 2P, k) of the constraints and penalty ``rho``, each outer
iteration (Rockafellar's augmented Lagrangian for inequalities, as in the AL method of Mishkin,
Sahiner & Pilanci, ICML 2022) does

1. minimize, warm-started, with :class:`~.proximal.FISTA`::

       L(F U) + rho/2 ||(M/rho - S * XU)_+||^2 + beta sum ||u_qc||       (smooth + group penalty)

   to a largest group gradient-mapping norm ``eps * beta``; ``eps`` starts at
   ``INNER_TOL_START`` and shrinks by ``INNER_TOL_DECAY`` per outer iteration, down to ``tol / 10``;
2. the first-order multiplier update ``M <- (M - rho S * XU)_+``;
3. ``rho <- rho_growth * rho`` when the cone violation did not at least halve (the multiplier
   updates stagnate).

At the minimizer of step 1, ``(M, grad L)`` satisfy the stationarity of the Lagrangian of (8), so
``M`` is the certificate of :mod:`._stopping`: the dual point ``t grad L(Z)`` is scaled into the
cone-constrained dual at the cost of two products (plus a few batched projected-gradient steps
for the groups still above ``beta``). Iterates violate the cones slightly; once the gap of an
iterate reaches ``tol`` it is projected onto the cones (exactly, :mod:`convexnn.cones`; each
group moves by its distance to its cone) and the gap is re-certified at that feasible point;
only this can give ``status="optimal"``.
"""

from __future__ import annotations

import torch

from ..cones import project_onto_cones
from ..problem import Operators
from ._common import Monitor, check_options, initial_point, make_solution, prune
from ._stopping import Float64Check, batched_nnls, exact_gap
from .proximal import FISTA, check_smooth_loss, lipschitz_estimate

__all__ = ["solve"]

#: relative inner tolerance (largest group gradient-mapping norm / beta) of the first outer step
INNER_TOL_START = 1e-1
#: factor applied to the inner tolerance after each outer step
INNER_TOL_DECAY = 0.1


class AugmentedSmooth:
    """Smooth part of the augmented Lagrangian; its image is the pre-activations (n, 2P, k)."""

    def __init__(self, lifted: Operators, M: torch.Tensor, rho: float):
        self.lifted = lifted
        self.M, self.rho = M, rho
        self.signs = lifted.sign[:, :, None]
        self.loss_lipschitz = self.lifted.loss.lipschitz(self.lifted.weights)

    def image(self, U: torch.Tensor) -> torch.Tensor:
        return self.lifted.preactivations(U)

    def _shifted_violation(self, pre):
        return torch.relu(self.M / self.rho - self.signs * pre)

    def value(self, pre: torch.Tensor) -> torch.Tensor:
        R = self._shifted_violation(pre)
        data = self.lifted.loss_value(self.lifted.predict_from(pre))
        return data + 0.5 * self.rho * (R * R).sum()

    def value_and_gradient(self, pre: torch.Tensor):
        R = self._shifted_violation(pre)
        Z = self.lifted.predict_from(pre)
        G = self.lifted.loss_gradient(Z)
        value = self.lifted.loss_value(Z) + 0.5 * self.rho * (R * R).sum()
        # one product for both terms: X^T (mask * G - rho S * R)
        G = self.lifted.expand(G)  # one value per row of X
        return value, self.lifted.transpose(self.lifted.mask[:, :, None] * G[:, None, :]
                                            - self.rho * self.signs * R)

    def curvature(self, dpre: torch.Tensor) -> torch.Tensor:
        """Upper bound of twice the Bregman divergence along pre-activations ``dpre``: the loss
        term's ``L_loss ||F dpre||^2`` plus ``rho ||dpre||^2`` (``(.)_+^2 / 2`` has a 1-Lipschitz
        derivative); summed over the processes when the samples are split."""
        dZ = self.lifted.predict_from(dpre)
        return self.lifted.sharding.sum(self.loss_lipschitz * (dZ * dZ).sum()
                                        + self.rho * (dpre * dpre).sum())

    def multipliers(self, pre: torch.Tensor) -> torch.Tensor:
        """The multiplier update ``(M - rho S * XU)_+``."""
        return self.rho * self._shifted_violation(pre)


def estimate_multipliers(lifted: Operators, U: torch.Tensor, pre: torch.Tensor,
                         steps: int = 100) -> torch.Tensor:
    """Cone multipliers (n, 2P, k) that make a given ``U`` stationary, for warm starts.

    Stationarity of the Lagrangian of (8) asks ``X^T (S_q * m_qc) = grad_qc + beta u_qc/||u_qc||``
    for nonzero groups (``||X^T (S_q * m_qc) - grad_qc|| <= beta`` for zero ones), with ``m >= 0``
    vanishing where the constraint is slack; solved approximately by :func:`batched_nnls`.
    """
    H = lifted.adjoint(lifted.loss_gradient(lifted.predict_from(pre)))
    norms = lifted.group_norms(U)
    target = H + lifted.beta * U / norms.clamp_min(torch.finfo(U.dtype).tiny)
    slack = lifted.sign[:, :, None] * pre
    free = slack <= 1e-9 * float(slack.abs().max().clamp_min(1.0))  # complementary slackness
    n, Q, k = slack.shape
    signs = lifted.sign[:, :, None].expand(n, Q, k).reshape(n, -1)
    M, _ = batched_nnls(lifted, target.reshape(lifted.d, -1), signs, torch.zeros_like(signs), steps,
                        free.reshape(n, -1).to(lifted.dtype))
    return M.reshape(n, Q, k)


def _check_program(problem, rho, rho_growth) -> None:
    """The solver's own requirements: program (8), a smooth loss, a valid penalty schedule."""
    if problem.gated:
        raise ValueError("the augmented_lagrangian solver is for program (8) with cone "
                         "constraints (problem.gated=False); use 'fista' for the gated relaxation")
    check_smooth_loss(problem, "augmented_lagrangian")
    if (rho is not None and not rho > 0) or not rho_growth >= 1:
        raise ValueError(f"rho must be positive and rho_growth >= 1; got rho={rho!r}, "
                         f"rho_growth={rho_growth!r}")


def _projected(lifted: Operators, x: torch.Tensor, pre: torch.Tensor, M: torch.Tensor,
               check64: Float64Check | None, verbose: bool):
    """The honest ending: ``x`` projected onto the cones and pruned, with its certified gap and
    cone defect; in float64 for a run in a lower precision, whose projections meet the cones
    only to its rounding, far above ``cone_tol``. Returns ``(point, gap, defect)``."""
    if check64 is None:
        U = prune(project_onto_cones(lifted, x, pre))
        pre_U = lifted.preactivations(U)
        final, defect = exact_gap(lifted, U, pre_U, M), lifted.cone_defect(pre_U)
    else:
        U, final, defect = check64.exact(x, M)
    if verbose:
        print(f"[augmented_lagrangian] projected onto the cones: objective "
              f"{final.primal:.10e}  certified gap {final.relative:.2e}", flush=True)
    return U, final, defect


def solve(problem, *, tol: float = 1e-6, max_iter: int = 20_000, time_limit: float | None = None,
          device="cpu", dtype=torch.float64, warm_start=None, verbose: bool = False,
          rho: float | None = None, rho_growth: float = 10.0, cone_tol: float = 1e-10):
    """Solve program (8) (cone constraints) by an augmented Lagrangian method with FISTA inside.

    Parameters
    ----------
    problem : ConvexProblem
        With ``gated=False`` and a smooth loss (squared, logistic, cross_entropy).
    tol : float, default=1e-6
        Target relative duality gap, certified at a point that satisfies the cones.
    max_iter : int, default=20000
        Total inner (FISTA) iterations, each one gradient.
    time_limit : float, optional
        Seconds.
    device, dtype :
        Where and in which precision to compute.
    warm_start : ConvexSolution, optional
        A solution of a program (8) of the same shape; its cone multipliers are re-estimated.
    verbose : bool
        Print one line per outer iteration.
    rho : float, optional
        Initial penalty; default ``100 L_loss`` with ``L_loss`` the Lipschitz constant of the
        loss gradient (the constraints live on the scale of predictions; measured on small
        problems, 100 beat 1 and 10 by 2-7x in iterations).
    rho_growth : float, default=10
        Penalty increase after an outer step that did not at least halve the cone violation.
    cone_tol : float, default=1e-10
        Largest accepted cone defect (bound on ``|network - convex model|`` training predictions
        for the recovered network, see :meth:`Operators.cone_defect`) of an "optimal" point.

    Returns
    -------
    ConvexSolution
        ``iterations`` counts inner iterations; ``history`` has one entry per outer iteration
        (plus ``cone_violation`` and ``rho``). ``status`` is ``"optimal"`` only when the projected
        point has certified relative gap ``<= tol`` and cone defect ``<= cone_tol``.
    """
    tol, max_iter, time_limit = check_options(problem, tol=tol, max_iter=max_iter,
                                              time_limit=time_limit, warm_start=warm_start,
                                              name="augmented_lagrangian")
    _check_program(problem, rho, rho_growth)
    lifted = problem.operators(device, dtype)
    monitor = Monitor("augmented_lagrangian", max_iter, time_limit, verbose, dtype=dtype)
    check64 = Float64Check(problem, device) if monitor.low_precision else None
    U = initial_point(lifted, warm_start)
    pre = lifted.preactivations(U)
    M = torch.zeros_like(pre) if warm_start is None else estimate_multipliers(lifted, U, pre)
    rho = 100 * lifted.loss.lipschitz(lifted.weights) if rho is None else float(rho)
    smooth = AugmentedSmooth(lifted, M, rho)
    engine = FISTA(smooth, lifted.beta, U, lipschitz_estimate(lifted) + rho * lifted.x_norm2)
    eps, defect_prev = INNER_TOL_START, float("inf")
    while True:
        limit = None
        while engine.residual > eps * lifted.beta and limit is None:
            engine.step()
            limit = monitor.limit_reached(engine.iterations)
        pre = engine.image
        M = smooth.multipliers(pre)
        defect = lifted.cone_defect(pre)
        gap = exact_gap(lifted, engine.x, pre, M)
        monitor.record(engine.iterations, gap.primal, gap.relative, cone_violation=defect, rho=rho)
        stalled = monitor.stalled
        if gap.relative <= tol or limit is not None or stalled:
            U, final, final_defect = _projected(lifted, engine.x, pre, M, check64, verbose)
            if final.relative <= tol and final_defect <= cone_tol:
                limit = "optimal"
            elif stalled:
                limit = "stalled"
            if limit is not None:
                return make_solution(problem, lifted, U, final.Lam, monitor, limit,
                                     engine.iterations, "augmented_lagrangian", tol)
        if defect > 0.5 * defect_prev:  # the multiplier updates stagnate: stiffer penalty
            rho *= rho_growth
        defect_prev = defect
        eps = max(INNER_TOL_DECAY * eps, 0.1 * tol)
        smooth = AugmentedSmooth(lifted, M, rho)
        engine.reset(smooth)
