"""Linear circular CNNs trained both ways: Fourier lasso (and the circulant SDP) vs Adam.

Panels: (a) two-layer circular CNN, full-length filters, weight decay: the lasso on unitary-DFT
features with weight beta/sqrt(d) (``convexnn.architectures.fourier``), checked against the
nuclear-norm SDP over circulant patches when d is small enough for it; (b) three layers with
the path-product regularizer (weight decay of third powers): the weighted Fourier lasso, whose
conjugate pairs weigh sqrt(2) more than the DC and Nyquist frequencies.

Usage: python examples/arch_fourier.py [--out DIR] [--quick] [--dataset digits|fashion_mnist]
"""

from _common import save
from arch_common import figure, images, parse, plot_runs

from convexnn.architectures import (
    DeepCircularCNN,
    circular_geometry,
    circular_network,
    network_objective,
    solve_fourier_lasso,
    solve_linear_cnn,
    train_nonconvex,
)

BETA = 1e-2
#: the SDP has a (C d + d)-square PSD block (d = 36: ~25 s; d = 64: many minutes): solved only
#: up to this d (the agreement is also checked in tests/architectures/test_fourier.py)
SDP_MAX_D = 36


def main():
    args = parse(__doc__.splitlines()[0])
    n = 80 if args.quick else 400
    epochs = 300 if args.quick else 2000
    # full-length kernels make float64 convolutions slow: --quick uses 4x4 block averages
    size = 4 if args.quick else (None if args.dataset == "digits" else 7)
    x, y, task = images(args.dataset, n, seed=args.seed, size=size)
    shape = x.shape[1:]
    d = x[0, 0].size
    fig, axes = figure(2)

    lasso = solve_fourier_lasso(x, y, beta=BETA)
    recovered = network_objective(circular_network(lasso), x, y, beta=BETA)
    optima = {"convex optimum (Fourier lasso)": lasso.objective}
    line = f"two layers: Fourier lasso {lasso.objective:.10f} ({lasso.time:.1f}s)"
    if d <= SDP_MAX_D:
        sdp = solve_linear_cnn(x, y, circular_geometry(shape), beta=BETA, form="sdp")
        line += f", circulant SDP {sdp.objective:.10f} ({sdp.time:.1f}s)"
    else:
        line += f" (circulant SDP skipped: d = {d} > {SDP_MAX_D})"
    runs = [train_nonconvex(DeepCircularCNN(shape, 4, seed=seed), x, y, beta=BETA,
                            epochs=epochs, lr=0.05) for seed in range(3)]
    print(f"{line}, recovered network {recovered:.10f}; Adam (4 channels) ends "
          f"{', '.join(f'{run.final:.10f}' for run in runs)}")
    plot_runs(axes[0], runs, optima, f"(a) circular linear CNN, 2 layers\n{task}; beta={BETA}")

    deep = solve_fourier_lasso(x, y, beta=BETA, depth=3)
    network = circular_network(deep)
    recovered = network_objective(network, x, y, beta=BETA, power=3)
    runs = [train_nonconvex(DeepCircularCNN(shape, network.n_paths + 4, 3, seed=seed), x, y,
                            beta=BETA, epochs=epochs, lr=0.05, power=3) for seed in range(3)]
    print(f"three layers (path product): weighted Fourier lasso {deep.objective:.10f}, "
          f"recovered network ({network.n_paths} paths) {recovered:.10f}; Adam "
          f"({network.n_paths + 4} paths) ends {', '.join(f'{run.final:.10f}' for run in runs)}")
    plot_runs(axes[1], runs, {"convex optimum (weighted Fourier lasso)": deep.objective},
              f"(b) circular linear CNN, 3 layers, path-product penalty\n{task}; beta={BETA}")
    save(fig, args.out, f"arch_fourier_{args.dataset}.png")


if __name__ == "__main__":
    main()
