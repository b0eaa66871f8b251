"""The non-convex baseline: Adam on objective (2) never beats the convex optimum of (8)."""

import numpy as np
import pytest

from convexnn import ConvexProblem, certify, certify_network, solve
from convexnn.baselines import NonconvexResult, train_nonconvex

BETA = 0.05
SEEDS = range(10)
# The conic reference solves (8) to Clarabel's 1e-10 gap and feasibility tolerances, so its
# objective can sit below the true optimum p* by about that much (a slightly infeasible point);
# 1e-7 is that rounding with a wide margin, and far below Adam's distance to p* (1e-5 to 1e-2).
SLACK = 1e-7


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    y = X[:, 0] * X[:, 1] + 0.3 * rng.standard_normal(12)
    return X, y


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_adam_never_below_the_convex_optimum(data, loss):
    """Papers.md 5, fact 7: every local run ends at or above the global optimum p* of (8).

    With all patterns enumerated (n=12, d=2 plus bias), program (8) is equivalent to training
    the network at any width, so p* lower-bounds every network Adam can reach, from any start.
    """
    X, y = data
    Y = y if loss == "squared" else np.where(y > np.median(y), 1.0, -1.0)
    problem = ConvexProblem.build(X, Y, loss=loss, beta=BETA, patterns="exact")
    solution = solve(problem, "conic")
    assert problem.patterns.exact
    optimum = solution.objective
    assert certify(solution).duality_gap < 1e-7

    finals = []
    for seed in SEEDS:
        result = train_nonconvex(X, Y, loss=loss, beta=BETA, width=20, epochs=1000, lr=1e-2,
                                 seed=seed)
        final = result.objective
        finals.append(final)
        assert final >= optimum - SLACK, (seed, final, optimum)
        assert min(result.history["objective"]) >= optimum - SLACK
        # all patterns, enumerated once (certify_network adds the network's own anyway)
        certificate = certify_network(result.network, X, Y, loss=loss, beta=BETA,
                                      patterns=problem.patterns, dual=solution.dual)
        assert certificate.exact_patterns
        assert certificate.duality_gap >= -1e-9
        assert certificate.lower_bound <= optimum + 1e-7
    # the runs are meaningful: Adam gets close to, but not below, the optimum
    assert min(finals) - optimum < 5e-3


def test_history_and_objective_match_the_network(data):
    X, y = data
    result = train_nonconvex(X, y, beta=BETA, width=8, epochs=50, seed=1)
    assert isinstance(result, NonconvexResult)
    assert len(result.history["objective"]) == len(result.history["time"]) == 51
    assert np.all(np.diff(result.history["time"]) >= 0)
    assert result.time == result.history["time"][-1]
    expected = result.network.objective(X, y, beta=BETA)
    assert result.objective == pytest.approx(expected, rel=1e-12)
    assert result.network.n_neurons == 8 and result.network.has_bias


def test_seed_makes_runs_reproducible(data):
    X, y = data
    first = train_nonconvex(X, y, beta=BETA, width=5, epochs=20, seed=3)
    again = train_nonconvex(X, y, beta=BETA, width=5, epochs=20, seed=3)
    other = train_nonconvex(X, y, beta=BETA, width=5, epochs=20, seed=4)
    assert first.history["objective"] == again.history["objective"]
    np.testing.assert_array_equal(first.network.U, again.network.U)
    assert not np.array_equal(first.network.U, other.network.U)


def test_minibatch_sgd_multioutput_no_bias(data):
    X, _ = data
    Y = np.eye(3)[np.arange(12) % 3]
    result = train_nonconvex(X, Y, loss="cross_entropy", beta=1e-3, width=6, epochs=30,
                             optimizer="sgd", optimizer_options={"momentum": 0.9}, lr=0.1,
                             batch_size=5, seed=0, bias=False, dtype="float32")
    assert not result.network.has_bias and result.network.n_outputs == 3
    assert len(result.history["objective"]) == 31
    assert result.objective < result.history["objective"][0]
    expected = result.network.objective(X, Y, loss="cross_entropy", beta=1e-3)
    assert result.objective == pytest.approx(expected, rel=1e-5)  # trained in float32


def test_sample_weight_enters_the_objective(data):
    X, y = data
    weights = np.arange(1.0, 13.0)
    result = train_nonconvex(X, y, beta=BETA, width=4, epochs=10, seed=0,
                             sample_weight=weights)
    expected = result.network.objective(X, y, beta=BETA, sample_weight=weights)
    assert result.objective == pytest.approx(expected, rel=1e-12)


def test_verbose_prints_progress(data, capsys):
    X, y = data
    train_nonconvex(X, y, beta=BETA, width=3, epochs=20, seed=0, verbose=1)
    out = capsys.readouterr().out
    assert out.count("[adam] epoch") == 10 and "done: objective" in out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, "width"),
        ({"width": 2.5}, "width"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr": -1.0}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"beta": -1.0}, "beta"),
        ({"dtype": "float16"}, "dtype"),
        ({"loss": "huber"}, "loss"),
        ({"loss": "hinge"}, "y must hold only -1 and"),
    ],
)
def test_bad_arguments_name_the_argument(data, kwargs, match):
    X, y = data
    arguments = {"beta": BETA, "width": 3, "epochs": 1, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        train_nonconvex(X, y, **arguments)


def test_bad_data_is_refused(data):
    X, y = data
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        train_nonconvex(X_nan, y, beta=BETA, width=2, epochs=1)
    with pytest.raises(ValueError, match="same number of samples"):
        train_nonconvex(X, y[:-1], beta=BETA, width=2, epochs=1)


def test_the_search_warm_up_is_adam_as_torch_runs_it():
    # adam_warm_up writes Adam out (torch.optim's first use imports torch._dynamo, ~1.5 s);
    # torch.optim.Adam, through train_nonconvex, is the reference: same initialization (same
    # seed), same objective after every step. Differences are float64 rounding of the
    # same arithmetic in another order (measured 3e-12), far below 1e-9.
    from convexnn.baselines import adam_warm_up
    from convexnn.losses import get_loss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    Y = np.eye(3)[rng.integers(0, 3, 60)]
    weights = rng.uniform(0.5, 2.0, 60)
    # its gradients are written out too (autograd computes the reference's)
    for loss, bias in [("squared", True), ("cross_entropy", True), ("squared", False)]:
        mine = adam_warm_up(X, Y, loss=get_loss(loss), beta=1e-3, width=20, epochs=50,
                            lr=3e-2, bias=bias, sample_weight=weights, seed=3)
        reference = train_nonconvex(X, Y, loss=loss, beta=1e-3, width=20, epochs=50, lr=3e-2,
                                    seed=3, sample_weight=weights, bias=bias)
        np.testing.assert_allclose(mine.history["objective"], reference.history["objective"],
                                   rtol=1e-9)
        np.testing.assert_allclose(mine.network.U, reference.network.U, rtol=1e-7, atol=1e-12)
