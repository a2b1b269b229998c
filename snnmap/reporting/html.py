"""One self-contained HTML page for a run (phase 2's results JSON) or for a sweep.

This is what the commands call: :func:`write_report` writes the page of a JSON file,
:func:`write_run_artifacts` the snapshot, figures and page of a run.  The companions of
a results file and their names are in :mod:`snnmap.reporting.artifacts`; the pages are
assembled in :mod:`snnmap.reporting.run_page` and :mod:`snnmap.reporting.sweep_page` from
the pieces of :mod:`snnmap.reporting.markup`.

A run's page has the data source and description, the settings, the summary metrics of
docs/method.md §7, the operations and energy estimate of §8 when the JSON has them, a
per-layer table and every figure (PNG, base64 in an ``<img>``).  Missing figures are drawn
from the snapshot when there is one; when they cannot be, the page says which are missing
and why, and :func:`write_page` returns that sentence for the command to print.  A sweep is
any JSON with a ``rows`` list and a ``grid`` dict; its page has the fixed settings, the grid,
the table and one figure per knob that takes several values.  Nothing on a page refers to
anything outside it; the page is written atomically.
"""

from __future__ import annotations

import collections
import os

from .. import storage
from ..pipeline import snapshot
from . import figures
from .artifacts import (artifact_paths, companion_targets, is_sweep, prune_figures, remove_stale_temporaries,
                        run_caption, run_figures, sweep_caption)
from .markup import fmt
from .run_page import run_page
from .sweep_page import sweep_page

__all__ = ["PageWritten", "artifact_paths", "fmt", "is_sweep", "run_caption", "run_page", "sweep_caption",
           "sweep_page", "write_page", "write_report", "write_run_artifacts"]

#: What :func:`write_page` wrote: ``path`` (the page) and ``missing`` (plain text: which figures
#: the page lacks and why; empty when none is missing or for a sweep).
PageWritten = collections.namedtuple("PageWritten", "path missing")


def write_run_artifacts(json_path, snn, x, relu_model=None, input_range=(0.0, 1.0), result=None, n_images=16,
                        report=True, verbose="auto", **snapshot_kwargs):
    """Snapshot, figures and page of a run whose results are (or will be) at ``json_path``.

    Call it after the results JSON is written.

    Parameters
    ----------
    json_path : str
        The run's results file; the companions' names follow from it
        (:func:`snnmap.reporting.artifacts.artifact_paths`).
    snn : keras.Model
        The SNN (from :func:`snnmap.to_snn`).
    x : array-like
        Test inputs, in the data's own range; the first ``n_images`` are snapshot.
    relu_model : keras.Model, optional
        The preprocessed ReLU network: with it the snapshot holds ``y`` and the exactness
        figure is drawn.
    input_range : (float, float)
        ``(p, q)`` of the inputs (docs/method.md §1).
    result : dict, optional
        The run's results; default: the content of ``json_path``.
    n_images : int
        How many images the snapshot keeps.
    report : bool
        Write the page too.
    verbose : "auto", 0, 1 or 2
        Not 0: one line per step (snapshot, each figure, page) as it starts, with its time
        (:func:`snnmap.reporting.figures.step`).
    **snapshot_kwargs
        Passed to :func:`snnmap.pipeline.snapshot.take_snapshot` (``trace_layer``,
        ``trace_neurons``, ``image``).

    Returns
    -------
    dict
        ``snapshot`` (path), ``figures`` (paths) and ``report`` (the page, or None with
        ``report=False``).
    """
    paths = artifact_paths(json_path)
    if result is None:
        result = storage.read_json(json_path)
    remove_stale_temporaries(companion_targets(json_path))
    with figures.step(f"snapshot of {n_images} images", verbose):
        snap = snapshot.take_snapshot(snn, x, input_range=input_range, relu_model=relu_model, n_images=n_images,
                                      **snapshot_kwargs)
        snapshot.save_snapshot(paths["snapshot"], snap)
    figs = figures.all_run_figures(snap, paths["figures_dir"], paths["stem"], run_caption(result), verbose)
    prune_figures(paths["figures_dir"], paths["stem"], figs)
    page = None
    if report:
        with figures.step("page", verbose):
            page = write_report(json_path)
    return {"snapshot": paths["snapshot"], "figures": figs, "report": page}


def write_page(path, out=None):
    """Write the HTML page of a run's or a sweep's JSON, and say which figures it lacks.

    Parameters
    ----------
    path : str or os.PathLike
        A run's results (a JSON object) or a sweep (``rows`` + ``grid``).
    out : str or os.PathLike, optional
        The page; default ``<path without .json>.html``.

    Returns
    -------
    PageWritten
        The page's path and, for a run, which figures are missing from it and why ("" when
        none is; see :func:`snnmap.reporting.artifacts.run_figures`).
    """
    path = os.fspath(path)
    data = storage.read_json(path)
    out = os.fspath(out) if out else artifact_paths(path)["html"]
    base_dir = os.path.dirname(os.path.abspath(out))
    missing = ""
    if is_sweep(data):
        text = sweep_page(data, path, base_dir)
    elif isinstance(data, dict):
        figs = run_figures(data, path)
        missing = figs.missing
        text = run_page(data, path, base_dir, figures=figs)
    else:
        raise ValueError(f"{path} is neither a run's results (a JSON object) nor a sweep (rows + grid)")
    remove_stale_temporaries([out])
    storage.atomic_write_text(out, text)
    return PageWritten(out, missing)


def write_report(path, out=None):
    """Write the HTML page of a run's or a sweep's JSON (:func:`write_page`); return its path.

    Parameters
    ----------
    path : str or os.PathLike
        A run's results (a JSON object) or a sweep (``rows`` + ``grid``).
    out : str or os.PathLike, optional
        The page; default ``<path without .json>.html``.

    Returns
    -------
    str
        The page's path.
    """
    return write_page(path, out).path
