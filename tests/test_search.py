"""The neuron search against the enumerated optimum (conic reference), for every loss."""

import numpy as np
import pytest

from convexnn.certificates import certify
from convexnn.network import TwoLayerReLU
from convexnn.patterns import (
    Patterns,
    add_bias,
    enumerable_patterns,
    enumerate_patterns,
    sample_patterns,
)
from convexnn.problem import ConvexProblem
from convexnn.search import (
    _no_worse_than_zero,
    _pad_warm_start,
    _solver_options,
    neuron_search,
)
from convexnn.solution import ConvexSolution
from convexnn.solvers import solve

from .conftest import classification_data, regression_data

pytestmark = pytest.mark.usefixtures("one_thread")

# ADMM's final solve certifies a relative gap of 1e-7 to the restricted optimum; the search
# must then have found every pattern the optimum needs: the objective agrees with the conic
# reference over all patterns (interior point, 1e-9) to 1e-5 relative
TOL = 1e-7
REL = 1e-5


@pytest.fixture(scope="module")
def plane_data():
    """2 features plus bias, 16 rows: 242 patterns, all enumerated (about 3 s), and the conic
    optimum over all of them."""
    X, y = regression_data(n=16, d=2, seed=7)
    beta = 0.01
    problem = ConvexProblem.build(X, y, beta=beta, patterns="exact")
    return X, y, beta, problem.patterns, solve(problem, "conic").objective


def test_ascent_search_reaches_the_enumerated_optimum(plane_data):
    X, y, beta, _, optimum = plane_data
    # ADMM for the restricted programs (the default would take the conic solver: small)
    result = neuron_search(X, y, beta=beta, initial_patterns=10, oracle="ascent", tol=TOL,
                           solver="admm", seed=0)
    assert result.status == "converged"
    assert not result.exact_oracle and not result.proven  # converged, but not a proof
    assert result.objective == pytest.approx(optimum, rel=REL)
    assert result.objective >= optimum * (1 - 1e-8)  # a restriction never beats the optimum
    assert result.violation <= 1 + 1e-6
    # the network reproduces the convex objective (Theorem 1: the cones hold)
    network = result.network()
    assert network.objective(X, y, beta=beta) == pytest.approx(result.objective, rel=1e-9)


@pytest.mark.slow
def test_forty_rows_reach_the_enumerated_optimum():
    # The largest case of the issue: 40 rows, 2 features plus bias, 1562 patterns (enumeration
    # 25 s, conic reference 2 s; the search alone about 1 s, measured).
    X, y = regression_data(n=40, d=2, seed=7)
    problem = ConvexProblem.build(X, y, beta=0.01, patterns="exact")
    optimum = solve(problem, "conic").objective
    for oracle in ("ascent", problem.patterns):
        result = neuron_search(X, y, beta=0.01, initial_patterns=10, oracle=oracle, tol=TOL,
                               solver="admm", seed=0)
        assert result.status == "converged"
        assert result.objective == pytest.approx(optimum, rel=REL)


def test_exact_search_proves_the_enumerated_optimum(plane_data):
    X, y, beta, patterns, optimum = plane_data
    result = neuron_search(X, y, beta=beta, initial_patterns=10, oracle=patterns, tol=TOL,
                           seed=0)
    assert result.status == "converged" and result.proven
    assert result.objective == pytest.approx(optimum, rel=REL)
    # column generation keeps far fewer patterns than the enumeration
    assert result.patterns.n_patterns < patterns.n_patterns
    # its last dual point, scaled by the oracle's exact maximum, bounds the global optimum
    assert result.lower_bound <= optimum * (1 + 1e-9)
    assert result.lower_bound >= optimum * (1 - 1e-4)


def test_rounds_never_increase_the_objective(plane_data):
    # Round r solves a program containing round r-1's point (kept groups; new ones at zero),
    # so its optimum p_r <= objective_{r-1}. A solve certified to relative gap tol_r returns
    # objective_r <= p_r / (1 - tol_r). Hence objective_r <= objective_{r-1} / (1 - tol_r).
    X, y, beta, _, _ = plane_data
    result = neuron_search(X, y, beta=beta, initial_patterns=4, oracle="ascent",
                           patterns_per_round=2, tol=TOL, solver="admm", seed=1)
    history = result.history
    assert result.rounds >= 3  # several rounds really happened
    assert all(status == "optimal" for status in history["status"])  # every gap certified
    for r in range(1, result.rounds):
        bound = history["objective"][r - 1] / (1 - history["tol"][r])
        assert history["objective"][r] <= bound * (1 + 1e-12)
    assert result.objective <= history["objective"][-1] / (1 - history["tol"][-1])


@pytest.mark.parametrize(("loss", "outputs"), [
    ("squared", 2), ("hinge", 1), ("logistic", 1), ("cross_entropy", 3)])
def test_every_loss_reaches_the_exact_optimum(loss, outputs):
    # One feature plus bias: the search enumerates the 2n patterns itself (oracle "auto") and
    # prices them exactly; reference: the conic solver over all patterns. The restricted
    # programs are small, so solver "auto" solves them by the conic solver too (ADMM took
    # 10-50 s to certify 1e-6 on the hinge and cross-entropy ones, measured).
    X, y = classification_data(n=14, d=1, seed=3) if loss != "squared" else regression_data(
        n=14, d=1, seed=3)
    if loss == "squared":
        Y = np.column_stack([y, np.cos(3 * X[:, 0])])[:, :outputs]
    elif loss == "cross_entropy":
        labels = np.digitize(X[:, 0], np.quantile(X[:, 0], [1 / 3, 2 / 3]))
        labels[:3] = (labels[:3] + 1) % 3  # not separable by one threshold
        Y = np.eye(outputs)[labels]
    else:
        Y = y
    beta = 0.01
    optimum = solve(ConvexProblem.build(X, Y, loss=loss, beta=beta, patterns="exact"),
                    "conic").objective
    result = neuron_search(X, Y, loss=loss, beta=beta, initial_patterns=3, tol=TOL, seed=0)
    assert result.exact_oracle
    assert result.status == "converged" and result.proven
    assert result.objective == pytest.approx(optimum, rel=1e-4)
    assert certify(result.solution).relative_gap <= 1e-5


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_outputs_searched_separately_reach_the_joint_optimum(loss):
    # A loss that sums over outputs: program (8) is the sum of one program per output, so the
    # per-output searches (each with the exact oracle on one feature plus bias) must together
    # reach the optimum of the joint program over all patterns (conic reference), and their
    # summed certificate must be global.
    X, _ = regression_data(n=14, d=1, seed=3)
    x = X[:, 0]
    Y = np.column_stack([np.sin(2 * x), np.abs(x) - 0.5, x**2 - 1.0])
    if loss == "hinge":
        Y = np.where(Y > 0, 1.0, -1.0)
    beta = 0.01
    reference = solve(ConvexProblem.build(X, Y, loss=loss, beta=beta, patterns="exact"),
                      "conic")
    # the optimum lies between the reference's certified bound and its objective (Clarabel
    # stops at a relative gap of about 1e-9, which the comparisons below must allow)
    optimum, floor = reference.objective, certify(reference).lower_bound
    seen = []
    result = neuron_search(X, Y, loss=loss, beta=beta, initial_patterns=3, tol=TOL, seed=0,
                           progress=seen.append)
    assert [part.solution.problem.Y.shape for part in result.outputs] == [(14, 1)] * 3
    assert result.status == "converged" and result.proven
    assert result.objective == pytest.approx(optimum, rel=1e-4)
    assert result.objective >= optimum * (1 - 1e-8)
    # each output's groups sit on its own patterns: the union's point has the outputs' sum
    assert result.objective == pytest.approx(
        sum(part.objective for part in result.outputs), rel=1e-12)
    certificate = result.certificate()
    assert certificate.per_output and certificate.exact_patterns
    assert certificate.lower_bound <= optimum * (1 + 1e-9)
    assert floor <= certificate.primal * (1 + 1e-9)
    assert certificate.relative_gap <= 1e-5
    # rounds are reported with their output, in order
    assert sorted(set(entry["output"] for entry in seen)) == [0, 1, 2]
    assert result.history["output"] == [entry["output"] for entry in seen]
    # the network (Theorem 1 on the union's point) has the convex objective, up to the groups
    # of norm below 1e-9 of the largest that the recovery drops (the conic solver, an interior
    # point, solved these small restricted programs and leaves such groups: 2e-9 measured)
    network = result.network()
    assert network.objective(X, Y, beta=beta, loss=loss) == pytest.approx(result.objective,
                                                                          rel=1e-7)


def test_per_output_certificate_is_the_sum_of_the_outputs():
    # Sampled data in 3-D: the ascent oracle, not a proof; the rigorous certificate of the
    # restricted program is the sum of each output's own certificate (certified here again,
    # independently), and it names its scope.
    X, y = regression_data(n=30, d=3, seed=2)
    Y = np.column_stack([y, np.tanh(X[:, 0])])
    result = neuron_search(X, Y, beta=0.01, max_rounds=2, tol=1e-6, seed=0)
    parts = [certify(part.solution) for part in result.outputs]
    total = result.certificate()
    assert total.primal == pytest.approx(sum(part.primal for part in parts), rel=1e-12)
    assert total.lower_bound == pytest.approx(sum(part.lower_bound for part in parts),
                                              rel=1e-9)
    assert total.n_patterns == sum(part.n_patterns for part in parts)
    assert not total.exact_patterns and total.search_bound is not None
    assert "each output" in total.scope
    # searched jointly instead, every pattern carries a group per output
    joint = neuron_search(X, Y, beta=0.01, max_rounds=2, tol=1e-6, seed=0, per_output=False)
    assert joint.outputs is None and not joint.certificate().per_output


def test_plane_enumeration_matches_enumerate_patterns():
    # The search's O(n log n) enumeration of rank-2 data against the library's LP-based one.
    X, _ = regression_data(n=25, d=1, seed=4)
    Xa = add_bias(np.vstack([X, X[:3]]))  # repeated rows too
    ours = enumerable_patterns(Xa, max_count=1)  # rank 2: sorted, whatever the count
    reference = enumerate_patterns(Xa)
    as_set = lambda P: {column.tobytes() for column in P.D.T}  # noqa: E731
    assert as_set(ours) == as_set(reference)
    assert ours.exact
    assert np.array_equal(Xa @ ours.generators >= 0, ours.D)
    # higher rank: enumerated only under the count (30 rows of rank 4: Cover's count 8,180)
    X3, _ = regression_data(n=30, d=3, seed=0)
    assert enumerable_patterns(add_bias(X3), max_count=8_000) is None


def test_seed_network_patterns_start_the_search():
    X, y = regression_data(n=30, d=3, seed=2)
    rng = np.random.default_rng(0)
    network = TwoLayerReLU(rng.standard_normal((5, 3)), rng.standard_normal(5),
                           rng.standard_normal(5))
    result = neuron_search(X, y, beta=0.01, initial_patterns=2, seed_network=network,
                           max_rounds=1, drop_after=5, oracle="ascent", tol=1e-4, seed=0)
    kept = {column.tobytes() for column in result.patterns.D.T}
    seeds = network.activation_patterns(X).D.T
    assert all(column.tobytes() in kept for column in seeds)
    assert result.status == "max_rounds" and result.rounds == 1


def test_an_adam_warm_up_seeds_the_search():
    # seed_network="adam": a short Adam run of the same objective (search.WARMUP) trains the
    # seed; its neurons' patterns join the 2 random ones, and the same seed repeats the run
    X, y = regression_data(n=40, d=3, seed=4)
    runs = [neuron_search(X, y, beta=0.01, initial_patterns=2, seed_network="adam",
                          max_rounds=1, drop_after=5, oracle="ascent", tol=1e-4, seed=0)
            for _ in range(2)]
    assert runs[0].history["n_patterns"][0] > 2
    assert runs[0].objective == runs[1].objective
    assert np.array_equal(runs[0].patterns.D, runs[1].patterns.D)


def test_the_hinge_loss_is_searched_with_the_conic_solver_when_small():
    # without curvature ADMM needs thousands of iterations per round; "auto" takes the
    # interior point for small restricted programs of the hinge loss (CONIC_MAX_NONSMOOTH)
    # and ADMM for the squared loss of the same size (above CONIC_MAX_SIZE); options meant
    # for the first-order solvers do not reach the conic one
    X, y = regression_data(n=80, d=2, seed=3)
    labels = np.where(y > np.median(y), 1.0, -1.0)
    options = {"solver_options": {"device": "cpu", "max_iter": 500}, "initial_patterns": 100,
               "max_rounds": 1, "drop_after": 5, "oracle": "ascent", "tol": 1e-3, "seed": 0}
    hinge = neuron_search(X, labels, loss="hinge", beta=0.01, **options)
    squared = neuron_search(X, labels, beta=0.01, **options)
    n, d, P, k = hinge.solution.problem.shape
    assert 5_000 < 2 * P * k * (d + n) <= 25_000  # between the two bounds
    assert hinge.solution.solver.startswith("conic")
    assert squared.solution.solver == "admm"


def test_a_search_out_of_time_skips_the_oracle_and_claims_no_bound():
    # with no time left after a round's solve, the oracle (0.7-2.3 s a call on digits) is not
    # asked: the round's point stands, and the certificate says the search bounds nothing
    X, y = regression_data(n=60, d=5, seed=1)
    result = neuron_search(X, y, beta=1e-3, initial_patterns=5, time_limit=1e-3, seed=0)
    assert result.status == "time_limit" and result.rounds == 0
    assert result.lower_bound == -np.inf
    certificate = result.certificate()
    assert certificate.valid and certificate.lower_bound <= certificate.primal
    assert "stopped by its time limit" in certificate.search_summary


def test_outputs_searched_on_threads_give_the_same_network():
    # each output draws its own seeds, so searching two outputs at a time (threads) returns
    # what one at a time does, and every output's rounds are reported
    X, y = regression_data(n=60, d=4, seed=5)
    Y = np.column_stack([y, np.sin(y), y**2 - 1.0])
    runs = {}
    for n_jobs in (1, 2):
        seen = []
        runs[n_jobs] = neuron_search(X, Y, beta=1e-3, initial_patterns=5, max_rounds=3,
                                     tol=1e-4, seed=0, n_jobs=n_jobs, progress=seen.append)
        assert sorted({entry["output"] for entry in seen}) == [0, 1, 2]
    one, two = runs[1], runs[2]
    assert one.objective == two.objective
    np.testing.assert_array_equal(one.solution.V, two.solution.V)
    np.testing.assert_array_equal(one.patterns.D, two.patterns.D)
    assert one.history == two.history | {"solve_time": one.history["solve_time"],
                                         "oracle_time": one.history["oracle_time"],
                                         "time": one.history["time"]}


def test_only_a_solve_other_than_the_library_s_keeps_the_outputs_on_one_thread():
    # the estimators pass convexnn.solvers.solve outside distributed.activate: outputs still
    # go on threads; any other solve (a distributed one) takes them one at a time
    import threading

    X, y = regression_data(n=60, d=4, seed=5)
    Y = np.column_stack([y, np.sin(y)])

    def threads(solve_with) -> set:
        names = set()
        neuron_search(X, Y, beta=1e-3, initial_patterns=5, max_rounds=1, seed=0, n_jobs=2,
                      solve_with=solve_with,
                      progress=lambda entry: names.add(threading.current_thread().name))
        return names

    assert all(name.startswith("convexnn-search") for name in threads(solve))
    assert threads(lambda *args, **options: solve(*args, **options)) == {
        threading.current_thread().name}


def test_outputs_on_threads_share_the_time_limit():
    import time

    X, y = regression_data(n=200, d=6, seed=6)
    Y = np.column_stack([y, np.sin(y), y**2 - 1.0, np.cos(3 * y)])
    neuron_search(X[:30], Y[:30], beta=1e-3, initial_patterns=3, max_rounds=1, seed=0)
    start = time.perf_counter()
    result = neuron_search(X, Y, beta=1e-3, time_limit=2.0, seed=0, n_jobs=2)
    assert time.perf_counter() - start <= 2.2  # the limit, plus 10 % as for one output
    assert len(result.outputs) == 4


@pytest.mark.parametrize(("n_jobs", "error", "message"), [
    ("all", ValueError, "n_jobs must be 'auto', -1 or a positive int"),
    (0, ValueError, "n_jobs must be >= 1"),
    (True, TypeError, "n_jobs must be an integer"),
])
def test_n_jobs_is_checked(n_jobs, error, message):
    X, y = regression_data(n=20, d=2, seed=0)
    with pytest.raises(error, match=message):
        neuron_search(X, y, beta=1e-3, n_jobs=n_jobs)


def test_a_round_cut_short_is_never_worse_than_the_zero_network():
    # a first-order solve stopped early can end above the zero point (digits' outputs after
    # 50 ADMM iterations: 0.17 against 0.05); the search then takes the zero point, and its
    # dual from grad L there (the solver's early dual belongs to the other point)
    X, y = regression_data(n=40, d=3, seed=2)
    problem = ConvexProblem.build(X, y, beta=1e-3, patterns="sampled", n_patterns=6, seed=0)
    V = np.random.default_rng(0).standard_normal((problem.X.shape[1], 6, 1))
    bad = ConvexSolution(problem, V=V, W=np.zeros_like(V), objective=problem.objective(
        V, np.zeros_like(V)), dual=np.ones((40, 1)), status="time_limit")
    zero = problem.objective(np.zeros_like(V), np.zeros_like(V))
    assert bad.objective > zero
    kept = _no_worse_than_zero(bad)
    assert kept.objective == zero and kept.dual is None and kept.status == "time_limit"
    assert not kept.V.any() and not kept.W.any()
    good = solve(problem, "admm", tol=1e-6)
    assert _no_worse_than_zero(good) is good


def test_budgets_end_the_search():
    X, y = regression_data(n=60, d=5, seed=1)
    patterns = sample_patterns(add_bias(X), 5, seed=0)
    result = neuron_search(X, y, beta=1e-3, initial_patterns=patterns, max_rounds=2,
                           tol=1e-4, seed=0)
    assert result.status == "max_rounds" and result.rounds == 2
    assert len(result.history["objective"]) == 2
    result = neuron_search(X, y, beta=1e-3, initial_patterns=5, time_limit=0.5, tol=1e-4,
                           seed=0)
    assert result.status in ("time_limit", "converged")
    # whatever stopped it, the returned solution is a solve over the returned patterns
    assert result.solution.problem.patterns is result.patterns


def test_stopping_rules_on_progress_and_the_search_bound():
    X, y = regression_data(n=60, d=5, seed=1)
    # a demand of 50 % progress over 3 rounds: the search stops once the objective flattens
    slow = neuron_search(X, y, beta=1e-3, initial_patterns=5, min_progress=0.5, tol=1e-4,
                         seed=0, max_rounds=30)
    objectives = slow.history["objective"]
    assert slow.status == "no_progress"
    assert objectives[-4] - objectives[-1] < 0.5 * objectives[-1]
    # every round records the search's bound, below the round's objective
    assert all(b <= o for b, o in zip(slow.history["bound"], objectives, strict=True))
    # a gap target of 99 %: met by the first round whose bound is positive
    loose = neuron_search(X, y, beta=1e-3, initial_patterns=5, gap_tol=0.99, tol=1e-4, seed=0)
    assert loose.status == "gap_tol"
    last = loose.history
    assert last["objective"][-1] - last["bound"][-1] <= 0.99 * last["objective"][-1]


def test_progress_is_reported_per_round():
    X, y = regression_data(n=20, d=2, seed=0)
    seen = []
    neuron_search(X, y, beta=0.01, max_rounds=2, oracle="ascent", tol=1e-4, seed=0,
                  progress=seen.append)
    assert [entry["round"] for entry in seen] == [1, 2]
    assert {"objective", "violation", "n_patterns", "time"} <= set(seen[0])


def test_gated_search_runs_below_the_relu_search():
    # The gated program relaxes the cones: over comparable patterns its optimum is lower.
    X, y = regression_data(n=16, d=1, seed=5)
    relu = neuron_search(X, y, beta=0.01, tol=1e-6, seed=0)
    gated = neuron_search(X, y, beta=0.01, gated=True, tol=1e-6, seed=0)
    assert gated.solution.gated
    assert gated.objective <= relu.objective * (1 + 1e-6)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"beta": 0.0}, ValueError, "beta"),
    ({"oracle": "best"}, ValueError, "oracle must be"),
    ({"initial_patterns": 0}, ValueError, "initial_patterns must be >= 1"),
    ({"max_rounds": 0}, ValueError, "max_rounds must be >= 1"),
    ({"gap_tol": 1.0}, ValueError, "gap_tol must be"),
    ({"min_progress": -0.1}, ValueError, "min_progress must be"),
    ({"progress": 3}, TypeError, "progress must be callable"),
    ({"seed_network": "net"}, ValueError, "seed_network must be a TwoLayerReLU, 'adam'"),
    ({"seed_network": 3}, TypeError, "seed_network"),
    ({"per_output": "yes"}, ValueError, "per_output must be"),
    ({"per_output": True, "loss": "cross_entropy", "y": np.eye(2)[[0, 1] * 5]}, ValueError,
     "per_output=True needs a loss that sums over outputs"),
])
def test_errors_name_the_argument(kwargs, error, message):
    X, y = regression_data(n=10, d=2)
    y = kwargs.pop("y", y)
    with pytest.raises(error, match=message):
        neuron_search(X, y, **{"beta": 0.01, **kwargs})


def test_the_oracle_beside_the_solve_gives_the_same_result_every_time(monkeypatch):
    # with two threads a round's oracle starts on an ADMM check's dual while ADMM goes on; the
    # check is chosen by the iterates and the seed drawn on the search's thread, so the result
    # does not depend on timing, and the rounds' objectives obey the bound of
    # test_rounds_never_increase_the_objective; with one thread every oracle call runs on the
    # search's own thread
    import threading

    import convexnn.search as search_module

    X, y = regression_data(n=300, d=7, seed=2)
    threads: list[str] = []
    ascent = search_module._Search.ascent

    def spy(self, *args):
        threads.append(threading.current_thread().name)
        return ascent(self, *args)

    monkeypatch.setattr(search_module._Search, "ascent", spy)
    runs, names = [], []
    for n_jobs in (2, 2, 1):
        threads.clear()
        runs.append(neuron_search(X, y, beta=1e-3, initial_patterns=10, max_rounds=4,
                                  tol=1e-4, seed=0, n_jobs=n_jobs, solver="admm"))
        names.append(set(threads))
    beside, again, alone = runs
    assert any(name.startswith("convexnn-oracle") for name in names[0])
    assert names[2] == {threading.current_thread().name}
    assert beside.objective == again.objective
    np.testing.assert_array_equal(beside.solution.V, again.solution.V)
    np.testing.assert_array_equal(beside.patterns.D, again.patterns.D)
    timing = ("solve_time", "oracle_time", "time")
    assert {k: v for k, v in beside.history.items() if k not in timing} == {
        k: v for k, v in again.history.items() if k not in timing}
    history = beside.history
    assert beside.rounds >= 3 and all(status == "optimal" for status in history["status"])
    for r in range(1, beside.rounds):
        bound = history["objective"][r - 1] / (1 - history["tol"][r])
        assert history["objective"][r] <= bound * (1 + 1e-12)


def test_a_round_s_warm_start_keeps_the_kept_groups_cone_multipliers():
    # the next round's program: three of the last round's patterns (in a new order), then two
    # new ones; each kept v and w group takes its own multipliers, the new ones start at zero
    X, y = regression_data(n=30, d=3, seed=1)
    Xa = add_bias(X)
    last = ConvexProblem.build(X, y, beta=0.01, patterns=sample_patterns(Xa, 6, seed=0))
    previous = solve(last, "admm", tol=1e-6)
    keep = np.array([4, 0, 2])
    fresh = sample_patterns(Xa, 2, seed=5)
    kept = last.patterns.subset(keep)
    patterns = Patterns(np.hstack([kept.D, fresh.D]),
                        np.hstack([kept.generators, fresh.generators]), False)
    following = ConvexProblem.build(X, y, beta=0.01, patterns=patterns)
    warm = _pad_warm_start(following, previous, keep)
    M, old = warm.cone_multipliers, previous.cone_multipliers
    assert M.shape == (30, 10, 1) and np.any(old[:, np.r_[keep, 6 + keep]] > 0)
    np.testing.assert_array_equal(M[:, :3], old[:, keep])
    np.testing.assert_array_equal(M[:, 5:8], old[:, 6 + keep])
    assert not M[:, [3, 4, 8, 9]].any()
    np.testing.assert_array_equal(warm.V[:, :3], previous.V[:, keep])
    # and the padded start is a valid ADMM warm start of the new program
    assert solve(following, "admm", tol=1e-6, warm_start=warm).status == "optimal"
    # a round's solve continues from the last penalties; the final solve starts from the
    # defaults (see search._pad_warm_start)
    rho, ratio = previous.history["rho"][-1], previous.history["ratio"][-1]
    options = _solver_options("admm", warm, {})
    assert options["warm_start"] is warm
    assert (options["rho"], options["ratio"]) == (rho, ratio)
    assert "rho" not in _solver_options("admm", warm, {}, penalties=False)


def test_rounds_continue_from_the_last_penalties_and_the_final_solve_from_the_defaults():
    # every round after the first gets the previous round's last penalties; the final solve
    # (the one at tol) gets none, whatever the warm start it is handed
    X, y = regression_data(n=60, d=4, seed=2)
    calls = []

    def recording(problem, solver, **options):
        solution = solve(problem, solver, **options)
        calls.append((options.get("tol"), options.get("rho"), options.get("ratio"),
                      solution.history.get("rho", [None])[-1],
                      solution.history.get("ratio", [None])[-1]))
        return solution

    result = neuron_search(X, y, beta=1e-3, initial_patterns=5, max_rounds=4, seed=0,
                           solver="admm", tol=1e-4, solve_with=recording)
    assert result.rounds >= 3 and len(calls) == result.rounds + 1
    *rounds, final = calls
    assert rounds[0][1] is None  # the first round starts from the defaults
    for before, after in zip(rounds[:-1], rounds[1:], strict=True):
        assert after[1:3] == before[3:5]
    assert final[0] == 1e-4 and final[1:3] == (None, None)
