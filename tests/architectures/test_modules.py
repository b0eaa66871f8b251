"""Patches and regions of ConvGeometry against torch's own convolution and pooling."""

import numpy as np
import pytest
import torch

from convexnn.architectures import ConvGeometry, TwoLayerConvNet

GEOMETRIES = [
    ((2, 7), 3, False, "global", "sum"),
    ((2, 7), 4, True, None, "sum"),  # even kernel, circular: pads 1 before, 2 after
    ((3, 5, 6), (2, 3), False, (2, 2), "mean"),
    ((1, 4, 4), (2, 2), True, (2, 1), "sum"),
]


@pytest.mark.parametrize(("shape", "kernel", "circular", "pool", "mode"), GEOMETRIES)
def test_patches_and_pooling_match_the_torch_network(shape, kernel, circular, pool, mode, rng):
    geometry = ConvGeometry(shape, kernel, circular=circular, pool=pool, pool_mode=mode)
    x = rng.standard_normal((3, *shape))
    net = TwoLayerConvNet(geometry, 4, 2, activation="linear", seed=0)
    filters = net.conv.weight.detach().reshape(4, -1).numpy()
    patches = geometry.patches(x)
    assert patches.shape == (3, geometry.n_positions, geometry.patch_size)
    conv_out = net.conv(geometry.pad(torch.as_tensor(x))).flatten(2).detach().numpy()
    np.testing.assert_allclose(np.einsum("nkh,jh->njk", patches, filters), conv_out, atol=1e-12)
    # a linear first layer commutes with pooling: pooled patches give the pooled hidden layer
    hidden = net.hidden(torch.as_tensor(x)).detach().numpy()
    pooled = geometry.pooled_patches(x)
    np.testing.assert_allclose(np.einsum("ngh,jh->njg", pooled, filters), hidden, atol=1e-12)


def test_regions_tile_the_output_map():
    geometry = ConvGeometry((1, 4, 4), (1, 1), pool=(2, 1))
    np.testing.assert_array_equal(geometry.regions(), [0, 1, 2, 3] * 2 + [4, 5, 6, 7] * 2)
    assert ConvGeometry((1, 6), 2, pool=None).n_regions == 5
    assert ConvGeometry((1, 6), 2).n_regions == 1
    with pytest.raises(ValueError, match="must tile"):
        ConvGeometry((1, 6), 2, pool=2)  # 5 outputs
    with pytest.raises(ValueError, match="larger than the input"):
        ConvGeometry((1, 3), 4)


def test_readout_penalties_coincide_for_one_region_and_output(rng):
    net = TwoLayerConvNet(ConvGeometry((1, 6), 2), 5, seed=1)
    assert float(net.penalty(0.3, readout_norm="l1").detach()) == pytest.approx(
        float(net.penalty(0.3, readout_norm="l2").detach()), rel=1e-14)
    with pytest.raises(ValueError, match="readout_norm"):
        net.penalty(0.3, readout_norm="l3")
