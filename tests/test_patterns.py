"""Activation patterns: exact enumeration against brute force and Cover's count; sampling."""

import itertools
from math import e

import numpy as np
import pytest
from scipy.optimize import linprog

from convexnn.patterns import (
    Patterns,
    add_bias,
    cover_count,
    enumerate_patterns,
    make_patterns,
    sample_patterns,
)


def brute_force_patterns(X):
    """Every sign vector s in {+-1}^n whose open cone {u : s_j x_j^T u > 0} is non-empty.

    Independent of the incremental construction: one LP per sign vector (2^n of them).
    """
    n, d = X.shape
    found = set()
    for signs in itertools.product((1.0, -1.0), repeat=n):
        A = np.array(signs)[:, None] * X
        # maximize t s.t. A u >= t, u in [-1, 1]^d, t <= 1
        res = linprog(
            np.r_[np.zeros(d), -1.0],
            A_ub=np.hstack([-A, np.ones((n, 1))]),
            b_ub=np.zeros(n),
            bounds=[(-1, 1)] * d + [(None, 1)],
            method="highs",
        )
        if res.status == 0 and -res.fun > 1e-9:
            found.add(tuple(s > 0 for s in signs))
    return found


def as_set(patterns: Patterns):
    return {tuple(col) for col in patterns.D.T}


@pytest.mark.parametrize(("n", "d", "expected"), [(6, 2, 12), (10, 3, 92), (8, 4, 128)])
def test_enumeration_matches_cover_count_and_brute_force(n, d, expected):
    X = np.random.default_rng(n * d).standard_normal((n, d))  # general position a.s.
    patterns = enumerate_patterns(X)
    assert patterns.exact
    assert patterns.n_patterns == expected == cover_count(n, d)
    assert as_set(patterns) == brute_force_patterns(X)
    # the bound the paper prints, 2 r (e (n - 1) / r)^r, is never exceeded
    assert patterns.n_patterns <= 2 * d * (e * (n - 1) / d) ** d


def test_rank_three_enumeration_matches_brute_force_on_degenerate_data():
    # two features plus bias are enumerated from the arrangement's vertices (no LPs); on a
    # 3 x 3 grid many planes pass through one vertex (collinear points)
    X = add_bias(np.array([(i, j) for i in range(3) for j in range(3)], float) - 1.0)
    patterns = enumerate_patterns(X)
    assert as_set(patterns) == brute_force_patterns(X)
    np.testing.assert_array_equal(X @ patterns.generators >= 0, patterns.D)
    # a repeated row and a zero row ride along (the brute force needs distinct nonzero rows)
    more = enumerate_patterns(np.vstack([X, X[:1], np.zeros((1, 3))]))
    assert as_set(Patterns(more.D[:9], more.generators, exact=True)) == as_set(patterns)
    np.testing.assert_array_equal(more.D[9], more.D[0])
    assert more.D[10].all()


def test_generators_realize_their_patterns(rng):
    X = rng.standard_normal((9, 3))
    patterns = enumerate_patterns(X)
    np.testing.assert_array_equal(X @ patterns.generators >= 0, patterns.D)


def test_one_dimensional_data_with_bias_has_2n_patterns(rng):
    x = rng.standard_normal(15)
    patterns = enumerate_patterns(add_bias(x[:, None]))
    assert patterns.n_patterns == 2 * 15
    # patterns are thresholds on the sorted points: each is a prefix or suffix of the order
    order = np.argsort(x)
    for col in patterns.D.T:
        sorted_col = col[order]
        assert np.all(np.diff(sorted_col.astype(int)) >= 0) or np.all(
            np.diff(sorted_col.astype(int)) <= 0
        )


def test_whitened_full_row_rank_data_has_all_patterns(rng):
    A = rng.standard_normal((5, 8))  # n <= d and full row rank: every sign vector occurs
    assert enumerate_patterns(A).n_patterns == 2**5


def test_rank_deficient_data_is_enumerated_in_its_row_space(rng):
    # 8 points on a 2-D plane inside R^4: the count is that of rank 2
    X = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 4))
    patterns = enumerate_patterns(X)
    assert patterns.n_patterns == cover_count(8, 2)
    assert as_set(patterns) == brute_force_patterns(X)


def test_duplicate_and_zero_rows(rng):
    X = rng.standard_normal((6, 2))
    X = np.vstack([X, X[:2], np.zeros((1, 2))])
    patterns = enumerate_patterns(X)
    assert patterns.n_patterns == cover_count(6, 2)
    np.testing.assert_array_equal(patterns.D[6:8], patterns.D[:2])
    assert patterns.D[8].all()  # x = 0 gives x^T u = 0 >= 0 for every u


def test_sampling_is_seeded_unique_and_a_subset_of_all(rng):
    X = rng.standard_normal((10, 3))
    a = sample_patterns(X, 500, seed=7)
    b = sample_patterns(X, 500, seed=7)
    np.testing.assert_array_equal(a.D, b.D)
    assert not a.exact
    assert len(as_set(a)) == a.n_patterns  # de-duplicated
    assert as_set(a) <= as_set(enumerate_patterns(X))
    np.testing.assert_array_equal(X @ a.generators >= 0, a.D)


def test_enumeration_refuses_problems_too_large():
    X = np.random.default_rng(0).standard_normal((200, 10))
    with pytest.raises(ValueError, match="max_patterns"):
        enumerate_patterns(X, max_patterns=1000)


def test_make_patterns_validates_its_argument(rng):
    X = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match="patterns must be"):
        make_patterns(X, "everything")
    with pytest.raises(ValueError, match="made for 5 samples"):
        make_patterns(rng.standard_normal((6, 2)), enumerate_patterns(X))
    assert make_patterns(X, "auto").exact  # tiny problem: auto enumerates


def test_cover_count_values():
    assert cover_count(12, 2) == 24
    assert cover_count(10, 1) == 2
    with pytest.raises(ValueError, match="n_samples"):
        cover_count(0, 2)


def test_pattern_counts_that_cannot_fit_are_refused_before_allocating():
    import resource

    from convexnn.problem import ConvexProblem

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 50)), rng.standard_normal(2000)
    for count in (10**6, 10**12):  # 22 GB and 29 TiB before the fix
        with pytest.raises(ValueError, match=f"n_patterns={count} would need about .* GiB"):
            ConvexProblem.build(X, y, patterns="sampled", n_patterns=count)
    # far more directions than the 382 patterns of 20 points in 3-D: sampling stops once a chunk
    # finds nothing new, instead of drawing 10**9 directions (24 GB before the fix)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.warns(UserWarning, match="at most 382"):
        patterns = make_patterns(add_bias(X[:20, :2]), "sampled", n_patterns=10**9, seed=0)
    assert patterns.n_patterns <= 382
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 2 * 2**20  # under 2 GB (kilobytes on Linux)


def test_data_point_directions_put_the_kink_on_a_sample():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    Xa = np.hstack([X, np.ones((30, 1))])
    patterns = sample_patterns(Xa, 50, seed=1, directions="data")
    # every generator's hyperplane passes through (at least) one sample
    on_plane = np.abs(Xa @ patterns.generators) <= 1e-9 * np.linalg.norm(patterns.generators,
                                                                          axis=0)
    assert on_plane.any(axis=0).all()
    assert np.array_equal(Xa @ patterns.generators >= 0, patterns.D)
    # without a bias column: hyperplanes through the origin and a sample
    plain = sample_patterns(X, 20, seed=1, directions="data")
    assert (np.abs(X @ plain.generators) <= 1e-9 * np.linalg.norm(plain.generators, axis=0)
            ).any(axis=0).all()
    with pytest.raises(ValueError, match="directions must be"):
        sample_patterns(X, 5, directions="grid")
