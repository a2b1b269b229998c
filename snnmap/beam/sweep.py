"""Sweeps on Beam: every grid point x trial still to compute, as one pipeline.

The plan, the reuse of finished runs (resuming), the run files and the table are those of
:func:`snnmap.experiments.sweep.run_sweep`; only the evaluations differ: the test set is read
once, every record goes to every run's SNN (a keyed RunInference, one saved SNN per run), and
the counts are combined per run.  The driver writes each run's file, atomically, once the
pipeline has finished; a sweep interrupted before resumes from the files that exist.
"""

from __future__ import annotations

import os
import time

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, KeyModelMapping, RunInference

from .. import storage
from ..experiments import naming
from ..experiments import sweep as single
from ..experiments.grid import grid_points
from ..experiments.phase2 import build_snn
from ..pipeline.evaluate import summarize
from . import runner
from .combine import TotalsCombineFn, WriteResult
from .handler import SnnModelHandler
from .options import BeamSettings
from .sources import ArrayReader, read_records

#: Saved SNNs a worker holds at once (each run has its own; the others are loaded when needed).
MODELS_PER_WORKER = 2


class _WriteKeyed(beam.DoFn):
    """``(run name, counts)`` -> ``folder/<run name>.totals.json``."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def process(self, keyed):
        name, totals = keyed
        yield from WriteResult(os.path.join(self.folder, name + ".totals.json")).process(totals)


def _run_result(run, point, metrics, how, described):
    """A run's file: the single-machine sweep's keys, plus ``runner``."""
    # The runs share one pipeline: its time, not the run's own.
    result = single.run_record(run, point, metrics, how, distribute="none", elapsed_s=described["elapsed_s"])
    result["runner"] = described
    return result


def _compute(pre, reader, todo, points, how, runs_dir, results, beam_settings, log):
    """Evaluate the runs of ``todo`` in one pipeline; write each file; how many were computed."""
    if not todo:
        return 0
    size = min(int(how["batch_size"]), len(reader))
    with runner.staging(beam_settings, near=runs_dir) as folder:
        relu_path = os.path.join(folder, "relu.keras")
        storage.atomic_save_model(pre.model, relu_path)
        mappings = []
        for k, run in enumerate(todo):
            path = os.path.join(folder, f"snn_{k}.keras")
            storage.atomic_save_model(build_snn(pre, run.settings), path)
            mappings.append(KeyModelMapping([run.name], SnnModelHandler(
                path, relu_path, size, how["clip"], how["ref"] is not None, how["logits"] is not None,
                beam_settings.verbose)))
        names = [run.name for run in todo]

        def build(pipeline):
            (read_records(pipeline, reader, how["batch_size"], how["ref"], how["logits"])
             | "every run" >> beam.FlatMap(lambda record: [(name, record) for name in names])
             | "SNNs" >> RunInference(KeyedModelHandler(mappings, max_models_per_worker_hint=MODELS_PER_WORKER))
             | "combine per run" >> beam.CombinePerKey(TotalsCombineFn())
             | "hand back" >> beam.ParDo(_WriteKeyed(folder)))

        described = runner.run(build, beam_settings, log)
        described["runs_in_pipeline"] = len(todo)
        for run in todo:
            totals = storage.read_json(os.path.join(folder, run.name + ".totals.json"))
            result = _run_result(run, points[run.index], summarize(totals), how, described)
            storage.atomic_write_json(os.path.join(runs_dir, run.name), result)
            results[(run.index, run.trial)] = dict(storage.as_read_back(result), _file=run.name)
    return len(todo)


def run_sweep(pre, data, grid, trials, fixed_settings, out_dir, *, model_name=None, reference_predictions=None,
              batch_size=256, max_evaluations=None, energy_pj=None, sweep_name=None, log=print,
              reference_logits=None, clip=False, beam_settings=BeamSettings(), reader=None):
    """:func:`snnmap.experiments.sweep.run_sweep` with the evaluations as one Beam pipeline.

    Parameters
    ----------
    pre, data, grid, trials, fixed_settings, out_dir, model_name, reference_predictions, batch_size
        As :func:`snnmap.experiments.sweep.run_sweep`.
    max_evaluations, energy_pj, sweep_name, log, reference_logits, clip
        As :func:`snnmap.experiments.sweep.run_sweep`.
    beam_settings : BeamSettings
        The runner and its options.
    reader : ArrayReader, DataSetReader or NpyReader, optional
        Where the workers read the test images; default: ``data``'s arrays.

    Returns
    -------
    dict
        The content of ``sweep.json`` plus ``path``.
    """
    started = time.time()
    grid, trials = single.checked_grid(grid, trials, max_evaluations)
    fixed = single.fixed_run_settings(fixed_settings)
    model_name = model_name or pre.report["original_model"]
    out_dir = str(out_dir)
    runs_dir = os.path.join(out_dir, naming.RUNS_DIR)
    points = grid_points(grid)
    data_summary = storage.as_read_back(data.summary())
    ref, logits, base = single.sweep_references(pre, data, model_name, reference_predictions,
                                                reference_logits, batch_size, clip)
    storage.check_writable(runs_dir, "the sweep's runs")  # before the first evaluation
    plan = single.plan_runs(pre, points, trials, fixed, model_name, base)
    results, todo, stale = single.reusable_runs(plan, runs_dir)
    reused = len(results)
    log(f"sweep on Beam: {len(points)} grid point(s) x {trials} trial(s) = {len(plan)} evaluation(s) on "
        f"{data_summary['n_test']} test images; {reused} reused from {runs_dir}, {len(todo)} to compute")
    for name, key in stale:
        log(f"  recomputing {name}: its recorded {key} differs from this run's")
    todo = todo if max_evaluations is None else todo[:max_evaluations]
    name = sweep_name or os.path.basename(os.path.normpath(out_dir))
    how = {"batch_size": batch_size, "energy_pj": energy_pj, "sweep_name": name, "ref": ref, "logits": logits,
           "clip": clip}
    reader = reader or ArrayReader(data.x_test, data.y_test, origin=data_summary.get("description", "test set"))
    computed = _compute(pre, reader, todo, points, how, runs_dir, results, beam_settings, log)

    missing = len(plan) - len(results)
    fixed_dict = single.settings_without_trial(fixed)
    rows = single.table_rows(points, trials, results, fixed_dict, data_summary)
    counts = {"total": len(plan), "reused": reused, "computed": computed, "missing": missing}
    table = dict(single.table_content(name, base, fixed_dict, grid, trials, rows, counts, started),
                 runner=beam_settings.runner)
    path = os.path.join(out_dir, naming.SWEEP_TABLE)
    storage.atomic_write_json(path, table)
    storage.atomic_write_text(os.path.join(out_dir, naming.SWEEP_CSV), single.csv_text(table))
    log(f"evaluations: {len(plan)} in all; reused {reused}, computed {computed}, missing {missing}")
    if missing:
        log(f"incomplete: {missing} evaluation(s) missing (max_evaluations); run the same command again to resume")
    return dict(table, path=path)
