"""The toolkit of Ergen & Pilanci, "Convex Geometry and Duality of Over-parameterized Neural
Networks" (JMLR 22(212), 2021): closed forms, extreme-point neurons, spike-free relaxations and
cutting planes. Each function cites its theorem, lemma or algorithm in that paper.

Conventions (differences from program (8) of :mod:`convexnn.problem`):

* networks are in the rescaled form (4): unit-norm neurons ``(u_j, b_j)`` and an l1 penalty
  ``beta ||w||_1`` on the output weights (:class:`L1Network`; ``.network()`` gives the balanced
  :class:`~convexnn.network.TwoLayerReLU`);
* first-layer biases are *unregularized*, as in the paper (program (8) regularizes them);
* losses are means, as everywhere in the library: the paper's ``beta`` of (16) and (18), whose
  losses are sums, is ``n * beta`` here.

Modules: :mod:`.dictionary` (l1 programs over a fixed set of neurons), :mod:`.spline` (1-D and
rank-one data), :mod:`.whitened` (closed forms), :mod:`.spike_free`, :mod:`.extreme_points`
(Lemmas 7, 8), :mod:`.cutting_plane` (Algorithms 1, 3), :mod:`.convex_rf` (Algorithm 2).
"""

from .convex_rf import ConvexRF, ConvexRFFilters, extract_patches, fit_convex_rf, learn_filters
from .cutting_plane import CuttingPlaneResult, cutting_plane, relaxed_separation
from .dictionary import L1Network, NeuronDictionary, fit_l1, min_l1_interpolation
from .extreme_points import (
    ExtremePoint,
    VertexNeurons,
    extreme_point,
    vertex_interpolation,
    vertex_neurons,
)
from .spike_free import SpikeFreeTest, spike_free_test, two_neuron_program
from .spline import (
    fit_rank_one,
    fit_spline,
    rank_one_dictionary,
    rank_one_factors,
    spline_dictionary,
)
from .whitened import (
    hinge_closed_form,
    l0_l1_condition,
    min_cardinality_interpolation,
    one_hot_closed_form,
    squared_closed_form,
    whiten,
)

__all__ = [
    "ConvexRF",
    "ConvexRFFilters",
    "CuttingPlaneResult",
    "ExtremePoint",
    "L1Network",
    "NeuronDictionary",
    "SpikeFreeTest",
    "VertexNeurons",
    "cutting_plane",
    "extract_patches",
    "extreme_point",
    "fit_convex_rf",
    "fit_l1",
    "fit_rank_one",
    "fit_spline",
    "hinge_closed_form",
    "l0_l1_condition",
    "learn_filters",
    "min_cardinality_interpolation",
    "min_l1_interpolation",
    "one_hot_closed_form",
    "rank_one_dictionary",
    "rank_one_factors",
    "relaxed_separation",
    "spike_free_test",
    "spline_dictionary",
    "squared_closed_form",
    "two_neuron_program",
    "vertex_interpolation",
    "vertex_neurons",
    "whiten",
]
