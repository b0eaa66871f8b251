"""The compiled cone projector (``convexnn.cones._compiled``) against SciPy's NNLS, float64.

The projection of ``v0`` onto ``K = {v : s_i x_i^T v >= 0}`` is ``v0 + B a`` with
``a = argmin_{a >= 0} ||v0 + B a||`` and ``B = X^T diag(s)``; SciPy's Lawson-Hanson
(``scipy.optimize.nnls``) on that NNLS is the independent reference. Projections are compared
relative to the norm of the projected point ``v0``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from convexnn import ConvexProblem, solve
from convexnn.cones import (
    CompiledConeProjector,
    ConeProjector,
    _compiled,
    _projections,
    make_cone_projector,
)

pytestmark = pytest.mark.usefixtures("one_thread")

RTOL = 1e-10


def cones(n, d, patterns, seed, degenerate=False):
    """Random rows with a bias column and random patterns' signs (n, patterns); with
    ``degenerate``, a zero row, duplicated rows (same and opposite sign) and a row that is a
    combination of two others."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])
    if degenerate:
        X[1] = 0.0
        X[2] = X[3] = X[4]
        X[5] = X[6] + 2 * X[7]
    signs = np.sign(X @ rng.standard_normal((d, patterns)))
    signs[signs == 0] = 1.0
    signs[:, 0] = np.where(rng.random(n) < 0.5, 1.0, -1.0)  # an arbitrary sign pattern
    signs[3, 1:] = -signs[2, 1:]  # duplicate rows of opposite signs in most cones
    return X, signs


def scipy_projection(X, signs, k, V0):
    """Exact projections of every group of ``V0`` (d, Q, k) with SciPy's NNLS."""
    out = np.empty_like(V0)
    for q in range(signs.shape[1]):
        B = X.T * signs[:, q]
        for c in range(k):
            a, _ = nnls(B, -V0[:, q, c], maxiter=50 * B.shape[1])
            out[:, q, c] = V0[:, q, c] + B @ a
    return out


def project(projector, X, signs, V0, columns=None, steps=None):
    k = V0.shape[2]
    S = torch.as_tensor(np.repeat(signs, k, axis=1))
    margins = S * (torch.as_tensor(X) @ torch.as_tensor(V0).reshape(X.shape[1], -1))
    if columns is None:
        columns = torch.arange(margins.shape[1])
    return projector(torch.as_tensor(V0), columns, margins, steps).numpy()


def assert_close(got, want, V0):
    scale = np.linalg.norm(V0, axis=0)
    error = np.linalg.norm(got - want, axis=0)
    assert np.all(error <= RTOL * np.maximum(scale, 1e-300)), (error / scale).max()


def check_multipliers(projector, X, signs, V0, projected):
    """Non-negative multipliers that reproduce the projections, on active constraints only."""
    k = V0.shape[2]
    mult = projector.multipliers.numpy()
    for g in range(mult.shape[1]):
        q, c = divmod(g, k)
        B = X.T * signs[:, q]
        scale = np.linalg.norm(V0[:, q, c]) * np.linalg.norm(X, axis=1).max()
        assert mult[:, g].min() >= 0
        np.testing.assert_allclose(V0[:, q, c] + B @ mult[:, g], projected[:, q, c],
                                   atol=RTOL * np.linalg.norm(V0[:, q, c]))
        assert np.abs(mult[:, g] * (B.T @ projected[:, q, c])).max() <= RTOL * scale * max(
            1.0, mult[:, g].max())


@pytest.mark.parametrize("n, d, patterns, k, degenerate", [
    (12, 3, 6, 1, False),
    (40, 4, 12, 1, True),
    (60, 8, 10, 2, True),
    (150, 12, 8, 1, False),
    (30, 25, 6, 1, True),  # n close to d: many constraints active
    (200, 31, 5, 3, True),
])
def test_exact_projections_match_scipy(n, d, patterns, k, degenerate):
    X, signs = cones(n, d, patterns, seed=n + d, degenerate=degenerate)
    rng = np.random.default_rng(d)
    V0 = rng.standard_normal((d, patterns, k)) * rng.uniform(0.1, 10, (1, patterns, k))
    # some groups already inside their cones (their projections: themselves)
    V0[:, -1] = scipy_projection(X, signs[:, -1:], k, V0[:, -1:])[:, 0]
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), k)
    want = scipy_projection(X, signs, k, V0)
    got = project(projector, X, signs, V0)
    assert_close(got, want, V0)
    np.testing.assert_allclose(got[:, -1], V0[:, -1], rtol=0, atol=1e-12 * np.abs(V0).max())
    check_multipliers(projector, X, signs, V0, got)


def test_groups_outside_the_columns_are_untouched():
    X, signs = cones(30, 4, 6, seed=3)
    V0 = np.random.default_rng(0).standard_normal((4, 6, 1))
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), 1)
    columns = torch.tensor([1, 4])
    got = project(projector, X, signs, V0, columns)
    np.testing.assert_array_equal(np.delete(got, [1, 4], axis=1), np.delete(V0, [1, 4], axis=1))
    assert_close(got[:, [1, 4]], scipy_projection(X, signs[:, [1, 4]], 1, V0[:, [1, 4]]),
                 V0[:, [1, 4]])
    assert np.all(projector.multipliers.numpy()[:, [0, 2, 3, 5]] == 0)
    np.testing.assert_array_equal(project(projector, X, signs, V0, torch.arange(0)), V0)


def distance_to_cone(X, signs, V):
    return np.linalg.norm(V - scipy_projection(X, signs, 1, V), axis=0)[:, 0]


@pytest.mark.parametrize("steps", [0, 1, 2, 5])
def test_truncated_projections_never_move_away_from_the_cone(steps):
    # cold starts, warm starts from nearby points, and warm starts from unrelated points
    # (previous multipliers that are far worse than zero): the result is no farther from the
    # cone, and no farther from the exact projection, than its input
    n, d, patterns = 80, 10, 30
    X, signs = cones(n, d, patterns, seed=7, degenerate=True)
    rng = np.random.default_rng(steps)
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), 1)
    V = rng.standard_normal((d, patterns, 1))
    for scale in (1.0, 0.1, -10.0, 0.01):
        V0 = scale * V + 0.3 * rng.standard_normal(V.shape)
        got = project(projector, X, signs, V0, steps=steps)
        exact = scipy_projection(X, signs, 1, V0)
        before = np.linalg.norm(V0 - exact, axis=0)[:, 0]
        after = distance_to_cone(X, signs, got)
        assert np.all(after <= before * (1 + 1e-12) + 1e-12)
        assert np.all(np.linalg.norm(got - exact, axis=0)[:, 0] <= before * (1 + 1e-12) + 1e-12)
        V = V0


def test_warm_starts_give_the_cold_answers():
    # a sequence of nearby points (as in ADMM), with the caller zeroing the multipliers of some
    # groups and overwriting others between calls (the kept factors must follow)
    n, d, patterns, k = 120, 9, 20, 2
    X, signs = cones(n, d, patterns, seed=11, degenerate=True)
    X_t, S_t = torch.as_tensor(X), torch.as_tensor(signs)
    rng = np.random.default_rng(5)
    warm = CompiledConeProjector(X_t, S_t, k)
    V0 = rng.standard_normal((d, patterns, k))
    for step in range(8):
        V0 = V0 + 0.2 * rng.standard_normal(V0.shape)
        if step == 3:
            warm.multipliers[:, ::3] = 0
        if step == 5:
            warm.multipliers[:, 1] = torch.as_tensor(rng.uniform(0, 1, n))
        got = project(warm, X, signs, V0)
        cold = project(CompiledConeProjector(X_t, S_t, k), X, signs, V0)
        assert_close(got, cold, V0)
        assert_close(got, scipy_projection(X, signs, k, V0), V0)
        check_multipliers(warm, X, signs, V0, got)


@pytest.mark.parametrize("method", ["call", "prox"])
def test_groups_verified_without_a_product_are_exact(monkeypatch, method):
    """Points drifting as ADMM's do, by steps of 1e-4 to 3e-1 of their norm, with a release and
    overwritten multipliers on the way: the groups verified by the kept slacks (no product)
    must give SciPy's projections like the others. The small steps verify many groups so; the
    large ones move points past their radii (and passive rows out) and verify fewer. (Six
    columns: below ``SCREEN_MIN_FEATURES``, where the screen is off unless lowered.)"""
    monkeypatch.setattr(_compiled, "SCREEN_MIN_FEATURES", 1)
    n, d, patterns, k = 150, 6, 15, 2
    rng = np.random.default_rng(4)
    X = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])
    X[1], X[2] = 0.0, X[3]  # a zero row (never violated, never kept) and a duplicate
    signs = np.where(X @ rng.standard_normal((d, patterns)) >= 0, 1.0, -1.0)  # cones of interior
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), k)
    V0 = rng.standard_normal((d, patterns, k))
    screened = {}
    for step, size in enumerate([0.0, 1e-4, 1e-4, 1e-1, 1e-3, 3e-2, 1e-4, 1e-4, 3e-1, 1e-4]):
        V0 = V0 + size * np.linalg.norm(V0, axis=0) * rng.standard_normal(V0.shape)
        if step == 6:
            projector.release(torch.arange(patterns * k) % 4 == 0)
        if step == 7:
            projector.multipliers[:, 1] *= 2
        if method == "call":
            got = project(projector, X, signs, V0)
        else:  # threshold 0: the projection itself
            got = projector.prox(torch.as_tensor(V0), 0.0).numpy()
        assert_close(got, scipy_projection(X, signs, k, V0), V0)
        check_multipliers(projector, X, signs, V0, got)
        screened[step] = projector.screened
    assert screened[0] == 0 and min(screened[s] for s in (1, 2, 9)) >= patterns * k // 3
    assert screened[3] < screened[2] and screened[8] < screened[7]
    monkeypatch.setattr(_compiled, "SCREEN_MIN_FEATURES", d + 1)
    narrow = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), k)
    for _ in range(3):
        V0 = V0 + 1e-4 * np.linalg.norm(V0, axis=0) * rng.standard_normal(V0.shape)
        assert_close(project(narrow, X, signs, V0), scipy_projection(X, signs, k, V0), V0)
        assert narrow.screened == 0


@pytest.mark.parametrize("kind", [CompiledConeProjector, ConeProjector])
@pytest.mark.parametrize("steps", [None, 1])
def test_bounds_are_the_kept_multipliers_bound_and_release_forgets_them(kind, steps):
    # bounds(v) = ||v + B a|| with the kept multipliers a: an upper bound of ||P_K v|| (SciPy),
    # at the next ADMM-like point; release zeroes the multipliers, and the projections stay
    # exact (the compiled projector refactors the passive sets it then finds changed)
    n, d, patterns, k = 90, 7, 12, 2
    X, signs = cones(n, d, patterns, seed=13, degenerate=True)
    projector = kind(torch.as_tensor(X), torch.as_tensor(signs), k)
    rng = np.random.default_rng(3)
    V0 = rng.standard_normal((d, patterns, k))
    project(projector, X, signs, V0, steps=steps)
    V1 = V0 + 0.3 * rng.standard_normal(V0.shape)
    flat = V1.reshape(d, -1)
    mult, S = projector.multipliers.numpy(), np.repeat(signs, k, axis=1)
    want = np.linalg.norm(flat + X.T @ (S * mult), axis=0)
    got = projector.bounds(torch.as_tensor(flat)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    exact = np.linalg.norm(scipy_projection(X, signs, k, V1).reshape(d, -1), axis=0)
    assert np.all(got >= exact * (1 - 1e-12))
    released = torch.zeros(patterns * k, dtype=torch.bool)
    released[::3] = True
    projector.release(released)
    assert np.all(projector.multipliers.numpy()[:, released.numpy()] == 0)
    np.testing.assert_allclose(projector.bounds(torch.as_tensor(flat)).numpy()[released],
                               np.linalg.norm(flat, axis=0)[released], rtol=1e-12)
    assert_close(project(projector, X, signs, V1), scipy_projection(X, signs, k, V1), V1)


def test_cone_moves_are_the_dense_product_and_certify_alike(monkeypatch):
    # cone_moves (each group's nonzero multipliers only) against X^T (S * A) after projections,
    # a release and overwritten multipliers; and every certificate check of an ADMM run (its
    # _exact_check takes the moves) gives the gap of the dense multipliers, at checks where the
    # multipliers decide it (without them the dual bound is another)
    from convexnn.solvers import admm
    from convexnn.solvers._stopping import exact_gap

    X, signs = cones(80, 7, 10, seed=17, degenerate=True)
    k = 2
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), k)
    rng = np.random.default_rng(9)
    V0 = rng.standard_normal((7, 10, k))
    S = np.repeat(signs, k, axis=1)
    for step in range(3):
        project(projector, X, signs, V0 + 0.1 * step * rng.standard_normal(V0.shape))
        if step == 1:
            projector.release(torch.arange(10 * k) % 3 == 0)
            projector.multipliers[:, 1] = torch.as_tensor(rng.uniform(0, 1, 80))
        dense = X.T @ (S * projector.multipliers.numpy())
        np.testing.assert_allclose(projector.cone_moves().numpy(), dense, rtol=1e-12,
                                   atol=1e-12 * np.abs(dense).max())

    checks, decided, original = [], [], admm._exact_check

    def compared(lifted, p, prox, rho_p, Lam):
        point, pre, gap = original(lifted, p, prox, rho_p, Lam)
        dense = exact_gap(lifted, point, pre, prox.multipliers(rho_p), refine_steps=0, Lam=Lam)
        blind = exact_gap(lifted, point, pre, None, refine_steps=0, Lam=Lam,
                          moves=torch.zeros_like(point))
        checks.append((gap.dual, dense.dual))
        decided.append(blind.dual != dense.dual)
        return point, pre, gap

    monkeypatch.setattr(admm, "_exact_check", compared)
    problem = ConvexProblem.build(X[:, :-1], np.sin(X[:, 0]) + X[:, 1], beta=1e-3,
                                  n_patterns=10, seed=0)
    assert admm.solve(problem, tol=1e-6).status == "optimal"
    assert checks and any(decided)
    for moved, dense in checks:
        assert moved == pytest.approx(dense, rel=1e-12)


def test_full_passive_sets_finish_with_the_dense_nnls(monkeypatch):
    # a capacity of d - 3 passive rows: groups that need more go to the dense NNLS, still exact
    monkeypatch.setattr(_compiled, "EXTRA_CAPACITY", -3)
    X, signs = cones(20, 8, 10, seed=2)
    V0 = 5 * np.random.default_rng(1).standard_normal((8, 10, 1))
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), 1)
    handed, fallback = [], projector._nnls_fallback
    monkeypatch.setattr(projector, "_nnls_fallback",
                        lambda v0, cols, unfinished, moves: (handed.append(unfinished.size),
                                                             fallback(v0, cols, unfinished, moves)))
    for _ in range(2):
        assert_close(project(projector, X, signs, V0), scipy_projection(X, signs, 1, V0), V0)
    assert handed[0] > 0


def test_threads_give_the_same_projections(monkeypatch):
    monkeypatch.setattr(_compiled, "THREAD_MIN_GROUPS", 4)
    X, signs = cones(60, 6, 40, seed=4)
    V0 = np.random.default_rng(2).standard_normal((6, 40, 1))
    X_t, S_t = torch.as_tensor(X), torch.as_tensor(signs)
    one = project(CompiledConeProjector(X_t, S_t, 1), X, signs, V0, steps=1)
    torch.set_num_threads(3)
    try:
        three = project(CompiledConeProjector(X_t, S_t, 1), X, signs, V0, steps=1)
        exact = project(CompiledConeProjector(X_t, S_t, 1), X, signs, V0)
    finally:
        torch.set_num_threads(1)
    np.testing.assert_array_equal(one, three)
    assert_close(exact, scipy_projection(X, signs, 1, V0), V0)


@pytest.mark.parametrize("k, capacity, threads", [(1, 8, 1), (2, 8, 1), (1, -2, 1), (2, 8, 3)])
def test_prox_is_the_soft_thresholded_projection(monkeypatch, k, capacity, threads):
    """``prox`` (ADMM's cone prox in one call) against SciPy's projections, soft-thresholded
    (``(1 - t / ||p||)_+ p``), at a threshold that zeroes about half the groups; again from the
    first call's multipliers, whose bounds now zero groups without projecting them. Also with
    passive sets too small for some groups (SciPy finishes those) and split over threads."""
    monkeypatch.setattr(_compiled, "EXTRA_CAPACITY", capacity)
    monkeypatch.setattr(_compiled, "THREAD_MIN_GROUPS", 4)
    rng = np.random.default_rng(8)
    X = np.hstack([rng.standard_normal((40, 4)), np.ones((40, 1))])
    signs = np.where(X @ rng.standard_normal((5, 12)) >= 0, 1.0, -1.0)  # cones of interior
    V0 = rng.standard_normal((5, 12, k))
    projections = scipy_projection(X, signs, k, V0)
    norms = np.linalg.norm(projections, axis=0)
    threshold = float(np.median(norms))
    want = projections * np.maximum(0.0, 1 - threshold / norms)
    assert threshold > 1e-3 and 0 < np.count_nonzero(norms <= threshold) < norms.size
    projector = CompiledConeProjector(torch.as_tensor(X), torch.as_tensor(signs), k)
    handed, fallback = [], projector._nnls_fallback
    monkeypatch.setattr(projector, "_nnls_fallback",
                        lambda v0, cols, unfinished, moves: (handed.append(unfinished.size),
                                                             fallback(v0, cols, unfinished, moves)))
    torch.set_num_threads(threads)
    try:
        for _ in range(2):
            got = projector.prox(torch.as_tensor(V0), threshold).numpy()
            assert_close(got, want, V0)
            assert np.all(got[:, norms <= threshold] == 0)
    finally:
        torch.set_num_threads(1)
    assert (sum(handed) > 0) == (capacity < 0)


def test_split_kernels_call_blas_on_one_thread(monkeypatch):
    """Each thread of a split call runs BLAS on one thread (its products through SciPy's BLAS
    would otherwise fork again on every call), concurrent calls included; the limit is lifted
    after the last call, and calls that are not split keep BLAS's own threads."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():  # per library (a single-threaded build stays at 1 whatever is asked)
        return {info["filepath"]: info["num_threads"] for info in threadpool_info()
                if info["user_api"] == "blas"}

    seen = []

    def kernel(todo):
        seen.append((todo.size, set(blas_threads().values())))

    torch.set_num_threads(2)
    try:
        with threadpool_limits(limits=2, user_api="blas"):
            before = blas_threads()
            _compiled._map(kernel, np.arange(2 * _compiled.THREAD_MIN_GROUPS))
            with _compiled._SERIAL_BLAS:  # an enclosing (concurrent) user keeps the limit
                _compiled._map(kernel, np.arange(2 * _compiled.THREAD_MIN_GROUPS))
                assert set(blas_threads().values()) == {1}
            after = blas_threads()
            _compiled._map(kernel, np.arange(_compiled.THREAD_MIN_GROUPS))  # one part
    finally:
        torch.set_num_threads(1)
    assert 2 in before.values()
    assert [size for size, _ in seen] == [_compiled.THREAD_MIN_GROUPS] * 5
    assert all(threads == {1} for _, threads in seen[:4])
    assert after == before and seen[4][1] == set(before.values())


def test_split_calls_cover_every_group_once():
    # the parts are taken by whichever thread is free: together they are ``todo``, each group
    # once, whatever the threads' timing (a first part that sleeps leaves the rest to others)
    seen, lock = [], threading.Lock()

    def kernel(part, tag):
        if part[0] == todo[0]:
            time.sleep(0.05)
        with lock:
            seen.append((part.copy(), tag, threading.get_ident()))

    todo = np.arange(10 * _compiled.THREAD_MIN_GROUPS + 7)[::-1].copy()
    torch.set_num_threads(2)
    try:
        _compiled._map(kernel, todo, "shared")
    finally:
        torch.set_num_threads(1)
    parts = [part for part, _, _ in seen]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(todo.size))
    assert all(tag == "shared" for _, tag, _ in seen)
    assert len({ident for _, _, ident in seen}) == 2 and len(parts) > 2


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_split_calls_release_torchs_openmp_threads():
    # GNU OpenMP's threads spin after a parallel region on the cores a split call then uses:
    # released, they end (torch's next parallel region starts them again; other runtimes' may
    # sleep instead, so this counts GNU OpenMP's only)
    from threadpoolctl import threadpool_info

    if not any("gomp" in info["filepath"] for info in threadpool_info()
               if info["user_api"] == "openmp") or not _compiled._openmp_pauses():
        pytest.skip("torch's OpenMP is not GNU OpenMP with omp_pause_resource_all")

    def threads():
        return len(os.listdir("/proc/self/task"))

    torch.set_num_threads(3)
    try:
        X = torch.randn(400, 300, dtype=torch.float64)
        _ = X @ X.T
        before = threads()
        _compiled._release_openmp()
        deadline = time.monotonic() + 5
        while threads() > before - 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        released = threads()
        assert torch.allclose(X @ X.T, (X @ X.T).T)  # torch's threads start again
    finally:
        torch.set_num_threads(1)
    assert released <= before - 2


def test_float32_projections_to_float32_precision():
    X, signs = cones(50, 5, 8, seed=9)
    V0 = np.random.default_rng(3).standard_normal((5, 8, 1))
    projector = CompiledConeProjector(torch.as_tensor(X, dtype=torch.float32),
                                      torch.as_tensor(signs, dtype=torch.float32), 1)
    margins = torch.as_tensor(signs * (X @ V0[:, :, 0]), dtype=torch.float32)
    got = projector(torch.as_tensor(V0, dtype=torch.float32), torch.arange(8), margins)
    assert got.dtype == torch.float32 and projector.multipliers.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), scipy_projection(X, signs, 1, V0), atol=1e-5)


def test_the_factory_picks_the_compiled_projector_on_the_cpu(monkeypatch):
    X, signs = torch.randn(10, 3, dtype=torch.float64), torch.ones(10, 4, dtype=torch.float64)
    assert isinstance(make_cone_projector(X, signs, 2), CompiledConeProjector)
    assert isinstance(make_cone_projector(X.float(), signs.float(), 2), CompiledConeProjector)
    monkeypatch.setattr(_projections, "COMPILED", False)
    assert type(make_cone_projector(X, signs, 2)) is ConeProjector
    monkeypatch.setattr(_projections, "COMPILED", True)
    monkeypatch.setattr(_projections, "COMPILED_MAX_BYTES", 10)
    assert type(make_cone_projector(X, signs, 2)) is ConeProjector
    monkeypatch.setattr(_projections, "COMPILED_MAX_BYTES", 2**32)
    # without numba: the torch projector
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "convexnn.cones._compiled")
    assert type(make_cone_projector(X, signs, 2)) is ConeProjector


def test_admm_reaches_the_conic_optimum_with_either_projector(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 2))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(24)
    problem = ConvexProblem.build(X, y, loss="squared", beta=1e-2, patterns="sampled",
                                  n_patterns=20, seed=0)
    reference = solve(problem, "conic").objective
    made = []
    original = CompiledConeProjector.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(CompiledConeProjector, "__init__", counting)
    objectives = {}
    for compiled in (True, False):
        monkeypatch.setattr(_projections, "COMPILED", compiled)
        made.clear()
        solution = solve(problem, "admm", tol=1e-6, max_iter=50_000)
        assert solution.status == "optimal"
        objectives[compiled] = solution.objective
        assert bool(made) == compiled
    for objective in objectives.values():
        assert objective == pytest.approx(reference, rel=1e-6, abs=1e-12)
    assert objectives[True] == pytest.approx(objectives[False], rel=1e-6)


def test_the_kernels_blas_is_loaded_with_the_module():
    # _SerialBLAS limits the BLAS libraries loaded when it first runs; the kernels' products go
    # through SciPy's (numba's np.dot calls scipy.linalg.cython_blas), so the module loads it
    code = """
from threadpoolctl import ThreadpoolController
import convexnn.cones._compiled
def blas():
    return {lib["filepath"] for lib in ThreadpoolController().info() if lib["user_api"] == "blas"}
before = blas()
import scipy.linalg.cython_blas
print(sorted(blas() - before))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
