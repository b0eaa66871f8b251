"""Non-negative least squares, ``min_{x >= 0} ||A x - b||``, by Lawson & Hanson's active set.

The library's one dense NNLS for single problems: the exact cone maximum of one group
(:func:`convexnn._duality.cone_maximum`), the cone projections' last resort, the gated split's
least-distance programs and the vertex neurons of the JMLR paper's Lemma 7. SciPy's
``scipy.optimize.nnls`` is not used: since its 1.15 rewrite it can return a point that is not
the minimizer with an ``rnorm`` that is not its residual (scipy/scipy#25389). With SciPy 1.17.1
it did so on one group of a 6-sample program, where it overstated the group's dual constraint by
14 % (``tests/test_nnls.py`` keeps that instance), and the cutting-plane method then reported
spike-free data as not spike-free.

The algorithm is Lawson & Hanson's (*Solving Least Squares Problems*, 1974, ch. 23): move the
column with the largest dual value ``w_j = a_j^T (b - A x)`` into the passive set, solve the
unconstrained least squares on it, and step back along the segment to the first point that is
feasible when that solution has non-positive entries. Each least squares is a fresh SVD-based
``lstsq`` on the passive columns (at most rank ``A`` of them: a few dozen here), with no updated
factor, so rounding does not accumulate. It stops when no column has ``w_j`` above a tolerance
of rounding size, which is the problem's optimality condition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cone_multipliers", "nnls"]

#: outer steps per column of ``A`` before giving up (the algorithm needs about the number of
#: positive entries of the solution; Lawson & Hanson's own limit is ``3 n``)
STEPS_PER_COLUMN = 3


def nnls(A, b, *, max_iter: int | None = None) -> tuple[np.ndarray, float]:
    """``argmin_{x >= 0} ||A x - b||`` and its residual norm.

    Parameters
    ----------
    A : array-like of shape (m, n)
    b : array-like of shape (m,)
    max_iter : int, optional
        Most outer steps (columns entering the passive set); default ``3 n``. When it is
        reached the current point, feasible but possibly not optimal, is returned.

    Returns
    -------
    x : ndarray of shape (n,)
    rnorm : float
        ``||A x - b||`` of the returned ``x``.
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if A.ndim != 2 or b.shape != (A.shape[0],):
        raise ValueError(f"A must be 2-D and b hold one entry per row of A; got shapes "
                         f"{A.shape} and {b.shape}")
    m, n = A.shape
    max_iter = STEPS_PER_COLUMN * n if max_iter is None else int(max_iter)
    # a dual value below this is rounding: |a_j^T r| <= ||a_j|| ||r|| <= ||A||_1 ||b||
    tol = 10 * np.finfo(np.float64).eps * max(m, n) * max(
        float(np.abs(A).sum(axis=0).max(initial=0.0)) * float(np.linalg.norm(b)),
        np.finfo(np.float64).tiny)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    blocked = np.zeros(n, dtype=bool)  # columns that failed to enter since the last step
    w = A.T @ b
    for _ in range(max_iter):
        candidates = ~passive & ~blocked & (w > tol)
        if not candidates.any():
            break
        j = int(np.argmax(np.where(candidates, w, -np.inf)))
        passive[j] = True
        z = _passive_solution(A, b, passive)
        if z[j] <= 0:  # rounding: the column cannot enter (Lawson & Hanson's step 6 test)
            passive[j], blocked[j] = False, True
            continue
        while np.any(z[passive] <= 0):  # step back to the boundary of the feasible set
            falling = np.flatnonzero(passive & (z <= 0))
            ratios = x[falling] / (x[falling] - z[falling])
            first = int(np.argmin(ratios))
            x += ratios[first] * (z - x)
            x[falling[first]] = 0.0  # the entry that reaches zero first leaves (exactly)
            passive &= x > 0
            x[~passive] = 0.0
            z = _passive_solution(A, b, passive)
        x = z
        blocked[:] = False
        w = A.T @ (b - A @ x)
    return x, float(np.linalg.norm(A @ x - b))


def cone_multipliers(X: np.ndarray, signs: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact multipliers (m, n) of the projections of ``points`` (m, d) onto the cones
    ``{u : signs_j * (X u) >= 0}``: ``argmin_{a >= 0} ||points_j + X^T (signs_j * a)||``, one
    :func:`nnls` per point (the projectors' last resort, for the groups their batched steps
    leave unfinished)."""
    solutions = np.zeros((points.shape[0], X.shape[0]))
    for j in range(points.shape[0]):
        solutions[j], _ = nnls(X.T * signs[j], -points[j])
    return solutions


def _passive_solution(A: np.ndarray, b: np.ndarray, passive: np.ndarray) -> np.ndarray:
    """The least squares solution on the passive columns, zero elsewhere."""
    z = np.zeros(A.shape[1])
    if passive.any():
        z[passive] = np.linalg.lstsq(A[:, passive], b, rcond=None)[0]
    return z
