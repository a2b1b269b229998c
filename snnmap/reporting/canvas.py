"""The canvas every figure is drawn on: a matplotlib Figure without pyplot, titles, saving.

matplotlib is used without ``pyplot``: figures are ``matplotlib.figure.Figure`` objects on
an Agg canvas, so nothing global (the current figure, the backend, ``rcParams``) is
touched and nothing needs a display.  Every figure is written twice with one basename,
``<path>.png`` and ``<path>.svg`` (each atomically), with its title and description in the
files' metadata (``Title``, ``Description``).  A figure in which nothing was drawn is an error.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import storage

#: Colours (matplotlib's tab10), so that no global colour cycle is consulted.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
GREY = "#9a9a9a"
WINDOW_SHADES = ("#e8eef7", "#f6efe2")


def new_figure(width, height):
    """A figure of ``width`` x ``height`` inches at 100 dpi, constrained layout, on its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _wrap(text, width_in, size=10):
    chars = max(40, int(width_in * 130 / size))
    return "\n".join(textwrap.fill(line, chars) for line in str(text).splitlines() if line.strip())


def headline(fig, what, caption=""):
    """Title ``fig`` with a short ``what`` it shows (wrapped to its width only if it must be).

    The run's caption (data, settings) is NOT repeated in the title: it reads as several
    wrapped lines over every panel.  It belongs in the figure's description (:func:`save`),
    which the report pages show as the figure's caption.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    what : str
        What the figure shows, in a few words.
    caption : str
        The run's caption; unused here, accepted so that callers need not change.
    """
    fig.suptitle(_wrap(what, fig.get_figwidth(), 12), fontsize=12)


def _base(path):
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    return root if ext.lower() in (".png", ".svg") else path


def save(fig, path, title, description, drawn):
    """Check that something was drawn, then write ``<base>.png`` and ``<base>.svg``.

    The PNG is rendered first (with the constrained layout); its pixels must not be
    uniform.  The layout is then frozen, so the SVG has the same geometry and costs no
    second layout pass.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        The basename; a ``.png`` or ``.svg`` extension is dropped.
    title, description : str
        Stored in the files' metadata (``Title``, ``Description``).
    drawn : int
        How many marks were drawn: 0 is an error (the figure would be blank).

    Returns
    -------
    list of str
        ``[png_path, svg_path]``.
    """
    if not drawn:
        raise RuntimeError(f"figure {title!r} would be blank: nothing was drawn")
    base = _base(path)
    out = []
    for fmt in ("png", "svg"):
        target = f"{base}.{fmt}"
        meta = {"Title": title, "Description": description}
        if fmt == "svg":
            meta["Date"] = None  # no time stamp: the same figure gives the same file
        with storage.atomic_path(target, suffix="." + fmt) as tmp:
            fig.savefig(tmp, format=fmt, metadata=meta, dpi=100)
            if fmt == "png":
                pixels = np.asarray(fig.canvas.buffer_rgba())
                if not float(np.std(pixels[..., :3])) > 0:
                    raise RuntimeError(f"figure {title!r} rendered blank")
                fig.set_layout_engine("none")
        out.append(target)
    return out


def grid_shape(n, ncols=3):
    """(rows, columns) of a grid of ``n`` panels at most ``ncols`` wide."""
    ncols = max(1, min(ncols, n))
    return (n + ncols - 1) // ncols, ncols


def axes_grid(fig, n, ncols=3, **kw):
    """``n`` axes of ``fig`` in a grid at most ``ncols`` wide (the unused cells hidden); ``kw`` go to ``subplots``."""
    nrows, ncols = grid_shape(n, ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, **kw)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]
