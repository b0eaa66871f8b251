"""scikit-learn estimators: globally optimal two-layer ReLU networks with certificates.

Thin wiring of :class:`~convexnn.problem.ConvexProblem`, :func:`~convexnn.solvers.solve`,
:meth:`~convexnn.network.TwoLayerReLU.from_convex` and :func:`~convexnn.certificates.certify`
into the scikit-learn API; every piece of math lives in those modules.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import distributed
from ._persistence import load_estimator, save_estimator
from ._samples import distinct_samples, expand_dual
from ._threads import ONE_THREAD_MAX_ROWS, one_thread
from ._validation import (
    check_beta,
    check_device,
    check_features,
    check_not_text,
    check_positive_int,
    check_sample_weight,
    feature_scaling,
)
from .certificates import certify
from .losses import LOSSES, Loss, get_loss
from .network import TwoLayerReLU
from .patterns import MAX_EXACT, Patterns, add_bias, pattern_count
from .problem import ConvexProblem
from .search import neuron_search
from .solvers import conic_tolerances, resolve_solver

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor", "encode_labels"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}

#: relative duality gap of the neuron search's final restricted solve, by default (against
#: 1e-4 it saved 15-37 % of the time for 0.01-0.3 % higher objectives on wine, breast_cancer and
#: pima, where the search's own bound is 3-10 % away: measured)
SEARCH_TOL = 1e-3
#: rounds of the neuron search, by default. Seeded by a short Adam run (``seed_network="adam"``)
#: the search passes a tuned Adam's objective within 2-5 rounds; rounds 5-10 gained another
#: 1-3 % (breast_cancer, australian, heart: measured, benchmarks/bench_vs_adam.py), later ones
#: 0.2-0.6 % each at 0.5-2 s each. Fewer rounds of more patterns were faster but lost
#: objective where the rounds still gained: six of 64 patterns left keel:pima 2.1 % above
#: Adam's (6 % above ten of 32) and digits 0.9 % above (measured, warm-started rounds)
SEARCH_ROUNDS = 10
#: the search stops adding patterns once 3 rounds lowered the objective by less than this
#: (relative); a round's restricted solve is certified only to 5e-2 (``search.ROUND_FLOOR``),
#: but three warm-started rounds in a row that gain less than 1 % have stopped paying
SEARCH_PROGRESS = 1e-2


def encode_labels(index: np.ndarray, n_classes: int, loss: str | Loss) -> np.ndarray:
    """Targets of program (8) for class indices, as :class:`ConvexReLUClassifier` encodes them.

    The loss's own :meth:`~convexnn.losses.Loss.encode_labels`.

    Parameters
    ----------
    index : ndarray of shape (n_samples,)
        Class index of each sample, in ``range(n_classes)``.
    n_classes : int
    loss : {"squared", "hinge", "logistic", "cross_entropy"} or Loss

    Returns
    -------
    Y : ndarray of shape (n_samples, 1) or (n_samples, n_classes)
        Two classes: one output of +-1 (``cross_entropy``: one-hot rows); more classes: one-hot
        rows, as +-1 for ``hinge`` (one-vs-all).
    """
    return get_loss(loss).encode_labels(index, n_classes)


def _registered(loss) -> Loss | None:
    """The registered loss named ``loss``, or None for a value that is not one (which fit
    refuses; scikit-learn asks for tags and available methods before fitting)."""
    return LOSSES[loss]() if isinstance(loss, str) and loss in LOSSES else None


class _ConvexReLU(BaseEstimator):
    """Shared fit of both estimators: targets already encoded as the loss expects."""

    #: losses this estimator accepts
    _losses: tuple[str, ...] = ()

    def __init__(self, *, beta=1e-3, loss="squared", bias=True, patterns="auto", n_patterns=100,
                 gated=False, solver="auto", tol=None, max_iter=None, random_state=None,
                 warm_start=False, device="cpu", dtype="float64", verbose=0, standardize=False,
                 time_limit=None, seed_network="adam"):
        self.beta = beta
        self.loss = loss
        self.bias = bias
        self.patterns = patterns
        self.n_patterns = n_patterns
        self.gated = gated
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.standardize = standardize
        self.time_limit = time_limit
        self.seed_network = seed_network

    def _check_loss(self) -> str:
        if self.loss not in self._losses:
            raise ValueError(
                f"loss must be one of {list(self._losses)} for {type(self).__name__}; "
                f"got {self.loss!r}"
            )
        return self.loss

    def _check_params(self) -> dict:
        """Validated hyper-parameters that the core modules do not check themselves."""
        for name in ("bias", "gated", "warm_start", "standardize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if not (isinstance(self.patterns, Patterns)
                or self.patterns in ("auto", "search", "exact", "sampled")):
            raise ValueError("patterns must be 'auto', 'search', 'exact', 'sampled' or a "
                             f"Patterns instance; got {self.patterns!r}")
        if self.time_limit is not None and (isinstance(self.time_limit, bool)
                                            or not isinstance(self.time_limit, numbers.Real)
                                            or not self.time_limit > 0):
            raise ValueError(f"time_limit must be None or a positive number of seconds; got "
                             f"{self.time_limit!r}")
        if isinstance(self.seed_network, str):
            if self.seed_network != "adam":
                raise ValueError(f"seed_network must be 'adam', None, a TwoLayerReLU or a "
                                 f"torch Sequential(Linear, ReLU, Linear); got "
                                 f"{self.seed_network!r}")
        elif self.seed_network is not None and not isinstance(
                self.seed_network, (TwoLayerReLU, torch.nn.Module)):
            raise TypeError("seed_network must be 'adam', None, a TwoLayerReLU or a torch "
                            "Sequential(Linear, ReLU, Linear); got "
                            f"{type(self.seed_network).__name__}")
        if self.tol is not None and (isinstance(self.tol, bool)
                                     or not isinstance(self.tol, numbers.Real) or self.tol <= 0):
            raise ValueError(f"tol must be None or a positive number; got {self.tol!r}")
        if self.dtype not in _DTYPES and self.dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be one of {list(_DTYPES)}; got {self.dtype!r}")
        if not isinstance(self.verbose, numbers.Integral):  # True and False are 1 and 0
            raise TypeError(f"verbose must be an integer or a bool; got {self.verbose!r}")
        check_device(self.device)
        return {
            "beta": check_beta(self.beta),
            "n_patterns": check_positive_int(self.n_patterns, "n_patterns"),
            "max_iter": None if self.max_iter is None
            else check_positive_int(self.max_iter, "max_iter"),
            "dtype": _DTYPES.get(self.dtype, self.dtype),
        }

    def _reusable_patterns(self, Xa: np.ndarray):
        """With ``warm_start``, the previous fit's patterns if they are patterns of ``Xa``.

        They are kept when the data has the same shape and every stored generator still
        produces its pattern on ``Xa``; exactness is claimed only for the very same data.
        """
        if not (self.warm_start and hasattr(self, "patterns_")):
            return None
        old = self.patterns_
        if (old.n_samples, old.generators.shape[0]) != Xa.shape:
            return None
        if not np.array_equal(Xa @ old.generators >= 0, old.D):
            return None
        if old.exact and not np.array_equal(Xa, self.solution_.problem.X):
            return Patterns(old.D, old.generators, exact=False)
        return old

    def _solver_options(self, name: str, params: dict, warm) -> dict:
        """The options of the resolved solver: Clarabel's names for conic, else the common set."""
        options = {"verbose": bool(self.verbose)}
        if self.time_limit is not None:
            options["time_limit"] = float(self.time_limit)
        if name == "conic":
            if self.tol is not None:
                options.update(conic_tolerances(self.tol))
            if params["max_iter"] is not None:
                options["max_iter"] = params["max_iter"]
            return options
        options.update(device=self.device, dtype=params["dtype"])
        if self.tol is not None:
            options["tol"] = float(self.tol)
        if params["max_iter"] is not None:
            options["max_iter"] = params["max_iter"]
        if warm is not None:
            options["warm_start"] = warm
        return options

    def _searches(self, Xa: np.ndarray, reused) -> bool:
        """Whether this fit is a neuron search: ``patterns="search"``, or ``"auto"`` on data
        whose patterns are too many to enumerate (Cover's count above ``MAX_EXACT``)."""
        if self.patterns == "search":
            return True
        return (self.patterns == "auto" and (reused is None or not reused.exact)
                and pattern_count(Xa) > MAX_EXACT)

    def _seed_network(self) -> TwoLayerReLU | str | None:
        """``seed_network`` as a network of the (standardized) features the program sees."""
        network = self.seed_network
        if network is None or isinstance(network, str):
            return network
        if isinstance(network, torch.nn.Module):
            network = TwoLayerReLU.from_torch(network)
        if network.n_features != self.n_features_in_ or network.has_bias != self.bias:
            raise ValueError(
                f"seed_network must have {self.n_features_in_} features and "
                f"{'a' if self.bias else 'no'} bias, as this estimator; got {network}")
        # f(x) = f_s((x - mean) / scale) for the weights u_s = u * scale, b_s = b + u^T mean
        U = network.U * self.feature_scale_
        b = None if network.b is None else network.b + network.U @ self.feature_mean_
        return TwoLayerReLU(U, network.alpha, b)

    def _search(self, X, Y, weights, loss, params, seed, reused, solve):
        """The neuron search (:func:`~convexnn.search.neuron_search`) for this estimator."""
        # the conic solver computes in float64 on the CPU and takes Clarabel's settings only
        solver_options = {} if self.solver == "conic" else {"device": self.device,
                                                             "dtype": params["dtype"]}
        if params["max_iter"] is not None:
            solver_options["max_iter"] = params["max_iter"]
        return neuron_search(
            X, Y, loss=loss, beta=params["beta"], bias=self.bias, gated=self.gated,
            sample_weight=weights, initial_patterns=reused, seed_network=self._seed_network(),
            tol=SEARCH_TOL if self.tol is None else float(self.tol), max_rounds=SEARCH_ROUNDS,
            min_progress=SEARCH_PROGRESS,
            # a tenth of the limit is kept for the certificate and the network's recovery
            time_limit=None if self.time_limit is None else 0.9 * float(self.time_limit),
            seed=seed, solver=self.solver, solver_options=solver_options,
            verbose=bool(self.verbose), solve_with=solve)

    def _fit_convex(self, X: np.ndarray, Y: np.ndarray, sample_weight) -> None:
        """Solve program (8) for encoded targets ``Y`` (n, k) and set the fitted attributes,
        on one CPU thread up to ``ONE_THREAD_MAX_ROWS`` rows (:mod:`._threads`)."""
        with one_thread(X.shape[0] <= ONE_THREAD_MAX_ROWS):
            self._fit_program(X, Y, sample_weight)

    def _fit_program(self, X: np.ndarray, Y: np.ndarray, sample_weight) -> None:
        loss = self._check_loss()
        params = self._check_params()
        row_weights = check_sample_weight(sample_weight, X.shape[0])
        X, Y, weights, sample_index = distinct_samples(X, Y, row_weights)
        if self.standardize:  # statistics of the weighted distinct samples = of the raw data
            self.feature_mean_, self.feature_scale_ = feature_scaling(X, weights, center=self.bias)
        else:
            self.feature_mean_, self.feature_scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        X = (X - self.feature_mean_) / self.feature_scale_  # exact no-op without standardize
        Xa = add_bias(X) if self.bias else X
        reused = self._reusable_patterns(Xa)
        try:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        except ValueError as exc:
            raise ValueError(f"random_state must be None, an int or a numpy RandomState; "
                             f"got {self.random_state!r}") from exc
        self.search_ = None
        # inside convexnn.distributed.activate: a solve that splits the samples across processes
        solve = distributed.context_solve()
        if self._searches(Xa, reused):
            self.search_ = self._search(X, Y, weights, loss, params, seed, reused, solve)
            solution = self.search_.solution
        else:
            problem = ConvexProblem.build(
                X, Y, loss=loss, beta=params["beta"], bias=self.bias,
                patterns=self.patterns if reused is None else reused,
                n_patterns=params["n_patterns"], seed=seed, gated=self.gated,
                sample_weight=weights,
            )
            name = resolve_solver(problem, self.solver)
            warm = None
            if (reused is not None and self.solution_.problem.shape == problem.shape
                    and self.solution_.gated == problem.gated):
                warm = self.solution_
            # "auto" as such: solve falls back to ADMM when the conic solver fails
            solution = solve(problem, self.solver, **self._solver_options(name, params, warm))
        if solution.status == "diverged":
            raise RuntimeError(f"{type(self).__name__}.fit: {solution.reason}")
        problem = solution.problem

        self.solution_ = solution
        self.patterns_ = problem.patterns
        # a gated model is split into a point of (8): a ReLU network that reproduces it on the
        # training samples, certified against the gated dual (a lower bound on (8))
        point = solution.cone_decomposition() if solution.gated else solution
        # the network of the standardized features predicts; network_ is the same function of
        # the raw features (identical when standardize=False)
        self._scaled_network = TwoLayerReLU.from_convex(point)
        self.network_ = (self._scaled_network.unstandardized(self.feature_mean_,
                                                             self.feature_scale_)
                         if self.standardize else self._scaled_network)
        self.certificate_ = (
            certify(point, dual_check="gated" if solution.gated else "program")
            if self.search_ is None else self.search_.certificate())
        self.n_iter_ = int(solution.iterations)
        self.dual_ = (None if solution.dual is None
                      else expand_dual(solution.dual, row_weights, sample_index))
        if not self.certificate_.valid:
            warnings.warn(f"{type(self).__name__}: {self.certificate_}", ConvergenceWarning,
                          stacklevel=3)
        elif self.search_ is not None and self.search_.status == "time_limit":
            # the rounds or the final solve were cut short: the network is the best point
            # reached, certified (rigorously, over its patterns) only to the gap it has
            warnings.warn(
                f"{type(self).__name__}: time_limit={self.time_limit:g} s ran out after "
                f"{self.search_.rounds} rounds of the neuron search; the network is certified "
                f"to relative gap {self.certificate_.relative_gap:.2e} over its patterns",
                ConvergenceWarning, stacklevel=3)
        elif solution.status != "optimal":
            certificate = self.certificate_
            quality = (f"certified relative gap {certificate.relative_gap:.2e}"
                       if certificate.cone_violation <= 1e-8 else
                       f"its groups violate the cone constraints by up to "
                       f"{certificate.cone_violation:.2e}, so network_ differs from the convex "
                       "model and the gap certifies nothing")
            warnings.warn(
                f"{type(self).__name__}: the {solution.solver} solver stopped with status "
                f"{solution.status!r}: {solution.reason}. The network is returned but is not "
                f"certified optimal ({quality})", ConvergenceWarning, stacklevel=3)
        elif not solution.gated and self.certificate_.relative_gap > 1e-3:
            warnings.warn(
                f"{type(self).__name__}: the {solution.solver} solver reported an optimum, but "
                f"the independent certificate gives relative gap "
                f"{self.certificate_.relative_gap:.2e}: the network is returned, certified only "
                "to that gap (ill-conditioned data; standardize features and targets)",
                ConvergenceWarning, stacklevel=3)

    def _network_output(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        check_features(X)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._scaled_network.predict((X - self.feature_mean_) / self.feature_scale_)

    def save(self, path) -> None:
        """Save the fitted estimator: a ``.pt`` file of arrays plus JSON metadata beside it.

        ``path`` receives the network, the feature scaling and numeric class labels as
        tensors (``torch.save``, no pickle); ``path.with_suffix(".json")`` the parameters
        (``get_params``), the certificate's numbers, the solver's status and a SHA-256 of the
        weights file. ``solution_`` and ``patterns_`` (which hold the training data) are not
        saved. Read it back with ``type(self).load(path)``.

        Parameters
        ----------
        path : str or Path
        """
        check_is_fitted(self, "network_")
        save_estimator(self, path)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save`; predictions are bit-for-bit the same.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        estimator : an instance of this class, fitted (without ``solution_`` and ``patterns_``)

        Raises
        ------
        FileNotFoundError
            If the file or its metadata file is missing.
        ValueError
            Naming the file, if it is corrupted or truncated, holds another estimator class or
            a network, or is in a newer format.
        """
        return load_estimator(cls, path)


_PARAMETERS_DOC = """
    beta : float >= 0, default=1e-3
        Weight decay of the network, the group-lasso weight of program (8).
    bias : bool, default=True
        Whether the hidden neurons have a (regularized) bias.
    patterns : {"auto", "exact", "sampled", "search"} or Patterns, default="auto"
        Activation patterns of program (8): ``"exact"`` enumerates all (the fit is then the
        global optimum of the network's training problem), ``"sampled"`` draws ``n_patterns``
        Gaussian directions (a restriction: a valid network, an upper bound), ``"search"`` runs
        the dual-guided neuron search (:func:`~convexnn.search.neuron_search`): patterns are
        added where the dual constraint is violated, for at most 10 rounds (each round's
        solve starting from the last round's point) or until the search
        finds no violation (with several outputs and a loss that sums over them, one search
        per output); ``"auto"`` enumerates when Cover's count is at most 2,000 and
        searches otherwise;
        ``certificate_`` then states the rigorous gap over the patterns found and, separately,
        the search's (unproven unless every pattern was priced) global bound.
    time_limit : float, optional
        Seconds for the solve (or the whole search); None: no limit.
    seed_network : "adam", TwoLayerReLU or torch Sequential(Linear, ReLU, Linear) or None, \
default="adam"
        Where the neuron search's patterns start, besides 20 random ones: ``"adam"``, a short
        Adam run of the same objective (100 neurons, 300 epochs, about a tenth of the cost
        of a full Adam training; its network is far from optimal but its patterns are near
        good ones); a network trained elsewhere (in raw feature units), its neurons'
        patterns; None, random patterns only. Used only when the fit is a search.
    n_patterns : int, default=100
        Directions drawn when sampling.
    gated : bool, default=False
        Solve the gated relaxation (no cone constraints; its optimum is a lower bound on (8))
        instead of (8). Each gated neuron is then split into two ReLU neurons (the cone
        decomposition of Mishkin et al., 2022), so ``network_`` is an ordinary ReLU network
        that reproduces the gated model's predictions on the training samples exactly, and the
        estimator predicts with it (on new samples it can differ slightly from the gated
        model). ``certificate_`` bounds that network's objective against the gated dual.
    solver : {"auto", "conic", "fista", "augmented_lagrangian", "admm"}, default="auto"
        ``"auto"`` uses the conic reference solver on small problems, a first-order one
        otherwise.
    tol : float, optional
        Solver tolerance (relative duality gap of the first-order solvers, Clarabel's gap and
        feasibility tolerances for conic); None keeps the solver's default, and for the neuron
        search certifies its final restricted program to 1e-3.
    max_iter : int, optional
        Solver iteration limit; None keeps the solver's default.
    random_state : int, RandomState instance or None, default=None
        Seeds the pattern sampling.
    warm_start : bool, default=False
        Reuse the previous fit's patterns when the data has the same shape (and they are still
        patterns of it), and start the first-order solvers from the previous solution, e.g.
        along a path of decreasing ``beta``.
    device : str, default="cpu"
        Where first-order solvers compute (e.g. ``"cuda"``).
    dtype : {"float64", "float32"}, default="float64"
        Precision of the first-order solvers.
    verbose : int or bool, default=0
        If positive (or True), the solver prints its progress.
    standardize : bool, default=False
        Solve the program on standardized features ``(x - mean) / scale`` (weighted by
        ``sample_weight``; constant features keep scale 1; without ``bias`` only scaled, not
        centered), which helps the solvers on features of very different or extreme scales.
        ``network_`` is then converted back to the original feature units, so it computes the
        estimator's predictions from raw ``X``; ``beta`` and ``certificate_`` refer to the
        standardized program.
"""

_ATTRIBUTES_DOC = """
    network_ : TwoLayerReLU
        The recovered network (Theorem 1); ``network_.to_torch()`` is the PyTorch module.
    solution_ : ConvexSolution
        The solver's solution of program (8).
    certificate_ : Certificate
        Its duality gap, lower bound and scope (global when the patterns are exact).
    patterns_ : Patterns
        The activation patterns used, made on the training samples with their bias column.
        Like ``solution_``, they refer to the distinct samples of positive weight (repeated
        samples are merged into one of summed weight), in the order of ``X``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    n_iter_ : int
        Solver iterations.
    search_ : SearchResult or None
        The neuron search's rounds, patterns and bound (``patterns="search"``), else None.
    dual_ : ndarray of shape (n_samples, n_outputs) or None
        The solver's dual point spread back over the rows of ``X`` given to ``fit`` (repeated
        rows share their merged sample's value): pass it as ``dual=`` to
        :func:`~convexnn.certificates.certify_network` to judge another network on the same
        data, e.g. one trained by Adam.
    feature_mean_, feature_scale_ : ndarray of shape (n_features_in_,)
        The standardization ``(x - mean) / scale`` applied before the network (0 and 1 when
        ``standardize=False``).
"""


class ConvexReLURegressor(RegressorMixin, _ConvexReLU):
    __doc__ = f"""Two-layer ReLU regression network trained to its global optimum.

    Solves the convex program (8) of Pilanci & Ergen (ICML 2020) for the weight-decay training
    problem ``1/(2n) sum_j ||f(x_j) - y_j||^2 + beta/2 (||U||^2 + ||b||^2 + sum ||alpha_j||_1^2)``
    and recovers the network; its optimality is certified by a duality gap.

    Parameters
    ----------
    {_PARAMETERS_DOC.strip()}
    loss : {{"squared"}}, default="squared"
        Mean squared loss (the only regression loss).

    Attributes
    ----------
    {_ATTRIBUTES_DOC.strip()}
    n_outputs_ : int
        Number of targets.
    """

    _losses = tuple(name for name, loss in LOSSES.items() if loss.regression)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; an integer weight acts like repeating the sample.

        Returns
        -------
        self : ConvexReLURegressor
        """
        check_features(X)
        check_not_text(y, "y")
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        Y = y[:, None] if y.ndim == 1 else y
        self._fit_convex(X, Y, sample_weight)
        self.n_outputs_ = Y.shape[1]
        self._single_target = y.ndim == 1
        return self

    def predict(self, X):
        """Network outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D when ``fit`` saw 1-D targets.
        """
        F = self._network_output(X)
        return F[:, 0] if self._single_target else F


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLU):
    __doc__ = f"""Two-layer ReLU classification network trained to its global optimum.

    Labels are encoded for the loss, the convex program (8) is solved, the network recovered
    and its optimality certified by a duality gap. Binary problems have one output, multi-class
    problems one output per class.

    Parameters
    ----------
    {_PARAMETERS_DOC.strip()}
    loss : {{"squared", "hinge", "logistic", "cross_entropy"}}, default="squared"
        ``"squared"`` on +-1 targets (binary) or one-hot rows (multi-class); ``"hinge"`` on
        +-1 targets (one-vs-all for multi-class); ``"logistic"`` (binary only); and
        ``"cross_entropy"``, softmax over one output per class. The last two give
        ``predict_proba``.

    Attributes
    ----------
    {_ATTRIBUTES_DOC.strip()}
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    """

    _losses = tuple(LOSSES)  # every loss encodes class labels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        loss = _registered(self.loss)
        tags.classifier_tags.multi_class = loss is None or loss.multiclass
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two classes with positive weight).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; an integer weight acts like repeating the sample.

        Returns
        -------
        self : ConvexReLUClassifier
        """
        check_features(X)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        loss = get_loss(self._check_loss())
        self.classes_, index = np.unique(y, return_inverse=True)
        weighted = index if sample_weight is None else index[
            check_sample_weight(sample_weight, X.shape[0]) > 0]
        n_classes = np.unique(weighted).size
        if n_classes < 2:
            raise ValueError(
                f"y must hold at least two classes (with positive sample_weight); got "
                f"{n_classes} class"
            )
        k = self.classes_.size
        if not loss.multiclass and k > 2:
            raise ValueError(
                f"Only binary classification is supported with loss='{loss.name}'; y has {k} "
                "classes: use loss='cross_entropy' (softmax) or 'hinge' / 'squared' (one-vs-all)"
            )
        self._fit_convex(X, loss.encode_labels(index, k), sample_weight)
        return self

    def decision_function(self, X):
        """Network outputs (scores).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]`` (positive means that class).
        """
        F = self._network_output(X)
        if F.shape[1] == 1:
            return F[:, 0]
        if self.classes_.size == 2:  # softmax outputs: the log-odds of classes_[1]
            return F[:, 1] - F[:, 0]
        return F

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(1)
        return self.classes_[index]

    def _has_proba(self) -> bool:
        loss = _registered(self.loss)
        return loss is not None and loss.has_proba

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities of the logistic or softmax model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return get_loss(self.loss).predict_proba(self._network_output(X))
