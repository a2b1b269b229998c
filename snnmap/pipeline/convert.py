"""Phase 2: build the spiking network from a preprocessed ReLU network (docs/method.md §3, §5)."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from . import build, energy, evaluate, graph
from ..core import mapping
from ..errors import InexactConversionError, UnsupportedLayerError
from ..layers import (BiasMapConv2D, SignedMaxPooling2D, SpikeTimePadding2D, SpikingConv2D, SpikingDense,
                      SpikingMaxPooling2D, SpikingModel)
from ..runtime import check_input_range, derive_seed, stream
from .dag_convert import graph_snn
from .dag_plan import graph_windows
from .preprocess import DEFAULT_LOWER_B, DEFAULT_UPPER_B, Preprocessed, PreprocessedGraph, preprocess

#: Images of the calibration data on which :func:`convert` checks the SNN against the original model.
CHECK_IMAGES = 32

#: Large networks are checked on fewer images (at least 2): as many as this many multiply-accumulates
#: of the ReLU network allow (about three images of VGG16 at 224x224, whose SNN runs eagerly there).
CHECK_MACS = 5e10

#: Largest ``|SNN logits - original logits|`` :func:`convert` accepts, relative to the logits' scale
#: ``max(1, max |original logits|)``, per SNN dtype.
CHECK_TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


def encode(x, input_range=(0.0, 1.0), clip=False):
    """Input spike times (time-to-first-spike code of docs/method.md §1), float64.

    ``t = 1 - (x - p) / (q - p)``: the largest value spikes first, at 0; the smallest at 1.

    Parameters
    ----------
    x : array_like
        Inputs in ``input_range``.
    input_range : (float, float)
        ``(p, q)`` with ``q > p``; values outside it are refused.
    clip : bool
        Clip ``x`` to ``input_range`` instead of refusing values outside it.
    """
    return mapping.encode(x, input_range, clip=clip)


def to_snn(pre: Preprocessed, zeta=mapping.DEFAULT_ZETA, noise=0.0, alpha_noise=0.0, seed=0,
           dtype="float64", solver="auto", time_bits=0, weight_bits=0, w_min=None, w_max=None,
           x_quantile=1.0, local_times=True):
    """The spiking twin of a preprocessed ReLU network.

    Parameters
    ----------
    pre : Preprocessed
        Output of :func:`snnmap.preprocess` (or :meth:`Preprocessed.load`); a
        :class:`~snnmap.pipeline.preprocess.PreprocessedGraph` gives the SNN of a graph (one
        spiking layer per population, every source in its local frame, docs/method.md §10).
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
    if isinstance(pre, PreprocessedGraph):  # every source in its own frame already (method §10)
        x_n = pre.x_n_of_sources(x_quantile)
        original = pre.report.get("original_model") or pre.original.name
        return graph_snn(pre.folded, graph_windows(pre.folded, x_n, zeta), x_n, zeta=zeta, noise=noise,
                         alpha_noise=alpha_noise, seed=seed, dtype=dtype, solver=solver, input_range=pre.input_range,
                         name=original + "_snn", time_bits=time_bits, weight_bits=weight_bits, w_min=w_min,
                         w_max=w_max)
    x_n = pre.window_scales(x_quantile)
    relu = pre.model
    inputs = keras.Input(shape=relu.inputs[0].shape[1:], dtype=dtype, name="spike_times")
    try:
        windows = mapping.windows(x_n, zeta)
    except ValueError as err:
        names = ", ".join(f"{k + 1}: '{name}'" for k, name in enumerate(pre.hidden_layer_names))
        raise ValueError(f"{err} (hidden layers {names})") from err
    state = _Conversion(x_n, windows, seed, alpha_noise, local_times,
                        dict(zeta=zeta, noise=noise, dtype=dtype, solver=solver, time_bits=time_bits,
                             weight_bits=weight_bits, w_min=w_min, w_max=w_max))
    x = inputs
    for node in graph.walk(relu):
        x = _converter_for(node.layer)(state, node.layer, x)
    if state.hidden != len(pre.X_n):
        raise ValueError(f"the preprocessed model has {state.hidden} hidden layers but {len(pre.X_n)} X_n values")
    # The report names the original model; a hand-made Preprocessed may lack it.
    original = pre.report.get("original_model") or relu.name.replace("_preprocessed", "")
    return SpikingModel(inputs, x, name=original + "_snn", input_range=pre.input_range)


def retune(snn, noise=None, alpha_noise=None, seed=None, time_bits=None):
    """Give an SNN of :func:`to_snn` other perturbation knobs in place, as if built with them.

    Its compiled functions (and :func:`snnmap.evaluate`'s probes of it) keep working: the knobs
    are read from weights, so the points of a sweep over noise, alpha noise, trials or time bits
    share one trace instead of tracing a new SNN each (docs/solver.md, "Tracing").  Each layer's
    seed is derived from ``seed`` as :func:`to_snn` derives it; the jitter's draws restart.

    Parameters
    ----------
    snn : SpikingModel
        Built by :func:`to_snn` in this process (a loaded SNN has no record of its layers' seeds).
    noise, alpha_noise, seed, time_bits
        As :func:`to_snn`; None keeps a knob.  Jitter and time quantisation cannot be switched on
        or off (``noise > 0``, ``time_bits > 0`` shape the computation), and ``alpha_noise`` or,
        with it, ``seed`` change only in float64 SNNs: :class:`ValueError` otherwise.

    Returns
    -------
    SpikingModel
        ``snn``, retuned.
    """
    layers = evaluate.spiking_layers(snn)
    missing = [layer.name for layer in layers if getattr(layer, "seed_slot", None) is None]
    if missing:
        raise ValueError(f"cannot retune {snn.name!r}: layers {missing} were not made by snnmap.to_snn in this "
                         "process (no record of their seeds); build the SNN with to_snn")
    for layer in layers:  # all checked before any changes: a refused retune leaves the SNN as it was
        layer.retune(noise, alpha_noise, None if seed is None else derive_seed(seed, layer.seed_slot), time_bits,
                     check_only=True)
    for layer in layers:
        layer.retune(noise, alpha_noise, None if seed is None else derive_seed(seed, layer.seed_slot), time_bits)
    return snn


class _Conversion:
    """What :func:`to_snn` carries from layer to layer: windows, seeds and the time frame."""

    def __init__(self, x_n, windows, seed, alpha_noise, local_times, common):
        self.x_n, self.windows, self.seed = x_n, windows, seed
        self.alpha_noise, self.local_times, self.common = alpha_noise, local_times, common
        self.hidden = 0  # hidden layers converted so far
        self.origin = 0.0  # the frame of the spike times x holds: encode() gives global times

    @property
    def dtype(self):
        return self.common["dtype"]


def _linear_kwargs(state, layer):
    """Keyword arguments of the spiking twin of a Dense/Conv2D layer."""
    hidden = build.is_hidden(layer)
    win = state.windows[state.hidden] if hidden else state.windows[-1]
    kwargs = dict(t_min_prev=win.t_min_prev, t_min=win.t_min, seed=derive_seed(state.seed, state.hidden),
                  name=layer.name, input_origin=state.origin, **state.common)
    if hidden:
        kwargs.update(X_n=state.x_n[state.hidden], alpha_noise=state.alpha_noise)
    else:
        kwargs.update(output_layer=True)
    if state.local_times and hidden:
        kwargs.update(output_origin=win.t_max)
    return kwargs


def _spiking_linear(state, layer, x, spiking):
    """Call the spiking twin on ``x`` and give it the ReLU layer's weights."""
    w, b = (np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in (layer.kernel, layer.bias))
    x = spiking(x)
    spiking.set_relu_params(w, b)
    spiking.seed_slot = state.hidden  # its seed is derive_seed(run seed, slot): retune() reseeds it
    state.origin = spiking.output_origin
    state.hidden += int(build.is_hidden(layer))
    return x


def _convert_dense(state, layer, x):
    return _spiking_linear(state, layer, x, SpikingDense(layer.units, **_linear_kwargs(state, layer)))


def _convert_conv(state, layer, x):
    spiking = SpikingConv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                            **_linear_kwargs(state, layer))
    return _spiking_linear(state, layer, x, spiking)


def _convert_maxpool(state, layer, x):
    return SpikingMaxPooling2D(signs=getattr(layer, "signs", None), pool_size=layer.pool_size, strides=layer.strides,
                               padding=layer.padding, name=layer.name, dtype=state.dtype)(x)


def _convert_zeropad(state, layer, x):
    # Padded positions code 0: they spike at the end of their window, which is the
    # start of the window of the spiking layer that reads them.
    return SpikeTimePadding2D(layer.padding, t_pad=state.windows[state.hidden].t_min - state.origin,
                              name=layer.name, dtype=state.dtype)(x)


def _convert_reshaping(state, layer, x):
    return type(layer).from_config(dict(layer.get_config(), dtype=state.dtype))(x)


#: The spiking counterpart of every layer type of a preprocessed network.
CONVERTERS = {
    keras.layers.Dense: _convert_dense,
    keras.layers.Conv2D: _convert_conv,
    BiasMapConv2D: _convert_conv,
    keras.layers.MaxPooling2D: _convert_maxpool,
    SignedMaxPooling2D: _convert_maxpool,
    keras.layers.ZeroPadding2D: _convert_zeropad,
    keras.layers.Flatten: _convert_reshaping,
    keras.layers.Reshape: _convert_reshaping,
}


def _converter_for(layer):
    # The exact class: a subclass of a preprocessed layer type may compute something else.
    if type(layer) in CONVERTERS:
        return CONVERTERS[type(layer)]
    raise UnsupportedLayerError(layer, "not a layer of a preprocessed network; run snnmap.preprocess first")


def convert(model, x_calib, input_range=(0.0, 1.0), upper_b=DEFAULT_UPPER_B, lower_b=DEFAULT_LOWER_B,
            zeta=mapping.DEFAULT_ZETA, noise=0.0, alpha_noise=0.0, seed=0, dtype="float64", batch_size=256,
            verbose="auto", clip=False):
    """Both phases at once: :func:`snnmap.preprocess` then :func:`to_snn`, checked end to end.

    A network that is not a chain (residual ``Add``, ``Concatenate``, branches) goes the same way,
    through :class:`~snnmap.pipeline.preprocess.PreprocessedGraph` (docs/method.md §10).

    Before it is returned, the SNN is run on the first :data:`CHECK_IMAGES` calibration images
    (fewer for large networks, :func:`check_images`)
    and its logits compared with the ORIGINAL model's pre-softmax logits (float64); a
    difference above :data:`CHECK_TOLERANCE` (relative to the logits' scale) raises
    :class:`~snnmap.errors.InexactConversionError` instead (with ``noise`` or ``alpha_noise``
    the SNN is not meant to be exact, and the check is skipped).

    Parameters
    ----------
    model, x_calib, input_range, upper_b, lower_b, batch_size, verbose, clip
        As :func:`snnmap.preprocess`.
    zeta, noise, alpha_noise, seed, dtype
        As :func:`to_snn`.

    Returns
    -------
    SpikingModel
        Feed it ``encode(x, input_range)``; it returns the logits.
    """
    pre = preprocess(model, x_calib, input_range=input_range, upper_b=upper_b, lower_b=lower_b,
                     batch_size=batch_size, verbose=verbose, clip=clip)
    snn = to_snn(pre, zeta=zeta, noise=noise, alpha_noise=alpha_noise, seed=seed, dtype=dtype)
    if not noise and not alpha_noise:
        check_end_to_end(snn, model, pre, x_calib, clip=clip)
    return snn


def _eager(model, x, dtype):
    """``model(x)`` run eagerly in ``dtype``: a few images need no compiled predict function."""
    out = model(keras.ops.convert_to_tensor(np.asarray(x), dtype=dtype), training=False)
    return np.asarray(keras.ops.convert_to_numpy(out), np.float64)


def check_images(snn, n_images=CHECK_IMAGES, macs=CHECK_MACS):
    """How many images :func:`check_end_to_end` runs: ``n_images``, or fewer for large networks
    (as many as ``macs`` multiply-accumulates of the ReLU network allow), at least 2.

    Parameters
    ----------
    snn : SpikingModel
    n_images : int
        The most images.
    macs : float
        The budget, in multiply-accumulates of the ReLU network.
    """
    per_image = sum(energy.relu_macs(layer) for layer in evaluate.spiking_layers(snn))
    return int(min(n_images, max(2, macs // max(per_image, 1))))


def check_end_to_end(snn, model, pre, x, n_images=None, clip=False):
    """Refuse ``snn`` unless it reproduces ``model``'s pre-softmax logits on the first images of ``x``.

    Parameters
    ----------
    snn : SpikingModel
        The converted network.
    model : keras.Model
        The user's original network.
    pre : Preprocessed
        Phase 1 of ``model``, to tell which layer is at fault.
    x : array_like, ``tf.data.Dataset`` or iterable
        Inputs in ``pre.input_range`` (the calibration data); a one-shot iterable that phase 1
        has used up leaves nothing to check, which is warned about.
    n_images : int, optional
        How many images to check (default: :func:`check_images`).
    clip : bool
        Clip ``x`` to the input range first.

    Raises
    ------
    InexactConversionError
        Naming the worst spiking layer if the SNN's layers disagree with their ReLU twins, else
        the model (phase 1 computed another function than the model's, e.g. a layer that is not
        what it claims to be).
    """
    p, q = check_input_range(pre.input_range)
    n_images = check_images(snn) if n_images is None else n_images
    x_hat = next(iter(stream(x, tuple(snn.inputs[0].shape[1:]), (p, q), batch_size=n_images, clip=clip)), (None,))[0]
    if x_hat is None or not len(x_hat):
        warnings.warn("snnmap.convert: the calibration data could not be read a second time (a one-shot "
                      "iterable?), so the SNN was not checked against the original model", stacklevel=3)
        return
    raw = p + x_hat * (q - p)
    dtype = keras.backend.standardize_dtype(snn.inputs[0].dtype)
    reference = _eager(graph.logits_model(model), raw, "float64")
    logits = _eager(snn, 1.0 - x_hat, dtype)
    scale = max(1.0, float(np.max(np.abs(reference))))
    error = float(np.max(np.abs(logits - reference)))
    tolerance = CHECK_TOLERANCE.get(dtype, CHECK_TOLERANCE["float32"]) * scale
    if error <= tolerance:
        return
    layers = evaluate.evaluate(snn, raw, relu_model=pre.model, input_range=(p, q), verbose=0)["layers"]
    worst = max(layers, key=lambda r: r["max_abs_error"])
    where = (f"its layer '{worst['name']}' differs from its ReLU twin by {worst['max_abs_error']:.3g}"
             if worst["max_abs_error"] > tolerance else
             f"its layers match the preprocessed network, so phase 1 computed another function than model "
             f"'{model.name}': one of its layers does not compute what its type says")
    raise InexactConversionError(
        f"the SNN of '{model.name}' does not reproduce the model's logits: max |SNN - model| = {error:.3g} on "
        f"{len(x_hat)} calibration images (tolerance {tolerance:.3g}); {where}. The SNN is not returned",
        worst["name"] if worst["max_abs_error"] > tolerance else None)
