"""TensorFlow Datasets as a source, and source="auto" around it (snnmap.data.tfds); all offline."""

import logging
import socket

import numpy as np
import pytest

from snnmap import data as D
from snnmap.data.tfds import TfdsReader, network_available


def test_auto_mnist_falls_back_to_sample_with_warning(tmp_path, offline, no_download, caplog):
    with caplog.at_level(logging.WARNING):
        with pytest.warns(D.SampleDataWarning) as record:
            ds = offline.loader.load("MNIST", tfds_data_dir=str(tmp_path))
    assert ds.source == "mnist-5k-sample"
    assert ds.full is False
    assert ds.x_test.shape == (1000, 28, 28, 1)
    warning = record[0].message
    message = str(warning)
    assert "5,000-image" in message and "NOT the full data set" in message
    # names the argument to give, which a command line maps to its own option
    assert "data_dir=" in message and "TFDS" in message and "--" not in message
    assert warning.argument == "data_dir"
    assert str(tmp_path) in message  # says where TFDS looked
    assert record[0].filename == __file__  # points at the caller's line
    # shown once: as the Python warning, not a second time through the log
    assert not any("5,000-image" in r.getMessage() for r in caplog.records)
    assert offline.probes, "connectivity check was not consulted"
    assert no_download == [], "a download was attempted although offline"


def test_auto_honours_tfds_data_dir_env(tmp_path, monkeypatch, offline, no_download):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_env"))
    with pytest.warns(D.SampleDataWarning, match="tfds_env"):
        ds = offline.loader.load("MNIST")
    assert ds.source == "mnist-5k-sample"
    assert no_download == []


def test_tfds_source_offline_raises(tmp_path, offline, no_download):
    with pytest.raises(D.DataSourceError, match="no network") as err:
        offline.loader.load("MNIST", source="tfds", tfds_data_dir=str(tmp_path))
    assert "mnist" in str(err.value) and str(tmp_path) in str(err.value)
    assert no_download == []


def test_tfds_download_failure_is_reported(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    online = D.Loader(readers={"tfds": TfdsReader(network_available=lambda *a, **k: True)})

    def fail(self, *args, **kwargs):
        raise OSError("simulated outage")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    with pytest.raises(D.DataSourceError, match="simulated outage"):
        online.load("MNIST", source="tfds", tfds_data_dir=str(tmp_path))
    with pytest.warns(D.SampleDataWarning, match="simulated outage"):
        ds = online.load("MNIST", tfds_data_dir=str(tmp_path))
    assert ds.source == "mnist-5k-sample"


def test_tfds_prepared_copy_is_converted(monkeypatch, tmp_path, offline):
    """A (fake) prepared TFDS copy is used without network and converted."""
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    raw = {
        "train": (rng.integers(0, 256, (60000, 28, 28, 1), np.uint8), rng.integers(0, 10, 60000)),
        "test": (rng.integers(0, 256, (10000, 28, 28, 1), np.uint8), rng.integers(0, 10, 10000)),
    }

    class FakeBuilder:
        data_dir = str(tmp_path / "mnist" / "3.0.1")

        def is_prepared(self):
            return True

        def download_and_prepare(self, *args, **kwargs):
            raise AssertionError("must not download a prepared copy")

        def as_dataset(self, split, batch_size):
            assert batch_size == -1
            images, labels = raw[split]
            return {"image": tf.constant(images), "label": tf.constant(labels, dtype=tf.int64)}

    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: FakeBuilder())
    ds = offline.loader.load("MNIST", tfds_data_dir=str(tmp_path), max_test=500)
    assert ds.source == "tfds" and ds.full is True
    assert ds.x_train.shape == (60000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_test.shape == (500, 28, 28, 1)
    np.testing.assert_array_equal(ds.y_test, raw["test"][1][:500])
    np.testing.assert_allclose(ds.x_train[:3, ..., 0] * 255, raw["train"][0][:3, ..., 0])
    assert ds.location == FakeBuilder.data_dir
    assert ds.description == (
        "MNIST, full (60,000 train / 10,000 test) from TensorFlow Datasets "
        f"'mnist' in {FakeBuilder.data_dir}; using first 500 of the 10,000 "
        "test images")
    assert offline.probes == []  # prepared copy: no connectivity check needed
    assert offline.loader.available_sources("MNIST", tfds_data_dir=str(tmp_path))["tfds"] is True


def test_network_probe_is_local_and_bounded():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert network_available("127.0.0.1", port, timeout=2.0) is True
    # the port is closed now: connection refused -> False, no exception
    assert network_available("127.0.0.1", port, timeout=2.0) is False


def test_cifar_auto_offline_needs_tfds(tmp_path, offline, no_download):
    for name, tfds_name in (("CIFAR10", "cifar10"), ("cifar-100", "cifar100")):
        with pytest.raises(D.DataSourceError) as err:
            offline.loader.load(name, tfds_data_dir=str(tmp_path))
        message = str(err.value)
        assert "needs TensorFlow Datasets" in message
        assert f"'{tfds_name}'" in message
        assert "TFDS_DATA_DIR / tfds_data_dir" in message
        assert "data_dir=" in message and "x_train.npy" in message and "--" not in message
        assert err.value.argument == "data_dir"
        assert str(tmp_path) in message  # where TFDS looked
        assert "no network" in message
    with pytest.raises(D.DataSourceError, match="no network") as err:
        offline.loader.load("CIFAR10", source="tfds", tfds_data_dir=str(tmp_path))
    assert "source='npz'" in str(err.value)
    assert offline.probes, "connectivity check was not consulted"
    assert no_download == []


def test_cifar_tfds_prepared_copy(monkeypatch, tmp_path, offline, cifar):
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    raw = cifar.arrays(n_train=12, n_test=6)
    requested = []

    class FakeBuilder:
        data_dir = str(tmp_path / "cifar10" / "3.0.2")

        def is_prepared(self):
            return True

        def as_dataset(self, split, batch_size):
            images, labels = raw[f"x_{split}"], raw[f"y_{split}"]
            return {"image": tf.constant(images), "label": tf.constant(labels.astype(np.int64))}

    def builder(name, data_dir=None):
        requested.append(name)
        return FakeBuilder()

    monkeypatch.setattr(tfds, "builder", builder)
    ds = offline.loader.load("CIFAR10", tfds_data_dir=str(tmp_path), part=1, num_parts=2)
    assert requested == ["cifar10"]
    assert ds.source == "tfds" and ds.x_test.shape == (3, 32, 32, 3)
    _, _, _, x_test = cifar.expected(raw)
    np.testing.assert_allclose(ds.x_test, x_test[3:], atol=2e-6)
    assert ds.test_indices == (3, 6)
    assert ds.description == (
        "CIFAR-10, 12 train / 6 test images from TensorFlow Datasets "
        f"'cifar10' in {FakeBuilder.data_dir}; NOT the complete official "
        "splits (50,000 / 10,000); inputs standardised per channel with the "
        "training-set mean/std and clipped to [-3, 3]; part 1 of 2: test "
        "images 3-5")
    assert offline.probes == []
