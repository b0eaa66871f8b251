"""Non-convex training of the architectures' torch networks: the side the convex programs beat.

Every network of this package has a ``penalty(beta, **options)`` method; its training objective
is the core's mean loss plus that penalty (the same function the convex programs minimize over
a reparametrization, which is what the tests compare)::

    J(theta) = L(f_theta(X), Y) + penalty_theta(beta)

:func:`train_nonconvex` minimizes ``J`` by full-batch Adam (or gradient descent) with an
exponentially decaying step, from the network's current weights.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import check_beta, check_matrix, check_positive_int
from ..losses import get_loss

__all__ = ["TrainingRun", "network_objective", "train_nonconvex"]


def _targets(Y, n: int) -> torch.Tensor:
    Y = torch.as_tensor(check_matrix(Y, "Y", ndim=(1, 2)))
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.ndim != 2 or Y.shape[0] != n:
        raise ValueError(f"Y must have {n} rows (one per input); got shape {tuple(Y.shape)}")
    return Y


def _objective(module: nn.Module, x: torch.Tensor, Y: torch.Tensor, loss, beta: float,
               penalty_options: dict) -> torch.Tensor:
    weights = torch.ones(x.shape[0], dtype=Y.dtype)
    return loss.value(module(x), Y, weights) + module.penalty(beta, **penalty_options)


def network_objective(module: nn.Module, inputs, Y, *, loss="squared", beta: float,
                      **penalty_options) -> float:
    """``L(f(X), Y) + penalty(beta)`` of a network (float64).

    Parameters
    ----------
    module : nn.Module
        A network of this package (it has ``penalty(beta, **penalty_options)``).
    inputs : array-like of shape (n_samples, ...)
        What the network takes: images ``(n, C, *spatial)`` or feature rows ``(n, d)``.
    Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    loss : str or Loss
    beta : float
    **penalty_options
        Passed to ``module.penalty`` (e.g. ``readout_norm="l1"``).
    """
    x = torch.as_tensor(check_matrix(inputs, "inputs", ndim=None))
    with torch.no_grad():
        value = _objective(module, x, _targets(Y, x.shape[0]), get_loss(loss),
                           check_beta(beta), penalty_options)
    return float(value)


@dataclass
class TrainingRun:
    """Result of :func:`train_nonconvex`.

    Attributes
    ----------
    module : nn.Module
        The trained network (trained in place).
    objective : list of float
        ``J`` before every step, then after the last one (``epochs + 1`` values).
    """

    module: nn.Module
    objective: list

    @property
    def final(self) -> float:
        return self.objective[-1]


def train_nonconvex(module: nn.Module, inputs, Y, *, loss="squared", beta: float,
                    epochs: int = 2000, lr: float = 1e-2, final_lr: float = 1e-4,
                    optimizer: str = "adam", **penalty_options) -> TrainingRun:
    """Full-batch training of ``module`` on the weight-decay objective ``J``.

    Parameters
    ----------
    module : nn.Module
        Trained in place from its current weights (seed its construction for several starts).
    inputs : array-like of shape (n_samples, ...)
    Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    loss : str or Loss, default="squared"
    beta : float
    epochs : int, default=2000
        Number of full-batch steps.
    lr, final_lr : float
        The step decays geometrically from ``lr`` to ``final_lr`` over the run.
    optimizer : {"adam", "gd"}
    **penalty_options
        Passed to ``module.penalty``.

    Returns
    -------
    TrainingRun
    """
    epochs = check_positive_int(epochs, "epochs")
    beta = check_beta(beta)
    for name, value in (("lr", lr), ("final_lr", final_lr)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number; got {value!r}")
    if optimizer == "adam":
        opt = torch.optim.Adam(module.parameters(), lr=lr)
    elif optimizer == "gd":
        opt = torch.optim.SGD(module.parameters(), lr=lr)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'gd'; got {optimizer!r}")
    decay = (final_lr / lr) ** (1 / epochs)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=decay)
    x = torch.as_tensor(check_matrix(inputs, "inputs", ndim=None))
    Y = _targets(Y, x.shape[0])
    loss = get_loss(loss)
    history = []
    for _ in range(epochs):
        opt.zero_grad()
        value = _objective(module, x, Y, loss, beta, penalty_options)
        value.backward()
        history.append(float(value.detach()))
        opt.step()
        schedule.step()
    with torch.no_grad():
        history.append(float(_objective(module, x, Y, loss, beta, penalty_options)))
    return TrainingRun(module, history)
