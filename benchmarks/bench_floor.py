"""Time per iteration of our solvers against the floor of the linear algebra they must do.

For each data set's program (shape ``n, d, P, k``; on ``--device`` in ``--dtype``):

* **gated relaxation**: the two-matmul floor, one bare ``(n x d) @ (d x Pk)`` product and one
  bare ``(d x n) @ (n x Pk)`` product (the least an iteration of a first-order method computes);
  the library's masked products (``predict`` and ``adjoint`` of ``problem.Operators``);
  FISTA's measured time per iteration (the slope of its certificate history);
* **program (8)**: ADMM's time per iteration over its first ``--admm-iterations`` iterations
  (set-up included), and the kernels of ONE batched Lawson-Hanson step of its cone projections
  at the active-set size ``m`` reached there (the median number of tight cone constraints of
  the nonzero groups of ADMM's exactly projected point): the margins product of all groups, the
  gathering of each group's ``m`` passive rows, their ``m x m`` Gram matrices, the Cholesky
  factors and two triangular solves. A truncated projection (between ADMM's certificate
  checks) solves the warm start's least squares and takes ``CHEAP_STEPS`` more steps, each
  with these kernels, so while those groups are projected one step's sum is less than what an
  ADMM iteration costs with this projection method.

Kernel times are medians of ``--reps`` runs (synchronized on CUDA). Writes
``results/bench_floor.json`` (``bench_floor_<sets>.json`` for other data sets).

    python benchmarks/bench_floor.py --threads 1
    python benchmarks/bench_floor.py --datasets fashion_mnist --n 10000 --skip-admm --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common as common
import numpy as np
from bench_scaling import per_iteration

SETTINGS = {"breast_cancer": 1e-3, "digits": 1e-4, "fashion_mnist": 1e-4}
DEFAULT = ["breast_cancer", "digits"]
COLUMNS = [("quantity", "quantity"), ("time", "time (ms)"), ("vs_floor", "/ its floor")]


def _median_time(fn, reps: int, device) -> float:
    import torch

    fn()  # warm-up (allocations, kernels)
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(quantity: str, seconds: float, floor: float) -> dict:
    return {"quantity": quantity, "time": 1e3 * seconds, "vs_floor": seconds / floor}


def _products(problem, args) -> list[dict]:
    """The gated relaxation: the two-matmul floor, the library's products, FISTA."""
    import torch

    from convexnn.solvers import solve

    lifted = problem.operators(args.device, args._dtype)
    device, dtype = lifted.X.device, lifted.X.dtype
    generator = torch.Generator(device=device).manual_seed(args.seed)
    U = torch.randn(lifted.d, lifted.Q, problem.shape[3], generator=generator, device=device,
                    dtype=dtype)
    Z = torch.randn(lifted.n, problem.shape[3], generator=generator, device=device, dtype=dtype)
    flat, M = U.reshape(lifted.d, -1), torch.randn(lifted.n, U[0].numel(), device=device,
                                                  dtype=dtype, generator=generator)
    floor = _median_time(lambda: (lifted.X @ flat, lifted.X.T @ M), args.reps, device)
    masked = _median_time(lambda: (lifted.predict(U), lifted.adjoint(Z)), args.reps, device)
    solution = solve(problem, solver="fista", tol=1e-12, max_iter=args.fista_iterations,
                     device=args.device, dtype=args._dtype)
    fista, _ = per_iteration(solution)
    return [_row("gated: two bare matmuls (the floor)", floor, floor),
            _row("gated: the library's masked predict + adjoint", masked, floor),
            _row(f"gated: FISTA per iteration ({solution.iterations} its)", fista, floor)]


def _projection_step(problem, args) -> tuple[list[dict], dict]:
    """Program (8): ADMM per iteration and the kernels of one Lawson-Hanson step at its ``m``."""
    import torch

    from convexnn.solvers import solve

    start = time.perf_counter()
    solution = solve(problem, solver="admm", tol=1e-12, max_iter=args.admm_iterations,
                     device=args.device, dtype=args._dtype)
    admm = (time.perf_counter() - start) / solution.iterations
    ops = problem.operators(args.device, args._dtype)
    X, S = ops.X, ops.S  # (n, d), (n, P)
    n, d = X.shape
    # tight constraints of the nonzero groups of the (exactly projected) point: the active sets
    sizes = []
    for part in (solution.V, solution.W):
        weights = torch.as_tensor(part, device=X.device, dtype=X.dtype)  # (d, P, k)
        margins = S[:, :, None] * (X @ weights.reshape(d, -1)).reshape(n, *weights.shape[1:])
        scale = torch.linalg.vector_norm(weights, dim=0) * float(torch.linalg.vector_norm(
            X, dim=1).max())
        tight = (margins.abs() <= 1e-9 * scale).sum(dim=0)
        sizes.append(tight[scale > 0])
    sizes = torch.cat(sizes)
    groups = int(sizes.numel())
    if groups == 0:
        print(f"  no nonzero group after {solution.iterations} ADMM iterations: no active sets "
              "to size the step by (raise --admm-iterations)", flush=True)
        return [], {"groups": 0, "admm_per_iteration": admm}
    m = max(int(sizes.median()), 1)
    generator = torch.Generator(device=X.device).manual_seed(args.seed)
    V = torch.randn(d, groups, device=X.device, dtype=X.dtype, generator=generator)
    order = torch.randint(0, n, (groups, m), device=X.device, generator=generator)
    rows = torch.index_select(X, 0, order.reshape(-1)).reshape(groups, m, d)
    gram = rows @ rows.mT + torch.eye(m, device=X.device, dtype=X.dtype)
    factor = torch.linalg.cholesky(gram)
    rhs = torch.randn(groups, m, 1, device=X.device, dtype=X.dtype, generator=generator)
    kernels = {
        "margins of all groups (n x d @ d x groups)": lambda: X @ V,
        f"gather {m} passive rows per group": lambda: torch.index_select(
            X, 0, order.reshape(-1)),
        f"{m} x {m} Gram matrices": lambda: rows @ rows.mT,
        "their Cholesky factors": lambda: torch.linalg.cholesky(gram),
        "two triangular solves": lambda: torch.linalg.solve_triangular(
            factor.mT, torch.linalg.solve_triangular(factor, rhs, upper=False), upper=True),
    }
    times = {name: _median_time(fn, args.reps, X.device) for name, fn in kernels.items()}
    step = sum(times.values())
    rows_out = [_row(f"(8): {name}", seconds, step) for name, seconds in times.items()]
    rows_out += [_row(f"(8): one Lawson-Hanson step ({groups} groups, m = {m})", step, step),
                 _row(f"(8): ADMM per iteration ({solution.iterations} its, set-up incl.)",
                      admm, step)]
    info = {"groups": groups, "m": m, "admm_per_iteration": admm, "lh_step": step,
            "m_quartiles": np.percentile(sizes.cpu().numpy(), [25, 50, 75]).tolist()}
    return rows_out, info


def run_dataset(name: str, args) -> dict:
    data = common.load_dataset(name, n=args.n, seed=args.seed)
    beta = SETTINGS[name]
    gated = common.build_problem(data, beta=beta, n_patterns=args.patterns, seed=args.seed,
                                 gated=True)
    n, d, P, k = gated.shape
    print(f"== {name}: n={n}, d={d}, P={P}, k={k}, beta={beta:g}, {args.device} {args.dtype}",
          flush=True)
    rows, info = _products(gated, args), {}
    if not args.skip_admm:
        exact = common.build_problem(data, beta=beta, n_patterns=args.patterns, seed=args.seed)
        step_rows, info = _projection_step(exact, args)
        rows += step_rows
    title = f"{name} (n={n}, d={d}, P={P}, k={k}) on {args.device}, {args.dtype}"
    table = common.print_table(title, rows, COLUMNS)
    return {"dataset": name, "shape": [n, d, P, k], "beta": beta, "rows": rows, **info,
            "table": table}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DEFAULT, choices=list(SETTINGS))
    parser.add_argument("--n", type=int, default=None, help="subsample to n training rows")
    parser.add_argument("--patterns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--fista-iterations", type=int, default=100)
    parser.add_argument("--admm-iterations", type=int, default=60)
    parser.add_argument("--skip-admm", action="store_true", help="gated relaxation only")
    args = common.parse_arguments(parser, argv)
    import torch

    args._dtype = getattr(torch, args.dtype)  # keys starting with "_" stay out of the JSON
    results = [run_dataset(name, args) for name in args.datasets]
    suffix = "" if args.datasets == DEFAULT else "_" + "_".join(args.datasets)
    common.write_json("bench_floor" + suffix, {"arguments": vars(args), "results": results})


if __name__ == "__main__":
    main()
