"""Thin Keras layers of the spiking network and of the preprocessed ReLU network.

* :mod:`.base`: :class:`SpikingLayer`, parameters, windows and Keras plumbing of the
  single-spike layers; :mod:`.bounds` and :mod:`.solve` the bounds and solver stages it runs
  (the math is in :mod:`snnmap.core`, the tuning in :mod:`snnmap.solver`);
* :mod:`.dense`, :mod:`.conv`: :class:`SpikingDense`, :class:`SpikingConv2D`;
* :mod:`.pooling`: :class:`SpikingMaxPooling2D`, :class:`SpikeTimePadding2D`;
* :mod:`.relu`: the ReLU-side layers of a preprocessed network;
* :mod:`.model`: :class:`SpikingModel`;
* :mod:`.report`: :func:`solver_report`, what the solver stages do on a batch.
"""

from .base import SpikingLayer
from .conv import SpikingConv2D, same_padding
from .dense import SpikingDense
from .model import SpikingModel
from .pooling import SpikeTimePadding2D, SpikingMaxPooling2D
from .relu import BiasMapConv2D, ConstantPadding2D, SignedMaxPooling2D
from .report import solver_report

__all__ = ["BiasMapConv2D", "ConstantPadding2D", "SignedMaxPooling2D", "SpikeTimePadding2D", "SpikingConv2D",
           "SpikingDense", "SpikingLayer", "SpikingMaxPooling2D", "SpikingModel", "same_padding", "solver_report"]
