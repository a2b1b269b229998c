#!/usr/bin/env python
"""Benchmark: ReLU network vs. its single-spike twin, 784-600-10 on Fashion-MNIST.

One run times, on the SAME real Fashion-MNIST test images and at every batch size,
in float64 on the CPU:

* ``relu``      - the preprocessed float64 ReLU model (``pre.model``) on ``x_hat``;
* ``snn``       - ``snnmap.to_snn(pre)`` (solver ``"auto"``) on ``snnmap.encode(x)``;
* ``exact``     - ``to_snn(pre, solver="exact")``: event-driven solver on every neuron;
* ``scan``      - ``to_snn(pre, solver="scan")``: plain per-event scan on every neuron;
* ``reference`` - a straightforward sort-and-gather implementation written here
  (argsort the input spikes, gather the weight rows in that order into a
  ``(batch, n_in, n_out)`` tensor, cumulative sums, first valid candidate), compiled with
  ``tf.function``.  Its parameters are computed here from ``pre.model``'s weights with
  the formulas of docs/method.md section 3, independently of snnmap's layers.

Before timing, every variant runs on the benchmark inputs and the outputs are compared:
the reference and all snnmap solvers must agree to ``--tol`` (1e-9) on the logits and on
the hidden spike times, and every variant must give the ReLU network's argmax.

Timing: every (variant, batch size) is warmed up (the first call traces / compiles),
then the variants run round-robin, one call each per round, for ``--rounds`` rounds;
the slow variants (``scan``, ``reference``) run in a subset of the rounds, spread
evenly (at least 3 calls).  The table shows the median time per batch.

Peak memory: each (variant, batch size) runs in a subprocess of its own
(``bench_fc.py --only VARIANT --batch_sizes B``).  It reads the process's peak resident
set (``VmHWM`` in ``/proc/self/status``), resetting it first through
``/proc/self/clear_refs``, so nothing allocated before the measured calls counts.
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is recorded as well, but it is not used
for the table: on Linux a child inherits its parent's peak through ``exec``, so it
cannot see a growth smaller than the parent's own peak (see bench/README.md).

Usage::

    python bench/bench_fc.py                       # full run, batch sizes 64 and 256
    python bench/bench_fc.py --quick               # smoke test
    python bench/bench_fc.py --only exact          # one variant: memory and a few timings
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
import common  # noqa: E402  (bench/common.py: timing, memory, machine info, JSON)
from common import ROOT, atomic_write_json, force_cpu, machine_info, repetitions  # noqa: E402,F401

WEIGHTS = os.path.join(ROOT, "models", "FashionMNIST", "FC", "fashionmnist_fc_relu_original.weights.h5")
DEFAULT_JSON = os.path.join(ROOT, "bench", "results", "bench_fc.json")
DATA_DIR = "/usr/share/datasets/fashion-mnist"

VARIANTS = ("relu", "snn", "exact", "scan", "reference")
SLOW = ("scan", "reference")
LABELS = {
    "relu": "ReLU (pre.model)",
    "snn": "SNN auto",
    "exact": "SNN exact",
    "scan": "SNN scan",
    "reference": "reference",
}
RATIOS = (
    ("snn/relu", "snn", "relu"),
    ("exact/relu", "exact", "relu"),
    ("scan/relu", "scan", "relu"),
    ("reference/relu", "reference", "relu"),
    ("reference/exact", "reference", "exact"),
    ("reference/snn", "reference", "snn"),
)
TARGET_SNN_OVER_RELU = 3.0
TARGET_EXACT_SPEEDUP = 5.0
TRAIN_EPOCHS = 2
TRAIN_SEED = 0
JSON_MARK = "BENCH_FC_JSON "


# ----------------------------------------------------------------------------------------
# Setup: data, network, phase 1
# ----------------------------------------------------------------------------------------

def load_network(ds, weights=WEIGHTS):
    """The 784-600-10 ReLU network: shipped weights if present, else 2 seeded epochs."""
    from snnmap import zoo

    model = zoo.fc()
    if os.path.exists(weights):
        model.load_weights(weights)
        return model, {"source": "loaded", "weights": common.rel(weights)}
    t0 = time.perf_counter()
    zoo.train(model, ds.x_train, ds.y_train, epochs=TRAIN_EPOCHS, seed=TRAIN_SEED, verbose=0)
    return model, {
        "source": "trained",
        "weights": None,
        "epochs": TRAIN_EPOCHS,
        "seed": TRAIN_SEED,
        "train_seconds": time.perf_counter() - t0,
        "note": (f"{common.rel(weights)} not found: trained zoo.fc() for {TRAIN_EPOCHS} "
                 f"epochs on the Fashion-MNIST training set (seed {TRAIN_SEED}) in this run"),
    }


def full_setup(n_images, weights=WEIGHTS):
    """Load data and network, run phase 1; returns a dict the rest of the script uses."""
    import snnmap
    from snnmap.runtime import predict_batches

    ds = snnmap.datasets.load("FashionMNIST", flat=True)
    model, model_info = load_network(ds, weights)
    t0 = time.perf_counter()
    pre = snnmap.preprocess(model, ds.x_train, input_range=(0, 1), verbose=0)
    model_info["preprocess_seconds"] = time.perf_counter() - t0
    # Accuracy of the preprocessed ReLU network on the whole test set (context only).
    probs = np.concatenate(list(predict_batches(
        pre.model, pre.normalize(ds.x_test), batch_size=1000, verbose=0)))
    model_info["relu_test_accuracy"] = float(np.mean(np.argmax(probs, axis=1) == ds.y_test))
    model_info["relu_test_images"] = int(len(ds.x_test))
    if n_images > ds.n_test:
        raise SystemExit(f"batch size {n_images} exceeds the {ds.n_test} test images")
    return {
        "pre": pre,
        "x": np.ascontiguousarray(ds.x_test[:n_images]),
        "data": {
            "name": ds.name,
            "description": ds.description,
            "split": "test",
            "first_index": 0,
            "n_images": int(n_images),
        },
        "model": model_info,
    }


def save_setup(setup, directory):
    """What a ``--only`` subprocess needs, so it skips the data set, training and phase 1."""
    setup["pre"].save(directory, "bench_fc")
    np.save(os.path.join(directory, "x.npy"), setup["x"])
    with open(os.path.join(directory, "meta.json"), "w") as fh:
        json.dump({"data": setup["data"], "model": setup["model"]}, fh)


def load_setup(directory):
    import snnmap

    with open(os.path.join(directory, "meta.json")) as fh:
        meta = json.load(fh)
    return {
        "pre": snnmap.Preprocessed.load(directory, "bench_fc"),
        "x": np.load(os.path.join(directory, "x.npy"), allow_pickle=False),
        **meta,
    }


# ----------------------------------------------------------------------------------------
# The reference implementation (sort and gather, as in the original research code)
# ----------------------------------------------------------------------------------------

def reference_params(pre, zeta):
    """Spiking parameters from the preprocessed Dense layers, docs/method.md sections 1 and 3.

    Returns a list of hidden-layer dicts (J, theta, alpha = 1, windows) and the output
    layer's (W, b, t_min_prev, t_min).
    """
    import keras

    dense = [layer for layer in pre.model.layers if isinstance(layer, keras.layers.Dense)]
    if len(dense) != len(pre.X_n) + 1:
        raise ValueError("expected hidden Dense layers followed by one output Dense layer")
    hidden = []
    t_min_prev, t_min = 0.0, 1.0  # the input spikes in [0, 1]
    for layer, x_n in zip(dense[:-1], pre.X_n):
        w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
        t_max = t_min + (1.0 + zeta) * x_n
        s = w.sum(axis=0)
        j = w / (1.0 - s)  # alpha = 1
        j_sum = j.sum(axis=0)
        d = (t_max - t_min) * j_sum - (1.0 + j_sum) * b
        theta = (t_max - t_min_prev) + d
        hidden.append({"J": j, "theta": theta, "alpha": np.ones_like(theta),
                       "t_min_prev": t_min_prev, "t_min": t_min, "t_max": t_max})
        t_min_prev, t_min = t_min, t_max
    w, b = (np.asarray(v, np.float64) for v in dense[-1].get_weights())
    return hidden, {"W": w, "b": b, "t_min_prev": t_min_prev, "t_min": t_min}


def make_reference(pre, zeta):
    """``tf.function``s of the sort-and-gather SNN: ``logits(t)`` and ``all(t)``.

    ``all`` also returns the hidden spike times (for the agreement check only).
    """
    import tensorflow as tf

    hidden, out = reference_params(pre, zeta)
    f64 = tf.float64
    layers = [{k: (tf.constant(v, f64) if isinstance(v, np.ndarray) else v) for k, v in h.items()}
              for h in hidden]
    w_out, b_out = tf.constant(out["W"], f64), tf.constant(out["b"], f64)
    t_readout = out["t_min"]

    def spiking_layer(t, p):
        # Inputs in the order they arrive, and the weight rows gathered in that order.
        order = tf.argsort(t, axis=1, stable=True)
        ts = tf.gather(t, order, batch_dims=1)  # (batch, n_in)
        jg = tf.gather(p["J"], order)  # (batch, n_in, n_out)
        cum_j = tf.cumsum(jg, axis=1)
        cum_jt = tf.cumsum(jg * ts[:, :, None], axis=1)
        # After the k-th input V(t) = alpha (t - t_min_prev) + sum_{i<=k} J_i (t - t_i):
        # it reaches theta at this candidate time, valid if it comes before the next input.
        slope = cum_j + p["alpha"]
        cand = (cum_jt + p["theta"] + p["alpha"] * p["t_min_prev"]) / slope
        inf = tf.fill([tf.shape(ts)[0], 1], tf.constant(np.inf, f64))
        t_next = tf.concat([ts[:, 1:], inf], axis=1)[:, :, None]
        ok = tf.logical_and(slope > 0, cand < t_next)
        first = tf.argmax(tf.cast(ok, tf.int32), axis=1)  # first valid candidate
        t_first = tf.gather(tf.transpose(cand, [0, 2, 1]), first, batch_dims=2)  # (batch, n_out)
        return tf.where(tf.reduce_any(ok, axis=1), tf.minimum(t_first, p["t_max"]), p["t_max"])

    def forward(t):
        times = []
        for p in layers:
            t = spiking_layer(t, p)
            times.append(t)
        # Output layer: V(t_min(N)) = b + sum_j W_ij max(0, t_min(N) - t_j).
        return times, tf.matmul(tf.nn.relu(t_readout - t), w_out) + b_out

    spec = [tf.TensorSpec([None, int(pre.model.inputs[0].shape[-1])], f64)]
    logits = tf.function(lambda t: forward(t)[1], input_signature=spec)
    both = tf.function(forward, input_signature=spec)
    return logits, both


# ----------------------------------------------------------------------------------------
# Variants
# ----------------------------------------------------------------------------------------

def build_variants(pre, names):
    """``{name: (call, model_or_None)}``; ``call(inputs)`` returns the output as NumPy.

    ``inputs`` is a dict with ``x_hat`` (ReLU) and ``spikes`` (all spiking variants).
    """
    import snnmap
    import tensorflow as tf
    from snnmap.core import mapping

    variants = {}
    for name in names:
        if name == "relu":
            model = pre.model
            variants[name] = (lambda inp, m=model: m.predict_on_batch(inp["x_hat"]), model)
        elif name in ("snn", "exact", "scan"):
            model = snnmap.to_snn(pre) if name == "snn" else snnmap.to_snn(pre, solver=name)
            variants[name] = (lambda inp, m=model: m.predict_on_batch(inp["spikes"]), model)
        elif name == "reference":
            logits, _ = make_reference(pre, mapping.DEFAULT_ZETA)
            variants[name] = (lambda inp, f=logits: f(tf.constant(inp["spikes"])).numpy(), None)
        else:
            raise ValueError(name)
    return variants


def make_inputs(pre, x, batch_sizes):
    import snnmap

    return {bs: {"x_hat": np.ascontiguousarray(pre.normalize(x[:bs])),
                 "spikes": np.ascontiguousarray(snnmap.encode(x[:bs]))}
            for bs in batch_sizes}


def relu_logits_numpy(pre, x_hat):
    """Logits of the preprocessed ReLU network in NumPy float64 (pre-softmax)."""
    import keras

    h = x_hat
    dense = [layer for layer in pre.model.layers if isinstance(layer, keras.layers.Dense)]
    for k, layer in enumerate(dense):
        w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
        h = h @ w + b
        if k < len(dense) - 1:
            h = np.maximum(h, 0.0)
    return h


# ----------------------------------------------------------------------------------------
# Agreement
# ----------------------------------------------------------------------------------------

def check_agreement(pre, variants, inputs, tol):
    """Outputs of all variants on the benchmark inputs, compared.

    These are the first calls of every variant (they trace / compile); their wall times
    are returned as well, as ``{bs: {variant: seconds}}``.
    """
    import keras
    import snnmap

    _, ref_all = make_reference(pre, snnmap.mapping.DEFAULT_ZETA)
    spiking = [v for v in ("snn", "exact", "scan", "reference") if v in variants]
    probes = {}
    for name in ("snn", "exact", "scan"):
        if name in variants:
            model = variants[name][1]
            hidden = [layer for layer in model.layers
                      if isinstance(layer, snnmap.SpikingDense) and not layer.output_layer]
            probes[name] = (keras.Model(model.inputs, [layer.output for layer in hidden]), hidden)
    result = {"tolerance": tol, "by_batch": {}}
    first_call = {}
    passed = True
    for bs, inp in inputs.items():
        out, first_call[bs] = {}, {}
        for name, (call, _) in variants.items():
            t0 = time.perf_counter()
            out[name] = np.asarray(call(inp))
            first_call[bs][name] = time.perf_counter() - t0
        relu_arg = np.argmax(out["relu"], axis=1)
        relu_logits = relu_logits_numpy(pre, inp["x_hat"])
        ref_times = [np.asarray(t) for t in ref_all(inp["spikes"])[0]]
        logit_diff, hidden_diff = {}, {}
        for i, a in enumerate(spiking):
            for b in spiking[i + 1:]:
                logit_diff[f"{a}-{b}"] = float(np.max(np.abs(out[a] - out[b])))
        for name, (probe, hidden) in probes.items():
            times = probe.predict_on_batch(inp["spikes"])
            times = times if isinstance(times, (list, tuple)) else [times]
            # to_snn's layers return t - t_max(n); the reference, global times.
            times = [layer.global_times(t, t)[1] for layer, t in zip(hidden, times)]
            hidden_diff[f"reference-{name}"] = float(max(np.max(np.abs(t - r))
                                                         for t, r in zip(times, ref_times)))
        argmax_equal = {name: bool(np.array_equal(np.argmax(out[name], axis=1), relu_arg))
                        for name in spiking}
        entry = {
            "max_abs_logit_diff": logit_diff,
            "max_abs_hidden_time_diff": hidden_diff,
            "max_abs_logit_diff_vs_relu_logits": {
                name: float(np.max(np.abs(out[name] - relu_logits))) for name in spiking},
            "argmax_equal_relu": argmax_equal,
            "logits_within_tol": bool(all(v <= tol for v in logit_diff.values())),
            "hidden_times_within_tol": bool(all(v <= tol for v in hidden_diff.values())),
            "argmax_all_equal": bool(all(argmax_equal.values())),
        }
        entry["passed"] = bool(entry["logits_within_tol"] and entry["hidden_times_within_tol"]
                               and entry["argmax_all_equal"])
        passed = passed and entry["passed"]
        result["by_batch"][str(bs)] = entry
    result["passed"] = bool(passed)
    return result, first_call


# ----------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------

def time_variants(variants, inputs, rounds, warmup, first_call):
    """Warm up, then round-robin; returns per-batch per-variant statistics.

    ``first_call`` (``{bs: {variant: s}}``, from :func:`check_agreement`) is only reported.
    """
    calls = {name: v[0] for name, v in variants.items()}
    return common.time_round_robin(calls, inputs, rounds, warmup, slow=SLOW, first_call=first_call)


def ratios(timing):
    return common.ratios_of_medians(timing, RATIOS)


# ----------------------------------------------------------------------------------------
# Memory (run in a subprocess per variant and batch size)
# ----------------------------------------------------------------------------------------

def run_only(args):
    """``--only VARIANT``: memory (and a few timings) of one variant, one process."""
    t_start = time.perf_counter()
    if args.setup_dir:
        setup = load_setup(args.setup_dir)
    else:
        setup = full_setup(max(args.batch_sizes), args.weights)
    pre = setup["pre"]
    inputs = make_inputs(pre, setup["x"], args.batch_sizes)
    variants = build_variants(pre, [args.only])
    call = variants[args.only][0]
    result = {"variant": args.only, "by_batch": {}}
    for bs in sorted(inputs):
        calls = 1 if args.quick or args.only in SLOW else 2
        result["by_batch"][str(bs)] = common.measure_memory(call, inputs[bs], calls)
    result["seconds"] = time.perf_counter() - t_start
    common.print_json_line(JSON_MARK, result)
    if not args.setup_dir:
        for bs, m in result["by_batch"].items():
            print(f"{args.only:>9}  batch {bs:>4}: peak RSS growth {m['steady_peak_growth_mib']:.1f} MiB "
                  f"per warm call, {m['first_call_peak_growth_mib'] or float('nan'):.1f} MiB incl. the first "
                  f"call; median {1e3 * m['median_s']:.2f} ms over {m['calls']} call(s)")
    return 0


def memory_subprocesses(args, setup_dir):
    """One subprocess per (variant, batch size); returns ``{bs: {variant: dict}}``."""
    memory = {str(bs): {} for bs in args.batch_sizes}
    for bs in args.batch_sizes:
        for name in VARIANTS:
            cmd = [sys.executable, os.path.abspath(__file__), "--only", name, "--batch_sizes", str(bs),
                   "--setup_dir", setup_dir] + (["--quick"] if args.quick else [])
            child = common.run_json_child(cmd, JSON_MARK)
            if "error" in child:
                memory[str(bs)][name] = child
                continue
            memory[str(bs)][name] = {**child["by_batch"][str(bs)], "subprocess_seconds": child["seconds"]}
    return memory


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------

def targets(ratio):
    out = {"snn_over_relu_max": TARGET_SNN_OVER_RELU, "exact_speedup_min": TARGET_EXACT_SPEEDUP,
           "snn_over_relu": {}, "exact_speedup_over_reference": {}}
    for bs, r in ratio.items():
        out["snn_over_relu"][bs] = common.target(r.get("snn/relu"), TARGET_SNN_OVER_RELU)
        out["exact_speedup_over_reference"][bs] = common.target(r.get("reference/exact"), TARGET_EXACT_SPEEDUP,
                                                                at_most=False)
    return out


def _fmt_mib(m):
    if not m:
        return "      -"
    if "error" in m:
        return "  error"
    return f"{m['steady_peak_growth_mib']:7.1f}"


def _fmt_mib_first(m):
    if not m or "error" in m or m.get("first_call_peak_growth_mib") is None:
        return "      -"
    return f"{m['first_call_peak_growth_mib']:7.1f}"


def report_text(res):
    mc, cfg, data, model = res["machine"], res["config"], res["data"], res["model"]
    bss = [str(b) for b in cfg["batch_sizes"]]
    lines = []
    bar = "=" * 100
    lines.append(bar)
    lines.append("bench_fc: 784-600-10 ReLU network vs. its single-spike SNN (snnmap), one run, same inputs")
    lines.append(bar)
    lines.append(f"data     : {data['description']}")
    lines.append(f"           benchmark inputs = {data['split']} images #0..#{data['n_images'] - 1} "
                 f"({data['n_images']} images); batch B uses the first B of them")
    if model["source"] == "loaded":
        lines.append(f"network  : zoo.fc() with weights loaded from {model['weights']}")
    else:
        lines.append(f"network  : TRAINED IN THIS RUN - {model['note']}")
    lines.append(f"           preprocessed ReLU test accuracy {model['relu_test_accuracy']:.4f} "
                 f"({model['relu_test_images']} test images); X_n = {res['snn']['X_n']}, "
                 f"zeta = {res['snn']['zeta']}, latency t_min(N) = {res['snn']['latency']:.4f}")
    lines.append("dtype    : float64 everywhere (inputs, ReLU model, SNNs, reference); CPU only")
    lines.extend(common.machine_lines(mc))
    lines.append(common.load_line(mc, res["timing_conditions"]))
    lines.append(f"method   : first call per variant and batch in the agreement check (traces), {cfg['warmup']} "
                 f"warm-up calls (scan, reference: 1), then {cfg['reps_fast']} rounds round-robin;")
    lines.append(f"           scan and reference run in {cfg['reps_slow']} of those rounds; "
                 f"time = MEDIAN wall time of predict_on_batch / the tf.function call, per batch"
                 + ("  [--quick]" if cfg["quick"] else ""))
    lines.append("")
    head = (f"{'batch':>5}  {'variant':<17}{'calls':>5}  {'median ms':>10}  {'IQR %':>6}  {'min ms':>9}  "
            f"{'images/s':>9}  {'1st call s':>10}  {'peak MiB':>8}  {'w/ 1st':>7}")
    lines.append(head)
    lines.append("-" * len(head))
    for bs in bss:
        for name in cfg["variants"]:
            t = res["timing"][bs][name]
            m = res["memory"].get(bs, {}).get(name) if res["memory"] else None
            lines.append(f"{bs:>5}  {LABELS[name]:<17}{t['n']:>5}  {1e3 * t['median_s']:>10.2f}  "
                         f"{100 * t['iqr_s'] / t['median_s']:>6.1f}  {1e3 * t['min_s']:>9.2f}  "
                         f"{t['images_per_s']:>9.0f}  {t['first_call_s']:>10.2f}  {_fmt_mib(m):>8}  "
                         f"{_fmt_mib_first(m):>7}")
        lines.append("")
    lines.append("peak MiB = growth of the peak resident set (VmHWM) over the RSS before the call, warm calls, "
                 "one subprocess")
    lines.append("           per variant and batch;  w/ 1st = the same including the first call (tracing), "
                 "'-' = not measured")
    lines.append("")
    lines.append(f"{'ratio of medians (this run)':<40}" + "".join(f"{'batch ' + bs:>12}" for bs in bss))
    for key, _, _ in RATIOS:
        vals = [res["ratios"][bs].get(key) for bs in bss]
        lines.append(f"  {key:<38}" + "".join(f"{v:>12.2f}" if v is not None else f"{'-':>12}" for v in vals))
    lines.append("")
    ag = res["agreement"]
    lines.append(f"agreement on the benchmark inputs (tolerance {ag['tolerance']:g})"
                 + "".join(f"{'batch ' + bs:>12}" for bs in bss))
    keys = list(ag["by_batch"][bss[0]]["max_abs_logit_diff"])
    for key in keys:
        lines.append(f"  max |logits| {key:<33}" + "".join(
            f"{ag['by_batch'][bs]['max_abs_logit_diff'][key]:>12.2e}" for bs in bss))
    for key in ag["by_batch"][bss[0]]["max_abs_hidden_time_diff"]:
        lines.append(f"  max |hidden spike t| {key:<25}" + "".join(
            f"{ag['by_batch'][bs]['max_abs_hidden_time_diff'][key]:>12.2e}" for bs in bss))
    for key in ag["by_batch"][bss[0]]["max_abs_logit_diff_vs_relu_logits"]:
        lines.append(f"  max |logits - ReLU logits| {key:<19}" + "".join(
            f"{ag['by_batch'][bs]['max_abs_logit_diff_vs_relu_logits'][key]:>12.2e}" for bs in bss))
    lines.append("  argmax == ReLU argmax (all SNN variants)   " + "".join(
        f"{'yes' if ag['by_batch'][bs]['argmax_all_equal'] else 'NO':>12}" for bs in bss))
    lines.append(f"  => agreement checks {'PASSED' if ag['passed'] else 'FAILED'}")
    lines.append("")
    tg = res["targets"]
    lines.append("targets")
    for bs in bss:
        v = tg["snn_over_relu"][bs]
        lines.append(f"  SNN/ReLU <= {TARGET_SNN_OVER_RELU:g}                        batch {bs:>4}: "
                     f"{v['value']:6.2f}  {common.met_text(v['met'])}")
    for bs in bss:
        v = tg["exact_speedup_over_reference"][bs]
        lines.append(f"  exact solver >= {TARGET_EXACT_SPEEDUP:g}x faster than reference batch {bs:>4}: "
                     f"{v['value']:6.2f}x {common.met_text(v['met'])}")
    lines.append(bar)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[64, 256], help="batch sizes (default 64 256)")
    p.add_argument("--rounds", type=int, default=None,
                   help="round-robin rounds = calls of the fast variants (default 30, --quick 3); the slow "
                        "variants (scan, reference) get max(3, rounds/6) calls")
    p.add_argument("--quick", action="store_true", help="smoke test: few rounds, 1 measured call per memory probe")
    p.add_argument("--only", choices=VARIANTS, default=None,
                   help="measure one variant alone (peak memory and a few timings) in this process")
    p.add_argument("--weights", default=WEIGHTS,
                   help="weights of zoo.fc() to load; if the file does not exist the network is trained for "
                        f"{TRAIN_EPOCHS} epochs (seed {TRAIN_SEED}) (default {common.rel(WEIGHTS)})")
    p.add_argument("--no_memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--warmup", type=int, default=2,
                   help="warm-up calls per variant and batch size after the first call "
                        "(default 2; scan and reference: 1)")
    p.add_argument("--tol", type=float, default=1e-9, help="agreement tolerance (default 1e-9)")
    p.add_argument("--json", default=DEFAULT_JSON, help=f"output JSON (default {os.path.relpath(DEFAULT_JSON)})")
    p.add_argument("--setup_dir", default=None, help=argparse.SUPPRESS)  # internal: --only subprocesses
    args = p.parse_args(argv)
    if any(b <= 0 for b in args.batch_sizes):
        p.error("batch sizes must be positive")
    args.batch_sizes = sorted(set(args.batch_sizes))
    if args.rounds is None:
        args.rounds = 3 if args.quick else 30
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.warmup < 1:
        p.error("--warmup must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    force_cpu()
    if args.only:
        return run_only(args)

    import keras
    import tensorflow as tf

    t_start = time.perf_counter()
    phases = {}
    machine = machine_info()
    print("setting up (data, network, phase 1) ...", flush=True)
    setup = full_setup(max(args.batch_sizes), args.weights)
    if setup["model"]["source"] == "trained":
        print("NOTE: " + setup["model"]["note"], flush=True)
    pre = setup["pre"]
    inputs = make_inputs(pre, setup["x"], args.batch_sizes)
    variants = build_variants(pre, VARIANTS)
    phases["setup_s"] = time.perf_counter() - t_start
    snn_model = variants["snn"][1]
    from snnmap.core import mapping
    wins = mapping.windows(pre.X_n, mapping.DEFAULT_ZETA)
    print("checking agreement ...", flush=True)
    tf_logger, level = tf.get_logger(), tf.get_logger().level
    tf_logger.setLevel("ERROR")  # Keras's retracing notices for the first call of each model
    try:
        agreement, first_call = check_agreement(pre, variants, inputs, args.tol)
    finally:
        tf_logger.setLevel(level)
    phases["agreement_s"] = time.perf_counter() - t_start - sum(phases.values())
    fast, slow = repetitions(args.rounds)
    print(f"timing: {args.warmup} warm-up calls, {fast} rounds ({slow} for scan/reference) ...", flush=True)
    snap = common.cpu_snapshot()
    timing = time_variants(variants, inputs, args.rounds, args.warmup, first_call)
    noise = common.timing_conditions(snap, common.cpu_snapshot())
    ratio = ratios(timing)
    phases["timing_s"] = time.perf_counter() - t_start - sum(phases.values())
    del variants, snn_model
    gc.collect()

    memory = {}
    if not args.no_memory:
        print(f"peak memory: {len(VARIANTS) * len(args.batch_sizes)} subprocesses ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_fc_") as setup_dir:
            save_setup(setup, setup_dir)
            memory = memory_subprocesses(args, setup_dir)
        phases["memory_s"] = time.perf_counter() - t_start - sum(phases.values())

    res = {
        "benchmark": "bench_fc",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "batch_sizes": args.batch_sizes,
            "rounds": args.rounds,
            "reps_fast": fast,
            "reps_slow": slow,
            "slow_variants": list(SLOW),
            "warmup": args.warmup,
            "quick": bool(args.quick),
            "dtype": "float64",
            "device": "CPU",
            "variants": list(VARIANTS),
            "statistic": "median seconds per batch",
        },
        "machine": machine,
        "data": setup["data"],
        "model": {"architecture": "784-600-10", **setup["model"]},
        "snn": {"X_n": [float(v) for v in pre.X_n], "zeta": mapping.DEFAULT_ZETA,
                "latency": float(wins[-1].t_min),
                "windows": [[w.t_min_prev, w.t_min, w.t_max] for w in wins]},
        "timing": timing,
        "timing_conditions": noise,
        "ratios": ratio,
        "memory": memory,
        "agreement": agreement,
        "targets": targets(ratio),
        "keras_floatx": keras.config.floatx(),
        "tensorflow_devices_used": [d.name for d in tf.config.get_visible_devices()],
        "wall_seconds": None,
        "phase_seconds": phases,
    }
    res["wall_seconds"] = time.perf_counter() - t_start
    atomic_write_json(args.json, res)
    print(report_text(res))
    print(f"JSON: {os.path.relpath(os.path.abspath(args.json))}   (wall time {res['wall_seconds']:.0f} s)")
    return 0 if agreement["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
