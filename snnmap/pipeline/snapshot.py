"""A snapshot of one SNN run for pictures: spike times, windows, ReLU oracle, potential traces.

:func:`take_snapshot` runs a few images through a spiking model and keeps, for every
spiking layer (docs/method.md §1-3), the spike times it received and emitted, its window and,
given the preprocessed ReLU network, the pre-activation ``y`` that the layer's own ReLU
twin computes from the decoded inputs (:func:`snnmap.pipeline.evaluate.oracle`).  For a few
neurons of one hidden layer it also keeps the EXACT membrane potential of docs/method.md §2,

    V_i(t) = alpha_i (t - t_min(n-1)) + sum_j J_ij max(0, t - t_j),     t >= t_min(n-1),

on a time grid that contains every breakpoint (input arrival) and the spike time, so that
a straight-line plot of the samples IS the potential (it is piecewise linear).

A snapshot is a flat ``dict`` of NumPy arrays (numbers and unicode strings only): it is
saved with ``np.savez_compressed`` and loads with ``allow_pickle=False``.  Keys:

* ``layer_names`` (L,) str: the spiking layers in order;
* ``t_input``: the network's input spike times (global) of the first images;
* ``t_in/<name>``, ``t_out/<name>``: input and output spike times of the first images
  (for the output layer ``t_out`` is the readout potential, the logits);
* ``window/<name>``: ``[t_min_prev, t_min, t_max]``; ``output_layer/<name>``: 0-d bool;
* ``y/<name>`` (with ``relu_model``): ReLU pre-activation of the same inputs;
* ``meta/...``: ``n_images`` (and ``n_images_requested``), ``input_range``, ``dtype``, ``model_name``, ``noise``,
  ``alpha_noise``, ``time_bits``, ``weight_bits``, ``zeta`` (of the trace layer, or the
  first hidden layer);
* ``trace/...`` (if the model has a hidden layer): ``layer`` (0-d str), ``image``,
  ``t`` (T,), ``V`` (k, T), ``theta`` (k,), ``alpha`` (k,), ``spike`` (k,) (the layer's own
  output spike times), ``crossing`` (k,) (first ``t`` with ``V(t) >= theta`` on the exact
  trace, ``t_max`` if none), ``neurons`` (k,) flat neuron indices, ``neuron_shape``,
  ``window``, ``noisy`` (bool) and ``note`` (str).

Spike-time jitter (``noise > 0``) is drawn afresh at every call of a layer.  The snapshot
replays the draw of its own probe run for the trace (it restores the layer's noise-seed
state), so the trace and the reported spike come from the same jittered inputs; it is one
draw, and ``trace/note`` says so.  The model's noise-seed states are restored afterwards,
so taking a snapshot does not change what later calls of the SNN draw.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from .. import storage
from .evaluate import oracle, relu_twins, spiking_layers
from ..runtime import check_shape, normalise, predict_on

#: Samples of the regular part of a trace's time grid (breakpoints are added to it).
TRACE_GRID = 1500


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _seed_states(layers):
    return {layer.name: layer.noise_state() for layer in layers if layer.noisy}


def _restore(layers, states):
    for layer in layers:
        if layer.name in states:
            layer.set_noise_state(states[layer.name])


def _pick_layer(layers, trace_layer):
    hidden = [layer for layer in layers if not layer.output_layer]
    if trace_layer is None:
        return hidden[0] if hidden else None
    if isinstance(trace_layer, (int, np.integer)):
        layer = layers[int(trace_layer)]
    else:
        by_name = {layer.name: layer for layer in layers}
        if trace_layer not in by_name:
            raise ValueError(f"trace_layer {trace_layer!r} is not a spiking layer; choose one of {list(by_name)}")
        layer = by_name[trace_layer]
    if layer.output_layer:
        raise ValueError(f"trace_layer {layer.name!r} is the output layer, which does not spike; "
                         "choose a hidden spiking layer")
    return layer


def pick_neurons(spikes, window, k, tol=None):
    """A deterministic mix of ``k`` neurons (flat indices) from one image's spike times.

    Neurons that fire before ``t_max`` (informative spikes) are taken at evenly spaced
    ranks of their spike times, so early and late ones both appear; about a third (at
    least one, if any exists) are neurons that do not reach threshold and fire at
    ``t_max``; a neuron that fired before ``t_min`` (an early crossing, docs/method.md §3 (b))
    is included when there is one.

    Parameters
    ----------
    spikes : array_like
        One image's output spike times of the layer.
    window : (float, float, float)
        ``(t_min_prev, t_min, t_max)`` of the layer.
    k : int
        How many neurons.
    tol : float, optional
        Distance from ``t_max`` below which a spike counts as informative.
    """
    spikes = np.asarray(spikes, np.float64).ravel()
    t_min, t_max = float(window[1]), float(window[2])
    tol = 1e-9 * max(1.0, abs(t_max)) if tol is None else tol
    k = int(min(max(k, 1), spikes.size))
    firing = np.flatnonzero(spikes < t_max - tol)
    silent = np.flatnonzero(spikes >= t_max - tol)
    n_silent = min(len(silent), max(1, k // 3)) if len(silent) else 0
    n_fire = min(len(firing), k - n_silent)
    n_silent = min(len(silent), k - n_fire)

    def spread(indices, n):
        if n <= 0:
            return np.zeros(0, np.int64)
        picks = np.unique(np.round(np.linspace(0, len(indices) - 1, n)).astype(np.int64))
        return indices[picks]

    by_time = firing[np.argsort(spikes[firing], kind="stable")]
    chosen = list(spread(by_time, n_fire))
    early = firing[spikes[firing] < t_min - tol]
    if len(early) and not np.any(np.isin(chosen, early)) and chosen:
        chosen[0] = int(early[np.argmin(spikes[early])])
    chosen += list(spread(silent, n_silent))
    return np.asarray(sorted(set(int(c) for c in chosen)), np.int64)


def potential(t, t0, alpha, times, weights):
    """Exact ``V(t) = alpha (t - t0) + sum_j J_j max(0, t - t_j)`` at the times ``t`` (1-D).

    Sorted inputs and prefix sums: O((T + R) log R) for T times and R inputs.

    Parameters
    ----------
    t : array_like
        Times at which to evaluate ``V``.
    t0 : float
        ``t_min(n-1)``, where the constant current ``alpha`` starts.
    alpha : float
    times, weights : array_like
        Input spike times ``t_j`` and their weights ``J_j``.
    """
    t = np.asarray(t, np.float64)
    order = np.argsort(times, kind="stable")
    ts, js = np.asarray(times, np.float64)[order], np.asarray(weights, np.float64)[order]
    cum_j = np.concatenate([[0.0], np.cumsum(js)])
    cum_jt = np.concatenate([[0.0], np.cumsum(js * ts)])
    arrived = np.searchsorted(ts, t, side="right")
    return alpha * (t - t0) + t * cum_j[arrived] - cum_jt[arrived]


def first_crossing(t0, t_max, alpha, theta, times, weights):
    """First ``t`` in ``[t0, t_max]`` with ``V(t) >= theta`` on the exact trace, else ``t_max``.

    Parameters
    ----------
    t0, t_max : float
        The interval searched.
    alpha, theta : float
        The neuron's constant current and threshold.
    times, weights : array_like
        Input spike times ``t_j`` and weights ``J_j`` (see :func:`potential`).
    """
    inside = np.asarray(times, np.float64)
    bps = np.unique(np.concatenate([[t0], inside[(inside > t0) & (inside < t_max)], [t_max]]))
    v = potential(bps, t0, alpha, times, weights)
    hit = np.flatnonzero(v >= theta)
    if not len(hit):
        return float(t_max)
    k = int(hit[0])
    if k == 0:
        return float(t0)
    # V is linear on [bps[k-1], bps[k]]: solve for the crossing.
    v0, v1 = v[k - 1], v[k]
    return float(bps[k - 1] + (theta - v0) * (bps[k] - bps[k - 1]) / (v1 - v0))


def _trace(layer, t_in_all, t_out_all, image, k, states_before, states_after):
    """The exact potential traces of ``k`` neurons of ``layer`` on image ``image``."""
    win = layer.window
    t0, t_min, t_max = win.t_min_prev, win.t_min, win.t_max
    noisy = layer.noisy
    # Replay the probe run's jitter: same seed state, same input batch.
    if noisy:
        _restore([layer], states_before)
    dtype = layer.compute_dtype
    t_rec = layer.perturb(keras.ops.convert_to_tensor(np.asarray(t_in_all), dtype=dtype))
    if noisy:
        _restore([layer], states_after)
    t_rec = keras.ops.take(t_rec, [image], axis=0)
    u = layer.local_inputs(t_rec)
    spikes = np.asarray(t_out_all[image], np.float64).ravel()
    neurons = pick_neurons(spikes, (t0, t_min, t_max), k)
    fields, weights = layer.receptive_fields(u, layer.kernel, keras.ops.convert_to_tensor(neurons, "int32"))
    fields = _np(fields).astype(np.float64) + t_min  # local -> absolute times
    weights = _np(weights).astype(np.float64)
    alpha = _np(layer.alpha).astype(np.float64).ravel()[neurons]
    theta = _np(layer.threshold).astype(np.float64).ravel()[neurons]

    spike = spikes[neurons]
    crossing = np.array([first_crossing(t0, t_max, a, th, f, w)
                         for a, th, f, w in zip(alpha, theta, fields, weights)])
    arrivals = fields[(fields > t0) & (fields < t_max)]
    grid = np.unique(np.concatenate([np.linspace(t0, t_max, TRACE_GRID), arrivals, [t0, t_min, t_max]]))
    # The spikes are grid points; other points within rounding distance of one are dropped, so
    # that the sample before a spike is really before it (V < theta there).
    eps = 1e-12 * max(1.0, abs(t_max))
    near = np.any(np.abs(grid[:, None] - spike[None, :]) <= eps, axis=1)
    grid = np.unique(np.concatenate([grid[~near], spike]))
    grid = grid[(grid >= t0) & (grid <= t_max)]
    v = np.stack([potential(grid, t0, a, f, w) for a, f, w in zip(alpha, fields, weights)])
    note = ("noise-free inputs" if not noisy else
            f"ONE draw of the input jitter (noise={layer.noise:g}), the draw of this snapshot's run")
    if layer.time_bits:
        note += f"; input times quantised to {layer.time_bits} bits"
    return {
        "trace/layer": np.asarray(layer.name),
        "trace/image": np.asarray(int(image)),
        "trace/t": grid,
        "trace/V": v,
        "trace/theta": theta,
        "trace/alpha": alpha,
        "trace/spike": spike,
        "trace/crossing": crossing,
        "trace/neurons": neurons,
        "trace/neuron_shape": np.asarray(tuple(int(d) for d in layer.alpha.shape), np.int64),
        "trace/window": np.asarray([t0, t_min, t_max], np.float64),
        "trace/noisy": np.asarray(bool(noisy)),
        "trace/note": np.asarray(note),
    }


def _layer_entries(layers, t_batch, relu_model):
    """``t_in``, ``t_out``, ``window``, ``output_layer`` (and ``y``) entries of every spiking layer."""
    snap = {}
    for k, layer in enumerate(layers):
        win = layer.window
        snap[f"t_in/{layer.name}"], snap[f"t_out/{layer.name}"] = layer.global_times(t_batch[2 * k],
                                                                                     t_batch[2 * k + 1])
        snap[f"window/{layer.name}"] = np.asarray([win.t_min_prev, win.t_min, win.t_max], np.float64)
        snap[f"output_layer/{layer.name}"] = np.asarray(bool(layer.output_layer))
    if relu_model is not None:
        for layer, twin in zip(layers, relu_twins(layers, relu_model)):
            decoded = layer.window.t_min - snap[f"t_in/{layer.name}"]
            snap[f"y/{layer.name}"] = _np(oracle(twin)(decoded)).astype(np.float64)
    return snap


#: Default bound on the spike times a snapshot keeps (bytes); big networks get fewer images.
MAX_BYTES = 256 << 20


def images_that_fit(snn, n_images, with_y=True, max_bytes=MAX_BYTES):
    """How many of ``n_images`` fit in ``max_bytes`` of float64 ``t_input``, ``t_in``/``t_out``(/``y``)
    arrays (at least 1).

    Parameters
    ----------
    snn : keras.Model
    n_images : int
    with_y : bool
        Whether the ReLU oracle's ``y`` arrays are kept too.
    max_bytes : int
    """
    per_image = 8 * int(np.prod(snn.inputs[0].shape[1:]))  # t_input
    for layer in spiking_layers(snn):
        size_in = int(np.prod(layer.input.shape[1:]))
        size_out = int(np.prod(layer.output.shape[1:]))
        per_image += 8 * (size_in + size_out * (2 if with_y else 1))
    return max(1, min(int(n_images), int(max_bytes) // max(per_image, 1)))


def take_snapshot(snn, x, input_range=(0.0, 1.0), relu_model=None, n_images=16, trace_layer=None,
                  trace_neurons=6, image=0, max_bytes=MAX_BYTES, clip=False):
    """Spike times, windows, the ReLU oracle and exact potential traces of a few images.

    Parameters
    ----------
    snn : keras.Model
        Spiking model from :func:`snnmap.to_snn`.
    x : array_like
        Inputs in their original range ``input_range`` (not encoded); the first
        ``n_images`` are used.
    input_range : (float, float)
    relu_model : keras.Model, optional
        The preprocessed ReLU network the SNN was built from: gives ``y/<name>``.
    n_images : int
    trace_layer : str or int, optional
        Hidden spiking layer (name or index among the spiking layers) whose potential is
        traced; default the first hidden layer.
    trace_neurons : int
        Number of traced neurons (see :func:`pick_neurons`).
    image : int
        Image (among the first ``n_images``) of the traces.
    max_bytes : int
        Bound on the spike-time arrays kept: fewer images are taken when ``n_images``
        would need more (``meta/n_images_requested`` records the request).  Some 300 MB
        per image for VGG16 on 224 x 224 inputs (so: 1 image), 21 KB for 784-600-10.
    clip : bool
        Clip ``x`` to ``input_range`` instead of refusing values outside it.

    Returns
    -------
    dict of str -> numpy.ndarray
        See the module docstring.
    """
    layers = spiking_layers(snn)
    if not layers:
        raise ValueError("the model has no spiking layer")
    requested = int(n_images)
    n_images = images_that_fit(snn, requested, relu_model is not None, max_bytes)
    if int(image) >= n_images:
        raise ValueError(f"image {image} is not among the {n_images} images the snapshot keeps "
                         f"(n_images={requested}, max_bytes={max_bytes})")
    x = np.asarray(x[:n_images])
    if not len(x):
        raise ValueError("take_snapshot needs at least one image")
    if not 0 <= int(image) < len(x):
        raise ValueError(f"image {image} is not among the {len(x)} images of the snapshot")
    shape = tuple(snn.inputs[0].shape[1:])
    check_shape(x, shape)
    dtype = keras.backend.standardize_dtype(snn.inputs[0].dtype)
    t_input = (1.0 - normalise(x, input_range, clip=clip)).astype(dtype)

    outputs = []
    for layer in layers:
        outputs += [layer.input, layer.output]
    probe = keras.Model(snn.inputs, outputs)
    states = _seed_states(layers)
    try:
        t_batch = [np.asarray(o) for o in predict_on(probe, t_input)]
        after = _seed_states(layers)
        snap = {
            "layer_names": np.asarray([layer.name for layer in layers]),
            "meta/n_images": np.asarray(len(x)),
            "meta/n_images_requested": np.asarray(requested),
            "meta/input_range": np.asarray([float(v) for v in input_range]),
            "meta/dtype": np.asarray(dtype),
            "meta/model_name": np.asarray(str(snn.name)),
            # the network's input spikes: a first layer may read them padded (a graph's explicit padding)
            "t_input": np.asarray(t_input, np.float64),
        }
        first = next((layer for layer in layers if not layer.output_layer), layers[0])
        for key in ("noise", "alpha_noise", "zeta", "time_bits", "weight_bits"):
            snap[f"meta/{key}"] = np.asarray(getattr(first, key))
        snap.update(_layer_entries(layers, t_batch, relu_model))
        traced = _pick_layer(layers, trace_layer)
        if traced is not None:
            k = layers.index(traced)
            snap.update(_trace(traced, t_batch[2 * k], snap[f"t_out/{traced.name}"], int(image),
                               int(trace_neurons), states, after))
    finally:
        _restore(layers, states)
    return snap


def save_snapshot(path, snap):
    """Write ``snap`` to ``path`` (``.npz``, compressed), atomically; returns ``path``.

    Parameters
    ----------
    path : str or os.PathLike
    snap : dict of str -> array_like
        Numbers, booleans and unicode strings only.
    """
    arrays = {}
    for key, value in snap.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufcU":
            raise TypeError(f"snapshot entry {key!r} has dtype {arr.dtype}: only numbers, booleans and "
                            "unicode strings can be saved without pickling")
        arrays[key] = arr
    path = os.fspath(path)
    with storage.atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path


def load_snapshot(path):
    """The dict saved by :func:`save_snapshot` (read with ``allow_pickle=False``).

    Parameters
    ----------
    path : str or os.PathLike
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def hidden_layer_names(snap):
    """Names of the hidden (spiking, non-output) layers of a snapshot, in order.

    Parameters
    ----------
    snap : dict
        From :func:`take_snapshot` or :func:`load_snapshot`.
    """
    return [str(n) for n in snap["layer_names"] if not bool(snap[f"output_layer/{n}"])]
