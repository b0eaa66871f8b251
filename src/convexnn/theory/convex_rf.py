"""Convex-RF (Algorithm 2 of Ergen & Pilanci): unsupervised filters from extreme points.

Coates & Ng's single-layer convolutional pipeline with its filters chosen by Lemma 7: sample
image patches, normalize them (and optionally ZCA-whiten), take every patch's extreme-point
neuron (the normalized residual of its closest convex mixture of the other patches, with the
bias that silences all other patches), convolve, rectify, max-pool, and fit an l1-regularized
least-squares head (JMLR Section 6.1, Remark 5). The filters see no labels; only the head does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Lasso

from .._validation import check_beta, check_labels, check_matrix, check_positive_int
from .dictionary import NeuronDictionary
from .extreme_points import vertex_neurons

__all__ = ["ConvexRF", "ConvexRFFilters", "extract_patches", "fit_convex_rf", "learn_filters"]


def _as_images(images) -> np.ndarray:
    """Images as float64 (N, H, W, C) from (N, H, W) or (N, H, W, C)."""
    images = check_matrix(images, "images", ndim=(3, 4))
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C); got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images must be finite")
    return images


def extract_patches(images, size: int, stride: int = 1) -> np.ndarray:
    """All ``size x size`` patches of every image, flattened.

    Parameters
    ----------
    images : array-like of shape (N, H, W) or (N, H, W, C)
    size : int
        Patch side.
    stride : int, default=1

    Returns
    -------
    ndarray of shape (N, rows, cols, size * size * C)
        ``rows = (H - size) // stride + 1`` and the same for ``cols``.
    """
    images = _as_images(images)
    size = check_positive_int(size, "size")
    stride = check_positive_int(stride, "stride")
    N, H, W, C = images.shape
    if size > min(H, W):
        raise ValueError(f"size must be at most the image side {min(H, W)}; got {size}")
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # (N, rows, cols, C, size, size)
    rows, cols = windows.shape[1:3]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(N, rows, cols, size * size * C)


@dataclass(frozen=True)
class ConvexRFFilters:
    """Filters of Algorithm 2 and the patch preprocessing they expect.

    Attributes
    ----------
    dictionary : NeuronDictionary
        One Lemma-7 neuron per vertex patch: ``U`` (n_filters, patch_dim), ``b`` (n_filters,).
    patch_size : int
    eps : float
        Normalization constant of steps 3-5: ``(p - mean(p)) / sqrt(var(p) + eps)``.
    zca : ndarray of shape (patch_dim, patch_dim) or None
        ZCA map of step 7, applied after subtracting ``zca_mean``.
    zca_mean : ndarray of shape (patch_dim,) or None
    """

    dictionary: NeuronDictionary
    patch_size: int
    eps: float
    zca: np.ndarray | None = None
    zca_mean: np.ndarray | None = None

    @property
    def n_filters(self) -> int:
        return self.dictionary.n_neurons

    def preprocess(self, patches: np.ndarray) -> np.ndarray:
        """Steps 3-7 on patches of shape (..., patch_dim)."""
        centered = patches - patches.mean(-1, keepdims=True)
        normalized = centered / np.sqrt(patches.var(-1, keepdims=True) + self.eps)
        if self.zca is None:
            return normalized
        return (normalized - self.zca_mean) @ self.zca

    def features(self, images, *, pool: int = 2, batch_size: int = 256) -> np.ndarray:
        """Steps 12-13: ``B = maxpool((A_p U^T + b)_+)`` over a ``pool x pool`` grid.

        Parameters
        ----------
        images : array-like of shape (N, H, W) or (N, H, W, C)
        pool : int, default=2
            The feature map of each filter is split into ``pool x pool`` regions.
        batch_size : int, default=256
            Images per batch (bounds the memory of the feature maps).

        Returns
        -------
        ndarray of shape (N, n_filters * pool * pool)
        """
        images = _as_images(images)
        pool = check_positive_int(pool, "pool")
        out = []
        for start in range(0, images.shape[0], batch_size):
            patches = self.preprocess(extract_patches(images[start:start + batch_size],
                                                      self.patch_size))
            maps = np.maximum(patches @ self.dictionary.U.T + self.dictionary.b, 0.0)
            rows = np.array_split(np.arange(maps.shape[1]), pool)
            cols = np.array_split(np.arange(maps.shape[2]), pool)
            pooled = [maps[:, r][:, :, c].max(axis=(1, 2)) for r in rows for c in cols]
            out.append(np.concatenate(pooled, axis=1))
        return np.concatenate(out, axis=0)


def learn_filters(images, *, patch_size: int = 5, n_filters: int = 200, eps: float = 10.0,
                  whiten: bool = False, zca_eps: float = 0.1, seed=None) -> ConvexRFFilters:
    """Steps 1-11 of Algorithm 2: Lemma-7 filters of randomly sampled patches.

    Parameters
    ----------
    images : array-like of shape (N, H, W) or (N, H, W, C)
        Unlabeled training images.
    patch_size : int, default=5
    n_filters : int, default=200
        Number ``P`` of sampled patches, hence of candidate filters (patches inside the hull of
        the others give none).
    eps : float, default=10
        Patch normalization constant (10 suits 0-255 pixels, as in Coates & Ng).
    whiten : bool, default=False
        Apply ZCA whitening to the normalized patches (step 7; optional, Remark 5).
    zca_eps : float, default=0.1
        Regularizer of the ZCA eigenvalues.
    seed : int, optional

    Returns
    -------
    ConvexRFFilters
    """
    images = _as_images(images)
    n_filters = check_positive_int(n_filters, "n_filters", minimum=2)
    eps = check_beta(eps, "eps")
    rng = np.random.default_rng(seed)
    N, H, W, C = images.shape
    size = check_positive_int(patch_size, "patch_size")
    which = rng.integers(0, N, n_filters)
    top = rng.integers(0, H - size + 1, n_filters)
    left = rng.integers(0, W - size + 1, n_filters)
    patches = np.stack([images[i, r:r + size, c:c + size].reshape(-1)
                        for i, r, c in zip(which, top, left, strict=True)])
    filters = ConvexRFFilters(NeuronDictionary(np.zeros((0, patches.shape[1]))), size, eps)
    patches = filters.preprocess(patches)
    zca = zca_mean = None
    if whiten:
        zca_mean = patches.mean(0)
        values, vectors = np.linalg.eigh(np.cov(patches - zca_mean, rowvar=False))
        zca = vectors @ (vectors / np.sqrt(np.maximum(values, 0) + zca_eps)).T
        patches = (patches - zca_mean) @ zca
    neurons = vertex_neurons(patches)
    keep = neurons.is_vertex
    dictionary = NeuronDictionary(neurons.dictionary.U[keep], neurons.dictionary.b[keep])
    return ConvexRFFilters(dictionary, size, eps, zca, zca_mean)


@dataclass
class ConvexRF:
    """A fitted Convex-RF classifier: filters, pooling and the l1 head of step 14.

    Attributes
    ----------
    filters : ConvexRFFilters
    pool : int
    classes : ndarray of shape (n_classes,)
    mean, scale : ndarray of shape (n_features,)
        Feature standardization learned on the training features.
    coef : ndarray of shape (n_features, n_classes)
    intercept : ndarray of shape (n_classes,)
    """

    filters: ConvexRFFilters
    pool: int
    classes: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def decision_function(self, images) -> np.ndarray:
        """Head outputs (one-vs-all scores): (N, n_classes)."""
        B = (self.filters.features(images, pool=self.pool) - self.mean) / self.scale
        return B @ self.coef + self.intercept

    def predict(self, images) -> np.ndarray:
        """Predicted class labels: (N,)."""
        return self.classes[np.argmax(self.decision_function(images), axis=1)]


def fit_convex_rf(images, labels, *, patch_size: int = 5, n_filters: int = 200, pool: int = 2,
                  beta: float = 1e-3, eps: float = 10.0, whiten: bool = False,
                  seed=None) -> ConvexRF:
    """Algorithm 2 end to end: Lemma-7 filters, pooled ReLU features, l1 least-squares head.

    Step 14 is ``w = argmin 1/(2n) ||B w - y||^2 + beta ||w||_1`` per class on one-hot targets
    (one-vs-all), solved by coordinate descent (scikit-learn's ``Lasso``, the same objective in
    the library's mean scaling). Unlike the paper, the pooled features are standardized and the
    head has an unpenalized intercept, as in Coates & Ng's pipeline.

    Parameters
    ----------
    images : array-like of shape (N, H, W) or (N, H, W, C)
    labels : array-like of shape (N,)
    patch_size, n_filters, eps, whiten, seed
        As in :func:`learn_filters`.
    pool : int, default=2
    beta : float >= 0, default=1e-3

    Returns
    -------
    ConvexRF
    """
    check_labels(labels, _as_images(images).shape[0])
    labels = np.asarray(labels)
    beta = check_beta(beta)
    filters = learn_filters(images, patch_size=patch_size, n_filters=n_filters, eps=eps,
                            whiten=whiten, seed=seed)
    B = filters.features(images, pool=pool)
    mean, scale = B.mean(0), B.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    classes = np.unique(labels)
    Y = (labels[:, None] == classes[None, :]).astype(float)
    head = Lasso(alpha=beta, max_iter=5000, tol=1e-6).fit((B - mean) / scale, Y)
    return ConvexRF(filters, pool, classes, mean, scale, np.atleast_2d(head.coef_).T,
                    np.atleast_1d(head.intercept_))
