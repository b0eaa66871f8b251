"""The CPU threads of a fit: one for the data sizes where a second only costs time."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch
from threadpoolctl import threadpool_limits

__all__ = ["ONE_THREAD_MAX_ENTRIES", "ONE_THREAD_MAX_ROWS", "one_thread", "one_torch_thread"]

#: fits of at most this many rows run on one CPU thread. On the 2-core development machine an
#: ADMM iteration of program (8) took 2-6x longer with torch's default two threads than with
#: one (breast_cancer 100 patterns: 18.9 against 3.1 ms; segment, 1617 rows: 26.6 against
#: 11.9 ms; digits, 1257 rows, 200 patterns: 38.1 against 20.2 ms): the OpenMP worker spins
#: between torch's parallel regions and takes the core the compiled cone kernels and the
#: interpreter run on (with OMP_WAIT_POLICY=PASSIVE two threads were as fast as one). Larger
#: data keep torch's threads (their products are where threads pay; not measured here).
ONE_THREAD_MAX_ROWS = 20_000
#: a first-order solve (:func:`convexnn.solve`) of a program whose lifted products have fewer
#: entries than this (``n d 2 P k``) runs torch on one thread. ADMM, 100 iterations, two
#: threads against one on the 2-core machine: 1.9x slower at 3.5 million entries (569 x 31,
#: 100 patterns), 1.15x at 12 million, 1.09x at 23 million, 0.81x at 70 million, 0.72x on
#: digits' 234 million and 0.66x at 80 million with 20,000 rows (measured)
ONE_THREAD_MAX_ENTRIES = 40_000_000


@contextmanager
def one_thread(enabled: bool = True):
    """Within the block torch (and the compiled cone kernels, which follow torch's count) and
    the BLAS and OpenMP pools NumPy and SciPy use run on one CPU thread when ``enabled``; the
    counts are restored afterwards. (The neuron search's own threads, one per output, then
    share the cores without oversubscription: with NumPy's BLAS at its two threads,
    keel:vehicle's default fit took 36 s instead of 19 s, measured.)"""
    with one_torch_thread(enabled), threadpool_limits(limits=1) if enabled else nullcontext():
        yield


@contextmanager
def one_torch_thread(enabled: bool = True):
    """Within the block torch (and the compiled cone kernels) run on one thread when
    ``enabled``; the count is restored afterwards. The BLAS pools keep theirs: with one torch
    thread the kernels' products run in one thread of their own, which BLAS's threads speed up
    (a projection of digits' 2,000 groups: 73 ms with BLAS on two threads, 86 ms on one)."""
    before = torch.get_num_threads()
    if enabled and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
