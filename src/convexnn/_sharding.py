"""How the samples of a program are split across processes: the reductions its maps call.

Every data access of the first-order solvers is either row-local (``X @ U``, masks, per-sample
losses and proximal steps) or a sum over samples (``X^T @ M``, loss values, norms of
sample-indexed tensors, maxima used by the stopping rules). The lifted operator
(:class:`convexnn.problem.Operators`) and the solvers route the second kind through a
:class:`Sharding`; :data:`LOCAL` (one process holds every sample) makes each of them the
identity. :mod:`convexnn.distributed` provides the sharding of a ``torch.distributed`` process
group, whose reductions are all-reduces.
"""

from __future__ import annotations

import torch

from .cones import make_cone_projector

__all__ = ["LOCAL", "Sharding"]


class Sharding:
    """Reductions over the sample axis when one process holds every sample: identities.

    Tensors passed to the reductions are this process's contributions; a distributed subclass
    all-reduces them in place (pass temporaries) and returns the global value.
    """

    #: whether samples are split across processes (solvers use it to pick the pieces that are
    #: not sums over samples, e.g. ADMM's linear system)
    distributed = False

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over all samples of per-process partial sums."""
        return tensor

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        """Elementwise maximum over processes."""
        return tensor

    def min(self, tensor: torch.Tensor) -> torch.Tensor:
        """Elementwise minimum over processes."""
        return tensor

    def all(self, tensor: torch.Tensor) -> torch.Tensor:
        """Elementwise logical and over processes of a boolean tensor."""
        return tensor

    def norm(self, tensor: torch.Tensor) -> torch.Tensor:
        """Euclidean norm (0-d tensor) of a sample-indexed tensor whose rows are split."""
        return torch.linalg.vector_norm(tensor)

    def randn(self, n_rows: int, n_columns: int, *, generator: torch.Generator,
              dtype: torch.dtype, device) -> torch.Tensor:
        """This process's rows of a Gaussian ``(n_samples, n_columns)`` matrix drawn from
        ``generator`` (the same matrix whatever the number of processes)."""
        return torch.randn(n_rows, n_columns, generator=generator, dtype=dtype, device=device)

    def cone_projector(self, X: torch.Tensor, signs: torch.Tensor, k: int):
        """The projector onto the pattern cones of :mod:`convexnn.cones` (compiled per
        group on the CPU when numba is installed, batched torch otherwise)."""
        return make_cone_projector(X, signs, k)


#: the sharding of a single process that holds every sample
LOCAL = Sharding()
