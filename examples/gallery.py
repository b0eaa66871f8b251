"""The figures of :mod:`convexnn.plots`, drawn on small problems, for the user guide.

Writes into docs/img/ (or --out):

* ``gallery_fit_1d.png``: a certified regression network on 1-D data and its kinks
  (:func:`~convexnn.plots.plot_fit_1d`);
* ``gallery_decision_regions.png``: a certified classifier on two interleaved half-moons
  (:func:`~convexnn.plots.plot_decision_regions`);
* ``gallery_objective_comparison.png``: Adam's training curve against the convex network's
  objective and the certified lower bound (:func:`~convexnn.plots.plot_objective_comparison`);
* ``gallery_convergence.png``: certified duality gap against time for ADMM and FISTA
  (:func:`~convexnn.plots.plot_convergence`);
* ``gallery_regularization_path.png``: validation error and active neurons along a path of
  ``beta`` (:func:`~convexnn.plots.plot_regularization_path`).

Usage: python examples/gallery.py [--out DIR]   (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from convexnn import (  # noqa: E402
    ConvexProblem,
    ConvexReLUClassifier,
    ConvexReLURegressor,
    certify_network,
    solve,
)
from convexnn.baselines import train_nonconvex  # noqa: E402
from convexnn.estimators import encode_labels  # noqa: E402
from convexnn.path import regularization_path  # noqa: E402
from convexnn.plots import (  # noqa: E402
    plot_convergence,
    plot_decision_regions,
    plot_fit_1d,
    plot_objective_comparison,
    plot_regularization_path,
)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "img"


def _save(fig, out: Path, name: str, started: float) -> None:
    fig.tight_layout()
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    print(f"{name:36s} {time.perf_counter() - started:6.1f} s")


def fit_1d(out: Path, rng: np.random.Generator) -> None:
    started = time.perf_counter()
    x = np.sort(rng.uniform(-3, 3, 20))
    y = np.sin(1.5 * x) + 0.1 * rng.standard_normal(20)
    est = ConvexReLURegressor(beta=1e-3, patterns="exact").fit(x[:, None], y)
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_fit_1d(est.network_, x, y, ax=ax)
    ax.set_title(f"1-D regression, all {est.patterns_.n_patterns} patterns: relative gap "
                 f"{est.certificate_.relative_gap:.1e}")
    _save(fig, out, "gallery_fit_1d.png", started)


def decision_regions(out: Path) -> None:
    started = time.perf_counter()
    X, labels = make_moons(60, noise=0.15, random_state=0)
    est = ConvexReLUClassifier(beta=1e-3, patterns="sampled", n_patterns=120, solver="conic",
                               random_state=0).fit(X, np.where(labels, "upper", "lower"))
    fig, ax = plt.subplots(figsize=(5, 5))
    plot_decision_regions(est, X, np.where(labels, "upper", "lower"), ax=ax)
    ax.set_title(f"{est.network_.n_neurons} neurons, training accuracy "
                 f"{est.score(X, np.where(labels, 'upper', 'lower')):.2f}")
    _save(fig, out, "gallery_decision_regions.png", started)


def objective_comparison(out: Path) -> None:
    started = time.perf_counter()
    X, labels = make_moons(24, noise=0.2, random_state=1)  # 554 patterns: seconds
    Y = encode_labels(labels, 2, "squared")
    beta = 1e-3
    adam = train_nonconvex(X, Y, beta=beta, width=16, lr=1e-2, epochs=2000, seed=0)
    # program (8) over all patterns: its optimum is the best objective of any width, and the
    # certificate of Adam's network checks the convex dual point against all patterns
    est = ConvexReLUClassifier(beta=beta, patterns="exact", solver="conic").fit(X, labels)
    bound = certify_network(adam.network, X, Y, beta=beta, patterns=est.patterns_,
                            dual=est.solution_.dual)
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_objective_comparison(adam.history, est.certificate_.primal, bound.lower_bound, ax=ax)
    ax.set_title(f"Adam (16 neurons) vs the convex network ({est.network_.n_neurons}): "
                 f"Adam's certified gap {bound.duality_gap:.1e}", fontsize=9)
    _save(fig, out, "gallery_objective_comparison.png", started)


def convergence(out: Path, rng: np.random.Generator) -> None:
    started = time.perf_counter()
    X = rng.standard_normal((200, 5))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    runs = {}
    for name, gated in (("admm", False), ("admm", True), ("fista", True)):
        problem = ConvexProblem.build(X, y, beta=1e-3, patterns="sampled", n_patterns=40,
                                      seed=0, gated=gated)
        label = f"{name}, {'gated relaxation' if gated else 'program (8)'}"
        runs[label] = solve(problem, name, tol=1e-7, max_iter=3000)
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_convergence(runs, ax=ax)
    ax.set_title("200 samples, 5 features, 40 sampled patterns")
    _save(fig, out, "gallery_convergence.png", started)


def path(out: Path, rng: np.random.Generator) -> None:
    started = time.perf_counter()
    X = rng.uniform(-2, 2, (60, 2))
    y = np.sign(X[:, 0] * X[:, 1]) + 0.3 * rng.standard_normal(60)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0)
    result = regularization_path(X_train, y_train, X_val=X_val, y_val=y_val, n_betas=12,
                                 min_ratio=1e-3, patterns="sampled", n_patterns=40, seed=0,
                                 metric="mse")
    best = result.betas[int(np.argmin(result.validation_errors))]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_regularization_path(result.betas, result.validation_errors, result.n_active,
                             best_beta=best, error_label="validation MSE", ax=ax)
    ax.set_title("regularization path (warm-started, patterns shared)")
    _save(fig, out, "gallery_regularization_path.png", started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the PNG figures (default: {DEFAULT_OUT})")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # small problems: more threads only add synchronization
    rng = np.random.default_rng(0)
    fit_1d(args.out, rng)
    decision_regions(args.out)
    objective_comparison(args.out)
    convergence(args.out, rng)
    path(args.out, rng)


if __name__ == "__main__":
    main()
