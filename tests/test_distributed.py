"""Data-parallel solves (``convexnn.distributed``) against the same solvers on one process.

The reference is the single-process solve of the same program with the same options (ADMM's
Anderson acceleration off on both sides, since the distributed solve runs without it). The two
differ only in the order of the floating-point sums over samples (all-reduced partial sums,
ADMM's linear system solved through ``F^T F`` instead of ``F F^T``), i.e. by rounding: measured
differences are 1e-16 to 1e-12 relative after the budgets below, so we compare objectives,
weights and dual points at 1e-10 relative. Budgets are fixed iteration counts (``tol`` out of
reach) so both runs take the same number of steps; the slow test also lets both stop on their
own certified gap and checks that they stop at the same iteration.

Two processes are forked with ``torch.multiprocessing`` (gloo on 127.0.0.1); the tests that
only need the sharded code paths use a one-process group inside the test process.
"""

from __future__ import annotations

import inspect
import json
import pickle
import shutil
import socket
import subprocess

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.base import clone

from convexnn import ConvexProblem, ConvexReLUClassifier, distributed
from convexnn.cli import main
from convexnn.solvers import admm, solve

RTOL = 1e-10
#: 61 samples split 31 / 30: blocks of unequal size
N_SAMPLES = 61


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(loss: str, n: int = N_SAMPLES, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    weights = rng.uniform(0.5, 2.0, n)  # non-uniform: the global weighted mean is checked
    if loss == "squared":
        y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(n)
    else:  # 3 classes, one-vs-all +-1 targets (hinge)
        y = 2.0 * np.eye(3)[rng.integers(0, 3, n)] - 1.0
    return X, y, weights


def _problem(loss: str, gated: bool, seed: int = 1) -> ConvexProblem:
    X, y, weights = _data(loss)
    return ConvexProblem.build(X, y, loss=loss, beta=1e-2, patterns="sampled", n_patterns=12,
                               seed=seed, gated=gated, sample_weight=weights)


#: name -> (solver, loss, gated, options); tol 1e-14 is out of reach: fixed budgets
RUNS = {
    "fista": ("fista", "squared", True, {"tol": 1e-14, "max_iter": 50}),
    "admm": ("admm", "squared", False, {"tol": 1e-14, "max_iter": 25, "linear_solver": "gram"}),
    "admm_hinge": ("admm", "hinge", False, {"tol": 1e-14, "max_iter": 20,
                                            "linear_solver": "gram"}),
    "admm_to_tol": ("admm", "squared", False, {"tol": 1e-6, "max_iter": 2000,
                                               "linear_solver": "gram"}),
    "admm_cg": ("admm", "squared", False, {"tol": 1e-14, "max_iter": 25, "linear_solver": "cg"}),
}


def _reference(name: str):
    solver, loss, gated, options = RUNS[name]
    if "anderson" in inspect.signature(admm.solve).parameters and solver == "admm":
        options = {**options, "anderson": 0}
    torch.set_num_threads(1)
    return solve(_problem(loss, gated), solver, **options)


def _summary(solution) -> dict:
    return {"V": solution.V, "W": solution.W, "objective": solution.objective,
            "dual": solution.dual, "iterations": solution.iterations,
            "status": solution.status}


def _run_case(name: str, rank: int):
    """One case on one process of the group; the value rank 0 reports."""
    if name in RUNS:
        solver, loss, gated, options = RUNS[name]
        return _summary(distributed.solve(_problem(loss, gated), solver, **options))
    if name == "build":  # a block made from this process's rows only
        X, y, weights = _data("squared")
        start, stop = distributed.row_block(N_SAMPLES, rank, dist.get_world_size())
        block = distributed.ShardedProblem.build(
            X[start:stop], y[start:stop], beta=1e-2, n_patterns=12, seed=1,
            sample_weight=weights[start:stop], gated=True)
        (D,), _ = block.sharding.gather_rows(torch.as_tensor(block.patterns.D, dtype=torch.int32))
        solution = distributed.solve(block, "fista", tol=1e-14, max_iter=60)
        return {"D": D.numpy().astype(bool), "generators": block.patterns.generators,
                **_summary(solution)}
    if name == "projection":  # the cone projections alone, on this process's rows
        X, signs, V0 = _cone_data()
        start, stop = distributed.row_block(X.shape[0], rank, dist.get_world_size())
        sharding = distributed.ProcessGroupSharding(X.shape[0], start, stop - start)
        return {label: _project(sharding.cone_projector(X[start:stop], signs[start:stop], 1),
                                X[start:stop], signs[start:stop], V0, steps, max_steps)
                for label, steps, max_steps in PROJECTIONS}
    if name == "mismatch":  # processes that sampled their patterns with different seeds
        try:
            distributed.solve(_problem("squared", True, seed=rank), "fista", max_iter=5)
        except ValueError as exc:
            return str(exc)
        return None
    raise ValueError(name)


#: (label, steps, max_steps): exact; truncated like ADMM's cheap steps; exact after one
#: Lawson-Hanson step (the constraint-generation fallback)
PROJECTIONS = [("exact", None, 200), ("truncated", 2, 200), ("fallback", None, 1)]


def _cone_data(n: int = 41, d: int = 4, groups: int = 6):
    rng = np.random.default_rng(3)
    X = torch.as_tensor(rng.standard_normal((n, d)))
    signs = (X @ torch.as_tensor(rng.standard_normal((d, groups))) >= 0).double() * 2 - 1
    return X, signs, torch.as_tensor(rng.standard_normal((d, groups, 1)))  # V0 outside cones


def _project(projector, X, signs, V0, steps, max_steps):
    projector.max_steps = max_steps
    margins = signs * (X @ V0[:, :, 0])
    return projector(V0, torch.arange(V0.shape[1]), margins, steps).numpy()


def _worker(rank: int, world: int, port: int, cases: list[str], out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        results = {name: _run_case(name, rank) for name in cases}
    finally:
        dist.destroy_process_group()
    if rank == 0:
        with open(out, "wb") as f:
            pickle.dump(results, f)


def _spawn(cases: list[str], tmp_path) -> dict:
    out = str(tmp_path / "results.pkl")
    # fork: the processes inherit the imported modules (spawning re-imports torch and convexnn,
    # ~10 s on two loaded cores); they only use single-threaded CPU torch and gloo
    mp.start_processes(_worker, args=(2, _free_port(), cases, out), nprocs=2,
                       start_method="fork")
    with open(out, "rb") as f:
        return pickle.load(f)


def _assert_same(got: dict, reference) -> None:
    assert got["iterations"] == reference.iterations
    assert got["status"] == reference.status
    assert got["objective"] == pytest.approx(reference.objective, rel=RTOL, abs=0)
    for key in ("V", "W", "dual"):
        want = getattr(reference, key)
        if want is None:
            assert got[key] is None
            continue
        scale = np.abs(want).max()
        assert np.abs(got[key] - want).max() <= RTOL * scale, key


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Every fast case, run once by a group of two processes."""
    return _spawn(["fista", "admm", "admm_hinge", "admm_cg", "build", "projection", "mismatch"],
                  tmp_path_factory.mktemp("two_processes"))


@pytest.mark.parametrize("name", ["fista", "admm", "admm_hinge", "admm_cg"])
def test_two_processes_match_one(two_processes, name):
    _assert_same(two_processes[name], _reference(name))


def test_blocks_built_from_rows_match_the_whole_problem(two_processes):
    got = two_processes["build"]
    X, y, weights = _data("squared")
    whole = ConvexProblem.build(X, y, beta=1e-2, patterns="sampled", n_patterns=12, seed=1,
                                sample_weight=weights, gated=True)
    np.testing.assert_array_equal(got["D"], whole.patterns.D)
    np.testing.assert_array_equal(got["generators"], whole.patterns.generators)
    reference = solve(whole, "fista", tol=1e-14, max_iter=60)
    assert got["objective"] == pytest.approx(reference.objective, rel=RTOL, abs=0)
    assert np.abs(got["V"] - reference.V).max() <= RTOL * np.abs(reference.V).max()


@pytest.mark.parametrize("label, steps, max_steps", PROJECTIONS)
def test_cone_projections_match_one_process(two_processes, label, steps, max_steps):
    from convexnn.cones import ConeProjector

    X, signs, V0 = _cone_data()
    want = _project(ConeProjector(X, signs, 1), X, signs, V0, steps, max_steps)
    got = two_processes["projection"][label]
    assert np.abs(got - want).max() <= RTOL * np.abs(want).max()
    if steps is None:  # exact: inside every cone, to the accuracy of the least squares
        # (ridge 1e-13 relative: margins at active constraints are ~1e-12 |x| |v0| from 0)
        margins = signs * (X @ torch.as_tensor(got[:, :, 0]))
        tol = 1e-11 * float(X.norm(dim=1).max()) * V0[:, :, 0].norm(dim=0)
        assert torch.all(margins.min(dim=0).values >= -tol)
    else:  # two steps from these starts do not reach the cones: a real truncation
        assert not np.allclose(got, _project(ConeProjector(X, signs, 1), X, signs, V0, None,
                                             200))


def test_different_problems_on_the_processes_are_refused(two_processes):
    assert "processes hold different problems" in two_processes["mismatch"]


@pytest.mark.slow
def test_two_processes_stop_at_the_same_certified_iteration(tmp_path):
    got = _spawn(["admm_to_tol"], tmp_path)["admm_to_tol"]
    reference = _reference("admm_to_tol")
    assert reference.status == "optimal"
    _assert_same(got, reference)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_cli_fit_under_torchrun(tmp_path):
    X, y, _ = _data("squared")
    data = tmp_path / "data.csv"
    rows = np.column_stack([X, y]).tolist()  # Python floats: repr round-trips exactly
    data.write_text("a,b,c,y\n" + "".join(",".join(map(repr, row)) + "\n" for row in rows))
    common = [str(data), "--target", "y", "--patterns", "sampled", "--n-patterns", "12",
              "--beta", "1e-2"]
    run = subprocess.run(
        [shutil.which("torchrun"), "--standalone", "--nproc_per_node", "2", "-m",
         "convexnn.cli", "fit", *common, "--out", str(tmp_path / "split.pt"), "--distributed"],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("saved the model") == 1  # only rank 0 reports
    assert main(["fit", *common, "--out", str(tmp_path / "one.pt"), "--solver", "admm"]) == 0
    split = json.loads((tmp_path / "split.json").read_text())
    one = json.loads((tmp_path / "one.json").read_text())
    # both certified to ADMM's default relative gap 1e-6: objectives within 2e-6 of each other
    assert split["certificate"]["primal"] == pytest.approx(one["certificate"]["primal"],
                                                           rel=2e-6)


# ------------------------------------------------------------ one-process group, in this process
@pytest.fixture
def one_process_group():
    """A gloo group of this process alone: the sharded code paths with trivial collectives."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0,
                            world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_sharded_paths_in_one_process_match_the_plain_solver(one_process_group):
    block = distributed.shard_problem(_problem("squared", False))
    assert isinstance(block.operators().loss, distributed.ShardedLoss)
    # "direct": the one process's exact n x n solve; split, the exact F^T F solve
    got = distributed.solve(_problem("squared", False), "admm", tol=1e-14, max_iter=30,
                            linear_solver="direct")
    reference = solve(_problem("squared", False), "admm", tol=1e-14, max_iter=30,
                      **({"anderson": 0} if "anderson" in inspect.signature(admm.solve).parameters
                         else {}))
    _assert_same(_summary(got), reference)


def _counted_solves(monkeypatch) -> list:
    """Record each program handed to the distributed solve (which still solves it)."""
    calls, real = [], distributed.solve
    monkeypatch.setattr(distributed, "solve",
                        lambda problem, *args, **kwargs: calls.append(problem)
                        or real(problem, *args, **kwargs))
    return calls


@pytest.mark.parametrize("patterns", ["sampled", "search"])
def test_activate_makes_the_estimators_solve_distributed(one_process_group, monkeypatch,
                                                         patterns):
    X, y, _ = _data("hinge", n=40)
    labels = y.argmax(axis=1)  # 3 classes, squared loss: the search's outputs go one at a time
    calls = _counted_solves(monkeypatch)
    fit = ConvexReLUClassifier(beta=1e-2, loss="squared", patterns=patterns, n_patterns=12,
                               solver="admm", random_state=0)
    with distributed.activate():
        inside = clone(fit).fit(X, labels)
    assert len(calls) >= 1 and not isinstance(calls[0], distributed.ShardedProblem)
    solved = len(calls)
    outside = clone(fit).fit(X, labels)
    assert len(calls) == solved  # nothing was solved by it outside
    if patterns == "sampled":
        # the same program, each fit certified to ADMM's default relative gap 1e-6: the two
        # objectives are within 1e-6 of its optimum, so within 1e-5 of each other
        assert inside.solution_.objective == pytest.approx(outside.solution_.objective, rel=1e-5)
    else:
        # the searches' patterns follow their duals, which rounding and Anderson acceleration
        # (off in a distributed solve) move: the distributed fit is certified over its own
        # patterns to the estimators' search gap 1e-3
        assert inside.certificate_.relative_gap <= 1e-3


def test_solvers_solve_stays_in_the_process_inside_activate(one_process_group, monkeypatch):
    calls = _counted_solves(monkeypatch)
    problem = _problem("squared", True)
    with distributed.activate():
        assert distributed.context_solve() is not solve
        got = solve(problem, "fista", tol=1e-14, max_iter=20)
    assert calls == [] and distributed.context_solve() is solve
    _assert_same(_summary(got), solve(problem, "fista", tol=1e-14, max_iter=20))


def test_traffic_is_counted(one_process_group):
    block = distributed.shard_problem(_problem("squared", True))
    distributed.solve(block, "fista", tol=1e-14, max_iter=10)
    traffic = block.sharding.traffic
    assert traffic.all_reduce_calls > 0
    n, d, P, k = block.shape
    # at least one d x P x k gradient product per iteration, 8 bytes per float64
    assert traffic.all_reduce_bytes >= 10 * d * P * k * 8


@pytest.mark.parametrize("options, message", [
    ({"solver": "conic"}, "solver must be one of"),
    ({"solver": "fista", "time_limit": 1.0}, "time_limit is not supported"),
])
def test_bad_options_are_refused(one_process_group, options, message):
    with pytest.raises(ValueError, match=message):
        distributed.solve(_problem("squared", True), **options)


def test_a_split_solve_takes_cg_where_the_gram_is_large(one_process_group, monkeypatch):
    # "auto" factors F^T F only while dQ is below the samples (and at most
    # MAX_GRAM_VARIABLES); here dQ = 4 * 24 = 96 > 61 samples: Nyström-preconditioned CG on the
    # rows, the single-process "cg" solve step for step
    problem = _problem("squared", False)
    assert problem.X.shape[1] * 2 * problem.patterns.n_patterns > problem.X.shape[0]
    got = distributed.solve(problem, "admm", tol=1e-14, max_iter=30)
    reference = solve(problem, "admm", tol=1e-14, max_iter=30, anderson=0, linear_solver="cg")
    _assert_same(_summary(got), reference)
    # with fewer variables than samples, the Gram, as a single-process "gram" solve
    small = ConvexProblem.build(*_data("squared")[:2], beta=1e-2, patterns="sampled",
                                n_patterns=6, seed=1)
    got = distributed.solve(small, "admm", tol=1e-14, max_iter=30)
    reference = solve(small, "admm", tol=1e-14, max_iter=30, anderson=0, linear_solver="gram")
    _assert_same(_summary(got), reference)
    monkeypatch.setattr(distributed, "MAX_GRAM_VARIABLES", 10)  # beyond the limit: CG
    got = distributed.solve(small, "admm", tol=1e-14, max_iter=30)
    reference = solve(small, "admm", tol=1e-14, max_iter=30, anderson=0, linear_solver="cg")
    _assert_same(_summary(got), reference)


# -------------------------------------------------------------------------- no process group
def test_row_blocks_cover_the_samples_once():
    for n, world in [(61, 2), (10, 3), (7, 7), (100, 8)]:
        blocks = [distributed.row_block(n, rank, world) for rank in range(world)]
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
        sizes = [stop - start for start, stop in blocks]
        assert max(sizes) - min(sizes) <= 1


def test_solve_without_a_process_group_says_how_to_start_one():
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.solve(_problem("squared", True), "fista")


def test_init_outside_torchrun_says_so(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="not started by torchrun"):
        distributed.init()

