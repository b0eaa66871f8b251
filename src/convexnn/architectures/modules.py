"""Convolution geometry, patch extraction and the PyTorch networks of the architectures.

One :class:`ConvGeometry` describes a convolutional first layer (input shape, kernel, circular
or valid, pooling windows of the second layer); it is the single place that knows how patches
are cut, in which order the output positions are listed and which pooling region each position
belongs to, so that the convex programs (on patches) and the torch networks (on images) agree
entry for entry.

Patch convention: torch's ``Conv1d`` / ``Conv2d`` compute cross-correlations, so for filter ``u``
(flattened in the ``(channels, kernel...)`` order of ``conv.weight[j].flatten()``) the output at
position ``k`` is ``<x_k, u>`` with ``x_k`` the window of the (circularly padded) input starting
at ``k``. :meth:`ConvGeometry.patches` returns these windows as rows ``x_k``, positions listed
row-major, as ``conv(x).flatten(2)`` lists them.

Circular layers pad ``(s - 1) // 2`` entries before and the rest of ``s - 1`` after each spatial
axis (``s`` = kernel size), so the output has the input's size for every kernel size, even ones.

Second layer: the output map of filter ``j`` is summed (``pool_mode="sum"``) or averaged over
non-overlapping windows (the *regions* ``R_1..R_G``), and a bias-free linear readout maps the
``m x G`` pooled values to the ``k`` outputs; ``pool=None`` is a fully connected second layer
(one region per position), ``pool="global"`` one region.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_matrix, check_positive_int

__all__ = ["ConvGeometry", "DeepLinearNet", "TwoLayerConvNet"]


def _as_tuple(value, length: int, name: str) -> tuple[int, ...]:
    values = (value,) * length if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != length:
        raise ValueError(f"{name} must have {length} entries (one per spatial axis); got {value!r}")
    return tuple(check_positive_int(v, name) for v in values)


@dataclass(frozen=True)
class ConvGeometry:
    """Shape of a two-layer convolutional network (first layer and pooling of the second).

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, length)`` for signals (``Conv1d``) or ``(channels, height, width)`` for
        images (``Conv2d``).
    kernel_size : int or tuple of int
        Filter size per spatial axis.
    circular : bool, default=False
        Circular padding (output size = input size) instead of a valid convolution.
    pool : None, "global", int or tuple of int, default="global"
        Pooling windows of the second layer over the output map: ``None`` = fully connected
        second layer, ``"global"`` = one window; windows must tile the output map.
    pool_mode : {"sum", "mean"}, default="sum"
    """

    input_shape: tuple
    kernel_size: tuple | int
    circular: bool = False
    pool: tuple | int | str | None = "global"
    pool_mode: str = "sum"

    def __post_init__(self):
        shape = tuple(check_positive_int(s, "input_shape") for s in self.input_shape)
        if len(shape) not in (2, 3):
            raise ValueError(f"input_shape must be (channels, length) or (channels, height, "
                             f"width); got {self.input_shape!r}")
        object.__setattr__(self, "input_shape", shape)
        kernel = _as_tuple(self.kernel_size, len(shape) - 1, "kernel_size")
        if any(k > s for k, s in zip(kernel, shape[1:], strict=True)):
            raise ValueError(f"kernel_size {kernel} is larger than the input {shape[1:]}")
        object.__setattr__(self, "kernel_size", kernel)
        if self.pool_mode not in ("sum", "mean"):
            raise ValueError(f"pool_mode must be 'sum' or 'mean'; got {self.pool_mode!r}")
        out = self.output_spatial
        if self.pool is None:
            window = (1,) * len(out)
        elif self.pool == "global":
            window = out
        else:
            window = _as_tuple(self.pool, len(out), "pool")
        if any(o % w for o, w in zip(out, window, strict=True)):
            raise ValueError(f"pool windows {window} must tile the output map {out}")
        object.__setattr__(self, "_window", window)

    # ------------------------------------------------------------------------------ sizes
    @property
    def n_channels(self) -> int:
        return self.input_shape[0]

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.input_shape[1:]

    @property
    def padding(self) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` padding per spatial axis (zero for a valid convolution)."""
        if not self.circular:
            return tuple((0, 0) for _ in self.kernel_size)
        return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in self.kernel_size)

    @property
    def output_spatial(self) -> tuple[int, ...]:
        if self.circular:
            return self.spatial
        return tuple(s - k + 1 for s, k in zip(self.spatial, self.kernel_size, strict=True))

    @property
    def n_positions(self) -> int:
        """``K``: number of output positions (patches per input)."""
        return prod(self.output_spatial)

    @property
    def patch_size(self) -> int:
        """``h = channels * prod(kernel_size)``: length of a patch and of a flattened filter."""
        return self.n_channels * prod(self.kernel_size)

    @property
    def pool_window(self) -> tuple[int, ...]:
        return self._window

    @property
    def n_regions(self) -> int:
        """``G``: number of pooling regions (inputs of the readout per filter)."""
        return self.n_positions // prod(self._window)

    def regions(self) -> np.ndarray:
        """Region index of every output position (row-major): int array of shape (K,)."""
        grid = np.indices(self.output_spatial).reshape(len(self.output_spatial), -1)
        blocks = [g // w for g, w in zip(grid, self._window, strict=True)]
        counts = [o // w for o, w in zip(self.output_spatial, self._window, strict=True)]
        return np.ravel_multi_index(blocks, counts)

    # ---------------------------------------------------------------------------- patches
    def check_inputs(self, inputs) -> torch.Tensor:
        """``inputs`` as a float64 tensor of shape ``(n, *input_shape)``."""
        tensor = torch.as_tensor(check_matrix(inputs, "inputs", ndim=None))
        if tuple(tensor.shape[1:]) != self.input_shape:
            raise ValueError(f"inputs must have shape (n_samples, *{self.input_shape}); "
                             f"got {tuple(tensor.shape)}")
        return tensor

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Circular padding of ``x`` (n, C, *spatial) for the first layer (identity if valid)."""
        if not self.circular:
            return x
        flat = [p for pair in reversed(self.padding) for p in pair]  # F.pad: last axis first
        return F.pad(x, flat, mode="circular")

    def patches(self, inputs) -> np.ndarray:
        """Patches ``x_k`` of every input: array of shape ``(n, K, h)``.

        ``patches[i, k] @ conv.weight[j].flatten()`` is the first layer's output of filter ``j``
        at position ``k`` (row-major) for input ``i``.
        """
        x = self.pad(self.check_inputs(inputs))
        if x.ndim == 3:  # signals: treat as images of height 1
            x = x[:, :, None, :]
        kernel = (1, *self.kernel_size) if len(self.kernel_size) == 1 else self.kernel_size
        cols = F.unfold(x, kernel_size=kernel)  # (n, h, K), channel-major like conv.weight
        return cols.transpose(1, 2).numpy()

    def pooled_patches(self, inputs) -> np.ndarray:
        """Patches summed (or averaged) over each pooling region: ``(n, G, h)``.

        A *linear* first layer commutes with pooling, so a linear CNN sees these features.
        """
        patches = self.patches(inputs)
        regions = self.regions()
        pooled = np.zeros((patches.shape[0], self.n_regions, patches.shape[2]))
        np.add.at(pooled, (slice(None), regions), patches)
        if self.pool_mode == "mean":
            pooled /= prod(self._window)
        return pooled


class TwoLayerConvNet(nn.Module):
    """``f(x) = readout(pool(act(conv(x))))``: the two-layer CNN of :mod:`.cnn` and :mod:`.linear`.

    Parameters
    ----------
    geometry : ConvGeometry
    n_filters : int
        ``m``, the number of filters (channels of the hidden layer).
    n_outputs : int, default=1
    activation : {"relu", "linear"}, default="relu"
    seed : int, optional
        Seed of torch's default initialization (same seed, same weights).
    dtype : torch.dtype, default=torch.float64

    Notes
    -----
    ``conv.weight`` has shape ``(m, C, *kernel)`` and ``readout.weight`` shape ``(k, m G)``; the
    outgoing weights of filter ``j`` are ``readout.weight.view(k, m, G)[:, j]`` (:meth:`outgoing`).
    """

    def __init__(self, geometry: ConvGeometry, n_filters: int, n_outputs: int = 1, *,
                 activation: str = "relu", seed: int | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if activation not in ("relu", "linear"):
            raise ValueError(f"activation must be 'relu' or 'linear'; got {activation!r}")
        self.geometry, self.activation = geometry, activation
        n_filters = check_positive_int(n_filters, "n_filters")
        n_outputs = check_positive_int(n_outputs, "n_outputs")
        conv = nn.Conv1d if len(geometry.kernel_size) == 1 else nn.Conv2d
        with torch.random.fork_rng(enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.conv = conv(geometry.n_channels, n_filters, geometry.kernel_size, bias=False,
                             dtype=dtype)
            self.readout = nn.Linear(n_filters * geometry.n_regions, n_outputs, bias=False,
                                     dtype=dtype)

    @property
    def n_filters(self) -> int:
        return self.conv.out_channels

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled hidden activations: ``(n, m, G)``."""
        h = self.conv(self.geometry.pad(x))
        if self.activation == "relu":
            h = torch.relu(h)
        out, window = self.geometry.output_spatial, self.geometry.pool_window
        if len(out) == 1:
            out, window = (1, *out), (1, *window)
        h = h.reshape(h.shape[0], self.n_filters, out[0] // window[0], window[0],
                      out[1] // window[1], window[1])
        pooled = h.sum(dim=(3, 5)) if self.geometry.pool_mode == "sum" else h.mean(dim=(3, 5))
        return pooled.flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden(x).flatten(1))

    def outgoing(self) -> torch.Tensor:
        """Readout weights per filter: ``(m, G, k)``."""
        k = self.readout.out_features
        return self.readout.weight.view(k, self.n_filters, -1).permute(1, 2, 0)

    def penalty(self, beta: float, *, readout_norm: str = "l2") -> torch.Tensor:
        """Weight decay ``beta/2 (||conv||_F^2 + sum_j N(w_j)^2)`` on the outgoing weights.

        ``readout_norm="l2"`` is plain weight decay; ``"l1"`` squares the l1 norm of each
        filter's ``G x k`` outgoing weights, the decoupled penalty under which the ReLU CNN with
        several regions or outputs is a convex program (Ergen & Pilanci, JMLR 2021, Section
        4.5.5). Both coincide when
        ``G = k = 1``.
        """
        if readout_norm == "l2":
            second = (self.readout.weight**2).sum()
        elif readout_norm == "l1":
            second = (self.outgoing().abs().sum(dim=(1, 2)) ** 2).sum()
        else:
            raise ValueError(f"readout_norm must be 'l2' or 'l1'; got {readout_norm!r}")
        return 0.5 * beta * ((self.conv.weight**2).sum() + second)


class DeepLinearNet(nn.Module):
    """Fully connected linear network ``x -> x W_1 W_2 ... W_L`` (no biases).

    Parameters
    ----------
    widths : sequence of int
        ``(d, m_1, ..., m_{L-1}, k)``: input size, hidden widths, outputs.
    seed : int, optional
    dtype : torch.dtype, default=torch.float64

    Notes
    -----
    ``layers[l].weight`` is ``W_{l+1}^T`` (torch stores ``(out, in)``).
    """

    def __init__(self, widths, *, seed: int | None = None, dtype: torch.dtype = torch.float64):
        super().__init__()
        widths = [check_positive_int(w, "widths") for w in widths]
        if len(widths) < 3:
            raise ValueError(f"widths must list at least (d, m_1, k); got {widths}")
        with torch.random.fork_rng(enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.layers = nn.ModuleList(
                nn.Linear(a, b, bias=False, dtype=dtype)
                for a, b in zip(widths[:-1], widths[1:], strict=True))

    @property
    def depth(self) -> int:
        return len(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def penalty(self, beta: float) -> torch.Tensor:
        """Weight decay ``beta/2 sum_l ||W_l||_F^2``."""
        return 0.5 * beta * sum((layer.weight**2).sum() for layer in self.layers)

    @classmethod
    def from_factors(cls, factors) -> DeepLinearNet:
        """The network with ``W_l = factors[l]`` (arrays of shapes ``(m_{l-1}, m_l)``)."""
        factors = [np.asarray(f, dtype=np.float64) for f in factors]
        net = cls([factors[0].shape[0], *(f.shape[1] for f in factors)])
        with torch.no_grad():
            for layer, factor in zip(net.layers, factors, strict=True):
                layer.weight.copy_(torch.as_tensor(factor.T))
        return net
