"""Linear networks with weight decay as nuclear-norm programs and their SDPs (Pilanci & Ergen,
ICML 2020: linear networks as semidefinite programs; derived below).

**Two-layer linear networks are nuclear-norm problems.** Let the first layer have ``m`` filters
``u_j in R^h`` acting on ``G`` feature blocks ``F_g in R^{n x h}`` of the data, and the second
layer weights ``w_j in R^{G x k}`` (``k`` outputs). The network and its weight-decay objective are

    f_c(X) = sum_j sum_g (F_g u_j) w_j[g, c] = sum_g F_g M[:, (g, c)],   M = sum_j u_j vec(w_j)^T,
    J = L(f(X), Y) + beta/2 sum_j (||u_j||^2 + ||w_j||_F^2).

The prediction depends on the weights only through ``M in R^{h x Gk}``, and for every ``M``

    min { 1/2 sum_j (||u_j||^2 + ||w_j||^2) : sum_j u_j vec(w_j)^T = M } = ||M||_*      (*)

(``>=``: ``||M||_* <= sum_j ||u_j|| ||w_j|| <= 1/2 sum_j (||u_j||^2 + ||w_j||^2)`` by the triangle
inequality and AM-GM; ``=``: the balanced SVD factors ``M = P S Q^T``, ``u_j = sqrt(s_j) p_j``,
``w_j = sqrt(s_j) q_j``). Hence, for any width ``m >= rank(M*)`` (at most ``min(h, Gk)``),

    min_{u, w} J  =  min_M  L(sum_g F_g M_g, Y) + beta ||M||_*,                          (N)

a convex program, exactly, for every convex loss and every number of outputs. Its SDP form
(the nuclear norm's semidefinite representation) is

    min_{M, A, B}  L(sum_g F_g M_g, Y) + beta/2 (tr A + tr B)   s.t.  [[A, M], [M^T, B]] >= 0.

Covered instances (all through :func:`solve_nuclear_norm`):

* fully connected ``x -> W_2^T W_1^T x``: one block ``F_1 = X`` (``G = 1``,
  ``h = d``), ``M = W_1 W_2``; with one output the nuclear norm is ``||w||_2`` (a ridge-like
  group penalty);
* linear CNN with a fully connected second layer: ``F_g = X_g`` the patches
  at the ``G = K`` output positions, ``M = Z = sum_j u_j w_j^T in R^{h x K k}``;
* linear CNN with pooling: a linear first layer commutes with pooling, so ``F_g`` is the sum
  (or mean) of the patches of region ``g``; global pooling gives ``G = 1`` and, with one
  output, the group penalty ``beta ||z||_2``;
* circular convolutions of full length: the circulant patches (see :mod:`.fourier`, where the
  same program becomes a lasso in the Fourier domain).

**Where it stops: depth.** For ``L >= 3`` fully connected linear layers with weight decay,
``beta/2 sum_l ||W_l||_F^2`` with product ``M = W_1 ... W_L``,

    min { 1/2 sum_l ||W_l||_F^2 : W_1 ... W_L = M } = (L/2) sum_i sigma_i(M)^{2/L}

(attained by the balanced factors ``W_1 = P S^{1/L}``, ``W_l = S^{1/L}``, ``W_L = S^{1/L} Q^T``;
the lower bound is the AM-GM inequality combined with Hoelder's inequality for singular values,
``sum_i sigma_i(W_1 ... W_L)^{2/L} <= prod_l ||W_l||_F^{2/L}``). The training problem is thus
exactly ``min_M L(XM, Y) + beta (L/2) ||M||_{S_{2/L}}^{2/L}``, a Schatten quasi-norm that is *not*
convex for ``L >= 3``: the exact convex statement holds for two layers only. The same holds per
frequency for deep circular CNNs (:mod:`.fourier`). The functions :func:`schatten_regularizer`
and :func:`deep_balanced_factors` make this reduction checkable.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import torch

from .._validation import (
    check_beta,
    check_data,
    check_matrix,
    check_positive_int,
)
from ..losses import get_loss
from ..solvers.conic import solve_program
from .modules import ConvGeometry, DeepLinearNet, TwoLayerConvNet

__all__ = [
    "NuclearNormSolution",
    "balanced_factors",
    "deep_balanced_factors",
    "linear_cnn_network",
    "linear_fc_network",
    "nuclear_objective",
    "schatten_regularizer",
    "solve_linear_cnn",
    "solve_linear_fc",
    "solve_nuclear_norm",
]


@dataclass
class NuclearNormSolution:
    """Solution of program (N).

    Attributes
    ----------
    M : ndarray of shape (h, G * k)
        Column ``g * k + c`` multiplies block ``F_g`` for output ``c``.
    n_outputs : int
        ``k``.
    objective : float
        ``L + beta ||M||_*`` recomputed at ``M`` (what a recovered network attains).
    solver_value : float
        The conic solver's optimal value.
    form : {"nuclear", "sdp"}
    status : str
    time : float
    """

    M: np.ndarray
    n_outputs: int
    objective: float
    solver_value: float
    form: str
    status: str
    time: float


def _check_features(features, Y, loss):
    features = check_matrix(features, "features", ndim=3)
    n = features.shape[0]
    _, Y = check_data(features.reshape(n, -1), Y, x_name="features", y_name="Y")
    loss.check_targets(Y)
    return features, Y


def _predict(features: np.ndarray, M: np.ndarray, k: int) -> np.ndarray:
    n, G, h = features.shape
    return np.einsum("ngh,hgk->nk", features, M.reshape(h, G, k))


def nuclear_objective(features, Y, M, *, loss="squared", beta: float) -> float:
    """``L(sum_g F_g M_g, Y) + beta ||M||_*`` for blocks ``features`` (n, G, h), ``M`` (h, Gk)."""
    loss = get_loss(loss)
    features, Y = _check_features(features, Y, loss)
    M = check_matrix(M, "M")
    Z = torch.as_tensor(_predict(features, M, Y.shape[1]))
    data = float(loss.value(Z, torch.as_tensor(Y), torch.ones(Y.shape[0], dtype=Z.dtype)))
    return data + check_beta(beta) * float(np.linalg.svd(M, compute_uv=False).sum())


def solve_nuclear_norm(features, Y, *, loss="squared", beta: float, form: str = "nuclear",
                       solver: str = "CLARABEL", **options) -> NuclearNormSolution:
    """Solve (N): ``min_M L(sum_g F_g M_g, Y) + beta ||M||_*`` with CVXPY.

    Parameters
    ----------
    features : array-like of shape (n_samples, G, h)
        The blocks ``F_g`` (``X[:, None, :]`` for a fully connected network, patches or pooled
        patches for a CNN).
    Y : array-like of shape (n_samples,) or (n_samples, k)
    loss : str or Loss, default="squared"
    beta : float
    form : {"nuclear", "sdp"}, default="nuclear"
        ``"nuclear"`` states ``||M||_*`` (CVXPY's ``normNuc``); ``"sdp"`` writes the
        semidefinite program with the block matrix ``[[A, M], [M^T, B]] >= 0`` explicitly.
    solver : str, default="CLARABEL"
    **options
        Solver options (default: the conic reference tolerances).
    """
    loss = get_loss(loss)
    features, Y = _check_features(features, Y, loss)
    beta = check_beta(beta)
    n, G, h = features.shape
    k = Y.shape[1]
    if form == "nuclear":
        M = cp.Variable((h, G * k))
        regularizer = cp.normNuc(M)
    elif form == "sdp":
        S = cp.Variable((h + G * k, h + G * k), PSD=True)
        M = S[:h, h:]
        regularizer = (cp.trace(S[:h, :h]) + cp.trace(S[h:, h:])) / 2
    else:
        raise ValueError(f"form must be 'nuclear' or 'sdp'; got {form!r}")
    prediction = sum(features[:, g, :] @ M[:, g * k:(g + 1) * k] for g in range(G))
    objective = loss.cvxpy(prediction, Y, np.ones(n)) + beta * regularizer
    prob = cp.Problem(cp.Minimize(objective))
    status, elapsed = solve_program(prob, "program (N)", solver=solver, **options)
    M_value = np.asarray(M.value, dtype=float)
    return NuclearNormSolution(
        M=M_value, n_outputs=k,
        objective=nuclear_objective(features, Y, M_value, loss=loss, beta=beta),
        solver_value=float(prob.value), form=form, status=status, time=elapsed)


def solve_linear_fc(X, Y, **kwargs) -> NuclearNormSolution:
    """Two-layer linear FC network ``X W_1 W_2`` with weight decay: (N) with ``M = W_1 W_2``."""
    X = check_matrix(X, "X")
    return solve_nuclear_norm(X[:, None, :], Y, **kwargs)


def solve_linear_cnn(inputs, Y, geometry: ConvGeometry, **kwargs) -> NuclearNormSolution:
    """Two-layer linear CNN of ``geometry`` with weight decay: (N) on the (pooled) patches."""
    return solve_nuclear_norm(geometry.pooled_patches(inputs), Y, **kwargs)


def balanced_factors(M, *, rtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """``M = U V`` with ``U = P sqrt(S)`` (h, r), ``V = sqrt(S) Q^T`` (r, q): the minimizer of (*).

    Singular values below ``rtol`` times the largest are dropped (interior-point noise); at
    least one (possibly zero) factor is kept so that the network has a width.
    """
    M = check_matrix(M, "M")
    P, s, Qt = np.linalg.svd(M, full_matrices=False)
    r = max(1, int(np.count_nonzero(s > rtol * s[0]))) if s[0] > 0 else 1
    root = np.sqrt(s[:r])
    return P[:, :r] * root, root[:, None] * Qt[:r]


def linear_fc_network(solution: NuclearNormSolution, *, rtol: float = 1e-9) -> DeepLinearNet:
    """The two-layer linear network ``x -> x W_1 W_2`` of width ``rank(M)`` attaining (N)."""
    W1, W2 = balanced_factors(solution.M, rtol=rtol)
    return DeepLinearNet.from_factors([W1, W2])


def linear_cnn_network(solution: NuclearNormSolution, geometry: ConvGeometry, *,
                       rtol: float = 1e-9) -> TwoLayerConvNet:
    """The linear CNN (``activation="linear"``) with ``rank(M)`` filters attaining (N)."""
    U, V = balanced_factors(solution.M, rtol=rtol)  # U: (h, r) filters, V: (r, G k)
    r, k = U.shape[1], solution.n_outputs
    if U.shape[0] != geometry.patch_size or V.shape[1] != geometry.n_regions * k:
        raise ValueError(f"solution has M of shape {solution.M.shape}, which does not fit "
                         f"{geometry}")
    net = TwoLayerConvNet(geometry, r, k, activation="linear")
    with torch.no_grad():
        net.conv.weight.copy_(torch.as_tensor(U.T).reshape(net.conv.weight.shape))
        # readout.weight[c, j G + g] = w_j[g, c] = V[j, g k + c]
        readout = V.reshape(r, geometry.n_regions, k).transpose(2, 0, 1).reshape(k, -1)
        net.readout.weight.copy_(torch.as_tensor(readout))
    return net


def schatten_regularizer(M, depth: int) -> float:
    """``(L/2) sum_i sigma_i(M)^{2/L}``: the least weight decay of ``L`` factors with product M.

    Convex (the nuclear norm) for ``L = 2`` only; a quasi-norm power for ``L >= 3``.
    """
    M = check_matrix(M, "M")
    depth = check_positive_int(depth, "depth")
    s = np.linalg.svd(M, compute_uv=False)
    return depth / 2 * float(np.sum(s ** (2 / depth)))


def deep_balanced_factors(M, depth: int, *, rtol: float = 1e-9) -> list[np.ndarray]:
    """Balanced factors ``W_1 = P S^{1/L}``, ``W_l = S^{1/L}``, ``W_L = S^{1/L} Q^T`` of ``M``.

    Their product is ``M`` and ``1/2 sum_l ||W_l||_F^2`` equals :func:`schatten_regularizer`.
    """
    M = check_matrix(M, "M")
    depth = check_positive_int(depth, "depth")
    if depth < 2:
        raise ValueError(f"depth must be at least 2; got {depth}")
    P, s, Qt = np.linalg.svd(M, full_matrices=False)
    r = max(1, int(np.count_nonzero(s > rtol * s[0]))) if s[0] > 0 else 1
    root = s[:r] ** (1 / depth)
    middle = [np.diag(root) for _ in range(depth - 2)]
    return [P[:, :r] * root, *middle, root[:, None] * Qt[:r]]
