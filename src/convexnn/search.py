"""Dual-guided neuron search: column generation over activation patterns.

The cutting-plane method of Ergen & Pilanci (JMLR 2021, Section 3.6, Algorithm 1; Appendix 9,
Algorithm 3) with program (8) of Pilanci & Ergen (ICML 2020) as the restricted master problem::

    repeat
        solve (8) over the current patterns (inexact while the dual is far from feasible:
            relative gap 5e-2; each round starts from the last one's point and dual)
        Lam <- its dual point
        ask the separation oracle for max_{||u|| = 1} s lam_c^T (X u)_+ over all c, s
        if no value exceeds beta (1 + eps): stop ("converged")
        add the best new patterns 1[X u >= 0]; drop patterns whose groups stayed zero

Patterns whose groups are zero are dropped, so the restricted program keeps its support plus
the newest patterns; its optimum still never increases (a dropped group was zero). Every
restricted optimum is the objective of a valid ReLU network (Theorem 1), so each round's
network is at least as good as the last, up to the rounds' solve tolerances. The search ends at
the *global* optimum when the oracle is exact: :func:`convexnn.oracle.exact_oracle` prices all
enumerated patterns, used when the data's patterns are few (rank 2, or Cover's count small).
Otherwise :func:`convexnn.oracle.ascent_oracle` is a
multi-start local search: "converged" then means that it found no violated constraint, which is
not a proof (``SearchResult.proven`` says which).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ._validation import (
    check_beta,
    check_bool,
    check_data,
    check_instance,
    check_matrix,
    check_positive_int,
    check_tolerance,
)
from .baselines import adam_warm_up
from .certificates import Certificate, certify
from .losses import get_loss
from .network import TwoLayerReLU
from .oracle import (
    OracleResult,
    _pattern_keys,
    ascent_oracle,
    cone_prices,
    exact_oracle,
    oracle_values,
)
from .patterns import Patterns, add_bias, enumerable_patterns, sample_patterns
from .problem import ConvexProblem
from .solution import ConvexSolution
from .solvers import ConicSolverError, solve

__all__ = ["SearchResult", "neuron_search"]

#: Cover's count up to which ``oracle="auto"`` enumerates all patterns and prices them exactly
#: (``enumerate_patterns`` solves an LP per cell and sample: 6 s for the 382 patterns of 20
#: points in 3-D, measured; data of rank 2 are enumerated by sorting at any size)
EXACT_MAX_PATTERNS = 200
#: the loosest round's relative duality gap, the first round's included; a later round's is
#: ``min(initial_tol, max(tol, ROUND_FLOOR, TOL_FACTOR (violation - 1)))``, which at these
#: defaults is 5e-2 for every round (it follows the violation only for an ``initial_tol`` above
#: ``ROUND_FLOOR`` and violations above ``1 + ROUND_FLOOR / TOL_FACTOR``)
INITIAL_TOL = 5e-2
#: a round's relative-gap target is this times the last violation's excess (violation - 1),
#: within the bounds above
TOL_FACTOR = 1e-2
#: the tightest relative gap of a round that adds patterns (the final solve goes to ``tol``).
#: Each round starts from the last one's point and dual, so a loose round loses little: the
#: next goes on from where it stopped. Eight default fits of benchmarks/bench_vs_adam.py's
#: sets (breast_cancer, diabetes, keel:pima, wine, heart, bupa, australian, wdbc) took 35.9 s
#: with rounds at 1e-2 to 2e-3, 30.9 s at 1e-2, 28.5 s at 2e-2, 25.7 s at 5e-2 and 24.0 s at
#: 1e-1, objectives at a median 0.935, 0.935, 0.938, 0.935 and 0.944 of Adam's (measured;
#: from zero, before the rounds were warm-started, looser rounds gained nothing)
ROUND_FLOOR = 5e-2
#: ``min_progress`` compares the objective with the one this many rounds before
PROGRESS_ROUNDS = 3
#: ``solver="auto"`` solves restricted programs with at most this many variables and cone rows
#: (``2 P k (d + n)``) by the conic solver (0.02-0.05 s on 14-sample hinge and cross-entropy
#: programs, where ADMM needed 10-50 s to certify 1e-6; but 5 s for 20 patterns of
#: breast_cancer's 426 x 31, where ADMM needs 0.2 s to 1e-2: measured), larger ones by ADMM
CONIC_MAX_SIZE = 5_000
#: the same bound for a loss without curvature (hinge), where ADMM needs thousands of
#: iterations per round: a search on 60 x 2 points (+ bias, about 90 patterns, size 11,000)
#: took 1.3 s of conic solves against 16.7 s of ADMM; on keel:heart (189 x 14, about 195
#: patterns, size 79,000) a conic round took 4-6 s against 0.6-1.3 s for ADMM (measured)
CONIC_MAX_NONSMOOTH = 25_000
#: seconds a restricted solve gets even when the time is up (it returns its start point)
MIN_SOLVE_TIME = 1e-3
#: the share of ``time_limit`` kept for the final solve (the rounds stop when only it is left)
FINAL_SHARE = 0.15
#: the conic solver's relative accuracy (its reference tolerances, ``solvers.conic.ACCURATE``)
CONIC_ACCURACY = 1e-9
#: ``n_jobs="auto"`` searches outputs on every core from this many data entries (n x d): on
#: the 2-core machine two threads took keel:vehicle's four outputs (592 x 19) from 22 to 16 s
#: and keel:segment's seven (1,617 x 20) from 95 to 57 s, but iris's three (105 x 5) from
#: 2.6 to 2.8 s and wine's (124 x 14) no faster per iteration (measured)
PARALLEL_MIN_ENTRIES = 5_000
#: a round's oracle starts on the dual of the first ADMM check whose gap is at most this many
#: times the round's target, on a second thread (:class:`_Speculation`), on data of any size
#: (with ``n_jobs`` allowing two threads). Below 2,000 data entries it once ran after the solve:
#: with the rounds solved to 5e-2 the oracle became a larger share of them, and on the five
#: sets under that size (keel:bupa, wine, keel:wine, iris, keel:iris), three seeds, the fits
#: took 8.0-8.8 s with it beside ADMM against 9.4-11.1 s after (measured)
SPECULATE_AT = 10.0


@dataclass
class SearchResult:
    """What :func:`neuron_search` returns.

    Attributes
    ----------
    solution : ConvexSolution
        The final restricted program (8), solved to ``tol``.
    patterns : Patterns
        The patterns of that program.
    violation : float
        The oracle's best value over ``beta`` on the last round's dual point (scaled into the
        dual set of that round's patterns when the round was solved to ``tol``, as it is when
        the search converged); at most ``1 + eps`` when converged.
    lower_bound : float
        ``-L*(t Lam)`` with ``t`` scaling the final dual point by ``1 / max(1, violation)``:
        a lower bound of the global optimum *if the oracle's value is the true maximum*, which
        is proven only when ``proven`` (exact oracle); otherwise an empirical bound.
    n_directions : int
        Directions the oracle evaluated (or patterns it priced), over all rounds.
    rounds : int
        Restricted solves followed by an oracle call.
    history : dict of lists
        One entry per round: ``round``, ``objective`` (the restricted program's objective at
        the round's point), ``bound`` (the search's bound from that round's dual, see
        ``lower_bound``), ``tol`` (the relative gap the round was solved to),
        ``n_patterns``, ``n_active`` (nonzero groups), ``status`` (the solver's: ``"optimal"``
        when it certified ``tol``),
        ``violation``, ``added``, ``dropped``, ``iterations`` (solver),
        ``solve_time``, ``oracle_time`` and ``time`` (since the start).
    status : str
        ``"converged"``: the oracle found no violation above ``beta (1 + eps)`` at ``tol``;
        a proven global optimum only when ``proven``. ``"max_rounds"`` or ``"time_limit"``: a
        budget ran out. ``"stalled"``: the oracle's violators were all present already at
        ``tol`` (the restricted solve cannot resolve them). ``"inaccurate"``: no new violator,
        but the last restricted solve did not certify ``tol`` (``solution.reason`` says why).
    exact_oracle : bool
        Whether the oracle priced all enumerated patterns.
    outputs : list of SearchResult or None
        The per-output searches (``per_output``), whose results this one combines: its
        ``solution`` places each output's groups on the union of their patterns (zero on the
        other outputs' patterns), ``lower_bound`` and ``n_directions`` are their sums,
        ``violation`` their largest, ``history`` their rounds one after the other (with
        ``output``). None for a joint search.
    """

    solution: ConvexSolution
    patterns: Patterns
    violation: float
    lower_bound: float
    n_directions: int
    rounds: int
    history: dict = field(default_factory=dict)
    status: str = "max_rounds"
    exact_oracle: bool = False
    outputs: list | None = None
    _certificate: Certificate | None = field(default=None, init=False, repr=False,
                                             compare=False)

    @property
    def objective(self) -> float:
        """The final training objective (convex objective = the network's objective (2))."""
        return float(self.solution.objective)

    @property
    def proven(self) -> bool:
        """True when the search converged with the exact oracle: a global optimum to ``tol``."""
        return self.status == "converged" and self.exact_oracle

    def network(self, rtol: float = 1e-9) -> TwoLayerReLU:
        """The trained network (Theorem 1 applied to :attr:`solution`)."""
        return TwoLayerReLU.from_convex(self.solution, rtol=rtol)

    def certificate(self) -> Certificate:
        """The rigorous gap of the final restricted program, with the search's bound.

        The restricted program is (8) over :attr:`patterns` or, for per-output searches, the
        sum of each output's program over its own patterns (a network whose output ``c`` has
        neurons only of output ``c``'s patterns): its certificate is the sum of theirs. A gated
        solution is certified as the point of (8) that it splits into, against the gated
        dual constraints (stronger, so the bound holds for (8) too). Computed once.
        """
        if self._certificate is None:
            self._certificate = self._certify()
        return self._certificate

    def _certify(self) -> Certificate:
        if self.outputs is None:
            solution = self.solution
            point = solution.cone_decomposition() if solution.gated else solution
            rigorous = certify(point, dual_check="gated" if solution.gated else "program")
        else:
            rigorous = Certificate.total([result.certificate() for result in self.outputs])
        return rigorous.with_search(self)


# --------------------------------------------------------------------------------- helpers
def _initial_patterns(Xa, initial_patterns, seed_network, bias, rng) -> Patterns:
    """The first restricted program's patterns: sampled or given, plus a network's."""
    if initial_patterns is None:
        initial_patterns = 20
    if isinstance(initial_patterns, Patterns):
        if initial_patterns.n_samples != Xa.shape[0]:
            raise ValueError(f"initial_patterns were made for {initial_patterns.n_samples} "
                             f"samples, but X has {Xa.shape[0]}")
        patterns = Patterns(initial_patterns.D, initial_patterns.generators, exact=False)
    else:
        count = check_positive_int(initial_patterns, "initial_patterns")
        patterns = sample_patterns(Xa, count, seed=rng)
    if seed_network is not None:
        check_instance(seed_network, TwoLayerReLU, "seed_network")
        if seed_network.has_bias != bias:
            raise ValueError(f"seed_network {'has' if seed_network.has_bias else 'has no'} "
                             f"bias but bias={bias}")
        if seed_network.n_features != Xa.shape[1] - bias:
            raise ValueError(f"seed_network has {seed_network.n_features} features; X has "
                             f"{Xa.shape[1] - bias}")
        own = seed_network.activation_patterns(Xa[:, :-1] if bias else Xa)
        patterns = own.union(patterns)  # the network's patterns first
    return patterns


def _warm_up(X, Y, loss, beta, bias, sample_weight, rng, time_limit, device,
             verbose) -> TwoLayerReLU:
    """The network of ``seed_network="adam"``: :data:`WARMUP`'s Adam run on this objective."""
    run = adam_warm_up(X, Y, loss=loss, beta=beta, bias=bias, sample_weight=sample_weight,
                       seed=int(rng.integers(2**31)), device=device,
                       time_limit=None if time_limit is None else WARMUP_SHARE * time_limit,
                       **WARMUP)
    if verbose:
        print(f"[search] warm-up: Adam, {len(run.history['objective']) - 1} epochs of "
              f"{WARMUP['width']} neurons, objective {run.objective:.10g}, {run.time:.2f}s")
    return run.network


def _choose_oracle(Xa: np.ndarray, oracle, max_exact: int) -> Patterns | None:
    """All patterns of ``Xa`` when the exact oracle is used, else None."""
    if isinstance(oracle, Patterns):
        if not oracle.exact or oracle.n_samples != Xa.shape[0]:
            raise ValueError("oracle given as Patterns must hold all patterns of the augmented "
                             f"X (exact=True, {Xa.shape[0]} samples); got exact={oracle.exact} "
                             f"for {oracle.n_samples} samples")
        return oracle
    if oracle not in ("auto", "ascent", "exact"):
        raise ValueError(f"oracle must be 'auto', 'ascent', 'exact' or a Patterns; got {oracle!r}")
    if oracle == "ascent":
        return None
    return enumerable_patterns(Xa, max_exact if oracle == "auto" else None)


def _group_zero(solution: ConvexSolution) -> np.ndarray:
    """Per pattern: whether all its groups (every output, V and W) are zero. (P,)"""
    blocks = [solution.V] if solution.W is None else [solution.V, solution.W]
    return np.all([np.all(B == 0, axis=(0, 2)) for B in blocks], axis=0)


def _neuron_directions(solution: ConvexSolution) -> np.ndarray:
    """Unit directions of the nonzero groups (the current neurons): (d, m)."""
    blocks = [solution.V] if solution.W is None else [solution.V, solution.W]
    U = np.concatenate([B.reshape(B.shape[0], -1) for B in blocks], axis=1)
    norms = np.linalg.norm(U, axis=0)
    keep = norms > 0
    return U[:, keep] / norms[keep]


def _dual(problem: ConvexProblem, solution: ConvexSolution, scale: bool) -> np.ndarray:
    """The solution's dual point (the solver's when it certified its target, else ``grad L``
    at the solution: a solve cut short early has a dual far from its point's, which priced
    digits' outputs below beta at the zero network, measured), in the conjugate's domain;
    with ``scale``, multiplied by
    ``min(1, beta / max present)`` into the dual set of the present patterns.

    Scaled (as certificates do), every present pattern's constraint holds and any violation
    the oracle finds belongs to a new pattern. Unscaled, a loose solve's dual can exceed
    ``beta`` on present patterns by about its gap (0.3% at 1e-2, measured): harmless while
    the search adds patterns (present ones are skipped), so the scale (an exact projection
    per group: 0.5 s per round on breast_cancer) is computed only when the search may stop.
    """
    if solution.dual is not None and solution.status == "optimal":
        Lam = _in_domain(problem, solution.dual)
    else:
        ops = problem.operators()
        Lam = _in_domain(problem, ops.loss_gradient(torch.as_tensor(solution.predict_training())))
    if not scale:
        return Lam
    if problem.gated:  # no cones: the constraint of a pattern is ||X^T D lam_c|| <= beta
        present = float(_gated_prices(problem.X, Lam, problem.patterns.D).max(initial=0.0))
    else:
        present = float(cone_prices(problem.X, Lam, problem.patterns.D).max(initial=0.0))
    return Lam * (min(1.0, problem.beta / present) if present > 0 else 1.0)


def _in_domain(problem: ConvexProblem, Lam) -> np.ndarray:
    """A dual candidate (n, k) as float64 NumPy, mapped into the loss conjugate's domain."""
    ops = problem.operators()
    Lam = torch.as_tensor(Lam).detach().to("cpu", torch.float64)
    return problem.loss.into_domain(Lam, ops.Y, ops.weights).numpy()


def _gated_prices(Xa: np.ndarray, Lam: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``max_c ||Xa^T D_i lam_c||`` per pattern column of ``D``: the gated program's prices."""
    G = np.einsum("nd,np,nk->dpk", Xa, D.astype(float), Lam)
    return np.linalg.norm(G, axis=0).max(axis=1)


def _pad_warm_start(problem: ConvexProblem, previous: ConvexSolution,
                    keep: np.ndarray) -> ConvexSolution:
    """A point of ``problem`` made of ``previous``'s kept groups followed by zero groups.

    ``keep`` indexes ``previous``'s patterns that are the first ``len(keep)`` patterns of
    ``problem``; new patterns enter at zero, so the point keeps ``previous``'s predictions and
    objective (the cones of zero groups hold trivially).

    It carries ``previous``'s last ADMM penalties (:func:`_solver_options`), so a round's solve
    does not repeat the residual balancing's doublings from the defaults; the final solve
    starts from the default penalties instead (:meth:`_Search.solve`). On digits' first output
    (ten rounds) the rounds took 20-40 ADMM iterations instead of 50-90, but the final solve
    from the carried penalties took 530 instead of 170 (from the defaults: 200). Default fits,
    against restarting every round from the defaults (two threads; two alternated runs each,
    one for digits and keel:segment):
    digits 62.1 against 80.4 s, breast_cancer 2.35-2.40 against 2.70-2.79 s, keel:ionosphere
    1.32-1.40 against 1.56-1.61, diabetes 2.19-2.35 against 2.60-2.62, keel:pima 3.16-3.39
    against 3.41-3.59, keel:segment 26.7 against 27.8; keel:vehicle 8.8 against 7.7-7.9 and
    wine 1.57-1.73 against 1.56-1.61 slower, keel:bupa the same. Objectives moved by at most
    0.7 % either way (lower on four of the nine sets). An earlier measurement carried the
    penalties into the final solve too and found whole fits slower on five of seven sets.
    """
    P = problem.shape[2]

    def pad(B):  # (rows, P', k) -> (rows, P, k)
        if B is None:
            return None
        out = np.zeros((B.shape[0], P, B.shape[2]))
        out[:, : keep.size] = B[:, keep]
        return out

    V, W = pad(previous.V), pad(previous.W)
    multipliers = previous.cone_multipliers  # (n, 2 P', k): the v groups', then the w groups'
    if multipliers is not None:
        half = multipliers.shape[1] // 2
        multipliers = np.concatenate([pad(multipliers[:, :half]), pad(multipliers[:, half:])],
                                     axis=1)
    penalties = {key: previous.history[key] for key in ("rho", "ratio")
                 if key in (previous.history or {})}
    return ConvexSolution(problem=problem, V=V, W=W, objective=problem.objective(V, W),
                          dual=previous.dual, status=previous.status, solver=previous.solver,
                          cone_multipliers=multipliers, history=penalties)


def _solver_options(solver: str, solution: ConvexSolution | None, options: dict,
                    penalties: bool = True) -> dict:
    """Warm start (and, with ``penalties``, ADMM's last penalties) for the next restricted
    solve."""
    options = dict(options)
    if solution is not None and solver in ("admm", "fista"):
        options["warm_start"] = solution
        history = solution.history or {}
        if penalties and solver == "admm" and history.get("rho") and "rho" not in options:
            # the residual balancing of the last solve found these; restarting from the
            # default would repeat its first doublings
            options["rho"], options["ratio"] = history["rho"][-1], history["ratio"][-1]
    return options


def _new_patterns(values: np.ndarray, D: np.ndarray, present: Patterns, threshold: float,
                  count: int) -> list[int]:
    """Indices of the best ``count`` candidates above ``threshold`` whose patterns (columns
    of ``D``) are distinct and not in ``present``, best first."""
    known = set(_pattern_keys(present.D).tolist())
    order = np.argsort(-values, kind="stable")
    chosen: list[int] = []
    for j, key in zip(order, _pattern_keys(D[:, order]).tolist(), strict=True):
        if values[j] <= threshold or len(chosen) >= count:
            break
        if key not in known:
            known.add(key)
            chosen.append(int(j))
    return chosen


class _Speculation:
    """A round's oracle call, started on the dual of the first ADMM check whose gap is within
    ``SPECULATE_AT`` times the round's target, on a thread of its own while ADMM goes on.

    The ascent then overlaps the solve's last iterations. Adam, full batch on these sizes,
    gains nothing from a second core (breast_cancer and
    keel:pima, one run at two threads: 2.8 and 3.1 s against 2.6 and 2.5 s at one, measured),
    and a round's solve and oracle on two threads took 0.36 s against 0.47 s one after the
    other (breast_cancer; keel:pima 0.46 against 0.60 s, measured). The candidates are priced
    again at the solve's final dual (:meth:`_Search.price`), so the values the search acts
    on are of that dual. The check that starts it depends only on ADMM's iterates, and its
    seed is drawn on the calling thread, so the search's result does not depend on timing.
    """

    def __init__(self, search: _Search, problem: ConvexProblem, tol: float,
                 previous: ConvexSolution | None):
        self.search, self.problem, self.at = search, problem, SPECULATE_AT * tol
        self.neurons = (np.zeros((search.Xa.shape[1], 0)) if previous is None
                        else _neuron_directions(previous))
        self.future = None

    def on_check(self, gap: float, Lam: torch.Tensor) -> None:
        """ADMM's check: start the oracle at the first one within reach of the target."""
        if self.future is not None or not gap <= self.at:
            return
        Lam = _in_domain(self.problem, Lam.clone())  # ADMM goes on beside the oracle
        seed = int(self.search.rng.integers(2**63))
        pool = ThreadPoolExecutor(1, thread_name_prefix="convexnn-oracle")
        self.future = pool.submit(self.search.ascent, Lam, self.neurons, 1, seed)
        pool.shutdown(wait=False)  # its thread ends with the call

    def result(self) -> OracleResult | None:
        """The oracle's answer, once it is done (None if it never started)."""
        return None if self.future is None else self.future.result()


HISTORY_KEYS = ("round", "objective", "bound", "tol", "status", "n_patterns", "n_active",
                "violation", "added", "dropped", "iterations", "solve_time", "oracle_time", "time")


class _Search:
    """State of one :func:`neuron_search` run: data, settings, current patterns, clock."""

    def __init__(self, Xa, Y, *, loss, beta, bias, gated, sample_weight, all_patterns,
                 patterns_per_round, eps, limit, oracle_options, solver, solver_options,
                 warm_start, rng, solve_with, speculate=False):
        self.Xa, self.Y, self.loss, self.beta = Xa, Y, loss, beta
        self.bias, self.gated, self.sample_weight = bias, gated, sample_weight
        self.all_patterns, self.patterns_per_round, self.eps = all_patterns, patterns_per_round, eps
        self.limit, self.oracle_options = limit, oracle_options
        self.solver, self.solver_options, self.warm_start = solver, solver_options, warm_start
        self.rng, self.solve_with = rng, solve_with
        self.start = time.perf_counter()
        self.n_directions = 0
        self.neurons = np.zeros((Xa.shape[1], 0))  # the oracle's last best directions
        #: whether rounds start their oracle on a check's dual while ADMM goes on
        #: (:class:`_Speculation`)
        self.speculate = speculate

    def remaining(self, final: bool = False) -> float:
        """Seconds left for the rounds (the final solve's share kept back) or, with
        ``final``, for the final solve."""
        left = self.limit - (time.perf_counter() - self.start)
        return left if final else left - FINAL_SHARE * self.limit

    def timed(self, options: dict, final: bool = False) -> dict:
        """``options`` with the seconds left (see :meth:`remaining`, at least
        ``MIN_SOLVE_TIME``) as ``time_limit``, unless they give one or the search has none."""
        if math.isfinite(self.limit):
            options.setdefault("time_limit", max(self.remaining(final), MIN_SOLVE_TIME))
        return options

    def problem(self, patterns: Patterns) -> ConvexProblem:
        return ConvexProblem(self.Xa, self.Y, self.loss, self.beta, patterns, gated=self.gated,
                             sample_weight=self.sample_weight, bias=self.bias)

    def solve(self, problem: ConvexProblem, tol: float, warm: ConvexSolution | None,
              final: bool = False, warm_start: bool | None = None,
              speculation: _Speculation | None = None) -> tuple[ConvexSolution, float]:
        """The restricted program to relative gap ``tol``, within the time left (the rounds'
        or, with ``final``, all of it), from ``warm`` if ``warm_start`` (default: the search's
        setting); returns the solution and the gap it was solved to. An ADMM solve reports
        its checks to ``speculation``."""
        warm_start = self.warm_start if warm_start is None else warm_start
        n, d, P, k = problem.shape
        name, options = self.solver, dict(self.solver_options)
        if name == "auto":
            # the interior point's cost grows with the variables and the 2 n P k cone rows
            size = CONIC_MAX_SIZE if self.loss.smooth else CONIC_MAX_NONSMOOTH
            name = "conic" if 2 * P * k * (d + n) <= size else "admm"
            if name == "conic":  # options meant for the first-order solvers do not apply
                options = {key: options[key] for key in ("time_limit", "verbose")
                           if key in options}
        if name == "conic":  # interior point: always to 1e-9, no warm start
            try:
                return (self.solve_with(problem, "conic", **self.timed(options, final)),
                        min(tol, CONIC_ACCURACY))
            except ConicSolverError:
                if self.solver != "auto":
                    raise
                name, options = "admm", dict(self.solver_options)  # numerical trouble
        options = _solver_options(name, warm if warm_start else None, options,
                                  penalties=not final)
        if speculation is not None and name == "admm":
            options["on_check"] = speculation.on_check
        return self.solve_with(problem, name, tol=tol, **self.timed(options, final)), tol

    def price(self, problem: ConvexProblem, solution: ConvexSolution, *, scale: bool,
              effort: int = 1, speculation: _Speculation | None = None):
        """The oracle on the solution's dual (see :func:`_dual` for ``scale``): ``(values, D,
        generators, Lam)`` of its candidates. ``effort`` multiplies the ascent's starts and
        ascents (a confirmation). A ``speculation`` that started gives its candidates instead,
        priced at this dual."""
        Lam = _dual(problem, solution, scale)
        answer = None if speculation is None else speculation.result()
        if answer is not None:
            # the candidates' values at this dual (not at the check's dual they were found at)
            values = oracle_values(self.Xa, Lam, answer.candidates)[
                answer.candidate_outputs, (answer.candidate_signs < 0).astype(int),
                np.arange(answer.candidates.shape[1])]
        elif self.all_patterns is not None:
            answer = exact_oracle(self.Xa, Lam, self.all_patterns,
                                  n_candidates=self.patterns_per_round)
            values = answer.candidate_values
        else:
            answer = self.ascent(Lam, _neuron_directions(solution), effort, self.rng)
            values = answer.candidate_values
        if self.all_patterns is None:  # the ascent's best directions start the next round's
            best = answer.directions.reshape(self.Xa.shape[1], -1)
            self.neurons = best[:, np.linalg.norm(best, axis=0) > 0]
        self.n_directions += answer.n_directions
        if self.gated:  # the gated program prices a pattern by ||X^T D lam||, not a ReLU value
            values = _gated_prices(self.Xa, Lam, answer.candidate_patterns)
        return values, answer.candidate_patterns, answer.candidate_generators, Lam

    def ascent(self, Lam: np.ndarray, neurons: np.ndarray, effort: int, seed) -> OracleResult:
        """The ascent oracle at ``Lam``, started also from ``neurons`` and the last round's
        best directions; its ascents stop with the rounds' time."""
        options = {"n_candidates": self.patterns_per_round, **ORACLE_DEFAULTS,
                   **self.oracle_options}
        options["n_random"] *= effort
        options["n_ascent"] *= effort
        starts = np.hstack([neurons, self.neurons])
        return ascent_oracle(self.Xa, Lam, starts=starts, bias=self.bias, seed=seed,
                             **self.timed(options))

    def grow(self, patterns: Patterns, keep: np.ndarray, D: np.ndarray,
             G: np.ndarray) -> Patterns:
        """``patterns[keep]`` followed by the new patterns (columns of ``D``, generators ``G``)."""
        return Patterns(np.hstack([patterns.D[:, keep], D]),
                        np.hstack([patterns.generators[:, keep], G]), exact=False)


#: the short full-batch Adam run of ``seed_network="adam"``: its network's patterns start the
#: search. Measured on breast_cancer (beta 1e-3): 300 epochs of 100 neurons at lr 3e-2 took
#: 0.3 s and ended 1.6x above a tuned 2000-epoch Adam's objective, yet the first restricted
#: program over its patterns was 1.03x and the third round below it (about 3 s), against 9
#: rounds (8 s) from 20 random patterns; the search also ended lower (0.938 against 0.948)
WARMUP = {"width": 100, "epochs": 300, "lr": 3e-2}
#: the most of ``time_limit`` the warm-up run may take
WARMUP_SHARE = 0.1

#: the ascent oracle's settings inside the search (measured on breast_cancer, 2 cores: one walk
#: and 16 ascents per output and sign reached Adam's objective in 8-10 s against 30-45 s with
#: the standalone defaults; the search calls the oracle every round and restarts it from the
#: last round's best directions, so each call can be cheap). Each ascent stops after 20
#: iterations (the cell walk that follows climbs its cell exactly): with rounds solved to 5e-2
#: the oracle's wait had become a fifth of a fit, and eight default fits of
#: benchmarks/bench_vs_adam.py's sets took 22.4 s against 25.8 s at the standalone 50, with
#: objectives at a median 0.937 of Adam's against 0.935 (30 iterations: 22.5 s, 0.938; 10:
#: 21.0 s, 0.944, keel:australian 2.6 % higher; measured)
ORACLE_DEFAULTS = {"n_random": 1000, "n_ascent": 16, "alternations": 1, "max_iter": 20}
#: when a round's oracle finds nothing, it is asked again with this many times the starts and
#: ascents before the search reports convergence
CONFIRM_EFFORT = 4


# ------------------------------------------------------------------------------ the search
def neuron_search(X, Y, *, loss="squared", beta: float, bias: bool = True, gated: bool = False,
                  sample_weight=None, initial_patterns=None, seed_network=None,
                  max_rounds: int = 100, patterns_per_round: int | None = None,
                  tol: float = 1e-6, initial_tol: float = INITIAL_TOL, eps: float = 1e-6,
                  gap_tol: float = 0.0, min_progress: float = 0.0,
                  drop_after: int = 1, time_limit: float | None = None, seed=None,
                  oracle="auto", max_exact: int = EXACT_MAX_PATTERNS,
                  oracle_options: dict | None = None, solver: str = "auto",
                  solver_options: dict | None = None, warm_start: bool = True,
                  per_output="auto", n_jobs="auto", verbose: bool = False,
                  progress: Callable[[dict], None] | None = None,
                  solve_with: Callable | None = None) -> SearchResult:
    """Train a two-layer ReLU network by column generation over activation patterns.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Raw features (standardize them); a bias column is appended when ``bias``.
    Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, encoded as the loss expects (+-1 for hinge and logistic, one-hot rows for
        cross_entropy).
    loss : {"squared", "hinge", "logistic", "cross_entropy"} or Loss
    beta : float > 0
        Weight decay.
    bias : bool, default=True
    gated : bool, default=False
        Search for the gated relaxation instead (its oracle prices candidate patterns by
        ``||X^T D lam||``; candidates come from the ReLU ascent, so convergence is heuristic).
    sample_weight : array-like of shape (n_samples,), optional
    initial_patterns : Patterns or int, default=20
        The first patterns (made on the augmented data), or how many to sample.
    seed_network : TwoLayerReLU or "adam", optional
        Its neurons' patterns join the initial ones (e.g. a network trained by Adam).
        ``"adam"``: a short full-batch Adam run of this objective (:data:`WARMUP`: 100 neurons,
        300 epochs, learning rate 3e-2; at most a tenth of ``time_limit``) trains it first.
        Far from Adam's optimum, its patterns are still near the ones a good network uses, so
        the search starts close (see :data:`WARMUP`).
    max_rounds : int, default=100
        Restricted solves followed by an oracle call.
    patterns_per_round : int, optional
        Most new patterns added per round; default ``max(32, 8 n_outputs)``.
    tol : float, default=1e-6
        Relative duality gap of the final restricted solve (and of every round once the
        oracle finds no violation at a looser one).
    initial_tol : float, default=5e-2
        The loosest round gap (the first round's); a later round's gap is
        ``min(initial_tol, max(tol, ROUND_FLOOR, 0.01 (violation - 1)))`` with the last round's
        violation (``ROUND_FLOOR`` = 5e-2: by default every round is solved to 5e-2, the final
        solve to ``tol``).
    eps : float, default=1e-6
        A value counts as a violation above ``beta (1 + eps)``.
    gap_tol : float, default=0
        Stop adding patterns once the round's relative gap to the search's bound
        (``history["bound"]``: the dual scaled by the best violation found, a lower bound of the
        global optimum only if the oracle found the largest violation) is at most this; the
        status is then ``"gap_tol"`` and the final solve follows. 0 searches until no violation.
    min_progress : float, default=0
        Stop adding patterns (status ``"no_progress"``) once the objective fell by less than
        this, relative, over the last 3 rounds. 0 searches until no violation.
    drop_after : int, default=1
        Drop a pattern whose groups were zero after this many consecutive rounds (small
        restricted programs are cheap; a dropped pattern that is needed again comes back).
    time_limit : float, optional
        Seconds for the whole search: the rounds stop when 15 % of it is left, which the final
        solve gets (with what the rounds did not use).
    seed : None, int or numpy Generator
    oracle : {"auto", "ascent", "exact"} or Patterns
        ``"exact"`` enumerates all patterns and prices them (a proven optimum on convergence);
        ``"auto"`` does so for data of rank 2 (one feature plus bias: sorting enumerates them)
        and when Cover's count of the data is at most ``max_exact``; a Patterns with
        ``exact=True`` (all patterns of the augmented data, enumerated once) is used as given.
    max_exact : int, default=200
    oracle_options : dict, optional
        Passed to :func:`convexnn.oracle.ascent_oracle` (``n_random``, ``n_ascent``...);
        defaults :data:`ORACLE_DEFAULTS`.
    solver : {"auto", "admm", "conic", ...}, default="auto"
        Solver of the restricted programs; ``"auto"`` takes the conic solver for programs of
        at most ``CONIC_MAX_SIZE`` variables and cone rows (``2 P k (d + n)``;
        ``CONIC_MAX_NONSMOOTH`` for the hinge loss), else ADMM; ``solver_options`` then reach
        only the solver they apply to (the conic one takes ``time_limit`` and ``verbose``).
    solver_options : dict, optional
        Passed to the solver (``max_iter``...).
    warm_start : bool, default=True
        Start each restricted solve from the last round's point (kept groups, new ones at
        zero), its dual and ADMM's last penalties; ``False``: from zero. With the round's own
        dual (ADMM's warm start took ``grad L`` at the point before, and needed more iterations
        than from zero) six default fits (breast_cancer, diabetes and keel:bupa, heart, pima,
        wine) took 25.2 s against 29.7 s from zero, 1,310 ADMM iterations in breast_cancer's
        rounds against 1,610, objectives within 0.7 % (measured).
    per_output : {"auto", True, False}, default="auto"
        Search each output on its own. With a loss that sums over outputs (``Loss.separable``:
        all but cross-entropy), program (8) is the sum of one program per output (its groups
        belong to one output each), so the outputs' searches are independent and each adds
        only the patterns its own dual asks for; a joint search adds a group per output for
        every pattern (10 classes: 20 groups per pattern, most of them zero). ``"auto"``: when
        there are several outputs and the loss is separable. ``time_limit`` is shared out as
        the searches go (each gets an equal share of what is left, see ``n_jobs``).
    n_jobs : "auto" or int, default="auto"
        Threads that search outputs at the same time (with ``per_output``); -1 for one per CPU
        core. ``"auto"``: one per core when the data have at least ``PARALLEL_MIN_ENTRIES``
        entries, else 1 (smaller searches hold the interpreter's lock most of the time:
        measured on the 2-core machine, keel:segment's seven outputs 95 -> 57 s, keel:vehicle's
        four 22 -> 16 s, iris's three 2.6 -> 2.8 s). Each output draws its own random seeds,
        so the result does not depend on ``n_jobs``. A search whose outputs are not on threads
        of their own runs each round's oracle on a second thread, started at an ADMM check near
        the round's target while the solve goes on (``"auto"``: on two cores or more;
        ``n_jobs=1`` turns it off). That is deterministic too, but its rounds
        differ from those of an oracle on the final dual, so there the result depends on
        whether ``n_jobs`` allows two threads.
    verbose : bool, default=False
        Print one line per round.
    progress : callable, optional
        Called after each round with that round's history entry (a dict; with ``output``, the
        output's index, when the outputs are searched separately, then from the searching
        thread).
    solve_with : callable, optional
        ``solve_with(problem, solver, **options)`` solves the restricted programs; default
        :func:`convexnn.solvers.solve`. The estimators pass the one
        :func:`convexnn.distributed.context_solve` returns, which inside
        :func:`convexnn.distributed.activate` splits the samples across processes. With any
        other than the default the outputs are searched one at a time (a distributed solve's
        collectives must come in the same order on every process).

    Returns
    -------
    SearchResult
    """
    X, Y = check_data(X, Y)
    loss = get_loss(loss)
    beta = check_beta(beta, allow_zero=False)
    bias, gated = check_bool(bias, "bias"), check_bool(gated, "gated")
    max_rounds = check_positive_int(max_rounds, "max_rounds")
    given_per_round = patterns_per_round
    patterns_per_round = check_positive_int(
        max(32, 8 * Y.shape[1]) if patterns_per_round is None else patterns_per_round,
        "patterns_per_round")
    tol = check_tolerance(tol, "tol", upper=1.0)
    initial_tol = max(check_tolerance(initial_tol, "initial_tol", upper=1.0), tol)
    eps = check_tolerance(eps, "eps")
    gap_tol = check_tolerance(gap_tol, "gap_tol", upper=1.0)
    min_progress = check_tolerance(min_progress, "min_progress", upper=1.0)
    drop_after = check_positive_int(drop_after, "drop_after")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds; got {time_limit!r}")
    workers = _workers(n_jobs, X)
    if solve_with is None:
        solve_with = solve
    if not callable(solve_with):
        raise TypeError(f"solve_with must be callable; got {type(solve_with).__name__}")
    if solve_with is not solve:  # e.g. a distributed solve: one output at a time
        workers = 1
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable; got {type(progress).__name__}")
    if sample_weight is not None:
        sample_weight = check_matrix(sample_weight, "sample_weight", ndim=1)
    if per_output not in ("auto", True, False):
        raise ValueError(f"per_output must be 'auto', True or False; got {per_output!r}")
    if per_output is True and not loss.separable:
        raise ValueError(f"per_output=True needs a loss that sums over outputs; the "
                         f"{loss.name} loss couples them")
    rng = np.random.default_rng(seed)
    if isinstance(seed_network, str):
        if seed_network != "adam":
            raise ValueError(f"seed_network must be a TwoLayerReLU, 'adam' or None; got "
                             f"{seed_network!r}")
        start = time.perf_counter()
        seed_network = _warm_up(X, Y, loss, beta, bias, sample_weight, rng, time_limit,
                                (solver_options or {}).get("device", "cpu"), verbose)
        if time_limit is not None:
            time_limit = max(time_limit - (time.perf_counter() - start), 1e-3)
    Xa = add_bias(X) if bias else X
    all_patterns = _choose_oracle(Xa, oracle, max_exact)
    if Y.shape[1] > 1 and per_output is not False and loss.separable:
        settings = dict(
            loss=loss, beta=beta, bias=bias, gated=gated, sample_weight=sample_weight,
            initial_patterns=initial_patterns, seed_network=seed_network,
            max_rounds=max_rounds, patterns_per_round=given_per_round, tol=tol,
            initial_tol=initial_tol, eps=eps, gap_tol=gap_tol, min_progress=min_progress,
            drop_after=drop_after, oracle="ascent" if all_patterns is None else all_patterns,
            oracle_options=oracle_options, solver=solver, solver_options=solver_options,
            warm_start=warm_start, per_output=False, solve_with=solve_with,
            n_jobs=n_jobs if workers == 1 else 1)  # outputs on threads: no oracle threads
        return _search_outputs(X, Y, settings, time_limit, verbose, progress, rng, workers)
    search = _Search(
        Xa, Y, loss=loss, beta=beta, bias=bias, gated=gated, sample_weight=sample_weight,
        all_patterns=all_patterns,
        patterns_per_round=patterns_per_round, eps=eps,
        limit=math.inf if time_limit is None else float(time_limit),
        oracle_options=dict(oracle_options or {}), solver=solver,
        solver_options=dict(solver_options or {}), warm_start=check_bool(warm_start,
                                                                          "warm_start"),
        rng=rng, solve_with=solve_with,
        speculate=(solve_with is solve and all_patterns is None
                   and _workers(n_jobs, X, min_entries=0) > 1))
    patterns = _initial_patterns(Xa, initial_patterns, seed_network, bias, rng)
    history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
    zero_rounds = np.zeros(patterns.n_patterns, int)
    round_tol, warm, status, confirmed = initial_tol, None, "max_rounds", False
    violation, Lam, solution, solved_tol = math.inf, None, None, math.inf
    problem = search.problem(patterns)  # always the program over the current patterns

    while len(history["round"]) < max_rounds:
        if search.remaining() <= 0:
            status = "time_limit"
            break
        tick = time.perf_counter()
        # a round short of the target starts its oracle on a check's dual (_Speculation)
        speculation = (_Speculation(search, problem, round_tol, solution)
                       if search.speculate and round_tol > tol else None)
        attempt, attempt_tol = search.solve(problem, round_tol, warm, speculation=speculation)
        solve_time = time.perf_counter() - tick
        if attempt.status == "time_limit" and solution is not None:
            # cut short (ADMM may return little more than its start): the last round's point
            # stands and the final solve gets the time that is left
            _finish(speculation)
            status = "time_limit"
            break
        if attempt.status != "optimal":
            attempt = _no_worse_than_zero(attempt)
        solution, solved_tol = attempt, attempt_tol
        if search.remaining() <= 0:  # no time left for the oracle (digits: 0.3-2.3 s a call)
            _finish(speculation)
            status = "time_limit"
            break
        tick = time.perf_counter()
        final = solved_tol <= tol  # the search may stop after this round
        values, D_new, G_new, Lam = search.price(problem, solution, scale=final,
                                                 speculation=speculation)
        chosen = _new_patterns(values, D_new, patterns, beta * (1 + eps), patterns_per_round)
        if not chosen and final and search.all_patterns is None and not confirmed:
            # nothing found at the target accuracy: ask again, harder, before concluding
            values, D_new, G_new, Lam = search.price(problem, solution, scale=True,
                                                     effort=CONFIRM_EFFORT)
            chosen = _new_patterns(values, D_new, patterns, beta * (1 + eps),
                                   patterns_per_round)
            confirmed = not chosen
        violation = float(values.max(initial=0.0)) / beta
        bound = _lower_bound(problem, Lam, violation)
        zero_rounds = np.where(_group_zero(solution), zero_rounds + 1, 0)
        keep = np.flatnonzero(zero_rounds < drop_after)
        entry = {
            "round": len(history["round"]) + 1, "objective": float(solution.objective),
            "bound": bound,
            "tol": solved_tol, "status": solution.status, "n_patterns": patterns.n_patterns,
            "n_active": solution.n_active_groups(), "violation": violation,
            "added": len(chosen), "dropped": int(patterns.n_patterns - keep.size),
            "iterations": int(solution.iterations), "solve_time": solve_time,
            "oracle_time": time.perf_counter() - tick,
            "time": time.perf_counter() - search.start}
        _report(history, entry, verbose, progress)
        if chosen and _relative_gap(solution.objective, bound) <= gap_tol:
            status = "gap_tol"  # the search's (unproven) bound is close enough
            break
        if chosen and _stalled(history["objective"], min_progress):
            status = "no_progress"
            break
        if not chosen:
            if solved_tol > tol:  # no new violator at a loose solve: confirm at the target
                round_tol, warm = tol, solution
                continue
            status = _final_status(solution, violation, eps)
            break
        # drop the long-zero patterns, append the new ones (their groups enter at zero)
        patterns = search.grow(patterns, keep, D_new[:, chosen], G_new[:, chosen])
        zero_rounds = np.concatenate([zero_rounds[keep], np.zeros(len(chosen), int)])
        problem = search.problem(patterns)
        warm = _pad_warm_start(problem, solution, keep)
        # the next solve's accuracy follows the violation: a dual far from feasible needs no
        # precise restricted optimum, a nearly feasible one does
        round_tol = min(initial_tol, max(tol, ROUND_FLOOR, TOL_FACTOR * (violation - 1)))

    out_of_time = solution is not None and search.remaining(final=True) <= 0
    if not out_of_time and (solution is None or solution.problem.patterns is not patterns
                            or solved_tol > tol):
        # (out of time, the last round's solution stands: a solve would only pay its set-up,
        # 0.1-0.2 s on digits' 1,797 rows)
        # the final solve at the target tolerance over the current patterns, from the last
        # round's point (and dual; the default penalties, see _pad_warm_start): near the
        # optimum ADMM's warm start pays (measured: 1150 iterations to 1e-4 against 1680 from
        # zero); cut short by the time limit it may end above that point; the last round's
        # solution is then kept, over its own patterns (where it was solved to its round's gap;
        # padded with the new patterns' zero groups it has the same objective but no such
        # certificate)
        if solution is not None and solution.problem.patterns is patterns:
            warm = solution  # the last round solved these very patterns
        final, _ = search.solve(problem, tol, warm, final=True,
                                warm_start=True)
        if (solution is not None and final.status != "optimal"
                and solution.objective < final.objective):
            final = solution
        solution = final
    return SearchResult(
        solution=solution, patterns=solution.problem.patterns, violation=violation,
        lower_bound=_lower_bound(solution.problem, Lam, violation),
        n_directions=search.n_directions, rounds=len(history["round"]), history=history,
        status=status, exact_oracle=search.all_patterns is not None,
    )


def load_kernels(X, Y, *, beta: float, seed=0, solver: str = "admm") -> float:
    """Seconds a small search (40 rows, two rounds to 1e-2) takes to load numba's compiled
    kernels (compiled into their cache at a first run after an install). A process's first fit
    pays that once (about 0.6 s on breast_cancer, measured); ``convexnn demo`` and
    ``benchmarks/bench_vs_adam.py`` call this before timing any fit."""
    start = time.perf_counter()
    neuron_search(X[:40], Y[:40], beta=beta, tol=1e-2, max_rounds=2, seed=seed, solver=solver)
    return time.perf_counter() - start


# ------------------------------------------------------------------- one search per output
#: how the combined status of per-output searches is chosen: the first of these that any
#: output ended with (a budget that ran out or a doubtful solve outweighs a converged output)
_STATUS_ORDER = ("time_limit", "inaccurate", "stalled", "max_rounds", "no_progress",
                 "gap_tol", "converged")


def _workers(n_jobs, X: np.ndarray, min_entries: int = PARALLEL_MIN_ENTRIES) -> int:
    """Threads for the per-output searches, or with ``min_entries=0`` for a search and its
    oracle (see ``neuron_search``'s ``n_jobs``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if isinstance(n_jobs, str):
        if n_jobs != "auto":
            raise ValueError(f"n_jobs must be 'auto', -1 or a positive int; got {n_jobs!r}")
        return (cores or 1) if X.size >= min_entries else 1
    if n_jobs == -1 and not isinstance(n_jobs, bool):
        return cores or 1
    return check_positive_int(n_jobs, "n_jobs")


def _search_outputs(X: np.ndarray, Y: np.ndarray, settings: dict, time_limit: float | None,
                    verbose: bool, progress, rng: np.random.Generator,
                    workers: int) -> SearchResult:
    """One :func:`neuron_search` per column of ``Y``, ``workers`` at a time, combined
    (``per_output``).

    Each output gets its own generator, so the searches do not depend on their order. With a
    time limit an output gets, when it starts, an equal share of what is left (the outputs not
    started run ``workers`` at a time) less the time of the last output's certificate, which
    it then computes within its share (ten outputs' certificates took 0.9-2 s of a 5 s limit
    on digits, measured).
    """
    start, k = time.perf_counter(), Y.shape[1]
    seeds = [np.random.default_rng(seed) for seed in rng.integers(2**63 - 1, size=k)]
    lock = threading.Lock()
    clock = {"started": 0, "certifying": 0.0}

    def share() -> float | None:
        with lock:
            waiting, certifying = k - clock["started"], clock["certifying"]
            clock["started"] += 1
        if time_limit is None:
            return None
        left = time_limit - (time.perf_counter() - start)
        return max(left / math.ceil(waiting / workers) - certifying, MIN_SOLVE_TIME)

    def search(c: int) -> SearchResult:
        limit = share()
        if verbose:
            print(f"[search] output {c + 1} of {k}", flush=True)

        def report(entry):
            if verbose:  # one print per line: threads do not split lines
                print(f"[search] output {c + 1}: {_round_line(entry)}", flush=True)
            if progress is not None:
                progress({**entry, "output": c})

        result = neuron_search(X, Y[:, [c]], time_limit=limit, verbose=False, progress=report,
                               seed=seeds[c], **settings)
        if time_limit is not None:
            tick = time.perf_counter()
            result.certificate()
            with lock:
                clock["certifying"] = time.perf_counter() - tick
        return result

    if workers == 1 or k == 1:
        return _combine_outputs([search(c) for c in range(k)], Y)
    with ThreadPoolExecutor(min(workers, k), thread_name_prefix="convexnn-search") as pool:
        return _combine_outputs(list(pool.map(search, range(k))), Y)


def _combine_outputs(results: list[SearchResult], Y: np.ndarray) -> SearchResult:
    """The per-output searches' results as one: see ``SearchResult.outputs``."""
    union: dict = {}  # pattern key -> (position, pattern column, generator)
    places = []
    for result in results:
        D, G = result.patterns.D, result.patterns.generators
        place = []
        for j, key in enumerate(_pattern_keys(D).tolist()):
            if key not in union:
                union[key] = (len(union), D[:, j], G[:, j])
            place.append(union[key][0])
        places.append(np.array(place, dtype=int))
    columns = list(union.values())
    patterns = Patterns(np.column_stack([D for _, D, _ in columns]),
                        np.column_stack([G for _, _, G in columns]), exact=False)
    problem = replace(results[0].solution.problem, Y=Y, patterns=patterns)
    n, d, P, k = problem.shape
    parts = [result.solution for result in results]

    def place(blocks):
        if blocks[0] is None:
            return None
        out = np.zeros((d, P, k))
        for c, (B, where) in enumerate(zip(blocks, places, strict=True)):
            out[:, where, c] = B[:, :, 0]
        return out

    V, W = place([part.V for part in parts]), place([part.W for part in parts])
    duals = [part.dual for part in parts]
    unsolved = [part for part in parts if part.status != "optimal"]
    solution = ConvexSolution(
        problem=problem, V=V, W=W, objective=problem.objective(V, W),
        dual=None if any(dual is None for dual in duals) else np.hstack(duals),
        status=unsolved[0].status if unsolved else "optimal", solver=parts[0].solver,
        iterations=sum(part.iterations for part in parts),
        time=sum(part.time for part in parts),
        reason=unsolved[0].reason if unsolved else "")
    history: dict[str, list] = {key: [] for key in (*HISTORY_KEYS, "output")}
    for c, result in enumerate(results):
        for key in HISTORY_KEYS:
            history[key].extend(result.history[key])
        history["output"].extend([c] * result.rounds)
    statuses = {result.status for result in results}
    return SearchResult(
        solution=solution, patterns=patterns,
        violation=max(result.violation for result in results),
        lower_bound=sum(result.lower_bound for result in results),
        n_directions=sum(result.n_directions for result in results),
        rounds=sum(result.rounds for result in results), history=history,
        status=next(status for status in _STATUS_ORDER if status in statuses),
        exact_oracle=all(result.exact_oracle for result in results), outputs=results)


def _finish(speculation: _Speculation | None) -> None:
    """Wait for a speculative oracle call the search will not use (no thread outlives it)."""
    if speculation is not None:
        speculation.result()


def _no_worse_than_zero(solution: ConvexSolution) -> ConvexSolution:
    """``solution``, or the zero point of its program where that is better (a first-order
    solve cut short early can end above it: digits' outputs after 50 ADMM iterations, 0.17
    against 0.05 at zero, measured), with the solver's status and no dual (the solver's is
    not that point's)."""
    zero = np.zeros_like(solution.V)
    W = None if solution.W is None else zero
    objective = solution.problem.objective(zero, W)
    if objective >= solution.objective:
        return solution
    return replace(solution, V=zero, W=W, objective=objective, dual=None)


def _stalled(objectives: list, min_progress: float) -> bool:
    """Whether the objective fell by less than ``min_progress`` (relative) over the last
    ``PROGRESS_ROUNDS`` rounds."""
    if min_progress <= 0 or len(objectives) <= PROGRESS_ROUNDS:
        return False
    before, now = objectives[-1 - PROGRESS_ROUNDS], objectives[-1]
    return before - now < min_progress * abs(now)


def _relative_gap(objective: float, bound: float) -> float:
    return (objective - bound) / max(abs(objective), 1e-300)


def _final_status(solution: ConvexSolution, violation: float, eps: float) -> str:
    """Why a search that found no new violated constraint ends (see :class:`SearchResult`)."""
    if solution.status != "optimal":
        return "inaccurate"
    return "converged" if violation <= 1 + eps else "stalled"


def _report(history: dict, entry: dict, verbose: bool, progress) -> None:
    """Record a round; print it when ``verbose``; hand a copy to ``progress``."""
    for key in HISTORY_KEYS:
        history[key].append(entry[key])
    if verbose:
        print(f"[search] {_round_line(entry)}", flush=True)
    if progress is not None:
        progress(dict(entry))


def _round_line(entry: dict) -> str:
    return (f"round {entry['round']:3d}  objective {entry['objective']:.10g}  "
            f"patterns {entry['n_patterns']:4d} (active {entry['n_active']:4d})  "
            f"violation {entry['violation']:.6g}  +{entry['added']} -{entry['dropped']}  "
            f"tol {entry['tol']:.0e}  it {entry['iterations']}  solve "
            f"{entry['solve_time']:.2f}s  oracle {entry['oracle_time']:.2f}s")


def _lower_bound(problem: ConvexProblem, Lam: np.ndarray | None, violation: float) -> float:
    """``-L*(Lam / max(1, violation))``: the dual value of the last oracle's dual point once
    scaled by the oracle's answer (a bound if that answer is the true maximum)."""
    if Lam is None or not math.isfinite(violation):
        return -math.inf
    ops = problem.operators()
    scaled = torch.as_tensor(Lam) / max(1.0, violation)
    return -float(problem.loss.conjugate(scaled, ops.Y, ops.weights))
