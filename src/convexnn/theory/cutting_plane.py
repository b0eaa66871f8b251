"""Cutting-plane training: Algorithm 1 (no bias) and Algorithm 3 (bias) of Ergen & Pilanci.

The dual of the rescaled training problem has one constraint per neuron,
``|Lam^T (A u + b 1)_+| <= beta`` for all ``||u|| <= 1`` (Theorems 8 and 13; the library's mean-
loss convention, ``Lam = grad L``). The method keeps a finite dictionary of neurons, solves the
l1 program over it (its dual is the dual restricted to those constraints), and adds the most
violated constraint found by the *spike-free relaxation* (15) of the separation problem (14)::

    u_+ = argmax_{A u >= 0, ||u|| <= 1} -Lam^T A u,    u_- = argmax_{A u >= 0, ||u|| <= 1} Lam^T A u

until neither exceeds ``beta``. Each step only enlarges the dictionary, so the restricted
optimum never increases. When ``A`` is spike-free the relaxation is the exact separation problem
and the method ends at the global optimum (Proposition 2); otherwise the relaxation can miss
violated constraints. So without biases, before ending, the separation problem itself is asked
(:func:`convexnn.oracle.separation_oracle`: exact over all patterns when they are few, e.g. data
of rank 2, else the multi-start ascent); its violators join the dictionary and the method goes
on. ``converged`` is set only when that check finds nothing (a proof when the check is exact);
``spike_free`` records whether the relaxation was ever found to miss a violation.

With unregularized biases (Algorithm 3, Appendix 9) the dual also has ``1^T Lam = 0`` (the
primal gets a free output constant), and the relaxed oracle reduces to
``u = A^T c / ||A^T c||`` with the smallest bias that keeps every sample active. The paper runs
it "along with the neurons in (10)": the Lemma-7 vertex neurons of :mod:`.extreme_points`
start the dictionary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._duality import cone_maximum
from .._validation import check_beta, check_data, check_positive_int
from ..losses import get_loss
from ..oracle import separation_oracle
from ..patterns import enumerable_patterns
from ..search import EXACT_MAX_PATTERNS
from .dictionary import L1Network, NeuronDictionary, fit_l1
from .extreme_points import vertex_neurons

__all__ = ["CuttingPlaneResult", "cutting_plane", "relaxed_separation"]


@dataclass
class CuttingPlaneResult:
    """What :func:`cutting_plane` returns.

    Attributes
    ----------
    fit : L1Network
        The optimum over the final dictionary (neurons, output weights, output constant).
    dual : ndarray of shape (n_samples,)
        Its dual point ``Lam`` (``grad L`` at the fit).
    history : dict of lists
        One entry per restricted solve: ``objective`` (non-increasing), ``violation`` (the
        relaxed oracle's ``max |Lam^T A u| / beta``; 1 or less at the end), ``dual_bound``
        (``-L*(t Lam)`` with ``t = min(1, 1 / violation)``: a lower bound on the optimum when
        the relaxation is exact, i.e. for spike-free data), ``n_neurons`` and ``time``.
    converged : bool
        True when no violated constraint was found: by the relaxed oracle and, without biases,
        by the separation oracle too (with biases only the relaxation is checked).
    spike_free : bool or None
        False when the separation oracle found a violation that the relaxation missed (the data
        are not spike-free); None when it was not asked (biases).
    exact_check : bool
        Whether the final check priced every activation pattern (``converged`` is then a proof
        of the global optimum).
    """

    fit: L1Network
    dual: np.ndarray
    history: dict = field(default_factory=dict)
    converged: bool = False
    spike_free: bool | None = None
    exact_check: bool = False

    def network(self, rtol: float = 1e-9):
        """The trained :class:`~convexnn.network.TwoLayerReLU` (see :meth:`L1Network.network`)."""
        return self.fit.network(rtol)


def relaxed_separation(A, Lam, *, bias: bool = False) -> tuple[NeuronDictionary, np.ndarray]:
    """The spike-free relaxation (15) of the separation problem (14), both signs.

    Without bias, ``max_{A u >= 0, ||u|| <= 1} c^T A u = min_{a >= 0} ||A^T c + A^T a||`` (conic
    duality; the maximizer is the normalized residual), one NNLS per sign ``c = -+Lam``. With
    bias and ``1^T Lam = 0`` the bias drops out of the objective (Appendix 9): ``u = A^T c /
    ||A^T c||``, ``b = max_i -a_i^T u``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    Lam : array-like of shape (n_samples,)
        Dual point; with ``bias`` it must sum to zero.
    bias : bool, default=False

    Returns
    -------
    neurons : NeuronDictionary
        Two neurons: the maximizers for ``c = -Lam`` (positive output weight) and ``c = Lam``.
    values : ndarray of shape (2,)
        The maxima ``c^T (A u + b)``; a value above ``beta`` is a violated dual constraint.
    """
    A, Lam = check_data(A, Lam, y_name="Lam")
    Lam = Lam[:, 0]
    if bias and abs(Lam.sum()) > 1e-8 * max(np.abs(Lam).sum(), 1e-300):
        raise ValueError("with bias the relaxed oracle needs 1^T Lam = 0 (Appendix 9)")
    U, b, values = [], [], []
    for c in (-Lam, Lam):
        g = A.T @ c
        if bias:  # no cone: the whole unit ball
            value = float(np.linalg.norm(g))
            u = g / value if value > 0 else np.zeros_like(g)
        else:
            value, u = cone_maximum(g, A.T)
        U.append(u)
        b.append(float(np.max(-A @ u)))
        values.append(value)
    return NeuronDictionary(np.array(U), np.array(b) if bias else None), np.array(values)


def _dual_value(loss, Lam: np.ndarray, Y: np.ndarray) -> float:
    """``-L*(Lam)`` after mapping ``Lam`` into the conjugate's domain (solver round-off)."""
    Y_t = torch.as_tensor(Y)
    weights = torch.ones(Y.shape[0], dtype=torch.float64)
    inside = loss.into_domain(torch.as_tensor(Lam[:, None]), Y_t, weights)
    return -loss.conjugate(inside, Y_t, weights)


def _is_new(dictionary: NeuronDictionary, U: np.ndarray, b, atol: float = 1e-9) -> bool:
    """Whether the neuron ``(U, b)`` differs from every neuron already in ``dictionary``."""
    if dictionary.n_neurons == 0:
        return True
    same = np.all(np.abs(dictionary.U - U) <= atol, axis=1)
    if dictionary.b is not None:
        same &= np.abs(dictionary.b - b) <= atol
    return not np.any(same)


def cutting_plane(A, y, *, loss="squared", beta: float, bias: bool = False,
                  add_vertex_neurons: bool | None = None, max_iter: int = 100,
                  tol: float = 1e-6, verbose: bool = False) -> CuttingPlaneResult:
    """Train a two-layer ReLU network by the cutting-plane method (Algorithm 1 / Algorithm 3).

    1. ``Lam <- grad L(0)`` (the paper's ``v <- y``; centered with bias);
    2. add the relaxed separation neurons (15) that violate ``|Lam^T (A u + b)_+| <= beta``;
    3. solve ``min L(F w (+ c)) + beta ||w||_1`` over the dictionary ``F`` (step 8, regularized
       variant), take its dual point as the new ``Lam`` (step 5, restricted dual);
    4. repeat until no violation (step 6) or ``max_iter``.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Targets (+-1 for hinge and logistic).
    loss : str or Loss, default="squared"
        A mean loss (the paper's sum-loss ``beta`` is ``n * beta``).
    beta : float > 0
    bias : bool, default=False
        Algorithm 3: unregularized first-layer biases and a free output constant.
    add_vertex_neurons : bool, optional
        Start from the Lemma-7 neurons of every vertex sample (needs ``bias``); default: ``bias``.
    max_iter : int, default=100
        Oracle rounds (each adds up to two neurons).
    tol : float, default=1e-6
        A constraint counts as violated when its value exceeds ``beta * (1 + tol)``.
    verbose : bool, default=False

    Returns
    -------
    CuttingPlaneResult
    """
    A, Y = check_data(A, y)
    if Y.shape[1] != 1:
        raise ValueError(f"y must have one output; got shape {Y.shape} (fit one per class)")
    loss = get_loss(loss)
    loss.check_targets(Y)
    beta = check_beta(beta, allow_zero=False)
    max_iter = check_positive_int(max_iter, "max_iter")
    add_vertex_neurons = bias if add_vertex_neurons is None else add_vertex_neurons
    if add_vertex_neurons and not bias:
        raise ValueError("Lemma-7 vertex neurons have biases: use add_vertex_neurons with bias")
    n, d = A.shape

    dictionary = NeuronDictionary(np.zeros((0, d)), np.zeros(0) if bias else None)
    if add_vertex_neurons:
        vertices = vertex_neurons(A)
        keep = vertices.is_vertex
        dictionary = NeuronDictionary(vertices.dictionary.U[keep], vertices.dictionary.b[keep])
    Y_t = torch.as_tensor(Y)
    Lam = loss.gradient(torch.zeros_like(Y_t), Y_t, torch.ones(n, dtype=torch.float64))
    Lam = Lam.numpy()[:, 0]
    if bias:
        Lam = Lam - Lam.mean()

    history = {key: [] for key in ("objective", "violation", "dual_bound", "n_neurons", "time")}
    start = time.perf_counter()
    fit, converged, spike_free = None, False, None
    # without biases the separation problem is max |Lam^T (A u)_+|: the neuron search's oracle
    all_patterns = None if bias else enumerable_patterns(A, EXACT_MAX_PATTERNS)
    for it in range(max_iter + 1):
        if dictionary.n_neurons > 0:
            fit = fit_l1(dictionary, A, Y, loss=loss, beta=beta, output_bias=bias)
            Lam = fit.dual[:, 0] - (fit.dual[:, 0].mean() if bias else 0.0)
        candidates, values = relaxed_separation(A, Lam, bias=bias)
        violation = float(values.max()) / beta
        if violation <= 1 + tol and not bias:  # check the relaxation
            check = separation_oracle(A, Lam[:, None], patterns=all_patterns, bias=False,
                                      seed=it)
            missed = bool(check.values.max() > beta * (1 + tol))
            spike_free = spike_free is not False and not missed
            if missed:
                candidates = NeuronDictionary(check.directions[:, 0, :].T.copy(), None)
                values = check.values[0]
                violation = float(values.max()) / beta
        if fit is not None:
            scale = min(1.0, 1.0 / violation) if violation > 0 else 1.0
            history["objective"].append(fit.objective)
            history["violation"].append(violation)
            history["dual_bound"].append(_dual_value(loss, scale * Lam, Y))
            history["n_neurons"].append(dictionary.n_neurons)
            history["time"].append(time.perf_counter() - start)
            if verbose:
                print(f"[cutting plane] iteration {it:>3d}  objective {fit.objective:.10g}  "
                      f"violation {violation:.6g}  neurons {dictionary.n_neurons}")
        if violation <= 1 + tol:
            converged = fit is not None
            break
        if it == max_iter:
            break
        added = False
        for j in np.flatnonzero(values > beta * (1 + tol)):
            b_j = None if candidates.b is None else candidates.b[j:j + 1]
            if _is_new(dictionary, candidates.U[j], None if b_j is None else b_j[0]):
                dictionary = dictionary.concat(NeuronDictionary(candidates.U[j:j + 1], b_j))
                added = True
        if not added:  # the oracle repeats a neuron: the solver's accuracy is the limit
            break
    if fit is None:  # beta so large that the zero network is optimal: fit the oracle's pair
        fit = fit_l1(candidates, A, Y, loss=loss, beta=beta, output_bias=bias)
        converged = True
    return CuttingPlaneResult(fit, Lam, history, converged, spike_free,
                              exact_check=converged and all_patterns is not None)
