#!/usr/bin/env python
"""Benchmark: phase 2 of LeNet5 in one process against Beam's DirectRunner with several worker processes.

One run, the same SNN and the same images: ``zoo.lenet5()`` with the shipped Fashion-MNIST weights,
phase 1 (``snnmap.preprocess``) on the first 2,000 training images, the SNN (``to_snn``, float64),
and the first ``--n`` (default: all 10,000) Fashion-MNIST test images with their labels and the
original network's predictions, batches of ``--batch``:

* ``single`` - ``snnmap.evaluate(snn, x, y, relu_model=pre.model, ...)`` in this process;
* ``beam``   - ``snnmap.beam.evaluate`` of the same on the DirectRunner, ``--workers`` processes
  (``multi_processing``), from the pipeline's start to its combined result (worker start-up,
  each worker loading the SNN once, included: what a user waits for).

Each prints its images/s; then the ratio beam / single.  The figures of both are compared
(accuracy, agreement, max |error|, violations, operation counts): they must be equal.

Usage::

    python bench/bench_beam.py                  # 10,000 images, 2 workers
    python bench/bench_beam.py --n 1000 --workers 2
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import FASHION_DIR, ROOT  # noqa: E402

DEFAULT_JSON = os.path.join(ROOT, "bench", "results", "bench_beam.json")
WEIGHTS = os.path.join(ROOT, "models", "FashionMNIST", "LeNet5", "fashionmnist_lenet5_relu_original.weights.h5")
COMPARED = ("n_test", "accuracy_snn", "agreement", "max_abs_error", "max_abs_error_end_to_end", "violations",
            "operations")


def setup(n):
    """LeNet5 with the shipped weights, phase 1, its SNN, ``n`` test images, labels and original predictions."""
    import snnmap
    from snnmap import datasets, zoo

    ds = datasets.load("FashionMNIST", source="idx", data_dir=FASHION_DIR, flat=False)
    model = zoo.lenet5()
    model.load_weights(WEIGHTS)
    pre = snnmap.preprocess(model, ds.x_train[:2000], verbose=0)
    x, y = ds.x_test[:n], ds.y_test[:n]
    reference = np.argmax(model.predict(x, batch_size=1000, verbose=0), axis=1)
    return pre, snnmap.to_snn(pre), x, y, reference


def timed(call):
    """``(seconds, result, timing conditions)`` of one call."""
    before = common.cpu_snapshot()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    return seconds, result, common.timing_conditions(before, common.cpu_snapshot())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="test images (default: all 10,000)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes")
    parser.add_argument("--batch", type=int, default=256, help="images per batch (and per Beam record)")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the JSON")
    args = parser.parse_args()
    common.force_cpu()
    import snnmap
    from snnmap import beam

    pre, snn, x, y, reference = setup(args.n)
    settings = beam.BeamSettings(num_workers=args.workers, running_mode="multi_processing", verbose=False)
    # Beam first: the SNN is saved for the workers as it is (it has no noise, so order does not matter here).
    beam_s, (ours, runner), beam_load = timed(lambda: beam.evaluate(
        snn, pre.model, beam.ArrayReader(x, y), args.batch, reference, beam_settings=settings, log=lambda _: None))
    single_s, theirs, single_load = timed(lambda: snnmap.evaluate(
        snn, x, y, relu_model=pre.model, reference_predictions=reference, batch_size=args.batch, verbose=0))
    n = len(x)
    rows = {"single": {"seconds": single_s, "images_per_s": n / single_s, "timing_conditions": single_load},
            "beam": {"seconds": beam_s, "images_per_s": n / beam_s, "runner": runner,
                     "timing_conditions": beam_load}}
    equal = {key: ours[key] == theirs[key] for key in COMPARED}
    ratio = rows["beam"]["images_per_s"] / rows["single"]["images_per_s"]
    print(f"LeNet5 phase 2 (float64 SNN with the ReLU oracle), {n} Fashion-MNIST test images, batch {args.batch}, "
          f"{os.cpu_count()} CPUs")
    for name, row in rows.items():
        busy = row["timing_conditions"]["other_processes_cpus"]
        print(f"  {name:<7} {row['seconds']:8.1f} s  {row['images_per_s']:8.1f} images/s"
              f"  (CPUs busy with other processes: {'?' if busy is None else f'{busy:.2f}'})")
    print(f"  ratio beam/single: {ratio:.2f}  (DirectRunner, {args.workers} workers, multi_processing; start-up "
          f"included)")
    print(f"  figures equal: {all(equal.values())}  (accuracy {theirs['accuracy_snn']}, agreement "
          f"{theirs['agreement']}, max |error| {theirs['max_abs_error']:.3g}, violations {theirs['violations']})")
    out = {"config": vars(args), "rows": rows, "ratio_beam_over_single": ratio, "figures_equal": equal,
           "machine": common.machine_info(), "created": datetime.datetime.now().isoformat(timespec="seconds")}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    from snnmap import storage

    storage.atomic_write_json(args.json, out)
    print(f"json: {common.rel(args.json)}")
    return 0 if all(equal.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
