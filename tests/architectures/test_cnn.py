"""Two-layer ReLU CNNs == program (C) over the patterns of the stacked patches.

Exactness needs *all* patterns of every region's patch matrix, so the exact tests use filters
of size h = 2 (a rank-2 patch matrix with N rows has 2N patterns, enumerated by the core); the
slow test uses h = 3. The sampled-pattern tests check the two inequalities that make sampling
useful. Tolerances:
``conftest.py``.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from convexnn.architectures import (
    ConvGeometry,
    ConvReLUProblem,
    TwoLayerConvNet,
    cnn,
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


# ------------------------------------------------------ (C) by the core's first-order solvers
def _reference_predict(problem: ConvReLUProblem, U: np.ndarray) -> np.ndarray:
    """``sum_g A_g sum_i D_gi X_g u_gic`` region by region in NumPy (the program as written)."""
    n, _, _, k = problem.shape
    Z = np.zeros((n, k))
    for X, pats, cols in zip(problem.region_data, problem.patterns, problem.pattern_slices(),
                             strict=True):
        pre = np.einsum("rh,hpk->rpk", X, U[:, cols])
        Z += np.einsum("rp,rpk->rk", pats.D, pre).reshape(n, -1, k).sum(1)
    return Z


def _reference_cone_violation(problem: ConvReLUProblem, *blocks: np.ndarray) -> float:
    """Largest ``max(0, -(2 D_gi - I) X_g b_gic)`` over the regions' patches, in NumPy."""
    worst = 0.0
    for B in blocks:
        for X, pats, cols in zip(problem.region_data, problem.patterns,
                                 problem.pattern_slices(), strict=True):
            sign = np.where(pats.D, 1.0, -1.0)[:, :, None]
            worst = max(worst, float(np.max(-sign * np.einsum("rh,hpk->rpk", X, B[:, cols]),
                                            initial=0.0)))
    return worst


def _program_c(rng, loss: str, pool, pool_mode: str = "sum", n_outputs: int = 1, n: int = 12):
    """``(problem, inputs, targets)``: (C) on 2-channel 5 x 5 images with 2 x 2 filters and 6
    sampled patterns per region."""
    geometry = ConvGeometry((2, 5, 5), 2, pool=pool, pool_mode=pool_mode)
    x = rng.standard_normal((n, 2, 5, 5))
    if loss == "squared":
        Y = rng.standard_normal((n, n_outputs))
    elif loss == "cross_entropy":
        Y = np.eye(n_outputs)[np.arange(n) % n_outputs]
    else:
        Y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    problem = ConvReLUProblem.build(x, Y, geometry, loss=loss, beta=0.01, patterns="sampled",
                                    n_patterns=6, seed=0)
    return problem, x, Y


@pytest.mark.parametrize(("solver", "loss", "pool", "pool_mode", "n_outputs"), [
    ("admm", "squared", "global", "sum", 1),
    ("admm", "squared", 2, "mean", 2),  # 4 regions, 2 outputs
    ("admm", "logistic", None, "sum", 1),  # a fully connected readout: 16 regions
    ("admm", "cross_entropy", "global", "sum", 3),
])
def test_first_order_solvers_reach_the_conic_reference_on_program_c(rng, solver, loss, pool,
                                                                    pool_mode, n_outputs):
    """ADMM and the augmented Lagrangian on :meth:`ConvReLUProblem.program` against Clarabel.

    Both are certified far below the 1e-6 compared here (the first-order run to 1e-8 by its
    own gap, re-checked by ``certify``; Clarabel to 1e-9), so they must agree to 1e-6.
    """
    problem, x, Y = _program_c(rng, loss, pool, pool_mode, n_outputs)
    reference = solve_conv_relu(problem, solver="CLARABEL")
    solution = solve_conv_relu(problem, solver=solver, tol=1e-8)
    assert solution.status == "optimal" and solution.solver == solver
    assert solution.objective == pytest.approx(reference.objective, rel=1e-6)
    certificate = solution.certificate
    assert certificate.valid
    assert certificate.lower_bound <= reference.objective * (1 + 1e-9)
    assert certificate.primal == pytest.approx(solution.objective, rel=1e-12)
    # the network of Theorem 1: inside the cones (checked region by region), so the CNN
    # evaluated by torch attains the program's objective
    assert _reference_cone_violation(problem, solution.V, solution.W) <= 1e-10
    net = conv_relu_network(solution)
    assert network_objective(net, x, Y, loss=loss, beta=problem.beta,
                             readout_norm="l1") == pytest.approx(solution.objective,
                                                                 rel=EXACT_RTOL)


def test_augmented_lagrangian_solves_exact_program_c(signals):
    """The augmented Lagrangian on all patterns of a small (C) (it needs over 2 10^4 iterations
    on the larger programs above, where ADMM needs hundreds): certified to 1e-6 (re-checked
    independently of the solver), so within 1e-6 of the conic optimum."""
    x, y = signals
    problem = ConvReLUProblem.build(x, y, ConvGeometry((1, 5), 2), beta=BETA, patterns="exact")
    reference = solve_conv_relu(problem, solver="CLARABEL")
    solution = solve_conv_relu(problem, solver="augmented_lagrangian", tol=1e-6)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(reference.objective, rel=1e-6)
    assert solution.certificate.exact_patterns  # all patterns: the bound is global
    assert solution.certificate.lower_bound <= reference.objective * (1 + 1e-9)
    assert _reference_cone_violation(problem, solution.V, solution.W) <= 1e-10


def test_patch_operators_are_program_c_maps(rng):
    """The pooled operator against the program written region by region: predictions, the
    adjoint identity ``<F U, G> = <U, F^T G>``, ``F F^T`` (ADMM's sample-space kernel) and
    ``F^T F`` (its parameter-space Gram) from ``F``'s columns."""
    problem = _program_c(rng, "squared", 2, "mean", n_outputs=2)[0]
    ops = problem.program().operators()
    n, h, P, k = problem.shape
    V, W = rng.standard_normal((2, h, P, k))
    Z = ops.predict(ops.stack(*(torch.as_tensor(B) for B in (V, W)))).numpy()
    np.testing.assert_allclose(Z, _reference_predict(problem, V - W), rtol=1e-12, atol=1e-12)
    G = torch.as_tensor(rng.standard_normal((n, k)))
    U = torch.as_tensor(rng.standard_normal((h, 2 * P, k)))
    assert float((ops.predict(U) * G).sum()) == pytest.approx(
        float((U * ops.adjoint(G)).sum()), rel=1e-12)
    columns = [ops.predict(ops.adjoint(e[:, None])) for e in torch.eye(n, dtype=torch.float64)]
    np.testing.assert_allclose(ops.kernel().numpy(), torch.cat(columns, dim=1).numpy(),
                               rtol=1e-12, atol=1e-12)
    # F^T F (the Gram solver's), from F's columns: the predictions of unit groups
    units = torch.eye(h * 2 * P, dtype=torch.float64).reshape(-1, h, 2 * P, 1)
    F = torch.cat([ops.predict(e) for e in units], dim=1)  # (n, h 2P)
    np.testing.assert_allclose(ops.gram(chunk=5).numpy(), (F.T @ F).numpy(), rtol=1e-12,
                               atol=1e-12)
    # the cones have rows on each pattern's own region only
    assert _reference_cone_violation(problem, V, W) == pytest.approx(
        float(ops.cone_violation(ops.preactivations(ops.stack(torch.as_tensor(V),
                                                              torch.as_tensor(W)))).max()),
        rel=1e-12)


def test_patch_programs_are_refused_where_one_row_per_sample_is_assumed(rng, monkeypatch):
    """The conic solver and the fully connected network recovery are written for one row of
    ``X`` per sample: they refuse a patch program by name; ``auto`` sends it to ADMM, and
    :func:`solve_conv_relu`'s ``auto`` beyond the conic size rule too."""
    problem = _program_c(rng, "squared", "global")[0]
    program = problem.program()
    with pytest.raises(ValueError, match="one row of X per sample.*solve_conv_relu"):
        solve(program, solver="conic")
    solution = solve(program, tol=1e-4)
    assert solution.solver == "admm"
    with pytest.raises(ValueError, match="convolutional program.*conv_relu_network"):
        TwoLayerReLU.from_convex(solution)
    monkeypatch.setattr(cnn, "CONIC_MAX_PROGRAM", 0)
    assert solve_conv_relu(problem, tol=1e-4).solver == "admm"
    with pytest.raises(ValueError, match=r"inside must be a boolean array of shape "
                                         r"\(rows_per_sample, n_patterns\)"):
        replace(program, inside=program.inside[:, :-1])
    with pytest.raises(ValueError, match="rows_per_sample .5. rows per sample"):
        replace(program, rows_per_sample=5)
    with pytest.raises(TypeError, match="problem must be a ConvReLUProblem"):
        solve_conv_relu(program)
    with pytest.raises(ValueError, match="solver must be 'auto', 'conic' .*got 'fista'"):
        solve_conv_relu(problem, solver="fista")
