"""Exact program (8) with cone constraints: our solvers vs pyscnn's AL vs CVXPY + Clarabel.

All methods solve the identical program (same data, patterns, beta; pyscnn with ``lam = beta/c``,
see ``_pyscnn.py``). Every returned point is re-evaluated with OUR objective and certified
with :func:`convexnn.certificates.certify`; ``rel_diff`` is relative to the conic optimum, or,
when the conic solver did not finish, to the best certified lower bound of any method (then an
upper bound of the true relative suboptimality). A point that violates the cones (pyscnn's AL
stops at a small violation) has a convex objective that can lie below the optimum; the
objective (2) of the ReLU network recovered from it (what pyscnn's ``optimize`` returns) is the
honest figure, in ``network (2) rel. diff``.

    python benchmarks/bench_exact.py                       # breast_cancer and digits
    python benchmarks/bench_exact.py --datasets breast_cancer --pyscnn-variants float32 float64

Each table also times ``--floor-pairs`` pairs of the bare products ``Z = (X @ V) * M``,
``X.T @ Z`` (``V`` with as many columns as the program's groups, ``M`` a random 0/1 mask) in
the same run: the last column divides each time by it, a ratio that holds on a loaded machine.
"""

from __future__ import annotations

import argparse
import time

import _common as common
import _pyscnn

#: data set -> beta (our convention: mean squared loss / 2 + beta * sum of group norms)
SETTINGS = {"breast_cancer": 1e-3, "digits": 1e-4}
OURS = ("admm", "augmented_lagrangian")

COLUMNS = [
    ("method", "method"), ("status", "status"), ("time", "time (s)"),
    ("iterations", "iters"), ("objective", "objective (ours)"),
    ("rel_diff", "rel. diff vs ref"), ("network_rel_diff", "network (2) rel. diff"),
    ("certified_gap", "certified rel. gap"),
    ("cone_violation", "max cone violation"), ("vs_pyscnn", "pyscnn AL time / this"),
    ("vs_conic", "conic time / this"), ("vs_floor", "this / product pairs"),
]


def product_pairs(problem, pairs: int) -> float:
    """Seconds of ``pairs`` pairs ``Z = (X @ V) * M``, ``X.T @ Z`` with the program's data ``X``
    and one column of ``V`` per group (``2 P k``), ``M`` a random 0/1 mask (median of 3)."""
    import torch

    X = torch.tensor(problem.X)  # a copy: the problem's arrays are read-only
    _, _, P, k = problem.shape
    columns = 2 * P * k
    generator = torch.Generator().manual_seed(0)
    V = torch.randn(X.shape[1], columns, generator=generator, dtype=X.dtype)
    M = (torch.rand(X.shape[0], columns, generator=generator) < 0.5).to(X.dtype)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(pairs):
            V = X.T @ ((X @ V) * M) / X.shape[0]  # rescaled: the values stay finite
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


def run_dataset(name: str, args) -> dict:
    beta = SETTINGS[name]
    data = common.load_dataset(name)
    problem = common.build_problem(data, beta=beta, n_patterns=args.patterns, seed=args.seed)
    n, d, P, k = problem.shape
    print(f"== {name}: n={n}, d={d} (with bias), P={P} patterns, k={k} outputs, beta={beta}")
    rows, scaling_check = [], None

    if not args.skip_conic:
        row = common.run_conic(problem, tol=args.conic_tol, time_limit=args.conic_time_limit,
                               memory_gb=args.conic_memory_gb)
        row["method"] = f"conic Clarabel (tol {args.conic_tol:g})"
        if "_V" in row:
            row.update(common.evaluate_point(problem, row.pop("_V"), row.pop("_W"),
                                             dual=row.pop("_dual")))
        rows.append(row)

    available = common.available_solvers()
    for solver in args.solvers:
        if available.get(solver) != "ok":
            rows.append({"method": f"ours {solver}", "error": available.get(solver)})
            continue
        row = common.run_ours(problem, solver, tol=args.tol, time_limit=args.time_limit)
        row["method"] = f"ours {solver} (tol {args.tol:g})"
        rows.append(row)

    if not args.skip_pyscnn and _pyscnn.available():
        scaling_check = _pyscnn.check_objective_scaling(problem)
        for variant in args.pyscnn_variants:
            try:
                result = _pyscnn.solve_pyscnn(problem, time_limit=args.pyscnn_time_limit,
                                              **_pyscnn.parse_variant(variant))
            except Exception as exc:  # noqa: BLE001 -- record, do not crash the table
                rows.append({"method": f"pyscnn AL {variant}", "error": repr(exc)})
                continue
            row = {"method": f"pyscnn AL ({variant})", "time": result["time"],
                   "status": result["status"], "iterations": result["iterations"],
                   "lam": result["lam"], "time_limit": args.pyscnn_time_limit}
            row.update(common.evaluate_point(problem, result["V"], result["W"]))
            rows.append(row)

    floor = product_pairs(problem, args.floor_pairs)
    rows.append({"method": f"{args.floor_pairs} product pairs (X @ V) * M, X.T @ Z",
                 "time": floor})
    conic = next((r for r in rows if r["method"].startswith("conic") and "objective" in r), None)
    if conic is not None:
        reference, kind = conic["objective"], "conic optimum"
    else:
        bounds = [r["lower_bound"] for r in rows if "lower_bound" in r]
        reference, kind = (max(bounds), "best certified lower bound") if bounds else (None, None)
    pyscnn_time = next((r["time"] for r in rows if r["method"].startswith("pyscnn")
                        and "time" in r), None)
    for row in rows:
        if reference is not None and "objective" in row:
            row["rel_diff"] = (row["objective"] - reference) / abs(reference)
        if reference is not None and "network_objective" in row:
            row["network_rel_diff"] = (row["network_objective"] - reference) / abs(reference)
        if "error" in row and "status" not in row:
            row["status"] = row["error"][:60]
        elif row.get("status") == "time_limit":
            row["status"] = f"did not finish in {row.get('time_limit', 0):.0f} s"
        if row.get("time"):
            row["vs_pyscnn"] = common.ratio(pyscnn_time, row["time"])
            row["vs_conic"] = common.ratio(conic["time"] if conic else None, row["time"])
            row["vs_floor"] = common.ratio(row["time"], floor)
    title = (f"{name} (n={n}, d={d}, P={P}, k={k}, beta={beta:g}); reference: {kind}"
             + (f" {reference:.10g}" if reference is not None else ""))
    table = common.print_table(title, rows, COLUMNS)
    return {"dataset": name, "shape": [n, d, P, k], "beta": beta, "reference": reference,
            "reference_kind": kind, "pyscnn_scaling_check": scaling_check, "rows": rows,
            "table": table}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--patterns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solvers", nargs="+", default=list(OURS), choices=list(OURS))
    parser.add_argument("--tol", type=float, default=1e-4, help="our target certified gap")
    parser.add_argument("--time-limit", type=float, default=300.0, help="ours, seconds")
    parser.add_argument("--conic-tol", type=float, default=1e-6)
    parser.add_argument("--conic-time-limit", type=float, default=300.0)
    parser.add_argument("--conic-memory-gb", type=float, default=8.0,
                        help="address-space cap of the conic solver's child process")
    parser.add_argument("--pyscnn-time-limit", type=float, default=180.0)
    parser.add_argument("--pyscnn-variants", nargs="+", default=["float32"],
                        help="float32 | float64, then optionally :unitize (its default data "
                             "scaling) and :tol=<its tol> (default 1e-6)")
    parser.add_argument("--skip-conic", action="store_true")
    parser.add_argument("--skip-pyscnn", action="store_true")
    parser.add_argument("--floor-pairs", type=int, default=50,
                        help="pairs of bare products timed as the floor")
    args = common.parse_arguments(parser, argv)
    results = [run_dataset(name, args) for name in args.datasets]
    suffix = common.dataset_suffix(args.datasets, SETTINGS)
    common.write_json("bench_exact" + suffix, {"arguments": vars(args), "results": results})


if __name__ == "__main__":
    main()
