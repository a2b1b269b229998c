"""IDX files, the format of the original MNIST distribution (MNIST, Fashion-MNIST).

A directory holds four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), plain or gzip-compressed; it is
``data_dir``, or for Fashion-MNIST the directory of Debian's package ``dataset-fashion-mnist``.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from ..errors import DataSourceError
from .reader import Reader, Request, SourceData, Unavailable

# IDX element type codes (third byte of the magic number).  Only uint8 is
# accepted; the others are listed to give a precise error message.
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short (int16)",
    0x0C: "int (int32)",
    0x0D: "float (float32)",
    0x0E: "double (float64)",
}

# (key, file stem without the ".idxN-ubyte" part, IDX dimensionality)
_PARTS = (
    ("train_images", "train-images", 3),
    ("train_labels", "train-labels", 1),
    ("test_images", "t10k-images", 3),
    ("test_labels", "t10k-labels", 1),
)


def _read_bytes(path: str) -> bytes:
    """The content of an IDX file, decompressed when it is gzip-compressed."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise DataSourceError(f"cannot read IDX file '{path}': {exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataSourceError(
                f"IDX file '{path}' is a corrupt or truncated gzip file "
                f"({exc}); delete it and obtain a fresh copy") from exc
    if path.endswith(".gz"):
        raise DataSourceError(
            f"IDX file '{path}' has a .gz name but is not gzip-compressed; "
            "the file is probably damaged, obtain a fresh copy")
    return raw


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
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataSourceError(
            f"IDX file '{path}' is truncated: only {len(raw)} bytes, not even a 4-byte magic number")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if (zero0, zero1) != (0, 0) or type_code not in _TYPE_NAMES or ndim == 0:
        raise DataSourceError(
            f"'{path}' is not an IDX file: bad magic number 0x{raw[:4].hex()} (expected 0x0000TTDD with "
            "element type TT and number of dimensions DD >= 1)")
    if type_code != 0x08:
        raise DataSourceError(
            f"IDX file '{path}' holds elements of type 0x{type_code:02x} ({_TYPE_NAMES[type_code]}); "
            "only unsigned byte (0x08) images/labels are supported")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataSourceError(
            f"IDX file '{path}' is truncated: the header needs {header_len} "
            f"bytes for {ndim} dimension(s) but the file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)
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


def _candidates(stem: str, ndim: int) -> list[str]:
    """File names accepted for one IDX part, in order of preference."""
    names = []
    for sep in ("-", "."):
        base = f"{stem}{sep}idx{ndim}-ubyte"
        names.extend([base, base + ".gz"])
    return names


def find_idx_files(data_dir: str) -> dict[str, str]:
    """Locate the four MNIST-style IDX files in ``data_dir``.

    Parameters
    ----------
    data_dir : str
        Directory to look in; ``-`` or ``.`` before ``idxN-ubyte`` and a ``.gz`` suffix are accepted.

    Returns
    -------
    dict
        Path of each file, by ``train_images``, ``train_labels``, ``test_images``, ``test_labels``.

    Raises
    ------
    DataSourceError
        If the directory does not exist or lacks a file; the message names the missing files.
    """
    if not os.path.exists(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' does not exist; pass data_dir= "
            "pointing at a directory holding the four IDX files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz)", argument="data_dir")
    if not os.path.isdir(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' is not a directory; pass the "
            "directory that holds the four IDX files, not a file", argument="data_dir")
    found: dict[str, str] = {}
    missing: list[str] = []
    for key, stem, ndim in _PARTS:
        candidates = _candidates(stem, ndim)
        for name in candidates:
            full_path = os.path.join(data_dir, name)
            if os.path.isfile(full_path):
                found[key] = full_path
                break
        else:
            missing.append(f"{candidates[0]} (or {candidates[2]}, optionally .gz)")
    if missing:
        raise DataSourceError(
            f"data directory '{data_dir}' lacks {len(missing)} of the 4 IDX "
            f"files: {'; '.join(missing)}. Put all four files there (plain or "
            "gzip-compressed) or choose another data_dir/source", argument="data_dir")
    return found


def _check_split(spec, split: str, arrays: dict, files: dict) -> None:
    """Raise unless one split's images are N x 28 x 28 with one class index each."""
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    img_path, lbl_path = files[f"{split}_images"], files[f"{split}_labels"]
    if images.ndim != 3 or images.shape[1:] != spec.image_shape:
        raise DataSourceError(
            f"IDX file '{img_path}' holds an array of shape {images.shape}; {spec.display} images must be "
            + " x ".join(["N"] + [str(d) for d in spec.image_shape]))
    if labels.ndim != 1:
        raise DataSourceError(
            f"IDX file '{lbl_path}' holds an array of shape {labels.shape}; labels must be one-dimensional")
    if images.shape[0] != labels.shape[0]:
        raise DataSourceError(
            f"{split} images and labels do not match: '{img_path}' has "
            f"{images.shape[0]} images but '{lbl_path}' has {labels.shape[0]} labels")
    if labels.size and labels.max() >= spec.num_classes:
        raise DataSourceError(
            f"IDX file '{lbl_path}' contains label {int(labels.max())}; "
            f"expected class indices 0..{spec.num_classes - 1}")


class IdxReader(Reader):
    """Reads MNIST-style IDX directories: ``data_dir``, else the data set's system directory."""

    name = "idx"
    dir_kind = "an IDX directory"

    def read_dir(self, spec, directory: str) -> SourceData:
        """Read the four IDX files of ``directory``.

        Parameters
        ----------
        spec : snnmap.data.registry.DataSetSpec
            The data set (image shape, classes, official sizes).
        directory : str
            Directory holding the files.

        Returns
        -------
        SourceData
        """
        files = find_idx_files(directory)
        arrays = {key: read_idx(path) for key, path in files.items()}
        for split in ("train", "test"):
            _check_split(spec, split, arrays, files)
        where = f"IDX files in {directory}"
        description, full = spec.sizes_description(
            where, int(arrays["train_images"].shape[0]), int(arrays["test_images"].shape[0]))
        return SourceData((arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                           arrays["test_labels"]), "idx", directory, where, description, full)

    def read(self, spec, request: Request) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.read`; without ``data_dir``, the system directory."""
        directory = request.data_dir if request.data_dir is not None else spec.system_dir
        if directory is None:
            raise DataSourceError(
                f"source='idx' for {spec.display} needs data_dir: there is no "
                f"default IDX directory for {spec.display}; pass data_dir= "
                "pointing at the four IDX files", argument="data_dir")
        return self.read_dir(spec, directory)

    def attempt(self, spec, request: Request, reasons: list) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.attempt`: the system directory, when it exists."""
        if spec.system_dir and os.path.isdir(spec.system_dir):
            return self.read_dir(spec, spec.system_dir)
        raise Unavailable(f"no IDX files at {spec.system_dir}")

    def available(self, spec, request: Request) -> bool:
        """See :meth:`snnmap.data.reader.Reader.available`: all four files are present."""
        directory = request.data_dir if request.data_dir is not None else spec.system_dir
        if directory is None:
            return False
        try:
            find_idx_files(directory)
        except DataSourceError:
            return False
        return True
