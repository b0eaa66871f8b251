"""The active-face polish against the conic reference, float64.

The polish starts from a loose ADMM point (certified relative gap 1e-2) and must return a point
that satisfies the cones and certifies a relative gap of 1e-7 or better (its Newton solve on the
faces converges quadratically, so it ends near rounding); the conic reference (Clarabel at 1e-10)
is within ~1e-9 of the optimum, so the polished objective must match it to 1e-6 relative.
``convexnn.certify`` (exact NNLS cone checks, independent of the polish's own certificate)
confirms the gap.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convexnn import ConvexProblem, certify
from convexnn.solution import ConvexSolution
from convexnn.solvers import _polish, admm, conic
from convexnn.solvers._polish import polish

pytestmark = pytest.mark.usefixtures("one_thread")


def small_problem(loss: str, gated: bool, k: int = 1) -> ConvexProblem:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    if loss == "squared" and k == 1:
        y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(30)
    elif loss == "logistic":
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    else:
        y = np.eye(k)[rng.integers(0, k, 30)]
    return ConvexProblem.build(X, y, loss=loss, beta=1e-2, patterns="sampled", n_patterns=25,
                               seed=0, gated=gated)


CASES = [("squared", False, 1), ("squared", True, 1), ("logistic", False, 1),
         ("cross_entropy", False, 3), ("squared", False, 3)]


@pytest.mark.parametrize(("loss", "gated", "k"), CASES)
def test_polish_reaches_the_conic_optimum_from_a_loose_point(loss, gated, k):
    problem = small_problem(loss, gated, k)
    reference = conic.solve(problem).objective
    loose = admm.solve(problem, tol=1e-2)
    lifted = problem.operators()
    blocks = [loose.V] if gated else [loose.V, loose.W]
    U = torch.cat([torch.as_tensor(B) for B in blocks], dim=1)
    result = polish(lifted, U, None)
    assert result is not None
    point, pre, gap = result
    assert gap.relative <= 1e-7
    assert lifted.cone_defect(pre) <= 1e-10
    assert abs(gap.primal - reference) <= 1e-6 * abs(reference) + 1e-12
    V, W = lifted.split(point)
    solution = ConvexSolution(problem=problem, V=V.numpy(), W=None if W is None else W.numpy(),
                              objective=gap.primal)
    assert certify(solution).relative_gap <= 1e-6


def test_polish_certifies_a_saturated_cross_entropy_program():
    """Twelve separable points, three classes by angle, all 134 patterns: the loss saturates,
    its curvature vanishes along the groups' radial directions and the face system becomes
    singular to rounding. Undamped, with 30 Newton steps, the polish gave up (and ADMM then ran
    to its iteration limit); damped, it certifies (2e-11, measured). Clarabel stalls on this
    program, so the reference is the independent certificate (exact NNLS cone checks)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    X = ((X - X.mean(0)) / X.std(0))[:12]
    y = np.digitize(np.arctan2(X[:, 1], X[:, 0]), [-1, 1])
    problem = ConvexProblem.build(X, np.eye(3)[y], loss="cross_entropy", beta=1e-3,
                                  patterns="exact")
    loose = admm.solve(problem, tol=1e-2)
    lifted = problem.operators()
    U = torch.cat([torch.as_tensor(loose.V), torch.as_tensor(loose.W)], dim=1)
    result = polish(lifted, U, None)
    assert result is not None
    point, pre, gap = result
    assert gap.relative <= 1e-8 and gap.primal <= loose.objective
    assert lifted.cone_defect(pre) <= 1e-10
    V, W = lifted.split(point)
    solution = ConvexSolution(problem=problem, V=V.numpy(), W=W.numpy(), objective=gap.primal)
    assert certify(solution).relative_gap <= 1e-8


def test_damped_factor_of_a_singular_system():
    # a rank-one PSD matrix factors once damped (its factor reproduces it to the damping);
    # an indefinite one does not factor at any damping tried
    v = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    singular = torch.outer(v, v)
    factor = _polish._damped_cholesky(singular)
    assert factor is not None
    assert torch.allclose(factor @ factor.T, singular, rtol=0, atol=1e-8 * 14)
    assert _polish._damped_cholesky(torch.diag(torch.tensor([1.0, -1.0]))) is None


def test_polish_declines_the_hinge_loss():
    problem = small_problem("hinge", False)
    point = admm.solve(problem, tol=1e-2)
    U = torch.cat([torch.as_tensor(point.V), torch.as_tensor(point.W)], dim=1)
    assert polish(problem.operators(), U, None) is None


def test_admm_polishes_its_long_tail(monkeypatch, capsys):
    """With the polish allowed from the first checks, ADMM ends with a polished point (without
    Anderson acceleration, whose memory of 10 certifies this small problem before a polish)."""
    monkeypatch.setattr(admm, "POLISH_AFTER", 0)
    problem = small_problem("squared", False)
    solution = admm.solve(problem, tol=1e-8, verbose=True, anderson=0)
    assert solution.status == "optimal"
    assert "active-face polish" in capsys.readouterr().out
    reference = conic.solve(problem).objective
    assert abs(solution.objective - reference) <= 1e-8 * abs(reference)


def test_admm_polishes_before_its_estimated_gap_nears_the_target(monkeypatch):
    """A check whose estimated gap is far from a tight target is still made when a polish is
    due (the support settled): the polish certifies it long before ADMM's own checks would
    (here 140 iterations against 530, measured; at least halved asserted). Without Anderson
    acceleration, as above."""
    monkeypatch.setattr(admm, "POLISH_AFTER", 0)
    problem = small_problem("cross_entropy", False, 3)
    early = admm.solve(problem, tol=1e-9, anderson=0, max_iter=20_000)
    monkeypatch.setattr(admm._Polisher, "wants", lambda self, *args: False)
    late = admm.solve(problem, tol=1e-9, anderson=0, max_iter=20_000)
    assert early.status == late.status == "optimal"
    assert early.iterations <= late.iterations / 2
    reference = conic.solve(problem).objective
    assert abs(early.objective - reference) <= 1e-8 * abs(reference)


def test_polish_does_not_start_steps_it_has_no_time_for(monkeypatch):
    """A Newton step timed in advance (``TIMED_WORK``) to end past the deadline is not taken:
    with the machine's rate pretended to be one step's work per 10 s and a 1 s budget, the
    polish gives up before its first step; with no deadline it polishes."""
    problem = small_problem("squared", False)
    loose = admm.solve(problem, tol=1e-2)
    U = torch.cat([torch.as_tensor(loose.V), torch.as_tensor(loose.W)], dim=1)
    steps = []
    original = _polish._newton_step
    monkeypatch.setattr(_polish, "_newton_step", lambda faces: steps.append(faces.work())
                        or original(faces))
    monkeypatch.setattr(_polish, "TIMED_WORK", 0.0)
    lifted = problem.operators()
    faces = _polish._Faces(lifted, U)
    faces.update_bases(torch.arange(faces.m))
    work = faces.work()
    monkeypatch.setattr(_polish, "_dense_rate", lambda: work / 10.0)
    assert polish(lifted, U, None, time_limit=1.0) is None
    assert steps == []
    assert polish(lifted, U, None) is not None
    assert steps


def test_polish_bounds_its_work_before_computing_the_bases(monkeypatch):
    """``least_work`` (face rows bound the bases' ranks) is at most the work with the bases, and
    a polish whose bound is over ``MAX_WORK`` returns before computing any basis."""
    problem = small_problem("squared", False)
    loose = admm.solve(problem, tol=1e-2)
    U = torch.cat([torch.as_tensor(loose.V), torch.as_tensor(loose.W)], dim=1)
    lifted = problem.operators()
    faces = _polish._Faces(lifted, U)
    bound = faces.least_work()
    faces.update_bases(torch.arange(faces.m))
    assert 0 < bound <= faces.work()
    assert bool(faces.on_face.any())  # some group has face rows: the bound is not trivial
    bases = []
    original = _polish._Faces.update_bases
    monkeypatch.setattr(_polish._Faces, "update_bases",
                        lambda self, groups: bases.append(groups) or original(self, groups))
    monkeypatch.setattr(_polish, "MAX_WORK", 0.5 * bound)
    assert polish(lifted, U, None) is None
    assert bases == []
