"""Estimators saved and loaded: exact round trips, and clear errors for damaged files."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from convexnn import ConvexReLUClassifier, ConvexReLURegressor, TwoLayerReLU
from convexnn._persistence import read_bundle, read_legacy_network, write_bundle
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
    with pytest.raises(ValueError, match=r"est\.json: metadata entry 'certificate' must be a "
                                         r"JSON object; it is missing"):
        ConvexReLURegressor.load(saved)


def test_unfitted_estimator_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConvexReLURegressor().save(tmp_path / "x.pt")


# ------------------------------------------------------ damaged and forged files (issue 15, 9)
def _forged_npz(path, declared_shape):
    """A legacy network file whose array U declares ``declared_shape`` but holds 16 bytes."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(2))
    header["shape"] = declared_shape
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(np.zeros(2).tobytes())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("U.npy", member.getvalue())
        for name, value in (("alpha", np.ones((1, 1))), ("b", np.zeros(1)),
                            ("header", np.array(json.dumps({"format": "convexnn.TwoLayerReLU/1",
                                                            "has_bias": True})))):
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


def test_npz_declaring_80_gb_is_refused_before_allocating(tmp_path):
    path = _forged_npz(tmp_path / "net.npz", (100_000, 100_000))  # 80 GB of float64
    with pytest.raises(ValueError, match=r"net\.npz is not a valid \.npz file: array 'U' "
                                         r"declares shape \[100000, 100000\] of float64 "
                                         r"\(80000000000 bytes\), more than the whole file"):
        read_legacy_network(path, reader="TwoLayerReLU.load")
    # the same file with an honest header reads back
    path = _forged_npz(tmp_path / "ok.npz", (2, 1))
    with pytest.raises(ValueError, match=r"ok\.npz holds no valid network: alpha must have "
                                         r"one row per neuron \(2\)"):
        read_legacy_network(path, reader="TwoLayerReLU.load")
    net = TwoLayerReLU(np.ones((2, 2)), np.ones(2), np.zeros(2))
    net.save(tmp_path / "net.npz")
    back = read_legacy_network(tmp_path / "net.npz", reader="TwoLayerReLU.load")
    np.testing.assert_array_equal(back.U, net.U)
    np.testing.assert_array_equal(back.b, net.b)


def test_garbage_npz_is_named_without_numpy_pickle_advice(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip archive" * 20)
    with pytest.raises(ValueError, match=r"garbage\.npz is not a \.npz file") as info:
        read_legacy_network(path, reader="TwoLayerReLU.load")
    assert "pickle" not in str(info.value)


def test_two_layer_relu_load_reads_npz_through_the_checked_reader(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip archive" * 20)
    with pytest.raises(ValueError, match="is not a .npz file") as info:
        TwoLayerReLU.load(path)
    assert "pickle" not in str(info.value)


def test_a_directory_is_named_as_such(tmp_path):
    folder = tmp_path / "model.pt"
    folder.mkdir()
    for load in (TwoLayerReLU.load, ConvexReLUClassifier.load):
        with pytest.raises(IsADirectoryError, match=r"model\.pt is a directory, not a file"):
            load(folder)
    with pytest.raises(IsADirectoryError, match=r"x\.npz is a directory, not a file"):
        (tmp_path / "x.npz").mkdir()
        read_legacy_network(tmp_path / "x.npz", reader="TwoLayerReLU.load")


def _edit_metadata(path, edit):
    sidecar = path.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    edit(metadata)
    sidecar.write_text(json.dumps(metadata))


def test_metadata_entries_are_checked_for_presence_and_type(tmp_path):
    net = TwoLayerReLU(np.ones((2, 2)), np.ones(2), np.zeros(2))
    path = tmp_path / "net.pt"
    cases = [
        (lambda m: m["arrays"]["0.weight"].pop("shape"),
         r"net\.json: metadata entry 'arrays\.0\.weight\.shape' must be a list of integers "
         r">= 0; it is missing"),
        (lambda m: m["arrays"]["0.bias"].update(dtype="object"),
         r"metadata entry 'arrays\.0\.bias\.dtype' must be a numeric NumPy dtype"),
        (lambda m: m.update(sha256=42), r"metadata entry 'sha256' must be a SHA-256 digest"),
        (lambda m: m.update(has_bias="yes"), r"metadata entry 'has_bias' must be true or false"),
        (lambda m: m.update(beta=-5), r"metadata entry 'beta' must be a finite number >= 0"),
        (lambda m: m.update(loss="cubic"), r"metadata entry 'loss' must be the name of a loss"),
        (lambda m: m.update(format_version=True), r"net\.pt is in format version true"),
        # forged sizes: refused from the file size, before the file is read
        (lambda m: m["arrays"]["0.weight"].update(shape=[100_000, 100_000]),
         r"net\.pt does not match its metadata: it has \d+ bytes, but the metadata declares "
         r"arrays of 80000000\d+ bytes"),
    ]
    for edit, match in cases:
        net.save(path, loss="squared", beta=0.1)
        _edit_metadata(path, edit)
        with pytest.raises(ValueError, match=match):
            TwoLayerReLU.load(path)


def test_metadata_that_is_not_json_or_nested_too_deeply(saved):
    sidecar = saved.with_suffix(".json")
    for text, match in [("{", "is not valid JSON metadata"),
                        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
                        ('{"format": "convexnn.ConvexReLURegressor", "format_version": '
                         + "9" * 5000 + "}", "is not valid JSON metadata")]:
        sidecar.write_text(text)
        with pytest.raises(ValueError, match=match):
            ConvexReLURegressor.load(saved)


def _rewrite_arrays(path, kind, edit):
    """Change the arrays of a saved file and write it again, checksum included (a forgery)."""
    arrays, metadata = read_bundle(path, kind, reader="test")
    edit(arrays)
    header = {k: v for k, v in metadata.items()
              if k not in ("format", "format_version", "convexnn_version", "weights", "sha256",
                           "arrays")}
    write_bundle(path, kind, arrays, header)


@pytest.fixture
def saved_classifier(tmp_path):
    X, y = classification_data(n=10, seed=2)
    est = ConvexReLUClassifier(beta=1e-2, patterns="sampled", n_patterns=10,
                               random_state=0).fit(X, y)
    path = tmp_path / "clf.pt"
    est.save(path)
    return path


def test_tampered_parameters_and_attributes_are_revalidated(saved_classifier):
    """Whatever fit would refuse, load refuses: the file and the entry are named."""
    path = saved_classifier
    kind = "convexnn.ConvexReLUClassifier"
    original = (path.read_bytes(), path.with_suffix(".json").read_text())

    def restore():
        path.write_bytes(original[0])
        path.with_suffix(".json").write_text(original[1])

    metadata_cases = [
        (lambda m: m["params"].update(beta=-5), r"clf\.json: metadata entry 'params' holds an "
                                                r"invalid parameter: beta must be .*-5"),
        (lambda m: m["params"].update(loss="cubic"), r"invalid parameter: loss must be one of"),
        (lambda m: m["params"].update(random_state=-1),
         r"metadata entry 'params\.random_state' must be null, an integer in \[0, 2\*\*32 - 1\]"),
        (lambda m: m["params"].update(warp=1), r"metadata entry 'params\.warp' must be one of the "
                                               r"parameters"),
        (lambda m: m["fitted"].update(n_features_in_=3),
         r"metadata entry 'fitted\.n_features_in_' must be 2, the network's number of features"),
        (lambda m: m["fitted"].update(n_iter_=-1),
         r"metadata entry 'fitted\.n_iter_' must be an integer >= 0"),
        (lambda m: m["fitted"].update(predict=0), r"metadata entry 'fitted\.predict' must be one "
                                                  r"of"),
        (lambda m: m["certificate"].update(primal="low"),
         r"metadata entry 'certificate\.primal' must be a finite number"),
        (lambda m: m["params"].update(standardize=1),
         r"invalid parameter: standardize must be True or False"),
        (lambda m: m["params"].update(solver="newton"), r"invalid parameter: solver must be one "
                                                        r"of"),
        (lambda m: m["params"].pop("beta"), r"metadata entry 'params\.beta' must be present"),
        (lambda m: m["certificate"].update(lower_bound=m["certificate"]["lower_bound"] / 2),
         r"metadata entry 'certificate\.duality_gap' must be .* \(from the other entries"),
        (lambda m: m["certificate"].update(exact_patterns=True),
         r"metadata entry 'certificate\.exact_patterns' must be false for sampled patterns"),
    ]
    for edit, match in metadata_cases:
        restore()
        _edit_metadata(path, edit)
        with pytest.raises(ValueError, match=match):
            ConvexReLUClassifier.load(path)

    array_cases = [
        (lambda a: a.update(classes=np.array([-1.0])),  # one class
         r"metadata entry 'classes' must be at least two distinct class labels; got \[-1\.0\]"),
        (lambda a: a.update(classes=np.array([1.0, -1.0])),
         r"'classes' must be sorted class labels"),
        (lambda a: a.update(feature_scale=-np.ones(2)), r"'arrays\.feature_scale' must be "
                                                         r"positive"),
        (lambda a: a.update(feature_mean=np.ones(2)),
         r"'arrays\.feature_mean' must be zeros .* for an estimator with standardize=False"),
        (lambda a: a.pop("network.0.bias"), r"'params\.bias' must be False \(the network has no "
                                            r"bias\)"),
        (lambda a: a.update({"network.0.weight": np.full((a["network.0.weight"].shape), np.nan)}),
         r"array 'network\.0\.weight' of .*clf\.pt holds NaN or infinite values"),
    ]
    for edit, match in array_cases:
        restore()
        _rewrite_arrays(path, kind, edit)
        with pytest.raises(ValueError, match=match):
            ConvexReLUClassifier.load(path)
    restore()
    ConvexReLUClassifier.load(path)  # untouched, it loads


def test_training_data_for_certify_round_trips(tmp_path):
    from convexnn._persistence import read_estimator, save_estimator

    X, y = classification_data(n=10, seed=2)
    est = ConvexReLUClassifier(beta=1e-2, patterns="sampled", n_patterns=10,
                               random_state=0).fit(X, y)
    path = tmp_path / "clf.pt"
    save_estimator(est, path, training_fingerprint="ab" * 32, extra={"target": "t"})
    back, stored = read_estimator(ConvexReLUClassifier, path)
    assert stored["extra"] == {"target": "t"}
    training = stored["training"]
    np.testing.assert_array_equal(training["generators"], est.patterns_.generators)
    dual = getattr(est, "dual_", est.solution_.dual)
    np.testing.assert_array_equal(training["dual"], dual)
    assert training["data_sha256"] == "ab" * 32 and training["exact"] == est.patterns_.exact
    # the plain load ignores them; a plain save stores none
    ConvexReLUClassifier.load(path)
    est.save(tmp_path / "plain.pt")
    assert read_estimator(ConvexReLUClassifier, tmp_path / "plain.pt")[1]["training"] is None
    with pytest.raises(ValueError, match="training_fingerprint must be a SHA-256 hex digest"):
        save_estimator(est, path, training_fingerprint="abc")
