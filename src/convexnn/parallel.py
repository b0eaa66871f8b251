"""Run independent jobs with joblib, on its own workers or on a dask or ray cluster.

Regularization paths, cross-validation folds and grids of ``beta`` are made of solves that do not
depend on each other; :func:`run_jobs` maps a function over them with ``joblib.Parallel``, and
joblib's backends (``joblib.parallel_config(backend=...)``) run them: the engines' own joblib
integrations, nothing scheduled here. Results come back in the order of the jobs, and each job
computes the same numbers whichever engine runs it (the solvers are deterministic), so a backend
only changes where the work happens.

* ``"joblib"`` (installed with scikit-learn): the backend of the enclosing
  ``joblib.parallel_config`` (loky processes by default) with ``n_jobs`` workers;
  ``parallel_config`` decides when ``n_jobs`` is None, as everywhere in scikit-learn.
* ``"dask"`` (extra ``convexnn[dask]``): joblib's ``"dask"`` backend on the active
  ``dask.distributed`` client (``Client(...)`` connected to a cluster), whose workers all take
  jobs; without one, on a local cluster of ``n_jobs`` single-threaded worker processes started
  for the call and closed after it (one worker: the jobs run in this process, in order).
* ``"ray"`` (extra ``convexnn[ray]``): Ray's joblib backend (``ray.util.joblib.register_ray``)
  on every CPU of the running Ray instance, or of a local one started with ``n_jobs`` CPUs (left
  running for the next call, as Ray does itself; ``ray.shutdown()`` stops it).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import Any

import joblib

__all__ = ["BACKENDS", "run_jobs"]

#: backend name -> the optional extra that installs it (joblib ships with scikit-learn)
BACKENDS = {"joblib": None, "dask": "dask", "ray": "ray"}


def _import(module: str, backend: str):
    try:
        return import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"backend={backend!r} needs the package {module.split('.')[0]!r}, which is not "
            f"installed; install the extra with: pip install 'convexnn[{BACKENDS[backend]}]'"
        ) from exc


def _check_n_jobs(n_jobs) -> int | None:
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None, a positive integer or a negative integer "
                         f"(-1: all CPUs); got {n_jobs!r}")
    return int(n_jobs)


def _cpu_count(n_jobs: int | None) -> int | None:
    """Workers for engines that take a count: negative ``n_jobs`` counts back from all CPUs."""
    if n_jobs is None or n_jobs > 0:
        return n_jobs
    return max(1, (os.cpu_count() or 1) + 1 + n_jobs)


@contextmanager
def _joblib(n_jobs):
    """joblib's own workers, as the enclosing ``parallel_config`` sets them up."""
    yield n_jobs


@contextmanager
def _dask(n_jobs):
    """joblib's dask backend on the active client, else on a local cluster for this call."""
    distributed = _import("dask.distributed", "dask")
    try:
        client = distributed.get_client()
    except ValueError:  # no client is running
        client = None
    if client is not None:  # its cluster decides the workers
        with joblib.parallel_config(backend="dask", client=client):
            yield -1
        return
    workers = _cpu_count(n_jobs) or os.cpu_count() or 1
    if workers == 1:  # joblib runs the jobs of a single worker in this process itself
        yield 1
        return
    with (distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster, set_as_default=False) as local,
          joblib.parallel_config(backend="dask", client=local)):
        yield -1


@contextmanager
def _ray(n_jobs):
    """Ray's joblib backend on every CPU of the running (or a new local) Ray instance."""
    ray = _import("ray", "ray")
    if not ray.is_initialized():
        ray.init(num_cpus=_cpu_count(n_jobs), include_dashboard=False, log_to_driver=False)
    _import("ray.util.joblib", "ray").register_ray()
    with joblib.parallel_config(backend="ray"):
        yield -1


#: backend name -> context manager that configures joblib for it and yields Parallel's n_jobs
_ENGINES = {"joblib": _joblib, "dask": _dask, "ray": _ray}


def run_jobs(fn: Callable[..., Any], jobs: Iterable[Sequence], *, n_jobs: int | None = None,
             backend: str = "joblib") -> list:
    """``[fn(*args) for args in jobs]``, computed by an executor; results in the jobs' order.

    Parameters
    ----------
    fn : callable
        A picklable function (defined at module level); it runs in other processes for every
        backend but joblib and dask with one worker.
    jobs : iterable of tuples
        The positional arguments of each call.
    n_jobs : int, optional
        Workers: a positive count, or a negative one counted back from the CPUs (-1: all).
        None lets joblib's ``parallel_config`` decide (one worker by default), uses all CPUs
        for dask's local cluster, and leaves a running Ray instance as it is. Ignored by an
        active dask client, whose cluster decides.
    backend : {"joblib", "dask", "ray"}, default="joblib"
        The engine; dask and ray are optional extras.

    Returns
    -------
    results : list
        ``fn(*args)`` for each job, in order.

    Raises
    ------
    ImportError
        When the backend's package is not installed (naming the extra to install).
    """
    if backend not in _ENGINES:
        raise ValueError(f"backend must be one of {list(_ENGINES)}; got {backend!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    n_jobs = _check_n_jobs(n_jobs)
    jobs = list(jobs)
    for index, args in enumerate(jobs):
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"jobs must hold one tuple of positional arguments per call; job "
                            f"{index} is a {type(args).__name__}")
    jobs = [tuple(args) for args in jobs]
    if not jobs:
        return []
    with _ENGINES[backend](n_jobs) as workers:
        return list(joblib.Parallel(n_jobs=workers)(joblib.delayed(fn)(*args) for args in jobs))
