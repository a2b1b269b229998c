"""Sweep command: the robustness experiments of docs/method.md §6 over a grid of knobs, with trials.

    python -m snnmap.sweep --flagfile flags/fashionmnist_fc.txt --sweep noise=0,0.05,0.1 --trials 5
    python -m snnmap.sweep --flagfile flags/fashionmnist_fc_noise.txt

Reads phase 1's outputs from ``--logging_dir`` (it never runs phase 1; a clear error says to
run it when they are missing).  ``--sweep KNOB=v1,v2,...`` (repeatable) spans a grid, the
cartesian product of the values; every other SNN setting is fixed by its usual flag
(``--zeta``, ``--noise``, ... as in phase 2).  Each grid point runs trials ``0..N-1``
(``--trials N``), seeded exactly as ``phase2 --trial``.  The sweep lives in
``<logging_dir>/sweeps/<sweep_name>/`` (``runs/``, ``sweep.json``, ``sweep.csv``) and
RESUMES where an interrupted run (or ``--max_evaluations``) stopped; see
:mod:`snnmap.experiments.sweep`.  The LAST line of standard output is
``results: <path of sweep.json>``.
"""

from __future__ import annotations

import os

from absl import app, flags

from . import cli
from .experiments import naming
from .experiments.grid import SweepError, parse_grid
from .experiments.inputs import load_phase1
from .experiments.sweep import run_sweep, table_lines
from .reporting.html import write_report

cli.define_common_flags()
FLAGS = flags.FLAGS


def _checked_flags():
    """The grid of the flags, after refusing what a sweep cannot do (before anything is loaded)."""
    grid = parse_grid(FLAGS.sweep)
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


def sweep():
    """The sweep from the parsed flags; returns the table (with ``path``)."""
    grid = _checked_flags()
    experiment = cli.experiment()
    fixed, options = cli.run_settings(), cli.phase2_options()  # refused before phase 1's files are read
    loaded = load_phase1(experiment, "the sweep")
    n = loaded.data.n_test
    name = FLAGS.sweep_name or naming.default_sweep_name(
        experiment.model_name, grid, fixed, None if experiment.test_samples is None else n,
        batch_size=experiment.batch_size, clip=options.clip)
    return run_sweep(loaded.pre, loaded.data, grid, FLAGS.trials, fixed,
                     naming.sweep_dir(experiment.logging_dir, name), model_name=experiment.model_name,
                     reference_predictions=loaded.reference[:n], batch_size=experiment.batch_size,
                     max_evaluations=FLAGS.max_evaluations, energy_pj=(options.mac_pj, options.add_pj),
                     distribute=options.distribute, sweep_name=name,
                     reference_logits=None if loaded.logits is None else loaded.logits[:n], clip=options.clip)


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]} (the grid is given with --sweep KNOB=v1,v2,...)")
    table = sweep()
    print("\n".join(table_lines(table)))
    if FLAGS.report:
        print(f"report: {write_report(table['path'])}")
    print(f"table: {os.path.join(os.path.dirname(table['path']), naming.SWEEP_CSV)}")
    print(f"results: {table['path']}")


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
