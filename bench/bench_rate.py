"""Benchmark: the ReLU network, the exact single-spike SNN and rate-coded SNNs at T = 64 and 256 on LeNet5.

    python bench/bench_rate.py                  # 1,000 Fashion-MNIST test images, shipped LeNet5 weights
    python bench/bench_rate.py --n 500 --rounds 1

One process, one network (``zoo.lenet5()`` + ``models/FashionMNIST/LeNet5`` weights, phase 1 on the
first 2,000 training images), the same test images for every row.  Rows: one ReLU pass of the
original network (float32, ``model.predict``, batch 1,000), the exact SNN (``to_snn`` + ``predict`` of the
spike-time code, float64), and the rate SNN (:mod:`snnmap.rate`, float32, constant input, batch
``--batch``) for each normalisation in ``--normalisations`` at T = 64 and T = 256 (a run to T
reports every shorter T on the way; each T is timed alone).  Time per image is the best of
``--rounds`` passes.  Targets: rate time <= 1.2 T ReLU passes; agreement with the original network
>= 0.985 at T = 64 with the best normalisation.  JSON: ``bench/results/bench_rate.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from common import ROOT, FASHION_DIR, atomic_write_json, force_cpu, machine_info, rel  # noqa: E402

DEFAULT_JSON = os.path.join(ROOT, "bench", "results", "bench_rate.json")
WEIGHTS = os.path.join(ROOT, "models", "FashionMNIST", "LeNet5", "fashionmnist_lenet5_relu_original.weights.h5")


def best_time(call, rounds, warmup=True):
    """(best seconds of ``rounds`` calls, after one untimed warm-up call when ``warmup``; a call's result)."""
    result = call() if warmup else None
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def setup(n):
    """LeNet5 with the shipped weights, phase 1, ``n`` test images and their original predictions."""
    import snnmap
    from snnmap import datasets, zoo

    ds = datasets.load("FashionMNIST", source="idx", data_dir=FASHION_DIR, flat=False)
    model = zoo.lenet5()
    model.load_weights(WEIGHTS)
    pre = snnmap.preprocess(model, ds.x_train[:2000], verbose=0)
    x = ds.x_test[:n]
    reference = np.argmax(model.predict(x, batch_size=1000, verbose=0), axis=1)
    return model, pre, ds, x, reference


def rate_rows(pre, ds, x_hat, reference, normalisations, batch, rounds, relu_s):
    """Time and agreement of the rate SNN per normalisation at T = 64 and 256."""
    from snnmap.rate import RateSettings, calibrate, rate_network, simulate, summarise
    from snnmap.rate.network import operations

    cal = calibrate(operations(pre.model), pre.normalize(ds.x_train[:1000]))
    rows = []
    for norm in normalisations:
        name, _, value = norm.partition("-")
        extra = {"percentile": "percentile", "fraction": "fraction", "firing_rate": "firing_rate_scale"}.get(name)
        kwargs = {extra: float(value)} if value and extra else {}
        for T in (64, 256):
            net = rate_network(pre.model, RateSettings(normalisation=name, checkpoints=[T], **kwargs),
                               calibration=cal)
            # Eager keras.ops: nothing to compile, so no warm-up pass.
            seconds, run = best_time(lambda: simulate(net, x_hat, batch_size=batch), rounds, warmup=False)
            row = summarise(run, net, ds.y_test[:len(x_hat)], reference)[-1]
            rows.append({"normalisation": net.settings.normalisation_label, "T": T, "agreement": row["agreement"],
                         "accuracy": row["accuracy"], "spikes_per_neuron": row["spikes_per_neuron"],
                         "s_per_image": seconds / len(x_hat), "relu_passes": seconds / relu_s,
                         "relu_passes_per_step": seconds / relu_s / T})
            print(f"  rate {rows[-1]['normalisation']:<18} T={T:<4} agreement {row['agreement']:.4f}  "
                  f"{seconds / len(x_hat) * 1e3:8.3f} ms/image  = {seconds / relu_s:7.1f} ReLU passes "
                  f"({seconds / relu_s / T:.2f} per step)", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="test images")
    parser.add_argument("--batch", type=int, default=1000, help="batch size of the rate simulation")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per row (the best counts)")
    parser.add_argument("--normalisations", default="data,percentile-99.9,percentile-99.99",
                        help="comma-separated rate normalisations (name or name-value)")
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    force_cpu()
    from snnmap.pipeline.convert import encode, to_snn

    model, pre, ds, x, reference = setup(args.n)
    x_hat = pre.normalize(x).astype(np.float32)
    # The ReLU pass is the user's original float32 network (the preprocessed one is float64).
    relu_s, _ = best_time(lambda: model.predict(x, batch_size=1000, verbose=0), args.rounds)
    snn = to_snn(pre)
    spikes = encode(x, pre.input_range)
    exact_s, out = best_time(lambda: snn.predict(spikes, batch_size=256, verbose=0), args.rounds)
    exact_agreement = float(np.mean(np.argmax(out, axis=1) == reference))
    print(f"LeNet5, {args.n} Fashion-MNIST test images")
    print(f"  ReLU pass (float32)   {relu_s / args.n * 1e3:8.3f} ms/image")
    print(f"  exact SNN (float64)   {exact_s / args.n * 1e3:8.3f} ms/image  = {exact_s / relu_s:7.1f} ReLU passes, "
          f"agreement {exact_agreement:.4f}")
    rows = rate_rows(pre, ds, x_hat, reference, args.normalisations.split(","), args.batch, args.rounds, relu_s)
    best64 = max((r for r in rows if r["T"] == 64), key=lambda r: r["agreement"])
    worst_per_step = max(r["relu_passes_per_step"] for r in rows)
    targets = {"rate_time_le_1.2_T_relu_passes": worst_per_step <= 1.2,
               "agreement_ge_0.985_at_T64_best": best64["agreement"] >= 0.985}
    met = {True: "met", False: "NOT met"}
    print(f"targets: rate time <= 1.2 T ReLU passes: {met[targets['rate_time_le_1.2_T_relu_passes']]}"
          f" (worst {worst_per_step:.2f} per step); agreement >= 0.985 at T=64: "
          f"{met[targets['agreement_ge_0.985_at_T64_best']]} (best {best64['normalisation']}: "
          f"{best64['agreement']:.4f})")
    result = {"config": vars(args), "machine": machine_info(), "n_images": args.n,
              "relu_s_per_image": relu_s / args.n,
              "exact": {"s_per_image": exact_s / args.n, "relu_passes": exact_s / relu_s, "agreement": exact_agreement},
              "rate": rows, "targets": targets}
    atomic_write_json(args.json, result)
    print(f"results: {rel(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
