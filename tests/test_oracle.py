"""The separation oracle against exact references: circle enumeration, enumerated patterns."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from convexnn._duality import cone_maximum
from convexnn.certificates import dual_constraint_max
from convexnn.oracle import (
    _ascend,
    _circle_maximum_batched,
    ascent_oracle,
    circle_maximum,
    cone_prices,
    exact_oracle,
    oracle_values,
    separation_oracle,
)
from convexnn.patterns import add_bias, enumerate_patterns, sample_patterns
from convexnn.problem import ConvexProblem
from convexnn.solvers import solve

from .conftest import regression_data

pytestmark = pytest.mark.usefixtures("one_thread")

BETA = 1e-3
LOADERS = {"breast_cancer": load_breast_cancer, "diabetes": load_diabetes, "wine": load_wine}


def relu_value(Xa, lam, u):
    """``lam^T (Xa u / ||u||)_+`` in plain NumPy (the reference evaluation)."""
    u = np.asarray(u, float) / np.linalg.norm(u)
    return float(lam @ np.maximum(Xa @ u, 0.0))


def circle_reference(Xa, lam):
    """Exact ``max_{||u|| = 1} lam^T (Xa u)_+`` for ``Xa`` of shape (n, 2), by enumeration.

    The 2n breakpoints ``x_i^T u = 0`` cut the circle into arcs on which the active set is
    fixed and the objective is ``g^T u``, ``g = Xa^T (D lam)``; its maximum on an arc is at an
    end or at ``g / ||g||`` when that lies inside (oracle.md). Written independently of the
    library: one arc at a time.
    """
    ends = np.concatenate([np.arctan2(-Xa[:, 0], Xa[:, 1]), np.arctan2(Xa[:, 0], -Xa[:, 1])])
    ends = np.sort(np.mod(ends, 2 * np.pi))
    ends = np.append(ends, ends[0] + 2 * np.pi)
    best = -np.inf
    for lo, hi in zip(ends[:-1], ends[1:], strict=True):
        if hi - lo <= 0:
            continue
        mid = np.array([np.cos(0.5 * (lo + hi)), np.sin(0.5 * (lo + hi))])
        g = Xa.T @ ((Xa @ mid >= 0) * lam)
        candidates = [lo, hi]
        peak = lo + np.mod(np.arctan2(g[1], g[0]) - lo, 2 * np.pi)
        if peak <= hi:
            candidates.append(peak)
        for t in candidates:
            best = max(best, relu_value(Xa, lam, [np.cos(t), np.sin(t)]))
    return best


def restricted_dual(x, y, n_patterns, seed):
    """The dual of program (8) restricted to a few sampled patterns (the conic solver)."""
    problem = ConvexProblem.build(x, y, beta=BETA, patterns=sampled(x, n_patterns, seed))
    return problem.X, solve(problem, "conic").dual


def sampled(x, count, seed):
    return sample_patterns(add_bias(x), count, seed=seed)


def standardized(X):
    return (X - X.mean(0)) / X.std(0)


# ------------------------------------------------------------------------- circle maximum
@pytest.mark.parametrize("search", [circle_maximum, _circle_maximum_batched],
                         ids=["compiled", "batched"])
@pytest.mark.parametrize("degenerate", [False, True])
def test_circle_maximum_matches_a_dense_grid(search, degenerate):
    # The exact circle search against 100k angles: it must be >= the grid's best (it is the
    # maximum) and above it by at most the grid's resolution times the Lipschitz constant.
    # Both implementations (compiled per column on the CPU, batched in torch for GPUs); the
    # degenerate columns have a zero sample, samples with breakpoints at angle 0 and pi/2, a
    # duplicated sample and one of opposite sign (tied breakpoints).
    rng = np.random.default_rng(0)
    n, m = 30, 4
    a, b, lam = (torch.as_tensor(rng.standard_normal((n, m))) for _ in range(3))
    if degenerate:
        a[0], b[0] = 0.0, 0.0
        a[1], b[1] = 0.0, 1.0
        a[2], b[2] = 1.0, 0.0
        a[3], b[3] = a[4], b[4]
        a[5], b[5] = -a[6], -b[6]
    t, value = search(a, b, lam)
    grid = torch.linspace(0, 2 * np.pi, 100_001, dtype=torch.float64)
    pre = a[:, :, None] * torch.cos(grid) + b[:, :, None] * torch.sin(grid)  # (n, m, grid)
    on_grid = (lam[:, :, None] * torch.relu(pre)).sum(0).max(dim=1).values
    lipschitz = (lam.abs() * torch.sqrt(a**2 + b**2)).sum(0)
    assert torch.all(value >= on_grid - 1e-12)
    assert torch.all(value <= on_grid + lipschitz * (2 * np.pi / 100_000))
    # the returned angle attains the returned value (recomputed, not from the segment sums)
    at_t = (lam * torch.relu(a * torch.cos(t) + b * torch.sin(t))).sum(0)
    torch.testing.assert_close(at_t, value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "batched"])
def test_ascent_in_the_plane_reaches_the_circle_maximum(compiled):
    # In 2-D the great circle through u and any tangent is the whole unit circle, so one
    # ascent iteration must reach the circle's maximum from every start (checked against 100k
    # angles, to the grid's resolution times the Lipschitz constant). Both the compiled
    # per-column loop (the CPU's) and the batched torch loop (the GPU's) return points that
    # attain their values, never below their starts.
    rng = np.random.default_rng(3)
    n, m = 40, 12
    X = torch.as_tensor(rng.standard_normal((n, 2)))
    lam = torch.as_tensor(rng.standard_normal((n, m)))
    U = torch.as_tensor(rng.standard_normal((2, m)))
    U = U / torch.linalg.vector_norm(U, dim=0)
    start = (lam * torch.relu(X @ U)).sum(0)
    generator = torch.Generator().manual_seed(0)
    got, values, evaluated = _ascend(X, lam, U, 5, 2, generator, compiled=compiled)
    grid = torch.linspace(0, 2 * np.pi, 100_001, dtype=torch.float64)
    circle = torch.stack([torch.cos(grid), torch.sin(grid)])
    best = (lam[:, :, None] * torch.relu(X @ circle)[:, None, :]).sum(0).max(dim=1).values
    lipschitz = (lam.abs() * torch.linalg.vector_norm(X, dim=1)[:, None]).sum(0)
    assert torch.all(values >= best - 1e-12)
    assert torch.all(values <= best + lipschitz * (2 * np.pi / 100_000))
    assert torch.all(values >= start)
    torch.testing.assert_close(torch.linalg.vector_norm(got, dim=0),
                               torch.ones(m, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close((lam * torch.relu(X @ got)).sum(0), values, rtol=1e-12,
                               atol=1e-12)
    assert evaluated > 0


def test_compiled_ascent_gives_the_same_result_every_time():
    rng = np.random.default_rng(4)
    X = torch.as_tensor(rng.standard_normal((60, 5)))
    lam = torch.as_tensor(rng.standard_normal((60, 8)))
    U = torch.as_tensor(rng.standard_normal((5, 8)))
    U = U / torch.linalg.vector_norm(U, dim=0)
    runs = [_ascend(X, lam, U, 30, 3, torch.Generator().manual_seed(1)) for _ in range(2)]
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=0, atol=0)
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)
    assert torch.all(runs[0][1] >= (lam * torch.relu(X @ U)).sum(0))


# -------------------------------------------------------------- 2-D exact reference, real data
def test_ascent_misses_nothing_on_bundled_data_in_2d():
    # oracle.md's setting: one standardized feature plus bias of breast_cancer, diabetes and
    # wine, squared loss, beta 1e-3, the dual of a restriction to 5 or 20 sampled patterns.
    # 3 data sets x 4 features x 2 pattern counts x 2 signs = 48 cases. Within 1% of the exact
    # circle maximum in all of them, also with the data starts off (the ascent alone, from
    # 20 random starts, finds the maxima: in 2-D its circle is the whole circle).
    cases, violated, misses = 0, 0, []
    for name, loader in LOADERS.items():
        X, y = loader(return_X_y=True)
        y = standardized(y.astype(float)[:, None])[:, 0]
        for feature in (0, 3, 6, 9):
            x = standardized(X[:, feature : feature + 1])
            for count in (5, 20):
                Xa, Lam = restricted_dual(x, y, count, seed=feature + count)
                full = ascent_oracle(Xa, Lam, seed=0)
                bare = ascent_oracle(Xa, Lam, seed=0, n_random=20, max_data_starts=0,
                                     n_ascent=4)
                for j, s in enumerate((1.0, -1.0)):
                    true = circle_reference(Xa, s * Lam[:, 0])
                    cases += 1
                    violated += true > 1.05 * BETA
                    for result in (full, bare):
                        if result.values[0, j] < 0.99 * true:
                            misses.append((name, feature, count, s, true, result.values[0, j]))
    assert cases == 48
    assert violated >= 40  # the restricted duals are far from feasible: real tests
    assert misses == []


# ----------------------------------------------------- enumerated patterns, d = 3 and d = 4
@pytest.mark.parametrize(("n_features", "n_samples"), [(2, 14), (3, 10)])
def test_ascent_reaches_the_enumerated_maximum(n_features, n_samples):
    # Reference: all patterns (enumerate_patterns) priced by certificates.dual_constraint_max,
    # the maximum over both signs of the cone-constrained maxima (exact batched projections,
    # checked against SciPy's NNLS in test_cones.py). Rows and features of
    # breast_cancer, several random subsets and duals.
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(n_features)
    for trial in range(2):
        rows = rng.choice(len(y), n_samples, replace=False)
        cols = rng.choice(X.shape[1], n_features, replace=False)
        x = standardized(X[np.ix_(rows, cols)])
        target = 2.0 * y[rows] - 1
        Xa, Lam = restricted_dual(x, target, 5, seed=trial)
        problem = ConvexProblem(Xa, target, "squared", BETA, enumerate_patterns(Xa), bias=True)
        true = dual_constraint_max(problem, Lam)
        assert true > 1.05 * BETA  # a violated dual: the oracle has something to find
        found = ascent_oracle(Xa, Lam, seed=trial, n_random=50, max_data_starts=0, n_ascent=8)
        # the ascent's values are attained, so never above the maximum (rounding aside)
        assert true * 0.99 <= found.best <= true * (1 + 1e-9)
        exact = exact_oracle(Xa, Lam, problem.patterns)
        assert exact.exact
        assert exact.best == pytest.approx(true, rel=1e-9)


# -------------------------------------------------------------------------- direct checks
def test_returned_values_are_attained_by_the_returned_directions():
    # Every value is recomputed here in NumPy at the returned unit direction.
    X, y = regression_data(n=30, d=3, seed=1)
    Xa, Lam = restricted_dual(X, np.column_stack([y, -y**2]), 5, seed=0)
    result = ascent_oracle(Xa, Lam, seed=0, n_candidates=3)
    for c in range(2):
        for j, s in enumerate((1.0, -1.0)):
            u = result.directions[:, c, j]
            assert np.linalg.norm(u) == pytest.approx(1.0, abs=1e-12)
            assert relu_value(Xa, s * Lam[:, c], u) == pytest.approx(result.values[c, j],
                                                                    rel=1e-12, abs=1e-15)
    for u, value, c, s, D in zip(result.candidates.T, result.candidate_values,
                                 result.candidate_outputs, result.candidate_signs,
                                 result.candidate_patterns.T, strict=True):
        assert relu_value(Xa, s * Lam[:, c], u) == pytest.approx(value, rel=1e-12, abs=1e-15)
        # the pattern is u's sign pattern; the cell walk's exact cone projections leave u on
        # faces, where x_i^T u is zero to rounding and a matrix product and a matrix-vector
        # product may round it to opposite signs: there u is on the hyperplane (either side
        # gives the same neuron), so only ties may differ
        margins = Xa @ u
        tie = np.abs(margins) <= 1e-12 * np.linalg.norm(Xa, axis=1)
        assert np.array_equal(D[~tie], margins[~tie] >= 0)
    # the generators lie strictly inside their patterns' cells, clear of rounding
    generators = result.candidate_generators
    margins = np.where(result.candidate_patterns, 1.0, -1.0) * (Xa @ generators)
    assert np.all(margins > 1e-12 * np.linalg.norm(Xa, axis=1)[:, None])
    # oracle_values scores every direction for every output and sign: column 2 c + j of the
    # flattened directions is the best of output c, sign j
    scores = oracle_values(Xa, Lam, result.directions.reshape(Xa.shape[1], -1))
    for c in range(2):
        for j in range(2):
            assert scores[c, j, 2 * c + j] == pytest.approx(result.values[c, j], rel=1e-12)


def test_generators_move_off_the_hyperplanes_they_lie_on():
    # directions put exactly on the hyperplanes of one or two rows (the null space of those
    # rows), with a side assigned to each tied row: each comes back a unit vector within
    # ~NUDGE of where it was, every row strictly on its side; a direction on no hyperplane is
    # returned as it was; one whose tied rows cannot all get their sides (two identical rows
    # given opposite sides) stays where it was
    from convexnn.oracle import _off_hyperplanes

    rng = np.random.default_rng(3)
    Xa = rng.standard_normal((25, 4))
    Xa[24] = Xa[23]
    columns, patterns = [], []
    for rows in ([0], [1, 2], [5], []):
        u = rng.standard_normal(4)
        if rows:
            basis = np.linalg.svd(Xa[rows])[2][len(rows):]  # the rows' null space
            u = basis.T @ (basis @ u)
        u /= np.linalg.norm(u)
        D = Xa @ u >= 0
        D[rows] = rng.integers(0, 2, len(rows)).astype(bool)
        columns.append(u)
        patterns.append(D)
    U, D = np.column_stack(columns), np.column_stack(patterns)
    moved = _off_hyperplanes(Xa, U, D)
    signs = np.where(D, 1.0, -1.0)
    assert np.all(signs * (Xa @ moved) > 0)
    np.testing.assert_allclose(np.linalg.norm(moved, axis=0), 1.0, rtol=1e-14)
    assert np.abs(moved - U).max() <= 1e-7
    assert np.array_equal(moved[:, 3], U[:, 3])
    # rows 23 and 24 are the same hyperplane: opposite sides are impossible
    u = np.linalg.svd(Xa[[23]])[2][1:].T @ rng.standard_normal(3)
    u /= np.linalg.norm(u)
    D = Xa @ u >= 0
    D[23], D[24] = True, False
    np.testing.assert_array_equal(_off_hyperplanes(Xa, u[:, None], D[:, None])[:, 0], u)


def test_a_timed_out_ascent_returns_its_best_so_far():
    # with a time limit spent at once, the ascents and walks stop where they are: fewer
    # directions evaluated than without it, and every value still attained by its direction
    X, y = regression_data(n=200, d=6, seed=3)
    Xa, Lam = restricted_dual(X, y, 5, seed=0)
    full = ascent_oracle(Xa, Lam, seed=0)
    cut = ascent_oracle(Xa, Lam, seed=0, time_limit=1e-9)
    assert cut.n_directions < full.n_directions
    for j, s in enumerate((1.0, -1.0)):
        assert relu_value(Xa, s * Lam[:, 0], cut.directions[:, 0, j]) == pytest.approx(
            cut.values[0, j], rel=1e-12, abs=1e-15)
    assert np.all(cut.values <= full.values * (1 + 1e-12) + 1e-15)


def test_exact_oracle_directions_lie_in_their_patterns_closed_cones():
    # The exact oracle's maximizer of a pattern may sit on its cell's boundary, but inside the
    # closed cone, where (X u)_+ = D X u: its value is attained by a ReLU neuron.
    X, y = regression_data(n=12, d=1, seed=3)
    Xa, Lam = restricted_dual(X, y, 3, seed=0)
    patterns = enumerate_patterns(Xa)
    result = exact_oracle(Xa, Lam, patterns, n_candidates=5)
    for u, value, s, D in zip(result.candidates.T, result.candidate_values,
                              result.candidate_signs, result.candidate_patterns.T, strict=True):
        margins = np.where(D, 1.0, -1.0) * (Xa @ u)
        assert margins.min() >= -1e-12
        assert relu_value(Xa, s * Lam[:, 0], u) == pytest.approx(value, rel=1e-9)


def test_no_violation_at_the_dual_of_an_enumerated_optimum():
    # At the optimum over all patterns the dual is feasible: max <= beta, to the conic
    # solver's accuracy (interior point, relative 1e-9; we allow 1e-6).
    X, y = regression_data(n=14, d=2, seed=5)
    problem = ConvexProblem.build(X, y, beta=0.02, patterns="exact")
    dual = solve(problem, "conic").dual
    assert exact_oracle(problem.X, dual, problem.patterns).best <= 0.02 * (1 + 1e-6)
    assert ascent_oracle(problem.X, dual, seed=0).best <= 0.02 * (1 + 1e-6)
    assert separation_oracle(problem.X, dual, patterns=problem.patterns).exact


def test_batched_cone_prices_match_scipy_nnls():
    # cone_prices projects all groups at once (convexnn.cones.cone_maxima); the reference is
    # SciPy's NNLS one group at a time (_duality.cone_maximum), for two outputs and a dual far
    # from feasible. Both are exact projections: they agree to rounding. Its maximum is the
    # certificates' dual constraint.
    X, y = regression_data(n=40, d=4, seed=6)
    problem = ConvexProblem.build(X, np.column_stack([y, np.sin(y)]), beta=BETA,
                                  patterns="sampled", n_patterns=30, seed=0)
    Lam = np.random.default_rng(1).standard_normal((40, 2)) / 40
    prices = cone_prices(problem.X, Lam, problem.patterns.D)
    assert prices.shape == (problem.patterns.n_patterns, 2, 2)
    Xa, D = problem.X, problem.patterns.D
    for i in range(D.shape[1]):
        B = Xa.T * np.where(D[:, i], 1.0, -1.0)
        for c in range(2):
            g = Xa.T @ (D[:, i] * Lam[:, c])
            want = [cone_maximum(g, B)[0], cone_maximum(-g, B)[0]]  # s = +1, -1
            np.testing.assert_allclose(prices[i, c], want, rtol=0,
                                       atol=1e-10 * np.linalg.norm(g))
    assert prices.max() == pytest.approx(dual_constraint_max(problem, Lam), rel=1e-10)


def test_given_starts_are_used():
    # A start at the maximizer is kept (best over all iterates, starts included).
    X, y = regression_data(n=12, d=2, seed=2)
    Xa, Lam = restricted_dual(X, y, 4, seed=1)
    problem = ConvexProblem(Xa, y, "squared", BETA, enumerate_patterns(Xa), bias=True)
    best = exact_oracle(Xa, Lam, problem.patterns)
    j = int(np.argmax(best.values[0]))
    result = ascent_oracle(Xa, Lam, starts=best.directions[:, 0, j:j + 1], n_random=1,
                           max_data_starts=0, max_iter=0, alternations=0, seed=0)
    assert result.values[0, j] >= best.values[0, j] * (1 - 1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"Lam": np.zeros(5)}, "Lam must have one row per sample"),
    ({"starts": np.zeros((2, 3))}, "starts must have 3 rows"),
    ({"n_ascent": 0}, "n_ascent must be >= 1"),
    ({"max_iter": -1}, "max_iter must be >= 0"),
    ({"time_limit": 0}, "time_limit must be a positive number of seconds"),
])
def test_errors_name_the_argument(kwargs, message):
    Xa, Lam = np.ones((6, 3)), np.ones(6)
    args = {"Xa": Xa, "Lam": Lam, **kwargs}
    with pytest.raises(ValueError, match=message):
        ascent_oracle(args.pop("Xa"), args.pop("Lam"), **args)


def test_exact_oracle_checks_its_patterns():
    Xa = np.ones((6, 3))
    with pytest.raises(TypeError, match="patterns must be a Patterns"):
        exact_oracle(Xa, np.ones(6), "exact")
    with pytest.raises(ValueError, match="patterns were made for 4 samples"):
        exact_oracle(Xa, np.ones(6), sample_patterns(np.ones((4, 3)), 3, seed=0))
