"""One-dimensional and rank-one data: extreme-point dictionaries and spline fits (JMLR 2021).

For scalar samples ``a_i`` and unregularized biases, every extreme point of the rectified
ellipsoid has ``u = +-1`` and ``b = -+a_k`` for some sample ``k`` (Lemma 6, Corollary 3): optimal
neurons put their kink ``-b/u`` on a data point and the trained network is a linear spline.
Training over all such neurons is the convex l1 program (17) (Corollary 8); for classification
the same dictionary is the kernel ``kappa(a, a_j) = (a - a_j)_+`` (with its mirror
``(a_j - a)_+``) of an l1-SVM (Corollary 9, Theorem 11). Rank-one data ``A = c a^T`` is 1-D data
in the coordinate ``c`` along the direction ``a`` (Corollaries 5 and 10).

Biases are unregularized, as in the paper. Program (8) of this library regularizes the bias
(appended ones column); with that penalty the kinks of an optimal network need *not* lie on
data points, so these functions, not program (8), are the 1-D theory.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_beta, check_matrix
from ..losses import get_loss
from .dictionary import L1Network, NeuronDictionary, fit_l1, min_l1_interpolation

__all__ = ["fit_rank_one", "fit_spline", "rank_one_dictionary", "rank_one_factors",
           "spline_dictionary"]


def _as_samples(a) -> np.ndarray:
    """Scalar samples as a (n,) array from shape (n,) or (n, 1)."""
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    return check_matrix(a, "a", ndim=1)


def spline_dictionary(a) -> NeuronDictionary:
    """The ``2n`` extreme-point neurons of 1-D data (Lemma 6, Corollary 3, eq (17)).

    Neurons ``(u, b) = (+1, -a_k)`` and ``(-1, +a_k)`` for every sample ``k``: the columns
    ``(a - a_k)_+`` and ``(a_k - a)_+``. Its :meth:`~NeuronDictionary.features` at points ``x``
    is the kernel map of Corollary 9, ``K = [(x_i - a_j)_+, (a_j - x_i)_+]``.

    Parameters
    ----------
    a : array-like of shape (n_samples,) or (n_samples, 1)

    Returns
    -------
    NeuronDictionary
        ``U`` of shape (2 n, 1) (first ``n`` rows +1, then -1), ``b`` of shape (2 n,).
    """
    a = _as_samples(a)
    n = a.shape[0]
    U = np.concatenate([np.ones(n), -np.ones(n)])[:, None]
    return NeuronDictionary(U, np.concatenate([-a, a]))


def rank_one_factors(A, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """``c`` (n,) and unit ``a`` (d,) with ``A = c a^T``; raises if ``A`` is not rank one.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    rtol : float
        Singular values below ``rtol`` times the largest count as zero.
    """
    A = check_matrix(A, "A")
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    if s[0] == 0 or (s.size > 1 and s[1] > rtol * s[0]):
        raise ValueError(f"A must have rank one; its singular values are {s[:3]}")
    return U[:, 0] * s[0], Vt[0]


def rank_one_dictionary(A) -> NeuronDictionary:
    """Extreme-point neurons of rank-one data ``A = c a^T`` (Corollary 5, Theorem 11).

    ``u_k = s a/||a||``, ``b_k = -s c_k ||a||`` for ``s = +-1`` and every sample ``k``: the 1-D
    spline dictionary in the coordinate ``c ||a||`` along ``a``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features), rank one

    Returns
    -------
    NeuronDictionary
        ``U`` of shape (2 n, d) with unit rows, ``b`` of shape (2 n,).
    """
    c, a = rank_one_factors(A)  # a is a unit vector, so ||a|| is folded into c
    spline = spline_dictionary(c)
    return NeuronDictionary(spline.U * a[None, :], spline.b)


def _fit(dictionary, X, y, loss, beta, output_bias) -> L1Network:
    beta = check_beta(beta)
    if beta > 0:
        return fit_l1(dictionary, X, y, loss=loss, beta=beta, output_bias=output_bias)
    margin = get_loss(loss).name == "hinge"
    return min_l1_interpolation(dictionary, X, y, margin=margin, output_bias=output_bias)


def fit_spline(a, y, *, loss="squared", beta: float = 0.0,
               output_bias: bool = False) -> L1Network:
    """Globally optimal two-layer ReLU network on 1-D data (Corollaries 3, 4, 8, 9; Theorem 11).

    Solves the l1 program over :func:`spline_dictionary`: with ``beta = 0`` the minimum-norm
    interpolation (4) as (17) (hinge: the hard-margin l1-SVM), with ``beta > 0`` the
    regularized problem (16) / (18) as ``L(K w) + beta ||w||_1`` (mean loss: the paper's ``beta``
    is ``n * beta``). With the hinge loss this is the l1-SVM on the kernel
    ``K_ij = (a_i - a_j)_+`` and its mirror (Corollary 9, Theorem 11).

    Parameters
    ----------
    a : array-like of shape (n_samples,) or (n_samples, 1)
    y : array-like of shape (n_samples,)
        Targets (+-1 for hinge and logistic).
    loss : str or Loss, default="squared"
    beta : float >= 0, default=0
    output_bias : bool, default=False
        Add a free output constant (the ``u = 0`` neurons of (2) with unregularized bias).

    Returns
    -------
    L1Network
        ``.network()`` is a :class:`~convexnn.network.TwoLayerReLU` with bias whose kinks
        ``-b/u`` are data points; ``.predict`` evaluates the spline anywhere.
    """
    a = _as_samples(a)
    return _fit(spline_dictionary(a), a[:, None], y, loss, beta, output_bias)


def fit_rank_one(A, y, *, loss="squared", beta: float = 0.0,
                 output_bias: bool = False) -> L1Network:
    """Globally optimal network on rank-one data ``A = c a^T`` (Corollaries 5, 6, 10; Thm 11).

    As :func:`fit_spline` over :func:`rank_one_dictionary`.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features), rank one
    y : array-like of shape (n_samples,)
    loss : str or Loss, default="squared"
    beta : float >= 0, default=0
    output_bias : bool, default=False

    Returns
    -------
    L1Network
    """
    A = check_matrix(A, "A")
    return _fit(rank_one_dictionary(A), A, y, loss, beta, output_bias)
