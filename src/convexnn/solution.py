"""What every solver returns: :class:`ConvexSolution`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
        U = self.V if self.W is None else self.V - self.W
        preactivations = np.einsum("nd,dpk->npk", self.problem.X, U)
        return np.einsum("np,npk->nk", self.problem.patterns.D, preactivations)

    def n_active_groups(self, rtol: float = 1e-9) -> int:
        """Number of groups with norm above ``rtol`` times the largest (= neurons recovered)."""
        blocks = [self.V] if self.W is None else [self.V, self.W]
        norms = [np.linalg.norm(B, axis=0) for B in blocks]
        scale = max(float(m.max(initial=0.0)) for m in norms)
        return int(sum(np.count_nonzero(m > rtol * scale) for m in norms)) if scale > 0 else 0
