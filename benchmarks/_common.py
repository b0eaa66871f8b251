"""Shared helpers of the benchmark scripts: data, problems, timed runs, tables, JSON.

Every script prints its table(s) and writes ``benchmarks/results/<name>.json``. A run that fails
(a solver that raises, or does not finish in its time limit) becomes a row with its error or
``"did not finish in X s"``, never a crashed script.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
#: 1/5/15-minute load averages when the script started (the machine may be shared)
LOAD_AT_START = os.getloadavg()

__all__ = [
    "Dataset",
    "RESULTS",
    "available_solvers",
    "build_problem",
    "common_arguments",
    "dataset_suffix",
    "environment",
    "evaluate_point",
    "fmt",
    "load_dataset",
    "parse_arguments",
    "peak_rss_gb",
    "print_table",
    "ratio",
    "run_conic",
    "run_ours",
    "save_figure",
    "set_threads",
    "write_json",
]


# ------------------------------------------------------------------------------------------ data
@dataclass
class Dataset:
    """Training (and optional test) data; ``Y`` are the squared-loss targets of the program."""

    name: str
    X: np.ndarray
    y: np.ndarray
    Y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    n_classes: int = 2

    def accuracy(self, scores: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of outputs ``scores`` (n, k): sign for one output, argmax otherwise."""
        scores = np.asarray(scores).reshape(len(y), -1)
        if scores.shape[1] == 1:
            predicted = (scores[:, 0] > 0).astype(int)
        else:
            predicted = scores.argmax(1)
        return float(np.mean(predicted == y))


def _targets(y: np.ndarray, n_classes: int) -> np.ndarray:
    """+-1 column for two classes, one-hot columns otherwise (squared-loss classification)."""
    if n_classes == 2:
        return np.where(y == 1, 1.0, -1.0)[:, None]
    return np.eye(n_classes)[y]


def _standardize(X: np.ndarray, X_test: np.ndarray | None = None, per_feature: bool = True):
    """Center by the training mean; scale by each feature's std (or one global std: images)."""
    mean = X.mean(0)
    std = X.std(0) if per_feature else np.full(X.shape[1], (X - mean).std())
    std[std == 0] = 1.0
    return (X - mean) / std, None if X_test is None else (X_test - mean) / std


def load_dataset(name: str, *, n: int | None = None, seed: int = 0) -> Dataset:
    """Standardized features (train statistics; one global scale for the images) and targets.

    ``breast_cancer`` (569 x 30, 2 classes, +-1 targets) and ``digits`` (1797 x 64, 10 classes,
    one-hot) are used whole, as training sets; ``fashion_mnist`` (60000 x 784, 10 classes) keeps
    its test set and can be subsampled to ``n`` training rows (stratified by a seeded shuffle).
    """
    from convexnn.datasets import load_fashion_mnist, load_sklearn

    if name in ("breast_cancer", "digits"):
        X, y = load_sklearn(name)
        X_test = y_test = None
    elif name == "fashion_mnist":
        X, y = load_fashion_mnist("train")
        X_test, y_test = load_fashion_mnist("test")
    else:
        raise ValueError(f"unknown data set {name!r}")
    y = np.asarray(y, dtype=int)
    if n is not None and n < len(y):
        order = np.random.default_rng(seed).permutation(len(y))[:n]
        X, y = X[order], y[order]
    X, X_test = _standardize(np.asarray(X, dtype=np.float64),
                             None if X_test is None else np.asarray(X_test, dtype=np.float64),
                             per_feature=name != "fashion_mnist")
    n_classes = int(y.max()) + 1
    return Dataset(name, X, y, _targets(y, n_classes), X_test,
                   None if y_test is None else np.asarray(y_test, dtype=int), n_classes)


def build_problem(data: Dataset, *, beta: float, n_patterns: int, seed: int = 0,
                  gated: bool = False):
    """Program (8) (or its gated relaxation) with a bias and ``n_patterns`` sampled patterns."""
    from convexnn.problem import ConvexProblem

    return ConvexProblem.build(data.X, data.Y, loss="squared", beta=beta, bias=True,
                               patterns="sampled", n_patterns=n_patterns, seed=seed, gated=gated)


# ------------------------------------------------------------------------------------- solvers
def available_solvers() -> dict[str, str]:
    """Solver name -> ``"ok"`` or why it cannot be imported (solvers are written concurrently)."""
    from importlib import import_module

    from convexnn.solvers import SOLVERS

    status = {}
    for name, module in SOLVERS.items():
        try:
            import_module(f"convexnn.solvers.{module}")
            status[name] = "ok"
        except Exception as exc:  # noqa: BLE001 -- report any import failure
            status[name] = f"{type(exc).__name__}: {exc}"
    return status


def evaluate_point(problem, V, W=None, *, dual=None, reference: float | None = None,
                   certify_gap: bool = True) -> dict:
    """Our objective, cone violation and certified relative gap at ``(V, W)``.

    For program (8) also the objective (2) of the ReLU network recovered by Theorem 1: equal to
    the convex objective at a point that satisfies the cones, and the honest value of an
    infeasible point (what its user would get). ``dual``: the method's own dual point, tried
    by the certificate besides the loss gradient at ``(V, W)`` (both re-checked, not trusted).
    """
    from convexnn.certificates import certify
    from convexnn.solution import ConvexSolution

    objective = problem.objective(V, W)
    row = {"objective": objective}
    if reference is not None:
        row["rel_diff"] = (objective - reference) / abs(reference)
    if W is not None:  # the ReLU network of Theorem 1 (differs where the cones are violated)
        from convexnn.network import TwoLayerReLU

        network = TwoLayerReLU.from_convex(ConvexSolution(problem, V, W, objective), rtol=0.0)
        X = problem.X[:, :-1] if problem.bias else problem.X
        row["network_objective"] = network.objective(X, problem.Y, loss=problem.loss,
                                                     beta=problem.beta)
        if reference is not None:
            row["network_rel_diff"] = (row["network_objective"] - reference) / abs(reference)
    if certify_gap:
        start = time.perf_counter()
        cert = certify(ConvexSolution(problem, V, W, objective, dual=dual))
        row.update(certified_gap=cert.relative_gap, lower_bound=cert.lower_bound,
                   cone_violation=cert.cone_violation,
                   certify_time=time.perf_counter() - start)
    return row


def run_ours(problem, solver: str, *, tol: float, time_limit: float, max_iter: int = 100_000,
             reference: float | None = None, keep_solution: bool = False,
             certify_gap: bool = True, **options) -> dict:
    """Solve with one of our solvers, then certify the result independently.

    ``time`` is the wall clock of ``solve`` (set-up included); the certificate is computed
    afterwards and not timed. Errors become the row's ``error``.
    """
    from convexnn.solvers import solve

    row = {"solver": solver, "tol": tol, "time_limit": time_limit}
    start = time.perf_counter()
    try:
        solution = solve(problem, solver=solver, tol=tol, max_iter=max_iter,
                         time_limit=time_limit, **options)
    except Exception as exc:  # noqa: BLE001 -- a solver under construction may raise anything
        row.update(error=f"{type(exc).__name__}: {exc}", time=time.perf_counter() - start,
                   traceback=traceback.format_exc(limit=4))
        return row
    row.update(time=time.perf_counter() - start, solver_time=solution.time,
               status=solution.status, iterations=solution.iterations,
               active_groups=solution.n_active_groups(1e-6))
    try:
        row.update(evaluate_point(problem, solution.V, solution.W, dual=solution.dual,
                                  reference=reference, certify_gap=certify_gap))
    except Exception as exc:  # noqa: BLE001
        row["error"] = f"certify failed: {type(exc).__name__}: {exc}"
    if keep_solution:
        row["_solution"] = solution
    return row


def _conic_child(problem, options, conn):
    from convexnn.solvers import solve

    try:
        start = time.perf_counter()
        solution = solve(problem, solver="conic", **options)
        conn.send({"time": time.perf_counter() - start, "solver_time": solution.time,
                   "status": solution.status, "iterations": solution.iterations,
                   "V": solution.V, "W": solution.W, "dual": solution.dual,
                   "peak_rss_gb": peak_rss_gb()})
    except Exception as exc:  # noqa: BLE001
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    conn.close()


def run_in_child(target, args: tuple, *, time_limit: float, memory_gb: float,
                 grace: float = 30.0):
    """``target(*args, conn)`` in a spawned child process capped at ``memory_gb`` of address
    space, waited for up to ``time_limit + grace`` seconds (then killed).

    Returns ``(result, elapsed, reason)``: what the child sent on ``conn`` (None if nothing),
    the wall time, and when nothing came, why (out of time, or died: Clarabel aborts when an
    allocation fails).
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_limited_child, args=(target, args, sender, memory_gb))
    start = time.perf_counter()
    child.start()
    sender.close()
    result = None
    if receiver.poll(time_limit + grace):
        try:
            result = receiver.recv()
        except EOFError:
            result = None
    elapsed = time.perf_counter() - start
    if child.is_alive():
        child.kill()
    child.join()
    reason = None
    if result is None:
        reason = (f"did not finish in {time_limit:.0f} s" if elapsed >= time_limit
                  else f"child process died (exit code {child.exitcode}; memory cap "
                       f"{memory_gb:g} GB)")
    return result, elapsed, reason


def _limited_child(target, args, conn, memory_gb):
    limit = int(memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    target(*args, conn)


def run_conic(problem, *, tol: float = 1e-6, time_limit: float = 180.0,
              memory_gb: float = 16.0) -> dict:
    """CVXPY + Clarabel to relative gap ``tol``, in a child process killed at ``time_limit``.

    A child process, because the canonicalization alone of a large program can outlast any
    solver time limit or exhaust memory; it is capped at ``memory_gb`` of address space.
    """
    options = {"tol_gap_rel": tol, "tol_gap_abs": 1e-9, "tol_feas": 1e-8,
               "time_limit": time_limit}
    row = {"solver": "conic (CVXPY+Clarabel)", "tol": tol, "time_limit": time_limit}
    result, elapsed, reason = run_in_child(_conic_child, (problem, options),
                                           time_limit=time_limit, memory_gb=memory_gb)
    if result is None:
        row.update(time=elapsed, status=reason, error=reason)
        return row
    if "error" in result:
        row.update(time=elapsed, error=result["error"])
        return row
    row.update({key: result[key] for key in ("time", "solver_time", "status", "iterations",
                                             "peak_rss_gb")})
    row["_V"], row["_W"], row["_dual"] = result["V"], result["W"], result["dual"]
    return row


# ------------------------------------------------------------------------------------- output
def common_arguments(parser) -> None:
    """``--threads``: CPU threads of torch and of NumPy's BLAS (pyscnn), for every library."""
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch and BLAS (default: the libraries' own); on a "
                             "machine shared with other jobs, 1 avoids oversubscription")


def parse_arguments(parser, argv=None):
    """Add ``--threads`` (:func:`common_arguments`), parse ``argv`` and apply the thread limit."""
    common_arguments(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    return args


def dataset_suffix(datasets: list[str], settings: dict) -> str:
    """Output-file suffix: empty for the script's default data sets, else ``_name_name``."""
    return "" if datasets == list(settings) else "_" + "_".join(datasets)


def save_figure(fig, path: Path) -> None:
    """Lay out, write (120 dpi) and close a matplotlib figure, and say where it went."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


_THREAD_LIMITS: list = []


def set_threads(threads: int | None) -> None:
    """Limit torch and BLAS/OpenMP thread pools (process-wide) to ``threads``."""
    if threads is None:
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    _THREAD_LIMITS.append(threadpool_limits(threads))  # kept: the limit lasts while referenced


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def environment() -> dict:
    import torch

    versions = {}
    for module in ("numpy", "scipy", "torch", "cvxpy", "clarabel", "sklearn"):
        try:
            versions[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            versions[module] = None
    try:
        from importlib.metadata import version

        versions["pyscnn"] = version("pyscnn")
    except Exception:  # noqa: BLE001
        versions["pyscnn"] = None
    import hashlib

    import convexnn

    root = Path(convexnn.__file__).parent
    # the solvers' files by name (as before the cone kernels moved), the kernels as cones/name
    files = [(path.name, path) for path in sorted((root / "solvers").glob("*.py"))]
    files += [(f"cones/{path.name}", path) for path in sorted((root / "cones").glob("*.py"))]
    digests = [f"{name}:{hashlib.sha1(path.read_bytes()).hexdigest()[:10]}"
               for name, path in files]
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "solver_sources_sha1": digests,
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "versions": versions, "argv": sys.argv, "loadavg_at_start": LOAD_AT_START,
            "loadavg_at_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def fmt(value, digits: int = 3) -> str:
    """Compact text for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"
        if 1e-3 <= abs(value) < 1e4:
            return f"{value:.{digits}g}"
        return f"{value:.{max(digits - 1, 1)}e}"
    return str(value)


def ratio(slow, fast) -> str:
    """``"30x"``-style ratio of two times, or ``-``."""
    if slow is None or fast is None or fast <= 0:
        return "-"
    return f"{slow / fast:.3g}x"


def print_table(title: str, rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Print and return a Markdown table; ``columns`` are ``(key, header)`` pairs."""
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [f"### {title}", "", header, rule]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |")
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(name: str, payload: dict) -> Path:
    """Write ``results/<name>.json`` (keys starting with ``_`` are dropped: arrays, objects)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(_jsonable({"environment": environment(), **payload}), indent=2))
    print(f"wrote {path}")
    return path
