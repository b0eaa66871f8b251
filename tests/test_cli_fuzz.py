"""Generated bad inputs for the model loaders and the command line (issue 15).

Every damaged, forged or malformed input must be refused with a clear error that names the file
or the argument: never a traceback, never a silent result, never an allocation the file's size
does not justify. About 1,300 inputs in all (the ``max_examples`` below), with a fixed seed
(``derandomize``) so that a run is reproducible; the model is fitted once per module.
"""

import contextlib
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from convexnn import ConvexReLUClassifier, TwoLayerReLU
from convexnn._persistence import read_legacy_network
from convexnn.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

_SETTINGS = {"deadline": None, "derandomize": True, "database": None,
             "suppress_health_check": [HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow]}

#: what loading a small model may allocate through NumPy (tracemalloc sees NumPy's buffers)
_MEMORY_LIMIT = 32 * 2**20

_NAMES = ("x1", "x2")
_X = np.random.default_rng(0).standard_normal((8, 2))
_LABELS = np.where(_X[:, 0] > 0, "up", "down")


def _csv_rows(target: str = "label") -> list[list[str]]:
    return [[*_NAMES, target], *([f"{a:.4f}", f"{b:.4f}", str(t)]
                                 for (a, b), t in zip(_X, _LABELS, strict=True))]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A classifier saved by ``convexnn fit``, a network file, and their data."""
    folder = tmp_path_factory.mktemp("models")
    data = folder / "data.csv"
    data.write_text("\n".join(",".join(row) for row in _csv_rows()) + "\n")
    model = folder / "clf.pt"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["fit", str(data), "--target", "label", "--patterns", "sampled",
                     "--n-patterns", "6", "--beta", "0.01", "--out", str(model)]) == 0
    network = folder / "net.pt"
    TwoLayerReLU(np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([1.0, -2.0]),
                 np.array([0.1, 0.0])).save(network, loss="squared", beta=0.1)
    return _Files({"data": data, "clf": model, "net": network,
                   "originals": {path: (path.read_bytes(), path.with_suffix(".json").read_text())
                                 for path in (model, network)}})


class _Files(dict):
    """The fixture's paths and file contents, shown by name only in failure reports."""

    def __repr__(self):
        return "files"


def _restore(files, path, workdir):
    """A fresh copy of a saved model (weights and metadata) in ``workdir``."""
    weights, metadata = files["originals"][path]
    copy = workdir / path.name
    copy.write_bytes(weights)
    copy.with_suffix(".json").write_text(metadata)
    return copy


def _load(kind, path):
    """Load under a NumPy allocation budget; returns the model or the exception raised."""
    tracemalloc.start()
    try:
        return (ConvexReLUClassifier.load(path) if kind == "clf" else TwoLayerReLU.load(path))
    except Exception as exc:  # judged by the caller: only clear ValueError / OSError pass
        return exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < _MEMORY_LIMIT, f"loading {path} allocated {peak} bytes"


def _assert_refused_clearly(result, *paths):
    event(f"refused: {type(result).__name__}")  # in --hypothesis-show-statistics
    assert isinstance(result, (ValueError, OSError)), repr(result)
    message = str(result)
    assert "\n" not in message.strip() and "Traceback" not in message
    assert any(p.name in message for p in paths), message


def _assert_usable(kind, model):
    """A model that loaded must be one fit could have made: it predicts finite values."""
    event("loaded")
    if kind == "clf":
        from sklearn.base import clone

        # the loader's own check, but for the device, which only fitting needs to exist
        clone(model).set_params(device="cpu")._check_params()
        labels = model.predict(_X)
        assert set(labels.tolist()) <= set(model.classes_.tolist())
        assert model.classes_.size >= 2
        assert np.all(np.isfinite(model.decision_function(_X)))
    else:
        assert np.all(np.isfinite(model.predict(_X)))


# --------------------------------------------------------------------------- tampered metadata
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


def _entries(value, prefix=()):
    """The paths of every entry of a JSON document."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _entries(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield (*prefix, i)
            yield from _entries(inner, (*prefix, i))


@settings(max_examples=350, **_SETTINGS)
@given(kind=st.sampled_from(["clf", "net"]), data=st.data())
def test_tampered_metadata_is_refused_or_harmless(files, tmp_path_factory, kind, data):
    workdir = tmp_path_factory.mktemp("meta", numbered=True)
    path = _restore(files, files[kind], workdir)
    sidecar = path.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    entry = data.draw(st.sampled_from(sorted(_entries(metadata), key=str)), label="entry")
    *parents, last = entry
    holder = metadata
    for key in parents:
        holder = holder[key]
    action = data.draw(st.sampled_from(["replace", "delete"]), label="action")
    if action == "delete":
        del holder[last]
    else:
        holder[last] = data.draw(_JSON, label="value")
    sidecar.write_text(json.dumps(metadata))
    result = _load(kind, path)
    if isinstance(result, BaseException):
        _assert_refused_clearly(result, path, sidecar)
    else:  # e.g. another version string or solver message: it must still be a valid model
        _assert_usable(kind, result)


# ----------------------------------------------------------------------------- damaged weights
@settings(max_examples=150, **_SETTINGS)
@given(kind=st.sampled_from(["clf", "net"]), data=st.data())
def test_damaged_weights_are_refused(files, tmp_path_factory, kind, data):
    workdir = tmp_path_factory.mktemp("weights", numbered=True)
    path = _restore(files, files[kind], workdir)
    original = path.read_bytes()
    how = data.draw(st.sampled_from(["flip", "truncate", "append", "garbage"]), label="how")
    if how == "flip":
        damaged = bytearray(original)
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            i = data.draw(st.integers(0, len(damaged) - 1), label="at")
            damaged[i] = data.draw(st.integers(0, 255), label="byte")
        damaged = bytes(damaged)
    elif how == "truncate":
        damaged = original[:data.draw(st.integers(0, len(original) - 1), label="length")]
    elif how == "append":
        damaged = original + data.draw(st.binary(min_size=1, max_size=64), label="tail")
    else:
        damaged = data.draw(st.binary(max_size=2048), label="garbage")
    path.write_bytes(damaged)
    forge = data.draw(st.booleans(), label="forge the checksum")
    if forge:  # whoever damaged the file also updated its checksum
        import hashlib

        sidecar = path.with_suffix(".json")
        metadata = json.loads(sidecar.read_text())
        metadata["sha256"] = hashlib.sha256(damaged).hexdigest()
        sidecar.write_text(json.dumps(metadata))
    result = _load(kind, path)
    if isinstance(result, BaseException):
        _assert_refused_clearly(result, path, path.with_suffix(".json"))
    else:  # only a forged checksum over bytes that are still a valid file can load
        assert forge or damaged == original
        _assert_usable(kind, result)


# ------------------------------------------------------------------------- legacy .npz networks
def _npy(shape, dtype: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


_SHAPES = st.lists(st.sampled_from([0, 1, 2, 3, 10**5, 10**9, 2**62]), max_size=3)
_DTYPES = st.sampled_from(["<f8", "<f4", "<i8", "|b1", "|O", "<U5", "<U1000000000", "|V16",
                           "<c16", "<M8[s]"])


@settings(max_examples=250, **_SETTINGS)
@given(data=st.data())
def test_forged_npz_files_are_refused_within_their_size(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("npz", numbered=True) / "net.npz"
    how = data.draw(st.sampled_from(["garbage", "forged header", "mutated", "members"]),
                    label="how")
    good = {"U": np.ones((2, 2)), "alpha": np.ones((2, 1)), "b": np.zeros(2),
            "header": np.array(json.dumps({"format": "convexnn.TwoLayerReLU/1",
                                           "has_bias": True}))}
    if how == "garbage":
        path.write_bytes(data.draw(st.binary(max_size=512), label="bytes"))
    elif how == "forged header":
        name = data.draw(st.sampled_from(sorted(good)), label="member")
        shape, dtype = data.draw(_SHAPES, label="shape"), data.draw(_DTYPES, label="dtype")
        with zipfile.ZipFile(path, "w") as archive:
            for key, value in good.items():
                buffer = io.BytesIO()
                np.save(buffer, value)
                archive.writestr(f"{key}.npy", _npy(shape, dtype, b"\0" * 32) if key == name
                                 else buffer.getvalue())
    elif how == "mutated":
        with open(path, "wb") as f:
            np.savez(f, **good)
        damaged = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 4), label="flips")):
            damaged[data.draw(st.integers(0, len(damaged) - 1), label="at")] ^= \
                data.draw(st.integers(1, 255), label="mask")
        path.write_bytes(bytes(damaged))
    else:  # members missing, extra, or a header that is not convexnn's
        members = dict(good)
        for key in data.draw(st.lists(st.sampled_from(sorted(good)), max_size=2), label="drop"):
            members.pop(key, None)
        if data.draw(st.booleans(), label="extra member"):
            members["extra"] = np.zeros(3)
        members["header"] = np.array(json.dumps(data.draw(_JSON, label="header")))
        with open(path, "wb") as f:
            np.savez(f, **members)
    tracemalloc.start()
    try:
        result = read_legacy_network(path, reader="TwoLayerReLU.load")
    except Exception as exc:
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < _MEMORY_LIMIT, f"reading {path} allocated {peak} bytes"
    if isinstance(result, BaseException):
        _assert_refused_clearly(result, path)
    else:  # a flip that missed every checked byte: still a network (shapes, finite weights)
        assert isinstance(result, TwoLayerReLU)


# ------------------------------------------------------------------------------ the command line
def _run(argv):
    """``main(argv)`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def _assert_one_line_error(status, err, *names):
    assert status not in (0, None), err
    lines = [line for line in err.splitlines() if not line.startswith("convexnn: note: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("convexnn: error: ") and "Traceback" not in err, err
    assert any(name in lines[0] for name in names), (names, err)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


_TEXT = st.text(min_size=1, max_size=8).filter(
    lambda s: s.strip() and _not_a_number(s.strip()) and not set(s) & set(',"\r\n'))
_NOT_FINITE = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e309"])
_TOO_LARGE = st.sampled_from(["1e308", "-1e200", "1.5e151", "9e300"])


@st.composite
def _bad_csv(draw, command):
    """A CSV file's bytes with one defect, and the name the error must mention."""
    rows = _csv_rows(target="y" if command == "fit-regress" else "label")
    if command == "fit-regress":
        for row, value in zip(rows[1:], _X[:, 0] * 3, strict=True):
            row[2] = f"{value:.4f}"
    defects = ["text", "empty", "not finite", "too large", "fields", "duplicate", "no name",
               "utf8", "short", "garbage"]
    if command != "predict":
        defects.append("no target")
    if command in ("predict", "certify"):
        defects.append("renamed")
    if command == "fit-regress":
        defects += ["target not finite", "target too large"]
    defect = draw(st.sampled_from(defects), label="defect")
    i = draw(st.integers(1, len(rows) - 1), label="row")
    j = draw(st.integers(0, 1), label="feature")
    if defect == "text":
        rows[i][j] = draw(_TEXT, label="cell")
    elif defect == "empty":
        rows[i][j] = ""
    elif defect == "not finite":
        rows[i][j] = draw(_NOT_FINITE, label="cell")
    elif defect == "too large":
        rows[i][j] = draw(_TOO_LARGE, label="cell")
    elif defect == "target not finite":
        rows[i][2] = draw(_NOT_FINITE, label="cell")
    elif defect == "target too large":
        rows[i][2] = draw(_TOO_LARGE, label="cell")
    elif defect == "fields":
        rows[i] = rows[i][:-1] if draw(st.booleans(), label="drop") else [*rows[i], "1"]
    elif defect == "duplicate":
        rows[0][1] = rows[0][0]
    elif defect == "no name":
        rows[0][j] = ""
    elif defect == "no target":
        rows[0][2] = "other"
    elif defect == "renamed":
        rows[0][j] = draw(st.sampled_from(["x3", "height", "X1"]), label="name")
    text = "\n".join(",".join(row) for row in rows) + "\n"
    if draw(st.booleans(), label="byte-order mark"):  # legal, and must not hide the defect
        text = "\ufeff" + text
    if defect == "short":
        text = text.splitlines()[0] + "\n" if draw(st.booleans(), label="header") else ""
    payload = text.encode()
    if defect == "utf8":
        at = draw(st.integers(0, len(payload)), label="at")
        payload = payload[:at] + b"\xff\xfe" + payload[at:]
    elif defect == "garbage":
        payload = draw(st.binary(min_size=1, max_size=256).filter(
            lambda b: not _decodes_to_a_table(b)), label="bytes")
    return payload


def _decodes_to_a_table(payload: bytes) -> bool:
    """Whether bytes could happen to be a valid table (then they are no defect)."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return "label" in text or "y" in text


@settings(max_examples=350, **_SETTINGS)
@given(command=st.sampled_from(["fit", "fit-regress", "predict", "certify"]), data=st.data())
def test_bad_csv_files_are_refused_in_one_line(files, tmp_path_factory, command, data):
    workdir = tmp_path_factory.mktemp("csv", numbered=True)
    csv_path = workdir / "bad.csv"
    csv_path.write_bytes(data.draw(_bad_csv(command), label="csv"))
    out = workdir / "m.pt"
    argv = {
        "fit": ["fit", str(csv_path), "--target", "label", "--out", str(out), "--patterns",
                "sampled", "--n-patterns", "4"],
        "fit-regress": ["fit", str(csv_path), "--target", "y", "--out", str(out),
                        "--patterns", "sampled", "--n-patterns", "4"],
        "predict": ["predict", str(files["clf"]), "--data", str(csv_path)],
        "certify": ["certify", str(files["clf"]), "--data", str(csv_path)],
    }[command]
    status, stdout, err = _run(argv)
    _assert_one_line_error(status, err, str(csv_path))
    assert not out.exists() and stdout == ""


_BAD_VALUES = {
    "positive": st.sampled_from(["0", "-1", "-0.5", "nan", "inf", "-inf", "1e400", "", "two"]),
    "non-negative": st.sampled_from(["-1", "-1e-9", "nan", "inf", "1e999", "", "x"]),
    "count": st.sampled_from(["0", "-3", "1.5", "1e3", "", "ten", "1000001", "99999999999"]),
    "seed": st.sampled_from(["-1", "4294967296", "1.0", "", "abc", "-99999999999"]),
    "fraction": st.sampled_from(["0", "1", "1.5", "-0.1", "nan", "", "half"]),
    "folds": st.sampled_from(["1", "0", "-2", "2.5", "", "k"]),
    "jobs": st.sampled_from(["0", "x", "1.5", "", "-0.5"]),
    "choice": st.sampled_from(["", "newton", "EXACT", "auto ", "squared-ish"]),
}
_OPTIONS = {
    "demo": {"--beta": "non-negative", "--n-patterns": "count", "--tol": "positive",
             "--width": "count", "--epochs": "count", "--lr": "positive", "--seed": "seed",
             "--solver": "choice"},
    "fit": {"--beta": "non-negative", "--n-patterns": "count", "--seed": "seed",
            "--tol": "positive", "--max-iter": "count", "--time-limit": "positive",
            "--solver": "choice", "--loss": "choice", "--patterns": "choice",
            "--task": "choice"},
    "certify": {"--beta": "non-negative", "--n-patterns": "count", "--seed": "seed",
                "--loss": "choice", "--patterns": "choice", "--task": "choice"},
    "path": {"--n-betas": "count", "--min-ratio": "fraction", "--cv": "folds",
             "--validation-fraction": "fraction", "--n-jobs": "jobs", "--backend": "choice",
             "--seed": "seed", "--n-patterns": "count"},
    "predict": {},
}


@settings(max_examples=300, **_SETTINGS)
@given(command=st.sampled_from(sorted(_OPTIONS)), data=st.data())
def test_bad_arguments_are_refused_in_one_line(files, tmp_path_factory, command, data):
    workdir = tmp_path_factory.mktemp("args", numbered=True)
    base = {
        "demo": ["demo"],
        "fit": ["fit", str(files["data"]), "--target", "label", "--out", str(workdir / "m.pt")],
        "certify": ["certify", str(files["clf"]), "--data", str(files["data"])],
        "path": ["path", str(files["data"]), "--target", "label"],
        "predict": ["predict", str(files["clf"]), "--data", str(files["data"])],
    }[command]
    defects = ["unknown option", "missing file", "directory"] if command != "demo" else \
        ["unknown option"]
    if _OPTIONS[command]:
        defects.append("bad value")
    defect = data.draw(st.sampled_from(defects), label="defect")
    if defect == "bad value":
        option = data.draw(st.sampled_from(sorted(_OPTIONS[command])), label="option")
        value = data.draw(_BAD_VALUES[_OPTIONS[command][option]], label="value")
        argv, names = [*base, f"{option}={value}"], [f"argument {option}"]
    elif defect == "unknown option":
        option = "--" + data.draw(st.sampled_from(["betta", "out-dir", "fast", "n-pattern"]),
                                  label="option")
        argv, names = [*base, option, "1"], [option]
    else:
        target = workdir / "absent.csv"
        if defect == "directory":
            target.mkdir()
        position = 1 if command in ("fit", "path") else base.index("--data") + 1
        if command in ("certify", "predict") and data.draw(st.booleans(), label="the model"):
            position = 1
        argv = list(base)
        argv[position] = str(target)
        names = [str(target)]
    status, stdout, err = _run(argv)
    _assert_one_line_error(status, err, *names)
    assert stdout == ""
