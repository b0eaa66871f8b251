"""E5 (JMLR Figure 9): NTK regression versus the trained network versus the convex spline.

Three 1-D regression data sets. "Theory" is the minimum-l1 interpolation over the spline
dictionary (17) (Corollary 3: a linear spline with kinks at data points); "GD" a width-200
network with bias trained from a small initialization (std 0.05) by Adam without weight decay;
"NTK" the minimum-norm interpolant min ||w||_2 s.t. K w = y of the two-layer ReLU NTK
K(x, x') = |x||x'| kappa(cos angle), kappa(u) = u kappa0(u) + kappa1(u) (Section 5, eq (32)).
The paper writes the kernel without bias; in 1-D that kernel has rank 2 and cannot interpolate,
so here it is applied to the augmented inputs (x, 1), i.e. with a bias. The paper's data are
not given; these are our own. Printed: each fit's largest deviation from the linear
interpolant on the data's range (the paper's point: NTK is smooth, GD and theory are not).

Usage: python examples/e5_ntk.py [--out DIR] [--quick]
"""

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, save, train_paper_networks

from convexnn.theory import fit_spline


def ntk(X1, X2):
    """Two-layer ReLU NTK (both layers trained) of the rows of X1 (p, d) and X2 (q, d)."""
    norms = np.linalg.norm(X1, axis=1)[:, None] * np.linalg.norm(X2, axis=1)[None, :]
    u = np.clip(X1 @ X2.T / norms, -1.0, 1.0)
    kappa0 = (np.pi - np.arccos(u)) / np.pi
    kappa1 = (u * (np.pi - np.arccos(u)) + np.sqrt(1 - u**2)) / np.pi
    return norms * (u * kappa0 + kappa1)


def datasets(rng):
    a = np.sort(rng.uniform(-2, 2, 7))
    return {
        "random targets": (a, rng.uniform(-1, 1, 7)),
        "quadratic": (np.linspace(-2, 2, 6), np.linspace(-2, 2, 6) ** 2 / 2),
        "step": (np.linspace(-2, 2, 8), np.where(np.linspace(-2, 2, 8) > 0, 1.0, 0.0)),
    }


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(args.seed)
    epochs = 6000 if args.quick else 20000
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, (name, (a, y)) in zip(axes, datasets(rng).items(), strict=True):
        grid = np.linspace(a.min() - 0.5, a.max() + 0.5, 601)
        inside = (grid >= a.min()) & (grid <= a.max())
        interpolant = np.interp(grid[inside], a, y)
        augmented = np.c_[a, np.ones_like(a)]
        weights = np.linalg.solve(ntk(augmented, augmented), y)
        fits = {
            "NTK": ntk(np.c_[grid, np.ones_like(grid)], augmented) @ weights,
            "GD": train_paper_networks(a[:, None], y, width=200, beta=0.0, init_std=0.05,
                                       lr=5e-3, epochs=epochs,
                                       seed=args.seed)[0].network.predict(grid[:, None])[:, 0],
            "theory (17)": fit_spline(a, y).predict(grid[:, None])[:, 0],
        }
        deviations = {key: np.abs(f[inside] - interpolant).max() for key, f in fits.items()}
        print(f"E5 {name}: max deviation from the linear interpolant: "
              + ", ".join(f"{key} {value:.3f}" for key, value in deviations.items()))
        for (key, f), style in zip(fits.items(), ("C0-", "C1--", "k:"), strict=True):
            ax.plot(grid, f, style, label=key)
        ax.scatter(a, y, color="k", zorder=3)
        ax.set(title=f"E5: {name}", xlabel="a")
        ax.legend(fontsize=8)
    save(fig, args.out, "e5_ntk.png")


if __name__ == "__main__":
    main()
