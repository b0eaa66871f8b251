"""What every cone projector exposes (:mod:`._torch`, batched in torch; :mod:`._compiled`)."""

from __future__ import annotations

import torch


class ProjectorState:
    """The constraint signs ``_signs`` and the last NNLS solutions ``_a``, both stored
    group-major ``(Q k, n)`` by the projector, seen sample-major by its users."""

    _signs: torch.Tensor
    _a: torch.Tensor

    @property
    def signs(self) -> torch.Tensor:
        """The cone sign of every constraint of every group: (n, Q k)."""
        return self._signs.T

    @property
    def multipliers(self) -> torch.Tensor:
        """NNLS solutions of the last projections (warm starts and cone multipliers): a
        writable (n, Q k) view."""
        return self._a.T
