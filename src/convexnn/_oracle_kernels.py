"""Compiled great-circle maxima and ascent of the ascent oracle (numba), for CPU tensors.

:func:`convexnn.oracle.circle_maximum` maximizes ``sum_i lam_i (a_i cos t + b_i sin t)_+``
exactly over ``t`` for every column: one sort of the ``n`` breakpoints and a sweep over the
``2n + 1`` segments. Batched in torch that is some twenty launches over ``(m, n)`` arrays of a
few dozen columns (the oracle's ascents), with three transcendental functions per segment: on
keel:vehicle (592 rows) the 7,700 calls of a default fit took 7.1 s, a fifth of the fit.

Here each column is one compiled loop over the same segments, on unit vectors instead of
angles: sample ``i``'s breakpoints are the directions ``+-e_i`` with ``e_i = (b_i, -a_i) / r_i``
(where ``a_i cos t + b_i sin t`` changes sign), sorted by a pseudo-angle (monotone in the angle,
no ``atan2``); a segment ``[e_lo, e_hi]`` (at most half the circle) holds the peak of
``C cos t + S sin t`` iff ``(C, S)`` lies between its ends (two cross products), where the value
is ``||(C, S)||``, else its maximum is at ``e_lo`` (the end of the segment before it), where it
is ``(C, S) . e_lo``. One ``atan2`` per column gives the angle of the best point.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["ascend", "circle_maxima", "off_hyperplanes"]


def circle_maxima(a: np.ndarray, b: np.ndarray, lam: np.ndarray):
    """Per row ``j`` of ``a, b, lam`` (m, n), float64: the maximizing angles ``t`` (m,) in
    [0, 2 pi) and the maxima ``value`` (m,) (see :func:`convexnn.oracle.circle_maximum`).
    The breakpoints are sorted by NumPy between the two compiled passes (3x faster than
    numba's ``argsort``, measured on 32 x 592)."""
    m, n = a.shape
    ex, ey, key, dC, dS = (np.empty((m, n)) for _ in range(5))
    C0, S0 = np.empty(m), np.empty(m)
    _breakpoints(a, b, lam, ex, ey, key, dC, dS, C0, S0)
    order = np.argsort(key, axis=1)
    t, value = np.empty(m), np.empty(m)
    _sweep(order, ex, ey, dC, dS, C0, S0, t, value)
    return t, value


@njit(cache=True, nogil=True)
def _breakpoints(a, b, lam, ex, ey, key, dC, dS, C0, S0):
    """Per row: each sample's first breakpoint ``(ex, ey)`` (angle in [0, pi)), its
    pseudo-angle ``key``, the change of ``(C, S)`` there, and the sums ``(C0, S0)`` over the
    samples active at ``t = 0+`` (those whose first breakpoint is where they leave)."""
    m, n = a.shape
    for j in range(m):
        C, S = 0.0, 0.0
        for i in range(n):
            r = math.sqrt(a[j, i] * a[j, i] + b[j, i] * b[j, i])
            x, y = (b[j, i] / r, -a[j, i] / r) if r > 0 else (1.0, 0.0)
            ca, cb = lam[j, i] * a[j, i], lam[j, i] * b[j, i]
            if y > 0 or (y == 0 and x > 0):  # enters at e_i (angle in [0, pi)), leaves at -e_i
                dC[j, i], dS[j, i] = ca, cb
            else:  # active at 0+: leaves at -e_i (angle in [0, pi)), enters again at e_i
                x, y = -x, -y
                dC[j, i], dS[j, i] = -ca, -cb
                C += ca
                S += cb
            ex[j, i], ey[j, i] = x, y
            key[j, i] = 1.0 - x / (abs(x) + abs(y))  # in [0, 2), increasing with the angle
        C0[j], S0[j] = C, S


@njit(cache=True, nogil=True)
def _sweep(order, ex, ey, dC, dS, C0, S0, t, value):
    """Per row: the ``2n + 1`` segments in angular order (the sorted breakpoints, then their
    opposites), each's maximum, the best."""
    m, n = ex.shape
    for j in range(m):
        C, S = C0[j], S0[j]
        lo_x, lo_y = 1.0, 0.0  # the first segment starts at angle 0
        best, best_x, best_y = -np.inf, 1.0, 0.0
        for k in range(2 * n + 1):
            sign, i = 1.0, 0
            if k < 2 * n:
                i = order[j, k % n]
                sign = 1.0 if k < n else -1.0  # the second half: the opposite directions
                hi_x, hi_y = sign * ex[j, i], sign * ey[j, i]
            else:
                hi_x, hi_y = 1.0, 0.0  # the circle's end, 2 pi
            # the peak direction (C, S) lies in the segment iff it is left of its start and
            # right of its end (segments span at most half the circle)
            if lo_x * S - lo_y * C >= 0 and C * hi_y - S * hi_x >= 0:
                candidate, at_x, at_y = math.sqrt(C * C + S * S), C, S
            else:
                candidate, at_x, at_y = C * lo_x + S * lo_y, lo_x, lo_y
            if candidate > best:
                best, best_x, best_y = candidate, at_x, at_y
            if k < 2 * n:
                C += sign * dC[j, i]
                S += sign * dS[j, i]
                lo_x, lo_y = hi_x, hi_y
        if C > best:  # the circle's end, with the last segment's sums
            best, best_x, best_y = C, 1.0, 0.0
        t[j] = math.atan2(best_y, best_x) % (2 * math.pi)
        value[j] = best


@njit(cache=True, nogil=True)
def ascend(X, lam, U, H, value, idle, randoms, first, iterations, patience, progress):
    """The ascent of :func:`convexnn.oracle._ascend` for every column ``j`` of ``U`` (d, m), in
    place, one compiled loop per column: ``iterations`` iterations (numbers ``first`` on, which
    pick the random directions ``randoms[it, :, j]``) unless the column has gone ``patience``
    iterations without gain. ``H`` (m, n) holds ``X u_j`` and ``value`` the columns' values.

    Returns the number of directions evaluated. (The batched torch ascent is some twenty
    launches over the going columns per iteration: on keel:wine's 124 rows the oracle's two
    ascents took 33 ms a call, most of it launches.)
    """
    n, d = X.shape
    m = U.shape[1]
    g, tangent, c = np.empty(d), np.empty((2, d)), np.empty(d)
    b, hc = np.empty((1, n)), np.empty(n)
    a, lam_j = np.empty((1, n)), np.empty((1, n))
    ex, ey, key = np.empty((1, n)), np.empty((1, n)), np.empty((1, n))
    dC, dS = np.empty((1, n)), np.empty((1, n))
    C0, S0, t, top = np.empty(1), np.empty(1), np.empty(1), np.empty(1)
    best_u, best_h, r = np.empty(d), np.empty(n), np.empty(d)
    evaluated = 0
    for j in range(m):
        for i in range(n):
            lam_j[0, i] = lam[i, j]
        for it in range(first, first + iterations):
            if idle[j] >= patience:
                break
            # the cell's gradient g = X^T (lam_j * 1[X u >= 0])
            g[:] = 0.0
            for i in range(n):
                if H[j, i] >= 0:
                    for k in range(d):
                        g[k] += lam_j[0, i] * X[i, k]
            start = value[j]
            best = start
            best_u[:] = U[:, j]
            best_h[:] = H[j]
            for which in range(2):  # along the gradient, then along a random direction
                if which == 1:
                    r[:] = randoms[it, :, j]
                source = g if which == 0 else r
                along, scale = 0.0, 0.0
                for k in range(d):
                    along += source[k] * U[k, j]
                    scale += source[k] * source[k]
                norm = 0.0
                for k in range(d):
                    tangent[which, k] = source[k] - along * U[k, j]
                    norm += tangent[which, k] * tangent[which, k]
                norm = math.sqrt(norm)
                if not norm > 1e-12 * math.sqrt(scale):
                    continue  # parallel to u: the circle is a point
                for k in range(d):
                    tangent[which, k] /= norm
                for i in range(n):
                    a[0, i] = H[j, i]
                    total = 0.0
                    for k in range(d):
                        total += X[i, k] * tangent[which, k]
                    b[0, i] = total
                _breakpoints(a, b, lam_j, ex, ey, key, dC, dS, C0, S0)
                order = np.argsort(key[0]).reshape(1, n)
                _sweep(order, ex, ey, dC, dS, C0, S0, t, top)
                cos_t, sin_t = math.cos(t[0]), math.sin(t[0])
                norm = 0.0
                for k in range(d):
                    c[k] = cos_t * U[k, j] + sin_t * tangent[which, k]
                    norm += c[k] * c[k]
                norm = math.sqrt(norm)
                if norm > 0:
                    for k in range(d):
                        c[k] /= norm
                candidate = 0.0  # re-evaluated, not trusted from the segments
                for i in range(n):
                    total = 0.0
                    for k in range(d):
                        total += X[i, k] * c[k]
                    hc[i] = total
                    if total > 0:
                        candidate += lam_j[0, i] * total
                evaluated += 1
                if candidate > best + progress * max(abs(best), 1e-300):
                    best = candidate
                    best_u[:] = c
                    best_h[:] = hc
            U[:, j] = best_u
            H[j] = best_h
            value[j] = best
            idle[j] = 0 if best > start else idle[j] + 1
    return evaluated


@njit(cache=True, nogil=True)
def off_hyperplanes(Xa, U, signs, tie, nudge):
    """The moves of :func:`convexnn.oracle._off_hyperplanes`, in place on the unit columns of
    ``U`` (d, m), ``signs`` (n, m) the +-1 sides their patterns give the rows: per column with
    rows tied within ``tie`` (relative), the least-norm step (``lstsq``, NumPy's default
    cutoff) that puts them ``min(nudge, half the smallest other margin)`` on their sides, kept
    if every row then has its side strictly. (In NumPy, one ``lstsq`` and a dozen array
    operations per column took 7 ms of keel:wine's 30 ms oracle calls, measured.)"""
    n, d = Xa.shape
    norms = np.empty(n)
    for i in range(n):
        norms[i] = math.sqrt(np.dot(Xa[i], Xa[i]))
    margins = np.dot(Xa, U)  # then divided by the rows' norms: signed distances
    for i in range(n):
        if norms[i] > 0:
            margins[i] /= norms[i]
    moved = np.empty(d)
    for j in range(U.shape[1]):
        tied, clearance = 0, nudge
        for i in range(n):
            if norms[i] > 0:
                if abs(margins[i, j]) <= tie:
                    tied += 1
                else:
                    clearance = min(clearance, 0.5 * abs(margins[i, j]))
        if tied == 0:
            continue
        A, target = np.empty((tied, d)), np.empty(tied)
        row = 0
        for i in range(n):
            if norms[i] > 0 and abs(margins[i, j]) <= tie:
                A[row] = Xa[i]
                target[row] = (signs[i, j] * clearance - margins[i, j]) * norms[i]
                row += 1
        step = np.linalg.lstsq(A, target, rcond=np.finfo(np.float64).eps * max(tied, d))[0]
        for k in range(d):
            moved[k] = U[k, j] + step[k]
        moved /= math.sqrt(np.dot(moved, moved))
        strict = True
        for i in range(n):
            if norms[i] > 0 and not signs[i, j] * np.dot(Xa[i], moved) > 0:
                strict = False
                break
        if strict:
            U[:, j] = moved
