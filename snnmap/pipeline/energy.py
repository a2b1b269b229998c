"""Operation counts and energy estimates (docs/method.md §8).

* ReLU network: multiply-accumulates per image, Dense ``n_in * n_out``, Conv2D
  ``H_out * W_out * C_out * k_h * k_w * C_in``, counting non-zero weights only (a graph's
  stacked kernels hold zeros where a source has no synapse).
* SNN: synaptic events per image = the sum over the spikes that reach a spiking layer of
  the number of its synapses each spike drives (its fan-out: for a convolution, every
  output position and channel whose kernel covers the input).  Every neuron fires once,
  so this is the number of synapses; spikes at the end of their window code 0 and
  hardware with a global end-of-window event can skip them, so the events of
  *informative* spikes (before the window's end) are counted too, per image.  Padding
  inside a convolution adds no spikes.

Energies are operations times an energy per operation, which are inputs, never hidden
constants; :data:`DEFAULT_ENERGY` holds a common reference.  The result is an estimate
of arithmetic energy only (no memory access, no data movement, no leakage).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from . import graph
from ..layers import SpikeTimePadding2D, SpikingConv2D, SpikingDense, SpikingLayer, SpikingMaxPooling2D, same_padding

#: Per-operation energies (pJ) and where they come from.
DEFAULT_ENERGY = {
    "mac_pj": 4.6,
    "add_pj": 0.9,
    "source": "Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014: "
              "45 nm CMOS, 32-bit float, multiply 3.7 pJ + add 0.9 pJ = 4.6 pJ per multiply-accumulate, "
              "0.9 pJ per add",
    "counts": "arithmetic only: ReLU network = multiply-accumulates x mac_pj; SNN = synaptic events "
              "(one accumulate each) x add_pj; memory access, data movement and leakage are not counted",
}


@dataclasses.dataclass(frozen=True)
class LayerCounter:
    """Operation counts of one spiking layer type.

    Attributes
    ----------
    relu_macs : callable
        ``relu_macs(layer) -> int``: multiply-accumulates per image of the ReLU layer the
        spiking layer stands for.
    fan_out : callable
        ``fan_out(layer) -> ndarray``: synapses driven by each input neuron, shaped like
        one input.
    """

    relu_macs: object
    fan_out: object


#: The counter of every spiking layer type (see :func:`register_layer`).
COUNTERS = {}


def register_layer(layer_class, relu_macs, fan_out):
    """Count the operations of ``layer_class`` (and its subclasses) with these functions.

    Parameters
    ----------
    layer_class : type
        A spiking layer class.
    relu_macs, fan_out : callable
        See :class:`LayerCounter`.
    """
    COUNTERS[layer_class] = LayerCounter(relu_macs, fan_out)


def _counter(layer, what):
    for cls in type(layer).__mro__:
        if cls in COUNTERS:
            return COUNTERS[cls]
    raise TypeError(f"no {what} for {type(layer).__name__}")


def relu_macs(layer) -> int:
    """Multiply-accumulates per image of the ReLU layer a spiking layer stands for.

    Parameters
    ----------
    layer : SpikingLayer
    """
    return int(_counter(layer, "operation count").relu_macs(layer))


def fan_out(layer) -> np.ndarray:
    """Synapses driven by each input neuron of a spiking layer, shaped like one input.

    Parameters
    ----------
    layer : SpikingLayer
    """
    return _counter(layer, "fan-out").fan_out(layer)


def _nonzero(layer):
    """Which weights exist: a zero weight is no synapse (and no multiply-accumulate).  Graphs stack
    their sources' kernels into one, with zeros where a source has no synapse (docs/method.md §10)."""
    return np.asarray(layer.kernel) != 0


def _dense_macs(layer):
    return int(_nonzero(layer).sum())


def _dense_fan_out(layer):
    return _nonzero(layer).sum(axis=1).astype(np.int64)


def _conv_macs(layer):
    h_out, w_out, _ = (int(d) for d in layer.alpha.shape)
    return h_out * w_out * int(_nonzero(layer).sum())


def _conv_fan_out(layer):
    """Per input position and channel: the synapses to output positions whose kernel window covers it."""
    h, w, c_in = (int(d) for d in layer.input.shape[1:])
    h_out, w_out, _ = (int(d) for d in layer.alpha.shape)
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    if layer.padding == "same":
        (top, _), (left, _) = same_padding(h, kh, sh), same_padding(w, kw, sw)
    else:
        top = left = 0
    synapses = _nonzero(layer).sum(axis=3)  # per tap and input channel
    out = np.zeros((h, w, c_in), dtype=np.int64)
    for dy in range(kh):
        rows = np.arange(h_out) * sh + dy - top
        rows = rows[(rows >= 0) & (rows < h)]
        for dx in range(kw):
            cols = np.arange(w_out) * sw + dx - left
            cols = cols[(cols >= 0) & (cols < w)]
            out[np.ix_(rows, cols)] += synapses[dy, dx]
    return out


register_layer(SpikingDense, _dense_macs, _dense_fan_out)
register_layer(SpikingConv2D, _conv_macs, _conv_fan_out)


def neuron_inputs(snn):
    """Per spiking layer: which of its inputs carry a neuron's (or the input's) spike, and which are padding.

    Padding (``SpikeTimePadding2D``) stands for the value 0 at a fixed time; no neuron fires it,
    so it drives no synaptic event.  The mask follows the SNN's graph from the input:
    padding adds zeros, a spiking layer's or a pool's outputs are neurons' spikes, and the
    reshaping layers (Flatten, Reshape, Cropping2D, Concatenate) move the mask as they move times.

    Parameters
    ----------
    snn : keras.Model

    Returns
    -------
    dict
        Spiking layer name -> boolean array shaped like one input of it.
    """
    real, masks = {graph.INPUT: np.ones(graph.shape_of(snn.inputs[0]), bool)}, {}
    for index, node in enumerate(graph.walk(snn)):
        layer, ins = node.layer, [real[j] for j in node.inbound]
        if isinstance(layer, SpikingLayer):
            masks[layer.name] = ins[0]
            real[index] = np.ones(node.output_shape, bool)
        elif isinstance(layer, SpikingMaxPooling2D):
            real[index] = np.ones(node.output_shape, bool)
        elif isinstance(layer, SpikeTimePadding2D):
            real[index] = np.pad(ins[0], tuple(map(tuple, layer.padding)) + ((0, 0),))
        elif isinstance(layer, keras.layers.Rescaling):  # a change of time frame
            real[index] = ins[0]
        else:
            out = layer([x[None].astype("float32") for x in ins] if len(ins) > 1 else ins[0][None].astype("float32"))
            real[index] = np.asarray(out)[0] > 0.5
    return masks


def static_counts(layers, masks=None):
    """Per spiking layer: ReLU MACs and SNN synaptic events per image (every spike, padding excluded).

    Parameters
    ----------
    layers : list of SpikingLayer
    masks : dict, optional
        :func:`neuron_inputs` of the SNN (default: every input is a neuron's spike).
    """
    masks = masks or {}
    return {layer.name: {"relu_macs": relu_macs(layer),
                         "snn_events": int((fan_out(layer) * masks.get(layer.name, 1)).sum())}
            for layer in layers}


def operations(totals):
    """Per-layer and total operation counts per image from an evaluation's counts.

    Parameters
    ----------
    totals : dict
        From :func:`snnmap.pipeline.evaluate.accumulate` (or ``merge``).
    """
    n = max(int(totals["n"]), 1)
    rows, relu_total, events_total, informative_total = [], 0, 0, 0.0
    for name, rec in totals["layers"].items():
        if "relu_macs" not in rec:
            return None
        informative = rec.get("events_informative", 0) / n
        rows.append({"name": name, "relu_macs": rec["relu_macs"], "snn_events": rec["snn_events"],
                     "snn_events_informative": informative})
        relu_total += rec["relu_macs"]
        events_total += rec["snn_events"]
        informative_total += informative
    return {"per_image": True, "layers": rows, "relu_macs": relu_total, "snn_events": events_total,
            "snn_events_informative": informative_total}


def estimate(ops, mac_pj=DEFAULT_ENERGY["mac_pj"], add_pj=DEFAULT_ENERGY["add_pj"], source=None):
    """Energy per image (pJ) of the ReLU network and of the SNN, from :func:`operations`.

    Parameters
    ----------
    ops : dict
        Output of :func:`operations`.
    mac_pj, add_pj : float
        Energy of one multiply-accumulate (ReLU network) and of one accumulate (a synaptic
        event of the SNN), in picojoules.
    source : str, optional
        Where the energies come from (default: that of :data:`DEFAULT_ENERGY` when the
        defaults are used).
    """
    if mac_pj < 0 or add_pj < 0:
        raise ValueError("energies per operation must be >= 0")
    if source is None:
        default = mac_pj == DEFAULT_ENERGY["mac_pj"] and add_pj == DEFAULT_ENERGY["add_pj"]
        source = DEFAULT_ENERGY["source"] if default else "user-supplied per-operation energies"
    relu = ops["relu_macs"] * mac_pj
    snn = ops["snn_events"] * add_pj
    informative = ops["snn_events_informative"] * add_pj
    return {
        "estimate": True,
        "mac_pj": mac_pj,
        "add_pj": add_pj,
        "source": source,
        "counts": DEFAULT_ENERGY["counts"],
        "relu_pj_per_image": relu,
        "snn_pj_per_image": snn,
        "snn_informative_pj_per_image": informative,
        "snn_over_relu": snn / relu if relu else None,
        "snn_informative_over_relu": informative / relu if relu else None,
    }
