"""Every loss at the classifier's defaults on small 2-D problems: time, status, certified gap.

``ConvexReLUClassifier(loss=...).fit(X, y)`` with nothing else set, on standardized Gaussian
points in 2-D: two classes by the sign of ``x1 x2`` (squared, hinge, logistic) and three by the
angle (squared, cross-entropy). At 60 points the estimator runs the neuron search; at 12-30
points (Cover's count small enough) it solves program (8) over all enumerated patterns, where
the interior point stalled on cross-entropy and logistic (the fits raised before ``auto`` fell
back to ADMM). Each fit runs ``--repeats`` times with different ``random_state``; the table
gives the median time. A first, untimed fit loads the compiled kernels.

    python benchmarks/bench_losses.py --threads 1
    python benchmarks/bench_losses.py --sizes 60 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import _common as common
import numpy as np

LOSSES = {"squared": 2, "hinge": 2, "logistic": 2, "cross_entropy": 3}


def data(n: int, classes: int, seed: int = 0):
    """``n`` standardized Gaussian points in 2-D and their labels (``classes`` 2 or 3)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 2))
    X = (X - X.mean(0)) / X.std(0)
    if classes == 2:
        y = (X[:, 0] * X[:, 1] > 0).astype(int)
    else:
        y = np.digitize(np.arctan2(X[:, 1], X[:, 0]), [-1, 1])
    return X[:n], y[:n]


def run(loss: str, n: int, repeats: int) -> dict:
    from convexnn import ConvexReLUClassifier

    X, y = data(n, LOSSES[loss])
    times, fits = [], []
    for seed in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = ConvexReLUClassifier(loss=loss, random_state=seed).fit(X, y)
        times.append(time.perf_counter() - start)
        fits.append((model, len(caught)))
    model, warned = fits[0]
    return {"loss": loss, "n": n, "classes": LOSSES[loss],
            "path": "search" if model.search_ is not None else "all patterns",
            "median_time": statistics.median(times), "max_time": max(times),
            "solver": model.solution_.solver, "status": model.solution_.status,
            "gap": model.certificate_.relative_gap, "train_accuracy": model.score(X, y),
            "warnings": warned}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[12, 20, 30, 60])
    parser.add_argument("--repeats", type=int, default=3)
    args = common.parse_arguments(parser, argv)
    from convexnn import ConvexReLUClassifier

    for loss in args.losses:  # load the compiled kernels before timing
        ConvexReLUClassifier(loss=loss).fit(*data(60, LOSSES[loss]))
    rows = []
    for loss in args.losses:
        for n in args.sizes:
            try:
                row = run(loss, n, args.repeats)
            except Exception as exc:  # noqa: BLE001 (a failed fit is a row, not a crash)
                row = {"loss": loss, "n": n, "error": f"{type(exc).__name__}: {exc}"[:80]}
            rows.append(row)
            print(row, flush=True)
    common.print_table(
        f"Classifier defaults per loss (median of {args.repeats} fits)", rows,
        [("loss", "loss"), ("n", "n"), ("classes", "classes"), ("path", "path"),
         ("median_time", "time s"), ("max_time", "max s"), ("solver", "solver"),
         ("status", "status"), ("gap", "certified gap"), ("train_accuracy", "train acc"),
         ("warnings", "warnings"), ("error", "error")])
    suffix = "" if args.sizes == [12, 20, 30, 60] else "_" + "_".join(map(str, args.sizes))
    common.write_json(f"losses{suffix}", {"settings": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
