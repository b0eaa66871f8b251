"""The convex program (8) of Pilanci & Ergen (ICML 2020) and its linear operators.

For patterns ``D_1..D_P`` (columns of ``patterns.D``), data ``X`` (n, d) and targets ``Y`` (n, k)::

    min_{V, W}  L( sum_i D_i X (v_i - w_i), Y ) + beta * sum_{i,c} ( ||v_ic||_2 + ||w_ic||_2 )
    s.t.        (2 D_i - I) X v_ic >= 0,   (2 D_i - I) X w_ic >= 0                          (8)

with one copy of the variables per output ``c`` (for k > 1, the decoupled l1 output penalty of
Ergen & Pilanci, JMLR 2021, Section 4.5.5, whose dual constraint separates by output). The
*gated* relaxation drops the cone constraints and merges ``v - w`` into one group ``u``; its
optimum is a lower bound of (8).

Layout: ``V`` and ``W`` are arrays of shape ``(d, P, k)``, so ``V[:, i, c]`` is ``v_i`` for output
``c`` and ``X @ V.reshape(d, P * k)`` computes all pre-activations in one product.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ._validation import (
    check_beta,
    check_bool,
    check_data,
    check_device,
    check_dtype,
    check_matrix,
    check_sample_weight,
    warn_extreme_scale,
)
from .losses import Loss, get_loss
from .patterns import Patterns, add_bias, make_patterns

__all__ = ["ConvexProblem", "Operators"]


@dataclass(frozen=True)
class ConvexProblem:
    """Data of program (8): ``X`` (bias column already appended), ``Y``, loss, ``beta``, patterns.

    Immutable: the fields cannot be reassigned and the arrays are read-only copies, because the
    operators cached by :meth:`operators` hold copies of them. For another ``beta`` (or any other
    field) make a new problem with :meth:`with_beta` or ``dataclasses.replace``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The program's data matrix; when ``bias`` is True its last column must be all ones
        (see :meth:`build`, which appends it).
    Y : ndarray of shape (n_samples, n_outputs) or (n_samples,)
    loss : str or Loss
    beta : float >= 0
    patterns : Patterns
        Made on this ``X``.
    gated : bool, default=False
        Solve the gated relaxation (no cone constraints) instead of (8).
    sample_weight : ndarray of shape (n_samples,), optional
    bias : bool, default=False
        Whether the last column of ``X`` is the ones column of a first-layer bias (only used to
        split the bias off when a network is recovered).
    """

    X: np.ndarray
    Y: np.ndarray
    loss: Loss
    beta: float
    patterns: Patterns
    gated: bool = False
    sample_weight: np.ndarray | None = None
    bias: bool = False
    _operators: dict = field(init=False, repr=False, compare=False)

    def _set(self, **fields) -> None:
        """Set validated fields during construction (the dataclass is frozen afterwards)."""
        for name, value in fields.items():
            if isinstance(value, np.ndarray):  # a private read-only copy: nothing mutates it
                value = value.copy()
                value.flags.writeable = False
            object.__setattr__(self, name, value)

    def __post_init__(self):
        X, Y = check_data(self.X, self.Y)
        self._set(X=X, Y=Y, loss=get_loss(self.loss), beta=check_beta(self.beta),
                  gated=check_bool(self.gated, "gated"), bias=check_bool(self.bias, "bias"),
                  _operators={})
        if not isinstance(self.patterns, Patterns):
            raise TypeError(f"patterns must be a Patterns instance; got {type(self.patterns)}")
        if self.patterns.n_samples != self.X.shape[0]:
            raise ValueError(
                f"patterns were made for {self.patterns.n_samples} samples, "
                f"but X has {self.X.shape[0]}"
            )
        self.loss.check_targets(self.Y)
        self._set(sample_weight=check_sample_weight(self.sample_weight, self.X.shape[0]))
        if self.bias and not np.all(self.X[:, -1] == 1):
            raise ValueError("bias=True needs X whose last column is all ones (use build())")

    @classmethod
    def build(cls, X, Y, *, loss="squared", beta: float = 1e-3, bias: bool = True,
              patterns="auto", n_patterns: int = 100, seed=None, gated: bool = False,
              sample_weight=None) -> ConvexProblem:
        """Program (8) for raw data: append the bias column, then make the patterns.

        ``patterns`` is ``"auto"``, ``"exact"``, ``"sampled"`` or a :class:`Patterns` made on the
        augmented data (see :func:`convexnn.patterns.make_patterns`).
        """
        X = check_matrix(X, "X")
        Y = check_data(X, Y)[1]
        warn_extreme_scale(X, Y if get_loss(loss).homogeneous else None)
        Xa = add_bias(X) if check_bool(bias, "bias") else X
        patterns = make_patterns(Xa, patterns, n_patterns=n_patterns, seed=seed,
                                 n_outputs=Y.shape[1])
        return cls(Xa, Y, loss, beta, patterns, gated=gated, sample_weight=sample_weight,
                   bias=bias)

    def with_beta(self, beta: float) -> ConvexProblem:
        """The same program with another ``beta`` (patterns and data shared, caches not)."""
        return replace(self, beta=beta)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(n_samples, n_features, n_patterns, n_outputs)``."""
        n, d = self.X.shape
        return n, d, self.patterns.n_patterns, self.Y.shape[1]

    def operators(self, device="cpu", dtype=torch.float64) -> Operators:
        """The program's tensors and linear maps on ``device`` in ``dtype`` (cached)."""
        key = (str(check_device(device)), check_dtype(dtype))
        if key not in self._operators:
            self._operators[key] = Operators(self, torch.device(device), dtype)
        return self._operators[key]

    def objective(self, V, W=None) -> float:
        """Value of (8) (or the gated objective when ``W`` is None) at NumPy ``V``, ``W``."""
        ops = self.operators()
        V = torch.as_tensor(V, dtype=ops.dtype)
        W = None if W is None else torch.as_tensor(W, dtype=ops.dtype)
        return float(ops.objective(V, W))

    def zeros(self) -> np.ndarray:
        """An all-zero variable block of shape ``(d, P, k)``."""
        n, d, P, k = self.shape
        return np.zeros((d, P, k))


class Operators:
    """Tensors of a :class:`ConvexProblem` on one device/dtype, and the maps of (8).

    The hot loop of every first-order solver is :meth:`predict` and :meth:`adjoint`: one
    ``(n x d) @ (d x Pk)`` product each, masked by the patterns; the lifted ``n x dP`` matrix
    ``[D_1 X, ..., D_P X]`` is never formed.
    """

    def __init__(self, problem: ConvexProblem, device: torch.device, dtype: torch.dtype):
        self.problem = problem
        self.device, self.dtype = device, dtype
        # torch.tensor copies: the problem's arrays are read-only, a tensor may be written; in
        # row-major order (the patterns are column-major: their masked sums over the patterns
        # took 4.8 ms instead of 0.19 ms on digits' (1797, 100, 10), measured)
        as_t = lambda a: torch.tensor(a, dtype=dtype, device=device).contiguous()  # noqa: E731
        self.X = as_t(problem.X)
        self.Y = as_t(problem.Y)
        self.weights = as_t(problem.sample_weight)
        self.D = as_t(problem.patterns.D)  # (n, P) of 0/1
        self.S = 2 * self.D - 1  # (n, P) of +-1: the cone sign (2 D_i - I)
        self.loss = problem.loss
        self.beta = problem.beta
        self.n, self.d, self.P, self.k = problem.shape

    # ----------------------------------------------------------------------------- linear maps
    def preactivations(self, V: torch.Tensor) -> torch.Tensor:
        """``X v_ic`` for all patterns and outputs: (n, P, k) from ``V`` (d, P, k)."""
        return (self.X @ V.reshape(self.d, -1)).reshape(self.n, self.P, self.k)

    def predict(self, V: torch.Tensor) -> torch.Tensor:
        """``sum_i D_i X v_ic``: (n, k). For (8) pass ``V - W`` (the map is linear)."""
        return torch.einsum("np,npk->nk", self.D, self.preactivations(V))

    def adjoint(self, G: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`predict`: ``X^T D_i g_c`` for all i, c, as (d, P, k) from G (n, k)."""
        masked = self.D[:, :, None] * G[:, None, :]  # (n, P, k)
        return (self.X.T @ masked.reshape(self.n, -1)).reshape(self.d, self.P, self.k)

    def cone_violation(self, V: torch.Tensor) -> torch.Tensor:
        """``max(0, -(2 D_i - I) X v_ic)``: (n, P, k); zero iff ``V`` satisfies the cones."""
        return torch.relu(-self.S[:, :, None] * self.preactivations(V))

    # ------------------------------------------------------------------------------- objective
    @staticmethod
    def group_norms(V: torch.Tensor) -> torch.Tensor:
        """``||v_ic||_2``: (P, k)."""
        return torch.linalg.vector_norm(V, dim=0)

    def loss_value(self, Z: torch.Tensor) -> torch.Tensor:
        return self.loss.value(Z, self.Y, self.weights)

    def loss_gradient(self, Z: torch.Tensor) -> torch.Tensor:
        return self.loss.gradient(Z, self.Y, self.weights)

    def penalty(self, V: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        total = self.group_norms(V).sum()
        if W is not None:
            total = total + self.group_norms(W).sum()
        return self.beta * total

    def objective(self, V: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """Objective of (8) at (V, W), or of the gated relaxation at ``V`` when ``W`` is None."""
        Z = self.predict(V if W is None else V - W)
        return self.loss_value(Z) + self.penalty(V, W)
