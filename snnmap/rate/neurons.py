"""Integrate-and-fire neurons of a rate-coded network, as pure functions of tensors.

A neuron adds its input current to its potential ``v`` each time step and fires when ``v``
reaches its threshold.  With reset by subtraction the threshold is taken off ``v`` and the rest
carries over, so with a constant current ``I <= threshold`` it fires ``floor(I T / threshold)``
times in ``T`` steps: its rate is the ReLU activation divided by the threshold, up to one spike.
Reset to zero drops the rest and fires less.  ``multi`` lets a neuron fire several spikes in one
step (NengoDL's spiking ReLU), so its rate is not capped at one spike a step.
"""

from __future__ import annotations

import math

from keras import ops

from ..errors import RateSettingsError


def if_step(v, current, threshold=1.0, reset="subtract", multi=False):
    """One time step of integrate-and-fire neurons.

    Parameters
    ----------
    v : tensor
        Membrane potentials.
    current : tensor
        Input current of this step (broadcast against ``v``).
    threshold : float
        The firing threshold (> 0).
    reset : {"subtract", "zero"}
        Reset by subtraction of the threshold, or to zero.
    multi : bool
        Fire ``floor(v / threshold)`` spikes in one step instead of at most one.

    Returns
    -------
    (tensor, tensor)
        The new potentials and the spikes (counts) of this step.
    """
    v = v + current
    if multi:
        spikes = ops.maximum(ops.floor(v / threshold), 0.0)
    else:
        spikes = ops.cast(v >= threshold, v.dtype)
    if reset == "subtract":
        v = v - spikes * threshold
    elif reset == "zero":
        v = ops.where(spikes > 0, ops.zeros_like(v), v)
    else:
        raise RateSettingsError(f"reset must be 'subtract' or 'zero'; got {reset!r}")
    return v, spikes


def filter_decay(tau):
    """The per-step decay of a first-order low-pass filter of time constant ``tau`` steps (0: none).

    Parameters
    ----------
    tau : float
        Time constant in steps, >= 0.
    """
    if tau < 0:
        raise RateSettingsError(f"the filter's time constant tau must be >= 0; got {tau}")
    return math.exp(-1.0 / tau) if tau > 0 else 0.0


def low_pass(state, x, decay):
    """One step of a first-order low-pass filter: ``decay * state + (1 - decay) * x``.

    Its steady state is the mean of ``x``, so a filtered spike train keeps its rate.

    Parameters
    ----------
    state : tensor
        The filter's output at the previous step.
    x : tensor
        This step's input (spikes).
    decay : float
        From :func:`filter_decay`; 0 passes ``x`` through.
    """
    return x if decay == 0.0 else decay * state + (1.0 - decay) * x
