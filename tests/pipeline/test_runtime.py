"""Feeding data: one normalisation, float64 batches, shapes checked."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap import runtime


def test_one_normalisation_serves_preprocessed_and_encode(rng):
    x = rng.uniform(-3.0, 5.0, (7, 4))
    expected = (x - (-3.0)) / (5.0 - (-3.0))
    x_hat = runtime.normalise(x, (-3, 5))
    assert x_hat.dtype == np.float64
    np.testing.assert_array_equal(x_hat, expected)
    pre = snnmap.Preprocessed(model=None, X_n=[], input_range=(-3.0, 5.0), report={})
    np.testing.assert_array_equal(pre.normalize(x), x_hat)
    np.testing.assert_array_equal(snnmap.encode(x, (-3, 5)), 1.0 - x_hat)


def test_normalise_refuses_bad_values_and_ranges():
    with pytest.raises(ValueError, match="NaN or infinite"):
        runtime.normalise([0.0, np.nan], (0, 1))
    with pytest.raises(ValueError, match="q > p"):
        runtime.normalise([0.0], (1.0, 1.0))
    assert np.isnan(runtime.normalise([np.nan], (0, 1), check_finite=False)[0])


def test_stream_yields_normalised_float64_batches(rng):
    x, y = rng.uniform(0, 2, (10, 3)).astype(np.float32), np.arange(10)
    batches = list(runtime.stream(x, (3,), (0, 2), y=y, batch_size=4))
    assert [len(b) for b, _ in batches] == [4, 4, 2] and runtime.num_batches(x, 4) == 3
    np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), x.astype(np.float64) / 2)
    np.testing.assert_array_equal(np.concatenate([l for _, l in batches]), y)
    onehot = [(x[:5], np.eye(3)[[0, 2, 1, 1, 0]])]
    assert list(runtime.stream(onehot, (3,), (0, 2)))[0][1].tolist() == [0, 2, 1, 1, 0]


def test_shapes_are_checked_with_a_hint():
    with pytest.raises(snnmap.ShapeError, match=r"\(4, 6\).*\(2, 3\).*reshape"):
        runtime.check_shape(np.zeros((4, 6)), (2, 3))
    with pytest.raises(snnmap.ShapeError, match="3 labels for 4 inputs"):
        list(runtime.stream(np.zeros((4, 2)), (2,), y=np.zeros(3)))


def test_floatx_is_restored():
    before = keras.config.floatx()
    with runtime.floatx("float64"):
        assert keras.config.floatx() == "float64"
    assert keras.config.floatx() == before
