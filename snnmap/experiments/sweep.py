"""Sweeps: the robustness experiments of docs/method.md §6 over a grid of knobs, with trials.

A sweep evaluates the SNN at every point of a grid (:mod:`snnmap.experiments.grid`) and for
trials ``0..N-1`` of each; a trial seeds the noises through :attr:`RunSettings.noise_seed`,
exactly as ``phase2 --trial``, so a sweep's run equals the phase-2 run of the same settings.
Its directory holds ``runs/<results name>`` (one file per grid point and trial),
``sweep.json`` (the table, one row per grid point) and ``sweep.csv``, all written atomically.
A sweep resumes: a run whose file records the same network, settings, data and batch size is
read back instead of recomputed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import time

import numpy as np
from tqdm.auto import tqdm

from .. import storage
from ..pipeline.evaluate import evaluate
from ..runtime import distribute_scope
from . import naming, provenance
from .grid import SweepError, check_grid, grid_points, parse_grid
from .phase2 import METRIC_KEYS, SnnCache, energy_of
from .settings import RunSettings, check_count
from .sweep_lines import KNOB_UNITS, table_lines

__all__ = ["KNOB_UNITS", "MATCH_KEYS", "PlannedRun", "TABLE_METRICS", "check_trials", "checked_grid", "csv_text",
           "recorded_run", "table_csv", "trial_stats",
           "fixed_run_settings", "network_fingerprint", "plan_runs", "reusable_runs", "run_record", "run_sweep",
           "settings_without_trial", "sweep_references", "table_content", "table_lines", "table_rows"]

#: Metrics of the table (mean and std over trials), from a run's result (docs/method.md §7).
TABLE_METRICS = ("accuracy_snn", "agreement", "latency", "spikes_per_neuron", "informative_spike_fraction",
                 "violations", "violations_a", "violations_b", "max_abs_error", "max_abs_error_original")
#: What a run file must record, equal to the run at hand, to be reused instead of recomputed.
MATCH_KEYS = ("model_name", "network_sha256", "settings", "data", "X_n", "batch_size", "agreement_reference",
              "clip_inputs", "original_logits_sha256")


def network_fingerprint(pre) -> str:
    """sha256 of the preprocessed network's weights, ``X_n`` and input range (which network a run used).

    Parameters
    ----------
    pre : Preprocessed
    """
    digest = hashlib.sha256()
    for w in pre.model.get_weights():
        w = np.ascontiguousarray(np.asarray(w, np.float64))
        digest.update(str(w.shape).encode())
        digest.update(w.tobytes())
    digest.update(json.dumps([list(map(float, pre.X_n)), list(map(float, pre.input_range))]).encode())
    return digest.hexdigest()


def fixed_run_settings(fixed_settings) -> RunSettings:
    """The fixed settings of a sweep as :class:`RunSettings` (``trial`` is the sweep's own).

    Parameters
    ----------
    fixed_settings : RunSettings, dict or None
        A dict gives some fields; the others take their defaults.
    """
    if isinstance(fixed_settings, RunSettings):
        return dataclasses.replace(fixed_settings, trial=0)
    fixed = dict(fixed_settings or {})
    fixed.pop("trial", None)
    try:
        return RunSettings.from_dict(fixed)
    except ValueError as err:
        raise SweepError(str(err)) from None


def settings_without_trial(settings: RunSettings) -> dict:
    """A sweep's fixed settings as a dict, without ``trial`` (the sweep runs its trials itself).

    Parameters
    ----------
    settings : RunSettings
    """
    return {k: v for k, v in settings.as_dict().items() if k != "trial"}


def trial_stats(values):
    """``(mean, std)`` over trials: the SAMPLE std (ddof=1); None for one trial, where it says nothing.

    Parameters
    ----------
    values : iterable of float or None
        One value per trial (None: the trial has no such figure; left out).
    """
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) >= 2 else None


def table_rows(points, trials, results, fixed, data_summary):
    """One row per grid point from the run results.

    Parameters
    ----------
    points : list of dict
        The grid points (:func:`snnmap.experiments.grid.grid_points`).
    trials : int
    results : dict
        ``(point index, trial) -> run result`` (with ``_file``, its file name) for the runs that exist.
    fixed : dict
        The fixed settings (without ``trial``).
    data_summary : dict
        The data set's summary (``n_test``).
    """
    rows = []
    for i, point in enumerate(points):
        runs = [(t, results[(i, t)]) for t in range(trials) if (i, t) in results]
        row = dict(point)
        row["n_trials"] = len(runs)
        row["trials"] = [t for t, _ in runs]
        relu = [r.get("accuracy_relu") for _, r in runs if r.get("accuracy_relu") is not None]
        row["accuracy_relu"] = relu[0] if relu else None
        for metric in TABLE_METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = trial_stats(r.get(metric) for _, r in runs)
        row["settings"] = {**fixed, **point}
        row["n_test"] = data_summary["n_test"]
        row["runs"] = [r["_file"] for _, r in runs]
        rows.append(row)
    return rows


def table_csv(table, columns) -> str:
    """A sweep's table as CSV: the given columns, then the model and the data of every row.

    Parameters
    ----------
    table : dict
        The content of ``sweep.json`` (``rows``, ``model_name``, ``data_name``, ...).
    columns : list of (str, callable)
        Each column's header and the function that gives a row's value (None: empty).
    """
    data = ("model_name", "data_name", "data_source", "n_test", "data_description")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([name for name, _ in columns] + list(data))
    for row in table["rows"]:
        values = [f(row) for _, f in columns] + [row["n_test"] if k == "n_test" else table[k] for k in data]
        writer.writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def csv_text(table) -> str:
    """The table as CSV: knobs, n_trials, accuracy_relu, mean/std per metric, the other settings, the data.

    Parameters
    ----------
    table : dict
        The content of ``sweep.json``.
    """
    knobs = list(table["grid"])
    names = knobs + ["n_trials", "accuracy_relu"] + [f"{m}_{s}" for m in TABLE_METRICS for s in ("mean", "std")]
    other = [k for k in table["fixed_settings"] if k not in knobs]
    return table_csv(table, [(k, lambda r, k=k: r[k]) for k in names]
                     + [(k, lambda r, k=k: r["settings"][k]) for k in other])


@dataclasses.dataclass
class PlannedRun:
    """One evaluation of a sweep.

    Attributes
    ----------
    index : int
        Its grid point (an index into the grid points).
    trial : int
    settings : RunSettings
        The fixed settings with the point's knobs and the trial.
    name : str
        Its file in the sweep's ``runs`` directory.
    expected : dict
        What that file must record (the keys of :data:`MATCH_KEYS`) to be reused.
    """

    index: int
    trial: int
    settings: RunSettings
    name: str
    expected: dict


def plan_runs(pre, points, trials, fixed, model_name, base):
    """Every run of the grid (point after point, trials ``0..trials-1`` each), with what its file must record
    to be reused.

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network (its window scales are recorded per ``x_quantile``).
    points : list of dict
        The grid points (:func:`snnmap.experiments.grid.grid_points`).
    trials : int
    fixed : RunSettings
        The fixed settings (:func:`fixed_run_settings`).
    model_name : str
        Names the run files.
    base : dict
        What every run records of the network, the data and the references (:func:`sweep_references`).

    Returns
    -------
    list of PlannedRun

    Raises
    ------
    SweepError
        When two runs would share a file name.
    """
    window_scales, plan = {}, []
    for i, point in enumerate(points):
        for trial in range(trials):
            settings = dataclasses.replace(fixed, **point, trial=trial)
            q = settings.x_quantile
            if q not in window_scales:
                window_scales[q] = pre.window_scales(q)
            expected = dict(base, settings=storage.as_read_back(settings.as_dict()),
                            X_n=storage.as_read_back(window_scales[q]))
            plan.append(PlannedRun(i, trial, settings, naming.results_name(model_name, settings), expected))
    names = [run.name for run in plan]
    if len(set(names)) != len(names):  # cannot happen with distinct values; guards the naming
        raise SweepError("two runs of the sweep would share a file name")
    return plan


def recorded_run(path, expected, keys):
    """A run's existing file and the first of ``keys`` where it differs from what the sweep expects.

    Parameters
    ----------
    path : str
        The run's file (it exists).
    expected : dict
        The settings and data the sweep would record.
    keys : sequence of str
        What must match.

    Returns
    -------
    (dict, str or None)
        The file's content (empty when it cannot be read) and the differing key (None: it matches).
    """
    try:
        recorded = storage.read_json(path)
    except (OSError, ValueError):
        recorded = {}
    return recorded, next((k for k in keys if recorded.get(k) != expected.get(k)), None)


def reusable_runs(plan, runs_dir):
    """Which planned runs are already done (how a sweep resumes).

    Parameters
    ----------
    plan : list of PlannedRun
        From :func:`plan_runs`.
    runs_dir : str
        The sweep's ``runs`` directory.

    Returns
    -------
    (dict, list, list)
        ``results``: ``(point index, trial) -> recorded result`` (with ``_file``) of the runs whose file
        matches; ``todo``: the runs to compute; ``stale``: ``(file name, first differing key)`` of files
        that exist but do not match.
    """
    results, todo, stale = {}, [], []
    for run in plan:
        path = os.path.join(runs_dir, run.name)
        if os.path.isfile(path):
            recorded, key = recorded_run(path, run.expected, MATCH_KEYS)
            if key is None:
                results[(run.index, run.trial)] = dict(recorded, _file=run.name)
                continue
            stale.append((run.name, key))
        todo.append(run)
    return results, todo, stale


def _evaluate_run(snns, data, run, point, ref, how):
    """The result of one run (``how``: batch_size, energy_pj, distribute, verbose, sweep_name);
    ``snns``: the :class:`~snnmap.experiments.phase2.SnnCache` of the sweep."""
    t0 = time.time()
    pre = snns.pre
    with distribute_scope(how["distribute"]):
        snn = snns.snn_for(run.settings)
        metrics = evaluate(snn, data.x_test, data.y_test, relu_model=pre.model, reference_predictions=ref,
                           input_range=pre.input_range, batch_size=how["batch_size"], verbose=how["verbose"],
                           reference_logits=how["logits"], clip=how["clip"])
    return run_record(run, point, metrics, how, distribute=how["distribute"], elapsed_s=round(time.time() - t0, 2))


def run_record(run, point, metrics, how, distribute, elapsed_s):
    """One run's results file (the single-machine and the Beam sweep write the same keys).

    Parameters
    ----------
    run : the planned run (its ``expected`` settings and data, ``trial``)
    point : dict
        The grid point's knob values.
    metrics : dict
        What :func:`snnmap.evaluate` measured.
    how : dict
        The sweep's shared options (``energy_pj``, ``sweep_name``).
    distribute : str
        How the run was spread over devices.
    elapsed_s : float
        Seconds the run took.
    """
    summary = run.expected["data"]
    return {
        "data_name": summary["name"],
        "data_source": summary["source"],
        "data_description": summary["description"],
        **run.expected,
        **{key: metrics.get(key) for key in METRIC_KEYS},
        "energy": energy_of(metrics.get("operations"), *how["energy_pj"]) if how["energy_pj"] else None,
        "sweep": {"name": how["sweep_name"], "point": point, "trial": run.trial},
        "distribute": distribute,
        "versions": provenance.versions(),
        "created": provenance.now(),
        "elapsed_s": elapsed_s,
    }


def _compute(pre, data, todo, points, ref, how, runs_dir, results, progress):
    """Evaluate the runs of ``todo``, write each file, add each result; returns how many were computed."""
    computed = 0
    snns = SnnCache(pre, reuse=how["retune"])
    try:
        for run in todo:
            result = _evaluate_run(snns, data, run, points[run.index], ref, how)
            storage.atomic_write_json(os.path.join(runs_dir, run.name), result)
            results[(run.index, run.trial)] = dict(storage.as_read_back(result), _file=run.name)
            computed += 1
            if progress is not None:
                progress.update(1)
    finally:
        if progress is not None:
            progress.close()
    return computed


def table_content(name, base, fixed, grid, trials, rows, counts, started):
    """The content of ``sweep.json``.

    Parameters
    ----------
    name : str
        The sweep's name.
    base : dict
        What every run records (:func:`sweep_references`).
    fixed : dict
        The fixed settings without ``trial`` (:func:`settings_without_trial`).
    grid : dict
        The checked grid.
    trials : int
    rows : list of dict
        :func:`table_rows`.
    counts : dict
        ``total``, ``reused``, ``computed`` and ``missing`` evaluations.
    started : float
        ``time.time()`` when the sweep began (for ``elapsed_s``).
    """
    summary = base["data"]
    relu = [r["accuracy_relu"] for r in rows if r["accuracy_relu"] is not None]
    return {
        "sweep_name": name,
        "model_name": base["model_name"],
        "network_sha256": base["network_sha256"],
        "data_name": summary["name"],
        "data_source": summary["source"],
        "data_description": summary["description"],
        "data": summary,
        "fixed_settings": fixed,
        "grid": grid,
        "trials": trials,
        "batch_size": base["batch_size"],
        "agreement_reference": base["agreement_reference"],
        "accuracy_relu": relu[0] if relu else None,
        "metrics": list(TABLE_METRICS),
        "std": "sample standard deviation over trials (ddof=1); null for one trial",
        "complete": counts["missing"] == 0,
        "evaluations": counts,
        "runs_dir": naming.RUNS_DIR,
        "rows": rows,
        "created": provenance.now(),
        "elapsed_s": round(time.time() - started, 2),
    }


def sweep_references(pre, data, model_name, reference_predictions, reference_logits, batch_size, clip):
    """The checked references of a sweep, and what every run records of them.

    Parameters
    ----------
    pre : Preprocessed
    data : snnmap.data.DataSet
    model_name : str
    reference_predictions, reference_logits : array_like or None
        As :func:`run_sweep`; one per test image.
    batch_size : int
    clip : bool

    Returns
    -------
    (ndarray or None, ndarray or None, dict)
        The predictions (flat), the float64 logits, and ``base``: the network's fingerprint, the data,
        the batch size and the references, part of the match for reuse (:data:`MATCH_KEYS`).

    Raises
    ------
    ValueError
        When a reference does not have one entry per test image, or ``batch_size`` is not a positive count.
    """
    ref = None if reference_predictions is None else np.asarray(reference_predictions).reshape(-1)
    if ref is not None and len(ref) != data.n_test:
        raise ValueError(f"{len(ref)} reference predictions for {data.n_test} test images")
    logits = None
    if reference_logits is not None:
        logits = np.ascontiguousarray(reference_logits, dtype=np.float64)
        if logits.ndim != 2 or len(logits) != data.n_test:
            raise ValueError(f"reference_logits of shape {logits.shape} for {data.n_test} test images (one row each)")
    check_count(batch_size, "batch_size", optional=False)
    base = {"model_name": model_name, "network_sha256": network_fingerprint(pre),
            "data": storage.as_read_back(data.summary()), "batch_size": int(batch_size),
            "agreement_reference": "original ReLU network" if ref is not None else "preprocessed ReLU network",
            # Recorded only when on, so that runs written before these keys existed still match.
            "clip_inputs": True if clip else None,
            "original_logits_sha256": None if logits is None else hashlib.sha256(logits.tobytes()).hexdigest()}
    return ref, logits, base


def checked_grid(grid, trials, max_evaluations):
    """The checked grid and number of trials of a sweep.

    Parameters
    ----------
    grid : dict, str or list of str
        ``{knob: [values]}`` or ``--sweep`` specs (:func:`snnmap.experiments.grid.parse_grid`).
    trials : int
        Must be a positive integer.
    max_evaluations : int or None
        Must be >= 0 when given.

    Returns
    -------
    (dict, int)

    Raises
    ------
    SweepError
    """
    grid = parse_grid(grid) if isinstance(grid, (list, tuple, str)) else check_grid(grid)
    return grid, check_trials(trials, max_evaluations)


def check_trials(trials, max_evaluations):
    """``trials`` as an int, after checking it and ``max_evaluations``.

    Parameters
    ----------
    trials : int
        Must be a positive integer.
    max_evaluations : int or None
        Must be >= 0 when given.

    Raises
    ------
    SweepError
    """
    if int(trials) != trials or trials < 1:
        raise SweepError(f"--trials must be a positive integer, got {trials}")
    if max_evaluations is not None and max_evaluations < 0:
        raise SweepError(f"--max_evaluations must be >= 0, got {max_evaluations}")
    return int(trials)


def run_sweep(pre, data, grid, trials, fixed_settings, out_dir, *, model_name=None, reference_predictions=None,
              batch_size=256, max_evaluations=None, energy_pj=None, distribute="none", sweep_name=None,
              verbose="auto", log=print, reference_logits=None, clip=False, retune=True):
    """Evaluate the SNN of ``pre`` at every grid point and trial; write the runs and the table.

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network (:meth:`snnmap.Preprocessed.load`).
    data : snnmap.data.DataSet
        Its test split is evaluated (``x_test``, ``y_test``); ``summary()`` is recorded.
    grid : dict or list of str
        ``{knob: [values]}`` or ``--sweep`` specs (``"noise=0,0.1"``); see
        :func:`snnmap.experiments.grid.parse_grid`.
    trials : int
        Trials ``0..trials-1`` per grid point.
    fixed_settings : RunSettings, dict or None
        The other settings (a dict gives some fields of :class:`RunSettings`, the others take
        their defaults; ``trial`` is ignored); grid values override them.
    out_dir : str
        The sweep's directory (runs go to ``out_dir/runs``; the table to ``sweep.json`` and
        ``sweep.csv``).
    model_name : str, optional
        Names the run files (default: the name of the network ``pre`` was preprocessed from).
    reference_predictions : array_like, optional
        The ORIGINAL network's predictions on ``data.x_test`` (phase 1's); agreement compares
        against them (else against the preprocessed network).
    batch_size : int
        Batch size of the evaluations (the noise draws depend on it, so it is recorded and a
        run is reused only with the same one).
    max_evaluations : int, optional
        Stop after this many NEW evaluations (the table then covers what exists).
    energy_pj : (float, float), optional
        Energy per MAC and per synaptic event (pJ) for the estimate stored in each run.
    distribute : {"none", "auto", "mirrored"}
        Devices of each evaluation (:func:`snnmap.runtime.distribute_scope`); recorded in each
        run, not part of the match for reuse.
    sweep_name : str, optional
        Recorded name of the sweep (default: the name of ``out_dir``).
    verbose : "auto" or 0
        Progress bars.
    log : callable
        Receives the lines to print.
    reference_logits : array_like, optional
        The ORIGINAL network's float64 pre-softmax logits on ``data.x_test`` (phase 1's); each
        run's ``max_abs_error_original`` is measured against them.
    clip : bool
        Clip the test images to the input range instead of refusing images outside it.
    retune : bool
        Runs that differ only in noise, alpha noise, trial or time bits share one SNN, retuned
        (:func:`snnmap.retune`): it is traced once instead of once per run.  False builds a new
        SNN for every run (the same results, slower).

    Returns
    -------
    dict
        The content of ``sweep.json`` (``rows``, ``evaluations`` counts, ...) plus ``path``.
    """
    started = time.time()
    grid, trials = checked_grid(grid, trials, max_evaluations)
    fixed = fixed_run_settings(fixed_settings)
    model_name = model_name or pre.report["original_model"]
    out_dir = str(out_dir)
    runs_dir = os.path.join(out_dir, naming.RUNS_DIR)
    points = grid_points(grid)
    data_summary = storage.as_read_back(data.summary())
    ref, logits, base = sweep_references(pre, data, model_name, reference_predictions, reference_logits,
                                         batch_size, clip)
    storage.check_writable(runs_dir, "the sweep's runs")  # before the first evaluation
    plan = plan_runs(pre, points, trials, fixed, model_name, base)
    results, todo, stale = reusable_runs(plan, runs_dir)
    reused = len(results)
    log(f"sweep: {len(points)} grid point(s) x {trials} trial(s) = {len(plan)} evaluation(s) on "
        f"{data_summary['n_test']} test images; {reused} reused from {runs_dir}, {len(todo)} to compute")
    for name, key in stale:
        log(f"  recomputing {name}: its recorded {key} differs from this run's")

    todo = todo if max_evaluations is None else todo[:max_evaluations]
    progress = None
    if verbose != 0 and todo:
        progress = tqdm(total=len(plan), initial=reused, desc="sweep", unit="eval", dynamic_ncols=True)
    name = sweep_name or os.path.basename(os.path.normpath(out_dir))
    how = {"batch_size": batch_size, "energy_pj": energy_pj, "distribute": distribute, "verbose": verbose,
           "sweep_name": name, "logits": logits, "clip": clip, "retune": retune}
    computed = _compute(pre, data, todo, points, ref, how, runs_dir, results, progress)

    missing = len(plan) - len(results)
    fixed_dict = settings_without_trial(fixed)
    rows = table_rows(points, trials, results, fixed_dict, data_summary)
    counts = {"total": len(plan), "reused": reused, "computed": computed, "missing": missing}
    table = table_content(name, base, fixed_dict, grid, trials, rows, counts, started)
    path = os.path.join(out_dir, naming.SWEEP_TABLE)
    storage.atomic_write_json(path, table)
    storage.atomic_write_text(os.path.join(out_dir, naming.SWEEP_CSV), csv_text(table))
    log(f"evaluations: {len(plan)} in all; reused {reused}, computed {computed}, missing {missing}")
    if missing:
        log(f"incomplete: {missing} evaluation(s) missing (--max_evaluations); run the same command again "
            f"to resume")
    return dict(table, path=path)
