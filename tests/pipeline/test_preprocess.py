"""Phase 1 end to end: a real network keeps its function, ``Preprocessed`` round-trips through its files."""

import numpy as np
import pytest

import snnmap

from pipeline import nets


def test_real_fashion_mnist_network(fashion, fashion_fc):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:3000], verbose=0)
    assert nets.max_function_difference(fashion_fc, pre, fashion.x_test[:1000]) <= 1e-9


def test_save_and_load_round_trip(tmp_path, rng):
    model = nets.fc_model(bn_after=True)
    nets.randomize_bn(model, rng)
    pre = snnmap.preprocess(model, rng.uniform(0, 1, (100, 12)), verbose=0)
    pre.save(str(tmp_path), "net")
    again = snnmap.Preprocessed.load(str(tmp_path), "net")
    x = pre.normalize(rng.uniform(0, 1, (20, 12)))
    np.testing.assert_array_equal(pre.model.predict_on_batch(x), again.model.predict_on_batch(x))
    assert again.X_n == pre.X_n and again.input_range == pre.input_range
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_missing_phase1_files(tmp_path):
    with pytest.raises(snnmap.MissingPhase1Error, match="run phase 1"):
        snnmap.Preprocessed.load(str(tmp_path), "nothing")


def test_wrong_calibration_shape(rng):
    with pytest.raises(snnmap.ShapeError, match=r"\(10, 13\).*\(12,\)"):
        snnmap.preprocess(nets.fc_model(), rng.uniform(0, 1, (10, 13)), verbose=0)
