"""The two-layer ReLU network users keep: ``f(x) = sum_j (x^T u_j + b_j)_+ alpha_j``.

Recovered from a convex solution by Theorem 1 of Pilanci & Ergen (ICML 2020)::

    u = v_i / sqrt(||v_i||),  alpha = +sqrt(||v_i||) e_c      (positive groups)
    u = w_i / sqrt(||w_i||),  alpha = -sqrt(||w_i||) e_c      (negative groups)

so that ``(x^T u)_+ alpha = (x^T v_i)_+`` and ``beta/2 (||u||^2 + alpha^2) = beta ||v_i||``: the
network's weight-decay objective (2) equals the convex objective (8) wherever the cone
constraints hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ._bundle import MISSING, Entries, read_bundle, read_npz, write_bundle
from ._groups import NEGLIGIBLE, significant
from ._validation import (
    check_beta,
    check_data,
    check_device,
    check_dtype,
    check_instance,
    check_matrix,
    check_sample_weight,
    check_tolerance,
)
from .losses import Loss, get_loss
from .patterns import Patterns, add_bias
from .solution import ConvexSolution

__all__ = ["TwoLayerReLU", "read_legacy_network"]

_FORMAT = "convexnn.TwoLayerReLU/1"  # the legacy .npz format
_KIND = "convexnn.TwoLayerReLU"  # the .pt + .json format (see convexnn._bundle)


class TwoLayerReLU:
    """A two-layer ReLU network with an optional (regularized) first-layer bias.

    Parameters
    ----------
    U : array-like of shape (n_neurons, n_features)
        First-layer weights, one row per neuron.
    alpha : array-like of shape (n_neurons, n_outputs) or (n_neurons,)
        Second-layer weights.
    b : array-like of shape (n_neurons,), optional
        First-layer biases.

    Notes
    -----
    The weight-decay objective of :meth:`objective` is problem (2) of Pilanci & Ergen (ICML 2020)
    with a mean loss,
    ``L(f(X), Y) + beta/2 (||U||_F^2 + ||b||^2 + sum_j ||alpha_j||_1^2)``; for one output this is
    plain weight decay ``beta/2 (||U||^2 + ||b||^2 + ||alpha||^2)``, for several outputs the
    decoupled l1 output penalty under which program (8) is exact (Ergen & Pilanci, JMLR 2021,
    Section 4.5.5).
    """

    def __init__(self, U, alpha, b=None):
        self.U = check_matrix(U, "U", allow_empty=True)
        alpha = check_matrix(alpha, "alpha", ndim=(1, 2), allow_empty=True)
        self.alpha = alpha[:, None] if alpha.ndim == 1 else alpha
        if self.alpha.shape[0] != self.U.shape[0]:
            raise ValueError(
                f"alpha must have one row per neuron ({self.U.shape[0]}); got {self.alpha.shape}"
            )
        if self.alpha.shape[1] == 0:
            raise ValueError(f"alpha must have at least one output column; got {self.alpha.shape}")
        self.b = None if b is None else check_matrix(b, "b", ndim=1, allow_empty=True)
        if self.b is not None and self.b.shape[0] != self.U.shape[0]:
            raise ValueError(f"b must have one entry per neuron ({self.U.shape[0]}); "
                             f"got {self.b.shape[0]}")

    # ----------------------------------------------------------------------------- structure
    @property
    def n_neurons(self) -> int:
        return self.U.shape[0]

    @property
    def n_features(self) -> int:
        return self.U.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.alpha.shape[1]

    @property
    def has_bias(self) -> bool:
        return self.b is not None

    def __repr__(self):
        return (f"TwoLayerReLU(n_features={self.n_features}, n_neurons={self.n_neurons}, "
                f"n_outputs={self.n_outputs}, bias={self.has_bias})")

    def _augmented_weights(self) -> np.ndarray:
        """``[U, b]``: (n_neurons, n_features + bias), the weights acting on ``[x, 1]``."""
        return self.U if self.b is None else np.hstack([self.U, self.b[:, None]])

    def _augment(self, X) -> np.ndarray:
        X = check_matrix(X, "X")
        if X.shape[1] != self.n_features:
            raise ValueError(f"X must have {self.n_features} features; got {X.shape[1]}")
        return add_bias(X) if self.has_bias else X

    # ---------------------------------------------------------------------------- evaluation
    def hidden(self, X) -> np.ndarray:
        """Hidden activations ``(X U^T + b)_+``: (n_samples, n_neurons)."""
        return np.maximum(self._augment(X) @ self._augmented_weights().T, 0)

    def predict(self, X) -> np.ndarray:
        """Network outputs: (n_samples, n_outputs)."""
        return self.hidden(X) @ self.alpha

    def penalty(self, beta: float) -> float:
        """``beta/2 (||U||_F^2 + ||b||^2 + sum_j ||alpha_j||_1^2)``."""
        beta = check_beta(beta)
        first = float(np.sum(self._augmented_weights() ** 2))
        second = float(np.sum(np.abs(self.alpha).sum(1) ** 2))
        return 0.5 * beta * (first + second)

    def objective(self, X, Y, *, loss="squared", beta: float, sample_weight=None) -> float:
        """The non-convex training objective (2): mean loss plus weight decay."""
        X, Y = check_data(X, Y)
        loss = get_loss(loss)
        w = torch.as_tensor(check_sample_weight(sample_weight, X.shape[0]))
        Z = torch.as_tensor(self.predict(X))
        return float(loss.value(Z, torch.as_tensor(Y), w)) + self.penalty(beta)

    def is_balanced(self, rtol: float = 1e-6) -> bool:
        """Whether every neuron has ``||alpha_j||_1 = ||(u_j, b_j)||`` (true at any optimum)."""
        rtol = check_tolerance(rtol, "rtol")
        inner = np.linalg.norm(self._augmented_weights(), axis=1)
        outer = np.abs(self.alpha).sum(1)
        return bool(np.allclose(inner, outer, rtol=rtol, atol=rtol * max(inner.max(initial=0), 1)))

    def balanced(self) -> TwoLayerReLU:
        """The same function with every neuron rescaled to ``||alpha_j||_1 = ||(u_j, b_j)||``.

        Positive homogeneity of the ReLU keeps the predictions; the penalty can only decrease
        (AM-GM), so this is the best rescaling of the given network. Dead neurons are dropped.
        """
        inner = np.linalg.norm(self._augmented_weights(), axis=1)
        outer = np.abs(self.alpha).sum(1)
        keep = (inner > 0) & (outer > 0)
        scale = np.sqrt(outer[keep] / inner[keep])
        return TwoLayerReLU(
            self.U[keep] * scale[:, None],
            self.alpha[keep] / scale[:, None],
            None if self.b is None else self.b[keep] * scale,
        )

    def activation_patterns(self, X) -> Patterns:
        """The patterns ``1[[x, 1]^T (u_j, b_j) >= 0]`` of this network's neurons on ``X``."""
        Xa = self._augment(X)
        G = self._augmented_weights().T
        return Patterns(Xa @ G >= 0, G, exact=False)

    # ---------------------------------------------------------------------------- recovery
    @classmethod
    def from_convex(cls, solution, rtol: float = NEGLIGIBLE) -> TwoLayerReLU:
        """The network of Theorem 1 from a solution of program (8) (or of the gated relaxation).

        Groups with norm at most ``rtol`` times the largest are dropped (interior-point
        solutions carry tiny nonzero groups). A gated solution is first split into a point of
        (8) by :meth:`~convexnn.solution.ConvexSolution.cone_decomposition`, so the network
        reproduces the gated model's predictions on the training samples exactly.
        """
        check_instance(solution, ConvexSolution, "solution",
                       " (the result of convexnn.solve)")
        rtol = check_tolerance(rtol, "rtol")
        if solution.status == "diverged":
            raise ValueError(f"solution holds no network: {solution.reason}")
        if solution.problem.rows_per_sample != 1:
            raise ValueError("solution is of a convolutional program (several rows of X per "
                             "sample): its network is a CNN, from "
                             "convexnn.architectures.conv_relu_network")
        if solution.W is None:
            solution = solution.cone_decomposition()
        blocks = [(solution.V, 1.0)]
        if solution.W is not None:
            blocks.append((solution.W, -1.0))
        norms = [np.linalg.norm(B, axis=0) for B, _ in blocks]  # (P, k) each
        scale = max(float(m.max(initial=0.0)) for m in norms)
        d, _, k = solution.V.shape
        rows, alphas = [], []
        for (B, sign), m in zip(blocks, norms, strict=True):
            for i, c in zip(*np.nonzero(significant(m, scale, rtol)), strict=True):
                root = np.sqrt(m[i, c])
                rows.append(B[:, i, c] / root)
                a = np.zeros(k)
                a[c] = sign * root
                alphas.append(a)
        U = np.array(rows).reshape(-1, d)
        alpha = np.array(alphas).reshape(-1, k)
        if solution.problem.bias:
            return cls(U[:, :-1], alpha, U[:, -1])
        return cls(U, alpha)

    def unstandardized(self, mean, scale) -> TwoLayerReLU:
        """This network, trained on standardized inputs, as a network of the raw inputs.

        If ``self`` computes ``f(z)`` for ``z = (x - mean) / scale``, the result computes the same
        ``f`` directly from ``x``: ``u_j' = u_j / scale`` and ``b_j' = b_j - u_j'^T mean``. Its
        weights are in the original feature units (its penalty differs from ``self``'s; the
        optimality certificate refers to the standardized problem).

        Parameters
        ----------
        mean : array-like of shape (n_features,)
            Subtracted from the inputs; must be zero without a bias.
        scale : array-like of shape (n_features,)
            Positive divisors of the centered inputs.

        Returns
        -------
        TwoLayerReLU
        """
        mean = check_matrix(mean, "mean", ndim=1)
        scale = check_matrix(scale, "scale", ndim=1)
        for name, value in (("mean", mean), ("scale", scale)):
            if value.shape[0] != self.n_features:
                raise ValueError(f"{name} must have one entry per feature ({self.n_features}); "
                                 f"got {value.shape[0]}")
        if np.any(scale <= 0):
            raise ValueError(f"scale must be positive; got minimum {scale.min()!r}")
        if not self.has_bias and np.any(mean != 0):
            raise ValueError("mean must be zero for a network without bias (centering the "
                             "inputs needs a bias to undo it)")
        U = self.U / scale
        b = None if self.b is None else self.b - U @ mean
        return TwoLayerReLU(U, self.alpha.copy(), b)

    # ----------------------------------------------------------------------------- PyTorch
    def to_torch(self, dtype=torch.float64, device="cpu") -> torch.nn.Sequential:
        """``nn.Sequential(Linear(d, m), ReLU(), Linear(m, k, bias=False))`` with these weights."""
        factory = {"dtype": check_dtype(dtype), "device": check_device(device)}
        first = torch.nn.Linear(self.n_features, self.n_neurons, bias=self.has_bias, **factory)
        second = torch.nn.Linear(self.n_neurons, self.n_outputs, bias=False, **factory)
        with torch.no_grad():
            first.weight.copy_(torch.as_tensor(self.U))
            if self.has_bias:
                first.bias.copy_(torch.as_tensor(self.b))
            second.weight.copy_(torch.as_tensor(self.alpha.T))
        return torch.nn.Sequential(first, torch.nn.ReLU(), second)

    @classmethod
    def from_torch(cls, module: torch.nn.Module) -> TwoLayerReLU:
        """Read a ``Sequential(Linear, ReLU, Linear)`` whose output layer has no (or zero) bias."""
        layers = list(module.children()) if isinstance(module, torch.nn.Module) else []
        shape = [type(m).__name__ for m in layers]
        if shape != ["Linear", "ReLU", "Linear"]:
            raise ValueError(
                "module must be Sequential(Linear, ReLU, Linear), the two-layer ReLU network; "
                f"got layers {shape}"
            )
        first, _, second = layers
        if second.bias is not None and torch.any(second.bias != 0):
            raise ValueError(
                "module's output layer has a nonzero bias, which the convex program does not "
                "model; fold it into the targets or train without it"
            )

        def numpy(t):
            return t.detach().cpu().to(torch.float64).numpy()

        b = None if first.bias is None else numpy(first.bias)
        return cls(numpy(first.weight), numpy(second.weight).T, b)

    @classmethod
    def from_state_dict(cls, state: dict, name: str = "state") -> TwoLayerReLU:
        """Read the state dict of ``Sequential(Linear, ReLU, Linear)`` (keys ``0.weight``,
        optional ``0.bias``, ``2.weight``; an output bias must be zero), as written by
        ``network.to_torch().state_dict()``."""
        keys = set(state) if isinstance(state, dict) else set()
        if not {"0.weight", "2.weight"} <= keys or not keys <= {"0.weight", "0.bias", "2.weight",
                                                                 "2.bias"}:
            raise ValueError(
                f"{name} must be the state dict of Sequential(Linear, ReLU, Linear) with keys "
                f"'0.weight', optional '0.bias', '2.weight'; got keys {sorted(map(str, keys))}")

        def numpy(key):
            value = state[key]
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise ValueError(f"{name}[{key!r}] must be a floating-point tensor; "
                                 f"got {type(value).__name__}")
            return value.detach().cpu().to(torch.float64).numpy()

        if "2.bias" in state and np.any(numpy("2.bias") != 0):
            raise ValueError(f"{name} has a nonzero output bias '2.bias', which the convex "
                             "program does not model")
        first, second = numpy("0.weight"), numpy("2.weight")
        if first.ndim != 2 or second.ndim != 2 or second.shape[1] != first.shape[0]:
            raise ValueError(f"{name}: '0.weight' {first.shape} and '2.weight' {second.shape} "
                             "are not the layers of one network (need (m, d) and (k, m))")
        return cls(first, second.T, numpy("0.bias") if "0.bias" in state else None)

    # ------------------------------------------------------------------------- persistence
    def save(self, path, *, loss=None, beta: float | None = None,
             metadata: dict | None = None) -> None:
        """Save the network: a ``.pt`` state dict plus JSON metadata next to it.

        ``path`` receives ``torch.save`` of ``self.to_torch().state_dict()`` (float64 tensors
        ``0.weight``, ``0.bias``, ``2.weight``: any PyTorch user can load it into
        ``Sequential(Linear, ReLU, Linear)`` with ``weights_only=True``), and
        ``path.with_suffix(".json")`` the metadata: format version, convexnn version, shapes,
        ``loss``, ``beta``, a SHA-256 of the weights file and ``metadata``. A path ending in
        ``.npz`` writes the legacy single-file format instead (weights plus a JSON header).

        Parameters
        ----------
        path : str or Path
        loss : str or Loss, optional
            The loss the network was trained with, recorded for :meth:`load`.
        beta : float, optional
            Its weight decay, recorded likewise.
        metadata : dict, optional
            Extra JSON-serializable entries stored in the metadata file.
        """
        path = Path(path)
        if path.suffix == ".npz":
            self._save_npz(path)
            return
        reserved = {"n_features", "n_neurons", "n_outputs", "has_bias", "loss", "beta"}
        if reserved & set(metadata or {}):
            raise ValueError(f"metadata must not set {sorted(reserved & set(metadata))}: "
                             "save() records them itself")
        header = {
            "n_features": self.n_features,
            "n_neurons": self.n_neurons,
            "n_outputs": self.n_outputs,
            "has_bias": self.has_bias,
            "loss": None if loss is None else (loss.name if isinstance(loss, Loss)
                                               else get_loss(loss).name),
            "beta": None if beta is None else check_beta(beta),
            **(metadata or {}),
        }
        state = {key: value.numpy() for key, value in self.to_torch().state_dict().items()}
        write_bundle(path, _KIND, state, header)

    @classmethod
    def load(cls, path, *, with_metadata: bool = False):
        """Load a network written by :meth:`save` (``.pt`` + ``.json``, or legacy ``.npz``).

        Parameters
        ----------
        path : str or Path
        with_metadata : bool, default=False
            Also return the metadata dict (``loss``, ``beta``, the caller's entries...).

        Returns
        -------
        TwoLayerReLU, or (TwoLayerReLU, dict) with ``with_metadata``

        Raises
        ------
        FileNotFoundError
            If the file or its metadata file is missing.
        ValueError
            Naming the file, if it is corrupted or truncated, does not match its metadata, holds
            something else than a network, or is in a newer format.
        """
        path = Path(path)
        if path.suffix == ".npz":
            network, metadata = cls._load_npz(path), {}
        else:
            state, metadata = read_bundle(path, _KIND, reader="TwoLayerReLU.load")
            network = cls.from_state_dict({k: torch.from_numpy(v) for k, v in state.items()},
                                          name=str(path))
            shape = (network.n_features, network.n_neurons, network.n_outputs, network.has_bias)
            recorded = tuple(metadata.get(key) for key in ("n_features", "n_neurons",
                                                           "n_outputs", "has_bias"))
            if shape != recorded:
                raise ValueError(f"TwoLayerReLU.load: {path} holds a network of (features, "
                                 f"neurons, outputs, bias) {shape}; its metadata says {recorded}")
        return (network, metadata) if with_metadata else network

    def _save_npz(self, path: Path) -> None:
        header = {"format": _FORMAT, "has_bias": self.has_bias}
        arrays = {"U": self.U, "alpha": self.alpha}
        if self.has_bias:
            arrays["b"] = self.b
        try:
            with open(path, "wb") as f:
                np.savez(f, header=np.array(json.dumps(header)), **arrays)
        except OSError as exc:
            raise OSError(f"cannot write {path}: {exc.strerror or exc}") from exc

    @classmethod
    def _load_npz(cls, path: Path) -> TwoLayerReLU:
        return read_legacy_network(path, reader="TwoLayerReLU.load")


def read_legacy_network(path, *, reader: str) -> TwoLayerReLU:
    """The :class:`TwoLayerReLU` of a file in the legacy ``.npz`` format.

    The file holds ``U``, ``alpha``, optionally ``b``, and a JSON ``header`` with its
    ``format`` and ``has_bias``; everything is checked (see :func:`convexnn._bundle.read_npz`),
    including the network's shapes and finiteness, and errors name the file (and the entry).
    """
    path = Path(path)
    arrays = read_npz(path, reader=reader)
    entries = Entries(reader, path)
    text = arrays.get("header")
    if text is None or text.dtype.kind != "U" or text.shape != ():
        raise ValueError(f"{reader}: {path} is not a convexnn network file (no JSON 'header' "
                         "array)")
    try:
        header = json.loads(str(text))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{reader}: {path}: its 'header' is not valid JSON") from exc
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        found = header.get("format", MISSING) if isinstance(header, dict) else header
        raise entries.error("format", repr(_FORMAT), found)
    has_bias = entries.get(header, "has_bias", "bool")
    names = {"U", "alpha", "header"} | ({"b"} if has_bias else set())
    if set(arrays) != names:
        raise ValueError(f"{reader}: {path} holds arrays {sorted(arrays)}; a network "
                         f"{'with' if has_bias else 'without'} bias has {sorted(names)}")
    for name in names - {"header"}:
        if arrays[name].dtype.kind not in "biuf":
            raise ValueError(f"{reader}: {path}: array {name!r} must be numeric; got dtype "
                             f"{arrays[name].dtype}")
    try:
        return TwoLayerReLU(arrays["U"], arrays["alpha"], arrays["b"] if has_bias else None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{reader}: {path} holds no valid network: {exc}") from exc
