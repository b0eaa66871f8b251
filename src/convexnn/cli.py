"""The ``convexnn`` command: ``demo``, ``fit``, ``certify`` and ``path``.

Only wiring: the estimators, data loaders, the Adam baseline and the certificates do the work.
Every error is reported on one line (``convexnn: error: ...``) with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .baselines import train_nonconvex
from .certificates import certify, certify_network
from .datasets import load_csv, load_sklearn
from .estimators import ConvexReLUClassifier, ConvexReLURegressor, encode_labels
from .network import TwoLayerReLU
from .patterns import add_bias, sample_patterns
from .problem import ConvexProblem
from .solvers import SOLVERS, resolve_solver, solve

__all__ = ["main"]

_LOSSES = ("squared", "hinge", "logistic", "cross_entropy")
_SOLVERS = ("auto", *SOLVERS)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error."""

    def error(self, message):
        self.exit(2, f"convexnn: error: {message} (see convexnn --help)\n")


def _number(text: str, kind: type, condition, expected: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not condition(value):
        raise argparse.ArgumentTypeError(f"must be {expected}; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "a positive number")


def _non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: v >= 0, "a number >= 0")


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


# --------------------------------------------------------------------------------------- demo
def _accuracy(scores: np.ndarray, targets: np.ndarray) -> float:
    """Accuracy of one-output scores against +-1 targets (n, 1)."""
    return float(np.mean((scores[:, 0] > 0) == (targets[:, 0] > 0)))


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *map(line, rows)])


def _demo(args) -> int:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_sklearn("breast_cancer")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(f"breast_cancer: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
          f"{X.shape[1]} standardized features; squared loss on +-1 labels, beta={args.beta:g}")

    # breast_cancer labels are 0 / 1: +-1 targets for the squared loss
    Y_train, Y_test = (encode_labels(labels, 2, "squared") for labels in (y_train, y_test))
    threads = torch.get_num_threads()
    # small tensors: a second thread only adds synchronization (and, on a busy machine, waits)
    torch.set_num_threads(1)
    try:
        return _demo_run(args, X_train, X_test, Y_train, Y_test)
    finally:
        torch.set_num_threads(threads)


def _demo_run(args, X_train, X_test, Y_train, Y_test) -> int:
    adam = train_nonconvex(X_train, Y_train, loss="squared", beta=args.beta, width=args.width,
                           optimizer="adam", lr=args.lr, epochs=args.epochs, seed=args.seed)

    # program (8) over sampled patterns plus the patterns of Adam's neurons: Adam's network is
    # one of its feasible points, so its optimum is at most Adam's objective, and the
    # certificate bounds every network whose neurons use these patterns
    start = time.perf_counter()
    Xa = add_bias(X_train)
    patterns = sample_patterns(Xa, args.n_patterns, seed=args.seed).union(
        adam.network.activation_patterns(X_train))
    problem = ConvexProblem(Xa, Y_train, "squared", args.beta, patterns, bias=True)
    # "auto" keeps program (8) on the conic solver; this sampled program is ADMM's case
    name = "admm" if args.solver == "auto" else resolve_solver(problem, args.solver)
    solution = solve(problem, name, **({} if name == "conic" else {"tol": args.tol}))
    convex = TwoLayerReLU.from_convex(solution)
    convex_certificate = certify(solution)
    convex_time = time.perf_counter() - start
    adam_certificate = certify_network(adam.network, X_train, Y_train, loss="squared",
                                       beta=args.beta, patterns=patterns, dual=solution.dual)

    rows = []
    for name, network, certificate, seconds in [
        (f"adam ({args.epochs} epochs)", adam.network, adam_certificate, adam.time),
        (f"convex ({solution.solver})", convex, convex_certificate, convex_time),
    ]:
        rows.append([
            name,
            f"{network.objective(X_train, Y_train, beta=args.beta):.6f}",
            f"{certificate.duality_gap:.2e}",
            f"{_accuracy(network.predict(X_train), Y_train):.4f}",
            f"{_accuracy(network.predict(X_test), Y_test):.4f}",
            str(network.n_neurons),
            f"{seconds:.2f}",
        ])
    header = ["network", "train objective", "certified gap", "train acc", "test acc",
              "neurons", "time (s)"]
    print(_format_table(header, rows))
    print(f"patterns: {args.n_patterns} sampled + those of Adam's {args.width} neurons "
          f"= {patterns.n_patterns} distinct")
    print(f"lower bound {convex_certificate.lower_bound:.6f} on the objective of every network "
          f"whose neurons use these patterns ({convex_certificate.scope})")
    if args.plot is not None:
        _save_plot(args.plot, adam.history, convex_certificate.primal,
                   adam_certificate.lower_bound)
        print(f"plot written to {args.plot}")
    return 0


def _save_plot(path, history: dict, convex_objective: float, lower_bound: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_objective_comparison

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_objective_comparison(history, convex_objective, lower_bound, ax=ax)
    ax.set_title("breast_cancer: Adam vs the convex program (8)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------- fit
def _infer_task(y: np.ndarray, task: str | None) -> str:
    from sklearn.utils.multiclass import type_of_target

    if task is not None:
        return task
    return "classify" if type_of_target(y) in ("binary", "multiclass") else "regress"


def _sidecar_path(model: Path) -> Path:
    sidecar = model.with_suffix(".json")
    if sidecar == model:
        raise ValueError(f"--out must not end in .json (the metadata goes there); got {model}")
    return sidecar


def _fit(args) -> int:
    X, y = load_csv(args.data, args.target)
    task = _infer_task(y, args.task)
    if task == "regress":
        if y.dtype.kind not in "f":
            raise ValueError(f"--task regress needs a numeric target column {args.target!r}")
        Estimator = ConvexReLURegressor
    else:
        Estimator = ConvexReLUClassifier
    estimator = Estimator(beta=args.beta, loss=args.loss, patterns=args.patterns,
                          n_patterns=args.n_patterns, solver=args.solver,
                          random_state=args.seed, verbose=int(args.verbose))
    start = time.perf_counter()
    if args.distributed:  # every process of a torchrun launch runs this; rank 0 reports
        from . import distributed

        if args.solver == "auto":
            estimator.set_params(solver="admm")
        with distributed.session() as rank:
            estimator.fit(X, y)
        if rank != 0:
            return 0
    else:
        estimator.fit(X, y)
    elapsed = time.perf_counter() - start
    network, certificate = estimator.network_, estimator.certificate_
    score = estimator.score(X, y)
    print(f"{task}: {X.shape[0]} samples x {X.shape[1]} features, loss={args.loss}, "
          f"beta={args.beta:g}; {network.n_neurons} neurons, solver "
          f"{estimator.solution_.solver}, {elapsed:.2f} s")
    print(f"training {'accuracy' if task == 'classify' else 'R^2'}: {score:.4f}")
    print(f"certificate: {certificate}")

    out = Path(args.out)
    sidecar = _sidecar_path(out)
    # TwoLayerReLU.save: the state dict plus the JSON metadata (with a checksum of the weights)
    network.save(out, loss=args.loss, beta=args.beta, metadata={
        "task": task,
        "target": args.target,
        "classes": estimator.classes_.tolist() if task == "classify" else None,
        "certificate": {"objective": certificate.primal,
                        "lower_bound": certificate.lower_bound,
                        "duality_gap": certificate.duality_gap,
                        "scope": certificate.scope},
    })
    print(f"saved the network's state dict to {out} and its metadata to {sidecar}")
    return 0


# ------------------------------------------------------------------------------------ certify
def _load_network(path: Path) -> tuple[TwoLayerReLU, dict]:
    """A network and its metadata: from ``TwoLayerReLU.save`` (checked against its checksum),
    any ``Sequential(Linear, ReLU, Linear)`` state dict (with optional JSON metadata beside it)
    or a ``.npz`` file."""
    if not path.is_file():
        raise FileNotFoundError(f"model {str(path)!r} does not exist (no such file)")
    if path.suffix == ".npz":
        return TwoLayerReLU.load(path), {}
    sidecar = path.with_suffix(".json")
    metadata = {}
    if sidecar.is_file():
        try:
            metadata = json.loads(sidecar.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{sidecar} (the metadata of {path}) is not valid JSON: "
                             f"{exc}") from exc
        if not isinstance(metadata, dict):
            raise ValueError(f"{sidecar} (the metadata of {path}) must hold a JSON object")
        if metadata.get("format") == "convexnn.TwoLayerReLU":
            return TwoLayerReLU.load(path, with_metadata=True)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign files
        raise ValueError(f"{path} is not a PyTorch state dict: {exc}") from exc
    if not isinstance(state, dict) or not {"0.weight", "2.weight"} <= set(state):
        raise ValueError(
            f"{path} must hold the state dict of Sequential(Linear, ReLU, Linear) "
            "(keys '0.weight', optional '0.bias', '2.weight')"
        )
    width, n_features = state["0.weight"].shape
    module = torch.nn.Sequential(
        torch.nn.Linear(n_features, width, bias="0.bias" in state, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(width, state["2.weight"].shape[0], bias="2.bias" in state,
                        dtype=torch.float64),
    )
    module.load_state_dict({key: value.to(torch.float64) for key, value in state.items()})
    return TwoLayerReLU.from_torch(module), metadata


def _certify(args) -> int:
    model = Path(args.model)
    network, metadata = _load_network(model)
    sidecar = model.with_suffix(".json")
    target = args.target or metadata.get("target")
    beta = args.beta if args.beta is not None else metadata.get("beta")
    loss = args.loss or metadata.get("loss", "squared")
    if target is None or beta is None:
        raise ValueError(f"--target and --beta are needed: {sidecar} does not exist to "
                         "supply them")
    X, y = load_csv(args.data, target)
    if X.shape[1] != network.n_features:
        raise ValueError(f"--data has {X.shape[1]} features, the network expects "
                         f"{network.n_features}")
    task = args.task or metadata.get("task") or _infer_task(y, None)
    if task == "classify":
        classes = metadata.get("classes") or np.unique(y).tolist()
        position = {label: i for i, label in enumerate(classes)}
        unknown = sorted({label for label in y.tolist() if label not in position}, key=str)
        if unknown:
            raise ValueError(f"target column {target!r} holds labels {unknown[:5]} that are "
                             f"not among the model's classes {classes}")
        index = np.array([position[label] for label in y.tolist()])
        Y = encode_labels(index, len(classes), loss)
    elif y.dtype.kind != "f":
        raise ValueError(f"--task regress needs a numeric target column {target!r}")
    else:
        Y = y
    start = time.perf_counter()
    certificate = certify_network(network, X, Y, loss=loss, beta=beta, patterns=args.patterns,
                                  n_patterns=args.n_patterns, seed=args.seed)
    print(f"{network.n_neurons} neurons, {X.shape[0]} samples, loss={loss}, beta={beta:g} "
          f"({time.perf_counter() - start:.2f} s)")
    print(f"certificate: {certificate}")
    return 0


# --------------------------------------------------------------------------------------- path
def _n_jobs(text: str) -> int:
    return _number(text, int, lambda v: v != 0, "a non-zero integer (-1: all CPUs)")


def _fraction(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < 1, "a number in (0, 1)")


def _folds(text: str) -> int:
    return _number(text, int, lambda v: v >= 2, "an integer >= 2")


def _path(args) -> int:
    from sklearn.model_selection import train_test_split

    from .path import cross_validate_path, regularization_path

    X, y = load_csv(args.data, args.target)
    task = _infer_task(y, args.task)
    if task == "regress":
        if y.dtype.kind != "f":
            raise ValueError(f"--task regress needs a numeric target column {args.target!r}")
        if args.loss != "squared":
            raise ValueError(f"--loss {args.loss} is a classification loss; regression "
                             "(numeric targets) uses --loss squared")
        Y, metric, strata = y, "mse", None
    else:
        classes, index = np.unique(y, return_inverse=True)
        Y, metric, strata = encode_labels(index, classes.size, args.loss), "error_rate", index
    build = {"loss": args.loss, "patterns": args.patterns, "n_patterns": args.n_patterns,
             "seed": args.seed, "gated": args.gated}
    common = {"n_betas": args.n_betas, "min_ratio": args.min_ratio, "solver": args.solver,
              "metric": metric, "n_jobs": args.n_jobs, "backend": args.backend}
    start = time.perf_counter()
    if args.cv is not None:
        result = cross_validate_path(X, Y, cv=args.cv, **common, **build)
        path, errors = result.path, result.mean_error
        scheme = f"{args.cv}-fold cross-validation (mean {metric})"
        n_train = X.shape[0]
    else:
        X_train, X_val, Y_train, Y_val = train_test_split(
            X, Y, test_size=args.validation_fraction, random_state=args.seed, stratify=strata)
        path = regularization_path(X_train, Y_train, X_val=X_val, y_val=Y_val, **common,
                                   **build)
        errors = path.validation_errors
        scheme = f"{X_val.shape[0]} held-out samples ({metric})"
        n_train = X_train.shape[0]
    elapsed = time.perf_counter() - start
    best = int(np.argmin(errors))
    patterns = path.solutions[0].problem.patterns
    print(f"{task}: {n_train} training samples x {X.shape[1]} features, loss={args.loss}, "
          f"{'gated relaxation' if args.gated else 'program (8)'} over "
          f"{patterns.n_patterns} {'(all)' if patterns.exact else 'sampled'} patterns; "
          f"beta_max={path.beta_max:.6g}; validation: {scheme}; {elapsed:.2f} s")
    rows = [[f"{beta:.4g}{' *' if i == best else ''}", f"{objective:.6g}", f"{gap:.2e}",
             str(active), f"{error:.4g}"]
            for i, (beta, objective, gap, active, error) in enumerate(zip(
                path.betas, path.objectives, path.gaps, path.n_active, errors, strict=True))]
    header = ["beta", "train objective", "gap", "active neurons", "validation error"]
    print(_format_table(header, rows))
    print(f"best beta {path.betas[best]:.6g} (*): validation error {errors[best]:.4g}, "
          f"{path.n_active[best]} neurons")
    if args.plot is not None:
        _save_path_plot(args.plot, path.betas, errors, path.n_active, path.betas[best], scheme)
        print(f"plot written to {args.plot}")
    return 0


def _save_path_plot(path, betas, errors, n_active, best_beta: float, scheme: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_regularization_path

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_regularization_path(betas, errors, n_active, best_beta=best_beta, ax=ax)
    ax.set_title(f"regularization path; validation: {scheme}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="convexnn",
        description="Globally optimal two-layer ReLU networks by convex optimization "
                    "(Pilanci & Ergen, ICML 2020), certified by a duality gap.",
    )
    parser.add_argument("--version", action="version", version=f"convexnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="convex network vs Adam on breast_cancer, side by side",
        description="Breast-cancer data (standardized, 75/25 stratified split): an "
                    "Adam-trained network, then the optimal network over sampled patterns "
                    "plus Adam's (program (8), certified), with their objectives, certified "
                    "gaps, accuracies and times.")
    demo.add_argument("--beta", type=_non_negative_float, default=1e-3,
                      help="weight decay (default 1e-3)")
    demo.add_argument("--n-patterns", type=_positive_int, default=100,
                      help="Gaussian directions sampled for the patterns, which are joined by "
                           "the patterns of Adam's neurons (default 100)")
    demo.add_argument("--tol", type=_positive_float, default=1e-4,
                      help="certified relative duality gap of the first-order solvers "
                           "(default 1e-4)")
    demo.add_argument("--width", type=_positive_int, default=100,
                      help="hidden neurons of the Adam-trained network (default 100)")
    _add_solver_argument(demo)
    demo.add_argument("--epochs", type=_positive_int, default=2000,
                      help="Adam epochs, full batch (default 2000)")
    demo.add_argument("--lr", type=_positive_float, default=1e-2,
                      help="Adam learning rate (default 1e-2)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the split, the patterns and Adam's init (default 0)")
    demo.add_argument("--plot", metavar="PNG", default=None,
                      help="also save Adam's objective curve against the convex network")
    demo.set_defaults(func=_demo)

    fit = commands.add_parser(
        "fit", help="fit a convex network to a CSV file and save it",
        description="Fit ConvexReLUClassifier or ConvexReLURegressor to a CSV file (header row; "
                    "every column but the target numeric; no feature scaling is applied) and "
                    "print its certificate. --out receives the PyTorch state dict of "
                    "Sequential(Linear, ReLU, Linear) (torch.save; keys 0.weight, 0.bias, "
                    "2.weight), and the same path with suffix .json the metadata (task, loss, "
                    "beta, target, classes, certificate) that 'convexnn certify' reads.")
    fit.add_argument("data", help="CSV file with a header row")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument("--out", required=True, help="where to save the model, e.g. model.pt")
    _add_problem_arguments(fit, patterns="auto", n_patterns=100)
    fit.add_argument("--beta", type=_non_negative_float, default=1e-3,
                     help="weight decay (default 1e-3)")
    fit.add_argument("--loss", choices=_LOSSES, default="squared", help="default squared")
    _add_solver_argument(fit)
    fit.add_argument("--verbose", action="store_true", help="print the solver's progress")
    fit.add_argument("--distributed", action="store_true",
                     help="split the samples across the processes of a torchrun launch "
                          "(torch.distributed, gloo): torchrun --nproc_per_node N -m convexnn.cli "
                          "fit ... --distributed; solver admm (auto) or fista, rank 0 saves")
    fit.set_defaults(func=_fit)

    cert = commands.add_parser(
        "certify", help="certify a saved network on a data set",
        description="Lower bound on the optimum of the training problem and the network's "
                    "duality gap. MODEL is a state dict saved by 'convexnn fit' (or any "
                    "Sequential(Linear, ReLU, Linear) state dict, or a TwoLayerReLU .npz); "
                    "task, loss, beta, target and classes default to its .json metadata.")
    cert.add_argument("model", help="saved network (.pt state dict or .npz)")
    cert.add_argument("--data", required=True, help="CSV file with a header row")
    cert.add_argument("--target", default=None, help="target column (default: from metadata)")
    cert.add_argument("--beta", type=_non_negative_float, default=None,
                      help="weight decay (default: from metadata)")
    cert.add_argument("--loss", choices=_LOSSES, default=None,
                      help="loss (default: from metadata, else squared)")
    _add_problem_arguments(cert, patterns="auto", n_patterns=1000)
    cert.set_defaults(func=_certify)

    path = commands.add_parser(
        "path", help="validation error and active neurons along a beta grid",
        description="Solve the convex program on a CSV file (header row; no feature scaling) "
                    "for a decreasing grid of beta, from beta_max (the smallest beta whose "
                    "optimum is the zero network) down to --min-ratio times it, warm-starting "
                    "first-order solvers down the path. Prints beta, training objective, "
                    "certified duality gap, active neurons and validation error, on a held-out "
                    "split (--validation-fraction) or by --cv K folds, which run in parallel "
                    "(--n-jobs, --backend).")
    path.add_argument("data", help="CSV file with a header row")
    path.add_argument("--target", required=True, help="name of the target column")
    _add_problem_arguments(path, patterns="auto", n_patterns=100)
    path.add_argument("--loss", choices=_LOSSES, default="squared", help="default squared")
    path.add_argument("--gated", action="store_true",
                      help="solve the gated relaxation instead of program (8)")
    _add_solver_argument(path)
    path.add_argument("--n-betas", type=_positive_int, default=10,
                      help="points of the beta grid (default 10)")
    path.add_argument("--min-ratio", type=_fraction, default=1e-3,
                      help="smallest beta as a fraction of beta_max (default 1e-3)")
    scheme = path.add_mutually_exclusive_group()
    scheme.add_argument("--validation-fraction", type=_fraction, default=0.25,
                        help="held-out fraction of the data (default 0.25; stratified for "
                             "classification, split with --seed)")
    scheme.add_argument("--cv", type=_folds, default=None, metavar="K",
                        help="K-fold cross-validation instead of a held-out split")
    path.add_argument("--n-jobs", type=_n_jobs, default=None,
                      help="parallel workers for independent solves (default 1; -1: all CPUs)")
    path.add_argument("--backend", choices=("joblib", "dask", "ray"), default="joblib",
                      help="executor of the parallel jobs (default joblib; dask and ray are "
                           "optional extras)")
    path.add_argument("--plot", metavar="PNG", default=None,
                      help="save validation error and active neurons against beta")
    path.set_defaults(func=_path)
    return parser


def _add_solver_argument(parser) -> None:
    parser.add_argument("--solver", choices=_SOLVERS, default="auto",
                        help="solver of program (8) (default auto)")


def _add_problem_arguments(parser, *, patterns: str, n_patterns: int) -> None:
    parser.add_argument("--task", choices=("classify", "regress"), default=None,
                        help="default: classify for integer or text labels, else regress")
    parser.add_argument("--patterns", choices=("auto", "exact", "sampled"), default=patterns,
                        help=f"activation patterns: exact enumeration (global), sampled, or "
                             f"auto (exact when small) (default {patterns})")
    parser.add_argument("--n-patterns", type=_positive_int, default=n_patterns,
                        help=f"directions sampled for the patterns (default {n_patterns})")
    parser.add_argument("--seed", type=int, default=0, help="pattern sampling seed (default 0)")


def main(argv: list[str] | None = None) -> int:
    """Run the ``convexnn`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
        0 on success, 1 when the command failed, 2 for a usage error, 130 when interrupted.
    """
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("convexnn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback (the CLI's contract)
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"convexnn: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # python -m convexnn.cli, e.g. under torchrun
    sys.exit(main())
