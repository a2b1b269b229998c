"""Merge the phase-2 results of the parts of one test set into the results of the whole."""

from __future__ import annotations

import os
import re

from .. import storage
from ..pipeline.evaluate import merge, summarize
from . import naming, provenance
from .phase2 import METRIC_KEYS, energy_of, perturbation_keys

#: What every part must record alike (older parts lack the later keys; they are then compared as absent).
SAME_IN_EVERY_PART = ("model_name", "data_name", "data_source", "settings", "X_n", "batch_size", "clip_inputs",
                      "test_set", "phase1_fingerprint")
#: What a data summary says about one part only.
PART_OF_DATA = ("n_test", "test_indices", "description")
#: A part's description: the data's, then "; part K of N: ...".
PART_NOTE = r"; part \d+ of \d+:[^;]*"


def _read_part(path):
    if not os.path.isfile(path):
        raise ValueError(f"cannot merge {path}: the file does not exist (give the parts' results files)")
    try:
        result = storage.read_json(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot merge {path}: it is not a readable results file ({err})") from None
    if not isinstance(result, dict) or not isinstance(result.get("part"), dict):
        raise ValueError(f"{path} is not the result of a part (run phase 2 with --part/--num_parts)")
    return result


def _data_of(result):
    """What a part's data summary says about the whole test set (same in every part)."""
    data = {k: v for k, v in (result.get("data") or {}).items() if k not in PART_OF_DATA}
    return dict(data, description=re.sub(PART_NOTE, "", result.get("data_description", "")))


def _check_alike(paths, parts):
    for key, values in [(k, [r.get(k) for r in parts]) for k in SAME_IN_EVERY_PART] + [
            ("data", [_data_of(r) for r in parts])]:
        if any(v != values[0] for v in values):
            odd = next(p for p, v in zip(paths, values) if v != values[0])
            raise ValueError(f"cannot merge parts with different {key}: {odd} records {values[paths.index(odd)]!r}, "
                             f"{paths[0]} records {values[0]!r}")


def _check_tiling(ordered):
    """The parts' test images must follow each other from 0 to the end of the selection, without gap or overlap."""
    stop = 0
    for r in ordered:
        start, end = r["part"]["test_indices"]
        if start != stop:
            raise ValueError(f"part {r['part']['part']} covers test images [{start}, {end}) but the parts before it "
                             f"end at {stop}: the parts are not shards of one test set")
        stop = end
    n_selected = (ordered[0].get("test_set") or {}).get("n_selected")
    if n_selected is not None and stop != n_selected:
        raise ValueError(f"the parts cover test images [0, {stop}) of the {n_selected} selected")


def _checked_parts(paths):
    """The parts' results (in the order of ``paths``), sorted by part; raises ValueError unless they
    are shards of one test set, with the same data, settings and phase-1 files, covering it exactly once."""
    if not paths:
        raise ValueError("--merge needs the results files of the parts as arguments")
    paths = [str(p) for p in paths]
    parts = [_read_part(p) for p in paths]
    num = parts[0]["part"]["num_parts"]
    _check_alike(paths, parts)
    seen = sorted(r["part"]["part"] for r in parts)
    if seen != list(range(num)) or any(r["part"]["num_parts"] != num for r in parts):
        raise ValueError(f"parts {seen} do not cover the test set split into {num} parts exactly once")
    ordered = sorted(parts, key=lambda r: r["part"]["part"])
    _check_tiling(ordered)
    return parts, ordered


def _check_target(out, paths):
    """Refuse to write over a file the merge did not produce (a single run's results, a part, anything else)."""
    if os.path.abspath(out) in {os.path.abspath(p) for p in paths}:
        raise ValueError(f"the merged file {out} would overwrite one of the parts")
    if not os.path.exists(out):
        return
    try:
        previous = storage.read_json(out)
    except (OSError, ValueError):
        previous = None
    if not isinstance(previous, dict) or not previous.get("merged_from"):
        raise ValueError(f"{out} exists and is not a merge's result: not overwritten; choose another merged file "
                         "path or move it away")


def merge_results(paths, out=None):
    """Combine phase-2 results of the parts of one test set into one results file.

    The parts must come from the same network and settings and cover the test set exactly
    (parts 0..N-1 of N); counts are summed and maxima taken (:func:`snnmap.pipeline.evaluate.merge`),
    so the merged file equals an unsharded run.

    Parameters
    ----------
    paths : list of str
        The parts' results files, in any order.
    out : str, optional
        Where to write the merged results (default: :func:`snnmap.experiments.naming.merged_path`
        of the first part, ``..._merged.json``); an existing file there is replaced only if it is
        a merge's result.

    Raises
    ------
    ValueError
        When a file is missing or unreadable, the parts differ in data, settings, batch size,
        test set or phase-1 files, do not tile the test set, or ``out`` holds another result.

    Returns
    -------
    (dict, str)
        The merged results and their path.
    """
    given, parts = _checked_parts(paths)
    if out is None:
        out = naming.merged_path(paths[0])
    _check_target(out, paths)
    first = given[0]  # the first file given names the merge and gives its records
    metrics = summarize(merge([r["totals"] for r in parts]))
    result = {key: first[key] for key in ("data_name", "data_source", "model_name", "logging_dir", "X_n", "settings")}
    recorded = ("batch_size", "clip_inputs", "test_set", "phase1_fingerprint", "original_logits")
    result.update({key: first.get(key) for key in recorded})
    description = re.sub(PART_NOTE, "", first["data_description"])
    result.update({
        "data_description": description,
        "data": dict(first["data"], test_indices=[parts[0]["part"]["test_indices"][0],
                                                  parts[-1]["part"]["test_indices"][1]], description=description),
        **{key: metrics.get(key) for key in METRIC_KEYS},
        "energy": energy_of(metrics["operations"], first["energy"]["mac_pj"], first["energy"]["add_pj"])
        if first.get("energy") else None,
        **perturbation_keys(first["settings"]),
        "merged_from": [str(p) for p in paths],
        "part": None,
        "versions": first.get("versions"),
        "created": provenance.now(),
        "elapsed_s": round(sum(r.get("elapsed_s", 0.0) for r in parts), 2),
    })
    storage.atomic_write_json(out, result)
    return result, out
