"""The preprocessed ReLU network as a float64 Keras model, built from folded stages."""

from __future__ import annotations

import keras
import numpy as np

from . import graph
from ..layers import BiasMapConv2D, SignedMaxPooling2D


def _dense(stage, act, kw):
    return keras.layers.Dense(stage.W.shape[-1], activation=act, **kw), [stage.W, stage.b]


def _conv(stage, act, kw):
    cls = BiasMapConv2D if stage.b.ndim == 3 else keras.layers.Conv2D
    return cls(stage.W.shape[-1], stage.W.shape[:2], strides=stage.config["strides"],
               padding=stage.config["padding"], activation=act, **kw), [stage.W, stage.b]


def _maxpool(stage, act, kw):
    if np.all(stage.signs > 0):
        return keras.layers.MaxPooling2D(**stage.config, **kw), None
    return SignedMaxPooling2D(stage.signs, **stage.config, **kw), None


def _flatten(stage, act, kw):
    return keras.layers.Flatten(**kw), None


def _reshape(stage, act, kw):
    return keras.layers.Reshape(stage.config["target_shape"], **kw), None


def _zeropad(stage, act, kw):
    return keras.layers.ZeroPadding2D(stage.config["padding"], **kw), None


#: The Keras layer (and its weights) of every stage kind.
BUILDERS = {"dense": _dense, "conv": _conv, "maxpool": _maxpool, "flatten": _flatten, "reshape": _reshape,
            "zeropad": _zeropad}


def build_model(stages, input_shape, name="preprocessed"):
    """The float64 Keras model of the preprocessed network (input ``x_hat``).

    Parameters
    ----------
    stages : list of Stage
        Folded and scaled stages, in order.
    input_shape : tuple
        Shape of one input.
    name : str
        The model's name.
    """
    inputs = keras.Input(shape=input_shape, dtype="float64", name="x_hat")
    x = inputs
    for stage in stages:
        act = None if stage.activation == "linear" else stage.activation
        layer, weights = BUILDERS[stage.kind](stage, act, {"name": stage.name, "dtype": "float64"})
        x = layer(x)
        if weights is not None:
            layer.set_weights(weights)
    return keras.Model(inputs, x, name=name)


def is_hidden(layer):
    """Whether a layer of a preprocessed network is a hidden (ReLU) Dense/Conv2D layer."""
    return (isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))
            and graph.activation_name(layer, layer.activation) == "relu")


def hidden_layers(model):
    """The hidden (ReLU) Dense/Conv2D layers of a preprocessed model, in order.

    Parameters
    ----------
    model : keras.Model
        A preprocessed network (``Preprocessed.model``).
    """
    return [node.layer for node in graph.walk(model) if is_hidden(node.layer)]
