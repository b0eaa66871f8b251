"""What every solver returns: :class:`ConvexSolution`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ._groups import NEGLIGIBLE, significant
from .cones import nnls
from .problem import ConvexProblem

__all__ = ["ConvexSolution"]


@dataclass
class ConvexSolution:
    """A (near-)optimal point of program (8) or of its gated relaxation.

    Attributes
    ----------
    problem : ConvexProblem
        The program that was solved.
    V : ndarray of shape (n_features, n_patterns, n_outputs)
        Groups ``v_ic`` (positive output weight); for the gated relaxation the merged ``u_ic``.
    W : ndarray of shape (n_features, n_patterns, n_outputs) or None
        Groups ``w_ic`` (negative output weight); None for the gated relaxation.
    objective : float
        Primal objective at (V, W), as the solver computed it.
    dual : ndarray of shape (n_samples, n_outputs) or None
        The solver's dual point ``Lam`` (the gradient of the loss at the optimum); certificates
        re-check its feasibility, they do not trust it.
    status : str
        ``"optimal"`` when the solver's own stopping criterion was met, else why it stopped:
        ``"max_iter"`` or ``"time_limit"`` (a budget ran out), ``"stalled"`` (no progress left,
        e.g. ``tol`` below what the precision resolves), ``"inaccurate"`` (the conic solver's
        "optimal_inaccurate"), ``"diverged"`` (set here whenever ``V``, ``W`` or the objective
        is not finite, whatever the solver said).
    reason : str
        One sentence saying why the solve ended; filled in from ``status`` and the last
        recorded duality gap when the solver gives none.
    solver : str
    iterations : int
    time : float
        Wall-clock seconds of the solve.
    history : dict of lists
        Per-iteration records (``objective``, ``gap``, ``time``...) for plots and benchmarks.
    cone_multipliers : ndarray of shape (n_samples, 2 n_patterns, n_outputs) or None
        Program (8) by ADMM: the multipliers of the cone constraints (``v_i`` groups, then
        ``w_i``) from its last projections. A solve warm-started from this solution starts its
        projections from them (their support is the face each group's projection lies on).
    """

    problem: ConvexProblem
    V: np.ndarray
    W: np.ndarray | None
    objective: float
    dual: np.ndarray | None = None
    status: str = "optimal"
    solver: str = ""
    iterations: int = 0
    time: float = 0.0
    history: dict = field(default_factory=dict)
    reason: str = ""
    cone_multipliers: np.ndarray | None = None

    def __post_init__(self):
        blocks = [self.V] if self.W is None else [self.V, self.W]
        finite = all(np.all(np.isfinite(B)) for B in blocks) and np.isfinite(self.objective)
        if not finite:  # a non-finite point is never a solution, whatever the solver reported
            self.status = "diverged"
            self.reason = (f"the iterates of {self.solver or 'the solver'} became non-finite "
                           f"(NaN or inf) by iteration {self.iterations}; the point is unusable: "
                           "try the conic solver, standardized features or float64")
        elif not self.reason:
            self.reason = self._default_reason()

    def _default_reason(self) -> str:
        gaps = self.history.get("gap") or []
        gap = f"; last relative duality gap {gaps[-1]:.2e}" if gaps else ""
        who = self.solver or "the solver"
        explanations = {
            "optimal": f"{who} met its stopping criterion after {self.iterations} iterations",
            "max_iter": f"{who} reached its iteration limit ({self.iterations} iterations) "
                        f"before its tolerance{gap}: raise max_iter or tol",
            "time_limit": f"{who} ran out of time ({self.time:.3g} s) before its tolerance{gap}",
            "stalled": f"{who} stopped making progress{gap}: the tolerance may be below what "
                       "the precision (dtype) resolves, or the data badly scaled",
            "inaccurate": f"{who} ended with reduced accuracy (numerical trouble, often badly "
                          "scaled or ill-conditioned data)",
        }
        return explanations.get(self.status, f"{who} ended with status {self.status!r}{gap}")

    @property
    def converged(self) -> bool:
        """Whether the solver met its own stopping criterion (``status == "optimal"``)."""
        return self.status == "optimal"

    @property
    def gated(self) -> bool:
        return self.W is None

    def predict_training(self) -> np.ndarray:
        """The convex model's predictions on the training data: ``sum_i D_i X (v_i - w_i)``."""
        ops = self.problem.operators()
        V, W = (None if B is None else torch.as_tensor(B, dtype=ops.dtype)
                for B in (self.V, self.W))
        return ops.predict(ops.stack(V, W)).numpy()

    def cone_decomposition(self) -> ConvexSolution:
        """A feasible point of program (8) with the predictions of this gated solution.

        Each gated group ``u_ic`` (pattern ``D_i``, cone ``K_i = {v : (2 D_i - I) X v >= 0}``)
        is split as ``u = v - w`` with ``v, w in K_i`` (the cone decomposition of Mishkin et al.,
        ICML 2022): ``w`` is the least-norm vector with ``w in K_i`` and ``u + w in K_i``, a
        least-distance program solved by non-negative least squares (Lawson & Hanson's LDP),
        and ``v = u + w``. On the training samples ``D_i X v - D_i X w = D_i X u``, so the ReLU
        network of Theorem 1 recovered from the result reproduces the gated model's predictions
        there exactly. Its objective is that of (8) at ``(v, w)``: an upper bound on the optimum
        of (8) (the penalty ``||v|| + ||w|| >= ||u||`` can grow, by at most ``2 ||w||``), while the
        gated optimum is a lower bound on it.

        Returns
        -------
        ConvexSolution
            For the program (8) of the same data, patterns and ``beta`` (``gated=False``),
            with this solution's dual (dual feasible for the gated relaxation means feasible
            for (8): its constraints are the stronger ones), ``solver`` suffixed with
            ``"+cone-decomposition"``.

        Raises
        ------
        ValueError
            If this is not a gated solution, or a group cannot be split because its pattern's
            cone has an empty interior (a degenerate cell).
        """
        if self.W is not None:
            raise ValueError("cone_decomposition needs a gated solution (W is None); this "
                             "solution is already a point of program (8)")
        problem = self.problem
        X, D = problem.X, problem.patterns.D
        V, W = self.V.copy(), np.zeros_like(self.V)
        norms = np.linalg.norm(self.V, axis=0)
        for i, c in zip(*np.nonzero(norms > 0), strict=True):
            A = np.where(D[:, i], 1.0, -1.0)[:, None] * X  # rows of (2 D_i - I) X
            needed = np.maximum(-(A @ self.V[:, i, c]), 0.0)
            if np.any(needed > 0):
                W[:, i, c] = _least_distance(A, needed, i)
                V[:, i, c] += W[:, i, c]
        point = replace(problem, gated=False)
        return ConvexSolution(point, V, W, point.objective(V, W), dual=self.dual,
                              status=self.status, solver=f"{self.solver}+cone-decomposition",
                              iterations=self.iterations, time=self.time, history=self.history,
                              reason=self.reason)

    def n_active_groups(self, rtol: float = NEGLIGIBLE) -> int:
        """Number of groups with norm above ``rtol`` times the largest (= neurons recovered)."""
        blocks = [self.V] if self.W is None else [self.V, self.W]
        norms = [np.linalg.norm(B, axis=0) for B in blocks]
        scale = max(float(m.max(initial=0.0)) for m in norms)
        return int(sum(np.count_nonzero(significant(m, scale, rtol)) for m in norms))


def _least_distance(A: np.ndarray, h: np.ndarray, index: int) -> np.ndarray:
    """The least-norm ``w`` with ``A w >= h``, by Lawson & Hanson's LDP algorithm.

    With ``E = [A_R^T; h_R^T]`` and ``f = e_{d+1}``, the residual ``r = E mu - f`` of the NNLS
    ``min_{mu >= 0} ||E mu - f||`` gives ``w = -r[:d] / r[d]`` for the rows ``R``; ``r = 0``
    means infeasible. ``R`` is a working set: the ``d`` rows of largest ``h_j / ||a_j||``
    first, then at each round the ``d`` rows the current ``w`` violates most, until none is
    violated (at most ``d`` rows bind at the solution, so each NNLS stays small).
    """
    d = A.shape[1]
    scale = max(float(np.abs(h).max()), np.finfo(float).tiny)  # keeps E's last row O(1)
    h = h / scale
    row_norms = np.maximum(np.linalg.norm(A, axis=1), np.finfo(float).tiny)
    tolerance = 1e-12 * max(float(row_norms.max()), 1.0)
    rows = np.argsort(-h / row_norms)[:d]
    f = np.zeros(d + 1)
    f[-1] = 1.0
    while True:
        E = np.vstack([A[rows].T, h[None, rows]])
        mu, _ = nnls(E, f)
        r = E @ mu - f
        if abs(r[-1]) <= 1e-12:
            raise ValueError(f"pattern {index}: its cone has an empty interior (a degenerate "
                             "cell), so its gated group cannot be split into two ReLU neurons")
        w = -r[:d] / r[-1]
        shortfall = (h - A @ w) / row_norms
        shortfall[rows] = -np.inf  # rows in R hold up to the NNLS's accuracy
        violated = np.flatnonzero(shortfall > tolerance * (1.0 + np.linalg.norm(w)))
        if violated.size == 0:
            return w * scale
        worst = violated[np.argsort(-shortfall[violated])[:d]]
        rows = np.concatenate([rows, worst])
