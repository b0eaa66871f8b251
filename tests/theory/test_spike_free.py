"""Spike-free matrices (JMLR Lemmas 3-5, eq (7)) and the two-neuron program (Theorem 4).

The spike-free examples are the paper's; a "not spike-free" verdict is re-checked by hand at
its witness. Theorem 4 is compared with program (8) (no bias, all patterns) by the conic solver,
at 1e-6 relative (Clarabel's gap tolerance is 1e-9).
"""

import numpy as np
import pytest

from convexnn.theory import spike_free_test, two_neuron_program

from .conftest import program8, whitened_data

RTOL = 1e-6


def spike_free_examples():
    rng = np.random.default_rng(0)
    white, _ = whitened_data(5, 8, 0)
    return {
        "diagonal": np.diag([1.0, 2.0, 0.5, 3.0]),
        "whitened (Lemma 4)": white,
        "Sigma V^T": np.diag([1.0, 3.0, 0.2, 0.7, 2.0]) @ white,
        "rank one, c >= 0 (Lemma 5)": np.outer(np.abs(rng.standard_normal(6)),
                                              rng.standard_normal(3)),
    }


@pytest.mark.parametrize("name", list(spike_free_examples()))
def test_paper_examples_are_spike_free(name):
    report = spike_free_test(spike_free_examples()[name], seed=0)
    assert report.spike_free is True
    assert report.lower == pytest.approx(1.0, abs=1e-9)
    assert report.upper == pytest.approx(1.0, abs=1e-9)


def test_non_spike_free_verdicts_come_with_a_checkable_witness():
    rng = np.random.default_rng(1)
    square = rng.standard_normal((4, 4))
    report = spike_free_test(square, seed=0)
    assert report.spike_free is False
    u = report.witness
    z = np.linalg.solve(square, np.maximum(square @ u, 0))  # the unique z with A z = (A u)_+
    assert np.linalg.norm(u) == pytest.approx(1.0)
    assert np.linalg.norm(z) == pytest.approx(report.lower) and report.lower > 1
    # rank one with mixed signs: (c t)_+ leaves the range of A = c a^T
    mixed = np.outer([1.0, -2.0, 0.5], [1.0, 1.0])
    assert spike_free_test(mixed, seed=0).spike_free is False


@pytest.mark.parametrize("loss", ["squared", "hinge"])
@pytest.mark.parametrize("name", ["whitened (Lemma 4)", "Sigma V^T"])
def test_two_neuron_program_equals_program8_on_spike_free_data(name, loss):
    A = spike_free_examples()[name]
    rng = np.random.default_rng(2)
    y = rng.standard_normal(A.shape[0])
    if loss == "hinge":
        y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    beta = 0.05
    two = two_neuron_program(A, y, loss=loss, beta=beta)
    assert two.dictionary.n_neurons == 2
    assert two.objective == pytest.approx(program8(A, y, loss=loss, beta=beta).objective,
                                          rel=RTOL)
    net = two.network()
    assert net.objective(A, y, loss=loss, beta=beta) == pytest.approx(two.objective, rel=1e-9)


def test_two_neuron_program_is_only_an_upper_bound_without_spike_freeness():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 3))
    y = rng.standard_normal(6)
    assert spike_free_test(A, seed=0).spike_free is False
    two = two_neuron_program(A, y, beta=0.05).objective
    assert two > program8(A, y, beta=0.05).objective * (1 + 1e-3)


def test_theorem4_interpolation_on_whitened_data():
    # beta = 0: min ||w1|| + ||w2|| s.t. A (w1 - w2) = y equals ||y_+|| + ||y_-|| (Lemma 9)
    A, y = whitened_data(5, 8, 4)
    two = two_neuron_program(A, y)
    np.testing.assert_allclose(two.predict(A)[:, 0], y, atol=1e-7)
    expected = np.linalg.norm(np.maximum(y, 0)) + np.linalg.norm(np.maximum(-y, 0))
    assert two.objective == pytest.approx(expected, rel=RTOL)
