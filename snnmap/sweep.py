"""Sweep command: the robustness experiments of MAPPING §6 over a grid of knobs, with trials.

    python -m snnmap.sweep --flagfile flags/fashionmnist_fc.txt --sweep noise=0,0.05,0.1 --trials 5
    python -m snnmap.sweep --flagfile flags/fashionmnist_fc_noise.txt

Reads phase 1's outputs from ``--logging_dir`` (it never runs phase 1; a clear error says to
run it when they are missing).  ``--sweep KNOB=v1,v2,...`` (repeatable) spans a grid, the
cartesian product of the values; every other SNN setting is fixed by its usual flag
(``--zeta``, ``--noise``, ... as in phase 2).  Each grid point runs trials ``0..N-1``
(``--trials N``); a trial seeds the noises through :func:`snnmap.pipeline.convert.derive_seed`, exactly
as ``phase2 --trial``, so a sweep's run equals the phase-2 run of the same settings.

Layout, in ``<logging_dir>/sweeps/<sweep_name>/``::

    runs/<model>_zeta.._noise.._alpha.._trial...json   one file per (grid point, trial):
                                                        the full result (metrics, settings, data)
    sweep.json                                          the table (one row per grid point) + what it was run on
    sweep.csv                                           the same table, one row per grid point

Every file is written atomically.  A sweep RESUMES: a run whose file exists and records the
same settings, data, network and batch size is read back instead of recomputed, so an
interrupted sweep (or ``--max_evaluations``) continues where it stopped, and adding values
or trials computes only the new runs.  The LAST line of standard output is
``results: <path of sweep.json>``.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import itertools
import json
import math
import os
import re
import time

from absl import app, flags

from . import cli
from .errors import SnnmapError

cli.define_common_flags()
FLAGS = flags.FLAGS

#: Knobs a sweep may vary (keys of :func:`snnmap.cli.snn_settings` that change the SNN) and their types.
KNOBS = {"noise": float, "alpha_noise": float, "zeta": float, "time_bits": int, "weight_bits": int,
         "w_min": float, "w_max": float, "x_quantile": float}
#: Knobs that also accept ``none`` (their default: the range of each layer's weights).
OPTIONAL_KNOBS = ("w_min", "w_max")
#: Settings of a run at their defaults (those of the flags; MAPPING §6).
DEFAULT_SETTINGS = {"zeta": 0.5, "noise": 0.0, "alpha_noise": 0.0, "seed": 0, "dtype": "float64", "solver": "auto",
                    "time_bits": 0, "weight_bits": 0, "w_min": None, "w_max": None, "x_quantile": 1.0}
#: Metrics of the table (mean and std over trials), from a run's result (MAPPING §7).
TABLE_METRICS = ("accuracy_snn", "agreement", "latency", "spikes_per_neuron", "informative_spike_fraction",
                 "violations", "violations_a", "violations_b", "max_abs_error")
#: What a run file must record, equal to the run at hand, to be reused instead of recomputed.
MATCH_KEYS = ("model_name", "network_sha256", "settings", "data", "X_n", "batch_size", "agreement_reference")


class SweepError(SnnmapError, ValueError):
    """A sweep asked for something that cannot be swept (unknown knob, bad value, ...)."""


# --------------------------------------------------------------------------- the grid

def _fmt(value):
    """A value as it appears in names: ``0.05``, ``m1`` for -1, ``none``."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return format(value, "g").replace("-", "m").replace("+", "")
    return str(value).replace("-", "m")


def _show(value):
    """A value as it is printed: ``0.05``, ``-1``, ``none``."""
    if value is None:
        return "none"
    return format(value, "g") if isinstance(value, float) else str(value)


def _parse_value(knob, text):
    text = text.strip()
    if not text:
        raise SweepError(f"--sweep {knob}: empty value (write {knob}=v1,v2,...)")
    if text.lower() == "none":
        if knob not in OPTIONAL_KNOBS:
            raise SweepError(f"--sweep {knob}: 'none' is only allowed for {', '.join(OPTIONAL_KNOBS)}")
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


def _check_value(knob, value):
    if value is None:
        if knob not in OPTIONAL_KNOBS:
            raise SweepError(f"--sweep {knob}: 'none' is only allowed for {', '.join(OPTIONAL_KNOBS)}")
        return
    if knob in ("noise", "alpha_noise", "zeta", "time_bits", "weight_bits") and value < 0:
        raise SweepError(f"--sweep {knob}: values must be >= 0, got {value}")
    if knob == "x_quantile" and not 0.0 < value <= 1.0:
        raise SweepError(f"--sweep x_quantile: values must be in (0, 1], got {value}")


def _check_knob(knob):
    if knob in ("trial", "seed"):
        raise SweepError(f"'{knob}' cannot be swept: a sweep runs trials 0..N-1 itself (--trials N), each seeded "
                         f"from --seed; sweepable knobs: {', '.join(KNOBS)}")
    if knob not in KNOBS:
        raise SweepError(f"unknown sweep knob '{knob}'; sweepable knobs: {', '.join(KNOBS)}")


def parse_grid(specs):
    """The grid of ``--sweep`` specs: ``["noise=0,0.1", "zeta=0,0.5"]`` -> ``{"noise": [0.0, 0.1], ...}``.

    Keeps the order of the specs (the first knob varies slowest).  Raises :class:`SweepError`
    for an unknown knob, ``trial``/``seed``, a knob given twice, a repeated or bad value.
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
    """Validate a grid given as a dict ``{knob: [values]}``; returns it with the values typed."""
    if not grid:
        raise SweepError("nothing to sweep: give at least one --sweep KNOB=v1,v2,... "
                         f"(knobs: {', '.join(KNOBS)})")
    out = {}
    for knob, values in dict(grid).items():
        _check_knob(knob)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        typed = []
        for v in values:
            if v is None or isinstance(v, str):
                v = _parse_value(knob, "none" if v is None else v)
            elif KNOBS[knob] is int:
                if float(v) != int(v):
                    raise SweepError(f"--sweep {knob}: {v} is not an integer")
                v = int(v)
            else:
                v = float(v)
                if not math.isfinite(v):
                    raise SweepError(f"--sweep {knob}: {v} is not a finite number")
            _check_value(knob, v)
            typed.append(v)
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
    """The grid points (dicts ``knob -> value``) in order: cartesian product, first knob slowest."""
    knobs = list(grid)
    return [dict(zip(knobs, values)) for values in itertools.product(*(grid[k] for k in knobs))]


def complete_settings(fixed_settings):
    """The fixed settings of a sweep with every key of :data:`DEFAULT_SETTINGS` (``trial`` dropped)."""
    fixed = dict(fixed_settings or {})
    fixed.pop("trial", None)
    unknown = sorted(set(fixed) - set(DEFAULT_SETTINGS))
    if unknown:
        raise SweepError(f"unknown settings {unknown}; settings: {', '.join(DEFAULT_SETTINGS)}")
    return {**DEFAULT_SETTINGS, **fixed}


def default_sweep_name(model_name, grid, fixed_settings, n_test=None):
    """A readable sweep name: model, grid, the fixed settings that differ from their defaults, ``n<test>``.

    ``fashionmnist_fc_relu_noise0-0.05-0.1_zeta0-0.5`` ; a long list of values is shortened to
    ``noise0..0.5x11`` plus a short hash of the whole grid, so distinct grids never share a name.
    """
    parts, shortened = [model_name], False
    for knob, values in grid.items():
        text = "-".join(_fmt(v) for v in values)
        if len(text) > 40:
            numbers = [v for v in values if v is not None]
            text = f"{_fmt(min(numbers))}..{_fmt(max(numbers))}x{len(values)}" if numbers else f"x{len(values)}"
            shortened = True
        parts.append(knob + text)
    fixed = complete_settings(fixed_settings)
    for key, value in fixed.items():
        if key not in grid and value != DEFAULT_SETTINGS[key]:
            parts.append(key + _fmt(value))
    if n_test is not None:
        parts.append(f"n{int(n_test)}")
    if shortened:
        digest = hashlib.sha256(json.dumps(grid, sort_keys=True).encode()).hexdigest()[:8]
        parts.append(digest)
    return "_".join(parts)


def check_sweep_name(name):
    if not name or name in (".", "..") or "/" in name or (os.sep != "/" and os.sep in name):
        raise SweepError(f"--sweep_name '{name}' must be a plain directory name (no path separators)")
    return name


def run_file_name(model_name, settings):
    """A run's file name: the name phase 2 gives the results of the same settings (without ``_n<N>``:
    the sweep directory names the test subset)."""
    from .experiments import naming as experiment
    from . import phase2

    return os.path.basename(experiment.results_path("", model_name, phase2.run_name_settings(settings)))


# --------------------------------------------------------------------------- the runs

def network_fingerprint(pre):
    """sha256 of the preprocessed network's weights, ``X_n`` and input range (which network a run used)."""
    import numpy as np

    digest = hashlib.sha256()
    for w in pre.model.get_weights():
        w = np.ascontiguousarray(np.asarray(w, np.float64))
        digest.update(str(w.shape).encode())
        digest.update(w.tobytes())
    digest.update(json.dumps([list(map(float, pre.X_n)), list(map(float, pre.input_range))]).encode())
    return digest.hexdigest()


def _canonical(value):
    """``value`` as it reads back from a JSON file (tuples as lists, NumPy scalars as numbers)."""
    from . import storage

    return json.loads(json.dumps(storage._jsonable(value)))  # noqa: SLF001 - the same conversion as the writer


def _mismatch(recorded, expected):
    """The first key whose recorded value differs from the expected one, or None."""
    for key in MATCH_KEYS:
        if recorded.get(key) != expected[key]:
            return key
    return None


def _stats(values):
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    import numpy as np

    return float(np.mean(values)), float(np.std(values))  # population std (ddof=0)


def table_rows(points, trials, results, fixed, data_summary):
    """One row per grid point from the run results (``results[(point_index, trial)]``)."""
    rows = []
    for i, point in enumerate(points):
        runs = [(t, results[(i, t)]) for t in range(trials) if (i, t) in results]
        row = dict(point)
        row["n_trials"] = len(runs)
        row["trials"] = [t for t, _ in runs]
        relu = [r.get("accuracy_relu") for _, r in runs if r.get("accuracy_relu") is not None]
        row["accuracy_relu"] = relu[0] if relu else None
        for metric in TABLE_METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = _stats(r.get(metric) for _, r in runs)
        row["settings"] = {**fixed, **point}
        row["n_test"] = data_summary["n_test"]
        row["runs"] = [r["_file"] for _, r in runs]
        rows.append(row)
    return rows


def csv_text(table):
    """The table as CSV: knobs, n_trials, accuracy_relu, mean/std per metric, the other settings, the data."""
    knobs = list(table["grid"])
    metric_cols = [f"{m}_{s}" for m in TABLE_METRICS for s in ("mean", "std")]
    other = [k for k in table["fixed_settings"] if k not in knobs]
    header = knobs + ["n_trials", "accuracy_relu"] + metric_cols + other + [
        "model_name", "data_name", "data_source", "n_test", "data_description"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in table["rows"]:
        values = [row[k] for k in knobs] + [row["n_trials"], row["accuracy_relu"]] + [row[c] for c in metric_cols]
        values += [row["settings"][k] for k in other]
        values += [table["model_name"], table["data_name"], table["data_source"], row["n_test"],
                   table["data_description"]]
        writer.writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def run_sweep(pre, data, grid, trials, fixed_settings, out_dir, *, model_name=None, reference_predictions=None,
              batch_size=256, max_evaluations=None, energy_pj=None, distribute="none", sweep_name=None,
              verbose="auto", log=print):
    """Evaluate the SNN of ``pre`` at every grid point and trial; write the runs and the table.

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network (:meth:`snnmap.Preprocessed.load`).
    data : snnmap.datasets.DataSet
        Its test split is evaluated (``x_test``, ``y_test``); ``summary()`` is recorded.
    grid : dict or list of str
        ``{knob: [values]}`` or ``--sweep`` specs (``"noise=0,0.1"``); see :func:`parse_grid`.
    trials : int
        Trials ``0..trials-1`` per grid point.
    fixed_settings : dict
        The other settings (keys of :func:`snnmap.cli.snn_settings`; missing ones take their
        defaults, ``trial`` is ignored); grid values override them.
    out_dir : str
        The sweep's directory (runs go to ``out_dir/runs``; the table to ``sweep.json`` and
        ``sweep.csv``).
    model_name : str, optional
        Names the run files (default: the preprocessed model's name without ``_preprocessed``).
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
        Devices of each evaluation, as phase 2's ``--distribute`` (:func:`snnmap.runtime.distribute_scope`);
        recorded in each run, not part of the match for reuse.
    verbose : "auto" or 0
        Progress bars.
    log : callable
        Receives the lines to print.

    Returns
    -------
    dict
        The content of ``sweep.json`` (``rows``, ``evaluations`` counts, ...) plus ``path``.
    """
    import numpy as np

    from . import phase2, storage
    from .pipeline.evaluate import evaluate
    from .runtime import distribute_scope

    started = time.time()
    grid = parse_grid(grid) if isinstance(grid, (list, tuple, str)) else check_grid(grid)
    if int(trials) != trials or trials < 1:
        raise SweepError(f"--trials must be a positive integer, got {trials}")
    trials = int(trials)
    if max_evaluations is not None and max_evaluations < 0:
        raise SweepError(f"--max_evaluations must be >= 0, got {max_evaluations}")
    fixed = complete_settings(fixed_settings)
    model_name = model_name or re.sub(r"_preprocessed$", "", pre.model.name)
    out_dir = str(out_dir)
    runs_dir = os.path.join(out_dir, "runs")
    points = grid_points(grid)
    data_summary = _canonical(data.summary())
    ref = None if reference_predictions is None else np.asarray(reference_predictions).reshape(-1)
    if ref is not None and len(ref) != data.n_test:
        raise ValueError(f"{len(ref)} reference predictions for {data.n_test} test images")
    base = {"model_name": model_name, "network_sha256": network_fingerprint(pre), "data": data_summary,
            "batch_size": int(batch_size),
            "agreement_reference": "original ReLU network" if ref is not None else "preprocessed ReLU network"}
    window_scales = {}

    plan = []  # (point index, trial, settings, file, expected)
    for i, point in enumerate(points):
        for trial in range(trials):
            settings = {**fixed, **point, "trial": trial}
            settings = {key: settings[key] for key in ("zeta", "noise", "alpha_noise", "trial", "seed", "dtype",
                                                       "solver", "time_bits", "weight_bits", "w_min", "w_max",
                                                       "x_quantile")}
            q = settings["x_quantile"]
            if q not in window_scales:
                window_scales[q] = pre.window_scales(q)
            expected = dict(base, settings=_canonical(settings), X_n=_canonical(window_scales[q]))
            plan.append((i, trial, settings, run_file_name(model_name, settings), expected))
    names = [p[3] for p in plan]
    if len(set(names)) != len(names):  # cannot happen with distinct values; guards the naming
        raise SweepError("two runs of the sweep would share a file name")

    results, todo, stale = {}, [], []
    for i, trial, settings, name, expected in plan:
        path = os.path.join(runs_dir, name)
        if os.path.isfile(path):
            try:
                recorded = storage.read_json(path)
            except (OSError, ValueError):
                recorded = {}
            key = _mismatch(recorded, expected)
            if key is None:
                results[(i, trial)] = dict(recorded, _file=name)
                continue
            stale.append((name, key))
        todo.append((i, trial, settings, name, expected))
    reused = len(results)
    log(f"sweep: {len(points)} grid point(s) x {trials} trial(s) = {len(plan)} evaluation(s) on "
        f"{data_summary['n_test']} test images; {reused} reused from {runs_dir}, {len(todo)} to compute")
    for name, key in stale:
        log(f"  recomputing {name}: its recorded {key} differs from this run's")

    if max_evaluations is not None:
        todo = todo[:max_evaluations]
    bar = None
    if verbose != 0 and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), initial=reused, desc="sweep", unit="eval", dynamic_ncols=True)
    computed = 0
    try:
        for i, trial, settings, name, expected in todo:
            t0 = time.time()
            with distribute_scope(distribute):
                snn = phase2.build_snn(pre, settings)
                metrics = evaluate(snn, data.x_test, data.y_test, relu_model=pre.model, reference_predictions=ref,
                                   input_range=pre.input_range, batch_size=batch_size, verbose=verbose)
            result = {
                "data_name": data_summary["name"],
                "data_source": data_summary["source"],
                "data_description": data_summary["description"],
                **expected,
                **{key: metrics.get(key) for key in phase2.METRIC_KEYS},
                "energy": phase2.energy_of(metrics.get("operations"), *energy_pj) if energy_pj else None,
                "sweep": {"name": sweep_name or os.path.basename(os.path.normpath(out_dir)),
                          "point": points[i], "trial": trial},
                "distribute": distribute,
                "versions": phase2._versions(),  # noqa: SLF001
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "elapsed_s": round(time.time() - t0, 2),
            }
            storage.atomic_write_json(os.path.join(runs_dir, name), result)
            results[(i, trial)] = dict(_canonical(result), _file=name)
            computed += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    missing = len(plan) - len(results)
    rows = table_rows(points, trials, results, fixed, data_summary)
    relu = [r["accuracy_relu"] for r in rows if r["accuracy_relu"] is not None]
    table = {
        "sweep_name": sweep_name or os.path.basename(os.path.normpath(out_dir)),
        "model_name": model_name,
        "network_sha256": base["network_sha256"],
        "data_name": data_summary["name"],
        "data_source": data_summary["source"],
        "data_description": data_summary["description"],
        "data": data_summary,
        "fixed_settings": fixed,
        "grid": grid,
        "trials": trials,
        "batch_size": int(batch_size),
        "agreement_reference": base["agreement_reference"],
        "accuracy_relu": relu[0] if relu else None,
        "metrics": list(TABLE_METRICS),
        "std": "population standard deviation over trials (ddof=0)",
        "complete": missing == 0,
        "evaluations": {"total": len(plan), "reused": reused, "computed": computed, "missing": missing},
        "runs_dir": "runs",
        "rows": rows,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 2),
    }
    path = os.path.join(out_dir, "sweep.json")
    storage.atomic_write_json(path, table)
    storage.atomic_write_text(os.path.join(out_dir, "sweep.csv"), csv_text(table))
    log(f"evaluations: {len(plan)} in all; reused {reused}, computed {computed}, missing {missing}")
    if missing:
        log(f"incomplete: {missing} evaluation(s) missing (--max_evaluations); run the same command again "
            f"to resume")
    return dict(table, path=path)


# --------------------------------------------------------------------------- printing

def table_lines(table):
    """The readable table the command prints."""
    knobs = list(table["grid"])
    fixed = {k: v for k, v in table["fixed_settings"].items() if k not in knobs and v is not None}
    relu = table.get("accuracy_relu")
    lines = [
        f"sweep {table['sweep_name']}: SNN of {table['model_name']} on {table['data_description']}",
        "  fixed: " + " ".join(f"{k}={v}" for k, v in fixed.items()),
        "  grid: " + "; ".join(f"{k} = {', '.join(_show(v) for v in vals)}" for k, vals in table["grid"].items())
        + f"; {table['trials']} trial(s) per point (mean +- std over trials)",
        f"  accuracy (ReLU): {'n/a' if relu is None else format(relu, '.4f')} (original network, same images)",
    ]

    def pm(row, metric, fmt, scale=1.0):
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        if mean is None:
            return "n/a"
        return f"{format(mean * scale, fmt)} +- {format(std * scale, fmt)}"

    cols = [(k, lambda r, k=k: _show(r[k])) for k in knobs]
    cols += [
        ("n", lambda r: str(r["n_trials"])),
        ("accuracy SNN", lambda r: pm(r, "accuracy_snn", ".4f")),
        ("agreement", lambda r: pm(r, "agreement", ".4f")),
        ("violations (a/b)", lambda r: "n/a" if r["violations_mean"] is None else
         f"{r['violations_mean']:g} ({r['violations_a_mean']:g}/{r['violations_b_mean']:g})"),
        ("latency", lambda r: "n/a" if r["latency_mean"] is None else f"{r['latency_mean']:.3f}"),
        ("informative %", lambda r: pm(r, "informative_spike_fraction", ".2f", 100.0)),
        ("max |error|", lambda r: "n/a" if r["max_abs_error_mean"] is None else f"{r['max_abs_error_mean']:.2e}"),
    ]
    cells = [[name for name, _ in cols]] + [[f(row) for _, f in cols] for row in table["rows"]]
    widths = [max(len(c[j]) for c in cells) for j in range(len(cols))]
    for k, c in enumerate(cells):
        lines.append("  " + "  ".join(v.rjust(w) for v, w in zip(c, widths)))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines.append("  (violations: mean count per run of hidden neurons beyond the window (a) / crossing early (b); "
                 "latency in tau_c; max |error| over neurons without violations)")
    return lines


# --------------------------------------------------------------------------- command

def run_sweep_command():
    """The sweep from the parsed flags; returns the table (with ``path``)."""
    grid = parse_grid(FLAGS.sweep)  # refuse a bad grid before loading anything
    if FLAGS.trials < 1:
        raise SweepError(f"--trials must be >= 1, got {FLAGS.trials}")
    if FLAGS.part is not None or FLAGS.num_parts is not None:
        raise SweepError("--part/--num_parts are not supported by the sweep (it evaluates the whole test set)")
    if FLAGS.sweep_name is not None:
        check_sweep_name(FLAGS.sweep_name)
    if FLAGS.trial != 0:
        print(f"warning: --trial {FLAGS.trial} is ignored; the sweep runs trials 0..{FLAGS.trials - 1} (--trials)")
    if FLAGS.save_snn:
        print("warning: --save_snn is ignored by the sweep")

    loaded = cli.load_phase1_outputs("the sweep")
    logging_dir, model_name = loaded["logging_dir"], loaded["model_name"]
    pre, reference, ds = loaded["pre"], loaded["reference"], loaded["ds"]

    fixed = cli.snn_settings()
    fixed.pop("trial")
    name = FLAGS.sweep_name or default_sweep_name(model_name, grid, fixed, FLAGS.test_samples)
    out_dir = os.path.join(logging_dir, "sweeps", name)
    return run_sweep(pre, ds, grid, FLAGS.trials, fixed, out_dir, model_name=model_name,
                     reference_predictions=reference[:ds.n_test], batch_size=FLAGS.batch_size,
                     max_evaluations=FLAGS.max_evaluations, energy_pj=(FLAGS.energy_mac_pj, FLAGS.energy_add_pj),
                     distribute=FLAGS.distribute, sweep_name=name)


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]} (the grid is given with --sweep KNOB=v1,v2,...)")
    table = run_sweep_command()
    print("\n".join(table_lines(table)))
    if FLAGS.report:
        from .reporting import html as report

        print(f"report: {report.write_report(table['path'])}")
    print(f"table: {os.path.join(os.path.dirname(table['path']), 'sweep.csv')}")
    print(f"results: {table['path']}")


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
