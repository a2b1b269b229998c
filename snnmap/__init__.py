"""snnmap: exact conversion of trained ReLU networks into single-spike neural networks.

Pipeline (docs/method.md): data -> ReLU model -> phase 1 (:func:`preprocess`) -> phase 2
(:func:`to_snn`, :func:`evaluate`) -> report.
"""

import os as _os

# TensorFlow's C++ start-up and graph-optimiser warnings ("Not handling type DT_DOUBLE" for
# every float64 graph) drown our output; errors still show.  A value set by the user wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras as _keras  # noqa: E402

if _keras.backend.backend() == "jax":
    # The spiking layers compute in float64 by default; JAX truncates it to float32 unless
    # 64-bit mode is on.
    import jax as _jax

    _jax.config.update("jax_enable_x64", True)

from . import data, layers  # noqa: E402
from . import data as datasets  # noqa: E402  (the name of the data package before 0.2)
from .core import mapping  # noqa: E402
from .errors import (InexactConversionError, InputRangeError, InvalidWeightsError,  # noqa: E402
                     MissingPhase1Error, Phase1FileError, ShapeError, SnnmapError, UnsupportedLayerError)
from .layers import SpikeTimePadding2D, SpikingConv2D, SpikingDense, SpikingMaxPooling2D, SpikingModel  # noqa: E402
from .pipeline.convert import convert, encode, to_snn  # noqa: E402
from .pipeline.evaluate import evaluate  # noqa: E402
from .pipeline.preprocess import Preprocessed, preprocess  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "InexactConversionError", "InputRangeError", "InvalidWeightsError", "MissingPhase1Error", "Phase1FileError",
    "Preprocessed", "ShapeError", "SnnmapError",
    "SpikeTimePadding2D", "SpikingConv2D", "SpikingDense", "SpikingMaxPooling2D", "SpikingModel",
    "UnsupportedLayerError", "convert", "data", "datasets", "encode", "evaluate", "layers", "mapping", "preprocess",
    "to_snn",
]
