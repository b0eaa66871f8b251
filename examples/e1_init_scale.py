"""E1 (JMLR Figure 1a-c): implicit regularization of small initializations on 1-D data.

Five samples a = -2..2, y = 1,0,1,0,1 (read from the paper's plot). Networks with bias and m
neurons start from N(0, std^2) weights and are trained by full-batch Adam without weight decay
until the mean squared loss is below 1e-6 (or the epoch budget ends). The metric is the largest
deviation from the piecewise-linear interpolant on [-2, 2], averaged over the trials that fit
the data (residuals below 1e-2; tiny initializations can stall at a saddle): small
initializations should give the min-norm network, whose fit is that interpolant (Corollary 3),
with kinks at the data points. The paper uses m in {600, 800, 1000}, "many" trials and plain
back-propagation (step size not given); --quick uses m in {100, 300} and 3 trials.

Usage: python examples/e1_init_scale.py [--out DIR] [--quick]
"""

import matplotlib.pyplot as plt
import numpy as np
from _common import kinks, parse_args, save, train_paper_networks

A = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
Y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
FIT = 1e-2  # a run "fits the data" when every training residual is below this


def main():
    args = parse_args(__doc__.splitlines()[0])
    if args.quick:
        widths, stds, trials, epochs = [100, 300], np.geomspace(0.01, 0.4, 5), 3, 8000
    else:
        widths, stds, trials, epochs = [600, 800, 1000], np.geomspace(0.01, 0.4, 9), 10, 20000
    grid = np.linspace(-2, 2, 801)[:, None]
    interpolant = np.interp(grid[:, 0], A, Y)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    print("E1: max |f - linear interpolant| on [-2, 2], mean over trials "
          "[paper: ~0 for std <= 0.04, 0.02-0.06 at 0.1, 0.17-0.19 at 0.3-0.4]")
    smallest = None
    for m in widths:
        errors = []
        for k, std in enumerate(stds):
            runs = train_paper_networks(A[:, None], Y, width=m, beta=0.0, restarts=trials,
                                        init_std=std, lr=5e-3, epochs=epochs,
                                        seed=args.seed * 1000 + 10 * m + k,
                                        fit_tol=1e-6 * trials)
            fitted = [r.network for r in runs
                      if np.abs(r.network.predict(A[:, None])[:, 0] - Y).max() < FIT]
            deviation = [np.abs(net.predict(grid)[:, 0] - interpolant).max() for net in fitted]
            errors.append(np.mean(deviation) if fitted else np.nan)
            print(f"   m = {m:>4d}, std = {std:.3f}: error {errors[-1]:.4f} "
                  f"({len(fitted)}/{trials} runs fit the data)")
            if m == widths[-1] and k == 0:
                smallest = fitted[0] if fitted else runs[0].network
        axes[0].semilogx(stds, errors, "o-", label=f"m = {m}")
    axes[0].set(xlabel="initialization std", ylabel="max |f - interpolant|",
                title="E1 (Fig. 1a): deviation from the linear spline")
    axes[0].legend()
    # Fig. 1b/1c for the smallest initialization of the widest network
    weight = np.abs(smallest.alpha[:, 0]) * np.linalg.norm(np.c_[smallest.U, smallest.b], axis=1)
    strong = weight > 1e-3 * weight.max()
    axes[1].plot(grid[:, 0], smallest.predict(grid)[:, 0], label="trained network")
    axes[1].scatter(A, Y, color="k", zorder=3)
    for t in kinks(smallest)[strong[smallest.U[:, 0] != 0]]:
        axes[1].axvline(t, color="C3", lw=0.3, alpha=0.5)
    axes[1].set(title=f"Fig. 1b: fit and kinks (std {stds[0]}, m = {widths[-1]})", xlabel="a",
                xlim=(-2.5, 2.5))
    axes[2].hist(smallest.U[:, 0], bins=40, alpha=0.6, label="u")
    axes[2].hist(smallest.b, bins=40, alpha=0.6, label="b")
    axes[2].set(title="Fig. 1c: first-layer weights", xlabel="value")
    axes[2].legend()
    save(fig, args.out, "e1_init_scale.png")


if __name__ == "__main__":
    main()
