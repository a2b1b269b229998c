#!/usr/bin/env python
"""Benchmark: each spiking layer of VGG16-224 under two solver configurations, in one run (issue 31).

The network and inputs of issue 31's check: ``keras.applications.VGG16(weights=None,
input_shape=(224, 224, 3), classes=10)`` with He-normal random kernels (seed 0) and zero biases,
phase 1 on ``--calib`` image-like calibration images (Fashion-MNIST training images made
224x224x3 as ``--matrix`` makes them: ``cnn_matrix.tinted_224``, input range [0, 1]), then
:func:`snnmap.to_snn` in ``--dtype``.  The first ``--batch`` Fashion-MNIST test images, made
alike, go through the SNN once; each spiking layer's own inputs are kept.  Then, layer by
layer, its call is compiled (``tf.function``) once under configuration A and once under B
(:class:`snnmap.solver.SolverConfig` fields given as JSON), both outputs must be equal (exit
status 1 otherwise: no configuration may change a spike time), and the two are timed in turn,
``--rounds`` times, best of each.  It prints the per-layer milliseconds, B/A, and their sums.

Defaults: A = the cascade before the first stage ran on the batch and before position subsets
(``{"grid_first_chunk": 0, "position_share": 0.0}``), B = the defaults (``{}``).

Usage::

    python bench/bench_layers.py                                   # ~8 min on 2 cores
    ONEDNN_MAX_CPU_ISA=AVX2 SNNMAP_BF16=0 python bench/bench_layers.py   # an AVX2-only CPU, emulated
    python bench/bench_layers.py --a '{"grid_chunk": 16}' --b '{"grid_chunk": 64}' --layers block3_conv3

Writes the figures to ``bench/results/bench_layers.json`` (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import common  # noqa: E402
from cnn_matrix import tinted_224  # noqa: E402

OLD = {"grid_first_chunk": 0, "position_share": 0.0}


def he_vgg16(seed=0):
    """``keras.applications.VGG16`` at 224x224x3, 10 classes, He-normal kernels, zero biases."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.VGG16(weights=None, input_shape=(224, 224, 3), classes=10,
                                     classifier_activation=None)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel, bias = layer.get_weights()
            fan_in = int(np.prod(kernel.shape[:-1]))
            layer.set_weights([rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype(np.float32),
                               np.zeros_like(bias)])
    return model


def layer_inputs(snn, spikes):
    """``{layer: its inputs}`` for every spiking hidden layer of ``snn`` on ``spikes``."""
    import keras
    from snnmap.layers import SpikingLayer

    layers = [layer for layer in snn.layers if isinstance(layer, SpikingLayer) and not layer.output_layer]
    probe = keras.Model(snn.inputs, [layer.input for layer in layers])
    return dict(zip(layers, (np.asarray(v) for v in probe.predict_on_batch(spikes))))


def ab_layer(layer, x, configs, rounds):
    """Best-of-``rounds`` seconds of ``layer``'s compiled call under each of ``configs`` (fields
    to replace), timed in turn, and whether the outputs are equal."""
    import tensorflow as tf

    base = layer.solver_config
    calls, outs = [], []
    for changes in configs:
        config = base.replace(**changes)
        layer.solver_config = config
        fn = tf.function(lambda a: layer(a))
        outs.append(np.asarray(fn(x)))
        calls.append((fn, config))
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for i, (fn, config) in enumerate(calls):
            layer.solver_config = config
            t0 = time.perf_counter()
            np.asarray(fn(x))
            best[i] = min(best[i], time.perf_counter() - t0)
    layer.solver_config = base
    return best, all(np.array_equal(outs[0], o) for o in outs[1:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", default=json.dumps(OLD), help="configuration A: SolverConfig fields as JSON")
    parser.add_argument("--b", default="{}", help="configuration B: SolverConfig fields as JSON")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--batch", type=int, default=8, help="test images (one batch)")
    parser.add_argument("--calib", type=int, default=64, help="calibration images")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", default="", help="comma-separated layer names (default: every hidden layer)")
    parser.add_argument("--json", default=os.path.join(common.ROOT, "bench", "results", "bench_layers.json"))
    args = parser.parse_args(argv)
    configs = [json.loads(args.a), json.loads(args.b)]
    common.force_cpu()
    import tensorflow as tf
    import snnmap
    from snnmap import solver

    for changes in configs:
        solver.SolverConfig().replace(**changes)  # unknown fields fail here, not after the setup
    ds = snnmap.datasets.load("FashionMNIST")
    calib = tinted_224(ds.x_train[:args.calib], 1, (0.0, 1.0))
    x = tinted_224(ds.x_test[:args.batch], 0, (0.0, 1.0))
    data = (f"{ds.name}: training images #0..#{args.calib - 1} (calibration), test images #0..#{args.batch - 1}, "
            "each resized to 224x224 (nearest), 3 channels tinted by seeded factors in [0.5, 1]")
    del ds
    print(f"[bench_layers] VGG16-224, He-normal random weights (seed 0), {args.dtype}; {data}", flush=True)
    t0 = time.perf_counter()
    pre = snnmap.preprocess(he_vgg16(), calib, input_range=(0, 1), batch_size=8, verbose=0)
    snn = snnmap.to_snn(pre, dtype=args.dtype)
    print(f"[bench_layers] converted in {time.perf_counter() - t0:.0f} s; the layers' inputs ...", flush=True)
    inputs = layer_inputs(snn, np.asarray(snnmap.encode(x, (0, 1)), args.dtype))
    wanted = [n for n in args.layers.split(",") if n]
    missing = sorted(set(wanted) - {layer.name for layer in inputs})
    if missing:
        raise SystemExit(f"no spiking hidden layer named {missing}")
    print(f"A = {configs[0]}\nB = {configs[1]}\n{'layer':14s} {'A ms':>8s} {'B ms':>8s}   B/A  outputs", flush=True)
    rows, same_all = [], True
    for layer, inp in inputs.items():
        if wanted and layer.name not in wanted:
            continue
        (a, b), same = ab_layer(layer, tf.constant(inp), configs, args.rounds)
        same_all &= same
        rows.append({"layer": layer.name, "a_ms": 1e3 * a, "b_ms": 1e3 * b, "same_outputs": same})
        print(f"{layer.name:14s} {1e3 * a:8.0f} {1e3 * b:8.0f}  {b / a:5.2f}  {'equal' if same else 'DIFFER'}",
              flush=True)
    sa, sb = sum(r["a_ms"] for r in rows), sum(r["b_ms"] for r in rows)
    print(f"{'sum':14s} {sa:8.0f} {sb:8.0f}  {sb / sa:5.2f}")
    common.atomic_write_json(args.json, {
        "machine": common.machine_info(), "snnmap": common.snnmap_version(), "data": data, "dtype": args.dtype,
        "batch": args.batch, "rounds": args.rounds, "a": configs[0], "b": configs[1], "layers": rows,
        "sum_a_ms": sa, "sum_b_ms": sb, "same_outputs": same_all,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"), "snnmap_bf16": os.environ.get("SNNMAP_BF16")})
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
