"""Phase 2 on Beam's DirectRunner (in-process mode) equals the single-machine evaluation exactly."""

import os

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import snnmap  # noqa: E402
from snnmap import beam  # noqa: E402
from snnmap.pipeline.evaluate import evaluate  # noqa: E402

IN_PROCESS = beam.BeamSettings(running_mode="in_memory", num_workers=1, verbose=False)
COMPARED = ("n_test", "accuracy_snn", "accuracy_relu", "accuracy_relu_preprocessed", "agreement", "max_abs_error",
            "max_abs_error_end_to_end", "max_abs_error_original", "violations", "violations_a", "violations_b",
            "informative_spike_fraction", "layers", "operations", "totals")


@pytest.fixture(scope="module")
def fc(fashion, fashion_fc):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:2000], verbose=0)
    x, y = fashion.x_test[:300], fashion.y_test[:300]
    logits = snnmap.pipeline.graph.logits_model(fashion_fc).predict(x, verbose=0).astype(np.float64)
    return pre, x, y, np.argmax(fashion_fc.predict(x, verbose=0), -1), logits


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_phase2_on_beam_equals_the_single_machine_run(fc, noise):
    pre, x, y, ref, logits = fc
    snn = snnmap.to_snn(pre, noise=noise, seed=3)
    # Beam first: it saves the SNN as it is; the single-machine run then advances its noise state.
    ours, runner = beam.evaluate(snn, pre.model, beam.ArrayReader(x, y), 128, ref, logits,
                                 beam_settings=IN_PROCESS, log=lambda line: None)
    theirs = evaluate(snn, x, y, relu_model=pre.model, reference_predictions=ref, reference_logits=logits,
                      batch_size=128, verbose=0)
    assert runner["runner"] == "DirectRunner"
    for key in COMPARED:
        assert ours[key] == theirs[key], key
    assert theirs["n_test"] == 300 and theirs["max_abs_error_original"] is not None


def test_a_corrupt_record_ends_the_run_naming_it(fc, tmp_path):
    pre, x, y, ref, _ = fc
    bad = np.array(x, np.float32)
    bad[200, 5] = np.nan  # a corrupt image in the record of images 128..255
    with pytest.raises(beam.BeamRunError, match=r"images 128\.\.255.*(NaN|nan|finite)"):
        beam.evaluate(snnmap.to_snn(pre), pre.model, beam.ArrayReader(bad, y), 128, ref,
                      beam_settings=beam.BeamSettings(running_mode="in_memory", num_workers=1, verbose=False,
                                                      staging_dir=str(tmp_path)), log=lambda line: None)
    assert os.listdir(tmp_path) == []  # the staging folder is gone, nothing half-written


LENET5_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "models", "FashionMNIST",
                          "LeNet5")
LENET5 = "fashionmnist_lenet5_relu"


@pytest.fixture(scope="module")
def lenet5():
    """The shipped LeNet5's phase-1 outputs (python -m snnmap.phase1 --flagfile flags/fashionmnist_lenet5.txt)."""
    from helpers import FASHION_DIR

    files = [os.path.join(LENET5_DIR, f"{LENET5}_{part}") for part in ("X_n.json", "predictions.npy", "logits.npy")]
    if not all(os.path.isfile(f) for f in files) or not os.path.isdir(FASHION_DIR):
        pytest.skip("LeNet5 phase 1 outputs or Fashion-MNIST not here (run phase 1 with flags/fashionmnist_lenet5.txt)")
    data = snnmap.datasets.load("FashionMNIST", source="idx", data_dir=FASHION_DIR, flat=False)
    pre = snnmap.Preprocessed.load(LENET5_DIR, LENET5)
    n = 384  # three records of 128 images
    ref = np.load(files[1], allow_pickle=False)[:n]
    logits = np.load(files[2], allow_pickle=False)[:n]
    return pre, data.x_test[:n], data.y_test[:n], ref, logits


@pytest.mark.slow
@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_lenet5_phase2_on_beam_equals_the_single_machine_run(lenet5, noise):
    pre, x, y, ref, logits = lenet5
    snn = snnmap.to_snn(pre, noise=noise, seed=1)  # float64; the noise checks the per-batch seeding too
    ours, _ = beam.evaluate(snn, pre.model, beam.ArrayReader(x, y), 128, ref, logits, beam_settings=IN_PROCESS,
                            log=lambda line: None)
    theirs = evaluate(snn, x, y, relu_model=pre.model, reference_predictions=ref, reference_logits=logits,
                      batch_size=128, verbose=0)
    for key in COMPARED:
        assert ours[key] == theirs[key], key
    assert theirs["n_test"] == 384 and theirs["agreement"] > 0.9 and theirs["operations"]["snn_events"] > 0
    assert noise or (theirs["agreement"] == 1.0 and theirs["max_abs_error"] < 1e-9 and not theirs["violations"])
    print(f"LeNet5 on Beam (noise {noise}): accuracy {ours['accuracy_snn']}, agreement {ours['agreement']}, max|error| "
          f"{ours['max_abs_error']}, vs original {ours['max_abs_error_original']}, violations {ours['violations']}")
