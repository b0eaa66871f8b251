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

    def bounds(self, flat: torch.Tensor) -> torch.Tensor:
        """``||v + B a||`` per group of ``flat`` (d, Q k), with ``a`` the kept multipliers: an
        upper bound of the projection's norm ``||P_K v|| = min_{a >= 0} ||v + B a||``."""
        return torch.linalg.vector_norm(flat + self.X.T @ (self.signs * self.multipliers),
                                        dim=0)

    def release(self, groups: torch.Tensor) -> None:
        """Forget the multipliers of ``groups`` (a (Q k,) boolean mask), e.g. the groups inside
        their cones, whose projection is the point itself."""
        self._a[groups] = 0
