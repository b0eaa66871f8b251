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

import functools
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import torch

from ._sharding import LOCAL
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

#: entries of the scaled copy of ``X`` behind one product of :meth:`Operators.correlations`
#: (2^22: 32 MiB in float64)
CHUNK_ENTRIES = 1 << 22


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
    #: rows of ``X`` per sample: one (a convolutional program has its patches,
    #: :class:`convexnn.architectures.cnn.PatchProgram`)
    rows_per_sample: ClassVar[int] = 1

    def _set(self, **fields) -> None:
        """Set validated fields during construction (the dataclass is frozen afterwards)."""
        for name, value in fields.items():
            if isinstance(value, np.ndarray):  # a private read-only copy: nothing mutates it
                value = value.copy()
                value.flags.writeable = False
            object.__setattr__(self, name, value)

    def __post_init__(self):
        X, Y = self._check_data()
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
        self._set(sample_weight=check_sample_weight(self.sample_weight, self.Y.shape[0]))
        if self.bias and not np.all(self.X[:, -1] == 1):
            raise ValueError("bias=True needs X whose last column is all ones (use build())")

    def _check_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``X`` and ``Y`` validated: finite 2-D arrays, one row of ``X`` per sample."""
        return check_data(self.X, self.Y)

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
        """The program's tensors and linear maps on ``device`` in ``dtype`` (cached), of the
        class :meth:`_operators_class` names."""
        key = (str(check_device(device)), check_dtype(dtype))
        if key not in self._operators:
            self._operators[key] = self._operators_class()(self, torch.device(device), dtype)
        return self._operators[key]

    def _operators_class(self) -> type[Operators]:
        """The lifted operator's class: :class:`Operators`; a program whose maps differ (a
        process's block of rows, a convolutional program's pooled patches) names its own."""
        return Operators

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
    """The lifted operator of program (8): a :class:`ConvexProblem`'s tensors on one
    device/dtype and its linear maps, on the stacked variable ``U`` of shape ``(d, Q, k)``.

    Program (8) has two variable blocks ``V`` and ``W`` of shape ``(d, P, k)``; stacked along
    the pattern axis they are one ``U = [V, W]`` (``Q = 2P``) whose groups ``U[:, q, c]`` all
    carry the penalty ``beta ||u_qc||``. With the signed mask ``[D, -D]`` the prediction
    ``sum_i D_i X (v_i - w_i)`` is one masked product, and with the cone signs ``[S, S]``
    (``S = 2 D - 1``) the constraints of (8) read ``S_q * (X u_q) >= 0``. The gated relaxation
    is the same with ``U = V`` (``Q = P``), mask ``D`` and no constraints, so every solver,
    certificate and objective handles both with these maps.

    Every map is one ``(n x d) @ (d x Qk)`` product masked by the patterns; the lifted
    ``n x dQ`` matrix ``[D_1 X, ..., D_P X]`` is never formed. The number of columns ``k`` is
    taken from the argument, so the maps act on a batch of vectors too (a sketch). Sums over
    samples go through :attr:`sharding` (:mod:`convexnn._sharding`): the operators of one
    process's rows (:class:`convexnn.distributed.ShardedOperators`) all-reduce them.
    """

    #: reductions over samples; the identities when this process holds every sample
    sharding = LOCAL

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
        self.gated = problem.gated
        _, self.d, self.P, self.k = problem.shape
        #: rows of ``X`` (the maps' rows) and samples (the predictions' rows, the loss's)
        self.n, self.n_samples = self.X.shape[0], self.Y.shape[0]
        #: the problem's rows of ``X`` per sample: 1 here; a program whose loss sees sums of
        #: rows (the patches of a convolutional network) has more, and its operator
        #: (:class:`convexnn.architectures.cnn.PatchOperators`) overrides :meth:`pool`,
        #: :meth:`expand` and :meth:`kernel`
        self.rows_per_sample = problem.rows_per_sample
        #: groups per output of the stacked variable: ``P`` (gated) or ``2P`` (program (8))
        self.Q = self.P if self.gated else 2 * self.P

    @functools.cached_property
    def mask(self) -> torch.Tensor:
        """The stacked variable's mask (n, Q): ``D``, or ``[D, -D]`` for (8)."""
        return self.D if self.gated else torch.cat([self.D, -self.D], dim=1)

    @functools.cached_property
    def sign(self) -> torch.Tensor:
        """The stacked variable's cone signs (n, Q): ``S``, or ``[S, S]`` for (8)."""
        return self.S if self.gated else torch.cat([self.S, self.S], dim=1)

    @functools.cached_property
    def x_norm2(self) -> float:
        """``||X||_2^2``: the Lipschitz constant of ``a -> X^T (S a)`` composed with its adjoint."""
        if self.sharding.distributed:  # the largest eigenvalue of the Gram X^T X, summed
            return float(torch.linalg.eigvalsh(self.sharding.sum(self.X.T @ self.X))[-1])
        return float(torch.linalg.matrix_norm(self.X, ord=2)) ** 2

    # ----------------------------------------------------------------------------- linear maps
    def stack(self, V: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """The stacked variable from ``V`` and ``W`` (d, P, k): ``[V, W]`` for (8) (a missing
        ``W`` is zero), ``V`` for the gated relaxation; the inverse of :meth:`split`."""
        if self.gated:
            if W is not None:
                raise ValueError("the gated relaxation has one variable block; got W")
            return V
        return torch.cat([V, torch.zeros_like(V) if W is None else W], dim=1)

    def split(self, U: torch.Tensor):
        """``(V, W)`` from the stacked variable (``W`` is None for the gated relaxation)."""
        if self.gated:
            return U, None
        return U[:, :self.P], U[:, self.P:]

    def preactivations(self, U: torch.Tensor) -> torch.Tensor:
        """``X u_qc`` for every group: (n, Q, k) from ``U`` (d, Q, k)."""
        return (self.X @ U.reshape(self.d, -1)).reshape(self.n, U.shape[1], -1)

    def pool(self, T: torch.Tensor) -> torch.Tensor:
        """Per-row values summed into their samples' (the identity: one row per sample)."""
        return T

    def expand(self, G: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`pool`: each sample's values on its rows (the identity here)."""
        return G

    def predict_from(self, pre: torch.Tensor) -> torch.Tensor:
        """The prediction (n, k) from pre-activations (n, Q, k): ``sum_q mask_q * pre_q``."""
        return self.pool(masked_sum(self.mask, pre))

    def predict(self, U: torch.Tensor) -> torch.Tensor:
        """``sum_i D_i X (v_i - w_i)`` (or ``sum_i D_i X u_i`` when gated): (n, k), for (8)
        from the product with ``V - W`` (half the product of :meth:`preactivations`)."""
        if self.gated:
            return self.predict_from(self.preactivations(U))
        V, W = self.split(U)
        return self.pool(masked_sum(self.D, self.preactivations(V - W)))

    def transpose(self, M: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`preactivations`: ``X^T m_qc`` for every group, (d, Q, k)."""
        return self.sharding.sum((self.X.T @ M.reshape(self.n, -1)).reshape(self.d, self.Q, -1))

    def correlations(self, G: torch.Tensor) -> torch.Tensor:
        """``X^T D_i g_c`` for every pattern and output: (d, P, k) from ``G`` (n, k).

        One product ``D^T [X * g_c]_c`` for a chunk of outputs, without the (n, P, k) masked
        copy of ``G``: the chunk's ``(n, d c)`` copy of ``X`` is capped at ``CHUNK_ENTRIES``
        (one product for digits' ten outputs took 4.5 ms where ten per-output products took
        7.1, measured at two threads). These are the dual constraints' vectors:
        ``||X^T D_i lam_c|| <= beta`` in the gated relaxation, their maxima over the cones
        in (8)."""
        G = self.expand(G)
        n, k = G.shape
        step = max(1, CHUNK_ENTRIES // max(n * self.d, 1))
        chunks = []
        for lo in range(0, k, step):
            scaled = (self.X[:, :, None] * G[:, None, lo:lo + step]).reshape(n, -1)
            chunks.append((self.D.T @ scaled).reshape(self.P, self.d, -1))
        return self.sharding.sum(torch.cat(chunks, dim=2).permute(1, 0, 2).contiguous())

    def adjoint(self, G: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`predict`: ``+-X^T D_i g_c`` for every group, (d, Q, k) (the W
        groups of (8) get the negative of :meth:`correlations`)."""
        half = self.correlations(G)
        return half if self.gated else torch.cat([half, -half], dim=1)

    def kernel(self) -> torch.Tensor:
        """``K = F F^T`` (samples x samples) for the lifted map ``F`` of :meth:`predict`:
        ``sum_q diag(mask_q) X X^T diag(mask_q) = (X X^T) * (mask mask^T)``."""
        # mask mask^T = D D^T, or 2 D D^T for (8)'s mask [D, -D]; its entries count patterns,
        # so float32 products (twice as fast) are exact up to 2^24 of them
        D = self.D
        counts = D.float() @ D.float().T if D.shape[1] < 2**24 else D @ D.T
        return (self.X @ self.X.T) * counts.to(self.dtype) * (1 if self.gated else 2)

    def gram(self, chunk: int = 1024) -> torch.Tensor:
        """``F^T F`` (``dQ x dQ``, in the layout of ``U.reshape(d * Q, k)``) for the lifted map
        ``F`` of :meth:`predict`, summed over the samples ``chunk`` at a time (and over the
        processes when they are split)."""
        size = self.d * self.Q
        gram = torch.zeros(size, size, dtype=self.dtype, device=self.device)
        step = chunk * self.rows_per_sample
        for start in range(0, self.n, step):
            rows = self.X[start:start + step, :, None] * self.mask[start:start + step, None, :]
            rows = self.pool(rows.reshape(rows.shape[0], size))  # F's rows of these samples
            gram += rows.T @ rows
        return self.sharding.sum(gram)

    def cone_violation(self, pre: torch.Tensor) -> torch.Tensor:
        """``max(0, -S_q * pre_q)``: (n, Q, k) from :meth:`preactivations`; zero iff ``U``
        satisfies the cones of (8)."""
        return torch.relu(-self.sign[:, :, None] * pre)

    def cone_defect(self, pre: torch.Tensor) -> float:
        """Upper bound on ``|network - convex model|`` predictions on the training data.

        Where a group violates its cone, ``(X u)_+`` and ``D X u`` differ by exactly the violation,
        so ``max_{j,c} sum_q violation_jqc`` bounds the gap between the recovered network's and the
        convex model's predictions (Theorem 1 needs it to be zero). 0 for the gated relaxation.
        """
        if self.gated:
            return 0.0
        return float(self.sharding.max(self.cone_violation(pre).sum(dim=1).max()))

    # ------------------------------------------------------------------------------- objective
    @staticmethod
    def group_norms(U: torch.Tensor) -> torch.Tensor:
        """``||u_qc||_2``: (Q, k)."""
        return torch.linalg.vector_norm(U, dim=0)

    def loss_value(self, Z: torch.Tensor) -> torch.Tensor:
        return self.loss.value(Z, self.Y, self.weights)

    def loss_gradient(self, Z: torch.Tensor) -> torch.Tensor:
        return self.loss.gradient(Z, self.Y, self.weights)

    def penalty(self, U: torch.Tensor) -> torch.Tensor:
        """``beta sum_qc ||u_qc||``."""
        return self.beta * self.group_norms(U).sum()

    def objective(self, V: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """Objective of (8) at ``(V, W)``, or of the gated relaxation at ``V`` (at the groups
        ``v - w``, penalized one by one, when ``W`` is given)."""
        if self.gated and W is not None:
            Z = self.predict(V - W)
            return self.loss_value(Z) + self.penalty(V) + self.penalty(W)
        U = self.stack(V, W)
        return self.loss_value(self.predict(U)) + self.penalty(U)


def masked_sum(mask: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``sum_q mask_q * pre_q``: (n, k) from a mask (n, Q) and pre-activations (n, Q, k)."""
    if pre.shape[2] == 1:  # 2.4x faster than the einsum's batched products (n 400, Q 300)
        return (mask * pre[:, :, 0]).sum(dim=1, keepdim=True)
    return torch.einsum("nq,nqk->nk", mask, pre)
