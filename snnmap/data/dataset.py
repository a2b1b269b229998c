"""The loaded data set (:class:`DataSet`) and the selection of its examples (truncation, parts).

Selection uses basic slicing only, so memory-mapped arrays stay memory-mapped.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

#: Defaults of :class:`DataSet` (those of MNIST and Fashion-MNIST).
DEFAULT_NUM_CLASSES = 10
DEFAULT_INPUT_RANGE = (0.0, 1.0)


@dataclasses.dataclass(frozen=True, eq=False)
class DataSet:
    """A loaded image-classification data set with a train and a test split.

    Attributes
    ----------
    name : str
        Canonical data-set name, one of :data:`snnmap.data.SUPPORTED_NAMES`.
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
        :func:`snnmap.data.load`); ``None`` for the other data sets.
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
    num_classes: int = DEFAULT_NUM_CLASSES
    input_range: tuple = DEFAULT_INPUT_RANGE
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


def count_text(n: int) -> str:
    """``n`` with thousands separators, as descriptions print counts (``10,000``)."""
    return f"{n:,}"


def check_limit(value: Any, arg: str) -> int | None:
    """Validate ``max_train`` / ``max_test``: a positive integer or ``None``.

    Parameters
    ----------
    value : int or None
        The value given.
    arg : str
        The argument's name, for the message.

    Returns
    -------
    int or None
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")
    return int(value)


def check_parts(part: Any, num_parts: Any) -> tuple[int, int] | None:
    """Validate ``part`` / ``num_parts``.

    Parameters
    ----------
    part, num_parts : int or None
        0-based index of the part and number of parts; both or neither.

    Returns
    -------
    tuple of int or None
        ``(part, num_parts)``, or ``None`` when neither is given.
    """
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
        raise ValueError(f"num_parts must be an integer >= 1, got {num_parts!r}")
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
    align : int, optional
        Size of the units the split is made in (default 1: single items).

    Returns
    -------
    tuple of int
        ``(start, stop)``: the part holds items ``start`` to ``stop - 1``.
    """
    part, num_parts = check_parts(part, num_parts)
    align = int(align)
    if align < 1:
        raise ValueError(f"align must be a positive integer, got {align}")
    units = -(-int(n) // align)
    size, extra = divmod(units, num_parts)
    start = part * size + min(part, extra)
    stop = start + size + (1 if part < extra else 0)
    return min(int(n), start * align), min(int(n), stop * align)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which examples of the splits a :class:`DataSet` keeps.

    Attributes
    ----------
    max_train, max_test : int or None
        Keep only the first ``max_train`` / ``max_test`` examples.
    parts : tuple of int or None
        ``(part, num_parts, align)``: then keep only that part of the (truncated) test split, see
        :func:`part_bounds`.
    """

    max_train: int | None = None
    max_test: int | None = None
    parts: tuple | None = None

    def apply(self, arrays: tuple) -> tuple:
        """Truncate, then select the part of the test split.

        Parameters
        ----------
        arrays : tuple of numpy.ndarray
            ``(x_train, y_train, x_test, y_test)``.

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
        if self.max_train is not None and self.max_train < n_train:
            xtr, ytr = xtr[:self.max_train], ytr[:self.max_train]
            cuts.append(f"first {count_text(self.max_train)} of the {count_text(n_train)} training images")
        if self.max_test is not None and self.max_test < n_test:
            xte, yte = xte[:self.max_test], yte[:self.max_test]
            cuts.append(f"first {count_text(self.max_test)} of the {count_text(n_test)} test images")
        notes = ["using " + " and ".join(cuts)] if cuts else []
        if self.parts is None:
            return (xtr, ytr, xte, yte), notes, None
        part, num_parts, align = self.parts
        total = int(xte.shape[0])
        start, stop = part_bounds(total, part, num_parts, align)
        if stop > start:
            notes.append(f"part {part} of {num_parts}: test images {count_text(start)}-{count_text(stop - 1)}")
        else:
            notes.append(f"part {part} of {num_parts}: no test images (the {count_text(total)} test images all "
                         "fall in other parts)")
        return (xtr, ytr, xte[start:stop], yte[start:stop]), notes, (start, stop)

    def dataset(self, arrays: tuple, images: Callable, **fields) -> DataSet:
        """The :class:`DataSet` of the selected examples.

        Parameters
        ----------
        arrays : tuple of numpy.ndarray
            ``(x_train, y_train, x_test, y_test)`` as read, before selection.
        images : callable
            Applied to both splits' selected images (scaling, standardisation, flattening).
        **fields
            The other fields of :class:`DataSet`; ``description`` gets the selection's notes appended.

        Returns
        -------
        DataSet
            With ``int64`` labels.
        """
        (xtr, ytr, xte, yte), notes, test_indices = self.apply(arrays)
        fields["description"] = "".join([fields["description"]] + [f"; {note}" for note in notes])
        return DataSet(x_train=images(xtr), y_train=np.asarray(ytr, np.int64), x_test=images(xte),
                       y_test=np.asarray(yte, np.int64), test_indices=test_indices, **fields)
