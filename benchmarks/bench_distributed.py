"""Time per iteration of data-parallel solves vs the number of processes, and bytes all-reduced.

One synthetic program (Gaussian features, targets of a random teacher ReLU network) is solved
for a fixed number of iterations (``tol`` out of reach) by ``convexnn.distributed.solve`` with
1, 2, ... gloo processes on this machine, each process single-threaded, plus the plain
single-process solver as the baseline. The time per iteration is the slope of the solver's own
history (set-up such as ADMM's Gram matrix excluded, as in ``bench_scaling.py``); the traffic is
what each process's sharding counted: all-reduced bytes per iteration (the ``d x Q x k``
products, loss values...) and all-gathered bytes (the cone projections' active rows). Next to
it, the model of the README's "Distributed solves" section: ``predicted`` all-reduce bytes per
iteration. Writes ``results/bench_distributed.json``.

    python benchmarks/bench_distributed.py
    python benchmarks/bench_distributed.py --n 20000 --workers 1 2 --iterations 60
"""

from __future__ import annotations

import argparse
import os
import pickle
import socket
import tempfile
import time

import _common as common
from bench_scaling import per_iteration, synthetic

#: iterations of the short run whose traffic is subtracted (one certificate check interval)
SHORT = 10
#: (label, solver, gated, all-reduces of d x Q x k per iteration in the model)
SERIES = [
    ("fista (gated)", "fista", True, 1),
    ("admm (exact)", "admm", False, 4),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _problem(args, gated: bool):
    from convexnn.problem import ConvexProblem

    X, y = synthetic(args.n, args.d, args.seed)
    return ConvexProblem.build(X, y, beta=args.beta, patterns="sampled",
                               n_patterns=args.patterns, seed=args.seed, gated=gated)


def _worker(rank: int, world: int, port: int, args, solver: str, gated: bool, out: str):
    import torch
    import torch.distributed as dist

    from convexnn import distributed

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    traffic = []
    try:
        # a short run and the full one: their difference in traffic is the per-iteration part
        # (set-up such as ADMM's Gram matrix or FISTA's power iteration cancels)
        for max_iter in (SHORT, args.iterations):
            block = distributed.shard_problem(_problem(args, gated))
            start = time.perf_counter()
            solution = distributed.solve(block, solver, tol=1e-14, max_iter=max_iter)
            wall = time.perf_counter() - start
            traffic.append((solution.iterations, block.sharding.traffic))
    finally:
        dist.destroy_process_group()
    if rank == 0:
        per_iter, setup = per_iteration(solution)
        (short_its, short), (full_its, full) = traffic
        its = max(full_its - short_its, 1)
        with open(out, "wb") as f:
            pickle.dump({"per_iter": per_iter, "setup": setup, "wall": wall,
                         "iterations": solution.iterations, "objective": solution.objective,
                         **{f"{key}_per_iter": (getattr(full, key) - getattr(short, key)) / its
                            for key in ("all_reduce_bytes", "all_reduce_calls",
                                        "all_gather_bytes", "all_gather_calls")},
                         "setup_all_reduce_bytes": short.all_reduce_bytes
                         - short_its * (full.all_reduce_bytes - short.all_reduce_bytes) / its},
                        f)


def run_workers(args, solver: str, gated: bool, world: int) -> dict:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pkl")
        # fork: the workers inherit the imports (spawning re-imports torch in each)
        mp.start_processes(_worker, args=(world, _free_port(), args, solver, gated, out),
                           nprocs=world, start_method="fork")
        with open(out, "rb") as f:
            return pickle.load(f)


def run_plain(args, solver: str, gated: bool) -> dict:
    import inspect

    import torch

    from convexnn.solvers import admm, solve

    torch.set_num_threads(1)
    options = {}
    if solver == "admm" and "anderson" in inspect.signature(admm.solve).parameters:
        options["anderson"] = 0  # as in the distributed solve
    start = time.perf_counter()
    solution = solve(_problem(args, gated), solver, tol=1e-14, max_iter=args.iterations,
                     **options)
    per_iter, setup = per_iteration(solution)
    return {"per_iter": per_iter, "setup": setup, "wall": time.perf_counter() - start,
            "iterations": solution.iterations, "objective": solution.objective}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000, help="samples")
    parser.add_argument("--d", type=int, default=20, help="features (a bias is appended)")
    parser.add_argument("--patterns", type=int, default=50, help="sampled patterns")
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--solvers", nargs="+", default=["fista", "admm"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rows = []
    for label, solver, gated, products in SERIES:
        if solver not in args.solvers:
            continue
        n, d, P, k = _problem(args, gated).shape
        Q = P if gated else 2 * P
        predicted = products * d * Q * k * 8
        runs = [("plain", 1, run_plain(args, solver, gated))]
        runs += [("distributed", w, run_workers(args, solver, gated, w)) for w in args.workers]
        base = runs[0][2]["per_iter"]
        for mode, world, result in runs:
            row = {"series": label, "mode": mode, "workers": world, "n": n, "d": d,
                   "Q": Q, "k": k, **result, "speedup": base / result["per_iter"]}
            if mode == "distributed":
                row["predicted_reduce"] = predicted
            rows.append(row)
            print(f"  {label:14s} {mode:11s} w={world}: {1e3 * result['per_iter']:.2f} ms/iter",
                  flush=True)
    columns = [("series", "solver"), ("mode", "mode"), ("workers", "processes"),
               ("per_iter", "s / iteration"), ("speedup", "vs plain"),
               ("all_reduce_bytes_per_iter", "all-reduce B / it"),
               ("predicted_reduce", "model B / it"),
               ("all_reduce_calls_per_iter", "all-reduces / it"),
               ("all_gather_bytes_per_iter", "all-gather B / it"),
               ("all_gather_calls_per_iter", "all-gathers / it"),
               ("setup_all_reduce_bytes", "set-up all-reduce B"), ("setup", "set-up (s)")]
    table = common.print_table(
        f"time per iteration vs processes (n={args.n}, d={args.d}+1, {args.patterns} sampled "
        f"patterns, {os.cpu_count()} cores, load {common.LOAD_AT_START[0]:.1f})", rows, columns)
    common.write_json("bench_distributed", {"arguments": vars(args), "rows": rows,
                                            "table": table})


if __name__ == "__main__":
    main()
