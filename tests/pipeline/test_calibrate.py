"""Calibration: ``X_n`` is the float64 maximum of every hidden layer on the calibration data.

The oracles: the preprocessed network's layers computed in NumPy, and every hidden layer's
whole float64 output on every image, maximised here.
"""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline.preprocess import hidden_layers

from pipeline import nets


def test_x_n_is_the_largest_hidden_activation(rng):
    model = nets.fc_model()
    x_calib = rng.uniform(0, 1, (257, 12))  # not a multiple of the batch size
    pre = snnmap.preprocess(model, x_calib, batch_size=64, verbose=0)
    x_hat = pre.normalize(x_calib)
    expected = []
    h = x_hat
    for layer in pre.model.layers[1:-1]:
        w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
        h = np.maximum(h @ w + b, 0.0)
        expected.append(h.max())
    np.testing.assert_allclose(pre.X_n, expected, rtol=0, atol=1e-12)
    assert list(pre.report["X_n"]) == [layer.name for layer in hidden_layers(pre.model)]


def test_float32_calibration_pass_gives_the_float64_x_n(rng):
    """The float32 pass with its float64 recheck finds the float64 maxima (the oracle: every
    hidden layer's whole float64 output on every image, maximised here)."""
    model = nets.lenet_like(rng)
    x_calib = rng.uniform(0, 1, (300, 12, 12, 1))
    pre = snnmap.preprocess(model, x_calib, batch_size=64, verbose=0)
    assert pre.report["X_n_measured"]["dtype"] == "float32"
    probe = keras.Model(pre.model.inputs, [layer.output for layer in hidden_layers(pre.model)])
    outputs = probe.predict_on_batch(pre.normalize(x_calib))
    expected = [float(np.max(o)) for o in outputs]
    np.testing.assert_allclose(pre.X_n, expected, rtol=0, atol=1e-12)
    per_image = np.stack([np.asarray(o).reshape(len(x_calib), -1).max(axis=1) for o in outputs], axis=1)
    np.testing.assert_allclose(pre.maxima, per_image, rtol=1e-5, atol=1e-6)
    measured = pre.report["X_n_measured"]
    assert 1 <= measured["rechecked_float64"] <= measured["recheck_per_layer"] * len(expected)
    assert not any(measured["raised_for_near_ties"])
    again = snnmap.preprocess(model, x_calib, batch_size=64, verbose=0, maxima_dtype="float64")
    np.testing.assert_allclose(again.maxima, per_image, rtol=0, atol=1e-12)
    assert again.X_n == pre.X_n


def test_near_ties_raise_x_n_to_a_safe_bound(rng):
    """When more images than are re-measured tie for the maximum, float32 cannot tell which
    is largest: X_n is raised (slightly) above it instead of possibly falling below."""
    model = nets.lenet_like(rng)
    x_calib = np.repeat(rng.uniform(0, 1, (1, 12, 12, 1)), 20, axis=0)
    pre = snnmap.preprocess(model, x_calib, batch_size=8, verbose=0)
    exact = snnmap.preprocess(model, x_calib, batch_size=8, verbose=0, maxima_dtype="float64").X_n
    assert all(pre.report["X_n_measured"]["raised_for_near_ties"])
    got, exact = np.array(pre.X_n), np.array(exact)
    assert np.all(got >= exact) and np.all(got <= exact * 1.0011)


def test_calibration_pass_dtype_is_checked(rng):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        snnmap.preprocess(nets.fc_model(), rng.uniform(0, 1, (10, 12)), verbose=0, maxima_dtype="float16")
