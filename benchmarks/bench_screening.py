"""Gap-safe screening in ADMM (``convexnn.solvers._screening``, ``admm.solve(screening=)``).

Programs with all activation patterns enumerated (2-D points plus a bias: 382 patterns for 20
points, 872 for 30), where most groups are zero at the optimum, and breast_cancer with 100
sampled patterns, nearly all in use (where screening must cost nothing). Every method runs in the
same process on the same problem (ratios hold on a loaded machine when absolute times do not);
every final point is certified on the FULL problem by :func:`convexnn.certify` (exact NNLS over
all patterns), whatever subset it was solved on.

* **admm**: ADMM to ``--tol`` with ``screening=False`` (plain), with screening (the default: one
  certified check when the estimated gap first reaches ``admm.SCREEN_AT``, then ADMM on the
  patterns not screened, warm-started, when at least ``admm.SCREEN_MIN`` of them are), and the
  control of the latter: the same restart with nothing screened (the same screening cost, all
  patterns kept), which separates the gain of the smaller program from that of the restart.
* **oracle**: the exact separation oracle (``convexnn.oracle.exact_oracle``, what the neuron
  search prices all enumerated patterns with each round) at the dual of a solve to 1e-4, on all
  patterns against screening followed by the oracle on the kept patterns.

    python benchmarks/bench_screening.py --threads 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import _common as common
import numpy as np

#: name -> (loss, samples, seed, beta); "breast_cancer": 100 sampled patterns, squared loss
SETTINGS = {
    "logistic-20-s0": ("logistic", 20, 0, 1e-2),
    "logistic-20-s1": ("logistic", 20, 1, 1e-2),
    "logistic-20-b1e-3": ("logistic", 20, 0, 1e-3),
    "squared-30-s0": ("squared", 30, 0, 1e-2),
    "squared-30-s1": ("squared", 30, 1, 1e-2),
    "cross_entropy-20": ("cross_entropy", 20, 0, 1e-2),
    "breast_cancer": ("squared", None, 0, 1e-3),
}
ADMM_COLUMNS = [("problem", "problem"), ("method", "method"), ("time", "time (s)"),
                ("iterations", "iters"), ("certified_gap", "certified gap (all patterns)"),
                ("reached", "reached tol"), ("vs_plain", "plain time / this")]
ORACLE_COLUMNS = [("problem", "problem"), ("patterns", "patterns"), ("kept", "kept"),
                  ("all_time", "oracle, all (ms)"), ("all_priced", "priced, all"),
                  ("screen_time", "screening (ms)"), ("kept_time", "oracle, kept (ms)"),
                  ("kept_priced", "priced, kept"), ("same", "same top values")]


def _problem(loss: str, n: int | None, seed: int, beta: float):
    from convexnn import ConvexProblem

    if n is None:
        return common.build_problem(common.load_dataset("breast_cancer"), beta=beta,
                                    n_patterns=100, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    if loss == "squared":
        y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(n)
    elif loss == "cross_entropy":
        y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)]
    else:
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    return ConvexProblem.build(X, y, loss=loss, beta=beta, patterns="exact")


class _NothingScreened:
    """The control: ADMM screens (same cost) but keeps every pattern, and always restarts."""

    def __enter__(self):
        from convexnn.solvers import admm

        self.admm, self.saved = admm, (admm.screen, admm.SCREEN_MIN)

        def screen(*args):
            result = self.saved[0](*args)
            return replace(result, screened=np.zeros_like(result.screened))

        admm.screen, admm.SCREEN_MIN = screen, 0.0
        return self

    def __exit__(self, *exc):
        self.admm.screen, self.admm.SCREEN_MIN = self.saved


def _solve(problem, method: str, args):
    from convexnn.solvers import admm

    options = {"tol": args.tol, "max_iter": 100_000, "time_limit": args.time_limit}
    if method == "restart, nothing screened":
        with _NothingScreened():
            return admm.solve(problem, **options)
    return admm.solve(problem, screening=method == "screening", **options)


def _timed(problem, method: str, args) -> dict:
    """The fastest of ``--repeats`` solves (the same iterations but for the polish, whose time
    budget is a share of the elapsed time), certified on all patterns."""
    from convexnn import certify

    elapsed = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        solution = _solve(problem, method, args)
        elapsed.append(time.perf_counter() - start)
    gap = certify(solution).relative_gap
    return {"method": method, "time": min(elapsed), "times": elapsed,
            "iterations": solution.iterations,
            "certified_gap": gap, "reached": bool(gap <= args.tol)}


def _oracle_row(label: str, problem) -> dict:
    from convexnn.oracle import exact_oracle
    from convexnn.solvers import admm
    from convexnn.solvers._screening import screen

    loose = admm.solve(problem, tol=1e-4, screening=False)
    start = time.perf_counter()
    everything = exact_oracle(problem.X, loose.dual, problem.patterns)
    all_time = time.perf_counter() - start
    start = time.perf_counter()
    keep = screen(problem, loose.dual, loose.objective).kept_patterns
    screen_time = time.perf_counter() - start
    start = time.perf_counter()
    kept = exact_oracle(problem.X, loose.dual, problem.patterns.subset(keep))
    kept_time = time.perf_counter() - start
    return {"problem": label, "patterns": problem.shape[2], "kept": keep.size,
            "all_time": 1e3 * all_time, "all_priced": everything.n_directions,
            "screen_time": 1e3 * screen_time, "kept_time": 1e3 * kept_time,
            "kept_priced": kept.n_directions,
            "same": bool(np.allclose(everything.values, kept.values, rtol=1e-9, atol=0))}


def run(name: str, args) -> tuple[list[dict], dict | None]:
    problem = _problem(*SETTINGS[name])
    label = f"{name} (P={problem.shape[2]})"
    print(f"== {label}", flush=True)
    rows = [{"problem": label, **_timed(problem, method, args)}
            for method in ("plain", "screening", "restart, nothing screened")]
    for row in rows:
        row["vs_plain"] = common.ratio(rows[0]["time"], row["time"])
    common.print_table(f"ADMM to {args.tol:g}, {name}", rows, ADMM_COLUMNS)
    return rows, None if not problem.patterns.exact else _oracle_row(label, problem)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--time-limit", type=float, default=60.0, help="per solve, seconds")
    parser.add_argument("--repeats", type=int, default=2, help="solves per method (fastest kept)")
    args = common.parse_arguments(parser, argv)
    admm_rows, oracle_rows = [], []
    for name in args.problems:
        rows, oracle = run(name, args)
        admm_rows += rows
        oracle_rows += [] if oracle is None else [oracle]
    tables = [common.print_table(f"ADMM to certified gap {args.tol:g} (fastest of "
                                 f"{args.repeats}, {args.time_limit:g} s per solve)", admm_rows,
                                 ADMM_COLUMNS),
              common.print_table("exact oracle at the dual of a solve to 1e-4", oracle_rows,
                                 ORACLE_COLUMNS)]
    suffix = common.dataset_suffix(args.problems, SETTINGS)
    common.write_json("bench_screening" + suffix,
                      {"arguments": vars(args), "admm": admm_rows, "oracle": oracle_rows,
                       "tables": tables})


if __name__ == "__main__":
    main()
