"""The separation oracle of the dual constraint ``max_{||u|| <= 1} |lam^T (X u)_+| <= beta``.

Program (8) over a subset of the activation patterns is a restriction; its dual point ``Lam``
(n, k) is feasible for the full program exactly when, for every output ``c`` and sign ``s``,

    max_{||u|| = 1}  s * lam_c^T (X u)_+  <=  beta                                    (14)

(the semi-infinite dual (4) of Pilanci & Ergen, ICML 2020; Ergen & Pilanci, JMLR 2021,
Theorem 8 and Section 3.6). A direction ``u`` with a larger value is a *violated constraint*: its
pattern ``1[X u >= 0]`` enters the restricted program and lowers its optimum. This module finds
such directions.

* :func:`ascent_oracle` is a multi-start local search for (14), for any data. The objective is
  continuous and piecewise linear on the sphere: inside the cell of pattern ``D`` it equals
  ``g^T u`` with ``g = X^T (D s lam_c)``. Each step maximizes it *exactly* along a great circle
  through the current point: along ``u(t) = cos t u + sin t p`` every pre-activation is
  ``r_i cos(t - phi_i)``, so the objective is a sum of clipped cosines whose 2n breakpoints are
  known; sorting them gives the maximum over the whole circle in ``O(n log n)``. The circle
  through ``u`` and the cell's maximizer ``g / ||g||`` contains the "polish" step (the exact
  maximizer within the cell when it stays in the cell) and every shortened step along that arc,
  so it replaces a fixed normalized step, which overshoots narrow cells (``/work/shared/oracle.md``
  measured a fixed step missing the violation in 59 of 110 cases), and a backtracking search,
  which finds only one point of the arc. A second circle through a random tangent direction lets
  a start leave a cell corner where the gradient circle is blocked. Every iterate is scored and
  the best value over all of them (starts included) is kept.

  Starts: Gaussian directions, the normalized data rows ``x_i / ||x_i||``, directions whose
  hyperplane passes through a data point (with a bias column: ``u = (w, -w^T x_i)``), the
  normalized ``X^T (s lam_c)`` and ``X^T (s lam_c)_+``, and any given directions (the current
  neurons). All are scored in one matrix product; the best-scoring starts with distinct patterns
  are ascended, batched over starts, outputs and signs (no Python loop over starts).

  The result is a lower bound of the maximum: a miss reads as "no violation". Measured against
  exact references (tests/test_oracle.py): the 2-D breakpoint enumeration on scikit-learn's
  bundled data and the enumerated patterns for d = 3, 4.

* :func:`exact_oracle` prices every pattern of a :class:`~convexnn.patterns.Patterns` with the
  cone-constrained maximum ``max_{u in K_D, ||u|| <= 1} s lam_c^T D X u`` (a non-negative least
  squares problem, the quantity of :func:`convexnn.certificates.dual_constraint_max`). With all
  patterns of the data (``exact=True``) its answer is the maximum of (14), a proven one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ._duality import cone_maximum
from ._validation import check_bool, check_matrix, check_positive_int
from .cones import cone_maxima, make_cone_projector
from .patterns import Patterns, data_point_directions

__all__ = ["OracleResult", "ascent_oracle", "cone_prices", "exact_oracle", "oracle_values",
           "separation_oracle"]

#: the sign order of the results' last axis: ``s = +1`` first, then ``s = -1``
SIGNS = (1.0, -1.0)
#: most entries of an (n x columns) block of pre-activations held at once when scoring starts
BLOCK_ENTRIES = 4_000_000
#: an ascent step counts as progress when it gains more than this, relative to the value
PROGRESS = 1e-12
#: a unit direction ``u`` with ``|x_i^T u| <= TIE ||x_i||`` lies on sample i's hyperplane (its
#: pattern there is a tie of rounding)
TIE = 1e-12
#: the distance to those hyperplanes at which :func:`_off_hyperplanes` puts a generator
NUDGE = 1e-9
#: the compiled ascent looks at its deadline every this many iterations
ASCENT_CHUNK = 10
#: on the CPU the ascent runs compiled per column for data of at most this many entries, and
#: batched in torch above: 32 columns, up to 50 iterations, one thread, compiled against
#: batched: 0.28x at 105 x 5, 0.60x at 124 x 14, 0.75x at 189 x 14, 0.96x at 309 x 11, 1.10x at
#: 255 x 20, 1.38x at 398 x 31, 2.3x at 1257 x 65 (measured: the batch's launches cost most on
#: small data, its BLAS products win on large)
COMPILED_ASCENT_MAX_ENTRIES = 3_000


@dataclass(frozen=True)
class OracleResult:
    """The oracle's answer for every output ``c`` and sign ``s``.

    Attributes
    ----------
    values : ndarray of shape (n_outputs, 2)
        Best ``s * lam_c^T (X u)_+`` found, ``s = +1`` in column 0 and ``s = -1`` in column 1.
        For the ascent oracle a lower bound of the maximum; for the exact oracle over all
        patterns the maximum.
    directions : ndarray of shape (n_features, n_outputs, 2)
        Unit directions attaining ``values`` (zero where the value is 0 and nothing is active).
    candidates : ndarray of shape (n_features, n_candidates)
        Unit directions of the best few distinct patterns per output and sign, including the
        best ones; their patterns are ``X @ candidates >= 0``.
    candidate_values : ndarray of shape (n_candidates,)
        The value of each candidate for its own output and sign.
    candidate_outputs : ndarray of shape (n_candidates,), dtype int
    candidate_signs : ndarray of shape (n_candidates,)
        +1.0 or -1.0.
    candidate_patterns : ndarray of shape (n_samples, n_candidates), dtype bool
        The pattern of each candidate: ``X @ candidates >= 0`` for the ascent; the priced
        pattern itself for the exact oracle (whose maximizer may lie on the cell's boundary).
    candidate_generators : ndarray of shape (n_features, n_candidates)
        A direction inside each candidate pattern's cell (the candidate itself for the ascent).
    n_directions : int
        Directions whose value was computed (starts plus ascent iterates; patterns priced).
    exact : bool
        True when ``values`` are proven maxima (the exact oracle over all patterns).
    """

    values: np.ndarray
    directions: np.ndarray
    candidates: np.ndarray
    candidate_values: np.ndarray
    candidate_outputs: np.ndarray
    candidate_signs: np.ndarray
    candidate_patterns: np.ndarray
    candidate_generators: np.ndarray
    n_directions: int
    exact: bool

    @property
    def best(self) -> float:
        """The largest value over all outputs and signs."""
        return float(self.values.max(initial=0.0))


# --------------------------------------------------------------------------------- helpers
def _check_inputs(Xa, Lam):
    Xa = check_matrix(Xa, "Xa")
    Lam = check_matrix(Lam, "Lam", ndim=(1, 2))
    Lam = Lam[:, None] if Lam.ndim == 1 else Lam
    if Lam.shape[0] != Xa.shape[0]:
        raise ValueError(f"Lam must have one row per sample of Xa ({Xa.shape[0]}); "
                         f"got shape {Lam.shape}")
    return Xa, Lam


def _targets(Lam: np.ndarray) -> np.ndarray:
    """``s * lam_c`` as columns ``t = 2 c + j`` (``j`` indexes :data:`SIGNS`): (n, 2k)."""
    return np.stack([s * Lam for s in SIGNS], axis=2).reshape(Lam.shape[0], -1)


def _normalize(U: torch.Tensor) -> torch.Tensor:
    norms = torch.linalg.vector_norm(U, dim=0, keepdim=True)
    return U / torch.where(norms > 0, norms, torch.ones_like(norms))


def oracle_values(Xa, Lam, U) -> np.ndarray:
    """``s * lam_c^T (Xa u / ||u||)_+`` for every direction: (n_outputs, 2, n_directions).

    A plain evaluation (no search), e.g. to check an oracle's answer or to score a network's
    neurons. Zero directions score 0.
    """
    Xa, Lam = _check_inputs(Xa, Lam)
    U = check_matrix(U, "U")
    if U.shape[0] != Xa.shape[1]:
        raise ValueError(f"U must have {Xa.shape[1]} rows (the features of Xa); got {U.shape}")
    values = _score(torch.as_tensor(Xa), torch.as_tensor(_targets(Lam)),
                    _normalize(torch.as_tensor(U)))
    return values.numpy().reshape(Lam.shape[1], 2, -1)


def _score(X: torch.Tensor, T: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``T^T (X U)_+``: (targets, directions), in column blocks of bounded memory."""
    n = X.shape[0]
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    return torch.cat([T.T @ torch.relu(X @ U[:, j:j + step])
                      for j in range(0, U.shape[1], step)], dim=1)


def _pattern_keys(D: np.ndarray) -> np.ndarray:
    """One hashable row per column of the boolean ``D`` (n, m): its packed bytes."""
    packed = np.ascontiguousarray(np.packbits(D, axis=0).T)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def _top_distinct(values: np.ndarray, patterns, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` best ``values`` (m,) whose patterns differ, best first: ``(indices,
    patterns)``. ``patterns(index)`` gives the boolean patterns (n, len(index)) of the columns
    ``index``; it is asked only for the best columns, a block at a time (the patterns of all
    ~4,000 starts and iterates were a fifth of an oracle call on 1,617 rows, measured)."""
    order = np.argsort(-values, kind="stable")
    chosen, columns, seen = [], [], set()
    step = max(64, 4 * count)
    for start in range(0, order.size if count > 0 else 0, step):
        index = order[start:start + step]
        D = patterns(index)
        for j, key, column in zip(index, _pattern_keys(D).tolist(), D.T, strict=True):
            if key not in seen:
                seen.add(key)
                chosen.append(j)
                columns.append(column)
                if len(chosen) == count:
                    return np.array(chosen), np.column_stack(columns)
    n = patterns(order[:0]).shape[0]
    return (np.array(chosen, dtype=int),
            np.column_stack(columns) if columns else np.zeros((n, 0), dtype=bool))


# ---------------------------------------------------------------------------------- starts
def _starts(Xa: np.ndarray, T: np.ndarray, n_random: int, bias: bool,
            max_data_starts: int, rng: np.random.Generator) -> np.ndarray:
    """Fresh starting directions (d, m): random, data rows, hyperplanes through data points,
    and the gradients of two cells."""
    n, d = Xa.shape
    blocks = [rng.standard_normal((d, n_random))]
    if max_data_starts == 0:
        rows = Xa[:0]
    elif n <= max_data_starts:
        rows = Xa
    else:
        rows = Xa[rng.choice(n, max_data_starts, replace=False)]
    blocks.append(rows.T)  # x_i / ||x_i|| (normalized below): active on the samples near x_i
    # hyperplanes through data points: the ReLU's kink sits on a sample, as in 1-D optima
    if d > 1:
        blocks.append(data_point_directions(Xa, rows, rng, bias))
    # the gradient of the all-active cell and of the cell of the samples that gain
    blocks.append(Xa.T @ T)
    blocks.append(Xa.T @ np.maximum(T, 0))
    U = np.hstack(blocks)
    return U[:, np.linalg.norm(U, axis=0) > 0]


# ------------------------------------------------------------------------------- the ascent
def circle_maximum(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor):
    """Exact maximum over ``t`` of ``sum_i lam_i (a_i cos t + b_i sin t)_+``, column-wise.

    With ``a = X u`` and ``b = X p`` for orthonormal ``u, p`` this is the objective along the
    great circle ``cos t u + sin t p``. Sample ``i`` is active on the half circle
    ``[phi_i - pi/2, phi_i + pi/2]`` (``phi_i = atan2(b_i, a_i)``); between consecutive
    breakpoints the objective is ``C cos t + S sin t`` with ``(C, S)`` the sums over the active
    samples, maximal at ``atan2(S, C)`` if that lies in the segment, else at an end.

    Parameters
    ----------
    a, b : Tensor of shape (n, m)
    lam : Tensor of shape (n, m)

    Returns
    -------
    t : Tensor of shape (m,)
        Maximizing angles in [0, 2 pi).
    value : Tensor of shape (m,)
        The maxima (computed from the segment sums; callers re-evaluate at ``t``).
    """
    if a.device.type != "cpu":
        return _circle_maximum_batched(a, b, lam)
    # on the CPU one compiled sweep per column (the same segments; 4x faster than the batched
    # form on keel:vehicle's 592 x 32 calls, measured)
    from ._oracle_kernels import circle_maxima

    t, value = circle_maxima(*(T.T.to(torch.float64).contiguous().numpy() for T in (a, b, lam)))
    return torch.from_numpy(t).to(a.dtype), torch.from_numpy(value).to(a.dtype)


def _circle_maximum_batched(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor):
    """:func:`circle_maximum` batched in torch over the columns (the path of GPU tensors)."""
    two_pi = 2 * math.pi
    # work sample-last: the sort and the scans run along contiguous rows
    a, b, lam = a.T.contiguous(), b.T.contiguous(), lam.T.contiguous()
    enter = torch.remainder(torch.atan2(b, a) - math.pi / 2, two_pi)
    ca, cb = lam * a, lam * b
    # sample i changes state at theta_i = enter_i mod pi and at theta_i + pi: it enters first
    # when enter_i < pi, else it leaves first (and is active at t = 0+, its half circle
    # wrapping around 0). One sort of n angles orders all 2n events.
    late = enter >= math.pi
    theta = torch.where(late, enter - math.pi, enter)
    first = torch.where(late, -1.0, 1.0).to(a.dtype)
    C0 = torch.where(late, ca, 0.0).sum(1, keepdim=True)
    S0 = torch.where(late, cb, 0.0).sum(1, keepdim=True)
    order = _argsort_rows(theta)
    theta = torch.gather(theta, 1, order)
    dC = torch.gather(first * ca, 1, order)
    dS = torch.gather(first * cb, 1, order)
    angles = torch.cat([theta, theta + math.pi], dim=1)
    C = C0 + torch.cumsum(torch.cat([dC, -dC], dim=1), 1)
    S = S0 + torch.cumsum(torch.cat([dS, -dS], dim=1), 1)
    C, S = torch.cat([C0, C], dim=1), torch.cat([S0, S], dim=1)  # the 2n + 1 segments
    lo = torch.cat([torch.zeros_like(C0), angles], dim=1)
    hi = torch.cat([angles, torch.full_like(C0, two_pi)], dim=1)
    peak = torch.remainder(torch.atan2(S, C), two_pi)
    inside = (peak >= lo) & (peak <= hi)
    # each segment's maximum: at its peak if inside, else at an end (a segment's start is the
    # previous segment's end, so the starts and the peaks cover every candidate)
    at = torch.cat([torch.where(inside, peak, lo), hi[:, -1:]], dim=1)
    values = torch.cat([C, C[:, -1:]], dim=1) * torch.cos(at) + \
        torch.cat([S, S[:, -1:]], dim=1) * torch.sin(at)
    value, best = values.max(dim=1)
    t = at.gather(1, best[:, None])[:, 0]
    return torch.remainder(t, two_pi), value


def _argsort_rows(A: torch.Tensor) -> torch.Tensor:
    """Row-wise argsort; NumPy's on the CPU (2.6x faster than torch.sort there, measured)."""
    if A.device.type == "cpu":
        return torch.from_numpy(np.argsort(A.numpy(), axis=1))
    return torch.argsort(A, dim=1)


def _tangent(U: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Unit tangent directions at the unit columns of ``U`` along ``G`` (zero where parallel)."""
    P = G - (G * U).sum(0, keepdim=True) * U
    norms = torch.linalg.vector_norm(P, dim=0, keepdim=True)
    scale = torch.linalg.vector_norm(G, dim=0, keepdim=True)
    return torch.where(norms > 1e-12 * scale, P / torch.where(norms > 0, norms, 1), 0.0)


def _ascend(X: torch.Tensor, lam: torch.Tensor, U: torch.Tensor, max_iter: int,
            patience: int, generator: torch.Generator, deadline: float = math.inf,
            compiled: bool | None = None):
    """Great-circle ascent of ``lam_j^T (X u_j)_+`` for the unit columns ``u_j`` of ``U``.

    ``lam`` is (n, m), one target per column. Each iteration maximizes exactly along the circle
    through ``u`` and the cell's gradient ``g = X^T (1[X u >= 0] lam)`` and along one through a
    random tangent, and moves to the better point if it gains. A column stops after
    ``patience`` iterations without gain while the others go on (one search-round call on
    breast_cancer evaluated 4,547 directions instead of the 8,357 of running every column until
    none gains, measured). Returns the final points (each the best of its iterates: moves never
    lose), their values and the directions evaluated. Iterations stop at ``deadline`` (a
    ``time.perf_counter`` reading). On the CPU for data of at most
    ``COMPILED_ASCENT_MAX_ENTRIES`` entries (or with ``compiled``) each column runs in a
    compiled loop (:func:`_ascend_compiled`; keel:wine's default fit: the oracle's 1.7 s fell to
    0.8 s, measured), else the columns are batched in torch.
    """
    if compiled is None:
        compiled = X.device.type == "cpu" and X.numel() <= COMPILED_ASCENT_MAX_ENTRIES
    if compiled:
        return _ascend_compiled(X, lam, U, max_iter, patience, generator, deadline)
    U = U.clone()
    H = X @ U
    value = (lam * torch.relu(H)).sum(0)
    idle = torch.zeros(U.shape[1], dtype=torch.long)
    evaluated = 0
    for _ in range(max_iter):
        going = torch.nonzero(idle < patience).squeeze(1)
        if going.numel() == 0 or time.perf_counter() > deadline:
            break
        Ug, Hg, lg, start = U[:, going], H[:, going], lam[:, going], value[going]
        G = X.T @ (lg * (Hg >= 0))
        tangents = [_tangent(Ug, G), _tangent(Ug, torch.randn(Ug.shape, generator=generator,
                                                              dtype=Ug.dtype))]
        best_U, best_value, best_H = Ug, start, Hg
        for P in tangents:
            t, _ = circle_maximum(Hg, X @ P, lg)
            C = _normalize(torch.cos(t) * Ug + torch.sin(t) * P)
            HC = X @ C
            vC = (lg * torch.relu(HC)).sum(0)  # re-evaluated, not trusted from the segments
            evaluated += C.shape[1]
            gain = vC > best_value + PROGRESS * best_value.abs().clamp(min=1e-300)
            best_U = torch.where(gain, C, best_U)
            best_H = torch.where(gain, HC, best_H)
            best_value = torch.where(gain, vC, best_value)
        U[:, going], H[:, going], value[going] = best_U, best_H, best_value
        idle[going] = torch.where(best_value > start, 0, idle[going] + 1)
    return U, value, evaluated


def _ascend_compiled(X: torch.Tensor, lam: torch.Tensor, U: torch.Tensor, max_iter: int,
                     patience: int, generator: torch.Generator, deadline: float):
    """:func:`_ascend` on the CPU: one compiled loop per column
    (:func:`._oracle_kernels.ascend`), ``ASCENT_CHUNK`` iterations between looks at the
    deadline; its random directions are drawn up front from ``generator``."""
    from ._oracle_kernels import ascend

    X64 = X.to(torch.float64).contiguous().numpy()
    lam64 = lam.to(torch.float64).contiguous().numpy()
    U64 = U.to(torch.float64).numpy().copy()
    randoms = torch.randn((max_iter, *U.shape), generator=generator,
                          dtype=torch.float64).numpy()
    H = np.ascontiguousarray((X64 @ U64).T)  # (m, n): each column's pre-activations contiguous
    value = (lam64 * np.maximum(H.T, 0.0)).sum(0)
    idle = np.zeros(U.shape[1], dtype=np.int64)
    evaluated = 0
    for first in range(0, max_iter, ASCENT_CHUNK):
        if bool((idle >= patience).all()) or time.perf_counter() > deadline:
            break
        evaluated += ascend(X64, lam64, U64, H, value, idle, randoms, first,
                            min(ASCENT_CHUNK, max_iter - first), patience, PROGRESS)
    return (torch.from_numpy(U64).to(U.dtype), torch.from_numpy(value).to(U.dtype),
            evaluated)


def _walk(X: torch.Tensor, lam: torch.Tensor, U: torch.Tensor, max_iter: int,
          deadline: float = math.inf):
    """Cell walk: move each unit column of ``U`` to the best point of its optimistic cell.

    At ``u`` the samples on a hyperplane (``|x_i^T u|`` at rounding level) may be taken active
    or not: the *optimistic* pattern makes those with ``lam_i > 0`` active. Its closed cone
    ``K = {v : (2 D - I) X v >= 0}`` contains ``u``, and on ``K`` the objective is ``g^T v`` with
    ``g = X^T (D lam)``, maximal over the unit ball at ``P_K g / ||P_K g||`` (conic duality, the
    projection by batched Lawson-Hanson), so each step gains unless ``u`` is that maximizer. The
    ascent's circles cross cells cheaply; the walk climbs the cell's face exactly, which the
    circles do poorly in high dimension (measured on breast_cancer's 31-D data: 1.60 beta after
    the ascent, 1.97 beta after the walk from its points). Steps stop at ``deadline``. Returns
    ``(U, values, evaluated)``.
    """
    floor = 1e-9 * torch.linalg.vector_norm(X, dim=1)[:, None]
    H = X @ U
    value = (lam * torch.relu(H)).sum(0)
    evaluated = 0
    for _ in range(max_iter):
        if time.perf_counter() > deadline:
            break
        D = (H > floor) | ((H.abs() <= floor) & (lam > 0))
        signs = 2 * D.to(X.dtype) - 1
        G = X.T @ (D * lam)
        margins = signs * (X @ G)
        outside = torch.nonzero((margins < 0).any(dim=0)).squeeze(1)
        projected = make_cone_projector(X, signs, 1)(G[:, :, None], outside, margins)[:, :, 0]
        C = _normalize(projected)
        HC = X @ C
        vC = (lam * torch.relu(HC)).sum(0)
        evaluated += C.shape[1]
        gain = vC > value + PROGRESS * value.abs().clamp(min=1e-300)
        if not bool(gain.any()):
            break
        U = torch.where(gain, C, U)
        H = torch.where(gain, HC, H)
        value = torch.where(gain, vC, value)
    return U, value, evaluated


# ------------------------------------------------------------------------------ the oracles
def ascent_oracle(Xa, Lam, *, starts=None, bias: bool = True, n_random: int = 1000,
                  n_ascent: int = 32, max_iter: int = 50, patience: int = 3,
                  alternations: int = 3, n_candidates: int = 4,
                  max_data_starts: int = 2000, time_limit: float | None = None,
                  seed=None) -> OracleResult:
    """Multi-start great-circle ascent for ``max_{||u|| = 1} s lam_c^T (Xa u)_+``, all ``c, s``.

    Parameters
    ----------
    Xa : array-like of shape (n_samples, n_features)
        The program's data (with the bias column appended when the network has a bias).
    Lam : array-like of shape (n_samples, n_outputs) or (n_samples,)
        The dual point (e.g. ``ConvexSolution.dual``).
    starts : array-like of shape (n_features, m), optional
        Extra starting directions, e.g. the current neurons or pattern generators.
    bias : bool, default=True
        Whether the last column of ``Xa`` is the bias column (shapes the starts whose
        hyperplane passes through a data point).
    n_random : int, default=1000
        Gaussian starting directions.
    n_ascent : int, default=32
        Starts ascended per output and sign: the best-scoring ones with distinct patterns.
    max_iter : int, default=50
        Ascent iterations (two exact great-circle searches per start each).
    patience : int, default=3
        A start stops after this many iterations without gain.
    alternations : int, default=3
        Cell walks (each followed by an ascent) after the first ascent; fewer when one gains
        nothing. 0 for the circle ascent alone.
    n_candidates : int, default=4
        Distinct patterns returned per output and sign.
    max_data_starts : int, default=2000
        At most this many data rows (sampled) give starts; 0 for none (to measure the ascent
        from random starts alone).
    time_limit : float, optional
        Seconds: the ascents and walks stop where they are when it runs out (their values are
        still attained, so still lower bounds of the maxima).
    seed : None, int or numpy Generator

    Returns
    -------
    OracleResult
        ``exact`` is False: the values are lower bounds of the maxima.
    """
    Xa, Lam = _check_inputs(Xa, Lam)
    bias = check_bool(bias, "bias")
    n_random = check_positive_int(n_random, "n_random", minimum=0)
    n_ascent = check_positive_int(n_ascent, "n_ascent")
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    patience = check_positive_int(patience, "patience")
    alternations = check_positive_int(alternations, "alternations", minimum=0)
    n_candidates = check_positive_int(n_candidates, "n_candidates")
    max_data_starts = check_positive_int(max_data_starts, "max_data_starts", minimum=0)
    if starts is not None:
        starts = check_matrix(starts, "starts", allow_empty=True)
        if starts.shape[0] != Xa.shape[1]:
            raise ValueError(f"starts must have {Xa.shape[1]} rows (the features of Xa); "
                             f"got shape {starts.shape}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds; got {time_limit!r}")
    deadline = math.inf if time_limit is None else time.perf_counter() + time_limit
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    n, d = Xa.shape
    k = Lam.shape[1]
    T = _targets(Lam)
    X = torch.from_numpy(np.array(Xa))  # a writable copy: torch refuses read-only views
    Tt = torch.from_numpy(T)

    fresh = _starts(Xa, T, n_random, bias, max_data_starts, rng)
    given = np.zeros((d, 0)) if starts is None else starts[:, np.linalg.norm(starts, axis=0) > 0]
    U0 = _normalize(torch.as_tensor(np.hstack([fresh, given])))
    scores = _score(X, Tt, U0).numpy()  # (2k, m)
    U0_np = U0.numpy()
    # the given starts (current neurons) score about beta, their cells' maximum at an optimum
    # of the restricted program, above most fresh starts: ranked together they would take every
    # ascent and the search would only polish the present neurons (measured on breast_cancer:
    # 1.01 beta found against 1.25 beta without them). They get a quarter of the ascents.
    n_fresh = fresh.shape[1]
    n_given = min(given.shape[1], n_ascent // 4)
    picks = [np.concatenate([
        _top_distinct(scores[t, :n_fresh], lambda j: Xa @ U0_np[:, j] >= 0,
                      n_ascent - n_given)[0],
        n_fresh + _top_distinct(scores[t, n_fresh:], lambda j: Xa @ U0_np[:, n_fresh + j] >= 0,
                                n_given)[0]])
        for t in range(2 * k)]
    width = max(len(p) for p in picks)
    picks = [np.resize(p, width) for p in picks]  # pad by repeating (harmless duplicates)
    index = torch.as_tensor(np.concatenate(picks))
    owner = torch.as_tensor(np.repeat(np.arange(2 * k), width))
    lam = Tt[:, owner]
    U, values, evaluated = _ascend(X, lam, U0[:, index], max_iter, patience, generator,
                                   deadline)
    for _ in range(alternations):  # the walk climbs faces, the ascent crosses cells
        before = values
        U, values, count = _walk(X, lam, U, max_iter, deadline)
        evaluated += count
        U, values, count = _ascend(X, lam, U, max_iter, patience, generator, deadline)
        evaluated += count
        if not bool((values > before).any()) or time.perf_counter() > deadline:
            break

    # every start counts too: the best over all iterates, starts included
    all_U = torch.cat([U0.repeat(1, 2 * k), U], dim=1)
    all_owner = torch.cat([torch.arange(2 * k).repeat_interleave(U0.shape[1]), owner])
    all_values = torch.cat([torch.as_tensor(scores).reshape(-1), values]).numpy()
    return _package(Xa, all_U.numpy(), all_owner.numpy(), all_values, k, n_candidates,
                    U0.shape[1] + evaluated, exact=False)


def _package(Xa, U, owner, values, k, n_candidates, n_directions, exact,
             D=None, generators=None) -> OracleResult:
    """Best value and direction per target, and the top distinct patterns per target.

    ``D`` and ``generators`` are the directions' patterns and cell interior points (default
    ``Xa @ U >= 0`` and the chosen directions moved off the hyperplanes they lie on,
    :func:`_off_hyperplanes`)."""
    d = Xa.shape[1]

    def patterns_of(columns):
        return Xa @ U[:, columns] >= 0 if D is None else D[:, columns]

    best_values = np.zeros(2 * k)
    best_dirs = np.zeros((d, 2 * k))
    chosen, chosen_D = [np.zeros(0, int)], [np.zeros((Xa.shape[0], 0), dtype=bool)]
    for t in range(2 * k):
        mine = np.flatnonzero(owner == t)
        if mine.size == 0:
            continue
        top, top_D = _top_distinct(values[mine], lambda j, mine=mine: patterns_of(mine[j]),
                                   n_candidates)
        top = mine[top]
        chosen.append(top)
        chosen_D.append(top_D)
        if values[top[0]] > 0:
            best_values[t], best_dirs[:, t] = values[top[0]], U[:, top[0]]
    chosen, patterns = np.concatenate(chosen), np.hstack(chosen_D)
    generators = (_off_hyperplanes(Xa, U[:, chosen], patterns) if generators is None
                  else generators[:, chosen])
    return OracleResult(
        values=best_values.reshape(k, 2),
        directions=best_dirs.reshape(d, k, 2),
        candidates=U[:, chosen],
        candidate_values=values[chosen],
        candidate_outputs=owner[chosen] // 2,
        candidate_signs=np.asarray(SIGNS)[owner[chosen] % 2],
        candidate_patterns=patterns,
        candidate_generators=generators,
        n_directions=int(n_directions),
        exact=exact,
    )


def _off_hyperplanes(Xa: np.ndarray, U: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Generators of the patterns ``D``: the unit columns of ``U`` moved off the hyperplanes
    they lie on, into the open cells of their patterns (columns of ``D``).

    The cell walk's exact cone projections end on faces of the cells, where ``x_i^T u`` is
    zero to rounding: a matrix product and a matrix-vector product may then round it to
    opposite signs. The direction's value does not depend on the side (the ReLU is zero on the
    hyperplane), but a generator's does: the gated model's gates ``1[x^T g >= 0]`` at those
    samples were a coin toss (a gated fit's network missed its convex model by 1e-2 on two
    training rows, measured). Each such column moves by the least-norm step that gives its
    tied rows a margin of ``NUDGE`` (or half the smallest margin of its other rows, if less)
    on the side ``D`` gives them; the move is kept only when every row then has the sign ``D``
    gives it (tied rows whose hyperplanes are dependent may make that impossible: the column
    then stays where it is).
    """
    from ._oracle_kernels import off_hyperplanes

    U = np.array(U, dtype=np.float64, order="C")
    off_hyperplanes(np.ascontiguousarray(Xa, dtype=np.float64), U, np.where(D, 1.0, -1.0),
                    TIE, NUDGE)
    return U


def _pattern_gradients(X: torch.Tensor, T: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Xa^T D_i t_j`` for every pattern ``i`` (columns of ``mask``) and target: (d, P, 2k)."""
    n, P, t = X.shape[0], mask.shape[1], T.shape[1]
    return (X.T @ (mask[:, :, None] * T[:, None, :]).reshape(n, -1)).reshape(-1, P, t)


def cone_prices(Xa, Lam, D) -> np.ndarray:
    """``max_{u in K_i, ||u|| <= 1} s lam_c^T D_i Xa u`` for every pattern, output and sign.

    The quantity :func:`exact_oracle` prices (and, maximized, the one of
    :func:`convexnn.certificates.dual_constraint_max`), for all patterns at once: the exact
    projections of the ``2 k P`` vectors ``Xa^T D_i (s lam_c)`` onto their cones
    (``K_i = {u : (2 D_i - I) Xa u >= 0}``) by :func:`convexnn.cones.cone_maxima`.

    Parameters
    ----------
    Xa : array-like of shape (n_samples, n_features)
    Lam : array-like of shape (n_samples, n_outputs) or (n_samples,)
    D : array-like of shape (n_samples, n_patterns), dtype bool

    Returns
    -------
    ndarray of shape (n_patterns, n_outputs, 2)
        Sign ``s = +1`` first.
    """
    X, T, mask, k = _pricing_inputs(Xa, Lam, D)
    return cone_maxima(X, _pattern_gradients(X, T, mask), 2 * mask - 1).numpy().reshape(-1, k, 2)


def _pricing_inputs(Xa, Lam, D):
    """Checked ``(X, targets, float mask, n_outputs)`` tensors for pricing patterns ``D``."""
    Xa, Lam = _check_inputs(Xa, Lam)
    D = np.asarray(D, dtype=bool)
    if D.ndim != 2 or D.shape[0] != Xa.shape[0]:
        raise ValueError(f"D must have one row per sample of Xa ({Xa.shape[0]}); "
                         f"got shape {D.shape}")
    return (torch.from_numpy(np.array(Xa)), torch.from_numpy(_targets(Lam)),
            torch.from_numpy(D.astype(Xa.dtype)), Lam.shape[1])


def exact_oracle(Xa, Lam, patterns: Patterns, *, n_candidates: int = 4) -> OracleResult:
    """Price every pattern: ``max_{u in K_i, ||u|| <= 1} s lam_c^T D_i Xa u`` for all ``i, c, s``.

    ``K_i = {u : (2 D_i - I) Xa u >= 0}``. The unconstrained norm ``||Xa^T D_i lam_c||`` bounds
    each price from above, so patterns are priced in decreasing order of it and the pricing of
    a target stops once no remaining bound can enter its top ``n_candidates``: the result is the
    exact top ``n_candidates`` per output and sign.

    Parameters
    ----------
    Xa : array-like of shape (n_samples, n_features)
    Lam : array-like of shape (n_samples, n_outputs) or (n_samples,)
    patterns : Patterns
        Made on ``Xa``. With ``exact=True`` (all patterns of the data) the returned values are
        the maxima of (14), i.e. proven.
    n_candidates : int, default=4

    Returns
    -------
    OracleResult
    """
    Xa, Lam = _check_inputs(Xa, Lam)
    if not isinstance(patterns, Patterns):
        raise TypeError(f"patterns must be a Patterns instance; got {type(patterns).__name__}")
    if patterns.n_samples != Xa.shape[0]:
        raise ValueError(f"patterns were made for {patterns.n_samples} samples, "
                         f"but Xa has {Xa.shape[0]}")
    n_candidates = check_positive_int(n_candidates, "n_candidates")
    k = Lam.shape[1]
    T = _targets(Lam)
    D = patterns.D
    G = np.einsum("nd,np,nt->dpt", Xa, D.astype(float), T)  # Xa^T D_i (s lam_c): (d, P, 2k)
    bounds = np.linalg.norm(G, axis=0)  # (P, 2k)
    U, owner, values, index = [], [], [], []
    priced = 0
    for t in range(2 * k):
        found: list[float] = []
        for i in np.argsort(-bounds[:, t], kind="stable"):
            if len(found) >= n_candidates and bounds[i, t] <= min(found):
                break  # no remaining pattern can enter the top n_candidates
            if bounds[i, t] <= 0:
                break
            B = Xa.T * np.where(D[:, i], 1.0, -1.0)  # Xa^T (2 D_i - I): (d, n)
            value, u = cone_maximum(G[:, i, t], B)
            priced += 1
            found.append(value)
            U.append(u)
            owner.append(t)
            values.append(value)
            index.append(i)
    d = Xa.shape[1]
    U = np.array(U).T.reshape(d, -1)
    index = np.array(index, int)
    return _package(Xa, U, np.array(owner, int), np.array(values), k, n_candidates, priced,
                    exact=patterns.exact, D=D[:, index],
                    generators=patterns.generators[:, index])


def separation_oracle(Xa, Lam, *, patterns: Patterns | None = None, **options) -> OracleResult:
    """The exact oracle when ``patterns`` holds all patterns of the data, else the ascent.

    ``options`` go to :func:`ascent_oracle` (or ``n_candidates`` to :func:`exact_oracle`).
    """
    if patterns is not None and patterns.exact:
        return exact_oracle(Xa, Lam, patterns,
                            n_candidates=options.get("n_candidates", 4))
    return ascent_oracle(Xa, Lam, **options)
