"""The on-disk format: a ``.pt`` file of tensors plus JSON metadata, and checked readers.

``write_bundle(path, ...)`` writes ``path`` with ``torch.save`` of a flat ``{name: tensor}`` dict
(tensors only, so :func:`torch.load` reads it with ``weights_only=True``; no pickled objects) and
``path.with_suffix(".json")`` with the metadata: the kind of object, the format version, the
convexnn version, each array's shape and dtype, and the SHA-256 of the ``.pt`` bytes, so that a
corrupted, truncated or swapped weights file is detected before it is used.

Reading trusts neither file: every metadata entry is checked for presence and type (through
:class:`Entries`, whose errors name the file and the entry), and the sizes the metadata (or a
``.npz`` header) declares are checked against the size of the file before anything is
allocated. What is stored is the business of the modules that store it:
:mod:`convexnn.network` (networks) and :mod:`convexnn._persistence` (estimators).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .losses import get_loss

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "MISSING",
    "Entries",
    "is_int",
    "is_real",
    "json_ready",
    "metadata_path",
    "read_bundle",
    "read_metadata",
    "read_npz",
    "write_bundle",
]

#: version of the ``.pt`` + ``.json`` layout (the legacy ``.npz`` network format was version 1)
FORMAT_VERSION = 2

_RESERVED = {"format", "format_version", "convexnn_version", "weights", "sha256", "arrays"}

#: a metadata entry that is absent (``None`` is JSON's null)
MISSING = object()


def metadata_path(path) -> Path:
    """The JSON file that goes with the weights file ``path`` (same name, suffix ``.json``)."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar == path:
        raise ValueError(f"path must not end in .json (the metadata goes there); got {path}")
    return sidecar


def json_ready(value):
    """Plain JSON types for ``value`` (NumPy scalars and arrays included)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
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
def is_int(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_real(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


#: kind of a metadata entry -> (test, what the error says was expected)
KINDS = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "count": (lambda v: is_int(v, 0), "an integer >= 0"),
    "positive": (lambda v: is_int(v, 1), "an integer >= 1"),
    "real": (is_real, "a finite number"),
    "object": (lambda v: isinstance(v, dict), "a JSON object"),
    "sha256": (lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None,
               "a SHA-256 digest (64 lowercase hexadecimal digits)"),
    "shape": (lambda v: isinstance(v, list) and all(is_int(s, 0) for s in v),
              "a list of integers >= 0"),
}


def _show(value) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list, str, bool)) or value is None \
        else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Entries:
    """Checked access to the entries of a metadata file; errors name the file and the entry."""

    def __init__(self, reader: str, source: Path):
        self.reader = reader
        self.source = source

    def error(self, entry: str, expected: str, value=MISSING) -> ValueError:
        got = "it is missing" if value is MISSING else f"got {_show(value)}"
        return ValueError(f"{self.reader}: {self.source}: metadata entry {entry!r} must be "
                          f"{expected}; {got}")

    def get(self, mapping: dict, key: str, kind: str, *, where: str = "",
            optional: bool = False, default=None):
        """``mapping[key]``, checked to be of ``kind`` (see ``KINDS``); ``where`` prefixes the
        entry's name; an ``optional`` entry may be missing (then ``default``) or null."""
        entry = f"{where}.{key}" if where else key
        value = mapping.get(key, MISSING)
        if optional and (value is MISSING or value is None):
            return default
        test, expected = KINDS[kind]
        if value is MISSING or not test(value):
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
        "convexnn_version": __version__,
        "weights": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "arrays": {name: {"shape": list(value.shape), "dtype": str(value.dtype)}
                   for name, value in arrays.items()},
        **json_ready(header),
    }
    try:
        path.write_bytes(data)
        sidecar.write_text(json.dumps(metadata, indent=2) + "\n")
    except OSError as exc:
        raise OSError(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from exc


def _declared_arrays(metadata: dict, entries: Entries) -> dict:
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
    entries = Entries(reader, metadata_path(path))
    version = metadata.get("format_version")
    if not is_int(version, 0) or version > FORMAT_VERSION or version < 2:
        raise ValueError(
            f"{reader}: {path} is in format version {_show(version)} (written by convexnn "
            f"{_show(metadata.get('convexnn_version', '?'))}); this convexnn ({__version__}) "
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


def _check_network_header(metadata: dict, entries: Entries) -> None:
    """The entries :meth:`TwoLayerReLU.save` writes besides the format's own."""
    for key in ("n_features", "n_neurons", "n_outputs"):
        entries.get(metadata, key, "count")
    entries.get(metadata, "has_bias", "bool")
    loss = entries.get(metadata, "loss", "string", optional=True)
    if loss is not None:
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
