"""Shared fixtures: small float64 problems with all activation patterns enumerated."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's tests (``pytestmark = usefixtures("one_thread")``):
    tiny tensors only gain synchronization from a second thread, and the CI machine's two cores
    are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def regression_data(n=10, d=2, seed=0):
    """Gaussian features and a nonlinear target (so that ReLU neurons are actually needed)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(2 * X[:, 0]) + 0.3 * rng.standard_normal(n)
    return X, y


def classification_data(n=12, d=2, seed=0):
    """A circle-vs-outside problem with labels in {-1, +1} (in the spirit of the ICML 2020
    paper's first experiment)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(np.linalg.norm(X, axis=1) > 1.0, 1.0, -1.0)
    if np.all(y == y[0]):
        y[0] = -y[0]
    return X, y
