"""Distinct samples: merging repeated rows into one weighted sample, and mapping back."""

from __future__ import annotations

import numpy as np

__all__ = ["distinct_samples", "expand_dual"]


def distinct_samples(X: np.ndarray, Y: np.ndarray, weights: np.ndarray):
    """The distinct samples ``(x, y)`` of positive weight, with the weights of copies summed.

    Objective (2) is a weighted mean over samples, so a sample of weight 0 does not enter it and
    ``c`` copies of a sample are one sample of weight ``c``: merging them shrinks program (8)
    (whose size grows with the number of samples) and makes an integer weight and repeated rows
    give the same program. The weights are rescaled to mean 1, which keeps the mean loss of the
    weighted data equal to that of the repeated data. Samples stay in the order of their first
    occurrence, so data without repeats or zero weights is passed on unchanged.

    Returns
    -------
    X, Y, weights : ndarrays
        The distinct samples (``n_distinct`` rows) and their merged weights.
    index : ndarray of shape (n_samples,)
        The distinct sample each input row was merged into; -1 for rows of weight 0.
    """
    keep = np.flatnonzero(weights > 0)
    _, first, inverse = np.unique(np.hstack([X[keep], Y[keep]]), axis=0, return_index=True,
                                  return_inverse=True)
    order = np.argsort(first)  # distinct samples in order of first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    merged = np.bincount(rank[inverse.ravel()], weights=weights[keep], minlength=order.size)
    rows = keep[first[order]]
    index = np.full(X.shape[0], -1)
    index[keep] = rank[inverse.ravel()]
    return X[rows], Y[rows], merged * (order.size / merged.sum()), index


def expand_dual(dual: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
    """A dual point of the merged samples as the same dual point of the original rows.

    The dual of a weighted mean loss is ``lam_j = w_j grad_j / n``; a distinct sample stands
    for its rows' summed weight, so each row gets the share ``w_r / sum_{r in j} w_r`` of its
    sample's ``lam_j`` (rows of weight 0 get 0). Every dual quantity is then unchanged:
    ``sum_r lam_r x_r = lam_j x_j`` for the rows of one sample, and so is the conjugate's value.

    Parameters
    ----------
    dual : ndarray of shape (n_distinct, n_outputs)
    weights : ndarray of shape (n_samples,)
        The original rows' weights.
    index : ndarray of shape (n_samples,)
        From :func:`distinct_samples`.
    """
    kept = index >= 0
    totals = np.bincount(index[kept], weights=weights[kept], minlength=dual.shape[0])
    expanded = np.zeros((index.size, dual.shape[1]))
    expanded[kept] = dual[index[kept]] * (weights[kept] / totals[index[kept]])[:, None]
    return expanded
