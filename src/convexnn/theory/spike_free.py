"""Spike-free data matrices and the two-neuron convex program (JMLR 2021, 2.2 and 4.4).

``A`` is spike-free when the rectified ellipsoid ``Q_A = {(A u)_+ : ||u|| <= 1}`` equals its
convex relaxation ``A B2 cap R^n_+`` (Lemma 3): every rectified output ``(A u)_+`` is itself
``A z`` for some ``||z|| <= 1``. Then the optimal network needs only two neurons, found by one
convex program with ``2d`` variables (Theorem 4, eq (22)), which is program (8) restricted to
the single pattern ``D = I``; and the relaxed separation oracle (15) of the cutting-plane method
is exact (Proposition 2). Examples: diagonal, whitened (``A A^T = I``, Lemma 4) and rank-one
``c a^T`` with ``c >= 0`` (Lemma 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import torch

from .._validation import check_beta, check_data, check_matrix
from ..losses import get_loss
from ..patterns import Patterns, make_patterns
from ..solvers.conic import solve_program
from .dictionary import L1Network, NeuronDictionary

__all__ = ["SpikeFreeTest", "spike_free_test", "two_neuron_program"]


@dataclass(frozen=True)
class SpikeFreeTest:
    """Bounds on ``s(A) = max_{||u|| <= 1} min{||z|| : A z = (A u)_+}`` (Lemma 3, eq (7)).

    ``A`` is spike-free iff ``s(A) <= 1``; ``s(A) = inf`` when some ``(A u)_+`` leaves the range
    of ``A`` (possible only for rank-deficient ``A``).

    Attributes
    ----------
    lower : float
        Attained at ``witness``: a proof of "not spike-free" when above 1.
    upper : float
        ``max_i ||A^dagger D_i A||_2`` over the patterns checked (an upper bound of ``s(A)``
        when they are all the patterns): a proof of "spike-free" when at most 1.
    spike_free : bool or None
        True / False when the bounds decide it (tolerance ``tol``), None otherwise.
    witness : ndarray of shape (n_features,)
        A unit direction attaining ``lower``.
    exact_patterns : bool
        Whether ``upper`` covers every pattern of ``A``.
    """

    lower: float
    upper: float
    spike_free: bool | None
    witness: np.ndarray
    exact_patterns: bool


def _spike_value(A, pinv, u, tol) -> float:
    """``||A^dagger (A u)_+||``, or inf when ``(A u)_+`` is not in the range of ``A``."""
    z = np.maximum(A @ u, 0.0)
    x = pinv @ z
    if np.linalg.norm(A @ x - z) > tol * max(np.linalg.norm(z), 1.0):
        return np.inf
    return float(np.linalg.norm(x))


def spike_free_test(A, *, patterns="exact", n_directions: int = 1000, seed=None,
                    tol: float = 1e-9) -> SpikeFreeTest:
    """Decide whether ``A`` is spike-free: the test of Lemma 3 / eq (7).

    On each activation pattern ``D_i`` the rectified output is linear, ``(A u)_+ = D_i A u``, so
    ``s(A) = max_i max_{u in K_i, ||u|| <= 1} ||A^dagger D_i A u||`` provided every
    ``D_i A u`` stays in the range of ``A`` (else ``s(A) = inf``). The inner maximum of a
    convex function over a cone is NP-hard in general; it is bounded above by the spectral
    norm of ``A^dagger D_i A`` and below by its value at directions inside the cone (the
    pattern's generator, its top singular vectors when they lie in the cone, and random
    unit directions). For the paper's examples the two bounds meet at 1.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    patterns : "exact", "sampled", "auto" or Patterns, default="exact"
        Patterns of ``A`` (no bias column); only "exact" makes ``upper`` a bound.
    n_directions : int, default=1000
        Random unit directions added to the lower bound.
    seed : int, optional
    tol : float, default=1e-9
        Relative tolerance of the comparisons with 1 and of the range test.

    Returns
    -------
    SpikeFreeTest
    """
    A = check_matrix(A, "A")
    if not isinstance(patterns, Patterns):
        patterns = make_patterns(A, patterns, seed=seed)
    pinv = np.linalg.pinv(A)
    projector = np.eye(A.shape[0]) - A @ pinv  # onto the complement of range(A)
    scale = np.linalg.norm(A, 2)
    rng = np.random.default_rng(seed)
    candidates = [rng.standard_normal(A.shape[1]) for _ in range(n_directions)]
    upper = 0.0
    for i in range(patterns.n_patterns):
        DA = A * patterns.D[:, i, None]
        g = patterns.generators[:, i]
        candidates.append(g)
        if np.linalg.norm(projector @ DA, 2) > tol * scale:
            upper = np.inf  # D_i A u leaves range(A) for generic u of this open cell
            continue
        M = pinv @ DA
        _, s, Vt = np.linalg.svd(M)
        upper = max(upper, float(s[0]))
        cone = (2.0 * patterns.D[:, i, None] - 1) * A  # rows of (2 D_i - I) A
        for v in (Vt[0], -Vt[0]):
            if np.all(cone @ v >= -tol * scale):
                candidates.append(v)
    best, witness = -1.0, None
    for u in candidates:
        norm = np.linalg.norm(u)
        if norm == 0:
            continue
        value = _spike_value(A, pinv, u / norm, tol)
        if value > best:
            best, witness = value, u / norm
    if best > 1 + tol:
        verdict = False
    elif patterns.exact and upper <= 1 + tol:
        verdict = True
    else:
        verdict = None
    return SpikeFreeTest(best, upper if patterns.exact else np.inf, verdict, witness,
                         patterns.exact)


def two_neuron_program(A, y, *, loss="squared", beta: float = 0.0) -> L1Network:
    """Theorem 4 / eq (22): the optimal network of spike-free data has two neurons.

    ``beta = 0``: ``min ||w_1|| + ||w_2|| s.t. A (w_1 - w_2) = y, A w_1 >= 0, A w_2 >= 0``
    (Theorem 4); ``beta > 0``: ``min L(A (w_1 - w_2), y) + beta (||w_1|| + ||w_2||)`` with the
    same cone constraints, for any convex loss (eq (22)). Neurons ``u_i = w_i / ||w_i||`` with
    outputs ``+||w_1||`` and ``-||w_2||``. This is program (8) restricted to the pattern
    ``D = I``: for every ``A`` its value is an upper bound of the optimum, equal to it when
    ``A`` is spike-free.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    loss : str or Loss, default="squared"
        A mean loss (ignored when ``beta = 0``).
    beta : float >= 0, default=0

    Returns
    -------
    L1Network
        Up to two neurons without bias; ``dual`` is ``grad L`` (None when ``beta = 0``).
    """
    A, Y = check_data(A, y)
    beta = check_beta(beta)
    n, d = A.shape
    W = cp.Variable((d, 2))  # columns w_1, w_2
    prediction = A @ (W[:, 0] - W[:, 1])
    constraints = [A @ W >= 0]
    norms = cp.norm(W, 2, axis=0)
    dual_of = None
    if beta == 0:
        constraints.append(prediction == Y[:, 0])
        objective = cp.sum(norms)
    else:
        loss = get_loss(loss)
        loss.check_targets(Y)
        Z = cp.Variable((n, 1))
        dual_of = Z[:, 0] == prediction
        constraints.append(dual_of)
        objective = loss.cvxpy(Z, Y, np.ones(n)) + beta * cp.sum(norms)
    prob = cp.Problem(cp.Minimize(objective), constraints)
    solve_program(prob, "the two-neuron program of Theorem 4")
    Wv = np.asarray(W.value, float)
    outputs = np.linalg.norm(Wv, axis=0)
    U = Wv.T / np.where(outputs > 0, outputs, 1.0)[:, None]
    net = L1Network(NeuronDictionary(U), (outputs * np.array([1.0, -1.0]))[:, None],
                    np.zeros(1), 0.0)
    if beta == 0:
        net.objective = net.l1_norm
    else:
        value = loss.value(torch.as_tensor(net.predict(A)), torch.as_tensor(Y),
                           torch.ones(n, dtype=torch.float64))
        net.objective = float(value) + beta * net.l1_norm
        net.dual = -np.asarray(dual_of.dual_value, float).reshape(n, 1)
    return net
