"""Two-layer linear networks == nuclear-norm programs (and their SDPs); deeper ones are not convex.

Tolerances: see ``conftest.py`` (EXACT_RTOL for recovered networks, BELOW_RTOL for training).
The nuclear and SDP forms are the same convex program stated two ways and solved separately,
so they agree to the solver's tolerance (1e-9), checked at 1e-7.
"""

import numpy as np
import pytest

from convexnn.architectures import (
    ConvGeometry,
    DeepLinearNet,
    TwoLayerConvNet,
    deep_balanced_factors,
    linear_cnn_network,
    linear_fc_network,
    network_objective,
    nuclear_objective,
    schatten_regularizer,
    solve_linear_cnn,
    solve_linear_fc,
    train_nonconvex,
)

from .conftest import EXACT_RTOL, assert_at_or_above

BETA = 0.1


@pytest.fixture
def fc_data(rng):
    return rng.standard_normal((15, 5)), rng.standard_normal((15, 3))


def test_fc_nuclear_and_sdp_forms_agree_and_the_recovered_network_attains_them(fc_data):
    X, Y = fc_data
    nuclear = solve_linear_fc(X, Y, beta=BETA)
    sdp = solve_linear_fc(X, Y, beta=BETA, form="sdp")
    assert sdp.objective == pytest.approx(nuclear.objective, rel=1e-7)
    net = linear_fc_network(nuclear)
    assert net.layers[0].out_features <= 3  # width = rank(M) <= min(d, k)
    assert network_objective(net, X, Y, beta=BETA) == pytest.approx(nuclear.objective,
                                                                     rel=EXACT_RTOL)


def test_fc_gradient_training_ends_at_or_above_the_nuclear_optimum(fc_data):
    X, Y = fc_data
    optimum = solve_linear_fc(X, Y, beta=BETA).objective
    finals = [train_nonconvex(DeepLinearNet([5, 4, 3], seed=seed), X, Y, beta=BETA,
                              epochs=400, lr=0.1).final for seed in range(3)]
    assert_at_or_above(finals, optimum, close_rtol=1e-4)


@pytest.mark.parametrize("pool", [None, (2,)])
def test_linear_cnn_is_a_nuclear_norm_program(pool, rng):
    """Papers.md 3.2: conv filters on patches, FC (or pooled) readout, Z = sum_j u_j w_j^T."""
    geometry = ConvGeometry((2, 8), 3, pool=pool)  # 6 positions; pooled: 3 regions
    x = rng.standard_normal((12, *geometry.input_shape))
    Y = rng.standard_normal((12, 2))
    solution = solve_linear_cnn(x, Y, geometry, beta=BETA)
    net = linear_cnn_network(solution, geometry)
    assert network_objective(net, x, Y, beta=BETA) == pytest.approx(solution.objective,
                                                                     rel=EXACT_RTOL)
    finals = [train_nonconvex(TwoLayerConvNet(geometry, 6, 2, activation="linear", seed=seed),
                              x, Y, beta=BETA, epochs=600, lr=0.1).final for seed in range(3)]
    assert_at_or_above(finals, solution.objective, close_rtol=1e-4)


def test_global_average_pooling_gives_the_group_l2_penalty(rng):
    """With G = 1 and one output, ||Z||_* = ||z||_2 (the two-layer linear CNN, pooled case;
    derived from the rescaling argument)."""
    geometry = ConvGeometry((1, 6), 2, pool="global", pool_mode="mean")
    x = rng.standard_normal((10, 1, 6))
    y = rng.standard_normal(10)
    solution = solve_linear_cnn(x, y, geometry, beta=BETA)
    z = solution.M[:, 0]
    features = geometry.pooled_patches(x)[:, 0, :]
    by_hand = 0.5 * np.mean((features @ z - y) ** 2) + BETA * np.linalg.norm(z)
    assert by_hand == pytest.approx(solution.objective, rel=1e-12)


def test_deep_linear_weight_decay_is_a_nonconvex_schatten_quasi_norm(rng):
    """Depth 3: exact reduction to (3/2) sum sigma^{2/3}, which is not convex."""
    M = rng.standard_normal((4, 3))
    factors = deep_balanced_factors(M, 3)
    np.testing.assert_allclose(factors[0] @ factors[1] @ factors[2], M, atol=1e-12)
    net = DeepLinearNet.from_factors(factors)
    assert float(net.penalty(1.0).detach()) == pytest.approx(schatten_regularizer(M, 3), rel=1e-12)
    # any factorization pays at least the Schatten value of its product (AM-GM + Hoelder)
    for seed in range(3):
        other = DeepLinearNet([4, 5, 5, 3], seed=seed)
        product = np.eye(4)
        for layer in other.layers:
            product = product @ layer.weight.detach().numpy().T
        assert float(other.penalty(1.0).detach()) >= schatten_regularizer(product, 3)
    # non-convex: the midpoint of two rank-one matrices pays more than their average
    A, B = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    assert schatten_regularizer((A + B) / 2, 3) > (schatten_regularizer(A, 3)
                                                    + schatten_regularizer(B, 3)) / 2
    # at depth 2 the same formula is the nuclear norm: the convex statement
    X, Y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    assert nuclear_objective(X[:, None, :], Y, M, beta=1.0) == pytest.approx(
        0.5 * np.sum((X @ M - Y) ** 2) / 8 + schatten_regularizer(M, 2), rel=1e-12)
