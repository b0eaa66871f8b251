"""Two-layer ReLU CNNs == program (C) over the patterns of the stacked patches.

Exactness needs *all* patterns of every region's patch matrix, so the exact tests use filters
of size h = 2 (a rank-2 patch matrix with N rows has 2N patterns, enumerated by the core); the
slow test uses h = 3. The sampled-pattern tests check the two inequalities that make sampling
useful. Tolerances:
``conftest.py``.
"""

import numpy as np
import pytest

from convexnn.architectures import (
    ConvGeometry,
    ConvReLUProblem,
    TwoLayerConvNet,
    conv_relu_network,
    local_filter_patterns,
    network_objective,
    solve_conv_relu,
    train_nonconvex,
)
from convexnn.network import TwoLayerReLU
from convexnn.problem import ConvexProblem
from convexnn.solvers import solve

from .conftest import EXACT_RTOL, assert_at_or_above

BETA = 0.05


@pytest.fixture
def signals(rng):
    return rng.standard_normal((5, 1, 5)), rng.standard_normal(5)


@pytest.mark.parametrize(("pool", "readout_norm", "close_rtol"),
                         [("global", "l2", 1e-3), (None, "l1", 1e-2)])
def test_relu_cnn_equals_program_c_and_training_stays_above(pool, readout_norm, close_rtol,
                                                             signals):
    """Global sum pooling (plain weight decay) and a fully connected readout (l1 readout).

    The squared l1 readout penalty is non-smooth, so Adam approaches the optimum slowly (within
    ~0.5% after 800 steps, ~0.1% after 2000); the bar for "trained" is looser there.
    """
    x, y = signals
    geometry = ConvGeometry((1, 5), 2, pool=pool)
    problem = ConvReLUProblem.build(x, y, geometry, beta=BETA, patterns="exact")
    assert problem.exact
    solution = solve_conv_relu(problem)
    net = conv_relu_network(solution)
    assert network_objective(net, x, y, beta=BETA, readout_norm=readout_norm) == pytest.approx(
        solution.objective, rel=EXACT_RTOL)
    finals = [train_nonconvex(TwoLayerConvNet(geometry, 20, seed=seed), x, y, beta=BETA,
                              epochs=800, lr=0.05, readout_norm=readout_norm).final
              for seed in range(3)]
    assert_at_or_above(finals, solution.objective, close_rtol=close_rtol)


@pytest.mark.slow
def test_relu_cnn_with_three_tap_filters_is_exact(rng):
    """h = 3: 16 patch rows of rank 3, 242 patterns; longer training gets closer."""
    x, y = rng.standard_normal((4, 1, 6)), rng.standard_normal(4)
    geometry = ConvGeometry((1, 6), 3, circular=False)
    problem = ConvReLUProblem.build(x, y, geometry, beta=BETA, patterns="exact")
    solution = solve_conv_relu(problem)
    net = conv_relu_network(solution)
    assert network_objective(net, x, y, beta=BETA) == pytest.approx(solution.objective,
                                                                     rel=EXACT_RTOL)
    finals = [train_nonconvex(TwoLayerConvNet(geometry, 20, seed=seed), x, y, beta=BETA,
                              epochs=3000, lr=0.05).final for seed in range(3)]
    assert_at_or_above(finals, solution.objective, close_rtol=1e-4)


def test_two_dimensional_circular_cnn_with_two_outputs_and_mean_pooling(rng):
    """Conv2d, circular padding, 2 regions, 2 outputs, hinge loss: the recovered CNN attains (C)."""
    geometry = ConvGeometry((1, 3, 2), (2, 1), circular=True, pool=(3, 1), pool_mode="mean")
    x = rng.standard_normal((4, 1, 3, 2))
    Y = np.where(rng.standard_normal((4, 2)) > 0, 1.0, -1.0)
    problem = ConvReLUProblem.build(x, Y, geometry, loss="hinge", beta=BETA, patterns="exact")
    solution = solve_conv_relu(problem)
    net = conv_relu_network(solution)
    assert network_objective(net, x, Y, loss="hinge", beta=BETA,
                             readout_norm="l1") == pytest.approx(solution.objective,
                                                                 rel=EXACT_RTOL)
    assert max(problem.cone_violation(solution.V), problem.cone_violation(solution.W)) < 1e-8


def test_sampled_patterns_bound_the_networks_that_use_them(signals):
    """Sampled (C) >= exact (C); (C) with a trained network's filters added <= that network."""
    x, y = signals
    geometry = ConvGeometry((1, 5), 2)
    exact = solve_conv_relu(ConvReLUProblem.build(x, y, geometry, beta=BETA,
                                                  patterns="exact")).objective
    sampled = ConvReLUProblem.build(x, y, geometry, beta=BETA, patterns="sampled",
                                    n_patterns=6, seed=0)
    assert not sampled.exact
    assert solve_conv_relu(sampled).objective >= exact - 1e-8
    net = train_nonconvex(TwoLayerConvNet(geometry, 4, seed=0), x, y, beta=BETA,
                          epochs=200, lr=0.05).module
    trained = network_objective(net, x, y, beta=BETA)
    filters = net.conv.weight.detach().reshape(net.n_filters, -1).numpy().T
    with_filters = solve_conv_relu(sampled.add_filters(filters)).objective
    assert with_filters <= trained + 1e-8


def test_local_filter_patterns_feed_the_core_program(rng):
    """Papers' 'convolutional' sampling: local generators, a fully connected network."""
    geometry = ConvGeometry((1, 4, 4), (2, 2))
    x = rng.standard_normal((8, 1, 4, 4))
    y = rng.standard_normal(8)
    patterns = local_filter_patterns(x, geometry, 20, seed=0)
    X = x.reshape(8, -1)
    np.testing.assert_array_equal(patterns.D, X @ patterns.generators >= 0)
    assert np.all(np.count_nonzero(patterns.generators, axis=0) <= geometry.patch_size)
    problem = ConvexProblem(X, y, "squared", BETA, patterns)
    solution = solve(problem, solver="conic")
    net = TwoLayerReLU.from_convex(solution)
    assert net.objective(X, y, beta=BETA) == pytest.approx(solution.objective, rel=EXACT_RTOL)
