"""Compare command: the exact single-spike SNN beside rate-coded baselines on one phase-1 network.

    python -m snnmap.compare --flagfile flags/fashionmnist_lenet5.txt
    python -m snnmap.compare --flagfile flags/fashionmnist_fc.txt --rate_normalisation data,percentile --rate_T 16,64

Reads phase 1's outputs from ``--logging_dir`` (as phase 2 does), evaluates the exact SNN with the
phase-2 flags, then simulates every combination of the ``--rate_*`` options for the largest
``--rate_T`` steps, reporting each listed T (:func:`snnmap.experiments.compare.run_compare`).  Writes
the table as JSON and CSV (and, with ``--report``, an HTML page with figures); the LAST line of
standard output is ``results: <path of the JSON>``.
"""

from __future__ import annotations

import importlib

from absl import flags

from . import cli
from .errors import RateSettingsError

#: The heading of the comparison's own flags in ``--help``.
RATE = "compare (rate baselines)"
#: The groups ``--help`` lists.
GROUPS = (RATE, cli.DATA, cli.MODEL, cli.SNN, cli.OUTPUTS)

cli.define_common_flags()
# The choices are spelled out here (snnmap.rate imports Keras, which --help must not wait for); a test
# checks them against snnmap.rate.settings.
cli.define(RATE, "list", "rate_normalisation", ["model", "data", "percentile", "fraction", "firing_rate"],
           "Normalisations of the rate SNN: model (Diehl, from the weights), data (Diehl, largest calibration "
           "activation), percentile, fraction (of the largest activation), firing_rate (NengoDL scaling).")
cli.define(RATE, "list", "rate_input", ["constant", "poisson"],
           "Input coding: constant (analog current) or poisson (seeded Bernoulli spikes).")
cli.define(RATE, "list", "rate_reset", ["subtract"], "Reset after a spike: subtract or zero.")
cli.define(RATE, "list", "rate_readout", ["spikes"], "Class readout: spikes (most output spikes) or current "
           "(largest summed output current).")
cli.define(RATE, "list", "rate_percentile", ["99.9", "99.99"], "Percentiles of the 'percentile' normalisation, "
           "in (0, 100].")
cli.define(RATE, "list", "rate_fraction", ["0.5"], "Fractions of the largest activation of the 'fraction' "
           "normalisation, in (0, 1].")
cli.define(RATE, "list", "rate_firing_rate_scale", ["1.0"],
           "Spikes per step per unit of activation of the 'firing_rate' normalisation (NengoDL), > 0.")
cli.define(RATE, "list", "rate_synapse_tau", ["0"], "Synaptic low-pass time constants, in time steps (0: none).")
cli.define(RATE, "list", "rate_T", None,
           "Time steps T reported (default: 4,8,...,256); one simulation runs for the largest.")
cli.define(RATE, "integer", "rate_seed", 0, "Seed of the Poisson input.")
cli.define(RATE, "integer", "rate_calib_samples", 1000,
           "Training images whose activations set the data-based thresholds.")
FLAGS = flags.FLAGS

#: The argument of the library -> the flag that sets it, for the messages.
RATE_FLAG_OF = {"normalisation": "--rate_normalisation", "input": "--rate_input", "reset": "--rate_reset",
                "readout": "--rate_readout", "percentile": "--rate_percentile", "fraction": "--rate_fraction",
                "firing_rate_scale": "--rate_firing_rate_scale", "synapse_tau": "--rate_synapse_tau",
                "checkpoints": "--rate_T", "calib_samples": "--rate_calib_samples"}


def _numbers(name, kind=float):
    values = []
    for text in getattr(FLAGS, name):
        try:
            values.append(kind(text))
        except ValueError:
            raise ValueError(f"--{name}: {text!r} is not a number") from None
    return values


def options():
    """The :class:`CompareOptions` of the flags; a bad value names its flag."""
    try:
        ts = _numbers("rate_T", float) if FLAGS.rate_T is not None else list(range(4, 257, 4))
        compare = importlib.import_module("snnmap.experiments.compare")
        rates = compare.variants(
            FLAGS.rate_normalisation, FLAGS.rate_input, FLAGS.rate_reset, FLAGS.rate_readout,
            _numbers("rate_percentile"), _numbers("rate_fraction"), _numbers("rate_firing_rate_scale"),
            _numbers("rate_synapse_tau"), ts, FLAGS.rate_seed)
        return compare.CompareOptions(tuple(rates), FLAGS.rate_calib_samples, cli.phase2_options())
    except ValueError as err:
        text = str(err)
        for argument, flag in RATE_FLAG_OF.items():
            if text.startswith(argument + " "):
                raise RateSettingsError(f"{flag} ({argument}){text[len(argument):]}") from None
        raise


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]}")
    opts = options()
    compare = importlib.import_module("snnmap.experiments.compare")
    done = compare.run_compare(cli.experiment(), cli.run_settings(), opts)
    print("\n".join(compare.summary_lines(done.result)))
    if FLAGS.report:
        page = importlib.import_module("snnmap.reporting.compare_page")
        print(f"report: {page.write_compare_page(done.path)}")
    print(f"table: {done.csv_path}")
    print(f"results: {done.path}")


def run():
    cli.run_command(main, "compare", __doc__, groups=GROUPS)


if __name__ == "__main__":
    run()
