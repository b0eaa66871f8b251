"""Program (C) of two-layer ReLU CNNs: ADMM on the patch program against Clarabel and Adam.

On scikit-learn's digits (8 x 8 images, standardized pixels, 10 classes one-hot, squared loss,
beta 1e-3), 3 x 3 filters (h = 9, 36 output positions), sampled patterns per pooling region:
global sum pooling and 2 x 2 regions of mean pooling (a 3 x 3 window each). For each setting:

* CVXPY + Clarabel (``solve_conv_relu(solver="CLARABEL")``) in a child process with a time and
  memory cap (the canonicalization alone of a large program can outlast any solver limit);
* ADMM on :meth:`ConvReLUProblem.program` to a certified relative gap of 1e-4 (the certificate
  re-checked by ``convexnn.certify``);
* Adam (full batch, 2000 epochs, the CNN of the convex width, best of learning rates 1e-3 and
  1e-2) on the same objective (``readout_norm="l1"``, the program's penalty).

The table gives each one's objective, its ratio to ADMM's, the certified lower bound and the
time; the sampled program's optimum bounds only the networks whose filters' patterns it holds,
so Adam may end below it.

    python benchmarks/bench_cnn.py --threads 1
    python benchmarks/bench_cnn.py --n 150 --patterns 20 --conic-limit 120   # a quick look
"""

from __future__ import annotations

import argparse
import time

import _common as common
import numpy as np

SETTINGS = {"global sum": ("global", "sum"), "2x2 mean": (3, "mean")}
BETA = 1e-3


def digits(n: int, seed: int = 0):
    """``n`` digits as (n, 1, 8, 8) standardized images and one-hot targets."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    index = np.random.default_rng(seed).permutation(len(labels))[:n]
    x = images[index]
    x = (x - x.mean()) / x.std()
    return x.reshape(n, 1, 8, 8), np.eye(10)[labels[index]]


def _conic_child(problem, time_limit, conn):
    from convexnn.architectures import solve_conv_relu

    try:
        start = time.perf_counter()
        solution = solve_conv_relu(problem, solver="CLARABEL", time_limit=time_limit)
        conn.send({"time": time.perf_counter() - start, "status": solution.status,
                   "V": solution.V, "W": solution.W})
    except Exception as exc:  # noqa: BLE001
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    conn.close()


def run_conic(problem, time_limit: float, memory_gb: float) -> dict:
    row = {"method": "Clarabel"}
    result, elapsed, reason = common.run_in_child(_conic_child, (problem, time_limit),
                                                  time_limit=time_limit, memory_gb=memory_gb,
                                                  grace=60.0)
    if result is None or "error" in result:
        row.update(time=elapsed, status=reason or result["error"][:60])
        return row
    row.update(time=result["time"], status=result["status"],
               objective=problem.objective(result["V"], result["W"]))
    return row


def run_admm(problem, time_limit: float) -> tuple[dict, object]:
    from convexnn.architectures import solve_conv_relu

    start = time.perf_counter()
    solution = solve_conv_relu(problem, solver="admm", tol=1e-4, time_limit=time_limit)
    row = {"method": "ADMM", "time": time.perf_counter() - start, "status": solution.status,
           "objective": solution.objective, "lower_bound": solution.certificate.lower_bound,
           "gap": solution.certificate.relative_gap,
           "filters": solution.n_active_groups()}
    return row, solution


def run_adam(geometry, x, Y, width: int, epochs: int) -> dict:
    from convexnn.architectures import TwoLayerConvNet, network_objective, train_nonconvex

    start, best = time.perf_counter(), None
    for lr in (1e-3, 1e-2):
        net = train_nonconvex(TwoLayerConvNet(geometry, width, 10, seed=0), x, Y, beta=BETA,
                              epochs=epochs, lr=lr, readout_norm="l1").module
        value = network_objective(net, x, Y, beta=BETA, readout_norm="l1")
        best = value if best is None else min(best, value)
    return {"method": f"Adam (width {width}, 2 rates)", "time": time.perf_counter() - start,
            "objective": best, "status": "-"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="training images")
    parser.add_argument("--patterns", type=int, default=50, help="sampled patterns per region")
    parser.add_argument("--conic-limit", type=float, default=600.0, help="Clarabel's seconds")
    parser.add_argument("--admm-limit", type=float, default=600.0)
    parser.add_argument("--memory-gb", type=float, default=16.0, help="Clarabel's memory cap")
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = common.parse_arguments(parser, argv)

    from convexnn.architectures import ConvGeometry, ConvReLUProblem, conv_relu_network

    x, Y = digits(args.n)
    rows, tables = [], []
    for name in args.settings:
        pool, mode = SETTINGS[name]
        geometry = ConvGeometry((1, 8, 8), 3, pool=pool, pool_mode=mode)
        problem = ConvReLUProblem.build(x, Y, geometry, beta=BETA, patterns="sampled",
                                        n_patterns=args.patterns, seed=0)
        n, h, P, k = problem.shape
        admm, solution = run_admm(problem, args.admm_limit)
        width = conv_relu_network(solution).n_filters
        found = [admm, run_conic(problem, args.conic_limit, args.memory_gb),
                 run_adam(geometry, x, Y, width, args.epochs)]
        for row in found:
            row.update(setting=name, regions=geometry.n_regions, patterns=P,
                       vs_admm=(row["objective"] / admm["objective"]
                                if row.get("objective") else None),
                       time_vs_admm=common.ratio(row["time"], admm["time"]))
        rows += found
        tables.append(common.print_table(
            f"{name}: n {n}, h {h}, {geometry.n_regions} region(s), {P} patterns, k {k}",
            found, [("method", "method"), ("objective", "objective"),
                    ("vs_admm", "/ ADMM's"), ("lower_bound", "certified lower bound"),
                    ("gap", "gap"), ("status", "status"), ("time", "time (s)"),
                    ("time_vs_admm", "time / ADMM's"), ("filters", "filters")]))
    common.write_json("bench_cnn", {"settings": vars(args), "rows": rows, "tables": tables})


if __name__ == "__main__":
    main()
