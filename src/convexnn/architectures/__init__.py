"""Convolutional and linear architectures as convex programs (Pilanci & Ergen, ICML 2020).

What is covered exactly, and where the equivalences stop (derivations in each module's
docstring and in ``docs/architectures.md``):

* :mod:`.cnn`: two-layer ReLU CNNs (filters on patches, ReLU, sum/mean pooling over regions,
  linear readout) == program (C) over the activation patterns of the stacked patches; exact
  with all patterns, a restriction with sampled ones.
* :mod:`.fourier`: two-layer linear CNNs with full-length circular filters == a group lasso on
  unitary-DFT coefficients with weight ``beta / sqrt(d)``; deeper circular CNNs == a weighted
  Fourier lasso under the path-product regularizer, a non-convex quasi-norm under weight decay.
* :mod:`.linear`: two-layer linear networks (fully connected or convolutional, any pooling,
  any number of outputs) == nuclear-norm programs and their SDPs; deeper linear networks with
  weight decay == Schatten-2/L quasi-norm problems (non-convex).
* :mod:`.modules` and :mod:`.training`: the torch networks and their non-convex training.
"""

from .cnn import (
    ConvReLUProblem,
    ConvReLUSolution,
    conv_relu_network,
    local_filter_patterns,
    solve_conv_relu,
)
from .fourier import (
    DeepCircularCNN,
    FourierLassoSolution,
    circular_geometry,
    circular_network,
    fourier_basis,
    fourier_regularizer,
    lasso_objective,
    linear_predictor,
    solve_fourier_lasso,
    weight_decay_regularizer,
)
from .linear import (
    NuclearNormSolution,
    balanced_factors,
    deep_balanced_factors,
    linear_cnn_network,
    linear_fc_network,
    nuclear_objective,
    schatten_regularizer,
    solve_linear_cnn,
    solve_linear_fc,
    solve_nuclear_norm,
)
from .modules import ConvGeometry, DeepLinearNet, TwoLayerConvNet
from .training import TrainingRun, network_objective, train_nonconvex

__all__ = [
    "ConvGeometry",
    "ConvReLUProblem",
    "ConvReLUSolution",
    "DeepCircularCNN",
    "DeepLinearNet",
    "FourierLassoSolution",
    "NuclearNormSolution",
    "TrainingRun",
    "TwoLayerConvNet",
    "balanced_factors",
    "circular_geometry",
    "circular_network",
    "conv_relu_network",
    "deep_balanced_factors",
    "fourier_basis",
    "fourier_regularizer",
    "lasso_objective",
    "linear_cnn_network",
    "linear_fc_network",
    "linear_predictor",
    "local_filter_patterns",
    "network_objective",
    "nuclear_objective",
    "schatten_regularizer",
    "solve_conv_relu",
    "solve_fourier_lasso",
    "solve_linear_cnn",
    "solve_linear_fc",
    "solve_nuclear_norm",
    "train_nonconvex",
    "weight_decay_regularizer",
]
