"""Merge the phase-2 results of the parts of one test set into the results of the whole."""

from __future__ import annotations

import re

from .. import storage
from ..pipeline.evaluate import merge, summarize
from . import naming, provenance
from .phase2 import METRIC_KEYS, energy_of

#: What every part must record alike.
SAME_IN_EVERY_PART = ("model_name", "data_name", "data_source", "settings", "X_n")


def _checked_parts(paths):
    """The parts' results (in the order of ``paths``), sorted by part; raises ValueError unless they
    cover the test set exactly once."""
    if not paths:
        raise ValueError("--merge needs the results files of the parts as arguments")
    parts = [storage.read_json(p) for p in paths]
    for p, r in zip(paths, parts):
        if not r.get("part"):
            raise ValueError(f"{p} is not the result of a part (run phase 2 with --part/--num_parts)")
    num = parts[0]["part"]["num_parts"]
    for key in SAME_IN_EVERY_PART:
        if len({str(r.get(key)) for r in parts}) != 1:
            raise ValueError(f"cannot merge parts with different {key}")
    seen = sorted(r["part"]["part"] for r in parts)
    if seen != list(range(num)) or any(r["part"]["num_parts"] != num for r in parts):
        raise ValueError(f"parts {seen} do not cover the test set split into {num} parts exactly once")
    return parts, sorted(parts, key=lambda r: r["part"]["part"])


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
        of the first part).

    Returns
    -------
    (dict, str)
        The merged results and their path.
    """
    given, parts = _checked_parts(paths)
    first = given[0]  # the first file given names the merge and gives its records
    metrics = summarize(merge([r["totals"] for r in parts]))
    result = {key: first[key] for key in ("data_name", "data_source", "model_name", "logging_dir", "X_n", "settings")}
    description = re.sub(r"; part \d+ of \d+:[^;]*", "", first["data_description"])
    result.update({
        "data_description": description,
        "data": dict(first["data"], test_indices=[parts[0]["part"]["test_indices"][0],
                                                  parts[-1]["part"]["test_indices"][1]], description=description),
        **{key: metrics.get(key) for key in METRIC_KEYS},
        "energy": energy_of(metrics["operations"], first["energy"]["mac_pj"], first["energy"]["add_pj"])
        if first.get("energy") else None,
        "merged_from": [str(p) for p in paths],
        "part": None,
        "versions": first.get("versions"),
        "created": provenance.now(),
        "elapsed_s": round(sum(r.get("elapsed_s", 0.0) for r in parts), 2),
    })
    if out is None:
        out = naming.merged_path(paths[0])
    storage.atomic_write_json(out, result)
    return result, out
