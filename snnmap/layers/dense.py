"""Fully connected single-spike layer (docs/method.md §3): the spiking twin of ``keras.layers.Dense``."""

from __future__ import annotations

import keras
from keras import ops

from ..core import spiketime
from .base import SpikingLayer


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingDense(SpikingLayer):
    """Fully connected single-spike layer (the spiking twin of ``keras.layers.Dense``).

    Input: spike times ``(batch, n_in)``.  Output: spike times ``(batch, units)`` of the
    hidden neurons in ``[t_min_prev, t_max]`` (``t_max - t`` codes ``ReLU(W^T x + b)``
    exactly where docs/method.md §3 (a) and (b) hold; elsewhere the spike the dynamics really
    produce), or, with ``output_layer=True``, the readout ``V(t_min)`` = the logits.

    Parameters
    ----------
    units : int
        Number of neurons.
    **kwargs
        See :class:`SpikingLayer` (windows, ``X_n``, ``zeta``, ``noise``,
        ``alpha_noise``, ``seed``, ``solver``, ``dtype``).
    """

    dense_kernel = True

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        if self.units <= 0:
            raise ValueError(f"units must be a positive integer, got {units}")

    def kernel_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"SpikingDense {self.name!r} expects inputs of shape (batch, n_in), got "
                f"{tuple(input_shape)}; flatten spike times first"
            )
        return (int(input_shape[-1]), self.units)

    def neuron_shape(self, input_shape):
        return (self.units,)

    def synapse(self, x, kernel):
        return ops.matmul(x, kernel)

    def fan_in_sum(self, kernel):
        return ops.sum(kernel, axis=0)

    def receptive_count(self, mask):
        return ops.sum(mask, axis=-1, keepdims=True)

    def field_keys(self, index):
        return index // self.units

    def fields_of(self, u, keys):
        return ops.take(u, keys, axis=0)

    def weights_of(self, kernel, index):
        return ops.transpose(ops.take(kernel, index % self.units, axis=1))

    def scan_all(self, u, kernel, alpha, theta, t_in, window, s):
        """Every neuron of a sample shares its inputs: sort them once per sample.

        Sample by sample (a bounded number at a time), the weights are gathered in the
        order the inputs arrive and scanned along that axis for all neurons at once.
        Inputs that arrive together with the sample's last input add one aggregate
        breakpoint instead of one each; on TensorFlow, whose shapes may vary, the scan
        covers only the earlier inputs (the informative ones, in the noise-free case).
        """
        n_in = int(kernel.shape[0])
        dynamic = spiketime.shapes_may_vary()
        j_sum = ops.sum(kernel, axis=0)

        def solve(index):
            batch = ops.take(u, index, axis=0)
            order = ops.argsort(batch, axis=-1)
            us = ops.take_along_axis(batch, order, axis=-1)
            last = us[:, -1:]
            if dynamic:
                m = ops.maximum(ops.max(ops.sum(ops.cast(us < last, "int32"), axis=-1)), 1)
                us, order = us[:, :m], order[:, :m]
            j = ops.take(kernel, order, axis=0)  # (c, m, units)
            rest = j_sum - ops.sum(j, axis=1)
            e = ops.concatenate([us, last], axis=-1)[:, :, None]
            j = ops.concatenate([j, rest[:, None, :]], axis=1)
            return spiketime.first_crossing(e, j, alpha, theta, t_in, window, axis=1) + self.time_shift

        rows = max(1, (4 * self.solver_elements) // max(1, n_in * self.units))
        return spiketime.solve_pairs(ops.ones((ops.shape(s)[0],), "bool"), s, solve, rows, small_chunk=1)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
