"""The on-disk format of networks and estimators: a ``.pt`` file of tensors plus JSON metadata.

``save(path)`` writes ``path`` with ``torch.save`` of a flat ``{name: tensor}`` dict (tensors only,
so :func:`torch.load` reads it with ``weights_only=True``; no pickled objects) and
``path.with_suffix(".json")`` with the metadata: the kind of object, the format version, the
convexnn version, each array's shape and dtype, and the SHA-256 of the ``.pt`` bytes, so that a
corrupted, truncated or swapped weights file is detected before it is used.

Reading trusts neither file: every metadata entry is checked for presence and type, the sizes the
metadata (or a ``.npz`` header) declares are checked against the size of the file before anything
is allocated, and a loaded estimator's parameters and fitted attributes are validated as ``fit``
would have made them. Every error names the file, and the entry when one is at fault.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "FORMAT_VERSION",
    "load_estimator",
    "metadata_path",
    "read_bundle",
    "read_estimator",
    "read_legacy_network",
    "read_metadata",
    "read_npz",
    "save_estimator",
    "write_bundle",
]

#: version of the ``.pt`` + ``.json`` layout (the legacy ``.npz`` network format was version 1)
FORMAT_VERSION = 2

_RESERVED = {"format", "format_version", "convexnn_version", "weights", "sha256", "arrays"}

#: the ``format`` of the legacy single-file network (``TwoLayerReLU.save("*.npz")``)
_LEGACY_FORMAT = "convexnn.TwoLayerReLU/1"

_MISSING = object()

#: the estimators' parameters when format version 2 was defined: a file must hold every one of
#: them; a parameter added since takes its default when an older file lacks it
_PARAMS_V2 = ("beta", "bias", "device", "dtype", "gated", "loss", "max_iter", "n_patterns",
              "patterns", "random_state", "solver", "standardize", "tol", "verbose",
              "warm_start")


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


def _existing_file(path: Path, reader: str, role: str = "") -> Path:
    """``path`` if it is a regular file; FileNotFoundError or IsADirectoryError otherwise."""
    what = f"{role} {path}" if role else str(path)
    if path.is_dir():
        raise IsADirectoryError(f"{reader}: {what} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{reader}: {what} does not exist (no such file)")
    return path


# ------------------------------------------------------------------------ metadata entries
def _is_int(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_real(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


#: kind of a metadata entry -> (test, what the error says was expected)
_KINDS = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "count": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "positive": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "real": (_is_real, "a finite number"),
    "object": (lambda v: isinstance(v, dict), "a JSON object"),
    "sha256": (lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None,
               "a SHA-256 digest (64 lowercase hexadecimal digits)"),
    "shape": (lambda v: isinstance(v, list) and all(_is_int(s, 0) for s in v),
              "a list of integers >= 0"),
}


def _show(value) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list, str, bool)) or value is None \
        else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Entries:
    """Checked access to the entries of a metadata file; errors name the file and the entry."""

    def __init__(self, reader: str, source: Path):
        self.reader = reader
        self.source = source

    def error(self, entry: str, expected: str, value=_MISSING) -> ValueError:
        got = "it is missing" if value is _MISSING else f"got {_show(value)}"
        return ValueError(f"{self.reader}: {self.source}: metadata entry {entry!r} must be "
                          f"{expected}; {got}")

    def get(self, mapping: dict, key: str, kind: str, *, where: str = "",
            optional: bool = False, default=None):
        """``mapping[key]``, checked to be of ``kind`` (see ``_KINDS``); ``where`` prefixes the
        entry's name; an ``optional`` entry may be missing (then ``default``) or null."""
        entry = f"{where}.{key}" if where else key
        value = mapping.get(key, _MISSING)
        if optional and (value is _MISSING or value is None):
            return default
        test, expected = _KINDS[kind]
        if value is _MISSING or not test(value):
            raise self.error(entry, expected + (" or null" if optional else ""), value)
        return value


def read_metadata(path, kind: str | None = None, *, reader: str) -> dict:
    """The JSON metadata beside ``path``, after checking both files exist and its ``format``.

    Parameters
    ----------
    path : str or Path
        The weights file; its metadata is ``path.with_suffix(".json")``.
    kind : str, optional
        The expected ``format`` entry (e.g. ``"convexnn.TwoLayerReLU"``); None accepts any.
    reader : str
        The function to name in errors (e.g. ``"TwoLayerReLU.load"``).

    Returns
    -------
    dict
        The metadata, whose ``format`` entry is a string.

    Raises
    ------
    FileNotFoundError
        If ``path`` or its metadata file does not exist.
    IsADirectoryError
        If either is a directory.
    ValueError
        Naming the file, if the metadata is not a JSON object with a ``format`` string, or is
        of another kind than ``kind``.
    """
    path = _existing_file(Path(path), reader)
    sidecar = metadata_path(path)
    if not sidecar.exists():
        raise FileNotFoundError(
            f"{reader}: the metadata file {sidecar} of {path} does not exist; both are written "
            "by save() and are needed together")
    _existing_file(sidecar, reader, "the metadata file")
    try:
        metadata = json.loads(sidecar.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers too long to convert; RecursionError
        # deeply nested arrays
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{reader}: {sidecar} is not valid JSON metadata ({reason})") from exc
    if not isinstance(metadata, dict) or not isinstance(metadata.get("format"), str):
        raise ValueError(f"{reader}: {sidecar} is not convexnn metadata (no 'format' entry "
                         "naming what is stored)")
    if kind is not None and metadata["format"] != kind:
        raise ValueError(f"{reader}: {path} holds a {metadata['format']!r}, not a {kind!r}; "
                         "load it with the matching class")
    return metadata


# ------------------------------------------------------------------------------- bundles
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


def _declared_arrays(metadata: dict, entries: _Entries) -> dict:
    """The ``arrays`` entry as ``{name: (shape, dtype)}``, every shape and dtype checked."""
    declared = {}
    for name, spec in entries.get(metadata, "arrays", "object").items():
        entry = f"arrays.{name}"
        if not isinstance(spec, dict):
            raise entries.error(entry, "a JSON object with 'shape' and 'dtype'", spec)
        shape = tuple(entries.get(spec, "shape", "shape", where=entry))
        text = entries.get(spec, "dtype", "string", where=entry)
        try:
            dtype = np.dtype(text)
        except (TypeError, ValueError, SyntaxError):
            dtype = None
        if dtype is None or dtype.kind not in "biuf" or dtype.shape:
            raise entries.error(f"{entry}.dtype", "a numeric NumPy dtype such as 'float64'", text)
        declared[name] = (shape, dtype)
    return declared


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
    IsADirectoryError
        If either is a directory.
    ValueError
        Naming the file, when the metadata is not valid JSON, lacks an entry or has one of the
        wrong type, describes another kind of object or a newer format, declares arrays larger
        than the weights file, or when the weights file does not match its metadata
        (corrupted, truncated, replaced) or cannot be read as tensors.
    """
    path = Path(path)
    metadata = read_metadata(path, kind, reader=reader)
    entries = _Entries(reader, metadata_path(path))
    version = metadata.get("format_version")
    if not _is_int(version, 0) or version > FORMAT_VERSION or version < 2:
        raise ValueError(
            f"{reader}: {path} is in format version {_show(version)} (written by convexnn "
            f"{_show(metadata.get('convexnn_version', '?'))}); this convexnn ({_version()}) "
            f"reads version {FORMAT_VERSION}")
    entries.get(metadata, "convexnn_version", "string")
    entries.get(metadata, "weights", "string")
    digest = entries.get(metadata, "sha256", "sha256")
    declared = _declared_arrays(metadata, entries)
    size = path.stat().st_size
    # torch.save stores every array's bytes uncompressed: an honest file is at least this big,
    # and checking it first means forged sizes are refused before anything is allocated
    needed = sum(math.prod(shape) * dtype.itemsize for shape, dtype in declared.values())
    if needed > size:
        raise ValueError(f"{reader}: {path} does not match its metadata: it has {size} bytes, "
                         f"but the metadata declares arrays of {needed} bytes (truncated, or "
                         "the metadata belongs to another file)")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(
            f"{reader}: {path} does not match its metadata {entries.source} (SHA-256 differs): "
            "the weights file is corrupted, truncated or from another save")
    try:
        tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        message = " ".join(str(exc).split())[:200]
        raise ValueError(f"{reader}: {path} cannot be read as tensors: {message}") from exc
    if not isinstance(tensors, dict) or set(tensors) != set(declared):
        found = (sorted(map(str, tensors)) if isinstance(tensors, dict)
                 else type(tensors).__name__)
        raise ValueError(f"{reader}: {path} holds {found}; its metadata lists "
                         f"{sorted(declared)}")
    arrays = {}
    for name, tensor in tensors.items():
        shape, dtype = declared[name]
        try:
            value = tensor.numpy() if isinstance(tensor, torch.Tensor) else None
        except (TypeError, RuntimeError):  # e.g. bfloat16, which NumPy lacks
            value = None
        if value is None or value.shape != shape or value.dtype != dtype:
            found = ("not a tensor" if value is None
                     else f"shape {list(value.shape)} and dtype {value.dtype}")
            raise ValueError(f"{reader}: array {name!r} of {path} has {found}; its metadata "
                             f"says shape {list(shape)} and dtype {dtype}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            # nothing convexnn saves is NaN or infinite: such a file was written by hand
            raise ValueError(f"{reader}: array {name!r} of {path} holds NaN or infinite values")
        arrays[name] = value
    if kind == "convexnn.TwoLayerReLU":
        _check_network_header(metadata, entries)
    return arrays, metadata


def _check_network_header(metadata: dict, entries: _Entries) -> None:
    """The entries :meth:`TwoLayerReLU.save` writes besides the format's own."""
    for key in ("n_features", "n_neurons", "n_outputs"):
        entries.get(metadata, key, "count")
    entries.get(metadata, "has_bias", "bool")
    loss = entries.get(metadata, "loss", "string", optional=True)
    if loss is not None:
        from .losses import get_loss

        try:
            get_loss(loss)
        except (TypeError, ValueError) as exc:
            raise entries.error("loss", "the name of a loss such as 'squared'", loss) from exc
    beta = entries.get(metadata, "beta", "real", optional=True)
    if beta is not None and beta < 0:
        raise entries.error("beta", "a finite number >= 0", beta)


# ----------------------------------------------------------------------------------- .npz
def read_npz(path, *, reader: str) -> dict:
    """The arrays of a ``.npz`` file, reading nothing that its size cannot hold.

    NumPy's own :func:`numpy.load` allocates whatever shape an array's header declares, and
    answers a file that is not a zip archive with advice about pickles; here every header is
    read first and refused when it declares more bytes than the whole file has, only numeric and
    text arrays are accepted, and every failure is a ValueError naming the file.

    Parameters
    ----------
    path : str or Path
    reader : str
        The function to name in errors.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If ``path`` is not an existing regular file.
    ValueError
        If it is not a zip archive of ``.npy`` arrays, is damaged or truncated, holds object
        arrays, or declares an array larger than the file.
    """
    path = _existing_file(Path(path), reader)
    size = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{reader}: {path} is not a .npz file (not a zip archive of NumPy "
                         "arrays), so not a convexnn network file") from exc
    arrays = {}
    with archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            try:
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(f)
                if dtype.hasobject or dtype.kind not in "biufU":
                    raise ValueError(f"array {name!r} has dtype {dtype}; only numeric and text "
                                     "arrays are read")
                # the check that keeps a forged header from allocating: no honest array is
                # larger than the file that holds it (convexnn writes .npz uncompressed)
                needed = math.prod(shape) * dtype.itemsize
                if needed > size:
                    raise ValueError(f"array {name!r} declares shape {list(shape)} of {dtype} "
                                     f"({needed} bytes), more than the whole file ({size} "
                                     "bytes)")
                with archive.open(info) as f:
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError,
                    RuntimeError, TypeError, SyntaxError) as exc:
                message = " ".join(str(exc).split())[:200]
                raise ValueError(f"{reader}: {path} is not a valid .npz file: {message}") from exc
    return arrays


def read_legacy_network(path, *, reader: str):
    """The :class:`~convexnn.network.TwoLayerReLU` of a file in the legacy ``.npz`` format.

    The file holds ``U``, ``alpha``, optionally ``b``, and a JSON ``header`` with its
    ``format`` and ``has_bias``; everything is checked (see :func:`read_npz`), including the
    network's shapes and finiteness, and errors name the file (and the entry).
    """
    from .network import TwoLayerReLU

    path = Path(path)
    arrays = read_npz(path, reader=reader)
    entries = _Entries(reader, path)
    text = arrays.get("header")
    if text is None or text.dtype.kind != "U" or text.shape != ():
        raise ValueError(f"{reader}: {path} is not a convexnn network file (no JSON 'header' "
                         "array)")
    try:
        header = json.loads(str(text))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{reader}: {path}: its 'header' is not valid JSON") from exc
    if not isinstance(header, dict) or header.get("format") != _LEGACY_FORMAT:
        found = header.get("format", _MISSING) if isinstance(header, dict) else header
        raise entries.error("format", repr(_LEGACY_FORMAT), found)
    has_bias = entries.get(header, "has_bias", "bool")
    names = {"U", "alpha", "header"} | ({"b"} if has_bias else set())
    if set(arrays) != names:
        raise ValueError(f"{reader}: {path} holds arrays {sorted(arrays)}; a network "
                         f"{'with' if has_bias else 'without'} bias has {sorted(names)}")
    for name in names - {"header"}:
        if arrays[name].dtype.kind not in "biuf":
            raise ValueError(f"{reader}: {path}: array {name!r} must be numeric; got dtype "
                             f"{arrays[name].dtype}")
    try:
        return TwoLayerReLU(arrays["U"], arrays["alpha"], arrays["b"] if has_bias else None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{reader}: {path} holds no valid network: {exc}") from exc


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


def _array(arrays: dict, name: str, entries: _Entries, expected: str, kinds: str,
           ndim: int) -> np.ndarray:
    """``arrays[name]``, present with ``ndim`` dimensions and a dtype kind in ``kinds``."""
    value = arrays.get(name)
    if value is None or value.dtype.kind not in kinds or value.ndim != ndim:
        found = _MISSING if value is None else f"shape {list(value.shape)}, dtype {value.dtype}"
        raise entries.error(f"arrays.{name}", expected, found)
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise entries.error(f"arrays.{name}", expected + " (finite)", "NaN or infinite values")
    return value


def _decode_params(encoded: dict, arrays: dict, entries: _Entries, names) -> dict:
    from .patterns import Patterns

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
            if not (isinstance(state, list) and len(state) == 3 and _is_int(state[0], 0)
                    and state[0] <= 624 and state[1] in (0, 1) and not isinstance(state[1], bool)
                    and _is_real(state[2])):
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


def _check_random_state(value, entries: _Entries) -> None:
    if value is None or isinstance(value, np.random.RandomState):
        return
    if not (_is_int(value, 0) and value < 2**32):
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
        if not _KINDS["sha256"][0](training_fingerprint):
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


def _certificate(encoded: dict, entries: _Entries):
    """The :class:`~convexnn.certificates.Certificate` of the metadata, every field checked,
    and checked against each other as :func:`~convexnn.certificates.certify` computes them."""
    from .certificates import Certificate

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


def _check_fitted(estimator, network, entries: _Entries) -> None:
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
        if estimator.loss == "logistic" and n_classes != 2:
            raise entries.error("params.loss", f"not 'logistic' for {n_classes} classes",
                                estimator.loss)
        outputs = 1 if n_classes == 2 and estimator.loss != "cross_entropy" else n_classes
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


def _training(metadata: dict, arrays: dict, entries: _Entries, network) -> dict | None:
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

    from .network import TwoLayerReLU

    path = Path(path)
    reader = f"{cls.__name__}.load"
    arrays, metadata = read_bundle(path, f"convexnn.{cls.__name__}", reader=reader)
    entries = _Entries(reader, metadata_path(path))
    names = cls().get_params(deep=False)
    params = _decode_params(entries.get(metadata, "params", "object"), arrays, entries, names)
    estimator = cls(**params)
    device = estimator.device
    try:  # the estimator's own checks of its hyper-parameters, as fit runs them
        from .solvers import SOLVERS

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
                                fitted.get("classes_", _MISSING))
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
