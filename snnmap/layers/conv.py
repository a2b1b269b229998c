"""Convolutional single-spike layer (docs/method.md §3, §4): the spiking twin of ``keras.layers.Conv2D``."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .base import SpikingLayer


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value}")
    return value


def same_padding(size, kernel, stride):
    """(before, after) zero padding of Keras/TensorFlow ``padding="same"`` along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingConv2D(SpikingLayer):
    """Convolutional single-spike layer (the spiking twin of ``keras.layers.Conv2D``).

    Input: spike times ``(batch, height, width, channels)``.  Every output position and
    filter is one neuron with its own threshold, so per-position bias maps (docs/method.md §4)
    are exact at the borders for any kernel size and stride.  ``padding="same"`` adds
    inputs that spike at ``t_min(n)`` (activation 0, not jittered by ``noise``): in the
    layer's local time that is literally zero padding.

    Parameters
    ----------
    filters : int
    kernel_size : int or (int, int)
    strides : int or (int, int)
    padding : {"valid", "same"}
    **kwargs
        See :class:`SpikingLayer`.
    """

    bf16_grid = True

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if self.filters <= 0:
            raise ValueError(f"filters must be a positive integer, got {filters}")

    def _check(self, input_shape):
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"SpikingConv2D {self.name!r} expects inputs of shape (batch, height, width, channels) "
                f"with known sizes, got {tuple(input_shape)}"
            )

    def kernel_shape(self, input_shape):
        self._check(input_shape)
        return self.kernel_size + (int(input_shape[-1]), self.filters)

    def neuron_shape(self, input_shape):
        self._check(input_shape)
        sizes = []
        for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides):
            out = -(-int(size) // s) if self.padding == "same" else (int(size) - k) // s + 1
            if out <= 0:
                raise ValueError(f"SpikingConv2D {self.name!r}: input {tuple(input_shape)} is smaller than the kernel")
            sizes.append(out)
        return (sizes[0], sizes[1], self.filters)

    def build(self, input_shape):
        super().build(input_shape)
        h, w, c_in = (int(d) for d in input_shape[1:])
        out_h, out_w, _ = self.neuron_shape(input_shape)
        if self.padding == "same":
            self._pads = (same_padding(h, self.kernel_size[0], self.strides[0]),
                          same_padding(w, self.kernel_size[1], self.strides[1]))
        else:
            self._pads = ((0, 0), (0, 0))
        self._padded = (h + sum(self._pads[0]), w + sum(self._pads[1]), c_in)
        kh, kw = self.kernel_size
        # Offsets of a receptive field's rows of C_in channels in the padded input's rows, in
        # kernel order.
        dy, dx = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
        self._row_offsets = (dy * self._padded[1] + dx).reshape(-1).astype("int32")

    def arrange_inputs(self, u):
        # Padded positions are inputs that spike at t_min(n), i.e. at local time 0.  They
        # are made explicit so that every bound and the event solver see them arrive.
        if self._pads == ((0, 0), (0, 0)):
            return u
        return ops.pad(u, ((0, 0),) + self._pads + ((0, 0),))

    def synapse(self, x, kernel):
        return ops.conv(x, kernel, strides=self.strides, padding="valid")

    def fan_in_sum(self, kernel):
        return ops.sum(kernel, axis=(0, 1, 2))

    def receptive_count(self, mask):
        # Summed over channels first: a box filter with the layer's own geometry then counts
        # every receptive field at (C_in + kh kw) operations per position.
        kh, kw = self.kernel_size
        summed = ops.sum(mask, axis=-1, keepdims=True)
        return ops.conv(summed, ops.ones((kh, kw, 1, 1), summed.dtype), strides=self.strides, padding="valid")

    has_positions = True

    def field_keys(self, index):
        return index // self.filters

    def fields_of(self, u, keys):
        return self.patches(u, keys)

    def weights_of(self, kernel, index):
        # Columns of the (R, filters) kernel: no kernel-sized transpose for a few pairs.
        return ops.transpose(ops.take(ops.reshape(kernel, (-1, self.filters)), index % self.filters, axis=1))

    def patches(self, x, positions):
        """The receptive fields of output positions, ``(len(positions), R)`` in kernel order.

        Parameters
        ----------
        x : tensor (batch, padded height, padded width, channels)
            The layer's inputs after :meth:`arrange_inputs` (or ramps of them).
        positions : int tensor
            Flat indices over ``batch x out_height x out_width``, row-major.
        """
        hp, wp, c_in = self._padded
        out_w = int(self.alpha.shape[1])
        per_sample = int(self.alpha.shape[0]) * out_w
        sample = positions // per_sample
        pos = positions % per_sample
        y, x_ = pos // out_w, pos % out_w
        # Rows of C_in channels are gathered whole (several times faster than element by element).
        base = (sample * hp + y * self.strides[0]) * wp + x_ * self.strides[1]
        rows = ops.take(ops.reshape(x, (-1, c_in)), base[:, None] + ops.convert_to_tensor(self._row_offsets)[None, :],
                        axis=0)
        return ops.reshape(rows, (-1, self.fan_in))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding)
        return config
