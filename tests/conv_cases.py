"""Convolutional spiking layers and the cases the tests build them from (shared by tests/layers
and tests/core), with the independent reference: the convolution expanded by hand into
per-neuron dense problems (explicit padding with ``t_min``, TensorFlow's "same" rule, one
receptive field per output position) for the time-stepped oracle of tests/oracle.py."""

from __future__ import annotations

import math

import keras
import numpy as np

from snnmap.layers import SpikingConv2D

from oracle import simulate_layer


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def tf_same_pads(size, k, s):
    """TensorFlow's "same" padding along one axis: (before, after)."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def geometry(in_hw, kernel_size, strides, padding):
    """((top, bottom), (left, right)) and (h_out, w_out) of a convolution."""
    pads, out = [], []
    for size, k, s in zip(in_hw, pair(kernel_size), pair(strides)):
        p = tf_same_pads(size, k, s) if padding == "same" else (0, 0)
        pads.append(p)
        out.append((size + sum(p) - k) // s + 1)
    return tuple(pads), tuple(out)


def receptive_fields(v, kernel_size, strides, padding, pad_value):
    """``(batch, h_out, w_out, kh * kw * c_in)``: the padded input window of every output
    position, flattened in the order of ``kernel[:, :, :, c].reshape(-1)``."""
    v = np.asarray(v, np.float64)
    (kh, kw), (sy, sx) = pair(kernel_size), pair(strides)
    pads, (h_out, w_out) = geometry(v.shape[1:3], kernel_size, strides, padding)
    vp = np.pad(v, ((0, 0), pads[0], pads[1], (0, 0)), mode="constant", constant_values=pad_value)
    out = np.empty((v.shape[0], h_out, w_out, kh * kw * v.shape[3]))
    for y in range(h_out):
        for x in range(w_out):
            out[:, y, x] = vp[:, y * sy:y * sy + kh, x * sx:x * sx + kw, :].reshape(v.shape[0], -1)
    return out


def keras_conv(x, kernel, strides, padding):
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.conv(
        keras.ops.convert_to_tensor(np.asarray(x, np.float64)),
        keras.ops.convert_to_tensor(np.asarray(kernel, np.float64)),
        strides=strides, padding=padding)), np.float64)


def oracle_conv(t, kernel, theta, alpha, strides, padding, t_min_prev, t_min, t_max):
    """Spike times of a conv layer, one dense oracle problem per output position.

    Padded inputs spike at ``t_min`` (they code 0).  ``theta`` and ``alpha`` have the
    neuron shape ``(h_out, w_out, F)``.
    """
    kernel = np.asarray(kernel, np.float64)
    fields = receptive_fields(t, kernel.shape[:2], strides, padding, t_min)
    j = kernel.reshape(-1, kernel.shape[-1])
    theta = np.broadcast_to(np.asarray(theta, np.float64), fields.shape[1:3] + (j.shape[1],))
    alpha = np.broadcast_to(np.asarray(alpha, np.float64), theta.shape)
    out = np.empty(fields.shape[:3] + (j.shape[1],))
    for y in range(fields.shape[1]):
        for x in range(fields.shape[2]):
            out[:, y, x] = simulate_layer(fields[:, y, x], j, theta[y, x], alpha[y, x], t_min_prev, t_max)
    return out


def random_kernel(rng, kernel_size, c_in, filters, s_max=0.9, scale=1.5):
    """Random Conv2D kernel whose per-filter weight sums are all < 1."""
    kh, kw = pair(kernel_size)
    w = rng.normal(0.0, scale / np.sqrt(kh * kw * c_in), (kh, kw, c_in, filters))
    s = w.reshape(-1, filters).sum(axis=0)
    w[..., s > s_max] *= s_max / s[s > s_max]
    return w


def make_bias(rng, kind, out_hw, filters, scale=0.3):
    if kind == "channel":
        return rng.normal(0.0, scale, filters)
    return rng.normal(0.0, scale, tuple(out_hw) + (filters,))  # per-position bias map


def make_conv(w, b, in_shape, strides, padding, X_n=1.0, t_min_prev=0.0, t_min=1.0, **kwargs):
    layer = SpikingConv2D(w.shape[-1], w.shape[:2], strides=strides, padding=padding,
                          t_min_prev=t_min_prev, t_min=t_min, X_n=X_n, **kwargs)
    layer.build((None,) + tuple(in_shape))
    layer.set_relu_params(w, b)
    return layer


_ORACLE_CACHE = {}


def layer_oracle(layer, t):
    """The oracle with the layer's own stored parameters (alpha included).

    Memoised on the exact bytes of the inputs and parameters: the solvers of one case
    share one (slow) oracle run.
    """
    arrays = [np.asarray(v, np.float64) for v in
              (t, layer.kernel.numpy(), layer.threshold.numpy(), layer.alpha.numpy())]
    key = tuple((a.shape, a.tobytes()) for a in arrays) + (
        layer.strides, layer.padding, layer.t_min_prev, layer.t_min, layer.t_max)
    if key not in _ORACLE_CACHE:
        _ORACLE_CACHE[key] = oracle_conv(*arrays, layer.strides, layer.padding, layer.t_min_prev,
                                         layer.t_min, layer.t_max)
    return _ORACLE_CACHE[key]


def relu_pre(x, w, b, strides, padding):
    """Pre-activation of the ReLU layer, with Keras's own convolution."""
    return keras_conv(x, w, strides, padding) + b


GEOMETRIES = [
    (0, (9, 7, 2), 3, 3, 1, "same", 0.0, 1.0),
    (1, (9, 7, 3), 4, 3, 2, "valid", 0.0, 1.0),
    (2, (8, 6, 2), 3, 5, 1, "valid", 0.0, 1.0),
    (3, (8, 6, 3), 2, 5, 2, "same", 0.0, 1.0),     # odd total padding: (1, 2) rows, (1, 2) cols
    (4, (9, 7, 2), 3, 3, 2, "same", 1.0, 2.7),     # a second hidden layer: inputs in [1, 2.7]
    (5, (7, 6, 3), 3, 5, 1, "same", 0.0, 1.0),
    (6, (8, 9, 2), 3, (3, 5), (2, 1), "same", 0.0, 1.0),  # non-square kernel and strides
    (7, (6, 8, 2), 2, 3, 2, "valid", 0.5, 1.5),
]


def label(v):
    return "x".join(str(i) for i in pair(v))


GEOMETRY_IDS = [f"g{g[0]}-k{label(g[3])}-s{label(g[4])}-{g[5]}" for g in GEOMETRIES]


def early_kernel(rng, kernel_size, filters, ratio=(1.5, 1.9)):
    """A 3-channel kernel that makes V rise, dip and rise again before t_min.

    Channel 0 (large activations, early spikes) excites strongly, channel 1 (medium)
    inhibits more strongly, channel 2 (small activations, late spikes) brings the final
    slope back up: weight sum S in (0.3, 0.8) (cf. tests/test_layers.py early_relu).
    """
    kh, kw = pair(kernel_size)

    def group(total):
        g = rng.uniform(0.5, 1.5, (kh, kw, filters))
        return g / g.sum(axis=(0, 1)) * total

    w_e = rng.uniform(3.0, 8.0, filters)
    w_i = -rng.uniform(*ratio, filters) * w_e
    s = rng.uniform(0.3, 0.8, filters)
    return np.stack([group(w_e), group(w_i), group(s - w_e - w_i)], axis=2)


def early_inputs(rng, batch, hw):
    return np.stack([
        rng.uniform(0.85, 1.0, (batch,) + hw),
        rng.uniform(0.35, 0.65, (batch,) + hw),
        rng.uniform(0.0, 0.15, (batch,) + hw),
    ], axis=-1)


EARLY = [  # (seed, (H, W), filters, kernel, strides, padding)
    (0, (9, 7), 4, 3, 1, "same"),
    (1, (9, 7), 3, 5, 2, "valid"),
    (2, (8, 6), 3, 3, 2, "same"),
    (3, (8, 7), 3, 5, 1, "same"),
]


def early_case(index, bias_kind="map", batch=6, zeta=0.1):
    seed, hw, filters, k, s, padding = EARLY[index]
    rng = np.random.default_rng(200 + seed)
    w = early_kernel(rng, k, filters)
    assert np.all(w.reshape(-1, filters).sum(axis=0) < 1)
    _, out_hw = geometry(hw, k, s, padding)
    b = make_bias(rng, bias_kind, out_hw, filters)
    x = early_inputs(rng, batch, hw)
    y = relu_pre(x, w, b, s, padding)
    return w, b, x, y, float(np.max(y)), zeta
