"""Which groups of a point of program (8) count: the one definition of a negligible group.

A point of program (8) (Pilanci & Ergen, ICML 2020) has one group ``v_ic``, ``w_ic`` per pattern
and output, and Theorem 1 makes a neuron of every nonzero group. Solvers leave groups that are
zero only up to their accuracy (interior-point points carry tiny nonzero groups), so a group
counts when its norm exceeds ``rtol`` times the largest group norm of the point.
"""

from __future__ import annotations

__all__ = ["ACTIVE_RTOL", "NEGLIGIBLE", "significant"]

#: groups at most this times the largest are numerically zero: the first-order solvers prune
#: them, and it is the default ``rtol`` of ``TwoLayerReLU.from_convex`` and of the counts of
#: active groups, so the recovered network keeps every group of a pruned point
NEGLIGIBLE = 1e-9

#: groups smaller than this times the largest are not counted as neurons along a path: the
#: conic (interior-point) solutions keep every group slightly nonzero, measured up to 3e-5 of
#: the largest on the exponential cone (logistic) and ~1e-6 on second-order cones, while real
#: groups there were at least 4e-4 of the largest (the first-order solvers zero groups exactly)
ACTIVE_RTOL = 1e-4


def significant(norms, scale, rtol: float = NEGLIGIBLE):
    """Whether the groups of norm ``norms`` count next to the largest group norm ``scale``.

    ``norms > rtol * scale``, elementwise (NumPy arrays or tensors): no group counts when
    ``scale`` is 0.
    """
    return norms > rtol * scale
