"""The ReLU twin of a spiking network: which ReLU model an SNN computes, and whether a model is it.

:func:`evaluate <snnmap.pipeline.evaluate.evaluate>` checks every spiking layer against the ReLU
layer it stands for.  That twin is either the preprocessed network the SNN was built from
(:func:`is_twin` recognises it by structure and parameters, never by names) or, when the caller
has only the original model or none, the preprocessed network rebuilt from the SNN's own
parameters (:func:`rebuild`): docs/method.md §3 solved for ``W`` and ``b``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import graph
from .build import BUILDERS
from .fold import Stage
from ..core import mapping
from ..layers import (ConstantPadding2D, SpikeTimePadding2D, SpikingConv2D, SpikingDense, SpikingLayer,
                      SpikingMaxPooling2D)

#: Parameters of a spiking layer and of the ReLU layer it came from agree to this relative tolerance,
#: by the dtype the spiking layer stores them in.
MATCH_RTOL = {"float64": 1e-9, "float32": 1e-5, "float16": 1e-2, "bfloat16": 1e-1}


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value), np.float64)


def relu_params(layer):
    """``(W, b)`` of the ReLU layer that spiking ``layer`` computes, from its own parameters.

    Hidden layers invert ``J = W / (1 - S)``, ``theta = (t_max - t_min_prev) + B sum J - (1 + sum J) b``
    (docs/method.md §3); the output layer has ``W = J`` and ``b = alpha (t_min - t_min_prev)``.

    Parameters
    ----------
    layer : SpikingLayer
    """
    kernel, win = _numpy(layer.kernel), layer.window
    if layer.output_layer:
        return kernel, _numpy(layer.alpha) * win.input_length
    j_sum = mapping.fan_in_sums(kernel)
    theta = _numpy(layer.threshold)
    w = kernel / (1.0 + j_sum)
    b = (win.length * j_sum - (theta - (win.t_max - win.t_min_prev))) / (1.0 + j_sum)
    return w, b


def _close(ours, theirs, rtol):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = max(1.0, float(np.max(np.abs(theirs), initial=0.0)))
    return ours.shape == theirs.shape and bool(np.allclose(ours, theirs, rtol=rtol, atol=rtol * scale))


def matches(spiking, relu):
    """Whether spiking layer ``spiking`` holds the parameters the mapping gives ReLU layer ``relu``.

    Parameters
    ----------
    spiking : SpikingLayer
    relu : keras.layers.Dense or keras.layers.Conv2D
    """
    w = _numpy(relu.kernel)
    b = _numpy(relu.bias) if getattr(relu, "bias", None) is not None else np.zeros(w.shape[-1])
    b = np.broadcast_to(b, tuple(spiking.alpha.shape))
    try:
        if spiking.output_layer:
            kernel, other = mapping.output_params(w, b, spiking.window)
            mine = spiking.alpha
        else:
            kernel, other = mapping.hidden_params(w, b, spiking.window)
            mine = spiking.threshold
    except ValueError:  # weight sums >= 1: not a preprocessed layer
        return False
    if spiking.weight_bits:
        kernel = mapping.quantize_weights(kernel, spiking.weight_bits, spiking.w_min, spiking.w_max)
    rtol = MATCH_RTOL.get(keras.backend.standardize_dtype(spiking.kernel.dtype), MATCH_RTOL["float32"])
    return _close(_numpy(spiking.kernel), kernel, rtol) and _close(_numpy(mine), other, rtol)


def is_twin(layers, twins):
    """Whether ``twins`` (paired by :func:`~snnmap.pipeline.evaluate.relu_twins`) are the ReLU layers that
    ``layers`` were built from."""
    return all(matches(spiking, relu) for spiking, relu in zip(layers, twins))


def _linear_stage(layer, node, kind, config):
    w, b = relu_params(layer)
    if kind == "conv":
        per_channel = b.reshape(-1, b.shape[-1])
        if np.all(per_channel == per_channel[:1]):
            b = per_channel[0]
    return Stage(kind, layer.name, node.input_shape, node.output_shape, w, b,
                 activation="linear" if layer.output_layer else "relu", config=config)


def _dense(node):
    return _linear_stage(node.layer, node, "dense", {})


def _conv(node):
    layer = node.layer
    return _linear_stage(layer, node, "conv", {"strides": tuple(layer.strides), "padding": layer.padding})


def _maxpool(node):
    layer = node.layer
    channels = node.input_shape[-1]
    signs = np.ones(channels) if layer.signs is None else np.asarray(layer.signs, np.float64)
    config = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides), "padding": layer.padding}
    return Stage("maxpool", layer.name, node.input_shape, node.output_shape, config=config, signs=signs)


def _flatten(node):
    return Stage("flatten", node.layer.name, node.input_shape, node.output_shape)


def _reshape(node):
    return Stage("reshape", node.layer.name, node.input_shape, node.output_shape,
                 config={"target_shape": node.output_shape})


#: The stage of the ReLU twin of every layer type of a spiking network.
STAGES = {
    SpikingDense: _dense,
    SpikingConv2D: _conv,
    SpikingMaxPooling2D: _maxpool,
    keras.layers.Flatten: _flatten,
    keras.layers.Reshape: _reshape,
}


def _twin_layer(node, zero):
    """``(layer, weights, zero)``: the float64 ReLU-side layer of one SNN node (None: it passes its input
    on), its weights (or None), and the value its output's time 0 stands for.

    A tensor of the SNN holds times ``t`` in some frame; the value it codes is ``zero - t``
    (docs/method.md §1, §10): 1 for the input (``t = 1 - x_hat``), ``t_max(n) - output_origin``
    for a spiking layer's output, shifted by a frame change (``Rescaling`` with scale 1).
    """
    layer, kw = node.layer, {"name": node.layer.name, "dtype": "float64"}
    if isinstance(layer, keras.layers.Rescaling):  # a change of time frame: the values stay
        if float(layer.scale) != 1.0:
            raise ValueError(f"layer '{layer.name}' (Rescaling) of the SNN scales spike times; it has no ReLU twin")
        return None, None, zero[0] + float(layer.offset)
    if isinstance(layer, (keras.layers.Concatenate, keras.layers.Cropping2D)):
        if len(set(zero)) != 1:
            raise ValueError(f"layer '{layer.name}' of the SNN joins tensors of different time frames")
        return type(layer).from_config(dict(layer.get_config(), **kw)), None, zero[0]
    if isinstance(layer, SpikeTimePadding2D):
        values = zero[0] - np.asarray(layer.t_pad, np.float64)
        if np.all(np.abs(values) <= 1e-12 * max(1.0, abs(zero[0]))):
            return keras.layers.ZeroPadding2D(layer.padding, **kw), None, zero[0]
        return ConstantPadding2D(layer.padding, values=list(np.broadcast_to(values, node.output_shape[-1:])),
                                 **kw), None, zero[0]
    make = STAGES.get(type(layer))
    if make is None:
        kind = "spiking layer" if isinstance(layer, SpikingLayer) else "layer"
        raise ValueError(f"{kind} '{layer.name}' ({type(layer).__name__}) of the SNN has no ReLU "
                         "twin: pass the preprocessed network as relu_model=")
    stage = make(node)
    act = None if stage.activation == "linear" else stage.activation
    twin, weights = BUILDERS[stage.kind](stage, act, kw)
    if isinstance(layer, SpikingLayer) and not layer.output_layer:
        return twin, weights, layer.window.t_max - layer.output_origin
    return twin, weights, zero[0]


def rebuild(snn):
    """The preprocessed ReLU network (float64, input ``x_hat``) that ``snn`` computes, from its parameters.

    Chains and graphs alike: every node of the SNN gets its ReLU-side layer, wired as in the SNN
    (one Dense/Conv2D per spiking layer, in the same topological order).

    Parameters
    ----------
    snn : keras.Model
        A spiking model from :func:`snnmap.to_snn` or a graph's.
    """
    inputs = keras.Input(shape=graph.shape_of(snn.inputs[0]), dtype="float64", name="x_hat")
    tensors, zero = {graph.INPUT: inputs}, {graph.INPUT: 1.0}
    index = graph.INPUT
    for index, node in enumerate(graph.walk(snn)):
        xs = [tensors[j] for j in node.inbound]
        twin, weights, zero[index] = _twin_layer(node, [zero[j] for j in node.inbound])
        tensors[index] = xs[0] if twin is None else twin(xs if len(xs) > 1 else xs[0])
        if weights is not None:
            twin.set_weights(weights)
    return keras.Model(inputs, tensors[index], name=snn.name + "_relu_twin")
