"""Files: every write goes to a temporary file in the same directory, then a rename.

A run that dies half-way leaves the previous file (or none), never a truncated one.
Weights are HDF5 (Keras ``.weights.h5``), metadata JSON, arrays ``.npy`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import numpy as np

from .errors import MissingPhase1Error


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix, dir=directory)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        # mkstemp makes private files; the result gets the usual permissions.
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def atomic_save_npy(path, array):
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array), allow_pickle=False)


def load_npy(path):
    return np.load(path, allow_pickle=False)


def atomic_save_weights(model, path):
    """``model.save_weights`` to a temporary ``.weights.h5`` file, then rename."""
    with atomic_path(path, suffix=".weights.h5") as tmp:
        os.remove(tmp)  # Keras refuses to overwrite silently in some versions
        model.save_weights(tmp)


def atomic_save_model(model, path):
    """``model.save`` (``.keras``) to a temporary file, then rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        os.remove(tmp)
        model.save(tmp)


def require_files(paths, producer):
    """Raise :class:`MissingPhase1Error` listing the files of ``paths`` that do not exist."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise MissingPhase1Error(
            "missing " + ", ".join(missing) + f": run {producer} first (with the same "
            "--logging_dir, --data_name and --model_name)"
        )
