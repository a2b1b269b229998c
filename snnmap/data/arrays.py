"""NumPy arrays in a directory: a user's own CIFAR copy (``source="npz"``) and the preprocessed
PLACES365 / PASS arrays (``source="arrays"``, memory-mapped, never read into memory whole).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import DataSourceError
from .dataset import count_text
from .reader import Reader, Request, SourceData
from .registry import DATASETS, NPY_SPLIT_FILES

_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
_META_FILE = "meta.json"
_META_KEYS = ("input_range", "num_classes", "description")


def check_directory(data_dir: str, what: str, hint: str) -> None:
    """Raise DataSourceError unless ``data_dir`` is an existing directory.

    Parameters
    ----------
    data_dir : str
        The directory.
    what : str
        What it should hold, for the message.
    hint : str
        What to do when it does not exist.
    """
    if not os.path.exists(data_dir):
        raise DataSourceError(f"data directory '{data_dir}' does not exist; {hint}", argument="data_dir")
    if not os.path.isdir(data_dir):
        raise DataSourceError(
            f"data directory '{data_dir}' is not a directory; pass the "
            f"directory that holds {what}, not a file", argument="data_dir")


def check_labels(labels: np.ndarray, n: int, num_classes: int, where: str,
                 allow_unlabelled: bool = False) -> np.ndarray:
    """Validate integer class labels read from ``where``.

    Parameters
    ----------
    labels : numpy.ndarray
        The labels, shape ``(n,)`` or ``(n, 1)``.
    n : int
        Number of images they label.
    num_classes : int
        Labels must lie in ``0 .. num_classes - 1``.
    where : str
        The file, for messages.
    allow_unlabelled : bool, optional
        Whether ``-1`` (unlabelled) is allowed too.

    Returns
    -------
    numpy.ndarray
        ``int64`` labels of shape ``(n,)``.
    """
    if labels.dtype.kind not in "iu":
        raise DataSourceError(f"{where} holds labels of dtype {labels.dtype}; expected integer class indices")
    if labels.shape not in ((n,), (n, 1)):
        raise DataSourceError(
            f"{where} holds labels of shape {labels.shape}; expected ({n},) "
            f"(or ({n}, 1)) to match the {n} images")
    labels = np.asarray(labels, dtype=np.int64).reshape(n)
    lowest = -1 if allow_unlabelled else 0
    if labels.size and (labels.min() < lowest or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < lowest else labels.max()
        raise DataSourceError(
            f"{where} contains label {int(bad)}; expected class indices 0..{num_classes - 1}"
            + (" (or -1 for an unlabelled image)" if allow_unlabelled else ""))
    return labels


# --------------------------------------------------------------------------
# A user's own CIFAR copy
# --------------------------------------------------------------------------

def _read_npz(npz_path: str) -> tuple[dict, dict]:
    """The four arrays of one ``.npz`` archive, and where each came from."""
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            missing = [k for k in _SPLIT_KEYS if k not in npz.files]
            if missing:
                raise DataSourceError(
                    f"'{npz_path}' lacks the array(s) {', '.join(missing)}; it must hold x_train, "
                    f"y_train, x_test and y_test (found: {', '.join(npz.files) or 'nothing'})")
            arrays = {key: np.asarray(npz[key]) for key in _SPLIT_KEYS}
    except DataSourceError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot read '{npz_path}' as a .npz archive ({type(exc).__name__}: {exc}); re-create it with "
            "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)") from exc
    return arrays, {key: f"'{npz_path}' [{key}]" for key in _SPLIT_KEYS}


def _read_npy_files(spec, data_dir: str, layout: str) -> tuple[dict, dict]:
    """The four ``.npy`` files of ``data_dir``, and where each came from."""
    paths = {f[:-4]: os.path.join(data_dir, f) for f in NPY_SPLIT_FILES}
    missing = [os.path.basename(p) for p in paths.values() if not os.path.isfile(p)]
    if missing:
        others = [s.npz_file for s in DATASETS.values() if s.npz_file and s.npz_file != spec.npz_file
                  and os.path.isfile(os.path.join(data_dir, s.npz_file))]
        note = f" (it holds {others[0]}, which is not {spec.display})" if others else ""
        raise DataSourceError(
            f"data directory '{data_dir}' holds neither {spec.npz_file} nor "
            f"all four .npy files (missing: {', '.join(missing)}){note}; put {layout} there", argument="data_dir")
    arrays = {}
    for key, path in paths.items():
        try:
            arrays[key] = np.asarray(np.load(path, allow_pickle=False))
        except Exception as exc:  # noqa: BLE001
            raise DataSourceError(
                f"cannot read '{path}' as a .npy array ({type(exc).__name__}: {exc}); save it with "
                "numpy.save") from exc
    return arrays, {key: f"'{path}'" for key, path in paths.items()}


class NpzReader(Reader):
    """Reads a user's own CIFAR copy: ``cifar10.npz`` / ``cifar100.npz`` or four ``.npy`` files."""

    name = "npz"
    dir_kind = "a directory with your own CIFAR copy (source 'npz')"

    def read(self, spec, request: Request) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.read`; images must be ``uint8`` N x 32 x 32 x 3."""
        data_dir = request.data_dir
        if data_dir is None:
            raise DataSourceError(
                f"source='npz' for {spec.display} needs data_dir: a directory holding {spec.npz_file} or "
                f"{', '.join(NPY_SPLIT_FILES)}", argument="data_dir")
        layout = f"{spec.npz_file} (keys x_train, y_train, x_test, y_test) or the four files " \
                 f"{', '.join(NPY_SPLIT_FILES)}"
        check_directory(data_dir, layout, f"pass data_dir= pointing at a directory holding {layout}, "
                                          "or use source='tfds'")
        npz_path = os.path.join(data_dir, spec.npz_file)
        if os.path.isfile(npz_path):
            origin = spec.npz_file
            arrays, where = _read_npz(npz_path)
        else:
            origin = ", ".join(NPY_SPLIT_FILES)
            arrays, where = _read_npy_files(spec, data_dir, layout)
        shape = " x ".join(["N"] + [str(d) for d in spec.image_shape])
        for split in ("train", "test"):
            images = arrays[f"x_{split}"]
            if images.dtype != np.uint8 or images.shape[1:] != spec.image_shape:
                raise DataSourceError(
                    f"{where[f'x_{split}']} holds an array of shape {images.shape} and dtype "
                    f"{images.dtype}; CIFAR images must be uint8 {shape} (channels last)")
            arrays[f"y_{split}"] = check_labels(arrays[f"y_{split}"], int(images.shape[0]), spec.num_classes,
                                                where[f"y_{split}"])
        text = f"{origin} in {data_dir}"
        description, full = spec.sizes_description(text, int(arrays["x_train"].shape[0]),
                                                   int(arrays["x_test"].shape[0]))
        return SourceData(tuple(arrays[k] for k in _SPLIT_KEYS), "npz", data_dir, text, description, full)

    def available(self, spec, request: Request) -> bool:
        """See :meth:`snnmap.data.reader.Reader.available`: the archive or the four files are present."""
        data_dir = request.data_dir
        return data_dir is not None and (
            os.path.isfile(os.path.join(data_dir, spec.npz_file))
            or all(os.path.isfile(os.path.join(data_dir, f)) for f in NPY_SPLIT_FILES))


# --------------------------------------------------------------------------
# PLACES365 / PASS: preprocessed arrays, memory-mapped
# --------------------------------------------------------------------------

def _open_npy(path: str) -> np.ndarray:
    """Memory-map one .npy file read-only; failures -> DataSourceError."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot memory-map '{path}' as a .npy array ({type(exc).__name__}: {exc}); save it with "
            "numpy.save (not numpy.savez, no object arrays)") from exc
    if not isinstance(array, np.ndarray):
        raise DataSourceError(
            f"'{path}' is not a single .npy array (it looks like a .npz archive); save the array with numpy.save")
    return array


def _open_images(path: str, image_shape: tuple) -> np.ndarray:
    """Memory-map and check one file of preprocessed images."""
    images = _open_npy(path)
    expected = " x ".join(str(d) for d in image_shape)
    if images.ndim != 1 + len(image_shape) or images.shape[1:] != image_shape:
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
            "read lazily; save it with numpy.save(path, numpy.ascontiguousarray(x))")
    return images


def _check_meta(meta, path: str) -> dict:
    """Validate the content of ``meta.json``; ``input_range`` becomes a tuple of floats."""
    allowed = ", ".join(_META_KEYS)
    if not isinstance(meta, dict):
        raise DataSourceError(
            f"'{path}' must hold a JSON object with the optional keys {allowed}; it holds a {type(meta).__name__}")
    unknown = sorted(set(meta) - set(_META_KEYS))
    if unknown:
        raise DataSourceError(f"'{path}' has unknown key(s) {', '.join(unknown)}; allowed keys are {allowed}")
    if "input_range" in meta:
        value = meta["input_range"]
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
              and all(np.isfinite(value)) and value[0] < value[1])
        if not ok:
            raise DataSourceError(f"'{path}': input_range must be [p, q] with finite numbers p < q, got {value!r}")
        meta["input_range"] = (float(value[0]), float(value[1]))
    value = meta.get("num_classes", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataSourceError(f"'{path}': num_classes must be a positive integer, got {value!r}")
    if not isinstance(meta.get("description", ""), str):
        raise DataSourceError(f"'{path}': description must be a string, got {meta['description']!r}")
    return meta


def read_meta(path: str) -> dict:
    """Read and validate the optional ``meta.json`` of an arrays directory.

    Parameters
    ----------
    path : str
        The file.

    Returns
    -------
    dict
        Its keys among ``input_range`` (a tuple ``(p, q)``), ``num_classes`` and ``description``.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataSourceError(f"cannot read '{path}' as JSON ({type(exc).__name__}: {exc}); fix or delete it") \
            from exc
    return _check_meta(meta, path)


def value_range(images: np.ndarray, path: str, chunk_bytes: int) -> tuple[float, float]:
    """``(min, max)`` of a (memory-mapped) array, read about ``chunk_bytes`` at a time.

    Parameters
    ----------
    images : numpy.ndarray
        The array, first axis the examples.
    path : str
        Its file, for messages.
    chunk_bytes : int
        Bytes read per chunk (at least one example).

    Returns
    -------
    tuple of float
    """
    row_bytes = max(1, int(np.prod(images.shape[1:])) * images.itemsize)
    chunk = max(1, chunk_bytes // row_bytes)
    low, high = np.inf, -np.inf
    for start in range(0, int(images.shape[0]), chunk):
        block = np.asarray(images[start:start + chunk])
        low = min(low, float(block.min()))
        high = max(high, float(block.max()))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataSourceError(f"'{path}' contains NaN or infinite values (min {low}, max {high}); fix the "
                              "preprocessing")
    return low, high


def _open_split_arrays(spec, path: dict, num_classes: int) -> dict:
    """Memory-map the images and labels of an arrays directory (``path``: file -> full path)."""
    x_test = _open_images(path["x_test.npy"], spec.image_shape)
    n_test = int(x_test.shape[0])
    if n_test == 0:
        raise DataSourceError(f"'{path['x_test.npy']}' holds no images")
    has_train = os.path.isfile(path["x_train.npy"])
    x_train = (_open_images(path["x_train.npy"], spec.image_shape) if has_train
               else np.empty((0,) + spec.image_shape, np.float32))
    n_train = int(x_train.shape[0])
    labelled = os.path.isfile(path["y_test.npy"])
    if labelled:
        y_test = check_labels(_open_npy(path["y_test.npy"]), n_test, num_classes, f"'{path['y_test.npy']}'",
                              allow_unlabelled=not spec.labelled)
    elif not spec.labelled:
        y_test = np.full(n_test, -1, np.int64)
    else:
        raise DataSourceError(
            f"'{path['y_test.npy']}' does not exist; {spec.display} needs the "
            f"test labels (int class indices 0..{num_classes - 1}, one per image of x_test.npy)")
    if n_train and os.path.isfile(path["y_train.npy"]):
        y_train = check_labels(_open_npy(path["y_train.npy"]), n_train, num_classes, f"'{path['y_train.npy']}'",
                               allow_unlabelled=True)
    else:
        y_train = np.full(n_train, -1, np.int64)
    return {"arrays": (x_train, y_train, x_test, y_test), "has_train": has_train, "labelled": labelled}


class ArraysReader(Reader):
    """Reads directories of preprocessed arrays (PLACES365, PASS), memory-mapped.

    Parameters
    ----------
    scan_chunk_bytes : int, optional
        Bytes read at a time when the input range is scanned from the images (no ``meta.json`` range).
    """

    name = "arrays"
    dir_kind = "a directory of preprocessed arrays"

    def __init__(self, scan_chunk_bytes: int = 64 * 2**20):
        self.scan_chunk_bytes = scan_chunk_bytes

    def read(self, spec, request: Request) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.read` and the ``data_dir`` of :func:`snnmap.data.load`."""
        data_dir = request.data_dir
        if data_dir is None:
            raise DataSourceError(
                f"{spec.display} has no download, TFDS or bundled source: pass data_dir= pointing at a "
                "directory with the preprocessed arrays (x_test.npy: float32 N x 224 x "
                "224 x 3; y_test.npy; optionally x_train.npy and meta.json)", argument="data_dir")
        check_directory(data_dir, "x_test.npy", f"pass data_dir= pointing at the directory holding the "
                                                f"preprocessed {spec.display} arrays (x_test.npy, ...)")
        path = {f: os.path.join(data_dir, f) for f in NPY_SPLIT_FILES + (_META_FILE,)}
        if not os.path.isfile(path["x_test.npy"]):
            raise DataSourceError(
                f"'{path['x_test.npy']}' does not exist; the {spec.display} directory "
                f"given with data_dir= must hold x_test.npy (float32, "
                f"N x 224 x 224 x 3, preprocessed the caffe way)", argument="data_dir")
        meta = read_meta(path[_META_FILE]) if os.path.isfile(path[_META_FILE]) else {}
        num_classes = int(meta.get("num_classes", spec.num_classes))
        opened = _open_split_arrays(spec, path, num_classes)
        x_train, _, x_test, _ = opened["arrays"]
        if "input_range" in meta:
            low, high = meta["input_range"]
            range_origin = f"from {_META_FILE}"
        else:
            scanned = "x_train.npy" if len(x_train) else "x_test.npy"
            low, high = value_range(x_train if len(x_train) else x_test, path[scanned], self.scan_chunk_bytes)
            range_origin = f"= min/max of {scanned}"
        labels = "with labels" if opened["labelled"] else "no labels: y_test.npy absent, y_test = -1"
        train = (f"{count_text(len(x_train))} calibration (training) images from x_train.npy" if opened["has_train"]
                 else "no calibration images (x_train.npy absent, x_train is empty)")
        description = (f"{spec.display}, {count_text(len(x_test))} test images ({labels}) "
                       f"and {train}, preprocessed arrays in {data_dir}")
        if meta.get("description"):
            description += f" ({meta['description']})"
        description += f"; input range [{low:g}, {high:g}] {range_origin}"
        return SourceData(opened["arrays"], "arrays", data_dir, f"preprocessed arrays in {data_dir}", description,
                          False, {"num_classes": num_classes, "input_range": (float(low), float(high))})

    def available(self, spec, request: Request) -> bool:
        """See :meth:`snnmap.data.reader.Reader.available`: ``data_dir`` holds ``x_test.npy``."""
        return request.data_dir is not None and os.path.isfile(os.path.join(request.data_dir, "x_test.npy"))
