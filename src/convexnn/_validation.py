"""Every input check of the public API, with error messages that name the argument.

Each checker returns the validated value (as a float64 NumPy array where it is data) or raises
``ValueError`` / ``TypeError`` saying which argument was wrong, what was expected and what was
given. Nothing is silently coerced: integer and boolean data are accepted as numbers, but
complex, object and string arrays are refused.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_beta",
    "check_data",
    "check_loss_targets",
    "check_matrix",
    "check_positive_int",
    "check_sample_weight",
]


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:120]


def check_matrix(X, name: str = "X", *, ndim: int = 2, allow_empty: bool = False) -> np.ndarray:
    """Return ``X`` as a finite float64 array with ``ndim`` dimensions.

    Raises
    ------
    TypeError
        If ``X`` is not numeric (strings, objects, complex numbers).
    ValueError
        If ``X`` has the wrong number of dimensions, is empty, or holds NaN or inf.
    """
    if hasattr(X, "detach"):  # torch tensor
        X = X.detach().cpu().numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array; could not convert it: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got {_describe(arr)}")
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array; got {arr.ndim}-D with shape {arr.shape}"
        )
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; it holds {bad} NaN or infinite value(s)")
    return arr


def check_data(X, Y=None, *, x_name: str = "X", y_name: str = "y"):
    """Validate a design matrix and (optionally) targets of matching length.

    ``Y`` may be 1-D (one output) or 2-D (several outputs); it is returned 2-D of shape
    ``(n_samples, n_outputs)``.
    """
    X = check_matrix(X, x_name)
    if Y is None:
        return X
    Y = np.asarray(Y.detach().cpu().numpy() if hasattr(Y, "detach") else Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    Y = check_matrix(Y, y_name)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of samples; "
            f"got {X.shape[0]} and {Y.shape[0]}"
        )
    return X, Y


def check_beta(beta, name: str = "beta", *, allow_zero: bool = True) -> float:
    """Return ``beta`` as a float; it must be a finite number >= 0 (> 0 if not ``allow_zero``)."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {_describe(beta)}")
    beta = float(beta)
    if not np.isfinite(beta) or beta < 0 or (beta == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {beta!r}")
    return beta


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Return per-sample weights (non-negative, finite, not all zero) of length ``n_samples``."""
    if sample_weight is None:
        return np.ones(n_samples)
    w = check_matrix(sample_weight, "sample_weight", ndim=1)
    if w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have one entry per sample ({n_samples}); got {w.shape[0]}"
        )
    if np.any(w < 0):
        raise ValueError("sample_weight must be non-negative; got a negative entry")
    if not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive entry; all are zero")
    return w


def check_loss_targets(Y: np.ndarray, loss_name: str, *, name: str = "y") -> None:
    """Check that targets suit the loss: +-1 for hinge and logistic, one-hot rows for softmax."""
    if loss_name in ("hinge", "logistic"):
        if not np.all(np.isin(Y, (-1.0, 1.0))):
            found = np.unique(Y)[:5]
            raise ValueError(
                f"{name} must hold only -1 and +1 for the {loss_name} loss; found values {found}"
            )
    elif loss_name == "cross_entropy":
        if Y.shape[1] < 2 or not np.all(np.isin(Y, (0.0, 1.0))) or np.any(Y.sum(1) != 1):
            raise ValueError(
                f"{name} must be one-hot rows (one 1 per row, >= 2 columns) for the "
                f"cross_entropy loss; got shape {Y.shape}"
            )
