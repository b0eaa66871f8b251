"""Proximal operators: the group penalty of program (8) and the losses (for ADMM's split).

``prox_f(V) = argmin_Z f(Z) + 1/2 ||Z - V||^2``. The group-lasso penalty ``beta sum ||u_qc||`` has
the closed-form group soft-thresholding; a loss's prox is its own math, :meth:`Loss.prox
<convexnn.losses.Loss.prox>` (closed form for squared and hinge, Newton's method for logistic and
cross-entropy).
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

    The loss's own :meth:`~convexnn.losses.Loss.prox`, under the name ADMM calls.
    """
    return loss.prox(V, Y, weights, rho, start)
