"""Figures with matplotlib; pyplot is imported only when a figure is drawn.

Headless use (scripts, the command line): call ``matplotlib.use("Agg")`` first.
"""

from __future__ import annotations

__all__ = ["plot_objective_comparison"]


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
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(history["objective"], label=label)
    ax.axhline(convex_objective, color="k", linestyle="--", label="convex network")
    if lower_bound is not None and lower_bound > 0:
        ax.axhline(lower_bound, color="gray", linestyle=":", label="certified lower bound")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training objective (2)")
    ax.legend()
    return ax
