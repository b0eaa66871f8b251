"""Program (8) against independent references: the dual SOCP (7), the non-convex objective of
the recovered network, the JMLR closed form for whitened data, and the ordering of relaxations.

Tolerances: Clarabel runs with gap/feasibility tolerances 1e-9 (solvers.conic.ACCURATE), and
the recovered network drops groups below 1e-9 of the largest, so objectives agree to ~1e-8
relative; we assert 1e-6 to leave room for the solver's path on different platforms.
"""

import numpy as np
import pytest
import torch

from convexnn.certificates import certify
from convexnn.network import TwoLayerReLU
from convexnn.problem import ConvexProblem
from convexnn.solvers import conic

from .conftest import classification_data, regression_data

RTOL = 1e-6


def nonconvex_objective_by_hand(net, X, Y, loss, beta):
    """Objective (2) written out with NumPy, independent of convexnn.losses."""
    Z = np.maximum(X @ net.U.T + (0 if net.b is None else net.b), 0) @ net.alpha
    n = X.shape[0]
    if loss == "squared":
        data = 0.5 * np.sum((Z - Y) ** 2) / n
    elif loss == "hinge":
        data = np.sum(np.maximum(0, 1 - Y * Z)) / n
    elif loss == "logistic":
        data = np.sum(np.log1p(np.exp(-Y * Z))) / n
    b2 = 0 if net.b is None else np.sum(net.b**2)
    return data + beta / 2 * (np.sum(net.U**2) + b2 + np.sum(np.abs(net.alpha).sum(1) ** 2))


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_convex_optimum_equals_network_objective_and_dual_optimum(loss):
    X, y = classification_data(n=10) if loss != "squared" else regression_data(n=10)
    beta = 0.05
    problem = ConvexProblem.build(X, y, loss=loss, beta=beta, patterns="exact")
    assert problem.patterns.exact
    primal = conic.solve(problem)
    dual = conic.solve_dual(problem)
    net = TwoLayerReLU.from_convex(primal)
    by_hand = nonconvex_objective_by_hand(net, X, y[:, None], loss, beta)

    assert primal.objective == pytest.approx(dual.value, rel=RTOL)  # strong duality
    assert by_hand == pytest.approx(primal.objective, rel=RTOL)  # Theorem 1
    assert net.objective(X, y, loss=loss, beta=beta) == pytest.approx(by_hand, rel=1e-12)


def test_dual_point_satisfies_the_semi_infinite_constraint():
    # |lam^T (X u)_+| <= beta for all u in B2 (the dual (4) of Pilanci & Ergen, ICML 2020),
    # checked on 20000 random u and
    # on the neurons of the optimal network, where it holds with equality.
    X, y = regression_data(n=10, d=2, seed=3)
    beta = 0.1
    problem = ConvexProblem.build(X, y, beta=beta, patterns="exact")
    lam = conic.solve_dual(problem).Lam[:, 0]
    Xa = problem.X
    u = np.random.default_rng(0).standard_normal((Xa.shape[1], 20000))
    u /= np.linalg.norm(u, axis=0)
    assert np.abs(lam @ np.maximum(Xa @ u, 0)).max() <= beta * (1 + 1e-7)
    # complementary slackness: ||v_i|| (beta - |constraint_i|) ~ the interior-point barrier
    # parameter, so equality is checked on the neurons that carry weight (not the 1e-8 ones)
    net = TwoLayerReLU.from_convex(conic.solve(problem), rtol=1e-3)
    W = np.hstack([net.U, net.b[:, None]])
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(lam @ np.maximum(Xa @ W.T, 0)), beta, rtol=1e-5)


def test_ordering_gated_exact_subset():
    X, y = regression_data(n=10, d=2, seed=1)
    beta = 0.05
    exact = ConvexProblem.build(X, y, beta=beta, patterns="exact")
    gated = ConvexProblem.build(X, y, beta=beta, patterns="exact", gated=True)
    quarter = ConvexProblem(exact.X, exact.Y, "squared", beta,
                            exact.patterns.subset(np.arange(0, exact.patterns.n_patterns, 4)),
                            bias=True)
    values = [conic.solve(p).objective for p in (gated, exact, quarter)]
    assert values[0] <= values[1] * (1 + 1e-8)
    assert values[1] <= values[2] * (1 + 1e-8)
    assert values[0] < values[2]  # strict on this instance: the comparison is not vacuous


def test_recovered_network_is_balanced_and_torch_module_reproduces_convex_model():
    X, y = regression_data(n=10, d=3, seed=2)
    problem = ConvexProblem.build(X, y, beta=0.02, patterns="exact")
    solution = conic.solve(problem)
    net = TwoLayerReLU.from_convex(solution)
    assert net.is_balanced(rtol=1e-9)
    assert net.n_neurons == solution.n_active_groups()
    convex_predictions = solution.predict_training()
    np.testing.assert_allclose(net.predict(X), convex_predictions, atol=1e-8)
    module = net.to_torch()
    with torch.no_grad():
        torch_predictions = module(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(torch_predictions, convex_predictions, atol=1e-8)


def test_whitened_closed_form_theorem_9():
    # JMLR Theorem 9: with A A^T = I (n <= d), squared loss 1/2||.||^2 + beta' * sum||.||,
    # yhat = (1 - beta'/p)_+ y_+ - (1 - beta'/q)_+ y_-, value 1/2||yhat-y||^2 + beta'[(p-beta')_+
    # + (q-beta')_+]. Our loss is a mean, so beta' = n * beta and our optimum is value / n.
    rng = np.random.default_rng(5)
    n, d = 5, 8
    Q, _ = np.linalg.qr(rng.standard_normal((d, n)))
    A = Q.T  # (n, d) with A A^T = I
    y = rng.standard_normal(n)
    p, q = np.linalg.norm(np.maximum(y, 0)), np.linalg.norm(np.maximum(-y, 0))
    for beta_total in (0.1 * min(p, q), 0.5 * (p + q), 1.1 * max(p, q)):
        beta = beta_total / n
        problem = ConvexProblem.build(A, y, beta=beta, bias=False, patterns="exact")
        solution = conic.solve(problem)
        yhat = (max(1 - beta_total / p, 0) * np.maximum(y, 0)
                - max(1 - beta_total / q, 0) * np.maximum(-y, 0))
        closed = (0.5 * np.sum((yhat - y) ** 2)
                  + beta_total * (max(p - beta_total, 0) + max(q - beta_total, 0)))
        assert solution.objective == pytest.approx(closed / n, rel=RTOL, abs=1e-10)
        # the optimal prediction is unique (strictly convex loss); the groups realizing it are
        # not, so the closed form's 2/1/0 neurons are checked in the theory module's tests
        np.testing.assert_allclose(solution.predict_training()[:, 0], yhat, atol=1e-6)


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_multiclass_program_matches_its_dual_and_network(loss):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((9, 2))
    labels = np.argmax(X @ rng.standard_normal((2, 3)), axis=1)
    Y = np.eye(3)[labels]
    beta = 0.05
    problem = ConvexProblem.build(X, Y, loss=loss, beta=beta, patterns="exact")
    primal = conic.solve(problem)
    assert primal.objective == pytest.approx(conic.solve_dual(problem).value, rel=RTOL)
    net = TwoLayerReLU.from_convex(primal)
    assert net.n_outputs == 3
    assert net.objective(X, Y, loss=loss, beta=beta) == pytest.approx(primal.objective, rel=RTOL)


@pytest.mark.parametrize("entries", [1, 30, 1 << 22])  # chunks of 1, 2 and all 5 outputs
def test_correlations_are_the_dual_constraint_vectors(monkeypatch, entries):
    # X^T D_i g_c by NumPy loops, for any chunking of the outputs (n d = 15 entries per output,
    # with the bias column)
    import convexnn.problem as program

    monkeypatch.setattr(program, "CHUNK_ENTRIES", entries)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((5, 2))
    Y = np.eye(5)[rng.integers(0, 5, 5)]
    ops = ConvexProblem.build(X, Y, beta=0.05, patterns="sampled", n_patterns=4,
                              seed=0).operators()
    G = rng.standard_normal((5, 5))
    Xb, D = ops.X.numpy(), ops.D.numpy()
    reference = np.stack([np.stack([Xb.T @ (D[:, i] * G[:, c]) for c in range(5)], axis=1)
                          for i in range(D.shape[1])], axis=1)
    np.testing.assert_allclose(ops.correlations(torch.as_tensor(G)).numpy(), reference,
                               rtol=1e-12, atol=1e-12)


def test_one_program_per_class_for_separable_losses():
    # with the decoupled output penalty and a loss that sums over outputs, the multi-output
    # program is the sum of one program per class (the decoupled vector-output program of
    # Ergen & Pilanci, JMLR 2021, Section 4.5.5)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((8, 2))
    Y = np.eye(2)[rng.integers(0, 2, 8)]
    joint = conic.solve(ConvexProblem.build(X, Y, beta=0.05, patterns="exact")).objective
    per_class = sum(conic.solve(ConvexProblem.build(X, Y[:, c], beta=0.05,
                                                    patterns="exact")).objective
                    for c in range(2))
    assert joint == pytest.approx(per_class, rel=RTOL)


def test_certificate_of_conic_solution_is_tight_and_global():
    X, y = regression_data(n=10, d=2, seed=7)
    cert = certify(conic.solve(ConvexProblem.build(X, y, beta=0.05, patterns="exact")))
    assert cert.exact_patterns and "global" in cert.scope
    assert -1e-9 <= cert.relative_gap <= 1e-7
    assert cert.cone_violation <= 1e-8


def test_sample_weight_equals_duplicated_rows():
    X, y = regression_data(n=8, d=2, seed=8)
    w = np.array([1, 2, 1, 1, 3, 1, 1, 1.0])
    Xd, yd = np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    weighted = ConvexProblem.build(X, y, beta=0.05, patterns="exact", sample_weight=w)
    duplicated = ConvexProblem.build(Xd, yd, beta=0.05, patterns="exact")
    # a mean over n samples with weights summing to n' equals a mean over n' rows times n'/n
    ratio = len(yd) / len(y)
    assert conic.solve(weighted).objective == pytest.approx(
        conic.solve(ConvexProblem(duplicated.X, duplicated.Y, "squared", 0.05 / ratio,
                                  duplicated.patterns, bias=True)).objective * ratio, rel=RTOL)


def test_problem_is_immutable_and_with_beta_makes_a_fresh_one():
    # the fault: setting problem.beta after operators() were cached left FISTA with the old
    # beta in its operators: right point, objective 0.5037 reported instead of 0.005731
    import dataclasses

    from convexnn.solvers import solve

    X, y = regression_data(n=12)
    problem = ConvexProblem.build(X, y, beta=0.5, patterns="sampled", n_patterns=8, seed=0,
                                  gated=True)
    problem.objective(problem.zeros())  # caches the operators at beta = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.beta = 1e-3
    with pytest.raises(ValueError, match="read-only"):
        problem.X[0, 0] = 5.0
    smaller = problem.with_beta(1e-3)
    assert dataclasses.replace(problem, beta=1e-3).beta == smaller.beta == 1e-3
    solution = solve(smaller, "fista", tol=1e-6)
    reference = conic.solve(smaller)  # independent: Clarabel on the same program
    assert solution.status == "optimal"
    # FISTA certifies a relative gap of 1e-6; Clarabel is accurate to ~1e-9
    assert solution.objective == pytest.approx(reference.objective, rel=2e-6)
    assert smaller.objective(solution.V) == pytest.approx(solution.objective, rel=1e-12)
