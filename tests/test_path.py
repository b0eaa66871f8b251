"""Regularization paths: beta_max against CVXPY and brute force, warm starts against cold conic
solves, cross-validation, GridSearchCV on the estimators, and the ``convexnn path`` command."""

import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from convexnn import ConvexReLUClassifier
from convexnn.certificates import certify
from convexnn.cli import main
from convexnn.path import (
    beta_grid,
    beta_max,
    cross_validate_path,
    regularization_path,
    validation_error,
    zero_solution,
)
from convexnn.problem import ConvexProblem
from convexnn.solvers import conic

from .conftest import classification_data, regression_data

pytestmark = pytest.mark.usefixtures("one_thread")


def _problem(loss, gated, n=8, weighted=True):
    if loss == "squared":
        X, y = regression_data(n=n)
    elif loss == "cross_entropy":
        X, _ = regression_data(n=n, seed=3)
        y = np.eye(3)[np.arange(n) % 3]
    else:
        X, y = classification_data(n=n)
    weights = np.linspace(0.5, 2.0, n) if weighted else None
    return ConvexProblem.build(X, y, loss=loss, beta=0.0, patterns="exact", gated=gated,
                               sample_weight=weights)


def _at(problem, beta):
    return ConvexProblem(problem.X, problem.Y, problem.loss, beta, problem.patterns,
                         gated=problem.gated, sample_weight=problem.sample_weight,
                         bias=problem.bias)


def _largest_group(solution):
    blocks = [solution.V] if solution.W is None else [solution.V, solution.W]
    return max(float(np.linalg.norm(B, axis=0).max()) for B in blocks)


# ----------------------------------------------------------------------------------- beta_max
@pytest.mark.parametrize(("loss", "gated"), [
    ("squared", False), ("squared", True), ("hinge", False), ("hinge", True),
    ("logistic", False), ("logistic", True), ("cross_entropy", False),
])
def test_beta_max_is_where_cvxpy_leaves_zero(loss, gated):
    problem = _problem(loss, gated)
    top = beta_max(problem)
    zero = problem.objective(problem.zeros(), None if gated else problem.zeros())
    above = conic.solve(_at(problem, top * (1 + 1e-6)))
    below = conic.solve(_at(problem, top * (1 - 1e-3)))
    # Clarabel stops at a 1e-9 relative gap: above beta_max the zero network is the unique
    # optimum, so CVXPY's objective equals L(0) to that tolerance (its groups are only
    # interior-point remainders, up to ~1e-4 here); just below, a group becomes nonzero and the
    # objective drops by (1e-3 beta_max)^2 / curvature, >= 1e-7 of L(0) on these data: 10x the
    # 1e-8 we allow above, and the largest group grows by more than 10x
    assert abs(above.objective - zero) <= 1e-8 * zero
    assert zero - below.objective >= 1e-8 * zero
    assert _largest_group(below) >= 10 * _largest_group(above)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_beta_max_is_the_largest_neuron_correlation(loss):
    # program (2) itself: zero is optimal iff |<(X u)_+, g>| <= beta for every unit u; on 1-D
    # data with a bias u lives on a circle, which a fine grid of angles covers (the maximum is
    # smooth in the angle, so a 2e5-point grid finds it to ~1e-9 relative)
    X, y = (regression_data if loss == "squared" else classification_data)(n=9, d=1, seed=2)
    problem = ConvexProblem.build(X, y, loss=loss, beta=0.0, patterns="exact")
    G = problem.operators().loss_gradient(torch.zeros_like(problem.operators().Y)).numpy()
    angles = np.linspace(0, 2 * np.pi, 200_001)
    U = np.stack([np.cos(angles), np.sin(angles)])  # unit (w, b) of one neuron
    brute = np.abs(G[:, 0] @ np.maximum(problem.X @ U, 0)).max()
    top = beta_max(problem)
    assert top == pytest.approx(brute, rel=1e-6)
    assert brute <= top * (1 + 1e-12)  # NNLS gives the exact maximum: no direction beats it
    gated = ConvexProblem(problem.X, problem.Y, loss, 0.0, problem.patterns, gated=True)
    assert beta_max(gated) >= top  # the relaxation's dual constraints are stricter


def test_beta_max_of_several_outputs_is_the_largest_single_output():
    X, _ = regression_data(n=8)
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] ** 2])
    both = beta_max(X, Y, patterns="exact")
    single = [beta_max(X, Y[:, c], patterns="exact") for c in range(2)]
    assert both == pytest.approx(max(single), rel=1e-12)


def test_beta_max_from_data_equals_from_problem_and_respects_weights():
    X, y = regression_data(n=8)
    problem = ConvexProblem.build(X, y, beta=1.0, patterns="exact")
    assert beta_max(X, y, patterns="exact") == beta_max(problem)
    # weight 2 on every sample doubles the mean loss, hence its gradient and beta_max
    doubled = beta_max(X, y, patterns="exact", sample_weight=np.full(8, 2.0))
    assert doubled == pytest.approx(2 * beta_max(problem), rel=1e-12)


def test_beta_max_argument_errors():
    X, y = regression_data(n=8)
    problem = ConvexProblem.build(X, y, beta=1.0, patterns="exact")
    with pytest.raises(TypeError, match="either a ConvexProblem or data"):
        beta_max(problem, y)
    with pytest.raises(TypeError, match="needs y"):
        beta_max(X)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['beta'\]"):
        beta_max(X, y, beta=1.0)


def test_zero_solution_is_certified_optimal_from_beta_max_on():
    problem = _problem("logistic", False)
    top = beta_max(problem)
    certificate = certify(zero_solution(_at(problem, top)))
    assert certificate.duality_gap <= 1e-12 * certificate.primal
    with pytest.raises(ValueError, match="only for beta >= beta_max"):
        zero_solution(_at(problem, 0.99 * top))


def test_beta_grid():
    grid = beta_grid(2.0, 4, 1e-3)
    np.testing.assert_allclose(grid, [2.0, 0.2, 0.02, 0.002], rtol=1e-13)
    with pytest.raises(ValueError, match=r"min_ratio must be a number in \(0, 1\); got 2"):
        beta_grid(1.0, 3, 2)
    with pytest.raises(ValueError, match="n_betas must be >= 1"):
        beta_grid(1.0, 0)


# --------------------------------------------------------------------------------------- path
@pytest.mark.parametrize(("n", "d", "gated", "solver"), [
    (6, 2, False, "admm"), (8, 1, True, "fista"),
])
def test_warm_started_path_matches_cold_conic_solves(n, d, gated, solver):
    X, y = regression_data(n=n, d=d, seed=1)
    problem = ConvexProblem.build(X, y, beta=0.0, patterns="exact", gated=gated)
    path = regularization_path(problem, n_betas=5, min_ratio=1e-2, solver=solver, tol=1e-8)
    assert path.betas[0] == path.beta_max == beta_max(problem)
    assert path.n_active[0] == 0 and path.iterations[0] == 0
    assert np.all(path.n_active[1:] > 0)
    # the first-order solutions certify a 1e-8 relative gap and the conic ones ~1e-9, so both
    # objectives lie within ~1e-8 of the optimum: 1e-6 leaves room for nothing else
    for beta, objective in zip(path.betas, path.objectives, strict=True):
        cold = conic.solve(_at(problem, beta)).objective
        assert objective == pytest.approx(cold, rel=1e-6)
    assert np.all(path.relative_gaps <= 1e-7)


def test_path_without_warm_starts_runs_points_in_parallel_with_the_same_numbers():
    import joblib

    X, y = regression_data(n=8)
    problem = ConvexProblem.build(X, y, beta=0.0, patterns="exact")
    one = regularization_path(problem, n_betas=4, solver="conic", n_jobs=1)
    with joblib.parallel_config(backend="threading"):  # processes would take ~10 s to start
        two = regularization_path(problem, n_betas=4, solver="conic", n_jobs=2)
    np.testing.assert_array_equal(one.objectives, two.objectives)
    for a, b in zip(one.solutions, two.solutions, strict=True):
        np.testing.assert_array_equal(a.V, b.V)


def test_validation_errors_and_best_beta():
    X, y = classification_data(n=30, seed=1)
    train, val = slice(0, 20), slice(20, 30)
    path = regularization_path(X[train], y[train], X_val=X[val], y_val=y[val], n_betas=5,
                               loss="hinge", patterns="sampled", n_patterns=15, seed=0)
    # the classifier's rule: a positive output is the positive class
    by_hand = [np.mean((net.predict(X[val])[:, 0] > 0) != (y[val] > 0)) for net in path.networks]
    np.testing.assert_array_equal(path.validation_errors, by_hand)
    # the zero network's outputs are 0, read as the negative class
    assert path.validation_errors[0] == np.mean(y[val] > 0)
    assert path.best_beta == path.betas[int(np.argmin(by_hand))]
    mse = validation_error(path.networks[2], X[val], y[val], "mse")
    assert mse == pytest.approx(np.mean((path.networks[2].predict(X[val])[:, 0] - y[val]) ** 2))


def test_path_argument_errors():
    X, y = regression_data(n=8)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        regularization_path(X, y, X_val=X)
    with pytest.raises(ValueError, match="betas must be >= 0"):
        regularization_path(X, y, betas=[1.0, -1.0])
    with pytest.raises(ValueError, match="metric must be one of"):
        regularization_path(X, y, betas=[0.1], X_val=X, y_val=y, metric="r2")
    with pytest.raises(ValueError, match=r"y_val must have the training targets. 1 column\(s\)"):
        regularization_path(X, y, betas=[0.1], X_val=X, y_val=np.ones((8, 2)))
    with pytest.raises(ValueError, match="X_val must have the training data.s 2 features"):
        regularization_path(X, y, betas=[0.1], X_val=X[:, :1], y_val=y)


def test_cross_validate_path_is_the_fold_paths_it_reports():
    X, y = classification_data(n=24, seed=1)
    options = {"loss": "hinge", "patterns": "sampled", "n_patterns": 12, "seed": 0}
    result = cross_validate_path(X, y, cv=3, n_betas=4, **options)
    folds = StratifiedKFold(3).split(X, y)  # what cv=3 means for classification losses
    for (train, test), errors in zip(folds, result.errors, strict=True):
        path = regularization_path(X[train], y[train], result.betas, X_val=X[test],
                                   y_val=y[test], certify=False, **options)
        np.testing.assert_array_equal(errors, path.validation_errors)
    np.testing.assert_array_equal(result.mean_error, result.errors.mean(0))
    full = regularization_path(X, y, result.betas, **options)
    np.testing.assert_array_equal(result.path.objectives, full.objectives)
    assert result.betas[0] == result.beta_max == full.beta_max
    assert result.best_beta == result.betas[np.argmin(result.mean_error)]


# -------------------------------------------------------------------------------- GridSearchCV
def test_grid_search_cv_picks_the_beta_of_a_manual_loop():
    import joblib

    X, y = classification_data(n=30, seed=4)
    estimator = ConvexReLUClassifier(patterns="sampled", n_patterns=10, random_state=0)
    grid = [1e-3, 1e-2, 1e-1, 1.0]
    search = GridSearchCV(estimator, {"beta": grid}, cv=3, n_jobs=2)
    with joblib.parallel_config(backend="threading"):  # loky workers take ~10 s to start here
        search.fit(X, y)
    means = []
    for beta in grid:
        scores = [clone(estimator).set_params(beta=beta).fit(X[tr], y[tr]).score(X[te], y[te])
                  for tr, te in StratifiedKFold(3).split(X, y)]
        means.append(np.mean(scores))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means, rtol=1e-12)
    assert len(set(means)) > 1  # the grid matters on these data
    assert search.best_params_["beta"] == grid[int(np.argmax(means))]


@pytest.mark.slow
def test_grid_search_cv_with_worker_processes():
    X, y = classification_data(n=30, seed=4)
    estimator = ConvexReLUClassifier(patterns="sampled", n_patterns=10, random_state=0)
    grid = [1e-3, 1e-2, 1e-1, 1.0]
    parallel = GridSearchCV(estimator, {"beta": grid}, cv=3, n_jobs=2).fit(X, y)
    serial = GridSearchCV(estimator, {"beta": grid}, cv=3, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])


# ----------------------------------------------------------------------------- convexnn path
def _write_csv(path, X, y, target):
    lines = [",".join(["x1", "x2", target])]
    lines += [",".join([*(f"{v:.6f}" for v in row), str(t)]) for row, t in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _table(out):
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("beta "))
    return [line.split() for line in lines[start + 2:] if line and line[0].isdigit()]


def test_cli_path_with_a_validation_split_and_a_plot(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 2))
    labels = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")
    data = _write_csv(tmp_path / "data.csv", X, labels, "label")
    plot = tmp_path / "path.png"
    assert main(["path", str(data), "--target", "label", "--loss", "hinge", "--n-betas", "4",
                 "--patterns", "sampled", "--n-patterns", "12", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "classify: 18 training samples x 2 features, loss=hinge" in out
    assert "validation: 6 held-out samples (error_rate)" in out
    for column in ("train objective", "gap", "active neurons", "validation error"):
        assert column in out
    rows = _table(out)
    assert len(rows) == 4
    assert rows[0][-2] == "0"  # no neuron at beta_max
    assert sum(row[1] == "*" for row in rows) == 1
    assert plot.stat().st_size > 0


def test_cli_path_with_cross_validation(capsys, tmp_path):
    X, y = regression_data(n=18, seed=5)
    data = _write_csv(tmp_path / "reg.csv", X, y, "y")
    assert main(["path", str(data), "--target", "y", "--cv", "3", "--n-betas", "3",
                 "--patterns", "sampled", "--n-patterns", "10", "--min-ratio", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "regress: 18 training samples" in out
    assert "3-fold cross-validation (mean mse)" in out
    rows = _table(out)
    assert [float(row[0]) for row in rows] == sorted((float(row[0]) for row in rows),
                                                     reverse=True)
    assert "best beta" in out


@pytest.mark.parametrize(("argv", "match"), [
    (["--cv", "1"], "argument --cv: must be an integer >= 2"),
    (["--min-ratio", "1.5"], r"argument --min-ratio: must be a number in \(0, 1\)"),
    (["--n-jobs", "0"], "argument --n-jobs: must be a non-zero integer"),
    (["--cv", "3", "--validation-fraction", "0.2"], "not allowed with argument"),
])
def test_cli_path_usage_errors(capsys, argv, match):
    with pytest.raises(SystemExit) as exit_info:
        main(["path", "data.csv", "--target", "y", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("convexnn: error: ")
    assert re.search(match, err), err


def test_cli_path_rejects_a_classification_loss_for_regression(capsys, tmp_path):
    X, y = regression_data(n=10)
    data = _write_csv(tmp_path / "reg.csv", X, y, "y")
    assert main(["path", str(data), "--target", "y", "--loss", "hinge"]) == 1
    err = capsys.readouterr().err
    assert "--loss hinge is a classification loss" in err and err.count("\n") == 1
