"""Convex losses: everything the package knows about a loss lives in its class.

Every loss is an average over samples, ``L(Z) = (1/n) sum_j w_j l(z_j, y_j)`` with per-sample
weights ``w`` (ones by default), where ``Z`` (n, k) are the network's outputs and ``Y`` (n, k) the
targets. The conjugate ``L*(Lam) = sup_Z <Lam, Z> - L(Z)`` gives the dual objective ``-L*(Lam)``
used by the certificates (the dual of Pilanci & Ergen, ICML 2020, for a convex loss;
Ergen & Pilanci, JMLR 2021, Theorem 13: ``max -l*(v) s.t. |v^T (X u)_+| <= beta``).

Like skglm's datafits, a loss knows only its own math; solvers combine it with the penalty. A
:class:`Loss` subclass carries its value, gradient, conjugate and proximal operator (ADMM's loss
step), the targets it accepts, how class labels are encoded for it, its class probabilities
where it has them, and the flags (smooth, homogeneous...) that solvers and estimators consult
instead of testing names. Adding a loss is one class here and one entry of :data:`LOSSES`.
"""

from __future__ import annotations

import abc
import math

import numpy as np
import torch

__all__ = ["CrossEntropy", "Hinge", "Logistic", "Loss", "Squared", "get_loss", "LOSSES"]


class Loss(abc.ABC):
    """A convex loss: its math and what it asks of targets and labels.

    Tensors are torch tensors of shape (n, k); ``weights`` has shape (n,). A subclass implements
    the per-sample pieces ``_elementwise``, ``_derivative``, ``_conjugate_elementwise`` and
    ``_prox_elementwise``; a smooth one also ``_curvature`` and ``_second_derivative`` (or
    ``hessian``); ``cvxpy`` and ``conjugate_cvxpy`` where the conic solver should take it. The
    rest has defaults that subclasses override: any real targets, the +-1 / one-hot label
    encoding, no class probabilities.
    """

    name: str = ""
    #: whether the gradient is Lipschitz (a smooth loss), with the constant of ``lipschitz``
    smooth: bool = True
    #: whether the loss is a sum over outputs (each column of Z against its column of Y)
    separable: bool = True
    #: whether ``L(s Z, s Y) = s^2 L(Z, Y)``: program (8) is then homogeneous in ``(Y, beta)``,
    #: so the solvers may rescale targets of extreme scale (and the problem warns about them)
    homogeneous: bool = False
    #: whether ``L*(t Lam) = a t^2 + b t`` on all of its domain (``L*(0) = 0``): the best scale of a
    #: dual candidate is then found in closed form (:func:`convexnn._duality.best_dual_scale`)
    quadratic_conjugate: bool = False
    #: whether the loss fits real-valued targets (the regressor's losses, validated by the mean
    #: squared error); the others fit class labels encoded by :meth:`encode_labels`
    regression: bool = False
    #: whether labels of more than two classes can be fitted (else binary classification only)
    multiclass: bool = True
    #: whether the outputs are a model of class probabilities (:meth:`predict_proba`)
    has_proba: bool = False

    def value(self, Z: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (weights[:, None] * self._elementwise(Z, Y)).sum() / Z.shape[0]

    def gradient(self, Z: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return weights[:, None] * self._derivative(Z, Y) / Z.shape[0]

    @abc.abstractmethod
    def _elementwise(self, Z: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """``l`` entrywise (n, k); a loss that couples the outputs puts ``l(z_j, y_j)`` in
        column 0 and zeros elsewhere."""

    @abc.abstractmethod
    def _derivative(self, Z: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """``grad_z l(z_j, y_j)`` for every sample (n, k); a subgradient where ``l`` has a kink."""

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
        if not bool(active.all()):  # masks only when needed: a squared-loss conjugate of 124
            # rows took 54 us without them against 137 with (measured; a fit takes thousands)
            if torch.any(Lam[~active] != 0):
                return math.inf
            Lam, Y, weights = Lam[active], Y[active], weights[active]
        w = weights[:, None]
        S = n * Lam / w  # per-sample dual variable s_j = n lam_j / w_j
        total = float((w * self._conjugate_elementwise(S, Y)).sum()) / n
        return total if math.isfinite(total) else math.inf  # inf or NaN outside the domain

    @abc.abstractmethod
    def _conjugate_elementwise(self, S: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """``l*(s_j)`` for every sample, entrywise (n, k) or per row (n, 1); ``inf`` outside the
        domain."""

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

    def prox(self, V: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor, rho: float,
             start: torch.Tensor | None = None) -> torch.Tensor:
        """``argmin_Z L(Z) + rho/2 ||Z - V||_F^2``: (n, k); ADMM's loss step.

        The mean loss separates over samples, so this is the prox of ``l`` with step
        ``w_j / (n rho)`` for each sample. ``start`` (e.g. the previous prox of an iteration)
        starts the solves that need a start (cross-entropy's Newton solve); closed forms and
        solves with a start that guarantees convergence ignore it.
        """
        return self._prox_elementwise(V, Y, _prox_steps(weights, rho), start)

    @abc.abstractmethod
    def _prox_elementwise(self, V: torch.Tensor, Y: torch.Tensor, step: torch.Tensor,
                          start: torch.Tensor | None) -> torch.Tensor:
        """Per sample ``argmin_z step_j l(z, y_j) + 1/2 ||z - v_j||^2``; ``step`` is (n, 1)."""

    def affine_prox(self, Y: torch.Tensor, weights: torch.Tensor, rho: float):
        """``(scale, offset)`` (n, k) with ``prox(V) = scale * V + offset`` for every ``V``
        (:meth:`prox` at ``Y``, ``weights``, ``rho``) when the prox is affine per sample (a
        quadratic loss), else None. ADMM's compiled iteration (:mod:`.solvers._fused`) takes
        the loss step from it."""
        return None

    def check_targets(self, Y: np.ndarray, name: str = "y") -> None:
        """Raise ``ValueError`` unless the targets ``Y`` (n, k) suit the loss.

        ``Y`` is already a finite float array; ``name`` is the argument named in the error. By
        default any real targets are accepted.
        """
        return None

    def encode_labels(self, index: np.ndarray, n_classes: int) -> np.ndarray:
        """Targets of program (8) for class indices (``range(n_classes)``), as the classifier
        fits them: one output of +-1 for two classes, else one-hot rows (n, n_classes)."""
        if n_classes == 2:
            return (2.0 * index - 1.0)[:, None]
        return np.eye(n_classes)[index]

    def predict_proba(self, scores: np.ndarray) -> np.ndarray:
        """Class probabilities (n, n_classes) of network outputs ``scores`` (n, k), for the
        losses that ``has_proba``."""
        raise ValueError(f"the {self.name} loss has no class probabilities")

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
    homogeneous = True
    quadratic_conjugate = True
    regression = True
    _curvature = 1.0

    def _elementwise(self, Z, Y):
        return 0.5 * (Z - Y) ** 2

    def _derivative(self, Z, Y):
        return Z - Y

    def _second_derivative(self, Z, Y):
        return torch.ones_like(Z)

    def _conjugate_elementwise(self, S, Y):
        return 0.5 * S**2 + S * Y

    def _prox_elementwise(self, V, Y, step, start):
        return (V + step * Y) / (1 + step)

    def affine_prox(self, Y, weights, rho):
        step = _prox_steps(weights, rho)
        return (1 / (1 + step)).expand_as(Y), step * Y / (1 + step)

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

    def _prox_elementwise(self, V, Y, step, start):
        # l(z) = max(0, 1 - y z): move towards the margin by at most `step`, never past it
        margin = Y * V
        return torch.where(margin >= 1, V,
                           torch.where(margin <= 1 - step, V + step * Y, Y))

    def check_targets(self, Y, name="y"):
        _check_signs(Y, self.name, name)

    def encode_labels(self, index, n_classes):
        """+-1 targets: one output for two classes, else one-vs-all rows (n, n_classes)."""
        Y = super().encode_labels(index, n_classes)
        return Y if n_classes == 2 else 2.0 * Y - 1.0

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
    multiclass = False  # binary only: cross_entropy is the multi-class likelihood
    has_proba = True
    _curvature = 0.25
    _max_newton = 100

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

    def _prox_elementwise(self, V, Y, step, start):
        """Root of ``z - v - step y sigmoid(-y z) = 0`` elementwise, by Newton's method on the
        margin.

        In ``u = y z`` the equation is ``h(u) = u - y v - step sigmoid(-u) = 0`` with
        ``h' >= 1``, ``h`` convex for ``u < 0`` and concave for ``u > 0``. Started at the
        inflection point ``u = 0``, Newton's iterates approach the root monotonically from its
        side of 0, so they converge for every step size (quadratically near the root).
        """
        margin = Y * V
        u = torch.zeros_like(V)
        rtol = _newton_rtol(V.dtype)
        for _ in range(self._max_newton):
            s = torch.sigmoid(-u)
            u_next = u - (u - margin - step * s) / (1 + step * s * (1 - s))
            if torch.all(torch.abs(u_next - u) <= rtol * (1 + torch.abs(u))):
                return Y * u_next
            u = u_next
        return Y * u

    def check_targets(self, Y, name="y"):
        _check_signs(Y, self.name, name)

    def predict_proba(self, scores):
        """``[1 - p, p]`` with ``p = sigmoid(score)`` of the one output."""
        positive = torch.sigmoid(torch.as_tensor(scores)[:, 0])
        return torch.stack([1 - positive, positive], dim=1).numpy()

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
    has_proba = True
    separable = False  # the softmax couples the outputs
    _curvature = 0.5  # the softmax Hessian diag(p) - p p^T has norm <= 1/2
    _max_newton = 60

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

    def _prox_elementwise(self, V, Y, step, start):
        # on the CPU one compiled Newton loop per row: the same iteration, 9-21x faster than
        # the batched torch steps below on 60 x 3 rows and 1.7-6x on 1257 x 10 (measured)
        if V.device.type == "cpu":
            from ._loss_kernels import cross_entropy_prox

            as64 = [T.detach().to(torch.float64).contiguous().numpy() for T in (V, Y)]
            Z = cross_entropy_prox(*as64, step.detach().to(torch.float64).reshape(-1).numpy(),
                                   None if start is None
                                   else start.detach().to(torch.float64).contiguous().numpy(),
                                   self._max_newton)
            return torch.from_numpy(Z).to(V.dtype)
        if V.dtype != torch.float64:
            # in float32 the Sherman-Morrison Newton direction lost its descent property
            # (cancellation for large steps: 60 Newton steps of 17 halvings each, an answer
            # 1.5e-3 off, measured); the solve is O(n k), negligible next to ADMM's products
            as64 = torch.float64
            return self._prox_rows(V.to(as64), Y.to(as64), step.to(as64),
                                   None if start is None else start.to(as64)).to(V.dtype)
        return self._prox_rows(V, Y, step, start)

    def _prox_rows(self, V, Y, step, start):
        """Rowwise ``argmin_z step (logsumexp(z) - y^T z) + 1/2 ||z - v||^2`` by damped Newton.

        The Hessian ``step (diag(p) - p p^T) + I`` (``p = softmax(z)``) is inverted with the
        Sherman-Morrison formula; a row's step is halved until its objective decreases. From
        ``v`` with ADMM's large steps (``step`` ~ 100) Newton took ~25 damped iterations per row
        (the log-sum-exp is nearly linear far from its minimizer); from ADMM's previous prox, a
        few. Each row starts at the better of the two.
        """

        def objective(Z):
            return (step[:, 0] * (torch.logsumexp(Z, 1) - (Y * Z).sum(1))
                    + 0.5 * ((Z - V) ** 2).sum(1))

        Z = V.clone()
        value = objective(Z)
        if start is not None:
            at_start = objective(start)
            better = at_start < value
            Z = torch.where(better[:, None], start, Z)
            value = torch.where(better, at_start, value)
        active = torch.ones_like(value, dtype=torch.bool)  # rows still moving
        for _ in range(self._max_newton):
            p = torch.softmax(Z, dim=1)
            grad = step * (p - Y) + Z - V
            diag = 1 + step * p  # Hessian = diag - step p p^T
            dg, dp = grad / diag, p / diag
            direction = dg + step * dp * (p * dg).sum(1, keepdim=True) / (
                1 - step * (p * dp).sum(1, keepdim=True))
            active &= ~torch.all(torch.abs(direction) <= 1e-13 * (1 + torch.abs(Z)), dim=1)
            if not torch.any(active):
                return Z
            # below rounding of the objective the decrease test is meaningless: full steps
            # there (the Hessian is >= I, so Newton converges quadratically that close)
            testable = (grad * direction).sum(1) > 1e-12 * (1 + value.abs())
            scale = torch.ones_like(value)
            for _ in range(30):
                trial = Z - scale[:, None] * direction
                trial_value = objective(trial)
                worse = (trial_value > value) & testable & active
                if not torch.any(worse):
                    break
                scale = torch.where(worse, 0.5 * scale, scale)
            # rows that found no decrease keep their point (they are optimal to rounding) and
            # stop
            moved = active & ~worse
            Z = torch.where(moved[:, None], trial, Z)
            value = torch.where(moved, trial_value, value)
            active = moved
        return Z

    def check_targets(self, Y, name="y"):
        if Y.shape[1] < 2 or not np.all(np.isin(Y, (0.0, 1.0))) or np.any(Y.sum(1) != 1):
            raise ValueError(
                f"{name} must be one-hot rows (one 1 per row, >= 2 columns) for the "
                f"cross_entropy loss; got shape {Y.shape}"
            )

    def encode_labels(self, index, n_classes):
        """One-hot rows (n, n_classes), for two classes too (one output per class)."""
        return np.eye(n_classes)[index]

    def predict_proba(self, scores):
        """The softmax of the outputs."""
        return torch.softmax(torch.as_tensor(scores), dim=1).numpy()

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


#: the registry of losses by name: what ``get_loss``, the estimators and the regularization
#: path accept (the command line spells the names out to keep torch out of ``--help``)
LOSSES = {cls.name: cls for cls in (Squared, Hinge, Logistic, CrossEntropy)}


def get_loss(loss) -> Loss:
    """A :class:`Loss` from its name (``squared``, ``hinge``, ``logistic``, ``cross_entropy``)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or a Loss instance; got {loss!r}")


def _prox_steps(weights: torch.Tensor, rho: float) -> torch.Tensor:
    """The prox step ``w_j / (n rho)`` of each sample of the mean loss: (n, 1)."""
    return (weights / (weights.shape[0] * rho))[:, None]


def _check_signs(Y: np.ndarray, loss_name: str, name: str) -> None:
    """The targets of margin losses (hinge, logistic): only -1 and +1."""
    if not np.all(np.isin(Y, (-1.0, 1.0))):
        found = np.unique(Y)[:5]
        raise ValueError(
            f"{name} must hold only -1 and +1 for the {loss_name} loss; found values {found}"
        )


def _newton_rtol(dtype: torch.dtype) -> float:
    """Relative step at which the Newton solves stop: 1e-13 in float64; in a coarser dtype a few
    units of its rounding (1e-13 is below float32's resolution, so those solves used to run all
    their iterations)."""
    return max(1e-13, 4 * torch.finfo(dtype).eps)
