#!/usr/bin/env python
"""Benchmark: convolutional ReLU networks vs. their single-spike twins (snnmap), on the CPU.

For every model, in one run and on the SAME images:

* ``relu`` - the preprocessed ReLU network ``pre.model`` (float64; for float32 a copy of
  it with float32 layers), ``predict_on_batch(x_hat)`` with ``x_hat`` in that dtype;
* ``snn``  - ``snnmap.to_snn(pre, dtype=...)`` (solver ``"auto"``),
  ``predict_on_batch(snnmap.encode(x, input_range))`` in that dtype.

Models (``--models``):

* ``lenet5``    - ``zoo.lenet5()`` with the shipped Fashion-MNIST weights; calibration =
  the first 5,000 training images; float64.  Target SNN/ReLU <= 3.
* ``vgg16_28``  - ``zoo.build(True, 16, (28, 28, 1), 10)`` with the Fashion-MNIST weights in
  models/FashionMNIST/VGG16/ if present (phase 1 writes them), else trained here with phase 1's
  recipe (2 epochs on 12,000 training images, seed 0) once and kept in bench/results/ for later
  runs (``--vgg16_train 0``: random weights); calibration = the first 1,000 training images;
  float64.  Target SNN/ReLU <= 5.
* ``resnet``    - ``zoo.resnet()`` (the small residual network, a graph: identity and projection
  shortcuts) with the shipped Fashion-MNIST weights; calibration = the first 5,000 training
  images; float64.  Target SNN/ReLU <= 3.
* ``resnet50_224`` - ``keras.applications.ResNet50(weights=None, classes=10)``: random weights, the
  real structure at 224x224x3 (inputs as for ``vgg16_224``); float32 and float64.  Target
  SNN/ReLU <= 5 in float32.
* ``vgg16_224`` - ``keras.applications.VGG16(weights=None)``: random weights, the real
  ImageNet structure at 224x224x3.  Inputs: Fashion-MNIST images resized to 224x224
  (nearest neighbour), replicated to 3 channels and mapped linearly onto the Caffe-like
  range [-123.68, 151.061] (= ``input_range``); calibration on 32 such training images;
  float64 and float32.  Target SNN/ReLU <= 5 in float32.

Before timing, the SNN's argmax must equal the ReLU network's on every benchmark image
(the max |logit difference| is reported).  Timing: first call (tracing) in the agreement
check, warm-up calls, then ``--rounds`` round-robin rounds over all variants of a model
(rotated order), medians.  Peak memory: one subprocess per (model, dtype, variant)
(``--only``), VmHWM after a reset through ``/proc/self/clear_refs`` (see bench/README.md).

Per spiking layer the bench also reports the fraction of neurons that docs/method.md §3's
one-interval certificate leaves open on the benchmark images, the fraction the free
one-interval chord/tangent bound still leaves open, which grid bounds the layer then applies
(one more inner point of ``snnmap.solver.SolverConfig.grid_points`` per stage, each reusing the
products of the points before), how many neurons are left to the event solver, and an eager, one-call time breakdown
of the layer's parts.

Usage::

    python bench/bench_cnn.py                              # full run (~12 min on 2 cores)
    python bench/bench_cnn.py --quick --models lenet5      # smoke test
    python bench/bench_cnn.py --models vgg16_224 --dtypes float32 --batch_size 1
    python bench/bench_cnn.py --matrix                     # image-like and random inputs, batches 1/8/32

``--matrix`` measures instead, per model, SNN/ReLU on image-like and random inputs at the batch
sizes users pick, and the conversion's costs (bench/cnn_matrix.py).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnn_matrix  # noqa: E402
import common  # noqa: E402
from common import ROOT  # noqa: E402

DEFAULT_JSON = os.path.join(ROOT, "bench", "results", "bench_cnn.json")
MATRIX_JSON = os.path.join(ROOT, "bench", "results", "bench_cnn_matrix.json")
LENET5_WEIGHTS = os.path.join(ROOT, "models", "FashionMNIST", "LeNet5", "fashionmnist_lenet5_relu_original.weights.h5")
RESNET_WEIGHTS = os.path.join(ROOT, "models", "FashionMNIST", "ResNet", "fashionmnist_resnet_relu_original.weights.h5")
VGG16_WEIGHTS = os.path.join(ROOT, "models", "FashionMNIST", "VGG16", "fashionmnist_vgg16_relu_original.weights.h5")
CAFFE_RANGE = (-123.68, 151.061)
JSON_MARK = "BENCH_CNN_JSON "
VARIANTS = ("relu", "snn")
MODELS = ("lenet5", "resnet", "vgg16_28", "vgg16_224", "resnet50_224")
DTYPES = ("float64", "float32")
RANDOM_SEED = 0

#: Per-model defaults: dtypes, batch size, rounds, warm-up calls, calibration images,
#: target SNN/ReLU and the dtype it applies to, memory-probe warm calls.
PLAN = {
    "lenet5": {"dtypes": ["float64"], "batch_size": 256, "rounds": 20, "warmup": 2, "calib": 5000,
               "target": 3.0, "target_dtype": "float64", "memory_calls": 2, "layer_dtypes": None},
    "vgg16_28": {"dtypes": ["float64"], "batch_size": 8, "rounds": 21, "warmup": 2, "calib": 1000,
                 "target": 5.0, "target_dtype": "float64", "memory_calls": 1, "layer_dtypes": None},
    "vgg16_224": {"dtypes": ["float64", "float32"], "batch_size": 2, "rounds": 3, "warmup": 0, "calib": 32,
                  "target": 5.0, "target_dtype": "float32", "memory_calls": 1, "layer_dtypes": ["float32"]},
    "resnet": {"dtypes": ["float64"], "batch_size": 256, "rounds": 10, "warmup": 1, "calib": 5000,
               "target": 3.0, "target_dtype": "float64", "memory_calls": 2, "layer_dtypes": None},
    "resnet50_224": {"dtypes": ["float64", "float32"], "batch_size": 2, "rounds": 3, "warmup": 0, "calib": 32,
                     "target": 5.0, "target_dtype": "float32", "memory_calls": 1, "layer_dtypes": ["float32"]},
}
LABELS = {"relu": "ReLU (pre.model)", "snn": "SNN to_snn"}


# ----------------------------------------------------------------------------------------
# Setup: data, networks, phase 1
# ----------------------------------------------------------------------------------------

def to_224(x):
    """28x28x1 images in [0, 1] -> 224x224x3 (nearest neighbour, grey replicated) in CAFFE_RANGE."""
    import keras

    x = keras.ops.convert_to_numpy(keras.ops.image.resize(np.asarray(x, np.float32), (224, 224),
                                                          interpolation="nearest"))
    x = np.repeat(np.asarray(x, np.float64), 3, axis=-1)
    p, q = CAFFE_RANGE
    return p + (q - p) * x


def trained_cache(n_images, epochs):
    """Where the bench keeps the vgg16_28 it trained (bench/results/, not tracked)."""
    return os.path.join(ROOT, "bench", "results", f"vgg16_28_{n_images}x{epochs}_seed{RANDOM_SEED}.weights.h5")


def build_network(name, vgg16_weights=VGG16_WEIGHTS, vgg16_train=0, vgg16_epochs=2, ds=None):
    """The ReLU network of model ``name`` and a description of its weights.

    ``vgg16_28`` loads ``vgg16_weights`` if the file exists; otherwise it is trained for
    ``vgg16_epochs`` epochs on the first ``vgg16_train`` training images of ``ds`` (seed 0;
    the recipe of ``phase1 --flagfile flags/fashionmnist_vgg16.txt --epochs 2 --train_samples
    12000``), once: later runs load it from :func:`trained_cache`.  With ``vgg16_train`` 0 it
    keeps its random initial weights."""
    import keras
    from snnmap import storage, zoo

    if name == "lenet5":
        model = zoo.lenet5()
        model.load_weights(LENET5_WEIGHTS)
        return model, {"architecture": "LeNet5 (zoo.lenet5)", "weights": common.rel(LENET5_WEIGHTS),
                       "weights_source": "shipped"}
    if name == "vgg16_28":
        keras.utils.set_random_seed(RANDOM_SEED)
        model = zoo.build(True, 16, (28, 28, 1), 10)
        info = {"architecture": "VGG16 for 28x28 (zoo.build(True, 16, (28, 28, 1), 10))"}
        if os.path.exists(vgg16_weights):
            model.load_weights(vgg16_weights)
            return model, {**info, "weights": common.rel(vgg16_weights), "weights_source": "loaded"}
        info["note"] = f"{common.rel(vgg16_weights)} not found"
        if not vgg16_train:
            return model, {**info, "weights": None, "weights_source": f"random (glorot) weights, seed {RANDOM_SEED}"}
        n = min(int(vgg16_train), ds.n_train)
        recipe = (f"{vgg16_epochs} epoch(s) on the first {n:,} training images of {ds.name}, batch 128, "
                  f"seed {RANDOM_SEED}")
        cache = trained_cache(n, vgg16_epochs)
        if os.path.exists(cache):
            model.load_weights(cache)
            return model, {**info, "weights": common.rel(cache),
                           "weights_source": f"trained by an earlier run of this bench: {recipe}"}
        print(f"[vgg16_28] {info['note']}: training {recipe} (saved to {common.rel(cache)} for later runs) ...",
              flush=True)
        t0 = time.perf_counter()
        history = zoo.train(model, ds.x_train[:n], ds.y_train[:n], epochs=vgg16_epochs, verbose=0, seed=RANDOM_SEED)
        plain = zoo.build(True, 16, (28, 28, 1), 10)  # weights only, no optimizer state
        plain.set_weights(model.get_weights())
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        storage.atomic_save_weights(plain, cache)
        return model, {**info, "weights": common.rel(cache),
                       "weights_source": (f"trained in this run: {recipe} (training accuracy "
                                          f"{history.history['accuracy'][-1]:.3f}, {time.perf_counter() - t0:.0f} s)")}
    if name == "vgg16_224":
        keras.utils.set_random_seed(RANDOM_SEED)
        model = zoo.vgg16_imagenet()
        return model, {"architecture": "keras.applications.VGG16(weights=None), 224x224x3, 1000 classes",
                       "weights": None, "weights_source": f"random (glorot) weights, seed {RANDOM_SEED}"}
    if name == "resnet":
        model = zoo.resnet()
        model.load_weights(RESNET_WEIGHTS)
        return model, {"architecture": "small ResNet (zoo.resnet), a graph", "weights": common.rel(RESNET_WEIGHTS),
                       "weights_source": "shipped"}
    if name == "resnet50_224":
        keras.utils.set_random_seed(RANDOM_SEED)
        model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=10)
        source = f"random (glorot, BN at its initial statistics) weights, seed {RANDOM_SEED}"
        return model, {"architecture": "keras.applications.ResNet50(weights=None), 224x224x3, 10 classes (a graph)",
                       "weights": None, "weights_source": source}
    raise ValueError(name)


def model_data(name, ds, n_images, n_calib):
    """(benchmark images, calibration images, input_range, description) of model ``name``."""
    if n_images > ds.n_test:
        raise SystemExit(f"{n_images} benchmark images exceed the {ds.n_test} test images")
    x, xc = ds.x_test[:n_images], ds.x_train[:n_calib]
    desc = {"name": ds.name, "description": ds.description, "split": "test", "first_index": 0,
            "n_images": int(n_images), "calibration": f"training images #0..#{n_calib - 1}",
            "n_calibration": int(n_calib)}
    if name in ("vgg16_224", "resnet50_224"):
        desc["transform"] = ("resized 28x28 -> 224x224 (nearest neighbour, keras.ops.image.resize), grey "
                             "replicated to 3 channels, mapped linearly from [0, 1] onto the Caffe-like range "
                             f"[{CAFFE_RANGE[0]}, {CAFFE_RANGE[1]}] (input_range)")
        return to_224(x), to_224(xc), CAFFE_RANGE, desc
    return np.asarray(x, np.float64), xc, (0.0, 1.0), desc


def full_setup(name, args):
    """Data, network and phase 1 of one model."""
    import snnmap

    ds = snnmap.datasets.load("FashionMNIST")
    x, xc, input_range, data = model_data(name, ds, args.batch_size_of[name], args.calib_of[name])
    model, info = build_network(name, args.vgg16_weights, args.vgg16_train, args.vgg16_epochs, ds)
    del ds
    t0 = time.perf_counter()
    pre = snnmap.preprocess(model, xc, input_range=input_range, batch_size=8 if name.endswith("_224") else 64,
                            verbose=0)
    info["preprocess_seconds"] = time.perf_counter() - t0
    info["parameters"] = int(model.count_params())
    return {"pre": pre, "x": np.ascontiguousarray(x), "input_range": list(input_range), "data": data,
            "model": info}


def save_setup(setup, directory):
    setup["pre"].save(directory, "bench_cnn")
    np.save(os.path.join(directory, "x.npy"), setup["x"])
    with open(os.path.join(directory, "meta.json"), "w") as fh:
        json.dump({k: setup[k] for k in ("input_range", "data", "model")}, fh)


def load_setup(directory):
    import snnmap

    with open(os.path.join(directory, "meta.json")) as fh:
        meta = json.load(fh)
    return {"pre": snnmap.Preprocessed.load(directory, "bench_cnn"),
            "x": np.load(os.path.join(directory, "x.npy"), allow_pickle=False), **meta}


# ----------------------------------------------------------------------------------------
# Variants
# ----------------------------------------------------------------------------------------

def _with_dtype(obj, dtype):
    """A Keras config with every ``"float64"`` replaced by ``dtype``."""
    if isinstance(obj, dict):
        return {k: _with_dtype(v, dtype) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_with_dtype(v, dtype) for v in obj]
    return dtype if obj == "float64" else obj


def relu_model(pre, dtype):
    """``pre.model`` in ``dtype`` (float64: itself; otherwise a copy with ``dtype`` layers)."""
    import keras

    if dtype == "float64":
        return pre.model
    copy = keras.Model.from_config(_with_dtype(pre.model.get_config(), dtype))
    copy.set_weights([np.asarray(w, dtype) for w in pre.model.get_weights()])
    return copy


def build_variant(pre, name, dtype):
    """``(call, model)``; ``call(inputs)`` runs one batch (``inputs[dtype]`` holds x_hat and spikes)."""
    import snnmap

    if name == "relu":
        model = relu_model(pre, dtype)
        return (lambda inp, m=model: m.predict_on_batch(inp[dtype]["x_hat"])), model
    model = snnmap.to_snn(pre, dtype=dtype)
    return (lambda inp, m=model: m.predict_on_batch(inp[dtype]["spikes"])), model


def make_inputs(pre, x, input_range, dtypes):
    import snnmap

    return {d: {"x_hat": np.ascontiguousarray(pre.normalize(x), dtype=d),
                "spikes": np.ascontiguousarray(snnmap.encode(x, input_range), dtype=d)} for d in dtypes}


def relu_logits(pre, x_hat):
    """Pre-softmax logits of the float64 preprocessed network (its last Dense applied in NumPy)."""
    import keras

    last = pre.model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        raise ValueError(f"expected a Dense output layer, got {type(last).__name__}")
    features = keras.Model(pre.model.inputs, last.input).predict_on_batch(np.asarray(x_hat, np.float64))
    w, b = (np.asarray(v, np.float64) for v in last.get_weights())
    return np.asarray(features, np.float64) @ w + b


# ----------------------------------------------------------------------------------------
# Agreement and per-layer figures
# ----------------------------------------------------------------------------------------

def check_agreement(pre, variants, inputs, dtypes):
    """First call of every variant (timed) and the SNN-vs-ReLU comparison per dtype."""
    logits64 = relu_logits(pre, inputs[dtypes[0]]["x_hat"].astype(np.float64))
    top2 = np.sort(logits64, axis=1)[:, -2:]
    result, first_call = {"by_dtype": {}}, {}
    passed = True
    for d in dtypes:
        out = {}
        for name in VARIANTS:
            t0 = time.perf_counter()
            out[name] = np.asarray(variants[f"{name}/{d}"][0](inputs), np.float64)
            first_call[f"{name}/{d}"] = time.perf_counter() - t0
        snn_arg, relu_arg = np.argmax(out["snn"], axis=1), np.argmax(out["relu"], axis=1)
        diff = np.abs(out["snn"] - logits64)
        entry = {
            "n_images": int(len(snn_arg)),
            "argmax_equal": int(np.sum(snn_arg == relu_arg)),
            "argmax_equal_relu_float64": int(np.sum(snn_arg == np.argmax(logits64, axis=1))),
            "max_abs_logit_diff": float(diff.max()),
            "max_abs_logit": float(np.max(np.abs(logits64))),
            "min_top2_margin_relu": float(np.min(top2[:, 1] - top2[:, 0])),
            "reference": "logits of the float64 preprocessed ReLU network (pre.model without softmax)",
        }
        entry["passed"] = entry["argmax_equal"] == entry["n_images"]
        passed = passed and entry["passed"]
        result["by_dtype"][d] = entry
    result["passed"] = bool(passed)
    return result, first_call


def arrival_figures(u):
    """``inputs_at_last_arrival``: fraction of a layer's inputs (local times ``u``, one row per
    image) that arrive together with the image's LAST arrival (activation 0, or padding); the
    grid bound's points are quantiles of the others."""
    flat = u.reshape(len(u), -1)
    return {"inputs_at_last_arrival": float(np.mean(flat >= flat.max(axis=1, keepdims=True)))}


def layer_figures(snn, spikes, repeat=1):
    """Per spiking layer: open fractions and an eager time breakdown (best of ``repeat``), from
    :func:`snnmap.layers.solver_report` (which documents every figure), with the layer's
    geometry and :func:`arrival_figures`."""
    import keras
    from snnmap.layers import SpikingLayer, solver_report
    from snnmap.solver import DEFAULT_CONFIG

    spiking = [layer for layer in snn.layers if isinstance(layer, SpikingLayer)]
    probe = keras.Model(snn.inputs, [layer.input for layer in spiking])
    inputs = probe.predict_on_batch(spikes)
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    batch = int(spikes.shape[0])
    rows = []
    for layer, t in zip(spiking, inputs):
        row = {"layer": layer.name, "type": type(layer).__name__, "output_layer": layer.output_layer,
               "neurons": int(np.prod(layer.alpha.shape)), "fan_in": int(np.prod(layer.kernel.shape[:-1]))}
        if not layer.output_layer:
            t_local = keras.ops.convert_to_tensor(np.asarray(t), layer.compute_dtype)
            row.update(arrival_figures(np.asarray(layer.local_inputs(t_local))))
        row.update(solver_report(layer, t, repeat=repeat))
        rows.append(row)
    return {"rows": rows, "batch": batch, "repeat": repeat, "grid_work": DEFAULT_CONFIG.grid_work,
            "grid_points": [float(f) for f in DEFAULT_CONFIG.grid_points],
            "note": "eager calls outside tf.function, best of `repeat`; indicative only"}


# ----------------------------------------------------------------------------------------
# One model
# ----------------------------------------------------------------------------------------

def run_model(name, args, setup_dir):
    """Setup, agreement, layer figures and timing of one model; saves its setup for the memory children."""
    import tensorflow as tf

    dtypes = args.dtypes_of[name]
    bs = args.batch_size_of[name]
    print(f"[{name}] setting up (data, network, phase 1 on {args.calib_of[name]} images) ...", flush=True)
    t0 = time.perf_counter()
    setup = full_setup(name, args)
    pre = setup["pre"]
    from snnmap.core import mapping

    if setup_dir:
        save_setup(setup, setup_dir)
    setup_s = time.perf_counter() - t0
    inputs = make_inputs(pre, setup["x"], setup["input_range"], dtypes)
    variants = {f"{v}/{d}": build_variant(pre, v, d) for d in dtypes for v in VARIANTS}
    print(f"[{name}] agreement check (first calls) ...", flush=True)
    tf_logger, level = tf.get_logger(), tf.get_logger().level
    tf_logger.setLevel("ERROR")
    try:
        agreement, first_call = check_agreement(pre, variants, inputs, dtypes)
    finally:
        tf_logger.setLevel(level)
    figures = {}
    if not args.no_layers:
        layer_dtypes = [d for d in dtypes if d in (PLAN[name]["layer_dtypes"] or dtypes)] or dtypes[:1]
        for d in layer_dtypes:
            print(f"[{name}] per-layer open fractions and breakdown ({d}) ...", flush=True)
            repeat = 2 if name == "lenet5" or args.quick else 1
            figures[d] = layer_figures(variants[f"snn/{d}"][1], inputs[d]["spikes"], repeat)
    # t_min of the output layer: the readout time (chains and graphs alike)
    from snnmap.pipeline.evaluate import spiking_layers

    latency = float(spiking_layers(variants[f"snn/{dtypes[0]}"][1])[-1].window.t_min)
    rounds, warmup = args.rounds_of[name], args.warmup_of[name]
    fast, _ = common.repetitions(rounds)
    print(f"[{name}] timing: {warmup} warm-up call(s), {fast} rounds, batch {bs} ...", flush=True)
    snap = common.cpu_snapshot()
    timing = common.time_round_robin({k: v[0] for k, v in variants.items()}, {bs: inputs}, rounds, warmup,
                                     first_call={bs: first_call})[str(bs)]
    conditions = common.timing_conditions(snap, common.cpu_snapshot())
    ratio = {d: timing[f"snn/{d}"]["median_s"] / timing[f"relu/{d}"]["median_s"] for d in dtypes}
    plan = PLAN[name]
    tgt = None
    if plan["target_dtype"] in ratio:
        tgt = {"dtype": plan["target_dtype"], "max": plan["target"],
               **common.target(ratio[plan["target_dtype"]], plan["target"])}
    res = {
        "data": setup["data"],
        "model": setup["model"],
        "input_range": setup["input_range"],
        "batch_size": bs,
        "dtypes": dtypes,
        "rounds": fast,
        "warmup": warmup,
        "snn": {"X_n": [float(v) for v in pre.X_n], "zeta": mapping.DEFAULT_ZETA,
                "latency": latency, "hidden_layers": len(pre.X_n)},
        "timing": timing,
        "per_image_s": {k: t["median_s"] / bs for k, t in timing.items()},
        "timing_conditions": conditions,
        "ratios": {f"snn/relu {d}": r for d, r in ratio.items()},
        "agreement": agreement,
        "layers": figures,
        "target": tgt,
        "setup_s": setup_s,
    }
    del variants, inputs, setup, pre
    gc.collect()
    return res


# ----------------------------------------------------------------------------------------
# Memory (one subprocess per model, dtype and variant)
# ----------------------------------------------------------------------------------------

def run_only(args):
    """``--only VARIANT`` (one model, one dtype): peak RSS growth of its calls, in this process."""
    t_start = time.perf_counter()
    (name,), (dtype,) = args.models, args.dtypes_of[args.models[0]]
    setup = load_setup(args.setup_dir) if args.setup_dir else full_setup(name, args)
    pre = setup["pre"]
    inputs = make_inputs(pre, setup["x"], setup["input_range"], [dtype])
    call, _ = build_variant(pre, args.only, dtype)
    calls = 1 if args.quick else PLAN[name]["memory_calls"]
    m = common.measure_memory(call, inputs, calls)
    result = {"model": name, "dtype": dtype, "variant": args.only, "batch_size": args.batch_size_of[name],
              "memory": m, "seconds": time.perf_counter() - t_start}
    common.print_json_line(JSON_MARK, result)
    if not args.setup_dir:
        print(f"{name} {dtype} {args.only}: peak RSS growth {m['steady_peak_growth_mib']:.1f} MiB per warm call, "
              f"{m['first_call_peak_growth_mib'] or float('nan'):.1f} MiB incl. the first call")
    return 0


def memory_children(name, args, setup_dir):
    out = {}
    for d in args.dtypes_of[name]:
        for v in VARIANTS:
            print(f"[{name}] peak memory: {v}/{d} in a subprocess ...", flush=True)
            cmd = [sys.executable, os.path.abspath(__file__), "--only", v, "--models", name, "--dtypes", d,
                   "--batch_size", str(args.batch_size_of[name]), "--setup_dir", setup_dir]
            cmd += ["--quick"] if args.quick else []
            child = common.run_json_child(cmd, JSON_MARK)
            out[f"{v}/{d}"] = (child if "error" in child
                               else {**child["memory"], "subprocess_seconds": child["seconds"]})
    return out


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------

def _mib(m, key):
    if not m:
        return "-"
    if "error" in m:
        return "error"
    v = m.get(key)
    return "-" if v is None else f"{v:.1f}"


def _ms(seconds):
    return "-" if seconds is None else f"{1e3 * seconds:.1f}"


def report_text(res):
    mc, cfg = res["machine"], res["config"]
    bar = "=" * 118
    lines = [bar, "bench_cnn: convolutional ReLU networks vs. their single-spike SNNs (snnmap), one run, same inputs",
             bar]
    lines.extend(common.machine_lines(mc))
    nz = res["timing_conditions"]
    lines.append(common.load_line(mc, nz, "the timed rounds of all models"))
    lines.append("method   : per model, first call of every variant in the agreement check (traces), warm-up calls, "
                 "then round-robin rounds over all")
    lines.append("           its variants (order rotated); time = MEDIAN wall time of predict_on_batch per batch; "
                 "CPU only" + ("  [--quick]" if cfg["quick"] else ""))
    if "grid_products" in cfg:
        lines.append(f"products : the grid bounds' synapse products in {cfg['grid_products']} "
                     "(snnmap.solver.bf16_products; SNNMAP_BF16=0: float32)")
    for name, r in res["models"].items():
        d, m = r["data"], r["model"]
        lines.append("")
        lines.append(f"--- {name}: {m['architecture']} ---")
        weights = m["weights_source"] + (f": {m['weights']}" if m["weights"] else "")
        lines.append(f"weights  : {weights}" + (f" ({m['note']})" if m.get("note") else ""))
        lines.append(f"data     : {d['description']}")
        lines.append(f"           benchmark inputs = {d['split']} images #0..#{d['n_images'] - 1} "
                     f"(one batch of {r['batch_size']}); calibration = {d['calibration']}")
        if "transform" in d:
            lines.append(f"           {d['transform']}")
        lines.append(f"phase 1  : {m['preprocess_seconds']:.1f} s; {r['snn']['hidden_layers']} hidden layers, "
                     f"latency t_min(N) = {r['snn']['latency']:.4g}")
        lines.append(f"timing   : {r['warmup']} warm-up call(s), {r['rounds']} rounds; other processes kept "
                     + (f"{r['timing_conditions']['other_processes_cpus']:.2f}"
                        if r['timing_conditions']['other_processes_cpus'] is not None else "?")
                     + f" CPUs busy during its {r['timing_conditions']['timing_wall_s']:.0f} s")
        head = (f"  {'dtype':<8} {'variant':<17}{'calls':>5} {'median ms':>10} {'IQR %':>6} {'min ms':>10} "
                f"{'ms/image':>9} {'images/s':>9} {'1st call s':>10} {'peak MiB':>9} {'w/ 1st':>8}")
        lines.append(head)
        lines.append("  " + "-" * (len(head) - 2))
        for dt in r["dtypes"]:
            for v in VARIANTS:
                key = f"{v}/{dt}"
                t = r["timing"][key]
                mem = (r.get("memory") or {}).get(key)
                lines.append(f"  {dt:<8} {LABELS[v]:<17}{t['n']:>5} {1e3 * t['median_s']:>10.1f} "
                             f"{100 * t['iqr_s'] / t['median_s']:>6.1f} {1e3 * t['min_s']:>10.1f} "
                             f"{1e3 * t['median_s'] / r['batch_size']:>9.2f} {t['images_per_s']:>9.1f} "
                             f"{t['first_call_s']:>10.2f} {_mib(mem, 'steady_peak_growth_mib'):>9} "
                             f"{_mib(mem, 'first_call_peak_growth_mib'):>8}")
        for dt in r["dtypes"]:
            lines.append(f"  SNN/ReLU {dt}: {r['ratios'][f'snn/relu {dt}']:.2f}  (ratio of the medians)")
        for dt in r["dtypes"]:
            a = r["agreement"]["by_dtype"][dt]
            lines.append(f"  agreement {dt}: argmax SNN == ReLU on {a['argmax_equal']}/{a['n_images']} images; "
                         f"max |SNN logits - ReLU logits (float64)| = {a['max_abs_logit_diff']:.2e} "
                         f"(max |logit| {a['max_abs_logit']:.3g}, smallest top-2 gap {a['min_top2_margin_relu']:.2e})")
        for dt, fig in r["layers"].items():
            lines.append(f"  per spiking layer ({dt}, batch {fig['batch']}): last = inputs arriving with the "
                         "image's last arrival; open = (image, neuron) pairs the")
            lines.append("  one-interval certificate leaves open; free = still open after the free one-interval "
                         "bound; grid = intervals of the grid bounds applied in turn (inner points added from "
                         f"{fig['grid_points']}, each while open x fan-in > {fig['grid_work']:g} x neurons); "
                         "solver = pairs left to the")
            lines.append("  event solver; needed = pairs whose spike time the solver changed (crossings before the "
                         "last input);")
            lines.append(f"  times: eager, one call{' (best of 2)' if fig['repeat'] > 1 else ''}, ms")
            lh = (f"    {'layer':<16}{'neurons':>9}{'fan-in':>7}{'last %':>7}{'open %':>7}{'free %':>7}{'grid':>7}"
                  f"{'solver %':>9}{'needed %':>9}{'synapse':>9}{'closed':>9}{'cert':>9}{'free':>9}{'grid':>9}"
                  f"{'solver':>9}{'layer':>9}")
            lines.append(lh)
            for row in fig["rows"]:
                if row["output_layer"]:
                    lines.append(f"    {row['layer']:<16}{row['neurons']:>9}{row['fan_in']:>7}{'(output)':>48}"
                                 f"{_ms(row.get('synapse_s')):>9}{'':>45}{_ms(row.get('layer_call_s')):>9}")
                    continue
                lines.append(f"    {row['layer']:<16}{row['neurons']:>9}{row['fan_in']:>7}"
                             f"{100 * row['inputs_at_last_arrival']:>7.1f}"
                             f"{100 * row['open_1block']:>7.1f}{100 * row['open_free']:>7.2f}"
                             f"{'+'.join(map(str, row.get('grid_stages', []))) or 'no':>7}"
                             f"{100 * row['to_solver']:>9.3f}{100 * row['solver_changed']:>9.3f}"
                             f"{_ms(row.get('synapse_s')):>9}"
                             f"{_ms(row.get('closed_form_s')):>9}{_ms(row.get('certificate_s')):>9}"
                             f"{_ms(row.get('free_s')):>9}{_ms(row.get('grid_bound_s')):>9}"
                             f"{_ms(row.get('event_solver_s')):>9}"
                             f"{_ms(row.get('layer_call_s')):>9}")
            tot = {k: sum(row.get(k) or 0.0 for row in fig["rows"])
                   for k in ("synapse_s", "closed_form_s", "certificate_s", "free_s", "grid_bound_s",
                             "event_solver_s", "layer_call_s")}
            lines.append(f"    {'sum':<16}{'':>64}{_ms(tot['synapse_s']):>9}{_ms(tot['closed_form_s']):>9}"
                         f"{_ms(tot['certificate_s']):>9}{_ms(tot['free_s']):>9}{_ms(tot['grid_bound_s']):>9}"
                         f"{_ms(tot['event_solver_s']):>9}{_ms(tot['layer_call_s']):>9}")
    lines.append("")
    lines.append("peak MiB = growth of the peak resident set (VmHWM) over the RSS before the call, warm call(s), one "
                 "subprocess per model, dtype")
    lines.append("           and variant;  w/ 1st = the same including the first call (tracing);  '-' = not measured")
    lines.append("")
    lines.append(f"=> agreement checks {'PASSED' if res['agreement_passed'] else 'FAILED'} (argmax SNN == argmax ReLU "
                 "on every benchmark image)")
    lines.append("targets")
    for name, r in res["models"].items():
        t = r["target"]
        if t is None:
            lines.append(f"  {name:<10} (target dtype {PLAN[name]['target_dtype']} not measured)")
            continue
        lines.append(f"  {name:<10} SNN/ReLU <= {t['max']:g} in {t['dtype']}: {t['value']:6.2f}  "
                     f"{common.met_text(t['met'])}")
    lines.append(bar)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------

def _defaults(option):
    return ", ".join(f"{m} {PLAN[m][option]}" for m in MODELS)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models (default: all)")
    p.add_argument("--dtypes", nargs="+", choices=DTYPES, default=None,
                   help="dtypes for every model (default: float64; vgg16_224 and resnet50_224: float64 float32)")
    p.add_argument("--batch_size", type=int, default=None,
                   help="images per batch for every model (default: " + _defaults("batch_size") + ")")
    p.add_argument("--rounds", type=int, default=None,
                   help="round-robin rounds (default: " + _defaults("rounds") + "; --quick 3; at least 3)")
    p.add_argument("--warmup", type=int, default=None,
                   help="warm-up calls after the first call (default: " + _defaults("warmup") + ")")
    p.add_argument("--calib", type=int, default=None,
                   help="calibration images for every model (default: " + _defaults("calib") + ")")
    p.add_argument("--quick", action="store_true", help="smoke test: 3 rounds, 1 warm call per memory probe")
    p.add_argument("--only", choices=VARIANTS, default=None,
                   help="measure one variant of ONE model and dtype alone (peak memory) in this process")
    p.add_argument("--no_memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--no_layers", action="store_true", help="skip the per-layer open fractions and breakdown")
    p.add_argument("--vgg16_weights", default=VGG16_WEIGHTS,
                   help=f"weights of vgg16_28 (default {common.rel(VGG16_WEIGHTS)}, written by phase 1 with "
                        "flags/fashionmnist_vgg16.txt; if absent see --vgg16_train)")
    p.add_argument("--vgg16_train", type=int, default=None,
                   help="without those weights, train vgg16_28 here on this many training images (default 12000; "
                        "--quick: 0), once: later runs reuse it from bench/results/; 0 = random weights")
    p.add_argument("--vgg16_epochs", type=int, default=2, help="epochs of that training (default 2)")
    p.add_argument("--matrix", action="store_true",
                   help="instead: SNN/ReLU per kind of input and batch size, and conversion costs "
                        "(bench/cnn_matrix.py; default JSON bench/results/bench_cnn_matrix.json)")
    p.add_argument("--inputs", nargs="+", choices=cnn_matrix.INPUT_KINDS, default=list(cnn_matrix.INPUT_KINDS),
                   help="--matrix: kinds of input (default: image random)")
    p.add_argument("--batch_sizes", nargs="+", type=int, default=list(cnn_matrix.BATCH_SIZES),
                   help="--matrix: batch sizes (default: 1 8 32)")
    p.add_argument("--process_per_batch_size", action="store_true",
                   help="--matrix: every model in one process per batch size (always: "
                        + ", ".join(cnn_matrix.PROCESS_PER_BATCH_SIZE) + "), for machines short of memory")
    p.add_argument("--json", default=None, help=f"output JSON (default {common.rel(DEFAULT_JSON)})")
    p.add_argument("--matrix_child", action="store_true", help=argparse.SUPPRESS)  # internal: --matrix processes
    p.add_argument("--setup_dir", default=None, help=argparse.SUPPRESS)  # internal: --only subprocesses
    args = p.parse_args(argv)
    args.models = list(dict.fromkeys(args.models))
    if args.json is None:
        args.json = MATRIX_JSON if args.matrix else DEFAULT_JSON
    if min(args.batch_sizes) < 1:
        p.error("--batch_sizes must be >= 1")
    for opt in ("batch_size", "rounds", "calib"):
        v = getattr(args, opt)
        if v is not None and v < 1:
            p.error(f"--{opt} must be >= 1")
    if args.warmup is not None and args.warmup < 0:
        p.error("--warmup must be >= 0")
    if args.only and (len(args.models) != 1 or (args.dtypes and len(args.dtypes) != 1)):
        p.error("--only needs exactly one model and one dtype")
    pick = lambda opt, name: getattr(args, opt) if getattr(args, opt) is not None else PLAN[name][opt]  # noqa: E731
    args.dtypes_of = {m: list(dict.fromkeys(args.dtypes)) if args.dtypes else PLAN[m]["dtypes"] for m in args.models}
    if args.only:
        args.dtypes_of = {m: args.dtypes_of[m][:1] for m in args.models}
    args.batch_size_of = {m: pick("batch_size", m) for m in args.models}
    args.rounds_of = {m: (args.rounds if args.rounds is not None else 3 if args.quick else PLAN[m]["rounds"])
                      for m in args.models}
    args.warmup_of = {m: pick("warmup", m) for m in args.models}
    args.calib_of = {m: pick("calib", m) for m in args.models}
    if args.vgg16_train is None:
        args.vgg16_train = 0 if args.quick else 12000
    elif args.vgg16_train < 0:
        p.error("--vgg16_train must be >= 0")
    if args.vgg16_epochs < 1:
        p.error("--vgg16_epochs must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    common.force_cpu()
    if args.only:
        return run_only(args)
    if args.matrix:
        return cnn_matrix.run_matrix(args, sys.modules[__name__])

    import keras
    import tensorflow as tf

    from snnmap.solver import bf16_products

    t_start = time.perf_counter()
    machine = common.machine_info()
    models = {}
    snap0 = common.cpu_snapshot()
    timed = []
    with tempfile.TemporaryDirectory(prefix="bench_cnn_") as tmp:
        for name in args.models:
            setup_dir = None if args.no_memory else os.path.join(tmp, name)
            if setup_dir:
                os.makedirs(setup_dir)
            models[name] = run_model(name, args, setup_dir)
            timed.append(models[name]["timing_conditions"])
            if setup_dir:
                models[name]["memory"] = memory_children(name, args, setup_dir)
            else:
                models[name]["memory"] = {}
    # Load over all timed rounds (weighted by their wall time).
    wall = sum(c["timing_wall_s"] for c in timed)
    busy = [c["other_processes_cpus"] for c in timed]
    conditions = {
        "other_processes_cpus": (sum(b * c["timing_wall_s"] for b, c in zip(busy, timed)) / wall
                                 if wall > 0 and None not in busy else None),
        "this_process_cpus": (sum(c["this_process_cpus"] * c["timing_wall_s"] for c in timed) / wall
                              if wall > 0 else None),
        "timing_wall_s": wall,
        "whole_run": common.timing_conditions(snap0, common.cpu_snapshot()),
    }
    res = {
        "benchmark": "bench_cnn",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "models": args.models,
            "dtypes": args.dtypes_of,
            "batch_size": args.batch_size_of,
            "rounds": args.rounds_of,
            "warmup": args.warmup_of,
            "calibration_images": args.calib_of,
            "quick": bool(args.quick),
            "device": "CPU",
            "variants": list(VARIANTS),
            "statistic": "median seconds per batch",
            "grid_products": "bfloat16 in convolutions" if bf16_products() else "float32",
        },
        "machine": machine,
        "timing_conditions": conditions,
        "models": models,
        "agreement_passed": bool(all(m["agreement"]["passed"] for m in models.values())),
        "targets": {name: m["target"] for name, m in models.items()},
        "keras_floatx": keras.config.floatx(),
        "tensorflow_devices_used": [d.name for d in tf.config.get_visible_devices()],
        "wall_seconds": None,
    }
    res["wall_seconds"] = time.perf_counter() - t_start
    common.atomic_write_json(args.json, res)
    print(report_text(res))
    print(f"JSON: {os.path.relpath(os.path.abspath(args.json))}   (wall time {res['wall_seconds']:.0f} s)")
    return 0 if res["agreement_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
