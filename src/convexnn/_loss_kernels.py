"""Compiled per-row solves of the losses' proximal maps (numba), for CPU tensors.

The softmax cross-entropy's prox has no closed form: each row is a small strongly convex
problem solved by damped Newton (:meth:`convexnn.losses.CrossEntropy._prox_rows`). Batched in
torch, every Newton step and every halving of the step is a dozen launches over all rows, and
the rows that still move are few: on a 60 x 3 problem the prox took 3.5 ms per ADMM iteration
(54 objective evaluations of the whole batch), most of a default fit. Here each row runs its
own loop; the iteration is the same, row for row.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["cross_entropy_prox"]


@njit(cache=True, nogil=True)
def _objective(z, v, y, step):
    """``step (logsumexp(z) - y^T z) + |z - v|^2 / 2`` for one row."""
    top = z.max()
    total, linear, square = 0.0, 0.0, 0.0
    for c in range(z.shape[0]):
        total += math.exp(z[c] - top)
        linear += y[c] * z[c]
        square += (z[c] - v[c]) ** 2
    return step * (top + math.log(total) - linear) + 0.5 * square


@njit(cache=True, nogil=True)
def _solve_row(z, v, y, step, max_newton, value):
    """Damped Newton on one row from ``z`` (updated in place), whose objective is ``value``.

    The Hessian ``step (diag(p) - p p^T) + I`` (``p = softmax(z)``) is inverted by the
    Sherman-Morrison formula; a step is halved (30 times at most) until the objective
    decreases, unless the expected decrease is below its rounding; the row stops when the
    step is below ``1e-13 (1 + |z|)`` entrywise or no decrease is found."""
    k = z.shape[0]
    p = np.empty(k)
    grad = np.empty(k)
    direction = np.empty(k)
    trial = np.empty(k)
    for _ in range(max_newton):
        top = z.max()
        total = 0.0
        for c in range(k):
            p[c] = math.exp(z[c] - top)
            total += p[c]
        p_dg, p_dp = 0.0, 0.0
        for c in range(k):
            p[c] /= total
            diag = 1.0 + step * p[c]
            grad[c] = step * (p[c] - y[c]) + z[c] - v[c]
            direction[c] = grad[c] / diag  # dg, until the correction below
            p_dg += p[c] * direction[c]
            p_dp += p[c] * p[c] / diag
        correction = step * p_dg / (1.0 - step * p_dp)
        small, slope = True, 0.0
        for c in range(k):
            direction[c] += correction * p[c] / (1.0 + step * p[c])
            if abs(direction[c]) > 1e-13 * (1.0 + abs(z[c])):
                small = False
            slope += grad[c] * direction[c]
        if small:
            return
        testable = slope > 1e-12 * (1.0 + abs(value))
        scale = 1.0
        for _ in range(30):
            for c in range(k):
                trial[c] = z[c] - scale * direction[c]
            trial_value = _objective(trial, v, y, step)
            if not (testable and trial_value > value):
                break
            scale *= 0.5
        if testable and trial_value > value:  # no decrease: optimal to rounding
            return
        z[:] = trial
        value = trial_value


@njit(cache=True, nogil=True)
def _cross_entropy_prox(V, Y, step, start, use_start, max_newton, Z):
    for i in range(V.shape[0]):
        Z[i] = V[i]
        value = _objective(Z[i], V[i], Y[i], step[i])
        if use_start:
            at_start = _objective(start[i], V[i], Y[i], step[i])
            if at_start < value:
                Z[i] = start[i]
                value = at_start
        _solve_row(Z[i], V[i], Y[i], step[i], max_newton, value)


def cross_entropy_prox(V: np.ndarray, Y: np.ndarray, step: np.ndarray,
                       start: np.ndarray | None, max_newton: int) -> np.ndarray:
    """Row-wise ``argmin_z step_j (logsumexp(z) - y_j^T z) + |z - v_j|^2 / 2``, float64.

    ``V``, ``Y`` (n, k), ``step`` (n,); each row starts at the better of ``v_j`` and
    ``start``'s row (when given)."""
    Z = np.empty_like(V)
    _cross_entropy_prox(V, Y, step, V if start is None else start, start is not None,
                        max_newton, Z)
    return Z
