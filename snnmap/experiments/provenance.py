"""What a results file records about how it was made: software versions and the time."""

from __future__ import annotations

import datetime
import platform

import keras
import numpy as np


def versions() -> dict:
    """Versions of Python, Keras, NumPy, the Keras backend and TensorFlow (when installed)."""
    out = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__,
           "backend": keras.backend.backend()}
    try:
        # TensorFlow is optional under the JAX backend.
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:  # pragma: no cover - other backends
        pass
    return out


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
