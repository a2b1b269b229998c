"""Test data as TFRecord shards: the record format, a writer, and a reader for the Beam pipelines.

One TFRecord record is one image, a ``tf.train.Example`` with the features

- ``image``: bytes, the image's values in C order (``ndarray.tobytes()``);
- ``dtype``: bytes, its numpy dtype's name (``uint8``, ``float32``, ...; numbers only);
- ``shape``: int64 list, its shape (``[28, 28, 1]``, or ``[784]`` for a flat image);
- ``label``: int64, its class id (absent in every record of an unlabelled set).

Shard ``i`` holds the images after those of shards ``0..i-1`` (the order of the paths given).
:func:`write_tfrecord_shards` writes such shards from arrays.  :class:`TFRecordReader` reads
them wherever :class:`snnmap.beam.NpyReader` is accepted: the driver walks the shards' record
headers once (no image is read there) to number the records; each worker reads the images of
its index range at their byte offsets with TensorFlow's record reader, which checks both
checksums of every record.  A corrupt or truncated record is reported with its shard and its
index in the shard.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import tensorflow as tf
from tensorflow.python.lib.io.tf_record import tf_record_random_reader

from .. import storage

#: The ``tf.train.Example`` features of one image (see the module's docstring).
FEATURES = ("image", "dtype", "shape", "label")
HEADER = 12  # a record: uint64 length, uint32 checksum of the length, the data, uint32 checksum of the data
TRAILER = 4


def _example(image, label):
    """The ``tf.train.Example`` (serialized) of one image and its label (or None)."""
    image = np.ascontiguousarray(image)
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        "dtype": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.dtype.name.encode()])),
        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=list(image.shape))),
    }
    if label is not None:
        feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecord_shards(directory, x, y=None, images_per_shard=10000, prefix="test"):
    """Write images (and labels) as TFRecord shards ``<prefix>-00000-of-00003.tfrecord`` ...; their paths.

    Each shard is written to a temporary file and renamed when complete.

    Parameters
    ----------
    directory : str
        Where the shards go (made when missing).
    x : array_like
        Images, in their original range, any numeric dtype.
    y : array_like, optional
        Class ids, one per image.
    images_per_shard : int
        Images per shard (the last one may hold fewer).
    prefix : str
        Start of the shards' names.

    Returns
    -------
    list of str
        The shards, in order: give them to :class:`TFRecordReader` as they are.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "biuf" or x.ndim < 2 or not len(x):
        raise ValueError(f"x must be a non-empty array of numeric images (n, ...), got dtype {x.dtype} and shape "
                         f"{x.shape}")
    if y is not None and len(y) != len(x):
        raise ValueError(f"{len(y)} labels for {len(x)} images (y and x must have one entry each)")
    if int(images_per_shard) != images_per_shard or images_per_shard < 1:
        raise ValueError(f"images_per_shard must be a positive integer, got {images_per_shard}")
    starts = range(0, len(x), int(images_per_shard))
    paths = [os.path.join(os.fspath(directory), f"{prefix}-{i:05d}-of-{len(starts):05d}.tfrecord")
             for i in range(len(starts))]
    for path, start in zip(paths, starts):
        stop = min(start + int(images_per_shard), len(x))
        with storage.atomic_path(path, suffix=".tfrecord") as tmp:
            with tf.io.TFRecordWriter(tmp) as writer:
                for i in range(start, stop):
                    writer.write(_example(x[i], None if y is None else y[i]))
    return paths


def record_offsets(path):
    """The byte offsets of the records of the TFRecord file ``path``, from their headers alone.

    Parameters
    ----------
    path : str
        An uncompressed TFRecord file.

    Raises
    ------
    ValueError
        When a record's header promises more bytes than the file holds (a truncated shard).
    """
    try:
        size = os.path.getsize(path)
        offsets = []
        with open(path, "rb") as fh:
            offset = 0
            while offset < size:
                head = fh.read(HEADER)
                length = struct.unpack("<Q", head[:8])[0] if len(head) == HEADER else None
                if length is None or offset + HEADER + length + TRAILER > size:
                    raise ValueError(f"the TFRecord shard {path} is truncated or not a TFRecord file: record "
                                     f"{len(offsets)} (at byte {offset}) does not fit in its {size} bytes; write it "
                                     "again")
                offsets.append(offset)
                offset += HEADER + length + TRAILER
                fh.seek(offset)
    except OSError as err:
        raise ValueError(f"the TFRecord shard {path} cannot be read ({err})") from None
    return offsets


def parse_example(data, where):
    """``(image, label or None)`` of one serialized record (see the module's docstring).

    Parameters
    ----------
    data : bytes
        The record.
    where : str
        Names the record in messages (shard and index).
    """
    try:
        feature = tf.train.Example.FromString(data).features.feature
    except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise ValueError(f"{where} is not a tf.train.Example ({type(err).__name__}: {err})") from None
    missing = [name for name in FEATURES[:3] if name not in feature]
    if missing:
        raise ValueError(f"{where} lacks the feature(s) {missing} (a record holds {list(FEATURES)}; write the "
                         "shards with snnmap.beam.write_tfrecord_shards)")
    raw, shape = feature["image"].bytes_list.value, tuple(feature["shape"].int64_list.value)
    name = b"".join(feature["dtype"].bytes_list.value).decode("ascii", "replace")
    try:
        dtype = np.dtype(name)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise ValueError(f"{where} has dtype {name!r}: images must be numbers (uint8, float32, ...)")
    if len(raw) != 1 or len(raw[0]) != dtype.itemsize * int(np.prod(shape)):
        got = sum(len(r) for r in raw)
        raise ValueError(f"{where} holds {got} bytes of image, its shape {list(shape)} and dtype {name} need "
                         f"{dtype.itemsize * int(np.prod(shape))}")
    label = feature["label"].int64_list.value if "label" in feature else None
    if label is not None and len(label) != 1:
        raise ValueError(f"{where} has {len(label)} labels, one expected")
    return np.frombuffer(raw[0], dtype).reshape(shape), None if label is None else int(label[0])


class TFRecordReader:
    """Images (and labels) in TFRecord shards (see the module's docstring), read at their offsets.

    Parameters
    ----------
    paths : list of str
        The shards, in order (:func:`write_tfrecord_shards` returns them so).
    offsets : list of list of int, optional
        Each shard's record offsets (:func:`record_offsets`); None: the driver reads them now.
    """

    def __init__(self, paths, offsets=None):
        self.paths = [os.fspath(p) for p in paths]
        if not self.paths:
            raise ValueError("paths must name at least one TFRecord shard")
        self.offsets = [record_offsets(p) for p in self.paths] if offsets is None else [list(o) for o in offsets]
        self.bounds = np.concatenate([[0], np.cumsum([len(o) for o in self.offsets])]).astype(np.int64)
        self.origin = f"TFRecord shards {os.path.dirname(self.paths[0]) or '.'}"
        self.readers = None

    def __len__(self):
        return int(self.bounds[-1])

    def setup(self):
        """Open every shard once per worker."""
        if self.readers is None:
            self.readers = []
            for path in self.paths:
                try:
                    self.readers.append(tf_record_random_reader(path))
                except Exception as err:  # noqa: BLE001 - IOError, NotFoundError
                    raise ValueError(f"the TFRecord shard {path} cannot be opened ({err})") from None

    def _record(self, shard, index):
        """``(image, label)`` of record ``index`` of ``shard``, its checksums checked."""
        where = f"record {index} of the TFRecord shard {self.paths[shard]}"
        try:
            data, _ = self.readers[shard].read(self.offsets[shard][index])
        except Exception as err:  # noqa: BLE001 - DataLossError (checksum), IndexError, OSError
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise ValueError(f"{where} is corrupt ({type(err).__name__}: {first}); write the shard again") from None
        return parse_example(data, where)

    def read(self, start, stop):
        """``(x, y)`` of images ``start:stop``, across shards."""
        images, labels = [], []
        for shard, (lo, hi) in enumerate(zip(self.bounds[:-1], self.bounds[1:])):
            for i in range(max(start, lo), min(stop, hi)):
                image, label = self._record(shard, int(i - lo))
                if images and (image.shape != images[0].shape or image.dtype != images[0].dtype):
                    raise ValueError(f"record {int(i - lo)} of the TFRecord shard {self.paths[shard]} holds an "
                                     f"image of shape {image.shape} and dtype {image.dtype}, the others "
                                     f"{images[0].shape} and {images[0].dtype}")
                if labels and (label is None) != (labels[0] is None):
                    what = "lacks the label the others have" if label is None else "has a label, the others none"
                    raise ValueError(f"record {int(i - lo)} of the TFRecord shard {self.paths[shard]} {what}")
                images.append(image)
                labels.append(label)
        return np.stack(images), (None if labels[0] is None else np.array(labels, np.int64))
