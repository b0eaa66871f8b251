"""The executor adapter: results in order, and bit-identical float64 numbers on every backend."""

import os
import sys

import joblib
import numpy as np
import pytest
import torch

from convexnn.parallel import run_jobs
from convexnn.path import cross_validate_path

from .conftest import classification_data

pytestmark = pytest.mark.usefixtures("one_thread")


def _power(base, exponent):
    return base**exponent


def _worker_address(index):
    """``(index, address of the dask worker running the job)``; fails outside a dask worker."""
    from distributed import get_worker

    return index, get_worker().address


def _cross_validate(n_jobs, backend):
    # a real workload: 3 folds and the refit path, each a conic path over sampled patterns
    X, y = classification_data(n=24, seed=1)
    return cross_validate_path(X, y, cv=3, n_betas=4, loss="hinge", patterns="sampled",
                               n_patterns=12, seed=0, n_jobs=n_jobs, backend=backend)


@pytest.fixture(scope="module")
def serial():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _cross_validate(1, "joblib")
    finally:
        torch.set_num_threads(threads)


def _assert_identical(a, b):
    """Same float64 numbers, bit for bit: every job computes the same thing wherever it runs."""
    np.testing.assert_array_equal(a.betas, b.betas)
    np.testing.assert_array_equal(a.errors, b.errors)
    np.testing.assert_array_equal(a.n_active, b.n_active)
    for p, q in zip([*a.fold_paths, a.path], [*b.fold_paths, b.path], strict=True):
        np.testing.assert_array_equal(p.objectives, q.objectives)
        for s, t in zip(p.solutions, q.solutions, strict=True):
            np.testing.assert_array_equal(s.V, t.V)
            np.testing.assert_array_equal(s.W, t.W)


def test_results_come_back_in_the_jobs_order():
    jobs = [(base, 3) for base in range(7)]
    assert run_jobs(_power, jobs) == [base**3 for base in range(7)]
    with joblib.parallel_config(backend="threading"):
        assert run_jobs(_power, jobs, n_jobs=2) == [base**3 for base in range(7)]
    assert run_jobs(_power, []) == []


def test_joblib_with_two_workers_gives_identical_numbers(serial):
    # threads: the same joblib dispatch as processes, without ~10 s of worker start-up here
    with joblib.parallel_config(backend="threading"):
        _assert_identical(serial, _cross_validate(2, "joblib"))
    assert serial.fold_paths[0].solutions[1].V.dtype == np.float64


def test_dask_client_gives_identical_numbers(serial):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None):
        _assert_identical(serial, _cross_validate(2, "dask"))


def test_dask_without_a_client_runs_locally(serial):
    pytest.importorskip("dask")
    _assert_identical(serial, _cross_validate(1, "dask"))  # dask's synchronous scheduler


def test_dask_jobs_run_on_the_workers_of_the_active_cluster(serial):
    distributed = pytest.importorskip("distributed")
    with (distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        results = run_jobs(_worker_address, [(index,) for index in range(6)], backend="dask")
        assert [index for index, _ in results] == list(range(6))
        assert {address for _, address in results} <= set(client.scheduler_info()["workers"])
        _assert_identical(serial, _cross_validate(2, "dask"))


def test_dask_without_a_client_runs_on_a_local_cluster_it_closes():
    distributed = pytest.importorskip("distributed")
    # os.getpid: a job whose function the worker processes unpickle without importing torch
    pids = run_jobs(os.getpid, [()] * 4, n_jobs=2, backend="dask")
    assert len(pids) == 4 and os.getpid() not in pids and len(set(pids)) <= 2
    with pytest.raises(ValueError, match="No global client"):
        distributed.get_client()  # the cluster started for the call is gone


@pytest.mark.slow
def test_worker_processes_give_identical_numbers(serial):
    _assert_identical(serial, _cross_validate(2, "joblib"))  # loky processes
    pytest.importorskip("dask")
    _assert_identical(serial, _cross_validate(2, "dask"))  # dask's local process pool


@pytest.mark.slow
def test_ray_gives_identical_numbers(serial):
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    try:
        _assert_identical(serial, _cross_validate(2, "ray"))
    finally:
        if started:
            ray.shutdown()


def test_missing_backend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes "import ray" fail
    with pytest.raises(ImportError, match=r"pip install 'convexnn\[ray\]'"):
        run_jobs(_power, [(2, 2)], backend="ray")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"backend": "spark"}, ValueError, "backend must be one of"),
    ({"n_jobs": 0}, ValueError, "n_jobs must be None, a positive integer"),
    ({"n_jobs": 1.5}, ValueError, "n_jobs must be None"),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        run_jobs(_power, [(2, 2)], **kwargs)


def test_jobs_must_be_argument_tuples():
    with pytest.raises(TypeError, match="job 1 is a int"):
        run_jobs(_power, [(2, 2), 3])
    with pytest.raises(TypeError, match="fn must be callable"):
        run_jobs(3, [(2, 2)])
