"""The proximal operator of program (8)'s group penalty (for the first-order solvers).

``prox_f(V) = argmin_Z f(Z) + 1/2 ||Z - V||^2``. The group-lasso penalty ``beta sum ||u_qc||`` has
the closed-form group soft-thresholding; a loss's prox is its own math, :meth:`Loss.prox
<convexnn.losses.Loss.prox>` (closed form for squared and hinge, Newton's method for logistic and
cross-entropy), which ADMM calls directly.
"""

from __future__ import annotations

import torch

__all__ = ["group_soft_threshold"]


def group_soft_threshold(U: torch.Tensor, threshold: float) -> torch.Tensor:
    """Prox of ``threshold * sum_{q,c} ||U[:, q, c]||``: shrink every group's norm by ``threshold``.

    Groups with norm at most ``threshold`` become exactly zero (this is where sparsity in the
    number of neurons comes from).
    """
    norms = torch.linalg.vector_norm(U, dim=0, keepdim=True)
    return U * torch.relu(1 - threshold / norms.clamp_min(torch.finfo(U.dtype).tiny))

