"""Time of a certificate (:func:`convexnn.certify`) of program (8) with sampled patterns.

The point certified is a solve by ADMM (not timed): breast_cancer (beta 1e-3, bias) with 200
sampled patterns to a certified 1e-3, and digits (1,797 x 64, one-hot squared-loss targets,
beta 1e-4, bias) with 100 sampled patterns to 1e-2, only to get a point. The certificate checks
every dual candidate's constraint ``max_{v in K_i, ||v|| <= 1} <g, v>`` on the groups whose
norm can beat the running maximum (:func:`convexnn.certificates.dual_constraint_max`); next to
it, in the same process, the same maximum by a loop of SciPy NNLS calls, one group at a time
(:func:`convexnn._duality.cone_maximum`, the reference), whose ratio holds on a loaded machine.

    python benchmarks/bench_certificates.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import _common as common
import numpy as np

#: name -> (data set, sampled patterns, beta, ADMM tol)
SETTINGS = {
    "breast_cancer": ("breast_cancer", 200, 1e-3, 1e-3),
    "digits": ("digits", 100, 1e-4, 1e-2),
}
COLUMNS = [("problem", "problem"), ("groups", "groups (2 P k)"), ("certify", "certify (s)"),
           ("constraint", "dual_constraint_max (s)"), ("nnls_loop", "NNLS loop (s)"),
           ("nnls_calls", "NNLS calls"), ("speedup", "loop / batched"),
           ("relative_difference", "max rel. diff."), ("gap", "relative gap")]


def _nnls_loop(problem, Lam: np.ndarray) -> tuple[float, int]:
    """The dual constraint one group at a time by SciPy NNLS, pruned by the norms (the
    reference); returns the maximum and the NNLS calls."""
    import torch

    from convexnn._duality import cone_maximum

    ops = problem.operators()
    G = ops.correlations(torch.as_tensor(Lam, dtype=ops.dtype)).numpy()
    norms = np.linalg.norm(G, axis=0)
    best, calls = 0.0, 0
    for flat in np.argsort(norms, axis=None)[::-1]:
        i, c = np.unravel_index(flat, norms.shape)
        if norms[i, c] <= best:
            break
        B = problem.X.T * np.where(problem.patterns.D[:, i], 1.0, -1.0)
        best = max(best, cone_maximum(G[:, i, c], B)[0], cone_maximum(-G[:, i, c], B)[0])
        calls += 2
    return best, calls


def _best_of(function, repeats: int):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def run(name: str, repeats: int) -> dict:
    import torch

    from convexnn import certify, solve
    from convexnn.certificates import dual_constraint_max

    data_name, n_patterns, beta, tol = SETTINGS[name]
    problem = common.build_problem(common.load_dataset(data_name), beta=beta,
                                   n_patterns=n_patterns, seed=0)
    start = time.perf_counter()
    solution = solve(problem, solver="admm", tol=tol)
    solve_time = time.perf_counter() - start
    certify(solution)  # compiled code loaded
    certify_time, certificate = _best_of(lambda: certify(solution), repeats)
    ops = problem.operators()
    Z = ops.predict(torch.as_tensor(solution.V) - torch.as_tensor(solution.W))
    Lam = problem.loss.into_domain(ops.loss_gradient(Z), ops.Y, ops.weights).numpy()
    constraint_time, batched = _best_of(lambda: dual_constraint_max(problem, Lam), repeats)
    loop_time, (reference, calls) = _best_of(lambda: _nnls_loop(problem, Lam), repeats)
    return {"problem": f"{name}, {n_patterns} patterns", "groups": 2 * ops.P * ops.k,
            "solve": solve_time, "certify": certify_time, "constraint": constraint_time,
            "nnls_loop": loop_time, "nnls_calls": calls,
            "speedup": loop_time / constraint_time,
            "relative_difference": abs(batched - reference) / max(reference, 1e-300),
            "gap": certificate.relative_gap}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=3, help="timings kept: the best of these")
    args = common.parse_arguments(parser, argv)
    rows = [run(name, args.repeats) for name in args.datasets]
    common.print_table("Certificate time (the point's solve not counted)", rows, COLUMNS)
    common.write_json("bench_certificates" + common.dataset_suffix(args.datasets, SETTINGS),
                      {"rows": rows})


if __name__ == "__main__":
    main()
