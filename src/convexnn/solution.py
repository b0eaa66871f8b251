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
        ``"optimal"`` when the solver's own stopping criterion was met, else why it stopped
        (``"max_iter"``, ``"stalled"``, ``"inaccurate"``...).
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
