"""The files that accompany a results JSON, their names, and the captions of their figures.

A run's results file ``results/X.json`` has these companions (see :func:`artifact_paths`):

* ``results/X.snapshot.npz``: the snapshot (:func:`snnmap.pipeline.snapshot.save_snapshot`);
* ``results/X_figures/X_<kind>.png`` and ``.svg``: the figures
  (:func:`snnmap.reporting.figures.all_run_figures` with ``stem = "X"``; kinds ``spike_times``,
  ``raster``, ``potential``, ``exactness``); a sweep's figures are ``X_<knob>``
  (``sweep.json`` -> ``sweep_figures/sweep_noise.png``);
* ``results/X.html``: the page.
"""

from __future__ import annotations

import glob
import os
import tempfile

from ..pipeline import snapshot
from . import figures

#: Keys of a sweep file that are not its settings (its page shows them elsewhere).
SWEEP_SPECIAL = ("rows", "grid", "title", "data_description", "data_source", "data", "fixed", "settings",
                 "fixed_settings", "model_name", "data_name", "created")

#: A paragraph said on a page whose figures went to a temporary folder.
NOT_WRITABLE = '<p class="muted">Figures drawn {what}for this page only (the {folder} is not writable).</p>'


def artifact_paths(json_path):
    """Where the companions of a results file live.

    Parameters
    ----------
    json_path : str or os.PathLike
        ``<root>.json`` (a name without ``.json`` serves as ``<root>``).

    Returns
    -------
    dict
        ``snapshot`` (``<root>.snapshot.npz``), ``figures_dir`` (``<root>_figures``),
        ``stem`` (the basename of ``<root>``) and ``html`` (``<root>.html``).
    """
    json_path = os.fspath(json_path)
    root = json_path[:-5] if json_path.endswith(".json") else json_path
    stem = os.path.basename(root)
    return {"snapshot": root + ".snapshot.npz", "figures_dir": root + "_figures", "stem": stem,
            "html": root + ".html"}


def is_sweep(data):
    """Whether the JSON content ``data`` is a sweep: a dict with a ``rows`` list and a ``grid`` dict."""
    return isinstance(data, dict) and isinstance(data.get("rows"), list) and isinstance(data.get("grid"), dict)


def _settings_text(settings):
    return " ".join(f"{k}={v}" for k, v in (settings or {}).items() if v is not None)


def run_caption(result):
    """The caption of a run's figures and page: model, data, number of test images, settings.

    Parameters
    ----------
    result : dict
        A run's results (``model_name``, ``data_description`` or ``data_name``, ``n_test``,
        ``settings``; each optional).
    """
    parts = [f"{result.get('model_name', 'SNN')} on {result.get('data_description') or result.get('data_name', '?')}"]
    if result.get("n_test") is not None:
        parts.append(f"{result['n_test']:,} test images")
    settings = _settings_text(result.get("settings"))
    if settings:
        parts.append(settings)
    return "; ".join(parts)


def fixed_settings(sweep):
    """The settings a sweep holds fixed: its ``fixed``, ``fixed_settings`` or ``settings`` dict."""
    for key in ("fixed", "fixed_settings", "settings"):
        if isinstance(sweep.get(key), dict):
            return sweep[key]
    return {}


def sweep_caption(sweep):
    """The caption of a sweep's figures and page: model, data, the settings not swept.

    Parameters
    ----------
    sweep : dict
        A sweep (see :func:`is_sweep`).
    """
    what = sweep.get("model_name") or sweep.get("title") or "sweep"
    data = sweep.get("data_description") or sweep.get("data_name") or ""
    text = f"{what} on {data}" if data else str(what)
    fixed = _settings_text({k: v for k, v in fixed_settings(sweep).items() if k not in sweep.get("grid", {})})
    return f"{text}; fixed: {fixed}" if fixed else text


def prune_figures(directory, stem, keep):
    """Remove the figures ``<stem>_*.png|svg`` of ``directory`` that are not in ``keep``.

    Figures left from an earlier run or sweep of the same name would otherwise appear on
    the page.

    Parameters
    ----------
    directory : str
    stem : str
    keep : iterable of str
        The paths just written.
    """
    keep = {os.path.abspath(p) for p in keep}
    for ext in ("png", "svg"):
        for path in glob.glob(os.path.join(glob.escape(directory), f"{glob.escape(stem)}_*.{ext}")):
            if os.path.abspath(path) not in keep:
                os.remove(path)


def sweep_figures(sweep, out_dir, stem):
    """Draw a sweep's figures: one per knob that takes several values (else the first knob).

    Parameters
    ----------
    sweep : dict
        A sweep (see :func:`is_sweep`).
    out_dir : str
        Where ``<stem>_<knob>.png|svg`` go; other ``<stem>_*`` figures there are removed.
    stem : str

    Returns
    -------
    list of str
        The written paths (PNG and SVG of each figure).
    """
    grid = sweep["grid"]
    varying = [k for k, v in grid.items() if isinstance(v, list) and len(v) > 1]
    knobs = varying or [k for k in grid if any(k in r for r in sweep["rows"])][:1]
    out = []
    for knob in knobs:
        group = [k for k in varying if k != knob]
        out += figures.sweep_plot(sweep["rows"], knob, os.path.join(out_dir, f"{stem}_{knob}"),
                                  sweep_caption(sweep), group_by=group)
    prune_figures(out_dir, stem, out)
    return out


def draw_sweep_figures(sweep, json_path):
    """A sweep's figures next to ``json_path``, or in a temporary folder when that is not writable.

    Returns
    -------
    (list of str, str)
        The PNG paths, and a note for the page (empty unless the figures went elsewhere).
    """
    paths = artifact_paths(json_path)
    note = ""
    try:
        figs = sweep_figures(sweep, paths["figures_dir"], paths["stem"])
    except OSError:
        figs = sweep_figures(sweep, tempfile.mkdtemp(prefix="snnmap_figures_"), paths["stem"])
        note = NOT_WRITABLE.format(what="", folder="folder")
    return [p for p in figs if p.endswith(".png")], note


def draw_run_figures(result, json_path):
    """A run's figures from the snapshot next to ``json_path`` (temporary folder when not writable).

    Parameters
    ----------
    result : dict
        The run's results (for the caption).
    json_path : str
        The results file; its snapshot must exist.

    Returns
    -------
    (list of str, str)
        The PNG paths in page order, and a note for the page (empty unless the figures went elsewhere).
    """
    paths = artifact_paths(json_path)
    snap = snapshot.load_snapshot(paths["snapshot"])
    caption = run_caption(result)
    try:
        figs = figures.all_run_figures(snap, paths["figures_dir"], paths["stem"], caption)
        prune_figures(paths["figures_dir"], paths["stem"], figs)
        note = ""
    except OSError:
        figs = figures.all_run_figures(snap, tempfile.mkdtemp(prefix="snnmap_figures_"), paths["stem"], caption)
        note = NOT_WRITABLE.format(what="from the snapshot ", folder="results folder")
    return [p for p in figs if p.endswith(".png")], note
