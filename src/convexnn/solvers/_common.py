"""What the first-order solvers share: options, the starting point, the run monitor.

The solvers work on the stacked variable ``U`` of shape ``(d, Q, k)`` (``[V, W]`` for program
(8), ``V`` for the gated relaxation) through the problem's lifted operator,
:class:`convexnn.problem.Operators`, so every solver handles both programs with one code path.
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np
import torch

from .._groups import NEGLIGIBLE, significant
from .._validation import check_positive_int
from ..problem import ConvexProblem, Operators
from ..solution import ConvexSolution

__all__ = [
    "Monitor",
    "as_numpy",
    "check_options",
    "initial_point",
    "make_solution",
    "prune",
]


def check_options(problem: ConvexProblem, *, tol, max_iter, time_limit, warm_start,
                  name: str) -> tuple[float, int, float]:
    """Validate the options every first-order solver shares; returns ``(tol, max_iter, limit)``."""
    if not isinstance(problem, ConvexProblem):
        raise TypeError(f"problem must be a ConvexProblem; got {type(problem).__name__}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 < tol < 1:
        raise ValueError(f"tol must be a relative duality gap in (0, 1); got {tol!r}")
    max_iter = check_positive_int(max_iter, "max_iter")
    if time_limit is None:
        time_limit = math.inf
    elif (isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real)
          or not time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds or None; "
                         f"got {time_limit!r}")
    if warm_start is not None:
        if not isinstance(warm_start, ConvexSolution):
            raise TypeError(f"warm_start must be a ConvexSolution or None; "
                            f"got {type(warm_start).__name__}")
        n, d, P, k = problem.shape
        kind = "gated" if problem.gated else "exact"
        if warm_start.V.shape != (d, P, k) or warm_start.gated != problem.gated:
            raise ValueError(
                f"warm_start must solve a {kind} program with variables of shape {(d, P, k)} "
                f"for the {name} solver; got V of shape {warm_start.V.shape} "
                f"({'gated' if warm_start.gated else 'exact'})"
            )
    return float(tol), max_iter, float(time_limit)


def initial_point(lifted: Operators, warm_start: ConvexSolution | None) -> torch.Tensor:
    """The stacked variable ``U`` (d, Q, k): zeros, or the warm start's ``V`` (and ``W``)."""
    if warm_start is None:
        return torch.zeros(lifted.d, lifted.Q, lifted.k, dtype=lifted.dtype, device=lifted.device)
    blocks = [warm_start.V] if lifted.gated else [warm_start.V, warm_start.W]
    return torch.cat([torch.as_tensor(B, dtype=lifted.dtype, device=lifted.device)
                      for B in blocks], dim=1)


def prune(U: torch.Tensor) -> torch.Tensor:
    """``U`` with its negligible groups (:mod:`convexnn._groups`) set to zero.

    Zeroing a group keeps the cones satisfied and changes the objective by a negligible amount;
    afterwards the network of Theorem 1 reproduces the convex predictions exactly (it would
    otherwise drop those groups and differ by their contribution).
    """
    norms = torch.linalg.vector_norm(U, dim=0, keepdim=True)
    return U * significant(norms, norms.max(), NEGLIGIBLE)


def make_solution(problem: ConvexProblem, lifted: Operators, U: torch.Tensor, Lam: torch.Tensor,
                  monitor: Monitor, status: str, iterations: int, solver: str,
                  tol: float | None = None) -> ConvexSolution:
    """Package the stacked variable as a :class:`ConvexSolution` (NumPy float64 arrays).

    With ``tol``, the reason of a run that missed it says when ``tol`` is beyond what the run's
    precision resolves (:meth:`Monitor.precision_note`).
    """
    V, W = (None if B is None else as_numpy(B) for B in lifted.split(U))
    solution = ConvexSolution(
        problem=problem, V=V, W=W, objective=problem.objective(V, W),
        dual=as_numpy(Lam), status=status, solver=solver,
        iterations=iterations, time=monitor.elapsed(), history=monitor.history,
        reason=monitor.stall_reason(tol) if status == "stalled" else "",
    )
    if tol is not None and solution.status in ("max_iter", "time_limit"):
        solution.reason += monitor.precision_note(tol)
    return solution


class Monitor:
    """Clock, limits, history and progress printing of one solve.

    ``history`` holds one entry per certificate check: ``iteration``, ``objective`` (primal value
    of the current iterate), ``gap`` (relative duality gap ``(primal - dual) / |primal|`` of the
    check), ``time`` (seconds since the start) and solver-specific keys (``cone_violation``,
    ``rho``, ``ratio``). The gaps of FISTA and ADMM are certified (their iterates are feasible);
    the augmented Lagrangian's iterates violate the cones slightly, so its recorded gaps are
    those of the unprojected iterate (only the projected final point is certified).

    Parameters
    ----------
    solver : str
    max_iter : int
    time_limit : float
    verbose : bool
    patience : int, default=20
        Checks without progress before :attr:`stalled`.
    dtype : torch.dtype, default=torch.float64
        The precision of the run: it sets what "no progress" means (:attr:`stalled`).
    """

    def __init__(self, solver: str, max_iter: int, time_limit: float, verbose: bool,
                 patience: int = 20, dtype: torch.dtype = torch.float64):
        self.solver, self.max_iter, self.time_limit = solver, max_iter, time_limit
        self.verbose, self.patience = verbose, patience
        self.dtype = dtype
        self.eps = torch.finfo(dtype).eps
        self.history: dict[str, list] = {"iteration": [], "objective": [], "gap": [], "time": []}
        self._start = time.perf_counter()

    @property
    def low_precision(self) -> bool:
        """Whether the run computes in a precision coarser than float64 (float32, half)."""
        return self.eps > 1e-10

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def limit_reached(self, iteration: int, reserve: float = 0.0) -> str | None:
        """``"max_iter"`` or ``"time_limit"`` when a budget is spent (the time limit less
        ``reserve`` seconds, kept for what follows the last iteration), else None."""
        if iteration >= self.max_iter:
            return "max_iter"
        if self.elapsed() + reserve >= self.time_limit:
            return "time_limit"
        return None

    def record(self, iteration: int, objective: float, gap: float, **extra) -> None:
        """Append one check to the history (and print it when verbose)."""
        entry = {"iteration": iteration, "objective": objective, "gap": gap,
                 "time": self.elapsed(), **extra}
        for key, value in entry.items():
            self.history.setdefault(key, []).append(value)
        if self.verbose:
            fields = " ".join(f"{key} {value:.3e}" for key, value in extra.items())
            print(f"[{self.solver}] it {iteration:6d}  objective {objective:.10e}  "
                  f"gap {gap:.2e}  {fields}  {entry['time']:.2f}s", flush=True)

    def note(self, iteration: int, message: str) -> None:
        """Print a line about the run when verbose (not part of the history)."""
        if self.verbose:
            print(f"[{self.solver}] it {iteration:6d}  {message}  {self.elapsed():.2f}s",
                  flush=True)

    @property
    def stalled(self) -> bool:
        """No progress left: over the last ``patience`` checks the best gap did not improve by 1%
        and the objective made no progress the precision can resolve.

        In float64 the objective must be frozen (it moved by less than ``1e-12`` relative within
        the window: e.g. ``tol`` below what float64 resolves). In a lower precision the iterates
        end in a noise ball whose objective keeps jittering (by up to 1e-4 relative for ADMM in
        float32, measured) while a slow but real descent can move it by only a few ``eps`` per
        window (FISTA in float32 on a plateau of its gap, measured), so there the objective is
        stuck unless it trends down: a least-squares slope over the window more than three
        standard errors below zero, for a drop above one rounding unit. Slow progress is not a
        stall.
        """
        objectives, gaps = self.history["objective"], self.history["gap"]
        if len(gaps) <= self.patience:
            return False
        window = objectives[-self.patience:]
        if self.low_precision:
            stuck = not _trends_down(window, self.eps)
        else:
            stuck = max(window) - min(window) <= 1e-12 * abs(window[-1])
        return stuck and min(gaps[-self.patience:]) >= 0.99 * min(gaps[:-self.patience])

    @property
    def resolved_gap(self) -> float:
        """The relative gap a certificate in this precision reliably resolves: ``sqrt(eps)``
        below float64 (see :meth:`precision_note`), 0 in float64 (no floor assumed).

        A solver that skips checks far from ``tol`` must not skip those below this level: a
        ``tol`` under the floor would otherwise skip every check, and no stall could be seen.
        """
        return math.sqrt(self.eps) if self.low_precision else 0.0

    @property
    def best_gap(self) -> float:
        """The smallest relative gap recorded so far (inf before the first check)."""
        return min(self.history["gap"], default=math.inf)

    def stall_reason(self, tol: float | None) -> str:
        """The reason of a ``"stalled"`` run: where the gap stopped, and why in low precision."""
        patience = f"it has not improved by 1% over the last {self.patience} checks"
        gap = (f"; its best relative duality gap is {self.best_gap:.2e} and {patience}"
               if self.history["gap"] else "")
        head = f"{self.solver} stopped making progress after {self.history['iteration'][-1]} " \
               f"iterations{gap}"
        if not self.low_precision:
            return (f"{head}: the tolerance may be below what float64 resolves, or the data "
                    "badly scaled")
        target = "" if tol is None else f" tol={tol:.1e} is below what it resolves here;"
        return (f"{head}: this is about as far as {_dtype_name(self.dtype)} arithmetic "
                f"resolves on this problem (rounding unit {self.eps:.1e});{target} use "
                f"dtype=torch.float64, or a tol above {self.best_gap:.1e}")

    def precision_note(self, tol: float) -> str:
        """A clause for the reason of a run in low precision whose ``tol`` is below
        ``sqrt(eps)`` (3.5e-4 in float32), else "".

        The dual candidate is the loss gradient at the iterate, whose error goes as the square
        root of the objective's error; the objective resolves to ``eps`` relative, so gaps below
        ``sqrt(eps)`` are out of reach on ill-conditioned problems (float32, 200 samples of
        breast_cancer with 50 sampled patterns: floors of 2e-4 to 7e-4 for FISTA and ADMM,
        measured; a well-conditioned regression reached 1e-8).
        """
        floor = self.resolved_gap
        if tol >= floor:
            return ""
        return (f"; tol={tol:.1e} is below the sqrt(eps) = {floor:.1e} that "
                f"{_dtype_name(self.dtype)} certificates resolve on ill-conditioned problems: "
                "it may be out of reach, use dtype=torch.float64")


def _trends_down(values, eps: float) -> bool:
    """Whether ``values`` decrease significantly: their least-squares slope is below zero by more
    than three standard errors, and its drop over the sequence exceeds ``eps`` relative."""
    y = np.asarray(values, dtype=np.float64)
    x = np.arange(y.size) - (y.size - 1) / 2
    slope = float(x @ (y - y.mean())) / float(x @ x)
    residual = y - y.mean() - slope * x
    error = math.sqrt(float(residual @ residual) / max(y.size - 2, 1) / float(x @ x))
    return slope < -3 * error and -slope * (y.size - 1) > eps * abs(y[-1])


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def as_numpy(T: torch.Tensor) -> np.ndarray:
    """A float64 NumPy copy of a tensor on any device (never a view of the tensor)."""
    return np.array(T.detach().cpu().to(torch.float64).numpy(), copy=True)
