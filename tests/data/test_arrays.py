"""NumPy arrays (snnmap.data.arrays): a user's own CIFAR copy, and PLACES365 / PASS arrays."""

import dataclasses
import json
import os

import numpy as np
import pytest

from snnmap import data as D
from snnmap.data.arrays import ArraysReader

IMG = (224, 224, 3)


# --------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100
# --------------------------------------------------------------------------

@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_cifar_npy_standardisation_and_clipping(tmp_path, label_shape, cifar):
    raw = cifar.arrays(label_shape=label_shape)
    directory = cifar.write_dir(tmp_path, raw)
    ds = D.load("cifar-10", source="npz", data_dir=directory)
    mean, std, x_train, x_test = cifar.expected(raw)

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
    assert prep["formula"] == "clip((pixel / 255 - mean[c]) / std[c], -3, 3)"
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


def test_cifar100_npz_full_flat_and_max_train(tmp_path, cifar):
    raw = cifar.arrays(n_train=30, n_test=9, num_classes=100)
    directory = cifar.write_dir(tmp_path, raw, "npz", "cifar100.npz")
    # a registry whose official CIFAR-100 sizes are these, to check ``full``
    spec = dataclasses.replace(D.DATASETS["CIFAR100"], official_sizes=(30, 9))
    loader = D.Loader(datasets={**D.DATASETS, "CIFAR100": spec})
    ds = loader.load("CIFAR_100", data_dir=directory)  # auto + data_dir -> npz
    assert ds.source == "npz" and ds.num_classes == 100 and ds.full is True
    assert ds.description.startswith(
        f"CIFAR-100, full (30 train / 9 test) from cifar100.npz in {directory}; inputs standardised")
    assert int(ds.y_train.max()) == 99
    assert D.load("CIFAR_100", data_dir=directory).full is False  # the real official sizes

    flat = loader.load("cifar100", source="npz", data_dir=directory, flat=True)
    assert flat.x_train.shape == (30, 3072) and flat.x_test.shape == (9, 3072)
    np.testing.assert_array_equal(flat.x_test, ds.x_test.reshape(9, -1))
    assert flat.summary()["input_shape"] == [3072]

    # statistics come from the whole training split, not the first max_train
    cut = loader.load("cifar100", source="npz", data_dir=directory, max_train=3, max_test=4)
    assert cut.preprocessing == ds.preprocessing
    assert cut.x_train.shape[0] == 3
    np.testing.assert_array_equal(cut.x_test, ds.x_test[:4])
    assert cut.full is True
    assert cut.description.endswith(
        "; using first 3 of the 30 training images and first 4 of the 9 test images")


def test_cifar_npz_errors(tmp_path, cifar):
    raw = cifar.arrays()
    with pytest.raises(D.DataSourceError, match="needs data_dir") as err:
        D.load("CIFAR10", source="npz")
    assert err.value.argument == "data_dir"
    with pytest.raises(D.DataSourceError, match="does not exist") as err:
        D.load("CIFAR10", source="npz", data_dir=str(tmp_path / "nowhere"))
    assert "data_dir=" in str(err.value) and "--" not in str(err.value)

    # only a CIFAR-100 archive there
    other = cifar.write_dir(tmp_path / "c100", raw, "npz", "cifar100.npz")
    with pytest.raises(D.DataSourceError) as err:
        D.load("CIFAR10", data_dir=other)
    assert "cifar10.npz" in str(err.value)
    assert "it holds cifar100.npz" in str(err.value)

    # a missing .npy file is named
    directory = cifar.write_dir(tmp_path / "npy", raw)
    os.remove(os.path.join(directory, "y_test.npy"))
    with pytest.raises(D.DataSourceError, match="missing: y_test.npy"):
        D.load("CIFAR10", source="npz", data_dir=directory)

    # float images are rejected, naming the file
    bad = dict(raw, x_train=raw["x_train"].astype(np.float32))
    directory = cifar.write_dir(tmp_path / "float", bad)
    with pytest.raises(D.DataSourceError, match="uint8 N x 32 x 32 x 3") as err:
        D.load("CIFAR10", source="npz", data_dir=directory)
    assert os.path.join(directory, "x_train.npy") in str(err.value)

    # labels beyond the number of classes
    bad = dict(raw, y_test=np.full(8, 10))
    directory = cifar.write_dir(tmp_path / "labels", bad)
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
    directory = cifar.write_dir(tmp_path / "constant", bad)
    with pytest.raises(D.DataSourceError, match="constant"):
        D.load("CIFAR10", source="npz", data_dir=directory)


def test_available_sources_cifar(tmp_path, cifar):
    assert D.available_sources("cifar10", tfds_data_dir=str(tmp_path)) == {"tfds": False, "npz": False}
    directory = cifar.write_dir(tmp_path / "own", cifar.arrays())
    assert D.available_sources("cifar10", tfds_data_dir=str(tmp_path), data_dir=directory) == \
        {"tfds": False, "npz": True}


# --------------------------------------------------------------------------
# PLACES365 / PASS: preprocessed arrays
# --------------------------------------------------------------------------

def test_places_arrays_are_memory_mapped(tmp_path, make_arrays_dir):
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
    assert ds.input_range == (float(raw["x_train"].min()), float(raw["x_train"].max()))
    low, high = ds.input_range
    assert ds.description == (
        "Places365, 7 test images (with labels) and 3 calibration (training) "
        f"images from x_train.npy, preprocessed arrays in {tmp_path}; input "
        f"range [{low:g}, {high:g}] = min/max of x_train.npy")
    summary = ds.summary()
    json.dumps(summary)
    assert summary["input_shape"] == [224, 224, 3]
    assert summary["preprocessing"] is None

    flat = D.load("PLACES365", source="arrays", data_dir=str(tmp_path), flat=True, max_test=5)
    assert isinstance(flat.x_test, np.memmap)
    assert flat.x_test.shape == (5, 224 * 224 * 3)
    np.testing.assert_array_equal(flat.x_test, raw["x_test"][:5].reshape(5, -1))
    assert flat.input_range == ds.input_range  # range ignores max_test


def test_arrays_meta_json_is_honoured(tmp_path, make_arrays_dir):
    raw = make_arrays_dir(tmp_path, n_test=4, num_classes=10, meta={
        "input_range": [-123.68, 151.061], "num_classes": 10,
        "description": "Places365 val, caffe preprocessing"})
    # a NaN in x_test: a scan of the images for their range would fail, so the range must come from meta.json
    raw["x_test"][0, 0, 0, 0] = np.nan
    np.save(tmp_path / "x_test.npy", raw["x_test"])
    ds = D.load("PLACES365", data_dir=str(tmp_path))
    assert ds.input_range == (-123.68, 151.061)
    assert ds.num_classes == 10
    assert "(Places365 val, caffe preprocessing)" in ds.description
    assert "input range [-123.68, 151.061] from meta.json" in ds.description
    # without the range in meta.json the same images are scanned, and the NaN is found
    (tmp_path / "meta.json").write_text('{"num_classes": 10}')
    with pytest.raises(D.DataSourceError, match="NaN"):
        D.load("PLACES365", data_dir=str(tmp_path))


def test_arrays_default_range_streams_over_x_test(tmp_path, make_arrays_dir):
    raw = make_arrays_dir(tmp_path, n_test=5)
    # one image per chunk: the range must still be the global one
    loader = D.Loader(readers={"arrays": ArraysReader(scan_chunk_bytes=1)})
    ds = loader.load("PLACES365", data_dir=str(tmp_path))
    assert ds.input_range == (float(raw["x_test"].min()), float(raw["x_test"].max()))
    assert "= min/max of x_test.npy" in ds.description
    # no x_train.npy: an empty training set with the right trailing shape
    assert ds.x_train.shape == (0,) + IMG and ds.x_train.dtype == np.float32
    assert ds.y_train.shape == (0,) and ds.input_shape == IMG
    assert "no calibration images (x_train.npy absent, x_train is empty)" in ds.description


def test_pass_without_labels(tmp_path, make_arrays_dir):
    make_arrays_dir(tmp_path, n_test=4, labels=False)
    ds = D.load("pass", data_dir=str(tmp_path))
    assert ds.name == "PASS" and ds.num_classes == 1000
    np.testing.assert_array_equal(ds.y_test, [-1, -1, -1, -1])
    assert ds.y_test.dtype == np.int64
    assert ds.description.startswith(
        "PASS, 4 test images (no labels: y_test.npy absent, y_test = -1) and no calibration images")
    assert "no labels" in ds.summary()["description"]


def test_arrays_errors(tmp_path, make_arrays_dir):
    # data_dir is required, and the message names the argument (a command line maps it to its option)
    with pytest.raises(D.DataSourceError, match="data_dir=") as err:
        D.load("PASS")
    assert err.value.argument == "data_dir" and "--" not in str(err.value)
    with pytest.raises(D.DataSourceError, match="data_dir=") as err:
        D.load("PLACES365", data_dir=str(tmp_path / "nowhere"))
    assert "does not exist" in str(err.value)
    assert str(tmp_path / "nowhere") in str(err.value)
    assert err.value.argument == "data_dir" and "--" not in str(err.value)

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


def test_available_sources_arrays(tmp_path, make_arrays_dir):
    assert D.available_sources("PASS") == {"arrays": False}
    assert D.available_sources("places365", data_dir=str(tmp_path)) == {"arrays": False}
    make_arrays_dir(tmp_path, n_test=1)
    assert D.available_sources("places365", data_dir=str(tmp_path)) == {"arrays": True}


def test_parts_on_arrays_stay_memory_mapped(tmp_path, make_arrays_dir, check_parts):
    make_arrays_dir(tmp_path, n_test=7, n_train=2)
    whole = D.load("PLACES365", data_dir=str(tmp_path))
    parts = check_parts(lambda part: D.load("PLACES365", data_dir=str(tmp_path), part=part, num_parts=3), whole, 3)
    assert [p.test_indices for p in parts] == [(0, 3), (3, 5), (5, 7)]
    for ds in parts:
        assert isinstance(ds.x_test, np.memmap)
        assert ds.input_range == whole.input_range  # same for every part
    assert parts[1].description.endswith("; part 1 of 3: test images 3-4")


def test_more_parts_than_test_images(tmp_path, make_arrays_dir):
    make_arrays_dir(tmp_path, n_test=2, labels=False)
    last = D.load("PASS", data_dir=str(tmp_path), part=3, num_parts=4)
    assert last.n_test == 0 and last.test_indices == (2, 2)
    assert last.description.endswith("; part 3 of 4: no test images (the 2 test images all fall in other parts)")
