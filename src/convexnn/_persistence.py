"""Estimators on disk: a fitted estimator as a bundle of :mod:`convexnn._bundle`, read back checked.

:func:`save_estimator` stores the network of the standardized features, the scaling and numeric
``classes_`` as tensors, and the parameters, sizes, certificate and solver status as JSON
metadata. :func:`read_estimator` trusts nothing in the files: besides the bundle's own checks
(SHA-256, declared sizes, entry types), a loaded estimator's parameters and fitted attributes are
validated as ``fit`` would have made them. Every error names the file, and the entry when one is
at fault.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from ._bundle import (
    KINDS,
    MISSING,
    Entries,
    is_int,
    is_real,
    json_ready,
    metadata_path,
    read_bundle,
    write_bundle,
)
from .certificates import Certificate
from .losses import get_loss
from .network import TwoLayerReLU, read_legacy_network
from .patterns import Patterns
from .solvers import SOLVERS

# the readers of networks and bundles are also named here, where every file is read
__all__ = [
    "load_estimator",
    "read_bundle",
    "read_estimator",
    "read_legacy_network",
    "save_estimator",
    "write_bundle",
]

#: the estimators' parameters when format version 2 was defined: a file must hold every one of
#: them; a parameter added since takes its default when an older file lacks it
_PARAMS_V2 = ("beta", "bias", "device", "dtype", "gated", "loss", "max_iter", "n_patterns",
              "patterns", "random_state", "solver", "standardize", "tol", "verbose",
              "warm_start")


# ------------------------------------------------------------------------------ estimators
def _encode_params(params: dict, arrays: dict) -> dict:
    """``get_params()`` as JSON; Patterns and RandomState values go to ``arrays``."""
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
            encoded[name] = json_ready(value)
        else:
            raise TypeError(f"cannot save parameter {name}={value!r}: only numbers, strings, "
                            "None, Patterns, torch dtypes and RandomState instances are stored")
    return encoded


def _array(arrays: dict, name: str, entries: Entries, expected: str, kinds: str,
           ndim: int) -> np.ndarray:
    """``arrays[name]``, present with ``ndim`` dimensions and a dtype kind in ``kinds``."""
    value = arrays.get(name)
    if value is None or value.dtype.kind not in kinds or value.ndim != ndim:
        found = MISSING if value is None else f"shape {list(value.shape)}, dtype {value.dtype}"
        raise entries.error(f"arrays.{name}", expected, found)
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise entries.error(f"arrays.{name}", expected + " (finite)", "NaN or infinite values")
    return value


def _decode_params(encoded: dict, arrays: dict, entries: Entries, names) -> dict:
    unknown = sorted(set(encoded) - set(names))
    if unknown:
        raise entries.error(f"params.{unknown[0]}", f"one of the parameters {sorted(names)}",
                            encoded[unknown[0]])
    for name in _PARAMS_V2:
        if name in names and name not in encoded:
            raise entries.error(f"params.{name}", "present (save() writes every parameter)")
    params = {}
    for name, value in encoded.items():
        entry = f"params.{name}"
        if not isinstance(value, dict):
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise entries.error(entry, "a number, string, boolean or null", value)
            params[name] = value
        elif set(value) == {"__patterns__"}:
            spec = entries.get(value, "__patterns__", "object", where=entry)
            exact = entries.get(spec, "exact", "bool", where=f"{entry}.__patterns__")
            D = _array(arrays, f"params.{name}.D", entries, "a 2-D boolean array", "b", 2)
            G = _array(arrays, f"params.{name}.generators", entries,
                       "a 2-D array with one column per pattern", "f", 2)
            if G.shape[1] != D.shape[1]:
                raise entries.error(f"arrays.params.{name}.generators",
                                    f"{D.shape[1]} columns (one per pattern)", list(G.shape))
            params[name] = Patterns(D, G, exact)
        elif set(value) == {"__torch_dtype__"}:
            text = value["__torch_dtype__"]
            if text not in ("float32", "float64"):
                raise entries.error(f"{entry}.__torch_dtype__", "'float32' or 'float64'", text)
            params[name] = getattr(torch, text)
        elif set(value) == {"__random_state__"}:
            state = value["__random_state__"]
            if not (isinstance(state, list) and len(state) == 3 and is_int(state[0], 0)
                    and state[0] <= 624 and state[1] in (0, 1) and not isinstance(state[1], bool)
                    and is_real(state[2])):
                raise entries.error(f"{entry}.__random_state__",
                                    "[position 0..624, has_gauss 0 or 1, cached gaussian]", state)
            keys = _array(arrays, f"params.{name}.keys", entries,
                          "624 unsigned 32-bit integers", "u", 1)
            if keys.shape != (624,) or keys.dtype != np.uint32:
                raise entries.error(f"arrays.params.{name}.keys", "624 unsigned 32-bit integers",
                                    f"shape {list(keys.shape)}, dtype {keys.dtype}")
            random_state = np.random.RandomState()
            random_state.set_state(("MT19937", keys, *state))
            params[name] = random_state
        else:
            raise entries.error(entry, "a plain value or one of the encodings '__patterns__', "
                                "'__torch_dtype__', '__random_state__'", value)
    return params


def _check_random_state(value, entries: Entries) -> None:
    if value is None or isinstance(value, np.random.RandomState):
        return
    if not (is_int(value, 0) and value < 2**32):
        raise entries.error("params.random_state",
                            "null, an integer in [0, 2**32 - 1] or a RandomState", value)


def save_estimator(estimator, path, *, training_fingerprint: str | None = None,
                   extra: dict | None = None) -> None:
    """Write a fitted :class:`~convexnn.estimators.ConvexReLURegressor` or classifier.

    The network of the standardized features, the scaling and numeric ``classes_`` are
    tensors; parameters, sizes, the certificate and the solver's status are JSON.

    Parameters
    ----------
    estimator : ConvexReLURegressor or ConvexReLUClassifier, fitted
    path : str or Path
    training_fingerprint : str, optional
        SHA-256 digest (64 hexadecimal digits) of the training data, as the caller defines it.
        When given, the generators of the activation patterns (``patterns_.generators``, shape
        (n_features + bias, n_patterns)) and the solver's dual point are stored with it, so
        that the fit can later be certified again on data with the same fingerprint
        (``convexnn certify``). The dual point is the estimator's ``dual_`` (one row per row
        of the training data) where the estimator has one, else ``solution_.dual`` (one row
        per distinct sample of positive weight, the same when no row repeats).
    extra : dict, optional
        JSON-serializable entries stored under ``"extra"`` (e.g. the command line's feature
        names), returned by :func:`read_estimator`.
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
    if training_fingerprint is not None:
        if not KINDS["sha256"][0](training_fingerprint):
            raise ValueError("training_fingerprint must be a SHA-256 hex digest (64 lowercase "
                             f"hexadecimal digits); got {training_fingerprint!r}")
        arrays["training.generators"] = estimator.patterns_.generators
        dual = getattr(estimator, "dual_", solution.dual)
        if dual is not None:
            arrays["training.dual"] = dual
        header["training"] = {"data_sha256": training_fingerprint,
                              "exact_patterns": bool(estimator.patterns_.exact)}
    if extra is not None:
        header["extra"] = extra
    write_bundle(path, f"convexnn.{type(estimator).__name__}", arrays, header)


def _certificate(encoded: dict, entries: Entries):
    """The :class:`~convexnn.certificates.Certificate` of the metadata, every field checked,
    and checked against each other as :func:`~convexnn.certificates.certify` computes them."""
    fields = {f.name: f for f in dataclasses.fields(Certificate)}
    unknown = sorted(set(encoded) - set(fields))
    if unknown:
        raise entries.error(f"certificate.{unknown[0]}", f"one of {sorted(fields)}",
                            encoded[unknown[0]])
    kinds = {"float": "real", "bool": "bool", "int": "count", "str": "string"}
    values = {}
    for name, field in fields.items():
        optional = field.default is not dataclasses.MISSING
        if optional and name not in encoded:
            continue
        kind = kinds.get(field.type if isinstance(field.type, str) else field.type.__name__)
        if kind is None:  # a field of another type: passed on as stored
            if name not in encoded:
                raise entries.error(f"certificate.{name}", "present")
            values[name] = encoded[name]
        else:
            values[name] = entries.get(encoded, name, kind, where="certificate")
    primal, gap = values.get("primal"), values.get("duality_gap")
    if None not in (primal, gap, values.get("lower_bound"), values.get("relative_gap")):
        # gap = primal - lower_bound and relative = gap / max(|primal|, 1e-12), exactly as
        # computed (JSON keeps every float bit for bit); slack for other rounding orders
        expected = {"duality_gap": primal - values["lower_bound"],
                    "relative_gap": gap / max(abs(primal), 1e-12)}
        for name, value in expected.items():
            if not math.isclose(values[name], value, rel_tol=1e-9, abs_tol=1e-15):
                raise entries.error(f"certificate.{name}", f"{value!r} (from the other "
                                    "entries of the certificate)", values[name])
    for name in ("dual_scale", "cone_violation"):
        if values.get(name, 0.0) < 0:
            raise entries.error(f"certificate.{name}", "a number >= 0", values[name])
    return Certificate(**values)


def _check_fitted(estimator, network, entries: Entries) -> None:
    """What ``fit`` guarantees about the fitted attributes of a loaded estimator."""
    d = estimator.n_features_in_
    if network.n_features != d:
        raise entries.error("fitted.n_features_in_", f"{network.n_features}, the network's "
                            "number of features", d)
    if network.has_bias != estimator.bias:
        raise entries.error("params.bias", f"{network.has_bias} (the network "
                            f"{'has' if network.has_bias else 'has no'} bias)", estimator.bias)
    for name in ("feature_mean_", "feature_scale_"):
        value = getattr(estimator, name)
        if value.shape != (d,):
            raise entries.error(f"arrays.{name.removesuffix('_')}",
                                f"an array of shape [{d}] (one entry per feature)",
                                f"shape {list(value.shape)}")
    mean, scale = estimator.feature_mean_, estimator.feature_scale_
    if np.any(scale <= 0):
        raise entries.error("arrays.feature_scale", "positive", f"minimum {scale.min()!r}")
    if not estimator.standardize and (np.any(mean != 0) or np.any(scale != 1)):
        raise entries.error("arrays.feature_mean", "zeros (and feature_scale ones) for an "
                            "estimator with standardize=False", "other values")
    if estimator.standardize and not estimator.bias and np.any(mean != 0):
        raise entries.error("arrays.feature_mean", "zeros for an estimator without bias",
                            "nonzero values")
    if hasattr(estimator, "classes_"):
        classes = estimator.classes_
        n_classes = classes.size
        if classes.ndim != 1 or n_classes < 2 or np.unique(classes).size != n_classes or (
                classes.dtype.kind == "f" and not np.all(np.isfinite(classes))):
            raise entries.error("classes", "at least two distinct class labels",
                                classes.tolist() if classes.ndim == 1 else "a non-1-D array")
        if not np.array_equal(np.unique(classes), classes):
            raise entries.error("classes", "sorted class labels (as fit stores them)",
                                classes.tolist())
        loss = get_loss(estimator.loss)  # a valid name: read_estimator checked it
        if not loss.multiclass and n_classes != 2:
            raise entries.error("params.loss", f"not '{loss.name}' for {n_classes} classes",
                                estimator.loss)
        # fit's network has one output per column of the loss's label encoding
        outputs = loss.encode_labels(np.arange(n_classes), n_classes).shape[1]
        if network.n_outputs != outputs:
            raise entries.error("classes", f"labels of a network with {network.n_outputs} "
                                f"output(s) and loss {estimator.loss!r}", classes.tolist())
    else:
        if estimator.n_outputs_ != network.n_outputs:
            raise entries.error("fitted.n_outputs_", f"{network.n_outputs}, the network's "
                                "number of outputs", estimator.n_outputs_)
        if estimator._single_target and estimator.n_outputs_ != 1:
            raise entries.error("fitted._single_target", "false for several outputs", True)
    patterns = estimator.patterns
    sampled = patterns == "sampled" or getattr(patterns, "exact", True) is False
    if estimator.certificate_.exact_patterns and sampled:
        raise entries.error("certificate.exact_patterns", "false for sampled patterns", True)


def _training(metadata: dict, arrays: dict, entries: Entries, network) -> dict | None:
    """The stored patterns and dual point of ``save_estimator(training_fingerprint=...)``."""
    spec = entries.get(metadata, "training", "object", optional=True)
    if spec is None:
        if any(name.startswith("training.") for name in arrays):
            raise entries.error("training", "present, as arrays 'training.*' are stored")
        return None
    rows = network.n_features + network.has_bias
    G = _array(arrays, "training.generators", entries,
               f"a 2-D array with {rows} rows (features + bias)", "f", 2)
    if G.shape[0] != rows or G.shape[1] == 0:
        raise entries.error("arrays.training.generators",
                            f"shape [{rows}, n_patterns >= 1]", f"shape {list(G.shape)}")
    dual = None
    if "training.dual" in arrays:
        k = network.n_outputs
        dual = _array(arrays, "training.dual", entries,
                      f"a 2-D array of shape [n_samples, {k}]", "f", 2)
        if dual.shape[0] == 0 or dual.shape[1] != k:
            raise entries.error("arrays.training.dual", f"shape [n_samples >= 1, {k}] (one "
                                "column per output)", f"shape {list(dual.shape)}")
    return {"generators": G, "dual": dual,
            "exact": entries.get(spec, "exact_patterns", "bool", where="training"),
            "data_sha256": entries.get(spec, "data_sha256", "sha256", where="training")}


def read_estimator(cls, path) -> tuple:
    """Read an estimator of class ``cls`` written by :func:`save_estimator`, re-validated.

    Every metadata entry is checked for presence and type, the parameters are checked as
    ``fit`` checks them, and the fitted attributes against each other (number of features and
    outputs, classes, scaling), so that a tampered file is refused instead of loaded.

    Parameters
    ----------
    cls : type
        ``ConvexReLURegressor`` or ``ConvexReLUClassifier``.
    path : str or Path

    Returns
    -------
    estimator : cls, fitted (without ``solution_`` and ``patterns_``)
    stored : dict
        ``"extra"``: the ``extra`` entries given to :func:`save_estimator` (a dict, empty if
        none); ``"training"``: None, or a dict with ``"generators"`` (ndarray),
        ``"dual"`` (ndarray of shape (n_samples, n_outputs) or None), ``"exact"`` (bool) and
        ``"data_sha256"`` (str) as stored with ``training_fingerprint``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the file or its metadata file is missing or a directory.
    ValueError
        Naming the file (and the entry), if it is corrupted, truncated, tampered with, holds
        another kind of object or is in a newer format.
    """
    from sklearn.base import is_classifier as sklearn_is_classifier

    path = Path(path)
    reader = f"{cls.__name__}.load"
    arrays, metadata = read_bundle(path, f"convexnn.{cls.__name__}", reader=reader)
    entries = Entries(reader, metadata_path(path))
    names = cls().get_params(deep=False)
    params = _decode_params(entries.get(metadata, "params", "object"), arrays, entries, names)
    estimator = cls(**params)
    device = estimator.device
    try:  # the estimator's own checks of its hyper-parameters, as fit runs them
        if estimator.solver not in ("auto", *SOLVERS):
            raise ValueError(f"solver must be one of {['auto', *SOLVERS]}; got "
                             f"{estimator.solver!r}")
        try:
            torch.device(device)
        except (TypeError, RuntimeError) as exc:  # torch's message spans several lines
            raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda'; "
                             f"got {device!r}") from exc
        # a model fitted on a GPU loads where there is none: only fit needs the device
        estimator.device = "cpu"
        estimator._check_loss()
        estimator._check_params()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{reader}: {entries.source}: metadata entry 'params' holds an "
                         f"invalid parameter: {exc}") from exc
    finally:
        estimator.device = device
    _check_random_state(estimator.random_state, entries)

    fitted = entries.get(metadata, "fitted", "object")
    is_classifier = sklearn_is_classifier(estimator)
    allowed = {"n_features_in_", "n_iter_", "feature_names_in_"} | (
        {"classes_"} if is_classifier else {"n_outputs_", "_single_target"})
    unknown = sorted(set(fitted) - allowed)
    if unknown:
        raise entries.error(f"fitted.{unknown[0]}", f"one of {sorted(allowed)}",
                            fitted[unknown[0]])
    estimator.n_features_in_ = entries.get(fitted, "n_features_in_", "positive", where="fitted")
    estimator.n_iter_ = entries.get(fitted, "n_iter_", "count", where="fitted")
    if "feature_names_in_" in fitted:
        feature_names = fitted["feature_names_in_"]
        if not (isinstance(feature_names, list) and len(feature_names) == estimator.n_features_in_
                and all(isinstance(v, str) for v in feature_names)):
            raise entries.error("fitted.feature_names_in_",
                                f"a list of {estimator.n_features_in_} strings", feature_names)
        estimator.feature_names_in_ = np.array(feature_names, dtype=object)
    if is_classifier:
        if ("classes_" in fitted) == ("classes" in arrays):
            raise entries.error("fitted.classes_", "present exactly when the classes are not "
                                "numeric (numeric classes are the array 'classes')",
                                fitted.get("classes_", MISSING))
        if "classes" in arrays:
            estimator.classes_ = _array(arrays, "classes", entries, "a 1-D array of labels",
                                        "biuf", 1)
        else:
            spec = entries.get(fitted, "classes_", "object", where="fitted")
            values = spec.get("values")
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise entries.error("fitted.classes_.values", "a list of strings", values)
            text = entries.get(spec, "dtype", "string", where="fitted.classes_")
            try:
                dtype = np.dtype(text)
            except (TypeError, ValueError, SyntaxError):
                dtype = None
            if dtype is None or dtype.kind not in "UO" or dtype.shape:
                raise entries.error("fitted.classes_.dtype", "a text dtype such as '<U5'", text)
            estimator.classes_ = np.array(values, dtype=dtype)
    else:
        estimator.n_outputs_ = entries.get(fitted, "n_outputs_", "positive", where="fitted")
        estimator._single_target = entries.get(fitted, "_single_target", "bool", where="fitted")

    state = {key.removeprefix("network."): torch.from_numpy(value)
             for key, value in arrays.items() if key.startswith("network.")}
    try:
        network = TwoLayerReLU.from_state_dict(state, name=f"the network of {path}")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{reader}: {exc}") from exc
    estimator.feature_mean_ = _array(arrays, "feature_mean", entries, "a 1-D array", "f", 1)
    estimator.feature_scale_ = _array(arrays, "feature_scale", entries, "a 1-D array", "f", 1)
    estimator.certificate_ = _certificate(entries.get(metadata, "certificate", "object"),
                                          entries)
    _check_fitted(estimator, network, entries)
    solver = entries.get(metadata, "solver", "object", optional=True)
    if solver is not None:
        for key in ("name", "status", "reason"):
            entries.get(solver, key, "string", where="solver")
    training = _training(metadata, arrays, entries, network)
    if training is not None and training["exact"] != estimator.certificate_.exact_patterns:
        raise entries.error("training.exact_patterns", f"{estimator.certificate_.exact_patterns}"
                            " (as certificate.exact_patterns)", training["exact"])
    extra = entries.get(metadata, "extra", "object", optional=True, default={})

    estimator._scaled_network = network
    estimator.network_ = (network.unstandardized(estimator.feature_mean_,
                                                 estimator.feature_scale_)
                          if estimator.standardize else network)
    return estimator, {"extra": extra, "training": training}


def load_estimator(cls, path):
    """Read an estimator of class ``cls`` written by :func:`save_estimator` (see
    :func:`read_estimator`, which also returns the stored extras)."""
    return read_estimator(cls, path)[0]
