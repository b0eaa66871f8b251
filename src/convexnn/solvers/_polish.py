"""Active-face polish of program (8) and of the gated relaxation: Newton's method on the faces.

Near an optimum the support of an iterate (its nonzero groups) and, for each nonzero group
``u``, the face of its cone it lies on (the rows with ``x_j^T u = 0``) stop changing. On them
the program is smooth for a smooth loss::

    min  L(sum_g mask_g * (X u_g)) + beta sum_g ||u_g||     s.t.  u_g in span(N_g),

with ``N_g`` a basis of the null space of group ``g``'s face rows (all of R^d for the gated
relaxation). Its Newton system is formed densely in the face coordinates and factored by
Cholesky (matrix-free conjugate gradients were tried first: with block-Jacobi preconditioning
they needed 100-200 steps per Newton step on breast_cancer, measured). A step that would leave a
cone is first tried projected onto the cones (the projections' active rows become the faces);
if that does not decrease the objective it is shortened to the cone's boundary and the blocking
row joins its group's face. A group that shrinks to zero leaves the support, a face row whose
multiplier comes out negative leaves the face, and a zero group whose exact price exceeds
``beta`` enters (an active-set method on the faces, as OSQP polishes its ADMM iterates:
Stellato et al., 2020). The result is kept only if it certifies: :func:`._stopping.exact_gap`
with the faces' multipliers, the dual candidate being the loss gradient at the polished point.
"""

from __future__ import annotations

import functools
import math
import time

import torch

from .._groups import NEGLIGIBLE
from ..problem import Operators
from ._stopping import Gap, cone_bounds, exact_gap, gated_gap

__all__ = ["polish"]

#: a row is on a group's face when ``|x_j^T u| <= FACE_RTOL ||x_j|| ||u||``
FACE_RTOL = 1e-6
#: Newton steps (each a dense factorization) before the polish gives up, within its time
#: budget: a blocked step adds one face row and a vanishing group leaves one at a time, so a
#: support far from the final one takes many (cross-entropy on 30 points, all 872 patterns:
#: 61 steps, 0.6 s, to a certified 8e-14; measured)
MAX_NEWTON = 100
#: rounds in which face rows with negative multipliers leave or violated groups enter, within
#: the polish's time budget: logistic loss on 30 points, all 872 patterns, from ADMM's point at
#: iteration 420 (gap 9e-3), took six rounds (11, 8, 6, 5, 5 and 8 groups) to a certified 4e-9
#: in 0.25 s; with five it failed, and ADMM ran to iteration 1,730 (3.7 s instead of 1.1 s)
MAX_RELEASES = 20
#: largest work of one Newton step in flops (see ``_Faces.work``); above it there is no polish
MAX_WORK = 2e10
#: on the CPU a Newton step above this work is timed in advance (:func:`_dense_rate`): the
#: polish does not start unless ``FIRST_STEPS`` steps fit in its time, nor take a step that
#: would end past it. Without it, on breast_cancer's default fit a polish with a 1 s budget took
#: two steps of 0.66 s and gave up at its deadline: 1.1 s of a 5.8 s fit, for nothing (and
#: 1.0 s of keel:ionosphere's 5.0 s, of keel:vehicle's 17 s; measured)
TIMED_WORK = 1e8
FIRST_STEPS = 3


def _face_rows(X: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """Which rows each column of ``U`` (d, m) lies on: ``|x_j^T u| <= FACE_RTOL ||x_j|| ||u||``,
    (n, m)."""
    scale = torch.linalg.vector_norm(X, dim=1)[:, None] * torch.linalg.vector_norm(U, dim=0)
    return (X @ U).abs() <= FACE_RTOL * scale


class _Faces:
    """The support of a point and the face of each nonzero group: the polished variables.

    Group ``g``'s vector is ``u_g = N_g z_g`` with ``N_g`` (d, r) an orthonormal basis of the null
    space of its face rows, stored zero-padded to ``d`` columns (``valid`` marks the real ones).
    """

    def __init__(self, lifted: Operators, U: torch.Tensor):
        norms = torch.linalg.vector_norm(U, dim=0)  # (Q, k)
        q, c = torch.nonzero(norms > NEGLIGIBLE * norms.max(), as_tuple=True)
        self.lifted, self.q, self.c = lifted, q, c
        self.U = U[:, q, c].clone()  # (d, m)
        self.mask = lifted.mask[:, q]  # (n, m)
        self.sign = None if lifted.gated else lifted.sign[:, q]
        if self.sign is None:
            self.on_face = torch.zeros_like(self.mask, dtype=torch.bool)
        else:
            self.on_face = _face_rows(lifted.X, self.U)
        d = lifted.d
        self.N = torch.zeros(self.m, d, d, dtype=U.dtype, device=U.device)
        self.valid = torch.zeros(self.m, d, dtype=torch.bool, device=U.device)
        # the bases are the caller's to compute (update_bases of every group): one SVD per
        # group, 1.6 s of digits' program (8) for a polish whose first step was far beyond
        # MAX_WORK (measured), so the caller first checks least_work

    @property
    def m(self) -> int:
        return self.U.shape[1]

    def update_bases(self, groups: torch.Tensor) -> None:
        """Recompute the null-space bases of ``groups`` and put their vectors on the faces."""
        X, d = self.lifted.X, self.lifted.d
        eye = torch.eye(d, dtype=X.dtype, device=X.device)
        for g in groups.tolist():
            rows = X[self.on_face[:, g]]
            if rows.shape[0] == 0:
                self.N[g], self.valid[g] = eye, True
                continue
            _, s, Vt = torch.linalg.svd(rows, full_matrices=True)
            rank = int((s > 1e-12 * s[0]).sum())
            self.N[g].zero_()
            self.N[g, :, : d - rank] = Vt[rank:].T
            self.valid[g] = torch.arange(d, device=X.device) < d - rank
            self.U[:, g] = self.N[g] @ (self.N[g].T @ self.U[:, g])  # rounding only

    def keep(self, alive: torch.Tensor) -> None:
        """Drop the groups that are not ``alive``."""
        self.q, self.c, self.U = self.q[alive], self.c[alive], self.U[:, alive]
        self.mask, self.on_face = self.mask[:, alive], self.on_face[:, alive]
        self.N, self.valid = self.N[alive], self.valid[alive]
        if self.sign is not None:
            self.sign = self.sign[:, alive]

    def add(self, q: torch.Tensor, c: torch.Tensor, U: torch.Tensor) -> None:
        """Add groups ``(q, c)`` with vectors ``U`` (d, a) strictly inside their cones."""
        lifted, start = self.lifted, self.m
        self.q, self.c = torch.cat([self.q, q]), torch.cat([self.c, c])
        self.U = torch.cat([self.U, U], dim=1)
        self.mask = torch.cat([self.mask, lifted.mask[:, q]], dim=1)
        self.sign = torch.cat([self.sign, lifted.sign[:, q]], dim=1)
        self.on_face = torch.cat([self.on_face, _face_rows(lifted.X, U)], dim=1)
        self.N = torch.cat([self.N, torch.zeros(q.numel(), *self.N.shape[1:], dtype=U.dtype,
                                                device=U.device)])
        self.valid = torch.cat([self.valid, torch.zeros(q.numel(), lifted.d, dtype=torch.bool,
                                                        device=U.device)])
        self.update_bases(torch.arange(start, self.m, device=U.device))

    def predict(self, U: torch.Tensor) -> torch.Tensor:
        """The prediction (n, k) of the groups ``U`` (d, m)."""
        lifted = self.lifted
        Z = torch.zeros(lifted.n, lifted.k, dtype=U.dtype, device=U.device)
        return Z.index_add_(1, self.c, self.mask * (lifted.X @ U))

    def back(self, G: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`predict`: ``X^T (mask_g * G[:, c_g])`` (d, m)."""
        return self.lifted.X.T @ (self.mask * G[:, self.c])

    def objective(self, U: torch.Tensor) -> float:
        lifted = self.lifted
        return float(lifted.loss_value(self.predict(U))
                     + lifted.beta * torch.linalg.vector_norm(U, dim=0).sum())

    def work(self, dimensions: torch.Tensor | None = None) -> float:
        """Flops of one dense Newton step (the Hessian's products and its factorization), with
        the groups' face dimensions (their bases' columns, or ``dimensions``)."""
        if dimensions is None:
            dimensions = self.valid.sum(1)
        sizes = torch.zeros(self.lifted.k, dtype=torch.float64)
        sizes.index_add_(0, self.c.cpu(), dimensions.cpu().to(torch.float64))
        return float(self.lifted.n * (sizes**2).sum() + (sizes**3).sum() / 3)

    def least_work(self) -> float:
        """A lower bound of :meth:`work` before the bases are computed: a group on ``f`` face
        rows keeps at least ``d - f`` dimensions (the rows' rank is at most ``f``)."""
        return self.work((self.lifted.d - self.on_face.sum(0)).clamp(min=0))

    def full(self) -> torch.Tensor:
        """The stacked variable (d, Q, k) of the current groups."""
        lifted = self.lifted
        U = torch.zeros(lifted.d, lifted.Q, lifted.k, dtype=self.U.dtype,
                        device=self.U.device)
        U[:, self.q, self.c] = self.U
        return U


def _damped_cholesky(hessian: torch.Tensor) -> torch.Tensor | None:
    """The Cholesky factor of ``hessian + lam I`` for the least ``lam`` of ``1e-14, 1e-12,
    ..., 1e-4`` times its largest diagonal entry that factors, or None.

    With a saturated loss (cross-entropy or logistic on separable points) the loss curvature
    vanishes along groups' radial directions, where the penalty has none either, and the face
    system becomes singular to rounding: on 30 points, all 872 patterns, three classes, the
    polish stopped after 25 of its steps. Damped (a Levenberg-Marquardt step, still a descent
    direction; the line search keeps the objective decreasing), it went on and certified 7e-14
    in 60 steps (measured)."""
    scale = float(hessian.diagonal().abs().max())
    eye = torch.eye(hessian.shape[0], dtype=hessian.dtype, device=hessian.device)
    for exponent in range(-14, -3, 2):
        factor, info = torch.linalg.cholesky_ex(hessian + 10.0**exponent * scale * eye)
        if int(info) == 0:
            return factor
    return None


def _newton_step(faces: _Faces) -> tuple[torch.Tensor, float] | None:
    """The Newton direction (d, m) on the faces and the Newton decrement, or None (singular).

    In the face coordinates ``z`` (the valid columns of every ``N_g``, stacked) the Hessian is
    ``A^T H A`` plus the penalty's block-diagonal curvature ``beta (I - z z^T / |z|^2) / |z|``,
    with ``A`` the masked ``X N_g`` blocks and ``H`` the loss's per-sample Hessian; where the loss
    acts on each output separately only the output-diagonal blocks are formed.
    """
    lifted, d = faces.lifted, faces.lifted.d
    Z = faces.predict(faces.U)
    norms = torch.linalg.vector_norm(faces.U, dim=0)
    unit = faces.U / norms
    # coordinates (g, i) with i < r_g, ordered by output, then group: position[g, i] in z
    order = torch.argsort(faces.c, stable=True)
    position = torch.full((faces.m, d), -1, dtype=torch.long, device=Z.device)
    valid = faces.valid[order]
    position[order] = torch.where(valid, torch.cumsum(valid.reshape(-1), 0).reshape(valid.shape)
                                  - 1, -1)
    coordinates = position.reshape(-1) >= 0
    index = position.reshape(-1)[coordinates]  # z position of each valid (g, i), row-major
    grad = torch.zeros(index.numel(), dtype=Z.dtype, device=Z.device)
    grad[index] = torch.einsum("gdr,dg->gr", faces.N,
                               faces.back(lifted.loss_gradient(Z)) + lifted.beta * unit
                               ).reshape(-1)[coordinates]
    A = torch.zeros(lifted.n, index.numel(), dtype=Z.dtype, device=Z.device)
    A[:, index] = (faces.mask[:, :, None] * torch.einsum("nd,gdr->ngr", lifted.X, faces.N)
                   ).reshape(lifted.n, -1)[:, coordinates]
    H = lifted.loss.hessian(Z, lifted.Y, lifted.weights)
    separable = bool(torch.all(H == torch.diag_embed(torch.diagonal(H, dim1=1, dim2=2))))
    sizes = torch.zeros(lifted.k, dtype=torch.long).index_add_(
        0, faces.c.cpu(), faces.valid.sum(1).cpu()).tolist()
    starts = [sum(sizes[:a]) for a in range(lifted.k + 1)]
    hessian = torch.zeros(index.numel(), index.numel(), dtype=Z.dtype, device=Z.device)
    for a in range(lifted.k):  # the loss part A^T H A, by blocks of outputs
        rows = slice(starts[a], starts[a + 1])
        for b in ([a] if separable else range(lifted.k)):
            cols = slice(starts[b], starts[b + 1])
            hessian[rows, cols] = A[:, rows].T @ (H[:, a, b, None] * A[:, cols])
    # the penalty: beta / |u_g| on the diagonal minus beta / |u_g| zhat zhat^T per group block
    zhat = torch.einsum("gdr,dg->gr", faces.N, unit)
    weight = (lifted.beta / norms)[:, None].expand(-1, d).reshape(-1)[coordinates]
    hessian.diagonal()[index] += weight
    pairs = (position[:, :, None] >= 0) & (position[:, None, :] >= 0)
    outer = ((lifted.beta / norms)[:, None, None] * zhat[:, :, None] * zhat[:, None, :])[pairs]
    hessian.index_put_((position[:, :, None].expand(-1, -1, d)[pairs],
                        position[:, None, :].expand(-1, d, -1)[pairs]), -outer,
                       accumulate=True)
    factor = _damped_cholesky(hessian)
    if factor is None:
        return None
    step = -torch.cholesky_solve(grad[:, None], factor)[:, 0]
    padded = torch.zeros(faces.m * d, dtype=A.dtype, device=A.device)
    padded[coordinates] = step[index]
    return (torch.einsum("gdr,gr->dg", faces.N, padded.reshape(faces.m, d)),
            -float(grad @ step))


def _largest_step(faces: _Faces, step: torch.Tensor) -> tuple[float, torch.Tensor | None]:
    """The largest ``t <= 1`` keeping ``U + t step`` in the cones, and the rows blocking it."""
    if faces.sign is None:
        return 1.0, None
    X = faces.lifted.X
    margin = faces.sign * (X @ faces.U)
    rate = faces.sign * (X @ step)
    leaving = (rate < 0) & ~faces.on_face
    ratios = torch.where(leaving, margin.clamp(min=0) / -rate, torch.full_like(margin, math.inf))
    t = float(ratios.min()) if ratios.numel() else math.inf
    if t >= 1:
        return 1.0, None
    return t, ratios <= t * (1 + 1e-12)


def _face_multipliers(faces: _Faces) -> torch.Tensor:
    """Least-squares multipliers (n, m) of the face rows (KKT: ``grad_u = X_F^T (s_F mu)``)."""
    lifted, X = faces.lifted, faces.lifted.X
    Z = faces.predict(faces.U)
    unit = faces.U / torch.linalg.vector_norm(faces.U, dim=0)
    grad = faces.back(lifted.loss_gradient(Z)) + lifted.beta * unit  # (d, m), unprojected
    mu = torch.zeros_like(faces.mask)
    for g in torch.nonzero(faces.on_face.any(dim=0)).squeeze(1).tolist():
        rows = faces.on_face[:, g]
        A = (faces.sign[rows, g][:, None] * X[rows]).T  # (d, |F|)
        mu[rows, g] = torch.linalg.lstsq(A, grad[:, g:g + 1]).solution[:, 0]
    return mu


@functools.cache
def _dense_rate() -> float:
    """Multiply-adds per second of a dense float64 product on the CPU at the current thread
    setting (the best of three 512 x 512 products; measured once per process)."""
    A = torch.randn(512, 512, dtype=torch.float64)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        A @ A
        best = min(best, time.perf_counter() - start)
    return 512**3 / max(best, 1e-9)


def _affordable(work: float, steps: int, deadline: float, device: torch.device) -> bool:
    """Whether ``steps`` Newton steps of ``work`` flops may start now: at most ``MAX_WORK``,
    before the deadline, and (on the CPU, above ``TIMED_WORK``) ending before it at the
    machine's measured rate."""
    now = time.perf_counter()
    if now > deadline or work > MAX_WORK:
        return False
    return not (work > TIMED_WORK and device.type == "cpu"
                and now + steps * work / _dense_rate() > deadline)


def _newton(faces: _Faces, deadline: float) -> bool:
    """Newton's method on the current faces; False when it cannot proceed (in time)."""
    value = faces.objective(faces.U)
    for step_index in range(MAX_NEWTON):
        if not _affordable(faces.work(), FIRST_STEPS if step_index == 0 else 1, deadline,
                           faces.U.device):
            return False
        newton = _newton_step(faces)
        if newton is None:
            return False
        step, decrement = newton
        if decrement <= 1e-15 * max(abs(value), 1e-300):
            return True
        t_max, blocking = _largest_step(faces, step)
        if t_max < 1:  # blocked: try the full step projected onto the cones first
            trial, on_face = _projected(faces, faces.U + step)
            trial_value = faces.objective(trial)
            if trial_value <= value - 1e-4 * decrement:
                faces.U, value, faces.on_face = trial, trial_value, on_face
                _drop_zeros(faces)
                faces.update_bases(torch.arange(faces.m, device=trial.device))
                if faces.m == 0:
                    return False
                continue
        t = t_max
        while True:  # Armijo backtracking inside the cones
            trial = faces.U + t * step
            trial_value = faces.objective(trial)
            if trial_value <= value - 1e-4 * t * decrement:
                break
            t *= 0.5
            blocking = None
            if t < 1e-10:
                return decrement <= 1e-12 * max(abs(value), 1e-300)
        faces.U, value = trial, trial_value
        if blocking is not None:
            faces.on_face |= blocking
            faces.update_bases(torch.nonzero(blocking.any(dim=0)).squeeze(1))
        _drop_zeros(faces)
        if faces.m == 0:
            return False
    return False


def _drop_zeros(faces: _Faces) -> None:
    """Remove the groups that have shrunk to (numerically) zero."""
    norms = torch.linalg.vector_norm(faces.U, dim=0)
    alive = norms > 1e-10 * norms.max()
    if not bool(alive.all()):
        faces.keep(alive)


def _projected(faces: _Faces, U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``U`` (d, m) with every group projected onto its cone, and the rows active at the
    projections (the new faces)."""
    lifted = faces.lifted
    margins = faces.sign * (lifted.X @ U)
    projector = lifted.sharding.cone_projector(lifted.X, faces.sign, 1)
    columns = torch.nonzero((margins < 0).any(dim=0)).squeeze(1)
    projected = projector(U[:, :, None], columns, margins)[:, :, 0]
    return projected, (projector.multipliers > 0) | _face_rows(lifted.X, projected)


def polish(lifted: Operators, U: torch.Tensor, M: torch.Tensor | None,
           time_limit: float = math.inf) -> tuple[torch.Tensor, torch.Tensor, Gap] | None:
    """Polish ``U`` (d, Q, k), a near-optimal point of program (8) (or of the gated relaxation).

    ``M`` (n, Q, k) are cone multipliers for the groups that are zero (e.g. ADMM's projection
    multipliers); the faces' own multipliers replace them for the nonzero groups. Zero groups
    whose exact price exceeds ``beta`` enter the support (along their cone's steepest descent
    direction) and the Newton solve repeats. Returns ``(point, pre-activations, gap)`` with the
    certified gap at the polished point, or None when the loss is not smooth or the polish fails
    (a point that certifies worse than ``U`` is the caller's to reject).
    """
    if not lifted.loss.smooth or not bool(torch.any(U != 0)):
        return None
    deadline = time.perf_counter() + time_limit
    faces = _Faces(lifted, U)
    if not _affordable(faces.least_work(), FIRST_STEPS, deadline, U.device):
        return None  # not even the first steps would be taken: no bases either
    faces.update_bases(torch.arange(faces.m, device=U.device))
    multipliers = torch.zeros(lifted.n, lifted.Q, lifted.k, dtype=U.dtype, device=U.device)
    if M is not None:
        multipliers.copy_(M)
    for _ in range(MAX_RELEASES):
        if not _newton(faces, deadline):
            return None
        if faces.sign is not None:
            mu = _face_multipliers(faces)
            negative = mu < -1e-9 * lifted.beta
            if bool(negative.any()):  # these rows leave their faces
                faces.on_face &= ~negative
                faces.update_bases(torch.nonzero(negative.any(dim=0)).squeeze(1))
                continue
            multipliers[:, faces.q, faces.c] = mu
        point = faces.full()
        pre = lifted.preactivations(point)
        Lam = lifted.loss_gradient(lifted.predict_from(pre))
        if lifted.gated:
            return point, pre, gated_gap(lifted, point, lifted.predict_from(pre))
        if not _enter(faces, Lam, multipliers):
            return point, pre, exact_gap(lifted, point, pre, multipliers, refine_steps=0)
    return None


def _enter(faces: _Faces, Lam: torch.Tensor, M: torch.Tensor) -> bool:
    """Price the zero groups exactly (updating ``M``); add those above ``beta (1 + 1e-9)``,
    each at the minimizer of a quadratic model along its steepest descent direction. Returns
    whether any entered."""
    lifted = faces.lifted
    H = lifted.adjoint(Lam)
    projected = _price_exactly(lifted, H, M)
    if projected is None:
        return False
    prices = torch.linalg.vector_norm(projected, dim=0)  # (Q, k): ||P_K(-H)||
    prices[faces.q, faces.c] = 0
    q, c = torch.nonzero(prices > lifted.beta * (1 + 1e-9), as_tuple=True)
    if q.numel() == 0:
        return False
    direction = projected[:, q, c] / prices[q, c]  # unit, inside the cones
    # along a unit direction the loss's second derivative is sum_j h_jcc (mask_j x_j^T u)^2
    pre = lifted.mask[:, q] * (lifted.X @ direction)  # (n, a)
    hessian = lifted.loss.hessian(faces.predict(faces.U), lifted.Y, lifted.weights)
    curvature = (pre**2 * hessian[:, c, c]).sum(0)
    length = (prices[q, c] - lifted.beta) / curvature.clamp(min=1e-300)
    faces.add(q, c, direction * length)
    return True


def _price_exactly(lifted: Operators, H: torch.Tensor, M: torch.Tensor) -> torch.Tensor | None:
    """Replace, in place, the multipliers ``M`` (n, Q, k) of the groups whose bound with ``M``
    exceeds ``beta`` by the exact ones, and return the projections (d, Q, k) of ``-H`` onto the
    cones for those groups (zero elsewhere), or None when no bound exceeds ``beta``.

    ``min_{a >= 0} ||X^T (S a) - H||`` is the norm of the projection of ``-H`` onto the cone
    (Moreau's decomposition), ``H = adjoint(Lam)``."""
    over = torch.nonzero((cone_bounds(lifted, H, M, lifted.beta, refine_steps=0)
                          > lifted.beta).reshape(-1)).squeeze(1)
    if over.numel() == 0:
        return None
    projector = lifted.sharding.cone_projector(lifted.X, lifted.sign, lifted.k)
    margins = (lifted.sign[:, :, None] * lifted.preactivations(-H)).reshape(lifted.n, -1)
    projected = projector(-H, over, margins).reshape(lifted.d, -1)
    flat = M.reshape(lifted.n, -1)
    flat[:, over] = projector.multipliers[:, over]
    keep = torch.zeros(projected.shape[1], dtype=torch.bool, device=H.device)
    keep[over] = True
    return (projected * keep).reshape(H.shape)
