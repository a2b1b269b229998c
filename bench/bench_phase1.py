#!/usr/bin/env python
"""Benchmark: cost of phase 1 relative to one ReLU inference pass, and phase-2 memory vs. data size.

Part 1 (one run, same images, round-robin, medians), for ``lenet5`` (``zoo.lenet5()`` + the
shipped Fashion-MNIST weights) and ``fc`` (``zoo.fc()`` + the shipped Fashion-MNIST weights),
on the first ``--n`` (10,000) real Fashion-MNIST training images:

* ``phase1``    - ``snnmap.preprocess(model, x, input_range=(0, 1), verbose=0)`` (folding,
  weight-sum scaling, building the float64 network, the streamed ``X_n`` pass);
* ``maxima``    - ``snnmap.preprocess.layer_maxima(pre.model, x)`` alone (the ``X_n`` pass);
* ``relu64``    - one float64 pass of the preprocessed network (``runtime.predict_batches``,
  batches of 256);
* ``relu``      - ONE plain inference pass of the ORIGINAL model: ``model.predict(x,
  batch_size=256)`` (float32, Keras's default), the denominator of the target
  phase1 / relu <= 2.

Check: the preprocessed network's argmax equals the original model's on all N images.

Part 2: peak RSS of phase 2 (``snnmap.evaluate`` of the SNN with the ReLU oracle) on the first
2,000 and the first 10,000 test images, each in a subprocess of its own; the peak RSS growth
during ``evaluate`` should not depend on the number of images (batches are streamed).

Usage::

    python bench/bench_phase1.py                 # full run
    python bench/bench_phase1.py --quick         # N = 1,000, phase 2 on 512 and 1,024 images
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ROOT  # noqa: E402

DEFAULT_JSON = os.path.join(ROOT, "bench", "results", "bench_phase1.json")
WEIGHTS = {
    "lenet5": os.path.join(ROOT, "models", "FashionMNIST", "LeNet5", "fashionmnist_lenet5_relu_original.weights.h5"),
    "fc": os.path.join(ROOT, "models", "FashionMNIST", "FC", "fashionmnist_fc_relu_original.weights.h5"),
}
MODELS = ("lenet5", "fc")
ROWS = ("phase1", "maxima", "relu64", "relu")
LABELS = {
    "phase1": "phase 1 (snnmap.preprocess)",
    "maxima": "  of which X_n pass (layer_maxima)",
    "relu64": "pre.model float64 pass",
    "relu": "ReLU pass: model.predict (float32)",
}
BATCH = 256
TARGET_PHASE1 = 2.0
#: Phase 2 is "flat" if the peak RSS growth on the larger set exceeds that on the smaller one by at most this.
FLAT_MIB = 64.0
JSON_MARK = "BENCH_PHASE1_JSON "


def load_data(name, n_train=None, n_test=None):
    """Fashion-MNIST in the layout of model ``name`` (images for lenet5, flat rows for fc)."""
    import snnmap

    ds = snnmap.datasets.load("FashionMNIST", flat=(name == "fc"), max_train=n_train, max_test=n_test)
    return ds


def build(name):
    from snnmap import zoo

    model = zoo.lenet5() if name == "lenet5" else zoo.fc()
    model.load_weights(WEIGHTS[name])
    return model


# ----------------------------------------------------------------------------------------
# Part 1: phase-1 time / one ReLU pass
# ----------------------------------------------------------------------------------------

def time_phase1(name, args, setup_dir):
    import snnmap
    from snnmap.pipeline.preprocess import layer_maxima
    from snnmap.runtime import predict_batches

    ds = load_data(name, n_train=args.n)
    if len(ds.x_train) < args.n:
        raise SystemExit(f"only {len(ds.x_train)} training images, --n {args.n} asked for")
    x = np.ascontiguousarray(ds.x_train[:args.n])
    data = {"name": ds.name, "description": ds.description, "split": "train", "first_index": 0,
            "n_images": int(len(x))}
    model = build(name)
    state = {}

    def phase1(_):
        state["pre"] = snnmap.preprocess(model, x, input_range=(0, 1), batch_size=BATCH, verbose=0)

    def maxima(_):
        layer_maxima(state["pre"].model, x, (0, 1), batch_size=BATCH, verbose=0)

    def relu64(_):
        for _out in predict_batches(state["pre"].model, x, batch_size=BATCH, verbose=0, input_range=(0, 1)):
            pass

    def relu(_):
        state["probs"] = model.predict(x, batch_size=BATCH, verbose=0)

    calls = {"phase1": phase1, "maxima": maxima, "relu64": relu64, "relu": relu}
    first = {}
    for key in ("relu", "phase1", "maxima", "relu64"):  # first calls: tracing, first touch of memory
        t0 = time.perf_counter()
        calls[key](None)
        first[key] = time.perf_counter() - t0
    pre = state["pre"]
    # Check: the preprocessed network computes the original's function (argmax, probabilities).
    probs_pre = np.concatenate([np.asarray(p) for p in predict_batches(pre.model, x, batch_size=BATCH, verbose=0)])
    probs = np.asarray(state["probs"], np.float64)
    check = {"n_images": int(len(x)),
             "argmax_equal": int(np.sum(np.argmax(probs_pre, 1) == np.argmax(probs, 1))),
             "max_abs_prob_diff": float(np.max(np.abs(probs_pre - probs))),
             "note": "preprocessed float64 network vs. the original model's float32 predict"}
    check["passed"] = check["argmax_equal"] == check["n_images"]
    print(f"[{name}] timing: {args.rounds} rounds over phase1 / maxima / relu64 / relu, N = {args.n} ...", flush=True)
    snap = common.cpu_snapshot()
    timing = common.time_round_robin(calls, {args.n: None}, args.rounds, args.warmup,
                                     first_call={args.n: first})[str(args.n)]
    conditions = common.timing_conditions(snap, common.cpu_snapshot())
    ratio = {k: timing[k]["median_s"] / timing["relu"]["median_s"] for k in ("phase1", "maxima", "relu64")}
    if setup_dir:
        pre = state["pre"]
        pre.save(setup_dir, "bench_phase1")
    return {
        "data": data,
        "model": {"name": name, "weights": common.rel(WEIGHTS[name]), "parameters": int(model.count_params())},
        "X_n": [float(v) for v in state["pre"].X_n],
        "timing": timing,
        "timing_conditions": conditions,
        "ratios": {f"{k}/relu": v for k, v in ratio.items()},
        "first_call_ratio_phase1_over_relu": first["phase1"] / first["relu"],
        "check": check,
        "target": {"max": TARGET_PHASE1, **common.target(ratio["phase1"], TARGET_PHASE1)},
    }


# ----------------------------------------------------------------------------------------
# Part 2: phase-2 peak RSS (one subprocess per model and size)
# ----------------------------------------------------------------------------------------

def phase2_child(args):
    import snnmap

    name, n = args.models[0], args.phase2_child
    t_start = time.perf_counter()
    ds = load_data(name, n_train=1, n_test=n)
    if len(ds.x_test) < n:
        raise SystemExit(f"only {len(ds.x_test)} test images")
    x, y = ds.x_test[:n], ds.y_test[:n]
    pre = snnmap.Preprocessed.load(args.setup_dir, "bench_phase1")
    snn = snnmap.to_snn(pre)
    with common.peak_tracker() as peak:
        metrics = snnmap.evaluate(snn, x, y, relu_model=pre.model, batch_size=BATCH, verbose=0)
    result = {"model": name, "n_test": int(n), **peak.result,
              "vm_hwm_mib": (common.status_kb("VmHWM") or 0) / 1024.0,
              "evaluate_seconds": peak.result["seconds"],
              "accuracy_snn": metrics["accuracy_snn"], "agreement": metrics["agreement"],
              "max_abs_error": metrics.get("max_abs_error"), "violations": metrics.get("violations"),
              "child_seconds": time.perf_counter() - t_start}
    common.print_json_line(JSON_MARK, result)
    return 0


def phase2_memory(name, args, setup_dir):
    out = {}
    for n in args.phase2_sizes:
        print(f"[{name}] phase 2 peak RSS on {n} test images (subprocess) ...", flush=True)
        cmd = [sys.executable, os.path.abspath(__file__), "--models", name, "--phase2_child", str(n),
               "--setup_dir", setup_dir]
        out[str(n)] = common.run_json_child(cmd, JSON_MARK)
    sizes = [str(n) for n in args.phase2_sizes]
    ok = [s for s in sizes if "error" not in out[s]]
    summary = {"sizes": [int(s) for s in sizes], "by_size": out}
    if len(ok) == len(sizes) and len(sizes) >= 2:
        lo, hi = out[sizes[0]], out[sizes[-1]]
        summary["growth_difference_mib"] = hi["peak_growth_mib"] - lo["peak_growth_mib"]
        summary["peak_rss_difference_mib"] = hi["peak_rss_mib"] - lo["peak_rss_mib"]
        summary["flat"] = {"max_difference_mib": FLAT_MIB,
                           **common.target(summary["growth_difference_mib"], FLAT_MIB)}
    return summary


# ----------------------------------------------------------------------------------------
# Report and main
# ----------------------------------------------------------------------------------------

def report_text(res):
    mc, cfg = res["machine"], res["config"]
    bar = "=" * 104
    lines = [bar, "bench_phase1: phase-1 time vs. one ReLU inference pass; phase-2 peak RSS vs. number of images", bar]
    lines.extend(common.machine_lines(mc))
    lines.append(common.load_line(mc, res["timing_conditions"], "the timed rounds"))
    lines.append(f"method   : N = {cfg['n']} Fashion-MNIST training images #0..#{cfg['n'] - 1}; "
                 f"first call of every row untimed-for-median, {cfg['warmup']} warm-up call(s), "
                 f"{cfg['rounds']} rounds round-robin;")
    lines.append(f"           time = MEDIAN wall time of one full pass over the N images (batches of {BATCH}); CPU only"
                 + ("  [--quick]" if cfg["quick"] else ""))
    for name, r in res["models"].items():
        p1 = r["phase1"]
        lines.append("")
        lines.append(f"--- {name}: {p1['model']['weights']} ({p1['model']['parameters']} parameters) ---")
        nz = p1["timing_conditions"]
        busy = f"{nz['other_processes_cpus']:.2f}" if nz["other_processes_cpus"] is not None else "?"
        lines.append("  other processes kept " + busy
                     + f" CPUs busy during its {nz['timing_wall_s']:.0f} s of timing")
        head = f"  {'row':<38}{'calls':>6}{'median s':>10}{'IQR %':>7}{'min s':>9}{'1st call s':>11}{'/ relu':>8}"
        lines.append(head)
        lines.append("  " + "-" * (len(head) - 2))
        for key in ROWS:
            t = p1["timing"][key]
            ratio = 1.0 if key == "relu" else p1["ratios"][f"{key}/relu"]
            lines.append(f"  {LABELS[key]:<38}{t['n']:>6}{t['median_s']:>10.3f}{100 * t['iqr_s'] / t['median_s']:>7.1f}"
                         f"{t['min_s']:>9.3f}{t['first_call_s']:>11.3f}{ratio:>8.2f}")
        c = p1["check"]
        lines.append(f"  check: argmax of the preprocessed network == original on {c['argmax_equal']}/{c['n_images']} "
                     f"images, max |prob diff| {c['max_abs_prob_diff']:.2e}")
        lines.append(f"  first calls only: phase1/relu = {p1['first_call_ratio_phase1_over_relu']:.2f}")
        p2 = r.get("phase2")
        if p2:
            lines.append("  phase 2 (snnmap.evaluate with relu_model, one subprocess per size):")
            lines.append(f"    {'images':>7}{'peak growth MiB':>17}{'peak RSS MiB':>14}{'RSS before MiB':>16}"
                         f"{'evaluate s':>12}{'agreement':>11}{'accuracy':>10}")
            for n, m in p2["by_size"].items():
                if "error" in m:
                    lines.append(f"    {n:>7}  error: {m['error'][-300:]}")
                    continue
                lines.append(f"    {n:>7}{m['peak_growth_mib']:>17.1f}{m['peak_rss_mib']:>14.1f}"
                             f"{m['rss_before_mib']:>16.1f}{m['evaluate_seconds']:>12.1f}{m['agreement']:>11.4f}"
                             f"{m['accuracy_snn']:>10.4f}")
            if "growth_difference_mib" in p2:
                lines.append(f"    growth {p2['sizes'][-1]} vs {p2['sizes'][0]} images: "
                             f"{p2['growth_difference_mib']:+.1f} MiB "
                             f"(peak RSS {p2['peak_rss_difference_mib']:+.1f} MiB)")
    lines.append("")
    lines.append(f"=> checks {'PASSED' if res['checks_passed'] else 'FAILED'} (preprocessed argmax == original argmax)")
    lines.append("targets")
    for name, r in res["models"].items():
        t = r["phase1"]["target"]
        lines.append(f"  {name:<7} phase 1 / one ReLU pass <= {TARGET_PHASE1:g}:  {t['value']:6.2f}  "
                     f"{common.met_text(t['met'])}")
        flat = (r.get("phase2") or {}).get("flat")
        if flat:
            lines.append(f"  {name:<7} phase-2 peak RSS flat (growth difference <= {FLAT_MIB:g} MiB): "
                         f"{flat['value']:+.1f} MiB  {common.met_text(flat['met'])}")
    lines.append(bar)
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--n", type=int, default=None, help="calibration images (default 10000; --quick 1000)")
    p.add_argument("--phase2_sizes", type=int, nargs="+", default=None,
                   help="test images of the phase-2 memory runs (default 2000 10000; --quick 512 1024)")
    p.add_argument("--rounds", type=int, default=None, help="round-robin rounds (default 5; --quick 3; at least 3)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up calls after the first call (default 1)")
    p.add_argument("--quick", action="store_true", help="smoke test: small N, 3 rounds")
    p.add_argument("--no_memory", action="store_true", help="skip the phase-2 memory subprocesses")
    p.add_argument("--json", default=DEFAULT_JSON, help=f"output JSON (default {common.rel(DEFAULT_JSON)})")
    p.add_argument("--phase2_child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--setup_dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = list(dict.fromkeys(args.models))
    args.n = args.n or (1000 if args.quick else 10000)
    args.phase2_sizes = sorted(set(args.phase2_sizes or ([512, 1024] if args.quick else [2000, 10000])))
    args.rounds = args.rounds or (3 if args.quick else 5)
    if args.n < 1 or min(args.phase2_sizes) < 1 or args.rounds < 1 or args.warmup < 0:
        p.error("sizes and rounds must be positive, --warmup >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    common.force_cpu()
    if args.phase2_child:
        return phase2_child(args)
    t_start = time.perf_counter()
    machine = common.machine_info()
    models, timed = {}, []
    with tempfile.TemporaryDirectory(prefix="bench_phase1_") as tmp:
        for name in args.models:
            setup_dir = os.path.join(tmp, name)
            os.makedirs(setup_dir)
            print(f"[{name}] phase 1 on N = {args.n} images ...", flush=True)
            models[name] = {"phase1": time_phase1(name, args, None if args.no_memory else setup_dir)}
            timed.append(models[name]["phase1"]["timing_conditions"])
            gc.collect()
            if not args.no_memory:
                models[name]["phase2"] = phase2_memory(name, args, setup_dir)
    wall = sum(c["timing_wall_s"] for c in timed)
    busy = [c["other_processes_cpus"] for c in timed]
    conditions = {
        "other_processes_cpus": (sum(b * c["timing_wall_s"] for b, c in zip(busy, timed)) / wall
                                 if wall > 0 and None not in busy else None),
        "this_process_cpus": sum(c["this_process_cpus"] * c["timing_wall_s"] for c in timed) / wall if wall else None,
        "timing_wall_s": wall,
    }
    res = {
        "benchmark": "bench_phase1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": {"models": args.models, "n": args.n, "phase2_sizes": args.phase2_sizes, "rounds": args.rounds,
                   "warmup": args.warmup, "batch_size": BATCH, "quick": bool(args.quick), "device": "CPU",
                   "rows": list(ROWS), "statistic": "median seconds per full pass over N images"},
        "machine": machine,
        "timing_conditions": conditions,
        "models": models,
        "checks_passed": bool(all(m["phase1"]["check"]["passed"] for m in models.values())),
        "targets": {name: {"phase1_over_relu": m["phase1"]["target"],
                           "phase2_flat": (m.get("phase2") or {}).get("flat")} for name, m in models.items()},
        "wall_seconds": None,
    }
    res["wall_seconds"] = time.perf_counter() - t_start
    common.atomic_write_json(args.json, res)
    print(report_text(res))
    print(f"JSON: {os.path.relpath(os.path.abspath(args.json))}   (wall time {res['wall_seconds']:.0f} s)")
    return 0 if res["checks_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
