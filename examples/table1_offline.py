"""Table 1 in spirit (JMLR Section 6, E9) on offline data: one-layer least squares, two-layer
back-propagation, two-layer convex (cutting plane + Lemma-7 neurons) and Convex-RF.

The paper's table uses full MNIST, CIFAR-10 and six UCI regression sets (beta and m not
given). Offline stand-ins: digits and a Fashion-MNIST subset (classification accuracy), the
diabetes set and Friedman #1 (regression; error = test MSE / test variance, the paper's metric
is undefined). Small training sets keep the cutting plane's conic solves cheap: it fits one
network per class (one-vs-all, +-1 targets, squared loss) with Algorithm 3 (unregularized bias,
Lemma-7 start). Back-propagation trains the same width as the convex network's largest class
model ("same m for all"), Adam with weight decay. Features are standardized.

Usage: python examples/table1_offline.py [--out DIR] [--quick]
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, save
from sklearn.datasets import make_friedman1
from sklearn.linear_model import Ridge

from convexnn.baselines import train_nonconvex
from convexnn.datasets import load_fashion_mnist, load_sklearn
from convexnn.theory import cutting_plane, fit_convex_rf

BETA = 1e-3
PAPER = {"MNIST": "86.04 / 96.25 / 96.94 / 97.72 %", "CIFAR-10": "36.39 / 41.57 / 42.16 / 80.28 %",
         "Boston": "0.3490 / 0.1612 / 0.1492 / -", "California": "0.8158 / 0.8101 / 0.6344 / -"}


def load_sets(rng, n_train):
    X, y = load_sklearn("digits")
    sets = {"digits": (X, y, "classification", 8)}
    try:
        X, y = load_fashion_mnist("test")  # 10k images are plenty for these subsets
        sets["Fashion-MNIST"] = (X, y, "classification", 28)
    except FileNotFoundError as exc:
        print(f"skipping Fashion-MNIST: {exc}")
    X, y = load_sklearn("diabetes")
    sets["diabetes"] = (X, y, "regression", None)
    X, y = make_friedman1(n_samples=n_train + 500, noise=1.0, random_state=0)
    sets["Friedman #1"] = (X, y, "regression", None)
    return sets


def split(rng, X, y, n_train, n_test):
    order = rng.permutation(len(y))
    train, test = order[:n_train], order[n_train:n_train + n_test]
    mean, std = X[train].mean(0), X[train].std(0)
    std = np.where(std > 0, std, 1.0)
    return (X[train] - mean) / std, y[train], (X[test] - mean) / std, y[test], train, test


def targets(y, task):
    """+-1 one-vs-all columns for classification, the centered target for regression."""
    if task == "classification":
        return np.where(y[:, None] == np.arange(10)[None, :], 1.0, -1.0)
    return ((y - y.mean()) / y.std())[:, None]


def score(predictions, y, y_train, task):
    predictions = np.reshape(predictions, (len(y), -1))
    if task == "classification":
        return float(np.mean(np.argmax(predictions, 1) == y))
    fitted = predictions[:, 0] * y_train.std() + y_train.mean()
    return float(np.mean((fitted - y) ** 2) / np.var(y))


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(args.seed)
    n_train, n_test, rounds = (150, 300, 3) if args.quick else (400, 1000, 10)
    rows = {}
    for name, (X, y, task, side) in load_sets(rng, n_train).items():
        X_tr, y_tr, X_te, y_te, train, test = split(rng, X, y, n_train, n_test)
        T_tr = targets(y_tr, task)
        result = {}
        linear = Ridge(alpha=1e-6).fit(X_tr, T_tr)
        result["one-layer LS"] = score(linear.predict(X_te), y_te, y_tr, task)

        start, width = time.perf_counter(), 1
        convex = np.zeros((len(y_te), T_tr.shape[1]))
        for c in range(T_tr.shape[1]):
            fit = cutting_plane(X_tr, T_tr[:, c], beta=BETA, bias=True, max_iter=rounds)
            convex[:, c] = fit.fit.predict(X_te)[:, 0]
            width = max(width, fit.fit.support(1e-6).size)
        result["two-layer convex"] = score(convex, y_te, y_tr, task)
        convex_time = time.perf_counter() - start

        nonconvex = train_nonconvex(X_tr, T_tr, beta=BETA, width=width, lr=1e-3,
                                    epochs=300 if args.quick else 2000, seed=args.seed)
        result["two-layer backprop"] = score(nonconvex.network.predict(X_te), y_te, y_tr, task)
        if side is not None:
            images = X.reshape(-1, side, side) / X.max()
            model = fit_convex_rf(images[train], y_tr, patch_size=3 if side == 8 else 5,
                                  n_filters=100 if args.quick else 400, beta=BETA, eps=0.01,
                                  seed=args.seed)
            result["Convex-RF"] = float(np.mean(model.predict(images[test]) == y_te))
        rows[name] = result
        metric = "accuracy" if task == "classification" else "MSE / variance"
        print(f"Table 1 {name} ({metric}; {n_train} train, {len(y_te)} test, m = {width}, "
              f"cutting plane {convex_time:.0f} s): "
              + ", ".join(f"{key} {value:.4f}" for key, value in result.items()))
    print("paper (LS / backprop / convex / Convex-RF): "
          + "; ".join(f"{key} {value}" for key, value in PAPER.items()))
    methods = ["one-layer LS", "two-layer backprop", "two-layer convex", "Convex-RF"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for k, method in enumerate(methods):
        values = [rows[name].get(method, np.nan) for name in rows]
        ax.bar(np.arange(len(rows)) + 0.2 * k, values, width=0.2, label=method)
    ax.set_xticks(np.arange(len(rows)) + 0.3, list(rows))
    ax.set(title="Table 1 in spirit: accuracy (images) / MSE over variance (regression)")
    ax.legend(fontsize=7)
    save(fig, args.out, "table1_offline.png")


if __name__ == "__main__":
    main()
