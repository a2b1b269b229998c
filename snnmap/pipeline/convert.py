"""Phase 2: build the spiking network from a preprocessed ReLU network (MAPPING §3, §5)."""

from __future__ import annotations

import keras
import numpy as np

from . import graph
from ..core import mapping
from ..errors import UnsupportedLayerError
from ..layers.spiking import SpikeTimePadding2D, SpikingConv2D, SpikingDense, SpikingMaxPooling2D
from ..layers.model import SpikingModel
from .preprocess import Preprocessed, preprocess


def encode(x, input_range=(0.0, 1.0)):
    """Input spike times (time-to-first-spike code of MAPPING §1), float64.

    ``t = 1 - (x - p) / (q - p)``: the largest value spikes first, at 0; the smallest at 1.
    """
    return mapping.encode(x, input_range)


def derive_seed(seed: int, index: int) -> int:
    """A 31-bit seed derived from ``seed`` and ``index``: distinct indices give independent
    streams, equal ones the same.  It seeds spiking layer ``index`` from the run's seed, and
    trial ``index`` of an experiment from the experiment's seed."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def to_snn(pre: Preprocessed, zeta=mapping.DEFAULT_ZETA, noise=0.0, alpha_noise=0.0, seed=0,
           dtype="float64", solver="auto", time_bits=0, weight_bits=0, w_min=None, w_max=None,
           x_quantile=1.0, local_times=True):
    """The spiking twin of a preprocessed ReLU network.

    Parameters
    ----------
    pre : Preprocessed
        Output of :func:`snnmap.preprocess` (or :meth:`Preprocessed.load`).
    zeta : float
        Window margin, ``B_n = (1 + zeta) X_n``.
    noise : float
        Spike-time jitter std (every spike, input spikes included).
    alpha_noise : float
        Std of the fixed per-neuron perturbation of ``alpha``.
    seed : int
        Seed of both noises (each layer derives its own).
    dtype : {"float64", "float32"}
    solver : {"auto", "exact", "scan"}
        See :class:`snnmap.layers.SpikingLayer`.
    time_bits : int
        Input spike times of every spiking layer quantised to ``2**time_bits`` levels of
        its input window (0 = off).
    weight_bits : int
        Weights of the spiking layers quantised to ``2**weight_bits`` levels of
        ``[w_min, w_max]`` (0 = off; default range: each layer's ``[-max|J|, max|J|]``).
    w_min, w_max : float, optional
    x_quantile : float
        ``X_n`` from this quantile of the calibration images' largest activations
        instead of their maximum (1 = the maximum); see :meth:`Preprocessed.window_scales`.
    local_times : bool
        Hidden layers pass spike times measured from the END of their output window,
        ``t - t_max(n)`` (= minus the activation they code, in ``[-B_n, 0]``), instead of
        global times, which reach hundreds of ``tau_c`` in deep networks; float32 needs
        this to keep the ReLU network's precision.  The model's input (from
        :func:`encode`) and output (the logits) are the same either way;
        :meth:`SpikingLayer.global_times` converts a layer's values to global times.

    Returns
    -------
    SpikingModel
        Input: spike times from :func:`encode` (shape of the original input).  Output:
        the logits (the readout potential of the output layer).
    """
    x_n = pre.window_scales(x_quantile)
    windows = mapping.windows(x_n, zeta)
    relu = pre.model
    inputs = keras.Input(shape=relu.inputs[0].shape[1:], dtype=dtype, name="spike_times")
    x = inputs
    hidden = 0
    common = dict(zeta=zeta, noise=noise, dtype=dtype, solver=solver, time_bits=time_bits,
                  weight_bits=weight_bits, w_min=w_min, w_max=w_max)
    origin = 0.0  # the frame of the spike times x holds: encode() gives global times
    for layer in relu.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            is_hidden = graph._activation_name(layer, layer.activation) == "relu"  # noqa: SLF001
            w, b = (np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in (layer.kernel, layer.bias))
            win = windows[hidden] if is_hidden else windows[-1]
            kwargs = dict(t_min_prev=win.t_min_prev, t_min=win.t_min, seed=derive_seed(seed, hidden),
                          name=layer.name, input_origin=origin, **common)
            if is_hidden:
                kwargs.update(X_n=x_n[hidden], alpha_noise=alpha_noise)
            else:
                kwargs.update(output_layer=True)
            if local_times and is_hidden:
                kwargs.update(output_origin=win.t_max)
            spiking = (SpikingDense(layer.units, **kwargs) if isinstance(layer, keras.layers.Dense) else
                       SpikingConv2D(layer.filters, layer.kernel_size, strides=layer.strides,
                                     padding=layer.padding, **kwargs))
            x = spiking(x)
            spiking.set_relu_params(w, b)
            origin = spiking.output_origin
            hidden += int(is_hidden)
        elif isinstance(layer, keras.layers.MaxPooling2D):
            signs = getattr(layer, "signs", None)
            x = SpikingMaxPooling2D(signs=signs, pool_size=layer.pool_size, strides=layer.strides,
                                    padding=layer.padding, name=layer.name, dtype=dtype)(x)
        elif isinstance(layer, keras.layers.ZeroPadding2D):
            # Padded positions code 0: they spike at the end of their window, which is the
            # start of the window of the spiking layer that reads them.
            x = SpikeTimePadding2D(layer.padding, t_pad=windows[hidden].t_min - origin, name=layer.name,
                                   dtype=dtype)(x)
        elif isinstance(layer, (keras.layers.Flatten, keras.layers.Reshape)):
            config = dict(layer.get_config(), dtype=dtype)
            x = type(layer).from_config(config)(x)
        else:
            raise UnsupportedLayerError(layer, "not a layer of a preprocessed network; run snnmap.preprocess first")
    if hidden != len(pre.X_n):
        raise ValueError(f"the preprocessed model has {hidden} hidden layers but {len(pre.X_n)} X_n values")
    return SpikingModel(inputs, x, name=relu.name.replace("_preprocessed", "") + "_snn")


def convert(model, x_calib, input_range=(0.0, 1.0), upper_b=0.99, lower_b=-10.0, zeta=mapping.DEFAULT_ZETA,
            noise=0.0, alpha_noise=0.0, seed=0, dtype="float64", batch_size=256, verbose="auto"):
    """Both phases at once: :func:`snnmap.preprocess` then :func:`to_snn`.

    Returns
    -------
    SpikingModel
        Feed it ``encode(x, input_range)``; it returns the logits.
    """
    pre = preprocess(model, x_calib, input_range=input_range, upper_b=upper_b, lower_b=lower_b,
                     batch_size=batch_size, verbose=verbose)
    return to_snn(pre, zeta=zeta, noise=noise, alpha_noise=alpha_noise, seed=seed, dtype=dtype)
