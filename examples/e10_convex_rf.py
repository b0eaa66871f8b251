"""E10 / Convex-RF (JMLR Algorithm 2, Figure 13, Table 1 last row) on offline images.

Lemma-7 extreme points of random image patches serve as convolutional filters; pooled ReLU
features feed an l1 least-squares head (convexnn.theory.fit_convex_rf). The paper uses 40k
filters on MNIST and CIFAR-10 (97.72% and 80.28%; pooling grid, patch size, eps and beta not
given). Offline: sklearn digits (8x8) and Fashion-MNIST (28x28, a subset) with a few hundred
filters, against a one-layer least-squares classifier on the raw pixels. Saves the filters
(Figure 13's picture) and prints the accuracies.

Usage: python examples/e10_convex_rf.py [--out DIR] [--quick]
"""

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, save
from sklearn.linear_model import Ridge

from convexnn.datasets import load_fashion_mnist, load_sklearn
from convexnn.theory import fit_convex_rf


def least_squares_accuracy(X, y, X_test, y_test):
    """The "one-layer NN (least squares)" row of Table 1: ridge (1e-3) on one-hot targets."""
    model = Ridge(alpha=1e-3).fit(X, np.eye(10)[y])
    return np.mean(np.argmax(model.predict(X_test), 1) == y_test)


def image_sets(rng, quick):
    X, y = load_sklearn("digits")
    order = rng.permutation(len(y))
    sets = {"digits": (X[order[:1200]] / 16, y[order[:1200]], X[order[1200:]] / 16,
                       y[order[1200:]], 8, 3)}
    try:
        X, y = load_fashion_mnist("train")
        X_test, y_test = load_fashion_mnist("test")
    except FileNotFoundError as exc:
        print(f"skipping Fashion-MNIST: {exc}")
        return sets
    n_train, n_test = (1000, 500) if quick else (10000, 2000)
    train = rng.choice(len(y), n_train, replace=False)
    test = rng.choice(len(y_test), n_test, replace=False)
    sets["Fashion-MNIST"] = (X[train], y[train], X_test[test], y_test[test], 28, 5)
    return sets


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(args.seed)
    n_filters = 150 if args.quick else 600
    fig, axes = plt.subplots(2, 8, figsize=(10, 3))
    for row, (name, (X, y, X_test, y_test, side, patch)) in enumerate(
            image_sets(rng, args.quick).items()):
        images, images_test = X.reshape(-1, side, side), X_test.reshape(-1, side, side)
        model = fit_convex_rf(images, y, patch_size=patch, n_filters=n_filters, pool=2,
                              beta=1e-3, eps=0.01, seed=args.seed)
        accuracy = np.mean(model.predict(images_test) == y_test)
        print(f"E10 {name}: {len(y)} train / {len(y_test)} test images, "
              f"{model.filters.n_filters} Lemma-7 filters of {patch}x{patch} patches: "
              f"Convex-RF accuracy {accuracy:.4f}; least squares on pixels "
              f"{least_squares_accuracy(X, y, X_test, y_test):.4f}")
        for k, ax in enumerate(axes[row % 2]):
            ax.imshow(model.filters.dictionary.U[k].reshape(patch, patch), cmap="gray")
            ax.set_axis_off()
        axes[row % 2, 0].set_title(name, fontsize=8, loc="left")
    fig.suptitle("Lemma-7 extreme-point filters (cf. JMLR Figure 13)")
    save(fig, args.out, "e10_convex_rf_filters.png")


if __name__ == "__main__":
    main()
