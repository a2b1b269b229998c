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
    lines = [
        f"SNN of {result['model_name']} on {result['data_description']}",
        f"  settings: zeta={s['zeta']} noise={s['noise']} alpha_noise={s['alpha_noise']} trial={s['trial']} "
        f"seed={s['seed']} dtype={s['dtype']} solver={s['solver']}",
        f"  test images:          {result['n_test']}",
        f"  accuracy (ReLU):      {num('accuracy_relu', '.4f')}   (original network)",
        f"  accuracy (SNN):       {num('accuracy_snn', '.4f')}",
        f"  agreement SNN/ReLU:   {num('agreement', '.4f')}   (argmax vs the original network)",
        f"  max |error|:          {num('max_abs_error', '.3e')}   (spike codes vs ReLU, and logits; "
        f"neurons without window violations)",
        f"  window violations:    {result['violations']} ((a) beyond window: {result['violations_a']}, "
        f"(b) early crossing: {result['violations_b']})",
        f"  latency:              {result['latency']:.4f} tau_c (t_min of the output layer)",
        f"  spikes per neuron:    {result['spikes_per_neuron']:.1f}; informative (before t_max): "
        f"{100 * result['informative_spike_fraction']:.2f}%",
        f"  time:                 {result['elapsed_s']:.1f} s",
    ]
    return lines


def run_phase2():
    """Phase 2 from the parsed flags; returns ``(result, path)``."""
    import os

    import numpy as np

    from . import experiment, storage
    from .convert import to_snn
    from .errors import MissingPhase1Error
    from .evaluate import evaluate
    from .preprocess import Preprocessed

    started = time.time()
    data_name, logging_dir, model_name = cli.experiment_names()
    files = experiment.paths(logging_dir, model_name)
    if not os.path.isdir(logging_dir):
        raise MissingPhase1Error(f"{logging_dir} does not exist: run phase 1 first "
                                 f"(python -m snnmap.phase1 --data_name {data_name} ...)")
    storage.require_files([files["predictions"], files["accuracy"]], "phase 1 (python -m snnmap.phase1)")
    pre = Preprocessed.load(logging_dir, model_name)
    accuracy = storage.read_json(files["accuracy"])
    reference = storage.load_npy(files["predictions"])

    ds = cli.load_data(data_name)
    if accuracy.get("data_source") != ds.source:
        print(f"warning: phase 1 used data source '{accuracy.get('data_source')}', phase 2 uses "
              f"'{ds.source}'; the agreement compares predictions on the same indices")
    if len(reference) < ds.n_test:
        raise ValueError(f"phase 1 stored {len(reference)} predictions but the test set has {ds.n_test} images; "
                         "run phase 1 again with the same data")
    print(f"data: {ds.description}")

    seed = int(np.random.SeedSequence([FLAGS.seed, FLAGS.trial]).generate_state(1)[0] & 0x7FFFFFFF)
    snn = to_snn(pre, zeta=FLAGS.zeta, noise=FLAGS.noise, alpha_noise=FLAGS.alpha_noise, seed=seed,
                 dtype=FLAGS.dtype, solver=FLAGS.solver)
    metrics = evaluate(snn, ds.x_test, ds.y_test, relu_model=pre.model,
                       reference_predictions=reference[:ds.n_test], input_range=pre.input_range,
                       batch_size=FLAGS.batch_size)
    settings = {"zeta": FLAGS.zeta, "noise": FLAGS.noise, "alpha_noise": FLAGS.alpha_noise,
                "trial": FLAGS.trial, "seed": FLAGS.seed, "dtype": FLAGS.dtype, "solver": FLAGS.solver}
    n_test = ds.n_test if FLAGS.test_samples is not None else None
    path = experiment.results_path(logging_dir, model_name, {**settings, "n_test": n_test})
    acc_relu = accuracy["accuracy_relu"]
    if ds.n_test != accuracy.get("n_test"):
        acc_relu = float(np.mean(reference[:ds.n_test] == ds.y_test))
    result = {
        "data_name": data_name,
        "data_source": ds.source,
        "data_description": ds.description,
        "data": ds.summary(),
        "model_name": model_name,
        "logging_dir": logging_dir,
        "n_test": metrics["n_test"],
        "accuracy_relu": acc_relu,
        "accuracy_relu_preprocessed": metrics["accuracy_relu_preprocessed"],
        "accuracy_snn": metrics["accuracy_snn"],
        "agreement": metrics["agreement"],
        "max_abs_error": metrics["max_abs_error"],
        "max_abs_error_end_to_end": metrics["max_abs_error_end_to_end"],
        "violations": metrics["violations"],
        "violations_a": metrics["violations_a"],
        "violations_b": metrics["violations_b"],
        "latency": metrics["latency"],
        "spikes_per_neuron": metrics["spikes_per_neuron"],
        "informative_spike_fraction": metrics["informative_spike_fraction"],
        "n_hidden_neurons": metrics["n_hidden_neurons"],
        "X_n": pre.X_n,
        "settings": settings,
        "layers": metrics["layers"],
        "versions": _versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 2),
    }
    storage.atomic_write_json(path, result)
    if FLAGS.save_snn:
        storage.atomic_save_model(snn, FLAGS.save_snn)
    return result, path


def main(argv):
    del argv
    result, path = run_phase2()
    print("\n".join(summary_lines(result)))
    print(json.dumps({k: result[k] for k in ("accuracy_snn", "agreement", "max_abs_error", "violations")}))
    print(f"results: {path}")


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
