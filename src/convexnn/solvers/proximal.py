"""Accelerated proximal gradient (FISTA) for the gated relaxation of program (8).

The gated relaxation (program (8) of Pilanci & Ergen, ICML 2020, without its cone constraints:
the gated ReLU model of Mishkin, Sahiner & Pilanci, ICML 2022) is a group lasso over the lifted
features ``D_i X``::

    min_U  L( sum_i D_i X u_i , Y )  +  beta * sum_{i,c} ||u_ic||_2

with a smooth loss ``L``. One iteration (Beck & Teboulle 2009, FISTA) is a gradient step on ``L``
at an extrapolated point followed by group soft-thresholding, with

* backtracking on the local Lipschitz constant (and a slight increase of the step after each
  accepted one, so the step follows the local curvature), and
* adaptive restart of the momentum when it points uphill (O'Donoghue & Candes 2015, gradient
  scheme), which recovers linear convergence on the strongly convex pieces a group lasso has.

Each iteration costs one :meth:`~convexnn.problem.Operators.adjoint` (gradient) and one
:meth:`~convexnn.problem.Operators.predict` per step-size trial; images of iterates are
extrapolated linearly instead of being recomputed.

The engine :class:`FISTA` is also the inner solver of :mod:`.augmented_lagrangian`.
The hinge loss is not smooth: this solver refuses it (use ``solver="admm"``, whose loss step is
a proximal step, or ``"conic"``); smoothing it would solve a different program.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_positive_int
from ..problem import Operators
from ._common import Monitor, check_options, initial_point, make_solution
from ._prox import group_soft_threshold
from ._stopping import Float64Check, gated_gap

__all__ = ["FISTA", "check_smooth_loss", "solve"]


class FISTA:
    """FISTA with backtracking and adaptive restart for ``min_U f(U) + beta sum ||U_qc||``.

    Parameters
    ----------
    smooth : object
        The smooth part ``f``, through four methods: ``image(U)``, a linear image of ``U``
        (e.g. its prediction) from which ``value(image)`` gives ``f(U)`` and
        ``value_and_gradient(image)`` gives ``(f(U), grad f(U))`` (values as 0-d tensors), and
        ``curvature(image of D)``, an upper bound of ``2 (f(U + D) - f(U) - <grad f(U), D>)``
        (a 0-d tensor; the backtracking test that survives rounding, see :meth:`step`).
        Images of extrapolated points are extrapolated images, so ``image`` must be linear.
    beta : float
        Weight of the group penalty; groups are ``U[:, q, c]``.
    U : Tensor of shape (d, Q, k)
        Starting point.
    lipschitz : float
        Initial estimate of the Lipschitz constant of ``grad f`` (backtracking corrects it).
    """

    #: factor applied to the Lipschitz estimate after an accepted step (lets the step grow)
    RELAX = 0.9

    def __init__(self, smooth, beta: float, U: torch.Tensor, lipschitz: float):
        self.beta = beta
        self.lipschitz = lipschitz
        self.iterations = 0
        self.reset(smooth, U)

    def reset(self, smooth, U: torch.Tensor | None = None) -> None:
        """Switch to a new smooth part (and optionally point); restarts the momentum."""
        self.smooth = smooth
        if U is not None:
            self.x = U
        self.image = smooth.image(self.x)
        self.y, self.image_y = self.x, self.image
        self.t = 1.0
        #: largest group norm of the last gradient mapping ``L (y - x+)``: the optimality residual
        self.residual = math.inf

    def step(self) -> None:
        """One FISTA iteration (backtracking included).

        A step ``L`` is accepted when either test shows that the quadratic model majorizes ``f``:

        * sufficient decrease in function values, ``f(x+) <= f(y) + <g, d> + L/2 ||d||^2``
          (the usual test; it lets the step follow the local curvature), or
        * the curvature bound ``smooth.curvature(F d) <= L ||d||^2`` with ``F d`` the image of
          the step (the smooth part's global bound on ``2 (f(x+) - f(y) - <g, d>)``).

        Near the optimum the decrease is below the rounding of the function values (about
        ``eps |f|``: already in float32 the first test then fails for every ``L``, which used to
        double ``L`` to infinity and freeze the iterates). The second test has no cancellation,
        so it always ends the backtracking by ``L = curvature bound``; a step below the rounding
        of ``y`` itself is accepted as it is (nothing smaller can be resolved).
        """
        value_y, grad = self.smooth.value_and_gradient(self.image_y)
        resolution = 10 * torch.finfo(self.y.dtype).eps
        while True:
            L = self.lipschitz
            x_next = group_soft_threshold(self.y - grad / L, self.beta / L)
            image_next = self.smooth.image(x_next)
            diff = x_next - self.y
            # every scalar of the step in one transfer (one device sync per trial)
            f_y, f_next, slope, length2, turn, largest, curvature, size2 = torch.stack([
                value_y, self.smooth.value(image_next), (grad * diff).sum(), (diff * diff).sum(),
                (diff * (x_next - self.x)).sum(), torch.linalg.vector_norm(diff, dim=0).max(),
                self.smooth.curvature(image_next - self.image_y), (self.y * self.y).sum(),
            ]).tolist()
            # sufficient decrease (majorization) test, with slack for rounding in f
            model = f_y + slope + 0.5 * L * length2
            if (f_next <= model + 1e-12 * abs(f_y) or curvature <= L * length2
                    or length2 <= resolution**2 * size2 or not math.isfinite(model)):
                break
            self.lipschitz *= 2.0
        self.residual = L * largest
        # gradient restart: momentum is dropped when it points against the descent step
        if turn < 0 and self.t > 1:
            self.t = 1.0
        t_next = 0.5 * (1 + math.sqrt(1 + 4 * self.t**2))
        momentum = (self.t - 1) / t_next
        self.y = x_next + momentum * (x_next - self.x)
        self.image_y = image_next + momentum * (image_next - self.image)
        self.x, self.image, self.t = x_next, image_next, t_next
        self.lipschitz *= self.RELAX
        self.iterations += 1


class GatedSmooth:
    """``f(U) = L(sum_i D_i X u_i)``; its image is the prediction ``Z`` (n, k)."""

    def __init__(self, lifted: Operators):
        self.lifted = lifted
        self.loss_lipschitz = self.lifted.loss.lipschitz(self.lifted.weights)

    def image(self, U: torch.Tensor) -> torch.Tensor:
        return self.lifted.predict(U)

    def value(self, Z: torch.Tensor) -> torch.Tensor:
        return self.lifted.loss_value(Z)

    def value_and_gradient(self, Z: torch.Tensor):
        return self.lifted.loss_value(Z), self.lifted.adjoint(self.lifted.loss_gradient(Z))

    def curvature(self, dZ: torch.Tensor) -> torch.Tensor:
        """Upper bound of ``2 (f(U + D) - f(U) - <grad f(U), D>)`` from the image ``dZ`` of ``D``:
        ``L_loss ||dZ||^2`` (``L_loss`` the Lipschitz constant of the loss gradient), summed over
        the processes when the samples are split (every process must take the same step)."""
        return self.loss_lipschitz * self.lifted.sharding.sum((dZ * dZ).sum())


def check_smooth_loss(problem, solver: str) -> None:
    """Refuse non-smooth losses (hinge) in the gradient-based solvers, naming the way out."""
    if not problem.loss.smooth:
        raise ValueError(
            f"the {solver} solver needs a smooth loss, but the {problem.loss.name!r} loss is "
            "not differentiable; use solver='admm' (proximal loss step) or solver='conic'"
        )


def lipschitz_estimate(lifted: Operators, n_power: int = 20) -> float:
    """``L_loss * ||F||_2^2`` for the lifted map ``F`` (power iteration; a lower estimate)."""
    generator = torch.Generator(device=lifted.device).manual_seed(0)
    G = lifted.sharding.randn(lifted.n_samples, 1, generator=generator, dtype=lifted.dtype,
                              device=lifted.device)
    norm2 = 0.0
    for _ in range(n_power):
        G = lifted.predict(lifted.adjoint(G))
        norm2 = float(lifted.sharding.norm(G))
        if norm2 == 0:
            break
        G = G / norm2
    return max(lifted.loss.lipschitz(lifted.weights) * norm2, 1e-12)


def solve(problem, *, tol: float = 1e-6, max_iter: int = 20_000, time_limit: float | None = None,
          device="cpu", dtype=torch.float64, warm_start=None, verbose: bool = False,
          check_every: int = 10):
    """Solve the gated relaxation of program (8) by FISTA with restarts.

    Parameters
    ----------
    problem : ConvexProblem
        With ``gated=True`` and a smooth loss (squared, logistic, cross_entropy).
    tol : float, default=1e-6
        Target relative duality gap ``(primal - dual) / |primal|``, certified with the dual point
        ``t * grad L(Z)`` scaled into ``max ||X^T D_i lam_c|| <= beta``.
    max_iter : int, default=20000
        Iterations (one gradient each).
    time_limit : float, optional
        Seconds.
    device, dtype :
        Where and in which precision to compute.
    warm_start : ConvexSolution, optional
        A solution of a gated program of the same shape (e.g. for a neighbouring ``beta``).
    verbose : bool
        Print the certificate checks.
    check_every : int, default=10
        Iterations between certificate checks (each costs about one iteration and a 1-D
        maximization of the dual objective).

    Returns
    -------
    ConvexSolution
        ``status`` is ``"optimal"`` only when the certified relative gap is at most ``tol``
        (certified in float64 when ``dtype`` is coarser); otherwise ``"max_iter"``,
        ``"time_limit"`` or ``"stalled"`` (no progress over 20 checks, see
        :attr:`~._common.Monitor.stalled`: e.g. ``tol`` below what ``dtype`` can resolve, which
        the ``reason`` then says; float32 resolved gaps of 3e-5 to 6e-4 on the ill-conditioned
        problems we measured, 1e-8 on a well-conditioned one); a stalled run returns the point
        of its best check.
    """
    tol, max_iter, time_limit = check_options(problem, tol=tol, max_iter=max_iter,
                                              time_limit=time_limit, warm_start=warm_start,
                                              name="fista")
    if not problem.gated:
        raise ValueError("the fista solver solves the gated relaxation (problem.gated=True); "
                         "for program (8) use 'augmented_lagrangian' or 'admm'")
    check_smooth_loss(problem, "fista")
    check_every = check_positive_int(check_every, "check_every")
    lifted = problem.operators(device, dtype)
    monitor = Monitor("fista", max_iter, time_limit, verbose, dtype=dtype)
    # below float64 an "optimal" status is certified in float64 (the float32 check is only a
    # screen: its rounding could pass a point whose gap is above tol)
    check64 = Float64Check(problem, device) if monitor.low_precision else None
    engine = FISTA(GatedSmooth(lifted), problem.beta, initial_point(lifted, warm_start),
                   lipschitz_estimate(lifted))
    status, best = None, None  # best: (gap, point) of the best check
    while status is None:
        engine.step()
        it = engine.iterations
        if it % check_every == 0 or monitor.limit_reached(it):
            point, gap = engine.x, gated_gap(lifted, engine.x, engine.image)
            if check64 is not None and gap.relative <= tol:
                monitor.note(it, f"gap {gap.relative:.2e} in {dtype}: certifying in float64")
                point, gap = check64.gated(engine.x, gap.Lam)
            monitor.record(it, gap.primal, gap.relative)
            if best is None or gap.relative < best[0].relative:
                best = (gap, point)
            if gap.relative <= tol:
                status = "optimal"
            elif monitor.stalled:
                status = "stalled"
            else:
                status = monitor.limit_reached(it)
    if status == "stalled":  # the iterates jitter in a noise ball: return its best point
        gap, point = best
    return make_solution(problem, lifted, point, gap.Lam, monitor, status, it, "fista", tol)
