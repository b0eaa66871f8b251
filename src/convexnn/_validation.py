"""Every input check of the public API, with error messages that name the argument.

Each checker returns the validated value (as a float64 NumPy array where it is data) or raises
``ValueError`` / ``TypeError`` saying which argument was wrong, what was expected and what was
given. Nothing is silently coerced: integer and boolean data are accepted as numbers, but
complex, object and string arrays are refused.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch

__all__ = [
    "PatternCountWarning",
    "ScaleWarning",
    "check_beta",
    "check_bool",
    "check_data",
    "check_device",
    "check_dtype",
    "check_features",
    "check_instance",
    "check_labels",
    "check_matrix",
    "check_n_patterns",
    "check_not_text",
    "check_positive_int",
    "check_sample_weight",
    "check_tolerance",
    "feature_scaling",
    "warn_extreme_scale",
]


class PatternCountWarning(UserWarning):
    """More activation patterns were requested than the data has."""


class ScaleWarning(UserWarning):
    """Features or targets of extreme scale, which weight decay and the solvers handle badly."""


#: scales (standard deviations) outside this range draw a :class:`ScaleWarning`
_SCALE_RANGE = (1e-4, 1e4)


def warn_extreme_scale(X: np.ndarray, Y: np.ndarray | None = None, *, stacklevel: int = 3):
    """Warn when a non-constant feature, or the targets of a squared loss, are of extreme scale.

    Weight decay charges a neuron's weights in the features' units: a feature of scale ``s``
    costs about ``beta / s`` per unit of effect, so features far below 1 are ignored by the
    optimum (a near-zero network, correctly certified but useless) and features far above 1
    leave the solvers ill-conditioned. For the squared loss, targets of scale ``s`` act like
    ``beta / s`` on targets of scale 1 (program (8) is homogeneous in that way).
    """
    low, high = _SCALE_RANGE
    scale = X.std(axis=0)
    odd = np.flatnonzero((scale > 0) & ((scale < low) | (scale > high)))
    if odd.size:
        shown = ", ".join(f"{j} ({scale[j]:.2g})" for j in odd[:5])
        warnings.warn(
            f"X has feature(s) of extreme scale (column (standard deviation): {shown}"
            f"{', ...' if odd.size > 5 else ''}): weight decay charges weights in the features' "
            "units, so the optimum ignores features much smaller than 1 and the solvers lose "
            "accuracy on very large ones; standardize X (the estimators: standardize=True)",
            ScaleWarning, stacklevel=stacklevel)
    if Y is not None:
        target = float(np.sqrt(np.mean(Y**2)))
        if target > 0 and not low <= target <= high:
            warnings.warn(
                f"y has root mean square {target:.2g}: for the squared loss, targets of scale s "
                "act like beta / s on targets of scale 1, so the optimum is near the zero "
                "network (tiny targets) or barely regularized (huge ones); rescale y (and "
                "beta with it) to a scale near 1", ScaleWarning, stacklevel=stacklevel)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:120]


def check_matrix(X, name: str = "X", *, ndim: int | tuple[int, ...] | None = 2,
                 allow_empty: bool = False) -> np.ndarray:
    """Return ``X`` as a finite float64 array with ``ndim`` dimensions.

    Parameters
    ----------
    X : array-like or torch.Tensor
    name : str
        The argument's name, used in error messages.
    ndim : int, tuple of int or None, default=2
        The accepted number(s) of dimensions; None accepts any.
    allow_empty : bool, default=False
        Whether an array with no entries is accepted.

    Raises
    ------
    TypeError
        If ``X`` is not numeric (strings, objects, complex numbers, None).
    ValueError
        If ``X`` has the wrong number of dimensions, is empty, or holds NaN or inf.
    """
    if hasattr(X, "detach"):  # torch tensor
        X = X.detach().cpu().numpy()
    if X is None:
        raise TypeError(f"{name} must be a numeric array; got None")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array; could not convert it: {exc}") from exc
    if arr.dtype.kind == "O":  # e.g. a pandas object column: accepted when every entry is real
        if not all(isinstance(v, numbers.Real) for v in arr.flat):
            kinds = sorted({type(v).__name__ for v in arr.flat
                            if not isinstance(v, numbers.Real)})
            raise TypeError(f"{name} must hold real numbers; got an object array holding "
                            f"{', '.join(kinds)}")
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got {_describe(arr)}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and arr.ndim not in allowed:
        expected = " or ".join(f"{k}-D" for k in allowed)
        raise ValueError(
            f"{name} must be a {expected} array; got {arr.ndim}-D with shape {arr.shape}"
        )
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not arr.flags.writeable:  # e.g. a ConvexProblem's arrays: torch wants writable memory
        arr = arr.copy()
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


def check_bool(value, name: str) -> bool:
    """Return ``value`` as a bool; only ``True`` and ``False`` (NumPy's included) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {_describe(value)}")
    return bool(value)


def check_tolerance(value, name: str, *, upper: float | None = None) -> float:
    """Return ``value`` as a float in ``[0, upper)`` (``[0, inf)`` without ``upper``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {_describe(value)}")
    value = float(value)
    if not (value >= 0 and (upper is None or value < upper)):
        bound = "a number >= 0" if upper is None else f"a number in [0, {upper:g})"
        raise ValueError(f"{name} must be {bound}; got {value!r}")
    return value


def check_instance(value, cls, name: str, hint: str = ""):
    """Return ``value`` if it is an instance of ``cls`` (a class or tuple of classes)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"{name} must be a {names}; got {type(value).__name__}{hint}")
    return value


def check_not_text(X, name: str = "X") -> None:
    """Refuse string and bytes arrays, which NumPy would otherwise parse into numbers."""
    kind = getattr(X, "dtype", None)
    if kind is None and isinstance(X, (list, tuple)):
        kind = np.asarray(X).dtype if len(X) else None
    if kind is not None and np.dtype(kind).kind in "US":
        raise TypeError(f"{name} must hold real numbers; got text of dtype {np.dtype(kind)}")


def check_features(X, name: str = "X") -> None:
    """One-line errors for the feature inputs that scikit-learn reports in several lines.

    Before ``validate_data``: refuses text, ``None``, complex numbers (with scikit-learn's
    wording, which its estimator checks expect), arrays that are not 2-D, empty ones and
    non-finite values, each naming ``name``. Sparse matrices and anything NumPy cannot convert
    are left to ``validate_data``.
    """
    check_not_text(X, name)
    if X is None:
        raise TypeError(f"{name} must be a 2-D array of shape (n_samples, n_features); got None")
    if hasattr(X, "tocsr") or hasattr(X, "__array_namespace__") and not hasattr(X, "dtype"):
        return
    try:
        arr = np.asarray(X)
    except Exception:  # ragged lists and the like: validate_data says what is wrong
        return
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} must hold real numbers; got dtype "
                         f"{arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); got "
                         f"{arr.ndim}-D with shape {arr.shape}. Reshape your data: a single "
                         "feature with X.reshape(-1, 1), a single sample with X.reshape(1, -1)")
    if arr.size == 0:  # scikit-learn's wording, which its estimator checks expect
        what = "sample(s)" if arr.shape[0] == 0 else "feature(s)"
        count = arr.shape[0] if arr.shape[0] == 0 else arr.shape[1]
        raise ValueError(f"{name} must not be empty: found {count} {what} (shape={arr.shape}) "
                         "while a minimum of 1 is required.")
    if arr.dtype.kind in "biuf" and not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; it holds {bad} value(s) that are NaN or "
                         "infinity (missing values are not imputed)")


def check_device(device, name: str = "device") -> torch.device:
    """Return ``device`` as a ``torch.device`` that exists on this machine."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{name} must name a torch device such as 'cpu' or 'cuda'; "
                         f"got {device!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} is {str(device)!r}, but no CUDA device is available here; "
                         "use 'cpu'")
    return device


def check_dtype(dtype, name: str = "dtype") -> torch.dtype:
    """Return ``dtype`` if it is ``torch.float32`` or ``torch.float64``."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be torch.float32 or torch.float64; got {dtype!r}")
    return dtype


def check_n_patterns(n_patterns, available: int, *, name: str = "n_patterns",
                     stacklevel: int = 3) -> int:
    """Return ``n_patterns`` as an int; warn when it exceeds the patterns the data has.

    ``available`` is an upper bound on the number of distinct activation patterns (Cover's
    count for the distinct samples and their rank). Sampling more directions than that cannot
    add patterns: the caller gets at most ``available`` of them.
    """
    n_patterns = check_positive_int(n_patterns, name)
    if n_patterns > available:
        warnings.warn(
            f"{name}={n_patterns} exceeds the number of activation patterns of the data "
            f"(at most {available}, Cover's count); sampling returns at most {available} "
            "distinct patterns: use patterns='exact' to get all of them",
            PatternCountWarning, stacklevel=stacklevel,
        )
    return n_patterns


def check_labels(labels, n_samples: int | None = None, name: str = "labels"):
    """Validate class labels: 1-D, one per sample, no NaN, at least two classes.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The sorted distinct labels.
    index : ndarray of shape (n_samples,)
        The class index of each label.
    """
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    if labels is None:
        raise TypeError(f"{name} must be a 1-D array of class labels; got None")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels; got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have one entry per sample ({n_samples}); "
                         f"got {arr.shape[0]}")
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be integers or strings; got complex numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must not hold NaN or infinite values")
    try:
        classes, index = np.unique(arr, return_inverse=True)
    except TypeError as exc:  # mixed types that cannot be ordered
        raise TypeError(f"{name} must be labels of one type (all numbers or all strings); "
                        f"got {_describe(arr)}") from exc
    if classes.size < 2:
        raise ValueError(f"{name} must hold at least two classes; got {classes.size} "
                         f"({classes[:1].tolist()})")
    return classes, index.ravel()


def feature_scaling(X: np.ndarray, weights: np.ndarray | None = None, *,
                    center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(mean, scale)`` that standardize ``X`` as ``(X - mean) / scale``.

    Weighted by ``weights`` (so that a sample of weight 2 counts like two copies). Constant
    features keep ``scale = 1`` (they are legal data: centered they become 0, uncentered they
    stay as they are). With ``center=False`` the mean is 0 and the scale is the root mean square,
    for networks without a bias, which could not undo a shift of the inputs.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples,), optional
        Non-negative, not all zero.
    center : bool, default=True

    Returns
    -------
    mean, scale : ndarrays of shape (n_features,)
    """
    weights = np.ones(X.shape[0]) if weights is None else weights
    mean = np.average(X, axis=0, weights=weights) if center else np.zeros(X.shape[1])
    scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=weights))
    constant = np.ptp(X[weights > 0], axis=0) == 0 if center else scale == 0
    return mean, np.where(constant, 1.0, scale)
