"""The files that accompany a results JSON, their names, and the captions of their figures.

A run's results file ``results/X.json`` has these companions (see :func:`artifact_paths`):

* ``results/X.snapshot.npz``: the snapshot (:func:`snnmap.pipeline.snapshot.save_snapshot`);
* ``results/X_figures/X_<kind>.png`` and ``.svg``: the figures
  (:func:`snnmap.reporting.figures.all_run_figures` with ``stem = "X"``; kinds ``spike_times``,
  ``raster``, ``potential``, ``exactness``); a sweep's figures are ``X_<knob>``
  (``sweep.json`` -> ``sweep_figures/sweep_noise.png``);
* ``results/X.html``: the page.

Every one of them is written atomically (:func:`snnmap.storage.atomic_path`: a hidden
temporary file, then a rename).  A writer killed outright (SIGKILL, a timeout's SIGTERM)
leaves its hidden temporary file behind; the next page or report of the same results
removes it (:func:`remove_stale_temporaries`).  A page never shows part of a run's figures
without a word: :func:`run_figures` redraws every missing figure from the snapshot, or says
which are missing and why.
"""

from __future__ import annotations

import collections
import glob
import os
import tempfile
import time
import zipfile

from ..pipeline import snapshot
from . import figures
from .markup import figure_kind, find_pngs, figure_order

#: Keys of a sweep file that are not its settings (its page shows them elsewhere).
SWEEP_SPECIAL = ("rows", "grid", "title", "data_description", "data_source", "data", "fixed", "settings",
                 "fixed_settings", "model_name", "data_name", "created")

#: A paragraph said on a page whose figures went to a temporary folder.
NOT_WRITABLE = '<p class="muted">Figures drawn {what}for this page only (the {folder} is not writable).</p>'

#: Hidden temporary files younger than this (seconds) are left alone: another run may still be writing
#: them (renaming them away under it would fail it).  Older ones are a killed writer's leftovers.
STALE_TEMPORARY_S = 120.0

#: The figures of a run's page: ``pngs`` (in page order), ``note`` (HTML, empty unless the figures
#: went to a temporary folder) and ``missing`` (plain text, empty unless a figure is missing: which
#: and why).
RunFigures = collections.namedtuple("RunFigures", "pngs note missing")

#: What reading or drawing from a damaged or hand-edited snapshot raises.
_SNAPSHOT_ERRORS = (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile)


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


def draw_run_figures(result, json_path, snap=None):
    """A run's figures from the snapshot next to ``json_path`` (temporary folder when not writable).

    Parameters
    ----------
    result : dict
        The run's results (for the caption).
    json_path : str
        The results file; its snapshot must exist unless ``snap`` is given.
    snap : dict, optional
        The snapshot, already read.

    Returns
    -------
    (list of str, str)
        The PNG paths in page order, and a note for the page (empty unless the figures went elsewhere).
    """
    paths = artifact_paths(json_path)
    if snap is None:
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


def temporaries(target):
    """The hidden temporary files of :func:`snnmap.storage.atomic_path` for ``target`` that exist now.

    They are named ``.<basename>.<random>.tmp<suffix>`` next to ``target``.

    Parameters
    ----------
    target : str or os.PathLike
        The file a writer was writing.
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(target)))
    return sorted(glob.glob(os.path.join(glob.escape(directory), "." + glob.escape(name) + ".*.tmp*")))


def remove_stale_temporaries(targets, min_age_s=STALE_TEMPORARY_S):
    """Remove the hidden temporary files that a killed writer of ``targets`` left behind.

    Parameters
    ----------
    targets : iterable of str
        The files whose temporary files are looked for (see :func:`temporaries`).
    min_age_s : float
        Only temporary files not modified for this long are removed (see :data:`STALE_TEMPORARY_S`);
        younger ones are hidden and never read, so leaving them is harmless.

    Returns
    -------
    list of str
        The removed files.
    """
    removed = []
    now = time.time()
    for target in targets:
        for tmp in temporaries(target):
            try:
                if now - os.path.getmtime(tmp) >= min_age_s:
                    os.remove(tmp)
                    removed.append(tmp)
            except OSError:  # renamed by its writer meanwhile, or a read-only folder: hidden, never read
                continue
    return removed


def companion_targets(json_path):
    """Every file a run writes next to ``json_path``: the JSON, snapshot, page and each kind of figure.

    Parameters
    ----------
    json_path : str
    """
    paths = artifact_paths(json_path)
    figs = [os.path.join(paths["figures_dir"], f"{paths['stem']}_{kind}.{ext}")
            for kind in figures.RUN_FIGURES for ext in ("png", "svg")]
    return [os.fspath(json_path), paths["snapshot"], paths["html"]] + figs


def _kinds(pngs, stem):
    return {figure_kind(p, stem) for p in pngs}


def _missing_text(missing, expected, why):
    return (f"{len(missing)} of {len(expected)} figures missing ({', '.join(missing)}): {why}")


def _read_snapshot(path):
    """(snapshot, None), or (None, why it cannot serve) for a snapshot that is absent or unreadable."""
    if not os.path.isfile(path):
        return None, f"no snapshot {path} to draw them from (a run writes it with its report)"
    try:
        snap = snapshot.load_snapshot(path)
        figures.run_figure_kinds(snap)
    except _SNAPSHOT_ERRORS as err:
        return None, f"the snapshot {path} cannot be read ({type(err).__name__}: {err})"
    return snap, None


def run_figures(result, json_path):
    """The figures of a run's page: those found, all redrawn from the snapshot when any is missing.

    Stale temporary files of the run's companions are removed first.  The figures a run
    should have are those its snapshot supports (:func:`snnmap.reporting.figures.run_figure_kinds`),
    or, without a readable snapshot, every kind of :data:`snnmap.reporting.figures.RUN_FIGURES`.
    Figures older than the snapshot count as missing (they belong to an earlier run).

    Parameters
    ----------
    result : dict
        The run's results (for the caption).
    json_path : str
        The results file.

    Returns
    -------
    RunFigures
        ``missing`` says which expected figures are not on the page and why ("" when none).
    """
    paths = artifact_paths(json_path)
    remove_stale_temporaries(companion_targets(json_path))
    pngs = find_pngs(paths["figures_dir"], paths["stem"], paths["snapshot"])
    snap, why = _read_snapshot(paths["snapshot"])
    expected = figures.run_figure_kinds(snap) if snap is not None else list(figures.RUN_FIGURES)
    note = ""
    if snap is not None and not set(expected) <= _kinds(pngs, paths["stem"]):
        try:
            pngs, note = draw_run_figures(result, json_path, snap)
        except _SNAPSHOT_ERRORS as err:  # a hand-edited snapshot: say so rather than fail the page
            why = f"drawing from the snapshot {paths['snapshot']} failed ({type(err).__name__}: {err})"
    pngs = sorted(pngs, key=lambda p: figure_order(p, paths["stem"]))
    missing = [k for k in expected if k not in _kinds(pngs, paths["stem"])]
    return RunFigures(pngs, note, _missing_text(missing, expected, why or "not drawn") if missing else "")
