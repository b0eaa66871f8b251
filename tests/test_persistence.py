"""Estimators saved and loaded: exact round trips, and clear errors for damaged files."""

import json

import numpy as np
import pytest
import torch

from convexnn import ConvexReLUClassifier, ConvexReLURegressor, TwoLayerReLU
from convexnn.patterns import sample_patterns

from .conftest import classification_data, regression_data

pytestmark = pytest.mark.usefixtures("one_thread")


def _same_fitted_state(a, b, X):
    _params_equal(a, b)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.network_.U, b.network_.U)
    np.testing.assert_array_equal(a.network_.alpha, b.network_.alpha)
    np.testing.assert_array_equal(a.network_.b, b.network_.b)
    np.testing.assert_array_equal(a.feature_mean_, b.feature_mean_)
    np.testing.assert_array_equal(a.feature_scale_, b.feature_scale_)
    assert a.certificate_ == b.certificate_  # every number, bit for bit
    assert a.n_features_in_ == b.n_features_in_ and a.n_iter_ == b.n_iter_


def _params_equal(a, b):
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for key in pa:
        if hasattr(pa[key], "D"):  # Patterns
            np.testing.assert_array_equal(pa[key].D, pb[key].D)
            np.testing.assert_array_equal(pa[key].generators, pb[key].generators)
            assert pa[key].exact == pb[key].exact
        elif isinstance(pa[key], np.random.RandomState):
            assert pa[key].randint(10**9) == pb[key].randint(10**9)
        else:
            assert pa[key] == pb[key], key
    return True


@pytest.mark.parametrize("standardize", [False, True])
def test_regressor_round_trip_is_exact(tmp_path, standardize):
    X, y = regression_data(n=10)
    X = X * np.array([1e3, 1e-2])  # scales that standardization changes
    est = ConvexReLURegressor(beta=1e-3, standardize=standardize).fit(X, y)
    est.save(tmp_path / "reg.pt")
    back = ConvexReLURegressor.load(tmp_path / "reg.pt")
    _same_fitted_state(est, back, X)
    assert back.predict(X).ndim == 1  # 1-D targets stay 1-D
    # the weights file is tensors only (no pickle): torch reads it with weights_only=True
    state = torch.load(tmp_path / "reg.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_classifier_with_text_labels_and_special_parameters(tmp_path):
    X, y = classification_data(n=12, seed=1)
    labels = np.where(y > 0, "outside", "inside")
    patterns = sample_patterns(np.hstack([X, np.ones((12, 1))]), 20, seed=0)
    est = ConvexReLUClassifier(beta=1e-2, loss="logistic", patterns=patterns,
                               random_state=np.random.RandomState(3), dtype=torch.float64,
                               standardize=True).fit(X, labels)
    est.save(tmp_path / "clf.pt")
    back = ConvexReLUClassifier.load(tmp_path / "clf.pt")
    _params_equal(est, back)
    _same_fitted_state(est, back, X)
    np.testing.assert_array_equal(back.classes_, est.classes_)
    assert back.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_multiclass_integer_labels_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    labels = np.array([3, 7, 9] * 4)
    est = ConvexReLUClassifier(beta=1e-2, loss="cross_entropy", patterns="sampled",
                               n_patterns=10, random_state=0).fit(X, labels)
    est.save(tmp_path / "m.pt")
    back = ConvexReLUClassifier.load(tmp_path / "m.pt")
    _same_fitted_state(est, back, X)
    assert back.classes_.dtype == est.classes_.dtype


@pytest.fixture
def saved(tmp_path):
    X, y = regression_data(n=8)
    est = ConvexReLURegressor(beta=1e-2).fit(X, y)
    path = tmp_path / "est.pt"
    est.save(path)
    return path


def test_wrong_class_is_named(saved):
    with pytest.raises(ValueError, match="holds a 'convexnn.ConvexReLURegressor', not a "
                                         "'convexnn.ConvexReLUClassifier'"):
        ConvexReLUClassifier.load(saved)
    with pytest.raises(ValueError, match="not a 'convexnn.TwoLayerReLU'"):
        TwoLayerReLU.load(saved)


def test_a_network_file_is_not_an_estimator(tmp_path):
    net = TwoLayerReLU(np.ones((2, 2)), np.ones(2))
    net.save(tmp_path / "net.pt")
    with pytest.raises(ValueError, match="holds a 'convexnn.TwoLayerReLU', not a "
                                         "'convexnn.ConvexReLURegressor'"):
        ConvexReLURegressor.load(tmp_path / "net.pt")


def test_truncated_and_corrupted_files_are_named(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"est\.pt does not match its metadata"):
        ConvexReLURegressor.load(saved)
    saved.write_bytes(data)
    ConvexReLURegressor.load(saved)  # intact again


def test_wrong_version_and_incomplete_metadata_are_named(saved):
    sidecar = saved.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**metadata, "format_version": 3}))
    with pytest.raises(ValueError, match=r"est\.pt is in format version 3"):
        ConvexReLURegressor.load(saved)
    del metadata["certificate"]
    sidecar.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"est\.pt or its metadata is incomplete"):
        ConvexReLURegressor.load(saved)


def test_unfitted_estimator_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConvexReLURegressor().save(tmp_path / "x.pt")
