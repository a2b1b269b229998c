"""Sweep command: the robustness experiments of docs/method.md §6 over a grid of knobs, with trials.

    python -m snnmap.sweep --flagfile flags/fashionmnist_fc.txt --sweep noise=0,0.05,0.1 --trials 5
    python -m snnmap.sweep --flagfile flags/fashionmnist_fc_noise.txt
    python -m snnmap.sweep --flagfile flags/fashionmnist_fc_noise.txt --runner DirectRunner

Reads phase 1's outputs from ``--logging_dir`` (it never runs phase 1; a clear error says to
run it when they are missing).  ``--sweep KNOB=v1,v2,...`` (repeatable) spans a grid, the
cartesian product of the values; every other SNN setting is fixed by its usual flag
(``--zeta``, ``--noise``, ... as in phase 2).  Each grid point runs trials ``0..N-1``
(``--trials N``), seeded exactly as ``phase2 --trial``.  The sweep lives in
``<logging_dir>/sweeps/<sweep_name>/`` (``runs/``, ``sweep.json``, ``sweep.csv``) and
RESUMES where an interrupted run (or ``--max_evaluations``) stopped; see
:mod:`snnmap.experiments.sweep`.  The LAST line of standard output is
``results: <path of sweep.json>``.  With ``--runner`` the evaluations run as one Apache Beam
pipeline on that runner (:func:`snnmap.beam.run_sweep`), resuming the same way.

The rate-coded baselines sweep the same way with the ``rate_*`` knobs (``rate_T`` among them), on
this machine (:func:`snnmap.experiments.rate_sweep.run_rate_sweep`); one simulation per variant runs
to its largest T and fills every T row:

    python -m snnmap.sweep --flagfile flags/fashionmnist_fc.txt --sweep rate_T=8,16,64,256 \
        --sweep rate_normalisation=data,percentile
"""

from __future__ import annotations

import importlib
import os

from absl import flags

from . import cli

cli.define_common_flags()
FLAGS = flags.FLAGS


def _library(name):
    """``snnmap.<name>``, imported after the flags are parsed (it imports TensorFlow; --help does not wait)."""
    return importlib.import_module(f"snnmap.{name}")


def _checked_flags():
    """The grid of the flags, after refusing what a sweep cannot do (before anything is loaded)."""
    grid_module, naming = _library("experiments.grid"), _library("experiments.naming")
    SweepError = grid_module.SweepError
    exact, rate = grid_module.split_specs(FLAGS.sweep)
    if rate and FLAGS.runner:
        raise SweepError(f"--runner {FLAGS.runner}: the rate knobs ({', '.join(rate)}) run on the single-machine "
                         "sweep; drop --runner")
    grid = _library("experiments.rate_sweep").parse_rate_grid(FLAGS.sweep) if rate else grid_module.parse_grid(
        FLAGS.sweep)
    if FLAGS.trials < 1:
        raise SweepError(f"--trials must be >= 1, got {FLAGS.trials}")
    if FLAGS.part is not None or FLAGS.num_parts is not None:
        raise SweepError("--part/--num_parts are not supported by the sweep (it evaluates the whole test set)")
    if FLAGS.sweep_name is not None:
        naming.check_sweep_name(FLAGS.sweep_name)
    if FLAGS.trial != 0:
        print(f"warning: --trial {FLAGS.trial} is ignored; the sweep runs trials 0..{FLAGS.trials - 1} (--trials)")
    if FLAGS.save_snn:
        print("warning: --save_snn is ignored by the sweep")
    return grid


def _ignored_snn_settings(fixed):
    """Warn that the exact SNN's settings given away from their defaults do not apply to a rate-coded sweep."""
    defaults = _library("experiments.settings").RunSettings()
    given = [f"--{k}" for k, v in fixed.as_dict().items() if k != "trial" and v != getattr(defaults, k)]
    if given:
        print(f"warning: {', '.join(given)} {'set' if len(given) > 1 else 'sets'} the exact SNN, not the rate SNN "
              f"that this sweep simulates: ignored")


def sweep():
    """The sweep from the parsed flags; returns the table (with ``path``)."""
    grid = _checked_flags()
    rate = _library("experiments.rate_sweep").is_rate_grid(grid)
    experiment = cli.experiment()
    fixed, options = cli.run_settings(), cli.phase2_options()  # refused before phase 1's files are read
    beam = cli.beam_settings()
    naming = _library("experiments.naming")
    if rate:
        _ignored_snn_settings(fixed)
        fixed = _library("experiments.settings").RunSettings()
    loaded = _library("experiments.inputs").load_phase1(experiment, "the sweep")
    n = loaded.data.n_test
    name = FLAGS.sweep_name or naming.default_sweep_name(
        experiment.model_name, grid, fixed, None if experiment.test_samples is None else n,
        batch_size=experiment.batch_size, clip=options.clip)
    common = dict(model_name=experiment.model_name, reference_predictions=loaded.reference[:n],
                  batch_size=experiment.batch_size, max_evaluations=FLAGS.max_evaluations,
                  energy_pj=(options.mac_pj, options.add_pj), sweep_name=name,
                  reference_logits=None if loaded.logits is None else loaded.logits[:n], clip=options.clip)
    out_dir = naming.sweep_dir(experiment.logging_dir, name)
    if rate:
        del common["reference_logits"]  # the rate rows compare classes only
        return _library("experiments.rate_sweep").run_rate_sweep(loaded.pre, loaded.data, grid, FLAGS.trials,
                                                                 out_dir, **common)
    if beam is not None:  # every grid point x trial in one pipeline; its workers read the test set themselves
        engine = _library("beam")
        return engine.run_sweep(loaded.pre, loaded.data, grid, FLAGS.trials, fixed, out_dir, **common,
                                beam_settings=beam, reader=engine.DataSetReader(experiment, n))
    run_sweep = _library("experiments.sweep").run_sweep
    return run_sweep(loaded.pre, loaded.data, grid, FLAGS.trials, fixed, out_dir, **common,
                     distribute=options.distribute)


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]} (the grid is given with --sweep KNOB=v1,v2,...)")
    table = sweep()
    print("\n".join(_library("experiments.rate_sweep").sweep_lines(table)))
    if FLAGS.report:
        print(f"report: {_library('reporting.html').write_report(table['path'])}")
    print(f"table: {os.path.join(os.path.dirname(table['path']), _library('experiments.naming').SWEEP_CSV)}")
    print(f"results: {table['path']}")


def run():
    cli.run_command(main, "sweep", __doc__)


if __name__ == "__main__":
    run()
