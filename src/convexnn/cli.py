"""The ``convexnn`` command: ``demo``, ``fit``, ``predict``, ``certify`` and ``path``.

Only wiring: the estimators, the Adam baseline, the pattern makers and the certificates do the
work. Every error is reported on one line (``convexnn: error: ...``) with a non-zero exit status,
and every warning on one line (``convexnn: warning: ...``). Progress goes to stderr when it is a
terminal (``--quiet`` silences it). torch, scikit-learn and cvxpy are imported inside the
subcommands, so that ``convexnn --help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .datasets import _is_number

__all__ = ["main"]

# the names of convexnn.losses.LOSSES and convexnn.solvers.SOLVERS, spelled out so that the
# parser needs no import of the losses (torch) and the solvers (cvxpy); test_cli checks that
# the lists agree
_LOSSES = ("squared", "hinge", "logistic", "cross_entropy")
_SOLVERS = ("auto", "conic", "fista", "augmented_lagrangian", "admm")

#: ``--patterns auto`` enumerates when Cover's count is at most this: about 5 s of LPs at 25
#: samples in 2-D (40 samples, 1562 patterns, took 27 s to enumerate and 74 s to fit)
_CHEAP_PATTERNS = 500
#: ``--patterns exact`` refuses above this count (enumerate_patterns' own default limit)
_MAX_PATTERNS = 20_000
#: features and targets beyond this magnitude would overflow float64 once squared and summed
_MAX_ABS = 1e150
#: the most sampled directions, hidden neurons or grid points a command line may ask for (their
#: arrays are allocated at once)
_MAX_COUNT = 1_000_000

_ESTIMATOR_FORMATS = ("convexnn.ConvexReLUClassifier", "convexnn.ConvexReLURegressor")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error, and which
    takes no abbreviations (``--n-pattern`` is a typo, not ``--n-patterns``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"convexnn: error: {' '.join(message.split())} (see convexnn --help)\n")


def _number(text: str, kind: type, condition, expected: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or (kind is float and not np.isfinite(value)) or not condition(value):
        raise argparse.ArgumentTypeError(f"must be {expected}; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "a positive number")


def _non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: v >= 0, "a number >= 0")


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: 1 <= v <= _MAX_COUNT,
                   f"a positive integer (at most {_MAX_COUNT})")


def _seed(text: str) -> int:
    # numpy's seeds are 32-bit: say so here instead of letting the estimator refuse -1 as
    # "not an int"
    return _number(text, int, lambda v: 0 <= v < 2**32, "an integer in [0, 2**32 - 1]")


def _n_jobs(text: str) -> int:
    return _number(text, int, lambda v: v != 0, "a non-zero integer (-1: all CPUs)")


def _fraction(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < 1, "a number in (0, 1)")


def _folds(text: str) -> int:
    return _number(text, int, lambda v: v >= 2, "an integer >= 2")


# ------------------------------------------------------------------------------- reporting
class _Progress:
    """Stage messages on stderr, prefixed with the elapsed time; silent when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"convexnn: [{time.perf_counter() - self.start:6.1f} s] {message}",
                  file=sys.stderr, flush=True)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, like errors (no source line, no file position)."""
    text = " ".join(str(message).split())
    print(f"convexnn: warning: {text} ({category.__name__})", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ------------------------------------------------------------------------------------ data
@dataclass
class _Table:
    """A CSV file: its feature columns (float64) and, if present, its target column."""

    path: Path
    names: list[str]
    X: np.ndarray
    target: str | None = None
    y: np.ndarray | None = None  # float64 when every value is a number, else the text
    y_text: np.ndarray | None = None  # the target's cells as written


def _existing(path, role: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{role} {path} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{role} {path} does not exist (no such file)")
    return path


def _numbers(cells: np.ndarray, lines: list[int], path: Path, column: str) -> np.ndarray:
    """A column of cells as finite float64 values; errors name the line, column and value."""
    try:
        values = cells.astype(np.float64)
    except ValueError:  # find the culprit with Python's parser, the one _is_number uses
        values = np.empty(cells.shape[0])
        for i, cell in enumerate(cells.tolist()):
            try:
                values[i] = float(cell)
            except ValueError:
                raise ValueError(f"{path}, line {lines[i]}: {column} holds {_cell(cell)}, "
                                 "which is not a number") from None
    bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > _MAX_ABS))
    if bad.size:
        i = bad[0]
        why = ("not a finite number" if not np.isfinite(values[i]) else
               f"beyond +-{_MAX_ABS:g}, where squares and sums overflow float64: rescale the "
               "column")
        raise ValueError(f"{path}, line {lines[i]}: {column} holds {_cell(cells[i])}, {why}")
    return values


def _cell(text: str) -> str:
    text = str(text)  # not np.str_, whose repr names its type
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"


def _read_csv(path, target: str | None, *, role: str = "data", required: bool = True) -> _Table:
    """Read a CSV file with a header row; ``target`` names the label column.

    Every column but the target must hold finite numbers of magnitude at most ``_MAX_ABS``;
    a UTF-8 byte-order mark is dropped. Errors name the file, the line and the column. With
    ``required=False`` the target column may be absent (prediction data).
    """
    path = _existing(path, role)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # -sig: drop a byte-order mark
    except UnicodeDecodeError as exc:
        raise ValueError(f"{role} {path} is not UTF-8 text (byte {exc.start} is "
                         f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8 CSV"
                         ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines = [], []
    try:
        for row in reader:
            if row:  # blank lines
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise ValueError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    if len(rows) < 2:
        raise ValueError(f"{role} {path} must have a header row and at least one data row; "
                         f"it has {len(rows)} non-blank line(s)")
    header = rows[0]
    for j, name in enumerate(header):
        if not name:
            raise ValueError(f"{path}, line {lines[0]}: column {j + 1} of the header has no "
                             "name")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: the header names columns {_names(repeated)} more than once")
    if target is not None and target not in header and required:
        raise ValueError(f"target column {target!r} is not in {path}; its columns are "
                         f"{_names(header, 20)}")
    for line, row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} fields, but the header has "
                             f"{len(header)}")
    cells = np.array(rows[1:], dtype=str)
    data_lines = lines[1:]
    missing = np.argwhere(cells == "")
    if missing.size:
        i, j = missing[0]
        raise ValueError(f"{path}, line {data_lines[i]}: column {header[j]!r} has a missing "
                         "value")
    t = header.index(target) if target in header else None
    names = [name for j, name in enumerate(header) if j != t]
    if not names:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    X = np.column_stack([_numbers(cells[:, j], data_lines, path, f"feature column {name!r}")
                         for j, name in enumerate(header) if j != t])
    table = _Table(path, names, X)
    if t is not None:
        column = cells[:, t]
        numeric = all(_is_number(cell) for cell in column)
        table.target, table.y_text = target, column
        table.y = (_numbers(column, data_lines, path, f"target column {target!r}") if numeric
                   else column)
    return table


def _match_features(table: _Table, names: list[str] | None, n_features: int,
                    model: Path) -> np.ndarray:
    """The feature matrix of ``table`` in the order of the model's feature names.

    A model that knows its feature names (``convexnn fit`` stores the CSV header) accepts the
    same columns in any order and refuses others, listing them; without names only the number
    of columns is checked.
    """
    if names is None:
        if table.X.shape[1] != n_features:
            raise ValueError(f"{table.path} has {table.X.shape[1]} feature columns "
                             f"{_names(table.names)}; the model {model} expects {n_features}")
        return table.X
    if table.names == names:
        return table.X
    missing = [n for n in names if n not in table.names]
    unexpected = [n for n in table.names if n not in names]
    if missing or unexpected:
        raise ValueError(f"the feature columns of {table.path} do not match those the model "
                         f"{model} was fitted on: missing {_names(missing)}, unexpected "
                         f"{_names(unexpected)}")
    return table.X[:, [table.names.index(n) for n in names]]


def _fingerprint(X: np.ndarray, Y: np.ndarray) -> str:
    """SHA-256 of the features and encoded targets (float64, shape included), which decides
    whether data given to ``certify`` is the data the model was fitted on."""
    digest = hashlib.sha256(b"convexnn.data/1")
    for array in (X, Y):
        array = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _infer_task(y: np.ndarray, task: str | None) -> str:
    if task is not None:
        return task
    if y.dtype.kind != "f":
        return "classify"
    from sklearn.utils.multiclass import type_of_target

    return "classify" if type_of_target(y) in ("binary", "multiclass") else "regress"


def _check_writable(path: Path, option: str, *, sidecar: bool) -> None:
    """Refuse an output path that cannot be written, before any long computation."""
    targets = [path]
    if sidecar:
        metadata = path.with_suffix(".json")
        if metadata == path:
            raise ValueError(f"{option} must not end in .json (the metadata goes there); "
                             f"got {path}")
        targets.append(metadata)
    for target in targets:
        folder = target.parent
        if target.is_dir():
            raise ValueError(f"{option} {target} is a directory, not a file")
        if not folder.is_dir():
            raise ValueError(f"{option} {path}: the directory {folder} does not exist")
        if (not os.access(target, os.W_OK) if target.exists()
                else not os.access(folder, os.W_OK | os.X_OK)):
            raise ValueError(f"{option} {target} is not writable (permission denied)")


# -------------------------------------------------------------------------------- patterns
def _pattern_count(Xa: np.ndarray) -> tuple[int, int, int]:
    """``(distinct samples, rank, Cover's count)``: the most patterns ``Xa`` can have."""
    from .patterns import cover_count

    distinct = np.unique(Xa, axis=0).shape[0]
    rank = int(np.linalg.matrix_rank(Xa))
    return distinct, rank, cover_count(distinct, rank) if rank else 1


def _resolve_patterns(mode: str, Xa: np.ndarray, n_patterns: int, progress,
                      fallback: str = "sampled") -> tuple:
    """What ``--patterns mode`` means for the data ``Xa`` (bias column included).

    ``auto`` enumerates only when Cover's count is at most ``_CHEAP_PATTERNS`` (enumeration and
    the program grow with it) and otherwise samples (or, with ``fallback="search"``, runs the
    neuron search), with a note naming ``--patterns``;
    ``exact`` is refused above ``_MAX_PATTERNS``; sampling draws at most Cover's count of
    directions (more cannot find more patterns).

    Returns
    -------
    mode : {"exact", "sampled", "search"}
    n_patterns : int
        Directions to sample.
    sentence : str
        Which patterns, in words.
    note : str or None
        Why ``auto`` did not enumerate.
    """
    distinct, rank, count = _pattern_count(Xa)
    where = f"{distinct} distinct samples of rank {rank}"
    n = min(n_patterns, count)
    if mode == "auto" and count > _CHEAP_PATTERNS and fallback == "search":
        return "search", n_patterns, (f"found by the dual-guided neuron search (of at most "
                                      f"{count} patterns)"), (
            f"--patterns auto: {where} can have up to {count} activation patterns (Cover's "
            f"count), too many to enumerate quickly; the neuron search looks for the ones that "
            "matter instead (--patterns exact enumerates them all)")
    if mode == "auto" and count > _CHEAP_PATTERNS:
        return "sampled", n, f"{n} sampled directions (of at most {count} patterns)", (
            f"--patterns auto: {where} can have up to {count} activation patterns (Cover's "
            f"count), too many to enumerate quickly; sampling {n} directions instead (a "
            "restricted bound; --patterns exact enumerates them all)")
    if mode in ("auto", "exact"):
        if count > _MAX_PATTERNS:
            raise ValueError(f"--patterns exact: {where} can have up to {count} activation "
                             f"patterns (Cover's count), more than the {_MAX_PATTERNS} convexnn "
                             "enumerates; use --patterns sampled (with --n-patterns)")
        progress(f"enumerating the activation patterns of {where}: up to {count} (Cover's "
                 "count)" + (", which can take minutes" if count > _CHEAP_PATTERNS else ""))
        return "exact", n_patterns, (f"all activation patterns of {where} (at most {count} by "
                                     "Cover's count)"), None
    return "sampled", n, f"{n} sampled directions (of at most {count} patterns)", None


def _make_patterns(mode: str, Xa: np.ndarray, n_patterns: int, seed: int, progress):
    """The Patterns of ``--patterns mode`` on ``Xa`` and a sentence saying which they are."""
    from .patterns import enumerate_patterns, sample_patterns

    mode, n, sentence, note = _resolve_patterns(mode, Xa, n_patterns, progress)
    if note is not None:
        print(f"convexnn: note: {note}", file=sys.stderr)
    if mode == "exact":
        patterns = enumerate_patterns(Xa, max_patterns=_MAX_PATTERNS)
    else:
        patterns = sample_patterns(Xa, n, seed=seed)
    progress(f"{patterns.n_patterns} activation patterns")
    return patterns, f"{sentence}; {patterns.n_patterns} found"


def _bound_sentence(certificate, patterns: str) -> str:
    """What the lower bound covers, in plain words."""
    if certificate.exact_patterns:
        return ("bound: global. No two-layer ReLU network of any width has a lower training "
                "objective (this loss and beta) on this data: all activation patterns were "
                "checked.")
    return (f"bound: restricted. It holds for networks whose neurons use {patterns} "
            f"({certificate.n_patterns} checked), not for every network; --patterns exact "
            "checks all of them.")


# ---------------------------------------------------------------------------------- models
@dataclass
class _Model:
    """A model file: a fitted estimator (``convexnn fit``) or a bare network."""

    path: Path
    network: object  # TwoLayerReLU of the raw features
    estimator: object = None
    stored: dict = field(default_factory=dict)  # read_estimator's extras
    metadata: dict = field(default_factory=dict)  # a network file's metadata

    @property
    def extra(self) -> dict:
        return self.stored.get("extra", {}) if self.estimator is not None else {}

    @property
    def feature_names(self) -> list[str] | None:
        names = self.extra.get("feature_names")
        if names is None:
            return None
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)
                and len(names) == self.network.n_features):
            raise ValueError(f"{self.path.with_suffix('.json')}: metadata entry "
                             f"'extra.feature_names' must be a list of "
                             f"{self.network.n_features} strings")
        return names

    @property
    def target(self) -> str | None:
        source = self.extra if self.estimator is not None else self.metadata
        target = source.get("target")
        if target is not None and not isinstance(target, str):
            raise ValueError(f"{self.path.with_suffix('.json')}: metadata entry 'target' must "
                             f"be a column name (a string); got {target!r}")
        return target


def _read_json(sidecar: Path, model: Path) -> dict:
    """The JSON object in ``sidecar``, the metadata of ``model``."""
    import json

    try:
        value = json.loads(sidecar.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else _one_line(exc)
        raise ValueError(f"{sidecar} (the metadata of {model}) is not valid JSON: "
                         f"{reason}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{sidecar} (the metadata of {model}) must hold a JSON object")
    return value


def _load_model(path) -> _Model:
    """A model from ``convexnn fit``, a ``TwoLayerReLU`` file (``.pt`` + ``.json`` or
    ``.npz``) or any ``Sequential(Linear, ReLU, Linear)`` state dict (with optional JSON
    metadata beside it), every part checked."""
    import torch

    from ._persistence import read_estimator, read_legacy_network
    from .network import TwoLayerReLU

    path = _existing(path, "model")
    if path.suffix == ".npz":
        return _Model(path, read_legacy_network(path, reader="model"))
    sidecar = path.with_suffix(".json")
    metadata = {}
    if sidecar != path and sidecar.exists():
        metadata = _read_json(_existing(sidecar, "the metadata file"), path)
        kind = metadata.get("format")
        if kind in _ESTIMATOR_FORMATS:
            from .estimators import ConvexReLUClassifier, ConvexReLURegressor

            cls = ConvexReLUClassifier if kind.endswith("Classifier") else ConvexReLURegressor
            estimator, stored = read_estimator(cls, path)
            return _Model(path, estimator.network_, estimator, stored)
        if kind == "convexnn.TwoLayerReLU":
            network, metadata = TwoLayerReLU.load(path, with_metadata=True)
            return _Model(path, network, metadata=metadata)
        if kind is not None:
            raise ValueError(f"model {path} holds a {kind!r} (says {sidecar}), which convexnn "
                             "cannot certify or predict with")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign files
        raise ValueError(f"model {path} is not a PyTorch state dict: "
                         f"{_one_line(exc)[:200]}") from None
    try:
        network = TwoLayerReLU.from_state_dict(state, name=f"model {path}")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{exc}" if str(path) in str(exc) else f"model {path}: {exc}") from None
    return _Model(path, network, metadata=metadata)


# ---------------------------------------------------------------------------------------- fit
def _estimator_class(task: str):
    from .estimators import ConvexReLUClassifier, ConvexReLURegressor

    return ConvexReLUClassifier if task == "classify" else ConvexReLURegressor


def _fit(args, progress) -> int:
    out = Path(args.out)
    _check_writable(out, "--out", sidecar=True)  # before the fit, which can take long
    progress(f"reading {args.data}")
    table = _read_csv(args.data, args.target)
    X, y = table.X, table.y
    task = _infer_task(y, args.task)
    if task == "regress" and y.dtype.kind != "f":
        raise ValueError(f"--task regress needs a numeric target column {args.target!r}")
    if task == "regress" and args.loss != "squared":
        raise ValueError(f"--loss {args.loss} is a classification loss; regression (numeric "
                         "targets) uses --loss squared")
    Estimator = _estimator_class(task)
    options = {"time_limit": args.time_limit} if args.time_limit is not None else {}
    if options and "time_limit" not in Estimator().get_params():
        raise ValueError(f"--time-limit needs the estimators' time_limit parameter, which "
                         f"{Estimator.__name__} of this convexnn version does not have")
    bias = not args.no_bias
    Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    if args.patterns == "search":
        mode, n_patterns, patterns, note = (
            "search", args.n_patterns, "found by the dual-guided neuron search", None)
    else:  # auto: too many patterns to enumerate are searched for
        mode, n_patterns, patterns, note = _resolve_patterns(
            args.patterns, Xa, args.n_patterns, progress, fallback="search")
    if note is not None:
        print(f"convexnn: note: {note}", file=sys.stderr)
    estimator = Estimator(beta=args.beta, loss=args.loss, bias=bias, patterns=mode,
                          n_patterns=n_patterns, gated=args.gated, solver=args.solver,
                          tol=args.tol, max_iter=args.max_iter, random_state=args.seed,
                          verbose=int(args.verbose), standardize=args.standardize, **options)
    progress(f"fitting {Estimator.__name__} to {X.shape[0]} samples x {X.shape[1]} features "
             f"({patterns})")
    start = time.perf_counter()
    if args.distributed:  # every process of a torchrun launch runs this; rank 0 reports
        from . import distributed

        if args.solver == "auto":
            estimator.set_params(solver="admm")
        with distributed.session() as rank:
            estimator.fit(X, y)
        if rank != 0:
            return 0
    else:
        estimator.fit(X, y)
    elapsed = time.perf_counter() - start
    progress("fitted; computing the training score")
    network, certificate = estimator.network_, estimator.certificate_
    score = estimator.score(X, y)
    print(f"{task}: {X.shape[0]} samples x {X.shape[1]} features, loss={args.loss}, "
          f"beta={args.beta:g}; {network.n_neurons} neurons, solver "
          f"{estimator.solution_.solver}, {elapsed:.2f} s")
    print(f"patterns: {patterns}; {estimator.patterns_.n_patterns} found")
    print(f"training {'accuracy' if task == 'classify' else 'R^2'}: {score:.4f}")
    print(f"certificate: {certificate}")
    print(_bound_sentence(certificate, "the patterns above"))

    from ._persistence import save_estimator
    from .estimators import encode_labels

    if task == "classify":
        index = np.searchsorted(estimator.classes_, y)
        Y = encode_labels(index, estimator.classes_.size, args.loss)
    else:
        Y = y[:, None]
    save_estimator(estimator, out, training_fingerprint=_fingerprint(X, Y), extra={
        "task": task, "target": args.target, "feature_names": table.names})
    print(f"saved the model to {out} (tensors) and {out.with_suffix('.json')} (metadata); "
          "use it with 'convexnn predict' and 'convexnn certify'")
    return 0


# ------------------------------------------------------------------------------------ predict
def _format(value, integral: bool) -> str:
    if isinstance(value, float):
        # whole-number class labels as the CSV wrote them; otherwise the shortest text that
        # reads back to the same float
        return str(int(value)) if integral else repr(value)
    return str(value)


def _predict(args, progress) -> int:
    out = Path(args.out) if args.out is not None else None
    if out is not None:
        _check_writable(out, "--out", sidecar=False)
    progress(f"loading {args.model}")
    model = _load_model(args.model)
    target = args.target or model.target
    table = _read_csv(args.data, target, required=False)
    X = _match_features(table, model.feature_names, model.network.n_features, model.path)
    progress(f"predicting {X.shape[0]} samples")
    if model.estimator is not None:
        values = model.estimator.predict(X)
    else:
        values = model.network.predict(X)
    values = values[:, None] if values.ndim == 1 else values
    # numeric class labels were parsed as floats: write 1, not 1.0, when all are whole numbers
    integral = (model.estimator is not None and hasattr(model.estimator, "classes_")
                and values.dtype.kind == "f" and bool(np.all(values == np.round(values))))
    name = target or "prediction"
    header = [name] if values.shape[1] == 1 else [f"{name}_{c}" for c in range(values.shape[1])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_format(v, integral) for v in row] for row in values.tolist())
    if out is None:
        sys.stdout.write(buffer.getvalue())
        return 0
    try:
        out.write_text(buffer.getvalue())
    except OSError as exc:
        raise OSError(f"--out {out}: cannot write it ({exc.strerror or exc})") from None
    print(f"wrote {values.shape[0]} predictions of {model.path} to {out}")
    return 0


# ------------------------------------------------------------------------------------ certify
def _class_index(table: _Table, classes: np.ndarray, model: Path) -> np.ndarray:
    """The index of each row's label among the model's ``classes``: text labels compare as
    written, numbers as numbers (so ``1`` and ``1.0`` are one class)."""
    if classes.dtype.kind in "biuf" and table.y.dtype.kind == "f":
        labels, keys = table.y.tolist(), classes.tolist()
    else:
        labels, keys = table.y_text.tolist(), [str(c) for c in classes.tolist()]
    position = {label: i for i, label in enumerate(keys)}
    unknown = sorted({label for label in labels if label not in position}, key=str)
    if unknown:
        raise ValueError(f"target column {table.target!r} of {table.path} holds labels "
                         f"{unknown[:5]} that are not among the classes {keys[:10]} of the "
                         f"model {model}")
    return np.array([position[label] for label in labels], dtype=np.intp)


def _certify(args, progress) -> int:
    progress(f"loading {args.model}")
    model = _load_model(args.model)
    if model.estimator is not None:
        return _certify_fit(args, model, progress)
    if args.patterns == "model":
        raise ValueError(f"--patterns model: {model.path} stores no patterns (only a model "
                         "saved by 'convexnn fit' does); use --patterns auto, exact or sampled")
    return _certify_network(args, model, progress)


def _certify_network(args, model: _Model, progress) -> int:
    """Certificate of a bare network (a TwoLayerReLU file or a foreign state dict)."""
    from .certificates import certify_network
    from .estimators import encode_labels

    metadata, sidecar = model.metadata, model.path.with_suffix(".json")
    target = args.target or model.target
    beta = args.beta if args.beta is not None else metadata.get("beta")
    loss = args.loss or metadata.get("loss") or "squared"
    if target is None or beta is None:
        raise ValueError(f"--target and --beta are needed: the model {model.path} has no "
                         f"metadata ({sidecar}) that gives them")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0 \
            or not np.isfinite(beta):
        raise ValueError(f"{sidecar}: metadata entry 'beta' must be a finite number >= 0; "
                         f"got {beta!r}")
    if loss not in _LOSSES:
        raise ValueError(f"{sidecar}: metadata entry 'loss' must be one of {list(_LOSSES)}; "
                         f"got {loss!r}")
    progress(f"reading {args.data}")
    table = _read_csv(args.data, target)
    X = _match_features(table, None, model.network.n_features, model.path)
    task = args.task or metadata.get("task") or _infer_task(table.y, None)
    if task not in ("classify", "regress"):
        raise ValueError(f"{sidecar}: metadata entry 'task' must be 'classify' or 'regress'; "
                         f"got {task!r}")
    if task == "classify":
        classes = metadata.get("classes")
        if classes is None:
            classes = np.unique(table.y)
        elif not (isinstance(classes, list) and len(classes) >= 2
                  and all(isinstance(c, (str, int, float)) for c in classes)):
            raise ValueError(f"{sidecar}: metadata entry 'classes' must be a list of at least "
                             f"two labels; got {classes!r}")
        classes = np.asarray(classes)
        Y = encode_labels(_class_index(table, classes, model.path), classes.size, loss)
    elif table.y.dtype.kind != "f":
        raise ValueError(f"--task regress needs a numeric target column {target!r}")
    else:
        Y = table.y[:, None]
    Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if model.network.has_bias else X
    patterns, sentence = _make_patterns("auto" if args.patterns is None else args.patterns,
                                        Xa, args.n_patterns, args.seed, progress)
    progress("checking the dual point against every pattern")
    start = time.perf_counter()
    certificate = certify_network(model.network, X, Y, loss=loss, beta=beta, patterns=patterns)
    print(f"{model.network.n_neurons} neurons, {X.shape[0]} samples, loss={loss}, "
          f"beta={beta:g} ({time.perf_counter() - start:.2f} s)")
    print(f"patterns: {sentence}")
    print(f"certificate: {certificate}")
    scope = ("the patterns above" if certificate.n_patterns == patterns.n_patterns
             else "the patterns above or the network's own")
    print(_bound_sentence(certificate, scope))
    return 0


def _certify_fit(args, model: _Model, progress) -> int:
    """Certificate of a model saved by ``convexnn fit``: on its own patterns, with its dual
    point when the data is its training data, on the standardized features it was fitted on.

    The program is written over the rows as given; fit merged repeated rows into weighted
    distinct samples, which is the same objective, and the saved dual point has one row per
    row of the training data (the estimator's ``dual_``), so it applies row by row.
    """
    from .certificates import certify_network
    from .estimators import encode_labels
    from .patterns import Patterns

    estimator, training = model.estimator, model.stored.get("training")
    target = args.target or model.target
    if target is None:
        raise ValueError(f"--target is needed: the model {model.path} does not name its target "
                         "column")
    loss = args.loss or estimator.loss
    beta = args.beta if args.beta is not None else estimator.beta
    progress(f"reading {args.data}")
    table = _read_csv(args.data, target)
    X = _match_features(table, model.feature_names, estimator.n_features_in_, model.path)
    if hasattr(estimator, "classes_"):
        index = _class_index(table, estimator.classes_, model.path)
        Y = encode_labels(index, estimator.classes_.size, loss)
    elif table.y.dtype.kind != "f":
        raise ValueError(f"target column {target!r} of {table.path} must be numeric for the "
                         f"regressor {model.path}")
    else:
        Y = table.y[:, None]
    same = training is not None and training["data_sha256"] == _fingerprint(X, Y)
    # the program fit solved: standardized with the model's scaling, with the bias column
    Z = (X - estimator.feature_mean_) / estimator.feature_scale_
    Za = np.hstack([Z, np.ones((Z.shape[0], 1))]) if estimator.bias else Z
    network = estimator._scaled_network
    dual = None
    if training is None:
        dual_note = ("the model stores no dual point (saved without its training data's "
                     "fingerprint), so the bound uses the network's own loss gradient")
    elif not same:
        dual_note = ("the data is not the model's training data (its SHA-256 fingerprint "
                     "differs), so the model's dual point does not apply and the bound uses the "
                     "network's own loss gradient; it can be loose")
    elif training["dual"] is None or training["dual"].shape != Y.shape:
        dual_note = ("the data is the model's training data, but the model stores no dual point "
                     "with one row per row of it")
    else:
        dual = training["dual"]
        dual_note = ("the data is the model's training data (same SHA-256 fingerprint): the "
                     "bound uses the solver's dual point saved with the model")

    mode = args.patterns or ("model" if training is not None else "auto")
    if mode == "model":
        if training is None:
            raise ValueError(f"--patterns model: {model.path} stores no patterns; use "
                             "--patterns auto, exact or sampled")
        G = training["generators"]
        D = Za @ G >= 0
        _, first = np.unique(D, axis=1, return_index=True)  # other data can merge patterns
        first.sort()
        exact = training["exact"] and same
        patterns = Patterns(D[:, first], G[:, first], exact=exact)
        sentence = (f"the model's {patterns.n_patterns} activation patterns, "
                    + ("all patterns of its training data" if exact else
                       "those it was fitted over"))
    else:
        patterns, sentence = _make_patterns(mode, Za, args.n_patterns, args.seed, progress)
    progress(f"checking the dual point against {patterns.n_patterns} patterns")
    start = time.perf_counter()
    certificate = certify_network(network, Z, Y, loss=loss, beta=beta, patterns=patterns,
                                  dual=dual)
    # certify_network adds the patterns of neurons that none of these gives (up to the
    # solver's accuracy on samples at a neuron's kink): the bound then covers those too
    scope = ("the patterns above" if certificate.n_patterns == patterns.n_patterns
             else "the patterns above or the network's own")
    kind = "classifier" if hasattr(estimator, "classes_") else "regressor"
    print(f"{kind} of {network.n_neurons} neurons, {X.shape[0]} samples, loss={loss}, "
          f"beta={beta:g} ({time.perf_counter() - start:.2f} s)"
          + ("; on the features standardized as fit did" if estimator.standardize else ""))
    print(f"patterns: {sentence}")
    print(f"dual point: {dual_note}")
    print(f"certificate: {certificate}")
    print(_bound_sentence(certificate, scope))
    return 0


# --------------------------------------------------------------------------------------- demo
def _accuracy(scores: np.ndarray, targets: np.ndarray) -> float:
    """Accuracy of one-output scores against +-1 targets (n, 1)."""
    return float(np.mean((scores[:, 0] > 0) == (targets[:, 0] > 0)))


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *map(line, rows)])


def _demo(args, progress) -> int:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from ._threads import one_thread
    from .datasets import load_sklearn
    from .estimators import encode_labels

    X, y = load_sklearn("breast_cancer")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(f"breast_cancer: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
          f"{X.shape[1]} standardized features; squared loss on +-1 labels, beta={args.beta:g}")

    # breast_cancer labels are 0 / 1: +-1 targets for the squared loss
    Y_train, Y_test = (encode_labels(labels, 2, "squared") for labels in (y_train, y_test))
    with one_thread():  # small tensors: a second thread only costs time (see _threads)
        return _demo_run(args, X_train, X_test, Y_train, Y_test, progress)


def _demo_run(args, X_train, X_test, Y_train, Y_test, progress) -> int:
    from .baselines import train_nonconvex
    from .certificates import certify_network
    from .estimators import SEARCH_PROGRESS, SEARCH_ROUNDS, SEARCH_TOL
    from .search import load_kernels, neuron_search

    # a process's first fit also loads numba's compiled kernels: loaded before either method
    # is timed
    progress("loading the compiled kernels (once per process)")
    loading = load_kernels(X_train, Y_train, beta=args.beta, seed=args.seed,
                           solver="admm" if args.solver == "auto" else args.solver)
    runs = []
    for lr in args.lr:  # Adam tuned: the best final objective over the learning rates
        progress(f"training a {args.width}-neuron network with Adam ({args.epochs} epochs, "
                 f"learning rate {lr:g})")
        runs.append(train_nonconvex(X_train, Y_train, loss="squared", beta=args.beta,
                                    width=args.width, optimizer="adam", lr=lr,
                                    epochs=args.epochs, seed=args.seed))
    best = min(range(len(runs)), key=lambda i: runs[i].objective)
    adam, tuning_time = runs[best], sum(run.time for run in runs)

    # the estimators' default fit on this data: the neuron search over program (8)
    progress("searching for the network's patterns (the estimators' default fit)")
    start = time.perf_counter()
    search = neuron_search(
        X_train, Y_train, beta=args.beta, initial_patterns=args.n_patterns,
        tol=SEARCH_TOL if args.tol is None else args.tol,
        max_rounds=SEARCH_ROUNDS, min_progress=SEARCH_PROGRESS, seed=args.seed,
        seed_network="adam",
        time_limit=args.time_limit,
        solver="admm" if args.solver == "auto" else args.solver,
        progress=lambda entry: progress(
            f"round {entry['round']}: objective {entry['objective']:.6f}, "
            f"{entry['n_patterns']} patterns"))
    solution = search.solution
    convex = search.network()
    convex_certificate = search.certificate()
    convex_time = time.perf_counter() - start
    # both networks judged against the convex fit's dual over the patterns it found
    progress("certifying Adam's network against the same dual")
    adam_certificate = certify_network(adam.network, X_train, Y_train, loss="squared",
                                       beta=args.beta, patterns=search.patterns,
                                       dual=solution.dual)

    rows = []
    for name, network, certificate, seconds in [
        (f"adam (lr {args.lr[best]:g}, best of {len(runs)})", adam.network, adam_certificate,
         adam.time),
        (f"convex ({search.rounds} rounds)", convex, convex_certificate, convex_time),
    ]:
        rows.append([
            name,
            f"{network.objective(X_train, Y_train, beta=args.beta):.6f}",
            f"{certificate.duality_gap:.2e}",
            f"{_accuracy(network.predict(X_train), Y_train):.4f}",
            f"{_accuracy(network.predict(X_test), Y_test):.4f}",
            str(network.n_neurons),
            f"{seconds:.2f}",
        ])
    header = ["network", "train objective", "certified gap", "train acc", "test acc",
              "neurons", "time (s)"]
    print(_format_table(header, rows))
    print(f"Adam: {len(runs)} runs of {args.epochs} epochs took {tuning_time:.2f} s in all; "
          f"the compiled kernels were loaded (compiled after an install) before the timings "
          f"({loading:.2f} s, once per process)")
    print(f"lower bound {convex_certificate.lower_bound:.6f} on the objective of every network "
          f"whose neurons use the {search.patterns.n_patterns} patterns the search found "
          "(both gaps above are against it)")
    print(f"search: {convex_certificate.search_summary}")
    if args.plot is not None:
        _save_plot(args.plot, adam.history, convex_certificate.primal,
                   adam_certificate.lower_bound)
        print(f"plot written to {args.plot}")
    return 0


def _save_plot(path, history: dict, convex_objective: float, lower_bound: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_objective_comparison

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_objective_comparison(history, convex_objective, lower_bound, ax=ax)
    ax.set_title("breast_cancer: Adam vs the convex program (8)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------- path
def _path(args, progress) -> int:
    from sklearn.model_selection import train_test_split

    from .estimators import encode_labels
    from .path import cross_validate_path, regularization_path

    progress(f"reading {args.data}")
    table = _read_csv(args.data, args.target)
    X, y = table.X, table.y
    task = _infer_task(y, args.task)
    if task == "regress":
        if y.dtype.kind != "f":
            raise ValueError(f"--task regress needs a numeric target column {args.target!r}")
        if args.loss != "squared":
            raise ValueError(f"--loss {args.loss} is a classification loss; regression "
                             "(numeric targets) uses --loss squared")
        Y, metric, strata = y, "mse", None
    else:
        classes, index = np.unique(y, return_inverse=True)
        Y, metric, strata = encode_labels(index, classes.size, args.loss), "error_rate", index
    mode, n_patterns, _, note = _resolve_patterns(
        args.patterns, np.hstack([X, np.ones((X.shape[0], 1))]), args.n_patterns, progress)
    if note is not None:
        print(f"convexnn: note: {note}", file=sys.stderr)
    build = {"loss": args.loss, "patterns": mode, "n_patterns": n_patterns,
             "seed": args.seed, "gated": args.gated}
    common = {"n_betas": args.n_betas, "min_ratio": args.min_ratio, "solver": args.solver,
              "metric": metric, "n_jobs": args.n_jobs, "backend": args.backend}
    progress(f"solving {args.n_betas} programs along the path")
    start = time.perf_counter()
    if args.cv is not None:
        result = cross_validate_path(X, Y, cv=args.cv, **common, **build)
        path, errors = result.path, result.mean_error
        scheme = f"{args.cv}-fold cross-validation (mean {metric})"
        n_train = X.shape[0]
    else:
        X_train, X_val, Y_train, Y_val = train_test_split(
            X, Y, test_size=args.validation_fraction, random_state=args.seed, stratify=strata)
        path = regularization_path(X_train, Y_train, X_val=X_val, y_val=Y_val, **common,
                                   **build)
        errors = path.validation_errors
        scheme = f"{X_val.shape[0]} held-out samples ({metric})"
        n_train = X_train.shape[0]
    elapsed = time.perf_counter() - start
    best = int(np.argmin(errors))
    patterns = path.solutions[0].problem.patterns
    print(f"{task}: {n_train} training samples x {X.shape[1]} features, loss={args.loss}, "
          f"{'gated relaxation' if args.gated else 'program (8)'} over "
          f"{patterns.n_patterns} {'(all)' if patterns.exact else 'sampled'} patterns; "
          f"beta_max={path.beta_max:.6g}; validation: {scheme}; {elapsed:.2f} s")
    rows = [[f"{beta:.4g}{' *' if i == best else ''}", f"{objective:.6g}", f"{gap:.2e}",
             str(active), f"{error:.4g}"]
            for i, (beta, objective, gap, active, error) in enumerate(zip(
                path.betas, path.objectives, path.gaps, path.n_active, errors, strict=True))]
    header = ["beta", "train objective", "gap", "active neurons", "validation error"]
    print(_format_table(header, rows))
    print(f"best beta {path.betas[best]:.6g} (*): validation error {errors[best]:.4g}, "
          f"{path.n_active[best]} neurons")
    if args.plot is not None:
        _save_path_plot(args.plot, path.betas, errors, path.n_active, path.betas[best], scheme)
        print(f"plot written to {args.plot}")
    return 0


def _save_path_plot(path, betas, errors, n_active, best_beta: float, scheme: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_regularization_path

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_regularization_path(betas, errors, n_active, best_beta=best_beta, ax=ax)
    ax.set_title(f"regularization path; validation: {scheme}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="convexnn",
        description="Globally optimal two-layer ReLU networks by convex optimization "
                    "(Pilanci & Ergen, ICML 2020), certified by a duality gap.",
    )
    parser.add_argument("--version", action="version", version=f"convexnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--quiet", action="store_true",
                        help="no progress messages (shown on stderr when it is a terminal)")

    demo = commands.add_parser(
        "demo", parents=[common], help="convex network vs Adam on breast_cancer, side by side",
        description="Breast-cancer data (standardized, 75/25 stratified split): Adam, "
                    "tuned over learning rates, next to the estimators' default convex fit "
                    "(the neuron search over program (8)), both certified against the convex "
                    "fit's dual, with their objectives, gaps, accuracies and times.")
    demo.add_argument("--beta", type=_non_negative_float, default=1e-3,
                      help="weight decay (default 1e-3)")
    demo.add_argument("--n-patterns", type=_positive_int, default=20,
                      help="Gaussian directions the neuron search starts from (default 20)")
    demo.add_argument("--tol", type=_positive_float, default=None,
                      help="certified relative duality gap of the search's final solve "
                           "(default: the estimators', 1e-3)")
    demo.add_argument("--width", type=_positive_int, default=200,
                      help="hidden neurons of the Adam-trained network (default 200)")
    _add_solver_argument(demo)
    demo.add_argument("--epochs", type=_positive_int, default=2000,
                      help="Adam epochs, full batch (default 2000)")
    demo.add_argument("--lr", type=_positive_float, nargs="+", default=[1e-3, 1e-2, 3e-2],
                      help="Adam learning rates tried; the best final objective is kept "
                           "(default 1e-3 1e-2 3e-2)")
    demo.add_argument("--seed", type=_seed, default=0,
                      help="seed of the split, the patterns and Adam's init (default 0)")
    demo.add_argument("--time-limit", type=_positive_float, default=None,
                      help="seconds for the convex fit (default: none)")
    demo.add_argument("--plot", metavar="PNG", default=None,
                      help="also save Adam's objective curve against the convex network")
    demo.set_defaults(func=_demo)

    fit = commands.add_parser(
        "fit", parents=[common], help="fit a convex network to a CSV file and save it",
        description="Fit ConvexReLUClassifier or ConvexReLURegressor to a CSV file (header row; "
                    "every column but the target numeric) and print its certificate. --out "
                    "receives the fitted estimator (ConvexReLUClassifier.load / "
                    "ConvexReLURegressor.load read it): tensors only (torch.save, readable "
                    "with weights_only=True): the network, the feature scaling, the generators "
                    "of the activation patterns and the solver's dual point; and the same path "
                    "with suffix .json its metadata (parameters, feature names, target, "
                    "classes, certificate, a SHA-256 fingerprint of the training data), which "
                    "'convexnn predict' and 'convexnn certify' read.")
    fit.add_argument("data", help="CSV file with a header row")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument("--out", required=True, help="where to save the model, e.g. model.pt")
    _add_problem_arguments(fit, patterns=("auto", "exact", "sampled", "search"), default="auto",
                           n_patterns=100)
    fit.add_argument("--beta", type=_non_negative_float, default=1e-3,
                     help="weight decay (default 1e-3)")
    fit.add_argument("--loss", choices=_LOSSES, default="squared", help="default squared")
    _add_solver_argument(fit)
    fit.add_argument("--standardize", action="store_true",
                     help="solve on standardized features (mean 0, scale 1); the saved model "
                          "takes raw features")
    fit.add_argument("--tol", type=_positive_float, default=None,
                     help="solver tolerance (default: the solver's)")
    fit.add_argument("--max-iter", type=_positive_int, default=None,
                     help="solver iteration limit (default: the solver's)")
    fit.add_argument("--time-limit", type=_positive_float, default=None, metavar="SECONDS",
                     help="stop the solver after this many seconds (the model is then saved "
                          "with the certificate it reached)")
    fit.add_argument("--gated", action="store_true",
                     help="solve the gated relaxation instead of program (8)")
    fit.add_argument("--no-bias", action="store_true",
                     help="hidden neurons without a bias")
    fit.add_argument("--verbose", action="store_true", help="print the solver's progress")
    fit.add_argument("--distributed", action="store_true",
                     help="split the samples across the processes of a torchrun launch "
                          "(torch.distributed, gloo): torchrun --nproc_per_node N -m convexnn.cli "
                          "fit ... --distributed; solver admm (auto) or fista, rank 0 saves")
    fit.set_defaults(func=_fit)

    predict = commands.add_parser(
        "predict", parents=[common], help="predict with a saved model, as CSV",
        description="Predictions of a model saved by 'convexnn fit' (class labels or values; "
                    "the network's outputs for a bare network file) for the rows of a CSV "
                    "file, written as CSV with a header row. The feature columns must be those "
                    "the model was fitted on (in any order); a target column is ignored.")
    predict.add_argument("model", help="saved model (.pt with its .json, or .npz)")
    predict.add_argument("--data", required=True, help="CSV file with a header row")
    predict.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    predict.add_argument("--target", default=None,
                         help="column to leave out of the features (default: the model's "
                              "target)")
    predict.set_defaults(func=_predict)

    cert = commands.add_parser(
        "certify", parents=[common], help="certify a saved network on a data set",
        description="Lower bound on the optimum of the training problem and the network's "
                    "duality gap. MODEL is a model saved by 'convexnn fit' (then by default "
                    "its own patterns and, on its training data, its solver's dual point: the "
                    "certificate fit printed), a TwoLayerReLU file, or any "
                    "Sequential(Linear, ReLU, Linear) state dict; task, loss, beta, target and "
                    "classes default to its metadata.")
    cert.add_argument("model", help="saved model (.pt with its .json, a state dict, or .npz)")
    cert.add_argument("--data", required=True, help="CSV file with a header row")
    cert.add_argument("--target", default=None, help="target column (default: from metadata)")
    cert.add_argument("--beta", type=_non_negative_float, default=None,
                      help="weight decay (default: from metadata)")
    cert.add_argument("--loss", choices=_LOSSES, default=None,
                      help="loss (default: from metadata, else squared)")
    _add_problem_arguments(cert, patterns=("model", "auto", "exact", "sampled"), default=None,
                           n_patterns=1000)
    cert.set_defaults(func=_certify)

    path = commands.add_parser(
        "path", parents=[common], help="validation error and active neurons along a beta grid",
        description="Solve the convex program on a CSV file (header row; no feature scaling) "
                    "for a decreasing grid of beta, from beta_max (the smallest beta whose "
                    "optimum is the zero network) down to --min-ratio times it, warm-starting "
                    "first-order solvers down the path. Prints beta, training objective, "
                    "certified duality gap, active neurons and validation error, on a held-out "
                    "split (--validation-fraction) or by --cv K folds, which run in parallel "
                    "(--n-jobs, --backend).")
    path.add_argument("data", help="CSV file with a header row")
    path.add_argument("--target", required=True, help="name of the target column")
    _add_problem_arguments(path, patterns=("auto", "exact", "sampled"), default="auto",
                           n_patterns=100)
    path.add_argument("--loss", choices=_LOSSES, default="squared", help="default squared")
    path.add_argument("--gated", action="store_true",
                      help="solve the gated relaxation instead of program (8)")
    _add_solver_argument(path)
    path.add_argument("--n-betas", type=_positive_int, default=10,
                      help="points of the beta grid (default 10)")
    path.add_argument("--min-ratio", type=_fraction, default=1e-3,
                      help="smallest beta as a fraction of beta_max (default 1e-3)")
    scheme = path.add_mutually_exclusive_group()
    scheme.add_argument("--validation-fraction", type=_fraction, default=0.25,
                        help="held-out fraction of the data (default 0.25; stratified for "
                             "classification, split with --seed)")
    scheme.add_argument("--cv", type=_folds, default=None, metavar="K",
                        help="K-fold cross-validation instead of a held-out split")
    path.add_argument("--n-jobs", type=_n_jobs, default=None,
                      help="parallel workers for independent solves (default 1; -1: all CPUs)")
    path.add_argument("--backend", choices=("joblib", "dask", "ray"), default="joblib",
                      help="executor of the parallel jobs (default joblib; dask and ray are "
                           "optional extras)")
    path.add_argument("--plot", metavar="PNG", default=None,
                      help="save validation error and active neurons against beta")
    path.set_defaults(func=_path)
    return parser


def _add_solver_argument(parser) -> None:
    parser.add_argument("--solver", choices=_SOLVERS, default="auto",
                        help="solver of program (8) (default auto)")


def _add_problem_arguments(parser, *, patterns: tuple, default: str | None,
                           n_patterns: int) -> None:
    parser.add_argument("--task", choices=("classify", "regress"), default=None,
                        help="default: classify for integer or text labels, else regress")
    model = ("model: the patterns the model was fitted over (the default for models saved by "
             "'convexnn fit'), " if "model" in patterns else "")
    parser.add_argument("--patterns", choices=patterns, default=default,
                        help=f"activation patterns: {model}exact: enumerate all (a global "
                             f"bound; refused above {_MAX_PATTERNS} by Cover's count), sampled: "
                             f"--n-patterns Gaussian directions, "
                             + ("search: the dual-guided neuron search, auto: exact when Cover's "
                                f"count is at most {_CHEAP_PATTERNS}, else search"
                                if "search" in patterns else
                                f"auto: exact when Cover's count is at most {_CHEAP_PATTERNS}, "
                                "else sampled")
                             + f" (default {default or 'model, else auto'})")
    parser.add_argument("--n-patterns", type=_positive_int, default=n_patterns,
                        help=f"directions sampled for the patterns (default {n_patterns})")
    parser.add_argument("--seed", type=_seed, default=0,
                        help="pattern sampling seed, in [0, 2**32 - 1] (default 0)")


def main(argv: list[str] | None = None) -> int:
    """Run the ``convexnn`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
        0 on success, 1 when the command failed, 130 when interrupted. A usage error exits
        (``SystemExit``) with status 2, after one line on stderr.
    """
    args = _parser().parse_args(argv)
    progress = _Progress(enabled=not args.quiet and _is_terminal(sys.stderr))
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args, progress)
        except KeyboardInterrupt:
            print("convexnn: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # one line, never a traceback (the CLI's contract)
            print(f"convexnn: error: {_one_line(exc)}", file=sys.stderr)
            return 1


if __name__ == "__main__":  # python -m convexnn.cli, e.g. under torchrun
    sys.exit(main())
