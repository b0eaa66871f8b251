"""TwoLayerReLU: recovery, rescaling, PyTorch round trips, persistence."""

import json

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


# ------------------------------------------------------------- .pt + .json persistence (issue 7)
def _bits(network):
    return [network.U, network.alpha, network.b]


def test_pt_round_trip_is_exact_and_keeps_the_metadata(net, tmp_path, rng):
    path = tmp_path / "net.pt"
    net.save(path, loss="hinge", beta=0.25, metadata={"note": "trained by Adam"})
    back, metadata = TwoLayerReLU.load(path, with_metadata=True)
    for a, b in zip(_bits(back), _bits(net), strict=True):
        np.testing.assert_array_equal(a, b)
    X = rng.standard_normal((7, 3))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert metadata["loss"] == "hinge" and metadata["beta"] == 0.25
    assert metadata["note"] == "trained by Adam"
    assert (metadata["n_features"], metadata["n_neurons"], metadata["n_outputs"]) == (3, 5, 2)
    assert metadata["format_version"] == 2 and metadata["convexnn_version"]
    # the weights are a plain state dict: PyTorch loads it without convexnn, tensors only
    state = torch.load(path, weights_only=True)
    module = torch.nn.Sequential(torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.ReLU(),
                                 torch.nn.Linear(5, 2, bias=False, dtype=torch.float64))
    module.load_state_dict(state)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.as_tensor(X)).numpy(), net.predict(X),
                                   rtol=0, atol=1e-12)


def test_network_without_bias_round_trips(rng, tmp_path):
    net = TwoLayerReLU(rng.standard_normal((4, 2)), rng.standard_normal(4))
    net.save(tmp_path / "n.pt")
    back = TwoLayerReLU.load(tmp_path / "n.pt")
    assert not back.has_bias
    np.testing.assert_array_equal(back.U, net.U)


def _saved(net, tmp_path):
    path = tmp_path / "net.pt"
    net.save(path)
    return path


def test_corrupted_file_is_detected(net, tmp_path):
    path = _saved(net, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"net\.pt does not match its metadata .*SHA-256"):
        TwoLayerReLU.load(path)


def test_truncated_file_is_detected(net, tmp_path):
    path = _saved(net, tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"net\.pt does not match its metadata"):
        TwoLayerReLU.load(path)


def test_missing_metadata_is_named(net, tmp_path):
    path = _saved(net, tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match=r"metadata file .*net\.json of .*net\.pt"):
        TwoLayerReLU.load(path)
    with pytest.raises(FileNotFoundError, match=r"nope\.pt does not exist"):
        TwoLayerReLU.load(tmp_path / "nope.pt")


def test_wrong_version_and_wrong_type_are_named(net, tmp_path):
    path = _saved(net, tmp_path)
    sidecar = path.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**metadata, "format_version": 99}))
    with pytest.raises(ValueError, match=r"format version 99 .* reads version 2"):
        TwoLayerReLU.load(path)
    sidecar.write_text(json.dumps({**metadata, "format": "convexnn.ConvexReLURegressor"}))
    with pytest.raises(ValueError, match="holds a 'convexnn.ConvexReLURegressor', not a "
                                         "'convexnn.TwoLayerReLU'"):
        TwoLayerReLU.load(path)
    sidecar.write_text("{broken")
    with pytest.raises(ValueError, match=r"net\.json is not valid JSON metadata"):
        TwoLayerReLU.load(path)


def test_swapped_weights_file_is_detected(net, rng, tmp_path):
    """Weights of another network under the same name: the checksum catches the swap."""
    path = _saved(net, tmp_path)
    other = TwoLayerReLU(rng.standard_normal((2, 3)), rng.standard_normal(2))
    torch.save(other.to_torch().state_dict(), path)
    with pytest.raises(ValueError, match="SHA-256 differs"):
        TwoLayerReLU.load(path)


def test_metadata_may_not_override_the_format(net, tmp_path):
    with pytest.raises(ValueError, match=r"metadata must not set \['beta'\]"):
        net.save(tmp_path / "n.pt", metadata={"beta": 3})
    with pytest.raises(ValueError, match="must not end in .json"):
        net.save(tmp_path / "n.json")


def test_from_state_dict_errors_name_the_problem():
    with pytest.raises(ValueError, match="keys '0.weight', optional '0.bias', '2.weight'"):
        TwoLayerReLU.from_state_dict({"weight": torch.ones(2, 2)})
    with pytest.raises(ValueError, match="are not the layers of one network"):
        TwoLayerReLU.from_state_dict({"0.weight": torch.ones(3, 2), "2.weight": torch.ones(1, 4)})
    with pytest.raises(ValueError, match="nonzero output bias"):
        TwoLayerReLU.from_state_dict({"0.weight": torch.ones(3, 2), "2.weight": torch.ones(1, 3),
                                      "2.bias": torch.ones(1)})


# ------------------------------------------------------------------- standardized inputs
def test_unstandardized_network_computes_the_same_function(net, rng):
    # offsets of a few spreads: a feature 1e8 spreads off zero would lose 8 digits in x itself
    scale = np.array([1e6, 1.0, 1e-6])
    mean = 5 * scale * rng.standard_normal(3)
    X = mean + scale * rng.standard_normal((9, 3))
    raw = net.unstandardized(mean, scale)
    # reference: the original network on inputs standardized by hand
    np.testing.assert_allclose(raw.predict(X), net.predict((X - mean) / scale), rtol=1e-12,
                               atol=1e-10)
    with pytest.raises(ValueError, match="mean must be zero for a network without bias"):
        TwoLayerReLU(net.U, net.alpha).unstandardized(mean, scale)
    with pytest.raises(ValueError, match="scale must be positive"):
        net.unstandardized(mean, np.zeros(3))
    with pytest.raises(ValueError, match=r"mean must have one entry per feature \(3\); got 2"):
        net.unstandardized(np.zeros(2), scale)
