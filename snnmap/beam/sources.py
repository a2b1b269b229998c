"""Test data as a Beam source: records of consecutive images, each carrying its indices.

A record is a dict ``{"start", "stop", "x", "y", "origin", "predictions", "logits"}``: the images
``start:stop`` in their original range, their labels (or None), where they were read from (for
the messages), and the original network's predictions and logits on them (or None).  The
driver lays out the index ranges (the same batches as the single-machine run, so every figure
is computed on the same batches); the workers read the images themselves through a reader:

- :class:`ArrayReader`: arrays the driver holds (shipped to the workers with the pipeline);
- :class:`DataSetReader`: an experiment's data set (IDX files, TensorFlow Datasets, ...),
  loaded once per worker by :func:`snnmap.experiments.inputs.load_data`;
- :class:`NpyReader`: ``.npy`` shards (memory-mapped, no pickle) for test sets larger than memory;
- :class:`snnmap.beam.tfrecord.TFRecordReader`: TFRecord shards (one ``tf.train.Example`` per
  image), read at their offsets.

A reader has ``origin`` (a name for messages), ``len()``, ``setup()`` (once per worker) and
``read(start, stop) -> (x, y or None)``.
"""

from __future__ import annotations

import os
import sys

import apache_beam as beam
import numpy as np

from ..experiments.inputs import load_data
from .failures import record_error


def batch_ranges(n, batch_size):
    """``[(start, stop), ...]``: the batches of ``n`` images, as the single-machine run takes them.

    Parameters
    ----------
    n : int
        Number of images.
    batch_size : int
        Images per record.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if n < 1:
        raise ValueError("the data are empty: the pipeline needs at least one image")
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


class ArrayReader:
    """Images (and labels) held as arrays.

    Parameters
    ----------
    x : array_like
        Images in their original range.
    y : array_like, optional
        Labels.
    origin : str
        Names the arrays in messages.
    """

    def __init__(self, x, y=None, origin="arrays"):
        self.x, self.y, self.origin = np.asarray(x), None if y is None else np.asarray(y), origin
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{len(self.y)} labels for {len(self.x)} images (y and x must have one entry each)")

    def __len__(self):
        return len(self.x)

    def setup(self):
        """Nothing to open: the arrays travel with the pipeline."""

    def read(self, start, stop):
        """``(x, y)`` of images ``start:stop``."""
        return self.x[start:stop], None if self.y is None else self.y[start:stop]


class DataSetReader:
    """The test split of an experiment's data set, loaded by each worker.

    Parameters
    ----------
    experiment : snnmap.experiments.settings.Experiment
        Resolved; its data set is loaded with :func:`snnmap.experiments.inputs.load_data`.
    n : int
        Its number of test images (the driver knows it from its own load).
    """

    def __init__(self, experiment, n):
        self.experiment, self.n, self.data = experiment, int(n), None
        self.origin = f"{experiment.data_name} test set"

    def __len__(self):
        return self.n

    def setup(self):
        """Load the data set once per worker."""
        if self.data is None:
            self.data = load_data(self.experiment)
            if self.data.n_test != self.n:
                raise ValueError(f"this worker read {self.data.n_test} test images of {self.experiment.data_name}, "
                                 f"the driver {self.n}: every worker must see the same data (data_dir)")

    def read(self, start, stop):
        """``(x, y)`` of test images ``start:stop``."""
        y = self.data.y_test
        return self.data.x_test[start:stop], None if y is None else y[start:stop]


class NpyReader:
    """Images (and labels) in ``.npy`` shards, read memory-mapped, in order.

    Parameters
    ----------
    x_paths : list of str
        Image shards; shard ``i`` holds the images after those of shards ``0..i-1``.
    y_paths : list of str, optional
        Label shards, one per image shard.
    lengths : list of int
        Images per shard (the driver reads the headers once).
    """

    def __init__(self, x_paths, y_paths=None, lengths=None):
        self.x_paths = [os.fspath(p) for p in x_paths]
        self.y_paths = None if y_paths is None else [os.fspath(p) for p in y_paths]
        if self.y_paths is not None and len(self.y_paths) != len(self.x_paths):
            raise ValueError(f"{len(self.y_paths)} label shards for {len(self.x_paths)} image shards (y_paths, "
                             "x_paths)")
        self.lengths = [len(self._open(p)) for p in self.x_paths] if lengths is None else list(lengths)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.origin = f"npy shards {os.path.dirname(self.x_paths[0]) or '.'}" if self.x_paths else "npy shards"
        self.x = self.y = None

    def __len__(self):
        return int(self.offsets[-1])

    @staticmethod
    def _open(path):
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"the shard {path} is not a readable .npy file ({err}); write it again") from None

    def setup(self):
        """Open (memory-map) every shard once per worker."""
        if self.x is None:
            self.x = [self._open(p) for p in self.x_paths]
            self.y = None if self.y_paths is None else [self._open(p) for p in self.y_paths]
            for path, arr, n in zip(self.x_paths, self.x, self.lengths):
                if len(arr) != n:
                    raise ValueError(f"the shard {path} holds {len(arr)} images, the driver counted {n}")

    def read(self, start, stop):
        """``(x, y)`` of images ``start:stop``, across shards."""
        xs, ys = [], []
        for i, (lo, hi) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                xs.append(np.asarray(self.x[i][a - lo:b - lo]))
                if self.y is not None:
                    ys.append(np.asarray(self.y[i][a - lo:b - lo]))
        return np.concatenate(xs), (np.concatenate(ys) if self.y is not None else None)


def report_done(record, what, verbose=True):
    """Print that ``what`` is done on the images of ``record`` (the progress of a run).

    Printed to standard error by the worker that did it: the local runner's worker processes
    share the terminal of the command; a cluster's workers write to its logs.

    Parameters
    ----------
    record : dict
        From :class:`ReadRecords`.
    what : str
        The pass (``SNN``, ``calibration``, ...).
    verbose : bool
        False: print nothing.
    """
    if verbose:
        print(f"snnmap beam: {what}: images {record['start']}..{record['stop'] - 1} of {record.get('n', '?')} done",
              file=sys.stderr, flush=True)


class ReadRecords(beam.DoFn):
    """``(start, stop)`` -> the record of those images, with the references on them.

    Parameters
    ----------
    reader : ArrayReader, DataSetReader, NpyReader or TFRecordReader
    predictions, logits : ndarray, optional
        The original network's predictions and logits on all images, in order.
    """

    def __init__(self, reader, predictions=None, logits=None):
        super().__init__()
        self.reader, self.predictions, self.logits = reader, predictions, logits

    def setup(self):
        """Open the data once per worker."""
        self.reader.setup()

    def process(self, span):
        start, stop = span
        record = {"start": start, "stop": stop, "origin": self.reader.origin, "n": len(self.reader)}
        try:
            x, y = self.reader.read(start, stop)
        except Exception as err:  # noqa: BLE001 - any failure to read is reported with the record's name
            raise record_error(record, err) from err
        record.update(x=x, y=y, predictions=None if self.predictions is None else self.predictions[start:stop],
                      logits=None if self.logits is None else self.logits[start:stop])
        yield record


def read_records(pipeline, reader, batch_size, predictions=None, logits=None, label="records"):
    """The records of ``reader``'s images in a pipeline: index ranges, spread over the workers, read.

    Parameters
    ----------
    pipeline : apache_beam.Pipeline
    reader : ArrayReader, DataSetReader, NpyReader or TFRecordReader
    batch_size : int
        Images per record.
    predictions, logits : ndarray, optional
        The original network's predictions and logits on all the images.
    label : str
        Prefix of the transforms' labels.
    """
    ranges = batch_ranges(len(reader), batch_size)
    return (pipeline
            | f"{label}: ranges" >> beam.Create(ranges)
            # Spread the ranges over the workers before reading (Create alone may keep them together).
            | f"{label}: spread" >> beam.Reshuffle()
            | f"{label}: read" >> beam.ParDo(ReadRecords(reader, predictions, logits)))
