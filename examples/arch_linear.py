"""Two-layer linear networks trained both ways: nuclear-norm program (and its SDP) vs Adam.

Panels: (a) fully connected ``x -> x W_1 W_2``, 10 one-hot outputs (digits) or the binary task;
(b) linear CNN with 3x3 filters and a fully connected readout (a program derived from the
rescaling argument, as in the ICML 2020 paper's CNN results). For each, the convex optimum
of (N) (``convexnn.architectures.linear``; nuclear and SDP forms both solved),
the objective of the network recovered from it, and Adam from several starts.

Usage: python examples/arch_linear.py [--out DIR] [--quick] [--dataset digits|fashion_mnist]
"""

import numpy as np
from _common import save
from arch_common import figure, images, parse, plot_runs

from convexnn.architectures import (
    ConvGeometry,
    DeepLinearNet,
    TwoLayerConvNet,
    linear_cnn_network,
    linear_fc_network,
    network_objective,
    solve_linear_cnn,
    solve_linear_fc,
    train_nonconvex,
)
from convexnn.datasets import load_dataset

BETA = 1e-2


def one_hot_digits(n_samples: int, seed: int):
    X, labels = load_dataset("digits")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(X.shape[0], n_samples, replace=False)
    X = X[chosen] / 16.0
    return X - X.mean(axis=0), np.eye(10)[labels[chosen]]


def compare(name, solve, recover, make_network, inputs, Y, *, epochs, lr, starts):
    nuclear, sdp = solve(form="nuclear"), solve(form="sdp")
    recovered = network_objective(recover(nuclear), inputs, Y, beta=BETA)
    runs = [train_nonconvex(make_network(seed), inputs, Y, beta=BETA, epochs=epochs, lr=lr)
            for seed in range(starts)]
    print(f"{name}: nuclear {nuclear.objective:.10f} ({nuclear.time:.1f}s), "
          f"SDP {sdp.objective:.10f} ({sdp.time:.1f}s), recovered network {recovered:.10f}; "
          f"Adam ends {', '.join(f'{run.final:.10f}' for run in runs)}")
    return runs, {"convex optimum (nuclear norm)": nuclear.objective}


def main():
    args = parse(__doc__.splitlines()[0])
    n = 120 if args.quick else 400
    epochs = 400 if args.quick else 2000
    starts = 3
    size = None if args.dataset == "digits" else (7 if args.quick else 14)
    fig, axes = figure(2)

    if args.dataset == "digits":
        X, Y = one_hot_digits(n, args.seed)
        task = f"digits, 10 one-hot outputs, n={n}"
    else:
        x, y, task = images(args.dataset, n, seed=args.seed, size=size)
        X, Y = x.reshape(n, -1), y
    d, k = X.shape[1], (Y.shape[1] if Y.ndim == 2 else 1)
    runs, optima = compare(
        "fully connected", lambda form: solve_linear_fc(X, Y, beta=BETA, form=form),
        linear_fc_network, lambda seed: DeepLinearNet([d, min(d, k) + 2, k], seed=seed),
        X, Y, epochs=epochs, lr=0.05, starts=starts)
    plot_runs(axes[0], runs, optima, f"(a) linear FC, width {min(d, k) + 2}\n{task}; "
                                     f"beta={BETA}")

    x, y, task = images(args.dataset, n, seed=args.seed, size=size)
    geometry = ConvGeometry(x.shape[1:], 3, pool=None)
    runs, optima = compare(
        "linear CNN", lambda form: solve_linear_cnn(x, y, geometry, beta=BETA, form=form),
        lambda solution: linear_cnn_network(solution, geometry),
        lambda seed: TwoLayerConvNet(geometry, geometry.patch_size, activation="linear",
                                     seed=seed),
        x, y, epochs=epochs, lr=0.05, starts=starts)
    plot_runs(axes[1], runs, optima, f"(b) linear CNN, 3x3 filters, FC readout\n{task}; "
                                     f"beta={BETA}")
    save(fig, args.out, f"arch_linear_{args.dataset}.png")


if __name__ == "__main__":
    main()
