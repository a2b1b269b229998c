"""IDX files (snnmap.data.idx): the reader, IDX directories, and Fashion-MNIST's system copy."""

import dataclasses
import gzip
import os

import numpy as np
import pytest

from snnmap import data as D

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
SKIP_FASHION = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason=f"{FASHION_DIR} not present (install the Debian package 'dataset-fashion-mnist' to run this test)")


@pytest.fixture(scope="module")
def fashion_images():
    if not os.path.isdir(FASHION_DIR):
        pytest.skip(f"{FASHION_DIR} not present (install the Debian package 'dataset-fashion-mnist' to run this test)")
    return D.load("FashionMNIST", source="idx")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_read_idx_round_trip(tmp_path, compress, write_idx):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    labels = np.array([7, 0, 9], np.uint8)
    suffix = ".gz" if compress else ""
    read = D.read_idx(write_idx(tmp_path / f"img{suffix}", images, compress))
    assert read.dtype == np.uint8 and read.shape == (3, 28, 28)
    np.testing.assert_array_equal(read, images)
    np.testing.assert_array_equal(D.read_idx(write_idx(tmp_path / f"lbl{suffix}", labels, compress)), labels)


@pytest.mark.parametrize("style", ["dash", "dot"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_load_idx_directory(tmp_path, style, compress, make_idx_dir):
    raw = make_idx_dir(tmp_path, style=style, compress=compress)
    for source in ("idx", "auto"):
        ds = D.load("mnist", source=source, data_dir=str(tmp_path))
        assert ds.source == "idx" and ds.location == str(tmp_path)
        assert ds.full is False
        assert ds.x_train.shape == (12, 28, 28, 1)
        assert ds.x_test.shape == (5, 28, 28, 1)
        assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int64
        np.testing.assert_array_equal(ds.x_train[..., 0], raw["train-images"].astype(np.float32) / 255)
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


def test_missing_data_directory(tmp_path, write_idx):
    missing = tmp_path / "nowhere"
    with pytest.raises(D.DataSourceError, match="does not exist") as err:
        D.load("mnist", data_dir=str(missing))
    assert str(missing) in str(err.value)
    assert err.value.argument == "data_dir" and "--" not in str(err.value)
    with pytest.raises(D.DataSourceError, match="not a directory"):
        D.load("mnist", data_dir=write_idx(tmp_path / "f", np.zeros(3)))


def test_missing_idx_file_is_named(tmp_path, make_idx_dir):
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


def test_image_label_count_mismatch(tmp_path, make_idx_dir, write_idx):
    make_idx_dir(tmp_path, n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11))
    with pytest.raises(D.DataSourceError, match="12 images but .* has 11 labels"):
        D.load("mnist", data_dir=str(tmp_path))


def test_images_must_be_28x28(tmp_path, make_idx_dir, write_idx):
    make_idx_dir(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 32, 32)))
    with pytest.raises(D.DataSourceError, match="28 x 28") as err:
        D.load("mnist", data_dir=str(tmp_path))
    assert "t10k-images-idx3-ubyte" in str(err.value)


def test_labels_must_be_class_indices(tmp_path, make_idx_dir, write_idx):
    make_idx_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(12, 10))
    with pytest.raises(D.DataSourceError, match="label 10"):
        D.load("mnist", data_dir=str(tmp_path))


def test_idx_source_needs_a_directory_for_mnist():
    with pytest.raises(D.DataSourceError, match="needs data_dir") as err:
        D.load("MNIST", source="idx")
    assert err.value.argument == "data_dir"


# --------------------------------------------------------------------------
# Fashion-MNIST (Debian package dataset-fashion-mnist)
# --------------------------------------------------------------------------

def test_fashion_mnist_from_system_idx(fashion_images):
    fashion = fashion_images
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
        f"Fashion-MNIST, full (60,000 train / 10,000 test) from IDX files in {FASHION_DIR}")


@SKIP_FASHION
def test_fashion_auto_uses_system_idx_when_tfds_unavailable(tmp_path, offline, no_download, fashion_images):
    ds = offline.loader.load("fashion_mnist", tfds_data_dir=str(tmp_path), max_test=500)
    assert ds.source == "idx" and ds.location == FASHION_DIR
    assert ds.full is True  # describes the untruncated splits
    assert ds.x_test.shape == (500, 28, 28, 1)
    np.testing.assert_array_equal(ds.y_test, fashion_images.y_test[:500])
    assert ds.description.endswith("; using first 500 of the 10,000 test images")
    assert ds.summary()["n_test"] == 500
    assert offline.probes, "TFDS was not tried first"
    assert no_download == []


def test_fashion_auto_without_any_source(tmp_path, offline, no_download):
    spec = dataclasses.replace(D.DATASETS["FashionMNIST"], system_dir=str(tmp_path / "absent"))
    loader = D.Loader(readers=offline.loader.readers, datasets={**D.DATASETS, "FashionMNIST": spec})
    with pytest.raises(D.DataSourceError) as err:
        loader.load("FashionMNIST", tfds_data_dir=str(tmp_path))
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data_dir=" in message and "TFDS" in message and "--" not in message
    assert f"no IDX files at {tmp_path / 'absent'}" in message
    assert err.value.argument == "data_dir"


@SKIP_FASHION
def test_parts_on_fashion_mnist(check_parts, fashion_images):
    parts = check_parts(lambda part: D.load("FashionMNIST", source="idx", part=part, num_parts=4),
                        fashion_images, 4)
    assert parts[2].test_indices == (5000, 7500)
    assert parts[2].description == (
        "Fashion-MNIST, full (60,000 train / 10,000 test) from IDX files in "
        f"{FASHION_DIR}; part 2 of 4: test images 5,000-7,499")
    assert parts[2].full is True


@SKIP_FASHION
def test_parts_apply_after_max_test_on_fashion_mnist(check_parts):
    first = D.load("FashionMNIST", source="idx", max_test=1001)
    parts = check_parts(
        lambda part: D.load("FashionMNIST", source="idx", max_test=1001, part=part, num_parts=3, flat=True),
        D.load("FashionMNIST", source="idx", max_test=1001, flat=True), 3)
    assert [p.test_indices for p in parts] == [(0, 334), (334, 668), (668, 1001)]
    np.testing.assert_array_equal(parts[1].y_test, first.y_test[334:668])
    assert parts[2].description.endswith(
        "; using first 1,001 of the 10,000 test images; part 2 of 3: test images 668-1,000")


def test_parts_on_idx_files(tmp_path, make_idx_dir, check_parts):
    make_idx_dir(tmp_path, n_train=6, n_test=11)
    whole = D.load("mnist", data_dir=str(tmp_path))
    check_parts(lambda part: D.load("mnist", data_dir=str(tmp_path), part=part, num_parts=3), whole, 3)


def test_available_sources(tmp_path):
    mnist = D.available_sources("mnist", tfds_data_dir=str(tmp_path))
    assert mnist == {"tfds": False, "idx": False, "sample": True}
    fashion = D.available_sources("Fashion-MNIST", tfds_data_dir=str(tmp_path))
    assert fashion == {"tfds": False, "idx": os.path.isdir(FASHION_DIR), "sample": False}
