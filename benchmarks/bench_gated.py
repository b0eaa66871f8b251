"""Gated-ReLU relaxation: our FISTA (and ADMM) vs pyscnn's R-FISTA, to the same certified gap.

Same program for both (patterns, beta; pyscnn with ``lam = beta/c``). pyscnn runs with its
default R-FISTA settings and is snapshotted during the run; every snapshot is certified
afterwards (not timed) with :func:`convexnn.certificates.certify`, which gives the time at which
its iterate first had certified relative gap ``<= tol``. Our solvers stop on that same
certificate. Since a certificate also depends on the dual point, the time at which the objective
first came within ``tol`` of the reference (conic optimum or best certified lower bound) is
reported too. Writes ``results/bench_gated.json`` and a gap-vs-time plot ``bench_gated.png``.

    python benchmarks/bench_gated.py
    python benchmarks/bench_gated.py --datasets digits --tol 1e-4 --pyscnn-time-limit 180
"""

from __future__ import annotations

import argparse

import _common as common
import _pyscnn

SETTINGS = {"breast_cancer": 1e-3, "digits": 1e-4}
OURS = ("fista", "admm")

COLUMNS = [
    ("method", "method"), ("status", "status"), ("time_to_tol", "time to gap<=tol (s)"),
    ("time_to_obj", "time to rel. diff<=tol (s)"), ("time", "total time (s)"),
    ("iterations", "iters"), ("objective", "objective (ours)"),
    ("rel_diff", "rel. diff vs ref"), ("certified_gap", "final certified gap"),
    ("vs_pyscnn", "pyscnn time-to-tol / this"),
]


def _first_below(times, gaps, tol):
    return next((t for t, g in zip(times, gaps, strict=True) if g <= tol), None)


def run_dataset(name: str, args) -> dict:
    beta = SETTINGS[name]
    data = common.load_dataset(name)
    problem = common.build_problem(data, beta=beta, n_patterns=args.patterns, seed=args.seed,
                                   gated=True)
    n, d, P, k = problem.shape
    print(f"== {name} gated: n={n}, d={d} (with bias), P={P}, k={k}, beta={beta}")
    rows, curves, scaling_check = [], {}, None

    if not args.skip_conic:
        row = common.run_conic(problem, tol=args.conic_tol, time_limit=args.conic_time_limit,
                               memory_gb=8.0)
        row["method"] = f"conic Clarabel (tol {args.conic_tol:g})"
        if "_V" in row:
            row.update(common.evaluate_point(problem, row.pop("_V"), row.pop("_W"),
                                             dual=row.pop("_dual")))
        rows.append(row)

    available = common.available_solvers()
    for solver in OURS:
        if available.get(solver) != "ok":
            rows.append({"method": f"ours {solver}", "error": available.get(solver)})
            continue
        row = common.run_ours(problem, solver, tol=args.tol, time_limit=args.time_limit,
                              keep_solution=True)
        row["method"] = f"ours {solver}"
        solution = row.pop("_solution", None)
        if solution is not None:
            history = solution.history
            curves[row["method"]] = {"time": history["time"], "gap": history["gap"],
                                     "objective": history["objective"]}
            row["time_to_tol"] = _first_below(history["time"], history["gap"], args.tol)
        rows.append(row)

    if not args.skip_pyscnn and _pyscnn.available():
        scaling_check = _pyscnn.check_objective_scaling(problem)
        for variant in args.pyscnn_variants:
            rows.append(_run_pyscnn(problem, variant, args, curves))

    conic = next((r for r in rows if r["method"].startswith("conic") and "objective" in r), None)
    bounds = [r["lower_bound"] for r in rows if "lower_bound" in r]
    if conic is not None:
        reference, kind = conic["objective"], "conic optimum"
    else:
        reference, kind = (max(bounds), "best certified lower bound") if bounds else (None, None)
    pyscnn_rows = [r for r in rows if r["method"].startswith("pyscnn") and "time" in r]
    reached = [r["time_to_tol"] for r in pyscnn_rows if r.get("time_to_tol")]
    pyscnn_time = min(reached) if reached else None
    pyscnn_limited = any(str(r.get("status")).startswith("did not") for r in pyscnn_rows)
    for row in rows:
        if reference is not None and "objective" in row:
            row["rel_diff"] = (row["objective"] - reference) / abs(reference)
        curve = curves.get(row["method"])
        if reference is not None and curve is not None:
            excess = [(o - reference) / abs(reference) for o in curve["objective"]]
            row["time_to_obj"] = _first_below(curve["time"], excess, args.tol)
        if "error" in row and "status" not in row:
            row["status"] = row["error"][:60]
        elif row.get("status") == "time_limit" and not row["method"].startswith("pyscnn"):
            row["status"] = f"did not finish in {row.get('time_limit', 0):.0f} s"
        mine = row.get("time_to_tol")
        if mine and pyscnn_time:
            row["vs_pyscnn"] = common.ratio(pyscnn_time, mine)
        elif mine and pyscnn_rows and pyscnn_limited:
            longest = max(r["time"] for r in pyscnn_rows)
            row["vs_pyscnn"] = f">{longest / mine:.3g}x (pyscnn: not in {longest:.0f} s)"
        elif mine and pyscnn_rows:
            row["vs_pyscnn"] = "pyscnn stopped above tol"
    title = (f"{name} gated (n={n}, d={d}, P={P}, k={k}, beta={beta:g}, tol={args.tol:g}); "
             f"reference: {kind}" + (f" {reference:.10g}" if reference is not None else ""))
    table = common.print_table(title, rows, COLUMNS)
    return {"dataset": name, "shape": [n, d, P, k], "beta": beta, "tol": args.tol,
            "reference": reference, "reference_kind": kind,
            "pyscnn_scaling_check": scaling_check, "rows": rows, "curves": curves,
            "table": table}


def _run_pyscnn(problem, variant: str, args, curves: dict) -> dict:
    """One pyscnn R-FISTA run, its snapshots certified afterwards (the certificate is untimed)."""
    try:
        result = _pyscnn.solve_pyscnn(problem, time_limit=args.pyscnn_time_limit,
                                      snapshot_interval=args.snapshot_interval,
                                      **_pyscnn.parse_variant(variant))
    except Exception as exc:  # noqa: BLE001
        return {"method": f"pyscnn R-FISTA ({variant})", "error": repr(exc)}
    row = {"method": f"pyscnn R-FISTA ({variant})", "time": result["time"],
           "status": result["status"], "iterations": result["iterations"],
           "time_limit": args.pyscnn_time_limit}
    row.update(common.evaluate_point(problem, result["V"], None))
    times, gaps, objectives = [], [], []
    for seconds, V, _ in result["snapshots"]:
        point = common.evaluate_point(problem, V)
        times.append(seconds)
        gaps.append(point["certified_gap"])
        objectives.append(point["objective"])
    times.append(result["time"])
    gaps.append(row["certified_gap"])
    objectives.append(row["objective"])
    curves[row["method"]] = {"time": times, "gap": gaps, "objective": objectives}
    row["time_to_tol"] = _first_below(times, gaps, args.tol)
    if row["status"] == "time_limit":
        row["status"] = f"did not finish in {args.pyscnn_time_limit:.0f} s"
    return row


def plot(results, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        for label, curve in result["curves"].items():
            gaps = [max(g, 1e-16) for g in curve["gap"]]
            ax.semilogy(curve["time"], gaps, label=label)
        ax.axhline(result["tol"], color="gray", linestyle=":", label="target")
        ax.set(title=f"{result['dataset']} (gated)", xlabel="seconds",
               ylabel="certified relative gap")
        ax.legend()
    common.save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--patterns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--time-limit", type=float, default=180.0, help="ours, seconds")
    parser.add_argument("--conic-tol", type=float, default=1e-6)
    parser.add_argument("--conic-time-limit", type=float, default=180.0)
    parser.add_argument("--pyscnn-time-limit", type=float, default=180.0)
    parser.add_argument("--pyscnn-variants", nargs="+", default=["float32", "float64:tol=1e-12"],
                        help="float32 | float64, then optionally :tol=<its gradient-norm tol> "
                             "(default 1e-6); a tiny tol lets it run on towards our gap")
    parser.add_argument("--snapshot-interval", type=float, default=0.2,
                        help="seconds between pyscnn snapshots (certified afterwards)")
    parser.add_argument("--skip-conic", action="store_true")
    parser.add_argument("--skip-pyscnn", action="store_true")
    args = common.parse_arguments(parser, argv)
    results = [run_dataset(name, args) for name in args.datasets]
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = common.dataset_suffix(args.datasets, SETTINGS)
    plot(results, common.RESULTS / f"bench_gated{suffix}.png")
    common.write_json("bench_gated" + suffix, {"arguments": vars(args), "results": results})


if __name__ == "__main__":
    main()
