"""Time-domain pooling and padding of spike times: the spiking twins of ``MaxPooling2D`` and
``ZeroPadding2D`` (docs/method.md §4)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .relu import ConstantPadding2D


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingMaxPooling2D(keras.layers.MaxPooling2D):
    """Max pooling of activations in the time code: the EARLIEST spike of each window wins.

    For channels whose preprocessed network uses min pooling (a negative batch-norm scale
    moved past the pool, ``signs[c] = -1``) the LATEST spike wins instead.

    Parameters
    ----------
    signs : sequence of {1, -1}, optional
        Per channel: 1 = max pooling of activations (earliest spike), -1 = min pooling
        (latest spike).  Default: all 1.
    **kwargs
        ``MaxPooling2D`` arguments.
    """

    def __init__(self, signs=None, dtype=None, **kwargs):
        super().__init__(dtype=dtype or "float64", **kwargs)
        self.signs = None if signs is None else [1 if float(s) > 0 else -1 for s in np.ravel(signs)]

    def call(self, inputs):
        if self.signs is None:
            return -super().call(-inputs)
        flip = ops.convert_to_tensor(-np.asarray(self.signs), dtype=inputs.dtype)
        return flip * super().call(flip * inputs)

    def get_config(self):
        config = super().get_config()
        config["signs"] = self.signs
        return config


@keras.saving.register_keras_serializable(package="snnmap")
class SpikeTimePadding2D(ConstantPadding2D):
    """``ZeroPadding2D`` in the time code: padded inputs spike at ``t_pad`` (= code 0).

    Parameters
    ----------
    padding : ((int, int), (int, int))
        (top, bottom), (left, right), as in ``ZeroPadding2D``.
    t_pad : float or sequence of float
        ``t_min`` of the consuming layer (the end of the window these spikes belong to),
        in the frame of the spike times it pads (0 when they are measured from it); or one
        time per channel, for padding that codes a constant other than 0 (a graph's max
        pooling of a padded pre-activation, docs/method.md §10).
    """

    def __init__(self, padding, t_pad, dtype=None, **kwargs):
        super().__init__(padding, values=t_pad, dtype=dtype, **kwargs)

    @property
    def t_pad(self):
        return self.values

    def get_config(self):
        config = super().get_config()
        config["t_pad"] = config.pop("values")
        return config
