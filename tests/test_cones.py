"""The batched cone maxima (``convexnn.cones.cone_maxima``) and the certificates' dual constraint
(``certificates.dual_constraint_max``) against SciPy's NNLS one group at a time
(``_duality.cone_maximum``, the independent reference), float64.

A group's value is ``max_{v in K_i, ||v|| <= 1} <g, v> = ||P_{K_i} g||``. The problems mix the
three kinds of groups: ``g`` inside its cone (no projection needed; the value is ``||g||``),
``g`` in the polar cone (the projection, and the value, are 0) and the general case.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convexnn import certificates
from convexnn._duality import cone_maximum
from convexnn.certificates import dual_constraint_max
from convexnn.cones import _projections, cone_maxima
from convexnn.patterns import Patterns, add_bias, sample_patterns
from convexnn.problem import ConvexProblem

pytestmark = pytest.mark.usefixtures("one_thread")

RTOL = 1e-10
LAMS = ("structured", "inside_is_largest", "gaussian")


def _problem(seed: int):
    """30 points in 3-D plus a bias, 12 sampled patterns and the pattern of ``x_0``, 2 outputs;
    returns the problem and the index of ``x_0``'s pattern."""
    rng = np.random.default_rng(seed)
    Xa = add_bias(rng.standard_normal((30, 3)))
    own = Patterns((Xa @ Xa[0] >= 0)[:, None], Xa[0][:, None].copy(), exact=False)
    patterns = sample_patterns(Xa, 12, seed=seed).union(own)
    index = int(np.flatnonzero((patterns.D == own.D).all(axis=0))[0])
    problem = ConvexProblem(Xa, rng.standard_normal((30, 2)), "squared", 0.1, patterns, bias=True)
    return problem, index


def _dual(problem, index: int, kind: str, seed: int) -> np.ndarray:
    """A dual point (n, 2).

    ``structured`` and ``inside_is_largest``: output 0 is non-negative, so every group
    ``-X^T D_i lam_0 = -B_i a`` (``a = lam_0`` on the active samples) lies in the polar cone and
    projects to 0; output 1 is ``t e_0`` on the active samples of ``x_0``'s pattern (noise
    elsewhere), so that pattern's group ``t x_0`` lies inside its cone, and is the largest
    group when ``t`` is large. ``gaussian``: plain Gaussian noise.
    """
    rng = np.random.default_rng(seed + 100)
    n = problem.X.shape[0]
    if kind == "gaussian":
        return rng.standard_normal((n, 2)) / n
    Lam = np.abs(rng.standard_normal((n, 2))) / n
    active = problem.patterns.D[:, index]
    Lam[:, 1] = np.where(active, 0.0, rng.standard_normal(n) / n)
    Lam[0, 1] = 100.0 / n if kind == "inside_is_largest" else 1.0 / n
    return Lam


def _reference(problem, Lam):
    """Every group's value by SciPy's NNLS, one group at a time: (P, k, 2) with ``s = +1``
    first, and the groups' norms (P, k)."""
    X, D = problem.X, problem.patterns.D
    values = np.zeros((D.shape[1], Lam.shape[1], 2))
    norms = np.zeros((D.shape[1], Lam.shape[1]))
    for i in range(D.shape[1]):
        B = X.T * np.where(D[:, i], 1.0, -1.0)  # X^T (2 D_i - I)
        for c in range(Lam.shape[1]):
            g = X.T @ (D[:, i] * Lam[:, c])
            norms[i, c] = np.linalg.norm(g)
            values[i, c] = [cone_maximum(g, B)[0], cone_maximum(-g, B)[0]]
    return values, norms


def _batched(problem, Lam):
    """Every group's value by :func:`cone_maxima`, laid out as :func:`_reference`'s."""
    ops = problem.operators()
    G = ops.correlations(torch.as_tensor(Lam))
    signed = torch.stack([G, -G], dim=3).reshape(G.shape[0], G.shape[1], -1)
    return cone_maxima(ops.X, signed, ops.S).numpy().reshape(G.shape[1], G.shape[2], 2)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "torch"])
@pytest.mark.parametrize("kind", LAMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cone_maxima_match_scipy_nnls_group_by_group(monkeypatch, compiled, kind, seed):
    monkeypatch.setattr(_projections, "COMPILED", compiled)
    problem, index = _problem(seed)
    Lam = _dual(problem, index, kind, seed)
    want, norms = _reference(problem, Lam)
    got = _batched(problem, Lam)
    scale = np.maximum(norms, 1e-300)[:, :, None]
    assert np.all(np.abs(got - want) <= RTOL * scale)
    if kind != "gaussian":  # the cases are there: g inside its cone, g projecting to 0
        X, D = problem.X, problem.patterns.D
        g = X.T @ (D[:, index] * Lam[:, 1])
        assert np.all(np.where(D[:, index], 1.0, -1.0) * (X @ g) >= 0) and norms[index, 1] > 0
        assert got[index, 1, 0] == pytest.approx(norms[index, 1], rel=RTOL)
        zero = want[:, 0, 1] <= 1e-12 * norms[:, 0]
        assert zero.all() and (norms[:, 0] > 0).all()
        assert np.all(got[:, 0, 1] <= RTOL * norms[:, 0])


@pytest.mark.parametrize("first_chunk", [1, 2, 64])
@pytest.mark.parametrize("kind", LAMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dual_constraint_max_matches_a_loop_over_scipy_nnls(monkeypatch, first_chunk, kind,
                                                             seed):
    # batches of 1, 2, 4... groups (the pruning across batches) or one batch of all of them
    monkeypatch.setattr(certificates, "FIRST_CHUNK", first_chunk)
    problem, index = _problem(seed)
    Lam = _dual(problem, index, kind, seed)
    want, _ = _reference(problem, Lam)
    assert dual_constraint_max(problem, Lam) == pytest.approx(want.max(), rel=RTOL, abs=0)
    if kind == "inside_is_largest":  # the maximum is the norm of a group inside its cone
        assert want.max() == want[index, 1, 0]


@pytest.mark.parametrize("first_chunk", [1, 2, 64])
@pytest.mark.parametrize("kind", LAMS)
def test_each_output_s_largest_constraint_matches_scipy_nnls(monkeypatch, first_chunk, kind):
    # the per-output running maxima (each output's own pruning: in "structured" output 0 is
    # 0 everywhere while output 1 is large, so a single running maximum would skip output 0)
    monkeypatch.setattr(certificates, "FIRST_CHUNK", first_chunk)
    problem, index = _problem(1)
    Lam = _dual(problem, index, kind, 1)
    want, norms = _reference(problem, Lam)
    got = certificates._constraint_maxima(problem, Lam, None, per_output=True)
    assert got.shape == (2,)
    assert np.all(np.abs(got - want.max(axis=(0, 2))) <= RTOL * norms.max(axis=0))


def test_cone_maxima_of_chosen_groups_and_blocks(monkeypatch):
    # ``columns`` picks flattened groups q k + c; blocks of 3 groups give the same values
    problem, index = _problem(3)
    Lam = _dual(problem, index, "structured", 3)
    ops = problem.operators()
    G = ops.correlations(torch.as_tensor(Lam))
    whole = cone_maxima(ops.X, G, ops.S)
    columns = torch.tensor([5, 0, 2 * index + 1, 7])
    np.testing.assert_allclose(cone_maxima(ops.X, G, ops.S, columns),
                               whole.reshape(-1)[columns], rtol=RTOL, atol=0)
    monkeypatch.setattr(_projections, "MAX_ENTRIES", 3 * ops.n)
    np.testing.assert_allclose(cone_maxima(ops.X, G, ops.S), whole, rtol=RTOL, atol=0)
    assert cone_maxima(ops.X, G, ops.S, torch.zeros(0, dtype=torch.long)).shape == (0,)



@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "torch"])
def test_groups_left_unfinished_are_projected_exactly_by_the_dense_nnls(monkeypatch, compiled):
    # one Lawson-Hanson step, then the unfinished groups are handed to the dense fallback
    # (cones.cone_multipliers); reference: SciPy's NNLS one group at a time (1e-10, as above)
    from scipy.optimize import nnls as scipy_nnls

    from convexnn.cones import CompiledConeProjector, ConeProjector, _compiled, _torch

    handed = []
    for module in (_compiled, _torch):
        def counted(X, signs, points, original=module.cone_multipliers):
            handed.append(points.shape[0])
            return original(X, signs, points)
        monkeypatch.setattr(module, "cone_multipliers", counted)

    rng = np.random.default_rng(5)
    X = torch.as_tensor(rng.standard_normal((40, 4)))
    signs = (X @ torch.as_tensor(rng.standard_normal((4, 6))) >= 0).double() * 2 - 1
    V0 = torch.as_tensor(rng.standard_normal((4, 6, 1)))
    projector = (CompiledConeProjector if compiled else ConeProjector)(X, signs, 1)
    projector.max_steps = 1
    margins = signs * (X @ V0[:, :, 0])
    got = projector(V0, torch.arange(6), margins).numpy()[:, :, 0]
    for g in range(6):
        B = X.numpy().T * signs[:, g].numpy()
        a, _ = scipy_nnls(B, -V0[:, g, 0].numpy())
        want = V0[:, g, 0].numpy() + B @ a
        assert np.allclose(got[:, g], want, rtol=0, atol=RTOL * np.linalg.norm(V0[:, g, 0]))
    assert sum(handed) > 0
