"""What a run reports (MAPPING §7), measured batch by batch.

:func:`evaluate` runs the SNN on data and, when it is given the preprocessed ReLU network,
checks every spiking layer against an independent oracle: the ReLU network's own Keras
layer (activation removed) applied to the decoded spike times that the spiking layer
received.  So the exactness figure says whether each spiking layer computes ReLU of what
it gets, and window violations (MAPPING §3 (a), (b)) are counted rather than blamed on
the simulator.  Memory does not grow with the number of images.
"""

from __future__ import annotations

import keras
import numpy as np

from .layers import SpikingLayer
from .runtime import float_inputs, predict_batches


def _oracle(layer):
    """A copy of a ReLU-network Dense/Conv2D layer without its activation (the pre-activation ``y``)."""
    config = dict(layer.get_config(), activation="linear", dtype="float64", name=layer.name + "_oracle")
    clone = type(layer).from_config(config)
    clone.build(layer.input.shape)
    clone.set_weights([np.asarray(w, np.float64) for w in layer.get_weights()])
    return clone


class _Accumulator:
    """Running maxima and counts of one spiking layer."""

    def __init__(self, layer):
        self.layer = layer
        self.max_error = 0.0
        self.violations_a = 0
        self.violations_b = 0
        self.informative = 0
        self.neurons = 0


def spiking_layers(snn):
    return [layer for layer in snn.layers if isinstance(layer, SpikingLayer)]


def evaluate(snn, x, y=None, relu_model=None, reference_predictions=None, input_range=(0.0, 1.0),
             batch_size=256, verbose="auto"):
    """Run ``snn`` on ``x`` and measure what MAPPING §7 asks for.

    Parameters
    ----------
    snn : keras.Model
        Spiking model from :func:`snnmap.to_snn`.
    x : array_like
        Inputs in their original range ``input_range`` (not yet encoded).
    y : array_like of int, optional
        Labels; gives ``accuracy_snn`` (and ``accuracy_relu_preprocessed``).
    relu_model : keras.Model, optional
        The preprocessed ReLU network (``Preprocessed.model``); gives the exactness figures
        and the violation counts.
    reference_predictions : array_like of int, optional
        Class predictions of the ORIGINAL ReLU network on ``x``; gives ``agreement``.
        Without it, agreement is measured against ``relu_model``.
    input_range : (float, float)
    batch_size : int
    verbose : "auto", 0, 1

    Returns
    -------
    dict
        ``n_test``, ``accuracy_snn``, ``agreement``, ``latency``, ``spikes_per_neuron``,
        ``informative_spike_fraction``, ``n_hidden_neurons`` and, with ``relu_model``:
        ``max_abs_error`` (largest ``|(t_max - t) - ReLU(y)|`` over hidden neurons without
        a window violation, and ``|readout - y|`` of the output layer),
        ``max_abs_error_end_to_end`` (spike codes and logits against the ReLU network run
        on the same images), ``violations`` (total), ``violations_a``, ``violations_b`` and
        ``layers`` (the same per layer).
    """
    layers = spiking_layers(snn)
    if not layers or not layers[-1].output_layer:
        raise ValueError("the SNN must end with a spiking output layer (output_layer=True)")
    hidden = [layer for layer in layers if not layer.output_layer]
    out_layer = layers[-1]
    x_hat = float_inputs(x, snn.inputs[0].shape[1:], input_range)
    p, q = (float(v) for v in input_range)
    dtype = keras.backend.standardize_dtype(snn.inputs[0].dtype)
    eps = float(np.finfo(dtype).eps)

    probe_outputs = [snn.inputs[0]]
    for layer in layers:
        probe_outputs += [layer.input, layer.output]
    probe = keras.Model(snn.inputs, probe_outputs[1:])

    oracles, relu_probe = {}, None
    if relu_model is not None:
        by_name = {layer.name: layer for layer in relu_model.layers}
        missing = [layer.name for layer in layers if layer.name not in by_name]
        if missing:
            raise ValueError(f"relu_model has no layer named {missing}: pass the preprocessed network the SNN was built from")
        oracles = {layer.name: _oracle(by_name[layer.name]) for layer in layers}
        relu_probe = keras.Model(relu_model.inputs, [by_name[layer.name].input for layer in layers]
                                 + [by_name[h.name].output for h in hidden])

    acc = {layer.name: _Accumulator(layer) for layer in layers}
    n = 0
    correct_snn = correct_relu = agree = 0
    e2e = 0.0
    ref = None if reference_predictions is None else np.asarray(reference_predictions).reshape(-1)
    labels = None if y is None else np.asarray(y).reshape(-1)
    for x_hat_batch, t_batch in zip(_chunks(x_hat, batch_size),
                                    _chunks_spikes(x_hat, batch_size, dtype, probe, verbose)):
        b = len(x_hat_batch)
        logits = t_batch[-1]
        pred = np.argmax(logits, axis=-1)
        sl = slice(n, n + b)
        if labels is not None:
            correct_snn += int(np.sum(pred == labels[sl]))
        if relu_probe is not None:
            r = relu_probe.predict_on_batch(x_hat_batch)
            relu_inputs, relu_hidden = r[:len(layers)], r[len(layers):]
            relu_logits = np.asarray(oracles[out_layer.name](relu_inputs[-1]))
            relu_pred = np.argmax(relu_logits, axis=-1)
            if labels is not None:
                correct_relu += int(np.sum(relu_pred == labels[sl]))
            if ref is None:
                agree += int(np.sum(pred == relu_pred))
            e2e = max(e2e, float(np.max(np.abs(logits - relu_logits))))
        if ref is not None:
            agree += int(np.sum(pred == ref[sl]))
        for k, layer in enumerate(layers):
            t_in, t_out = t_batch[2 * k], t_batch[2 * k + 1]
            a = acc[layer.name]
            win = layer.window
            if layer.output_layer:
                if oracles:
                    y_out = np.asarray(oracles[layer.name](win.t_min - t_in))
                    a.max_error = max(a.max_error, float(np.max(np.abs(t_out - y_out))))
                continue
            code = win.t_max - t_out
            tol = 64 * eps * max(1.0, abs(win.t_max))
            a.informative += int(np.sum(t_out < win.t_max - tol))
            a.neurons += int(t_out.size)
            if oracles:
                y_pre = np.asarray(oracles[layer.name](win.t_min - t_in))
                beyond = y_pre > win.length  # (a): activation beyond the window
                early = (t_out < win.t_min - tol) & ~beyond  # (b): crossed while inputs arrive
                a.violations_a += int(np.sum(beyond))
                a.violations_b += int(np.sum(early))
                ok = ~(beyond | early)
                if np.any(ok):
                    a.max_error = max(a.max_error, float(np.max(np.abs(code - np.maximum(y_pre, 0.0))[ok])))
                relu_act = relu_hidden[hidden.index(layer)]
                e2e = max(e2e, float(np.max(np.abs(code - relu_act))))
        n += b

    if ref is not None and len(ref) < n:
        raise ValueError(f"reference_predictions has {len(ref)} entries for {n} inputs")
    neurons = sum(a.neurons for a in acc.values())
    result = {
        "n_test": n,
        "accuracy_snn": correct_snn / n if labels is not None else None,
        "agreement": agree / n if (ref is not None or relu_probe is not None) else None,
        "agreement_reference": "original ReLU network" if ref is not None else (
            "preprocessed ReLU network" if relu_probe is not None else None),
        "latency": out_layer.window.t_min,
        "n_hidden_neurons": neurons // max(n, 1),
        "spikes_per_neuron": 1.0,
        "informative_spike_fraction": sum(a.informative for a in acc.values()) / max(neurons, 1),
        "dtype": dtype,
        "input_range": [p, q],
    }
    if relu_probe is not None:
        result["accuracy_relu_preprocessed"] = correct_relu / n if labels is not None else None
        result["max_abs_error"] = max(a.max_error for a in acc.values())
        result["max_abs_error_end_to_end"] = e2e
        result["violations_a"] = sum(a.violations_a for a in acc.values())
        result["violations_b"] = sum(a.violations_b for a in acc.values())
        result["violations"] = result["violations_a"] + result["violations_b"]
    result["layers"] = [
        {
            "name": layer.name,
            "output_layer": layer.output_layer,
            "t_min_prev": layer.window.t_min_prev,
            "t_min": layer.window.t_min,
            "t_max": layer.window.t_max,
            **({} if layer.output_layer else {
                "X_n": layer.X_n,
                "neurons": acc[layer.name].neurons // max(n, 1),
                "informative_spike_fraction": acc[layer.name].informative / max(acc[layer.name].neurons, 1),
            }),
            **({} if relu_probe is None else {
                "max_abs_error": acc[layer.name].max_error,
                **({} if layer.output_layer else {
                    "violations_a": acc[layer.name].violations_a,
                    "violations_b": acc[layer.name].violations_b,
                }),
            }),
        }
        for layer in layers
    ]
    return result


def _chunks(x, batch_size):
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]


def _chunks_spikes(x_hat, batch_size, dtype, probe, verbose):
    """Probe outputs (inputs and outputs of every spiking layer) batch by batch."""
    for out in predict_batches(_Encoder(probe), x_hat, batch_size=batch_size, verbose=verbose,
                               desc="SNN"):
        yield [np.asarray(o) for o in out]


class _Encoder:
    """Adapter: ``predict_on_batch`` on normalised inputs encodes them first (t = 1 - x_hat)."""

    def __init__(self, model):
        self.model = model
        self.inputs = model.inputs
        self.name = model.name

    def predict_on_batch(self, x_hat):
        return self.model.predict_on_batch(1.0 - x_hat)
