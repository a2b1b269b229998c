"""The user's path through the commands (issue 27): --help, --model_path, the fMNIST alias, report --flagfile,
quiet output."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import REPO, results_of, run_module

NOISE = ("cuInit", "cudart_stub", "retracing", "dataset_info.json", "absl::InitializeLog")


def run_unquieted(*args):
    """``python -m *args`` WITHOUT the TF_CPP_MIN_LOG_LEVEL that helpers.run_module sets, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc.seconds = time.time() - started
    return proc


@pytest.mark.parametrize("command, own, absent", [
    ("phase1", ["--data_name", "--model_path", "--input_range", "--epochs", "--calib_samples", "phase 1:"], "--zeta"),
    ("phase2", ["--zeta", "--noise", "--merge", "--energy_mac_pj", "SNN knobs", "(default: 0.5)"], "--epochs"),
    ("sweep", ["--sweep", "--trials", "--noise"], "--merge"),
    ("report", ["--out"], "--zeta"),
])
def test_help_lists_the_commands_own_flags_without_tensorflow(command, own, absent):
    proc = run_unquieted(f"snnmap.{command}", "--help")
    print(f"{command} --help: {proc.seconds:.2f} s")  # reported, not asserted
    for text in own:
        assert text in proc.stdout, text
    assert absent not in proc.stdout
    assert "tensorflow" not in proc.stderr.lower()


def test_fmnist_is_an_alias_of_fashion_mnist():
    from snnmap.data import canonical_name
    from snnmap.experiments.inputs import resolve
    from snnmap.experiments.settings import Experiment

    assert canonical_name("fMNIST") == "FashionMNIST"
    e = resolve(Experiment(data_name="fMNIST"))
    assert e.data_name == "FashionMNIST" and e.model_name == "fashionmnist_fc_relu"


@pytest.mark.slow
def test_model_path_end_to_end_exact_quiet_and_report_flagfile(tmp_path):
    import keras

    from snnmap.data import load

    ds = load("MNIST", flat=False, max_train=600)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds.x_train, ds.y_train, epochs=1, verbose=0)
    path = str(tmp_path / "mine.keras")
    model.save(path)
    flagfile = tmp_path / "flags.txt"
    flagfile.write_text(f"--data_name=MNIST\n--model_path={path}\n--input_range=0,1\n--logging_dir={tmp_path / 'log'}\n"
                        "--test_samples=100\n")
    p1 = run_unquieted("snnmap.phase1", "--flagfile", str(flagfile), "--calib_samples", "300")
    p2 = run_unquieted("snnmap.phase2", "--flagfile", str(flagfile))
    out, r = results_of(p2)
    assert r["agreement"] == 1.0 and r["max_abs_error_original"] <= 1e-9 and r["violations"] == 0
    # Independent check: the original model's own argmax on the same images.
    reference = np.argmax(model.predict(ds.x_test[:100], verbose=0), axis=-1)
    assert np.mean(reference == ds.y_test[:100]) == pytest.approx(r["accuracy_snn"])
    for proc in (p1, p2):
        text = proc.stdout + proc.stderr
        assert not [n for n in NOISE if n in text], text[-2000:]
        assert text.count("falling back to the bundled") == 1
    page = run_module("snnmap.report", "--flagfile", str(flagfile), out)
    assert page.stdout.strip().splitlines()[-1].startswith("report: ")


def test_model_path_missing_file_is_a_clear_error(tmp_path):
    proc = run_module("snnmap.phase1", "--model_path", str(tmp_path / "nope.keras"), "--logging_dir",
                      str(tmp_path), ok=False)
    assert proc.returncode == 2 and "nope.keras" in proc.stderr and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
