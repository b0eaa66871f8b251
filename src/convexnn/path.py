"""Regularization paths over ``beta``: ``beta_max`` from the dual, warm starts, cross-validation.

At ``V = W = 0`` the prediction is 0 and the loss has the gradient ``G = grad L(0)`` (n, k)
(every loss here is differentiable at 0, the hinge included: its kink is at margin 1). The
objective of program (8) is convex and separable over the groups apart from the loss, so 0 is
optimal iff no group can decrease the first-order model
``<G, sum_i D_i X (v_i - w_i)> + beta sum ||v_i|| + ||w_i||`` over its cone, i.e. iff::

    beta >= beta_max = max_{i, c, +-} max_{u in K_i, ||u|| <= 1} +-<X^T D_i g_c, u>,
    K_i = {u : (2 D_i - I) X u >= 0}

which is the dual constraint of (8) at ``Lam = G`` (:func:`~convexnn.certificates.
dual_constraint_max`, exact by NNLS). For the gated relaxation the cone is all of R^d and
``beta_max = max_{i, c} ||X^T D_i g_c||``. Above ``beta_max`` the zero network is the unique
optimum (the objective grows at least like ``(beta - beta_max) sum ||v_i||``).

A path goes down from ``beta_max``; each point starts the first-order solvers from the previous
solution, so **the points of one path are solved one after another**. Independent work (the
folds of :func:`cross_validate_path`, the points of a path without warm starts, e.g. with the
conic solver, which cannot use one) runs through :func:`convexnn.parallel.run_jobs`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state

from ._groups import ACTIVE_RTOL
from ._validation import check_beta, check_data, check_matrix, check_positive_int
from .certificates import certify as certify_solution
from .certificates import dual_constraint_max
from .losses import Loss, get_loss
from .network import TwoLayerReLU
from .parallel import run_jobs
from .problem import ConvexProblem
from .solution import ConvexSolution
from .solvers import conic_tolerances, resolve_solver, solve

__all__ = [
    "ACTIVE_RTOL",
    "CrossValidatedPath",
    "RegularizationPath",
    "beta_grid",
    "beta_max",
    "cross_validate_path",
    "regularization_path",
    "validation_error",
    "zero_solution",
]

#: keywords of :meth:`ConvexProblem.build` that describe the program of a path (all but beta)
_BUILD_OPTIONS = ("loss", "bias", "patterns", "n_patterns", "seed", "gated", "sample_weight")
_METRICS = ("auto", "mse", "error_rate")


def _as_problem(problem_or_X, y, build_options: dict, caller: str) -> ConvexProblem:
    """A :class:`ConvexProblem` (its ``beta`` is irrelevant here) from a problem or from data."""
    unknown = sorted(set(build_options) - set(_BUILD_OPTIONS))
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword argument(s) {unknown}; the program "
                        f"is described by {list(_BUILD_OPTIONS)}")
    if isinstance(problem_or_X, ConvexProblem):
        if y is not None or build_options:
            raise TypeError(f"{caller}() takes either a ConvexProblem or data X, y with build "
                            "options, not both")
        return problem_or_X
    if y is None:
        raise TypeError(f"{caller}() needs y when its first argument is data X "
                        f"(got {type(problem_or_X).__name__})")
    return ConvexProblem.build(problem_or_X, y, beta=0.0, **build_options)


def _at_beta(problem: ConvexProblem, beta: float) -> ConvexProblem:
    """The same program (data, patterns, loss) at another ``beta``, with its own operators."""
    return ConvexProblem(problem.X, problem.Y, problem.loss, beta, problem.patterns,
                         gated=problem.gated, sample_weight=problem.sample_weight,
                         bias=problem.bias)


def _gradient_at_zero(problem: ConvexProblem) -> np.ndarray:
    """``G = grad L(0)`` (n, k), sample weights included."""
    ops = problem.operators()
    return ops.loss_gradient(torch.zeros_like(ops.Y)).numpy()


def beta_max(problem_or_X, y=None, **build_options) -> float:
    """The smallest ``beta`` at which the all-zero network solves the program.

    Parameters
    ----------
    problem_or_X : ConvexProblem or array-like of shape (n_samples, n_features)
        A program (its own ``beta`` is ignored; its patterns, loss, sample weights and
        ``gated`` flag are used), or raw features from which one is built.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), optional
        Targets encoded for the loss (needed with raw features).
    **build_options
        With raw features: ``loss``, ``bias``, ``patterns``, ``n_patterns``, ``seed``,
        ``gated``, ``sample_weight``, as in :meth:`ConvexProblem.build`.

    Returns
    -------
    float
        ``max_{i, c, +-} max_{u in K_i, ||u|| <= 1} +-<X^T D_i g_c, u>`` with ``G = grad L(0)``
        for program (8), ``max_{i, c} ||X^T D_i g_c||`` for the gated relaxation (module
        docstring). Zero is optimal iff ``beta >= beta_max``; with exactly enumerated patterns
        this holds for the network training problem (2) itself.
    """
    problem = _as_problem(problem_or_X, y, build_options, "beta_max")
    return dual_constraint_max(problem, _gradient_at_zero(problem))


def zero_solution(problem: ConvexProblem) -> ConvexSolution:
    """The all-zero point, optimal when ``problem.beta >= beta_max(problem)``.

    Its dual point is ``grad L(0)``, so :func:`~convexnn.certificates.certify` verifies it
    with a zero gap. Raises ``ValueError`` when ``beta`` is below ``beta_max``.
    """
    G = _gradient_at_zero(problem)
    bound = dual_constraint_max(problem, G)
    if problem.beta < bound:
        raise ValueError(f"the zero network is optimal only for beta >= beta_max = {bound:.6g}; "
                         f"got beta={problem.beta:.6g}")
    V = problem.zeros()
    W = None if problem.gated else problem.zeros()
    return ConvexSolution(problem=problem, V=V, W=W, objective=problem.objective(V, W), dual=G,
                          status="optimal", solver="zero (beta >= beta_max)")


def beta_grid(beta_max_value: float, n_betas: int = 20, min_ratio: float = 1e-3) -> np.ndarray:
    """``n_betas`` values from ``beta_max`` down to ``min_ratio * beta_max``, evenly in log scale.

    Parameters
    ----------
    beta_max_value : float > 0
    n_betas : int, default=20
    min_ratio : float in (0, 1), default=1e-3

    Returns
    -------
    betas : ndarray of shape (n_betas,), decreasing
    """
    top = check_beta(beta_max_value, "beta_max", allow_zero=False)
    n_betas = check_positive_int(n_betas, "n_betas")
    if (isinstance(min_ratio, bool) or not isinstance(min_ratio, numbers.Real)
            or not 0 < min_ratio < 1):
        raise ValueError(f"min_ratio must be a number in (0, 1); got {min_ratio!r}")
    return top * np.logspace(0.0, np.log10(min_ratio), n_betas)


def _check_betas(betas) -> np.ndarray:
    betas = check_matrix(betas, "betas", ndim=1)
    if np.any(betas < 0):
        raise ValueError(f"betas must be >= 0; got the value {betas.min()!r}")
    return np.sort(betas)[::-1].copy()


# -------------------------------------------------------------------------------- validation
def _check_metric(metric):
    if not callable(metric) and metric not in _METRICS:
        raise ValueError(f"metric must be one of {list(_METRICS)} or a callable; got {metric!r}")
    return metric


def validation_error(network: TwoLayerReLU, X, Y, metric="auto", *,
                     loss: str | Loss = "squared") -> float:
    """Error of ``network`` on held-out data with targets encoded like the training targets.

    Parameters
    ----------
    network : TwoLayerReLU
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    metric : {"auto", "mse", "error_rate"} or callable, default="auto"
        ``"mse"``: mean of ``(f(x) - y)^2`` over samples and outputs; ``"error_rate"``: the
        fraction of misclassified samples (sign of the one output against +-1 targets, argmax
        against one-hot or +-1 one-vs-all rows); ``"auto"``: ``"mse"`` for a regression loss
        (squared), else ``"error_rate"``; a callable gets ``(Y, outputs)`` and returns a float.
    loss : str or Loss, default="squared"
        The training loss (decides ``"auto"``).

    Returns
    -------
    float
    """
    X, Y = check_data(X, Y, x_name="X_val", y_name="y_val")
    outputs = network.predict(X)
    if outputs.shape != Y.shape:
        raise ValueError(f"y_val must have the network's {outputs.shape[1]} output(s) per "
                         f"sample; got shape {Y.shape}")
    if callable(_check_metric(metric)):
        return float(metric(Y, outputs))
    if metric == "auto":
        metric = "mse" if get_loss(loss).regression else "error_rate"
    if metric == "mse":
        return float(np.mean((outputs - Y) ** 2))
    if Y.shape[1] == 1:
        return float(np.mean((outputs[:, 0] > 0) != (Y[:, 0] > 0)))
    return float(np.mean(outputs.argmax(1) != Y.argmax(1)))


# -------------------------------------------------------------------------------------- path
@dataclass
class RegularizationPath:
    """Solutions of one program at decreasing ``beta``.

    Attributes
    ----------
    betas : ndarray of shape (n_betas,)
        Decreasing.
    beta_max : float
        The smallest ``beta`` with the zero network as solution (:func:`beta_max`).
    solutions : list of ConvexSolution
        One per ``beta``; points with ``beta >= beta_max`` are the exact zero solution.
    objectives : ndarray of shape (n_betas,)
        Objective of (8) (or of the gated relaxation) at each solution.
    gaps, relative_gaps : ndarray of shape (n_betas,)
        Certified duality gaps (NaN when the path was computed with ``certify=False``).
    n_active : ndarray of shape (n_betas,)
        Neurons of each network: groups whose norm exceeds ``active_rtol`` times the largest.
    validation_errors : ndarray of shape (n_betas,) or None
        Error of each network on the validation data, when some was given.
    iterations : ndarray of shape (n_betas,)
        Solver iterations per point (0 for the closed-form zero points).
    times : ndarray of shape (n_betas,)
        Solver seconds per point.
    active_rtol : float
        The relative size below which a group is not a neuron (see :func:`regularization_path`).
    """

    betas: np.ndarray
    beta_max: float
    solutions: list
    objectives: np.ndarray
    gaps: np.ndarray
    relative_gaps: np.ndarray
    n_active: np.ndarray
    validation_errors: np.ndarray | None = None
    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    active_rtol: float = ACTIVE_RTOL

    @property
    def networks(self) -> list[TwoLayerReLU]:
        """The network of Theorem 1 at each ``beta`` (groups above ``active_rtol``)."""
        return [TwoLayerReLU.from_convex(s, rtol=self.active_rtol) for s in self.solutions]

    @property
    def best_index(self) -> int:
        """Index of the smallest validation error (the largest ``beta`` among ties)."""
        if self.validation_errors is None:
            raise ValueError("the path has no validation errors: pass X_val and y_val")
        return int(np.argmin(self.validation_errors))

    @property
    def best_beta(self) -> float:
        return float(self.betas[self.best_index])


def _default_betas(betas, top: float, n_betas: int, min_ratio: float):
    """``betas`` if given, else :func:`beta_grid` down from ``top`` (the problem's beta_max)."""
    if betas is not None:
        return betas
    if top == 0:
        raise ValueError("beta_max is 0 (the zero network already fits the targets): "
                         "pass betas explicitly")
    return beta_grid(top, n_betas, min_ratio)


def _path_point(problem: ConvexProblem, top: float, solver: str, options: dict,
                warm: ConvexSolution | None, validation, metric, certify: bool,
                active_rtol: float):
    """Solve one point of a path; returns ``(solution, gap, relative gap, neurons, error)``."""
    if problem.beta >= top:
        solution = zero_solution(problem)
    else:
        extra = {} if warm is None or solver == "conic" else {"warm_start": warm}
        solution = solve(problem, solver, **options, **extra)
    gap = relative = float("nan")
    if certify:
        certificate = certify_solution(solution)
        gap, relative = certificate.duality_gap, certificate.relative_gap
    network = TwoLayerReLU.from_convex(solution, rtol=active_rtol)
    error = None
    if validation is not None:
        error = validation_error(network, *validation, metric, loss=problem.loss)
    return solution, gap, relative, network.n_neurons, error


def _solver_options(solver: str, tol, solver_options) -> dict:
    options = dict(solver_options or {})
    if tol is not None:
        tol = check_beta(tol, "tol", allow_zero=False)
        if solver == "conic":
            options.update(conic_tolerances(tol))
        else:
            options["tol"] = tol
    return options


def regularization_path(problem_or_X, y=None, betas=None, *, n_betas: int = 20,
                        min_ratio: float = 1e-3, solver: str = "auto", tol: float | None = None,
                        solver_options: dict | None = None, warm_start: bool = True,
                        X_val=None, y_val=None, metric="auto", certify: bool = True,
                        active_rtol: float = ACTIVE_RTOL, n_jobs: int | None = None,
                        backend: str = "joblib", **build_options) -> RegularizationPath:
    """Solve program (8) (or the gated relaxation) along a decreasing grid of ``beta``.

    The patterns are made once and shared by every point. Points with ``beta >= beta_max`` get
    the exact zero solution; below it, each solve of a first-order solver (``admm``, ``fista``,
    ``augmented_lagrangian``) starts from the previous point's solution, so **path points are
    solved sequentially**. Without warm starts (``warm_start=False``, or the conic solver,
    which cannot use one) the points are independent and run through
    :func:`~convexnn.parallel.run_jobs` with ``n_jobs`` and ``backend``. Independent paths
    (cross-validation folds) are parallel in :func:`cross_validate_path`.

    Parameters
    ----------
    problem_or_X : ConvexProblem or array-like of shape (n_samples, n_features)
        The program (its ``beta`` is ignored) or raw training features.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), optional
        Targets encoded for the loss (+-1 for hinge and logistic, one-hot for cross-entropy;
        see :func:`convexnn.estimators.encode_labels`); needed with raw features.
    betas : array-like of shape (n_betas,), optional
        The grid (sorted decreasing); default :func:`beta_grid` from ``beta_max``.
    n_betas, min_ratio :
        The default grid: ``n_betas`` values from ``beta_max`` to ``min_ratio * beta_max``.
    solver : str, default="auto"
        As in :func:`convexnn.solvers.solve`; ``"auto"`` is resolved once for the whole path
        (it depends on the program's size, not on ``beta``).
    tol : float, optional
        Solver tolerance (relative duality gap for first-order solvers, Clarabel's gap and
        feasibility tolerances for conic).
    solver_options : dict, optional
        Further options of the solver (``max_iter``, ``device``...).
    warm_start : bool, default=True
        Start each first-order solve from the previous point.
    X_val, y_val : array-like, optional
        Validation features and targets (encoded like ``y``); each point's network is scored.
    metric : {"auto", "mse", "error_rate"} or callable, default="auto"
        Validation error (see :func:`validation_error`).
    certify : bool, default=True
        Certify each point (duality gap); False leaves ``gaps`` NaN.
    active_rtol : float, default=1e-4
        Groups smaller than this times the largest are not neurons: they are left out of
        ``n_active`` and of the networks scored on the validation data (interior-point
        solutions keep every group slightly nonzero; see ``ACTIVE_RTOL``).
    n_jobs : int, optional
        Workers for independent points (see :func:`~convexnn.parallel.run_jobs`).
    backend : {"joblib", "dask", "ray"}, default="joblib"
    **build_options
        With raw features: ``loss``, ``bias``, ``patterns``, ``n_patterns``, ``seed``,
        ``gated``, ``sample_weight`` of :meth:`ConvexProblem.build`.

    Returns
    -------
    RegularizationPath
    """
    # the cheap checks first: making the patterns can take a while
    if betas is not None:
        betas = _check_betas(betas)
    if not isinstance(warm_start, (bool, np.bool_)):
        raise TypeError(f"warm_start must be True or False; got {warm_start!r}")
    _check_metric(metric)
    active_rtol = check_beta(active_rtol, "active_rtol")
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    validation = None if X_val is None else check_data(X_val, y_val, x_name="X_val",
                                                       y_name="y_val")
    problem = _as_problem(problem_or_X, y, build_options, "regularization_path")
    if validation is not None and validation[0].shape[1] != problem.X.shape[1] - problem.bias:
        raise ValueError(f"X_val must have the training data's {problem.X.shape[1] - problem.bias}"
                         f" features; got {validation[0].shape[1]}")
    if validation is not None and validation[1].shape[1] != problem.Y.shape[1]:
        raise ValueError(f"y_val must have the training targets' {problem.Y.shape[1]} "
                         f"column(s); got shape {validation[1].shape}")
    top = beta_max(problem)
    betas = _default_betas(betas, top, n_betas, min_ratio)
    problems = [_at_beta(problem, b) for b in betas]
    name = resolve_solver(problems[-1], solver)
    options = _solver_options(name, tol, solver_options)
    args = (top, name, options)

    if not warm_start or name == "conic":
        points = run_jobs(_path_point,
                          [(p, *args, None, validation, metric, certify, active_rtol)
                           for p in problems],
                          n_jobs=n_jobs, backend=backend)
    else:
        points, warm = [], None
        for p in problems:
            points.append(_path_point(p, *args, warm, validation, metric, certify,
                                      active_rtol))
            warm = points[-1][0]
    solutions, gaps, relative, active, errors = zip(*points, strict=True)
    return RegularizationPath(
        betas=betas, beta_max=top, solutions=list(solutions),
        objectives=np.array([s.objective for s in solutions]),
        gaps=np.array(gaps), relative_gaps=np.array(relative), n_active=np.array(active),
        validation_errors=None if validation is None else np.array(errors),
        iterations=np.array([s.iterations for s in solutions]),
        times=np.array([s.time for s in solutions]), active_rtol=active_rtol,
    )


# ---------------------------------------------------------------------------- cross-validation
@dataclass
class CrossValidatedPath:
    """Validation errors of a ``beta`` grid over cross-validation folds.

    Attributes
    ----------
    betas : ndarray of shape (n_betas,)
        Decreasing; the same grid for every fold (from ``beta_max`` of all the data).
    beta_max : float
        Of all the training data.
    errors : ndarray of shape (n_folds, n_betas)
        Validation error of each fold's network at each ``beta``.
    n_active : ndarray of shape (n_folds, n_betas)
        Neurons of each fold's network.
    mean_error, std_error : ndarray of shape (n_betas,)
        Over the folds.
    path : RegularizationPath or None
        The path on all the data (``refit=True``).
    fold_paths : list of RegularizationPath
    """

    betas: np.ndarray
    beta_max: float
    errors: np.ndarray
    n_active: np.ndarray
    mean_error: np.ndarray
    std_error: np.ndarray
    path: RegularizationPath | None
    fold_paths: list

    @property
    def best_index(self) -> int:
        """Index of the smallest mean error (the largest ``beta`` among ties)."""
        return int(np.argmin(self.mean_error))

    @property
    def best_beta(self) -> float:
        return float(self.betas[self.best_index])


def _path_job(problem_or_X, Y, X_val, Y_val, betas, build_options: dict, path_options: dict):
    """One independent path of :func:`cross_validate_path` (module level: every backend pickles
    it); its own points stay sequential, so nested jobs never oversubscribe the workers."""
    return regularization_path(problem_or_X, Y, betas, X_val=X_val, y_val=Y_val, n_jobs=1,
                               **path_options, **build_options)


def cross_validate_path(X, y, betas=None, *, cv=5, n_betas: int = 20, min_ratio: float = 1e-3,
                        solver: str = "auto", tol: float | None = None,
                        solver_options: dict | None = None, warm_start: bool = True,
                        metric="auto", refit: bool = True, certify: bool = False,
                        active_rtol: float = ACTIVE_RTOL, n_jobs: int | None = None,
                        backend: str = "joblib", **build_options) -> CrossValidatedPath:
    """Cross-validate a ``beta`` grid; the folds (and the refit on all data) run in parallel.

    Each fold is a :func:`regularization_path` on its training part, scored on its held-out
    part; within a fold the points are sequential (warm starts), the folds are independent jobs
    of :func:`~convexnn.parallel.run_jobs`. Every job gets the same pattern seed, so the result
    does not depend on ``n_jobs`` or ``backend``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets encoded for the loss, as in :func:`regularization_path`.
    betas : array-like, optional
        Default: :func:`beta_grid` from ``beta_max`` of all the data.
    cv : int, cross-validation splitter or iterable of (train, test) index arrays, default=5
        As in scikit-learn (``check_cv``); an integer gives stratified folds (by target row)
        for classification losses and metrics, plain ``KFold`` otherwise.
    n_betas, min_ratio, solver, tol, solver_options, warm_start, metric, active_rtol :
        As in :func:`regularization_path`.
    refit : bool, default=True
        Also compute the path on all the data (one more parallel job).
    certify : bool, default=False
        Certify every point of the fold paths (the refit path is always certified).
    n_jobs : int, optional
    backend : {"joblib", "dask", "ray"}, default="joblib"
    **build_options
        ``loss``, ``bias``, ``patterns``, ``n_patterns``, ``seed``, ``gated``,
        ``sample_weight``; each fold makes its own patterns on its training samples.

    Returns
    -------
    CrossValidatedPath
    """
    unknown = sorted(set(build_options) - set(_BUILD_OPTIONS))
    if unknown:
        raise TypeError(f"cross_validate_path() got unexpected keyword argument(s) {unknown}")
    X, Y = check_data(X, y)
    _check_metric(metric)
    if betas is not None:
        betas = _check_betas(betas)
    options = dict(build_options)
    seed = options.get("seed")
    if not isinstance(seed, numbers.Integral):  # one seed for all jobs: backend-independent
        options["seed"] = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
    full = ConvexProblem.build(X, Y, beta=0.0, **options)
    top = beta_max(full)
    betas = _default_betas(betas, top, n_betas, min_ratio)

    classify = metric == "error_rate" or (metric == "auto" and not full.loss.regression)
    labels = np.unique(Y, axis=0, return_inverse=True)[1].ravel()
    splitter = check_cv(cv, labels, classifier=classify)
    folds = list(splitter.split(X, labels))
    weights = options.pop("sample_weight", None)
    path_options = {"solver": solver, "tol": tol, "solver_options": solver_options,
                    "warm_start": warm_start, "metric": metric, "active_rtol": active_rtol}
    jobs = []
    for train, test in folds:
        fold_options = dict(options)
        if weights is not None:
            fold_options["sample_weight"] = np.asarray(weights)[train]
        jobs.append((X[train], Y[train], X[test], Y[test], betas, fold_options,
                     {**path_options, "certify": certify}))
    if refit:
        jobs.append((full, None, None, None, betas, {}, {**path_options, "certify": True}))
    results = run_jobs(_path_job, jobs, n_jobs=n_jobs, backend=backend)
    fold_paths = results[:len(folds)]
    errors = np.array([p.validation_errors for p in fold_paths])
    return CrossValidatedPath(
        betas=betas, beta_max=top, errors=errors,
        n_active=np.array([p.n_active for p in fold_paths]),
        mean_error=errors.mean(0), std_error=errors.std(0),
        path=results[-1] if refit else None, fold_paths=fold_paths,
    )
