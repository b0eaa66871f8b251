"""Property-based fuzzing of bad input through the estimators, ConvexProblem.build and
certify_network: every generated input is wrong in one way, and each must be refused with a
one-line ValueError or TypeError that names the argument, before any solve. A silent result
(no error) fails the test, and so does an error that does not say which argument is wrong.
Together with tests/test_cli_fuzz.py (the loaders and the command line) this feeds well over
1,000 bad inputs; every case is refused up front, so the file runs in seconds.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convexnn import (
    ConvexProblem,
    ConvexReLUClassifier,
    ConvexReLURegressor,
    TwoLayerReLU,
    certify_network,
)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

pytestmark = pytest.mark.usefixtures("one_thread")

_BAD_NUMBERS = [np.nan, np.inf, -np.inf]


@st.composite
def faults(draw):
    """``(argument, mutate)``: which argument is broken and how, applied to good inputs."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from([
        "X_nonfinite", "y_nonfinite", "X_ndim", "X_text", "X_complex", "X_empty", "X_none",
        "y_length", "beta", "sample_weight", "n_patterns", "y_one_class", "loss",
    ]))
    n = 8

    def at(shape):
        return tuple(int(rng.integers(0, s)) for s in shape)

    if kind == "X_nonfinite":
        bad = draw(st.sampled_from(_BAD_NUMBERS))

        def mutate(a):
            a["X"] = a["X"].copy()
            a["X"][at(a["X"].shape)] = bad
        return "X", mutate
    if kind == "y_nonfinite":
        bad = draw(st.sampled_from(_BAD_NUMBERS))

        def mutate(a):
            a["y"] = a["y"].astype(float)
            a["y"][int(rng.integers(0, n))] = bad
        return "y", mutate
    if kind == "X_ndim":
        ndim = draw(st.sampled_from([1, 3]))
        return "X", lambda a: a.update(X=a["X"][:, 0] if ndim == 1 else a["X"][:, :, None])
    if kind == "X_text":
        return "X", lambda a: a.update(X=a["X"].astype(str))
    if kind == "X_complex":
        return "X", lambda a: a.update(X=a["X"] + 1j)
    if kind == "X_empty":
        return "X", lambda a: a.update(X=a["X"][:0], y=a["y"][:0])
    if kind == "X_none":
        return "X", lambda a: a.update(X=None)
    if kind == "y_length":
        cut = draw(st.integers(1, n - 1))
        return "y", lambda a: a.update(y=a["y"][:cut])
    if kind == "beta":
        value = draw(st.sampled_from([-1.0, -1e-9, np.nan, np.inf, "0.1", None, [0.1]]))
        return "beta", lambda a: a.update(beta=value)
    if kind == "sample_weight":
        which = draw(st.sampled_from(["negative", "length", "zeros", "nan", "2d"]))
        weights = {"negative": -np.ones(n), "length": np.ones(n + 2), "zeros": np.zeros(n),
                   "nan": np.r_[np.nan, np.ones(n - 1)], "2d": np.ones((n, 2))}[which]
        return "sample_weight", lambda a: a.update(sample_weight=weights)
    if kind == "n_patterns":
        value = draw(st.sampled_from([0, -5, 2.5, "10", None, np.float64(3.0)]))
        return "n_patterns", lambda a: a.update(n_patterns=value)
    if kind == "y_one_class":
        return "y", lambda a: a.update(y=np.zeros(n, dtype=int), one_class=True)
    value = draw(st.sampled_from(["squred", "", "HINGE", 3]))
    return "loss", lambda a: a.update(loss=value)


def _good(rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    X = rng.standard_normal((8, 2))
    return {"X": X, "y": (X[:, 0] > 0).astype(int), "beta": 1e-2, "sample_weight": None,
            "n_patterns": 5, "loss": "squared"}


def _assert_refused(call, argument):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as info:
            call()
    message = str(info.value)
    assert "\n" not in message.strip(), message
    names = {"X": r"\bX\b|Input", "y": r"\by\b|class|Input y|samples", "beta": r"\bbeta\b",
             "sample_weight": r"sample_weight", "n_patterns": r"n_patterns",
             "loss": r"\bloss\b"}
    assert re.search(names[argument], message), (argument, message)


@FUZZ
@given(fault=faults(), classifier=st.booleans())
def test_estimators_refuse_bad_input(fault, classifier):
    argument, mutate = fault
    a = _good()
    mutate(a)
    if a.get("one_class") and not classifier:
        return  # one target value is a legal regression problem
    Estimator = ConvexReLUClassifier if classifier else ConvexReLURegressor
    est = Estimator(beta=a["beta"], loss=a["loss"], n_patterns=a["n_patterns"],
                    patterns="sampled", random_state=0)
    _assert_refused(lambda: est.fit(a["X"], a["y"], sample_weight=a["sample_weight"]),
                    argument)


def _broken_targets(fault):
    """``(argument, inputs)`` with +-1 targets (not labels) and the fault applied; inputs is
    None for the one-class fault, since one target value is a legal target vector."""
    argument, mutate = fault
    a = _good()
    a["y"] = 2.0 * a["y"] - 1
    mutate(a)
    return argument, None if a.get("one_class") else a


@FUZZ
@given(fault=faults())
def test_build_refuses_bad_input(fault):
    argument, a = _broken_targets(fault)
    if a is None:
        return
    _assert_refused(lambda: ConvexProblem.build(
        a["X"], a["y"], loss=a["loss"], beta=a["beta"], patterns="sampled",
        n_patterns=a["n_patterns"], seed=0, sample_weight=a["sample_weight"]), argument)


@FUZZ
@given(fault=faults())
def test_certify_network_refuses_bad_input(fault):
    argument, a = _broken_targets(fault)
    if a is None:
        return
    network = TwoLayerReLU(np.ones((3, 2)), np.ones(3), np.zeros(3))
    _assert_refused(lambda: certify_network(
        network, a["X"], a["y"], loss=a["loss"], beta=a["beta"], patterns="sampled",
        n_patterns=a["n_patterns"], seed=0, sample_weight=a["sample_weight"]), argument)
