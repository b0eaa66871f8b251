"""Shared pieces of the JMLR reproduction scripts: arguments, figures, and the paper's GD baseline.

The paper's non-convex problem (2) has *unregularized* biases, which
:func:`convexnn.baselines.train_nonconvex` (regularized bias, fixed PyTorch init) does not
model, and E1 needs the initialization scale as a knob; :func:`train_paper_network` is that
small full-batch loop. Scripts without biases use ``train_nonconvex`` directly.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from convexnn import TwoLayerReLU  # noqa: E402
from convexnn.losses import get_loss  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "output"


def parse_args(description: str) -> argparse.Namespace:
    """``--out DIR``, ``--quick`` and ``--seed`` for every script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the PNG figures (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help="a small fast run (minutes on 2 cores) instead of the full one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny problems on shared cores: threads only add overhead
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def save(fig, out: Path, name: str) -> None:
    """Save ``fig`` as ``out/name`` (PNG) and close it."""
    path = out / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


@dataclass
class PaperNetwork:
    """A network trained on problem (2) and its final objective (mean loss scaling)."""

    network: TwoLayerReLU
    objective: float


def paper_objective(network: TwoLayerReLU, X, y, *, loss="squared", beta: float) -> float:
    """Problem (2) with a mean loss and *unregularized* biases:
    ``L(f(X), y) + beta/2 (||U||_F^2 + ||alpha||^2)``."""
    loss = get_loss(loss)
    Y = torch.as_tensor(np.asarray(y, float).reshape(len(y), -1))
    Z = torch.as_tensor(network.predict(X))
    data = float(loss.value(Z, Y, torch.ones(len(y), dtype=torch.float64)))
    return data + 0.5 * beta * float(np.sum(network.U**2) + np.sum(network.alpha**2))


def train_paper_networks(X, y, *, width: int, beta: float, loss="squared", bias: bool = True,
                         restarts: int = 1, init_std: float | None = None, lr: float = 1e-2,
                         epochs: int = 2000, seed: int = 0,
                         fit_tol: float | None = None) -> list[PaperNetwork]:
    """Full-batch Adam on problem (2), ``restarts`` independent networks trained side by side.

    Adam's step follows a cosine schedule from ``lr`` to ``lr / 100`` over ``epochs``.

    Objective: mean loss + ``beta/2 (||U||^2 + ||alpha||^2)``, biases free. The restarts are
    stacked in one tensor (Adam is elementwise, so they stay independent) and their losses
    summed, which is one backward pass for all. ``init_std`` draws every weight and bias from
    N(0, init_std^2) (E1); None uses PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    ``fit_tol`` stops once the restarts' mean losses sum to less than it. ``y`` has one output.
    """
    loss = get_loss(loss)
    generator = torch.Generator().manual_seed(seed)
    X_t = torch.as_tensor(np.asarray(X, float))
    n, d = X_t.shape
    Y_t = torch.as_tensor(np.asarray(y, float)).reshape(n, 1).expand(n, restarts)

    def draw(*shape, fan_in):
        if init_std is None:
            bound = 1.0 / np.sqrt(fan_in)
            return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        return torch.randn(*shape, generator=generator, dtype=torch.float64) * init_std

    U = draw(restarts, width, d, fan_in=d).requires_grad_()
    b = (draw(restarts, width, fan_in=d) if bias
         else torch.zeros(restarts, width, dtype=torch.float64)).requires_grad_(bias)
    w = draw(restarts, width, fan_in=width).requires_grad_()
    optimizer = torch.optim.Adam([U, w] + ([b] if bias else []), lr=lr)
    # cosine decay to lr / 100: a constant Adam step leaves a noise floor of ~lr in the fit
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs, eta_min=lr / 100)
    weights = torch.ones(n, dtype=torch.float64)

    def outputs():  # (n, restarts)
        hidden = torch.relu(torch.einsum("nd,rmd->rnm", X_t, U) + b[:, None, :])
        return torch.einsum("rnm,rm->nr", hidden, w)

    for _ in range(epochs):
        optimizer.zero_grad()
        data = loss.value(outputs(), Y_t, weights)  # sum over restarts of the mean losses
        (data + 0.5 * beta * ((U**2).sum() + (w**2).sum())).backward()
        optimizer.step()
        schedule.step()
        if fit_tol is not None and float(data.detach()) < fit_tol:
            break
    results = []
    for r in range(restarts):
        network = TwoLayerReLU(U[r].detach().numpy(), w[r].detach().numpy(),
                               b[r].detach().numpy() if bias else None)
        results.append(PaperNetwork(network, paper_objective(network, X, y, loss=loss,
                                                             beta=beta)))
    return results


def kinks(network: TwoLayerReLU) -> np.ndarray:
    """Kink locations ``-b_j / u_j`` of a 1-D network's neurons (those with ``u_j != 0``)."""
    u = network.U[:, 0]
    keep = u != 0
    return -network.b[keep] / u[keep]
