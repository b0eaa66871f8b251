"""Figures with matplotlib; pyplot is imported only when a figure is drawn.

Headless use (scripts, the command line): call ``matplotlib.use("Agg")`` first.
"""

from __future__ import annotations

__all__ = [
    "plot_convergence",
    "plot_decision_regions",
    "plot_fit_1d",
    "plot_objective_comparison",
    "plot_regularization_path",
]


def _axes(ax, figsize=(6, 4)):
    """``ax``, or the axes of a new figure of ``figsize`` when it is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_objective_comparison(history: dict, convex_objective: float,
                              lower_bound: float | None = None, *, label: str = "Adam", ax=None):
    """A non-convex training curve next to the convex network's objective and a lower bound.

    Parameters
    ----------
    history : dict
        ``{"objective": [...], ...}`` with one entry per epoch, as in
        :class:`convexnn.baselines.NonconvexResult`.
    convex_objective : float
        Objective (2) of the convex network.
    lower_bound : float, optional
        A certified lower bound on the optimum (``Certificate.lower_bound``), drawn if given.
    label : str, default="Adam"
        Legend entry of the curve.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if None.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    ax.semilogy(history["objective"], label=label)
    ax.axhline(convex_objective, color="k", linestyle="--", label="convex network")
    if lower_bound is not None and lower_bound > 0:
        ax.axhline(lower_bound, color="gray", linestyle=":", label="certified lower bound")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training objective (2)")
    ax.legend()
    return ax


def plot_regularization_path(betas, validation_errors, n_active, *, best_beta: float | None = None,
                             error_label: str = "validation error", ax=None):
    """Validation error and number of active neurons against ``beta`` (log scale).

    Parameters
    ----------
    betas : array-like of shape (n_betas,)
        Positive values (a log axis cannot show ``beta = 0``).
    validation_errors : array-like of shape (n_betas,)
        Drawn on the left axis.
    n_active : array-like of shape (n_betas,)
        Neurons of each network, drawn on a second (right) axis.
    best_beta : float, optional
        Marked by a vertical line.
    error_label : str, default="validation error"
        Label of the left axis.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if None.

    Returns
    -------
    ax, ax_neurons : matplotlib Axes
        The error axis and the twin axis of the neuron counts.
    """
    import numpy as np

    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or np.any(betas <= 0):
        raise ValueError(f"betas must be a 1-D array of positive values (log axis); got {betas}")
    ax = _axes(ax)
    ax.semilogx(betas, validation_errors, "o-", color="C0", label=error_label)
    ax.set_xlabel("beta (weight decay)")
    ax.set_ylabel(error_label, color="C0")
    ax_neurons = ax.twinx()
    ax_neurons.semilogx(betas, n_active, "s--", color="C1", label="active neurons")
    ax_neurons.set_ylabel("active neurons", color="C1")
    if best_beta is not None:
        ax.axvline(best_beta, color="gray", linestyle=":", label=f"best beta {best_beta:.3g}")
    lines = ax.get_legend_handles_labels()
    twin = ax_neurons.get_legend_handles_labels()
    ax.legend(lines[0] + twin[0], lines[1] + twin[1], loc="best")
    return ax, ax_neurons


def plot_convergence(solutions: dict, *, ax=None):
    """Certified relative duality gap against time for solver runs (their ``history``).

    Parameters
    ----------
    solutions : dict of str to ConvexSolution
        Legend label -> solution of a first-order solver (one with ``history["gap"]``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if None.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    for label, solution in solutions.items():
        gaps = solution.history.get("gap")
        if not gaps:
            raise ValueError(f"solutions[{label!r}] has no recorded gaps (history['gap']); "
                             f"its solver {solution.solver!r} keeps none")
        ax.semilogy(solution.history["time"], [max(g, 1e-16) for g in gaps],
                    label=f"{label} ({solution.status})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("certified relative duality gap")
    ax.legend()
    return ax


def plot_decision_regions(estimator, X, y, *, resolution: int = 200, ax=None):
    """Predicted classes of a fitted 2-feature classifier on a grid, with the samples.

    Parameters
    ----------
    estimator : fitted classifier with ``predict`` (e.g. ConvexReLUClassifier)
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,)
    resolution : int, default=200
        Grid points per axis.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from ._validation import check_matrix, check_positive_int

    X = check_matrix(X, "X")
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 features to draw regions; got {X.shape[1]}")
    resolution = check_positive_int(resolution, "resolution", minimum=2)
    ax = _axes(ax, figsize=(5, 5))
    margin = 0.1 * (X.max(0) - X.min(0) + 1e-12)
    axes = [np.linspace(lo, hi, resolution) for lo, hi in zip(X.min(0) - margin,
                                                              X.max(0) + margin, strict=True)]
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    classes = np.asarray(estimator.classes_)
    index = np.searchsorted(classes, estimator.predict(grid)).reshape(resolution, resolution)
    ax.contourf(axes[0], axes[1], index, levels=np.arange(classes.size + 1) - 0.5,
                cmap="coolwarm", alpha=0.3)
    labels = np.asarray(y)
    for i, label in enumerate(classes):
        mine = labels == label
        color = plt.cm.coolwarm(i / max(1, classes.size - 1))
        ax.scatter(X[mine, 0], X[mine, 1], s=18, color=color, edgecolor="k", linewidth=0.5,
                   label=str(label))
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.legend(loc="best")
    return ax


def plot_fit_1d(network, x, y, *, ax=None):
    """A network of one input feature, its training samples and its kinks (one per neuron).

    Neuron ``j`` bends the function where ``u_j x + b_j = 0``, i.e. at ``x = -b_j / u_j``.

    Parameters
    ----------
    network : TwoLayerReLU
        With ``n_features == 1`` and one output.
    x : array-like of shape (n_samples,)
    y : array-like of shape (n_samples,)
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    import numpy as np

    from ._validation import check_matrix

    if network.n_features != 1 or network.n_outputs != 1:
        raise ValueError(f"network must have 1 feature and 1 output; got {network}")
    x = check_matrix(x, "x", ndim=1)
    ax = _axes(ax)
    span = x.max() - x.min() + 1e-12
    grid = np.linspace(x.min() - 0.1 * span, x.max() + 0.1 * span, 500)
    ax.plot(grid, network.predict(grid[:, None])[:, 0], color="C0", label="network")
    ax.scatter(x, y, s=18, color="k", zorder=3, label="training samples")
    if network.has_bias:
        moving = network.U[:, 0] != 0
        kinks = -network.b[moving] / network.U[moving, 0]
        kinks = kinks[(kinks >= grid[0]) & (kinks <= grid[-1])]
        for i, kink in enumerate(kinks):
            ax.axvline(kink, color="gray", linestyle=":", linewidth=0.8,
                       label=f"kinks ({network.n_neurons} neurons)" if i == 0 else None)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend()
    return ax

