"""The ReLU-side layers a preprocessed network may need beyond stock Keras (docs/method.md §4, §10).

* :class:`BiasMapConv2D`: a convolution whose bias varies with the output position.  It
  appears when a batch normalisation after a ReLU (or the input range ``p != 0``) is folded
  into a zero-padded convolution: the padded positions do not carry the shift, so the
  fused bias is ``b + conv(shift image, W)`` computed with the layer's own padding and
  strides.
* :class:`SignedMaxPooling2D`: max pooling for channels whose folded batch-norm scale is
  positive, min pooling for those whose scale was negative.
* :class:`ConstantPadding2D`: padding with one constant per channel (a graph's max pooling of a
  padded pre-activation after a batch norm and ReLU were moved before it pads with
  ``ReLU(BN(0))``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="snnmap")
class BiasMapConv2D(keras.layers.Conv2D):
    """``Conv2D`` with a bias map of shape ``(h_out, w_out, filters)`` instead of ``(filters,)``.

    Computes ``activation(conv(x, kernel) + bias_map)``.  Takes every ``Conv2D`` argument;
    ``use_bias`` is always True.
    """

    def __init__(self, *args, **kwargs):
        kwargs["use_bias"] = True
        super().__init__(*args, **kwargs)

    def build(self, input_shape):
        self.use_bias = False
        super().build(input_shape)
        self.use_bias = True
        out_shape = self.compute_output_shape(input_shape)
        if any(d is None for d in out_shape[1:]):
            raise ValueError(f"{self.name}: a bias map needs a fully known input shape, got {input_shape}")
        self.bias = self.add_weight(
            name="bias", shape=tuple(out_shape[1:]), initializer="zeros", dtype=self.variable_dtype
        )

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.kernel) + self.bias
        return outputs if self.activation is None else self.activation(outputs)


@keras.saving.register_keras_serializable(package="snnmap")
class SignedMaxPooling2D(keras.layers.MaxPooling2D):
    """Max pooling for channels with ``signs[c] > 0``, min pooling for ``signs[c] < 0``.

    Parameters
    ----------
    signs : sequence of {1, -1}
        One entry per channel.
    **kwargs
        ``MaxPooling2D`` arguments (``pool_size``, ``strides``, ``padding``).
    """

    def __init__(self, signs, **kwargs):
        super().__init__(**kwargs)
        self.signs = [1 if float(s) > 0 else -1 for s in np.ravel(signs)]

    def call(self, inputs):
        signs = ops.convert_to_tensor(np.asarray(self.signs), dtype=inputs.dtype)
        return signs * super().call(signs * inputs)

    def get_config(self):
        config = super().get_config()
        config["signs"] = list(self.signs)
        return config


@keras.saving.register_keras_serializable(package="snnmap")
class ConstantPadding2D(keras.layers.Layer):
    """``ZeroPadding2D`` with a constant of its own for every channel (or one for all).

    Parameters
    ----------
    padding : ((int, int), (int, int))
        (top, bottom), (left, right), as in ``ZeroPadding2D``.
    values : float or sequence of float
        The padded value, or one per channel.
    """

    def __init__(self, padding, values=0.0, dtype=None, **kwargs):
        super().__init__(dtype=dtype or "float64", **kwargs)
        self.padding = tuple(tuple(int(v) for v in p) for p in padding)
        self.values = float(values) if np.ndim(values) == 0 else [float(v) for v in values]

    def call(self, inputs):
        pad = ((0, 0),) + self.padding + ((0, 0),)
        if not isinstance(self.values, list):
            return ops.pad(inputs, pad, constant_values=self.values)
        where = ops.pad(ops.zeros_like(inputs), pad, constant_values=1.0)
        return ops.pad(inputs, pad) + where * ops.convert_to_tensor(self.values, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        (t, bo), (l, r) = self.padding
        return (b, None if h is None else h + t + bo, None if w is None else w + l + r, c)

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, values=self.values)
        return config
