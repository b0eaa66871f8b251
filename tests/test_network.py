"""TwoLayerReLU: recovery, rescaling, PyTorch round trips, persistence."""

import numpy as np
import pytest
import torch

from convexnn.network import TwoLayerReLU


@pytest.fixture
def net(rng):
    return TwoLayerReLU(rng.standard_normal((5, 3)), rng.standard_normal((5, 2)),
                        rng.standard_normal(5))


def test_predict_matches_the_formula(net, rng):
    X = rng.standard_normal((7, 3))
    expected = sum(np.maximum(X @ net.U[j] + net.b[j], 0)[:, None] * net.alpha[j]
                   for j in range(net.n_neurons))
    np.testing.assert_allclose(net.predict(X), expected, atol=1e-12)


def test_torch_round_trip_is_exact(net, rng):
    X = rng.standard_normal((7, 3))
    module = net.to_torch()
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.as_tensor(X)).numpy(), net.predict(X), atol=1e-12)
    back = TwoLayerReLU.from_torch(module)
    np.testing.assert_array_equal(back.U, net.U)
    np.testing.assert_array_equal(back.b, net.b)
    np.testing.assert_array_equal(back.alpha, net.alpha)


def test_from_torch_rejects_other_architectures():
    with pytest.raises(ValueError, match="Sequential\\(Linear, ReLU, Linear\\)"):
        TwoLayerReLU.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                                    torch.nn.Linear(4, 1)))
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        module[2].bias.fill_(0.5)
    with pytest.raises(ValueError, match="nonzero bias"):
        TwoLayerReLU.from_torch(module)


def test_balancing_keeps_the_function_and_lowers_the_penalty(net, rng):
    X = rng.standard_normal((7, 3))
    balanced = net.balanced()
    assert balanced.is_balanced() and not net.is_balanced()
    np.testing.assert_allclose(balanced.predict(X), net.predict(X), atol=1e-12)
    assert balanced.penalty(1.0) <= net.penalty(1.0)
    # AM-GM: the balanced penalty is beta * sum_j ||alpha_j||_1 ||(u_j, b_j)||
    inner = np.linalg.norm(np.hstack([net.U, net.b[:, None]]), axis=1)
    assert balanced.penalty(1.0) == pytest.approx(np.sum(inner * np.abs(net.alpha).sum(1)))


def test_save_load_round_trip(net, tmp_path):
    path = tmp_path / "net.npz"
    net.save(path)
    back = TwoLayerReLU.load(path)
    np.testing.assert_array_equal(back.U, net.U)
    np.testing.assert_array_equal(back.b, net.b)
    np.testing.assert_array_equal(back.alpha, net.alpha)


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a network")
    with pytest.raises(ValueError, match="not a convexnn network file"):
        TwoLayerReLU.load(bad)


def test_shape_errors_name_the_argument(net):
    with pytest.raises(ValueError, match="alpha must have one row per neuron"):
        TwoLayerReLU(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="X must have 3 features"):
        net.predict(np.ones((2, 4)))
    with pytest.raises(ValueError, match="X must be finite"):
        net.predict(np.array([[np.nan, 0, 0]]))
