"""Running Keras models on data without losing float64, batch by batch.

MAPPING §9: ``Model.predict``/``evaluate``/``fit`` cast NumPy float64 inputs to
``keras.config.floatx()`` (float32 by default) before the model sees them.  The helpers
here never go through that cast: :func:`predict_batches` feeds batches to
``predict_on_batch`` (compiled, no cast), and :func:`floatx` lets a model's own
``predict`` run with floatx set to its input dtype.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from .errors import ShapeError


@contextlib.contextmanager
def floatx(dtype):
    """Temporarily set ``keras.config.floatx()`` to ``dtype``."""
    old = keras.config.floatx()
    keras.config.set_floatx(str(dtype))
    try:
        yield
    finally:
        keras.config.set_floatx(old)


def check_shape(x, input_shape, what="input"):
    """Raise :class:`ShapeError` unless ``x`` is ``(N,) + input_shape``."""
    shape = tuple(np.shape(x))
    expected = tuple(input_shape)
    if len(shape) != len(expected) + 1 or shape[1:] != expected:
        hint = ""
        if len(shape) >= 2 and int(np.prod(shape[1:])) == int(np.prod(expected)):
            hint = f" (same number of values: reshape to (-1,) + {expected})"
        raise ShapeError(f"{what} has shape {shape}, the model expects (N,) + {expected}{hint}")


def float_inputs(x, input_shape, input_range, what="input"):
    """Validated ``x_hat = (x - p) / (q - p)`` in float64."""
    check_shape(x, input_shape, what)
    p, q = (float(v) for v in input_range)
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return (x - p) / (q - p)


def batches(x, batch_size):
    """Yield consecutive slices of ``x`` (a NumPy array) of ``batch_size`` rows."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]


def progress(iterable, total, desc, verbose="auto"):
    """A tqdm progress bar unless ``verbose`` is 0."""
    if verbose == 0:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True, mininterval=1.0)


def predict_batches(model, x, batch_size=256, verbose="auto", desc=None):
    """Yield ``model.predict_on_batch`` for consecutive batches of ``x``, keeping its dtype.

    A short last batch is padded to ``batch_size`` (and the padding dropped from the
    outputs), so the compiled function sees one shape and is traced once.
    """
    n_batches = (len(x) + batch_size - 1) // batch_size
    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    for batch in progress(batches(x, batch_size), n_batches, desc or model.name, verbose):
        batch = np.asarray(batch, dtype=dtype)
        n = len(batch)
        if n < batch_size and n_batches > 1:
            batch = np.concatenate([batch, np.repeat(batch[-1:], batch_size - n, axis=0)])
        out = model.predict_on_batch(batch)
        if len(batch) != n:
            out = [o[:n] for o in out] if isinstance(out, (list, tuple)) else out[:n]
        yield out
