"""The grid of a sweep: which knobs of :class:`~snnmap.experiments.settings.RunSettings` vary,
over which values (docs/method.md §6)."""

from __future__ import annotations

import itertools
import math

from ..errors import SnnmapError
from .settings import KNOBS, OPTIONAL_KNOBS

#: Knobs whose values must be >= 0.
NON_NEGATIVE = ("noise", "alpha_noise", "zeta", "time_bits", "weight_bits")
#: Knobs of the rate-coded sweep (:mod:`snnmap.experiments.rate_sweep`): ``rate_<field>`` sets the field of
#: :class:`~snnmap.rate.RateSettings`, ``rate_T`` its checkpoints, ``rate_calib_samples`` the calibration images.
RATE_KNOBS = ("rate_T", "rate_normalisation", "rate_input", "rate_reset", "rate_readout", "rate_percentile",
              "rate_fraction", "rate_firing_rate_scale", "rate_synapse_tau", "rate_seed", "rate_calib_samples")


class SweepError(SnnmapError, ValueError):
    """A sweep asked for something that cannot be swept (unknown knob, bad value, ...)."""


def _none_allowed(knob):
    if knob not in OPTIONAL_KNOBS:
        raise SweepError(f"--sweep {knob}: 'none' is only allowed for {', '.join(OPTIONAL_KNOBS)}")


def _parse_value(knob, text):
    text = text.strip()
    if not text:
        raise SweepError(f"--sweep {knob}: empty value (write {knob}=v1,v2,...)")
    if text.lower() == "none":
        _none_allowed(knob)
        return None
    try:
        number = float(text)
    except ValueError:
        raise SweepError(f"--sweep {knob}: '{text}' is not a number") from None
    if not math.isfinite(number):
        raise SweepError(f"--sweep {knob}: '{text}' is not a finite number")
    if KNOBS[knob] is int:
        if number != int(number):
            raise SweepError(f"--sweep {knob}: '{text}' is not an integer")
        return int(number)
    return number


def _typed(knob, value):
    """``value`` (a number, None or a text) as the type of ``knob``, checked."""
    if value is None or isinstance(value, str):
        value = _parse_value(knob, "none" if value is None else value)
    elif KNOBS[knob] is int:
        if float(value) != int(value):
            raise SweepError(f"--sweep {knob}: {value} is not an integer")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise SweepError(f"--sweep {knob}: {value} is not a finite number")
    if value is None:
        _none_allowed(knob)
    elif knob in NON_NEGATIVE and value < 0:
        raise SweepError(f"--sweep {knob}: values must be >= 0, got {value}")
    elif knob == "x_quantile" and not 0.0 < value <= 1.0:
        raise SweepError(f"--sweep x_quantile: values must be in (0, 1], got {value}")
    return value


def _check_knob(knob):
    if knob in ("trial", "seed"):
        raise SweepError(f"'{knob}' cannot be swept: a sweep runs trials 0..N-1 itself (--trials N), each seeded "
                         f"from --seed; sweepable knobs: {', '.join(KNOBS)}")
    if knob in RATE_KNOBS:
        raise SweepError(f"'{knob}' is a knob of the rate-coded sweep: rate knobs run on the single-machine sweep "
                         f"(snnmap.experiments.rate_sweep.run_rate_sweep; python -m snnmap.sweep without --runner), "
                         f"never with the exact SNN's knobs ({', '.join(KNOBS)})")
    if knob not in KNOBS:
        raise SweepError(f"unknown sweep knob '{knob}'; sweepable knobs: {', '.join(KNOBS)}; rate-coded sweep: "
                         f"{', '.join(RATE_KNOBS)}")


def split_specs(specs):
    """The ``--sweep`` specs of the exact SNN's knobs and those of the rate-coded sweep, apart.

    Parameters
    ----------
    specs : str or list of str
        ``KNOB=v1,v2,...`` each.

    Returns
    -------
    (list of str, list of str)
        The specs whose knob is not in :data:`RATE_KNOBS` (checked by :func:`parse_grid`), then those whose
        knob is (checked by :func:`snnmap.experiments.rate_sweep.parse_rate_grid`), each in the given order.
    """
    specs = [specs] if isinstance(specs, str) else list(specs)
    rate = [s for s in specs if str(s).partition("=")[0].strip() in RATE_KNOBS]
    return [s for s in specs if s not in rate], rate


def parse_grid(specs):
    """The grid of ``--sweep`` specs: ``["noise=0,0.1", "zeta=0,0.5"]`` -> ``{"noise": [0.0, 0.1], ...}``.

    Parameters
    ----------
    specs : str or list of str
        ``KNOB=v1,v2,...`` each; the order is kept (the first knob varies slowest).

    Raises
    ------
    SweepError
        For an unknown knob, ``trial``/``seed``, a knob given twice, a repeated or bad value.
    """
    if isinstance(specs, str):
        specs = [specs]
    grid = {}
    for spec in specs:
        knob, sep, values = str(spec).partition("=")
        knob = knob.strip()
        if not sep or not knob:
            raise SweepError(f"--sweep '{spec}': write KNOB=v1,v2,... (e.g. --sweep noise=0,0.05,0.1)")
        _check_knob(knob)
        if knob in grid:
            raise SweepError(f"--sweep {knob} is given twice; list all its values in one --sweep {knob}=v1,v2,...")
        grid[knob] = [_parse_value(knob, v) for v in values.split(",")]
    return check_grid(grid)


def check_grid(grid):
    """Validate a grid given as a dict; returns it with the values typed.

    Parameters
    ----------
    grid : dict
        Knob -> list of values (numbers, None or texts), or a single value.
    """
    if not grid:
        raise SweepError("nothing to sweep: give at least one --sweep KNOB=v1,v2,... "
                         f"(knobs: {', '.join(KNOBS)})")
    out = {}
    for knob, values in dict(grid).items():
        _check_knob(knob)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        typed = [_typed(knob, v) for v in values]
        if not typed:
            raise SweepError(f"--sweep {knob}: no values")
        if len(set(typed)) != len(typed):
            raise SweepError(f"--sweep {knob}: repeated value in {typed}")
        out[knob] = typed
    w_mins = [v for v in out.get("w_min", []) if v is not None]
    w_maxs = [v for v in out.get("w_max", []) if v is not None]
    if w_mins and w_maxs and max(w_mins) >= min(w_maxs):
        raise SweepError(f"--sweep w_min/w_max: every w_min must be below every w_max ({w_mins} vs {w_maxs})")
    return out


def grid_points(grid):
    """The grid points (dicts ``knob -> value``) in order: cartesian product, first knob slowest.

    Parameters
    ----------
    grid : dict
        A checked grid (:func:`check_grid`).
    """
    knobs = list(grid)
    return [dict(zip(knobs, values)) for values in itertools.product(*(grid[k] for k in knobs))]
