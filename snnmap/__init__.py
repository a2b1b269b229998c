"""snnmap: exact conversion of trained ReLU networks into single-spike neural networks.

Pipeline (MAPPING.md): data -> ReLU model -> phase 1 (:func:`preprocess`) -> phase 2
(:func:`to_snn`, :func:`evaluate`) -> report.
"""

from . import datasets, layers, mapping
from .convert import convert, encode, to_snn
from .errors import (InvalidWeightsError, MissingPhase1Error, ShapeError, SnnmapError,
                     UnsupportedLayerError)
from .evaluate import evaluate
from .layers import SpikingDense
from .model import SpikingModel
from .preprocess import Preprocessed, preprocess

__version__ = "0.1.0"

__all__ = [
    "InvalidWeightsError", "MissingPhase1Error", "Preprocessed", "ShapeError", "SnnmapError",
    "SpikingDense", "SpikingModel", "UnsupportedLayerError", "convert", "datasets", "encode",
    "evaluate", "layers", "mapping", "preprocess", "to_snn",
]
