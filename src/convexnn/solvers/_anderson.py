"""Safeguarded Anderson acceleration of a fixed-point iteration ``x <- g(x)``.

ADMM is a fixed-point iteration of an averaged operator: it converges from anywhere, but in the
end only linearly, at a rate set by the problem's conditioning. Type-II Anderson acceleration
(Walker & Ni, SIAM J. Numer. Anal. 2011) combines the last ``memory`` iterates: with residuals
``f_i = g(x_i) - x_i``, it picks ``gamma = argmin ||f_k - dF gamma||`` over the differences of
consecutive residuals and moves to ``g(x_k) - dG gamma``. As in SCS 3 (O'Donoghue 2021) and
Zhang, O'Donoghue & Boyd (SIAM J. Optim. 2020), the step is safeguarded: an extrapolated point is
kept only if its own residual is no larger than the residual of the point it replaced; otherwise
the iteration falls back to the plain step and the memory is cleared. Every point the iteration
visits is then either a plain step or a point that reduced the residual, so ADMM's convergence
is kept, and the solver's certificate checks (made at plain steps, see ``admm.py``) are unchanged.
"""

from __future__ import annotations

import torch

__all__ = ["Anderson"]


class Anderson:
    """Type-II Anderson acceleration with a residual safeguard.

    Parameters
    ----------
    memory : int
        Number of residual differences combined (``m``); each step solves an ``m x m`` system.
    regularization : float
        Relative Tikhonov term of that system (stabilizes nearly collinear residuals).
    """

    def __init__(self, memory: int, regularization: float = 1e-10):
        self.memory, self.regularization = memory, regularization
        self.points: list[torch.Tensor] = []
        self.images: list[torch.Tensor] = []
        self.fallback: torch.Tensor | None = None  # g(x_k), kept while x_{k+1} is on trial
        self.reference = 0.0  # the residual norm at x_k
        self.accepted = self.rejected = 0

    def reset(self) -> None:
        """Forget the history (after the fixed-point map changed, e.g. a new ADMM penalty)."""
        self.points.clear()
        self.images.clear()
        self.fallback = None

    def __call__(self, x: torch.Tensor, gx: torch.Tensor, extrapolate: bool = True):
        """The next point after ``x`` given ``gx = g(x)`` (flat tensors).

        Returns ``(point, rejected)``: the extrapolation when ``extrapolate`` and enough history
        exists, else ``gx``; when ``x`` was an extrapolation whose residual is larger than the
        one it replaced, it is rejected and the point is the plain step saved for that case.
        """
        residual = float(torch.linalg.vector_norm(gx - x))
        if self.fallback is not None:
            if not residual <= self.reference:  # also rejects a NaN residual
                fallback = self.fallback
                self.rejected += 1
                self.reset()
                return fallback, True
            self.accepted += 1
            self.fallback = None
        self.points.append(x)
        self.images.append(gx)
        if len(self.points) > self.memory + 1:
            self.points.pop(0)
            self.images.pop(0)
        if not extrapolate or len(self.points) < 2:
            return gx, False
        images = torch.stack(self.images, dim=1)
        residuals = images - torch.stack(self.points, dim=1)
        dF = residuals[:, 1:] - residuals[:, :-1]
        dG = images[:, 1:] - images[:, :-1]
        gram = dF.T @ dF
        gram = gram + self.regularization * float(gram.diagonal().sum()) * torch.eye(
            gram.shape[0], dtype=gram.dtype, device=gram.device)
        try:
            gamma = torch.linalg.solve(gram, dF.T @ residuals[:, -1])
        except RuntimeError:  # singular even with the ridge: no extrapolation this time
            return gx, False
        candidate = gx - dG @ gamma
        if not torch.all(torch.isfinite(candidate)):
            return gx, False
        self.fallback, self.reference = gx, residual
        return candidate, False
