"""Shared settings of the architecture tests.

Tolerances used throughout:

* ``EXACT_RTOL = 1e-6``: a network recovered from a convex solution against that solution's
  objective. Both are evaluated in float64 at the same point; they differ only by the groups /
  singular values / frequencies dropped below 1e-9 of the largest and, for the ReLU CNN, by the
  solver's cone violations (~1e-11), so they agree to ~1e-9; 1e-6 is the issue's bar.
* ``BELOW_RTOL = 1e-8``: how far a trained network may end *below* a convex optimum. The convex
  value is the objective at the solver's point, above the true optimum by at most the solver's
  duality gap (Clarabel at 1e-9, ``solvers.conic.ACCURATE``), so a network can legitimately beat
  it by that much, never by more.
"""

import pytest

EXACT_RTOL = 1e-6
BELOW_RTOL = 1e-8


@pytest.fixture(autouse=True)
def one_torch_thread(one_thread):
    """Tiny networks train faster on one thread (``one_thread`` of tests/conftest.py)."""


def assert_at_or_above(finals, optimum, *, close_rtol=None):
    """Every trained objective ends at or above ``optimum`` (up to ``BELOW_RTOL``).

    With ``close_rtol``, the best run must also come within that relative distance, so that the
    comparison is with a network that was actually trained, not one stuck far above.
    """
    scale = max(1.0, abs(optimum))
    for final in finals:
        assert final >= optimum - BELOW_RTOL * scale, (final, optimum)
    if close_rtol is not None:
        assert min(finals) <= optimum + close_rtol * scale, (min(finals), optimum)
