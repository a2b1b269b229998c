"""``bench_cnn.py --matrix``: SNN/ReLU on image-like and random inputs at the batch sizes users pick.

For every model of ``--models``, in one run: phase 1 (timed), ``to_snn`` (timed) and
:func:`snnmap.pipeline.convert.check_end_to_end` (the check :func:`snnmap.convert` runs; timed),
then for each kind of input (``image``, ``random``) and each batch size of ``--batch_sizes``
(1, 8, 32): the SNN's first call on that shape (tracing included), then ``--rounds`` rounds
of ``pre.model.predict_on_batch(x_hat)`` and ``snn.predict_on_batch(spikes)`` in turn on the
same images, medians; the SNN's argmax must equal the ReLU network's on every image.

Inputs (the first images of the Fashion-MNIST test set, the same for every batch size):

* ``image`` - 28x28 models: the images themselves.  224x224 models: each image resized to
  224x224 (nearest neighbour: 8x8 blocks of one value, a uniform background), repeated to 3
  channels, each channel scaled by its own factor in [0.5, 1] (seeded), then mapped onto the
  model's input range.  Many inputs share one spike time, as in real images.
* ``random`` - independent uniform values over the input range (no ties).

Calibration uses ``image`` inputs made from training images, whatever the timed inputs.
With several models, each runs in a process of its own, and the models of
:data:`PROCESS_PER_BATCH_SIZE` (every model with ``--process_per_batch_size``) in one process
per batch size: every batch shape an SNN has traced stays in memory.  bench/README.md
describes the table.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import common

INPUT_KINDS = ("image", "random")
BATCH_SIZES = (1, 8, 32)
#: Rounds per cell: fewer for the 224x224 models, whose SNN calls take seconds.
ROUNDS = {"lenet5": 7, "resnet": 7, "vgg16_28": 7, "vgg16_224": 3, "resnet50_224": 3}
#: Models run in one process per batch size: each batch shape ResNet50-224's SNN traces keeps
#: about 8 GiB resident, and three of them with the conversion's check pass 23 GiB
#: (bench/README.md, *First call and memory*).
PROCESS_PER_BATCH_SIZE = ("resnet50_224",)


def tinted_224(x, seed, input_range):
    """28x28x1 images in [0, 1] -> 224x224x3 in ``input_range``: nearest-neighbour resize,
    3 channels each scaled by a seeded factor in [0.5, 1]."""
    import keras

    big = keras.ops.convert_to_numpy(keras.ops.image.resize(np.asarray(x, np.float32), (224, 224),
                                                            interpolation="nearest"))
    factors = np.random.default_rng(seed).uniform(0.5, 1.0, (len(x), 1, 1, 3))
    p, q = input_range
    return p + (q - p) * (np.repeat(np.asarray(big, np.float64), 3, axis=-1) * factors)


def matrix_inputs(name, images, kind, input_range, seed):
    """The timed (or calibration) inputs of ``name`` made from 28x28 ``images`` in [0, 1]."""
    big = name.endswith("_224")
    if kind == "random":
        shape = (len(images), 224, 224, 3) if big else np.shape(images)
        p, q = input_range
        return np.random.default_rng(seed).uniform(p, q, shape)
    return tinted_224(images, seed, input_range) if big else np.asarray(images, np.float64)


def run_matrix_model(name, args, bench):
    """Conversion costs and the (inputs, batch size) table of one model, in its target dtype
    (``--dtypes``: the first one given)."""
    import snnmap
    from snnmap.pipeline.convert import check_end_to_end

    plan = bench.PLAN[name]
    dtype = args.dtypes[0] if args.dtypes else plan["target_dtype"]
    ds = snnmap.datasets.load("FashionMNIST")
    model, info = bench.build_network(name, args.vgg16_weights, args.vgg16_train, args.vgg16_epochs, ds)
    _, _, input_range, _ = bench.model_data(name, ds, 1, 1)
    calib = matrix_inputs(name, ds.x_train[:args.calib_of[name]], "image", input_range, 1)
    n = max(args.batch_sizes)
    base = ds.x_test[:n]
    del ds
    costs = {}
    print(f"[{name}] phase 1 on {len(calib)} calibration images ...", flush=True)
    t0 = time.perf_counter()
    pre = snnmap.preprocess(model, calib, input_range=input_range, batch_size=8 if name.endswith("_224") else 64,
                            verbose=0)
    costs["phase1_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    snn = snnmap.to_snn(pre, dtype=dtype)
    costs["to_snn_s"] = time.perf_counter() - t0
    print(f"[{name}] snnmap.convert's end-to-end check ...", flush=True)
    t0 = time.perf_counter()
    check_end_to_end(snn, model, pre, calib)
    costs["check_s"] = time.perf_counter() - t0
    costs["convert_s"] = costs["phase1_s"] + costs["to_snn_s"] + costs["check_s"]
    relu = bench.relu_model(pre, dtype)
    cells = []
    rounds = args.rounds if args.rounds is not None else ROUNDS[name]
    for kind in args.inputs:
        x = matrix_inputs(name, base, kind, input_range, 2)
        data = {"x_hat": np.ascontiguousarray(pre.normalize(x), dtype=dtype),
                "spikes": np.ascontiguousarray(snnmap.encode(x, input_range), dtype=dtype)}
        for b in args.batch_sizes:
            batch = {key: value[:b] for key, value in data.items()}
            print(f"[{name}] {kind} inputs, batch {b}: first calls, then {rounds} rounds ...", flush=True)
            first = {}
            t0 = time.perf_counter()
            out_snn = np.asarray(snn.predict_on_batch(batch["spikes"]))
            first["snn"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            out_relu = np.asarray(relu.predict_on_batch(batch["x_hat"]))
            first["relu"] = time.perf_counter() - t0
            calls = {"relu": lambda inp: relu.predict_on_batch(inp["x_hat"]),
                     "snn": lambda inp: snn.predict_on_batch(inp["spikes"])}
            snap = common.cpu_snapshot()
            timing = common.time_round_robin(calls, {b: batch}, rounds, 0, first_call={b: first})[str(b)]
            agree = int(np.sum(np.argmax(out_snn, 1) == np.argmax(out_relu, 1)))
            cells.append({"inputs": kind, "batch_size": b, "dtype": dtype,
                          "relu_ms_per_image": 1e3 * timing["relu"]["median_s"] / b,
                          "snn_ms_per_image": 1e3 * timing["snn"]["median_s"] / b,
                          "ratio": timing["snn"]["median_s"] / timing["relu"]["median_s"],
                          "snn_first_call_s": first["snn"], "agreement": f"{agree}/{b}", "agree": agree == b,
                          "timing": timing, "conditions": common.timing_conditions(snap, common.cpu_snapshot())})
    return {"model": info, "dtype": dtype, "input_range": list(input_range), "conversion": costs,
            "calibration_images": len(calib), "rounds": rounds, "cells": cells}


def matrix_text(res):
    """The table of a ``--matrix`` run."""
    lines = [f"machine : {res['machine'].get('cpu_model', '?')}, {res['machine'].get('cpu_count', '?')} CPUs; "
             f"grid products {res['grid_products']}",
             "SNN/ReLU = median seconds per batch of snn.predict_on_batch / pre.model.predict_on_batch, same images",
             f"{'model':<13} {'inputs':<7} {'batch':>5} {'dtype':<8} {'ReLU ms/img':>11} {'SNN ms/img':>11} "
             f"{'SNN/ReLU':>8} {'1st call s':>10} {'agree':>7} {'load':>5}"]
    for name, m in res["models"].items():
        for c in m["cells"]:
            busy = c["conditions"].get("other_processes_cpus")
            lines.append(f"{name:<13} {c['inputs']:<7} {c['batch_size']:>5} {c['dtype']:<8} "
                         f"{c['relu_ms_per_image']:>11.2f} {c['snn_ms_per_image']:>11.2f} {c['ratio']:>8.2f} "
                         f"{c['snn_first_call_s']:>10.1f} {c['agreement']:>7} "
                         f"{'?' if busy is None else f'{busy:.2f}':>5}")
    lines.append("conversion (s): phase 1 / to_snn / convert's end-to-end check / total")
    for name, m in res["models"].items():
        if "conversion" not in m:
            continue
        for cost in m.get("conversion_runs", [m["conversion"]]):
            lines.append(f"  {name:<13} {cost['phase1_s']:8.1f} {cost['to_snn_s']:8.1f} {cost['check_s']:8.1f} "
                         f"{cost['convert_s']:8.1f}   ({m['calibration_images']} calibration images; weights: "
                         f"{m['model'].get('weights_source')})")
    for name, m in res["models"].items():
        for error in ([m["error"]] if "error" in m else []) + m.get("errors", []):
            lines.append(f"FAILED {name}: {failure_text(error)}")
    return "\n".join(lines)


def failure_text(error):
    """One line for a failed process's ``error`` (:func:`common.run_json_child`): how it ended,
    and the last line it printed (where it stopped)."""
    how, _, output = error.partition(": ")
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return f"{how} (last output: {last})" if last else how


def matrix_processes(args):
    """``[(model, batch sizes), ...]``, one entry per process of a ``--matrix`` run."""
    out = []
    for name in args.models:
        if args.process_per_batch_size or name in PROCESS_PER_BATCH_SIZE:
            out += [(name, [b]) for b in args.batch_sizes]
        else:
            out.append((name, list(args.batch_sizes)))
    return out


def child_command(args, name, batch_sizes, bench):
    """The command line that measures ``name`` at ``batch_sizes`` in a process of its own."""
    cmd = [sys.executable, bench.__file__, "--matrix", "--matrix_child", "--models", name,
           "--batch_sizes", *map(str, batch_sizes), "--inputs", *args.inputs,
           "--vgg16_weights", args.vgg16_weights, "--vgg16_train", str(args.vgg16_train),
           "--vgg16_epochs", str(args.vgg16_epochs)]
    for option in ("dtypes", "rounds", "calib"):
        value = getattr(args, option)
        if value is not None:
            cmd += [f"--{option}", *map(str, value if isinstance(value, list) else [value])]
    return cmd


def merge_runs(runs, args):
    """One model's result from those of its processes: their cells in table order, the first
    process's conversion costs (every process's in ``conversion_runs``)."""
    failed = [r["error"] for r in runs if "error" in r]
    done = [r for r in runs if "error" not in r]
    if not done:
        return {"error": failed[0], "cells": []}
    res = dict(done[0])
    res["cells"] = sorted((c for r in done for c in r["cells"]),
                          key=lambda c: (args.inputs.index(c["inputs"]), args.batch_sizes.index(c["batch_size"])))
    if len(done) > 1:
        res["conversion_runs"] = [r["conversion"] for r in done]
    if failed:
        res["errors"] = failed
    return res


def run_matrix(args, bench):
    """``--matrix``: every model of ``args.models``; writes ``args.json`` and prints the table
    (a ``--matrix_child`` prints its model's result as one JSON line instead)."""
    import datetime

    from snnmap.solver import bf16_products

    if args.matrix_child:
        common.print_json_line(bench.JSON_MARK, run_matrix_model(args.models[0], args, bench))
        return 0
    t0 = time.perf_counter()
    processes = matrix_processes(args)
    res = {"benchmark": "bench_cnn --matrix",
           "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": common.machine_info(), "batch_sizes": list(args.batch_sizes), "inputs": list(args.inputs),
           "grid_products": "bfloat16 in convolutions" if bf16_products() else "float32",
           "processes": [{"model": name, "batch_sizes": sizes} for name, sizes in processes]}
    if len(processes) == 1:
        res["models"] = {args.models[0]: run_matrix_model(args.models[0], args, bench)}
    else:
        runs = {}
        for name, sizes in processes:
            print(f"[{name}] batch size(s) {' '.join(map(str, sizes))}: a process of its own", flush=True)
            run = common.run_json_child(child_command(args, name, sizes, bench), bench.JSON_MARK, echo=True)
            if "error" in run:
                print(f"[{name}] FAILED: {failure_text(run['error'])}", flush=True)
            runs.setdefault(name, []).append(run)
        res["models"] = {name: merge_runs(r, args) for name, r in runs.items()}
    res["wall_seconds"] = time.perf_counter() - t0
    res["agreement_passed"] = all("error" not in m and "errors" not in m and all(c["agree"] for c in m["cells"])
                                  for m in res["models"].values())
    common.atomic_write_json(args.json, res)
    print(matrix_text(res))
    print(f"JSON: {common.rel(args.json)}   (wall time {res['wall_seconds']:.0f} s)")
    return 0 if res["agreement_passed"] else 1
