"""Per-layer thresholds of a rate-coded network: the normalisations of the seed converters.

A layer of IF neurons with threshold ``lam`` (in the ReLU network's units) fires at the rate
``a / lam`` of its activation ``a``, up to one spike a step.  Normalising layer ``l`` by ``lam_l``
means weights ``W_l * lam_{l-1} / lam_l`` and bias ``b_l / lam_l`` with threshold 1: each spike of
the layer below carries ``lam_{l-1}`` and the bias is divided by the layer's OWN factor ``lam_l``
(dividing it by the previous layer's is a classic mistake).  ``lam_0 = 1``: the input is in [0, 1].

* ``model`` (Diehl et al. 2015, model-based): ``lam_l`` is the largest activation the weights allow,
  ``max_i sum_j max(W_ij, 0) lam_{l-1} + max(b_i, 0)``: no neuron can ever need more than one spike a
  step, at the price of low rates.
* ``data`` (Diehl, data-based): the largest activation on calibration data, or the max-weight term
  ``max(W) lam_{l-1}`` when larger (one input spike then never asks for more than one output spike).
* ``percentile`` (Rueckauer et al. 2017, robust): that percentile of the layer's positive calibration
  activations; the few larger ones saturate at one spike a step.
* ``fraction`` (SpikingJelly's scale mode): a fraction of the largest calibration activation.
* ``firing_rate`` (NengoDL's ``scale_firing_rates``): ``lam_l = 1 / firing_rate_scale`` in every
  layer, and neurons may fire several spikes in one step.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops

from ..errors import RateSettingsError
from .network import Weights, relu_forward
from .settings import RateSettings


#: Positive activations kept per layer per calibration batch for a percentile (a seeded sample above it).
MAX_VALUES_PER_BATCH = 200_000


@dataclasses.dataclass
class Calibration:
    """Activations of every weight layer of the ReLU network on calibration images.

    Attributes
    ----------
    maxima : list of float
        Largest activation (ReLU output; positive logit for the output layer) per weight layer.
    positives : list of ndarray
        Positive activations per weight layer (sampled, see :data:`MAX_VALUES_PER_BATCH`).
    n_images : int
    """

    maxima: list
    positives: list
    n_images: int

    def percentile(self, q):
        """The ``q``-th percentile of each layer's positive activations (0 for a silent layer)."""
        return [float(np.percentile(v, q)) if v.size else 0.0 for v in self.positives]


def calibrate(ops_list, x_hat, batch_size=256, seed=0, dtype="float64"):
    """Run the ReLU network on calibration images and keep each weight layer's activations.

    Parameters
    ----------
    ops_list : list
        From :func:`snnmap.rate.network.operations`.
    x_hat : ndarray
        Normalised calibration images.
    batch_size : int
    seed : int
        Seed of the sample of positive activations kept for percentiles.
    dtype : str
        Precision of the pass.
    """
    n_layers = sum(isinstance(op, Weights) for op in ops_list)
    if len(x_hat) == 0:
        raise RateSettingsError("x_hat holds no calibration images")
    maxima, positives = [0.0] * n_layers, [[] for _ in range(n_layers)]
    rng = np.random.default_rng(seed)

    def keep(k, a):
        values = ops.convert_to_numpy(a).ravel()
        maxima[k] = max(maxima[k], float(values.max()))
        values = values[values > 0]
        if values.size > MAX_VALUES_PER_BATCH:
            values = rng.choice(values, MAX_VALUES_PER_BATCH, replace=False)
        positives[k].append(values)

    for start in range(0, len(x_hat), batch_size):
        relu_forward(ops_list, ops.convert_to_tensor(np.asarray(x_hat[start:start + batch_size]), dtype), keep)
    return Calibration(maxima, [np.concatenate(v) for v in positives], len(x_hat))


def model_bounds(weights):
    """Diehl's model-based scales: the largest activation each layer's weights allow on inputs in [0, 1].

    Parameters
    ----------
    weights : list of Weights
    """
    out, previous = [], 1.0
    for op in weights:
        positive = np.maximum(op.W, 0.0).reshape(-1, op.W.shape[-1]).sum(axis=0)
        bias = np.maximum(op.b, 0.0).reshape(-1, op.W.shape[-1]).max(axis=0)
        previous = float(np.max(positive * previous + bias))
        out.append(previous)
    return out


def scales(weights, settings: RateSettings, calibration: Calibration | None = None):
    """The scale ``lam_l`` of every weight layer, and which term set it.

    Parameters
    ----------
    weights : list of Weights
        The weight operations, in order.
    settings : RateSettings
    calibration : Calibration, optional
        Needed by every normalisation but ``model`` and ``firing_rate``.

    Returns
    -------
    (list of float, list of str)
    """
    how = settings.normalisation
    if how == "model":
        return model_bounds(weights), ["weights"] * len(weights)
    if how == "firing_rate":
        return [1.0 / float(settings.firing_rate_scale)] * len(weights), ["firing_rate_scale"] * len(weights)
    if calibration is None:
        raise RateSettingsError(f"normalisation '{how}' needs calibration activations (calibration)")
    if how == "percentile":
        return _nonzero(calibration.percentile(settings.percentile)), ["percentile"] * len(weights)
    if how == "fraction":
        return _nonzero([settings.fraction * m for m in calibration.maxima]), ["fraction"] * len(weights)
    out, terms, previous = [], [], 1.0
    for op, act in zip(weights, calibration.maxima):
        weight_term = max(float(op.W.max()), 0.0) * previous
        previous = max(act, weight_term)
        out.append(previous)
        terms.append("activation" if act >= weight_term else "max_weight")
    return _nonzero(out), terms


def _nonzero(values):
    # A layer silent on all calibration data gets threshold 1: it cannot fire for those images anyway.
    return [v if v > 0 else 1.0 for v in values]


def scaled_weights(weights, lam):
    """``(W_l lam_{l-1} / lam_l, b_l / lam_l)`` of every weight layer: threshold 1 everywhere.

    Parameters
    ----------
    weights : list of Weights
    lam : list of float
        From :func:`scales`.
    """
    out, previous = [], 1.0
    for op, scale in zip(weights, lam):
        out.append((op.W * (previous / scale), op.b / scale))
        previous = scale
    return out
