"""Bad input gives a clear error that names the argument (core entry points)."""

import numpy as np
import pytest

from convexnn.problem import ConvexProblem
from convexnn.solvers import solve

X = np.random.default_rng(0).standard_normal((6, 2))
y = np.array([1.0, -1, 1, -1, 1, 1])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"X": np.array([[np.nan, 1]] + [[0, 1]] * 5)}, ValueError, "X must be finite"),
        ({"X": np.array([[np.inf, 1]] + [[0, 1]] * 5)}, ValueError, "X must be finite"),
        ({"X": np.ones(6)}, ValueError, "X must be a 2-D array"),
        ({"X": np.ones((0, 2)), "y": np.ones(0)}, ValueError, "X must not be empty"),
        ({"X": np.array([["a", "b"]] * 6)}, TypeError, "X must hold real numbers"),
        ({"X": np.ones((6, 2)) * 1j}, TypeError, "X must hold real numbers"),
        ({"y": np.ones(5)}, ValueError, "same number of samples"),
        ({"y": np.array([1.0, np.nan, 1, 1, 1, 1])}, ValueError, "y must be finite"),
        ({"beta": -1.0}, ValueError, "beta must be a finite number >= 0"),
        ({"beta": float("nan")}, ValueError, "beta must be a finite number"),
        ({"beta": "big"}, TypeError, "beta must be a real number"),
        ({"loss": "cubic"}, ValueError, "loss must be one of"),
        ({"loss": "hinge", "y": np.array([0.0, 1, 2, 0, 1, 2])}, ValueError,
         "only -1 and \\+1 for the hinge loss"),
        ({"loss": "cross_entropy"}, ValueError, "one-hot rows"),
        ({"patterns": "all"}, ValueError, "patterns must be"),
        ({"sample_weight": -np.ones(6)}, ValueError, "sample_weight must be non-negative"),
        ({"sample_weight": np.ones(4)}, ValueError, "sample_weight must have one entry"),
        ({"sample_weight": np.zeros(6)}, ValueError, "at least one positive entry"),
        ({"n_patterns": 0, "patterns": "sampled"}, ValueError, "n_samples must be >= 1"),
    ],
)
def test_bad_input_is_refused_with_the_argument_named(kwargs, error, message):
    args = {"X": X, "y": y, "beta": 0.1, "loss": "squared", **kwargs}
    X_, y_ = args.pop("X"), args.pop("y")
    with pytest.raises(error, match=message):
        ConvexProblem.build(X_, y_, **args)


def test_unknown_solver_is_named():
    problem = ConvexProblem.build(X, y, beta=0.1)
    with pytest.raises(ValueError, match="solver must be 'auto' or one of"):
        solve(problem, solver="newton")


def test_solver_choice_auto_uses_the_conic_reference_on_small_problems():
    problem = ConvexProblem.build(X, y, beta=0.1, patterns="exact")
    assert solve(problem).solver == "conic-clarabel"
