"""The on-disk format of networks and estimators: a ``.pt`` file of tensors plus JSON metadata.

``save(path)`` writes ``path`` with ``torch.save`` of a flat ``{name: tensor}`` dict (tensors only,
so :func:`torch.load` reads it with ``weights_only=True``; no pickled objects) and
``path.with_suffix(".json")`` with the metadata: the kind of object, the format version, the
convexnn version, each array's shape and dtype, and the SHA-256 of the ``.pt`` bytes, so that a
corrupted, truncated or swapped weights file is detected before it is used. Reading checks all of
it and names the offending file in every error.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "FORMAT_VERSION",
    "load_estimator",
    "metadata_path",
    "read_bundle",
    "save_estimator",
    "write_bundle",
]

#: version of the ``.pt`` + ``.json`` layout (the legacy ``.npz`` network format was version 1)
FORMAT_VERSION = 2

_RESERVED = {"format", "format_version", "convexnn_version", "weights", "sha256", "arrays"}


def metadata_path(path) -> Path:
    """The JSON file that goes with the weights file ``path`` (same name, suffix ``.json``)."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar == path:
        raise ValueError(f"path must not end in .json (the metadata goes there); got {path}")
    return sidecar


def _version() -> str:
    from . import __version__  # at call time the package is fully imported

    return __version__


def _json_ready(value):
    """Plain JSON types for ``value`` (NumPy scalars and arrays included)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value  # floats are written with repr, so they read back exactly (inf as Infinity)


def write_bundle(path, kind: str, arrays: dict, header: dict) -> None:
    """Write ``arrays`` (name -> ndarray) to ``path`` and the metadata to its ``.json``.

    Parameters
    ----------
    path : str or Path
        The weights file, conventionally ``*.pt``.
    kind : str
        What is stored, e.g. ``"convexnn.TwoLayerReLU"``; :func:`read_bundle` checks it.
    arrays : dict of str to ndarray
        Numeric arrays (float, integer or boolean).
    header : dict
        Extra JSON-serializable metadata (its keys must not clash with the format's own).
    """
    path = Path(path)
    sidecar = metadata_path(path)
    clash = _RESERVED & set(header)
    if clash:
        raise ValueError(f"metadata keys {sorted(clash)} are reserved by the file format")
    tensors = {name: torch.from_numpy(np.ascontiguousarray(value))
               for name, value in arrays.items()}
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    data = buffer.getvalue()
    metadata = {
        "format": kind,
        "format_version": FORMAT_VERSION,
        "convexnn_version": _version(),
        "weights": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "arrays": {name: {"shape": list(value.shape), "dtype": str(value.dtype)}
                   for name, value in arrays.items()},
        **_json_ready(header),
    }
    try:
        path.write_bytes(data)
        sidecar.write_text(json.dumps(metadata, indent=2) + "\n")
    except OSError as exc:
        raise OSError(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from exc


def read_bundle(path, kind: str, *, reader: str) -> tuple[dict, dict]:
    """Read what :func:`write_bundle` wrote; returns ``(arrays, metadata)``.

    Parameters
    ----------
    path : str or Path
    kind : str
        The expected ``format`` of the metadata.
    reader : str
        The function to name in errors (e.g. ``"TwoLayerReLU.load"``).

    Raises
    ------
    FileNotFoundError
        If ``path`` or its metadata file does not exist.
    ValueError
        Naming the file, when the metadata is not valid JSON, describes another kind of object
        or a newer format, or when the weights file does not match its metadata (corrupted,
        truncated, replaced) or cannot be read as tensors.
    """
    path = Path(path)
    sidecar = metadata_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{reader}: {path} does not exist (no such file)")
    if not sidecar.is_file():
        raise FileNotFoundError(
            f"{reader}: the metadata file {sidecar} of {path} does not exist; both are written "
            "by save() and are needed together")
    try:
        metadata = json.loads(sidecar.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{reader}: {sidecar} is not valid JSON metadata ({exc})") from exc
    if not isinstance(metadata, dict) or "format" not in metadata:
        raise ValueError(f"{reader}: {sidecar} is not convexnn metadata (no 'format' entry)")
    if metadata["format"] != kind:
        raise ValueError(f"{reader}: {path} holds a {metadata['format']!r}, not a {kind!r}; "
                         "load it with the matching class")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 2:
        raise ValueError(
            f"{reader}: {path} is in format version {version!r} (written by convexnn "
            f"{metadata.get('convexnn_version', '?')}); this convexnn ({_version()}) reads "
            f"version {FORMAT_VERSION}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != metadata.get("sha256"):
        raise ValueError(
            f"{reader}: {path} does not match its metadata {sidecar} (SHA-256 differs): the "
            "weights file is corrupted, truncated or from another save")
    try:
        tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise ValueError(f"{reader}: {path} cannot be read as tensors: {exc}") from exc
    expected = metadata.get("arrays", {})
    if not isinstance(tensors, dict) or set(tensors) != set(expected):
        found = sorted(tensors) if isinstance(tensors, dict) else type(tensors).__name__
        raise ValueError(f"{reader}: {path} holds {found}; its metadata lists "
                         f"{sorted(expected)}")
    arrays = {}
    for name, tensor in tensors.items():
        value = tensor.numpy() if isinstance(tensor, torch.Tensor) else None
        if value is None or list(value.shape) != expected[name]["shape"]:
            raise ValueError(f"{reader}: array {name!r} of {path} does not have the shape its "
                             f"metadata gives ({expected[name]['shape']})")
        arrays[name] = value
    return arrays, metadata


# ------------------------------------------------------------------------------ estimators
def _encode_params(params: dict, arrays: dict) -> dict:
    """``get_params()`` as JSON; Patterns and RandomState values go to ``arrays``."""
    from .patterns import Patterns

    encoded = {}
    for name, value in params.items():
        if isinstance(value, Patterns):
            arrays[f"params.{name}.D"] = value.D
            arrays[f"params.{name}.generators"] = value.generators
            encoded[name] = {"__patterns__": {"exact": value.exact}}
        elif isinstance(value, torch.dtype):
            encoded[name] = {"__torch_dtype__": str(value).removeprefix("torch.")}
        elif isinstance(value, np.random.RandomState):
            _, keys, pos, has_gauss, cached = value.get_state(legacy=True)
            arrays[f"params.{name}.keys"] = keys
            encoded[name] = {"__random_state__": [int(pos), int(has_gauss), float(cached)]}
        elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
            encoded[name] = _json_ready(value)
        else:
            raise TypeError(f"cannot save parameter {name}={value!r}: only numbers, strings, "
                            "None, Patterns, torch dtypes and RandomState instances are stored")
    return encoded


def _decode_params(encoded: dict, arrays: dict) -> dict:
    from .patterns import Patterns

    params = {}
    for name, value in encoded.items():
        if isinstance(value, dict) and "__patterns__" in value:
            params[name] = Patterns(arrays[f"params.{name}.D"].astype(bool),
                                    arrays[f"params.{name}.generators"],
                                    bool(value["__patterns__"]["exact"]))
        elif isinstance(value, dict) and "__torch_dtype__" in value:
            params[name] = getattr(torch, value["__torch_dtype__"])
        elif isinstance(value, dict) and "__random_state__" in value:
            pos, has_gauss, cached = value["__random_state__"]
            state = np.random.RandomState()
            state.set_state(("MT19937", arrays[f"params.{name}.keys"], pos, has_gauss, cached))
            params[name] = state
        else:
            params[name] = value
    return params


def save_estimator(estimator, path) -> None:
    """Write a fitted :class:`~convexnn.estimators.ConvexReLURegressor` or classifier.

    The network of the standardized features, the scaling and numeric ``classes_`` are
    tensors; parameters, sizes, the certificate and the solver's status are JSON.
    """
    from dataclasses import asdict

    arrays = {f"network.{key}": value.numpy() for key, value in
              estimator._scaled_network.to_torch().state_dict().items()}
    arrays["feature_mean"] = estimator.feature_mean_
    arrays["feature_scale"] = estimator.feature_scale_
    fitted = {"n_features_in_": estimator.n_features_in_, "n_iter_": estimator.n_iter_}
    for name in ("n_outputs_", "_single_target"):
        if hasattr(estimator, name):
            fitted[name] = getattr(estimator, name)
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(v) for v in estimator.feature_names_in_]
    if hasattr(estimator, "classes_"):
        classes = estimator.classes_
        if classes.dtype.kind in "biuf":
            arrays["classes"] = classes
        else:
            fitted["classes_"] = {"values": [str(v) for v in classes.tolist()],
                                  "dtype": classes.dtype.str}
    solution = getattr(estimator, "solution_", None)
    header = {
        "params": _encode_params(estimator.get_params(deep=False), arrays),
        "fitted": fitted,
        "certificate": asdict(estimator.certificate_),
        "solver": None if solution is None else {"name": solution.solver,
                                                 "status": solution.status,
                                                 "reason": solution.reason},
    }
    write_bundle(path, f"convexnn.{type(estimator).__name__}", arrays, header)


def load_estimator(cls, path):
    """Read an estimator of class ``cls`` written by :func:`save_estimator`."""
    from .certificates import Certificate
    from .network import TwoLayerReLU

    reader = f"{cls.__name__}.load"
    arrays, metadata = read_bundle(path, f"convexnn.{cls.__name__}", reader=reader)
    try:
        estimator = cls(**_decode_params(metadata["params"], arrays))
        fitted = metadata["fitted"]
        network = TwoLayerReLU.from_state_dict(
            {key.removeprefix("network."): torch.from_numpy(value)
             for key, value in arrays.items() if key.startswith("network.")}, name=str(path))
        estimator.feature_mean_ = arrays["feature_mean"]
        estimator.feature_scale_ = arrays["feature_scale"]
        for name, value in fitted.items():
            if name == "classes_":
                dtype = np.dtype(value["dtype"])
                estimator.classes_ = np.array(value["values"], dtype=dtype)
            elif name == "feature_names_in_":
                estimator.feature_names_in_ = np.array(value, dtype=object)
            else:
                setattr(estimator, name, value)
        if "classes" in arrays:
            estimator.classes_ = arrays["classes"]
        estimator.certificate_ = Certificate(**metadata["certificate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{reader}: {path} or its metadata is incomplete or inconsistent: "
                         f"{exc}") from exc
    d = estimator.n_features_in_
    if network.n_features != d or estimator.feature_mean_.shape != (d,):
        raise ValueError(f"{reader}: {path} holds a network of {network.n_features} features "
                         f"and a scaling of shape {estimator.feature_mean_.shape}; its metadata "
                         f"says {d} features")
    estimator._scaled_network = network
    estimator.network_ = (network.unstandardized(estimator.feature_mean_,
                                                 estimator.feature_scale_)
                          if estimator.standardize else network)
    return estimator
