"""TensorFlow Datasets (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100).

A copy already prepared on disk is used directly; otherwise a download is attempted, but only
after a quick connectivity check, so that offline runs fail fast instead of hanging.
``tensorflow_datasets`` (and with it TensorFlow) is imported only when this source is queried:
loading the other sources must not pay TensorFlow's import time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

import numpy as np

from ..errors import DataSourceError
from .reader import Reader, Request, SourceData, Unavailable
from .registry import NPY_SPLIT_FILES

_log = logging.getLogger(__name__)


def network_available(host: str, port: int, timeout: float) -> bool:
    """Return whether a TCP connection to ``host:port`` succeeds quickly.

    Name resolution and connection together are bounded by ``timeout``
    seconds (the probe runs in a daemon thread because ``getaddrinfo`` has no
    timeout of its own).  Any failure counts as "no network".

    Parameters
    ----------
    host : str
        Host to reach.
    port : int
        TCP port.
    timeout : float
        Seconds to wait, at most.

    Returns
    -------
    bool
    """
    result = {"ok": False}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except BaseException:  # noqa: BLE001 - any failure means offline
            result["ok"] = False

    thread = threading.Thread(target=probe, name="snnmap-net-probe", daemon=True)
    try:
        thread.start()
        thread.join(timeout)
    except BaseException:  # noqa: BLE001
        return False
    return bool(result["ok"]) and not thread.is_alive()


def _alternative(spec) -> str:
    """What to do instead of TFDS, for error messages."""
    if spec.npz_file:
        return f"use source='npz' with data_dir holding {spec.npz_file} or {', '.join(NPY_SPLIT_FILES)}"
    return "use source='idx' with data_dir"


def _import_tfds(spec):
    """Import ``tensorflow_datasets``; failures -> DataSourceError."""
    try:
        # Imported here: TensorFlow's import takes seconds and only this source needs it.
        import tensorflow_datasets as tfds
    except Exception as exc:  # noqa: BLE001 - broken installs raise anything
        raise DataSourceError(
            f"TensorFlow Datasets is not usable ({type(exc).__name__}: {exc}); "
            f"install tensorflow-datasets or {_alternative(spec)}") from exc
    return tfds


def _builder(spec, tfds_data_dir: str | None):
    """The TFDS module and the builder of ``spec`` (never touches the network).

    TFDS itself reads ``TFDS_DATA_DIR`` only once, when it is imported; reading it here on every
    call lets the variable be changed at run time.
    """
    tfds = _import_tfds(spec)
    tfds_data_dir = os.fspath(tfds_data_dir) if tfds_data_dir else (os.environ.get("TFDS_DATA_DIR") or None)
    try:
        builder = tfds.builder(spec.tfds_name, data_dir=tfds_data_dir)
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"cannot create the TFDS builder '{spec.tfds_name}' (data_dir="
            f"{tfds_data_dir!r}): {type(exc).__name__}: {exc}") from exc
    return tfds, builder


def _prepare(builder, where: str, tfds_name: str) -> None:
    """Download and prepare a copy; DataSourceError on failure."""
    _log.info("Downloading and preparing TFDS '%s' into %s", tfds_name, where)
    try:
        builder.download_and_prepare()
    except Exception as exc:  # noqa: BLE001
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            # e.g. tensorflow-datasets 4.9.x needs the undeclared
            # 'importlib_resources' package to prepare data sets.
            hint = f" (TFDS needs the missing Python package '{exc.name}': pip install {exc.name})"
        raise DataSourceError(
            f"TFDS download/preparation of '{tfds_name}' into '{where}' "
            f"failed: {type(exc).__name__}: {exc}{hint}") from exc


def _read_splits(tfds, builder, spec, where: str) -> tuple:
    """Images and labels of both splits of a prepared copy, checked; grey images lose their channel axis."""
    try:
        splits = {}
        for split in ("train", "test"):
            data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
            splits[split] = (np.asarray(data["image"]), np.asarray(data["label"]))
    except Exception as exc:  # noqa: BLE001
        raise DataSourceError(
            f"reading the prepared TFDS copy of '{spec.tfds_name}' in '{where}' "
            f"failed: {type(exc).__name__}: {exc}") from exc
    converted = []
    expected = spec.image_shape
    for split in ("train", "test"):
        images, labels = splits[split]
        if len(expected) == 2 and images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.shape[1:] != expected:
            raise DataSourceError(
                f"TFDS '{spec.tfds_name}' {split} images in '{where}' have shape "
                f"{images.shape}; expected N x " + " x ".join(str(d) for d in expected)
                + (" (x 1)" if len(expected) == 2 else ""))
        if labels.shape != (images.shape[0],):
            raise DataSourceError(
                f"TFDS '{spec.tfds_name}' {split} labels in '{where}' have shape "
                f"{labels.shape}; expected ({images.shape[0]},)")
        converted.extend([images, labels])
    return tuple(converted)


class TfdsReader(Reader):
    """Reads TensorFlow Datasets copies, downloading one only when the network answers.

    Parameters
    ----------
    network_available : callable, optional
        ``network_available(host, port, timeout) -> bool``, asked before a download (default
        :func:`network_available`; offline tests pass one that says ``False``).
    host, port : str, int
        Where the probe connects (TFDS's download host).
    timeout_s : float
        Seconds the probe may take.
    """

    name = "tfds"
    takes_data_dir = False

    def __init__(self, network_available: Callable = network_available, host: str = "storage.googleapis.com",
                 port: int = 443, timeout_s: float = 3.0):
        self.network_available = network_available
        self.host, self.port, self.timeout_s = host, port, timeout_s

    def read(self, spec, request: Request) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.read`: a prepared copy, else a download if online.

        Raises
        ------
        DataSourceError
            If TFDS is not installed, no prepared copy exists and there is no network, or the
            download, preparation or reading fails; the message includes the original error.
        """
        tfds, builder = _builder(spec, request.tfds_data_dir)
        where = str(builder.data_dir)
        if not builder.is_prepared():
            if not self.network_available(self.host, self.port, self.timeout_s):
                raise DataSourceError(
                    f"no prepared TFDS copy of '{spec.tfds_name}' in '{where}' and no "
                    f"network connection ({self.host}:{self.port} unreachable within "
                    f"{self.timeout_s:g} s), so it cannot be downloaded; "
                    "prepare it on a machine with network access and point "
                    f"TFDS_DATA_DIR / tfds_data_dir at it, or {_alternative(spec)}")
            _prepare(builder, where, spec.tfds_name)
        arrays = _read_splits(tfds, builder, spec, where)
        text = f"TensorFlow Datasets '{spec.tfds_name}' in {where}"
        description, full = spec.sizes_description(text, int(arrays[0].shape[0]), int(arrays[2].shape[0]))
        return SourceData(arrays, "tfds", where, text, description, full)

    def attempt(self, spec, request: Request, reasons: list) -> SourceData:
        """See :meth:`snnmap.data.reader.Reader.attempt`: every failure passes on to the next source."""
        try:
            return self.read(spec, request)
        except DataSourceError as exc:
            _log.info("%s: TFDS not available (%s)", spec.display, exc)
            raise Unavailable(f"TFDS unavailable: {exc}") from exc

    def available(self, spec, request: Request) -> bool:
        """See :meth:`snnmap.data.reader.Reader.available`: a prepared copy exists (no network access)."""
        try:
            return bool(_builder(spec, request.tfds_data_dir)[1].is_prepared())
        except Exception:  # noqa: BLE001 - "not usable" is the answer
            return False
