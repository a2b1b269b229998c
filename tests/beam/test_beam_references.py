"""Phase 1's reference pass on Beam: the original network's predictions and float64 logits on the test
set equal the single-machine ones bit for bit, and phase 1 on Beam writes the same files."""

import os
import shutil

import numpy as np
import pytest

from helpers import FASHION_DIR, FASHION_FC_WEIGHTS, needs_fashion

pytest.importorskip("apache_beam")

import snnmap  # noqa: E402
from snnmap import beam  # noqa: E402
from snnmap.experiments import naming  # noqa: E402
from snnmap.experiments.phase1 import compare, run_phase1  # noqa: E402
from snnmap.experiments.settings import Experiment, Phase1Settings  # noqa: E402

IN_PROCESS = beam.BeamSettings(running_mode="in_memory", num_workers=1, verbose=False)


@pytest.mark.parametrize("clip", [False, True])
def test_beam_references_are_the_single_machine_ones(fashion, fashion_fc, clip):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:500], verbose=0)
    x = fashion.x_test[:300]  # records of 128, 128 and 44 images: the last one padded as predict_on pads it
    theirs = compare(fashion_fc, pre, x, 128, clip)
    ours = beam.compare(fashion_fc, pre, x, 128, clip, beam_settings=IN_PROCESS, log=lambda line: None)
    for mine, single in zip(ours[:2] + ours[3:], theirs[:2] + theirs[3:]):
        assert mine.dtype == single.dtype and np.array_equal(mine, single)  # bit for bit, float64 logits
    assert ours[2] == theirs[2] and theirs[3].dtype == np.float64 and len(theirs[3]) == 300


def _experiment(log_dir):
    shutil.copy(FASHION_FC_WEIGHTS, os.path.join(log_dir, "fashionmnist_fc_relu_original.weights.h5"))
    return naming.resolve(Experiment(data_name="FashionMNIST", data_source="idx", data_dir=FASHION_DIR,
                                     logging_dir=str(log_dir), test_samples=300, batch_size=128))


@needs_fashion
def test_phase1_on_beam_writes_the_single_machine_files(tmp_path):
    plain_dir, beam_dir = tmp_path / "plain", tmp_path / "beam"
    plain_dir.mkdir(), beam_dir.mkdir()
    settings, lines = Phase1Settings(calib_samples=1000), []
    plain = run_phase1(_experiment(plain_dir), settings, log=lambda line: None)
    ours = beam.run_phase1(_experiment(beam_dir), settings, IN_PROCESS, log=lines.append)
    # Both passes over data ran as pipelines: the calibration and the test-set references.
    assert sum(line.startswith("beam: runner=DirectRunner") for line in lines) == 2
    for key in ("accuracy_relu", "accuracy_relu_preprocessed", "predictions_agree",
                "max_abs_output_difference_float64", "X_n", "n_test"):
        assert ours[key] == plain[key], key
    for part in ("predictions", "logits"):
        mine = np.load(ours["files"][part], allow_pickle=False)
        single = np.load(plain["files"][part], allow_pickle=False)
        assert mine.dtype == single.dtype and np.array_equal(mine, single), part
    assert not [p.name for p in beam_dir.iterdir() if p.name.startswith(".")], "staging or temporary files left"
