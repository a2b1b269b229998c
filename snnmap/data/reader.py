"""What every source reader is given, returns and provides.

A reader knows one kind of source (IDX files, TensorFlow Datasets, NumPy arrays, the bundled
sample) for every data set that source can serve; the registry
(:mod:`snnmap.data.registry`) says which readers serve which data set and in which order
``source="auto"`` tries them; :class:`snnmap.data.loader.Loader` puts the two together.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Request:
    """Where the caller of :func:`snnmap.data.load` said the data are.

    Attributes
    ----------
    data_dir : str or None
        The ``data_dir`` argument of :func:`snnmap.data.load`.
    tfds_data_dir : str or None
        The ``tfds_data_dir`` argument of :func:`snnmap.data.load`.
    """

    data_dir: str | None = None
    tfds_data_dir: str | None = None


@dataclasses.dataclass
class SourceData:
    """A data set as a source holds it, before snnmap prepares its images.

    Attributes
    ----------
    arrays : tuple of numpy.ndarray
        ``(x_train, y_train, x_test, y_test)``: raw images (``uint8`` pixels, or preprocessed
        ``float32`` arrays) and labels, all examples.
    source : str
        The tag :attr:`snnmap.data.DataSet.source` records (``"idx"``, ``"mnist-5k-sample"``, ...).
    location : str or None
        Directory the data were read from.
    where : str
        The source in words, for descriptions and messages ("IDX files in /dir").
    description : str
        The start of :attr:`snnmap.data.DataSet.description`: data, source and split sizes.
    full : bool
        Whether the splits are the complete official ones.
    fields : dict
        :class:`snnmap.data.DataSet` fields the source decides (``num_classes``, ``input_range``
        of preprocessed arrays); the data set's defaults otherwise.
    """

    arrays: tuple
    source: str
    location: str | None
    where: str
    description: str
    full: bool
    fields: dict = dataclasses.field(default_factory=dict)


class Unavailable(Exception):
    """A source that ``source="auto"`` may pass over: it cannot serve the data set here and now.

    Parameters
    ----------
    reason : str
        Why, for the message (or warning) of the source finally used or of the final error.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Reader:
    """One kind of source; subclasses define :meth:`read` and :meth:`available`.

    Attributes
    ----------
    name : str
        The value of ``source`` that selects it (``"idx"``).
    takes_data_dir : bool
        Whether ``data_dir`` can name where it reads from.
    dir_kind : str
        What a ``data_dir`` holds for this reader, for messages ("an IDX directory").
    """

    name = ""
    takes_data_dir = True
    dir_kind = ""

    def read(self, spec, request: Request) -> SourceData:
        """Read the data set ``spec`` from this source, as asked for with ``source=<name>``.

        Parameters
        ----------
        spec : snnmap.data.registry.DataSetSpec
            The data set.
        request : Request
            Where the caller said the data are.

        Returns
        -------
        SourceData

        Raises
        ------
        snnmap.errors.DataSourceError
            If the source does not hold the data set or its files are malformed.
        """
        raise NotImplementedError

    def attempt(self, spec, request: Request, reasons: list) -> SourceData:
        """Read ``spec`` as one step of ``source="auto"`` (when no ``data_dir`` was given).

        Parameters
        ----------
        spec : snnmap.data.registry.DataSetSpec
            The data set.
        request : Request
            Where the caller said the data are.
        reasons : list of Unavailable
            Why the sources tried before this one were passed over.

        Returns
        -------
        SourceData

        Raises
        ------
        Unavailable
            To pass on to the next source; a :class:`snnmap.errors.DataSourceError` ends the search.
        """
        return self.read(spec, request)

    def available(self, spec, request: Request) -> bool:
        """Whether this source holds ``spec`` right now, judged offline from files present.

        Parameters
        ----------
        spec : snnmap.data.registry.DataSetSpec
            The data set.
        request : Request
            Where the caller said the data are.

        Returns
        -------
        bool
        """
        raise NotImplementedError
