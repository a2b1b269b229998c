"""Files: every write goes to a temporary file in the same directory, then a rename.

A run that dies half-way leaves the previous file (or none), never a truncated one.
Weights are HDF5 (Keras ``.weights.h5``), metadata JSON, arrays ``.npy`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile

import numpy as np

from .errors import MissingPhase1Error, Phase1FileError


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str
        The file to write; its directory is made when missing.
    suffix : str
        Ending of the temporary name (writers such as Keras check the extension).
    """
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
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Parameters
    ----------
    path : str
    text : str
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def jsonable(value):
    """``value`` with only JSON types: NumPy arrays and scalars as lists and numbers, tuples
    as lists, keys as strings, non-finite floats as ``None``, ``"inf"`` or ``"-inf"``.

    Parameters
    ----------
    value : object
        Dicts, lists, tuples, NumPy arrays and scalars, numbers, strings, None.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def as_read_back(value):
    """``value`` as it reads back from a file :func:`atomic_write_json` wrote.

    Parameters
    ----------
    value : object
        See :func:`jsonable`.
    """
    return json.loads(json.dumps(jsonable(value)))


def atomic_write_json(path, data):
    """Write ``data`` to ``path`` atomically as indented JSON, keys in their order.

    Parameters
    ----------
    path : str
    data : object
        See :func:`jsonable`.
    """
    atomic_write_text(path, json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path):
    """The content of the JSON file ``path``.

    Parameters
    ----------
    path : str
    """
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def atomic_save_npy(path, array):
    """Write ``array`` to ``path`` atomically as ``.npy`` (no pickled objects).

    Parameters
    ----------
    path : str
    array : array_like
    """
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array), allow_pickle=False)


def load_npy(path):
    """The array of the ``.npy`` file ``path`` (pickled objects refused).

    Parameters
    ----------
    path : str

    Raises
    ------
    Phase1FileError
        When ``path`` is not a NumPy array file (garbage, truncated, or holding pickled objects).
    """
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:
        # np.load reads anything that is not an .npy header as "pickled data": say what it is instead.
        raise Phase1FileError(path, f"is not a NumPy array file (.npy) that snnmap can read ({err}); "
                              "write it again (run the command that produced it)") from None


def sha256_of(path, chunk=1 << 20):
    """The sha256 hex digest of the file ``path``, read in chunks.

    Parameters
    ----------
    path : str
    chunk : int
        Bytes read at a time.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(directory, what):
    """Make ``directory`` if missing and check a file can be created in it, before a long computation.

    Parameters
    ----------
    directory : str
    what : str
        What will be written there, for the message ("the results").

    Raises
    ------
    PermissionError
        Naming the directory, when nothing can be written there.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".snnmap-write-check.", dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise PermissionError(f"cannot write {what} in {directory} ({err.strerror or err}); make it writable or "
                              "choose another directory") from None


def atomic_save_weights(model, path):
    """``model.save_weights`` to a temporary ``.weights.h5`` file, then rename.

    Parameters
    ----------
    model : keras.Model
    path : str
        Ends with ``.weights.h5``.
    """
    with atomic_path(path, suffix=".weights.h5") as tmp:
        os.remove(tmp)  # Keras refuses to overwrite silently in some versions
        model.save_weights(tmp)


def atomic_save_model(model, path):
    """``model.save`` (``.keras``) to a temporary file, then rename.

    Parameters
    ----------
    model : keras.Model
    path : str
        Ends with ``.keras``.
    """
    with atomic_path(path, suffix=".keras") as tmp:
        os.remove(tmp)
        model.save(tmp)


def require_files(paths, producer):
    """Raise :class:`MissingPhase1Error` listing the files of ``paths`` that do not exist.

    Parameters
    ----------
    paths : list of str
    producer : str
        The command that writes them, for the message ("phase 1 (python -m snnmap.phase1)").
    """
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise MissingPhase1Error(
            "missing " + ", ".join(missing) + f": run {producer} first (with the same "
            "--logging_dir, --data_name and --model_name)"
        )
