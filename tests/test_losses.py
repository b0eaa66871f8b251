"""A loss owns its math: a subclass defined here alone runs through build, ADMM and certify.

The registered losses are covered through the solvers (test_solvers_fast), the estimators and
the certificates; this file checks the contract of :class:`convexnn.losses.Loss` itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convexnn import ConvexProblem, certify, solve
from convexnn.losses import LOSSES, Loss, Squared, get_loss

pytestmark = pytest.mark.usefixtures("one_thread")


class DoubledSquared(Loss):
    """``l(z, y) = ||z - y||^2``: twice the squared loss, known to no module of the package."""

    name = "doubled_squared"
    _curvature = 2.0

    def _elementwise(self, Z, Y):
        return (Z - Y) ** 2

    def _derivative(self, Z, Y):
        return 2 * (Z - Y)

    def _second_derivative(self, Z, Y):
        return torch.full_like(Z, 2.0)

    def _conjugate_elementwise(self, S, Y):
        return S**2 / 4 + S * Y

    def _prox_elementwise(self, V, Y, step, start):
        # 2 step (z - y) + z - v = 0
        return (V + 2 * step * Y) / (1 + 2 * step)


def test_a_new_loss_subclass_works_end_to_end():
    # 2 L(Z) + beta R = 2 (L(Z) + beta/2 R): the optimum is the squared loss's at beta / 2, twice
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = np.sin(2 * X[:, 0])
    build = {"patterns": "sampled", "n_patterns": 20, "seed": 0}
    doubled = ConvexProblem.build(X, y, loss=DoubledSquared(), beta=2e-2, **build)
    squared = ConvexProblem.build(X, y, loss="squared", beta=1e-2, **build)
    solution = solve(doubled, "admm", tol=1e-7)
    reference = solve(squared, "admm", tol=1e-7)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(2 * reference.objective, rel=1e-5)
    certificate = certify(solution)
    assert certificate.lower_bound <= solution.objective
    assert certificate.relative_gap <= 1e-5


def test_the_abstract_methods_are_enforced():
    class NoProx(DoubledSquared):
        _prox_elementwise = Loss._prox_elementwise

    with pytest.raises(TypeError, match="_prox_elementwise"):
        NoProx()
    with pytest.raises(TypeError, match="abstract"):
        Loss()


def test_get_loss_reads_the_registry():
    assert list(LOSSES) == ["squared", "hinge", "logistic", "cross_entropy"]
    for name, cls in LOSSES.items():
        assert type(get_loss(name)) is cls and cls.name == name
    mine = DoubledSquared()
    assert get_loss(mine) is mine
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("doubled_squared")  # a subclass is passed as an instance, never by name


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("n_classes", [2, 4])
def test_encoded_labels_are_targets_the_loss_accepts(name, n_classes):
    loss = get_loss(name)
    if n_classes > 2 and not loss.multiclass:
        pytest.skip("a binary-only loss")
    Y = loss.encode_labels(np.array([0, 1, n_classes - 1, 1]), n_classes)
    assert Y.shape[0] == 4 and Y.dtype == np.float64
    loss.check_targets(Y)


def test_target_checks_name_the_argument_and_the_loss():
    with pytest.raises(ValueError, match=r"Y must hold only -1 and \+1 for the hinge loss"):
        get_loss("hinge").check_targets(np.array([[0.0], [1.0]]), name="Y")
    with pytest.raises(ValueError, match="y must be one-hot rows .* for the cross_entropy loss"):
        get_loss("cross_entropy").check_targets(np.array([[1.0, 1.0]]))
    Squared().check_targets(np.array([[3.5], [-1e3]]))  # any real targets


def test_probabilities_of_the_likelihood_losses():
    scores = np.array([[-1.0, 0.5, 2.0], [0.0, 0.0, 0.0]])
    logistic = get_loss("logistic").predict_proba(scores[:, :1])
    np.testing.assert_allclose(logistic[:, 1], 1 / (1 + np.exp(-scores[:, 0])))
    softmax = get_loss("cross_entropy").predict_proba(scores)
    np.testing.assert_allclose(softmax.sum(1), 1)
    np.testing.assert_allclose(softmax[1], 1 / 3)
    assert [name for name, cls in LOSSES.items() if cls.has_proba] == ["logistic",
                                                                       "cross_entropy"]
    with pytest.raises(ValueError, match="the hinge loss has no class probabilities"):
        get_loss("hinge").predict_proba(scores)
