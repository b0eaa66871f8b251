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
        ({"n_patterns": 0, "patterns": "sampled"}, ValueError, "n_patterns must be >= 1"),
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


# ---------------------------------------------------------------- the audit of every entry point
# Each case threw a raw numpy / torch / cvxpy error, an AttributeError, or coerced silently
# before the audit of issue 7; now each names the argument, what was expected and what was given.


def _problem():
    return ConvexProblem.build(X, y, beta=0.1, patterns="exact")


def _fit(Estimator, **params):
    return lambda: Estimator(**params).fit(X, y)


def _entry_points():
    import torch

    from convexnn import (
        ConvexReLUClassifier,
        ConvexReLURegressor,
        TwoLayerReLU,
        certify,
        certify_network,
    )
    from convexnn import architectures as arch
    from convexnn.theory import fit_convex_rf, learn_filters

    images = np.random.default_rng(1).standard_normal((6, 8, 8))
    signals = np.random.default_rng(2).standard_normal((6, 1, 6))
    geometry = arch.ConvGeometry((1, 6), 3)
    net = TwoLayerReLU(np.ones((3, 2)), np.ones(3))
    return [
        ("build bias", lambda: ConvexProblem.build(X, y, bias="yes"), TypeError,
         "bias must be True or False; got str 'yes'"),
        ("build gated", lambda: ConvexProblem.build(X, y, gated=1), TypeError,
         "gated must be True or False; got int 1"),
        ("solve None", lambda: solve(None), TypeError, "problem must be a ConvexProblem; got"),
        ("solve device", lambda: solve(_problem(), "admm", device="gpu0"), ValueError,
         "device must name a torch device such as 'cpu' or 'cuda'; got 'gpu0'"),
        ("solve dtype", lambda: solve(_problem(), "admm", dtype=torch.int32), ValueError,
         "dtype must be torch.float32 or torch.float64; got torch.int32"),
        ("certify None", lambda: certify(None), TypeError,
         "solution must be a ConvexSolution; got NoneType"),
        ("certify_network array", lambda: certify_network(X, X, y, beta=0.1), TypeError,
         "network must be a TwoLayerReLU; got ndarray"),
        ("alpha text", lambda: TwoLayerReLU(np.ones((3, 2)), np.array(["1", "2", "3"])),
         TypeError, "alpha must hold real numbers"),
        ("alpha complex", lambda: TwoLayerReLU(np.ones((3, 2)), np.ones(3) * 1j), TypeError,
         "alpha must hold real numbers"),
        ("alpha 3-D", lambda: TwoLayerReLU(np.ones((3, 2)), np.ones((3, 1, 1))), ValueError,
         "alpha must be a 1-D or 2-D array; got 3-D"),
        ("from_convex None", lambda: TwoLayerReLU.from_convex(None), TypeError,
         "solution must be a ConvexSolution"),
        ("to_torch int", lambda: net.to_torch(dtype=torch.int64), ValueError,
         "dtype must be torch.float32 or torch.float64"),
        ("is_balanced rtol", lambda: net.is_balanced(rtol=-1), ValueError,
         "rtol must be a number >= 0; got -1.0"),
        ("regressor text X", lambda: ConvexReLURegressor().fit(X.astype(str), y), TypeError,
         "X must hold real numbers; got text"),
        ("regressor text y", lambda: ConvexReLURegressor().fit(X, y.astype(str)), TypeError,
         "y must hold real numbers; got text"),
        ("verbose", _fit(ConvexReLURegressor, verbose="loud"), TypeError,
         "verbose must be an integer or a bool; got 'loud'"),
        ("standardize", _fit(ConvexReLURegressor, standardize="yes"), TypeError,
         "standardize must be True or False"),
        ("random_state", _fit(ConvexReLUClassifier, random_state="a", patterns="sampled"),
         ValueError, "random_state must be None, an int or a numpy RandomState; got 'a'"),
        ("estimator device", _fit(ConvexReLURegressor, device="tpu7"), ValueError,
         "device must name a torch device"),
        ("theta 1-D", lambda: arch.fourier_regularizer(np.ones(6)), ValueError,
         "theta must be a 2-D or 3-D array; got 1-D"),
        ("theta shape", lambda: arch.lasso_objective(signals, y, np.ones((1, 5)), beta=0.1),
         ValueError, r"theta must have the shape of one input \(1, 6\); got \(1, 5\)"),
        ("inputs text", lambda: arch.solve_fourier_lasso(signals.astype(str), y, beta=0.1),
         TypeError, "inputs must hold real numbers"),
        ("inputs NaN", lambda: arch.local_filter_patterns(np.full((6, 1, 6), np.nan), geometry,
                                                          5), ValueError, "inputs must be finite"),
        ("objective NaN", lambda: arch.network_objective(arch.DeepLinearNet([2, 3, 1]),
                                                         np.full((6, 2), np.nan), y, beta=0.1),
         ValueError, "inputs must be finite"),
        ("images empty", lambda: learn_filters(images[:0], patch_size=3, n_filters=4),
         ValueError, "images must not be empty"),
        ("labels NaN", lambda: fit_convex_rf(images, np.r_[np.nan, np.zeros(5)], patch_size=3,
                                             n_filters=4), ValueError,
         "labels must not hold NaN"),
        ("labels length", lambda: fit_convex_rf(images, [0, 1], patch_size=3, n_filters=4),
         ValueError, r"labels must have one entry per sample \(6\); got 2"),
        ("labels one class", lambda: fit_convex_rf(images, np.zeros(6), patch_size=3,
                                                   n_filters=4), ValueError,
         "labels must hold at least two classes; got 1"),
    ]


@pytest.mark.parametrize("case", _entry_points(), ids=lambda case: case[0])
def test_audited_entry_points_name_the_argument(case):
    _, call, error, message = case
    with pytest.raises(error, match=message):
        call()


def test_more_sampled_patterns_than_exist_warn_with_the_count():
    from convexnn.patterns import PatternCountWarning, cover_count, make_patterns

    # 6 samples in general position plus a bias column: rank 3, Cover's count 2 (1 + 5 + 10) = 32
    Xa = np.hstack([X, np.ones((6, 1))])
    assert cover_count(6, 3) == 32
    with pytest.warns(PatternCountWarning, match="n_patterns=500 exceeds .* at most 32"):
        patterns = make_patterns(Xa, "sampled", n_patterns=500, seed=0)
    assert patterns.n_patterns <= 32
    # duplicate rows add no patterns: the count is that of the distinct samples
    with pytest.warns(PatternCountWarning, match="at most 32"):
        make_patterns(np.vstack([Xa, Xa]), "sampled", n_patterns=40, seed=0)


def test_cli_reports_broken_metadata_in_one_line(tmp_path, capsys):
    import torch

    from convexnn import TwoLayerReLU
    from convexnn.cli import main

    data = tmp_path / "d.csv"
    data.write_text("a,b,t\n" + "".join(f"{r[0]},{r[1]},{t}\n" for r, t in zip(X, y, strict=True)))
    model = tmp_path / "m.pt"
    torch.save(TwoLayerReLU(np.ones((2, 2)), np.ones(2)).to_torch().state_dict(), model)
    model.with_suffix(".json").write_text("{not json")
    assert main(["certify", str(model), "--data", str(data), "--target", "t",
                 "--beta", "0.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convexnn: error: ") and err.count("\n") == 1
    assert "m.json (the metadata of" in err and "is not valid JSON" in err
