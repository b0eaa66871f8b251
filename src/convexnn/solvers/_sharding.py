"""The process group a :func:`convexnn.solvers.solve` call splits its samples across, if any.

Inside :func:`convexnn.distributed.activate`, :func:`convexnn.solvers.solve` hands its programs
to the distributed solve that :data:`PROCESS_GROUP` holds: the distributed module, which builds
on the solvers, is passed in by its caller and never imported by them. The reductions over
split samples are :class:`convexnn._sharding.Sharding`'s.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["PROCESS_GROUP", "ActiveGroup"]


class ActiveGroup(NamedTuple):
    """What :func:`convexnn.distributed.activate` sets for the block it runs."""

    #: the ``torch.distributed`` process group the samples are split across (None: the world)
    group: Any
    #: ``solve(problem, solver_name, **options)``: the distributed solve of that group
    solve: Callable


#: the :class:`ActiveGroup` inside :func:`convexnn.distributed.activate`: every
#: :func:`convexnn.solvers.solve` then splits its samples across that group; None outside
PROCESS_GROUP: contextvars.ContextVar[ActiveGroup | None] = contextvars.ContextVar(
    "convexnn_process_group", default=None)
