"""Where ADMM's iterations on digits' program (8) go: primal and dual error, supports and faces.

ADMM is deterministic: a run stopped by ``max_iter=K`` (at the same ``tol``, so with the same
schedule of checks) has made the first ``K`` iterations of the full run and ends with an exact
projection and a certificate check. One reference run to the tight ``--tol`` gives the optimum
``p*`` to within its certified gap and the final supports and faces; the runs stopped at ``K``
are its first ``K`` iterations. (A run to 1e-4 checks on another schedule, so its iterates
differ slightly; it certifies after about 390 iterations.) For each ``K`` the table shows:

* the primal error ``(objective - p*) / p*`` of the iterate (inside the cones) and the dual
  error ``(p* - bound) / p*`` of its certificate: the run stops when their sum is ``tol``, so a
  perfect dual certificate could not stop it before the primal error alone reaches ``tol``;
* the groups that are zero or nonzero as at the reference point, and the reference's nonzero
  groups that lie on the same face as there (the same cone rows with
  ``|x_j^T u| <= 1e-6 ||x_j|| ||u||``): a Newton polish on the faces
  (:mod:`convexnn.solvers._polish`) only pays once these have settled.

    python benchmarks/bench_tail.py --threads 2
"""

from __future__ import annotations

import argparse
import time

import _common as common
import numpy as np

COLUMNS = [("iterations", "iterations"), ("time", "time (s)"),
           ("primal_error", "primal rel. error"), ("dual_error", "dual rel. error"),
           ("gap", "certified rel. gap"), ("support", "groups, support as final"),
           ("faces", "nonzero groups on their final face"), ("rows_off", "face rows differing")]


def _faces(X: np.ndarray, solution) -> tuple[np.ndarray, np.ndarray]:
    """``(support, on_face)``: which groups (v groups, then w groups, of every output) are
    nonzero, and for each group the rows of its face by the polish's own rule (all False for a
    zero group)."""
    import torch

    from convexnn.solvers._polish import _face_rows

    U = np.concatenate([solution.V, solution.W], axis=1).reshape(X.shape[1], -1)
    norms = np.linalg.norm(U, axis=0)
    support = norms > 1e-9 * norms.max()
    on_face = _face_rows(torch.from_numpy(X), torch.from_numpy(U)).numpy() & support[None]
    return support, on_face


def main(argv=None) -> None:
    from convexnn.solvers import solve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tol", type=float, default=1e-6, help="target of every run")
    parser.add_argument("--iterations", type=int, nargs="+",
                        default=[100, 200, 300, 350, 400, 450, 500],
                        help="the K of the runs stopped by max_iter")
    parser.add_argument("--patterns", type=int, default=100)
    args = common.parse_arguments(parser, argv)

    data = common.load_dataset("digits")
    problem = common.build_problem(data, beta=1e-4, n_patterns=args.patterns, seed=0)
    X = np.asarray(problem.X)
    start = time.perf_counter()
    reference = solve(problem, "admm", tol=args.tol, time_limit=3600)
    seconds = time.perf_counter() - start
    optimum = reference.objective
    ref_support, ref_faces = _faces(X, reference)
    print(f"reference: {reference.status} after {reference.iterations} iterations, {seconds:.1f} s,"
          f" objective {optimum:.10g}, certified gap {reference.history['gap'][-1]:.2e}")

    rows = []
    for K in args.iterations:
        start = time.perf_counter()
        # the reference's tol: the same schedule of checks, so the same first K iterations
        solution = solve(problem, "admm", tol=args.tol, max_iter=K, time_limit=3600)
        seconds = time.perf_counter() - start
        gap = solution.history["gap"][-1]
        bound = solution.objective - gap * abs(solution.objective)
        support, faces = _faces(X, solution)
        both = support & ref_support
        differing = (faces != ref_faces)[:, both].sum(axis=0)
        rows.append({"iterations": solution.iterations, "time": seconds,
                     "primal_error": (solution.objective - optimum) / optimum,
                     "dual_error": (optimum - bound) / optimum, "gap": gap,
                     "support": f"{int((support == ref_support).sum())} of {support.size}",
                     "faces": f"{int((differing == 0).sum())} of {int(ref_support.sum())}",
                     "rows_off": int(differing.sum())})
        common.print_table(f"digits, program (8), {K} iterations", rows[-1:], COLUMNS)
    title = (f"digits program (8) (n={X.shape[0]}, P={args.patterns}, beta 1e-4): errors "
             f"against p* = {optimum:.10g} (certified to {reference.history['gap'][-1]:.1e})")
    common.print_table(title, rows, COLUMNS)
    common.write_json("bench_tail", {"reference": {"objective": optimum,
                                                   "iterations": reference.iterations,
                                                   "gap": reference.history["gap"][-1]},
                                     "rows": rows})


if __name__ == "__main__":
    main()
