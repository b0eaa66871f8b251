"""Two-layer ReLU CNNs as convex programs over patch activation patterns (program (8) of
Pilanci & Ergen, ICML 2020, with one cone per patch; derived below).

**Architecture** (:class:`~.modules.TwoLayerConvNet`, ``activation="relu"``): ``m`` filters
``u_j in R^h`` on the patches ``x_k`` of the input (``k = 1..K`` output positions), ReLU, sum
(or mean) pooling over regions ``R_1..R_G`` of the output map, linear readout
``w_j in R^{G x k}``::

    f_c(x) = sum_j sum_g w_j[g, c] sum_{k in R_g} (x_k^T u_j)_+ ,
    J = L(f(X), Y) + beta/2 sum_j (||u_j||^2 + ||w_j||_1^2).

``G = 1`` (global pooling) with one output is plain weight decay; for ``G > 1`` (``G = K``: a fully
connected second layer) or ``k > 1`` outputs the readout penalty is the squared l1 norm of each
filter's outgoing weights, the decoupled penalty of Ergen & Pilanci (JMLR 2021, Section 4.5.5;
with plain weight decay these cases are copositive programs, Section 4.5.4 there, not covered).
Mean pooling is sum pooling on patches scaled by ``1 / |R_g|``.

**Derivation.** (i) Rescaling ``(t u_j, w_j / t)`` keeps ``f`` and turns the penalty into
``beta sum_j ||u_j|| ||w_j||_1`` (AM-GM). (ii) A filter with several nonzero readout entries is
the same function and penalty as copies of it with one entry each, so the units are triples
``(u, g, c)`` with one weight. (iii) For region ``g`` stack the patch rows ``x_ik`` (``i`` in
``[n]``, ``k in R_g``) into ``X_g`` (``n|R_g| x h``; ``A_g`` sums each sample's rows). Every filter
``u`` has a pattern ``D = 1[X_g u >= 0]`` of the hyperplane arrangement of these rows, and
``(X_g u)_+ = D X_g u`` on the closed cone ``{u : (2D - I) X_g u >= 0}``: one cone constraint per
patch. With ``D_g1..D_gP`` the patterns of ``X_g`` this gives the program

    min  L( sum_g A_g sum_i D_gi X_g (v_gic - w_gic)_c , Y ) + beta sum (||v_gic|| + ||w_gic||)
    s.t. (2 D_gi - I) X_g v_gic >= 0,   (2 D_gi - I) X_g w_gic >= 0.                        (C)

(iv) Equality of optimal values, directly: a network maps to a feasible point of (C) with no
larger objective (add ``|w| u`` of every unit to the group of its pattern and sign: the cones
are convex, the prediction is unchanged, the penalty can only drop by the triangle inequality);
conversely Theorem 1's map ``u = v / sqrt(||v||)``, readout ``+-sqrt(||v||)`` at ``(g, c)`` turns a
feasible point into a network with the same prediction (the cone makes ``(X_g u)_+ = D X_g u``)
and penalty ``beta ||v||``. So (C) with *all* patterns
(:func:`~convexnn.patterns.enumerate_patterns` on ``X_g``; at most
``2 r (e (n|R_g| - 1) / r)^r`` of them, ``r <= h``) equals the training problem for every
width ``m >=`` the number of nonzero groups. With *sampled* patterns (Gaussian filters, i.e.
:func:`~convexnn.patterns.sample_patterns` on ``X_g``) it is a restriction: its optimum is an
upper bound, and a lower bound on the objective of every network whose filters' patterns were
included (:meth:`ConvReLUProblem.add_filters`).

(C) is program (8) of the core with the patch matrix as data and a pooling map after the
masked products: :class:`PatchProgram` writes it so (every patch a row of ``X``, each sample's
rows summed before the loss, each region's patterns masked to its patches), and its lifted
operator (:class:`PatchOperators`) is the core's with that pooling, so the core's first-order
solvers (ADMM, the augmented Lagrangian) and certificates solve and certify (C)
(:func:`solve_conv_relu` with ``solver="admm"``); the conic reference is written like the
program with CVXPY. For fully connected ReLU networks with patterns from random *local* filters (the
papers' "convolutional" sampling), :func:`local_filter_patterns` feeds the core program instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
import torch

from .._groups import NEGLIGIBLE, significant
from .._validation import (
    check_beta,
    check_data,
    check_matrix,
    check_positive_int,
)
from ..certificates import Certificate, certify
from ..losses import Loss, get_loss
from ..patterns import Patterns, make_patterns
from ..problem import ConvexProblem, Operators, masked_sum
from ..solvers import CONIC_MAX_PROGRAM
from ..solvers import solve as solve_first_order
from ..solvers.conic import solve_program
from .modules import ConvGeometry, TwoLayerConvNet

__all__ = [
    "ConvReLUProblem",
    "ConvReLUSolution",
    "PatchOperators",
    "PatchProgram",
    "conv_relu_network",
    "local_filter_patterns",
    "solve_conv_relu",
]


@dataclass(frozen=True)
class ConvReLUProblem:
    """Data of program (C).

    Immutable, as :class:`~convexnn.problem.ConvexProblem`: the fields cannot be reassigned and
    the arrays are read-only copies, so the patch program built once by :meth:`program` (which
    ``predict``, ``cone_violation`` and ``objective`` evaluate) stays the program of these data.
    :meth:`add_filters` and ``dataclasses.replace`` make new problems.

    Parameters
    ----------
    geometry : ConvGeometry
    region_data : sequence of ndarray
        ``X_g`` of shape ``(n |R_g|, h)`` per region (rows sample-major; scaled by ``1/|R_g|``
        for mean pooling); kept as a tuple.
    Y : ndarray of shape (n_samples, n_outputs)
    loss : Loss
    beta : float
    patterns : sequence of Patterns
        Patterns of each ``X_g``; the variables list them region after region; kept as a tuple.
    """

    geometry: ConvGeometry
    region_data: tuple
    Y: np.ndarray
    loss: Loss
    beta: float
    patterns: tuple
    _program: list = field(init=False, repr=False, compare=False, default_factory=list)

    def __post_init__(self):
        def frozen(array):
            array = np.array(array, copy=True)
            array.flags.writeable = False
            return array

        object.__setattr__(self, "region_data", tuple(frozen(X) for X in self.region_data))
        object.__setattr__(self, "Y", frozen(self.Y))
        object.__setattr__(self, "patterns", tuple(self.patterns))

    @classmethod
    def build(cls, inputs, Y, geometry: ConvGeometry, *, loss="squared", beta: float = 1e-3,
              patterns="auto", n_patterns: int = 100, seed=None) -> ConvReLUProblem:
        """Program (C) for ``inputs`` of shape ``(n, *geometry.input_shape)``.

        ``patterns`` is ``"auto"`` (exact enumeration where Cover's bound is at most 2000, else
        sampling), ``"exact"``, ``"sampled"`` (``n_patterns`` Gaussian filters per region) or a
        list of :class:`~convexnn.patterns.Patterns`, one per region.
        """
        loss = get_loss(loss)
        patches = geometry.patches(inputs)
        n, _, h = patches.shape
        _, Y = check_data(patches.reshape(n, -1), Y, x_name="inputs", y_name="Y")
        loss.check_targets(Y)
        regions = geometry.regions()
        region_data = []
        for g in range(geometry.n_regions):
            rows = patches[:, regions == g, :]
            if geometry.pool_mode == "mean":
                rows = rows / rows.shape[1]
            region_data.append(rows.reshape(-1, h))
        if isinstance(patterns, (list, tuple)):
            if len(patterns) != len(region_data):
                raise ValueError(f"patterns must hold one Patterns per region "
                                 f"({len(region_data)}); got {len(patterns)}")
            made = [make_patterns(X, p) for X, p in zip(region_data, patterns, strict=True)]
        else:
            seeds = np.random.SeedSequence(seed).spawn(len(region_data))
            made = [make_patterns(X, patterns, n_patterns=n_patterns,
                                  seed=np.random.default_rng(s))
                    for X, s in zip(region_data, seeds, strict=True)]
        return cls(geometry, region_data, Y, loss, check_beta(beta), made)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(n_samples, patch_size h, total patterns P, n_outputs k)``."""
        return (self.Y.shape[0], self.geometry.patch_size,
                sum(p.n_patterns for p in self.patterns), self.Y.shape[1])

    @property
    def exact(self) -> bool:
        """Whether every region's patterns are all patterns (then (C) is exact)."""
        return all(p.exact for p in self.patterns)

    def pattern_slices(self) -> list[slice]:
        """Columns of the variables that belong to each region."""
        ends = np.cumsum([0] + [p.n_patterns for p in self.patterns])
        return [slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:], strict=True)]

    def pattern_region(self) -> np.ndarray:
        """Region of every pattern column: int array of shape (P,)."""
        return np.repeat(np.arange(len(self.patterns)), [p.n_patterns for p in self.patterns])

    def add_filters(self, filters) -> ConvReLUProblem:
        """The same program with the patterns of ``filters`` (h, m) added in every region.

        Its optimum is then at most the objective (``readout_norm="l1"``, which is plain weight
        decay for one region and one output) of any network whose filters are among these.
        """
        filters = check_matrix(filters, "filters")
        if filters.shape[0] != self.geometry.patch_size:
            raise ValueError(f"filters must have {self.geometry.patch_size} rows (the patch "
                             f"size); got {filters.shape}")
        patterns = [p.union(Patterns(X @ filters >= 0, filters, exact=False))
                    for X, p in zip(self.region_data, self.patterns, strict=True)]
        return replace(self, patterns=patterns)

    # ----------------------------------------------------------------------------- the maps
    def program(self) -> PatchProgram:
        """Program (C) in the core's form (:class:`PatchProgram`): every patch a row, the
        patterns of all regions as columns in the order of :meth:`pattern_slices` (built once,
        then cached with its operators)."""
        if not self._program:
            self._program.append(self._build_program())
        return self._program[0]

    def _build_program(self) -> PatchProgram:
        n, h, P, _ = self.shape
        regions = self.geometry.regions()
        K = regions.size
        X = np.zeros((n, K, h))
        D = np.zeros((n, K, P), dtype=bool)
        inside = np.zeros((K, P), dtype=bool)
        for g, (rows, pats, cols) in enumerate(zip(self.region_data, self.patterns,
                                                    self.pattern_slices(), strict=True)):
            at = regions == g
            X[:, at] = rows.reshape(n, -1, h)
            D[:, at, cols] = pats.D.reshape(n, -1, pats.n_patterns)
            inside[np.ix_(at, np.arange(P)[cols])] = True
        generators = np.hstack([pats.generators for pats in self.patterns])
        patterns = Patterns(D.reshape(n * K, P), generators, exact=self.exact)
        return PatchProgram(X.reshape(n * K, h), self.Y, self.loss, self.beta, patterns,
                            rows_per_sample=K, inside=inside)

    def predict(self, U) -> np.ndarray:
        """``sum_g A_g sum_i D_gi X_g u_gic``: (n, k) from ``U`` (h, P, k); pass ``V - W``."""
        ops = self.program().operators()
        U = torch.as_tensor(U, dtype=ops.dtype)
        return ops.predict(ops.stack(U, torch.zeros_like(U))).numpy()

    def cone_violation(self, U) -> float:
        """Largest ``max(0, -(2 D_gi - I) X_g u_gic)`` over all patches and groups."""
        ops = self.program().operators()
        U = torch.as_tensor(U, dtype=ops.dtype)
        pre = ops.preactivations(ops.stack(U, torch.zeros_like(U)))
        return float(ops.cone_violation(pre).max())

    def objective(self, V, W) -> float:
        """Objective of (C) at ``V``, ``W`` (h, P, k)."""
        ops = self.program().operators()
        return float(ops.objective(*(torch.as_tensor(B, dtype=ops.dtype) for B in (V, W))))


@dataclass(frozen=True)
class PatchProgram(ConvexProblem):
    """Program (C) written as the core's program (8) on patch rows, for its first-order solvers.

    ``X`` holds every patch of every input, ``rows_per_sample`` (``K``, the output positions)
    consecutive rows per input (scaled by ``1 / |R_g|`` under mean pooling); ``Y`` has one row
    per input. Pattern column ``q`` belongs to one region: ``inside[:, q]`` marks its
    positions, and its mask ``D`` and cone rows are those of its region's patches (the mask is
    zero and the cone has no row elsewhere). The loss sees each input's sum of rows
    (:class:`PatchOperators`). Make one with :meth:`ConvReLUProblem.program`.

    Parameters
    ----------
    X, Y, loss, beta, patterns :
        As for :class:`~convexnn.problem.ConvexProblem`, with ``X`` and ``patterns`` on the
        ``n * rows_per_sample`` patch rows and ``Y`` on the ``n`` inputs.
    rows_per_sample : int
    inside : ndarray of shape (rows_per_sample, n_patterns), dtype bool
    """

    rows_per_sample: int = 1
    inside: np.ndarray | None = field(default=None, repr=False)

    def _check_data(self):
        K = check_positive_int(self.rows_per_sample, "rows_per_sample")
        X = check_matrix(self.X, "X")
        if X.shape[0] % K:
            raise ValueError(f"X must have rows_per_sample ({K}) rows per sample; got "
                             f"{X.shape[0]} rows")
        _, Y = check_data(X[::K], self.Y)
        return X, Y

    def __post_init__(self):
        super().__post_init__()
        inside = np.asarray(self.inside)
        if inside.dtype != bool or inside.shape != (self.rows_per_sample,
                                                    self.patterns.n_patterns):
            raise ValueError(f"inside must be a boolean array of shape (rows_per_sample, "
                             f"n_patterns) = {(self.rows_per_sample, self.patterns.n_patterns)}; "
                             f"got {inside.dtype} of shape {inside.shape}")
        self._set(inside=inside)

    def _operators_class(self) -> type[PatchOperators]:
        """The program's tensors and maps with the pooling over patches."""
        return PatchOperators


class PatchOperators(Operators):
    """The lifted operator of a :class:`PatchProgram`: the core's maps on the patch rows, with
    each input's rows summed into its prediction (:meth:`pool`) and cone signs that are zero
    outside each pattern's region (no constraint there)."""

    def __init__(self, problem: PatchProgram, device: torch.device, dtype: torch.dtype):
        super().__init__(problem, device, dtype)
        K = self.rows_per_sample
        inside = torch.as_tensor(np.tile(problem.inside, (self.n_samples, 1)), device=device)
        self.S = self.S * inside.to(dtype)
        # the patterns of one region see only its patches: the prediction and its adjoint take
        # products with those rows only, region by region (a G-th of the dense products)
        self._regions = []
        positions, first = np.unique(problem.inside, axis=1, return_inverse=True)
        for g in range(positions.shape[1]):
            at = np.flatnonzero(positions[:, g])
            rows = (np.arange(self.n_samples)[:, None] * K + at[None, :]).ravel()
            rows, cols = (torch.as_tensor(i, device=device)
                          for i in (rows, np.flatnonzero(first.ravel() == g)))
            self._regions.append((at.size, cols, self.X[rows].contiguous(),
                                  self.D[rows][:, cols].contiguous()))

    def pool(self, T: torch.Tensor) -> torch.Tensor:
        """Each input's sum of rows: ``(m K, ...)`` to ``(m, ...)``."""
        return T.reshape(-1, self.rows_per_sample, *T.shape[1:]).sum(dim=1)

    def expand(self, G: torch.Tensor) -> torch.Tensor:
        return G.repeat_interleave(self.rows_per_sample, dim=0)

    def predict(self, U: torch.Tensor) -> torch.Tensor:
        """:meth:`Operators.predict`, region by region on the region's patches."""
        V, W = self.split(U)
        B = V if W is None else V - W  # (d, P, k): the v - w of (8)
        Z = torch.zeros(self.n_samples, B.shape[2], dtype=B.dtype, device=B.device)
        for size, cols, X, D in self._regions:
            pre = (X @ B[:, cols].reshape(self.d, -1)).reshape(X.shape[0], cols.numel(), -1)
            Z += masked_sum(D, pre).reshape(self.n_samples, size, -1).sum(dim=1)
        return Z

    def correlations(self, G: torch.Tensor) -> torch.Tensor:
        """:meth:`Operators.correlations`, region by region on the region's patches."""
        out = torch.empty(self.d, self.P, G.shape[1], dtype=G.dtype, device=G.device)
        for size, cols, X, D in self._regions:
            rows = G.repeat_interleave(size, dim=0)  # each sample's value on its patches here
            out[:, cols] = torch.stack([(X * rows[:, c, None]).T @ D
                                        for c in range(G.shape[1])], dim=2)
        return out

    def kernel(self) -> torch.Tensor:
        """``K = A ((X X^T) * (mask mask^T)) A^T`` with ``A`` the pooling, a block of inputs at
        a time (the patch rows' own kernel would be ``K^2`` times larger)."""
        K, n = self.rows_per_sample, self.n_samples
        D = self.D.to(self.dtype) * (1.0 if self.gated else 2.0**0.5)  # mask mask^T = 2 D D^T
        out = torch.empty(n, n, dtype=self.dtype, device=self.device)
        block = max(1, 2**22 // (K * self.n))  # about 4 million entries of the rows' kernel
        for start in range(0, n, block):
            rows = slice(start * K, min(n, start + block) * K)
            part = (self.X[rows] @ self.X.T) * (D[rows] @ D.T)
            out[start:start + block] = self.pool(self.pool(part).T).T
        return out


@dataclass
class ConvReLUSolution:
    """A solution of program (C): groups ``V``, ``W`` of shape ``(h, P, k)``.

    Attributes
    ----------
    problem : ConvReLUProblem
    V, W : ndarray of shape (h, P, k)
        Groups of positive and negative readout weight.
    objective : float
        Objective of (C) at ``(V, W)``, recomputed.
    solver_value : float
        The solver's own objective value.
    status : str
    time : float
    solver : str
    certificate : Certificate or None
        The duality gap of (C) at ``(V, W)``, checked independently of the solver
        (:func:`convexnn.certify` on :meth:`ConvReLUProblem.program`), for the first-order
        solvers; None for the conic reference (interior point, exact to its tolerance).
    """

    problem: ConvReLUProblem
    V: np.ndarray
    W: np.ndarray
    objective: float
    solver_value: float
    status: str
    time: float
    solver: str = "conic"
    certificate: Certificate | None = None

    def n_active_groups(self, rtol: float = NEGLIGIBLE) -> int:
        norms = np.concatenate([np.linalg.norm(self.V, axis=0).ravel(),
                                np.linalg.norm(self.W, axis=0).ravel()])
        return int(np.count_nonzero(significant(norms, norms.max(), rtol)))


#: the first-order solvers of the core that solve (C) through :class:`PatchProgram`
FIRST_ORDER = ("admm", "augmented_lagrangian")


def solve_conv_relu(problem: ConvReLUProblem, *, solver: str = "auto",
                    verbose: bool = False, **options) -> ConvReLUSolution:
    """Solve program (C).

    Parameters
    ----------
    problem : ConvReLUProblem
    solver : str, default="auto"
        ``"admm"`` or ``"augmented_lagrangian"`` (the core's first-order solvers on
        :meth:`ConvReLUProblem.program`, certified), or ``"conic"`` (also ``"CLARABEL"``: the
        conic reference with CVXPY and Clarabel, written like the program, at the core's
        reference tolerances). ``"auto"`` takes Clarabel for
        programs of at most ``CONIC_MAX_PROGRAM`` variables and cone rows (the core's rule)
        and ADMM beyond.
    verbose : bool, default=False
    **options
        Options of the solver (first-order: ``tol``, ``max_iter``, ``time_limit``, ...;
        conic: solver settings, default the conic reference tolerances of the core).
    """
    if not isinstance(problem, ConvReLUProblem):
        raise TypeError(f"problem must be a ConvReLUProblem; got {type(problem).__name__}")
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string; got {type(solver).__name__}")
    n, h, P, k = problem.shape
    if solver == "auto":
        rows = sum(X.shape[0] for X in problem.region_data)
        solver = "CLARABEL" if 2 * P * k * (h + rows) <= CONIC_MAX_PROGRAM else "admm"
    elif solver in ("conic", "clarabel"):
        solver = "CLARABEL"
    elif solver not in (*FIRST_ORDER, "CLARABEL"):
        raise ValueError(f"solver must be 'auto', 'conic' (Clarabel, with the core's reference "
                         f"tolerances) or one of {list(FIRST_ORDER)}; got {solver!r} (program "
                         f"(C) has cone constraints: 'fista' solves only gated programs)")
    if solver in FIRST_ORDER:
        return _solve_first_order(problem, solver, verbose, options)
    return _solve_conic(problem, solver, verbose, options)


def _solve_first_order(problem: ConvReLUProblem, solver: str, verbose: bool,
                       options: dict) -> ConvReLUSolution:
    result = solve_first_order(problem.program(), solver=solver, verbose=verbose, **options)
    # the solution's objective is (C)'s at its point, evaluated by the program it solved
    return ConvReLUSolution(problem, result.V, result.W, result.objective, result.objective,
                            result.status, result.time, solver=solver,
                            certificate=certify(result))


def _solve_conic(problem: ConvReLUProblem, solver: str, verbose: bool,
                 options: dict) -> ConvReLUSolution:
    """(C) with CVXPY (interior point; written like the program)."""
    n, h, P, k = problem.shape
    V = [cp.Variable((h, P)) for _ in range(k)]
    W = [cp.Variable((h, P)) for _ in range(k)]
    columns, constraints = [], []
    for c in range(k):
        column = 0
        for X, pats, cols in zip(problem.region_data, problem.patterns,
                                 problem.pattern_slices(), strict=True):
            D = pats.D.astype(float)
            pool = sp.kron(sp.eye(n), np.ones((1, X.shape[0] // n)), format="csr")  # A_g
            column = column + pool @ cp.sum(cp.multiply(D, X @ (V[c][:, cols] - W[c][:, cols])),
                                            axis=1)
            constraints += [cp.multiply(2 * D - 1, X @ B[:, cols]) >= 0 for B in (V[c], W[c])]
        columns.append(cp.reshape(column, (n, 1), order="C"))
    prediction = cp.hstack(columns)
    penalty = sum(cp.sum(cp.norm(B, 2, axis=0)) for B in V + W)
    objective = problem.loss.cvxpy(prediction, problem.Y, np.ones(n)) + problem.beta * penalty
    prob = cp.Problem(cp.Minimize(objective), constraints)
    status, elapsed = solve_program(prob, "program (C)", solver=solver, verbose=verbose,
                                    **options)
    V_val = np.stack([B.value for B in V], axis=-1)
    W_val = np.stack([B.value for B in W], axis=-1)
    return ConvReLUSolution(problem, V_val, W_val, problem.objective(V_val, W_val),
                            float(prob.value), status, elapsed)


def conv_relu_network(solution: ConvReLUSolution, *,
                      rtol: float = NEGLIGIBLE) -> TwoLayerConvNet:
    """The ReLU CNN of Theorem 1's map: one filter per nonzero group of (C).

    Group ``v_gic`` becomes the filter ``v / sqrt(||v||)`` with readout ``+sqrt(||v||)`` at region
    ``g`` and output ``c`` (``-sqrt(||w||)`` for ``w_gic``); groups below ``rtol`` times the largest
    norm are dropped (interior-point noise). Every filter has one nonzero readout weight, so its
    penalty is the same under ``readout_norm="l1"`` and ``"l2"``.
    """
    problem = solution.problem
    geometry = problem.geometry
    region = problem.pattern_region()
    units = []  # (filter, region, output, readout weight)
    blocks = [(solution.V, 1.0), (solution.W, -1.0)]
    scale = max(float(np.linalg.norm(B, axis=0).max(initial=0.0)) for B, _ in blocks)
    for B, sign in blocks:
        norms = np.linalg.norm(B, axis=0)
        for q, c in zip(*np.nonzero(significant(norms, scale, rtol)), strict=True):
            root = np.sqrt(norms[q, c])
            units.append((B[:, q, c] / root, region[q], c, sign * root))
    k = problem.Y.shape[1]
    net = TwoLayerConvNet(geometry, max(1, len(units)), k, activation="relu")
    with torch.no_grad():
        net.conv.weight.zero_()
        net.readout.weight.zero_()
        readout = net.readout.weight.view(k, net.n_filters, geometry.n_regions)
        for j, (u, g, c, weight) in enumerate(units):
            net.conv.weight[j] = torch.as_tensor(u).reshape(net.conv.weight.shape[1:])
            readout[c, j, g] = weight
    return net


def local_filter_patterns(inputs, geometry: ConvGeometry, n_patterns: int, *,
                          seed=None) -> Patterns:
    """Patterns of a *fully connected* ReLU network from random local filters.

    Each generator is a Gaussian filter of ``geometry.kernel_size`` placed at a random output
    position (zeros elsewhere), as in the "convolutional" pattern sampling of the authors'
    CIFAR-10 code for Pilanci & Ergen (ICML 2020). The patterns are those of the flattened inputs
    ``(n, C * prod(spatial))``, so they feed the core's program (8)
    (:class:`~convexnn.problem.ConvexProblem` with ``bias=False``), whose solution is a fully
    connected network: a restriction of (8), not a CNN.

    Returns
    -------
    Patterns
        Distinct patterns, ``exact=False``; generators of shape ``(C * prod(spatial), P)``.
    """
    n_patterns = check_positive_int(n_patterns, "n_patterns")
    inputs = geometry.check_inputs(inputs).numpy()
    X = inputs.reshape(inputs.shape[0], -1)
    # the flat input index of every patch entry (exact in float64)
    index = geometry.patches(np.arange(X.shape[1], dtype=float).reshape(1, *geometry.input_shape))
    index = index[0].astype(int)  # (K, h)
    rng = np.random.default_rng(seed)
    G = np.zeros((X.shape[1], n_patterns))
    positions = rng.integers(geometry.n_positions, size=n_patterns)
    filters = rng.standard_normal((geometry.patch_size, n_patterns))
    for p in range(n_patterns):
        np.add.at(G[:, p], index[positions[p]], filters[:, p])
    D = X @ G >= 0
    _, first = np.unique(np.packbits(D, axis=0), axis=1, return_index=True)
    keep = np.sort(first)
    return Patterns(D[:, keep], G[:, keep], exact=False)
