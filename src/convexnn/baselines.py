"""The non-convex baseline: the same two-layer ReLU network trained by Adam or SGD in PyTorch.

The objective is exactly :meth:`convexnn.network.TwoLayerReLU.objective`, the weight-decay
problem (2) of Pilanci & Ergen (ICML 2020) with a mean loss::

    L( sum_j (X u_j + b_j)_+ alpha_j , Y ) + beta/2 ( ||U||_F^2 + ||b||^2 + sum_j ||alpha_j||_1^2 )

so its final value can be compared number for number with the optimum of the convex program (8)
and certified with :func:`convexnn.certificates.certify_network`. Local methods can only end at
or above the convex optimum (by Theorem 1 there, it is the global optimum); how far above is
what this baseline measures.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ._validation import (
    check_beta,
    check_data,
    check_positive_int,
    check_sample_weight,
)
from .losses import get_loss
from .network import TwoLayerReLU

__all__ = ["NonconvexResult", "train_nonconvex"]

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


@dataclass
class NonconvexResult:
    """What :func:`train_nonconvex` returns.

    Attributes
    ----------
    network : TwoLayerReLU
        The trained network (float64 NumPy weights).
    history : dict of lists
        ``"objective"``: the full-data objective (2) after each epoch (entry 0 is the
        initialization, so ``epochs + 1`` entries); ``"time"``: seconds since the start of
        training at each of those points (evaluation excluded).
    time : float
        Wall-clock seconds of the training loop (evaluation excluded).
    """

    network: TwoLayerReLU
    history: dict = field(default_factory=dict)
    time: float = 0.0

    @property
    def objective(self) -> float:
        """The final training objective (2)."""
        return self.history["objective"][-1]


def _resolve_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in ("float64", "float32"):
        return getattr(torch, dtype)
    raise ValueError(f"dtype must be 'float64', 'float32' or a torch dtype; got {dtype!r}")


def _initial_module(n_features: int, width: int, n_outputs: int, bias: bool,
                    generator: torch.Generator, dtype: torch.dtype) -> torch.nn.Sequential:
    """``Sequential(Linear(d, m), ReLU, Linear(m, k, bias=False))`` with PyTorch's default init.

    PyTorch's default (Kaiming-uniform with ``a = sqrt(5)``) is
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and biases; it is drawn here from
    ``generator`` so that ``seed`` fixes it without touching the global random state.
    """
    first = torch.nn.Linear(n_features, width, bias=bias, dtype=dtype)
    second = torch.nn.Linear(width, n_outputs, bias=False, dtype=dtype)
    with torch.no_grad():
        for layer in (first, second):
            bound = 1.0 / np.sqrt(layer.in_features)
            for param in layer.parameters():
                param.uniform_(-bound, bound, generator=generator)
    return torch.nn.Sequential(first, torch.nn.ReLU(), second)


def _penalty(module: torch.nn.Sequential, beta: float) -> torch.Tensor:
    """``beta/2 (||U||_F^2 + ||b||^2 + sum_j ||alpha_j||_1^2)``, as in TwoLayerReLU.penalty."""
    first, _, second = module
    total = (first.weight**2).sum() + (second.weight.abs().sum(0) ** 2).sum()
    if first.bias is not None:
        total = total + (first.bias**2).sum()
    return 0.5 * beta * total


def train_nonconvex(
    X,
    y,
    *,
    loss="squared",
    beta: float,
    width: int,
    optimizer: str = "adam",
    lr: float = 1e-2,
    epochs: int = 1000,
    batch_size: int | None = None,
    seed: int | None = None,
    bias: bool = True,
    sample_weight=None,
    optimizer_options: dict | None = None,
    device="cpu",
    dtype="float64",
    verbose: int = 0,
) -> NonconvexResult:
    """Train the two-layer ReLU network of width ``width`` on objective (2) by Adam or SGD.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data (raw features; the bias is a parameter of the first layer).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, encoded as the loss expects (+-1 for hinge and logistic, one-hot rows for
        cross_entropy).
    loss : {"squared", "hinge", "logistic", "cross_entropy"} or Loss, default="squared"
        The mean loss of :mod:`convexnn.losses`.
    beta : float >= 0
        Weight-decay strength of (2).
    width : int >= 1
        Number of hidden neurons ``m``.
    optimizer : {"adam", "sgd"}, default="adam"
    lr : float > 0, default=1e-2
        Learning rate.
    epochs : int >= 1, default=1000
        Passes over the data.
    batch_size : int, optional
        Mini-batch size (reshuffled every epoch); None trains full-batch.
    seed : int, optional
        Seeds the initialization and the mini-batch order; None draws a fresh seed.
    bias : bool, default=True
        Whether the first layer has a (regularized) bias.
    sample_weight : array-like of shape (n_samples,), optional
        Per-sample weights of the mean loss.
    optimizer_options : dict, optional
        Extra keyword arguments of the torch optimizer (e.g. ``{"momentum": 0.9}`` for SGD).
    device : str or torch.device, default="cpu"
    dtype : {"float64", "float32"} or torch.dtype, default="float64"
    verbose : int, default=0
        If positive, print the objective about ten times during training.

    Returns
    -------
    NonconvexResult
        The network, the per-epoch history of the full-data objective and the training time.

    Notes
    -----
    The penalty is part of the differentiated objective rather than the optimizer's
    ``weight_decay``: for several outputs it is ``sum_j ||alpha_j||_1^2``, not a squared norm,
    and this way every optimizer minimizes exactly :meth:`TwoLayerReLU.objective`.
    """
    X, Y = check_data(X, y)
    loss = get_loss(loss)
    loss.check_targets(Y)
    beta = check_beta(beta)
    width = check_positive_int(width, "width")
    epochs = check_positive_int(epochs, "epochs")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    n = X.shape[0]
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), n)
    weights = check_sample_weight(sample_weight, n)
    dtype = _resolve_dtype(dtype)
    device = torch.device(device)

    generator = torch.Generator().manual_seed(
        int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
    )
    module = _initial_module(X.shape[1], width, Y.shape[1], bias, generator, dtype).to(device)
    opt = OPTIMIZERS[optimizer](module.parameters(), lr=lr, **(optimizer_options or {}))
    as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    X_t, Y_t, w_t = as_tensor(X), as_tensor(Y), as_tensor(weights)

    def full_objective() -> float:
        with torch.no_grad():
            return float(loss.value(module(X_t), Y_t, w_t) + _penalty(module, beta))

    history = {"objective": [], "time": []}
    elapsed = 0.0

    def record(value: float) -> None:
        history["objective"].append(value)
        history["time"].append(elapsed)

    report_every = max(1, epochs // 10)
    for epoch in range(1, epochs + 1):
        if batch_size is not None:
            record(full_objective())
        start = time.perf_counter()
        if batch_size is None:
            batches = [slice(None)]
        else:
            batches = torch.split(torch.randperm(n, generator=generator).to(device), batch_size)
        for index in batches:
            opt.zero_grad()
            objective = loss.value(module(X_t[index]), Y_t[index], w_t[index])
            objective = objective + _penalty(module, beta)
            if batch_size is None:  # the full objective at the point the last epoch reached
                record(float(objective.detach()))
            objective.backward()
            opt.step()
        elapsed += time.perf_counter() - start
        if verbose and epoch % report_every == 0:
            print(f"[{optimizer}] epoch {epoch:>6d}/{epochs}  objective before it "
                  f"{history['objective'][-1]:.8g}  ({elapsed:.2f} s)")
    record(full_objective())
    if verbose:
        print(f"[{optimizer}] done: objective {history['objective'][-1]:.8g} ({elapsed:.2f} s)")
    return NonconvexResult(TwoLayerReLU.from_torch(module), history, elapsed)


def adam_warm_up(X: np.ndarray, Y: np.ndarray, *, loss, beta: float, width: int, epochs: int,
                 lr: float, bias: bool, sample_weight: np.ndarray | None, seed: int,
                 time_limit: float | None = None, device="cpu") -> NonconvexResult:
    """A short full-batch Adam run of objective (2) (float64): the neuron search's seed.

    Adam (Kingma & Ba, 2015, Algorithm 1, with its default betas and eps) written out on the
    three parameter tensors, with the gradients of (2) written out too: a process's first
    ``torch.optim`` optimizer imports ``torch._dynamo``, which took 1.3-1.9 s on the 2-core
    machine (measured), several times the 0.2-0.3 s of the whole 300-epoch run on the small
    tabular sets, and autograd took over a quarter of that run (breast_cancer, 100 neurons:
    0.26 s against 0.19 s, the same objective to 1e-11; measured). ``X``, ``Y`` (n, k), ``loss`` (a
    Loss) and ``sample_weight`` are checked by the caller. No epoch starts once ``time_limit``
    seconds are spent (the first always runs). The history holds the objective before each
    epoch and after the last.
    """
    n, k = Y.shape
    device = torch.device(device)
    generator = torch.Generator().manual_seed(int(seed))
    module = _initial_module(X.shape[1], width, k, bias, generator, torch.float64).to(device)
    params = [p.detach() for p in module.parameters()]  # U (m, d), [b (m,)], alpha (k, m)
    weights = check_sample_weight(sample_weight, n)
    X_t, Y_t, w_t = (torch.as_tensor(a, dtype=torch.float64, device=device)
                     for a in (X, Y, weights))
    first, second, eps = 0.9, 0.999, 1e-8
    means = [torch.zeros_like(param) for param in params]
    squares = [torch.zeros_like(param) for param in params]
    history = {"objective": [], "time": []}

    def forward():
        U, alpha = params[0], params[-1]
        H = torch.addmm(params[1], X_t, U.T) if bias else X_t @ U.T
        A = H.clamp(min=0)
        Z = A @ alpha.T
        ones = alpha.abs().sum(0)  # ||alpha_j||_1 per neuron, for the gradient too
        # _penalty's sum, from the norms already at hand (calling it took the warm-up from
        # 0.19 to 0.20 s on breast_cancer, measured); the test against torch.optim checks both
        penalty = sum(float(torch.dot(v, v)) for v in (U.reshape(-1), ones, *params[1:-1]))
        return H, A, Z, ones, float(loss.value(Z, Y_t, w_t)) + 0.5 * beta * penalty

    start = time.perf_counter()
    for step in range(1, epochs + 1):
        if time_limit is not None and step > 1 and time.perf_counter() - start >= time_limit:
            break
        H, A, Z, ones, objective = forward()
        history["objective"].append(objective)
        history["time"].append(time.perf_counter() - start)
        # the gradients of (2): G = dL/dZ; alpha gets G^T A and beta ||alpha_j||_1 sign(alpha),
        # the pre-activations G alpha where they are positive (ReLU'(0) = 0, as autograd)
        G = loss.gradient(Z, Y_t, w_t)
        alpha = params[-1]
        back = (G @ alpha) * (H > 0)
        grads = [back.T @ X_t + beta * params[0]]
        if bias:
            grads.append(back.sum(0) + beta * params[1])
        grads.append(G.T @ A + beta * ones * alpha.sign())
        for param, grad, mean, square in zip(params, grads, means, squares, strict=True):
            mean.mul_(first).add_(grad, alpha=1 - first)
            square.mul_(second).addcmul_(grad, grad, value=1 - second)
            denominator = (square / (1 - second**step)).sqrt_().add_(eps)
            param.addcdiv_(mean, denominator, value=-lr / (1 - first**step))
    history["objective"].append(forward()[-1])
    elapsed = time.perf_counter() - start
    history["time"].append(elapsed)
    return NonconvexResult(TwoLayerReLU.from_torch(module), history, elapsed)
