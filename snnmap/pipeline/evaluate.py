"""What a run reports (docs/method.md §7), measured batch by batch.

:func:`evaluate` runs the SNN on data and checks every spiking layer against an independent
oracle: the ReLU twin's own Keras layer (activation removed) applied to the decoded spike
times that the spiking layer received.  The twin is the preprocessed network when the caller
passes it, else the one rebuilt from the SNN's parameters (:mod:`.twin`).  With the user's
ORIGINAL network (or its stored logits) it also measures the headline figure,
``max_abs_error_original``: the SNN's logits against the original's pre-softmax logits.
So the per-layer figures say whether each spiking layer computes ReLU of what it gets, and
the headline whether the whole SNN computes the user's network; window violations
(docs/method.md §3 (a), (b)) are counted rather than blamed on the simulator.

Only integer counts and maxima are accumulated (:class:`Totals`), so memory does not
grow with the number of images, and results of disjoint parts of a test set combine
exactly (:func:`merge`): the merged figures equal those of one run over the whole set.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

from . import energy, graph, twin
from ..errors import InputRangeError, ShapeError
from ..layers import SpikingLayer
from ..runtime import check_input_range, num_batches, predict_on, progress, stream

ORIGINAL = "original ReLU network"
PREPROCESSED = "preprocessed ReLU network"

#: Keys of a run's counts; fractions are derived from them by :func:`summarize`.
COUNTS = ("n", "labelled", "correct_snn", "correct_relu", "correct_original", "agree", "compared")

#: The probe models of :func:`probe_model`, per network (weakly held: an SNN a sweep drops frees its probe).
PROBES = weakref.WeakKeyDictionary()


def spiking_layers(snn):
    """The spiking layers of ``snn`` in topological order.

    Parameters
    ----------
    snn : keras.Model
        A spiking model from :func:`snnmap.to_snn`.
    """
    return [node.layer for node in graph.walk(snn) if isinstance(node.layer, SpikingLayer)]


def probe_model(model, outputs, key):
    """A Keras model from ``model``'s inputs to ``outputs``, made once per ``(model, key)``.

    Its compiled predict function is traced on its first call and kept with it, so a
    second evaluation of the same network reuses the trace instead of building a new
    model and tracing the whole network again (seconds for a convolutional SNN).  The
    probe shares the network's variables, so new parameter values are seen; a probe lives
    as long as its network (:data:`PROBES` holds networks weakly).

    Parameters
    ----------
    model : keras.Model
        The network probed.
    outputs : callable
        ``outputs()`` returns the symbolic tensors the probe returns (called only when the
        probe is made).
    key : tuple
        What the probe returns, in terms that stay equal between calls (e.g. layer names).
    """
    probes = PROBES.setdefault(model, {})
    probe = probes.get(key)
    if probe is None:
        probe = probes[key] = keras.Model(model.inputs, outputs())
    return probe


def relu_twins(layers, relu_model):
    """The ReLU-network Dense/Conv2D layer of each spiking layer, paired by structure.

    The spiking layers and the Dense/Conv2D layers of the preprocessed network are taken
    in the same topological order and zipped; names play no part.  Each pair must agree in
    kernel shape and output shape.

    Parameters
    ----------
    layers : list of SpikingLayer
        From :func:`spiking_layers`.
    relu_model : keras.Model
        The preprocessed ReLU network the SNN was built from.

    Returns
    -------
    list of keras.layers.Layer
        One per spiking layer, in the same order.
    """
    linear = [node.layer for node in graph.walk(relu_model)
              if isinstance(node.layer, (keras.layers.Dense, keras.layers.Conv2D))]
    if len(linear) != len(layers):
        raise ValueError(f"relu_model has {len(linear)} Dense/Conv2D layers but the SNN has {len(layers)} spiking "
                         "layers: pass the preprocessed network the SNN was built from")
    for spiking, relu in zip(layers, linear):
        ours = (tuple(spiking.kernel.shape), tuple(spiking.output.shape[1:]))
        theirs = (tuple(relu.kernel.shape), tuple(relu.output.shape[1:]))
        if ours != theirs:
            raise ValueError(f"spiking layer '{spiking.name}' (kernel, output shape {ours}) does not match its "
                             f"ReLU twin '{relu.name}' ({theirs}): pass the preprocessed network the SNN was "
                             "built from")
    return linear


def oracle(layer):
    """A float64 copy of a ReLU-network Dense/Conv2D layer without its activation.

    It computes the pre-activation ``y = W x + b`` of the layer (``conv(x, W) + b`` for a
    convolution), the independent reference a spiking layer is checked against.

    Parameters
    ----------
    layer : keras.layers.Dense or keras.layers.Conv2D
    """
    config = dict(layer.get_config(), activation="linear", dtype="float64", name=layer.name + "_oracle")
    clone = type(layer).from_config(config)
    clone.build(layer.input.shape)
    clone.set_weights([np.asarray(w, np.float64) for w in layer.get_weights()])
    return clone


def new_totals(snn, masks=None):
    """Empty counts for ``snn``: global counts and one record per spiking layer.

    Parameters
    ----------
    snn : keras.Model
        A spiking model from :func:`snnmap.to_snn`.
    masks : dict, optional
        :func:`snnmap.pipeline.energy.neuron_inputs` of ``snn`` when the caller has it already.
    """
    totals = {key: 0 for key in COUNTS}
    totals["max_abs_error_end_to_end"] = 0.0
    totals["layers"] = {}
    layers = spiking_layers(snn)
    counts = energy.static_counts(layers, energy.neuron_inputs(snn) if masks is None else masks)
    for layer in layers:
        win = layer.window
        totals["layers"][layer.name] = {
            "output_layer": layer.output_layer, "t_min_prev": win.t_min_prev, "t_min": win.t_min,
            "t_max": win.t_max, "X_n": None if layer.output_layer else layer.X_n,
            "neurons": 0, "informative": 0, "violations_a": 0, "violations_b": 0, "max_abs_error": 0.0,
            "events_informative": 0, **counts[layer.name],
        }
    return totals


def evaluate(snn, x, y=None, relu_model=None, reference_predictions=None, input_range=None,
             batch_size=256, verbose="auto", reference_logits=None, clip=False):
    """Run ``snn`` on ``x`` and measure what docs/method.md §7 asks for.

    Parameters
    ----------
    snn : keras.Model
        Spiking model from :func:`snnmap.to_snn`.
    x : array_like, ``tf.data.Dataset`` or iterable
        Inputs in their original range ``input_range`` (not yet encoded).  Arrays and
        memory maps are read one batch at a time; a dataset yields batches ``x`` or
        ``(x, y)``.
    y : array_like of int, optional
        Labels (for array inputs); gives ``accuracy_snn``.
    relu_model : keras.Model, optional
        Either the user's ORIGINAL network (gives ``max_abs_error_original``, ``accuracy_relu``
        and the agreement) or the preprocessed one (``Preprocessed.model``), told apart by
        structure and parameters, never by names.  The per-layer exactness figures, the
        violation counts and ``accuracy_relu_preprocessed`` are measured either way (without
        the preprocessed network, against the one rebuilt from the SNN's own parameters).
    reference_predictions : array_like of int, optional
        Class predictions of the ORIGINAL ReLU network on ``x``, in order; gives
        ``agreement`` and ``accuracy_relu``.
    input_range : (float, float), optional
        ``(p, q)`` of ``x``; default: the SNN's own (``snn.input_range``), else ``(0, 1)``.  A
        value that differs from the SNN's own is refused.
    batch_size : int
    verbose : "auto", 0, 1
    reference_logits : array_like, optional
        The original network's float64 (pre-softmax) logits on ``x``, in order, as phase 1
        stores them; gives ``max_abs_error_original`` (and, without ``reference_predictions``,
        the agreement).
    clip : bool
        Clip ``x`` to ``input_range`` instead of refusing values outside it.

    Returns
    -------
    dict
        See :func:`summarize`; ``totals`` holds the counts from which everything is derived.
    """
    return summarize(accumulate(snn, x, y, relu_model, reference_predictions, input_range, batch_size, verbose,
                                reference_logits=reference_logits, clip=clip))


def resolve_input_range(snn, input_range=None):
    """The input range of an evaluation: the SNN's own, ``input_range`` if it has none, or ``(0, 1)``.

    Parameters
    ----------
    snn : keras.Model
        The SNN (its ``input_range`` attribute, if any, is the range it was built for).
    input_range : (float, float), optional
        What the caller passed.
    """
    own = getattr(snn, "input_range", None)
    given = None if input_range is None else check_input_range(input_range)
    if own is not None and given is not None and tuple(own) != given:
        raise InputRangeError(f"input_range={given} differs from the range the SNN was built for, {tuple(own)}: "
                              "leave input_range= out, or pass the SNN's")
    return tuple(own) if own is not None else given or (0.0, 1.0)


def references(snn, layers, relu_model):
    """``(twin model, kind, original logits model or None)`` for an evaluation.

    ``relu_model`` is the preprocessed network when it pairs with the spiking layers and
    holds the parameters they were built from; anything else is the user's original
    network, whose float64 pre-softmax copy is returned, the twin then being rebuilt from the
    SNN (:func:`snnmap.pipeline.twin.rebuild`).

    Parameters
    ----------
    snn : keras.Model
    layers : list of SpikingLayer
    relu_model : keras.Model or None
    """
    if relu_model is not None:
        try:
            paired = twin.is_twin(layers, relu_twins(layers, relu_model))
        except (ValueError, AttributeError):
            paired = False
        if paired:
            return relu_model, PREPROCESSED, None
        original = graph.logits_model(relu_model)
        if graph.shape_of(original.inputs[0]) != graph.shape_of(snn.inputs[0]):
            raise ShapeError(f"relu_model '{relu_model.name}' takes inputs of shape "
                             f"{graph.shape_of(original.inputs[0])}, the SNN {graph.shape_of(snn.inputs[0])}: "
                             "pass the original network the SNN was converted from, or its preprocessed one")
        return twin.rebuild(snn), "rebuilt from the SNN", original
    return twin.rebuild(snn), "rebuilt from the SNN", None


def accumulate(snn, x, y=None, relu_model=None, reference_predictions=None, input_range=None,
               batch_size=256, verbose="auto", reference_logits=None, clip=False):
    """The counts behind :func:`evaluate` (see :func:`new_totals`).

    Parameters
    ----------
    snn, x, y, relu_model, reference_predictions, input_range, batch_size, verbose, reference_logits, clip
        As :func:`evaluate`.

    Returns
    -------
    dict
        Integer counts and maxima only; :func:`summarize` derives the figures.
    """
    input_range = resolve_input_range(snn, input_range)
    layers = spiking_layers(snn)
    if not layers or not layers[-1].output_layer:
        raise ValueError("the SNN must end with a spiking output layer (output_layer=True)")
    twin_model, twin_kind, original = references(snn, layers, relu_model)
    probe = probe_model(snn, lambda: [t for layer in layers for t in (layer.input, layer.output)],
                        ("spiking",) + tuple(layer.name for layer in layers))
    run = BatchCounter(snn, layers, probe, twin_model, original, input_range)
    totals = new_totals(snn, run.masks)
    has_original = original is not None or reference_logits is not None
    totals["agreement_reference"] = ORIGINAL if reference_predictions is not None or has_original else PREPROCESSED
    totals["exactness_reference"] = ("reference logits" if reference_logits is not None else
                                     ORIGINAL if original is not None else None)
    totals["max_abs_error_original"] = 0.0 if has_original else None
    totals["relu_twin"] = twin_kind
    totals["input_range"] = [float(v) for v in input_range]
    totals["dtype"] = run.dtype
    refs = References(reference_predictions, reference_logits)
    source = stream(x, tuple(snn.inputs[0].shape[1:]), input_range, y=y, batch_size=batch_size, clip=clip)
    size = None
    for x_hat, labels in progress(source, num_batches(x, batch_size), "SNN", verbose):
        size = size or len(x_hat)
        run.count_batch(totals, x_hat, labels, refs, size)
    totals["checked"] = True
    return totals


class References:
    """What the caller gave about the original network, sliced batch by batch.

    Parameters
    ----------
    predictions : array_like or None
        The original network's predictions, one per input, in order.
    logits : array_like or None
        Its logits, ``(N, n_classes)``, compared in float64.
    """

    def __init__(self, predictions, logits):
        self.predictions = None if predictions is None else np.asarray(predictions).reshape(-1)
        self.logits = None if logits is None else np.asarray(logits, np.float64)

    def take(self, start, stop, n_classes):
        """``(predictions, logits)`` of inputs ``start:stop`` (None where not given).

        Parameters
        ----------
        start, stop : int
            The inputs' indices in the whole evaluation.
        n_classes : int
            The SNN's outputs per input (the logits must have as many columns).
        """
        pred = logits = None
        if self.predictions is not None:
            if len(self.predictions) < stop:
                raise ValueError(f"reference_predictions has {len(self.predictions)} entries, fewer than the {stop} "
                                 "inputs seen")
            pred = self.predictions[start:stop]
        if self.logits is not None:
            if self.logits.ndim != 2 or self.logits.shape[1] != n_classes or len(self.logits) < stop:
                raise ShapeError(f"reference_logits has shape {self.logits.shape}; it needs one row of {n_classes} "
                                 f"logits per input (at least {stop} rows)")
            logits = self.logits[start:stop]
        return pred, logits


class BatchCounter:
    """The probes of one evaluation and how a batch adds to its counts.

    Parameters
    ----------
    snn : keras.Model
        The SNN.
    layers : list
        Its spiking layers (:func:`spiking_layers`).
    probe : keras.Model
        Returns every spiking layer's output times.
    relu_model : keras.Model
        The preprocessed network the SNN was built from.
    original : keras.Model or None
        The original network's logits model, or None.
    input_range : (float, float)
    """

    def __init__(self, snn, layers, probe, relu_model, original, input_range):
        self.layers, self.probe, self.original, self.input_range = layers, probe, original, input_range
        self.hidden = [layer for layer in layers if not layer.output_layer]
        self.dtype = keras.backend.standardize_dtype(snn.inputs[0].dtype)
        self.eps = float(np.finfo(self.dtype).eps)
        self.masks = energy.neuron_inputs(snn)
        self.fan_outs = {layer.name: energy.fan_out(layer) * self.masks[layer.name] for layer in layers}
        twins = relu_twins(layers, relu_model)
        self.oracles = {layer.name: oracle(twin) for layer, twin in zip(layers, twins)}
        hidden_twins = [twin for layer, twin in zip(layers, twins) if not layer.output_layer]
        self.relu_probe = probe_model(relu_model, lambda: [twin.input for twin in twins]
                                      + [twin.output for twin in hidden_twins],
                                      ("relu",) + tuple(twin.name for twin in twins)
                                      + tuple(twin.name for twin in hidden_twins))

    def count_batch(self, totals, x_hat, labels, refs, size):
        """Add one batch's counts to ``totals``.

        Parameters
        ----------
        totals : dict
            From :func:`new_totals`; updated in place.
        x_hat : ndarray
            The batch, normalised to [0, 1].
        labels : ndarray or None
            Its labels (-1: unlabelled).
        refs : References
            The original network's predictions and logits.
        size : int
            The batch size the probes are called with.
        """
        b, n0 = len(x_hat), totals["n"]
        t_batch = [np.asarray(o) for o in predict_on(self.probe, 1.0 - x_hat, size)]
        logits = t_batch[-1]
        pred = np.argmax(logits, axis=-1)
        labelled = None if labels is None else labels >= 0  # unlabelled sets (PASS) use -1
        if labelled is not None:
            totals["labelled"] += int(np.sum(labelled))
            totals["correct_snn"] += int(np.sum((pred == labels) & labelled))
        compare_to, original_logits = refs.take(n0, n0 + b, logits.shape[-1])
        if self.original is not None:
            p, q = self.input_range
            ours = np.asarray(predict_on(self.original, p + x_hat * (q - p), size), np.float64)
            original_logits = ours if original_logits is None else original_logits
            totals["max_abs_error_original"] = max(totals["max_abs_error_original"],
                                                   float(np.max(np.abs(logits - ours))))
        if original_logits is not None:
            totals["max_abs_error_original"] = max(totals["max_abs_error_original"],
                                                   float(np.max(np.abs(logits - original_logits))))
            compare_to = np.argmax(original_logits, axis=-1) if compare_to is None else compare_to
        r = predict_on(self.relu_probe, x_hat, size)
        relu_inputs, relu_hidden = r[:len(self.layers)], r[len(self.layers):]
        relu_logits = np.asarray(self.oracles[self.layers[-1].name](relu_inputs[-1]))
        relu_pred = np.argmax(relu_logits, axis=-1)
        if labelled is not None:
            totals["correct_relu"] += int(np.sum((relu_pred == labels) & labelled))
        totals["max_abs_error_end_to_end"] = max(totals["max_abs_error_end_to_end"],
                                                 float(np.max(np.abs(logits - relu_logits))))
        if totals["agreement_reference"] == ORIGINAL and labelled is not None:
            totals["correct_original"] += int(np.sum((compare_to == labels) & labelled))
        compare_to = relu_pred if compare_to is None else compare_to
        totals["agree"] += int(np.sum(pred == compare_to))
        totals["compared"] += b
        for k, layer in enumerate(self.layers):
            t_in, t_out = layer.global_times(t_batch[2 * k], t_batch[2 * k + 1])
            self._count_layer(totals, layer, t_in, t_out, relu_hidden)
        totals["n"] += b

    def _count_layer(self, totals, layer, t_in, t_out, relu_hidden):
        """Add one spiking layer's counts on one batch (its global input and output times)."""
        rec = totals["layers"][layer.name]
        win = layer.window
        # Synaptic events of informative input spikes (before the end of their window).
        arrived = t_in < win.t_min - 64 * self.eps * max(1.0, abs(win.t_min))
        rec["events_informative"] += int(np.sum(arrived * self.fan_outs[layer.name]))
        if layer.output_layer:
            y_out = np.asarray(self.oracles[layer.name](win.t_min - t_in))
            rec["max_abs_error"] = max(rec["max_abs_error"], float(np.max(np.abs(t_out - y_out))))
            return
        code = win.t_max - t_out
        tol = 64 * self.eps * max(1.0, abs(win.t_max))
        rec["informative"] += int(np.sum(t_out < win.t_max - tol))
        rec["neurons"] += int(t_out.size)
        y_pre = np.asarray(self.oracles[layer.name](win.t_min - t_in))
        beyond = y_pre > win.length  # (a): activation beyond the window
        early = (t_out < win.t_min - tol) & ~beyond  # (b): crossed while inputs arrive
        rec["violations_a"] += int(np.sum(beyond))
        rec["violations_b"] += int(np.sum(early))
        ok = ~(beyond | early)
        if np.any(ok):
            rec["max_abs_error"] = max(rec["max_abs_error"], float(np.max(np.abs(code - np.maximum(y_pre, 0.0))[ok])))
        relu_act = relu_hidden[self.hidden.index(layer)]
        totals["max_abs_error_end_to_end"] = max(totals["max_abs_error_end_to_end"],
                                                 float(np.max(np.abs(code - relu_act))))


def summarize(totals):
    """The metrics of docs/method.md §7 from counts (see :func:`accumulate`).

    Returns a dict with ``n_test``, ``accuracy_snn``, ``accuracy_relu_preprocessed``,
    ``agreement``, ``max_abs_error`` (largest ``|(t_max - t) - ReLU(y)|`` over hidden neurons
    without a window violation, and ``|readout - y|`` of the output layer),
    ``max_abs_error_end_to_end`` (against the ReLU twin run on the same images),
    ``max_abs_error_original`` (the SNN's logits against the ORIGINAL network's pre-softmax
    logits, the headline figure; None when :func:`evaluate` had neither it nor its logits),
    ``violations`` = ``violations_a`` + ``violations_b``, ``latency``,
    ``spikes_per_neuron``, ``informative_spike_fraction``, ``n_hidden_neurons``, ``layers``
    and ``totals``.
    """
    n = totals["n"]
    recs = totals["layers"]
    hidden = {k: r for k, r in recs.items() if not r["output_layer"]}
    neurons = sum(r["neurons"] for r in hidden.values())
    checked = totals.get("checked", False)

    def ratio(a, b):
        return a / b if b else None

    result = {
        "n_test": n,
        "accuracy_snn": ratio(totals["correct_snn"], totals["labelled"]),
        "accuracy_relu": ratio(totals["correct_original"], totals["labelled"])
        if totals.get("agreement_reference") == ORIGINAL else None,
        # The headline exactness: the SNN's logits against the user's own network (None without it).
        "max_abs_error_original": totals.get("max_abs_error_original"),
        "exactness_reference": totals.get("exactness_reference"),
        "relu_twin": totals.get("relu_twin"),
        "accuracy_relu_preprocessed": ratio(totals["correct_relu"], totals["labelled"]) if checked else None,
        "n_labelled": totals["labelled"],
        "agreement": ratio(totals["agree"], totals["compared"]),
        "agreement_reference": totals.get("agreement_reference"),
        "latency": next(r["t_min"] for r in recs.values() if r["output_layer"]),
        "n_hidden_neurons": neurons // n if n else 0,
        # Every hidden neuron fires exactly once, by construction of the dynamics.
        "spikes_per_neuron": 1.0,
        "informative_spike_fraction": ratio(sum(r["informative"] for r in hidden.values()), neurons),
        "dtype": totals.get("dtype"),
        "input_range": totals.get("input_range"),
    }
    if checked:
        result["max_abs_error"] = max(r["max_abs_error"] for r in recs.values())
        result["max_abs_error_end_to_end"] = totals["max_abs_error_end_to_end"]
        result["violations_a"] = sum(r["violations_a"] for r in hidden.values())
        result["violations_b"] = sum(r["violations_b"] for r in hidden.values())
        result["violations"] = result["violations_a"] + result["violations_b"]
    result["layers"] = []
    for name, r in recs.items():
        entry = {"name": name, "output_layer": r["output_layer"], "t_min_prev": r["t_min_prev"],
                 "t_min": r["t_min"], "t_max": r["t_max"]}
        if not r["output_layer"]:
            entry.update(X_n=r["X_n"], neurons=r["neurons"] // n if n else 0,
                         informative_spike_fraction=ratio(r["informative"], r["neurons"]))
        if checked:
            entry["max_abs_error"] = r["max_abs_error"]
            if not r["output_layer"]:
                entry.update(violations_a=r["violations_a"], violations_b=r["violations_b"])
        result["layers"].append(entry)
    result["operations"] = energy.operations(totals)
    result["totals"] = totals
    return result


def merge(totals_list):
    """Combine the counts of runs on DISJOINT parts of a test set (same SNN and settings).

    Sums counts and takes maxima, so ``summarize(merge(parts))`` equals the figures of one
    run over all the parts.

    Parameters
    ----------
    totals_list : iterable of dict
        Outputs of :func:`accumulate`.
    """
    totals_list = list(totals_list)
    if not totals_list:
        raise ValueError("nothing to merge")
    first = totals_list[0]
    out = {key: sum(t.get(key, 0) for t in totals_list) for key in COUNTS}
    out["max_abs_error_end_to_end"] = max(t["max_abs_error_end_to_end"] for t in totals_list)
    for key in ("agreement_reference", "input_range", "dtype", "checked", "exactness_reference", "relu_twin"):
        values = {str(t.get(key)) for t in totals_list}
        if len(values) != 1:
            raise ValueError(f"cannot merge runs with different {key}: {sorted(values)}")
        out[key] = first.get(key)
    originals = [t.get("max_abs_error_original") for t in totals_list]
    if any(v is None for v in originals) and not all(v is None for v in originals):
        raise ValueError("cannot merge runs measured against the original network with runs that were not")
    out["max_abs_error_original"] = None if originals[0] is None else max(originals)
    out["layers"] = {}
    for name, rec in first["layers"].items():
        recs = [t["layers"].get(name) for t in totals_list]
        if any(r is None for r in recs):
            raise ValueError(f"cannot merge runs of different networks (layer {name!r} missing)")
        for key in ("t_min", "t_max", "X_n"):
            if len({r[key] for r in recs}) != 1:
                raise ValueError(f"cannot merge runs with different windows (layer {name!r}, {key})")
        merged = dict(rec)
        for key in ("neurons", "informative", "violations_a", "violations_b", "events_informative"):
            merged[key] = sum(r[key] for r in recs)
        merged["max_abs_error"] = max(r["max_abs_error"] for r in recs)
        out["layers"][name] = merged
    return out
