"""Phase 2 command: convert the preprocessed network into the SNN, evaluate it, report.

    python -m snnmap.phase2                      # MNIST FC, after phase 1
    python -m snnmap.phase2 --flagfile flags/fashionmnist_fc.txt --noise 0.1 --trial 3

Reads phase 1's outputs from ``--logging_dir`` (a clear error says to run phase 1 if they
are missing), builds the SNN with the robustness knobs (MAPPING §6), runs it on the test
set batch by batch, prints a summary, and writes a JSON results file whose name encodes
every setting, so runs never overwrite each other.  The LAST line of standard output is
``results: <path>``.
"""

from __future__ import annotations

import datetime
import json
import platform
import time

from absl import app, flags

from . import cli

cli.define_common_flags()
flags.DEFINE_boolean("merge", False, "Merge the phase-2 results files given as arguments (the parts of one "
                     "test set) into one results file.")
flags.DEFINE_string("merged_path", None, "With --merge: where to write the merged file (default: the parts' "
                    "name without _partKofN).")
FLAGS = flags.FLAGS


def _versions():
    import keras
    import numpy as np

    out = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__,
           "backend": keras.backend.backend()}
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:  # pragma: no cover - other backends
        pass
    return out


def summary_lines(result):
    """The readable summary phase 2 prints."""
    def num(key, fmt):
        value = result.get(key)
        return "n/a" if value is None else format(value, fmt)

    s = result["settings"]
    violations = result.get("violations")
    lines = [
        f"SNN of {result['model_name']} on {result['data_description']}",
        "  settings: " + " ".join(f"{k}={v}" for k, v in s.items() if v is not None),
        f"  test images:          {result['n_test']}",
        f"  accuracy (ReLU):      {num('accuracy_relu', '.4f')}   (original network)",
        f"  accuracy (SNN):       {num('accuracy_snn', '.4f')}",
        f"  agreement SNN/ReLU:   {num('agreement', '.4f')}   (argmax vs the original network)",
        f"  max |error|:          {num('max_abs_error', '.3e')}   (spike codes vs ReLU, and logits; "
        f"neurons without window violations)",
        f"  window violations:    {violations} ((a) beyond window: {result.get('violations_a')}, "
        f"(b) early crossing: {result.get('violations_b')})",
        f"  latency:              {result['latency']:.4f} tau_c (t_min of the output layer)",
        f"  spikes per neuron:    {result['spikes_per_neuron']:.1f}; informative (before t_max): "
        f"{100 * result['informative_spike_fraction']:.2f}%",
    ]
    ops, en = result.get("operations"), result.get("energy")
    if ops and en:
        lines.append(f"  operations / image:   ReLU {ops['relu_macs']:,} MACs; SNN {ops['snn_events']:,} synaptic events "
                     f"({ops['snn_events_informative']:,.0f} from informative spikes)")
        lines.append(f"  energy / image (estimate, {en['mac_pj']} pJ/MAC, {en['add_pj']} pJ/event): ReLU "
                     f"{en['relu_pj_per_image'] / 1e6:.3f} uJ, SNN {en['snn_pj_per_image'] / 1e6:.3f} uJ "
                     f"({en['snn_informative_pj_per_image'] / 1e6:.3f} uJ informative only)")
    lines.append(f"  time:                 {result['elapsed_s']:.1f} s")
    return lines


def build_snn(pre, settings):
    """The SNN of a run from its settings (see :func:`snnmap.cli.snn_settings`)."""
    from .pipeline.convert import derive_seed, to_snn

    return to_snn(pre, zeta=settings["zeta"], noise=settings["noise"], alpha_noise=settings["alpha_noise"],
                  seed=derive_seed(settings["seed"], settings["trial"]), dtype=settings["dtype"],
                  solver=settings["solver"], time_bits=settings["time_bits"], weight_bits=settings["weight_bits"],
                  w_min=settings["w_min"], w_max=settings["w_max"], x_quantile=settings["x_quantile"])


def energy_of(ops, mac_pj, add_pj):
    from .pipeline import energy

    return None if ops is None else energy.estimate(ops, mac_pj, add_pj)


def run_name_settings(settings):
    """The settings that name a results file (knobs at their default left out)."""
    named = dict(settings)
    for key, default in (("time_bits", 0), ("weight_bits", 0), ("w_min", None), ("w_max", None),
                         ("x_quantile", 1.0)):
        if named.get(key) == default:
            named[key] = None
    return named


METRIC_KEYS = ("n_test", "accuracy_relu", "accuracy_relu_preprocessed", "accuracy_snn", "agreement",
               "agreement_reference", "max_abs_error", "max_abs_error_end_to_end", "violations", "violations_a",
               "violations_b", "latency", "spikes_per_neuron", "informative_spike_fraction", "n_hidden_neurons",
               "n_labelled", "layers", "operations", "totals")


def run_phase2():
    """Phase 2 from the parsed flags; returns ``(result, path)``."""
    from .experiments import naming as experiment
    from . import storage
    from .pipeline.evaluate import evaluate
    from .runtime import distribute_scope

    started = time.time()
    loaded = cli.load_phase1_outputs("phase 2")
    data_name, logging_dir, model_name = loaded["data_name"], loaded["logging_dir"], loaded["model_name"]
    pre, reference, ds = loaded["pre"], loaded["reference"], loaded["ds"]
    start, stop = ds.test_indices or (0, ds.n_test)

    settings = cli.snn_settings()
    with distribute_scope(FLAGS.distribute):
        snn = build_snn(pre, settings)
        metrics = evaluate(snn, ds.x_test, ds.y_test, relu_model=pre.model,
                           reference_predictions=reference[start:stop], input_range=pre.input_range,
                           batch_size=FLAGS.batch_size)
    naming = dict(run_name_settings(settings), n_test=FLAGS.test_samples)
    if FLAGS.part is not None:
        naming["part"] = f"{FLAGS.part}of{FLAGS.num_parts}"
    path = experiment.results_path(logging_dir, model_name, naming)
    result = {
        "data_name": data_name,
        "data_source": ds.source,
        "data_description": ds.description,
        "data": ds.summary(),
        "model_name": model_name,
        "logging_dir": logging_dir,
        **{key: metrics.get(key) for key in METRIC_KEYS},
        "X_n": pre.window_scales(settings["x_quantile"]),
        "energy": energy_of(metrics["operations"], FLAGS.energy_mac_pj, FLAGS.energy_add_pj),
        "settings": settings,
        "part": None if FLAGS.part is None else {"part": FLAGS.part, "num_parts": FLAGS.num_parts,
                                                 "test_indices": [start, stop]},
        "versions": _versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 2),
    }
    storage.atomic_write_json(path, result)
    if FLAGS.report:
        from .reporting import html as report

        report.write_run_artifacts(path, snn, ds.x_test, relu_model=pre.model, input_range=pre.input_range,
                                   result=result, n_images=16)
        print(f"report: {report.write_report(path)}")
    if FLAGS.save_snn:
        storage.atomic_save_model(snn, FLAGS.save_snn)
    return result, path


def merge_results(paths, out=None):
    """Combine phase-2 results of the parts of one test set into one results file.

    The parts must come from the same network and settings and cover the test set exactly
    (parts 0..N-1 of N); counts are summed and maxima taken (:func:`snnmap.evaluate.merge`),
    so the merged file equals an unsharded run.  Returns ``(result, path)``.
    """
    import re

    from . import storage
    from .pipeline.evaluate import merge, summarize

    if not paths:
        raise ValueError("--merge needs the results files of the parts as arguments")
    parts = [storage.read_json(p) for p in paths]
    for p, r in zip(paths, parts):
        if not r.get("part"):
            raise ValueError(f"{p} is not the result of a part (run phase 2 with --part/--num_parts)")
    first = parts[0]
    num = first["part"]["num_parts"]
    for key in ("model_name", "data_name", "data_source", "settings", "X_n"):
        values = {str(r.get(key)) for r in parts}
        if len(values) != 1:
            raise ValueError(f"cannot merge parts with different {key}")
    seen = sorted(r["part"]["part"] for r in parts)
    if seen != list(range(num)) or any(r["part"]["num_parts"] != num for r in parts):
        raise ValueError(f"parts {seen} do not cover the test set split into {num} parts exactly once")
    parts.sort(key=lambda r: r["part"]["part"])
    metrics = summarize(merge([r["totals"] for r in parts]))
    result = {key: first[key] for key in ("data_name", "data_source", "model_name", "logging_dir", "X_n", "settings")}
    description = re.sub(r"; part \d+ of \d+:[^;]*", "", first["data_description"])
    result.update({
        "data_description": description,
        "data": dict(first["data"], test_indices=[parts[0]["part"]["test_indices"][0],
                                                  parts[-1]["part"]["test_indices"][1]], description=description),
        **{key: metrics.get(key) for key in METRIC_KEYS},
        "energy": energy_of(metrics["operations"], first["energy"]["mac_pj"], first["energy"]["add_pj"])
        if first.get("energy") else None,
        "merged_from": [str(p) for p in paths],
        "part": None,
        "versions": first.get("versions"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(sum(r.get("elapsed_s", 0.0) for r in parts), 2),
    })
    if out is None:
        out = re.sub(r"_part\d+of\d+(?=\.json$)", "", str(paths[0]))
        if out == str(paths[0]):
            raise ValueError("cannot derive the merged file name; pass --merged_path")
    storage.atomic_write_json(out, result)
    if FLAGS.report:
        from .reporting import html as report

        print(f"report: {report.write_report(out)}")
    return result, out


def main(argv):
    if FLAGS.merge:
        result, path = merge_results(argv[1:], FLAGS.merged_path)
    else:
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments {argv[1:]} (results files are only taken with --merge)")
        result, path = run_phase2()
    print("\n".join(summary_lines(result)))
    print(json.dumps({k: result.get(k) for k in ("accuracy_snn", "agreement", "max_abs_error", "violations")}))
    print(f"results: {path}")


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
