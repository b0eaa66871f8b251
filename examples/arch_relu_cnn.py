"""Two-layer ReLU CNNs trained both ways: program (C) over patch patterns vs Adam.

Panels: (a) 3x3 filters, ReLU, global average pooling, plain weight decay; (b) the same with
3x3 pooling windows (4 regions) and the decoupled l1 readout penalty. The images' patch
matrices have far too many activation patterns to enumerate, so (C) is solved over patterns
of sampled Gaussian filters: its optimum bounds the global optimum from above. Adding the
patterns of the trained networks' filters (``ConvReLUProblem.add_filters``) gives a program
whose optimum is at most every trained network's objective, and the network recovered from it
(a ``Conv2d`` module) attains that optimum.

Usage: python examples/arch_relu_cnn.py [--out DIR] [--quick] [--dataset digits|fashion_mnist]
"""

import numpy as np
from _common import save
from arch_common import figure, images, parse, plot_runs

from convexnn.architectures import (
    ConvGeometry,
    ConvReLUProblem,
    TwoLayerConvNet,
    conv_relu_network,
    network_objective,
    solve_conv_relu,
    train_nonconvex,
)

BETA = 1e-3


def compare(x, y, geometry, readout_norm, *, n_patterns, n_filters, epochs, seed):
    runs = [train_nonconvex(TwoLayerConvNet(geometry, n_filters, seed=start), x, y, beta=BETA,
                            epochs=epochs, lr=0.05, readout_norm=readout_norm)
            for start in range(3)]
    problem = ConvReLUProblem.build(x, y, geometry, beta=BETA, patterns="sampled",
                                    n_patterns=n_patterns, seed=seed)
    sampled = solve_conv_relu(problem)
    filters = np.hstack([run.module.conv.weight.detach().reshape(n_filters, -1).numpy().T
                         for run in runs])
    union = solve_conv_relu(problem.add_filters(filters))
    recovered = network_objective(conv_relu_network(union), x, y, beta=BETA,
                                  readout_norm=readout_norm)
    print(f"  (C), {problem.shape[2]} sampled patterns: {sampled.objective:.10f} "
          f"({sampled.time:.1f}s, {sampled.status}); with the trained filters' patterns added: "
          f"{union.objective:.10f} ({union.time:.1f}s, {union.status}), recovered CNN "
          f"{recovered:.10f}; "
          f"Adam ends {', '.join(f'{run.final:.10f}' for run in runs)}")
    return runs, {"(C), sampled patterns": sampled.objective,
                  "(C), sampled + trained filters' patterns": union.objective}


def main():
    args = parse(__doc__.splitlines()[0])
    n = 30 if args.quick else 100
    epochs = 300 if args.quick else 2000
    n_patterns = 20 if args.quick else 60
    size = None if args.dataset == "digits" else (4 if args.quick else 14)
    x, y, task = images(args.dataset, n, seed=args.seed, size=size)
    half = (x.shape[-1] - 2) // 2  # pooling windows of half the output map: 4 regions
    fig, axes = figure(2)
    panels = [("global", "l2", "(a) ReLU CNN, 3x3 filters, global average pooling"),
              (half, "l1", f"(b) ReLU CNN, 3x3 filters, {half}x{half} average pooling, "
                           "l1 readout")]
    for ax, (pool, readout_norm, title) in zip(axes, panels, strict=True):
        geometry = ConvGeometry(x.shape[1:], 3, pool=pool, pool_mode="mean")
        print(f"{title} ({geometry.n_regions} regions):")
        runs, optima = compare(x, y, geometry, readout_norm, n_patterns=n_patterns,
                               n_filters=16, epochs=epochs, seed=args.seed)
        plot_runs(ax, runs, optima, f"{title}\n{task}; beta={BETA}")
    save(fig, args.out, f"arch_relu_cnn_{args.dataset}.png")


if __name__ == "__main__":
    main()
