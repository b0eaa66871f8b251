"""convexnn: globally optimal two-layer ReLU networks by convex optimization, with certificates.

Implements Pilanci & Ergen, "Neural Networks are Convex Regularizers" (ICML 2020) and Ergen &
Pilanci, "Convex Geometry and Duality of Over-parameterized Neural Networks" (JMLR 2021).
"""

import importlib

# public names -> the module that defines them, imported on first use (PEP 562) so that
# `convexnn --help` does not import torch, scikit-learn and cvxpy
_LAZY = {
    "Certificate": "certificates", "certify": "certificates", "certify_network": "certificates",
    "ConvexReLUClassifier": "estimators", "ConvexReLURegressor": "estimators",
    "get_loss": "losses", "TwoLayerReLU": "network",
    "beta_max": "path", "cross_validate_path": "path", "regularization_path": "path",
    "Patterns": "patterns", "add_bias": "patterns", "cover_count": "patterns",
    "enumerate_patterns": "patterns", "sample_patterns": "patterns",
    "ConvexProblem": "problem", "ConvexSolution": "solution", "solve": "solvers",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "ConvexProblem",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "ConvexSolution",
    "Patterns",
    "TwoLayerReLU",
    "add_bias",
    "beta_max",
    "certify",
    "certify_network",
    "cover_count",
    "cross_validate_path",
    "enumerate_patterns",
    "get_loss",
    "regularization_path",
    "sample_patterns",
    "solve",
]
