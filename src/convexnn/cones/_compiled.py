"""Cone projections compiled per group, with each group's Cholesky factor kept between calls.

The problem is the one of :mod:`._torch`: for a group with column ``v0`` and signs ``s`` the
projection onto ``K = {v : s_i x_i^T v >= 0}`` is ``p = v0 + sum_i a_i b_i`` with the signed rows
``b_i = s_i x_i`` and

    a = argmin_{a >= 0} ||v0 + sum_i a_i b_i||.                                          (NNLS)

Lawson-Hanson keeps a passive set ``P`` and solves on it the normal equations
``(G_P + r I) a_P = -B_P^T v0`` with the Gram matrix ``G_P[j, l] = b_j^T b_l`` and a tiny ridge
``r``. The torch projector re-gathers and re-factors ``G_P`` at every step, batched over groups
with many small launches. Here every group runs through compiled code (numba, one group after
the other, the groups of a call split over threads), and keeps its passive set and the
Cholesky factor ``L L^T = G_P + r I`` across calls: a constraint entering appends a row to
``L`` (one forward substitution), one leaving is deleted by a sweep of Givens rotations, a
solve is two triangular substitutions; O(m^2) work each instead of an O(m^3) factorization.
The factor is valid for a passive set whatever ``v0`` is, so a warm start whose passive set is
the one kept (the usual case in ADMM) costs one solve. The search for each group's most
violated constraint, ``max_i -s_i x_i^T p`` over all ``n`` rows, is one matrix product (BLAS)
of the unfinished points of ``BLOCK`` groups with ``X^T`` per outer step, scanned while it is
in cache. A group whose point has moved less than the slack of the constraints it verified
last (all but the ``NEAR_ROWS`` tightest, which are checked one by one) is verified without
that product: in ADMM's later iterations, nearly every group (digits, program (8), iteration
300: 1,775 of 1,818 groups). With the bound's ``B a`` reused as the first pass's move, a late
projection of digits' 2,000 groups took 13.7 ms instead of 24-25 ms on two threads (measured).

The factors are computed in float64 whatever the data's dtype; the tolerances of the
constraints are the ones of :class:`._torch.ConeProjector` for that dtype.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# the BLAS that numba's np.dot calls, loaded now so that _SerialBLAS's controller finds it
import scipy.linalg.cython_blas  # noqa: F401
import torch
from numba import njit
from threadpoolctl import ThreadpoolController

from ._nnls import cone_multipliers
from ._state import ProjectorState

__all__ = ["CompiledConeProjector", "cholesky"]

#: passive rows kept beyond ``d`` (Lawson-Hanson's passive rows are linearly independent, so
#: there are at most ``rank X <= d`` of them up to rounding); a group that needs more is
#: finished by the dense NNLS (exact projections) or stops (truncated ones)
EXTRA_CAPACITY = 8
#: ridge ``r`` of the kept factors, relative to the largest squared row norm of ``X``
RIDGE = 1e-13
#: groups of a call below which it runs on one thread (a thread hand-off costs more)
THREAD_MIN_GROUPS = 64
#: groups per product ``P X^T`` of a compiled pass (its result stays in cache)
BLOCK = 64
#: parts per thread of a split call (:func:`_map`)
TASKS_PER_THREAD = 16
#: rows per group whose slack is checked one by one when a projection is verified without
#: the product ``X p`` (:func:`_screened`)
NEAR_ROWS = 16
#: a call records the slacks of the groups it verifies by a product (an O(n) pass each, as
#: much as the product itself at d = 9) while the last call verified at least this fraction
#: of its projected groups without one, and else every ``PROBE_EVERY`` calls: the neuron
#: search's short solves, whose points move past their radii, paid 3-4 % for records they
#: never used (keel:pima and keel:vehicle default fits, measured)
SCREEN_RATE = 0.25
PROBE_EVERY = 8
#: ... and only with at least this many columns of ``X``: a record's pass costs about what the
#: product it saves costs at d = 9 and 19 (keel:pima and keel:vehicle default fits took the
#: same time with and without, screening 57 % and 39 % of their groups), where at d = 31 and
#: 65 the saved products won (program (8): breast_cancer's solve 5-7 % faster, digits'
#: projections 9 %; measured)
SCREEN_MIN_FEATURES = 24

DONE, STEPPED, STUCK, SKIPPED, SCREENED = 0, 1, 2, 3, 4
#: sums may be reordered (vectorized); no other fast-math liberty (NaN tests stay meaningful);
#: the options of every compiled kernel of the solvers (:mod:`convexnn.solvers._fused` too)
_JIT = {"cache": True, "nogil": True, "fastmath": {"reassoc", "contract"}}


# --------------------------------------------------------------------- packed Cholesky factors
@njit(**_JIT)
def _row(i):
    """Offset of row ``i`` of a lower-triangular factor stored packed by rows."""
    return i * (i + 1) // 2


@njit(**_JIT)
def _dot(X, i, j):
    """``x_i^T x_j`` of two rows of ``X``."""
    total = 0.0
    for c in range(X.shape[1]):
        total += X[i, c] * X[j, c]
    return total


@njit(**_JIT)
def _append(F, act, m, X, s, i, ridge):
    """Add row ``i`` as the last passive entry ``m``; returns ``m + 1``.

    The bordered matrix ``[[G_P + r I, g], [g^T, b_i^T b_i + r]]`` with ``g_j = b_j^T b_i`` is
    factored by the new last row ``(l, lam)`` of ``L``: ``L l = g`` and
    ``lam^2 = b_i^T b_i + r - l^T l`` (the Schur complement, at least ``r`` in exact
    arithmetic; rounding is clamped there).
    """
    base = _row(m)
    norm2 = 0.0
    for j in range(m):
        value = s[i] * s[act[j]] * _dot(X, i, act[j])
        off = _row(j)
        for c in range(j):
            value -= F[off + c] * F[base + c]
        value /= F[off + j]
        F[base + j] = value
        norm2 += value * value
    F[base + m] = np.sqrt(max(_dot(X, i, i) + ridge - norm2, ridge))
    act[m] = i
    return m + 1


@njit(**_JIT)
def _delete(F, act, m, k, values, rhs):
    """Remove passive entry ``k`` (row and column ``k`` of ``G_P``); returns ``m - 1``.

    Dropping row ``k`` of ``L`` leaves rows ``k+1..`` with one entry above the diagonal; the
    Givens rotation of columns ``(c, c+1)`` that zeroes row ``c+1``'s, for ``c = k..m-2``,
    keeps ``L L^T`` and makes the factor lower triangular again (its last column is then zero
    and dropped). ``values`` and ``rhs``, aligned with ``act``, lose entry ``k`` too.
    """
    for c in range(k, m - 1):
        off = _row(c + 1)
        x, y = F[off + c], F[off + c + 1]
        rho = np.hypot(x, y)
        cos, sin = x / rho, y / rho
        for r in range(c + 1, m):
            o = _row(r)
            u, w = F[o + c], F[o + c + 1]
            F[o + c] = cos * u + sin * w
            F[o + c + 1] = cos * w - sin * u
    for r in range(k + 1, m):  # rows move up by one: packed offsets shrink by r
        src, dst = _row(r), _row(r - 1)
        for c in range(r):
            F[dst + c] = F[src + c]
    for j in range(k, m - 1):
        act[j], values[j], rhs[j] = act[j + 1], values[j + 1], rhs[j + 1]
    return m - 1


@njit(**_JIT)
def _substitute(F, m, rhs, out):
    """``(L L^T) out = rhs``: forward substitution, then backward by columns of ``L^T``."""
    for i in range(m):
        off = _row(i)
        value = rhs[i]
        for c in range(i):
            value -= F[off + c] * out[c]
        out[i] = value / F[off + i]
    for i in range(m - 1, -1, -1):
        off = _row(i)
        out[i] /= F[off + i]
        for c in range(i):
            out[c] -= F[off + c] * out[i]


@njit(**_JIT)
def _solve(F, m, rhs, out, ridge):
    """``G_P out = rhs`` through the ridged factor, with the ridge's bias corrected once.

    ``s0 = (G_P + r I)^{-1} rhs`` is off by about ``r / lambda_min(G_P)`` (relative); since
    ``rhs - G_P s0 = r s0``, one step of iterative refinement is ``out = s0 + r (G_P + r I)^{-1}
    s0``, which squares that error at the cost of one more pair of substitutions. (``rhs =
    -B_P^T v0`` lies in the range of ``G_P``, so nothing grows along its null space when rows
    are dependent.)
    """
    _substitute(F, m, rhs, out)
    delta = np.empty(m)
    for j in range(m):
        delta[j] = ridge * out[j]
    _substitute(F, m, delta, delta)
    for j in range(m):
        out[j] += delta[j]


# --------------------------------------------------------------------- Lawson-Hanson per group
@njit(**_JIT)
def _step_back(F, act, m, X, s, a, v0, ridge):
    """Lawson-Hanson's inner loop on the passive set; returns its new size.

    From multipliers ``a`` >= 0 supported in the passive set, solve the least squares on it;
    while the solution has entries <= 0, move from ``a`` towards it up to the first entry that
    reaches 0 and drop the entries at 0 (entries that just entered at 0 and come out <= 0 are
    simply dropped). ``||v0 + B a||`` never increases, and on return ``a > 0`` exactly on the
    passive set (written back into the group's row ``a``).
    """
    values, rhs, solution = np.empty(m), np.empty(m), np.empty(m)
    for j in range(m):
        values[j] = a[act[j]]
        total = 0.0
        for c in range(X.shape[1]):
            total += X[act[j], c] * v0[c]
        rhs[j] = -s[act[j]] * total
    while m > 0:
        _solve(F, m, rhs, solution, ridge)
        step, first, fresh, top = 1.0, -1, False, 0.0
        for j in range(m):
            if solution[j] <= 0:
                fresh |= values[j] <= 0
                ratio = values[j] / (values[j] - solution[j]) if values[j] > 0 else 0.0
                if first < 0 or ratio < step:
                    step, first = min(ratio, 1.0), j
        if first < 0:
            values[:m] = solution[:m]
            break
        if not fresh:
            for j in range(m):
                values[j] += step * (solution[j] - values[j])
                top = max(top, values[j])
            values[first] = 0.0
        for j in range(m - 1, -1, -1):
            if (fresh and solution[j] <= 0 and values[j] <= 0) or (
                    not fresh and values[j] <= 1e-15 * top):
                a[act[j]] = 0.0
                m = _delete(F, act, m, j, values, rhs)
    for j in range(m):
        a[act[j]] = values[j]
    return m


@njit(**_JIT)
def _move(X, s, a, act, m, out):
    """``out = sum_{j in P} a_j b_j``: the move from ``v0`` to the current point."""
    out[:] = 0.0
    for j in range(m):
        coef = a[act[j]] * s[act[j]]
        for c in range(X.shape[1]):
            out[c] += coef * X[act[j], c]


@njit(**_JIT)
def _sync(F, act, m, X, s, a, ridge):
    """The kept passive set, or a new factor if the multipliers ``a`` were changed outside.

    The kept factor is valid while the support of ``a`` is the kept passive set (the usual
    warm start); otherwise (multipliers zeroed or set by the caller, the NNLS fallback) the
    passive set becomes the support and is factored afresh. Negative entries are zeroed; a
    support beyond the capacity starts cold. Returns ``(m, kept)``.
    """
    support, kept = 0, True
    for i in range(a.shape[0]):
        if a[i] < 0 or a[i] != a[i]:
            a[i] = 0.0
        if a[i] > 0:
            support += 1
    for j in range(m):
        kept &= a[act[j]] > 0
    if kept and support == m:
        return m, True
    if support > act.shape[0]:
        a[:] = 0.0
        return 0, False
    m = 0
    for i in range(a.shape[0]):
        if a[i] > 0:
            m = _append(F, act, m, X, s, i, ridge)
    return m, False


@njit(**_JIT)
def _start_group(F, act, m, X, s, a, v0, ridge, move, moved):
    """A group's first pass: sync the factor, then solve on the warm start's passive set.

    If the warm start is worse than ``a = 0`` (``f(a) = ||v0 + B a||^2 > f(0)``) it is first
    scaled by the best factor ``t = max(0, -v0^T B a / ||B a||^2)``, so that the result is no
    farther from ``P_K v0`` than ``v0`` (as ``f(a) >= ||P_K v0||^2 + ||B (a - a*)||^2``).
    Returns the passive set's size and whether it is a subset of the one at the start of the
    call (kept, nothing left it); ``move`` receives ``B a`` (with ``moved``, it holds it
    already for the kept passive set, :func:`_bound`'s).
    """
    m, kept = _sync(F, act, m, X, s, a, ridge)
    if not (moved and kept):
        _move(X, s, a, act, m, move)
    cross, square = np.dot(v0, move), np.dot(move, move)
    if 2 * cross + square > 0:
        scale = max(0.0, -cross / square)
        for j in range(m):
            a[act[j]] *= scale
    synced = m
    m = _step_back(F, act, m, X, s, a, v0, ridge)
    _move(X, s, a, act, m, move)
    return m, kept and m == synced


@njit(**_JIT)
def _advance_group(F, act, m, X, s, a, v0, product, tol, ridge, move, may_step):
    """One outer Lawson-Hanson step: the most violated constraint at ``p`` enters.

    ``product`` is ``X p`` (scratch: the passive rows are masked in it); the violations are
    ``-s_i x_i^T p`` outside the passive set. Returns ``(status, m)``: ``DONE`` if none
    exceeds ``tol`` (``p`` is the projection), ``STUCK`` if the passive set is full, else
    ``STEPPED`` after the entering row's append and the inner loop (only reported, not taken,
    unless ``may_step``).
    """
    for j in range(m):
        product[act[j]] = np.nan  # compares false: passive rows never enter again
    worst, row = tol, -1
    for i in range(product.shape[0]):
        if -s[i] * product[i] > worst:
            worst, row = -s[i] * product[i], i
    if row < 0:
        return DONE, m
    if not may_step:
        return STEPPED, m
    if m == act.shape[0]:
        return STUCK, m
    m = _append(F, act, m, X, s, row, ridge)
    m = _step_back(F, act, m, X, s, a, v0, ridge)
    _move(X, s, a, act, m, move)
    return STEPPED, m


@njit(**_JIT)
def _record(point, product, s, inverse, ref, near):
    """Keep what lets a later call verify this group without a product (:func:`_screened`):
    the verified point ``ref``, the ``NEAR_ROWS`` rows outside the passive set (NaN in
    ``product = X point``) of least normalized slack ``s_i x_i^T point / ||x_i||`` in ``near``,
    and the next slack (infinite when no row is left), returned with the count of rows kept.
    ``inverse`` holds the ``1 / ||x_i||``, infinite for rows of zero norm: their product is
    zero, so their slack is NaN: they are not kept, nor rows of sign 0 (never violated)."""
    size = near.shape[0]
    values = np.empty(size + 1)
    rows = np.empty(size + 1, dtype=np.int64)
    count = 0
    for i in range(product.shape[0]):
        value = s[i] * product[i] * inverse[i]
        if value != value or s[i] == 0:
            continue
        if count == size + 1:
            if value >= values[size]:
                continue
            count -= 1
        j = count  # insertion into the sorted buffer
        while j > 0 and values[j - 1] > value:
            values[j], rows[j] = values[j - 1], rows[j - 1]
            j -= 1
        values[j], rows[j] = value, i
        count += 1
    ref[:] = point
    kept = min(count, size)
    near[:kept] = rows[:kept]
    return kept, values[size] if count == size + 1 else np.inf


@njit(**_JIT)
def _screened(X, s, point, ref, near, count, radius, tol):
    """Whether no constraint outside the passive set is violated by more than ``tol`` at
    ``point``, proven without the product ``X point``: the rows kept by :func:`_record` are
    checked one by one, and every other row's slack was at least ``radius ||x_i||`` at
    ``ref``, so it is non-negative while ``||point - ref|| <= radius`` (Cauchy-Schwarz). Valid
    while the passive set is a subset of the one at ``ref``."""
    distance = 0.0
    for c in range(X.shape[1]):
        distance += (point[c] - ref[c]) ** 2
    if not np.sqrt(distance) <= radius:
        return False
    for j in range(count):
        i = near[j]
        total = 0.0
        for c in range(X.shape[1]):
            total += X[i, c] * point[c]
        if -s[i] * total > tol:
            return False
    return True


@njit(**_JIT)
def _project_block(block, X, signs, k, A, columns, V0, tols, factors, active, counts, ridge,
                   moves, moved, budget, verify, status, screen):
    """Lawson-Hanson for the groups ``columns[block]``: the first pass, then up to ``budget``
    outer steps (and with ``verify`` one more search that takes no step), each after one
    product ``P X^T`` of the block's unfinished points. ``status[t]`` ends ``DONE`` where the
    projection is verified (``SCREENED`` where without a product), ``STUCK`` where the passive
    set is full, else ``STEPPED``; ``moves`` receive the moves ``B a`` (with ``moved`` they
    hold them already for the kept passive sets).

    ``screen`` holds ``(1 / ||x_i||, refs, near, counts, radii, record)``, per group what
    :func:`_record` kept at its last verification by a product (a radius of -1: none valid;
    only recorded with ``record``); a group that :func:`_screened` verifies after its first
    pass skips the products."""
    inverse, refs, near, nearby, radius, record = screen
    point = np.empty(X.shape[1])
    live, size = block.copy(), 0
    for t in block:
        g = columns[t]
        counts[g], kept = _start_group(factors[g], active[g], counts[g], X, signs[g // k], A[g],
                                       V0[t], ridge, moves[t], moved)
        if not kept:  # a row left the passive set: its slack was never recorded
            radius[g] = -1.0
        status[t] = STEPPED
        if budget + verify > 0 and radius[g] >= 0:
            for c in range(X.shape[1]):
                point[c] = V0[t, c] + moves[t, c]
            if _screened(X, signs[g // k], point, refs[g], near[g], nearby[g], radius[g],
                         tols[t]):
                status[t] = SCREENED
                continue
        live[size] = t
        size += 1
    for step in range(budget + verify):
        if size == 0:
            break
        points = np.empty((size, X.shape[1]))
        for u in range(size):
            points[u] = V0[live[u]] + moves[live[u]]
        products = np.dot(points, X.T)
        kept = 0
        for u in range(size):
            t = live[u]
            g = columns[t]
            status[t], counts[g] = _advance_group(
                factors[g], active[g], counts[g], X, signs[g // k], A[g], V0[t], products[u],
                tols[t], ridge, moves[t], step < budget)
            if status[t] == DONE and record:
                nearby[g], radius[g] = _record(points[u], products[u], signs[g // k],
                                               inverse, refs[g], near[g])
            elif status[t] != DONE:
                radius[g] = -1.0
            if status[t] == STEPPED:
                live[kept] = t
                kept += 1
        size = kept


@njit(**_JIT)
def _project(todo, block, X, signs, k, A, columns, V0, tols, factors, active, counts, ridge,
             moves, moved, budget, verify, status, screen):
    """:func:`_project_block` for the groups ``columns[todo]``, ``block`` groups at a time (so
    that each block's products stay in cache)."""
    for start in range(0, todo.shape[0], block):
        _project_block(todo[start:start + block], X, signs, k, A, columns, V0, tols, factors,
                       active, counts, ridge, moves, moved, budget, verify, status, screen)


@njit(**_JIT)
def _bound(g, X, signs, k, A, active, counts, points, move):
    """``||v_g + sum_{j in P_g} a_gj b_gj||`` with the kept passive set of group ``g``
    (``points`` (groups, d) holds the ``v_g``; ``move`` receives the sum, :func:`_move`'s
    result): O(m d), where the dense ``X^T (S * A)`` costs O(n d). Its own loop, not a call
    of :func:`_move` on the group's rows: so written, digits' program (8) took 25.2-25.8 s
    instead of 27.3-27.4 (two threads, alternated runs, measured)."""
    s = signs[g // k]
    move[:] = 0.0
    for j in range(counts[g]):
        i = active[g, j]
        coef = A[g, i] * s[i]
        for c in range(X.shape[1]):
            move[c] += coef * X[i, c]
    total = 0.0
    for c in range(X.shape[1]):
        total += (points[g, c] + move[c]) ** 2
    return np.sqrt(total)


@njit(**_JIT)
def _prox_groups(todo, block, X, signs, k, A, points, threshold, precision, row_norm, factors,
                 active, counts, ridge, budget, verify, out, status, screen):
    """ADMM's cone prox for the groups ``todo`` (rows of ``points``): zero (status
    ``SKIPPED``) where the kept passive set's bound or the point's norm is at most
    ``threshold``; else the Lawson-Hanson projection (:func:`_project`, its status kept, the
    bound's move its first), soft-thresholded by ``threshold``, into ``out``."""
    d = X.shape[1]
    cols = np.empty(todo.shape[0], dtype=np.int64)
    moves = np.empty((todo.shape[0], d))
    m = 0
    for g in todo:
        bound = min(_bound(g, X, signs, k, A, active, counts, points, moves[m]),
                    np.sqrt(np.dot(points[g], points[g])))
        if bound > threshold:
            cols[m] = g
            m += 1
        else:
            out[g] = 0.0
            status[g] = SKIPPED
    cols, moves = cols[:m], moves[:m]
    v0 = np.empty((m, d))
    tols = np.empty(m)
    for t in range(m):
        v0[t] = points[cols[t]]
        tols[t] = precision * row_norm * np.sqrt(np.dot(v0[t], v0[t]))
    stepped = np.empty(m, dtype=np.int64)
    _project(np.arange(m), block, X, signs, k, A, cols, v0, tols, factors, active, counts,
             ridge, moves, True, budget, verify, stepped, screen)
    for t in range(m):
        g = cols[t]
        norm = 0.0
        for c in range(d):
            out[g, c] = v0[t, c] + moves[t, c]
            norm += out[g, c] * out[g, c]
        scale = max(0.0, 1.0 - threshold / max(np.sqrt(norm), 1e-300))
        for c in range(d):
            out[g, c] *= scale
        status[g] = stepped[t]


@njit(**_JIT)
def _group_moves(todo, X, signs, k, A, out):
    """``out[g] = X^T (s_g * a_g)`` for the groups ``todo``, from the nonzero multipliers of
    ``A`` (wherever the caller set them): O(n + m d) a group, where the dense product costs
    O(n d)."""
    for g in todo:
        s = signs[g // k]
        out[g] = 0.0
        for i in range(A.shape[1]):
            if A[g, i] != 0:
                coef = A[g, i] * s[i]
                for c in range(X.shape[1]):
                    out[g, c] += coef * X[i, c]


# --------------------------------------------------------------------------------- threads
_POOL: list = [None, None, 0]  # [executor, the process that made it, its threads]
_POOL_LOCK = threading.Lock()


def _executor(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``threads`` threads (made anew after a fork or a resize)."""
    with _POOL_LOCK:
        pool, pid, size = _POOL
        if pool is None or pid != os.getpid() or size != threads:
            if pool is not None and pid == os.getpid():
                pool.shutdown(wait=False)
            _POOL[:] = [ThreadPoolExecutor(threads, thread_name_prefix="convexnn-cones"),
                        os.getpid(), threads]
        return _POOL[0]


class _SerialBLAS:
    """A context in which the BLAS libraries loaded at its first use (the compiled kernels'
    products go through SciPy's, ``scipy.linalg.cython_blas``, imported with this module: the
    controller sees only the libraries loaded when it is made) run on one thread; nested and
    concurrent entries share one limit, lifted when the last one exits.

    The kernels of a call split over threads each call BLAS; at its default of one thread per
    core every call then also forks, and on the 2-core machine one projection of digits' 2,000
    groups took 77-84 ms on two threads against 73 on one; with BLAS on one thread, 43 ms
    (measured)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users, self._limiter, self._controller = 0, None, None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                if self._controller is None:  # after the kernels' BLAS is loaded (SciPy's)
                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()


_SERIAL_BLAS = _SerialBLAS()

#: ``omp_pause_soft`` of OpenMP 5.0's ``omp_pause_resource_t``
OMP_PAUSE_SOFT = 1


@functools.cache
def _openmp_pauses() -> tuple:
    """``omp_pause_resource_all`` of each OpenMP library loaded (torch's), where it has one."""
    pauses = []
    for library in ThreadpoolController().select(user_api="openmp").lib_controllers:
        try:
            pause = ctypes.CDLL(library.filepath).omp_pause_resource_all
        except (OSError, AttributeError):
            continue
        pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
        pauses.append(pause)
    return tuple(pauses)


def _release_openmp() -> None:
    """Let the OpenMP threads of this thread's parallel regions (torch's) go
    (``omp_pause_resource_all``, a soft pause): torch's next parallel region starts them
    again.

    After a parallel region, GNU OpenMP's threads spin before they sleep: after digits'
    ``(1797 x 65) @ (65 x 2000)`` product on two threads, they burnt 11-14 ms of CPU on the
    second core; released, none (starting them again took 0.15 ms; measured). A split call
    right after torch's work lost that time on its pool's thread."""
    for pause in _openmp_pauses():
        pause(OMP_PAUSE_SOFT)


@njit(**_JIT)
def _cholesky(A):
    return np.linalg.cholesky(A)


def cholesky(A: torch.Tensor) -> torch.Tensor:
    """The lower Cholesky factor of ``A`` (symmetric positive definite, on the CPU), by LAPACK
    from compiled code, BLAS on one thread.

    Compiled, the call releases the GIL (SciPy's LAPACK wrapper holds it: two threads took
    twice as long as one for the same factorizations), and LAPACK is SciPy's, which on this
    machine factored 20-30 % faster than torch's from n = 800 on one thread (n = 1,504: 34
    against 46 ms; measured)."""
    with _SERIAL_BLAS:
        return torch.from_numpy(_cholesky(A.detach().numpy()))


def _map(kernel, todo: np.ndarray, *shared) -> None:
    """``kernel(part, *shared)`` over the parts of ``todo``, on up to
    ``torch.get_num_threads()`` threads, this one included (the kernels release the GIL), BLAS
    then on one thread each.

    The parts (about ``TASKS_PER_THREAD`` per thread) are taken in turn by whichever thread is
    free, not dealt out beforehand: a thread that starts late runs fewer of them. Right after
    torch's own parallel work, its OpenMP threads spin for a few milliseconds on the cores
    that this pool's threads wake on (so they are released first, :func:`_release_openmp`);
    with one half each and no release, digits' projections (2,000 groups, two threads)
    waited a mean 10 ms of 40 for the pool's half (measured)."""
    threads = torch.get_num_threads()
    parts = min(threads, max(todo.size // THREAD_MIN_GROUPS, 1))
    if parts <= 1:
        kernel(todo, *shared)
        return
    size = max(THREAD_MIN_GROUPS, -(-todo.size // (parts * TASKS_PER_THREAD)))
    tasks = iter(range(0, todo.size, size))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                start = next(tasks, None)
            if start is None:
                return
            kernel(todo[start:start + size], *shared)

    pool = _executor(threads - 1)
    _release_openmp()
    with _SERIAL_BLAS:
        jobs = [pool.submit(work) for _ in range(parts - 1)]
        try:
            work()
        finally:
            for job in jobs:
                job.result()


# ------------------------------------------------------------------------------- projector
class CompiledConeProjector(ProjectorState):
    """:class:`._torch.ConeProjector`'s interface on the CPU, compiled per group, factors kept.

    Parameters
    ----------
    X : Tensor of shape (n, d), on the CPU, float32 or float64
    signs : Tensor of shape (n, Q)
        ``S_q = 2 D_q - 1`` per group (column ``q``, shared by the ``k`` outputs).
    k : int
        Number of outputs (groups are ``(q, c)``, flattened to ``q k + c``).
    max_steps : int
        Lawson-Hanson outer steps of an exact projection before the dense NNLS fallback
        (:func:`convexnn.cones.nnls`).

    Each group keeps its passive rows (``capacity = min(n, d + EXTRA_CAPACITY)`` at most) and
    their packed factor, ``capacity (capacity + 1) / 2`` float64 numbers; the store is
    zero-allocated, so memory is only committed for the groups that get projected. Per group
    it also keeps its last point verified by a product with ``NEAR_ROWS`` rows and a radius,
    which verify it later without one (:func:`_screened`); :attr:`screened` counts the groups
    of the last call verified so.
    """

    def __init__(self, X: torch.Tensor, signs: torch.Tensor, k: int, max_steps: int = 200):
        self.X, self.max_steps = X, max_steps
        self._signs = signs.detach().T.repeat_interleave(k, dim=0).contiguous().to(X.dtype)
        self.row_norm = float(torch.linalg.vector_norm(X, dim=1).max()) if X.shape[0] else 0.0
        #: relative accuracy of the constraints: 1e-13 in float64, what the dtype resolves
        #: otherwise (the arithmetic is float64 in any case)
        self.precision = max(1e-13, 100 * torch.finfo(X.dtype).eps)
        self._a = torch.zeros_like(self._signs)  # NNLS solutions of the last projections
        self._X64 = X.detach().to(torch.float64).contiguous()
        #: the signs of each pattern (Q, n) for the kernels: int8 when they are all -1, 0, 1
        pattern_signs = signs.detach().T.contiguous()
        small = bool(torch.all((pattern_signs == 1) | (pattern_signs == -1) | (pattern_signs == 0)))
        self._kernel_signs = pattern_signs.to(torch.int8 if small else torch.float64).numpy()
        self._k = k
        groups, n = self._signs.shape
        capacity = self._capacity(n, X.shape[1])
        self._active = np.zeros((groups, capacity), dtype=np.int64)
        self._counts = np.zeros(groups, dtype=np.int64)
        self._factors = np.zeros((groups, capacity * (capacity + 1) // 2))
        self._ridge = RIDGE * max(self.row_norm ** 2, np.finfo(np.float64).tiny)
        #: what verifies a group without a product (:func:`_project_block`'s ``screen``,
        #: less its last entry, whether the call records: :meth:`_screening`)
        with np.errstate(divide="ignore"):
            inverse = 1 / np.linalg.norm(self._X64.numpy(), axis=1)
        self._screen = (inverse,
                        np.zeros((groups, X.shape[1])),
                        np.zeros((groups, min(NEAR_ROWS, n)), dtype=np.int64),
                        np.zeros(groups, dtype=np.int64), np.full(groups, -1.0))
        self.screened, self._calls, self._recording = 0, 0, True

    @staticmethod
    def _capacity(n: int, d: int) -> int:
        return max(min(n, d + EXTRA_CAPACITY), 1)

    @classmethod
    def store_bytes(cls, n: int, d: int, groups: int) -> int:
        """Bytes of the kept factors of ``groups`` groups (committed only where touched)."""
        capacity = cls._capacity(n, d)
        return groups * capacity * (capacity + 1) // 2 * 8

    def __call__(self, V0: torch.Tensor, columns: torch.Tensor, margins: torch.Tensor,
                 steps: int | None = None) -> torch.Tensor:
        """``V0`` (d, Q, k) with the flattened groups ``columns`` (distinct) projected onto
        their cones.

        ``margins`` (n, Q k), the constraint values ``S * (X V0)``, are part of the interface
        only: the violations are recomputed in float64 from the points. With ``steps`` the
        Lawson-Hanson iteration is cut after that many steps (closer to the cone, never
        farther; no fallback); by default the projection is exact.
        """
        d = self.X.shape[1]
        flat = V0.detach().reshape(d, -1).clone()
        if columns.numel() > 0:
            cols = columns.detach().cpu().numpy().astype(np.int64)
            v0 = flat[:, columns].T.to(torch.float64).contiguous().numpy()
            moves = self._lawson_hanson(v0, cols, steps)
            flat[:, columns] += torch.from_numpy(moves).T.to(flat.dtype)
        return flat.reshape(V0.shape)

    def prox(self, V0: torch.Tensor, threshold: float, steps: int | None = None) -> torch.Tensor:
        """The prox of ``threshold ||.|| + I_K`` of every group of ``V0`` (d, Q, k): the group
        soft-thresholding of its projection, zero without projecting where the bound
        ``||v + B a||`` over the kept passive set (or the point's norm) is at most
        ``threshold``; ``steps`` as in :meth:`__call__`.

        What ADMM's ``ConeProx`` computes from ``bounds``, :meth:`__call__` and
        ``group_soft_threshold`` for any projector, in one compiled call: around three calls,
        the dozen tensor operations in between took a third of a small program's iteration
        (60 x 3 points, cross-entropy, 36 patterns: 0.33 ms of 0.9 ms, measured)."""
        d = V0.shape[0]
        points = V0.detach().reshape(d, -1).T.to(torch.float64).contiguous().numpy()  # (G, d)
        out = self.prox_points(points, threshold, steps)
        return torch.from_numpy(out.T).to(V0.dtype).reshape(V0.shape)

    def prox_points(self, points: np.ndarray, threshold: float,
                    steps: int | None = None) -> np.ndarray:
        """:meth:`prox` on NumPy arrays, group-major: ``points`` (G, d) float64, C-ordered,
        one row per flattened group; returns the prox (G, d)."""
        out = np.empty_like(points)
        status = np.empty(points.shape[0], dtype=np.int64)
        budget, verify = self._budget(steps)
        _map(_prox_groups, np.arange(points.shape[0]), BLOCK, self._X64.numpy(),
             self._kernel_signs, self._k, self._a.numpy(), points, threshold, self.precision,
             self.row_norm, self._factors, self._active, self._counts, self._ridge, budget,
             verify, out, status, self._screening())
        self._count_screened(status)
        if steps is None:
            cols = np.flatnonzero(~np.isin(status, (DONE, SKIPPED, SCREENED)))
            if cols.size:
                v0 = points[cols]
                moves = np.zeros_like(v0)
                self._nnls_fallback(v0, cols, np.arange(cols.size), moves)
                projected = v0 + moves
                norms = np.maximum(np.linalg.norm(projected, axis=1), 1e-300)
                out[cols] = projected * np.maximum(0.0, 1.0 - threshold / norms)[:, None]
        return out

    def _screening(self) -> tuple:
        """The kernels' ``screen`` for this call: recording while the last call verified at
        least ``SCREEN_RATE`` of its groups without a product, and every ``PROBE_EVERY``-th
        call; never with fewer than ``SCREEN_MIN_FEATURES`` columns."""
        self._calls += 1
        wide = self.X.shape[1] >= SCREEN_MIN_FEATURES
        return (*self._screen, wide and (self._recording or self._calls % PROBE_EVERY == 0))

    def _count_screened(self, status: np.ndarray) -> None:
        """Count the groups of a call verified without a product, and decide whether the
        next records."""
        counts = np.bincount(status, minlength=SCREENED + 1)
        self.screened = int(counts[SCREENED])
        self._recording = self.screened >= SCREEN_RATE * (status.size - counts[SKIPPED]) > 0

    def cone_moves(self) -> torch.Tensor:
        """``X^T (s_g * a_g)`` of every group (d, Q k), with ``a_g`` the kept multipliers:
        the dense ``X.T @ (signs * multipliers)`` from each group's nonzero multipliers only
        (digits' 2,000 groups of about 52: 2-3 ms where the dense product and its operands
        took 15-20 ms of a certificate check, measured)."""
        out = np.empty((self._a.shape[0], self.X.shape[1]))
        _map(_group_moves, np.arange(out.shape[0]), self._X64.numpy(), self._kernel_signs,
             self._k, self._a.numpy(), out)
        return torch.from_numpy(out.T).to(self.X.dtype)

    def _budget(self, steps: int | None) -> tuple[int, int]:
        """``(outer steps, verifying searches)`` of a call: exact projections (``steps`` None)
        take up to ``max_steps`` and verify the groups of the last step before the dense NNLS
        fallback; truncated ones take ``steps`` and verify nothing."""
        return (self.max_steps, 1) if steps is None else (steps, 0)

    def _lawson_hanson(self, v0: np.ndarray, cols: np.ndarray, steps: int | None) -> np.ndarray:
        """Lawson-Hanson for the groups ``cols`` at the points ``v0`` (G, d), warm started;
        returns the moves ``B a`` (G, d) to the projections."""
        tols = self.precision * self.row_norm * np.linalg.norm(v0, axis=1)
        moves = np.zeros_like(v0)
        status = np.empty(cols.size, dtype=np.int64)
        budget, verify = self._budget(steps)
        _map(_project, np.arange(cols.size), BLOCK, self._X64.numpy(), self._kernel_signs,
             self._k, self._a.numpy(), cols, v0, tols, self._factors, self._active,
             self._counts, self._ridge, moves, False, budget, verify, status,
             self._screening())
        self._count_screened(status)
        if steps is None:
            self._nnls_fallback(v0, cols, np.flatnonzero(~np.isin(status, (DONE, SCREENED))),
                                moves)
        return moves

    def _nnls_fallback(self, v0, cols, unfinished, moves):
        """The dense NNLS (:func:`convexnn.cones.nnls`) for the groups that did not finish (the
        kept factor is rebuilt from the new multipliers at the next call)."""
        X, groups = self._X64.numpy(), torch.from_numpy(cols[unfinished])
        signs = self._signs[groups].double().numpy()
        self._a[groups] = torch.from_numpy(cone_multipliers(X, signs, v0[unfinished])).to(
            self._a.dtype)
        moves[unfinished] = (signs * self._a[groups].double().numpy()) @ X
