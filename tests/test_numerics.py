"""Numerical faults: feature scales, conditioning, legal-but-degenerate data, solver statuses.

References: the conic solver (CVXPY + Clarabel) on the program built directly, scikit-learn's
StandardScaler, Cover's count, and the network formula of Theorem 1.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from convexnn import (
    ConvexProblem,
    ConvexReLUClassifier,
    ConvexReLURegressor,
    ConvexSolution,
    TwoLayerReLU,
    certify,
    cover_count,
    enumerate_patterns,
    solve,
)

from .conftest import regression_data

pytestmark = pytest.mark.usefixtures("one_thread")


def _training_inputs(est):
    """The distinct training samples in raw units, in the order of ``solution_``."""
    Xs = est.solution_.problem.X[:, :-1] if est.bias else est.solution_.problem.X
    return Xs * est.feature_scale_ + est.feature_mean_


SCALES = {
    "1e6": np.array([1e6, 1e6]),
    "1e-6": np.array([1e-6, 1e-6]),
    "mixed": np.array([1e6, 1e-6]),
}


@pytest.mark.parametrize("scale", SCALES.values(), ids=SCALES.keys())
def test_standardize_returns_a_network_in_original_units(scale):
    """The bug of pyscnn: its network disagrees with its convex model on unscaled features.
    Here network_ (raw units) reproduces both the estimator and the convex model to 1e-8."""
    X, y = regression_data(n=10)
    X = X * scale + 3 * scale  # off-center too, so the bias absorbs the centering
    est = ConvexReLURegressor(beta=1e-3, standardize=True).fit(X, y)
    assert est.solution_.status == "optimal"
    np.testing.assert_allclose(est.network_.predict(X)[:, 0], est.predict(X), rtol=0, atol=1e-8)
    convex = est.solution_.predict_training()[:, 0]
    np.testing.assert_allclose(est.network_.predict(_training_inputs(est))[:, 0], convex,
                               rtol=0, atol=1e-8)
    # independent reference: scikit-learn's scaler, then the unscaled estimator
    reference = ConvexReLURegressor(beta=1e-3).fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_allclose(est.predict(X), reference.predict(StandardScaler().fit(X)
                                                                  .transform(X)), atol=1e-6)
    assert est.certificate_.primal == pytest.approx(reference.certificate_.primal, rel=1e-6)


@pytest.mark.parametrize("scale", [1e6, 1e-6])
def test_unstandardized_network_matches_the_convex_model(scale):
    """Without standardization the fit is a different problem, but the network still is the
    convex model: predictions agree to 1e-8 relative to the targets' scale."""
    X, y = regression_data(n=10)
    est = ConvexReLURegressor(beta=1e-3).fit(X * scale, y)
    convex = est.solution_.predict_training()[:, 0]
    np.testing.assert_allclose(est.network_.predict(_training_inputs(est))[:, 0], convex,
                               rtol=0, atol=1e-8)


def test_standardize_without_bias_only_scales():
    X, y = regression_data(n=8)
    X = X * np.array([100.0, 0.01])
    est = ConvexReLURegressor(beta=1e-3, bias=False, standardize=True).fit(X, y)
    np.testing.assert_array_equal(est.feature_mean_, 0)
    np.testing.assert_allclose(est.feature_scale_, np.sqrt(np.mean(X**2, axis=0)))
    np.testing.assert_allclose(est.network_.predict(X)[:, 0], est.predict(X), atol=1e-8)


def test_standardize_weights_like_repeated_rows():
    X, y = regression_data(n=8)
    X = X * 50 + 7
    weighted = ConvexReLURegressor(standardize=True).fit(X, y, sample_weight=[2] + [1] * 7)
    repeated = ConvexReLURegressor(standardize=True).fit(np.vstack([X[:1], X]), np.r_[y[0], y])
    np.testing.assert_allclose(weighted.feature_mean_, repeated.feature_mean_, rtol=1e-12)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), atol=1e-7)


@pytest.mark.parametrize("kind", ["ill-conditioned", "rank-deficient"])
def test_ill_conditioned_and_rank_deficient_data_are_solved(kind):
    X0, y = regression_data(n=10, d=3)
    U, _, Vt = np.linalg.svd(X0, full_matrices=False)
    X = (U @ np.diag([1, 1e-5, 1e-10]) @ Vt if kind == "ill-conditioned"
         else np.c_[X0[:, :2], X0[:, 0] - 2 * X0[:, 1]])
    if kind == "ill-conditioned":
        assert np.linalg.cond(X) == pytest.approx(1e10, rel=1e-3)
    est = ConvexReLURegressor(beta=1e-3).fit(X, y)
    assert est.solution_.status == "optimal"
    assert est.patterns_.exact
    # the interior point's gap: within Clarabel's 1e-9 tolerances (plus rounding)
    assert -1e-8 <= est.certificate_.relative_gap <= 1e-7
    np.testing.assert_allclose(est.network_.predict(_training_inputs(est))[:, 0],
                               est.solution_.predict_training()[:, 0], rtol=0, atol=1e-8)


def test_rank_deficiency_lowers_the_pattern_count_to_covers_count_of_the_rank():
    X, _ = regression_data(n=9, d=2)
    X3 = np.c_[X, X[:, 0] + X[:, 1]]  # rank 2 in R^3
    assert enumerate_patterns(X3).n_patterns == cover_count(9, 2) == 18


# ------------------------------------------------------------- constant features, duplicate rows
def test_constant_feature_is_an_unregularized_bias_twin():
    """A constant column c with bias=False is the program with a bias (for c = 1): identical."""
    X, y = regression_data(n=9)
    with_column = ConvexReLURegressor(beta=1e-3, bias=False).fit(np.c_[X, np.ones(9)], y)
    with_bias = ConvexReLURegressor(beta=1e-3, bias=True).fit(X, y)
    assert with_column.patterns_.n_patterns == with_bias.patterns_.n_patterns
    assert with_column.certificate_.primal == pytest.approx(with_bias.certificate_.primal,
                                                            rel=1e-7)
    np.testing.assert_allclose(with_column.predict(np.c_[X, np.ones(9)]), with_bias.predict(X),
                               atol=1e-6)


def test_constant_feature_keeps_the_cover_count_and_a_global_certificate():
    X, y = regression_data(n=9)
    Xc = np.c_[X, np.full(9, 5.0)]  # constant column: collinear with the bias column
    for standardize in (False, True):
        est = ConvexReLURegressor(beta=1e-3, standardize=standardize).fit(Xc, y)
        assert est.patterns_.n_patterns == cover_count(9, 3)  # rank of [X, 5, 1] is 3
        assert est.certificate_.exact_patterns and est.solution_.status == "optimal"
        assert est.certificate_.relative_gap <= 1e-7
        np.testing.assert_allclose(est.network_.predict(Xc)[:, 0], est.predict(Xc), atol=1e-8)
    assert est.feature_scale_[2] == 1.0  # a constant feature keeps scale 1


def test_all_constant_features_fit_the_mean():
    X = np.ones((6, 2))
    y = np.arange(6.0)
    est = ConvexReLURegressor(beta=1e-6, standardize=True).fit(X, y)
    # every sample is the same point: the best network predicts (nearly) the mean
    np.testing.assert_allclose(est.predict(X), y.mean(), atol=1e-3)


def test_duplicate_rows_are_the_same_program_as_without_merging():
    """The estimator merges copies into weights; the reference builds program (8) on all rows
    (duplicates kept, exact patterns) and solves it with the conic solver."""
    X, y = regression_data(n=7)
    Xd, yd = np.vstack([X, X[:3]]), np.r_[y, y[:3]]
    est = ConvexReLURegressor(beta=1e-3).fit(Xd, yd)
    problem = ConvexProblem.build(Xd, yd, beta=1e-3, patterns="exact")
    # duplicates add no patterns: Cover's count of the 7 distinct samples in rank 3
    assert problem.patterns.n_patterns == cover_count(7, 3) == est.patterns_.n_patterns
    reference = solve(problem, "conic")
    assert est.certificate_.primal == pytest.approx(reference.objective, rel=1e-7)
    np.testing.assert_allclose(est.predict(Xd), reference.predict_training()[:, 0], atol=1e-6)


def test_zero_row_anywhere_keeps_every_pattern():
    """A zero sample is active in every pattern; it used to empty the cells after it."""
    X, _ = regression_data(n=6)
    counts = {enumerate_patterns(np.insert(X, j, 0.0, axis=0)).n_patterns for j in range(7)}
    assert counts == {cover_count(6, 2)}


# ------------------------------------------------------------------------- statuses, warnings
def test_iteration_limits_carry_status_and_reason_and_warn():
    X, y = regression_data(n=8)
    with pytest.warns(ConvergenceWarning, match="status 'max_iter': admm reached its iteration "
                                                "limit .* last relative duality gap"):
        est = ConvexReLURegressor(solver="admm", max_iter=5).fit(X, y)
    assert est.solution_.status == "max_iter" and not est.solution_.converged
    with pytest.warns(ConvergenceWarning, match="status 'max_iter': conic-clarabel"):
        est = ConvexReLURegressor(solver="conic", max_iter=2).fit(X, y)
    assert "iteration limit" in est.solution_.reason


def test_a_certified_fit_does_not_warn():
    X, y = regression_data(n=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = ConvexReLUClassifier(beta=1e-2).fit(X, np.sign(y))
    assert est.solution_.converged and "met its stopping criterion" in est.solution_.reason


def test_non_finite_solutions_are_diverged_and_refused(monkeypatch):
    X, y = regression_data(n=8)
    problem = ConvexProblem.build(X, y, beta=1e-3, patterns="exact")
    V = np.full(problem.zeros().shape, np.nan)
    bad = ConvexSolution(problem, V, V.copy(), objective=np.nan, status="max_iter",
                         solver="admm", iterations=40)
    assert bad.status == "diverged" and "non-finite" in bad.reason and "40" in bad.reason
    with pytest.raises(ValueError, match="solution holds no network: .*non-finite"):
        TwoLayerReLU.from_convex(bad)

    import convexnn.solvers as solvers

    monkeypatch.setattr(solvers, "solve", lambda problem, name, **options: ConvexSolution(
        problem, np.full(problem.zeros().shape, np.inf), problem.zeros(), objective=np.inf,
        solver="admm"))
    with pytest.raises(RuntimeError, match="ConvexReLURegressor.fit: the iterates of admm "
                                           "became non-finite"):
        ConvexReLURegressor().fit(X, y)


def test_conic_failure_statuses_surface_clearly(monkeypatch):
    import cvxpy as cp

    from convexnn.solvers import conic

    X, y = regression_data(n=6)
    problem = ConvexProblem.build(X, y, beta=1e-3, patterns="exact")

    def infeasible(self, *args, **kwargs):
        self._status = cp.INFEASIBLE_INACCURATE
        return None

    monkeypatch.setattr(cp.Problem, "solve", infeasible)
    with pytest.raises(RuntimeError, match="conic solver CLARABEL failed on program \\(8\\): "
                                           "CVXPY status 'infeasible_inaccurate' .*standardize"):
        conic.solve(problem)

    def raises(self, *args, **kwargs):
        raise cp.SolverError("Solver 'CLARABEL' failed.")

    monkeypatch.setattr(cp.Problem, "solve", raises)
    with pytest.raises(RuntimeError, match="failed on program \\(8\\): Solver 'CLARABEL' "
                                           "failed. .*standardize the features"):
        conic.solve(problem)


def test_inaccurate_solutions_are_still_certified_by_an_independent_check():
    X, y = regression_data(n=8)
    problem = ConvexProblem.build(X * 1e6 + 1e6, y, beta=1e-3, patterns="exact")
    solution = solve(problem, "conic")
    certificate = certify(solution)
    # whatever the status, the certificate is a checked lower bound below the primal (up to
    # the cone violations of the interior point, which it reports)
    assert certificate.lower_bound <= certificate.primal + 1e-6 * abs(certificate.primal)
    assert solution.reason


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_conic_points_keep_no_negligible_groups(loss):
    """Interior points carry hundreds of ~1e-10 groups that the network drops (Theorem 1
    keeps groups above 1e-9 of the largest); the conic solver zeroes them, so every group left
    is a neuron and the network is the convex model up to the cone violations (~1e-10).
    Without that step the logistic case below differed by 1.2e-7 (measured)."""
    from .conftest import classification_data

    X, y = regression_data(n=10) if loss == "squared" else classification_data(n=10, seed=3)
    solution = solve(ConvexProblem.build(X, y, loss=loss, beta=1e-2, patterns="exact"), "conic")
    network = TwoLayerReLU.from_convex(solution)
    groups = sum(np.count_nonzero(np.linalg.norm(B, axis=0)) for B in (solution.V, solution.W))
    assert groups == network.n_neurons
    np.testing.assert_allclose(network.predict(X), solution.predict_training(), rtol=0,
                               atol=1e-8)
