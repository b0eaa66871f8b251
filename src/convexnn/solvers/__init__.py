"""Solvers of program (8): one module per algorithm, one ``solve(problem, ...)`` signature.

Every solver takes a :class:`~convexnn.problem.ConvexProblem` and returns a
:class:`~convexnn.solution.ConvexSolution`; they know nothing of networks or scikit-learn.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from importlib import import_module

import numpy as np
import torch

from .._threads import ONE_THREAD_MAX_ENTRIES, one_torch_thread
from .._validation import check_instance
from ..problem import ConvexProblem
from ..solution import ConvexSolution
from ._errors import ConicSolverError

__all__ = ["SOLVERS", "ConicSolverError", "conic_tolerances", "resolve_solver", "solve"]

#: solver name -> module in this package defining ``solve(problem, **options)``
SOLVERS = {
    "conic": "conic",
    "fista": "proximal",
    "augmented_lagrangian": "augmented_lagrangian",
    "admm": "admm",
}

#: above this many variables (2 d P k) a gated problem goes to a first-order solver
CONIC_MAX_VARIABLES = 4_000
#: above this many variables and cone rows (``2 P k (d + n)``) program (8) goes to ADMM: the
#: interior point took 23 s on 30 samples in 2-D with all 872 patterns (size 57,552), where
#: ADMM did not reach 1e-6 in 336 s; 56 s on breast_cancer with 100 patterns (120,000),
#: where ADMM certified 1e-4 in 3.6 s; on digits with 100 patterns (3.7 million) CVXPY's
#: model alone was killed for memory on a 24 GiB machine (measured)
CONIC_MAX_PROGRAM = 100_000


def _available(name: str) -> bool:
    try:
        import_module(f".{SOLVERS[name]}", __name__)
    except ModuleNotFoundError:
        return False
    return True


def resolve_solver(problem, solver: str = "auto") -> str:
    """The solver ``"auto"`` stands for.

    The conic reference (interior point, exact to 1e-9) for gated problems of at most
    ``CONIC_MAX_VARIABLES`` variables and for program (8) of at most ``CONIC_MAX_PROGRAM``
    variables and cone rows; ADMM (else FISTA, gated only) beyond.

    Up to that size program (8) stays on the conic solver because ADMM's speed on it depends
    too much on the problem to be a safe default (see ``CONIC_MAX_PROGRAM``); beyond it the
    interior point's memory grows out of reach. A program that sums several rows of ``X`` per
    sample (a convolutional one) goes to ADMM: the conic solver writes one row per sample.
    """
    check_instance(problem, ConvexProblem, "problem", " (make one with ConvexProblem.build)")
    if solver != "auto":
        if not isinstance(solver, str) or solver not in SOLVERS:
            raise ValueError(f"solver must be 'auto' or one of {sorted(SOLVERS)}; got {solver!r}")
        return solver
    if problem.rows_per_sample != 1:
        return _first_order(problem)
    n, d, P, k = problem.shape
    size = 2 * d * P * k if problem.gated else 2 * P * k * (d + n)
    if size <= (CONIC_MAX_VARIABLES if problem.gated else CONIC_MAX_PROGRAM):
        return "conic"
    return _first_order(problem)


#: squared-loss targets whose root mean square lies outside this range are solved rescaled
TARGET_SCALE_RANGE = (1e-2, 1e2)


def solve(problem, solver: str = "auto", **options):
    """Solve ``problem`` with the named solver (see each solver module for its options).

    The solve runs in this process (:func:`convexnn.distributed.solve` splits the samples
    across processes).
    Squared-loss targets of extreme scale are solved in the equivalent rescaled program
    (:func:`_target_scale`), so that absolute tolerances and the conic solver's conditioning
    see targets of scale 1. When ``"auto"`` chose the conic solver and it fails numerically
    (:class:`ConicSolverError`: Clarabel stalled on cross-entropy programs of 12-30
    separable points, measured), the program is solved by ADMM with the options it shares
    with the conic solver, and the solution's ``reason`` says so; where it ends with a point
    its certificate does not verify (status ``"inaccurate"``), ADMM goes on from that point
    (:func:`_finish`). Where ``"auto"`` chose the conic solver, a ``tol`` sets its three
    tolerances and options only the first-order solvers take raise ``ValueError``.
    """
    name = resolve_solver(problem, solver)
    if solver == "auto" and name == "conic":
        options = _conic_options(options)
        try:
            solution = _solve_with(name, problem, options)
        except ConicSolverError as exc:  # numerical trouble: a first-order solver instead
            fallback = _first_order(problem)
            if fallback == "conic":
                raise
            return _first_order_instead(problem, fallback, options, str(exc))
        return _finish(problem, options, solution) if solution.status == "inaccurate" else solution
    with one_torch_thread(_small_on_cpu(problem, name, options)):
        return _solve_with(name, problem, options)


def _first_order_instead(problem, fallback: str, options: dict, why: str,
                         warm_start=None) -> ConvexSolution:
    """``problem`` by ``fallback``, the first-order solver of ``auto`` (:func:`_first_order`),
    with the options it shares with the conic solve, after that solve failed (``why``)."""
    kept = _fallback_options(fallback, options)
    if warm_start is not None:
        kept["warm_start"] = warm_start
    with one_torch_thread(_small_on_cpu(problem, fallback, kept)):
        solution = _solve_with(fallback, problem, kept)
    return replace(solution, reason=f"{solution.reason} (solver 'auto': {why}; solved by "
                                    f"{fallback} instead)")


def _finish(problem, options: dict, inaccurate: ConvexSolution) -> ConvexSolution:
    """After a conic solve that ended ``"inaccurate"`` (its certificate missed the tolerance):
    the first-order solver from its point, to the gap the certificate asked (at least
    ``conic.VERIFIED_GAP``) within what is left of ``time_limit``; its solution where it
    certifies that, else the conic one, whose reason then says so.

    Clarabel ends so on small programs of saturated losses (logistic, 12 separable points in
    2-D, all 134 patterns: "optimal_inaccurate", certified 6.5e-6 where 1e-6 was asked, in
    0.06 s; ADMM from its point certified 1e-6 in 0.55 s; measured)."""
    from .conic import VERIFIED_GAP

    fallback = _first_order(problem)
    if fallback == "conic":
        return inaccurate
    options = dict(options)
    options["tol_gap_rel"] = max(float(options.get("tol_gap_rel", 0.0)), VERIFIED_GAP)
    if options.get("time_limit") is not None:
        options["time_limit"] = float(options["time_limit"]) - inaccurate.time
        if options["time_limit"] <= 0:
            return inaccurate
    solution = _first_order_instead(problem, fallback, options, "the conic solver's point was "
                                    "not certified optimal", warm_start=inaccurate)
    if solution.status == "optimal":
        return solution
    return replace(inaccurate, reason=f"{inaccurate.reason}; {solution.solver} from its point "
                                      f"did not certify it either ({solution.reason})")


def _small_on_cpu(problem, name: str, options: dict) -> bool:
    """Whether a first-order solve is small enough that a second torch thread only costs
    time (:data:`convexnn._threads.ONE_THREAD_MAX_ENTRIES`)."""
    n, d, P, k = problem.shape
    try:
        on_cpu = torch.device(options.get("device", "cpu")).type == "cpu"
    except (RuntimeError, TypeError):  # not a device: the solver says so in its own words
        return False
    return name != "conic" and on_cpu and n * d * 2 * P * k < ONE_THREAD_MAX_ENTRIES


def _first_order(problem) -> str:
    """The first-order solver ``auto`` uses beyond the conic solver's reach, and when it fails
    (the conic solver itself if none is installed)."""
    names = ("admm", "fista") if problem.gated else ("admm",)
    return next((name for name in names if _available(name)), "conic")


def _conic_options(options: dict) -> dict:
    """The options of a solve for which ``"auto"`` chose the conic solver: a first-order
    ``tol`` sets Clarabel's three tolerances (:func:`conic_tolerances`); options that only
    the first-order solvers take are refused by name (Clarabel would refuse them as unknown
    settings, naming neither the choice nor the way out)."""
    first_order = set()
    for name in SOLVERS:
        if name != "conic" and _available(name):
            module = import_module(f".{SOLVERS[name]}", __name__)
            first_order |= set(inspect.signature(module.solve).parameters)
    shared = {"problem", "tol", "max_iter", "time_limit", "verbose"}  # the conic solve takes these
    refused = sorted(key for key in options if key in first_order - shared)
    if refused:
        raise ValueError(
            "solver='auto' chose the conic solver for this program (small enough for it), "
            f"which does not take {', '.join(map(repr, refused))}: ask for a first-order "
            "solver by name (e.g. solver='admm') to use them")
    options = dict(options)
    tol = options.pop("tol", None)
    if tol is not None:
        for key, value in conic_tolerances(tol).items():
            options.setdefault(key, value)
    return options


def conic_tolerances(tol: float) -> dict:
    """Clarabel's gap and feasibility tolerances for a first-order solver's ``tol``."""
    return {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol}


def _fallback_options(name: str, options: dict) -> dict:
    """The options of a conic solve that ``name`` also takes (its tolerance from Clarabel's
    ``tol_gap_rel`` when set)."""
    accepted = inspect.signature(import_module(f".{SOLVERS[name]}", __name__).solve).parameters
    kept = {key: value for key, value in options.items() if key in accepted}
    if "tol_gap_rel" in options and "tol" in accepted:
        kept.setdefault("tol", options["tol_gap_rel"])
    return kept


def _solve_with(name: str, problem, options: dict):
    """``problem`` by the solver ``name``, in the rescaled program when its targets are of
    extreme scale (:func:`_target_scale`)."""
    module = import_module(f".{SOLVERS[name]}", __name__)
    scale = _target_scale(problem)
    if scale == 1.0:
        return module.solve(problem, **options)
    scaled = replace(problem, Y=problem.Y / scale, beta=problem.beta / scale)
    warm = options.get("warm_start")
    if warm is not None:
        options["warm_start"] = _rescaled(warm, scaled, 1.0 / scale)
    on_check = options.get("on_check")
    if callable(on_check):  # the caller sees the original program's dual
        options["on_check"] = lambda gap, Lam: on_check(gap, Lam * scale)
    return _rescaled(module.solve(scaled, **options), problem, scale)


def _target_scale(problem) -> float:
    """The factor ``s`` to divide the targets of a homogeneous loss (squared) by; 1 when they
    are of moderate scale.

    Program (8) with such a loss (``L(s Z, s Y) = s^2 L(Z, Y)``) is homogeneous: with ``Y`` and
    ``beta`` divided by ``s`` its solutions are those of the original divided by ``s``
    (``V = s V'``), its objective is divided by ``s^2`` and its dual ``Lam = s Lam'``. Targets of
    scale 1e-8 or 1e8 otherwise meet absolute tolerances far too loose or too tight (the conic
    solver failed outright on 1e8).
    """
    if not problem.loss.homogeneous:
        return 1.0
    rms = float(np.sqrt(np.average(np.mean(problem.Y**2, axis=1),
                                   weights=problem.sample_weight)))
    low, high = TARGET_SCALE_RANGE
    return rms if rms > 0 and not low <= rms <= high else 1.0


def _rescaled(solution: ConvexSolution, problem, scale: float) -> ConvexSolution:
    """``solution`` of the program ``scale`` times smaller, as a solution of ``problem``."""
    history = dict(solution.history)
    if "objective" in history:
        history["objective"] = [scale**2 * value for value in history["objective"]]
    return ConvexSolution(
        problem, solution.V * scale, None if solution.W is None else solution.W * scale,
        solution.objective * scale**2,
        dual=None if solution.dual is None else solution.dual * scale, status=solution.status,
        solver=solution.solver, iterations=solution.iterations, time=solution.time,
        history=history, reason=solution.reason)
