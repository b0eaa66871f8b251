"""Shared pieces of the architecture examples (``arch_*.py``): image data and the comparison plot.

The options are those of ``_common.py`` plus ``--dataset {digits,fashion_mnist}``; figures are
saved with ``_common.save``; data come from :mod:`convexnn.datasets` (offline only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from _common import DEFAULT_OUT

from convexnn.datasets import load_dataset

#: the binary task of each data set: (positive classes, negative classes, name)
TASKS = {
    "digits": ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9), "digits 0-4 vs 5-9"),
    "fashion_mnist": ((7,), (9,), "Fashion-MNIST sneaker vs ankle boot"),
}


def parse(description: str) -> argparse.Namespace:
    """``--out``, ``--quick``, ``--seed`` (as in ``_common.parse_args``) and ``--dataset``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the PNG figures (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help="a small fast run (a few minutes on 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=sorted(TASKS), default="digits",
                        help="images: sklearn's 8x8 digits or the local Fashion-MNIST files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def images(dataset: str, n_samples: int, *, seed: int = 0, size: int | None = None):
    """A class-balanced subset of a binary image task.

    Parameters
    ----------
    dataset : {"digits", "fashion_mnist"}
    n_samples : int
    seed : int
    size : int, optional
        Side of the images after block-averaging (a divisor of 28 for Fashion-MNIST, of 8 for
        digits).

    Returns
    -------
    x : ndarray of shape (n_samples, 1, side, side)
        Pixels in [0, 1] minus the subset's mean image (no biases in the networks).
    y : ndarray of shape (n_samples,)
        +1 / -1 labels.
    name : str
    """
    positive, negative, name = TASKS[dataset]
    X, labels = load_dataset(dataset)
    side = int(round(np.sqrt(X.shape[1])))
    X = X.reshape(-1, side, side) / X.max()
    if size is not None and size != side:
        if side % size:
            raise ValueError(f"size must divide the image side {side}; got {size}")
        block = side // size
        X = X.reshape(-1, size, block, size, block).mean(axis=(2, 4))
        side = size
    rng = np.random.default_rng(seed)
    half = n_samples // 2
    chosen = np.concatenate([
        rng.choice(np.flatnonzero(np.isin(labels, positive)), half, replace=False),
        rng.choice(np.flatnonzero(np.isin(labels, negative)), n_samples - half, replace=False),
    ])
    x = X[chosen][:, None]
    y = np.where(np.isin(labels[chosen], positive), 1.0, -1.0)
    return x - x.mean(axis=0), y, f"{name}, n={n_samples}, {side}x{side}"


def plot_runs(ax, runs, optima: dict, title: str) -> None:
    """Non-convex objective per epoch (one curve per start) against convex optimum lines.

    ``optima`` maps a legend label to a value; the y axis is logarithmic in the excess over the
    smallest optimum, so that "ends at or above" is visible at every scale (that optimum itself,
    an excess of 0, is drawn at the bottom of the axis).
    """
    floor = min(optima.values())
    curves = [np.asarray(run.objective) - floor for run in runs]
    levels = {label: value - floor for label, value in optima.items()}
    positive = np.concatenate([c[c > 0] for c in curves] + [[v for v in levels.values() if v > 0]])
    bottom = max(positive.min() / 10, 1e-13) if positive.size else 1e-13
    for seed, excess in enumerate(curves):
        ax.semilogy(np.maximum(excess, bottom), lw=1, label=f"gradient training, start {seed}")
    styles = iter(["--", ":", "-."])
    for label, level in levels.items():
        ax.axhline(max(level, bottom), color="k", ls=next(styles),
                   label=f"{label} = {optima[label]:.8g}")
    ax.set_ylim(bottom=bottom / 2)
    ax.set_xlabel("epoch (full batch Adam)")
    ax.set_ylabel(f"objective - {floor:.8g}")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def figure(n_panels: int):
    fig, axes = plt.subplots(1, n_panels, figsize=(6 * n_panels, 4.2), squeeze=False)
    return fig, axes[0]
