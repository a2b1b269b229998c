#!/usr/bin/env python
"""Benchmark: where an SNN's first call goes (tracing vs. execution), and what a repeated evaluation costs.

For LeNet5 (Fashion-MNIST, float64; phase 1's outputs in models/FashionMNIST/LeNet5 when they are
there, else ``zoo.lenet5()`` with the shipped trained weights, preprocessed here on 5,000 training
images) and the FC network (``zoo.fc()`` with the shipped trained weights, preprocessed here on
1,000 training images), in one run, it prints:

* ``convert``: :func:`snnmap.to_snn`;
* ``predict_on_batch`` on a fresh SNN: first, second and third call (the first traces);
* the first call split: tracing (``tf.function(...).get_concrete_function``), the traced
  function's first execution (TensorFlow's graph optimisation and XLA compilation of the fused
  parts happen here), a warm execution; then the same per layer;
* the spiking-layer traces of each step (every trace of the network calls each spiking layer's
  ``call`` once on graph tensors: counted by a wrapper);
* the A/B of the probe cache: a second :func:`snnmap.evaluate` on the same SNN with the
  probes made again (``old``: what every call did before :data:`snnmap.pipeline.evaluate.PROBES`)
  against the cached ones (``new``), alternating, on fresh SNNs, in this one run;
* the A/B of a fresh SNN's evaluation with the ReLU network's probe made again (``old``) or kept
  from an earlier evaluation (``new``: a sweep's second and later points);
* the A/B of ``SpikingModel.predict`` on images whose last batch is short: Keras's own batching
  (``old``: the short batch traces the network again) against the padded last batch (``new``);
* the A/B of a small noise sweep (:func:`snnmap.experiments.sweep.run_sweep`, 3 points x 2
  trials): a new SNN per run (``old``) against one SNN retuned between runs (``new``,
  :func:`snnmap.retune`).

Usage::

    python bench/bench_first_call.py                # ~3 min on 2 cores
    python bench/bench_first_call.py --rounds 1 --models fc
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402  (bench/ is sys.path[0]; it puts the checkout first)
import numpy as np  # noqa: E402

LENET5_DIR = os.path.join(common.ROOT, "models", "FashionMNIST", "LeNet5")
LENET5_NAME = "fashionmnist_lenet5_relu"
LENET5_WEIGHTS = os.path.join(LENET5_DIR, LENET5_NAME + "_original.weights.h5")
FC_WEIGHTS = os.path.join(common.ROOT, "models", "FashionMNIST", "FC", "fashionmnist_fc_relu_original.weights.h5")


class TraceCounter:
    """Counts the calls of :class:`snnmap.layers.SpikingLayer` ``call`` on graph tensors: one per
    spiking layer in every trace of a network that holds it."""

    def __init__(self):
        import tensorflow as tf
        from snnmap.layers import SpikingLayer

        self.count = 0
        original = SpikingLayer.call

        def call(layer, inputs, *args, **kwargs):
            if not tf.executing_eagerly() and isinstance(inputs, tf.Tensor):
                self.count += 1
            return original(layer, inputs, *args, **kwargs)

        SpikingLayer.call = call

    def since(self, start):
        return self.count - start


def setup(name, ds):
    """``(Preprocessed, description of the weights)`` of network ``name``."""
    import snnmap
    from snnmap import zoo

    if name == "lenet5":
        try:
            return snnmap.Preprocessed.load(LENET5_DIR, LENET5_NAME), f"phase 1's outputs in {common.rel(LENET5_DIR)}"
        except snnmap.SnnmapError as exc:
            print(f"  ({exc}: preprocessing here)")
        model, n_calib, weights = zoo.lenet5(), 5000, LENET5_WEIGHTS
    else:
        model, n_calib, weights = zoo.fc(), 1000, FC_WEIGHTS
    model.load_weights(weights)
    xc = ds.x_train[:n_calib].reshape((n_calib,) + tuple(model.inputs[0].shape[1:]))
    pre = snnmap.preprocess(model, xc, verbose=0)
    return pre, f"trained weights {common.rel(weights)}, preprocessed here on {n_calib} training images"


def split_first_call(snn, spikes):
    """``(trace s, first execution s, warm execution s)`` of ``snn`` on one batch, and per layer."""
    import keras
    import tensorflow as tf

    def split(fn, batch):
        f = tf.function(fn)
        t0 = time.perf_counter()
        concrete = f.get_concrete_function(tf.TensorSpec(batch.shape, batch.dtype))
        t1 = time.perf_counter()
        out = concrete(tf.constant(batch))
        t2 = time.perf_counter()
        concrete(tf.constant(batch))
        t3 = time.perf_counter()
        return (t1 - t0, t2 - t1, t3 - t2), np.asarray(out)

    whole, _ = split(lambda z: snn(z, training=False), spikes)
    per_layer, values = [], spikes
    for layer in snn.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        times, values = split(lambda z, layer=layer: layer(z), values)
        per_layer.append((layer.name, type(layer).__name__, times))
    return whole, per_layer


def first_calls(pre, spikes, counter):
    import snnmap

    t0 = time.perf_counter()
    snn = snnmap.to_snn(pre)
    convert = time.perf_counter() - t0
    calls, start = [], counter.count
    for _ in range(3):
        t0 = time.perf_counter()
        snn.predict_on_batch(spikes)
        calls.append(time.perf_counter() - t0)
    return convert, calls, counter.since(start)


def evaluate_ab(pre, x, rounds, counter, batch_size):
    """Second-evaluation times and spiking-layer traces, ``old`` (probes made again) vs ``new``."""
    import snnmap
    from snnmap.pipeline import evaluate as ev

    out = {"old": [], "new": [], "first": [], "traces_old": [], "traces_new": [], "errors": []}
    order = ["old", "new"]
    for r in range(rounds):
        for variant in order[r % 2:] + order[:r % 2]:
            snn = snnmap.to_snn(pre)
            t0 = time.perf_counter()
            snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0, batch_size=batch_size)
            out["first"].append(time.perf_counter() - t0)
            if variant == "old":  # what every evaluation did before the cache: new probe models
                ev.PROBES.pop(snn, None)
                ev.PROBES.pop(pre.model, None)
            start = counter.count
            t0 = time.perf_counter()
            result = snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0, batch_size=batch_size)
            out[variant].append(time.perf_counter() - t0)
            out["traces_" + variant].append(counter.since(start))
            out["errors"].append(result["max_abs_error"])
    return out


def sweep_point_ab(pre, x, rounds, batch_size):
    """A fresh SNN's evaluation (a sweep's next point), ``old``: the ReLU network's probe made
    again, ``new``: kept from an earlier evaluation (:data:`snnmap.pipeline.evaluate.PROBES`)."""
    import snnmap
    from snnmap.pipeline import evaluate as ev

    out = {"old": [], "new": []}
    order = ["old", "new"]
    for r in range(rounds):
        for variant in order[r % 2:] + order[:r % 2]:
            snn = snnmap.to_snn(pre)
            if variant == "old":
                ev.PROBES.pop(pre.model, None)
            t0 = time.perf_counter()
            snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0, batch_size=batch_size)
            out[variant].append(time.perf_counter() - t0)
    return out


def predict_ab(pre, x, rounds, counter, batch_size):
    """``SpikingModel.predict`` on a fresh SNN over ``x`` (a short last batch): ``old`` as Keras
    batches it (the short batch traced again), ``new`` with it padded (:class:`PaddedBatches`)."""
    import keras
    import snnmap
    from snnmap.runtime import floatx

    spikes = snnmap.encode(x, pre.input_range)
    out = {"old": [], "new": [], "traces_old": [], "traces_new": []}
    order = ["old", "new"]
    for r in range(rounds):
        for variant in order[r % 2:] + order[:r % 2]:
            snn = snnmap.to_snn(pre)
            start = counter.count
            t0 = time.perf_counter()
            if variant == "old":  # keras.Model.predict itself, in the SNN's dtype (what predict did before)
                with floatx("float64"):
                    keras.Model.predict(snn, spikes, batch_size=batch_size, verbose=0)
            else:
                snn.predict(spikes, batch_size=batch_size, verbose=0)
            out[variant].append(time.perf_counter() - t0)
            out["traces_" + variant].append(counter.since(start))
    return out


def sweep_ab(pre, ds, x, rounds, batch_size):
    """A noise sweep (noise 0.05, 0.1, 0.2, two trials each) through :func:`run_sweep`: ``old``
    builds a new SNN for every run (``retune=False``, what every sweep did before
    :class:`~snnmap.experiments.phase2.SnnCache`), ``new`` retunes one; same results checked."""
    import dataclasses
    import json
    import tempfile

    from snnmap.experiments.sweep import run_sweep

    data = dataclasses.replace(ds, x_test=x, y_test=ds.y_test[:len(x)],
                               description=f"first {len(x)} test images of: {ds.description}")
    out = {"old": [], "new": [], "equal": True}
    order = ["old", "new"]
    grid = {"noise": [0.05, 0.1, 0.2]}
    for r in range(rounds):
        runs = {}
        with tempfile.TemporaryDirectory() as tmp:
            for variant in order[r % 2:] + order[:r % 2]:
                t0 = time.perf_counter()
                run_sweep(pre, data, grid, 2, None, os.path.join(tmp, variant), batch_size=batch_size, verbose=0,
                          log=lambda line: None, retune=variant == "new")
                out[variant].append(time.perf_counter() - t0)
                folder = os.path.join(tmp, variant, "runs")
                runs[variant] = {name: json.load(open(os.path.join(folder, name))) for name in os.listdir(folder)}
        for name, run in runs["old"].items():
            other = runs["new"][name]
            out["equal"] &= all(np.isclose(run[k], other[k], rtol=1e-12, atol=1e-12)
                                for k in ("agreement", "max_abs_error_end_to_end", "accuracy_snn"))
    return out


def report_ab(title, ab, rounds):
    med = statistics.median
    traces = {v: (f", spiking-layer traces {ab['traces_' + v]}" if "traces_" + v in ab else "") for v in ("old", "new")}
    print(f"{title} (A/B, {rounds} rounds alternating): old median {med(ab['old']):.2f} s "
          f"{[round(t, 2) for t in ab['old']]}{traces['old']}; new median {med(ab['new']):.2f} s "
          f"{[round(t, 2) for t in ab['new']]}{traces['new']}")


def run_model(name, ds, args, counter):
    import snnmap

    pre, weights = setup(name, ds)
    n_spiking = len([la for la in snnmap.to_snn(pre).layers if isinstance(la, snnmap.layers.SpikingLayer)])
    shape = tuple(pre.model.inputs[0].shape[1:])
    x = ds.x_test[:args.n_images].reshape((-1,) + shape).astype(np.float64)
    spikes = snnmap.encode(x[:args.batch_size], pre.input_range)
    print(f"\n== {name}: {weights}; {n_spiking} spiking layers; batch {len(spikes)}, float64")
    convert, calls, traces = first_calls(pre, spikes, counter)
    print(f"convert (to_snn)            {convert:7.2f} s")
    print("predict_on_batch, fresh SNN  first {:.2f} s, second {:.2f} s, third {:.2f} s; spiking-layer traces {} "
          "({:.0f} per layer)".format(*calls, traces, traces / n_spiking))
    whole, per_layer = split_first_call(snnmap.to_snn(pre), spikes)
    print("first call split (tf.function of the whole SNN): trace {:.2f} s, first execution {:.2f} s, "
          "warm {:.2f} s".format(*whole))
    for layer, kind, (tr, first, warm) in per_layer:
        print(f"  {layer:18s} {kind:22s} trace {tr:6.2f} s  first execution {first:6.2f} s  warm {warm:6.3f} s")
    ab = evaluate_ab(pre, x, args.rounds, counter, args.batch_size)
    med = statistics.median
    print(f"evaluate on {len(x)} images ({-(-len(x) // args.batch_size)} batches), fresh SNN: first call median "
          f"{med(ab['first']):.2f} s")
    report_ab("second evaluate, same SNN; old: probes made again, new: cached", ab, args.rounds)
    print(f"  max_abs_error of the second evaluations {max(ab['errors']):.3g}")
    report_ab("evaluate, fresh SNN (a sweep's next point); old: ReLU probe made again, new: kept",
              sweep_point_ab(pre, x, args.rounds, args.batch_size), args.rounds)
    report_ab(f"SpikingModel.predict of {len(x)} images, fresh SNN; old: Keras's batches, new: last one padded",
              predict_ab(pre, x, args.rounds, counter, args.batch_size), args.rounds)
    ab = sweep_ab(pre, ds, x, args.rounds, args.batch_size)
    report_ab(f"noise sweep, 3 points x 2 trials on {len(x)} images; old: a new SNN per run, new: one SNN retuned",
              ab, args.rounds)
    print(f"  the same results (agreement, accuracy, deviation) in both: {ab['equal']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="lenet5,fc", help="comma-separated: lenet5, fc")
    parser.add_argument("--n_images", type=int, default=300, help="evaluation images (300: a full and a short batch)")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds of the second evaluation")
    args = parser.parse_args()
    common.force_cpu()
    import snnmap

    counter = TraceCounter()
    ds = snnmap.datasets.load("FashionMNIST")
    before = common.cpu_snapshot()
    for name in args.models.split(","):
        run_model(name.strip(), ds, args, counter)
    cond = common.timing_conditions(before, common.cpu_snapshot())
    print(f"\nother processes kept {cond['other_processes_cpus'] or 0:.2f} CPUs busy on average "
          f"(timings {'NOISY' if (cond['other_processes_cpus'] or 0) > common.NOISY_CPUS else 'quiet'})")


if __name__ == "__main__":
    main()
