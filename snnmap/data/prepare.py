"""How snnmap turns the images a source holds into network inputs, one preparation per kind of data set.

``"pixels"`` (MNIST, Fashion-MNIST)
    ``x = pixel / 255`` in ``[0, 1]``, with a channel axis of 1.
``"standardised"`` (CIFAR)
    ``x = clip((pixel / 255 - mean[c]) / std[c], p, q)`` per colour channel ``c``, with the mean and
    population standard deviation of the whole training split as read (before ``max_train``, so that
    truncating the training set does not change the test inputs), ``[p, q]`` the data set's input range.
``"preprocessed"`` (PLACES365, PASS)
    the stored arrays themselves, still memory-mapped.

Each preparation is ``prepare(spec, data, flat) -> (images, fields)``: ``images`` maps a split's
stored images to inputs, ``fields`` are :class:`snnmap.data.DataSet` fields (the description among them).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataSourceError
from .dataset import count_text

_CHUNK = 2000  # images processed at a time, to bound the memory of temporaries


def _pixels(spec, data, flat: bool):
    """``pixel / 255`` as float32."""
    def images(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / np.float32(255.0)
        return x.reshape(x.shape[0], -1) if flat else x.reshape(x.shape + (1,))

    return images, {"description": data.description, "num_classes": spec.num_classes,
                    "input_range": spec.input_range}


def channel_histograms(images: np.ndarray) -> np.ndarray:
    """Per-channel histograms of the 256 values of ``uint8`` images (channels last).

    Parameters
    ----------
    images : numpy.ndarray
        ``uint8`` images ``(N, ..., C)``.

    Returns
    -------
    numpy.ndarray
        ``int64`` counts of shape ``(C, 256)``.
    """
    channels = int(images.shape[-1])
    offsets = np.arange(channels, dtype=np.intp) * 256
    counts = np.zeros(channels * 256, np.int64)
    for start in range(0, int(images.shape[0]), _CHUNK):
        block = images[start:start + _CHUNK].reshape(-1, channels)
        counts += np.bincount((block + offsets).ravel(), minlength=channels * 256)
    return counts.reshape(channels, 256)


def channel_statistics(histograms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population standard deviation of ``pixel / 255``, exactly, in float64.

    Parameters
    ----------
    histograms : numpy.ndarray
        Output of :func:`channel_histograms`.

    Returns
    -------
    mean, std : numpy.ndarray
        Shape ``(C,)``.
    """
    values = np.arange(256) / 255.0
    count = histograms.sum(axis=1)
    mean = histograms @ values / count
    var = (histograms * np.square(values[None, :] - mean[:, None])).sum(axis=1) / count
    return mean, np.sqrt(var)


def standardise(images: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: tuple, flat: bool) -> np.ndarray:
    """``clip((images / 255 - mean) / std, p, q)`` as float32.

    The formula is evaluated in float64 once per channel and pixel value (a 256-entry table per
    channel) and the table is then looked up.

    Parameters
    ----------
    images : numpy.ndarray
        ``uint8`` images, channels last.
    mean, std : numpy.ndarray
        Per-channel statistics of ``pixel / 255``.
    clip : tuple of float
        ``(p, q)``.
    flat : bool
        Flatten the image axes.

    Returns
    -------
    numpy.ndarray
    """
    channels = int(images.shape[-1])
    values = np.arange(256)[:, None] / 255.0
    table = np.clip((values - mean[None, :]) / std[None, :], clip[0], clip[1]).astype(np.float32)
    channel = np.arange(channels)
    x = np.empty(images.shape, np.float32)
    for start in range(0, int(images.shape[0]), _CHUNK):
        x[start:start + _CHUNK] = table[images[start:start + _CHUNK], channel]
    return x.reshape(x.shape[0], -1) if flat else x


def _standardised(spec, data, flat: bool):
    """Per-channel standardisation with the training split's statistics, clipped to the input range."""
    x_train, _, x_test, _ = data.arrays
    if int(x_train.shape[0]) == 0:
        raise DataSourceError(
            f"the {spec.display} training split from {data.where} is empty; its "
            "per-channel mean and std are needed to standardise the inputs")
    if x_train.dtype != np.uint8 or x_test.dtype != np.uint8:
        raise DataSourceError(
            f"the {spec.display} images from {data.where} are {x_train.dtype} / {x_test.dtype}; expected "
            "uint8 pixel values")
    histograms = channel_histograms(x_train)
    if np.any(np.count_nonzero(histograms, axis=1) < 2):
        raise DataSourceError(
            f"a colour channel of the {spec.display} training images from {data.where} is constant; its "
            "standard deviation is 0, so the inputs cannot be standardised")
    mean, std = channel_statistics(histograms)
    low, high = spec.input_range
    preprocessing = {
        "method": "per-channel standardisation with the training-set mean and std, then clipping",
        "formula": f"clip((pixel / 255 - mean[c]) / std[c], {low:g}, {high:g})",
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "scale": "mean and std refer to pixel / 255 (values in [0, 1])",
        "channels": "last axis, in stored order (RGB for TFDS and keras.datasets copies)",
        "ddof": 0,
        "clip": [low, high],
        "statistics_from": f"all {count_text(int(x_train.shape[0]))} images of the training split, before "
                           "max_train",
    }
    description = (data.description + "; inputs standardised per channel with the training-set mean/std "
                   f"and clipped to [{low:g}, {high:g}]")
    return (lambda x: standardise(x, mean, std, spec.input_range, flat),
            {"description": description, "num_classes": spec.num_classes, "input_range": spec.input_range,
             "preprocessing": preprocessing})


def _preprocessed(spec, data, flat: bool):
    """The stored arrays; flattening keeps a C-contiguous memory map a memory map."""
    def images(x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:]))) if flat else x

    return images, {"description": data.description, **data.fields}


#: Preparation by the name :attr:`snnmap.data.registry.DataSetSpec.preparation` gives.
PREPARATIONS = {"pixels": _pixels, "standardised": _standardised, "preprocessed": _preprocessed}
