"""Time-domain pooling and padding of spike times: the spiking twins of ``MaxPooling2D`` and
``ZeroPadding2D`` (docs/method.md §4)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


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
class SpikeTimePadding2D(keras.layers.Layer):
    """``ZeroPadding2D`` in the time code: padded inputs spike at ``t_pad`` (= code 0).

    Parameters
    ----------
    padding : ((int, int), (int, int))
        (top, bottom), (left, right), as in ``ZeroPadding2D``.
    t_pad : float
        ``t_min`` of the consuming layer (the end of the window these spikes belong to),
        in the frame of the spike times it pads (0 when they are measured from it).
    """

    def __init__(self, padding, t_pad, dtype=None, **kwargs):
        super().__init__(dtype=dtype or "float64", **kwargs)
        self.padding = tuple(tuple(int(v) for v in p) for p in padding)
        self.t_pad = float(t_pad)

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),), constant_values=self.t_pad)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        (t, bo), (l, r) = self.padding
        return (b, None if h is None else h + t + bo, None if w is None else w + l + r, c)

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, t_pad=self.t_pad)
        return config
