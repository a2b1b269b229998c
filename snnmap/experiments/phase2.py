"""Phase 2 of an experiment: the SNN of one run's settings, evaluated on the test set (docs/method.md §6, §7)."""

from __future__ import annotations

import dataclasses
import os
import time

from .. import storage
from ..pipeline import energy
from ..pipeline.convert import retune, to_snn
from ..pipeline.evaluate import evaluate
from ..runtime import distribute_scope
from . import naming, provenance
from .inputs import load_phase1
from .settings import Experiment, Phase2Options, RunSettings

#: Metrics of a results file, from :func:`snnmap.evaluate` (docs/method.md §7).
METRIC_KEYS = ("n_test", "accuracy_relu", "accuracy_relu_preprocessed", "accuracy_snn", "agreement",
               "agreement_reference", "max_abs_error", "max_abs_error_end_to_end", "max_abs_error_original",
               "violations", "violations_a", "violations_b", "latency", "spikes_per_neuron",
               "informative_spike_fraction", "n_hidden_neurons", "n_labelled", "layers", "operations", "totals")


def build_snn(pre, settings: RunSettings):
    """The SNN of a run.

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network.
    settings : RunSettings
        The run's knobs; the noises are seeded by ``settings.noise_seed``.
    """
    return to_snn(pre, zeta=settings.zeta, noise=settings.noise, alpha_noise=settings.alpha_noise,
                  seed=settings.noise_seed, dtype=settings.dtype, solver=settings.solver,
                  time_bits=settings.time_bits, weight_bits=settings.weight_bits, w_min=settings.w_min,
                  w_max=settings.w_max, x_quantile=settings.x_quantile)


#: Knobs :func:`snnmap.retune` changes in a built SNN (with the trial, which reseeds it).
RETUNED = ("noise", "alpha_noise", "trial", "seed", "time_bits")


def retune_key(settings: RunSettings) -> tuple:
    """What must be equal for two runs to share one SNN, retuned (:class:`SnnCache`): every knob
    but those of :data:`RETUNED`, whether there is jitter and time quantisation, and, below
    float64, the alpha perturbation (:meth:`snnmap.layers.SpikingLayer.retune` redraws it only in
    float64).

    Parameters
    ----------
    settings : RunSettings
    """
    fixed = tuple((k, v) for k, v in settings.as_dict().items() if k not in RETUNED)
    alpha = ()
    if settings.dtype != "float64":
        alpha = (settings.alpha_noise, settings.noise_seed if settings.alpha_noise else None)
    return fixed + (settings.noise > 0, settings.time_bits > 0) + alpha


class SnnCache:
    """The SNN of the latest run, retuned for the next run where :func:`retune_key` allows.

    A new SNN traces its network on its first batch (most of a small sweep point's time, issue of
    the first-call cost in docs/solver.md, "Tracing"); a retuned one reuses the trace and
    :func:`snnmap.evaluate`'s probes.  Results are the same either way (tested).

    Parameters
    ----------
    pre : Preprocessed
        Phase 1's network.
    reuse : bool
        False builds a new SNN for every run (for comparisons).
    """

    def __init__(self, pre, reuse=True):
        self.pre, self.reuse = pre, bool(reuse)
        self.key, self.snn = None, None
        self.built = 0  # SNNs built so far

    def snn_for(self, settings: RunSettings):
        """The SNN of ``settings``: the cached one retuned, or a new one."""
        key = retune_key(settings)
        if self.reuse and self.snn is not None and key == self.key:
            return retune(self.snn, noise=settings.noise, alpha_noise=settings.alpha_noise,
                          seed=settings.noise_seed, time_bits=settings.time_bits)
        self.key, self.snn = None, None  # the old network goes before the new one is built
        snn = build_snn(self.pre, settings)
        self.built += 1
        if self.reuse:
            self.key, self.snn = key, snn
        return snn


def perturbation_keys(settings) -> dict:
    """What a results file records of a run's perturbations: ``perturbed`` and ``perturbations``.

    A perturbed run (noise, alpha_noise, time_bits, weight_bits or x_quantile < 1) deviates from
    the ReLU network on purpose: its error figures measure that deviation, not exactness.

    Parameters
    ----------
    settings : RunSettings or dict
        The run's settings.
    """
    found = naming.perturbations(settings)
    return {"perturbed": bool(found), "perturbations": found}


def is_perturbed(result) -> bool:
    """Whether a results file's run was perturbed: its ``perturbed`` key, else its settings (older files).

    Parameters
    ----------
    result : dict
        A results file's content.
    """
    if result.get("perturbed") is not None:
        return bool(result["perturbed"])
    return bool(naming.perturbations(result.get("settings")))


def energy_of(ops, mac_pj, add_pj):
    """The energy estimate of operation counts (:func:`snnmap.pipeline.energy.estimate`), or None.

    Parameters
    ----------
    ops : dict or None
        Operations per image (``metrics["operations"]``).
    mac_pj, add_pj : float
        Energy of a multiply-accumulate and of a synaptic event, pJ.
    """
    return None if ops is None else energy.estimate(ops, mac_pj, add_pj)


@dataclasses.dataclass
class Phase2Run:
    """A finished phase-2 run.

    Attributes
    ----------
    result : dict
        What the results file holds.
    path : str
        The results file.
    snn : SpikingModel
        The SNN that was evaluated.
    pre : Preprocessed
        Phase 1's network it was built from.
    data : snnmap.data.DataSet
        The data it was evaluated on.
    """

    result: dict
    path: str
    snn: object
    pre: object
    data: object


def run_phase2(experiment: Experiment, settings: RunSettings = RunSettings(),
               options: Phase2Options = Phase2Options(), log=print) -> Phase2Run:
    """Phase 2: build the SNN of ``settings``, evaluate it, write the results file.

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`); phase 1 has run on it.
    settings : RunSettings
    options : Phase2Options
        Shard, devices and per-operation energies.
    log : callable
        Receives the lines to print.
    """
    started = time.time()
    loaded = load_phase1(experiment, "phase 2", options.part, options.num_parts, log)
    pre, ds = loaded.pre, loaded.data
    start, stop = ds.test_indices or (0, ds.n_test)
    part = None if options.part is None else (options.part, options.num_parts)
    # Named by the images actually selected: --test_samples 5000 of 1,000 images is n1000.
    path = naming.results_path(experiment.logging_dir, experiment.model_name, settings,
                               n_test=None if experiment.test_samples is None else loaded.n_selected, part=part,
                               batch_size=experiment.batch_size, clip=options.clip)
    storage.check_writable(os.path.dirname(path), "the results")  # before the evaluation, not after it
    logits = None if loaded.logits is None else loaded.logits[start:stop]
    with distribute_scope(options.distribute):
        snn = build_snn(pre, settings)
        metrics = evaluate(snn, ds.x_test, ds.y_test, relu_model=pre.model,
                           reference_predictions=loaded.reference[start:stop], input_range=pre.input_range,
                           batch_size=experiment.batch_size, reference_logits=logits, clip=options.clip)
    part_record = None if part is None else {"part": options.part, "num_parts": options.num_parts,
                                             "test_indices": [start, stop]}
    result = results_record(experiment, settings, options, loaded, metrics, part_record, started)
    storage.atomic_write_json(path, result)
    return Phase2Run(result, path, snn, pre, ds)


def results_record(experiment, settings, options, loaded, metrics, part_record, started) -> dict:
    """The results JSON of a phase-2 run (one definition for the single-machine and the Beam run).

    Parameters
    ----------
    experiment : Experiment
    settings : RunSettings
    options : Phase2Options
    loaded : the phase-1 files as :func:`load_phase1` returns them
    metrics : dict
        What :func:`snnmap.evaluate` measured on the test images.
    part_record : dict or None
        ``{"part", "num_parts", "test_indices"}`` of a shard, None for a whole test set.
    started : float
        ``time.time()`` when the run began.
    """
    ds, pre = loaded.data, loaded.pre
    return {
        "data_name": experiment.data_name,
        "data_source": ds.source,
        "data_description": ds.description,
        "data": ds.summary(),
        "model_name": experiment.model_name,
        "logging_dir": experiment.logging_dir,
        **{key: metrics.get(key) for key in METRIC_KEYS},
        **perturbation_keys(settings),
        "X_n": pre.window_scales(settings.x_quantile),
        "energy": energy_of(metrics["operations"], options.mac_pj, options.add_pj),
        "settings": settings.as_dict(),
        "batch_size": experiment.batch_size,
        "clip_inputs": options.clip,
        "test_set": {"test_samples": experiment.test_samples, "n_selected": loaded.n_selected},
        "phase1_fingerprint": loaded.fingerprint,
        "original_logits": None if loaded.logits is None else loaded.files["logits"],
        "part": part_record,
        "versions": provenance.versions(),
        "created": provenance.now(),
        "elapsed_s": round(time.time() - started, 2),
    }


def exactness_line(result) -> str:
    """The headline of a results file: max |SNN logits - original network's logits|.

    For an unperturbed run it is the exactness of the conversion; for a perturbed one (see
    :func:`is_perturbed`), the deviation the perturbation causes, and it is named so.

    Parameters
    ----------
    result : dict
        A results file's content.
    """
    value = result.get("max_abs_error_original")
    perturbed = is_perturbed(result)
    label = "deviation vs original:" if perturbed else "max |error| vs original:"
    if value is not None:
        what = ("max |SNN logits - original network's logits| caused by the perturbation" if perturbed
                else "SNN logits vs the original network's, float64")
        return f"  {label} {value:.3e}   ({what})"
    why = ("phase 1 stored no logits of the original network: run phase 1 again to measure it"
           if not result.get("original_logits") else "not measured")
    return f"  {label} n/a   ({why})"


def _error_lines(result, num):
    """The lines of the spike codes' error and of the window violations (named as deviations when perturbed)."""
    violations = (f"{result.get('violations')} ((a) beyond window: {result.get('violations_a')}, "
                  f"(b) early crossing: {result.get('violations_b')})")
    if not is_perturbed(result):
        return [f"  max |error|:          {num('max_abs_error', '.3e')}   (spike codes vs the preprocessed ReLU, and "
                f"logits; neurons without window violations)",
                f"  window violations:    {violations}"]
    found = result.get("perturbations") or naming.perturbations(result.get("settings"))
    return [f"  perturbed by:         {', '.join(found)}   (the SNN deviates from the ReLU network on purpose, "
            f"docs/method.md §6: no figure here is an exactness figure)",
            f"  deviation of codes:   {num('max_abs_error', '.3e')}   (max |spike code - ReLU| caused by the "
            f"perturbation; neurons without window violations)",
            f"  window violations:    {violations}   (of the windows only; the perturbation's effect is the "
            f"deviation)"]


def summary_lines(result) -> list:
    """The readable summary of a results file.

    Parameters
    ----------
    result : dict
        A results file's content (phase 2's or a merge's).
    """
    def num(key, fmt):
        value = result.get(key)
        return "n/a" if value is None else format(value, fmt)

    s = result["settings"]
    lines = [
        f"SNN of {result['model_name']} on {result['data_description']}",
        "  settings: " + " ".join(f"{k}={v}" for k, v in s.items() if v is not None),
        f"  test images:          {result['n_test']}",
        f"  accuracy (ReLU):      {num('accuracy_relu', '.4f')}   (original network)",
        f"  accuracy (SNN):       {num('accuracy_snn', '.4f')}",
        f"  agreement SNN/ReLU:   {num('agreement', '.4f')}   (argmax vs the original network)",
        exactness_line(result),
        *_error_lines(result, num),
        f"  latency:              {result['latency']:.4f} tau_c (t_min of the output layer)",
        f"  spikes per neuron:    {result['spikes_per_neuron']:.1f}; informative (before t_max): "
        f"{100 * result['informative_spike_fraction']:.2f}%",
    ]
    ops, en = result.get("operations"), result.get("energy")
    if ops and en:
        lines.append(f"  operations / image:   ReLU {ops['relu_macs']:,} MACs; SNN {ops['snn_events']:,} "
                     f"synaptic events ({ops['snn_events_informative']:,.0f} from informative spikes)")
        lines.append(f"  energy / image (estimate, {en['mac_pj']} pJ/MAC, {en['add_pj']} pJ/event): ReLU "
                     f"{en['relu_pj_per_image'] / 1e6:.3f} uJ, SNN {en['snn_pj_per_image'] / 1e6:.3f} uJ "
                     f"({en['snn_informative_pj_per_image'] / 1e6:.3f} uJ informative only)")
    lines.append(f"  time:                 {result['elapsed_s']:.1f} s")
    return lines
