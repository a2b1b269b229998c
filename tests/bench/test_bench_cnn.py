"""Smoke tests of bench/bench_cnn.py and bench/bench_phase1.py: they run end to end, write
the JSON they document, and their agreement checks pass.

Timings are never asserted (they depend on the machine and on what else runs on it).
"""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO, bench_module
BENCH_CNN = os.path.join(REPO, "bench", "bench_cnn.py")
BENCH_PHASE1 = os.path.join(REPO, "bench", "bench_phase1.py")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                                   reason=f"Fashion-MNIST IDX files not installed in {FASHION_DIR}")
STATS = ("median_s", "min_s", "max_s", "iqr_s", "n", "images_per_s", "first_call_s", "samples_s")


def _run(cmd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
@needs_fashion
def test_bench_cnn_quick_lenet5(tmp_path):
    out = tmp_path / "bench_cnn.json"
    stdout = _run([sys.executable, BENCH_CNN, "--quick", "--models", "lenet5", "--batch_size", "8", "--rounds", "1",
                   "--no_memory", "--json", str(out)])
    assert "agreement checks PASSED" in stdout

    res = json.loads(out.read_text())
    for key in ("benchmark", "config", "machine", "timing_conditions", "models", "agreement_passed", "targets"):
        assert key in res, key
    assert res["benchmark"] == "bench_cnn"
    assert res["config"]["models"] == ["lenet5"]
    assert res["config"]["batch_size"] == {"lenet5": 8}
    assert res["config"]["dtypes"] == {"lenet5": ["float64"]}
    assert res["config"]["quick"] is True
    for key in ("cpu_count", "processor", "tensorflow", "keras", "snnmap"):
        assert key in res["machine"], key

    m = res["models"]["lenet5"]
    for key in ("data", "model", "input_range", "batch_size", "dtypes", "snn", "timing", "per_image_s",
                "timing_conditions", "ratios", "agreement", "layers", "target", "memory"):
        assert key in m, key
    assert m["data"]["n_images"] == 8 and m["data"]["split"] == "test"
    assert m["data"]["n_calibration"] == 5000
    assert m["model"]["weights_source"] == "shipped"
    assert m["memory"] == {}  # --no_memory
    for variant in ("relu/float64", "snn/float64"):
        t = m["timing"][variant]
        assert t["n"] >= 3
        for key in STATS:
            assert key in t, (variant, key)
        assert variant in m["per_image_s"]
    assert "snn/relu float64" in m["ratios"]
    assert set(m["target"]) >= {"dtype", "max", "value", "met"} and m["target"]["dtype"] == "float64"
    assert set(res["targets"]) == {"lenet5"}

    # Agreement: the SNN's argmax is the ReLU network's on all 8 images; float64 logits agree closely.
    ag = m["agreement"]
    assert ag["passed"] is True and res["agreement_passed"] is True
    a = ag["by_dtype"]["float64"]
    assert a["n_images"] == 8 and a["argmax_equal"] == 8 and a["argmax_equal_relu_float64"] == 8
    assert a["max_abs_logit_diff"] <= 1e-6

    # Per-layer figures: every spiking layer, fractions in [0, 1], the solver changes only what it gets.
    rows = m["layers"]["float64"]["rows"]
    assert [r["layer"] for r in rows if not r["output_layer"]] and rows[-1]["output_layer"]
    for r in rows:
        if r["output_layer"]:
            continue
        for key in ("open_1block", "open_free", "to_solver", "solver_changed", "inputs_at_last_arrival"):
            assert 0.0 <= r[key] <= 1.0, (r["layer"], key)
        assert r["to_solver"] <= r["open_free"] <= r["open_1block"]  # each bound only closes neurons
        assert r["n_solver_changed"] <= r["n_to_solver"]
        assert isinstance(r["grid_bound"], bool)


@pytest.mark.slow
@needs_fashion
def test_bench_phase1_quick(tmp_path):
    out = tmp_path / "bench_phase1.json"
    stdout = _run([sys.executable, BENCH_PHASE1, "--quick", "--n", "256", "--phase2_sizes", "256", "512",
                   "--json", str(out)])
    assert "checks PASSED" in stdout

    res = json.loads(out.read_text())
    for key in ("benchmark", "config", "machine", "timing_conditions", "models", "checks_passed", "targets"):
        assert key in res, key
    assert res["config"]["n"] == 256 and res["config"]["phase2_sizes"] == [256, 512]
    assert res["checks_passed"] is True
    assert set(res["models"]) == {"lenet5", "fc"}
    for name, m in res["models"].items():
        p1 = m["phase1"]
        assert p1["data"]["n_images"] == 256
        for row in ("phase1", "maxima", "relu64", "relu"):
            for key in STATS:
                assert key in p1["timing"][row], (name, row, key)
        assert set(p1["ratios"]) == {"phase1/relu", "maxima/relu", "relu64/relu"}
        assert set(p1["target"]) >= {"max", "value", "met"}
        assert p1["check"]["passed"] and p1["check"]["argmax_equal"] == 256
        p2 = m["phase2"]
        assert set(p2["by_size"]) == {"256", "512"}
        for n, child in p2["by_size"].items():
            assert "error" not in child, child
            assert child["n_test"] == int(n)
            assert child["peak_growth_mib"] is not None and child["peak_rss_mib"] > 0
            assert child["agreement"] == 1.0  # exact conversion of the shipped networks
        assert "growth_difference_mib" in p2 and set(p2["flat"]) >= {"value", "met"}
        assert set(res["targets"][name]) == {"phase1_over_relu", "phase2_flat"}


def test_bench_cnn_vgg16_28_weights_options():
    """Without the phase-1 weights, vgg16_28 is trained in the run (12,000 images, 2 epochs:
    phase 1's recipe with --epochs 2 --train_samples 12000) and kept for later runs; --quick
    keeps random weights; bad values are refused."""
    sys.path.insert(0, os.path.join(REPO, "bench"))
    try:
        import bench_cnn
    finally:
        sys.path.pop(0)
    args = bench_cnn.parse_args(["--models", "vgg16_28"])
    assert (args.vgg16_train, args.vgg16_epochs) == (12000, 2)
    assert bench_cnn.parse_args(["--quick"]).vgg16_train == 0
    assert bench_cnn.parse_args(["--quick", "--vgg16_train", "500"]).vgg16_train == 500
    cache = bench_cnn.trained_cache(12000, 2)
    assert cache.startswith(os.path.join(REPO, "bench", "results")) and cache.endswith(".weights.h5")
    for bad in (["--vgg16_train", "-1"], ["--vgg16_epochs", "0"]):
        with pytest.raises(SystemExit):
            bench_cnn.parse_args(bad)


@pytest.mark.slow
@needs_fashion
def test_bench_cnn_matrix_lenet5(tmp_path):
    """--matrix: one cell per (kind of input, batch size), the conversion's costs, agreement on
    every cell; image-like inputs are the test images, random ones have no ties."""
    out = tmp_path / "matrix.json"
    stdout = _run([sys.executable, BENCH_CNN, "--matrix", "--models", "lenet5", "--batch_sizes", "1", "3",
                   "--rounds", "1", "--calib", "200", "--json", str(out)])
    assert "SNN/ReLU" in stdout and "conversion (s)" in stdout
    res = json.loads(out.read_text())
    assert res["benchmark"] == "bench_cnn --matrix" and res["agreement_passed"] is True
    m = res["models"]["lenet5"]
    assert set(m["conversion"]) == {"phase1_s", "to_snn_s", "check_s", "convert_s"}
    cells = {(c["inputs"], c["batch_size"]): c for c in m["cells"]}
    assert set(cells) == {(k, b) for k in ("image", "random") for b in (1, 3)}
    for c in cells.values():
        assert c["agree"] and c["ratio"] > 0 and c["dtype"] == "float64"
        assert c["timing"]["snn"]["n"] >= 3


def test_matrix_inputs_kinds():
    """Image-like 224x224 inputs repeat each 28x28 pixel over an 8x8 block (ties), tinted per
    channel within the input range; random inputs fill the range without ties."""
    cnn_matrix = bench_module("cnn_matrix")
    import numpy as np

    images = np.random.default_rng(0).uniform(0, 1, (2, 28, 28, 1))
    images[:, :4] = 0.0  # a uniform background
    big = cnn_matrix.matrix_inputs("vgg16_224", images, "image", (-1.0, 2.0), 0)
    assert big.shape == (2, 224, 224, 3) and big.min() >= -1.0 and big.max() <= 2.0
    assert np.all(big[:, :8, :8] == big[:, :1, :1])  # one block, one value per channel
    assert np.all(big[:, :32] == -1.0)  # the background stays at the range's low end
    rnd = cnn_matrix.matrix_inputs("vgg16_224", images, "random", (-1.0, 2.0), 0)
    assert rnd.shape == big.shape and len(np.unique(rnd)) == rnd.size
    small = cnn_matrix.matrix_inputs("lenet5", images, "image", (0.0, 1.0), 0)
    np.testing.assert_array_equal(small, images)


def test_matrix_processes_and_merge():
    """One process per model, one per batch size for ResNet50-224 (or every model when asked);
    a model's processes merge into one table in (inputs, batch size) order, a failed one is kept."""
    from types import SimpleNamespace

    cnn_matrix = bench_module("cnn_matrix")
    args = SimpleNamespace(models=["lenet5", "resnet50_224"], batch_sizes=[1, 8], inputs=["image", "random"],
                           process_per_batch_size=False)
    assert cnn_matrix.matrix_processes(args) == [("lenet5", [1, 8]), ("resnet50_224", [1]), ("resnet50_224", [8])]
    args.process_per_batch_size = True
    assert cnn_matrix.matrix_processes(args)[:2] == [("lenet5", [1]), ("lenet5", [8])]

    def run(b, phase1):
        return {"conversion": {"phase1_s": phase1}, "cells": [{"inputs": k, "batch_size": b} for k in args.inputs]}

    merged = cnn_matrix.merge_runs([run(8, 2.0), run(1, 3.0)], args)
    assert [(c["inputs"], c["batch_size"]) for c in merged["cells"]] == [
        ("image", 1), ("image", 8), ("random", 1), ("random", 8)]
    assert merged["conversion"] == {"phase1_s": 2.0} and len(merged["conversion_runs"]) == 2
    merged = cnn_matrix.merge_runs([run(1, 3.0), {"error": "subprocess exited with -9: "}], args)
    assert merged["errors"] == ["subprocess exited with -9: "] and len(merged["cells"]) == 2
    assert cnn_matrix.merge_runs([{"error": "x"}], args) == {"error": "x", "cells": []}
    killed = "subprocess exited with -9: [resnet50_224] phase 1 ...\n[resnet50_224] image inputs, batch 8 ...\n"
    assert cnn_matrix.failure_text(killed) == ("subprocess exited with -9 (last output: "
                                               "[resnet50_224] image inputs, batch 8 ...)")
    assert cnn_matrix.failure_text("subprocess exited with 1: ") == "subprocess exited with 1"


@pytest.mark.slow
@needs_fashion
def test_bench_cnn_matrix_one_process_per_batch_size(tmp_path):
    """--process_per_batch_size: each batch size measured by a process of its own, whose
    progress the user sees; the table and JSON hold them all as one model."""
    out = tmp_path / "matrix.json"
    stdout = _run([sys.executable, BENCH_CNN, "--matrix", "--models", "lenet5", "--batch_sizes", "1", "2",
                   "--inputs", "image", "--rounds", "1", "--calib", "100", "--process_per_batch_size",
                   "--json", str(out)])
    assert stdout.count("a process of its own") == 2 and stdout.count("end-to-end check ...") == 2
    res = json.loads(out.read_text())
    assert res["agreement_passed"] is True
    assert res["processes"] == [{"model": "lenet5", "batch_sizes": [1]}, {"model": "lenet5", "batch_sizes": [2]}]
    m = res["models"]["lenet5"]
    assert [(c["inputs"], c["batch_size"]) for c in m["cells"]] == [("image", 1), ("image", 2)]
    assert len(m["conversion_runs"]) == 2
