"""Time per iteration of our first-order solvers vs the number of samples n and of patterns P.

Synthetic data (Gaussian features, targets of a random teacher ReLU network plus noise), a fixed
number of iterations per run (``--iterations``, tol unreachable). The time per iteration is the
slope of the solver's own history (time at each certificate check vs iteration), so one-off
set-up (factorizations, sketches) and the final cone projection are excluded; the set-up shows
in the ``setup`` column (``-`` when fewer than three checks were recorded: then the time per
iteration is the total over the iterations, set-up included). A log-log slope near 1 means
linear growth. Writes ``results/bench_scaling.json`` and ``results/bench_scaling.png``.

    python benchmarks/bench_scaling.py
    python benchmarks/bench_scaling.py --n-values 1000 4000 16000 --p-values 50 200 800
"""

from __future__ import annotations

import argparse

import _common as common
import numpy as np

#: (label, solver, gated, extra options)
SERIES = [
    ("fista (gated)", "fista", True, {}),
    ("admm (gated)", "admm", True, {}),
    ("admm (exact, auto)", "admm", False, {}),
    ("admm (exact, cg)", "admm", False, {"linear_solver": "cg"}),
    ("augmented_lagrangian (exact)", "augmented_lagrangian", False, {}),
]


def synthetic(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    teacher = rng.standard_normal((d, 10))
    y = np.maximum(X @ teacher, 0) @ rng.standard_normal(10) + 0.1 * rng.standard_normal(n)
    return X, (y - y.mean()) / y.std()


def per_iteration(solution) -> tuple[float, float]:
    """(seconds per iteration, set-up seconds) from the history of certificate checks."""
    its = np.asarray(solution.history.get("iteration", []), dtype=float)
    times = np.asarray(solution.history.get("time", []), dtype=float)
    if len(its) >= 3 and its[-1] > its[1]:
        slope, intercept = np.polyfit(its[1:], times[1:], 1)
        return float(slope), float(max(intercept, 0.0))
    return solution.time / max(solution.iterations, 1), None


def measure(n: int, P: int, args) -> list[dict]:
    from convexnn.problem import ConvexProblem
    from convexnn.solvers import solve

    X, y = synthetic(n, args.d, args.seed)
    rows = []
    for label, solver, gated, options in SERIES:
        if label.split(" ")[0] not in args.solvers and solver not in args.solvers:
            continue
        row = {"series": label, "n": n, "P": P}
        try:
            problem = ConvexProblem.build(X, y, beta=args.beta, patterns="sampled",
                                          n_patterns=P, seed=args.seed, gated=gated)
            row["P_unique"] = problem.shape[2]
            solution = solve(problem, solver=solver, tol=1e-12, max_iter=args.iterations,
                             time_limit=args.time_limit, **options)
            row["per_iter"], row["setup"] = per_iteration(solution)
            row.update(iterations=solution.iterations, time=solution.time)
        except Exception as exc:  # noqa: BLE001 -- record and go on
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
        print(f"  {label:32s} n={n:6d} P={P:5d}: "
              + (f"{1e3 * row['per_iter']:.2f} ms/iter" if "per_iter" in row
                 else row["error"]), flush=True)
    return rows


def loglog_slopes(rows: list[dict], key: str) -> dict:
    slopes = {}
    for label in dict.fromkeys(r["series"] for r in rows):
        points = [(r[key], r["per_iter"]) for r in rows if r["series"] == label
                  and r.get("per_iter")]
        if len(points) >= 2:
            x, t = np.log([p[0] for p in points]), np.log([p[1] for p in points])
            slopes[label] = float(np.polyfit(x, t, 1)[0])
    return slopes


def plot(by_n, by_p, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, rows, key in ((axes[0], by_n, "n"), (axes[1], by_p, "P")):
        for label in dict.fromkeys(r["series"] for r in rows):
            points = sorted((r[key], r["per_iter"]) for r in rows
                            if r["series"] == label and r.get("per_iter"))
            if points:
                ax.loglog(*zip(*points, strict=True), "o-", label=label)
        values = sorted({r[key] for r in rows})
        if values and any(r.get("per_iter") for r in rows):
            base = min(r["per_iter"] for r in rows if r.get("per_iter"))
            ax.loglog(values, [base * v / values[0] for v in values], "k:", label="linear")
        ax.set(xlabel=key, ylabel="seconds per iteration", title=f"time per iteration vs {key}")
        ax.legend(fontsize=8)
    common.save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-values", type=int, nargs="+",
                        default=[2000, 4000, 8000, 16000, 32000])
    parser.add_argument("--p-values", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--n-fixed", type=int, default=4000, help="n of the P sweep")
    parser.add_argument("--p-fixed", type=int, default=100, help="P of the n sweep")
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--time-limit", type=float, default=30.0, help="per run, seconds")
    parser.add_argument("--solvers", nargs="+",
                        default=["fista", "admm", "augmented_lagrangian"])
    parser.add_argument("--seed", type=int, default=0)
    args = common.parse_arguments(parser, argv)

    print(f"== vs n (P={args.p_fixed}, d={args.d})")
    by_n = [row for n in args.n_values for row in measure(n, args.p_fixed, args)]
    print(f"== vs P (n={args.n_fixed}, d={args.d})")
    by_p = [row for P in args.p_values for row in measure(args.n_fixed, P, args)]
    slopes = {"n": loglog_slopes(by_n, "n"), "P": loglog_slopes(by_p, "P")}
    columns = [("series", "solver"), ("n", "n"), ("P", "P (sampled)"), ("P_unique", "P unique"),
               ("per_iter", "s / iteration"), ("setup", "setup (s)"), ("error", "error")]
    table = common.print_table(f"time per iteration vs n (P={args.p_fixed}, d={args.d})",
                               by_n, columns)
    table += common.print_table(f"time per iteration vs P (n={args.n_fixed}, d={args.d})",
                                by_p, columns)
    slope_rows = [{"series": label, "n": slopes["n"].get(label), "P": slopes["P"].get(label)}
                  for label in dict.fromkeys(r["series"] for r in by_n + by_p)]
    table += common.print_table("log-log slopes of time per iteration (1 = linear)", slope_rows,
                                [("series", "solver"), ("n", "slope vs n"), ("P", "slope vs P")])
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    plot(by_n, by_p, common.RESULTS / "bench_scaling.png")
    common.write_json("bench_scaling", {"arguments": vars(args), "by_n": by_n, "by_P": by_p,
                                        "slopes": slopes, "table": table})


if __name__ == "__main__":
    main()
