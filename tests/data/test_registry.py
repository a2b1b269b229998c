"""The registry of data sets (snnmap.data.registry), argument checks of load, and the package's surface."""

import os
import subprocess
import sys

import pytest

from snnmap import data as D
from snnmap import errors


@pytest.mark.parametrize("spelling,canonical", [
    ("MNIST", "MNIST"), ("mnist", "MNIST"), ("FashionMNIST", "FashionMNIST"),
    ("Fashion-MNIST", "FashionMNIST"), ("fashion_mnist", "FashionMNIST"),
    ("FASHION-mnist", "FashionMNIST"), ("fashionmnist", "FashionMNIST"),
    ("CIFAR10", "CIFAR10"), ("cifar-10", "CIFAR10"), ("Cifar_10", "CIFAR10"),
    ("cifar100", "CIFAR100"), ("cifar_100", "CIFAR100"),
    ("CIFAR-100", "CIFAR100"), ("places365", "PLACES365"),
    ("Places-365", "PLACES365"), ("pass", "PASS"), ("PASS", "PASS"),
])
def test_name_spellings(spelling, canonical):
    assert D.canonical_name(spelling) == canonical


def test_registry_covers_the_supported_names():
    assert D.SUPPORTED_NAMES == ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "PLACES365", "PASS")
    for name in D.SUPPORTED_NAMES:
        spec = D.DATASETS[name]
        assert spec.name == name
        assert set(spec.auto) <= set(spec.sources) and spec.dir_source in spec.sources
        assert set(spec.sources) <= set(D.SOURCES) - {"auto"}


def test_unknown_name_lists_supported_names():
    with pytest.raises(ValueError, match="MNIST, FashionMNIST, CIFAR10"):
        D.load("ImageNet")
    with pytest.raises(ValueError, match="supported names"):
        D.available_sources("kmnist")
    with pytest.raises(ValueError, match="must be a string"):
        D.canonical_name(10)


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


def test_sources_that_do_not_exist_for_a_data_set(tmp_path):
    for name, source in (("CIFAR10", "idx"), ("CIFAR100", "sample"),
                         ("CIFAR10", "arrays"), ("PASS", "tfds"),
                         ("PLACES365", "npz"), ("MNIST", "npz"),
                         ("FashionMNIST", "arrays")):
        with pytest.raises(ValueError, match="does not exist for"):
            D.load(name, source=source, data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="cannot be combined") as err:
        D.load("CIFAR10", source="tfds", data_dir=str(tmp_path))
    assert "source='npz'" in str(err.value)


def test_errors_live_in_snnmap_errors():
    assert D.DataSourceError is errors.DataSourceError
    assert D.SampleDataWarning is errors.SampleDataWarning
    # existing ``except RuntimeError`` clauses still catch it, and so does ``except SnnmapError``
    assert issubclass(D.DataSourceError, RuntimeError) and issubclass(D.DataSourceError, errors.SnnmapError)
    assert issubclass(D.SampleDataWarning, UserWarning)
    assert D.DataSourceError("gone").argument is None
    assert D.DataSourceError("gone", argument="data_dir").argument == "data_dir"


def test_package_import_is_lightweight():
    """snnmap.data imports no TensorFlow / TFDS / Keras, and defines no absl flag.

    The package is imported under a bare parent package (not through ``snnmap/__init__``, which
    may legitimately import Keras for the rest of the package).
    """
    code = (
        "import sys, types\n"
        "parent = types.ModuleType('snnmap')\n"
        "parent.__path__ = [sys.argv[1]]\n"
        "sys.modules['snnmap'] = parent\n"
        "import snnmap.data\n"
        "assert snnmap.data.load and snnmap.data.DataSet\n"
        "heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'keras', 'absl.flags')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n")
    package = os.path.dirname(os.path.dirname(D.__file__))
    subprocess.run([sys.executable, "-c", code, package], check=True)
