"""Extreme-point neurons: "neurons as auto-encoders" (JMLR 2021, Section 3.5, Lemmas 7 and 8).

The optimal neurons of a two-layer ReLU network are extreme points of the rectified ellipsoid
``{(A u + b 1)_+ : ||u|| <= 1}`` along the optimal dual direction (Corollary 2). Along a basis
direction ``e_i`` the extreme point is explicit (Lemma 7, eq (10)): project ``a_i`` onto the
convex hull of the other samples,

    lambda* = argmin_{lambda >= 0, 1^T lambda = 1} || a_i - sum_{j != i} lambda_j a_j ||_2,

then ``u_i`` is the normalized residual and ``b_i = min_{j != i} (-a_j^T u_i)``: the neuron fires
on sample ``i`` alone, with activation equal to the distance from ``a_i`` to the hull. It is the
residual of the best convex-mixture "auto-encoding" of ``a_i`` by the other samples (Remark 1).
When every sample is a vertex of the hull the ``n`` such neurons give a diagonal activation
matrix and interpolate any labels (Theorem 6; Gaussian data with ``d > 2 n log(n - 1)`` qualify
w.h.p., Theorem 7). Lemma 8 gives the extreme point along any direction, one convex program per
activation pattern. Biases are unregularized, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from .._validation import check_data, check_matrix
from ..cones import nnls
from ..patterns import Patterns, add_bias, make_patterns
from .dictionary import L1Network, NeuronDictionary

__all__ = ["ExtremePoint", "VertexNeurons", "extreme_point", "vertex_interpolation",
           "vertex_neurons"]


@dataclass(frozen=True)
class VertexNeurons:
    """The Lemma-7 neuron of every sample, with its auto-encoding.

    Attributes
    ----------
    dictionary : NeuronDictionary
        ``U`` (n, d) with unit rows (zero rows for samples inside the hull), ``b`` (n,).
    mixtures : ndarray of shape (n, n)
        Row ``i`` is ``lambda*`` of sample ``i``: convex weights over the other samples
        (``mixtures[i, i] = 0``); ``mixtures @ A`` is the auto-encoded data.
    activations : ndarray of shape (n,)
        ``a_i^T u_i + b_i``: the neuron's output on its own sample, the distance from ``a_i``
        to the hull of the others (0, with a zero neuron, when ``a_i`` is not a vertex).
    """

    dictionary: NeuronDictionary
    mixtures: np.ndarray
    activations: np.ndarray

    @property
    def is_vertex(self) -> np.ndarray:
        """Boolean (n,): the neuron is active on its own sample only."""
        return self.activations > 0


def _hull_projection(A: np.ndarray, i: int) -> np.ndarray:
    """``lambda*`` of eq (10) for sample ``i`` (length n, ``lambda*_i = 0``), exactly.

    The projection of ``a_i`` onto ``conv{a_j : j != i}`` is the least-distance program
    ``min ||x|| s.t. c_j^T x >= 1`` (``c_j = a_j - a_i``) up to scaling, which Lawson & Hanson's
    NNLS reduction solves: ``mu = argmin_{mu >= 0} ||[C; 1^T] mu - e_{d+1}||``; the active
    ``c_j`` lie on the supporting hyperplane, so ``lambda = mu / 1^T mu``. When ``a_i`` is in
    the hull the NNLS residual vanishes and ``mu`` is itself a convex combination giving
    ``a_i``; the same normalization covers both cases.
    """
    others = np.delete(A, i, axis=0)
    C = others - A[i]
    scale = max(float(np.abs(C).max()), np.finfo(float).tiny)
    E = np.vstack([C.T / scale, np.ones((1, C.shape[0]))])
    target = np.zeros(E.shape[0])
    target[-1] = 1.0
    mu, _ = nnls(E, target)
    return np.insert(mu / mu.sum(), i, 0.0)


def vertex_neurons(A) -> VertexNeurons:
    """Lemma 7 (eq (10)): the extreme-point neuron along ``e_i`` for every sample ``i``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)

    Returns
    -------
    VertexNeurons
        Neuron ``i`` is ``u_i = r_i / ||r_i||``, ``b_i = min_{j != i} (-a_j^T u_i)`` with
        ``r_i = a_i - sum_j lambda*_ij a_j``. By the choice of ``b_i`` every other sample is
        inactive (``<= 0``) exactly; sample ``i`` is active iff it is a vertex of the hull.
        The ``n`` projections are exact active-set NNLS solves, ``O(n^2 d)`` in all.
    """
    A = check_matrix(A, "A")
    n = A.shape[0]
    if n < 2:
        raise ValueError(f"Lemma 7 needs at least 2 samples; got {n}")
    mixtures = np.array([_hull_projection(A, i) for i in range(n)])
    residual = A - mixtures @ A
    norms = np.linalg.norm(residual, axis=1)
    U = residual / np.where(norms > 0, norms, 1.0)[:, None]
    others = np.where(np.eye(n, dtype=bool), np.inf, -(A @ U.T).T)  # -a_j^T u_i at [i, j]
    b = others.min(1)
    activations = np.einsum("id,id->i", A, U) + b
    # rounding of a^T u is ~1e-16 ||a||: below this an activation is not a vertex's
    vertex = activations > 1e-10 * np.abs(A).max()
    U[~vertex], b[~vertex] = 0.0, 0.0
    return VertexNeurons(NeuronDictionary(U, b), mixtures, np.where(vertex, activations, 0.0))


def vertex_interpolation(A, y) -> L1Network:
    """Theorem 6: when every sample is a vertex, Lemma-7 neurons interpolate any labels.

    ``(A U + 1 b^T)_+`` is diagonal with the hull distances on the diagonal, so
    ``w_i = y_i / activation_i`` fits ``y`` exactly (zero training error).

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    L1Network
        ``objective = ||w||_1``.

    Raises
    ------
    ValueError
        If a sample lies in the convex hull of the others.
    """
    A, Y = check_data(A, y)
    neurons = vertex_neurons(A)
    if not np.all(neurons.is_vertex):
        inside = np.flatnonzero(~neurons.is_vertex)
        raise ValueError(f"samples {inside[:10]} lie in the convex hull of the others: "
                         "Theorem 6 needs every sample to be a vertex")
    w = Y / neurons.activations[:, None]
    return L1Network(neurons.dictionary, w, np.zeros(Y.shape[1]), float(np.abs(w).sum()))


@dataclass(frozen=True)
class ExtremePoint:
    """``argmax_{||u|| <= 1, b} alpha^T (A u + b 1)_+`` (Lemma 8), with its value and pattern."""

    u: np.ndarray
    b: float
    value: float
    active: np.ndarray


def extreme_point(A, alpha, *, patterns="exact", seed=None) -> ExtremePoint:
    """Lemma 8: the extreme point of the rectified ellipsoid along a direction ``alpha``.

    For a fixed active set ``S`` (a pattern of ``[A, 1]``) the problem
    ``max alpha_S^T (A_S u + b 1)  s.t.  A_S u + b >= 0, A_{S^c} u + b <= 0, ||u|| <= 1`` is a
    convex SOCP whose optimal ``b`` sits at one end of its interval, as Lemma 8 states
    (``max_{i in S} -a_i^T u`` if ``sum_S alpha_i <= 0``, else ``min_{j in S^c} -a_j^T u``); its
    dual variables are Lemma 8's ``(lambda, nu)``. The extreme point is the best over all
    patterns, so this is exact for enumerated patterns (exponential in the rank: small data).

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    alpha : array-like of shape (n_samples,)
        ``1^T alpha <= 0`` is required: otherwise the all-active neuron with ``b -> inf``
        makes the value unbounded (hence ``1^T v = 0`` in Algorithm 3, Appendix 9).
    patterns : "exact", "sampled", "auto" or Patterns, default="exact"
        Patterns of ``[A, 1]`` to search.
    seed : int, optional
        For sampled patterns.

    Returns
    -------
    ExtremePoint
    """
    A, alpha = check_data(A, alpha, y_name="alpha")
    alpha = alpha[:, 0]
    n, d = A.shape
    if alpha.sum() > 1e-12 * np.abs(alpha).sum():
        raise ValueError("alpha must satisfy 1^T alpha <= 0: otherwise the all-active neuron "
                         "with b -> inf is unbounded (Appendix 9 of the paper)")
    Aa = add_bias(A)
    if not isinstance(patterns, Patterns):
        patterns = make_patterns(Aa, patterns, seed=seed)
    # one compiled SOCP, re-solved per pattern (DPP parameters: coefficients and cone signs)
    u, b = cp.Variable(d), cp.Variable()
    coef, offset = cp.Parameter(d), cp.Parameter()
    signs = cp.Parameter(n)
    prob = cp.Problem(cp.Maximize(coef @ u + offset * b),
                      [cp.multiply(signs, A @ u + b) >= 0, cp.norm(u, 2) <= 1])
    best = ExtremePoint(np.zeros(d), 0.0, 0.0, np.zeros(n, bool))
    for i in range(patterns.n_patterns):
        active = patterns.D[:, i]
        if not active.any():
            continue
        coef.value = A.T @ (alpha * active)
        offset.value = float(alpha[active].sum())
        signs.value = np.where(active, 1.0, -1.0)
        prob.solve(solver="CLARABEL")
        if prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and prob.value > best.value:
            best = ExtremePoint(np.asarray(u.value, float), float(b.value), float(prob.value),
                                active.copy())
    return best
