"""The comparison as a library function, on the shipped Fashion-MNIST FC after phase 1 (in a temporary folder)."""

import csv
import os
import shutil

import numpy as np
import pytest

from helpers import FASHION_FC_WEIGHTS, REPO, needs_fashion, run_module
from snnmap.experiments.compare import CompareOptions, COLUMNS, run_compare, variants
from snnmap.experiments.naming import resolve
from snnmap.experiments.settings import Experiment, Phase2Options


@pytest.fixture(scope="module")
def fc_phase1(tmp_path_factory):
    log = tmp_path_factory.mktemp("fc")
    shutil.copy(FASHION_FC_WEIGHTS, log / "fashionmnist_fc_relu_original.weights.h5")
    run_module("snnmap.phase1", "--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir",
               str(log), "--test_samples", "300", "--calib_samples", "2000")
    return resolve(Experiment(data_name="FashionMNIST", cnn=False, layers=2, logging_dir=str(log),
                              data_source="idx", data_dir="/usr/share/datasets/fashion-mnist", test_samples=300))


@pytest.mark.slow
@needs_fashion
def test_compare_writes_one_row_per_method_variant_and_T(fc_phase1):
    rates = variants(["data", "percentile"], ["constant", "poisson"], percentiles=[99.9], checkpoints=[8, 64, 256])
    options = CompareOptions(tuple(rates), calib_samples=1000, phase2=Phase2Options(mac_pj=4.0, add_pj=1.0))
    lines = []
    done = run_compare(fc_phase1, options=options, log=lines.append)
    rows = done.result["rows"]
    assert [r["method"] for r in rows[:2]] == ["relu", "exact"]
    assert len(rows) == 2 + 4 * 3 and {r["method"] for r in rows[2:]} == {"rate"}
    exact = rows[1]
    assert exact["agreement"] == 1.0 and exact["spikes_per_neuron"] == 1.0 and exact["T"] is None
    # Same per-operation energies for every method.
    assert exact["energy"] == pytest.approx(exact["synaptic_events"] * 1.0)
    assert rows[0]["energy"] == pytest.approx(rows[0]["macs"] * 4.0)
    for r in rows[2:]:
        assert r["energy"] == pytest.approx(r["synaptic_events"] * 1.0 + r["macs"] * 4.0)
        assert set(COLUMNS) <= set(r)
    data = {r["T"]: r["agreement"] for r in rows if r["variant"] == "data/constant/subtract/spikes"}
    assert data[8] < data[64] <= data[256] and data[256] >= 0.99
    # The CSV holds the same rows, and the files were written whole.
    with open(done.csv_path) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and table[5]["variant"] == rows[5]["variant"]
    assert float(table[5]["agreement"]) == pytest.approx(rows[5]["agreement"])
    assert not [p for p in os.listdir(os.path.dirname(done.path)) if p.startswith(".")]
    assert os.path.isfile(done.result["exact_results"])
    assert any("exact SNN" in line for line in lines)
    assert np.all([s > 0 for scale in done.result["scales"] for s in scale["scales"]])


def test_bad_options_are_refused_before_any_work():
    with pytest.raises(ValueError, match="normalisation must be one of"):
        variants(["maxnorm"])
    with pytest.raises(ValueError, match="checkpoints must be positive integers"):
        variants(checkpoints=[0, 8])
    with pytest.raises(ValueError, match="calib_samples must be a positive"):
        CompareOptions(tuple(variants()), calib_samples=0)
    with pytest.raises(ValueError, match="no rate variant"):
        variants(inputs=[])
