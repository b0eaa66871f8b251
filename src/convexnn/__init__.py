"""convexnn: globally optimal two-layer ReLU networks by convex optimization, with certificates.

Implements Pilanci & Ergen, "Neural Networks are Convex Regularizers" (ICML 2020) and Ergen &
Pilanci, "Convex Geometry and Duality of Over-parameterized Neural Networks" (JMLR 2021).
"""

from .certificates import Certificate, certify, certify_network
from .estimators import ConvexReLUClassifier, ConvexReLURegressor
from .losses import get_loss
from .network import TwoLayerReLU
from .path import beta_max, cross_validate_path, regularization_path
from .patterns import Patterns, add_bias, cover_count, enumerate_patterns, sample_patterns
from .problem import ConvexProblem
from .solution import ConvexSolution
from .solvers import solve

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
