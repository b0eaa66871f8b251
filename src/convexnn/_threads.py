"""The CPU threads of a fit: one for the data sizes where a second only costs time."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch
from threadpoolctl import threadpool_limits

__all__ = ["ONE_THREAD_MAX_ROWS", "one_thread"]

#: fits of at most this many rows run on one CPU thread. On the 2-core development machine an
#: ADMM iteration of program (8) took 2-6x longer with torch's default two threads than with
#: one (breast_cancer 100 patterns: 18.9 against 3.1 ms; segment, 1617 rows: 26.6 against
#: 11.9 ms; digits, 1257 rows, 200 patterns: 38.1 against 20.2 ms): the OpenMP worker spins
#: between torch's parallel regions and takes the core the compiled cone kernels and the
#: interpreter run on (with OMP_WAIT_POLICY=PASSIVE two threads were as fast as one). Larger
#: data keep torch's threads (their products are where threads pay; not measured here).
ONE_THREAD_MAX_ROWS = 20_000


@contextmanager
def one_thread(enabled: bool = True):
    """Within the block torch (and the compiled cone kernels, which follow torch's count) and
    the BLAS and OpenMP pools NumPy and SciPy use run on one CPU thread when ``enabled``; the
    counts are restored afterwards. (The neuron search's own threads, one per output, then
    share the cores without oversubscription: with NumPy's BLAS at its two threads,
    keel:vehicle's default fit took 36 s instead of 19 s, measured.)"""
    before = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1) if enabled else nullcontext():
            yield
    finally:
        torch.set_num_threads(before)
