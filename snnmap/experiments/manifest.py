"""Phase 1's outputs as one set: a manifest of their names, sizes and sha256, written LAST.

Each phase-1 file is written atomically, but a run that dies between two writes would leave
new files beside old ones.  So phase 1 first marks the set as being written (a manifest with
``"complete": false``), then writes its files, then the manifest of what it wrote.  Phase 2
and the sweep check the manifest before they read anything: an unfinished set, or a file
that changed after phase 1 wrote it, is refused.  Directories written before manifests
existed are used with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os

from .. import storage
from ..errors import Phase1FileError
from . import naming, provenance

#: The files of :func:`snnmap.experiments.naming.paths` that make up phase 1's set, when they exist.
SET_KEYS = ("original_weights", "architecture", "weights", "graph", "X_n", "maxima", "predictions", "logits",
            "accuracy", "phase1_report")
#: Version of the manifest's layout.
FORMAT = 1


def begin(logging_dir: str, model_name: str):
    """Mark phase 1's set in ``logging_dir`` as being written (until :func:`finish`).

    Parameters
    ----------
    logging_dir, model_name : str
        The experiment's directory and model name.
    """
    path = naming.paths(logging_dir, model_name)["manifest"]
    storage.atomic_write_json(path, {"format": FORMAT, "complete": False, "model_name": model_name,
                                     "started": provenance.now()})


def _fingerprint(entries, data_name, input_range) -> str:
    text = json.dumps({"files": entries, "data_name": data_name, "input_range": input_range}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def finish(logging_dir: str, model_name: str, data_name: str, input_range) -> dict:
    """Write the manifest of phase 1's set (every file of :data:`SET_KEYS` that exists); call it last.

    Parameters
    ----------
    logging_dir, model_name : str
        The experiment's directory and model name.
    data_name : str
        The data set phase 1 used.
    input_range : (float, float)
        The input range of the preprocessed network.

    Returns
    -------
    dict
        The manifest; ``fingerprint`` identifies the set (results and merges record it).
    """
    files = naming.paths(logging_dir, model_name)
    entries = {}
    for key in SET_KEYS:
        if os.path.isfile(files[key]):
            entries[key] = {"name": os.path.basename(files[key]), "size": os.path.getsize(files[key]),
                            "sha256": storage.sha256_of(files[key])}
    input_range = [float(v) for v in input_range]
    manifest = {"format": FORMAT, "complete": True, "model_name": model_name, "data_name": data_name,
                "input_range": input_range, "files": entries,
                "fingerprint": _fingerprint(entries, data_name, input_range), "created": provenance.now()}
    storage.atomic_write_json(files["manifest"], manifest)
    return manifest


def _read(path):
    try:
        manifest = storage.read_json(path)
    except (OSError, ValueError) as err:
        raise Phase1FileError(path, f"is not a readable phase-1 manifest ({err}); run phase 1 again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise Phase1FileError(path, "is not a phase-1 manifest (no 'files' table); run phase 1 again")
    return manifest


def check(logging_dir: str, model_name: str, log=print):
    """Check that phase 1's files in ``logging_dir`` are the set its manifest lists, unchanged.

    Parameters
    ----------
    logging_dir, model_name : str
        The experiment's directory and model name.
    log : callable
        Receives the warning when there is no manifest (a directory from before manifests).

    Returns
    -------
    dict or None
        The manifest, or None without one.

    Raises
    ------
    Phase1FileError
        When phase 1 did not finish writing the set, or a listed file is missing or changed.
    """
    path = naming.paths(logging_dir, model_name)["manifest"]
    if not os.path.isfile(path):
        log(f"warning: {logging_dir} has no phase-1 manifest ({os.path.basename(path)}; written by phase 1 since "
            "issue 26), so snnmap cannot check that its phase-1 files belong together; run phase 1 again to be sure")
        return None
    manifest = _read(path)
    if not manifest.get("complete"):
        raise Phase1FileError(path, f"phase 1 did not finish writing its files in {logging_dir} (interrupted?), "
                              "so they may not belong together; run phase 1 again")
    for key, entry in manifest["files"].items():
        file = os.path.join(logging_dir, entry["name"])
        why = ("is missing" if not os.path.isfile(file) else
               "changed size" if os.path.getsize(file) != entry["size"] else
               "changed content" if storage.sha256_of(file) != entry["sha256"] else None)
        if why:
            raise Phase1FileError(file, f"phase-1 files in {logging_dir} do not belong together: "
                                  f"{entry['name']} {why} after phase 1 wrote the set; run phase 1 again")
    return manifest
