"""E6 (JMLR Figure 10): 1-D Gaussian mixture, test accuracy versus beta, Theorem 11 versus GD.

Samples a ~ N(mu, 0.25) (variance 0.25) with mu in {-2, -1, 0, 1, 2}; label +1 for
mu in {-1, 0, 2} and -1 for mu in {-2, 1}. "Theory" is the l1-SVM over the spline dictionary
(Corollary 9 / Theorem 11), "GD" the same network trained by Adam (width 50, unregularized
bias). beta is in the paper's units for the sum-hinge problem (18); this library's mean-loss
beta is beta / n. The paper does not give the sample sizes: here 8 training points per
component (n = 40) and 200 test points per component, on independent data sets.

Usage: python examples/e6_gaussian_mixture.py [--out DIR] [--quick]
"""

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, save, train_paper_networks

from convexnn.theory import fit_spline

MEANS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
SIGNS = np.array([-1.0, 1.0, 1.0, -1.0, 1.0])
PAPER = {1e-4: (0.78, 0.755), 5e-4: (0.725, 0.70), 1e-3: (0.75, 0.727), 5e-3: (0.795, 0.75),
         1e-2: (0.745, 0.723), 5e-2: (0.77, 0.735), 1e-1: (0.765, 0.73), 2e-1: (0.765, 0.73)}


def sample(rng, per_component):
    component = np.repeat(np.arange(5), per_component)
    return rng.normal(MEANS[component], 0.5), SIGNS[component]


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(args.seed)
    n_sets, betas = (4, [1e-4, 1e-3, 1e-2, 1e-1]) if args.quick else (20, list(PAPER))
    epochs = 2000 if args.quick else 5000
    accuracy = {"theory": np.zeros((n_sets, len(betas))), "GD": np.zeros((n_sets, len(betas)))}
    for s in range(n_sets):
        a, y = sample(rng, 8)
        a_test, y_test = sample(rng, 200)
        n = len(y)
        for j, beta_paper in enumerate(betas):
            theory = fit_spline(a, y, loss="hinge", beta=beta_paper / n)
            accuracy["theory"][s, j] = np.mean(np.sign(theory.predict(a_test[:, None])[:, 0])
                                               == y_test)
            gd = train_paper_networks(a[:, None], y, width=50, beta=beta_paper / n,
                                      loss="hinge", lr=1e-2, epochs=epochs,
                                      seed=1000 * s + j)[0]
            accuracy["GD"][s, j] = np.mean(np.sign(gd.network.predict(a_test[:, None])[:, 0])
                                           == y_test)
    print(f"E6: mean test accuracy over {n_sets} data sets (paper values read from Fig. 10)")
    print("   beta      theory  GD      | paper theory  paper GD")
    for j, beta_paper in enumerate(betas):
        paper = PAPER.get(beta_paper, (np.nan, np.nan))
        print(f"   {beta_paper:<8.0e}  {accuracy['theory'][:, j].mean():.3f}   "
              f"{accuracy['GD'][:, j].mean():.3f}   | {paper[0]:.3f}         {paper[1]:.3f}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, acc in accuracy.items():
        mean, std = acc.mean(0), acc.std(0)
        ax.semilogx(betas, mean, "o-", label=name)
        ax.fill_between(betas, mean - std, mean + std, alpha=0.2)
    ax.set(xlabel="beta (paper units)", ylabel="test accuracy",
           title=f"E6: Gaussian mixture, {n_sets} data sets (band: 1 std)")
    ax.legend()
    save(fig, args.out, "e6_gaussian_mixture.png")


if __name__ == "__main__":
    main()
