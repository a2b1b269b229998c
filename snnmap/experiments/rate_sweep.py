"""Sweeps of the rate-coded baselines: T, the normalisation and the other rate settings as knobs.

A rate-coded sweep evaluates the rate SNN of :mod:`snnmap.rate` at every point of a grid of
``rate_*`` knobs (:data:`snnmap.experiments.grid.RATE_KNOBS`), e.g. ``rate_T=8,16,64,256`` and
``rate_normalisation=data,percentile``.  Points that differ only in ``rate_T`` share ONE simulation,
run to their largest T, which reports every T on the way (:func:`snnmap.rate.simulate`); its numbers
are those of ``python -m snnmap.compare`` with the same settings (both call
:func:`snnmap.experiments.compare.rate_rows`).  A parameter its normalisation does not use (the
percentile of ``data``, say) does not make a new simulation: such points share one.

Trial ``t`` seeds the Poisson input with ``rate_seed + t``; a constant input current is deterministic,
so its trials are one simulation.  The sweep's directory is laid out as the exact SNN's sweep
(:mod:`snnmap.experiments.sweep`): ``runs/`` (one file per simulation), ``sweep.json`` and ``sweep.csv``;
a sweep resumes from the files whose records match.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time

import numpy as np

from .. import storage
from ..rate import RateSettings, calibrate
from ..rate.network import operations
from ..rate.settings import INPUTS, NORMALISATIONS, READOUTS, RESETS
from . import naming, provenance
from .compare import rate_rows
from .grid import RATE_KNOBS, SweepError, split_specs
from .settings import Phase2Options
from .sweep import check_trials, recorded_run, sweep_references, table_content, table_csv, table_lines, trial_stats
from .sweep_lines import aligned_rows

#: Metrics of the table (mean and std over trials), from the comparison's rows (:mod:`snnmap.experiments.compare`).
RATE_METRICS = ("accuracy_snn", "agreement", "spikes_per_neuron", "synaptic_events", "energy", "no_output_spike")
#: The key of each metric in a comparison row.
ROW_KEY = {"accuracy_snn": "accuracy"}
#: What a run file must record, equal to the simulation at hand, to be reused.
RATE_MATCH_KEYS = ("model_name", "network_sha256", "settings", "data", "batch_size", "agreement_reference",
                   "clip_inputs", "original_logits_sha256", "calib_samples", "energy_pj")
#: The knob -> its field of :class:`~snnmap.rate.RateSettings`.
FIELD_OF = {k: k[len("rate_"):] for k in RATE_KNOBS if k not in ("rate_T", "rate_calib_samples")}
#: The calibration images of the data-based normalisations when ``rate_calib_samples`` is not swept.
DEFAULT_CALIB_SAMPLES = 1000
_CHOICES = {"rate_normalisation": NORMALISATIONS, "rate_input": INPUTS, "rate_reset": RESETS,
            "rate_readout": READOUTS}
_INTEGERS = ("rate_seed", "rate_calib_samples")
#: The parameter each normalisation uses; the others are left at their defaults (no new simulation).
_PARAMETER_OF = {"percentile": "percentile", "fraction": "fraction", "firing_rate": "firing_rate_scale"}


def is_rate_grid(grid) -> bool:
    """Whether a sweep's grid (``--sweep`` specs or a dict) has rate knobs.

    Parameters
    ----------
    grid : dict, str or list of str
    """
    if isinstance(grid, dict):
        return any(k in RATE_KNOBS for k in grid)
    return bool(split_specs(grid)[1])


def _value(knob, value):
    """One value of a rate knob, typed and checked on its own."""
    text = str(value).strip()
    if knob in _CHOICES:
        if text not in _CHOICES[knob]:
            raise SweepError(f"--sweep {knob}: '{text}' is not one of {', '.join(_CHOICES[knob])}")
        return text
    try:
        number = float(text)
    except ValueError:
        raise SweepError(f"--sweep {knob}: '{text}' is not a number") from None
    if knob == "rate_T" or knob in _INTEGERS:
        if not number.is_integer() or (number <= 0 and knob != "rate_seed"):
            what = "a number of time steps T" if knob == "rate_T" else "an integer"
            raise SweepError(f"--sweep {knob}: '{text}' is not {what}" + ("" if knob == "rate_seed" else " > 0"))
        return int(number)
    try:  # the ranges are RateSettings' own
        RateSettings(**{FIELD_OF[knob]: number})
    except ValueError as err:
        raise SweepError(f"--sweep {knob}: {err}") from None
    return number


def parse_rate_grid(grid):
    """The checked grid of a rate-coded sweep.

    Parameters
    ----------
    grid : dict, str or list of str
        ``{knob: [values]}`` or ``--sweep`` specs (``"rate_T=8,64"``); every knob in
        :data:`~snnmap.experiments.grid.RATE_KNOBS`, ``rate_T`` among them.

    Raises
    ------
    SweepError
        For a knob of the exact SNN mixed in, a missing ``rate_T``, a knob given twice, a repeated or bad value.
    """
    if isinstance(grid, dict):
        specs = {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in grid.items()}
    else:
        exact, rate = split_specs(grid)
        if exact:
            raise SweepError(f"{', '.join(exact)}: the exact SNN's knobs cannot be swept with the rate knobs "
                             f"({', '.join(RATE_KNOBS)}); run two sweeps")
        specs = {}
        for spec in rate:
            knob, _, values = str(spec).partition("=")
            knob = knob.strip()
            if knob in specs:
                raise SweepError(f"--sweep {knob} is given twice; list all its values in one --sweep {knob}=v1,v2,...")
            specs[knob] = values.split(",")
    mixed = [k for k in specs if k not in RATE_KNOBS]
    if mixed:
        raise SweepError(f"{', '.join(mixed)}: not a rate knob; the exact SNN's knobs cannot be swept with the "
                         f"rate knobs ({', '.join(RATE_KNOBS)}); run two sweeps")
    if "rate_T" not in specs:
        raise SweepError("a rate-coded sweep needs the time steps: give --sweep rate_T=T1,T2,... (e.g. 8,16,64,256)")
    out = {}
    for knob, values in specs.items():
        typed = [_value(knob, v) for v in values]
        if not typed or len(set(typed)) != len(typed):
            raise SweepError(f"--sweep {knob}: {'no values' if not typed else f'repeated value in {typed}'}")
        out[knob] = sorted(typed) if knob == "rate_T" else typed
    return out


def _effective(point, n_train):
    """``(fields of RateSettings without checkpoints, calibration images)`` of a grid point: a parameter its
    normalisation does not use is left at its default, so that points differing only there share one
    simulation."""
    fields = {FIELD_OF[k]: v for k, v in point.items() if k in FIELD_OF}
    norm = fields.get("normalisation", RateSettings.normalisation)
    for name in _PARAMETER_OF.values():
        if name in fields and _PARAMETER_OF.get(norm) != name:
            del fields[name]
    if fields.get("input", RateSettings.input) == "constant":
        fields.pop("seed", None)  # a constant current draws nothing
    return fields, min(int(point.get("rate_calib_samples", DEFAULT_CALIB_SAMPLES)), int(n_train))


@dataclasses.dataclass
class RateRun:
    """One simulation of a rate-coded sweep: its settings (up to its largest T), its file and its records.

    Attributes
    ----------
    settings : RateSettings
    calib_samples : int
    name : str
        Its file in ``runs/``.
    expected : dict
        What that file must record (:data:`RATE_MATCH_KEYS`) to be reused.
    """

    settings: RateSettings
    calib_samples: int
    name: str
    expected: dict


def _run_name(model_name, settings, calib_samples):
    parts = [model_name, "rate", settings.label.replace("/", "_")]
    if settings.input == "poisson":
        parts.append(f"seed{settings.seed}")
    return "_".join(parts + [f"cal{calib_samples}"]) + ".json"


def plan_rate_runs(points, trials, model_name, base, n_train):
    """The simulations of a rate-coded grid, and which one each grid point and trial reads.

    Parameters
    ----------
    points : list of dict
        The grid points (:func:`snnmap.experiments.grid.grid_points` of :func:`parse_rate_grid`).
    trials : int
    model_name : str
    base : dict
        What every run records (:func:`snnmap.experiments.sweep.sweep_references`, plus ``energy_pj``).
    n_train : int
        Training images available for calibration.

    Returns
    -------
    (list of RateRun, dict)
        The simulations, and ``(point index, trial) -> index`` into them.
    """
    runs, index_of, of_point = [], {}, {}
    for (i, point), trial in itertools.product(enumerate(points), range(trials)):
        fields, calib = _effective(point, n_train)
        if fields.get("input", RateSettings.input) == "poisson":
            fields["seed"] = fields.get("seed", RateSettings.seed) + trial
        key = (tuple(sorted(fields.items())), calib)
        if key not in index_of:
            ts = [p["rate_T"] for p in points if _effective(p, n_train) == _effective(point, n_train)]
            settings = RateSettings(**fields, checkpoints=ts)
            expected = dict(base, settings=storage.as_read_back(_without_checkpoints(settings)), calib_samples=calib)
            index_of[key] = len(runs)
            runs.append(RateRun(settings, calib, _run_name(model_name, settings, calib), expected))
        of_point[(i, trial)] = index_of[key]
    return runs, of_point


def _without_checkpoints(settings):
    return {k: v for k, v in settings.as_dict().items() if k != "checkpoints"}


def reusable_rate_runs(runs, runs_dir):
    """``(results, todo, stale)`` as :func:`snnmap.experiments.sweep.reusable_runs`: a file is reused when it
    records the same settings and every T the sweep needs; one that lacks some T is rerun for them all.

    Parameters
    ----------
    runs : list of RateRun
    runs_dir : str
    """
    results, todo, stale = {}, [], []
    for k, run in enumerate(runs):
        path = os.path.join(runs_dir, run.name)
        if os.path.isfile(path):
            recorded, key = recorded_run(path, run.expected, RATE_MATCH_KEYS)
            have = set(recorded.get("checkpoints") or [])
            if key is None and set(run.settings.checkpoints) <= have:
                results[k] = recorded
                continue
            if key is None:  # the same simulation, shorter: rerun it for every T, old and new
                key = "checkpoints (some T missing)"
                wanted = sorted(have | set(run.settings.checkpoints))
                run.settings = dataclasses.replace(run.settings, checkpoints=wanted)
            stale.append((run.name, key))
        todo.append((k, run))
    return results, todo, stale


class _Inputs:
    """The test images, labels and reference of a rate-coded sweep, and its calibrations (made when needed)."""

    def __init__(self, pre, data, reference, clip, batch_size):
        self.pre, self.data = pre, data
        x = np.clip(data.x_test, *pre.input_range) if clip else data.x_test
        self.x_hat = pre.normalize(x).astype(np.float32)  # as snnmap.compare feeds the rate SNN
        if reference is None:  # the preprocessed network's own classes
            reference = np.argmax(pre.model.predict(self.x_hat, batch_size=batch_size, verbose=0), axis=-1)
        self.reference = np.asarray(reference).reshape(-1)
        self._calibrations = {}

    def calibration(self, n):
        """The activations of the first ``n`` training images (clipped, normalised), as snnmap.compare takes them."""
        if n not in self._calibrations:
            calib = self.pre.normalize(np.clip(self.data.x_train[:n], *self.pre.input_range))
            self._calibrations[n] = calibrate(operations(self.pre.model), calib)
        return self._calibrations[n]


def _compute(inputs, todo, how, runs_dir, results, log):
    """Simulate the runs of ``todo`` (``(index, RateRun)``), write each file; how many were computed."""
    energies = Phase2Options(mac_pj=how["energy_pj"][0], add_pj=how["energy_pj"][1])
    for k, run in todo:
        started = time.time()
        rows, scales = rate_rows(inputs.pre, run.settings, inputs.x_hat, inputs.data.y_test, inputs.reference,
                                 inputs.calibration(run.calib_samples), how["batch_size"], energies, None, log)
        result = {**run.expected, "checkpoints": list(run.settings.checkpoints), "variant": run.settings.label,
                  "rows": rows, "scales": scales["scales"], "terms": scales["terms"],
                  "sweep": {"name": how["sweep_name"]}, "versions": provenance.versions(),
                  "created": provenance.now(), "elapsed_s": round(time.time() - started, 2)}
        storage.atomic_write_json(os.path.join(runs_dir, run.name), result)
        results[k] = storage.as_read_back(result)
    return len(todo)


def rate_table_rows(points, trials, of_point, runs, results, data_summary, accuracy_relu):
    """One row per grid point: its knobs, the variant, mean and std over trials of :data:`RATE_METRICS`.

    Parameters
    ----------
    points : list of dict
    trials : int
    of_point : dict
        ``(point index, trial) -> run index`` (:func:`plan_rate_runs`).
    runs : list of RateRun
    results : dict
        ``run index -> run file content`` of the simulations that exist.
    data_summary : dict
    accuracy_relu : float or None
        The reference network's accuracy on the same images.
    """
    rows = []
    for i, point in enumerate(points):
        found = []
        for t in range(trials):
            k = of_point[(i, t)]
            if k in results:
                row = next(r for r in results[k]["rows"] if r["T"] == point["rate_T"])
                found.append((t, runs[k], row))
        out = dict(point, variant=runs[of_point[(i, 0)]].settings.label, n_trials=len(found),
                   trials=[t for t, _, _ in found], accuracy_relu=accuracy_relu)
        for metric in RATE_METRICS:
            values = (r.get(ROW_KEY.get(metric, metric)) for _, _, r in found)
            out[f"{metric}_mean"], out[f"{metric}_std"] = trial_stats(values)
        out["macs"] = found[0][2]["macs"] if found else None
        run = runs[of_point[(i, 0)]]
        out["settings"] = dict(_without_checkpoints(run.settings), T=point["rate_T"], calib_samples=run.calib_samples)
        out["n_test"] = data_summary["n_test"]
        out["runs"] = sorted({run.name for _, run, _ in found})
        rows.append(out)
    return rows


def rate_csv_text(table) -> str:
    """The table as CSV: knobs, variant, n_trials, accuracy_relu, mean/std per metric, MACs, the data.

    Parameters
    ----------
    table : dict
        The content of a rate-coded sweep's ``sweep.json``.
    """
    names = list(table["grid"]) + ["variant", "n_trials", "accuracy_relu"] + [
        f"{m}_{s}" for m in RATE_METRICS for s in ("mean", "std")] + ["macs"]
    fixed = table["fixed_settings"]
    return table_csv(table, [(k, lambda r, k=k: r[k]) for k in names]
                     + [(k, lambda r, v=v: v) for k, v in fixed.items()])


def _fixed(grid, calib_samples_default=DEFAULT_CALIB_SAMPLES):
    """The rate settings outside the grid (their defaults), by knob."""
    defaults = RateSettings()
    out = {knob: getattr(defaults, field) for knob, field in FIELD_OF.items() if knob not in grid}
    if "rate_calib_samples" not in grid:
        out["rate_calib_samples"] = calib_samples_default
    return out


def run_rate_sweep(pre, data, grid, trials, out_dir, *, model_name=None, reference_predictions=None,
                   batch_size=256, max_evaluations=None, energy_pj=None, sweep_name=None, log=print, clip=False):
    """Simulate the rate SNN of ``pre`` at every point of a grid of rate knobs; write the runs and the table.

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network.
    data : snnmap.data.DataSet
        Its test split is evaluated; its first training images calibrate the data-based normalisations.
    grid : dict or list of str
        Rate knobs (:func:`parse_rate_grid`), ``rate_T`` among them.
    trials : int
        Trials ``0..trials-1``: trial ``t`` seeds the Poisson input with ``rate_seed + t``.
    out_dir : str
        The sweep's directory (``runs/``, ``sweep.json``, ``sweep.csv``).
    model_name : str, optional
        Names the run files (default: the network ``pre`` was preprocessed from).
    reference_predictions : array_like, optional
        The original network's predictions on ``data.x_test``; else the preprocessed network's.
    batch_size : int
        Images simulated together (the Poisson draws depend on it; recorded and matched).
    max_evaluations : int, optional
        Stop after this many new simulations.
    energy_pj : (float, float), optional
        Energy per MAC and per synaptic event (pJ); default: those of :class:`Phase2Options`.
    sweep_name : str, optional
        Default: the name of ``out_dir``.
    log : callable
    clip : bool
        Clip the test images to the input range.

    Returns
    -------
    dict
        The content of ``sweep.json`` (``method`` ``"rate"``, ``rows``, ``evaluations``) plus ``path``.
    """
    started = time.time()
    grid, trials = parse_rate_grid(grid), check_trials(trials, max_evaluations)
    energy_pj = tuple(energy_pj) if energy_pj else (Phase2Options.mac_pj, Phase2Options.add_pj)
    model_name = model_name or pre.report["original_model"]
    runs_dir = os.path.join(str(out_dir), naming.RUNS_DIR)
    points = [dict(zip(grid, v)) for v in itertools.product(*grid.values())]
    data_summary = storage.as_read_back(data.summary())
    ref, _, base = sweep_references(pre, data, model_name, reference_predictions, None, batch_size, clip)
    base = dict(base, energy_pj=list(energy_pj))
    storage.check_writable(runs_dir, "the sweep's runs")
    runs, of_point = plan_rate_runs(points, trials, model_name, base, len(data.x_train))
    results, todo, stale = reusable_rate_runs(runs, runs_dir)
    reused = len(results)
    log(f"rate sweep: {len(points)} grid point(s) x {trials} trial(s) = {len(runs)} simulation(s) on "
        f"{data_summary['n_test']} test images; {reused} reused from {runs_dir}, {len(todo)} to compute")
    for name, key in stale:
        log(f"  recomputing {name}: its recorded {key} differs from this run's")
    todo = todo if max_evaluations is None else todo[:max_evaluations]
    name = sweep_name or os.path.basename(os.path.normpath(str(out_dir)))
    how = {"batch_size": int(batch_size), "energy_pj": energy_pj, "sweep_name": name}
    computed = _compute(_Inputs(pre, data, ref, clip, batch_size), todo, how, runs_dir, results, log) if todo else 0

    missing = len(runs) - len(results)
    accuracy_relu = None if ref is None else float(np.mean(ref == np.asarray(data.y_test)))
    rows = rate_table_rows(points, trials, of_point, runs, results, data_summary, accuracy_relu)
    counts = {"total": len(runs), "reused": reused, "computed": computed, "missing": missing}
    table = dict(table_content(name, base, _fixed(grid), grid, trials, rows, counts, started), method="rate",
                 metrics=list(RATE_METRICS), energy_pj=list(energy_pj),
                 std="sample standard deviation over trials (ddof=1); null for one trial; 0 for a constant input "
                     "current, which is deterministic")
    path = os.path.join(str(out_dir), naming.SWEEP_TABLE)
    storage.atomic_write_json(path, table)
    storage.atomic_write_text(os.path.join(str(out_dir), naming.SWEEP_CSV), rate_csv_text(table))
    log(f"evaluations: {len(runs)} in all; reused {reused}, computed {computed}, missing {missing}")
    if missing:
        log(f"incomplete: {missing} simulation(s) missing (max_evaluations); run the same command again to resume")
    return dict(table, path=path)


def _cell(row, metric, fmt, scale=1.0):
    mean, std = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
    if mean is None:
        return "n/a"
    text = format(mean * scale, fmt)
    return text if std is None else f"{text} +- {format(std * scale, fmt)}"


def rate_table_lines(table) -> list:
    """The readable table of a rate-coded sweep.

    Parameters
    ----------
    table : dict
        What :func:`run_rate_sweep` returns (or its ``sweep.json``).
    """
    knobs = list(table["grid"])
    relu = table.get("accuracy_relu")
    fixed = " ".join(f"{k}={v}" for k, v in table["fixed_settings"].items())
    lines = [f"rate-coded sweep {table['sweep_name']}: rate SNN of {table['model_name']} on "
             f"{table['data_description']}",
             f"  fixed: {fixed}",
             "  grid: " + "; ".join(f"{k} = {', '.join(str(v) for v in vals)}" for k, vals in table["grid"].items())
             + f"; {table['trials']} trial(s) per point",
             f"  accuracy (ReLU): {'n/a' if relu is None else format(relu, '.4f')} (reference network, same images)"]
    cols = [(k, lambda r, k=k: str(r[k])) for k in knobs] + [
        ("variant", lambda r: r["variant"]), ("n", lambda r: str(r["n_trials"])),
        ("accuracy", lambda r: _cell(r, "accuracy_snn", ".4f")), ("agreement", lambda r: _cell(r, "agreement", ".4f")),
        ("spikes/neuron", lambda r: _cell(r, "spikes_per_neuron", ".3f")),
        ("synaptic events", lambda r: _cell(r, "synaptic_events", ".4g")),
        ("energy pJ", lambda r: _cell(r, "energy", ".4g")),
        ("silent %", lambda r: _cell(r, "no_output_spike", ".1f", 100))]
    lines += aligned_rows(cols, table["rows"])
    lines.append("  (spikes per hidden neuron per image; synaptic events and energy per image; silent: images on "
                 "which no output neuron spiked, whose spike-count class is a tie)")
    return lines


def sweep_lines(table) -> list:
    """The readable table of any sweep: :func:`rate_table_lines` for a rate-coded one, else
    :func:`snnmap.experiments.sweep.table_lines`.

    Parameters
    ----------
    table : dict
    """
    return rate_table_lines(table) if table.get("method") == "rate" else table_lines(table)
