"""The typed, validated settings of a rate-coded simulation (one variant of the comparison)."""

from __future__ import annotations

import dataclasses
import math

from ..errors import RateSettingsError

#: How each layer's threshold is chosen (:mod:`snnmap.rate.normalise`).
NORMALISATIONS = ("model", "data", "percentile", "fraction", "firing_rate")
#: How an image enters the network (:mod:`snnmap.rate.encode`).
INPUTS = ("constant", "poisson")
#: What a neuron's potential becomes after a spike (:mod:`snnmap.rate.neurons`).
RESETS = ("subtract", "zero")
#: How the class is read from the output layer (:mod:`snnmap.rate.simulate`).
READOUTS = ("spikes", "current")
#: The checkpoints reported by default: T = 4, 8, ..., 256.
DEFAULT_CHECKPOINTS = tuple(range(4, 257, 4))


def _choice(name, value, allowed):
    if value not in allowed:
        raise RateSettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def checkpoints_of(value):
    """A sorted tuple of distinct positive step counts, or a clear error.

    Parameters
    ----------
    value : int or sequence of int
        The time steps at which a simulation reports (its last one is its length T).
    """
    values = [value] if isinstance(value, (int, float)) else list(value)
    if not values:
        raise RateSettingsError("checkpoints must name at least one number of time steps T; got none")
    out = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            number = math.nan  # refused below, with the value as given
        if isinstance(v, bool) or not number.is_integer() or int(number) <= 0:
            raise RateSettingsError(f"checkpoints must be positive integers (numbers of time steps T); got {v!r}")
        out.append(int(number))
    return tuple(sorted(set(out)))


@dataclasses.dataclass(frozen=True)
class RateSettings:
    """One rate-coded variant: normalisation, input coding, reset, readout, filter, length.

    Attributes
    ----------
    normalisation : str
        One of :data:`NORMALISATIONS`: ``model`` (Diehl's bound from the weights), ``data`` (the largest
        calibration activation, or Diehl's max-weight term when larger), ``percentile`` (that percentile
        of the positive calibration activations), ``fraction`` (``fraction`` times the largest activation),
        ``firing_rate`` (NengoDL-style: every threshold ``1 / firing_rate_scale``, several spikes a step).
    percentile : float
        In (0, 100]; used by ``percentile`` (99.9 and 99.99 are the usual choices).
    fraction : float
        In (0, 1]; used by ``fraction``.
    firing_rate_scale : float
        > 0: spikes per time step per unit of activation; used by ``firing_rate``.
    input : str
        One of :data:`INPUTS`: the normalised image as a constant current, or Bernoulli (Poisson) spikes
        with that probability each step.
    reset : str
        One of :data:`RESETS`.
    readout : str
        One of :data:`READOUTS`: the most output spikes (ties to the lowest class), or the largest summed
        output current (the output layer then does not spike).
    synapse_tau : float
        >= 0: time constant, in steps, of a first-order low-pass filter on every spike train between
        layers; 0 means none.
    seed : int
        Seed of the Poisson input.
    checkpoints : tuple of int
        The time steps at which the simulation reports; the largest is its length.
    """

    normalisation: str = "data"
    percentile: float = 99.99
    fraction: float = 1.0
    firing_rate_scale: float = 1.0
    input: str = "constant"
    reset: str = "subtract"
    readout: str = "spikes"
    synapse_tau: float = 0.0
    seed: int = 0
    checkpoints: tuple = DEFAULT_CHECKPOINTS

    def __post_init__(self):
        _choice("normalisation", self.normalisation, NORMALISATIONS)
        _choice("input", self.input, INPUTS)
        _choice("reset", self.reset, RESETS)
        _choice("readout", self.readout, READOUTS)
        if not 0.0 < float(self.percentile) <= 100.0:
            raise RateSettingsError(f"percentile must be in (0, 100]; got {self.percentile}")
        if not 0.0 < float(self.fraction) <= 1.0:
            raise RateSettingsError(f"fraction must be in (0, 1]; got {self.fraction}")
        if not (math.isfinite(float(self.firing_rate_scale)) and float(self.firing_rate_scale) > 0):
            raise RateSettingsError(f"firing_rate_scale must be finite and > 0; got {self.firing_rate_scale}")
        if not (math.isfinite(float(self.synapse_tau)) and float(self.synapse_tau) >= 0):
            raise RateSettingsError(f"synapse_tau must be finite and >= 0 (0: no filter); got {self.synapse_tau}")
        object.__setattr__(self, "checkpoints", checkpoints_of(self.checkpoints))

    @property
    def T(self) -> int:
        """The length of the simulation: its last checkpoint."""
        return self.checkpoints[-1]

    @property
    def normalisation_label(self) -> str:
        """The normalisation with its parameter, e.g. ``percentile-99.9``."""
        extra = {"percentile": self.percentile, "fraction": self.fraction,
                 "firing_rate": self.firing_rate_scale}.get(self.normalisation)
        return self.normalisation if extra is None else f"{self.normalisation}-{extra:g}"

    @property
    def label(self) -> str:
        """A short name of the variant (without T)."""
        parts = [self.normalisation_label, self.input, self.reset, self.readout]
        if self.synapse_tau:
            parts.append(f"tau{self.synapse_tau:g}")
        return "/".join(parts)

    def as_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["checkpoints"] = list(self.checkpoints)
        return out
