"""Phase 1's files as a set, and what phase 2 makes of them (issue 26: items 1, 4, 6, 7, 10).

Phase 1 runs once on the bundled MNIST sample (a small FC network trained for one epoch); each
test works on its own copy of the logging directory."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest

from snnmap import storage, zoo
from snnmap.data import load
from snnmap.errors import InvalidWeightsError, Phase1FileError, SampleDataWarning
from snnmap.experiments import naming
from snnmap.experiments.phase1 import run_phase1
from snnmap.experiments.merge import merge_results
from snnmap.experiments.phase2 import run_phase2, summary_lines
from snnmap.experiments.settings import Experiment, Phase1Settings, Phase2Options, RunSettings

MODEL = "mnist_fc_relu"


def _experiment(log_dir, **kw):
    return naming.resolve(Experiment(data_name="MNIST", logging_dir=str(log_dir), **{"test_samples": 120, **kw}))


@pytest.fixture(scope="module")
def phase1_dir(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("phase1") / "mnist"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)
        run_phase1(_experiment(log_dir, test_samples=None),
                   Phase1Settings(epochs=1, calib_samples=400, train_samples=800),
                   log=lambda *a: None)
    return log_dir


@pytest.fixture
def log_dir(phase1_dir, tmp_path):
    copy = tmp_path / "mnist"
    shutil.copytree(phase1_dir, copy)
    return copy


def _phase2(log_dir, lines=None, settings=RunSettings(), **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)
        return run_phase2(_experiment(log_dir, **kw), settings,
                          log=(lines.append if lines is not None else lambda *a: None))


def test_phase1_stores_the_original_logits_and_phase2_reports_the_error_against_them(log_dir):
    files = naming.paths(str(log_dir), MODEL)
    logits = storage.load_npy(files["logits"])
    # Oracle: the original network's own weights, in float64 numpy, without its softmax.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)
        ds = load("MNIST", flat=True, max_test=120)
    net = zoo.build(False, 2, ds.input_shape, ds.num_classes)
    net.load_weights(files["original_weights"])
    (w1, b1), (w2, b2) = [layer.get_weights() for layer in net.layers if layer.get_weights()]
    x = np.asarray(ds.x_test, np.float64)
    expected = np.maximum(x @ w1.astype(np.float64) + b1, 0) @ w2.astype(np.float64) + b2
    assert logits.dtype == np.float64 and logits.shape == (1000, 10)
    np.testing.assert_allclose(logits[:120], expected, rtol=0, atol=1e-9)

    done = _phase2(log_dir)
    assert done.result["max_abs_error_original"] is not None and done.result["max_abs_error_original"] <= 1e-9
    assert done.result["original_logits"] == files["logits"]
    assert any("max |error| vs original" in line and "e-" in line for line in summary_lines(done.result))


def test_older_dirs_without_logits_say_the_error_is_not_measured(log_dir):
    os.remove(naming.paths(str(log_dir), MODEL)["manifest"])
    os.remove(naming.paths(str(log_dir), MODEL)["logits"])
    lines = []
    done = _phase2(log_dir, lines)
    assert done.result.get("max_abs_error_original") is None
    assert any("no phase-1 manifest" in line for line in lines)
    assert any("phase 1 stored no logits" in line for line in summary_lines(done.result))


@pytest.mark.parametrize("key", ["weights", "X_n", "predictions", "logits"])
def test_a_phase1_file_changed_after_the_set_was_written_is_refused(log_dir, key):
    files = naming.paths(str(log_dir), MODEL)
    if key == "X_n":
        meta = storage.read_json(files["X_n"])
        meta["X_n"] = [2 * v for v in meta["X_n"]]
        storage.atomic_write_json(files["X_n"], meta)
    elif key == "weights":
        with open(files["weights"], "ab") as fh:
            fh.write(b"\0")
    else:
        array = storage.load_npy(files[key])
        storage.atomic_save_npy(files[key], array[::-1].copy())
    with pytest.raises(Phase1FileError, match="do not belong together.*run phase 1 again") as err:
        _phase2(log_dir)
    assert os.path.basename(files[key]) in str(err.value)


def test_an_interrupted_phase1_is_refused(log_dir, monkeypatch):
    from snnmap.experiments import phase1 as phase1_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    # Phase 1 again, killed after the preprocessed network is written, before its predictions.
    monkeypatch.setattr(phase1_module.storage, "atomic_save_npy", crash)
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)
        run_phase1(_experiment(log_dir), Phase1Settings(calib_samples=100), log=lambda *a: None)
    monkeypatch.undo()
    with pytest.raises(Phase1FileError, match="did not finish"):
        _phase2(log_dir)


def test_another_data_set_than_phase1s_is_refused(log_dir):
    with pytest.raises(ValueError, match="used the data set MNIST, not FashionMNIST"):
        run_phase2(naming.resolve(Experiment(data_name="FashionMNIST", logging_dir=str(log_dir),
                                             model_name=MODEL, test_samples=50)), log=lambda *a: None)
    accuracy = naming.paths(str(log_dir), MODEL)["accuracy"]
    record = storage.read_json(accuracy)
    del record["data_name"]
    storage.atomic_write_json(accuracy, record)
    os.remove(naming.paths(str(log_dir), MODEL)["manifest"])  # an older directory: no manifest, no data name
    lines = []
    _phase2(log_dir, lines)
    assert any("did not record its data set" in line for line in lines)


def test_results_are_named_by_the_images_evaluated_and_the_batch_size_of_noisy_runs(log_dir):
    done = _phase2(log_dir, test_samples=5000)  # the sample has 1,000 test images
    assert done.result["n_test"] == 1000 and os.path.basename(done.path).endswith("_n1000.json")
    assert done.result["test_set"] == {"test_samples": 5000, "n_selected": 1000}
    noisy = RunSettings(noise=0.05)
    a = _phase2(log_dir, settings=noisy, batch_size=64)
    b = _phase2(log_dir, settings=noisy, batch_size=256)
    assert a.path != b.path and "_bs64" in a.path
    assert a.result["batch_size"] == 64 and b.result["batch_size"] == 256
    with open(b.path) as fh:
        assert json.load(fh)["batch_size"] == 256


def test_an_unwritable_results_dir_is_refused_before_the_evaluation(log_dir, monkeypatch):
    (log_dir / "results").write_text("a file where the results directory goes")
    from snnmap.experiments import phase2 as phase2_module

    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated before the results directory was checked")

    monkeypatch.setattr(phase2_module, "evaluate", no_evaluation)
    with pytest.raises(PermissionError, match="cannot write the results in"):
        _phase2(log_dir)


def test_a_garbage_npy_is_named(log_dir):
    files = naming.paths(str(log_dir), MODEL)
    with open(files["predictions"], "wb") as fh:
        fh.write(b"not an array at all")
    with pytest.raises(Phase1FileError, match="is not a NumPy array file") as err:
        storage.load_npy(files["predictions"])
    assert files["predictions"] in str(err.value)


def test_original_weights_of_another_architecture_or_truncated_are_named(log_dir):
    weights = naming.paths(str(log_dir), MODEL)["original_weights"]
    with pytest.raises(InvalidWeightsError, match="does not match the architecture FC.*layers=3") as err:
        run_phase1(_experiment(log_dir, model_name=MODEL, layers=3), Phase1Settings(calib_samples=100),
                   log=lambda *a: None)
    assert weights in str(err.value) and len(str(err.value)) < 800
    with open(weights, "rb") as fh:
        head = fh.read(4000)
    with open(weights, "wb") as fh:
        fh.write(head)
    with pytest.raises(Phase1FileError, match="not a readable weights file") as err:
        run_phase1(_experiment(log_dir), Phase1Settings(calib_samples=100), log=lambda *a: None)
    assert weights in str(err.value)


def test_test_images_outside_phase1s_input_range_are_refused_unless_clipped(log_dir):
    files = naming.paths(str(log_dir), MODEL)
    meta = storage.read_json(files["X_n"])
    meta["input_range"] = [0.0, 0.5]  # the MNIST images reach 1.0
    storage.atomic_write_json(files["X_n"], meta)
    os.remove(files["manifest"])  # as an older directory, so that the hand edit is not refused as a mix
    with pytest.raises(ValueError, match="input_range"):
        _phase2(log_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)
        done = run_phase2(_experiment(log_dir), options=Phase2Options(clip=True), log=lambda *a: None)
    assert done.result["clip_inputs"] is True and done.path.endswith("_clip.json")


def test_parts_merge_to_the_unsharded_run_without_touching_it(log_dir):
    whole = _phase2(log_dir, batch_size=32)
    before = open(whole.path).read()
    paths = []
    for k in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SampleDataWarning)
            paths.append(run_phase2(_experiment(log_dir, batch_size=32), options=Phase2Options(part=k, num_parts=2),
                                    log=lambda *a: None).path)
    merged, path = merge_results(paths)
    assert path != whole.path and path.endswith("_n120_merged.json")
    assert open(whole.path).read() == before
    for key in ("n_test", "accuracy_snn", "agreement", "max_abs_error", "max_abs_error_original", "violations",
                "batch_size", "test_set", "phase1_fingerprint"):
        assert merged[key] == storage.as_read_back(whole.result)[key], key
    assert merged["phase1_fingerprint"] == storage.read_json(naming.paths(str(log_dir), MODEL)["manifest"])[
        "fingerprint"]
    merge_results(paths)  # a merge's own result may be written again
