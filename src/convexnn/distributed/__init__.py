"""Data-parallel solves of program (8): the samples split across ``torch.distributed`` processes.

One program too large for one process is split by samples: every process holds a contiguous
block of the rows of ``X``, ``Y``, the sample weights and the patterns ``D``, while the variables
``U`` (``d x Q x k``) are replicated. The first-order solvers (``fista`` for the gated
relaxation, ``admm`` for both programs) run unchanged on every process; each sum over samples
they make (``X^T`` products, loss values and conjugates, norms, the maxima of the stopping
rules) goes through a :class:`ProcessGroupSharding`, which all-reduces it, so every process
takes the same steps and stops at the same iteration. The pieces that are not sums over samples
are the cone projections (:mod:`convexnn.distributed._projector`) and ADMM's linear system
(solved in parameter space by :class:`convexnn.solvers._linsys.GramSolver`).

Under ``torchrun`` (gloo on CPU, nccl on CUDA)::

    torchrun --standalone --nproc_per_node 2 -m convexnn.cli fit data.csv --target y \\
        --out model.pt --distributed

or, in a script started by ``torchrun``::

    from convexnn import ConvexProblem, distributed
    device = distributed.init()                       # joins the process group
    problem = ConvexProblem.build(X, y, patterns="sampled", seed=0)   # same on every process
    solution = distributed.solve(problem, "admm", device=device)      # same on every process

:meth:`ShardedProblem.build` makes a process's block from its own rows only (sampled patterns
from a shared seed), for data that no process holds whole.

Losses are weighted means over *all* samples: a process's loss terms are normalized by the
global ``n`` (:class:`ShardedOperators` rescales the weights), so the sharded program is the
same function as the whole one.
"""

from __future__ import annotations

import contextvars
import inspect
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from importlib import import_module

import numpy as np
import torch
import torch.distributed as dist

from .. import solvers
from .._sharding import Sharding
from .._validation import check_matrix, check_positive_int
from ..patterns import Patterns, add_bias
from ..problem import ConvexProblem, Operators
from ..solution import ConvexSolution
from ..solvers import SOLVERS, resolve_solver
from ..solvers._linsys import MAX_GRAM_VARIABLES, GramSolver, NystromPCG
from ._projector import ShardedConeProjector

__all__ = [
    "DISTRIBUTED_SOLVERS",
    "ProcessGroupSharding",
    "ShardedLoss",
    "ShardedOperators",
    "ShardedProblem",
    "Traffic",
    "activate",
    "context_solve",
    "init",
    "row_block",
    "session",
    "shard_problem",
    "solve",
]

#: the solvers that run with their samples split (the others hold every sample in one process)
DISTRIBUTED_SOLVERS = ("admm", "fista")

#: inside :func:`activate`: a one-element tuple, the process group (None: the world); else None
_ACTIVE_GROUP: contextvars.ContextVar[tuple | None] = contextvars.ContextVar(
    "convexnn_active_group", default=None)


@dataclass
class Traffic:
    """What one process sent to collectives: calls and payload bytes (its own contribution).

    A ring all-reduce of ``B`` bytes moves ``2 (w - 1) / w * B`` bytes in and out of each of the
    ``w`` processes; an all-gather moves the other processes' payloads in.
    """

    all_reduce_calls: int = 0
    all_reduce_bytes: int = 0
    all_gather_calls: int = 0
    all_gather_bytes: int = 0


def _collective_device(group) -> torch.device | None:
    """Where collectives need their tensors: the current CUDA device for nccl, else anywhere."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return None


class ProcessGroupSharding(Sharding):
    """The samples of a program split in contiguous blocks across a process group.

    Parameters
    ----------
    n_samples : int
        Samples of the whole program.
    offset : int
        Global index of this process's first sample.
    n_local : int
        Samples held by this process (at least one).
    group : ProcessGroup, optional
        The ``torch.distributed`` group (default: the world).
    """

    distributed = True

    def __init__(self, n_samples: int, offset: int, n_local: int, group=None):
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("no torch.distributed process group: call "
                               "convexnn.distributed.init() in a process started by torchrun")
        self.group = group
        self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
        self.n_samples, self.offset, self.n_local = n_samples, offset, n_local
        self.device = _collective_device(group)
        self.traffic = Traffic()

    # ------------------------------------------------------------------------- reductions
    def _all_reduce(self, tensor: torch.Tensor, op) -> torch.Tensor:
        work = tensor.to(self.device or tensor.device).contiguous()
        dist.all_reduce(work, op=op, group=self.group)
        self.traffic.all_reduce_calls += 1
        self.traffic.all_reduce_bytes += work.numel() * work.element_size()
        return work.to(tensor.device)

    def sum(self, tensor):
        return self._all_reduce(tensor, dist.ReduceOp.SUM)

    def max(self, tensor):
        return self._all_reduce(tensor, dist.ReduceOp.MAX)

    def min(self, tensor):
        return self._all_reduce(tensor, dist.ReduceOp.MIN)

    def all(self, tensor):
        return self._all_reduce(tensor.to(torch.int32), dist.ReduceOp.MIN).bool()

    def any(self, tensor: torch.Tensor) -> torch.Tensor:
        """Elementwise logical or over processes of a boolean tensor."""
        return self._all_reduce(tensor.to(torch.int32), dist.ReduceOp.MAX).bool()

    def norm(self, tensor):
        return torch.sqrt(self.sum((tensor * tensor).sum()))

    def randn(self, n_rows, n_columns, *, generator, dtype, device):
        full = torch.randn(self.n_samples, n_columns, generator=generator, dtype=dtype,
                           device=device)
        return full[self.offset:self.offset + n_rows]

    # -------------------------------------------------------------------------- gathers
    def gather_rows(self, *tensors: torch.Tensor) -> tuple[list[torch.Tensor], np.ndarray]:
        """Every process's rows of each of ``tensors`` (row counts may differ), in process order.

        The tensors share a dtype; they travel in one padded all-gather after one of the row
        counts. Returns the concatenations and the row counts, (world_size, len(tensors)).
        """
        device = self.device or tensors[0].device
        count = torch.tensor([T.shape[0] for T in tensors], dtype=torch.int64, device=device)
        counts = [torch.empty_like(count) for _ in range(self.world_size)]
        dist.all_gather(counts, count, group=self.group)
        counts = torch.stack(counts).cpu().numpy()  # (world, len(tensors))
        widths = [int(np.prod(T.shape[1:])) for T in tensors]
        sizes = counts @ np.asarray(widths)  # each process's payload, in elements
        payload = torch.cat([T.reshape(-1) for T in tensors]).to(device)
        padded = torch.zeros(int(sizes.max()), dtype=payload.dtype, device=device)
        padded[:payload.numel()] = payload
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded, group=self.group)
        self.traffic.all_gather_calls += 2
        self.traffic.all_gather_bytes += (count.numel() * count.element_size()
                                          + padded.numel() * padded.element_size())
        gathered = []
        for j, T in enumerate(tensors):
            blocks = []
            for rank, part in enumerate(parts):
                start = int(counts[rank, :j] @ np.asarray(widths[:j]))
                block = part[start:start + int(counts[rank, j]) * widths[j]]
                blocks.append(block.reshape(int(counts[rank, j]), *T.shape[1:]))
            gathered.append(torch.cat(blocks).to(T.device))
        return gathered, counts

    def argmax(self, values: torch.Tensor):
        """Per column of ``values`` (n_local, m), the largest entry over every process's rows.

        Returns ``(largest, owner, row)``, each (m,) and the same on every process: the value,
        the process holding it and its row there. Ties go to the lowest global row.
        """
        largest, row = values.max(dim=0)
        table = torch.stack([largest, row.to(values.dtype)]).to(self.device or values.device)
        parts = [torch.empty_like(table) for _ in range(self.world_size)]
        dist.all_gather(parts, table, group=self.group)
        self.traffic.all_gather_calls += 1
        self.traffic.all_gather_bytes += table.numel() * table.element_size()
        gathered = torch.stack(parts).to(values.device)  # (world, 2, m)
        owner = gathered[:, 0].argmax(dim=0)  # the first (lowest-rank) maximum on ties
        columns = torch.arange(values.shape[1], device=values.device)
        return gathered[owner, 0, columns], owner, gathered[owner, 1, columns].long()

    # ------------------------------------------------------------- non-separable pieces
    def cone_projector(self, X, signs, k):
        return ShardedConeProjector(X, signs, k, self)

    def linear_system(self, lifted, kind: str, rank: int = 200, cg_rtol: float = 1e-10):
        """ADMM's ``(r I + F F^T) y = b`` solver for split samples. No process holds the
        ``n x n`` matrix, so the exact solves (``"direct"``, ``"gram"``) factor the ``dQ x dQ``
        Gram ``F^T F`` (summed over the processes); ``"cg"`` runs Nyström-preconditioned CG on
        the rows, its sums over samples all-reduced. ``"auto"``: the Gram while ``dQ`` is below
        the samples and at most ``MAX_GRAM_VARIABLES`` (its factorizations cost ``(dQ)^3``: a
        neuron search on 200 rows of 30 features reaches ``dQ`` = 10,000, where one took longer
        than the single-process search), else CG."""
        size = lifted.d * lifted.Q
        if kind == "auto":
            kind = "gram" if size < self.n_samples and size <= MAX_GRAM_VARIABLES else "cg"
        if kind == "cg":
            return NystromPCG(lifted, rank, cg_rtol)
        return GramSolver(lifted)


class ShardedLoss:
    """A loss whose values and conjugates are summed over processes (per-sample maps unchanged).

    With the rescaled weights of :class:`ShardedOperators`, the wrapped loss's value on this
    process's rows is its share of the global mean; everything else is delegated.
    """

    def __init__(self, loss, sharding: ProcessGroupSharding):
        self.loss, self.sharding = loss, sharding

    def __getattr__(self, name):
        return getattr(self.loss, name)

    def value(self, Z, Y, weights):
        return self.sharding.sum(self.loss.value(Z, Y, weights))

    def gradient(self, Z, Y, weights):
        return self.loss.gradient(Z, Y, weights)

    def lipschitz(self, weights) -> float:
        local = torch.as_tensor(self.loss.lipschitz(weights), dtype=weights.dtype,
                                device=weights.device)
        return float(self.sharding.max(local))

    def conjugate(self, Lam, Y, weights) -> float:
        local = torch.as_tensor(self.loss.conjugate(Lam, Y, weights), dtype=Lam.dtype,
                                device=Lam.device)
        return float(self.sharding.sum(local))  # inf on any process makes it inf

    def into_domain(self, Lam, Y, weights):
        return self.loss.into_domain(Lam, Y, weights)


class ShardedOperators(Operators):
    """:class:`~convexnn.problem.Operators` of a process's rows, normalized by the global ``n``.

    The losses divide by the number of rows they are given; weights ``w_j n_local / n`` turn
    that into the global ``1/n``, which also makes every ``weights / n`` of the solvers (loss
    prox steps, Lipschitz constants) global.
    """

    def __init__(self, problem: ShardedProblem, device: torch.device, dtype: torch.dtype):
        super().__init__(problem, device, dtype)
        self.sharding = problem.sharding
        self.weights = self.weights * (self.n / problem.sharding.n_samples)
        self.loss = ShardedLoss(problem.loss, problem.sharding)


@dataclass(frozen=True)
class ShardedProblem(ConvexProblem):
    """This process's block of rows of program (8); see :class:`~convexnn.problem.ConvexProblem`.

    ``X``, ``Y``, ``patterns`` (the rows of ``D``, with every pattern's generator) and
    ``sample_weight`` are this process's rows; ``sharding`` says where they sit among all
    samples. Values computed from it (``objective``, solver results) are the whole program's.
    Make one with :func:`shard_problem` (from a whole problem) or :meth:`build` (from rows).
    """

    sharding: ProcessGroupSharding | None = None

    def __post_init__(self):
        if not isinstance(self.sharding, ProcessGroupSharding):
            raise TypeError(f"sharding must be a ProcessGroupSharding; "
                            f"got {type(self.sharding).__name__}")
        # a block may hold only zero weights (their total over all processes is positive)
        weights = self.sample_weight
        object.__setattr__(self, "sample_weight", None)
        super().__post_init__()
        n = self.X.shape[0]
        if n != self.sharding.n_local:
            raise ValueError(f"X has {n} rows but the sharding gives this process "
                             f"{self.sharding.n_local}")
        if weights is not None:
            weights = check_matrix(weights, "sample_weight", ndim=1)
            if weights.shape[0] != n or np.any(weights < 0):
                raise ValueError(f"sample_weight must hold {n} non-negative entries (this "
                                 f"process's rows); got shape {weights.shape}")
            self._set(sample_weight=weights)

    def _operators_class(self) -> type[ShardedOperators]:
        """The block's tensors and maps, with sums over all processes."""
        return ShardedOperators

    @classmethod
    def build(cls, X_rows, Y_rows, *, loss="squared", beta: float = 1e-3, bias: bool = True,
              n_patterns: int = 100, seed: int = 0, gated: bool = False, sample_weight=None,
              group=None) -> ShardedProblem:
        """A process's block from its own rows, with patterns sampled from a shared seed.

        Every process draws the same Gaussian generators ``u`` (``seed``), computes its rows of
        ``D = 1[X u >= 0]``, and repeated patterns are dropped by comparing columns across
        processes: the result is the block of ``ConvexProblem.build(X, Y, patterns="sampled",
        n_patterns=n_patterns, seed=seed, ...)`` on the concatenated rows (in process order).

        Parameters
        ----------
        X_rows : array-like of shape (n_local, n_features)
        Y_rows : array-like of shape (n_local, n_outputs) or (n_local,)
        loss, beta, bias, gated :
            As for :meth:`ConvexProblem.build`.
        n_patterns : int
            Directions drawn.
        seed : int
            Seed of the directions; must be the same on every process.
        sample_weight : array-like of shape (n_local,), optional
        group : ProcessGroup, optional
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int shared by every process; got {seed!r}")
        n_patterns = check_positive_int(n_patterns, "n_patterns")
        X_rows = check_matrix(X_rows, "X_rows")
        Xa = add_bias(X_rows) if bias else X_rows
        device = _collective_device(group)
        counts = torch.tensor(_all_gather_ints([Xa.shape[0]], group, device))[:, 0].tolist()
        rank = dist.get_rank(group)
        if min(counts) == 0:
            raise ValueError(f"every process needs at least one row; got row counts {counts}")
        generators = np.random.default_rng(seed).standard_normal((Xa.shape[1], n_patterns))
        D = Xa @ generators >= 0
        # a column's class on each process; equal classes everywhere = equal patterns
        _, local_class = np.unique(np.packbits(D, axis=0), axis=1, return_inverse=True)
        classes = np.asarray(_all_gather_ints(local_class.ravel().tolist(), group, device))
        _, first = np.unique(classes, axis=1, return_index=True)
        keep = np.sort(first)
        sharding = ProcessGroupSharding(sum(counts), sum(counts[:rank]), counts[rank], group)
        return cls(Xa, Y_rows, loss, beta, Patterns(D[:, keep], generators[:, keep], False),
                   gated=gated, sample_weight=sample_weight, bias=bias, sharding=sharding)


def _all_gather_ints(values: list[int], group, device) -> list[list[int]]:
    """Every process's list of ints (all the same length)."""
    local = torch.tensor(values, dtype=torch.int64, device=device)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, local, group=group)
    return [part.tolist() for part in parts]


def row_block(n_samples: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(start, stop)`` of process ``rank``'s contiguous block of ``n_samples`` rows.

    Blocks differ in size by at most one row (the first ``n_samples % world_size`` are longer).
    """
    base, extra = divmod(n_samples, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def _fingerprint(problem: ConvexProblem) -> torch.Tensor:
    """Numbers that differ when two processes built different problems."""
    n, d, P, k = problem.shape
    D = problem.patterns.D
    return torch.tensor([n, d, P, k, problem.beta, float(problem.gated), problem.X.sum(),
                         (problem.X ** 2).sum(), problem.Y.sum(), problem.sample_weight.sum(),
                         float(D.sum()), float(D.sum(0) @ np.arange(1, P + 1))],
                        dtype=torch.float64)


def shard_problem(problem: ConvexProblem, group=None) -> ShardedProblem:
    """This process's block of a program that every process of ``group`` built identically.

    Raises
    ------
    ValueError
        If the processes hold different problems (e.g. patterns sampled without a common seed)
        or there are fewer samples than processes.
    """
    if not isinstance(problem, ConvexProblem):
        raise TypeError(f"problem must be a ConvexProblem; got {type(problem).__name__}")
    if isinstance(problem, ShardedProblem):
        raise TypeError("problem is already a ShardedProblem (one process's block)")
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("no torch.distributed process group: call "
                           "convexnn.distributed.init() in a process started by torchrun")
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    n = problem.X.shape[0]
    if n < world:
        raise ValueError(f"the problem has {n} samples, fewer than the {world} processes")
    device = _collective_device(group)
    mine = _fingerprint(problem).to(device or "cpu")
    low, high = mine.clone(), mine.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN, group=group)
    dist.all_reduce(high, op=dist.ReduceOp.MAX, group=group)
    if not torch.equal(low, high):
        raise ValueError("the processes hold different problems: build it identically on every "
                         "process (same data, same pattern seed), or use ShardedProblem.build")
    start, stop = row_block(n, rank, world)
    patterns = problem.patterns
    return ShardedProblem(
        problem.X[start:stop], problem.Y[start:stop], problem.loss, problem.beta,
        Patterns(patterns.D[start:stop], patterns.generators, patterns.exact),
        gated=problem.gated, sample_weight=problem.sample_weight[start:stop], bias=problem.bias,
        sharding=ProcessGroupSharding(n, start, stop - start, group))


def solve(problem, solver: str = "admm", *, group=None, **options) -> ConvexSolution:
    """Solve program (8) (or its gated relaxation) with its samples split across processes.

    Call it on every process of the group with the same arguments.

    Parameters
    ----------
    problem : ConvexProblem or ShardedProblem
        The whole program (built identically on every process; each keeps its block of rows),
        or this process's block.
    solver : {"admm", "fista"}
        ``fista`` for gated programs with a smooth loss, ``admm`` for any program.
    group : ProcessGroup, optional
        Default: the group of :func:`activate`, else the world.
    **options
        The solver's options (``tol``, ``max_iter``, ``device``, ...). ``time_limit`` is refused
        (processes could stop at different iterations); ADMM's Anderson acceleration is off.

    Returns
    -------
    ConvexSolution
        The same on every process. For a whole ``problem``: a solution of it, with the dual
        point gathered from all processes. For a block: its ``dual`` holds the block's rows.
    """
    if solver not in DISTRIBUTED_SOLVERS:
        raise ValueError(f"solver must be one of {DISTRIBUTED_SOLVERS} in a distributed solve; "
                         f"got {solver!r} ('conic' and 'augmented_lagrangian' need every sample "
                         "in one process)")
    if options.get("time_limit") is not None:
        raise ValueError("time_limit is not supported in a distributed solve (processes could "
                         "stop at different iterations); limit max_iter instead")
    if group is None and _ACTIVE_GROUP.get() is not None:
        (group,) = _ACTIVE_GROUP.get()
    shard = problem if isinstance(problem, ShardedProblem) else shard_problem(problem, group)
    module = import_module(f"..solvers.{SOLVERS[solver]}", __package__)
    if "anderson" in inspect.signature(module.solve).parameters:
        # its extrapolation takes inner products of sample-indexed state: not sharded yet
        if options.setdefault("anderson", 0):
            raise ValueError(f"anderson must be 0 in a distributed solve; got "
                             f"{options['anderson']!r}")
    options["verbose"] = bool(options.get("verbose")) and shard.sharding.rank == 0
    local = module.solve(shard, **options)
    if shard is problem:
        return local
    dual = None
    if local.dual is not None:
        (rows,), _ = shard.sharding.gather_rows(torch.as_tensor(local.dual))
        dual = rows.numpy()
    return ConvexSolution(problem=problem, V=local.V, W=local.W, objective=local.objective,
                          dual=dual, status=local.status, solver=local.solver,
                          iterations=local.iterations, time=local.time, history=local.history)


def init(device="cpu") -> torch.device:
    """Join the process group of a ``torchrun`` launch (``env://``); returns the device to use.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        ``"cpu"`` uses the gloo backend; ``"cuda"`` uses nccl, one GPU per process
        (``LOCAL_RANK``).

    Returns
    -------
    torch.device
        ``cpu``, or ``cuda:LOCAL_RANK``.
    """
    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {str(device)!r}")
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
               if name not in os.environ]
    if missing:
        raise RuntimeError(f"not started by torchrun: the environment lacks {missing} (launch "
                           "with: torchrun --nproc_per_node N ...)")
    backend = "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        backend = "nccl"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return device


@contextmanager
def activate(group=None):
    """Within the block, every estimator's fit (its neuron search included) solves distributed.

    Every process runs the same code in the block; solvers must be among
    :data:`DISTRIBUTED_SOLVERS`. The estimators take their solve from :func:`context_solve`;
    :func:`convexnn.solvers.solve` itself always solves in the calling process (call
    :func:`solve` for one program).
    """
    token = _ACTIVE_GROUP.set((group,))
    try:
        yield
    finally:
        _ACTIVE_GROUP.reset(token)


def context_solve() -> Callable:
    """The solve of the calling context: inside :func:`activate`, :func:`solve` over its group
    (``"auto"`` resolved as :func:`convexnn.solvers.resolve_solver` does); else
    :func:`convexnn.solvers.solve`. Both take ``(problem, solver, **options)``."""
    active = _ACTIVE_GROUP.get()
    if active is None:
        return solvers.solve
    return partial(_solve_resolved, group=active[0])


def _solve_resolved(problem, solver: str = "auto", *, group, **options) -> ConvexSolution:
    return solve(problem, resolve_solver(problem, solver), group=group, **options)


@contextmanager
def session(device="cpu"):
    """:func:`init`, :func:`activate` for the block, then leave the process group.

    Yields this process's rank (0 is the one that reports).
    """
    init(device)
    try:
        with activate():
            yield dist.get_rank()
    finally:
        dist.destroy_process_group()
