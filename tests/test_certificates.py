"""Certificates: lower bounds that never exceed the optimum, gaps that are never negative."""

import numpy as np
import pytest
import torch

from convexnn.certificates import certify, certify_network, dual_bound
from convexnn.network import TwoLayerReLU
from convexnn.problem import ConvexProblem
from convexnn.solvers import conic

from .conftest import classification_data, regression_data


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_any_network_gets_a_valid_global_bound(loss):
    # For random networks (far from optimal) the bound must still lie below the conic optimum.
    X, y = classification_data(n=10) if loss != "squared" else regression_data(n=10)
    beta = 0.05
    optimum = conic.solve(ConvexProblem.build(X, y, loss=loss, beta=beta,
                                              patterns="exact")).objective
    rng = np.random.default_rng(0)
    for _ in range(5):
        net = TwoLayerReLU(rng.standard_normal((6, 2)), rng.standard_normal(6),
                           rng.standard_normal(6))
        cert = certify_network(net, X, y, loss=loss, beta=beta, patterns="exact")
        assert cert.exact_patterns
        assert cert.duality_gap >= 0
        assert cert.lower_bound <= optimum * (1 + 1e-9)
        assert cert.primal == pytest.approx(net.objective(X, y, loss=loss, beta=beta))


def test_solver_dual_makes_the_network_gap_its_true_suboptimality():
    X, y = regression_data(n=10, seed=4)
    beta = 0.05
    problem = ConvexProblem.build(X, y, beta=beta, patterns="exact")
    solution = conic.solve(problem)
    optimal = TwoLayerReLU.from_convex(solution)
    worse = TwoLayerReLU(optimal.U * 1.1, optimal.alpha, optimal.b * 1.1)
    cert = certify_network(worse, X, y, beta=beta, patterns=problem.patterns, dual=solution.dual)
    true_excess = worse.objective(X, y, beta=beta) - solution.objective
    assert cert.duality_gap == pytest.approx(true_excess, rel=1e-5)


def test_hinge_optimum_is_certified_with_the_solver_dual():
    X, y = classification_data(n=10, seed=2)
    solution = conic.solve(ConvexProblem.build(X, y, loss="hinge", beta=0.05, patterns="exact"))
    cert = certify(solution)
    assert 0 <= cert.duality_gap <= 1e-7 * max(1.0, abs(cert.primal))


def test_sampled_patterns_give_a_restricted_scope():
    X, y = regression_data(n=10)
    problem = ConvexProblem.build(X, y, beta=0.05, patterns="sampled", n_patterns=20, seed=0)
    cert = certify(conic.solve(problem))
    assert not cert.exact_patterns
    assert "restricted" in cert.scope
    assert cert.relative_gap <= 1e-7


def test_infeasible_candidate_is_scaled_into_the_dual_set():
    X, y = regression_data(n=10)
    problem = ConvexProblem.build(X, y, beta=1e-3, patterns="exact")
    lam = -problem.Y / problem.X.shape[0]  # the gradient at the zero network: infeasible here
    bound, scale = dual_bound(problem, lam)
    assert 0 < scale < 1
    assert bound <= conic.solve(problem).objective


def test_torch_module_is_accepted(rng):
    X, y = regression_data(n=8)
    module = TwoLayerReLU(rng.standard_normal((4, 2)), rng.standard_normal(4),
                          rng.standard_normal(4)).to_torch()
    cert = certify_network(module, X, y, beta=0.1)
    assert cert.duality_gap >= 0 and cert.exact_patterns


def test_hinge_network_without_solver_dual_gets_a_useful_valid_bound():
    # At margin exactly 1 the hinge gradient picks an arbitrary subgradient, which gave a 50%
    # relative gap for an optimal network; choosing the subgradient that makes the neurons
    # stationary brings it to a few percent (the rest comes from cone-active samples, whose
    # multipliers are not modelled). The bound must stay below the conic optimum.
    X, y = classification_data(n=10, seed=2)
    solution = conic.solve(ConvexProblem.build(X, y, loss="hinge", beta=0.05, patterns="exact"))
    net = TwoLayerReLU.from_convex(solution)
    cert = certify_network(net, X, y, loss="hinge", beta=0.05, patterns="exact")
    assert cert.lower_bound <= solution.objective * (1 + 1e-9)
    assert 0 <= cert.relative_gap <= 0.1


def test_a_bound_above_the_objective_is_reported_as_a_numerical_failure():
    from convexnn.certificates import Certificate

    fine = Certificate(1.0, 1.0 - 1e-12, 1e-12, 1e-12, False, 3, 1.0)
    inverted = Certificate(1.0, 1.02, -0.02, -0.02, False, 3, 1.0)
    assert fine.valid and "objective 1 >= optimum" in str(fine)
    assert not inverted.valid
    assert str(inverted).startswith("no certificate: the computed lower bound 1.02 exceeds")


def test_network_certificate_keeps_the_scope_of_the_fit_patterns():
    # a recovered network's neurons sit on their cones' faces: their tie-broken patterns must
    # not widen the scope (before: 19 fit patterns became 41 and the gap jumped to 0.53)
    from convexnn.patterns import Patterns

    X, y = classification_data(n=30)
    problem = ConvexProblem.build(X, y, beta=1e-3, patterns="sampled", n_patterns=20, seed=0)
    solution = conic.solve(problem)
    network = TwoLayerReLU.from_convex(solution)
    base = Patterns(problem.patterns.D, problem.patterns.generators, exact=False)
    certificate = certify_network(network, X, y, beta=1e-3, patterns=base, dual=solution.dual)
    assert certificate.n_patterns == problem.patterns.n_patterns
    assert certificate.relative_gap < 1e-6  # Clarabel's accuracy, 1e-9, with room


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_each_output_gets_its_own_dual_scale_where_the_loss_sums_over_outputs(loss):
    # Reference: each output's largest constraint by SciPy's NNLS one group at a time
    # (_duality.cone_maximum), its scale t_c <= beta / worst_c by a grid of 4,001 points and a
    # bounded search of -L*(t lam_c), the bounds added. The bound must match it (1e-9: the search
    # tolerance), lie below the conic optimum (weak duality) and above the one-scale bound.
    from scipy.optimize import minimize_scalar

    from convexnn._duality import cone_maximum
    from convexnn.losses import get_loss

    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 2))
    Y = np.stack([np.sign(X[:, 0]), np.sign(X[:, 1] + 0.3), np.sign(X.sum(1))], axis=1)
    beta = 0.05
    problem = ConvexProblem.build(X, Y, loss=loss, beta=beta, patterns="exact")
    ops = problem.operators()
    Lam = problem.loss.into_domain(ops.loss_gradient(torch.zeros(12, 3, dtype=torch.float64))
                                   * torch.tensor([1.0, 4.0, 0.5], dtype=torch.float64),
                                   ops.Y, ops.weights)
    Xb, D = problem.X, problem.patterns.D
    worst = np.zeros(3)
    for i in range(D.shape[1]):
        B = Xb.T * np.where(D[:, i], 1.0, -1.0)
        for c in range(3):
            g = Xb.T @ (D[:, i] * Lam[:, c].numpy())
            worst[c] = max(worst[c], cone_maximum(g, B)[0], cone_maximum(-g, B)[0])
    parts = []
    for c in range(3):
        def value(t, c=c):
            return -problem.loss.conjugate(t * Lam[:, c:c + 1], ops.Y[:, c:c + 1], ops.weights)
        t_max = beta / worst[c]
        grid = max(value(t) for t in np.linspace(0.0, t_max, 4001))
        search = minimize_scalar(lambda t: -value(t), bounds=(0.0, t_max), method="bounded",
                                 options={"xatol": 1e-12 * t_max})
        parts.append(max(grid, value(t_max), -float(search.fun)))
    reference = sum(parts)
    bound, scales = dual_bound(problem, Lam.numpy())
    assert scales.shape == (3,) and np.all(scales <= beta / worst * (1 + 1e-9))
    assert bound == pytest.approx(reference, rel=1e-9)
    single = type(get_loss(loss))()
    single.separable = False  # this instance takes one scale for all outputs
    one_scale, _ = dual_bound(ConvexProblem(problem.X, problem.Y, single, beta, problem.patterns,
                                            bias=True), Lam.numpy())
    assert one_scale < bound - 1e-3 * abs(bound)  # the outputs' violations differ 8-fold
    assert bound <= conic.solve(problem).objective * (1 + 1e-9)


@pytest.mark.parametrize("t_max", [1e-3, 0.7, 1e6])
def test_the_squared_loss_s_best_dual_scale_is_the_maximum_of_the_concave_function(t_max):
    # the squared loss's scale is found in closed form. References: the scalar search of the
    # other losses (bounded Brent) on the same function -L*(t Lam), and that function on a grid
    # of 2,001 points of [0, t_max]; the closed form is never below either (up to rounding,
    # 1e-12 relative) and the search agrees with it to its tolerance (1e-9 relative)
    from convexnn._duality import best_dual_scale
    from convexnn.losses import get_loss

    rng = np.random.default_rng(4)
    loss = get_loss("squared")
    searched = type(loss)()
    searched.quadratic_conjugate = False  # this instance takes the scalar search
    Y = torch.as_tensor(rng.standard_normal((30, 2)))
    weights = torch.as_tensor(rng.uniform(0.5, 2.0, 30))
    weights[:3] = 0
    Lam = torch.as_tensor(rng.standard_normal((30, 2))) * 0.02
    Lam[:3] = 0  # the conjugate's domain: no dual mass on samples of weight 0
    bound, t = best_dual_scale(loss, Lam, Y, weights, t_max, rtol=1e-12)
    reference, _ = best_dual_scale(searched, Lam, Y, weights, t_max, rtol=1e-12)
    grid = max(-loss.conjugate(s * Lam, Y, weights) for s in np.linspace(0.0, t_max, 2001))
    assert 0 <= t <= t_max
    assert bound == pytest.approx(-loss.conjugate(t * Lam, Y, weights), rel=1e-14)
    assert bound >= max(reference, grid) - 1e-12 * abs(bound)
    assert bound == pytest.approx(reference, rel=1e-9)
    # outside the domain only t = 0 is feasible
    Lam[0] = 1.0
    assert best_dual_scale(loss, Lam, Y, weights, t_max, rtol=1e-12) == (0.0, 0.0)
