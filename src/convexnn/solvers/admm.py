"""ADMM for program (8) (and its gated relaxation) with a sample-space linear solve.

In the style of Bai, Gautam & Sojoudi (2023, "Efficient global optimization of two-layer ReLU
networks") and CRONOS (Feng, Frangella & Pilanci, 2024). With the stacked variable ``U`` (d, Q, k)
of :mod:`._common` and the lifted map ``F U = sum_q mask_q X u_q``, program (8) is split as::

    min  L(z) + sum_{q,c} [ beta ||p_qc|| + I(p_qc in K_q) ]    s.t.   F U = z,   U = p,

where ``K_q = {v : S_q * (X v) >= 0}`` is group ``q``'s cone (all of R^d for the gated relaxation).
Scaled ADMM with penalties ``rho_z`` on ``F U = z`` and ``rho_p = r rho_z`` on ``U = p`` repeats

1. ``U``-step: ``(F^T F + r I) U = F^T w + r q`` with ``w = z - a_z`` and ``q = p - a_p``, by the
   Woodbury identity ``U = q - F^T e`` where ``(r I + K) e = F q - w`` and ``K = F F^T`` is n x n
   (:mod:`._linsys`: factored once, or Nyström-preconditioned CG); also ``F U = w + r e``. The
   lifted ``n x dQ`` matrix is never formed: each step is two masked products;
2. over-relaxed proximal steps: ``z = prox_{L/rho_z}`` (closed form or Newton; any loss, the
   hinge loss included) and ``p = `` group soft-thresholding of the projection onto ``K_q``, the
   prox of ``beta ||.|| + I_K`` for a convex cone ``K`` (:class:`ConeProx`);
3. the scaled dual updates, and every ``check_every`` iterations residual balancing of
   ``rho_z`` and ``rho_p`` (the linear system only changes its shift ``r``).

Splitting the cones into the ``p``-prox (instead of a slack ``s = S * (X U) >= 0``, which we
measured to converge far more slowly) makes every exactly projected ``p`` feasible and exactly
group-sparse: its objective is an honest upper bound and the recovered network reproduces the
convex predictions. Projections are exact (batched Lawson-Hanson, :mod:`convexnn.cones`) at
certificate checks and truncated after ``CHEAP_STEPS`` steps in between; a check whose gap,
estimated at the truncated projection, is far above the target is skipped (:func:`_exact_check`:
far from the optimum the exact projections cost most). On small programs on the CPU the
iterations between checks run as compiled passes (:mod:`._fused`). The certificate uses
ADMM's own dual ``rho_z a_z = grad L(z)`` (far better than ``grad L(F p)``, measured) and the
projections' multipliers ``rho_p a`` for the cone-constrained dual feasibility
(:mod:`._stopping`).

Gap-safe screening (``screening=True``; program (8) in float64 with a smooth loss (squared,
logistic, cross-entropy) and ``tol < SCREEN_AT``; :mod:`._screening`): the first check whose
estimated gap is at most ``SCREEN_AT`` is certified even when far from ``tol``, and when its gap
proves at least ``SCREEN_MIN`` of the patterns zero at every optimum, ADMM goes on with the
others only, warm-started with its penalties (the two programs share their optima and the
unique dual optimum). The last point is certified on all patterns (exact NNLS,
:func:`convexnn.certificates.dual_bound`); should that miss ``tol`` where the restricted run met
it, the run goes on from its state on all patterns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from .._validation import check_positive_int
from ..certificates import dual_bound
from ..problem import Operators
from ..solution import ConvexSolution
from ._anderson import Anderson
from ._common import Monitor, as_numpy, check_options, initial_point, make_solution, prune
from ._linsys import MAX_GRAM_VARIABLES, DirectSolver, GramSolver, NystromPCG
from ._polish import polish
from ._prox import group_soft_threshold
from ._screening import screen
from ._stopping import Float64Check, best_of_gaps, exact_gap, gated_gap

__all__ = ["solve"]

#: up to this many samples the n x n system of the U-step is factored ("direct"), beyond by
#: Nystrom-preconditioned CG. Factoring wins wherever its memory (three n x n matrices at the
#: factorizations: 2.5 GB resident at 8,000 samples) is affordable: on 31 features and 100
#: patterns, one thread, ADMM to 1e-3 at 5,000 samples took 75 s against CG's 448 s, and 150
#: iterations at 8,000 samples 65 s against 119 s (measured)
DIRECT_MAX_SAMPLES = 8000
#: most penalty changes per block by residual balancing (then ADMM's theory applies)
MAX_PENALTY_CHANGES = 30
#: Lawson-Hanson steps of the projections between certificate checks (exact at checks)
CHEAP_STEPS = 2
#: memory of the Anderson acceleration. The solves of eight default neuron searches (sets of
#: benchmarks/bench_vs_adam.py), side by side: memory 10 took 3 % less time than 5 on each of
#: the eight (4.6 % fewer iterations); 3 took 11 % more, none 11 % more, 15 and 20 were within
#: noise of 10; digits' program (8) took 420 iterations with either 5 or 10 (measured)
ANDERSON_MEMORY = 10
#: the accelerator works on NumPy arrays on the CPU up to this many entries (see :func:`_pack`)
NUMPY_ANDERSON_MAX = 100_000
#: a check whose gap, estimated before the exact projections, is above this many times the
#: target is skipped
SCREEN_FACTOR = 10.0
#: a check whose certified gap is at most this (but above the target), with the same nonzero
#: groups as the check before, tries the active-face polish (:mod:`._polish`), once ADMM has
#: run ``POLISH_AFTER`` iterations, within a quarter of the time ADMM has taken (a polish costs
#: dense Newton solves, 0.1-0.5 s each on breast_cancer's restricted programs, against 0.5-6 s
#: for ADMM's usual runs to 1e-3-1e-4; it pays in ADMM's long tails, e.g. 1e-6 certified in
#: 11 s where 10,000 iterations (53 s) did not reach it: measured)
POLISH_BELOW = 1e-2
POLISH_AFTER = 400
#: the least time a polish may take (a quarter of ADMM's time, or this): in the estimators'
#: default fits (19 sets of benchmarks/bench_vs_adam.py) 1 of 10 attempts certified (in 0.08 s);
#: the others ran out of Newton steps or of time, three of them after a whole second when this
#: was 1 s (keel:ionosphere: 1.0 s of a 5.0 s fit; measured). With the searches' later rounds,
#: 18 of those fits (digits aside) made two attempts: iris's failed in 0.09 s, keel:bupa's
#: certified 6e-13 in 0.24-0.30 s, which 0.25 s cut off in about half of the runs (ADMM then
#: went on from iteration 400 to 800, 0.5 s; measured)
POLISH_MIN_SECONDS = 0.4
#: with a loss of strongly concave dual (:mod:`._screening`) and a ``tol`` below this, program
#: (8) is certified once when its estimated gap first reaches this, and screened there; when at
#: least ``SCREEN_MIN`` of the patterns are proven zero at every optimum, ADMM goes on with the
#: others only (warm-started) and certifies its end on all of them. To 1e-6 on enumerated
#: patterns (382 and 872 of 20 and 30 points in 2-D; ``benchmarks/bench_screening.py``): 3.3x,
#: 1.6x and 1.07x faster than without, 0.91x and 0.98x where the screening check came late in
#: the run (geometric mean 1.4x); the same restart with nothing screened was 0.74-1.13x. On
#: breast_cancer's 100 sampled patterns, all in use, nothing happens (same iterations)
SCREEN_AT = 1e-4
SCREEN_MIN = 0.25
#: a run stopped by its time limit certifies its point projected exactly onto the cones unless
#: that is expected to overrun the limit by more than this fraction; it then zeroes the groups
#: its truncated projection left outside their cones (digits, 100 patterns, time_limit=5: the
#: exact projection at the limit took 4.1 s, measured)
LIMIT_SLACK = 0.1


class ConeProx:
    """Prox of ``threshold ||.|| + I_K`` per group: soft-thresholding of the cone projection.

    For a closed convex cone ``K``, ``argmin_p t ||p|| + I_K(p) + 1/2 ||p - v||^2`` is
    ``(1 - t / ||P_K v||)_+ P_K v``. Since ``||P_K v|| = min_{a >= 0} ||v + B a||``, the previous
    projection's multipliers give an upper bound of ``||P_K v||``: groups whose bound is below the
    threshold are zero without projecting; groups inside their cone need no projection either.
    """

    def __init__(self, lifted: Operators):
        self.lifted = lifted
        self.projector = lifted.sharding.cone_projector(lifted.X, lifted.sign, lifted.k)
        self.seconds: dict[bool, float] = {}
        self.calls = {True: 0, False: 0}

    def __call__(self, V0: torch.Tensor, threshold: float, exact: bool = True) -> torch.Tensor:
        """The prox at ``V0`` (d, Q, k); inexact projections (at most ``CHEAP_STEPS``
        Lawson-Hanson steps) unless ``exact``. The seconds it took are kept in
        :attr:`seconds` (by ``exact``; see :meth:`_timed`)."""
        start = time.perf_counter()
        result = self._prox(V0, threshold, exact)
        self._timed(exact, start)
        return result

    def points(self, points: np.ndarray, threshold: float, exact: bool = True) -> np.ndarray:
        """:meth:`__call__` on the groups' points as NumPy rows (Q k, d), for the compiled
        projector (its ``prox_points``); the seconds are kept alike."""
        start = time.perf_counter()
        result = self.projector.prox_points(points, threshold, None if exact else CHEAP_STEPS)
        self._timed(exact, start)
        return result

    def _timed(self, exact: bool, start: float) -> None:
        """Keep the seconds since ``start`` of a call of this kind, from the second call on:
        a process's first call also loads (or, after an install, compiles) the kernels, and
        timed, its 20 s made a solve with a 600 s limit expect an exact prox of 650 s and stop
        at its first iteration (measured)."""
        self.calls[exact] += 1
        if self.calls[exact] > 1:
            self.seconds[exact] = time.perf_counter() - start

    def exact_seconds(self) -> float:
        """What an exact prox is expected to take: the last one's time or, before a second
        (:meth:`_timed`), that of a truncated one times the ``d / CHEAP_STEPS`` steps an exact
        one can need (0 before a second truncated one)."""
        if True in self.seconds:
            return self.seconds[True]
        return self.seconds.get(False, 0.0) * self.lifted.d / CHEAP_STEPS

    def inside(self, V: torch.Tensor) -> torch.Tensor:
        """``V`` with its groups outside their cones set to zero: a point of the cones."""
        margins = self.lifted.sign[:, :, None] * self.lifted.preactivations(V)
        inside = self.lifted.sharding.all(margins.amin(dim=0) >= 0)  # (Q, k)
        return torch.where(inside[None], V, torch.zeros_like(V))

    def _prox(self, V0: torch.Tensor, threshold: float, exact: bool) -> torch.Tensor:
        lifted, projector = self.lifted, self.projector
        if hasattr(projector, "prox"):  # the compiled projector: all of the below in one pass
            return projector.prox(V0, threshold, None if exact else CHEAP_STEPS)
        d = V0.shape[0]
        flat = V0.reshape(d, -1)
        margins = (lifted.sign[:, :, None] * lifted.preactivations(V0)).reshape(lifted.n, -1)
        # amin, not (margins >= 0).all: 5x faster across the rows (205 against 41 us, measured)
        inside = lifted.sharding.all(margins.amin(dim=0) >= 0)
        bound = torch.minimum(projector.bounds(flat), torch.linalg.vector_norm(flat, dim=0))
        short = ~inside & (bound <= threshold)
        projector.release(inside)
        projected = projector(V0, torch.nonzero(~inside & ~short).squeeze(1), margins,
                              None if exact else CHEAP_STEPS)
        projected.reshape(d, -1)[:, short] = 0  # their projection is shorter than the threshold
        return group_soft_threshold(projected, threshold)

    def multipliers(self, scale: float) -> torch.Tensor:
        """The projections' cone multipliers times ``scale``, as (n, Q, k)."""
        return scale * self.projector.multipliers.reshape(self.lifted.n, self.lifted.Q, -1)

    def moves(self, scale: float) -> torch.Tensor | None:
        """``X^T (S_q * M_qc)`` (d, Q, k) of :meth:`multipliers` ``M`` from the compiled
        projector's nonzero multipliers (:meth:`convexnn.cones.CompiledConeProjector.cone_moves`);
        None for the others (the caller takes the dense product)."""
        if not hasattr(self.projector, "cone_moves"):
            return None
        lifted = self.lifted
        return scale * self.projector.cone_moves().reshape(lifted.d, lifted.Q, lifted.k)

    def seed(self, multipliers: np.ndarray | None, scale: float) -> None:
        """Start the projections from ``multipliers / scale`` (the inverse of
        :meth:`multipliers`), when given with this program's shape (n, Q, k) in one process."""
        lifted = self.lifted
        if (multipliers is None or lifted.sharding.distributed
                or multipliers.shape != (lifted.n, lifted.Q, lifted.k)):
            return
        seeds = torch.as_tensor(multipliers / scale, dtype=lifted.dtype)
        self.projector.multipliers.copy_(seeds.reshape(lifted.n, -1))


def _rebalance(primal: float, dual: float, changes: int) -> float:
    """Factor for one block's penalty (Boyd et al. 2011, 3.4.1): 2 when the relative primal
    residual is 10x the relative dual one, 1/2 in the opposite case, else 1."""
    if changes >= MAX_PENALTY_CHANGES:
        return 1.0
    if primal > 10 * dual:
        return 2.0
    if dual > 10 * primal:
        return 0.5
    return 1.0


def _linear_system(lifted: Operators, kind: str, rank: int, cg_rtol: float):
    """The solver of the ``U``-step's system; ``"auto"`` takes the cheaper factorization (of the
    ``n x n`` sample-space matrix or the ``dQ x dQ`` Gram matrix) while it is small enough, and
    Nyström-preconditioned CG beyond."""
    n, size = lifted.n_samples, lifted.d * lifted.Q
    if kind == "auto":
        if size < n and size <= MAX_GRAM_VARIABLES:
            kind = "gram"
        else:
            kind = "direct" if n <= DIRECT_MAX_SAMPLES else "cg"
    if kind == "direct":
        return DirectSolver(lifted)
    if kind == "gram":
        return GramSolver(lifted)
    return NystromPCG(lifted, rank, cg_rtol)


def _warm_dual(lifted: Operators, warm_start: ConvexSolution, z: torch.Tensor) -> torch.Tensor:
    """ADMM's first ``y_z`` at a warm start: the warm start's own dual when it has one of
    ``z``'s shape (another solve's ``y_z``, or a conic solver's dual), else ``grad L(z)``.

    Near an optimum the two differ little, but the dual constraints are sensitive to that
    difference: on a neuron search's final program (keel:pima, 245 patterns) ``grad L`` at the
    last round's point violated a group's constraint by up to 4x where the round's own dual
    was within 0.2 %, and the final solve to 1e-3 took 620 iterations from ``grad L`` against
    380 from the round's dual (measured)."""
    dual = warm_start.dual
    if dual is not None and dual.shape == tuple(z.shape) and np.isfinite(dual).all():
        return torch.as_tensor(dual, dtype=z.dtype, device=z.device)
    return lifted.loss_gradient(z)


def _exact_check(lifted: Operators, p: torch.Tensor, prox: ConeProx, rho_p: float,
                 Lam: torch.Tensor):
    """The gap of program (8) at ``p``: ``(point, pre, gap)``, with ``point`` the pruned ``p``
    (its network reproduces its predictions) and ``pre`` its pre-activations.

    The projections' multipliers certify the cone constraints and ``Lam`` is ADMM's own dual
    (``grad L(F p)`` would be a far worse candidate, measured; refining the bounds changes them
    by a relative 1e-6 at most, so neither is computed). After truncated projections ``p`` is
    only near the cones: the dual side stays valid (any non-negative multipliers bound the
    constraints) and the primal side is an estimate. That estimate decides whether a check
    projects exactly: far from the optimum the exact projections cost most (cold active sets),
    so above ``SCREEN_FACTOR`` times the target they and the check are skipped.
    """
    point = prune(p)
    pre = lifted.preactivations(point)
    moves = prox.moves(rho_p)
    return point, pre, exact_gap(lifted, point, pre,
                                 prox.multipliers(rho_p) if moves is None else None,
                                 refine_steps=0, Lam=Lam, moves=moves)


class _Polisher:
    """When to try the active-face polish inside ADMM, and the attempt itself.

    A check qualifies when its gap is below ``POLISH_BELOW`` and its support (nonzero groups)
    equals the previous check's; after an attempt that does not certify the target, the next
    waits until the iteration count has doubled (each attempt costs a few Newton solves). A
    check whose estimated gap is too far from the target to certify it is still made when it
    would qualify (:meth:`wants`): ADMM's tail can crawl where a polish certifies at once
    (cross-entropy on 12 points, all 134 patterns, target 1e-6: the estimated gap went from
    1.1e-4 to 5.6e-5 over 7,000 iterations, 5 s, and the polish at the iteration limit
    certified 5e-10; measured).
    """

    def __init__(self, lifted: Operators, enabled: bool):
        self.lifted, self.enabled = lifted, enabled
        self.support, self.after = None, POLISH_AFTER
        self.admitted = False  # the next check was made for a polish (its support settled)

    def _settled(self, point: torch.Tensor) -> bool:
        """Whether the nonzero groups of ``point`` are the last check's (now recorded)."""
        support = torch.linalg.vector_norm(point, dim=0) > 0
        settled = self.support is not None and torch.equal(support, self.support)
        self.support = support
        return settled

    def wants(self, it: int, estimate: float, point: torch.Tensor) -> bool:
        """Whether a check whose gap is estimated at ``estimate`` (at the truncated projection
        ``point``) should be made although the estimate is far from the target: when a polish
        attempt would then be due and the support has settled since the last estimate."""
        if not self.enabled or it < self.after or not estimate <= POLISH_BELOW:
            return False
        self.admitted = self._settled(point)
        return self.admitted

    def __call__(self, it: int, point: torch.Tensor, gap, tol: float, multipliers,
                 remaining: float):
        """``(point, pre, gap, defect)`` of a polished point better than ``gap``, or None."""
        admitted, self.admitted = self.admitted, False
        if not self.enabled or gap.relative <= tol or gap.relative > POLISH_BELOW:
            return None
        settled = self._settled(point) or admitted
        if not settled or it < self.after:
            return None
        self.after = 2 * it
        polished = polish(self.lifted, point, multipliers, time_limit=remaining)
        if polished is None:
            return None
        point, pre, better = polished
        defect = self.lifted.cone_defect(pre)
        if better.relative >= gap.relative:
            return None
        return point, pre, better, defect


def _pack(tensors):
    """The variables as one flat vector for the accelerator: a NumPy array on the CPU up to
    ``NUMPY_ANDERSON_MAX`` entries (its arithmetic there costs a third of torch's dispatches,
    see :class:`._anderson.Anderson`), else a tensor (threaded by torch: the 296,000 entries of
    digits' program (8) took 5 against 7 ms a step at two threads, measured)."""
    if tensors[0].device.type == "cpu" and sum(T.numel() for T in tensors) <= NUMPY_ANDERSON_MAX:
        return np.concatenate([T.numpy().reshape(-1) for T in tensors])
    return torch.cat([T.reshape(-1) for T in tensors])


def _unpack(flat, like) -> tuple:
    """The inverse of :func:`_pack`: tensors shaped as ``like``."""
    sizes = [T.numel() for T in like]
    flat = torch.from_numpy(flat) if isinstance(flat, np.ndarray) else flat
    return tuple(part.reshape(T.shape) for part, T in zip(flat.split(sizes), like, strict=True))


def _relative(numerator: torch.Tensor, *scales: torch.Tensor,
              norm=torch.linalg.vector_norm) -> float:
    return float(norm(numerator)) / max(max(float(norm(T)) for T in scales), 1e-300)


def solve(problem, *, tol: float = 1e-6, max_iter: int = 10_000, time_limit: float | None = None,
          device="cpu", dtype=torch.float64, warm_start=None, verbose: bool = False,
          rho: float | None = None, ratio: float = 1.0, relaxation: float = 1.6,
          adaptive: bool = True, linear_solver: str = "auto", rank: int = 200,
          cg_rtol: float = 1e-10, check_every: int = 10, cone_tol: float = 1e-10,
          anderson: int = ANDERSON_MEMORY, screening: bool = True,
          on_check: Callable[[float, torch.Tensor], None] | None = None):
    """Solve program (8) (or its gated relaxation) by ADMM.

    Parameters
    ----------
    problem : ConvexProblem
        Any loss (squared, hinge, logistic, cross_entropy); exact or gated.
    tol : float, default=1e-6
        Target relative duality gap, certified at a point that satisfies the cones.
    max_iter : int, default=10000
        ADMM iterations (each one linear solve, two masked products and the projections).
    time_limit : float, optional
        Seconds.
    device, dtype :
        Where and in which precision to compute.
    warm_start : ConvexSolution, optional
        A solution of a program of the same kind and shape: ADMM starts at its fixed point
        (``U = p``, ``z = F p``, the duals from the warm start's own dual, or from
        ``grad L(z)`` if it has none of the right shape).
    verbose : bool
        Print the certificate checks.
    rho : float, optional
        Initial penalty of ``F U = z``; default ``L_loss``, the Lipschitz constant of the loss
        gradient (``w_max / n`` for the mean squared loss; the same for the hinge loss).
    ratio : float, default=1
        Initial ``r``: the penalty of ``U = p`` is ``r rho``. Residual balancing moves it (to
        1-30 measured); starting at its final value was slower than letting it grow.
    relaxation : float, default=1.6
        Over-relaxation factor in (0, 2) (Eckstein & Bertsekas 1992); 1 is plain ADMM.
    adaptive : bool, default=True
        Residual balancing per block: every ``check_every`` iterations a block's penalty is
        doubled or halved when its relative primal and dual residuals differ by more than 10x
        (at most 30 times per block; a change of ``r`` refactors a direct solver).
    linear_solver : {"auto", "direct", "gram", "cg"}
        How to solve the ``U``-step's system (see :mod:`._linsys`): ``"direct"`` factors the
        n x n sample-space matrix, ``"gram"`` the dQ x dQ Gram matrix ``F^T F`` (d features, Q
        groups per output), ``"cg"`` uses Nyström-preconditioned CG; ``"auto"`` factors the
        smaller of the two matrices while it has at most 8000 rows (n or dQ), else CG (samples
        split across processes: ``F^T F`` for ``"direct"``, see :mod:`convexnn.distributed`).
    rank, cg_rtol : int, float, default=200, 1e-10
        Rank of the Nyström preconditioner (``"cg"``) and relative residual of each CG solve.
    check_every : int, default=10
        Iterations between certificate checks (and penalty updates).
    cone_tol : float, default=1e-10
        Largest accepted cone defect of an "optimal" point (see ``Operators.cone_defect``).
    anderson : int, default=10
        Memory of the safeguarded Anderson acceleration (:mod:`._anderson`); 0 turns it off.
        It never extrapolates into a check: every certified point is a plain ADMM iterate.
    screening : bool, default=True
        Gap-safe screening of program (8) with a smooth loss (see the module).
    on_check : callable, optional
        ``on_check(gap, Lam)`` at every certificate check: its relative gap and (unscaled,
        not to be modified) dual candidate (n, k); the neuron search starts its oracle there.

    Returns
    -------
    ConvexSolution
        ``V`` (and ``W``) are the iterate ``p``, exactly group-sparse and inside the cones.
        ``status`` is ``"optimal"`` only when the certified relative gap is ``<= tol`` (and, for
        program (8), the cone defect is ``<= cone_tol``), certified in float64 when ``dtype`` is
        coarser; ``"stalled"`` when the checks stop improving (see
        :attr:`~._common.Monitor.stalled`; e.g. ``tol`` below what ``dtype`` resolves, which the
        ``reason`` then says), with the point of the best check.
    """
    tol, max_iter, time_limit = check_options(problem, tol=tol, max_iter=max_iter,
                                              time_limit=time_limit, warm_start=warm_start,
                                              name="admm")
    check_every = _check_settings(linear_solver, relaxation, rho, ratio, check_every, anderson,
                                  on_check)
    settings = dict(tol=tol, limits=(max_iter, time_limit, verbose), device=device, dtype=dtype,
                    relaxation=relaxation, linear_solver=linear_solver, rank=rank,
                    cg_rtol=cg_rtol, cone_tol=cone_tol, anderson=anderson)
    return _run(problem, settings, warm_start, (rho, ratio), check_every, adaptive, screening,
                on_check)


def _run(problem, settings: dict, warm_start, penalties, check_every: int, adaptive: bool,
         screening: bool, on_check=None):
    """One solve: an :class:`_ADMM` run with ``settings``, screening when asked and possible
    (then on the patterns kept, :func:`_on_kept`)."""
    run = _ADMM(problem, **settings)
    run.on_check = on_check
    if screening and settings["tol"] < SCREEN_AT and _screens(run):
        run.screen_at = SCREEN_AT
    s = run.start(warm_start, *penalties)
    status, it, point, gap = run.iterate(s, run.monitor.max_iter, check_every, adaptive)
    if status == "screened":
        status, it, point, gap, multipliers = _on_kept(run, s, it, point, settings,
                                                       check_every, adaptive)
    else:
        multipliers = _multipliers(run, s)
    solution = make_solution(problem, run.lifted, point, gap.Lam, run.monitor, status, it,
                             "admm", settings["tol"])
    solution.cone_multipliers = multipliers
    return solution


def _multipliers(run, s) -> np.ndarray | None:
    """The cone multipliers (n, Q, k) of ``run``'s last projections (None when gated)."""
    return None if run.prox_p is None else as_numpy(run.prox_p.multipliers(s.rho_p))


def _screens(run) -> bool:
    """Whether a run may screen: program (8), a loss of strongly concave dual, float64 (the
    screening's primal value is the objective of a point inside the cones), one process, one
    row per sample (the screening's radii are those of the rows' maps)."""
    return (not run.gated and run.lifted.loss.smooth and run.check64 is None
            and not run.lifted.sharding.distributed and run.lifted.rows_per_sample == 1)


def _on_kept(run, s, it: int, point, settings: dict, check_every: int, adaptive: bool):
    """ADMM on the patterns ``run.kept`` only, from ``point`` of the whole program with the
    penalties of ``s``, then certified on all patterns: ``(status, iterations, point, gap,
    multipliers)`` with ``point`` and the cone multipliers of the whole program.

    The dropped patterns are zero at every optimum, so the two programs share their optima
    (and the unique dual optimum); the final gap is that of ``dual_bound`` on the whole program
    (exact NNLS for every pattern). Should it miss ``tol`` where the restricted run met it,
    ``run`` goes on from its state on all patterns.
    """
    problem = run.lifted.problem
    P = problem.shape[2]
    keep = torch.as_tensor(run.kept, device=point.device)
    V, W = (as_numpy(B[:, keep]) for B in (point[:, :P], point[:, P:]))
    kept = replace(problem, patterns=problem.patterns.subset(run.kept))
    restricted = _ADMM(kept, **settings)
    restricted.monitor = run.monitor  # one clock, one history, the same budgets
    restricted.on_check = run.on_check
    columns, multipliers = np.concatenate([run.kept, P + run.kept]), _multipliers(run, s)
    warm = ConvexSolution(kept, V, W, kept.objective(V, W), dual=as_numpy(s.rho_z * s.a_z),
                          cone_multipliers=multipliers[:, columns])
    start = restricted.start(warm, s.rho_z, s.rho_p / s.rho_z)
    status, it, small, gap = restricted.iterate(start, run.monitor.max_iter, check_every,
                                                adaptive, start=it)
    Q = restricted.lifted.Q // 2
    full = torch.zeros_like(point)
    full[:, keep], full[:, P + keep] = small[:, :Q], small[:, Q:]
    multipliers = np.zeros_like(multipliers)
    multipliers[:, columns] = _multipliers(restricted, start)
    Lam = as_numpy(gap.Lam)
    primal = problem.objective(*(as_numpy(B) for B in run.lifted.split(full)))
    bound, _ = dual_bound(problem, Lam)
    relative = (primal - bound) / max(abs(primal), 1e-12)
    run.monitor.note(it, f"gap on all {P} patterns {relative:.2e}")
    if status != "optimal" or relative <= run.tol:
        return status, it, full, gap, multipliers
    return (*run.iterate(s, run.monitor.max_iter, check_every, adaptive, start=it),
            _multipliers(run, s))


def _fused_iteration(run: _ADMM):
    """The run's :class:`._fused.FusedIteration`, or None where the torch steps serve it (or
    the cone projector is not the compiled one: then numba is not loaded, nor loaded here)."""
    if run.prox_p is None or not hasattr(run.prox_p.projector, "prox_points"):
        return None
    from ._fused import FusedIteration

    return FusedIteration(run) if FusedIteration.applies(run) else None


def _check_settings(linear_solver, relaxation, rho, ratio, check_every, anderson,
                    on_check) -> int:
    """Validate ADMM's own options; returns ``check_every``."""
    if linear_solver not in ("auto", "direct", "gram", "cg"):
        raise ValueError(f"linear_solver must be 'auto', 'direct', 'gram' or 'cg'; "
                         f"got {linear_solver!r}")
    if not 0 < relaxation < 2:
        raise ValueError(f"relaxation must be in (0, 2); got {relaxation!r}")
    if not ratio > 0 or (rho is not None and not rho > 0):
        raise ValueError(f"rho and ratio must be positive; got rho={rho!r}, ratio={ratio!r}")
    if isinstance(anderson, bool) or not isinstance(anderson, int) or anderson < 0:
        raise ValueError(f"anderson must be a non-negative int (0 turns it off); got {anderson!r}")
    if on_check is not None and not callable(on_check):
        raise TypeError(f"on_check must be callable; got {type(on_check).__name__}")
    return check_positive_int(check_every, "check_every")


@dataclass
class _Iterate:
    """ADMM's variables ``z`` (n, k) and ``p`` (d, Q, k), their scaled duals, the penalties
    ``rho_z`` and ``rho_p`` (with how often residual balancing changed them) and the last
    linear solve ``e`` (the next one's warm start)."""

    z: torch.Tensor
    a_z: torch.Tensor
    p: torch.Tensor
    a_p: torch.Tensor
    rho_z: float
    rho_p: float
    e: torch.Tensor
    ratio: float = 1.0  # rho_p / rho_z at the last U-step
    changes_z: int = 0
    changes_p: int = 0

    def variables(self) -> tuple:
        return self.z, self.a_z, self.p, self.a_p

    def set_variables(self, values) -> None:
        self.z, self.a_z, self.p, self.a_p = values


class _ADMM:
    """One ADMM run: the problem's maps on the device, the ``U``-step's linear system, the
    proximal maps, the certificate checks and the run's monitor; each method is one step of
    the algorithm box in the module docstring."""

    def __init__(self, problem, *, tol, limits, device, dtype, relaxation, linear_solver, rank,
                 cg_rtol, cone_tol, anderson):
        self.lifted = problem.operators(device, dtype)  # checks the device and dtype first
        self.monitor = monitor = Monitor("admm", *limits, dtype=dtype)
        self.gated, self.tol, self.dtype = problem.gated, tol, dtype
        self.alpha, self.cone_tol = relaxation, cone_tol
        # below float64, "optimal" is certified in float64, and program (8)'s checks are of
        # points projected onto the cones in float64 (float32 projections meet them only to
        # float32 rounding)
        self.check64 = Float64Check(problem, device) if monitor.low_precision else None
        lifted = self.lifted
        if lifted.sharding.distributed:  # samples split across processes
            self.system = lifted.sharding.linear_system(lifted, linear_solver, rank, cg_rtol)
        else:
            self.system = _linear_system(lifted, linear_solver, rank, cg_rtol)
        self.prox_p = ConeProx(lifted) if not self.gated else None
        # the polish's Newton steps take their own products over the active groups' rows, for
        # one process and one row per sample
        self.polisher = _Polisher(lifted, lifted.loss.smooth and self.check64 is None
                                  and not lifted.sharding.distributed
                                  and lifted.rows_per_sample == 1)
        self.accelerator = Anderson(anderson) if anderson else None
        #: the gap of the screening check (None: no screening), and the patterns it kept
        self.screen_at, self.kept = None, None
        #: called with each check's relative gap and dual candidate (``solve``'s ``on_check``)
        self.on_check = None
        #: the plain iterations in compiled passes, where they serve (:mod:`._fused`)
        self.fused = _fused_iteration(self)

    def start(self, warm_start, rho, ratio) -> _Iterate:
        """The first iterate: zero, or the fixed point of the iteration at a warm start."""
        lifted = self.lifted
        rho_z = lifted.loss.lipschitz(lifted.weights) if rho is None else float(rho)
        if not math.isfinite(rho_z):  # hinge: no curvature; the squared loss's scale
            rho_z = float(lifted.sharding.max(lifted.weights.max() / lifted.n_samples))
        rho_p = ratio * rho_z
        self.system.set_shift(rho_p / rho_z)
        p = initial_point(lifted, warm_start)
        z = lifted.predict(p)
        if warm_start is None:
            a_z, a_p = torch.zeros_like(z), torch.zeros_like(p)
        else:  # at an optimal p: y_p = -F^T y_z
            a_z = _warm_dual(lifted, warm_start, z) / rho_z
            a_p = -lifted.adjoint(rho_z * a_z) / rho_p
            if self.prox_p is not None:
                # one exact prox at the fixed point's input seeds the projections' active sets:
                # the truncated ones that follow start from them, not from empty sets that
                # threw the point off (from a solution certified to 1e-6: certified again at
                # the first check, against 150 iterations without; measured). It starts from
                # the warm start's own multipliers where it has them: from empty sets it was a
                # third of a neuron search's round (keel:wdbc: 45 of 132 ms, measured)
                self.prox_p.seed(warm_start.cone_multipliers, rho_p)
                self.prox_p(p + a_p, lifted.beta / rho_p)
        return _Iterate(z, a_z, p, a_p, rho_z, rho_p, torch.zeros_like(z))

    def u_step(self, s: _Iterate) -> tuple[torch.Tensor, torch.Tensor]:
        """``(F^T F + r I) U = F^T w + r q`` (``w = z - a_z``, ``q = p - a_p``) by Woodbury:
        ``(r I + K) e = F q - w``, ``U = q - F^T e``, and then ``F U = w + r e`` (exact
        solves); returns the over-relaxed ``U`` and ``F U``.

        Two products with ``F`` per step: forming the right-hand side ``c = F^T w + r q`` and
        solving for it, ``U = (c - F^T (r I + K)^{-1} F c) / r``, takes three (the ``K w`` in
        ``F c`` is folded into the solve: ``(r I + K)^{-1} K w = w - r (r I + K)^{-1} w``)."""
        lifted, alpha = self.lifted, self.alpha
        s.ratio = r = s.rho_p / s.rho_z
        w, q = s.z - s.a_z, s.p - s.a_p
        s.e = self.system(lifted.predict(q) - w, s.e)
        U = q - lifted.adjoint(s.e)
        FU = w + r * s.e if self.system.exact else lifted.predict(U)
        return alpha * U + (1 - alpha) * s.p, alpha * FU + (1 - alpha) * s.z

    def prox_steps(self, s: _Iterate, U, FU, it: int, checking: bool, final: bool) -> bool:
        """The proximal steps and the scaled dual updates. Before a check the projections
        are exact; returns False when a check is skipped because the gap, estimated at the
        truncated projection, is over ``SCREEN_FACTOR`` times the target (and neither
        screening nor a polish is due)."""
        lifted, prox_p = self.lifted, self.prox_p
        s.z = lifted.loss.prox(FU + s.a_z, lifted.Y, lifted.weights, s.rho_z, start=s.z)
        proceed = True
        if self.gated:
            s.p = group_soft_threshold(U + s.a_p, lifted.beta / s.rho_p)
        else:
            s.p = prox_p(U + s.a_p, lifted.beta / s.rho_p, exact=False)
            if checking and not final:
                estimate = _exact_check(self.lifted, s.p, prox_p, s.rho_p,
                                        s.rho_z * s.a_z)[2].relative
                far = estimate > SCREEN_FACTOR * max(self.tol, self.monitor.resolved_gap)
                if (not self.wants_screening(estimate, s.p) and far
                        and not self.polisher.wants(it, estimate, s.p)):
                    self.monitor.note(it, f"estimated gap {estimate:.2e}: not certified yet")
                    proceed = False
            if checking and proceed:  # the same input, projected exactly (warm-started)
                s.p = prox_p(U + s.a_p, lifted.beta / s.rho_p)
        s.a_z = s.a_z + FU - s.z
        s.a_p = s.a_p + U - s.p
        return proceed

    def rebalance(self, s: _Iterate, U, FU, z_prev, p_prev) -> bool:
        """Residual balancing of both penalties; True when one changed (the map changed)."""
        lifted = self.lifted
        factor_z = _rebalance(_relative(FU - s.z, FU, s.z, norm=lifted.sharding.norm),
                              _relative(lifted.adjoint(s.z - z_prev), lifted.adjoint(s.a_z)),
                              s.changes_z)
        factor_p = _rebalance(_relative(U - s.p, U, s.p), _relative(s.p - p_prev, s.a_p),
                              s.changes_p)
        s.changes_z += factor_z != 1
        s.changes_p += factor_p != 1
        s.rho_z, s.a_z = s.rho_z * factor_z, s.a_z / factor_z
        s.rho_p, s.a_p = s.rho_p * factor_p, s.a_p / factor_p
        if factor_z == 1 and factor_p == 1:
            return False
        self.system.set_shift(s.rho_p / s.rho_z)
        if self.accelerator is not None:
            self.accelerator.reset()
        return True

    def certify(self, s: _Iterate, it: int, checking: bool):
        """``(point, gap, defect)``: the certificate at ``p`` (inside the cones) with the dual
        candidate ``grad L(z) = rho_z a_z``, polished when that qualifies; recorded."""
        lifted, prox_p, check64 = self.lifted, self.prox_p, self.check64
        monitor = self.monitor
        if not checking and not self.gated:  # out of time between checks: redo p exactly,
            # unless that would overrun the time limit (then keep the groups inside their cones)
            if monitor.elapsed() + prox_p.exact_seconds() <= (1 + LIMIT_SLACK) * monitor.time_limit:
                s.p = prox_p(s.p + s.a_p, lifted.beta / s.rho_p)  # the inexact step's input
            else:
                s.p = prox_p.inside(s.p)
                monitor.note(it, "time limit: groups outside their cones set to zero")
        Lam = s.rho_z * s.a_z
        if self.gated:
            pre = lifted.preactivations(s.p)
            Fp = lifted.predict_from(pre)
            gap = best_of_gaps(gated_gap(lifted, s.p, Fp), gated_gap(lifted, s.p, Fp, Lam))
            point, defect = s.p, 0.0
            if check64 is not None and gap.relative <= self.tol:
                self.monitor.note(it, f"gap {gap.relative:.2e} in {self.dtype}: certifying in "
                                      "float64")
                point, gap = check64.gated(s.p, Lam)
        elif check64 is None:
            point, pre, gap = _exact_check(lifted, s.p, prox_p, s.rho_p, Lam)
            defect = lifted.cone_defect(pre)
        else:
            # in low precision p is inside the cones only to that precision (the defect of
            # breast_cancer's float32 points, 3e-4, moved the objective by 1e-3 relative, so
            # float32 gaps came out negative, measured): every check is of the point projected
            # onto the cones in float64
            point, gap, defect = check64.exact(s.p, prox_p.multipliers(s.rho_p), Lam)
        # a polish may take a quarter of the time ADMM has run (at least POLISH_MIN_SECONDS)
        budget = min(monitor.time_limit - monitor.elapsed(),
                     max(POLISH_MIN_SECONDS, 0.25 * monitor.elapsed()))
        polished = self.polisher(it, point, gap, self.tol,
                                 None if self.gated else prox_p.multipliers(s.rho_p), budget)
        if polished is not None and polished[3] <= self.cone_tol:
            point, _, gap, defect = polished
            monitor.note(it, f"active-face polish: gap {gap.relative:.2e}")
        monitor.record(it, gap.primal, gap.relative, cone_violation=defect, rho=s.rho_z,
                       ratio=s.ratio)
        return point, gap, defect

    def wants_screening(self, gap: float, p: torch.Tensor) -> bool:
        """Whether to screen at a check of (estimated) relative gap ``gap`` at ``p``, and so to
        certify it even far from ``tol``: the first with ``gap`` at most :attr:`screen_at`, when
        at least ``SCREEN_MIN`` of the patterns are zero at ``p`` (the screened ones almost
        always are); else screening is off for the run (the check's exact projections and the
        screening's NNLS would cost ~1 s on breast_cancer's 100 sampled patterns, all in use,
        for nothing)."""
        if self.screen_at is None or gap > self.screen_at:
            return False
        P = self.lifted.P
        zero = torch.linalg.vector_norm(p, dim=(0, 2)) == 0  # (2P,): the v, then the w groups
        if int((zero[:P] & zero[P:]).sum()) < SCREEN_MIN * P:
            self.screen_at = None
        return self.screen_at is not None

    def screen(self, it: int, gap) -> bool:
        """Screening at a check of program (8): True when at least ``SCREEN_MIN`` of the
        patterns, not all (the zero point would then be optimal, and certified as it is), are
        zero at every optimum (:attr:`kept`: the others)."""
        self.screen_at = None
        P = self.lifted.P
        kept = screen(self.lifted.problem, as_numpy(gap.Lam), gap.primal).kept_patterns
        self.monitor.note(it, f"screening: {P - kept.size} of {P} patterns are zero at every "
                              "optimum")
        self.kept = kept
        return 0 < kept.size <= (1 - SCREEN_MIN) * P

    def iterate(self, s: _Iterate, max_iter: int, check_every: int, adaptive: bool,
                start: int = 0):
        """ADMM from ``s`` (iteration ``start``) until a check certifies the target, stalls, a
        budget runs out or screening drops patterns (``"screened"``): ``(status, iterations,
        point, gap)``."""
        it, status, next_check = start, None, start + check_every
        best = None  # (gap, point) of the best check
        while status is None:
            it += 1
            before = s.variables()
            z_prev, p_prev = s.z, s.p
            checking = it >= next_check or it >= max_iter
            if self.fused is not None and not checking:
                U, FU = self.fused(s)  # the same steps in compiled passes
            else:
                U, FU = self.u_step(s)
                if not self.prox_steps(s, U, FU, it, checking, final=it >= max_iter) and checking:
                    checking, next_check = False, it + check_every  # the estimated gap is far off
            candidate = None
            if self.accelerator is not None:
                # extrapolate only between plain iterations that certify nothing
                quiet = not checking and it + 1 < next_check and it + 1 < max_iter
                candidate, rejected = self.accelerator(_pack(before), _pack(s.variables()), quiet)
                if rejected:  # the last extrapolation made things worse: back to the plain step
                    s.set_variables(_unpack(candidate, before))
                    continue
                if not quiet:
                    candidate = None
            # the time limit keeps back what the final exact projection is expected to take
            # (without it, the groups still outside their cones are zeroed at the limit)
            limit = self.monitor.limit_reached(
                it, 0.0 if self.gated else self.prox_p.exact_seconds())
            if adaptive and it % check_every == 0 and self.rebalance(s, U, FU, z_prev, p_prev):
                candidate = None  # a new map: the accelerator's history no longer applies
            if not checking and limit is None:
                if candidate is not None:
                    s.set_variables(_unpack(candidate, before))
                continue
            point, gap, defect = self.certify(s, it, checking)
            if self.on_check is not None:
                self.on_check(gap.relative, gap.Lam)
            if best is None or gap.relative < best[0].relative:
                best = (gap, point)
            if gap.relative <= self.tol and defect <= self.cone_tol:
                status = "optimal"
            elif self.monitor.stalled:
                status = "stalled"
            elif (limit is None and defect <= self.cone_tol
                  and self.wants_screening(gap.relative, point) and self.screen(it, gap)):
                status = "screened"
            else:
                status = limit
            # far from the target, certify less often (each check projects exactly): a gap 10^j
            # times the target waits j check intervals, at most 4
            decades = math.log10(max(gap.relative, self.tol) / self.tol)
            next_check = it + check_every * min(4, max(1, int(decades)))
        if status == "stalled":  # the iterates jitter in a noise ball: return its best point
            gap, point = best
        return status, it, point, gap
