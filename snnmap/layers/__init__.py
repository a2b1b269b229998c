"""Thin Keras layers of the spiking network and of the preprocessed ReLU network."""

from .model import SpikingModel
from .relu import BiasMapConv2D, SignedMaxPooling2D
from .spiking import SpikeTimePadding2D, SpikingConv2D, SpikingDense, SpikingLayer, SpikingMaxPooling2D

__all__ = ["BiasMapConv2D", "SignedMaxPooling2D", "SpikeTimePadding2D", "SpikingConv2D", "SpikingDense",
           "SpikingLayer", "SpikingMaxPooling2D", "SpikingModel"]
