"""Whitened data: closed-form optimal networks and the l0-l1 equivalence (JMLR 2021, 4.3-4.5).

For ``n <= d`` samples whitened so that ``A A^T = I_n`` (zero-phase / ZCA whitening, Lemma 4)
the data matrix is spike-free and the optimal networks have at most two neurons (one per class
for one-hot targets), given in closed form by Theorems 9, 12 and 15. Lemma 9 gives the
minimum-cardinality interpolating network of any full-row-rank ``A`` and Lemma 10 the condition
under which it is also the minimum-l1 (weight-decay) one.

Scaling: losses are means (:mod:`convexnn.losses`); the paper's sum-loss ``beta`` in (16), (18)
is ``n * beta`` here, so the neuron thresholds ``||y_+||``, ``sqrt(n_+)`` of the paper are
compared with ``n * beta``. No biases (the theorems have none).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from .._validation import check_beta, check_data, check_matrix
from ..losses import CrossEntropy, Hinge
from ..patterns import enumerate_patterns
from ..solvers.conic import solve_program
from .dictionary import L1Network, NeuronDictionary

__all__ = [
    "hinge_closed_form",
    "l0_l1_condition",
    "min_cardinality_interpolation",
    "one_hot_closed_form",
    "squared_closed_form",
    "whiten",
]


def whiten(A, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Zero-phase (ZCA) whitening of ``n <= d`` samples: ``A T`` has orthonormal rows (Lemma 4).

    With the thin SVD ``A = P S Q^T``, ``T = Q S^{-1} Q^T`` (d, d), so ``A T = P Q^T`` and
    ``(A T)(A T)^T = I_n``; apply the same ``T`` to new samples: ``x_white = x T``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features), full row rank
    rtol : float
        Singular values below ``rtol`` times the largest make ``A`` rank deficient.

    Returns
    -------
    A_white : ndarray of shape (n_samples, n_features)
    T : ndarray of shape (n_features, n_features)
    """
    A = check_matrix(A, "A")
    n, d = A.shape
    if n > d:
        raise ValueError(f"whitening needs n_samples <= n_features; got A of shape {A.shape}")
    _, s, Qt = np.linalg.svd(A, full_matrices=False)
    if s[-1] <= rtol * s[0]:
        raise ValueError("A must have full row rank to be whitened; it is rank deficient")
    T = Qt.T @ (Qt / s[:, None])
    return A @ T, T


def _check_whitened(A, atol: float = 1e-8) -> np.ndarray:
    A = check_matrix(A, "A")
    n = A.shape[0]
    if n > A.shape[1] or not np.allclose(A @ A.T, np.eye(n), atol=atol):
        raise ValueError("A must be whitened (n_samples <= n_features and A A^T = I); "
                         "use theory.whiten(A)")
    return A


def _network(A: np.ndarray, targets: list[np.ndarray], weights: list[np.ndarray],
             objective: float, dual: np.ndarray) -> L1Network:
    """Neurons ``A^T t / ||t||`` (``A^dagger = A^T`` for whitened A) with output rows ``w``."""
    k = dual.shape[1]
    U = [A.T @ t / np.linalg.norm(t) for t in targets]
    return L1Network(NeuronDictionary(np.reshape(U, (-1, A.shape[1]))),
                     np.reshape(weights, (-1, k)), np.zeros(k), objective, dual)


def _two_class_split(y: np.ndarray):
    return np.maximum(y, 0.0), np.maximum(-y, 0.0)


def squared_closed_form(A, y, *, beta: float) -> L1Network:
    """Theorem 9: the optimal network for squared loss and weight decay on whitened data.

    With ``p = ||(y)_+||``, ``q = ||(-y)_+||`` and ``beta' = n beta`` (paper's scaling), the
    neurons ``u_1 = A^T (y)_+ / p`` (output ``p - beta'``) and ``u_2 = A^T (-y)_+ / q`` (output
    ``-(q - beta')``) are kept while ``beta' < p`` resp. ``beta' < q``: 2, 1 or 0 neurons. The
    prediction is group soft-thresholding ``(1 - beta'/p)_+ (y)_+ - (1 - beta'/q)_+ (-y)_+``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
        Whitened: ``A A^T = I`` (see :func:`whiten`).
    y : array-like of shape (n_samples,)
    beta : float >= 0
        Mean-loss regularization: objective ``1/(2n) ||f(A) - y||^2 + beta ||w||_1``.

    Returns
    -------
    L1Network
        Neurons without bias; ``objective`` the optimal value; ``dual = (f(A) - y) / n``
        (``Lam = grad L``; the paper's ``v = -n Lam``).
    """
    A = _check_whitened(A)
    A, y = check_data(A, y)
    y = y[:, 0]
    beta = check_beta(beta)
    n = y.shape[0]
    beta_paper = n * beta
    targets, weights = [], []
    for part, sign in zip(_two_class_split(y), (1.0, -1.0), strict=True):
        norm = np.linalg.norm(part)
        if norm > beta_paper:
            targets.append(part)
            weights.append(sign * (norm - beta_paper))
    prediction = np.zeros(n) + sum(w * t / np.linalg.norm(t)
                                   for t, w in zip(targets, weights, strict=True))
    objective = (0.5 * np.sum((prediction - y) ** 2) / n
                 + beta * float(np.sum(np.abs(weights))))
    return _network(A, targets, weights, objective, ((prediction - y) / n)[:, None])


def hinge_closed_form(A, y, *, beta: float) -> L1Network:
    """Theorem 12: the optimal network for the hinge loss (18) on whitened data.

    With ``n_+`` / ``n_-`` the class sizes and ``beta' = n beta``: ``u_1 = A^T (y)_+ /
    sqrt(n_+)`` with output ``sqrt(n_+)`` if ``beta' < sqrt(n_+)`` (else no neuron; at equality
    every output in ``[0, sqrt(n_+)]`` is optimal and 0 is returned), and likewise
    ``u_2 = A^T (-y)_+ / sqrt(n_-)`` with output ``-sqrt(n_-)``. The neurons are the one-vs-rest
    Fisher discriminants ``Sigma^{-1} mu``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
        Whitened: ``A A^T = I``.
    y : array-like of shape (n_samples,), values +-1
    beta : float >= 0
        Objective ``(1/n) sum max(0, 1 - y_i f(a_i)) + beta ||w||_1``.

    Returns
    -------
    L1Network
        ``dual = grad L`` (a subgradient: ``-y_i / n`` on samples with margin below 1, ``0``
        otherwise).
    """
    A = _check_whitened(A)
    A, Y = check_data(A, y)
    Hinge().check_targets(Y)
    y = Y[:, 0]
    beta = check_beta(beta)
    n = y.shape[0]
    targets, weights = [], []
    for part, sign in zip(_two_class_split(y), (1.0, -1.0), strict=True):
        size = np.sqrt(part.sum())
        if size > n * beta:
            targets.append(part)
            weights.append(sign * size)
    prediction = np.zeros(n) + sum(w * t / np.linalg.norm(t)
                                   for t, w in zip(targets, weights, strict=True))
    hinge = np.maximum(0.0, 1.0 - y * prediction)
    objective = hinge.sum() / n + beta * float(np.sum(np.abs(weights)))
    dual = np.where(y * prediction < 1, -y / n, 0.0)[:, None]
    return _network(A, targets, weights, objective, dual)


def one_hot_closed_form(A, Y, *, beta: float) -> L1Network:
    """Theorem 15: the optimal vector-output network for one-hot targets on whitened data.

    For each class ``j`` of size ``n_j``, the neuron ``u_j = A^T y_j / sqrt(n_j)`` with output
    row ``(sqrt(n_j) - beta') e_j`` (``beta' = n beta``) is present iff ``beta' < sqrt(n_j)``: at
    most ``o`` neurons, the one-vs-all Fisher discriminants. Each neuron feeds one class only, so
    the same network is optimal for the weight decay ``||W||_F^2`` of (23) and for the
    decoupled penalty ``sum_j ||w_j||_1^2`` of this library's program (8).

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
        Whitened: ``A A^T = I``.
    Y : array-like of shape (n_samples, n_classes), one-hot rows
    beta : float >= 0
        Objective ``1/(2n) ||f(A) - Y||_F^2 + beta sum_j ||w_j||``.

    Returns
    -------
    L1Network
        ``dual = (f(A) - Y) / n``.
    """
    A = _check_whitened(A)
    A, Y = check_data(A, Y, y_name="Y")
    CrossEntropy().check_targets(Y, name="Y")  # the one-hot check
    beta = check_beta(beta)
    n, k = Y.shape
    targets, weights = [], []
    for j in range(k):
        size = np.sqrt(Y[:, j].sum())
        if size > n * beta:
            targets.append(Y[:, j])
            weights.append((size - n * beta) * np.eye(k)[j])
    prediction = np.zeros((n, k))
    for t, w in zip(targets, weights, strict=True):
        prediction += np.outer(t / np.linalg.norm(t), w)
    objective = 0.5 * np.sum((prediction - Y) ** 2) / n + beta * float(np.sum(np.abs(weights)))
    return _network(A, targets, weights, objective, (prediction - Y) / n)


def min_cardinality_interpolation(A, y, rtol: float = 1e-10) -> L1Network:
    """Lemma 9: two neurons that interpolate ``y`` exactly on full-row-rank data (n <= d).

    ``u_1 = A^dagger (y)_+ / ||A^dagger (y)_+||`` with output ``||A^dagger (y)_+||`` and
    ``u_2 = A^dagger (-y)_+ / ||A^dagger (-y)_+||`` with output ``-||A^dagger (-y)_+||``: since
    ``A A^dagger = I``, ``(A u_1)_+`` is proportional to ``(y)_+``. This solves the minimum-
    cardinality problem (13); it also solves the minimum-l1 problem (4) when
    :func:`l0_l1_condition` holds (Lemma 10), e.g. for whitened data (Corollary 7).

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features), full row rank
    y : array-like of shape (n_samples,)
    rtol : float
        Rank tolerance on the singular values of ``A``.

    Returns
    -------
    L1Network
        ``objective = ||w||_1``; ``dual`` is None.
    """
    A, Y = check_data(A, y)
    n, d = A.shape
    s = np.linalg.svd(A, compute_uv=False)
    if n > d or s[-1] <= rtol * s[0]:
        raise ValueError(f"Lemma 9 needs A of full row rank with n <= d; got shape {A.shape}")
    pinv = np.linalg.pinv(A)
    U, w = [], []
    for part, sign in zip(_two_class_split(Y[:, 0]), (1.0, -1.0), strict=True):
        direction = pinv @ part
        norm = np.linalg.norm(direction)
        if norm > 0:
            U.append(direction / norm)
            w.append(sign * norm)
    w = np.reshape(w, (-1, 1))
    return L1Network(NeuronDictionary(np.reshape(U, (-1, d))), w, np.zeros(1),
                     float(np.abs(w).sum()))


def l0_l1_condition(A, y) -> float:
    """Lemma 10: the value whose being ``<= 1`` makes Lemma 9's network minimum-l1 optimal.

    Computes ``min_v max_{u in B2} |v^T (A u)_+|`` over ``v`` with ``v^T (A u_1)_+ = 1`` and
    ``v^T (A u_2)_+ = -1`` (``u_1, u_2`` of :func:`min_cardinality_interpolation`; one of the
    equalities when ``y`` has one sign). A value ``<= 1`` is Proposition 3's certificate that the
    two-neuron network is optimal for (4). The paper prints the one-sided ``max v^T (A u)_+``;
    the certificate needs both signs, which is what is computed. The inner maximum is exact:
    one cone per activation pattern (all enumerated), ``max_{u in K_i cap B2} v^T D_i A u =
    min_{a >= 0} ||A^T D_i v + A^T (2 D_i - I) a||`` (conic duality, as in Pilanci & Ergen's
    derivation of program (8), ICML 2020), so the whole problem is one
    SOCP with ``2 P`` cones (``P = 2^n`` for full row rank: keep ``n`` small). Whitened data give
    exactly 1 (Corollary 7).

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features), full row rank, n <= d
    y : array-like of shape (n_samples,)

    Returns
    -------
    float
    """
    net = min_cardinality_interpolation(A, y)
    A, Y = check_data(A, y)
    n = A.shape[0]
    patterns = enumerate_patterns(A)
    D = patterns.D.astype(float)
    S = 2 * D - 1
    v, t = cp.Variable(n), cp.Variable()
    H = net.dictionary.features(A)  # (A u_j)_+ as columns
    constraints = [H.T @ v == np.sign(net.w[:, 0])]
    G = A.T @ cp.multiply(D, cp.reshape(v, (n, 1), order="C"))  # (d, P): A^T D_i v
    for sign in (1.0, -1.0):
        slack = cp.Variable(D.shape, nonneg=True)
        constraints.append(cp.norm(sign * G + A.T @ cp.multiply(S, slack), 2, axis=0) <= t)
    prob = cp.Problem(cp.Minimize(t), constraints)
    solve_program(prob, "the Lemma 10 program")
    return float(prob.value)

