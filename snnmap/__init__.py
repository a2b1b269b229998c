"""snnmap: exact conversion of trained ReLU networks into single-spike neural networks.

Pipeline (docs/method.md): data -> ReLU model -> phase 1 (:func:`preprocess`) -> phase 2
(:func:`to_snn`, :func:`evaluate`) -> report.

The public names below are loaded on first use (PEP 562), so that ``python -m snnmap.phase1
--help`` answers before TensorFlow is imported.  A program that imports snnmap (not a command)
gets the spiking layers registered with Keras at once, as before, so that
``keras.saving.load_model`` reads a saved SNN after a plain ``import snnmap``.
"""

import importlib as _importlib
import sys as _sys

from . import quiet as _quiet

__version__ = "0.1.0"

# Public name -> the module that defines it (a module itself when the name is a module's).
_PUBLIC = {
    **{name: "errors" for name in (
        "InexactConversionError", "InputRangeError", "InvalidWeightsError", "MissingPhase1Error",
        "Phase1FileError", "ShapeError", "SnnmapError", "UnsupportedLayerError")},
    **{name: "layers" for name in (
        "SpikeTimePadding2D", "SpikingConv2D", "SpikingDense", "SpikingMaxPooling2D", "SpikingModel")},
    "convert": "pipeline.convert", "encode": "pipeline.convert", "retune": "pipeline.convert",
    "to_snn": "pipeline.convert",
    "evaluate": "pipeline.evaluate", "Preprocessed": "pipeline.preprocess", "preprocess": "pipeline.preprocess",
}
# Public names that are modules: name -> module path.
_MODULES = {"data": "data", "datasets": "data", "layers": "layers", "mapping": "core.mapping"}

__all__ = sorted([*_PUBLIC, *_MODULES])


def __getattr__(name):
    """Load a public name on first use (PEP 562)."""
    if name in _MODULES:
        if _MODULES[name] != "data":
            _quiet.import_keras()
        value = _importlib.import_module(f"{__name__}.{_MODULES[name]}")
    elif name in _PUBLIC:
        if _PUBLIC[name] != "errors":
            _quiet.import_keras()
        value = getattr(_importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


# TensorFlow's C++ start-up and graph-optimiser warnings ("Not handling type DT_DOUBLE" for every
# float64 graph) drown our output; errors still show.  A value set by the user wins.
_quiet.set_native_log_level()
_quiet.install_log_filters()

# ``python -m snnmap.<command>`` imports this package while sys.argv[0] is still "-m": the command
# imports what it needs after its flags are parsed.  Anywhere else, register the spiking layers now.
if getattr(_sys, "argv", [])[:1] != ["-m"]:
    _quiet.import_keras()
    _importlib.import_module(f"{__name__}.layers")
