"""The rate-coded network simulated for T time steps, every checkpoint reported in one pass.

The simulation runs layer after layer within each time step, vectorised over a batch with
``keras.ops``.  At each checkpoint it reads the class (most output spikes, or largest summed output
current) and the counts: spikes per hidden neuron per image, synaptic events per image (every spike
that reaches a weight layer drives its fan-out, as :mod:`snnmap.pipeline.energy` counts the exact
SNN's) and multiply-accumulates (a constant input current is multiplied by the first layer's weights
once per image; every later layer only adds).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops

from . import encode, neurons
from .network import Pooling, Weights, operations
from .normalise import calibrate, scaled_weights, scales
from .settings import RateSettings


@dataclasses.dataclass
class RateNetwork:
    """A preprocessed network with the thresholds of one normalisation.

    Attributes
    ----------
    ops : list
        From :func:`snnmap.rate.network.operations`.
    params : list of (tensor, tensor)
        Normalised weights and biases of every weight operation (threshold 1), float32.
    scales : list of float
        ``lam_l`` of every weight operation, in the ReLU network's units.
    terms : list of str
        What set each scale (``activation``, ``max_weight``, ``percentile``, ...).
    settings : RateSettings
    """

    ops: list
    params: list
    scales: list
    terms: list
    settings: RateSettings

    @property
    def weights(self):
        """The weight operations, in order."""
        return [op for op in self.ops if isinstance(op, Weights)]

    @property
    def n_hidden_neurons(self) -> int:
        """Neurons of the hidden layers."""
        return int(sum(np.prod(op.output_shape) for op in self.weights if op.hidden))


def rate_network(model, settings: RateSettings, x_calib=None, calibration=None, dtype="float32"):
    """The rate-coded network of a preprocessed model under ``settings``.

    Parameters
    ----------
    model : keras.Model
        ``Preprocessed.model`` of phase 1.
    settings : RateSettings
    x_calib : ndarray, optional
        Normalised calibration images (``Preprocessed.normalize`` of training images); needed by
        the data-based normalisations unless ``calibration`` is given.
    calibration : Calibration, optional
        From :func:`snnmap.rate.normalise.calibrate`, to share one pass among variants.
    dtype : str
        Precision of the simulation.
    """
    op_list = operations(model)
    weights = [op for op in op_list if isinstance(op, Weights)]
    if calibration is None and x_calib is not None and settings.normalisation not in ("model", "firing_rate"):
        calibration = calibrate(op_list, x_calib)
    lam, terms = scales(weights, settings, calibration)
    params = [(ops.convert_to_tensor(W, dtype), ops.convert_to_tensor(b, dtype))
              for W, b in scaled_weights(weights, lam)]
    return RateNetwork(op_list, params, lam, terms, settings)


class _State:
    """The state of one batch: potentials, counts, filters, pooled counts."""

    def __init__(self, net, coder, dtype):
        self.net, self.coder, self.dtype = net, coder, dtype
        self.settings = net.settings
        self.multi = net.settings.normalisation == "firing_rate"
        self.decay = neurons.filter_decay(float(net.settings.synapse_tau))
        self.v, self.counts, self.inputs, self.filters, self.pooled = {}, {}, {}, {}, {}
        self.current = None
        self.constant = None
        self.first = next(i for i, op in enumerate(net.ops) if isinstance(op, Weights))
        if coder.constant:
            # The constant current of the first layer is computed once (one ReLU layer's MACs).
            x = coder.step()
            for op in net.ops[:self.first]:
                x = op(x)
            W, b = net.params[0]
            self.constant = net.weights[0].apply(x, W, b)

    def step(self):
        """Advance every layer by one time step."""
        x, k = (None if self.constant is not None else self.coder.step()), 0
        for index, op in enumerate(self.net.ops):
            if index < self.first and self.constant is not None:
                continue  # folded into the constant current
            if isinstance(op, Weights):
                x = self._weights(op, k, x)
                k += 1
            elif isinstance(op, Pooling):
                self.counts[("pool", index)] = self._add(("pool", index), x, self.counts)
                pooled = op(self.counts[("pool", index)])
                x = pooled - self.pooled[index] if index in self.pooled else pooled
                self.pooled[index] = pooled
            else:
                x = op(x)

    @staticmethod
    def _add(key, x, store):
        return x if key not in store else store[key] + x

    def _weights(self, op, k, x):
        if k == 0 and self.constant is not None:
            z = self.constant
        else:
            self.inputs[k] = self._add(k, x, self.inputs)
            if k > 0 and self.decay:
                x = neurons.low_pass(self.filters.get(k, ops.zeros_like(x)), x, self.decay)
                self.filters[k] = x
            W, b = self.net.params[k]
            z = op.apply(x, W, b)
        if not op.hidden and self.settings.readout == "current":
            self.current = z if self.current is None else self.current + z
            return None
        v, spikes = neurons.if_step(self.v.get(k, ops.zeros_like(z)), z, 1.0, self.settings.reset, self.multi)
        self.v[k] = v
        self.counts[k] = self._add(k, spikes, self.counts)
        return spikes

    def readout(self):
        """The predicted classes now."""
        out = self.current if self.settings.readout == "current" else self.counts[len(self.net.params) - 1]
        return ops.convert_to_numpy(ops.argmax(out, axis=-1))

    def silent(self):
        """Per image, whether no output neuron has spiked yet (the spike-count readout then only ties);
        all False with the current readout."""
        if self.settings.readout == "current":
            return np.zeros(ops.shape(self.current)[0], dtype=bool)
        out = self.counts[len(self.net.params) - 1]
        return ops.convert_to_numpy(ops.max(out, axis=-1)) <= 0

    def hidden_spikes(self):
        """Spikes of all hidden neurons so far, per image."""
        total = 0.0
        for k, op in enumerate(self.net.weights):
            if op.hidden:
                total = total + _per_image(self.counts[k])
        return total

    def events(self, fan_outs):
        """Synaptic events so far, per image: input spikes times their fan-out, summed over weight layers."""
        total = 0.0
        for k, fan in enumerate(fan_outs):
            if k in self.inputs:
                total = total + _per_image(self.inputs[k] * ops.cast(fan, self.dtype))
        return total


def _per_image(x):
    return ops.convert_to_numpy(ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=1)).astype(np.float64)


def simulate(net: RateNetwork, x_hat, batch_size=256, dtype="float32", progress=None):
    """Simulate ``net`` on normalised images for ``net.settings.T`` steps.

    Parameters
    ----------
    net : RateNetwork
    x_hat : ndarray
        Normalised images (phase 1's input, in [0, 1]).
    batch_size : int
        Images simulated together.
    dtype : str
        Precision of the simulation.
    progress : callable, optional
        Called with the number of images done after each batch.

    Returns
    -------
    dict
        ``predictions`` ``(n_checkpoints, n)`` class ids, ``hidden_spikes`` and ``events``
        ``(n_checkpoints, n)`` per image, ``macs`` per image, ``checkpoints``, and ``silent``
        ``(n_checkpoints, n)``: True where no output neuron has spiked (spike-count readout).
    """
    settings = net.settings
    marks = {t: i for i, t in enumerate(settings.checkpoints)}
    n = len(x_hat)
    preds = np.zeros((len(marks), n), dtype=np.int64)
    spikes, events = np.zeros((len(marks), n)), np.zeros((len(marks), n))
    silent = np.zeros((len(marks), n), dtype=bool)
    fan_outs = [op.fan_out() for op in net.weights]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        coder = encode.coder(settings.input, ops.convert_to_tensor(np.asarray(x_hat[start:stop]), dtype),
                             settings.seed, start)
        state = _State(net, coder, dtype)
        for t in range(1, settings.T + 1):
            state.step()
            if t in marks:
                i = marks[t]
                preds[i, start:stop] = state.readout()
                spikes[i, start:stop] = state.hidden_spikes()
                events[i, start:stop] = state.events(fan_outs)
                silent[i, start:stop] = state.silent()
        if progress is not None:
            progress(stop)
    macs = net.weights[0].macs() if settings.input == "constant" else 0
    return {"checkpoints": list(settings.checkpoints), "predictions": preds, "hidden_spikes": spikes,
            "events": events, "macs": macs, "silent": silent}


def summarise(run, net: RateNetwork, labels=None, reference=None):
    """One row per checkpoint: accuracy, agreement, spikes per neuron, synaptic events, MACs, T, and the
    fraction of images with no output spike (``no_output_spike``).

    Parameters
    ----------
    run : dict
        From :func:`simulate`.
    net : RateNetwork
    labels : ndarray, optional
        True classes (accuracy is None without them).
    reference : ndarray, optional
        The original ReLU network's predicted classes (agreement is None without them).
    """
    rows = []
    for i, T in enumerate(run["checkpoints"]):
        pred = run["predictions"][i]
        rows.append({
            "T": int(T),
            "accuracy": None if labels is None else float(np.mean(pred == np.asarray(labels))),
            "agreement": None if reference is None else float(np.mean(pred == np.asarray(reference))),
            "spikes_per_neuron": float(run["hidden_spikes"][i].mean() / max(net.n_hidden_neurons, 1)),
            "synaptic_events": float(run["events"][i].mean()),
            "macs": int(run["macs"]),
            # Images whose output layer has not spiked: their spike-count class is a tie (class 0), not a
            # decision, so an accuracy near chance there is the normalisation's low rates, not a bug.
            "no_output_spike": float(np.mean(run["silent"][i])) if "silent" in run else None,
        })
    return rows
