"""E3 (JMLR Figure 7, Proposition 1, Appendix 11): the spline is not the only optimum.

Data a = [-2, -1, 0, 1, 2], y = [1, -1, 1, 1, -1]. The minimum-l1 interpolation (49) has value 8
for the data-point dictionary and for one with kinks at +-0.5; the regularized problem (51)
(beta = 1e-4, 1/(2n) squared loss: this library's mean scaling) has optimum 1999/2500000 for
every kink position c in [0, 1]. Prints our values next to the paper's and plots the fits.

Usage: python examples/e3_non_uniqueness.py [--out DIR] [--quick]
"""

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, save

from convexnn.theory import NeuronDictionary, fit_l1, fit_spline, min_l1_interpolation

A = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
Y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
BETA = 1e-4
PAPER_REGULARIZED = 1999 / 2500000


def dictionary(b):
    """u = +1 for the first half of ``b``, -1 for the second (the paper's u*)."""
    half = len(b) // 2
    return NeuronDictionary(np.repeat([1.0, -1.0], half)[:, None], np.asarray(b, float))


def main():
    args = parse_args(__doc__.splitlines()[0])
    grid = np.linspace(-2.5, 2.5, 501)[:, None]
    print("E3 / Proposition 1: minimum-l1 interpolation (49)   [paper: 8 and 8]")
    for name, b in (("kinks at data points", [2, 1, 0, -1, -1, 0, 1, 2]),
                    ("kinks at +-0.5      ", [2, 1, 0, -0.5, -1, 0, 0.5, 2])):
        fit = min_l1_interpolation(dictionary(b), A[:, None], Y)
        print(f"  {name}: ||w||_1 = {fit.objective:.9f}, dual v = {np.round(fit.dual[:, 0], 4)}")

    print(f"regularized (51), beta = {BETA}   [paper: {PAPER_REGULARIZED:.10g} for all c]")
    cs = np.linspace(0, 1, 6 if args.quick else 21)
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in cs:
        fit = fit_l1(dictionary([2, 1, 0, -c, -1, -1, 0, c, 1, 2]), A[:, None], Y, beta=BETA)
        print(f"  c = {c:.2f}: objective = {fit.objective:.10g} "
              f"(difference {fit.objective - PAPER_REGULARIZED:+.1e})")
        if np.isclose(c % 0.4, 0.2) or c in (0.0, 1.0):
            ax.plot(grid[:, 0], fit.predict(grid)[:, 0], lw=1.2, label=f"kinks at 0, +-{c:.1f}")
    spline = fit_spline(A, Y, beta=BETA)
    print(f"  spline dictionary (Corollary 8): {spline.objective:.10g}")
    ax.plot(grid[:, 0], spline.predict(grid)[:, 0], "k--", lw=1, label="spline dictionary")
    ax.scatter(A, Y, color="k", zorder=3)
    ax.set(xlabel="a", ylabel="f(a)", title="E3: equally optimal networks (Prop. 1)")
    ax.legend(fontsize=7)
    save(fig, args.out, "e3_non_uniqueness.png")


if __name__ == "__main__":
    main()
