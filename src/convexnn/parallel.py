"""Run independent jobs through an existing executor: joblib (default), dask or ray.

Regularization paths, cross-validation folds and grids of ``beta`` are made of solves that do not
depend on each other; :func:`run_jobs` maps a function over them with an engine that already
exists, and never schedules anything itself. Results come back in the order of the jobs, and
each job computes the same numbers whichever engine runs it (the solvers are deterministic), so
a backend only changes where the work happens.

* ``"joblib"`` (installed with scikit-learn): ``joblib.Parallel``; ``n_jobs`` workers, and
  ``joblib.parallel_config`` decides when ``n_jobs`` is None, as everywhere in scikit-learn.
* ``"dask"`` (extra ``convexnn[dask]``): the active ``dask.distributed`` client when there is one
  (``Client(...)`` connected to a cluster), else ``dask.delayed`` on dask's local process pool.
* ``"ray"`` (extra ``convexnn[ray]``): ``ray.remote`` tasks on the running Ray instance, or on
  a local one started with ``n_jobs`` CPUs (left running for the next call, as Ray does itself;
  ``ray.shutdown()`` stops it).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from importlib import import_module
from typing import Any

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
    import os

    return max(1, (os.cpu_count() or 1) + 1 + n_jobs)


def _run_joblib(fn, jobs, n_jobs):
    import joblib

    return joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(fn)(*args) for args in jobs)


def _run_dask(fn, jobs, n_jobs):
    dask = _import("dask", "dask")
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):  # no distributed, or no client is running
        client = None
    if client is not None:
        futures = [client.submit(fn, *args, pure=False) for args in jobs]
        return client.gather(futures)
    workers = _cpu_count(n_jobs)
    tasks = [dask.delayed(fn, pure=False)(*args) for args in jobs]
    if workers == 1:
        return list(dask.compute(*tasks, scheduler="synchronous"))
    return list(dask.compute(*tasks, scheduler="processes", num_workers=workers))


def _run_ray(fn, jobs, n_jobs):
    ray = _import("ray", "ray")
    if not ray.is_initialized():
        ray.init(num_cpus=_cpu_count(n_jobs), include_dashboard=False, log_to_driver=False)
    remote = ray.remote(fn)
    return ray.get([remote.remote(*args) for args in jobs])


_RUNNERS = {"joblib": _run_joblib, "dask": _run_dask, "ray": _run_ray}


def run_jobs(fn: Callable[..., Any], jobs: Iterable[Sequence], *, n_jobs: int | None = None,
             backend: str = "joblib") -> list:
    """``[fn(*args) for args in jobs]``, computed by an executor; results in the jobs' order.

    Parameters
    ----------
    fn : callable
        A picklable function (defined at module level); it runs in other processes for every
        backend but joblib with one job.
    jobs : iterable of tuples
        The positional arguments of each call.
    n_jobs : int, optional
        Workers: a positive count, or a negative one counted back from the CPUs (-1: all).
        None lets joblib's ``parallel_config`` decide (one worker by default), uses all CPUs
        of dask's local pool, and leaves a running Ray instance as it is. Ignored by an active
        dask client, whose cluster decides.
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
    if backend not in _RUNNERS:
        raise ValueError(f"backend must be one of {list(_RUNNERS)}; got {backend!r}")
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
    return list(_RUNNERS[backend](fn, jobs, n_jobs))
