"""Adapter to the peer library pyscnn (import name ``scnn``; benchmarks only, never a dependency).

Scaling facts, read from its source (scnn 0.0.10) and checked numerically by
:func:`check_objective_scaling` (evaluated at random points, agreement to rounding):

* its squared loss is ``||Z - Y||_F^2 / (2 n c)`` (``Model.objective`` passes ``scaling=n`` and
  ``Model._scaling`` returns ``n * c``), ours is ``||Z - Y||_F^2 / (2 n)``;
* its ``NeuronGL1(lam)`` is ``lam * sum ||w_g||_2`` over groups = one ``(sign, class, pattern)``
  each, ours is ``beta * sum ||v_ic||_2 + ||w_ic||_2``: the same groups.

Hence both solve the same program when ``lam = beta / c``, and ``ours = c * theirs``. Two more
things are needed for an identical problem. (1) Its default ``unitize_data=True`` rescales the
columns of ``[X, 1]`` to unit norm, which changes what the group penalty measures: it must be
off, or, when all columns have the same norm ``s`` (standardized data with a bias: ``s =
sqrt(n)``), compensated by ``lam = beta / (c s)`` (``unitize=True`` below; see
:func:`column_scale`). (2) Our patterns. Its public route for patterns is
``ConvexReLU(G, bias=True, G_bias=g)`` with ``[G; g]`` = our generators; it recomputes
``1[X g > 0]`` (strict, ours is ``>= 0``) and then sorts and de-duplicates them. Here the internal
model is built directly from our ``D`` so that the patterns and their order are identical, which
is what ``build_internal_model`` does after it has recomputed them.
"""

from __future__ import annotations

import logging
import time

import numpy as np

__all__ = ["available", "check_objective_scaling", "parse_variant", "solve_pyscnn"]


class _TimeLimit(Exception):
    """Raised from the iteration callback to stop a pyscnn run at the time limit."""


def available() -> bool:
    try:
        import scnn  # noqa: F401
    except ImportError:
        return False
    return True


def parse_variant(text: str) -> dict:
    """``"float32"``, ``"float64:tol=1e-10"``, ``"float32:unitize"`` -> solve_pyscnn options."""
    dtype, *options = text.split(":")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"pyscnn variant must start with float32 or float64; got {text!r}")
    parsed = {"dtype": dtype}
    for option in options:
        if option == "unitize":
            parsed["unitize"] = True
        elif option.startswith("tol="):
            parsed["tol"] = float(option[4:])
        else:
            raise ValueError(f"unknown pyscnn option {option!r} in {text!r}")
    return parsed


def _internal_model(problem, lam: float, gated: bool):
    import lab
    from scnn.private.models import AL_MLP, ConvexMLP, GroupL1Regularizer

    n, d, P, k = problem.shape
    D = lab.tensor(problem.patterns.D.astype(float), dtype=lab.get_dtype())
    G = lab.tensor(problem.patterns.generators, dtype=lab.get_dtype())
    regularizer = GroupL1Regularizer(lam)
    if gated:
        return ConvexMLP(d, D, G, "einsum", regularizer=regularizer, c=k)
    # delta=1000 is what scnn's build_internal_model passes for ConvexReLU
    return AL_MLP(d, D, G, "einsum", delta=1000, regularizer=regularizer, c=k)


def _to_ours(weights: np.ndarray, gated: bool):
    """scnn ``(c, p, d)`` (gated) or ``(2, c, p, d)`` weights -> our ``(d, P, k)`` V, W."""
    weights = np.asarray(weights, dtype=np.float64)
    if gated:
        return weights.transpose(2, 1, 0).copy(), None
    return weights[0].transpose(2, 1, 0).copy(), weights[1].transpose(2, 1, 0).copy()


def _check_problem(problem):
    if problem.loss.name != "squared":
        raise ValueError(f"pyscnn supports the squared loss only; got {problem.loss.name!r}")
    if not np.all(problem.sample_weight == 1):
        raise ValueError("pyscnn has no sample weights")


def check_objective_scaling(problem, seed: int = 0) -> dict:
    """Evaluate our objective and ``c *`` pyscnn's (``lam = beta / c``) at one random point."""
    import lab
    from scnn.private.interface import set_device

    _check_problem(problem)
    set_device("cpu", "float64", seed)
    n, d, P, k = problem.shape
    rng = np.random.default_rng(seed)
    V, W = (0.01 * rng.standard_normal((d, P, k)) for _ in range(2))
    model = _internal_model(problem, problem.beta / k, problem.gated)
    X, Y = lab.tensor(problem.X), lab.tensor(problem.Y)
    if problem.gated:
        theirs = model.objective(X, Y, w=V.transpose(2, 1, 0))
        ours = problem.objective(V)
    else:
        w = np.stack([V.transpose(2, 1, 0), W.transpose(2, 1, 0)])
        theirs = model.objective(X, Y, w=w, ignore_lagrange_penalty=True)
        ours = problem.objective(V, W)
    theirs = k * float(theirs)
    return {"ours": ours, "pyscnn_times_c": theirs,
            "relative_difference": abs(ours - theirs) / abs(ours)}


def column_scale(problem) -> float:
    """The common norm ``s`` of the non-zero columns of the program's ``X`` (ValueError if none).

    scnn's default ``unitize_data=True`` divides each column of ``[X, 1]`` by its norm. When all
    (non-zero) columns have the same norm ``s`` (standardized features with a bias column: ``s =
    sqrt(n)``) this is a uniform rescaling, so scnn run with ``lam = beta / (c s)`` on ``X / s``
    solves *our* program exactly; its weights map back as ``w = w_scaled / s``.
    """
    norms = np.linalg.norm(problem.X, axis=0)
    nonzero = norms[norms > 1e-12 * norms.max()]
    if not np.allclose(nonzero, nonzero[0], rtol=1e-8):
        raise ValueError("columns of X have different norms: unit-norm scaling changes the program")
    return float(nonzero[0])


def solve_pyscnn(problem, *, dtype: str = "float32", unitize: bool = False,
                 time_limit: float = 180.0, tol: float = 1e-6, max_iters: int = 10_000,
                 snapshot_interval: float = 0.0, seed: int = 778) -> dict:
    """Run pyscnn's AL (exact program) or R-FISTA (gated) on ``problem`` with its patterns.

    Solver settings are scnn's defaults (``AL`` / ``RFISTA`` with ``tol``, ``max_iters``) and the
    default ``Metrics()``, as its ``optimize`` uses them. A time limit is enforced from the
    per-iteration callback of its optimization procedure.

    Returns a dict: ``time`` (seconds inside the optimization procedure), ``status``
    (``"optimal"``: its own termination test passed; ``"max_iter"``; ``"time_limit"``),
    ``V``, ``W`` in our layout (float64), ``iterations`` (inner), and ``snapshots``: a list of
    ``(seconds, V, W)`` taken every ``snapshot_interval`` seconds (0: none) for trajectories.
    With ``unitize`` scnn sees the data as its default ``unitize_data=True`` would make them
    (see :func:`column_scale`); the program solved is the same.
    """
    import lab
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU, ConvexReLU
    from scnn.private.interface import build_metrics_tuple, build_optimizer, set_device
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA

    _check_problem(problem)
    n, d, P, k = problem.shape
    gated = problem.gated
    set_device("cpu", dtype, seed)
    scale = column_scale(problem) if unitize else 1.0
    lam = problem.beta / (k * scale)
    regularizer = NeuronGL1(lam)
    # the public objects only select scnn's solver and its defaults; the data are ours
    G = problem.patterns.generators
    public = (ConvexGatedReLU(G, c=k) if gated else ConvexReLU(G, c=k))
    solver = (RFISTA(public, max_iters=max_iters, tol=tol) if gated
              else AL(public, max_primal_iters=max_iters, tol=tol, constraint_tol=tol))
    metrics = Metrics()
    model = _internal_model(problem, lam, gated)  # patterns are invariant to the scale
    procedure = build_optimizer(solver, regularizer, metrics)
    X = lab.tensor(problem.X / scale, dtype=lab.get_dtype())
    Y = lab.tensor(problem.Y, dtype=lab.get_dtype())
    logger = logging.getLogger("scnn-bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False

    snapshots: list = []
    state = {"iterations": 0, "model": model, "next_snapshot": 0.0}
    start = time.perf_counter()

    def callback(current, X_, y_):
        state["iterations"] += 1
        state["model"] = current
        elapsed = time.perf_counter() - start
        if snapshot_interval > 0 and elapsed >= state["next_snapshot"]:
            snapshots.append((elapsed, np.array(current.weights, dtype=np.float64) / scale))
            state["next_snapshot"] = elapsed + snapshot_interval
        if elapsed > time_limit:
            raise _TimeLimit
        return current

    try:
        exit_status, model, _ = procedure(logger, model, lambda m: m, (X, Y), (X, Y),
                                          build_metrics_tuple(metrics), callback=callback)
        status = "optimal" if exit_status.get("success") else "max_iter"
    except _TimeLimit:
        model, status = state["model"], "time_limit"
    elapsed = time.perf_counter() - start
    V, W = _to_ours(np.asarray(model.weights, dtype=np.float64) / scale, gated)
    return {
        "time": elapsed,
        "status": status,
        "V": V,
        "W": W,
        "iterations": state["iterations"],
        "lam": lam,
        "unitize": unitize,
        "dtype": dtype,
        "snapshots": [(t, *_to_ours(w, gated)) for t, w in snapshots],
    }
