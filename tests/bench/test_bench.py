"""Smoke test of bench/bench_fc.py: it runs end to end and its agreement checks pass.

Timings are never asserted (they depend on the machine and on what else runs on it).
"""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO
BENCH = os.path.join(REPO, "bench", "bench_fc.py")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

VARIANTS = ("relu", "snn", "exact", "scan", "reference")
RATIOS = ("snn/relu", "exact/relu", "scan/relu", "reference/relu", "reference/exact", "reference/snn")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason=f"Fashion-MNIST not installed in {FASHION_DIR}")
def test_bench_fc_quick(tmp_path):
    out = tmp_path / "bench_fc.json"
    cmd = [sys.executable, BENCH, "--quick", "--batch_sizes", "8", "--rounds", "1", "--json", str(out)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "agreement checks PASSED" in proc.stdout

    res = json.loads(out.read_text())
    for key in ("config", "machine", "data", "model", "snn", "timing", "timing_conditions", "ratios",
                "memory", "agreement", "targets"):
        assert key in res, key
    assert res["config"]["batch_sizes"] == [8]
    assert res["config"]["dtype"] == "float64"
    assert res["config"]["quick"] is True
    assert res["data"]["n_images"] == 8 and res["data"]["split"] == "test"
    assert res["model"]["architecture"] == "784-600-10"
    assert res["model"]["source"] in ("loaded", "trained")
    for key in ("cpu_count", "processor", "tensorflow", "keras"):
        assert key in res["machine"], key

    # Every variant timed at least 3 times; statistics present (values not checked).
    for name in VARIANTS:
        t = res["timing"]["8"][name]
        assert t["n"] >= 3
        for key in ("median_s", "min_s", "max_s", "iqr_s", "images_per_s", "first_call_s"):
            assert key in t, (name, key)
    assert set(RATIOS) <= set(res["ratios"]["8"])
    assert set(res["targets"]["snn_over_relu"]["8"]) == {"value", "met"}
    assert set(res["targets"]["exact_speedup_over_reference"]["8"]) == {"value", "met"}

    # Peak memory: one subprocess per variant, each reporting its growth.
    for name in VARIANTS:
        m = res["memory"]["8"][name]
        assert "error" not in m, m
        assert m["steady_peak_growth_mib"] is not None

    # The agreement checks passed: reference vs snnmap, all solvers with each other, argmax.
    ag = res["agreement"]
    assert ag["tolerance"] == 1e-9
    assert ag["passed"] is True
    entry = ag["by_batch"]["8"]
    assert entry["passed"] and entry["logits_within_tol"] and entry["hidden_times_within_tol"]
    assert entry["argmax_all_equal"]
    pairs = entry["max_abs_logit_diff"]
    for a, b in (("snn", "reference"), ("exact", "reference"), ("scan", "reference"), ("snn", "exact"),
                 ("snn", "scan"), ("exact", "scan")):
        assert pairs[f"{a}-{b}"] <= 1e-9
    for name in ("snn", "exact", "scan"):
        assert entry["max_abs_hidden_time_diff"][f"reference-{name}"] <= 1e-9
    assert all(entry["argmax_equal_relu"][name] for name in ("snn", "exact", "scan", "reference"))
