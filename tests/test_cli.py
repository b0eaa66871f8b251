"""The ``convexnn`` command line, run in-process through ``main``."""

import json
import re

import numpy as np
import pytest
import torch

from convexnn import TwoLayerReLU
from convexnn.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def _write_csv(path, X, y, names=("x1", "x2"), target="label"):
    lines = [",".join([*names, target])]
    lines += [",".join([*(f"{v:.6f}" for v in row), str(t)]) for row, t in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")
    return X, y


def test_demo_prints_the_table(capsys, tmp_path):
    plot = tmp_path / "demo.png"
    status = main(["demo", "--n-patterns", "8", "--width", "5", "--epochs", "100",
                   "--plot", str(plot)])
    out = capsys.readouterr().out
    assert status == 0
    for column in ("train objective", "certified gap", "train acc", "test acc", "neurons",
                   "time (s)"):
        assert column in out
    rows = [line for line in out.splitlines() if line.startswith(("adam (", "convex ("))]
    assert len(rows) == 2
    adam, convex = (float(re.split(r"\s{2,}", row)[1]) for row in rows)
    # Adam's network is a feasible point of the convex program over its own patterns (plus
    # the sampled ones), so the certified optimum is at most Adam's objective (up to the
    # first-order solver's certified gap of 1e-4 on the convex side)
    assert convex <= adam * (1 + 1e-4)
    assert int(rows[0].split()[-2]) == 5  # --width
    assert "426 train / 143 test" in out
    assert plot.stat().st_size > 0


def test_fit_then_certify_round_trip(capsys, tmp_path, labelled):
    X, y = labelled
    data = _write_csv(tmp_path / "data.csv", X, y)
    model = tmp_path / "model.pt"
    assert main(["fit", str(data), "--target", "label", "--beta", "1e-2", "--patterns",
                 "exact", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "classify: 10 samples x 2 features" in out and "certificate:" in out
    assert "global" in out

    metadata = json.loads(model.with_suffix(".json").read_text())
    assert metadata["task"] == "classify" and metadata["classes"] == ["diff", "same"]
    state = torch.load(model, weights_only=True)
    assert set(state) == {"0.weight", "0.bias", "2.weight"}

    assert main(["certify", str(model), "--data", str(data), "--patterns", "exact"]) == 0
    out = capsys.readouterr().out
    assert "certificate:" in out and "global" in out
    gap = float(out.split("(gap ")[1].split(",")[0])
    assert -1e-9 <= gap <= metadata["certificate"]["duality_gap"] + 1e-6


def test_certify_a_foreign_state_dict(capsys, tmp_path, labelled):
    """Any Sequential(Linear, ReLU, Linear) state dict, without metadata, for regression."""
    X, _ = labelled
    y = X[:, 0] - np.abs(X[:, 1])
    data = _write_csv(tmp_path / "reg.csv", X, y, target="y")
    net = TwoLayerReLU(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, -1.0]),
                       np.array([0.0, 0.5]))
    torch.save(net.to_torch().state_dict(), tmp_path / "foreign.pt")
    assert main(["certify", str(tmp_path / "foreign.pt"), "--data", str(data), "--target", "y",
                 "--beta", "0.1", "--task", "regress", "--patterns", "exact"]) == 0
    out = capsys.readouterr().out
    primal = net.objective(X, y, beta=0.1)
    assert f"objective {primal:.8g}" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["fit"], "the following arguments are required"),
        (["demo", "--beta", "-1"], "argument --beta: must be a number >= 0"),
        (["demo", "--n-patterns", "many"], "argument --n-patterns: must be a positive integer"),
        (["demo", "--solver", "newton"], "argument --solver: invalid choice"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_usage_errors_are_one_line(capsys, argv, match):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("convexnn: error: ") and match in err
    assert err.count("\n") == 1


def test_runtime_errors_are_one_line(capsys, tmp_path, labelled):
    X, y = labelled
    data = _write_csv(tmp_path / "data.csv", X, y)
    cases = [
        (["fit", str(data), "--target", "nope", "--out", str(tmp_path / "m.pt")],
         "target column 'nope' is not in"),
        (["fit", str(tmp_path / "missing.csv"), "--target", "label", "--out", "m.pt"],
         "no such file"),
        (["fit", str(data), "--target", "label", "--task", "regress", "--out", "m.pt"],
         "--task regress needs a numeric target"),
        (["fit", str(data), "--target", "label", "--out", str(tmp_path / "m.json")],
         "--out must not end in .json"),
        (["certify", str(data), "--data", str(data), "--target", "label", "--beta", "1"],
         "is not a PyTorch state dict"),
    ]
    for argv, match in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("convexnn: error: ") and match in err, err
        assert err.count("\n") == 1
