"""``X_n``: the largest ReLU output of every hidden layer on the calibration data (docs/method.md §4).

ONE streamed float32 pass keeps running per-image maxima; the few images that attain them
are re-measured in float64, so ``X_n`` is the float64 maximum without a float64 pass over
all the data.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from . import graph
from .build import hidden_layers
from ..runtime import num_batches, predict_on, progress, stream


@dataclasses.dataclass(frozen=True)
class CalibrationConfig:
    """Tuning of the float32 calibration pass.

    Attributes
    ----------
    recheck : int
        Images per hidden layer (those with the largest float32 maxima) re-measured in
        float64 after the pass.
    float32_tolerance : float
        Relative error a float32 pass may make in an image's largest activation, with a
        wide margin; near ties within it raise ``X_n`` to a safe bound.
    """

    recheck: int = 8
    float32_tolerance: float = 1e-3


#: The default tuning of :func:`layer_maxima`.
DEFAULT_CALIBRATION = CalibrationConfig()


def maxima_probe(model):
    """A model returning every image's largest output of each hidden layer, ``[(N,), ...]``, and their number.

    Parameters
    ----------
    model : keras.Model
        The preprocessed network.
    """
    hidden = hidden_layers(model)

    def axes(t):
        return tuple(range(1, len(t.shape)))

    return keras.Model(model.inputs, [ops.max(layer.output, axis=axes(layer.output)) for layer in hidden]
                       or [model.outputs[0]]), len(hidden)


def probe_rows(probe, x_hat, n_hidden, size=None):
    """``(len(x_hat), n_hidden)`` float64 per-image maxima of one batch.

    Parameters
    ----------
    probe : keras.Model
        From :func:`maxima_probe`.
    x_hat : ndarray
        The batch, normalised to [0, 1].
    n_hidden : int
        The number of hidden layers (:func:`maxima_probe`'s second value).
    size : int, optional
        The batch size the probe is called with (the pass's first batch's, so that every batch
        is computed alike).
    """
    outputs = predict_on(probe, x_hat, size)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return np.stack([np.asarray(o, np.float64).reshape(len(x_hat), -1).max(axis=1)
                     for o in outputs], axis=1)[:, :n_hidden]


class TopImages:
    """The ``k`` images with the largest value in each column, and the largest value left out.

    Parameters
    ----------
    k : int
        Images kept per column.
    n_columns : int
        Number of columns (hidden layers).
    """

    def __init__(self, k, n_columns):
        self.k = k
        self.values = np.full((n_columns, 0), -np.inf)
        self.ids = np.zeros((n_columns, 0), np.int64)
        self.dropped = np.full(n_columns, -np.inf)
        self.images = {}

    def add(self, first_id, rows, x_hat):
        """Offer one batch: ``rows`` (its per-image values) and ``x_hat`` (its images)."""
        new_ids = np.broadcast_to(first_id + np.arange(len(rows)), (len(self.ids), len(rows)))
        ids = np.concatenate([self.ids, new_ids], 1)
        values = np.concatenate([self.values, rows.T], axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        keep, drop = order[:, :self.k], order[:, self.k:]
        if drop.shape[1]:
            self.dropped = np.maximum(self.dropped, np.take_along_axis(values, drop, 1).max(axis=1))
        self.values, self.ids = np.take_along_axis(values, keep, 1), np.take_along_axis(ids, keep, 1)
        wanted = set(self.ids.ravel().tolist())
        self.images = {i: img for i, img in self.images.items() if i in wanted}
        for j in range(len(rows)):
            if first_id + j in wanted:
                self.images[first_id + j] = x_hat[j]


def _stream_maxima(probe, n_hidden, source, total, verbose, top):
    """Per-image maxima of every batch of ``source``, offering each batch to ``top``."""
    per_image, size, seen = [], None, 0
    for x_hat, _ in progress(source, total, "X_n", verbose):
        size = size or len(x_hat)
        rows = probe_rows(probe, x_hat, n_hidden, size)
        if top is not None:
            top.add(seen, rows, x_hat)
        per_image.append(rows)
        seen += len(x_hat)
    if not per_image:
        raise ValueError("the calibration data are empty: X_n needs at least one input")
    return np.concatenate(per_image), seen


def recheck_candidates(probe64, top, per_image, shape, batch_size, n_hidden, config):
    """Re-measure ``top``'s images in float64; ``(X_n, raised for near ties per layer, images re-measured)``.

    Parameters
    ----------
    probe64 : keras.Model
        :func:`maxima_probe` of the float64 network.
    top : TopImages
        The candidate images of the float32 pass.
    per_image : ndarray
        ``(N, n_hidden)`` per-image maxima; the candidates' rows are overwritten with float64 values.
    shape : tuple of int
        One input's shape.
    batch_size : int
        Images per float64 batch.
    n_hidden : int
        The number of hidden layers.
    config : CalibrationConfig
        The float32 tolerance for near ties.
    """
    ids = np.array(sorted(top.images), np.int64)
    images = np.stack([top.images[i] for i in ids]) if len(ids) else np.zeros((0,) + shape)
    for start in range(0, len(ids), batch_size):
        per_image[ids[start:start + batch_size]] = probe_rows(probe64, images[start:start + batch_size], n_hidden)
    x_n, raised = [], []
    for col in range(n_hidden):
        best = float(per_image[ids, col].max())
        left_out = float(top.dropped[col]) * (1.0 + config.float32_tolerance)
        raised.append(bool(left_out > best))
        x_n.append(max(best, left_out))
    return x_n, raised, len(ids)


def layer_maxima(model, x, input_range=(0.0, 1.0), batch_size=256, verbose="auto", dtype="float32",
                 recheck=None, config=DEFAULT_CALIBRATION, clip=False):
    """``X_n``: the largest output of every hidden ReLU layer over ``x``, in one streamed pass.

    The probe model returns per-image maxima only and a running maximum is kept batch by
    batch, so memory depends neither on the layer sizes nor on the amount of data.

    With ``dtype="float32"`` (default) the pass runs a float32 copy of the network and
    keeps, per hidden layer, the ``recheck`` images with the largest float32 maxima; after
    the pass those few images are run again in float64 and ``X_n`` is the largest float64
    value among them.  That is the float64 maximum over all of ``x`` whenever float32
    errs by less than ``config.float32_tolerance`` (relative) and the best image left out
    is at least that far below it; otherwise (near ties) ``X_n`` is raised to
    ``(1 + float32_tolerance)`` times the best float32 value left out, which still bounds
    every activation (a slightly longer window, never a violation).  ``dtype="float64"``
    measures everything in float64.

    Parameters
    ----------
    model : keras.Model
        Preprocessed network (input ``x_hat``).
    x : array_like, ``tf.data.Dataset`` or iterable
        Calibration inputs in their original range (see :func:`snnmap.runtime.stream`).
    input_range : (float, float)
        ``(p, q)`` of the inputs.
    batch_size : int
        Batch size of the pass.
    verbose : "auto", 0, 1 or 2
        Progress display.
    dtype : "float32" or "float64"
        Precision of the streamed pass.
    recheck : int, optional
        Images per hidden layer re-measured in float64 after a float32 pass (default
        ``config.recheck``).
    config : CalibrationConfig
        Tuning of the float32 pass.
    clip : bool
        Clip ``x`` to ``input_range`` instead of refusing values outside it.

    Returns
    -------
    (list of float, ndarray, dict)
        ``X_n`` per hidden layer; every image's largest activation per hidden layer,
        ``(n_images, n_hidden)`` (float32 precision except for the re-measured images; for
        windows from a quantile, ``x_quantile``); and how ``X_n`` was measured.
    """
    recheck = config.recheck if recheck is None else recheck
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if recheck < 1:
        raise ValueError(f"recheck must be at least 1, got {recheck}")
    probe64, n_hidden = maxima_probe(model)
    probe = probe64 if dtype == "float64" else maxima_probe(graph.with_dtype(model, "float32"))[0]
    top = TopImages(recheck, n_hidden) if dtype == "float32" else None
    shape = tuple(model.inputs[0].shape[1:])
    source = stream(x, shape, input_range, batch_size=batch_size, what="calibration input (x_calib)", clip=clip)
    per_image, seen = _stream_maxima(probe, n_hidden, source, num_batches(x, batch_size), verbose, top)
    how = {"dtype": dtype, "n_images": int(seen)}
    if top is None:
        return [float(v) for v in per_image.max(axis=0)], per_image, how
    x_n, raised, n_rechecked = recheck_candidates(probe64, top, per_image, shape, batch_size, n_hidden, config)
    how.update(rechecked_float64=int(n_rechecked), recheck_per_layer=int(recheck),
               float32_tolerance=config.float32_tolerance, raised_for_near_ties=raised)
    return x_n, per_image, how
