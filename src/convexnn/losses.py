"""Convex losses: value, gradient, Fenchel conjugate and CVXPY form.

Every loss is an average over samples, ``L(Z) = (1/n) sum_j w_j l(z_j, y_j)`` with per-sample
weights ``w`` (ones by default), where ``Z`` (n, k) are the network's outputs and ``Y`` (n, k) the
targets. The conjugate ``L*(Lam) = sup_Z <Lam, Z> - L(Z)`` gives the dual objective ``-L*(Lam)``
used by the certificates (the dual of Pilanci & Ergen, ICML 2020, for a convex loss;
Ergen & Pilanci, JMLR 2021, Theorem 13: ``max -l*(v) s.t. |v^T (X u)_+| <= beta``).

Like skglm's datafits, a loss knows only its own math; solvers combine it with the penalty.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["CrossEntropy", "Hinge", "Logistic", "Loss", "Squared", "get_loss", "LOSSES"]


class Loss:
    """Base class. Tensors are torch tensors of shape (n, k); ``weights`` has shape (n,)."""

    name: str = ""
    #: whether the gradient is Lipschitz (a smooth loss), with the constant of ``lipschitz``
    smooth: bool = True

    def value(self, Z: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (weights[:, None] * self._elementwise(Z, Y)).sum() / Z.shape[0]

    def gradient(self, Z: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return weights[:, None] * self._derivative(Z, Y) / Z.shape[0]

    def hessian(self, Z: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Per-sample Hessian blocks of ``L`` with respect to ``z_j``: (n, k, k) (smooth losses).

        Losses that act on each output separately have diagonal blocks.
        """
        if not self.smooth:
            raise ValueError(f"the {self.name} loss has no Hessian (it is not smooth)")
        diagonal = weights[:, None] * self._second_derivative(Z, Y) / Z.shape[0]
        return torch.diag_embed(diagonal)

    def lipschitz(self, weights: torch.Tensor) -> float:
        """Lipschitz constant of the gradient with respect to ``Z`` (Frobenius norm)."""
        return self._curvature * float(weights.max()) / weights.shape[0]

    def conjugate(self, Lam: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor) -> float:
        """``L*(Lam)``; ``inf`` outside its domain. Samples of weight 0 need ``Lam = 0``."""
        n = Lam.shape[0]
        active = weights > 0
        if torch.any(Lam[~active] != 0):
            return math.inf
        w = weights[active][:, None]
        S = n * Lam[active] / w  # per-sample dual variable s_j = n lam_j / w_j
        value = self._conjugate_elementwise(S, Y[active])
        return float((w * value).sum() / n) if torch.isfinite(value).all() else math.inf

    def into_domain(self, Lam: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor):
        """A point of ``dom L*`` near ``Lam`` (clips solver round-off; exact points unchanged).

        Dual candidates from interior-point or first-order solvers can sit 1e-10 outside the
        conjugate's domain; certificates map them in and then re-verify dual feasibility.
        """
        w = weights[:, None]
        S = Lam * Y.shape[0] / torch.where(w > 0, w, torch.ones_like(w))
        S = self._into_domain_elementwise(S, Y)
        return torch.where(w > 0, S * w / Y.shape[0], torch.zeros_like(S))

    def _into_domain_elementwise(self, S, Y):
        return S

    def cvxpy(self, Z, Y: np.ndarray, weights: np.ndarray):
        """The loss as a CVXPY expression of the variable ``Z`` (n, k)."""
        raise NotImplementedError

    def conjugate_cvxpy(self, Lam, Y: np.ndarray, weights: np.ndarray):
        """``(L*(Lam) expression, [domain constraints])`` for the dual SOCP; weights > 0 only."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Squared(Loss):
    """``l(z, y) = 1/2 ||z - y||^2`` (regression, or one-hot / +-1 classification targets)."""

    name = "squared"
    _curvature = 1.0

    def _elementwise(self, Z, Y):
        return 0.5 * (Z - Y) ** 2

    def _derivative(self, Z, Y):
        return Z - Y

    def _second_derivative(self, Z, Y):
        return torch.ones_like(Z)

    def _conjugate_elementwise(self, S, Y):
        return 0.5 * S**2 + S * Y

    def cvxpy(self, Z, Y, weights):
        import cvxpy as cp

        return cp.sum(cp.multiply(weights[:, None], cp.square(Z - Y))) / (2 * Y.shape[0])

    def conjugate_cvxpy(self, Lam, Y, weights):
        import cvxpy as cp

        n = Y.shape[0]
        w = weights[:, None]
        return (n / 2) * cp.sum(cp.multiply(1 / w, cp.square(Lam))) + cp.sum(
            cp.multiply(Y, Lam)
        ), []


class Hinge(Loss):
    """``l(z, y) = sum_c max(0, 1 - y_c z_c)``, targets in {-1, +1} (one-vs-all for k > 1)."""

    name = "hinge"
    smooth = False
    _curvature = math.inf

    def _elementwise(self, Z, Y):
        return torch.clamp(1 - Y * Z, min=0)

    def _derivative(self, Z, Y):
        # a subgradient; at the kink (margin exactly 1) zero is chosen
        return -Y * (Y * Z < 1).to(Z.dtype)

    def _conjugate_elementwise(self, S, Y):
        # h*(s) = s y on s y in [-1, 0]
        sy = S * Y
        tol = 1e-12
        inside = (sy >= -1 - tol) & (sy <= tol)
        return torch.where(inside, sy, torch.full_like(sy, math.inf))

    def _into_domain_elementwise(self, S, Y):
        return (S * Y).clamp(-1, 0) * Y

    def kink_subgradients(self, Z, Y, weights, band: float):
        """Samples within ``band`` of the kink (margin 1) and their largest subgradient.

        Returns ``(mask, G)``: every ``theta * G`` with ``theta`` in [0, 1] on the masked
        entries (and the gradient elsewhere) is a subgradient, so a certificate may choose it.
        """
        mask = (Y * Z - 1).abs() <= band
        return mask, -Y * weights[:, None] / Z.shape[0]

    def cvxpy(self, Z, Y, weights):
        import cvxpy as cp

        return cp.sum(cp.multiply(weights[:, None], cp.pos(1 - cp.multiply(Y, Z)))) / Y.shape[0]

    def conjugate_cvxpy(self, Lam, Y, weights):
        import cvxpy as cp

        n = Y.shape[0]
        sy = cp.multiply(n * Y / weights[:, None], Lam)
        return cp.sum(cp.multiply(Y, Lam)), [sy >= -1, sy <= 0]


class Logistic(Loss):
    """``l(z, y) = log(1 + exp(-y z))`` summed over outputs, targets in {-1, +1}."""

    name = "logistic"
    _curvature = 0.25

    def _elementwise(self, Z, Y):
        return torch.nn.functional.softplus(-Y * Z)

    def _derivative(self, Z, Y):
        return -Y * torch.sigmoid(-Y * Z)

    def _second_derivative(self, Z, Y):
        s = torch.sigmoid(Y * Z)  # y^2 = 1
        return s * (1 - s)

    def _conjugate_elementwise(self, S, Y):
        # with a = -s y in [0, 1]: l*(s) = a log a + (1 - a) log(1 - a)
        a = -S * Y
        tol = 1e-12
        inside = (a >= -tol) & (a <= 1 + tol)
        a = a.clamp(0, 1)
        value = torch.special.xlogy(a, a) + torch.special.xlogy(1 - a, 1 - a)
        return torch.where(inside, value, torch.full_like(a, math.inf))

    def _into_domain_elementwise(self, S, Y):
        return -(-S * Y).clamp(0, 1) * Y

    def cvxpy(self, Z, Y, weights):
        import cvxpy as cp

        return cp.sum(cp.multiply(weights[:, None], cp.logistic(-cp.multiply(Y, Z)))) / Y.shape[0]

    def conjugate_cvxpy(self, Lam, Y, weights):
        import cvxpy as cp

        n = Y.shape[0]
        w = weights[:, None]
        a = -cp.multiply(n * Y / w, Lam)
        return cp.sum(cp.multiply(w, -cp.entr(a) - cp.entr(1 - a))) / n, []


class CrossEntropy(Loss):
    """Softmax cross-entropy ``l(z, y) = logsumexp(z) - z^T y`` with one-hot targets ``y``."""

    name = "cross_entropy"
    _curvature = 0.5  # the softmax Hessian diag(p) - p p^T has norm <= 1/2

    def _elementwise(self, Z, Y):
        # per-sample loss placed in column 0 so that value() sums it once per sample
        out = torch.zeros_like(Z)
        out[:, 0] = torch.logsumexp(Z, dim=1) - (Z * Y).sum(1)
        return out

    def _derivative(self, Z, Y):
        return torch.softmax(Z, dim=1) - Y

    def hessian(self, Z, Y, weights):
        p = torch.softmax(Z, dim=1)
        blocks = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        return weights[:, None, None] * blocks / Z.shape[0]

    def _conjugate_elementwise(self, S, Y):
        # l*(s) = sum_c p_c log p_c with p = s + y in the simplex
        p = S + Y
        tol = 1e-10
        inside = (p >= -tol).all(1) & ((p.sum(1) - 1).abs() <= tol)
        p = p.clamp(min=0)
        value = torch.special.xlogy(p, p).sum(1, keepdim=True)
        return torch.where(inside[:, None], value, torch.full_like(value, math.inf))

    def _into_domain_elementwise(self, S, Y):
        p = (S + Y).clamp(min=0)
        return p / p.sum(1, keepdim=True) - Y

    def cvxpy(self, Z, Y, weights):
        import cvxpy as cp

        per_sample = cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1)
        return cp.sum(cp.multiply(weights, per_sample)) / Y.shape[0]

    def conjugate_cvxpy(self, Lam, Y, weights):
        import cvxpy as cp

        n = Y.shape[0]
        P = cp.multiply(n / weights[:, None], Lam) + Y
        value = cp.sum(cp.multiply(weights, cp.sum(-cp.entr(P), axis=1))) / n
        return value, [cp.sum(P, axis=1) == 1]


LOSSES = {cls.name: cls for cls in (Squared, Hinge, Logistic, CrossEntropy)}


def get_loss(loss) -> Loss:
    """A :class:`Loss` from its name (``squared``, ``hinge``, ``logistic``, ``cross_entropy``)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or a Loss instance; got {loss!r}")
