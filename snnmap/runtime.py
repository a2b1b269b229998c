"""Feeding data to Keras models batch by batch, without losing float64 or memory.

docs/method.md §9: ``Model.predict``/``evaluate``/``fit`` cast NumPy float64 inputs to
``keras.config.floatx()`` (float32 by default) before the model sees them.  The helpers
here never go through that cast: :func:`stream` yields normalised float64 batches from
arrays (NumPy arrays and memory maps are sliced lazily), ``tf.data`` datasets or any
iterable, and :func:`predict_batches` feeds them to ``predict_on_batch`` (compiled, no
cast).  :func:`floatx` lets a model's own ``predict`` run with floatx set to its input
dtype.  Nothing here holds more than one batch.
"""

from __future__ import annotations

import contextlib
import sys

import keras
import numpy as np

from .errors import InputRangeError, ShapeError

#: Values this far outside ``input_range`` (relative to its width) are rounding, not data out of range.
RANGE_TOLERANCE = 1e-9


@contextlib.contextmanager
def floatx(dtype):
    """Temporarily set ``keras.config.floatx()`` to ``dtype``.

    Parameters
    ----------
    dtype : str
    """
    old = keras.config.floatx()
    keras.config.set_floatx(str(dtype))
    try:
        yield
    finally:
        keras.config.set_floatx(old)


def check_shape(x, input_shape, what="input"):
    """Raise :class:`ShapeError` unless ``x`` is ``(N,) + input_shape``.

    Parameters
    ----------
    x : array_like
    input_shape : tuple
        Shape of one input.
    what : str
        What ``x`` is, for the message.
    """
    shape = tuple(np.shape(x))
    expected = tuple(input_shape)
    if len(shape) != len(expected) + 1 or shape[1:] != expected:
        hint = ""
        if len(shape) >= 2 and int(np.prod(shape[1:])) == int(np.prod(expected)):
            hint = f" (same number of values: reshape to (-1,) + {expected})"
        raise ShapeError(f"{what} has shape {shape}, the model expects (N,) + {expected}{hint}")


def check_input_range(input_range, argument="input_range"):
    """``(p, q)`` as floats, refused unless ``input_range`` is a pair of finite numbers with ``q > p``.

    Parameters
    ----------
    input_range : sequence of two numbers
        The range to check.
    argument : str
        The argument's name, for the message.
    """
    try:
        values = None if isinstance(input_range, (str, bytes)) else [float(v) for v in input_range]
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != 2:
        raise InputRangeError(f"{argument}= must be a pair (p, q) of numbers, got {input_range!r}", argument)
    p, q = values
    if not (np.isfinite(p) and np.isfinite(q) and q > p):
        raise InputRangeError(f"{argument}= must be (p, q) of finite numbers with q > p, got {input_range!r}", argument)
    return p, q


def check_in_range(x, input_range, what="input", argument="input_range"):
    """Refuse ``x`` unless every value lies in ``input_range`` (up to :data:`RANGE_TOLERANCE` of its width).

    Parameters
    ----------
    x : ndarray
        The values; non-finite ones are left to the caller.
    input_range : (float, float)
        ``(p, q)``.
    what : str
        What ``x`` is, for the message.
    argument : str
        The argument that sets the range, for the message.
    """
    p, q = input_range
    x = x[np.isfinite(x)]  # NaN and inf are refused (or let through) by the caller's check_finite
    if x.size == 0:
        return
    low, high = float(np.min(x)), float(np.max(x))
    slack = RANGE_TOLERANCE * (q - p)
    if low >= p - slack and high <= q + slack:
        return
    hint = " (8-bit pixels? scale them to [0, 1] first)" if high > 1 and (p, q) == (0.0, 1.0) and high <= 255 else ""
    raise InputRangeError(
        f"{what} has values in [{low:g}, {high:g}], outside {argument}=({p:g}, {q:g}){hint}: pass the range "
        f"the data lie in as {argument}=, or clip=True to clip them to it", argument)


def normalise(x, input_range, what="input", check_finite=True, clip=False, check_range=True):
    """``x_hat = (x - p) / (q - p)`` in float64: the one input normalisation of the package.

    Parameters
    ----------
    x : array_like
        Values in ``input_range``.
    input_range : (float, float)
        ``(p, q)`` with ``q > p``.
    what : str
        What ``x`` is, for error messages.
    check_finite : bool
        Refuse NaN and infinite values.
    clip : bool
        Clip ``x`` to ``input_range`` first (before the normalisation).
    check_range : bool
        Refuse values outside ``input_range`` (:class:`~snnmap.errors.InputRangeError`) unless ``clip``;
        False only for callers that handle the range themselves.
    """
    p, q = check_input_range(input_range)
    x = np.asarray(x, dtype=np.float64)
    if check_finite and not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite values")
    if clip:
        x = np.clip(x, p, q)
    elif check_range:
        check_in_range(x, (p, q), what)
    return (x - p) / (q - p)


def _is_array(data):
    return isinstance(data, np.ndarray) or (hasattr(data, "__array__") and hasattr(data, "shape")
                                            and not hasattr(data, "as_numpy_iterator"))


def num_batches(data, batch_size):
    """Number of batches :func:`stream` will yield, or None if it cannot be known cheaply.

    Parameters
    ----------
    data : array_like, ``tf.data.Dataset`` or iterable
    batch_size : int
    """
    if _is_array(data):
        return (len(data) + batch_size - 1) // batch_size
    cardinality = getattr(data, "cardinality", None)
    if cardinality is not None:
        try:
            n = int(cardinality())
            return n if n >= 0 else None
        except Exception:  # noqa: BLE001 - unknown cardinality
            return None
    return None


def stream(x, input_shape, input_range=(0.0, 1.0), y=None, batch_size=256, what="input", clip=False):
    """Yield ``(x_hat, y)`` batches: normalised float64 inputs and labels (or None).

    Parameters
    ----------
    x : array_like, ``tf.data.Dataset`` or iterable
        Inputs in their original range.  Arrays (including memory maps) are sliced one
        batch at a time; a dataset or iterable yields batches ``x`` or ``(x, y)``.
    input_shape : tuple
        Expected shape of one input; every batch is checked.
    input_range : (float, float)
    y : array_like, optional
        Labels for array inputs.
    batch_size : int
        Batch size for array inputs.
    what : str
        What ``x`` is, for error messages.
    clip : bool
        Clip the inputs to ``input_range``; without it, values outside it are refused (see :func:`normalise`).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if _is_array(x):
        check_shape(x, input_shape, what)
        if y is not None and len(y) != len(x):
            raise ShapeError(f"{len(y)} labels for {len(x)} {what}s")
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            labels = None if y is None else np.asarray(y[start:stop])
            yield normalise(x[start:stop], input_range, what, clip=clip), labels
        return
    items = x.as_numpy_iterator() if hasattr(x, "as_numpy_iterator") else x
    for item in items:
        xb, yb = (item[0], item[1]) if isinstance(item, (tuple, list)) else (item, None)
        check_shape(xb, input_shape, what)
        yield normalise(xb, input_range, what, clip=clip), (None if yb is None else _labels(yb))


def _labels(y):
    """Class ids from labels given as ids, ``(N, 1)`` ids or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim == 2:
        return np.argmax(y, axis=1)
    return y


def progress(iterable, total, desc, verbose="auto"):
    """A tqdm progress bar over ``iterable`` unless ``verbose`` is 0.

    Parameters
    ----------
    iterable : iterable
    total : int or None
        Its length, if known.
    desc : str
        The bar's label.
    verbose : "auto", 0, 1 or 2
    """
    if verbose == 0:
        return iterable
    return _bar_class()(iterable, total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True,
                        mininterval=1.0)


def _bar_class():
    """tqdm's notebook bar in a Jupyter kernel that has ipywidgets, its text bar everywhere else.

    ``tqdm.auto`` would pick the notebook bar in any kernel and warn ("IProgress not found") when
    ipywidgets is missing; the text bar works there without a word.
    """
    # Imported on first use: quiet runs need no progress bar.
    import tqdm.std

    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401 - only whether it is there
            import tqdm.notebook
        except ImportError:
            return tqdm.std.tqdm
        return tqdm.notebook.tqdm
    return tqdm.std.tqdm


def distribution():
    """The active ``tf.distribute`` strategy if it has several replicas, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf  # only under the TensorFlow backend; JAX runs never load it

    if not tf.distribute.has_strategy():
        return None
    strategy = tf.distribute.get_strategy()
    return strategy if strategy.num_replicas_in_sync > 1 else None


def distribute_scope(mode="auto"):
    """A context for building and running models on several devices.

    ``mode="auto"``: a ``tf.distribute.MirroredStrategy`` over all GPUs when there are two
    or more (TensorFlow backend), otherwise nothing changes.  ``"none"``: never.
    ``"mirrored"``: a MirroredStrategy over every GPU, or every logical CPU if there is no GPU.
    """
    if mode not in ("auto", "none", "mirrored") or keras.backend.backend() != "tensorflow" or mode == "none":
        if mode not in ("auto", "none", "mirrored"):
            raise ValueError(f"distribute must be auto, none or mirrored, got {mode!r}")
        return contextlib.nullcontext()
    import tensorflow as tf  # only under the TensorFlow backend; JAX runs never load it

    gpus = tf.config.list_logical_devices("GPU")
    if mode == "auto" and len(gpus) < 2:
        return contextlib.nullcontext()
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices).scope()


def predict_on(model, batch, size=None):
    """``model.predict_on_batch`` in the model's input dtype; a batch shorter than ``size``
    is padded to it (and the padding dropped), so the compiled function sees one shape.

    Under a multi-replica ``tf.distribute`` strategy the batch is split across the
    replicas (through a ``tf.data`` dataset, which keeps float64).

    Parameters
    ----------
    model : keras.Model
    batch : array_like
        One batch of inputs.
    size : int, optional
        The batch size the compiled function is traced for.
    """
    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    batch = np.asarray(batch, dtype=dtype)
    n = len(batch)
    if size is not None and 0 < n < size:
        batch = np.concatenate([batch, np.repeat(batch[-1:], size - n, axis=0)])
    if distribution() is not None:
        import tensorflow as tf  # a strategy exists, so the backend is TensorFlow

        out = model.predict(tf.data.Dataset.from_tensor_slices(batch).batch(len(batch)), verbose=0)
    else:
        out = model.predict_on_batch(batch)
    if len(batch) != n:
        out = [o[:n] for o in out] if isinstance(out, (list, tuple)) else out[:n]
    return out


def predict_batches(model, x, batch_size=256, verbose="auto", desc=None, input_range=None, clip=False):
    """Yield ``model.predict_on_batch`` for consecutive batches of ``x``, keeping its dtype.

    Parameters
    ----------
    model : keras.Model
    x : array_like, ``tf.data.Dataset`` or iterable
        An array (sliced lazily) or anything :func:`stream` accepts.
    batch_size : int
    verbose : "auto", 0, 1 or 2
        Progress display.
    desc : str, optional
        Label of the progress bar (default: the model's name).
    input_range : (float, float), optional
        With it, the batches are normalised first.
    clip : bool
        Clip the inputs to ``input_range`` instead of refusing values outside it.
    """
    shape = tuple(model.inputs[0].shape[1:])
    source = stream(x, shape, input_range or (0.0, 1.0), batch_size=batch_size, clip=clip)
    size = None
    for x_hat, _ in progress(source, num_batches(x, batch_size), desc or model.name, verbose):
        size = size or len(x_hat)
        yield predict_on(model, x_hat, size)


def derive_seed(seed: int, index: int) -> int:
    """A 31-bit seed derived from ``seed`` and ``index``.

    Distinct indices give independent streams, equal ones the same.  It seeds spiking
    layer ``index`` from the run's seed, and trial ``index`` of an experiment from the
    experiment's seed.

    Parameters
    ----------
    seed : int
        The parent seed.
    index : int
        Which child stream.
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)
