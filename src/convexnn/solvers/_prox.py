"""Proximal operators: the group penalty of program (8) and the losses (for ADMM's split).

``prox_f(V) = argmin_Z f(Z) + 1/2 ||Z - V||^2``. The group-lasso penalty ``beta sum ||u_qc||`` has
the closed-form group soft-thresholding; a mean loss ``L(Z) = (1/n) sum_j w_j l(z_j, y_j)``
separates over samples, so ``prox_{L/rho}`` is the prox of ``l`` with step ``w_j / (n rho)`` per
sample: closed form for squared and hinge, Newton's method for logistic (scalar, globally
convergent from the inflection point) and damped Newton for cross-entropy (one small problem
per row).
"""

from __future__ import annotations

import torch

__all__ = ["group_soft_threshold", "prox_loss"]


def group_soft_threshold(U: torch.Tensor, threshold: float) -> torch.Tensor:
    """Prox of ``threshold * sum_{q,c} ||U[:, q, c]||``: shrink every group's norm by ``threshold``.

    Groups with norm at most ``threshold`` become exactly zero (this is where sparsity in the
    number of neurons comes from).
    """
    norms = torch.linalg.vector_norm(U, dim=0, keepdim=True)
    return U * torch.relu(1 - threshold / norms.clamp_min(torch.finfo(U.dtype).tiny))


def prox_loss(loss, V: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor,
              rho: float, start: torch.Tensor | None = None) -> torch.Tensor:
    """``argmin_Z L(Z) + rho/2 ||Z - V||_F^2`` for the mean loss ``L`` of ``loss``: (n, k).

    ``start`` (e.g. the previous prox of an iteration) starts the cross-entropy's Newton solve;
    the other losses have closed forms or a start that guarantees convergence.
    """
    step = (weights / (V.shape[0] * rho))[:, None]  # (n, 1): per-sample prox step
    if loss.name == "squared":
        return (V + step * Y) / (1 + step)
    if loss.name == "hinge":
        # l(z) = max(0, 1 - y z): move towards the margin by at most `step`, never past it
        margin = Y * V
        return torch.where(margin >= 1, V,
                           torch.where(margin <= 1 - step, V + step * Y, Y))
    if loss.name == "logistic":
        return _prox_logistic(V, Y, step)
    if loss.name == "cross_entropy":
        if V.dtype != torch.float64:
            # in float32 the Sherman-Morrison Newton direction lost its descent property
            # (cancellation for large steps: 60 Newton steps of 17 halvings each, an answer
            # 1.5e-3 off, measured); the solve is O(n k), negligible next to ADMM's products
            as64 = torch.float64
            return _prox_cross_entropy(V.to(as64), Y.to(as64), step.to(as64),
                                       None if start is None else start.to(as64)).to(V.dtype)
        return _prox_cross_entropy(V, Y, step, start)
    raise ValueError(f"no proximal operator for the loss {loss.name!r}")


def _newton_rtol(dtype: torch.dtype) -> float:
    """Relative step at which the Newton solves stop: 1e-13 in float64; in a coarser dtype a few
    units of its rounding (1e-13 is below float32's resolution, so those solves used to run all
    their iterations)."""
    return max(1e-13, 4 * torch.finfo(dtype).eps)


def _prox_logistic(V, Y, step, max_newton: int = 100):
    """Root of ``z - v - step y sigmoid(-y z) = 0`` elementwise, by Newton's method on the margin.

    In ``u = y z`` the equation is ``h(u) = u - y v - step sigmoid(-u) = 0`` with ``h' >= 1``, ``h``
    convex for ``u < 0`` and concave for ``u > 0``. Started at the inflection point ``u = 0``,
    Newton's iterates approach the root monotonically from its side of 0, so they converge for
    every step size (quadratically near the root).
    """
    margin = Y * V
    u = torch.zeros_like(V)
    rtol = _newton_rtol(V.dtype)
    for _ in range(max_newton):
        s = torch.sigmoid(-u)
        u_next = u - (u - margin - step * s) / (1 + step * s * (1 - s))
        if torch.all(torch.abs(u_next - u) <= rtol * (1 + torch.abs(u))):
            return Y * u_next
        u = u_next
    return Y * u


def _prox_cross_entropy(V, Y, step, start=None, max_newton: int = 60):
    """Rowwise ``argmin_z step (logsumexp(z) - y^T z) + 1/2 ||z - v||^2`` by damped Newton.

    The Hessian ``step (diag(p) - p p^T) + I`` (``p = softmax(z)``) is inverted with the
    Sherman-Morrison formula; a row's step is halved until its objective decreases. From ``v``
    with ADMM's large steps (``step`` ~ 100) Newton took ~25 damped iterations per row (the
    log-sum-exp is nearly linear far from its minimizer); from ADMM's previous prox, a few.
    Each row starts at the better of the two.
    """

    def objective(Z):
        return step[:, 0] * (torch.logsumexp(Z, 1) - (Y * Z).sum(1)) + 0.5 * ((Z - V) ** 2).sum(1)

    Z = V.clone()
    value = objective(Z)
    if start is not None:
        at_start = objective(start)
        better = at_start < value
        Z = torch.where(better[:, None], start, Z)
        value = torch.where(better, at_start, value)
    active = torch.ones_like(value, dtype=torch.bool)  # rows still moving
    for _ in range(max_newton):
        p = torch.softmax(Z, dim=1)
        grad = step * (p - Y) + Z - V
        diag = 1 + step * p  # Hessian = diag - step p p^T
        dg, dp = grad / diag, p / diag
        direction = dg + step * dp * (p * dg).sum(1, keepdim=True) / (
            1 - step * (p * dp).sum(1, keepdim=True))
        active &= ~torch.all(torch.abs(direction) <= 1e-13 * (1 + torch.abs(Z)), dim=1)
        if not torch.any(active):
            return Z
        # below rounding of the objective the decrease test is meaningless: full steps there
        # (the Hessian is >= I, so Newton converges quadratically that close)
        testable = (grad * direction).sum(1) > 1e-12 * (1 + value.abs())
        scale = torch.ones_like(value)
        for _ in range(30):
            trial = Z - scale[:, None] * direction
            trial_value = objective(trial)
            worse = (trial_value > value) & testable & active
            if not torch.any(worse):
                break
            scale = torch.where(worse, 0.5 * scale, scale)
        # rows that found no decrease keep their point (they are optimal to rounding) and stop
        moved = active & ~worse
        Z = torch.where(moved[:, None], trial, Z)
        value = torch.where(moved, trial_value, value)
        active = moved
    return Z
