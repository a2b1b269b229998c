"""The commands on a residual network: phase 1 and phase 2 of the zoo's small ResNet with its shipped
Fashion-MNIST weights, checked against the original network (phase 1's logits)."""

import json

import pytest

from helpers import FASHION_RESNET_WEIGHTS, needs_fashion, phase1_of, results_of, run_module as run


@pytest.mark.slow
@needs_fashion
def test_phase1_and_phase2_of_the_small_resnet(tmp_path):
    common, p1 = phase1_of(tmp_path, "fashionmnist_resnet.txt", FASHION_RESNET_WEIGHTS, "--test_samples", "256")
    assert "ReLU population of 2 source(s)" in p1.stdout  # the residual merges, as phase 1 reports them
    assert "same predictions on 100.00%" in p1.stdout
    with open(tmp_path / "fashionmnist_resnet_relu_manifest.json") as fh:
        assert "graph" in json.load(fh)["files"]  # the network phase 2 folds again is part of the checked set

    _, r = results_of(run("snnmap.phase2", *common))
    assert r["agreement"] == 1.0 and r["accuracy_snn"] == r["accuracy_relu"]
    assert r["max_abs_error_original"] <= 1e-9 and r["max_abs_error"] <= 1e-9 and r["violations"] == 0
    assert r["spikes_per_neuron"] == 1.0 and r["totals"]["relu_twin"] == "preprocessed ReLU network"
    proc = run("snnmap.compare", *common, "--rate_T", "8", ok=False)
    assert proc.returncode != 0 and "simulate chains only" in proc.stderr + proc.stdout
