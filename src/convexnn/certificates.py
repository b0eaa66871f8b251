"""Optimality certificates: a lower bound from a feasible dual point, and the duality gap.

Weak duality for program (8) with any convex loss (Pilanci & Ergen, ICML 2020; Ergen & Pilanci,
JMLR 2021, Theorem 13)::

    p* >= -L*(Lam)   for every Lam with, for all patterns i and outputs c,
        max_{v in K_i, ||v|| <= 1}  -<X^T D_i lam_c, v>  <= beta     and the same with +,
    K_i = {v : (2 D_i - I) X v >= 0}.

The inner maximum equals ``min_{a >= 0} ||g + X^T (2 D_i - I) a||`` (conic duality, the step from
which Pilanci & Ergen derive program (8)), a non-negative least-squares problem. A candidate
``Lam`` (the loss gradient at a primal point, or a solver's dual) is scaled by ``t`` into the
feasible set and ``-L*(t Lam)`` maximized over ``t``. When the patterns are *all* patterns of
the data the bound holds for every two-layer ReLU network of any width, so the gap certifies
global optimality; with sampled patterns it holds for networks whose neurons use those patterns
(the scope says which).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.optimize import lsq_linear

from ._duality import best_output_scales
from ._samples import distinct_samples, expand_dual
from ._validation import check_data, check_instance, check_matrix, check_sample_weight
from .cones import cone_maxima
from .network import TwoLayerReLU
from .patterns import Patterns, add_bias, make_patterns
from .problem import ConvexProblem
from .solution import ConvexSolution

__all__ = ["Certificate", "certify", "certify_network", "dual_bound", "dual_constraint_max"]

#: groups projected in the first batch of :func:`dual_constraint_max` (doubled at each next one)
FIRST_CHUNK = 64


@dataclass(frozen=True)
class Certificate:
    """A checked statement ``lower_bound <= optimum <= primal``.

    Attributes
    ----------
    primal : float
        Objective of the certified point (convex objective, or network objective (2)).
    lower_bound : float
        Dual objective of a verified-feasible dual point.
    duality_gap : float
        ``primal - lower_bound``; non-negative up to rounding.
    relative_gap : float
        ``duality_gap / max(|primal|, 1e-12)``.
    exact_patterns : bool
        True when all patterns of the data were used: the bound is then global (any network).
    n_patterns : int
        Number of patterns the dual point was checked against.
    dual_scale : float
        The factor ``t`` that made the candidate dual point feasible and best; where the loss
        sums over outputs each output's column has its own factor, and this is the smallest.
    cone_violation : float
        Largest violation of the cone constraints by the primal point (0 for a network, whose
        neurons are valid by construction); a violated point is not a ReLU network's.

    A lower bound above the objective by more than rounding (:attr:`valid` is False) is a
    numerical failure, not a certificate: weak duality forbids it, so one of the two numbers
    is wrong (typically features or targets of extreme scale). It is then printed as such.
    """

    primal: float
    lower_bound: float
    duality_gap: float
    relative_gap: float
    exact_patterns: bool
    n_patterns: int
    dual_scale: float
    cone_violation: float = 0.0
    #: the neuron search's bound (see :meth:`with_search`); None when there was no search
    search_bound: float | None = None
    search_violation: float | None = None
    search_directions: int = 0
    search_proven: bool = False
    #: whether the restricted program gave each output its own patterns (a per-output search)
    per_output: bool = False

    @classmethod
    def total(cls, parts: list[Certificate]) -> Certificate:
        """The certificate of a sum of independent programs (one per output) from theirs.

        With a loss that sums over outputs, program (8) in which output ``c``'s groups use
        only its own patterns is the sum of one program per output, and so are its objective
        and its dual: the primal values and the lower bounds add up.
        """
        primal = math.fsum(part.primal for part in parts)
        bound = math.fsum(part.lower_bound for part in parts)
        gap = primal - bound
        return cls(primal=primal, lower_bound=bound, duality_gap=gap,
                   relative_gap=gap / max(abs(primal), 1e-12),
                   exact_patterns=all(part.exact_patterns for part in parts),
                   n_patterns=sum(part.n_patterns for part in parts),
                   dual_scale=min(part.dual_scale for part in parts),
                   cone_violation=max(part.cone_violation for part in parts), per_output=True)

    def with_search(self, result) -> Certificate:
        """This certificate with what a :class:`~convexnn.search.SearchResult` adds to it.

        The gap above stays the rigorous one over the patterns the search ended with. The
        search's own bound is ``-L*(Lam / v)``, the final dual point scaled by the best
        violation ``v`` its oracle found: a lower bound for every network of any width *if* no
        neuron violates the dual constraint more than the best one found. That is proven only
        when the oracle priced every pattern of the data exactly; the certificate is then
        global, with that bound.
        """
        fields = {"search_bound": float(result.lower_bound),
                  "search_violation": float(result.violation),
                  "search_directions": int(result.n_directions),
                  "search_proven": bool(result.proven)}
        if result.proven:
            gap = self.primal - result.lower_bound
            fields.update(lower_bound=float(result.lower_bound), duality_gap=gap,
                          relative_gap=gap / max(abs(self.primal), 1e-12), exact_patterns=True)
        return replace(self, **fields)

    @property
    def valid(self) -> bool:
        """Whether ``lower_bound <= primal`` up to rounding (1e-9 relative, 1e-15 absolute).

        Both numbers are sums of O(n) float64 terms each computed to about 1e-16 relative, so
        a larger inversion cannot come from rounding in the final subtraction.
        """
        slack = 1e-9 * max(abs(self.primal), abs(self.lower_bound)) + 1e-15
        return bool(np.isfinite(self.primal) and np.isfinite(self.lower_bound)
                    and self.duality_gap >= -slack)

    @property
    def scope(self) -> str:
        if self.exact_patterns:
            if self.search_proven:
                return ("global: every activation pattern was priced exactly by the neuron "
                        "search, so the bound holds for any two-layer ReLU network")
            return "global: all activation patterns, any two-layer ReLU network"
        source = ("found by the neuron search" if self.search_bound is not None
                  else "sampled")
        if self.per_output:
            return (f"restricted: networks whose neurons of each output use that output's "
                    f"patterns ({self.n_patterns} in all, {source}; not a global bound)")
        return (f"restricted: networks whose neurons use the {self.n_patterns} given patterns "
                f"({source}; not a global bound)")

    @property
    def search_summary(self) -> str:
        """The neuron search's bound in plain words ('' when there was no search)."""
        if self.search_bound is None or self.search_proven:
            return ""
        if not math.isfinite(self.search_bound):
            return ("neuron search: stopped by its time limit before its oracle priced the "
                    "final dual point, so it gives no bound beyond the patterns used")
        return (f"neuron search: the best of {self.search_directions} searched neurons reaches "
                f"{self.search_violation:.4g} x beta in the dual constraint, so if no better "
                f"neuron exists, every network of any width has objective >= "
                f"{self.search_bound:.8g} (not proven: the search is local)")

    def __str__(self):
        if not self.valid:
            return (f"no certificate: the computed lower bound {self.lower_bound:.8g} exceeds the "
                    f"objective {self.primal:.8g}, which weak duality forbids: a numerical "
                    "failure (features or targets of extreme scale are the usual cause; "
                    "standardize them)")
        text = (f"objective {self.primal:.8g} >= optimum >= {self.lower_bound:.8g} "
                f"(gap {self.duality_gap:.3g}, relative {self.relative_gap:.3g}; {self.scope})")
        return f"{text}; {self.search_summary}" if self.search_summary else text


def dual_constraint_max(problem: ConvexProblem, Lam: np.ndarray, *,
                        gated: bool | None = None) -> float:
    """``max_{i, c, +-} max_{v in K_i, ||v|| <= 1} +-<X^T D_i lam_c, v>`` (the dual constraint).

    ``Lam`` is dual feasible iff this is ``<= beta``. For the gated relaxation the cone is all of
    R^d and the inner maximum is ``||X^T D_i lam_c||``.

    For program (8) the inner maximum is ``||P_{K_i} g|| = min_{a >= 0} ||g + B_i a||`` with
    ``g = +-X^T D_i lam_c`` and ``B_i = X^T (2 D_i - I)`` (conic duality), computed by
    :func:`convexnn.cones.cone_maxima` (exact batched projections). Any multipliers ``a >= 0``
    give ``||g + B_i a||`` at least the maximum, so an inexact projection could only make the
    result larger: the dual candidate scaled by ``beta`` over it stays feasible, the certificate
    only more conservative, never invalid.

    The unconstrained norm ``||g|| >= ||P_{K_i} g||`` bounds each group's maximum, so groups are
    taken in decreasing order of it, ``FIRST_CHUNK`` groups (both signs of a pair together) in
    the first batch of projections and twice as many in each next one, each batch only with the
    groups whose norm is above the largest maximum found so far; it stops when no remaining norm
    is.
    """
    return float(_constraint_maxima(problem, Lam, gated, per_output=False).max(initial=0.0))


def _constraint_maxima(problem: ConvexProblem, Lam: np.ndarray, gated: bool | None,
                       per_output: bool) -> np.ndarray:
    """The largest dual constraint of each output (k,) (``per_output``), or of all (1,).

    As :func:`dual_constraint_max`, with a running maximum per output when ``per_output``: a
    group is projected only when its norm exceeds its own output's maximum so far.
    """
    gated = problem.gated if gated is None else gated
    ops = problem.operators()
    G = ops.correlations(torch.as_tensor(Lam, dtype=ops.dtype)).numpy()  # (d, P, k): X^T D_i lam_c
    norms = np.linalg.norm(G, axis=0)  # (P, k)
    if gated:
        return norms.max(axis=0, initial=0.0) if per_output else norms.max(initial=0.0)[None]
    d, P, k = G.shape
    signed = torch.from_numpy(np.stack([G, -G], axis=3).reshape(d, P, 2 * k))  # group (i, 2c + j)
    bounds = np.repeat(norms.reshape(-1), 2)  # ||g|| of each flattened group i 2k + 2c + j
    output = (np.arange(bounds.size) // 2) % k if per_output else np.zeros(bounds.size, int)
    best = np.zeros(k if per_output else 1)
    order = np.argsort(-bounds, kind="stable")
    start, size = 0, FIRST_CHUNK
    while start < order.size:
        rest = order[start:]
        if not np.any(bounds[rest] > best[output[rest]]):
            break
        batch = rest[:size]
        batch = batch[bounds[batch] > best[output[batch]]]
        if batch.size:
            values = cone_maxima(ops.X, signed, ops.S, torch.from_numpy(batch)).numpy()
            np.maximum.at(best, output[batch], values)
        start, size = start + size, 2 * size
    return best


def dual_bound(problem: ConvexProblem, Lam: np.ndarray, *,
               gated: bool | None = None) -> tuple[float, np.ndarray]:
    """Best lower bound ``-L*(t Lam)`` over feasible scalings; returns ``(bound, scales)``.

    ``Lam`` is mapped into the conjugate's domain, its largest dual constraints computed exactly
    (per output where the loss sums over outputs, :func:`_constraint_maxima`) and the scales
    (k,) searched by :func:`convexnn._duality.best_output_scales` (one for all outputs, repeated,
    where the loss couples them).
    """
    ops = problem.operators()
    Lam_t = problem.loss.into_domain(torch.as_tensor(Lam, dtype=ops.dtype), ops.Y, ops.weights)
    per_output = problem.loss.separable and Lam_t.shape[1] > 1
    worst = _constraint_maxima(problem, Lam_t.numpy(), gated, per_output)
    return best_output_scales(problem.loss, Lam_t, ops.Y, ops.weights, worst, problem.beta,
                              rtol=1e-12)


def _certificate(problem: ConvexProblem, primal: float, candidates, cone_violation: float,
                 exact: bool, gated: bool | None = None) -> Certificate:
    bound, t = max((dual_bound(problem, Lam, gated=gated) for Lam in candidates),
                   key=lambda bt: bt[0])
    gap = primal - bound
    return Certificate(
        primal=primal, lower_bound=bound, duality_gap=gap,
        relative_gap=gap / max(abs(primal), 1e-12), exact_patterns=exact,
        n_patterns=problem.patterns.n_patterns, dual_scale=float(t.min()),
        cone_violation=cone_violation,
    )


def _stationary_subgradient(problem: ConvexProblem, network: TwoLayerReLU, Z: torch.Tensor,
                            band: float) -> np.ndarray:
    """A subgradient of a non-smooth loss chosen to make the network's neurons stationary.

    On samples within ``band`` of the loss's kink any ``theta * G``, ``theta in [0, 1]``, is a
    subgradient. ``theta`` is chosen by bounded least squares so that every neuron ``j`` meets
    its optimality condition ``X^T D_j lam_c = -sign(alpha_jc) beta u_j / ||u_j||`` (the
    gradient is a poor candidate there: at margin exactly 1 it picks an arbitrary end). Any
    choice is only a candidate; :func:`dual_bound` verifies it.
    """
    ops = problem.operators()
    mask, G = problem.loss.kink_subgradients(Z, ops.Y, ops.weights, band)
    Lam = torch.where(mask, torch.zeros_like(Z), ops.loss_gradient(Z)).numpy()
    mask, G = mask.numpy(), G.numpy()
    weights = np.hstack([network.U, network.b[:, None]]) if network.has_bias else network.U
    norms = np.linalg.norm(weights, axis=1)
    active = norms > 0
    directions = weights[active] / norms[active, None]
    patterns = (problem.X @ weights[active].T) >= 0  # (n, m): each neuron's pattern
    for c in range(Lam.shape[1]):
        free = np.flatnonzero(mask[:, c])
        signs = np.sign(network.alpha[active, c])
        used = signs != 0
        if free.size == 0 or not np.any(used):
            continue
        # rows: neurons x features; columns: the free samples' contributions G_ic D_j x_i
        # neurons weigh by their norm: near-zero neurons of interior-point solutions meet their
        # conditions only up to the barrier parameter divided by their norm
        scale = np.repeat(norms[active][used] / norms.max(), problem.X.shape[1])
        A = np.concatenate([(patterns[free, j] * G[free, c])[None, :] * problem.X[free].T
                            for j in np.flatnonzero(used)])
        fixed = problem.X.T @ (patterns[:, used] * Lam[:, c : c + 1])  # (d, m_used)
        target = (-signs[used] * problem.beta * directions[used].T - fixed).T.ravel()
        theta = lsq_linear(scale[:, None] * A, scale * target, bounds=(0.0, 1.0)).x
        Lam[free, c] = theta * G[free, c]
    return Lam


def certify(solution, *, dual_check: str = "program") -> Certificate:
    """Duality gap of a :class:`~convexnn.solution.ConvexSolution` for its own program.

    The dual candidates are the solver's dual point (if any) and the loss gradient at the
    solution's predictions; each is re-checked for feasibility here, not trusted.

    Parameters
    ----------
    solution : ConvexSolution
    dual_check : {"program", "gated"}, default="program"
        Which dual constraints a candidate is scaled into: the program's own, or the gated
        relaxation's ``||X^T D_i lam_c|| <= beta``. Those are stronger than the cone-constrained
        ones of (8), so the bound is valid for (8) too; it is cheaper (one norm per group, no
        NNLS) and as tight when the candidate is a gated dual (as for a cone decomposition).
    """
    check_instance(solution, ConvexSolution, "solution", " (the result of convexnn.solve)")
    if dual_check not in ("program", "gated"):
        raise ValueError(f"dual_check must be 'program' or 'gated'; got {dual_check!r}")
    problem = solution.problem
    ops = problem.operators()
    V = torch.as_tensor(solution.V, dtype=ops.dtype)
    W = None if solution.W is None else torch.as_tensor(solution.W, dtype=ops.dtype)
    primal = float(ops.objective(V, W))
    U = ops.stack(V, W)
    pre = ops.preactivations(U)
    violation = 0.0 if problem.gated else float(ops.cone_violation(pre).max())
    Z = ops.predict_from(pre)
    candidates = [ops.loss_gradient(Z).numpy()]
    if solution.dual is not None:
        candidates.append(solution.dual)
    return _certificate(problem, primal, candidates, violation, problem.patterns.exact,
                        gated=True if dual_check == "gated" else None)


def _dual_of_rows(X: np.ndarray, Y: np.ndarray, dual, sample_weight) -> np.ndarray:
    """``dual`` as one row per sample: given so, or spread from the distinct samples."""
    dual = check_matrix(dual, "dual", ndim=(1, 2))
    dual = dual[:, None] if dual.ndim == 1 else dual
    if dual.shape == Y.shape:
        return dual
    weights = check_sample_weight(sample_weight, X.shape[0])
    *_, index = distinct_samples(X, Y, weights)
    n_distinct = int(index.max()) + 1
    if dual.shape != (n_distinct, Y.shape[1]):
        raise ValueError(
            f"dual must have shape ({X.shape[0]}, {Y.shape[1]}) (one row per sample) or "
            f"({n_distinct}, {Y.shape[1]}) (one row per distinct sample of positive weight, as "
            f"an estimator's solution_.dual); got {dual.shape}")
    return expand_dual(dual, weights, index)


def _patterns_not_in(own: Patterns, base: Patterns, Xa: np.ndarray,
                     rtol: float = 1e-8) -> Patterns:
    """The neurons' patterns ``own`` that no pattern of ``base`` already gives them.

    A neuron ``u`` with ``x^T u = 0`` on a sample computes ``(x^T u)_+ = 0`` whether that sample
    counts as active or not, so it uses every pattern that agrees with its signs on the other
    samples. Recovered networks sit on such faces (the optimum of (8) is on the cones'
    boundaries), to the solver's accuracy: a group ``v = ||u|| u`` meets its cone constraints up
    to about ``rtol`` times ``||x||`` and the largest group norm, so a sign is taken as certain
    only above that (interior-point solutions also carry tiny groups, whose own scale says
    nothing). Adding a tie-broken pattern would widen the certificate's scope with a pattern the
    network does not need. Returns the neurons none of whose consistent patterns is in ``base``.
    """
    if base.n_patterns == 0 or own.n_patterns == 0:
        return own
    Z = Xa @ own.generators  # (n, m)
    norms = np.linalg.norm(own.generators, axis=0)
    group_values = np.abs(Z) * norms  # |x^T v| for the group v = ||u|| u of each neuron
    certain = (group_values > rtol * np.linalg.norm(Xa, axis=1)[:, None]
               * max(float(np.max(norms)) ** 2, np.finfo(float).tiny)).astype(float)
    active = (Z > 0).astype(float)
    D = base.D.astype(float)
    # mismatches[i, j]: samples where neuron j's sign is certain and pattern i disagrees
    mismatches = D.T @ (certain * (1 - active)) + (1 - D).T @ (certain * active)
    return own.subset(np.flatnonzero(~np.any(mismatches == 0, axis=0)))


def certify_network(network, X, y, *, loss="squared", beta: float, patterns="exact",
                    n_patterns: int = 1000, seed=None, dual=None,
                    sample_weight=None) -> Certificate:
    """Lower bound and duality gap for ANY two-layer ReLU network on the training problem (2).

    Parameters
    ----------
    network : TwoLayerReLU or torch.nn.Module
        E.g. a network trained by Adam (``Sequential(Linear, ReLU, Linear)``).
    X, y : training data (raw features; a bias column is added if the network has a bias).
    loss, beta : the training objective (2) the network is judged on.
    patterns : "exact", "sampled", "auto" or Patterns (on the augmented data)
        The patterns the dual point is checked against; the network's own patterns are always
        added. With "exact" (all patterns) the bound is global.
    dual : ndarray of shape (n_samples, n_outputs) or (n_distinct, n_outputs), optional
        An extra dual candidate, e.g. an estimator's ``dual_`` (one row per sample) or
        ``solution_.dual`` of a convex solve on the same data, which gives the tightest bound
        (the gap is then the network's true suboptimality). A dual with one row per *distinct*
        sample of positive weight (the estimators merge repeated rows) is spread back over the
        rows it stands for.
    """
    if isinstance(network, torch.nn.Module):
        network = TwoLayerReLU.from_torch(network)
    check_instance(network, TwoLayerReLU, "network", " or a torch Sequential(Linear, ReLU, Linear)")
    X, Y = check_data(X, y)
    Xa = add_bias(X) if network.has_bias else X
    if isinstance(patterns, Patterns):
        base = make_patterns(Xa, patterns)
    else:
        base = make_patterns(Xa, patterns, n_patterns=n_patterns, seed=seed)
    all_patterns = base.union(_patterns_not_in(network.activation_patterns(X), base, Xa))
    problem = ConvexProblem(Xa, Y, loss, beta, all_patterns, sample_weight=sample_weight,
                            bias=network.has_bias)
    primal = network.objective(X, Y, loss=loss, beta=beta, sample_weight=sample_weight)
    ops = problem.operators()
    Z = torch.as_tensor(network.predict(X), dtype=ops.dtype)
    candidates = [ops.loss_gradient(Z).numpy()]
    if hasattr(problem.loss, "kink_subgradients"):
        candidates += [_stationary_subgradient(problem, network, Z, band)
                       for band in (1e-8, 1e-4, 1e-2)]
    if dual is not None:
        candidates.append(_dual_of_rows(X, Y, dual, sample_weight))
    return _certificate(problem, primal, candidates, 0.0, all_patterns.exact, gated=False)
