"""The two commands end to end, in subprocesses, as a user runs them."""

import json
import os
import shutil

import pytest

from helpers import FASHION_FC_WEIGHTS, REPO, needs_fashion, results_of, run_module as run

pytestmark = pytest.mark.slow


REQUIRED = ["data_name", "data_source", "n_test", "accuracy_relu", "accuracy_snn", "agreement", "max_abs_error",
            "violations", "latency", "spikes_per_neuron", "informative_spike_fraction"]


@needs_fashion
def test_phase1_then_phase2_on_fashion_mnist(tmp_path):
    log = tmp_path / "fm"
    log.mkdir()
    shutil.copy(FASHION_FC_WEIGHTS, log / "fashionmnist_fc_relu_original.weights.h5")
    common = ["--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir", str(log),
              "--test_samples", "500"]
    p1 = run("snnmap.phase1", *common, "--calib_samples", "3000")
    assert "accuracy (original ReLU)" in p1.stdout
    for name in ["_scaled.weights.h5", "_scaled.json", "_X_n.json", "_predictions.npy", "_accuracy.json"]:
        assert (log / f"fashionmnist_fc_relu{name}").is_file(), name
    assert not [p.name for p in log.iterdir() if p.name.startswith(".")], "temporary files left behind"

    path, r = results_of(run("snnmap.phase2", *common))
    for key in REQUIRED:
        assert key in r, key
    assert r["data_name"] == "FashionMNIST" and r["data_source"] == "idx" and r["n_test"] == 500
    assert r["agreement"] == 1.0
    assert r["accuracy_snn"] == r["accuracy_relu"]
    assert r["max_abs_error"] <= 1e-9 and r["violations"] == 0
    assert r["spikes_per_neuron"] == 1.0

    # Other settings write other files; the exact run is left as it was.
    path_noise, r_noise = results_of(run("snnmap.phase2", *common, "--noise", "0.2", "--trial", "1"))
    assert path_noise != path
    assert r_noise["settings"]["noise"] == 0.2 and r_noise["settings"]["trial"] == 1
    with open(path) as fh:
        assert json.load(fh)["settings"]["noise"] == 0.0


def test_default_mnist_sample_trains_when_weights_are_missing(tmp_path):
    log = tmp_path / "mnist"
    p1 = run("snnmap.phase1", "--data_name", "MNIST", "--logging_dir", str(log), "--epochs", "1")
    assert "training" in p1.stdout and "5,000-image" in p1.stdout
    assert (log / "mnist_fc_relu_original.weights.h5").is_file()
    _, r = results_of(run("snnmap.phase2", "--data_name", "MNIST", "--logging_dir", str(log)))
    assert r["data_source"] == "mnist-5k-sample" and "NOT the full" in r["data_description"]
    assert r["n_test"] == 1000 and r["agreement"] == 1.0 and r["max_abs_error"] <= 1e-9


def test_phase2_before_phase1_says_what_to_do(tmp_path):
    proc = run("snnmap.phase2", "--data_name", "MNIST", "--logging_dir", str(tmp_path / "empty"), ok=False)
    assert proc.returncode == 2
    assert "run phase 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_data_name_is_a_clear_error(tmp_path):
    proc = run("snnmap.phase1", "--data_name", "CIFAR7", "--logging_dir", str(tmp_path), ok=False)
    assert proc.returncode == 2 and "unknown data set" in proc.stderr


@needs_fashion
def test_sharded_phase2_merges_to_the_unsharded_run(tmp_path):
    log = tmp_path / "fm"
    log.mkdir()
    shutil.copy(FASHION_FC_WEIGHTS, log / "fashionmnist_fc_relu_original.weights.h5")
    common = ["--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir", str(log),
              "--test_samples", "700", "--batch_size", "128"]
    run("snnmap.phase1", *common, "--calib_samples", "2000")
    # Short windows (zeta 0 and X_n from few images) so that violations are counted too.
    _, whole = results_of(run("snnmap.phase2", *common, "--zeta", "0"))
    paths = []
    for part in range(3):
        path, r = results_of(run("snnmap.phase2", *common, "--zeta", "0", "--part", str(part), "--num_parts", "3"))
        assert r["part"]["part"] == part and f"part {part} of 3" in r["data_description"]
        paths.append(path)
    assert sum(json.load(open(p))["n_test"] for p in paths) == 700
    merged_path = str(tmp_path / "merged.json")
    proc = run("snnmap.phase2", "--merge", "--merged_path", merged_path, *reversed(paths))
    assert proc.stdout.strip().splitlines()[-1] == f"results: {merged_path}"
    merged = json.load(open(merged_path))
    for key in REQUIRED + ["accuracy_relu_preprocessed", "max_abs_error_end_to_end", "violations_a", "violations_b",
                           "n_hidden_neurons", "layers", "totals"]:
        assert merged[key] == whole[key], key
    # A missing part is refused.
    proc = run("snnmap.phase2", "--merge", "--merged_path", merged_path, *paths[:2], ok=False)
    assert proc.returncode == 2 and "cover" in proc.stderr
