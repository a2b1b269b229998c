"""How an image enters a rate-coded network: a constant current or seeded Poisson (Bernoulli) spikes.

Both take the normalised image ``x_hat`` in [0, 1] (phase 1's input) and give the input of one
time step.  The Poisson coder fires each pixel with probability ``x_hat`` every step, so its
rate is the pixel value; its random numbers come from ``seed`` and the first image's index, so a
run reproduces exactly with the same seed and batch size.
"""

from __future__ import annotations

import keras
from keras import ops

from ..errors import RateSettingsError

#: The input coders, by the name of :data:`snnmap.rate.settings.INPUTS`.
CODERS = {}


def register(name):
    """Register an input coder class under ``name``."""
    def wrap(cls):
        CODERS[name] = cls
        return cls
    return wrap


@register("constant")
class ConstantInput:
    """The normalised image itself, every step (the analog input current).

    Parameters
    ----------
    x_hat : tensor
        ``(batch, ...)`` in [0, 1].
    seed, start : int
        Unused (the same signature as :class:`PoissonInput`).
    """

    constant = True

    def __init__(self, x_hat, seed=0, start=0):
        self.x_hat = x_hat

    def step(self):
        """The input of the next time step."""
        return self.x_hat


@register("poisson")
class PoissonInput:
    """Bernoulli spikes: pixel ``i`` fires in a step with probability ``x_hat[i]``.

    Parameters
    ----------
    x_hat : tensor
        ``(batch, ...)`` in [0, 1].
    seed : int
        The run's seed.
    start : int
        Index of the batch's first image: each batch draws its own reproducible stream.
    """

    constant = False

    def __init__(self, x_hat, seed=0, start=0):
        self.x_hat = x_hat
        # A large odd multiplier keeps the streams of (seed, batch) pairs apart.
        self.generator = keras.random.SeedGenerator(int(seed) * 1_000_003 + int(start))

    def step(self):
        """The input spikes of the next time step."""
        u = keras.random.uniform(ops.shape(self.x_hat), dtype=self.x_hat.dtype, seed=self.generator)
        return ops.cast(u < self.x_hat, self.x_hat.dtype)


def coder(name, x_hat, seed=0, start=0):
    """The input coder ``name`` for a batch.

    Parameters
    ----------
    name : str
        A key of :data:`CODERS`.
    x_hat : tensor
        The normalised batch.
    seed, start : int
        See :class:`PoissonInput`.
    """
    if name not in CODERS:
        raise RateSettingsError(f"input must be one of {', '.join(CODERS)}; got {name!r}")
    return CODERS[name](x_hat, seed, start)
