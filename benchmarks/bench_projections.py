"""Cone projections: the batched torch projector against the compiled one, side by side.

Both run in the same process on the same inputs, so the ratios hold on a loaded machine even
when the absolute times do not.

* **calls**: ADMM (torch projector) runs ``--record-iterations`` iterations of program (8) and
  the points its cone prox projects are recorded; each projector (a fresh one) then replays
  that sequence twice, as ADMM calls it (groups inside their cone get zero multipliers, the
  others are projected, warm started from the previous call): once truncated to
  ``CHEAP_STEPS`` Lawson-Hanson steps, once exact. The table gives the median time of a call
  after the first ``--skip`` (cold) calls, and the largest relative difference of the two
  projectors' exact results. Data: breast_cancer (398 x 31 with the bias, 100 patterns: 200
  groups) and digits (1797 x 65, one-hot, 85 patterns: 1,700 groups).
* **solve**: a full ADMM solve of program (8) on breast_cancer (398 rows, 100 sampled patterns,
  beta 1e-3, squared loss, +-1 targets) to ``--tol`` with each projector.

Writes ``results/bench_projections.json``.

    python benchmarks/bench_projections.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common as common

#: name -> (rows, patterns, beta)
SETTINGS = {"breast_cancer": (398, 100, 1e-3), "digits": (None, 85, 1e-4)}
KINDS = ("torch", "numba")
COLUMNS = [("dataset", "data"), ("mode", "call"), ("groups", "groups"),
           ("torch", "torch (ms)"), ("numba", "numba (ms)"), ("ratio", "torch / numba"),
           ("difference", "max rel. diff")]


def _projector(kind: str, lifted):
    from convexnn.cones import CompiledConeProjector, ConeProjector

    cls = ConeProjector if kind == "torch" else CompiledConeProjector
    return cls(lifted.X, lifted.sign, lifted.ops.k)


class _Recorder:
    """A projector that records the points it is called at (``points``, a list)."""

    def __init__(self, projector, points: list):
        self.projector, self.points = projector, points
        self.signs, self.multipliers = projector.signs, projector.multipliers

    def __call__(self, V0, columns, margins, steps=None):
        self.points.append(V0.clone())
        return self.projector(V0, columns, margins, steps)


def _record(problem, iterations: int):
    """The points ``V0`` (d, Q, k) that ADMM's cone prox projects, iteration after iteration."""
    from convexnn import _sharding
    from convexnn.cones import _projections
    from convexnn.solvers import solve

    points, original, made = [], _sharding.Sharding.cone_projector, []

    def recording(self, X, signs, k):
        made.append(original(self, X, signs, k))
        # only the first projector (the cone prox's; the float64 check's comes later)
        return _Recorder(made[0], points) if len(made) == 1 else made[-1]

    _sharding.Sharding.cone_projector, _projections.COMPILED = recording, False
    try:
        solve(problem, solver="admm", tol=1e-12, max_iter=iterations)
    finally:
        _sharding.Sharding.cone_projector, _projections.COMPILED = original, True
    return points


def _replay(projector, lifted, points, steps):
    """Times (s) of each call and the projected points, calls made as ADMM's cone prox does."""
    import torch

    times, results = [], []
    for V0 in points:
        margins = (lifted.sign[:, :, None] * lifted.preactivations(V0)).reshape(lifted.n, -1)
        inside = (margins >= 0).all(dim=0)
        start = time.perf_counter()
        projector.multipliers[:, inside] = 0
        out = projector(V0, torch.nonzero(~inside).squeeze(1), margins, steps)
        times.append(time.perf_counter() - start)
        results.append(out)
    return times, results


def _difference(first, second) -> float:
    import torch

    return max(float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(a).clamp_min(
        1e-300)) for a, b in zip(first, second, strict=True))


def calls(name: str, args) -> list[dict]:
    from convexnn.solvers.admm import CHEAP_STEPS

    n, patterns, beta = SETTINGS[name]
    data = common.load_dataset(name, n=n, seed=args.seed)
    problem = common.build_problem(data, beta=beta, n_patterns=patterns, seed=args.seed)
    lifted = problem.operators()
    points = _record(problem, args.record_iterations)
    rows = []
    for mode, steps in ((f"warm, {CHEAP_STEPS} steps", CHEAP_STEPS), ("warm, exact", None)):
        row = {"dataset": f"{name} {lifted.n}x{lifted.d}", "mode": mode,
               "groups": lifted.Q * lifted.ops.k}
        outputs = {}
        for kind in KINDS:
            _replay(_projector(kind, lifted), lifted, points[:2], steps)  # compiled code loaded
            times, outputs[kind] = _replay(_projector(kind, lifted), lifted, points, steps)
            row[kind] = 1e3 * statistics.median(times[args.skip:])
        row["ratio"] = common.ratio(row["torch"], row["numba"])
        row["difference"] = _difference(outputs["torch"], outputs["numba"]) if steps is None \
            else None
        print(f"  {row}", flush=True)
        rows.append(row)
    return rows


def solves(args) -> list[dict]:
    from convexnn.cones import _projections
    from convexnn.solvers import solve

    n, patterns, beta = SETTINGS["breast_cancer"]
    data = common.load_dataset("breast_cancer", n=n, seed=args.seed)
    problem = common.build_problem(data, beta=beta, n_patterns=patterns, seed=args.seed)
    solve(problem, solver="admm", tol=1e-2, max_iter=20)  # compiled code loaded
    rows = []
    for kind in KINDS:
        _projections.COMPILED = kind == "numba"
        try:
            start = time.perf_counter()
            solution = solve(problem, solver="admm", tol=args.tol, max_iter=100_000)
            seconds = time.perf_counter() - start
        finally:
            _projections.COMPILED = True
        rows.append({"projector": kind, "time": seconds, "iterations": solution.iterations,
                     "objective": solution.objective, "status": solution.status})
    rows.append({"projector": "torch / numba", "time": rows[0]["time"] / rows[1]["time"]})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--record-iterations", type=int, default=40)
    parser.add_argument("--skip", type=int, default=5, help="cold calls left out of the medians")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-solve", action="store_true")
    args = common.parse_arguments(parser, argv)
    rows = [row for name in args.datasets for row in calls(name, args)]
    tables = [common.print_table("One projection call (median over the replayed ADMM calls)",
                                 rows, COLUMNS)]
    solve_rows = [] if args.skip_solve else solves(args)
    if solve_rows:
        tables.append(common.print_table(
            f"ADMM on breast_cancer (398 rows, 100 patterns) to tol {args.tol:g}", solve_rows,
            [("projector", "projector"), ("time", "time (s)"), ("iterations", "iterations"),
             ("objective", "objective"), ("status", "status")]))
    suffix = common.dataset_suffix(args.datasets, SETTINGS)
    common.write_json("bench_projections" + suffix,
                      {"arguments": vars(args), "calls": rows, "solve": solve_rows,
                       "tables": tables})


if __name__ == "__main__":
    main()
