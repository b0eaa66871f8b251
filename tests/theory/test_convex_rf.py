"""Convex-RF (JMLR Algorithm 2): patches, Lemma-7 filters, pooled features, l1 head."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from convexnn.theory import extract_patches, fit_convex_rf, learn_filters


def test_extract_patches_matches_slicing():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((3, 7, 6, 2))
    patches = extract_patches(images, 3, stride=2)
    assert patches.shape == (3, 3, 2, 18)
    np.testing.assert_array_equal(patches[1, 2, 1], images[1, 4:7, 2:5].reshape(-1))
    with pytest.raises(ValueError, match="size"):
        extract_patches(images, 8)


@pytest.mark.parametrize("whiten", [False, True])
def test_filters_fire_on_their_own_patch_only(whiten):
    # every filter is a Lemma-7 neuron of the sampled (preprocessed) patches: re-drawing the
    # same patches with the same seed, filter i is active on patch i and on no other
    images = np.random.default_rng(1).uniform(0, 1, (20, 8, 8))
    filters = learn_filters(images, patch_size=3, n_filters=40, eps=0.01, whiten=whiten, seed=3)
    rng = np.random.default_rng(3)
    which, top, left = (rng.integers(0, 20, 40), rng.integers(0, 6, 40), rng.integers(0, 6, 40))
    patches = filters.preprocess(np.stack([images[i, r:r + 3, c:c + 3].reshape(-1)
                                           for i, r, c in zip(which, top, left, strict=True)]))
    H = filters.dictionary.features(patches)  # (40 patches, n_filters)
    assert filters.n_filters == H.shape[1] > 30  # random patches in 9-D are mostly vertices
    assert np.all((H > 1e-12).sum(0) == 1)


def test_convex_rf_classifies_digits():
    X, y = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8) / 16.0
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:600], order[600:1000]
    model = fit_convex_rf(images[train], y[train], patch_size=3, n_filters=80, pool=2,
                          beta=1e-3, eps=0.01, seed=0)
    assert model.coef.shape == (model.filters.n_filters * 4, 10)
    # a least-squares head on raw pixels gets ~0.92-0.94 here; Convex-RF features do better
    assert np.mean(model.predict(images[test]) == y[test]) > 0.93
