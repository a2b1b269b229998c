"""The data sets snnmap knows: names, sizes, image shapes, classes, and which sources serve them.

:func:`snnmap.data.load` looks a name up here (:func:`canonical_name`, :func:`spec`) and reads
the data set through the sources its :class:`DataSetSpec` lists.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from ..errors import DataSourceError
from .dataset import count_text

#: Values accepted for the ``source`` argument of :func:`snnmap.data.load`.
SOURCES = ("auto", "tfds", "idx", "sample", "npz", "arrays")

#: The four files of a data set saved as NumPy arrays (a CIFAR copy; PLACES365 / PASS arrays).
NPY_SPLIT_FILES = ("x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy")


@dataclasses.dataclass(frozen=True)
class DataSetSpec:
    """What snnmap knows about one data set.

    Attributes
    ----------
    name : str
        Canonical name (``"FashionMNIST"``).
    display : str
        Name in descriptions and messages (``"Fashion-MNIST"``).
    image_shape : tuple of int
        Shape of one image as the sources store it (no channel axis for grey-scale images).
    num_classes : int
        Classes of the classifier the data are meant for (a default for preprocessed arrays).
    input_range : tuple of float or None
        ``(p, q)`` bounds of the inputs snnmap prepares (standardised images are clipped to it);
        ``None`` when the arrays come preprocessed and the range is read or scanned.
    preparation : str
        How snnmap turns stored images into inputs, a key of :data:`snnmap.data.prepare.PREPARATIONS`:
        ``"pixels"`` (``pixel / 255``), ``"standardised"`` (per channel, clipped) or
        ``"preprocessed"`` (used as stored).
    sources : tuple of str
        The values of ``source`` that exist for it, besides ``"auto"``, in the order
        :func:`snnmap.data.available_sources` reports them.
    auto : tuple of str
        The sources ``source="auto"`` tries, in order, when no ``data_dir`` is given.
    dir_source : str
        The source ``source="auto"`` reads ``data_dir`` with.
    official_sizes : tuple of int or None
        ``(n_train, n_test)`` of the official splits; ``None`` when snnmap does not prepare the data.
    aliases : tuple of str
        Further spellings :func:`canonical_name` accepts (compared like the name).
    tfds_name : str or None
        Name in TensorFlow Datasets.
    system_dir : str or None
        Directory where a system package installs its IDX files (tried by ``"auto"`` after TFDS).
    npz_file : str or None
        File name of a user's own ``.npz`` copy (CIFAR).
    labelled : bool
        Whether test labels are required (PASS has none: ``-1``).
    when_missing : callable or None
        ``when_missing(spec, reasons)`` returns the :class:`snnmap.errors.DataSourceError` raised
        when every source of :attr:`auto` was passed over (``reasons``: their
        :class:`snnmap.data.reader.Unavailable`); ``None`` for a generic message.
    """

    name: str
    display: str
    image_shape: tuple
    num_classes: int
    input_range: tuple | None
    preparation: str
    sources: tuple
    auto: tuple
    dir_source: str
    official_sizes: tuple | None = None
    aliases: tuple = ()
    tfds_name: str | None = None
    system_dir: str | None = None
    npz_file: str | None = None
    labelled: bool = True
    when_missing: Callable | None = None

    def sizes_description(self, where: str, n_train: int, n_test: int) -> tuple[str, bool]:
        """Start of the description of data read from ``where``, and whether the splits are full.

        Parameters
        ----------
        where : str
            The source in words ("IDX files in /dir").
        n_train, n_test : int
            Sizes of the splits read.

        Returns
        -------
        description : str
        full : bool
            Whether ``(n_train, n_test)`` are the official sizes.
        """
        official = self.official_sizes
        if (n_train, n_test) == official:
            return (f"{self.display}, full ({count_text(n_train)} train / {count_text(n_test)} test) "
                    f"from {where}"), True
        return (f"{self.display}, {count_text(n_train)} train / {count_text(n_test)} test images from "
                f"{where}; NOT the complete official splits ({count_text(official[0])} / "
                f"{count_text(official[1])})"), False


def _fashion_missing(spec: DataSetSpec, reasons: list) -> DataSourceError:
    """Neither TFDS nor the system's IDX files hold Fashion-MNIST."""
    return DataSourceError(
        f"cannot find {spec.display} anywhere: " + "; ".join(r.reason for r in reasons) + ". "
        f"Options: (1) allow TFDS to download '{spec.tfds_name}' (network access) or point "
        "TFDS_DATA_DIR / tfds_data_dir at a prepared copy; (2) 'apt-get install dataset-fashion-mnist' "
        f"(installs IDX files in {spec.system_dir}); (3) pass data_dir= with the four Fashion-MNIST IDX files",
        argument="data_dir")


def _cifar_missing(spec: DataSetSpec, reasons: list) -> DataSourceError:
    """TFDS does not hold CIFAR (and no copy of the user's own was given)."""
    failure = reasons[-1].__cause__ or reasons[-1]
    error = DataSourceError(
        f"cannot load {spec.display}: it needs TensorFlow Datasets ('{spec.tfds_name}'), either a download "
        "(network access) or a copy prepared with TFDS on another machine and found through "
        "TFDS_DATA_DIR / tfds_data_dir, unless you pass a copy of your own with data_dir= (source 'npz' or "
        f"'auto'): a directory holding {spec.npz_file} or {', '.join(NPY_SPLIT_FILES)}. TFDS failed: {failure}",
        argument="data_dir")
    error.__cause__ = failure
    return error


_MNIST_SOURCES = dict(image_shape=(28, 28), num_classes=10, input_range=(0.0, 1.0), preparation="pixels",
                      sources=("tfds", "idx", "sample"), dir_source="idx", official_sizes=(60000, 10000))
_CIFAR_SOURCES = dict(image_shape=(32, 32, 3), input_range=(-3.0, 3.0), preparation="standardised",
                      sources=("tfds", "npz"), auto=("tfds",), dir_source="npz", official_sizes=(50000, 10000),
                      when_missing=_cifar_missing)
_ARRAY_SOURCES = dict(image_shape=(224, 224, 3), input_range=None, preparation="preprocessed", sources=("arrays",),
                      auto=("arrays",), dir_source="arrays")

#: The data sets, by canonical name.
DATASETS = {spec.name: spec for spec in (
    DataSetSpec("MNIST", "MNIST", auto=("tfds", "sample"), tfds_name="mnist", **_MNIST_SOURCES),
    # "fMNIST" is the original exact-mapping code's name (its flag files say --data_name fMNIST).
    DataSetSpec("FashionMNIST", "Fashion-MNIST", auto=("tfds", "idx"), tfds_name="fashion_mnist", aliases=("fMNIST",),
                system_dir="/usr/share/datasets/fashion-mnist", when_missing=_fashion_missing,
                **_MNIST_SOURCES),
    DataSetSpec("CIFAR10", "CIFAR-10", num_classes=10, tfds_name="cifar10", npz_file="cifar10.npz",
                **_CIFAR_SOURCES),
    DataSetSpec("CIFAR100", "CIFAR-100", num_classes=100, tfds_name="cifar100", npz_file="cifar100.npz",
                **_CIFAR_SOURCES),
    DataSetSpec("PLACES365", "Places365", num_classes=365, **_ARRAY_SOURCES),
    # PASS images are evaluated with an ImageNet (1000-class) classifier: agreement only, no labels.
    DataSetSpec("PASS", "PASS", num_classes=1000, labelled=False, **_ARRAY_SOURCES),
)}

#: Canonical names of the data sets :func:`snnmap.data.load` can load.
SUPPORTED_NAMES = tuple(DATASETS)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "-_ ")


def canonical_name(data_name: str, datasets: dict | None = None) -> str:
    """Map a user-supplied data-set name to its canonical form.

    Matching ignores case, ``-``, ``_`` and spaces, so ``"Fashion-MNIST"``,
    ``"fashion_mnist"`` and ``"FashionMNIST"`` are all accepted, as are
    ``"cifar-10"``, ``"CIFAR_100"``, ``"Places-365"`` or ``"pass"``; a data set's
    aliases too (``"fMNIST"``, the original code's name of Fashion-MNIST).

    Parameters
    ----------
    data_name : str
        The name as given.
    datasets : dict, optional
        Registry to look in (default :data:`DATASETS`).

    Returns
    -------
    str
        The canonical name, a key of the registry.

    Raises
    ------
    ValueError
        For anything else; the message lists the supported names.
    """
    datasets = DATASETS if datasets is None else datasets
    names = ", ".join(datasets)
    if not isinstance(data_name, str):
        raise ValueError(f"data set name must be a string, got {data_name!r}; supported names: {names}")
    key = _key(data_name)
    for spec in datasets.values():
        if key in {_key(spec.name)} | {_key(alias) for alias in spec.aliases}:
            return spec.name
    raise ValueError(
        f"unknown data set {data_name!r}; supported names: {names} (case, '-' and '_' are ignored, e.g. "
        "'fashion_mnist', 'Fashion-MNIST', 'fMNIST' or 'cifar-10')")
