"""Linear circular CNNs as l1 (group lasso) models on discrete Fourier features (Pilanci &
Ergen, ICML 2020: convolutional linear networks as l1 models in a Fourier feature space).

**Architecture.** Inputs ``x = (x^1..x^C)``, ``C`` channels of signals or images with ``d``
entries each (spatial shape ``s``). Path ``j = 1..m``: a full-length circular convolution
``C -> 1`` with filter ``u_1j in R^{C x s}``, then ``L - 2`` single-channel full-length circular
convolutions ``u_lj in R^s`` (``L = 2``: none; a depthwise stack for ``L >= 3``), then a fully
connected readout ``w_j in R^s``; the output ``f(x) = sum_j <w_j, h_j(x)>`` is scalar and linear,
``f(x) = sum_c <theta^c, x^c>``.

**Fourier form.** Let ``F`` be the unitary DFT (``Fx = fftn(x) / sqrt(d)``) and ``a`` the circular
padding before each axis (:class:`~.modules.ConvGeometry`). The torch layer ``T_u`` (a
cross-correlation) acts as ``fftn(T_u x) = e^{-2 pi i <a, om>} conj(fftn u) fftn x`` (``om`` a
frequency) and the readout is ``<w, h> = <F w, F h>``, so (all DFTs unitary, ``theta_om`` the
``C``-vector of channels at frequency ``om``)

    theta_om = d^{(L-1)/2} e^{2 pi i (L-1) <a, om>}
               sum_j (F w_j)_om (F u_1j)_om prod_{l>=2} (F u_lj)_om.

Parseval turns the weights' norms into sums over frequencies. Real filters have conjugate-
symmetric spectra, ``(F u)_{-om} = conj((F u)_om)``, so frequencies come in *classes*: pairs
``{om, -om}`` (multiplicity ``mu = 2``) and self-conjugate singletons (``om = -om``: the DC and, for
even sizes, the Nyquist frequencies; ``mu = 1``), and a real signal is free on one member of
each class.

**Two layers, weight decay ``beta/2 sum_j (||u_j||^2 + ||w_j||^2)``: exact Fourier lasso.**
Per frequency, ``min 1/2 sum_j (||b_j||^2 + |c_j|^2)`` s.t. ``sum_j c_j b_j = z`` is the nuclear
norm of the ``C x 1`` matrix ``z``, i.e. ``||z||_2``, attained by one path; the conjugate member
of a pair is then attained too. So for every ``m >= 1``

    min J = min_theta L(sum_c X^c theta^c, Y) + (beta / sqrt(d)) sum_om ||(F theta)_om||_2,  (F)

one channel group (``C`` complex numbers, i.e. ``2C`` reals) per frequency; for ``C = 1`` this
is the lasso ``(beta/sqrt(d)) ||F theta||_1`` with the complex modulus. Summing over *all*
``om`` counts both members of a pair, which is what the network's norms do.

*Real discrete Fourier features.* Let ``R`` be the orthonormal real basis with, per class,
the row ``Re F_om`` (singleton) or the rows ``sqrt(2) Re F_om, sqrt(2) Im F_om`` (pair). With
``alpha^c = R theta^c`` and ``alpha_p`` the ``mu_p C`` coefficients of class ``p``,
``||(F theta)_om|| = ||alpha_p|| / sqrt(mu_p)`` for each of the ``mu_p`` members, so (F) is the
group lasso on the features ``X R^T``

    min_alpha L(sum_c (X^c R^T) alpha^c, Y) + (beta / sqrt(d)) sum_p sqrt(mu_p) ||alpha_p||_2,

which is what :func:`solve_fourier_lasso` solves (an SOCP). Recovery (:func:`circular_network`):
one path whose spectra, with ``t = fftn(theta)`` unnormalized, are ``fftn(w)_om = ||t_om||^{1/2}``
and ``fftn(u)_om = e^{-2 pi i <a, om>} t_om / ||t_om||^{1/2}`` (conjugate-symmetric, hence real
filters); its weight decay is exactly the lasso term.

**Deeper: where the equivalence stops.** With weight decay on every layer (``L >= 3``) the same
per-frequency argument gives ``min (1/2) sum_l |x_l|^2 s.t. prod_l x_l = z`` equal to
``(L/2)|z|^{2/L}`` (AM-GM; one path is optimal since ``t -> t^{2/L}`` is subadditive), hence exactly

    min J = min_theta L(...) + beta (L/2) d^{1/L - 1} sum_om ||(F theta)_om||^{2/L},

a sparsity-promoting but *non-convex* quasi-norm (:func:`weight_decay_regularizer`). The convex
statement survives for ``L >= 3`` when each path's weight is scale-invariant: the path product
``beta sum_j ||w_j|| prod_l ||u_lj||`` (equivalently, at the optimal rescaling, the ``L``-th power
weight decay ``beta/L sum_j (||w_j||^L + sum_l ||u_lj||^L)``). Its
dual norm over single-path atoms is, by Hoelder's inequality for ``L >= 2`` unit vectors
``b_l = (sqrt(mu_p) |(F x_l)_p|)_p``, equal to
``max <g, theta> = d^{(L-1)/2} max_p mu_p^{1 - L/2} ||(F g)_p||``, attained by a path concentrated
on one class, so

    min J = min_theta L(...) + beta d^{-(L-1)/2} sum_om mu_om^{L/2 - 1} ||(F theta)_om||_2,

a weighted Fourier lasso (weight ``d^{-(L-1)/2} mu_p^{(L-1)/2}`` on ``||alpha_p||``), exact once
``m >=`` the number of active classes. For ``L = 2`` both regularizations coincide with (F); for
``L >= 3`` the conjugate pairs weigh ``2^{L/2 - 1}`` times more than the singletons, because a
real path must split its norm over both members of a pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import cvxpy as cp
import numpy as np
import torch
from torch import nn

from .._groups import NEGLIGIBLE, significant
from .._validation import (
    check_beta,
    check_data,
    check_matrix,
    check_positive_int,
)
from ..losses import get_loss
from ..solvers.conic import solve_program
from .modules import ConvGeometry

__all__ = [
    "DeepCircularCNN",
    "FourierBasis",
    "FourierLassoSolution",
    "circular_geometry",
    "circular_network",
    "fourier_basis",
    "fourier_regularizer",
    "lasso_objective",
    "linear_predictor",
    "solve_fourier_lasso",
    "weight_decay_regularizer",
]


def circular_geometry(input_shape) -> ConvGeometry:
    """Full-length circular filters with a fully connected readout (no pooling)."""
    return ConvGeometry(tuple(input_shape), tuple(input_shape[1:]), circular=True, pool=None)


@dataclass(frozen=True)
class FourierBasis:
    """The orthonormal real Fourier basis ``R`` of signals of spatial shape ``shape``.

    Attributes
    ----------
    shape : tuple of int
    R : ndarray of shape (d, d)
        Orthonormal rows; ``alpha = R theta`` for ``theta`` flattened row-major.
    row_class : ndarray of shape (d,)
        Frequency class of every row.
    multiplicity : ndarray of shape (n_classes,)
        ``mu_p``: 2 for a conjugate pair ``{om, -om}``, 1 for a self-conjugate frequency.
    """

    shape: tuple
    R: np.ndarray
    row_class: np.ndarray
    multiplicity: np.ndarray


def _frequency_classes(shape) -> np.ndarray:
    """Class index of every frequency (flattened row-major), classes numbered in order."""
    d = prod(shape)
    grid = np.indices(shape).reshape(len(shape), d)
    partner = np.ravel_multi_index(tuple((-g) % s for g, s in zip(grid, shape, strict=True)),
                                   shape)
    classes = np.full(d, -1)
    count = 0
    for w in range(d):
        if classes[w] < 0:
            classes[w] = classes[partner[w]] = count
            count += 1
    return classes


def fourier_basis(shape) -> FourierBasis:
    """The orthonormal real basis ``R`` of (F): per class ``Re F_om`` or ``sqrt 2 (Re, Im) F_om``.

    ``shape`` is the spatial shape of the signals (``(length,)`` or ``(height, width)``).
    """
    shape = tuple(check_positive_int(s, "shape") for s in shape)
    d = prod(shape)
    axes = tuple(range(1, len(shape) + 1))
    F = np.fft.fftn(np.eye(d).reshape(d, *shape), axes=axes).reshape(d, d).T / np.sqrt(d)
    classes = _frequency_classes(shape)
    rows, row_class, multiplicity = [], [], []
    for p in range(classes.max() + 1):
        w = int(np.flatnonzero(classes == p)[0])
        if np.count_nonzero(classes == p) == 1:
            rows.append(F[w].real)
            row_class.append(p)
            multiplicity.append(1)
        else:
            rows += [np.sqrt(2) * F[w].real, np.sqrt(2) * F[w].imag]
            row_class += [p, p]
            multiplicity.append(2)
    return FourierBasis(shape, np.array(rows), np.array(row_class), np.array(multiplicity))


def _check_depth(depth) -> int:
    depth = check_positive_int(depth, "depth")
    if depth < 2:
        raise ValueError(f"depth must be at least 2 (a linear CNN has two layers); got {depth}")
    return depth


def _spectrum(theta) -> tuple[np.ndarray, np.ndarray]:
    """Unitary spectrum ``F theta^c`` (C, *shape) and its channel norms ``||(F theta)_om||``."""
    theta = np.asarray(theta, dtype=float)
    axes = tuple(range(1, theta.ndim))
    spectrum = np.fft.fftn(theta, axes=axes, norm="ortho")
    return spectrum, np.sqrt(np.sum(np.abs(spectrum) ** 2, axis=0))


def fourier_regularizer(theta, depth: int = 2) -> float:
    """``d^{-(L-1)/2} sum_om mu_om^{L/2-1} ||(F theta)_om||``: the convex regularizer of (F).

    ``theta`` has shape ``(C, *shape)``. For ``depth=2`` it is the weight-decay regularizer
    ``(1/sqrt d) sum_om ||(F theta)_om||``; for ``depth >= 3`` the path-product one.
    """
    depth = _check_depth(depth)
    theta = check_matrix(theta, "theta", ndim=(2, 3))
    shape = theta.shape[1:]
    _, norms = _spectrum(theta)
    mu = np.bincount(_frequency_classes(shape))[_frequency_classes(shape)]
    d = prod(shape)
    return float(d ** (-(depth - 1) / 2) * np.sum(mu ** (depth / 2 - 1) * norms.ravel()))


def weight_decay_regularizer(theta, depth: int) -> float:
    """``(L/2) d^{1/L - 1} sum_om ||(F theta)_om||^{2/L}``: least weight decay realizing ``theta``.

    Equal to :func:`fourier_regularizer` for ``depth=2``; not convex for ``depth >= 3``.
    """
    depth = _check_depth(depth)
    theta = check_matrix(theta, "theta", ndim=(2, 3))
    d = prod(theta.shape[1:])
    _, norms = _spectrum(theta)
    return float(depth / 2 * d ** (1 / depth - 1) * np.sum(norms ** (2 / depth)))


@dataclass
class FourierLassoSolution:
    """Solution of the (weighted) Fourier lasso (F).

    Attributes
    ----------
    theta : ndarray of shape (C, *shape)
        The linear predictor ``f(x) = sum_c <theta^c, x^c>``.
    objective : float
        ``L + beta * fourier_regularizer(theta, depth)``, recomputed with ``fftn``.
    solver_value : float
    depth : int
    status : str
    time : float
    """

    theta: np.ndarray
    objective: float
    solver_value: float
    depth: int
    status: str
    time: float


def _check_inputs(inputs, Y, loss):
    inputs = check_matrix(inputs, "inputs", ndim=(3, 4))
    if inputs.ndim not in (3, 4):
        raise ValueError("inputs must have shape (n, channels, length) or (n, channels, height, "
                         f"width); got {inputs.shape}")
    _, Y = check_data(inputs.reshape(inputs.shape[0], -1), Y, x_name="inputs", y_name="Y")
    if Y.shape[1] != 1:
        raise ValueError(f"the circular CNN has one output; Y has {Y.shape[1]} columns")
    loss.check_targets(Y)
    return inputs, Y


def lasso_objective(inputs, Y, theta, *, loss="squared", beta: float, depth: int = 2) -> float:
    """``L(sum_c <theta^c, x^c>, Y) + beta * fourier_regularizer(theta, depth)``."""
    loss = get_loss(loss)
    inputs, Y = _check_inputs(inputs, Y, loss)
    theta = check_matrix(theta, "theta", ndim=(2, 3))
    if theta.shape != inputs.shape[1:]:
        raise ValueError(f"theta must have the shape of one input {inputs.shape[1:]}; "
                         f"got {theta.shape}")
    Z = torch.as_tensor(inputs.reshape(inputs.shape[0], -1) @ np.ravel(theta))[:, None]
    data = float(loss.value(Z, torch.as_tensor(Y), torch.ones(Y.shape[0], dtype=Z.dtype)))
    return data + check_beta(beta) * fourier_regularizer(theta, depth)


def solve_fourier_lasso(inputs, Y, *, loss="squared", beta: float, depth: int = 2,
                        solver: str = "CLARABEL", **options) -> FourierLassoSolution:
    """Solve the group lasso on real discrete Fourier features (the SOCP form of (F)).

    Parameters
    ----------
    inputs : array-like of shape (n_samples, C, length) or (n_samples, C, height, width)
    Y : array-like of shape (n_samples,) or (n_samples, 1)
    loss : str or Loss, default="squared"
    beta : float
    depth : int, default=2
        ``L``; for ``L >= 3`` the path-product regularization (the convex deep case).
    solver : str, default="CLARABEL"
    **options
        Solver options (default: the conic reference tolerances).
    """
    loss = get_loss(loss)
    inputs, Y = _check_inputs(inputs, Y, loss)
    beta, depth = check_beta(beta), _check_depth(depth)
    n, C = inputs.shape[:2]
    shape = inputs.shape[2:]
    d = prod(shape)
    basis = fourier_basis(shape)
    features = inputs.reshape(n, C, d) @ basis.R.T  # (n, C, d): X^c R^T
    alpha = cp.Variable((C, d))
    prediction = cp.reshape(features.reshape(n, C * d) @ cp.vec(alpha, order="C"), (n, 1),
                            order="C")
    mu = basis.multiplicity
    penalty = 0
    for size in (1, 2):
        classes = np.flatnonzero(mu == size)
        if classes.size == 0:
            continue
        rows = [np.flatnonzero(basis.row_class == p) for p in classes]
        blocks = cp.vstack([alpha[:, [r[i] for r in rows]] for i in range(size)])
        weight = d ** (-(depth - 1) / 2) * size ** ((depth - 1) / 2)
        penalty = penalty + weight * cp.sum(cp.norm(blocks, 2, axis=0))
    prob = cp.Problem(cp.Minimize(loss.cvxpy(prediction, Y, np.ones(n)) + beta * penalty))
    status, elapsed = solve_program(prob, "the Fourier lasso", solver=solver, **options)
    theta = (np.asarray(alpha.value) @ basis.R).reshape(C, *shape)
    return FourierLassoSolution(
        theta=theta, objective=lasso_objective(inputs, Y, theta, loss=loss, beta=beta,
                                               depth=depth),
        solver_value=float(prob.value), depth=depth, status=status, time=elapsed)


class DeepCircularCNN(nn.Module):
    """``m`` paths of ``L - 1`` full-length circular convolutions and a linear readout.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, length)`` or ``(C, height, width)``.
    n_paths : int
        ``m``.
    depth : int, default=2
        ``L``: layer 1 is ``Conv(C -> m)``, layers ``2..L-1`` are depthwise ``Conv(m -> m,
        groups=m)``, all with full-length kernels and circular padding; then
        ``Linear(m d -> 1)``. ``depth=2`` is the two-layer circular CNN.
    seed : int, optional
    dtype : torch.dtype, default=torch.float64
    """

    def __init__(self, input_shape, n_paths: int, depth: int = 2, *, seed: int | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.geometry = circular_geometry(input_shape)
        depth = _check_depth(depth)
        m = check_positive_int(n_paths, "n_paths")
        conv = nn.Conv1d if len(self.geometry.kernel_size) == 1 else nn.Conv2d
        kernel = self.geometry.kernel_size
        with torch.random.fork_rng(enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.convs = nn.ModuleList(
                [conv(self.geometry.n_channels, m, kernel, bias=False, dtype=dtype)]
                + [conv(m, m, kernel, groups=m, bias=False, dtype=dtype)
                   for _ in range(depth - 2)])
            self.readout = nn.Linear(m * self.geometry.n_positions, 1, bias=False, dtype=dtype)

    @property
    def depth(self) -> int:
        return len(self.convs) + 1

    @property
    def n_paths(self) -> int:
        return self.readout.in_features // self.geometry.n_positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(self.geometry.pad(x))
        return self.readout(x.flatten(1))

    def path_norms(self) -> torch.Tensor:
        """``||.||_2`` of every layer's weights per path: (L, m)."""
        m = self.n_paths
        norms = [conv.weight.reshape(m, -1).norm(dim=1) for conv in self.convs]
        norms.append(self.readout.weight.reshape(m, -1).norm(dim=1))
        return torch.stack(norms)

    def penalty(self, beta: float, *, power: float = 2) -> torch.Tensor:
        """``(beta / power) sum_{l, j} ||layer_l of path j||^power``.

        ``power=2`` is plain weight decay; ``power=depth`` has, after the optimal rescaling of
        each path, the value of the path-product regularizer (the convex deep case).
        """
        return beta / power * (self.path_norms() ** power).sum()


def linear_predictor(module: nn.Module, input_shape) -> np.ndarray:
    """``theta`` of a linear network ``f(x) = sum_c <theta^c, x^c>`` (its input gradient)."""
    x = torch.zeros((1, *input_shape), dtype=torch.float64, requires_grad=True)
    module(x).sum().backward()
    return x.grad[0].numpy()


def circular_network(solution: FourierLassoSolution, *, regularization: str | None = None,
                     rtol: float = NEGLIGIBLE) -> DeepCircularCNN:
    """A circular CNN realizing ``solution.theta`` with penalty equal to its regularizer.

    Parameters
    ----------
    solution : FourierLassoSolution
    regularization : {"weight_decay", "path"}, optional
        ``"weight_decay"`` (the default for depth 2): one path carrying every frequency, layer
        spectra balanced at ``|theta_om|^{1/L}`` (its weight decay is
        :func:`weight_decay_regularizer`). ``"path"`` (the default for depth >= 3): one path per
        active frequency class, balanced, so that ``penalty(beta, power=L)`` equals
        ``beta * fourier_regularizer(theta, L)``.
    rtol : float, default=1e-9
        Frequencies with ``||theta_om||`` at most ``rtol`` times the largest are dropped (the
        negligible groups of :mod:`convexnn._groups`).
    """
    depth = solution.depth
    regularization = regularization or ("weight_decay" if depth == 2 else "path")
    if regularization not in ("weight_decay", "path"):
        raise ValueError(f"regularization must be 'weight_decay' or 'path'; "
                         f"got {regularization!r}")
    theta = solution.theta
    shape = theta.shape[1:]
    d = prod(shape)
    geometry = circular_geometry(theta.shape)
    axes = tuple(range(1, theta.ndim))
    target = np.fft.fftn(theta, axes=axes)  # unnormalized spectra: fftn(theta^c)
    rho = np.sqrt(np.sum(np.abs(target) ** 2, axis=0))
    active = significant(rho, rho.max(), rtol)
    # torch's layers add the phase e^{-2 pi i <a, w>} per layer (module docstring)
    grid = np.indices(shape)
    shift = sum(a * g / s for (a, _), g, s in zip(geometry.padding, grid, shape, strict=True))
    phase = np.exp(-2j * np.pi * (depth - 1) * shift)
    magnitude = np.where(active, rho, 0.0) ** (1 / depth)  # every layer's |spectrum|
    first = np.where(active, phase * target / np.where(active, magnitude, 1.0) ** (depth - 1), 0)
    if regularization == "weight_decay":
        supports = [active]
    else:
        classes = _frequency_classes(shape).reshape(shape)
        supports = [(classes == p) & active for p in np.unique(classes[active])]
    m = max(1, len(supports))
    net = DeepCircularCNN(theta.shape, m, depth)

    def real(spectrum):
        return np.fft.ifftn(spectrum, axes=tuple(range(-len(shape), 0))).real

    with torch.no_grad():
        for conv in net.convs:
            conv.weight.zero_()
        net.readout.weight.zero_()
        readout = net.readout.weight.view(m, d)
        for j, support in enumerate(supports):
            net.convs[0].weight[j] = torch.as_tensor(real(np.where(support, first, 0)))
            later = torch.as_tensor(real(np.where(support, magnitude, 0.0)))
            for conv in net.convs[1:]:
                conv.weight[j, 0] = later
            readout[j] = later.reshape(-1)
    return net
