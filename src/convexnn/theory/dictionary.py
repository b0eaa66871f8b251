"""Unit-norm neurons with l1 output weights: the rescaled problem (4)/(12) of Ergen & Pilanci.

Lemma 1/2 of Ergen & Pilanci (JMLR 2021): with *unregularized* first-layer biases, weight decay
``beta/2 (||U||_F^2 + ||w||^2)`` equals ``beta ||w||_1`` over neurons with ``||u_j||_2 <= 1``.
Once the candidate neurons are known (the extreme points of 1-D, rank-one or whitened data,
Corollary 8; the cutting-plane dictionary, Algorithm 1), training is a convex l1 program over
that fixed dictionary::

    min ||w||_1  s.t.  (A U + 1 b^T)_+ w = y                                   (17), (49)
    min L((A U + 1 b^T)_+ w, y) + beta ||w||_1                                  (17), (51), (18)

Scaling: ``L`` is a *mean* loss of :mod:`convexnn.losses` (``1/(2n) ||.||^2`` for squared), so
``beta`` means what it means in :class:`~convexnn.problem.ConvexProblem`; the paper's ``beta``
in (16) and (18), whose losses are sums, is ``n * beta``. Biases are unregularized, as in the
paper; program (8) of this library regularizes them, so the two agree only without biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import torch

from .._validation import (
    check_beta,
    check_data,
    check_matrix,
    check_sample_weight,
)
from ..losses import Hinge, get_loss
from ..network import TwoLayerReLU
from ..solvers.conic import solve_program

__all__ = ["L1Network", "NeuronDictionary", "fit_l1", "min_l1_interpolation"]


@dataclass(frozen=True)
class NeuronDictionary:
    """A fixed set of first-layer neurons ``(u_j, b_j)``.

    Attributes
    ----------
    U : ndarray of shape (n_neurons, n_features)
        One neuron per row (unit norm for the paper's extreme points).
    b : ndarray of shape (n_neurons,) or None
        Unregularized biases; None for neurons without bias.
    """

    U: np.ndarray
    b: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "U", check_matrix(self.U, "U", allow_empty=True))
        if self.b is not None:
            b = check_matrix(self.b, "b", ndim=1, allow_empty=True)
            if b.shape[0] != self.U.shape[0]:
                raise ValueError(f"b must have one entry per neuron ({self.U.shape[0]}); "
                                 f"got {b.shape[0]}")
            object.__setattr__(self, "b", b)

    @property
    def n_neurons(self) -> int:
        return self.U.shape[0]

    def features(self, X) -> np.ndarray:
        """Hidden activations ``(X U^T + 1 b^T)_+``: (n_samples, n_neurons)."""
        X = check_matrix(X, "X")
        if X.shape[1] != self.U.shape[1]:
            raise ValueError(f"X must have {self.U.shape[1]} features; got {X.shape[1]}")
        Z = X @ self.U.T
        return np.maximum(Z if self.b is None else Z + self.b, 0.0)

    def concat(self, other: NeuronDictionary) -> NeuronDictionary:
        """The neurons of ``self`` followed by those of ``other`` (both with or without bias)."""
        if (self.b is None) != (other.b is None):
            raise ValueError("cannot join a dictionary with biases to one without")
        b = None if self.b is None else np.concatenate([self.b, other.b])
        return NeuronDictionary(np.vstack([self.U, other.U]), b)


@dataclass
class L1Network:
    """A network in the rescaled form (4): unit-norm neurons, l1-penalized output weights.

    Attributes
    ----------
    dictionary : NeuronDictionary
        The neurons ``(u_j, b_j)``.
    w : ndarray of shape (n_neurons, n_outputs)
        Output weights; the penalty is ``beta * sum |w_jc|``.
    output_bias : ndarray of shape (n_outputs,)
        A free output constant (the ``u = 0`` neurons of the paper's (2), whose dual counterpart
        is ``1^T v = 0``, Appendix 9); zero unless the fit asked for it.
    objective : float
        Value of the program that produced it (``||w||_1`` for interpolation, else
        ``L + beta ||w||_1``).
    dual : ndarray of shape (n_samples, n_outputs) or None
        The program's dual point: for interpolation the paper's ``v`` (``max v^T y`` s.t.
        ``|v^T (A u + b)_+| <= 1``); for regularized fits ``Lam = grad L`` at the optimum (the
        library's convention, ``|Lam^T (A u + b)_+| <= beta``).
    """

    dictionary: NeuronDictionary
    w: np.ndarray
    output_bias: np.ndarray
    objective: float
    dual: np.ndarray | None = None

    @property
    def l1_norm(self) -> float:
        """``||w||_1``, the rescaled weight-decay penalty of Lemma 1/2."""
        return float(np.abs(self.w).sum())

    def predict(self, X) -> np.ndarray:
        """Outputs ``(X U^T + 1 b^T)_+ w + c``: (n_samples, n_outputs)."""
        return self.dictionary.features(X) @ self.w + self.output_bias

    def support(self, rtol: float = 1e-7) -> np.ndarray:
        """Indices of neurons whose ``||w_j||_1`` exceeds ``rtol`` times the largest."""
        norms = np.abs(self.w).sum(1)
        return np.flatnonzero(norms > rtol * norms.max(initial=0.0))

    def network(self, rtol: float = 1e-9) -> TwoLayerReLU:
        """The balanced :class:`~convexnn.network.TwoLayerReLU` with the same predictions.

        Neuron ``j`` becomes ``sqrt(||w_j||_1) (u_j, b_j)`` with output ``w_j / sqrt(||w_j||_1)``
        (Lemma 1: then ``beta/2 (||u||^2 + ||alpha||_1^2) = beta ||w_j||_1``). Neurons below
        ``rtol`` of the largest weight are dropped. A nonzero output constant ``c`` becomes one
        more unit ``u = 0, b = sqrt(||c||_1), alpha = c / sqrt(||c||_1)``; in the paper's
        objective it is free (rescaling ``b -> inf`` shrinks its cost to 0), in
        :meth:`TwoLayerReLU.objective`, which regularizes biases, it is not.
        """
        keep = self.support(rtol)
        scale = np.sqrt(np.abs(self.w[keep]).sum(1))
        U = self.dictionary.U[keep] * scale[:, None]
        alpha = self.w[keep] / scale[:, None]
        has_bias = self.dictionary.b is not None or np.any(self.output_bias != 0)
        b = None
        if has_bias:
            b = (np.zeros(keep.size) if self.dictionary.b is None
                 else self.dictionary.b[keep] * scale)
        c_norm = float(np.abs(self.output_bias).sum())
        if c_norm > 0:
            U = np.vstack([U, np.zeros((1, U.shape[1]))])
            b = np.append(b, np.sqrt(c_norm))
            alpha = np.vstack([alpha, self.output_bias / np.sqrt(c_norm)])
        return TwoLayerReLU(U, alpha, b)


def _output_expression(F: np.ndarray, k: int, output_bias: bool):
    """CVXPY variables ``w`` (m, k), ``c`` (k,) or None, and the expression ``F w + 1 c^T``."""
    if F.shape[1] == 0:
        raise ValueError("the dictionary has no neurons")
    w = cp.Variable((F.shape[1], k))
    if not output_bias:
        return w, None, F @ w
    c = cp.Variable(k)
    return w, c, F @ w + np.ones((F.shape[0], 1)) @ cp.reshape(c, (1, k), order="C")


def _as_network(dictionary, w, c, k, objective, dual) -> L1Network:
    bias = np.zeros(k) if c is None else np.asarray(c.value, float).reshape(k)
    return L1Network(dictionary, np.asarray(w.value, float).reshape(-1, k), bias, objective,
                     dual)


def min_l1_interpolation(dictionary: NeuronDictionary, X, Y, *, margin: bool = False,
                         output_bias: bool = False) -> L1Network:
    """Minimum-l1 interpolation over a fixed dictionary, eq (17) / (49) of Ergen & Pilanci.

    ``min ||w||_1 s.t. (X U^T + 1 b^T)_+ w (+ c) = Y``; with ``margin=True`` the hard-margin
    l1-SVM ``Y * (...) >= 1`` (the ``beta -> 0`` limit of (18), Theorem 11), targets +-1.
    Over the extreme-point dictionary of 1-D, rank-one or whitened data this is the
    interpolation problem (4) itself (Corollary 8).

    Parameters
    ----------
    dictionary : NeuronDictionary
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    margin : bool, default=False
    output_bias : bool, default=False
        Add a free output constant (dual constraint ``1^T v = 0``).

    Returns
    -------
    L1Network
        ``objective = ||w||_1``; ``dual`` is the paper's ``v`` with ``v^T Y = ||w||_1`` and
        ``||F^T v||_inf <= 1`` (for ``margin``, ``v * Y >= 0``).

    Raises
    ------
    ValueError
        If no combination of the dictionary's neurons fits ``Y``.
    """
    X, Y = check_data(X, Y)
    n, k = Y.shape
    if margin:
        Hinge().check_targets(Y)
    F = dictionary.features(X)
    w, c, Z = _output_expression(F, k, output_bias)
    fit = cp.multiply(Y, Z) >= 1 if margin else Z == Y
    prob = cp.Problem(cp.Minimize(cp.sum(cp.abs(w))), [fit])
    try:
        solve_program(prob, "the min-l1 interpolation program (17)")
    except RuntimeError:
        if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            raise ValueError(
                "the dictionary's neurons cannot interpolate Y: (17) is infeasible"
            ) from None
        raise
    # CVXPY's Lagrangian adds +nu^T (Z - Y) (or -nu^T (Y*Z - 1)), so the paper's v is -nu (nu*Y)
    nu = np.asarray(fit.dual_value, float).reshape(n, k)
    dual = nu * Y if margin else -nu
    net = _as_network(dictionary, w, c, k, 0.0, dual)
    net.objective = net.l1_norm
    return net


def fit_l1(dictionary: NeuronDictionary, X, Y, *, loss="squared", beta: float,
           output_bias: bool = False, sample_weight=None) -> L1Network:
    """Regularized l1 program over a fixed dictionary (Corollary 8, Theorems 11, 13, 14).

    ``min_w L((X U^T + 1 b^T)_+ w + c, Y) + beta ||w||_1`` for any loss of
    :mod:`convexnn.losses`: squared is the regularized (17) / (51), hinge the l1-SVM of (18) and
    Theorem 11, and Theorem 13 covers the rest.

    Parameters
    ----------
    dictionary : NeuronDictionary
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    loss : str or Loss, default="squared"
        A mean loss (the paper's sum-loss ``beta`` is ``n * beta``).
    beta : float >= 0
    output_bias : bool, default=False
        Add a free output constant (dual constraint ``1^T Lam = 0``).
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    L1Network
        ``objective = L + beta ||w||_1`` evaluated at the solution; ``dual = grad L`` there
        (from the solver's multiplier).
    """
    X, Y = check_data(X, Y)
    loss = get_loss(loss)
    loss.check_targets(Y)
    beta = check_beta(beta)
    weights = check_sample_weight(sample_weight, X.shape[0])
    n, k = Y.shape
    F = dictionary.features(X)
    w, c, prediction = _output_expression(F, k, output_bias)
    Z = cp.Variable((n, k))
    link = Z == prediction
    prob = cp.Problem(cp.Minimize(loss.cvxpy(Z, Y, weights) + beta * cp.sum(cp.abs(w))), [link])
    solve_program(prob, "the l1 dictionary program")
    # as in solvers.conic: the multiplier of Z == prediction is -grad L(Z*)
    net = _as_network(dictionary, w, c, k, 0.0, -np.asarray(link.dual_value, float).reshape(n, k))
    value = loss.value(torch.as_tensor(net.predict(X)), torch.as_tensor(Y),
                       torch.as_tensor(weights))
    net.objective = float(value) + beta * net.l1_norm
    return net

