"""Loading a data set: the registry says which sources serve it, a reader per source reads it.

:func:`load` and :func:`available_sources` use the default readers; a :class:`Loader` built with
other readers (an offline TFDS reader, a sample file of one's own) or another registry loads the
same way through them.
"""

from __future__ import annotations

import logging
import os

from ..errors import DataSourceError
from .arrays import ArraysReader, NpzReader
from .dataset import DataSet, Selection, check_limit, check_parts
from .idx import IdxReader
from .prepare import PREPARATIONS
from .reader import Reader, Request, SourceData, Unavailable
from .registry import DATASETS, SOURCES, canonical_name
from .sample import SampleReader
from .tfds import TfdsReader

_log = logging.getLogger(__name__)


class Loader:
    """Loads the data sets of a registry through a reader per source.

    Parameters
    ----------
    readers : dict, optional
        :class:`snnmap.data.reader.Reader` by source name; those given replace the defaults
        (``TfdsReader()``, ``IdxReader()``, ``SampleReader()``, ``NpzReader()``, ``ArraysReader()``).
    datasets : dict, optional
        :class:`snnmap.data.registry.DataSetSpec` by canonical name (default
        :data:`snnmap.data.registry.DATASETS`).
    """

    def __init__(self, readers: dict | None = None, datasets: dict | None = None):
        defaults = (TfdsReader(), IdxReader(), SampleReader(), NpzReader(), ArraysReader())
        self.readers: dict[str, Reader] = {reader.name: reader for reader in defaults}
        self.readers.update(readers or {})
        self.datasets = DATASETS if datasets is None else datasets

    def _spec(self, data_name: str, source: str):
        """The registry entry of ``data_name``, once ``source`` is known to exist for it."""
        spec = self.datasets[canonical_name(data_name, self.datasets)]
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        if source != "auto" and source not in spec.sources:
            raise ValueError(
                f"source={source!r} does not exist for {spec.display}; choose one of "
                f"{', '.join(('auto',) + spec.sources)}")
        return spec

    def _read(self, spec, source: str, request: Request) -> SourceData:
        """Read ``spec`` from ``source``: with ``"auto"``, ``data_dir`` through ``spec.dir_source`` when it is
        given, else the sources of ``spec.auto`` in turn until one does not pass."""
        if source != "auto":
            return self.readers[source].read(spec, request)
        if request.data_dir is not None:
            return self.readers[spec.dir_source].read(spec, request)
        reasons: list[Unavailable] = []
        for name in spec.auto:
            try:
                return self.readers[name].attempt(spec, request, reasons)
            except Unavailable as passed:
                reasons.append(passed)
        if spec.when_missing is not None:
            raise spec.when_missing(spec, reasons)
        raise DataSourceError(f"cannot find {spec.display} anywhere: " + "; ".join(r.reason for r in reasons))

    def load(self, data_name: str, source: str = "auto", data_dir: str | None = None, flat: bool = False,
             max_train: int | None = None, max_test: int | None = None, *, tfds_data_dir: str | None = None,
             part: int | None = None, num_parts: int | None = None, part_align: int = 1) -> DataSet:
        """Load one data set, as :func:`snnmap.data.load` does with this loader's readers and registry.

        Parameters
        ----------
        data_name, source, data_dir, flat, max_train, max_test, tfds_data_dir, part, num_parts, part_align
            As for :func:`snnmap.data.load`.

        Returns
        -------
        DataSet
        """
        spec = self._spec(data_name, source)
        selection = Selection(check_limit(max_train, "max_train"), check_limit(max_test, "max_test"))
        parts = check_parts(part, num_parts)
        if parts is not None:
            selection = Selection(selection.max_train, selection.max_test, parts + (int(part_align),))
        if data_dir is not None:
            data_dir = os.fspath(data_dir)
            if not self.readers[source if source != "auto" else spec.dir_source].takes_data_dir:
                kind = self.readers[spec.dir_source]
                raise ValueError(
                    f"data_dir={data_dir!r} names {kind.dir_kind} and cannot be combined with "
                    f"source={source!r}; use source='{kind.name}' or 'auto' (for TFDS use tfds_data_dir / "
                    "TFDS_DATA_DIR)")
        request = Request(data_dir, None if tfds_data_dir is None else os.fspath(tfds_data_dir))
        data = self._read(spec, source, request)
        images, fields = PREPARATIONS[spec.preparation](spec, data, flat)
        dataset = selection.dataset(data.arrays, images, name=spec.name, source=data.source,
                                    location=data.location, full=bool(data.full), **fields)
        _log.info("Loaded %s", dataset.description)
        return dataset

    def available_sources(self, data_name: str, *, tfds_data_dir: str | None = None,
                          data_dir: str | None = None) -> dict:
        """Which sources can supply ``data_name`` right now, offline, as :func:`snnmap.data.available_sources`.

        Parameters
        ----------
        data_name, tfds_data_dir, data_dir
            As for :func:`snnmap.data.available_sources`.

        Returns
        -------
        dict
        """
        spec = self.datasets[canonical_name(data_name, self.datasets)]
        request = Request(None if data_dir is None else os.fspath(data_dir), tfds_data_dir)
        return {name: bool(self.readers[name].available(spec, request)) for name in spec.sources}


_DEFAULT = Loader()


# Long only for its docstring, the user's reference to every data set and source; the body is one call.
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
          (:class:`SampleDataWarning` plus a log warning).
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

        PLACES365 / PASS (required): directory with

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
        or directory and says what to do, and :attr:`DataSourceError.argument`
        names the argument to give or change (``"data_dir"``) where one does.
    """
    return _DEFAULT.load(data_name, source, data_dir, flat, max_train, max_test, tfds_data_dir=tfds_data_dir,
                         part=part, num_parts=num_parts, part_align=part_align)


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
    return _DEFAULT.available_sources(data_name, tfds_data_dir=tfds_data_dir, data_dir=data_dir)
