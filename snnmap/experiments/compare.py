"""The exact single-spike SNN and rate-coded baselines on one phase-1 network: the comparison table.

One run reads phase 1's outputs (as phase 2 does), evaluates the exact SNN once with
:func:`snnmap.experiments.phase2.run_phase2`, then simulates every rate-coded variant
(:mod:`snnmap.rate`) on the same test images, reporting each checkpoint T.  The table has one
row per method x variant x T (plus one for the ReLU network itself) and is written as JSON and
CSV next to phase 2's results, atomically.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import time

import numpy as np

from .. import storage
from ..errors import RateSettingsError
from ..pipeline.energy import DEFAULT_ENERGY
from ..pipeline.preprocess import is_graph_record
from ..rate import RateSettings, calibrate, rate_network, simulate, summarise
from ..rate.network import operations
from ..rate.settings import DEFAULT_CHECKPOINTS
from . import naming, provenance
from .phase2 import run_phase2
from .settings import Experiment, Phase2Options, RunSettings

#: The columns of the table, in order (the CSV's header).
COLUMNS = ("method", "variant", "normalisation", "input", "reset", "readout", "synapse_tau", "T", "accuracy",
           "agreement", "spikes_per_neuron", "synaptic_events", "macs", "energy", "energy_over_relu", "seconds",
           "no_output_spike")
#: A rate row whose fraction of images without any output spike reaches this is flagged (:func:`silent_notes`).
SILENT_FLAG = 0.5


def variants(normalisations=("data",), inputs=("constant",), resets=("subtract",), readouts=("spikes",),
             percentiles=(99.99,), fractions=(1.0,), firing_rate_scales=(1.0,), synapse_taus=(0.0,),
             checkpoints=DEFAULT_CHECKPOINTS, seed=0):
    """Every combination of the options, as :class:`~snnmap.rate.RateSettings` (validated).

    A percentile, fraction or firing-rate scale multiplies only its own normalisation.

    Parameters
    ----------
    normalisations, inputs, resets, readouts : sequence of str
        See :class:`~snnmap.rate.RateSettings`.
    percentiles, fractions, firing_rate_scales, synapse_taus : sequence of float
    checkpoints : sequence of int
        The time steps reported (the same for every variant).
    seed : int
        Seed of the Poisson input.
    """
    extra = {"percentile": [("percentile", p) for p in percentiles],
             "fraction": [("fraction", f) for f in fractions],
             "firing_rate": [("firing_rate_scale", s) for s in firing_rate_scales]}
    out = []
    for norm in normalisations:
        for (key, value), inp, reset, readout, tau in itertools.product(
                extra.get(norm, [(None, None)]), inputs, resets, readouts, synapse_taus):
            kwargs = {} if key is None else {key: value}
            out.append(RateSettings(normalisation=norm, input=inp, reset=reset, readout=readout,
                                    synapse_tau=tau, seed=seed, checkpoints=checkpoints, **kwargs))
    if not out:
        raise RateSettingsError("no rate variant: give at least one normalisation, input, reset and readout")
    return out


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """How the comparison runs.

    Attributes
    ----------
    variants : tuple of RateSettings
        The rate-coded variants (:func:`variants`).
    calib_samples : int
        Training images whose activations set the data-based thresholds (> 0).
    phase2 : Phase2Options
        Per-operation energies (and devices) of the exact SNN's evaluation; the rate rows use the same energies.
    """

    variants: tuple = ()
    calib_samples: int = 1000
    phase2: Phase2Options = Phase2Options()

    def __post_init__(self):
        if isinstance(self.calib_samples, bool) or int(self.calib_samples) <= 0:
            raise RateSettingsError(
                f"calib_samples must be a positive number of training images; got {self.calib_samples}")
        if self.phase2.part is not None:
            raise ValueError("the comparison runs on the whole test set: part and num_parts are not taken")


@dataclasses.dataclass
class CompareRun:
    """A finished comparison: the table (``result["rows"]``) and its files."""

    result: dict
    path: str
    csv_path: str


def _energy(events, macs, phase2: Phase2Options):
    return events * phase2.add_pj + macs * phase2.mac_pj


def fixed_rows(result, phase2: Phase2Options):
    """The rows of the ReLU network and of the exact SNN, from a phase-2 results file's content.

    Parameters
    ----------
    result : dict
        :func:`run_phase2`'s result.
    phase2 : Phase2Options
    """
    ops = result.get("operations") or {}
    macs = ops.get("relu_macs")
    relu_pj = None if macs is None else macs * phase2.mac_pj
    common = {"variant": "", "normalisation": "", "reset": "", "readout": "", "synapse_tau": None, "seconds": None}
    relu = dict(common, method="relu", input="analog", T=None, accuracy=result.get("accuracy_relu"),
                agreement=1.0, spikes_per_neuron=None, synaptic_events=None, macs=macs, energy=relu_pj,
                energy_over_relu=1.0 if relu_pj else None)
    events = ops.get("snn_events")
    energy = None if events is None else events * phase2.add_pj
    exact = dict(common, method="exact", variant="single spike", input="spike time", T=None,
                 accuracy=result.get("accuracy_snn"), agreement=result.get("agreement"),
                 spikes_per_neuron=result.get("spikes_per_neuron"), synaptic_events=events, macs=0, energy=energy,
                 energy_over_relu=energy / relu_pj if energy is not None and relu_pj else None,
                 seconds=result.get("elapsed_s"))
    return [relu, exact], relu_pj


def rate_rows(pre, variant: RateSettings, x_hat, labels, reference, calibration, batch_size, phase2, relu_pj,
              log=print):
    """The rows of one rate-coded variant, one per checkpoint.

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network.
    variant : RateSettings
    x_hat : ndarray
        Normalised test images.
    labels, reference : ndarray
        True classes and the original network's predictions.
    calibration : Calibration
        Shared by the variants.
    batch_size : int
    phase2 : Phase2Options
        The per-operation energies.
    relu_pj : float or None
        The ReLU network's energy per image.
    log : callable
    """
    started = time.time()
    net = rate_network(pre.model, variant, calibration=calibration)
    run = simulate(net, x_hat, batch_size=batch_size)
    seconds = round(time.time() - started, 2)
    rows = []
    for row in summarise(run, net, labels, reference):
        energy = _energy(row["synaptic_events"], row["macs"], phase2)
        rows.append(dict(row, method="rate", variant=variant.label, normalisation=variant.normalisation_label,
                         input=variant.input, reset=variant.reset, readout=variant.readout,
                         synapse_tau=variant.synapse_tau, energy=energy,
                         energy_over_relu=energy / relu_pj if relu_pj else None, seconds=seconds))
    last = rows[-1]
    log(f"rate {variant.label}: T={last['T']} accuracy {last['accuracy']:.4f} agreement {last['agreement']:.4f} "
        f"({seconds:.1f} s)")
    return rows, {"variant": variant.label, "scales": net.scales, "terms": net.terms, "settings": variant.as_dict()}


def table_csv(rows) -> str:
    """The rows as CSV text with the header :data:`COLUMNS`.

    Parameters
    ----------
    rows : list of dict
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    return out.getvalue()


def compare_paths(experiment: Experiment, settings: RunSettings, options: CompareOptions, n_test):
    """The JSON and CSV files of a comparison, named by its model, test images and a digest of its settings.

    Parameters
    ----------
    experiment : Experiment
    settings : RunSettings
        The exact SNN's settings.
    options : CompareOptions
    n_test : int
    """
    key = json.dumps({"exact": settings.as_dict(), "rate": [v.as_dict() for v in options.variants],
                      "calib_samples": options.calib_samples, "mac_pj": options.phase2.mac_pj,
                      "add_pj": options.phase2.add_pj, "batch_size": experiment.batch_size}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    base = os.path.join(naming.paths(experiment.logging_dir, experiment.model_name)["results_dir"],
                        f"{experiment.model_name}_compare_n{n_test}_{digest}")
    return base + ".json", base + ".csv"


def run_compare(experiment: Experiment, settings: RunSettings = RunSettings(), options: CompareOptions = None,
                log=print) -> CompareRun:
    """The comparison: the exact SNN once, then every rate variant; writes the table (JSON and CSV).

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`); phase 1 has run on it.
    settings : RunSettings
        The exact SNN's knobs.
    options : CompareOptions
        The variants, calibration and energies (default: data-based normalisation, constant input).
    log : callable
        Receives the lines to print.
    """
    options = options or CompareOptions(tuple(variants()))
    if not options.variants:
        raise ValueError("options.variants is empty: give at least one rate variant (see variants())")
    if is_graph_record(naming.paths(experiment.logging_dir, experiment.model_name)["X_n"]):
        raise RateSettingsError(f"'{experiment.model_name}' is a graph (residual or branching network): the "
                                "rate-coded baselines simulate chains only, for now")
    started = time.time()
    exact = run_phase2(experiment, settings, options.phase2, log)
    log(f"exact SNN: accuracy {exact.result['accuracy_snn']:.4f} agreement {exact.result['agreement']:.4f} "
        f"({exact.result['elapsed_s']:.1f} s)")
    pre, ds = exact.pre, exact.data
    start, stop = ds.test_indices or (0, ds.n_test)
    reference = storage.load_npy(naming.paths(experiment.logging_dir, experiment.model_name)["predictions"])
    reference = reference[start:stop]
    calib = pre.normalize(np.clip(ds.x_train[:options.calib_samples], *pre.input_range))
    calibration = calibrate(operations(pre.model), calib)
    x_hat = pre.normalize(ds.x_test).astype(np.float32)
    rows, relu_pj = fixed_rows(exact.result, options.phase2)
    scales = []
    for variant in options.variants:
        more, scale = rate_rows(pre, variant, x_hat, ds.y_test, reference, calibration, experiment.batch_size,
                                options.phase2, relu_pj, log)
        rows += more
        scales.append(scale)
    path, csv_path = compare_paths(experiment, settings, options, len(x_hat))
    result = {
        "data_name": experiment.data_name, "data_description": ds.description, "model_name": experiment.model_name,
        "n_test": int(len(x_hat)), "columns": list(COLUMNS), "rows": rows, "scales": scales,
        "exact_results": exact.path, "calib_samples": int(min(options.calib_samples, len(ds.x_train))),
        "energy": {"mac_pj": options.phase2.mac_pj, "add_pj": options.phase2.add_pj,
                   "source": DEFAULT_ENERGY["source"], "counts": "ReLU: MACs x mac_pj; SNNs: synaptic events x "
                   "add_pj, plus, for a constant (analog) input current, the first layer's MACs x mac_pj once"},
        "exact_settings": settings.as_dict(), "versions": provenance.versions(), "created": provenance.now(),
        "elapsed_s": round(time.time() - started, 2),
    }
    storage.atomic_write_text(csv_path, table_csv(rows))
    storage.atomic_write_json(path, result)
    return CompareRun(result, path, csv_path)


def _cell(value, digits=4):
    return "n/a" if value is None else f"{value:.{digits}f}"


def silent_notes(rows, threshold=SILENT_FLAG):
    """Notes on the rate variants whose output layer stays silent for many images (at their last T).

    With the spike-count readout, an image on which no output neuron spiked is a tie, read as class 0:
    its accuracy (about 0.10 on ten balanced classes) is then no decision of the network but the
    normalisation's rates being too low (Diehl's model-based bound on a deep network, for instance).

    Parameters
    ----------
    rows : list of dict
        The comparison's rows.
    threshold : float
        The fraction of images with no output spike from which a variant is named.
    """
    last = {}
    for r in rows:
        if r.get("method") == "rate" and r.get("no_output_spike") is not None:
            if r["variant"] not in last or r["T"] > last[r["variant"]]["T"]:
                last[r["variant"]] = r
    return [f"note: {v}: no output neuron spiked on {100 * r['no_output_spike']:.1f}% of the images at T={r['T']} "
            f"(its thresholds make the output rates too low); a tie reads as class 0, so its accuracy is chance, "
            f"not the network's decision" for v, r in last.items() if r["no_output_spike"] >= threshold]


def summary_lines(result, ts=(8, 16, 32, 64, 128, 256)):
    """A few lines of a comparison: the ReLU and exact rows, then each variant at a few T.

    Parameters
    ----------
    result : dict
        :func:`run_compare`'s result.
    ts : sequence of int
        The T shown (each variant's last T too).
    """
    lines = [f"{'method':<6} {'variant':<44} {'T':>5} {'accuracy':>8} {'agreement':>9} {'spikes/n':>8} "
             f"{'events':>11} {'energy pJ':>11} {'silent':>7}"]
    last = {}
    for r in result["rows"]:
        if r["method"] == "rate":
            last[r["variant"]] = max(last.get(r["variant"], 0), r["T"])
    for r in result["rows"]:
        if r["method"] == "rate" and r["T"] not in ts and r["T"] != last[r["variant"]]:
            continue
        events = "n/a" if r.get("synaptic_events") is None else f"{r['synaptic_events']:.4g}"
        energy = "n/a" if r.get("energy") is None else f"{r['energy']:.4g}"
        silent = r.get("no_output_spike")
        silent = "-" if silent is None else f"{100 * silent:.1f}%"
        lines.append(f"{r['method']:<6} {r['variant'] or '-':<44} {r['T'] or '-':>5} {_cell(r['accuracy']):>8} "
                     f"{_cell(r['agreement']):>9} {_cell(r.get('spikes_per_neuron'), 3):>8} {events:>11} {energy:>11} "
                     f"{silent:>7}")
    lines.append("(silent: images on which no output neuron spiked; their spike-count class is a tie)")
    return lines + silent_notes(result["rows"])
