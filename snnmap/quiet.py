"""Keeping other libraries' start-up chatter out of the user's output.

TensorFlow and XLA print lines such as ``cudart_stub.cc:31] Could not find cuda drivers`` and
``failed call to cuInit: ... UNKNOWN ERROR (303)`` straight to file descriptor 2 on every machine
without a GPU, whatever ``TF_CPP_MIN_LOG_LEVEL`` says (they are written before absl's C++ log is
initialised); TensorFlow Datasets logs ``Variant folder ... has no dataset_info.json`` for an
empty folder of a failed download; ``tf.function`` warns about retracing when a new SNN of other
shapes runs.  None of it is the user's, none of it changes a result.

This module removes exactly those messages and nothing else:

- :func:`filtered_stderr` runs a block with file descriptor 2 captured and writes back every
  line that is not one of :data:`NATIVE_NOISE`;
- :func:`import_keras` imports Keras (and with it TensorFlow) inside that block;
- :func:`install_log_filters` drops the known Python log records (:data:`LOG_NOISE`) of the
  ``tensorflow`` and ``absl`` loggers; the user's own warnings and log records are untouched.

It imports only the standard library, so that it can run before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile

#: Lines TensorFlow/XLA write to stderr at start-up on a machine without a usable GPU.
NATIVE_NOISE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers",
    r"cuda_platform\.cc:\d+\] failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
    r"TF-TRT Warning: Could not find TensorRT",
]))

#: Python log records of other libraries that are not the user's: logger name -> message pattern.
LOG_NOISE = {
    # A new SNN's first batch traces its graph; the retracing warning says nothing wrong.
    "tensorflow": re.compile(r"triggered tf\.function retracing"),
    # TFDS on an empty version folder left behind by a failed download attempt.
    "absl": re.compile(r"Variant folder .* has no dataset_info\.json"),
}


def set_native_log_level(level: str = "2"):
    """Set ``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow's C++ log) unless the user did.

    Parameters
    ----------
    level : str
        "2": errors only; TensorFlow reads it once, when it is imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)


def _replay(captured: bytes, fd: int):
    """Write the lines of ``captured`` that are not noise to ``fd``."""
    kept = [line for line in captured.splitlines(keepends=True)
            if not NATIVE_NOISE.search(line.decode("utf-8", "replace"))]
    if kept:
        os.write(fd, b"".join(kept))


@contextlib.contextmanager
def filtered_stderr():
    """Run a block with file descriptor 2 captured; afterwards write back all but the noise lines.

    Native libraries write to the descriptor, not to ``sys.stderr``, so the capture is at the
    descriptor.  Where there is no descriptor 2 (some embedded interpreters) the block runs
    unfiltered.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _replay(capture.read(), 2)


def import_keras(init_devices: bool = True):
    """Import Keras (TensorFlow with it) without its start-up noise, as snnmap needs it; returns ``keras``.

    On the JAX backend 64-bit mode is turned on: the spiking layers compute in float64 by default
    and JAX would truncate it to float32.

    Parameters
    ----------
    init_devices : bool
        Also list the physical devices now (TensorFlow backend), so that the ``cuInit`` line of a
        machine without GPU comes, and is dropped, here.  Listing them does not initialise the
        runtime: ``tf.config.set_visible_devices`` and memory growth can still be set afterwards.
    """
    set_native_log_level()
    with filtered_stderr():
        keras = importlib.import_module("keras")
        if keras.backend.backend() == "jax":
            importlib.import_module("jax").config.update("jax_enable_x64", True)
        if init_devices and keras.backend.backend() == "tensorflow":
            importlib.import_module("tensorflow").config.list_physical_devices()
    install_log_filters()
    return keras


class _DropKnown(logging.Filter):
    """Drops the records whose message matches ``pattern``; lets every other record through."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern

    def filter(self, record):
        try:
            return not self.pattern.search(record.getMessage())
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not ours to drop
            return True


def install_log_filters():
    """Attach the :data:`LOG_NOISE` filters to their loggers (once)."""
    for name, pattern in LOG_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnown) for f in logger.filters):
            logger.addFilter(_DropKnown(pattern))
