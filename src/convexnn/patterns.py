"""Activation patterns ``D_i = diag(1[X u >= 0])`` of the data's hyperplane arrangement.

The convex program (8) of Pilanci & Ergen (ICML 2020) has one pair of variable groups per
pattern. This module is the one place that knows how patterns are made:

* :func:`enumerate_patterns` lists *all* patterns exactly (incremental construction of the
  arrangement of the hyperplanes ``{u : x_j^T u = 0}``; each cell is checked by a small LP), so
  the convex program is exactly equivalent to training the ReLU network;
* :func:`sample_patterns` draws patterns from Gaussian directions (as the papers' code does),
  which gives a restriction of (8): its optimum is an upper bound, its network a valid network.

A pattern is stored as a column of a boolean ``(n_samples, n_patterns)`` matrix, together with a
*generator*: a direction ``u`` in the interior of the pattern's cone ``{u : (2 D - I) X u >= 0}``
(used to gate new points, and as witness that the pattern is realised).

A bias is modelled by an appended column of ones (:func:`add_bias`), both here and in the solvers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from math import comb

import numpy as np
from scipy.optimize import linprog

from ._validation import PatternCountWarning, check_matrix, check_n_patterns, check_positive_int

__all__ = [
    "PatternCountWarning",
    "Patterns",
    "add_bias",
    "check_pattern_memory",
    "cover_count",
    "enumerable_patterns",
    "enumerate_patterns",
    "make_patterns",
    "sample_patterns",
]


@dataclass(frozen=True)
class Patterns:
    """A set of activation patterns of a data matrix.

    Attributes
    ----------
    D : ndarray of shape (n_samples, n_patterns), dtype bool
        ``D[j, i]`` is 1 when sample ``j`` is active in pattern ``i``.
    generators : ndarray of shape (n_features, n_patterns)
        A direction ``u_i`` with ``1[X u_i >= 0] = D[:, i]`` for each pattern.
    exact : bool
        True when *every* pattern of the data is present (exact enumeration); only then is the
        convex program equivalent to training the network and a certificate global.
    """

    D: np.ndarray
    generators: np.ndarray
    exact: bool

    def __post_init__(self):
        if self.D.ndim != 2 or self.D.dtype != bool:
            raise ValueError("Patterns.D must be a 2-D boolean array")
        if self.generators.shape[1] != self.D.shape[1]:
            raise ValueError(
                "Patterns.generators must have one column per pattern; got "
                f"{self.generators.shape[1]} columns for {self.D.shape[1]} patterns"
            )

    @property
    def n_patterns(self) -> int:
        return self.D.shape[1]

    @property
    def n_samples(self) -> int:
        return self.D.shape[0]

    def union(self, other: Patterns) -> Patterns:
        """Patterns of ``self`` followed by the patterns of ``other`` that ``self`` lacks."""
        D, G = _unique_columns(
            np.hstack([self.D, other.D]), np.hstack([self.generators, other.generators])
        )
        return Patterns(D, G, exact=self.exact or other.exact)

    def subset(self, index) -> Patterns:
        """The patterns at ``index`` (not exact any more, unless all are kept)."""
        index = np.asarray(index)
        keep_all = np.unique(index).size == self.n_patterns
        return Patterns(self.D[:, index], self.generators[:, index], self.exact and keep_all)


def add_bias(X: np.ndarray) -> np.ndarray:
    """Append a column of ones to ``X`` (the bias of the first layer, regularized with it)."""
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


def cover_count(n_samples: int, rank: int) -> int:
    """Patterns of ``n`` points in general position in rank ``r``: ``2 sum_{k<r} C(n-1, k)``.

    This is Cover's (1965) count of the regions of ``n`` central hyperplanes in general position
    in R^r; for any data it is an upper bound on the number of patterns.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    rank = check_positive_int(rank, "rank")
    return 2 * sum(comb(n_samples - 1, k) for k in range(rank))


def _unique_columns(D: np.ndarray, generators: np.ndarray):
    """Drop repeated columns of ``D``, keeping the first occurrence and the order."""
    packed = np.packbits(D, axis=0)
    _, first = np.unique(packed, axis=1, return_index=True)
    first = np.sort(first)
    return D[:, first], generators[:, first]


def _row_space(X: np.ndarray, rtol: float = 1e-10):
    """Orthonormal basis ``V`` (d, r) of the row space of ``X`` and ``X V`` (n, r)."""
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(s > rtol * max(s[0], np.finfo(float).tiny))) if s.size else 0
    V = Vt[:r].T
    return V, X @ V


def _arc_midpoints(normals: np.ndarray) -> np.ndarray:
    """The angles of the midpoints of the open arcs into which the lines ``n^T w = 0`` (one
    per nonzero row of ``normals``, in 2-D) cut the unit circle; lines closer than rounding
    are one."""
    angles = np.mod(np.arctan2(-normals[:, 0], normals[:, 1]), np.pi)  # each line's two points
    angles = np.unique(np.concatenate([angles, angles + np.pi]))
    gaps = np.diff(np.append(angles, angles[0] + 2 * np.pi))
    keep = gaps > 1e-12
    return angles[keep] + 0.5 * gaps[keep]


def _plane_patterns(Xa: np.ndarray, V: np.ndarray, Z: np.ndarray) -> Patterns:
    """All patterns of data of rank at most 2 (e.g. one feature plus bias), by sorting.

    In the row space (coordinates ``Z = Xa V``) sample ``i`` changes sign where the unit vector
    at angle ``t`` is orthogonal to ``z_i``: at two opposite angles. The cells are the open arcs
    between consecutive distinct breakpoints; an arc's midpoint is an interior generator.
    """
    n, d = Xa.shape
    if V.shape[1] == 0:  # X = 0: every direction gives the all-active pattern
        return Patterns(np.ones((n, 1), bool), np.zeros((d, 1)), exact=True)
    if V.shape[1] == 1:  # a line: the two half-lines
        G = np.hstack([V, -V])
        return Patterns(Xa @ G >= 0, G, exact=True)
    mids = _arc_midpoints(Z[np.linalg.norm(Z, axis=1) > 0])
    G = V @ np.vstack([np.cos(mids), np.sin(mids)])
    D, first = np.unique(Xa @ G >= 0, axis=1, return_index=True)
    return Patterns(D, G[:, first], exact=True)


#: a sample's unit normal within this of a vertex direction is a plane through that vertex
VERTEX_TOL = 1e-12


def _space_patterns(Xa: np.ndarray, V: np.ndarray, Z: np.ndarray) -> Patterns:
    """All patterns of data of rank 3 (e.g. two features plus bias), from the vertices of the
    arrangement, without linear programs.

    On the unit sphere of the row space (coordinates ``Z = Xa V``) each sample's plane
    ``z_i^T u = 0`` is a great circle, and the cells are the regions between the circles. With
    rank 3 the circles do not all pass through one pair of antipodal points, so every region is
    a spherical polygon with a vertex, where two circles cross. Around a vertex ``v`` the
    circles through it are lines through the origin of the tangent plane and the regions there
    are the sectors between consecutive lines (sorted as in :func:`_plane_patterns`); every
    other sample keeps its sign at ``v``, so a short step from ``v`` into a sector is an
    interior generator. Each pattern is read off its generator. O(n^3) arithmetic: the 872
    cells of 30 points in 2-D took 12.5 s by the incremental LPs (8,179 of them), 0.12 s here,
    the same sets (measured, also on gridded and integer data).
    """
    norms = np.linalg.norm(Z, axis=1)
    live = norms > 0  # zero rows are active everywhere
    B = Z[live] / norms[live, None]
    points = []
    for i in range(B.shape[0] - 1):
        crosses = np.cross(B[i], B[i + 1:])
        lengths = np.linalg.norm(crosses, axis=1)
        for j in np.flatnonzero(lengths > VERTEX_TOL):  # parallel planes cross nowhere
            vertex = crosses[j] / lengths[j]
            points.append(_sector_points(B, vertex, i))
            points.append(_sector_points(B, -vertex, i))
    G = V @ np.vstack(points).T  # about four generators per cell: one per vertex of it
    step = max(1, _CHUNK_ENTRIES // max(Xa.shape[0], 1))  # the float products chunk by chunk
    D = np.hstack([Xa @ G[:, start:start + step] >= 0 for start in range(0, G.shape[1], step)])
    D, G = _unique_columns(D, G)
    return Patterns(D, G, exact=True)


def _sector_points(B: np.ndarray, vertex: np.ndarray, on: int) -> np.ndarray:
    """One interior point (rows) of each region around ``vertex``, a unit vector on the plane
    of unit normal ``B[on]`` (and of others)."""
    values = B @ vertex
    through = np.abs(values) <= VERTEX_TOL
    e1 = B[on] - values[on] * vertex
    e1 /= np.linalg.norm(e1)  # in the tangent plane at vertex (orthogonal to it)
    e2 = np.cross(vertex, e1)
    # the lines' normals in the tangent plane
    mids = _arc_midpoints(B[through] @ np.stack([e1, e2], axis=1))
    directions = np.outer(np.cos(mids), e1) + np.outer(np.sin(mids), e2)
    # a step of half the nearest other plane's distance keeps every other sample's sign
    # (|b^T w| <= 1 for unit b and w)
    others = np.abs(values[~through])
    step = 0.5 * others.min() if others.size else 1.0
    return vertex + step * directions


def enumerable_patterns(X: np.ndarray, max_count: int | None = None) -> Patterns | None:
    """All activation patterns of ``X`` where enumerating them is cheap, else None.

    Data of rank at most 2 (one feature plus bias) are enumerated by sorting, at any size
    (:func:`_plane_patterns`); other data by :func:`enumerate_patterns` when Cover's count of
    their distinct rows is at most ``max_count`` (None: always, however many).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The program's data (with its bias column).
    max_count : int, optional

    Returns
    -------
    Patterns with ``exact=True``, or None when Cover's count exceeds ``max_count``.
    """
    V, Z = _row_space(X)
    if V.shape[1] <= 2:  # a plane: its patterns are the arcs between 2n breakpoints, O(n log n)
        return _plane_patterns(X, V, Z)
    bound = cover_count(np.unique(X, axis=0).shape[0], V.shape[1])
    if max_count is not None and bound > max_count:
        return None
    return enumerate_patterns(X, max_patterns=max(bound, 1))


def _interior_point(A: np.ndarray, margin_floor: float):
    """A point ``z`` in ``[-1, 1]^r`` maximizing ``t`` s.t. ``A z >= t``; None if ``t`` is tiny.

    ``A`` holds signed unit-norm rows, so ``t`` is the distance-like margin of the open cone
    ``{z : A z > 0}``; a positive margin proves the cone is full-dimensional.
    """
    m, r = A.shape
    # variables (z, t): maximize t  s.t.  -A z + t <= 0,  -1 <= z <= 1,  t <= 1
    c = np.zeros(r + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A, np.ones((m, 1))])
    bounds = [(-1.0, 1.0)] * r + [(None, 1.0)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(m), bounds=bounds, method="highs")
    if res.status != 0 or -res.fun <= margin_floor:
        return None
    return res.x[:r]


def enumerate_patterns(
    X,
    *,
    max_patterns: int = 20_000,
    margin_floor: float = 1e-9,
) -> Patterns:
    """All activation patterns ``1[X u >= 0]`` over full-dimensional cells ``u``.

    Builds the arrangement of the hyperplanes ``x_j^T u = 0`` one sample at a time, in the row
    space of ``X`` (so rank-deficient data, e.g. 1-D data with a bias column, is handled exactly).
    Every cell carries an interior point; when the next hyperplane is added, a cell is split when
    an LP finds a point of positive margin on the side its interior point is not on. Data of rank
    3 (two features plus bias) are read off the arrangement's vertices instead, without LPs
    (:func:`_space_patterns`).

    Lower-dimensional faces add nothing: for ``u`` on a face, ``(X u)_+ = D X u`` for the pattern
    ``D`` of an adjacent full-dimensional cell whose closed cone contains ``u``. For points in
    general position the count equals :func:`cover_count` (e.g. 92 for n=10, d=3).
    Repeated samples have the same activation in every pattern, so the arrangement is built on
    the distinct samples only (and Cover's count applies to their number).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, with a column of ones appended if the network has a bias.
    max_patterns : int, default=20000
        Refuse (with a clear error) when Cover's bound says the enumeration could exceed this;
        use :func:`sample_patterns` for larger problems.
    margin_floor : float, default=1e-9
        Cells whose largest inscribed margin (rows scaled to unit norm, ``u`` in a unit box) is
        below this are treated as empty (numerically degenerate).

    Returns
    -------
    Patterns
        With ``exact=True``.
    """
    X = check_matrix(X, "X")
    distinct, inverse = np.unique(X, axis=0, return_inverse=True)
    if distinct.shape[0] < X.shape[0]:  # copies of a sample share its row of D
        found = enumerate_patterns(distinct, max_patterns=max_patterns, margin_floor=margin_floor)
        return Patterns(found.D[inverse.ravel()], found.generators, exact=True)
    n = X.shape[0]
    V, Xr = _row_space(X)
    r = V.shape[1]
    if r == 0:  # X == 0: every u gives the all-ones pattern
        return Patterns(np.ones((n, 1), bool), np.zeros((X.shape[1], 1)), exact=True)
    bound = cover_count(n, r)
    if bound > max_patterns:
        raise ValueError(
            f"X has {n} samples of rank {r}: up to {bound} patterns, more than max_patterns="
            f"{max_patterns}; raise max_patterns or use sample_patterns(X, n_samples)"
        )
    if r == 3:
        return _space_patterns(X, V, Xr)
    norms = np.linalg.norm(Xr, axis=1)
    A = np.divide(Xr, norms[:, None], out=np.zeros_like(Xr), where=norms[:, None] > 0)

    # A cell: signs (+1/-1) of the samples processed so far and an interior point z.
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal(r)
    cells: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0), z0 / np.linalg.norm(z0))]
    for j in range(n):
        a = A[j]
        if norms[j] == 0:  # a zero row is active (x^T u = 0 >= 0) in every pattern
            cells = [(np.append(s, 1.0), z) for s, z in cells]
            continue
        new_cells = []
        for signs, z in cells:
            rows = (signs[:, None] * A[:j])[norms[:j] > 0]  # zero rows constrain nothing
            for side in (1.0, -1.0):
                if side * (a @ z) > margin_floor:
                    point = z
                else:
                    point = _interior_point(np.vstack([rows, side * a]), margin_floor)
                if point is not None:
                    new_cells.append((np.append(signs, side), point))
        cells = new_cells

    D = np.array([s > 0 for s, _ in cells]).T
    G = np.array([V @ z for _, z in cells]).T
    D, G = _unique_columns(D, G)
    return Patterns(D, G, exact=True)


#: entries of one chunk of ``X @ G`` when sampling (64 MB of float64)
_CHUNK_ENTRIES = 2**23


def memory_budget() -> int:
    """Bytes a pattern set and its program may take: half of this machine's physical memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume 8 GB
        return 8 * 2**30


def check_pattern_memory(n_samples: int, n_features: int, n_patterns: int, n_outputs: int = 1,
                         *, name: str = "n_patterns") -> None:
    """Refuse, before allocating, a pattern count whose program would not fit in memory.

    Program (8) over ``P`` patterns holds ``D`` (``n x P``, as booleans and as floats) and the
    solvers' ``n x P x k`` pre-activations and residuals (about three such arrays), plus the
    ``d x P x k`` variables: about ``n P (1 + 8 (1 + 3 k)) + 24 d P k`` bytes.
    """
    need = (n_samples * n_patterns * (1 + 8 * (1 + 3 * n_outputs))
            + 24 * n_features * n_patterns * n_outputs)
    budget = memory_budget()
    if need > budget:
        raise ValueError(
            f"{name}={n_patterns} would need about {need / 2**30:.3g} GiB for program (8) on "
            f"{n_samples} samples x {n_features} features x {n_outputs} output(s), more than "
            f"the {budget / 2**30:.3g} GiB allowed (half of this machine's memory); lower "
            f"{name} (the neuron search adds patterns as they are needed)")


def data_point_directions(X: np.ndarray, rows: np.ndarray, rng: np.random.Generator,
                          bias: bool) -> np.ndarray:
    """Directions (d, m) whose hyperplanes pass through the data points ``rows`` (m, d).

    With a bias column (the last column of ``X``) the direction is ``(w, -w^T x)``: the kink of
    the ReLU sits on the sample ``x``, as in the optima of 1-D data (Ergen & Pilanci, JMLR 2021,
    Section 3: breakpoints at data points); ``w`` points to another sample for half of the rows
    and is Gaussian for the rest. Without one, ``w`` is Gaussian, orthogonal to ``x``.
    """
    n, d = X.shape
    m = rows.shape[0]
    if bias:
        W = X[rng.integers(0, n, m), :-1] - rows[:, :-1]
        W[: m // 2] = rng.standard_normal((m // 2, d - 1))
        return np.hstack([W, -(W * rows[:, :-1]).sum(1, keepdims=True)]).T
    W = rng.standard_normal((m, d))
    norms2 = np.maximum((rows**2).sum(1, keepdims=True), 1e-300)
    return (W - (W * rows).sum(1, keepdims=True) / norms2 * rows).T


def sample_patterns(X, n_samples: int, *, seed=None, unique: bool = True,
                    directions: str = "gaussian") -> Patterns:
    """Patterns ``1[X u >= 0]`` of ``n_samples`` random directions.

    ``directions="gaussian"`` draws ``u ~ N(0, I_d)``; ``"data"`` draws hyperplanes through
    random data points (:func:`data_point_directions`; the last column of ``X`` is taken as the
    bias column when it is all ones), the sampling of the papers' experiments.

    The result is a subset of all patterns, so program (8) over it is a restriction: its optimum
    is >= the true optimum and its network is a valid ReLU network.

    Directions are drawn in chunks of at most ``2**23`` entries of ``X @ G`` (one chunk when
    ``n_samples`` is small, drawing exactly as a single ``(d, n_samples)`` draw), so that a large
    ``n_samples`` never holds its products at once. With ``unique``, repeated patterns are
    dropped after each chunk, and sampling stops early when a whole chunk after the first brings
    no new pattern: the data then has (with overwhelming probability) no pattern left that
    Gaussian directions reach, which happens when more directions are asked than the data has
    patterns.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    n_samples : int
        Number of directions drawn (at most).
    seed : None, int or numpy Generator
        Seed of the Gaussian draws (same seed, same patterns).
    unique : bool, default=True
        Drop repeated patterns (keeping the first direction that produced each).
    directions : {"gaussian", "data"}, default="gaussian"

    Raises
    ------
    ValueError
        If the patterns could not fit in memory (:func:`check_pattern_memory`), before drawing.
    """
    X = check_matrix(X, "X")
    n_samples = check_positive_int(n_samples, "n_samples")
    if directions not in ("gaussian", "data"):
        raise ValueError(f"directions must be 'gaussian' or 'data'; got {directions!r}")
    n, d = X.shape
    if not unique:
        check_pattern_memory(n, d, n_samples, name="n_samples")
    rng = np.random.default_rng(seed)
    bias = d > 1 and bool(np.all(X[:, -1] == 1))
    chunk = max(1, _CHUNK_ENTRIES // n)
    D_parts, G_parts, drawn, found = [], [], 0, 0
    while drawn < n_samples:
        count = min(chunk, n_samples - drawn)
        if directions == "data":
            G = data_point_directions(X, X[rng.integers(0, n, count)], rng, bias)
        else:
            G = rng.standard_normal((d, count))
        drawn += G.shape[1]
        D_parts.append(X @ G >= 0)
        G_parts.append(G)
        if unique:
            D, G = _unique_columns(np.hstack(D_parts), np.hstack(G_parts))
            D_parts, G_parts = [D], [G]
            if D.shape[1] == found and drawn > chunk:
                break  # a whole chunk found nothing new
            found = D.shape[1]
            check_pattern_memory(n, d, found, name="n_samples")
    return Patterns(np.hstack(D_parts), np.hstack(G_parts), exact=False)


#: ``"auto"`` enumerates the patterns when Cover's count of the data is at most this
MAX_EXACT = 2_000


def pattern_count(X: np.ndarray) -> int:
    """Cover's bound on the number of activation patterns of ``X``: that of its distinct rows
    in the dimension of its rank (1 for data of rank 0)."""
    rank = np.linalg.matrix_rank(X)
    distinct = np.unique(X, axis=0).shape[0]  # repeated samples add no patterns
    return cover_count(distinct, rank) if rank else 1


def make_patterns(X, patterns="auto", *, n_patterns: int = 100, seed=None,
                  max_exact: int = MAX_EXACT, n_outputs: int = 1) -> Patterns:
    """Resolve a user's ``patterns`` argument into a :class:`Patterns`.

    ``"exact"`` enumerates all patterns; ``"sampled"`` draws ``n_patterns`` Gaussian directions
    (with a :class:`PatternCountWarning` when ``n_patterns`` exceeds Cover's
    count of the distinct samples, the most patterns the data can have);
    ``"auto"`` enumerates when Cover's bound is at most ``max_exact``, else samples. A
    :class:`Patterns` instance is returned as it is, after checking its number of samples.
    Before sampling, a count whose program (with ``n_outputs`` outputs) could not fit in memory
    is refused with a ValueError naming ``n_patterns`` (:func:`check_pattern_memory`).
    """
    X = check_matrix(X, "X")
    if isinstance(patterns, Patterns):
        if patterns.n_samples != X.shape[0]:
            raise ValueError(
                f"patterns were made for {patterns.n_samples} samples, but X has {X.shape[0]}"
            )
        return patterns
    if patterns == "exact":
        return enumerate_patterns(X)
    if patterns not in ("sampled", "auto"):
        raise ValueError(
            f"patterns must be 'auto', 'exact', 'sampled' or a Patterns instance; got {patterns!r}"
        )
    n, d = X.shape
    available = None
    # count the patterns when more may be requested than exist (always on data of moderate
    # size; on large data only when even n samples in general position could not have them)
    if patterns == "auto" or X.size <= 10**6 or n_patterns > cover_count(n, min(n, d)):
        available = pattern_count(X)
        if patterns == "auto" and np.any(X) and available <= max_exact:
            return enumerate_patterns(X)
    if patterns == "sampled" and available is not None:
        check_n_patterns(n_patterns, available)
    check_pattern_memory(n, d, n_patterns if available is None else min(n_patterns, available),
                         n_outputs)
    return sample_patterns(X, n_patterns, seed=seed)
