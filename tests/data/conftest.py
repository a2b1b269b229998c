"""Fixtures of the data tests: offline loaders and writers of small data files (all offline)."""

import gzip
import json
import os
import types

import numpy as np
import pytest

from snnmap.data import Loader
from snnmap.data.tfds import TfdsReader

IMG = (224, 224, 3)


@pytest.fixture
def offline():
    """A Loader whose TFDS reader finds no network; ``probes`` records each connectivity check."""
    probes = []

    def no_network(*args, **kwargs):
        probes.append((args, kwargs))
        return False

    return types.SimpleNamespace(loader=Loader(readers={"tfds": TfdsReader(network_available=no_network)}),
                                 probes=probes)


@pytest.fixture
def no_download(monkeypatch):
    """Record (and refuse) any TFDS download_and_prepare call."""
    tfds = pytest.importorskip("tensorflow_datasets")
    calls = []

    def refuse(self, *args, **kwargs):
        calls.append(self.name)
        raise RuntimeError("download attempted in an offline test")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)
    return calls


def _write_idx(path, array, compress=False):
    """Write ``array`` (uint8) as an IDX file, optionally gzip-compressed."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    if compress:
        payload = gzip.compress(payload)
    with open(path, "wb") as fh:
        fh.write(payload)
    return str(path)


def _make_idx_dir(directory, n_train=12, n_test=5, style="dash", compress=False, seed=1):
    """Create a small MNIST-like IDX directory; return the raw arrays by file stem."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
        "train-labels": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
        "t10k-labels": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    os.makedirs(directory, exist_ok=True)
    sep = "-" if style == "dash" else "."
    for stem, arr in arrays.items():
        name = f"{stem}{sep}idx{arr.ndim}-ubyte" + (".gz" if compress else "")
        _write_idx(os.path.join(directory, name), arr, compress)
    return arrays


@pytest.fixture
def write_idx():
    """``write_idx(path, array, compress=False)``: one IDX file; returns its path."""
    return _write_idx


@pytest.fixture
def make_idx_dir():
    """``make_idx_dir(directory, n_train=12, n_test=5, style="dash"|"dot", compress=False)``."""
    return _make_idx_dir


def _make_cifar_arrays(n_train=20, n_test=8, num_classes=10, seed=5, label_shape="flat"):
    """Small CIFAR-like uint8 arrays.

    Training pixels lie in [90, 160] (so no standardised training value is
    clipped); the test set contains 0 and 255, which lie far outside 3
    standard deviations and must be clipped.
    """
    rng = np.random.default_rng(seed)
    x_train = rng.integers(90, 161, (n_train, 32, 32, 3), np.uint8)
    x_train[..., 1] //= 2  # channels with different statistics
    x_test = rng.integers(0, 256, (n_test, 32, 32, 3), np.uint8)
    x_test[0, 0, 0] = 0
    x_test[0, 0, 1] = 255
    y_train = rng.integers(0, num_classes, n_train)
    y_test = rng.integers(0, num_classes, n_test)
    y_train[0] = num_classes - 1
    if label_shape == "column":  # keras.datasets layout
        y_train, y_test = y_train[:, None], y_test[:, None]
    return {"x_train": x_train, "y_train": y_train.astype(np.uint8),
            "x_test": x_test, "y_test": y_test.astype(np.int32)}


def _expected_cifar(arrays):
    """Reference preprocessing in float64: mean, std, standardised train and test images."""
    train = arrays["x_train"].reshape(-1, 3) / 255.0
    mean, std = train.mean(axis=0), train.std(axis=0)

    def convert(x):
        return np.clip((x / 255.0 - mean) / std, -3.0, 3.0)

    return mean, std, convert(arrays["x_train"]), convert(arrays["x_test"])


def _write_cifar_dir(directory, arrays, layout="npy", npz_name="cifar10.npz"):
    os.makedirs(directory, exist_ok=True)
    if layout == "npz":
        np.savez(os.path.join(directory, npz_name), **arrays)
    else:
        for key, value in arrays.items():
            np.save(os.path.join(directory, f"{key}.npy"), value)
    return str(directory)


@pytest.fixture
def cifar():
    """Builders of CIFAR-like data: ``arrays(...)``, ``expected(arrays)``, ``write_dir(directory, arrays,
    layout="npy"|"npz", npz_name=...)``."""
    return types.SimpleNamespace(arrays=_make_cifar_arrays, expected=_expected_cifar, write_dir=_write_cifar_dir)


def _make_arrays_dir(directory, n_test=7, n_train=None, labels=True, num_classes=365, meta=None, seed=9):
    """Tiny preprocessed-array directory; returns the arrays written."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    written = {"x_test": (rng.normal(size=(n_test,) + IMG) * 50).astype(np.float32)}
    if labels:
        written["y_test"] = rng.integers(0, num_classes, n_test)
    if n_train is not None:
        written["x_train"] = (rng.normal(size=(n_train,) + IMG) * 40).astype(np.float32)
    for key, value in written.items():
        np.save(os.path.join(directory, f"{key}.npy"), value)
    if meta is not None:
        with open(os.path.join(directory, "meta.json"), "w") as fh:
            json.dump(meta, fh)
    return written


@pytest.fixture
def make_arrays_dir():
    """``make_arrays_dir(directory, n_test=7, n_train=None, labels=True, num_classes=365, meta=None)``."""
    return _make_arrays_dir


def _check_parts(load, whole, num_parts):
    """Load all parts; check union == whole (in order), disjoint, described."""
    parts = [load(part) for part in range(num_parts)]
    bounds = [p.test_indices for p in parts]
    assert bounds[0][0] == 0 and bounds[-1][1] == whole.n_test
    for (_, stop), (start, _) in zip(bounds, bounds[1:]):
        assert stop == start  # contiguous and disjoint
    np.testing.assert_array_equal(np.concatenate([np.asarray(p.x_test) for p in parts]), np.asarray(whole.x_test))
    np.testing.assert_array_equal(np.concatenate([p.y_test for p in parts]), whole.y_test)
    for part, ds in enumerate(parts):
        start, stop = ds.test_indices
        assert ds.n_test == stop - start
        assert f"part {part} of {num_parts}: test images " in ds.description
        assert ds.summary()["test_indices"] == [start, stop]
        assert ds.n_train == whole.n_train  # training split unaffected
    return parts


@pytest.fixture
def check_parts():
    """``check_parts(load, whole, num_parts)``: the parts tile the whole test split; returns them."""
    return _check_parts
