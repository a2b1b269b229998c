"""The pieces every HTML page is made of: escaping, number formats, tables, the page shell.

Nothing here knows what a run or a sweep is; :mod:`snnmap.reporting.run_page` and
:mod:`snnmap.reporting.sweep_page` assemble their pages from these pieces.  A page refers
to nothing outside itself: no CDN, no web fonts, no linked images (figures are embedded).
"""

from __future__ import annotations

import base64
import datetime
import glob
import html
import math
import os

from PIL import Image

from .figures import RUN_FIGURES

#: The style sheet of every page (inline, so that the page stands alone).
CSS = """
:root { --ink: #1d2330; --muted: #5b6472; --line: #d9dee6; --head: #f1f4f8; --accent: #2357a0; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fbfcfd;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans",
       sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; min-height: 100vh;
       box-shadow: 0 0 0 1px #eef0f3; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 8px; }
p { margin: 6px 0; }
.sub, .muted, .file { color: var(--muted); font-size: 13px; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f3f4f6;
       padding: 1px 4px; border-radius: 3px; word-break: break-all; }
nav { margin: 12px 0 0; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
.callout { border-left: 4px solid var(--accent); background: #f2f6fc; padding: 10px 14px; margin: 8px 0; }
.callout.warn { border-color: #d09000; background: #fff8e6; color: var(--warn); }
.callout.estimate { border-color: #8a63c9; background: #f6f2fc; }
.callout.headline { border-color: #2c8a4b; background: #eff8f2; }
.callout .big { font-size: 18px; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 5px 10px; vertical-align: top; text-align: left; }
thead th, table.kv th { background: var(--head); font-weight: 600; }
table.kv th { width: 250px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.value { font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cols { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.cols > section { flex: 1 1 440px; min-width: 0; }
table.kv td { overflow-wrap: anywhere; }
table.grid tbody tr:nth-child(even) { background: #fafbfc; }
table.sweep { font-size: 13px; }
table.sweep th { font-size: 12.5px; }
table.sweep th, table.sweep td { padding: 4px 6px; }
table.sweep td.num { white-space: normal; }
table.metrics td.note { color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; }
figure { margin: 22px 0; padding: 12px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 8px; font-size: 14px; color: #333a45; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
"""


# -- text and numbers -----------------------------------------------------------------------
def esc(value):
    """``str(value)`` escaped for HTML text and attribute values.

    Parameters
    ----------
    value : object
        Anything with a ``str``.
    """
    return html.escape(str(value), quote=True)


def _fmt_float(value, key):
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if "error" in key:
        return f"{value:.3e}"
    if any(k in key for k in ("accuracy", "agreement")):
        return f"{value:.4f}"
    if value != 0 and (abs(value) >= 1e15 or abs(value) < 1e-3):
        return f"{value:.3e}"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    if abs(value) >= 1e3:
        return f"{value:,.1f}"
    return f"{value:.6g}"


def fmt(value, key=""):
    """A value as shown on a page.

    Parameters
    ----------
    value : object
        None and NaN show as ``n/a``, booleans as yes/no, integers with thousands
        separators; lists and dicts are formatted element by element.
    key : str
        The name of the value: it picks the format of floats (``...error...``: 3 digits in
        scientific notation; ``accuracy``/``agreement``: 4 decimals; else 6 significant
        digits, scientific outside [1e-3, 1e15)).
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _fmt_float(value, key.lower())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, key) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v, k)}" for k, v in value.items())
    return str(value)


def percent(value):
    """A fraction ``value`` as a percentage with two decimals (``n/a`` for None)."""
    return "n/a" if value is None else f"{100 * value:.2f}%"


#: Energy units, largest first: (name, picojoules).
ENERGY_UNITS = (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3), ("pJ", 1.0))


def energy_unit(values):
    """``(unit, scale)``: the largest unit (pJ ... J) that the largest of ``values`` (pJ) reaches.

    A table of energies uses one unit, so that its values compare at a glance.

    Parameters
    ----------
    values : iterable of float or None
        Energies in picojoules (None is skipped).
    """
    largest = max((abs(v) for v in values if v is not None), default=0.0)
    return next(((u, s) for u, s in ENERGY_UNITS if largest >= s), ENERGY_UNITS[-1])


def energy(pj, unit=None):
    """An energy ``pj`` in picojoules, in ``unit`` or in the largest unit (pJ ... J) it reaches.

    Parameters
    ----------
    pj : float or None
    unit : (str, float), optional
        ``(name, picojoules)`` from :func:`energy_unit`, shared by the values of one table.
    """
    if pj is None:
        return "n/a"
    name, scale = unit or energy_unit([pj])
    return f"{pj / scale:.4g} {name}"


def ratio(value):
    """A ratio ``value`` with four significant digits (None stays None: the row is left out)."""
    return None if value is None else f"{value:.4g}"


# -- tables ---------------------------------------------------------------------------------
def num_class(value):
    """The ``class`` attribute of a table cell holding ``value`` (numbers align right)."""
    return ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def kv_table(pairs, cls="kv"):
    """A two-column table of ``pairs`` [(name, value)], values through :func:`fmt` keyed by name.

    Parameters
    ----------
    pairs : iterable of (str, object)
    cls : str
        The table's CSS class.
    """
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v, str(k)))}</td></tr>" for k, v in pairs)
    return f'<table class="{cls}">{rows}</table>'


def table(columns, rows, formats=None):
    """An HTML table with a header row.

    Parameters
    ----------
    columns : list of (str, str)
        ``(key, header)`` per column.
    rows : list of dict
        One dict per row; a missing key shows as ``n/a``.
    formats : dict of str -> callable, optional
        A formatter per key, instead of :func:`fmt`.
    """
    formats = formats or {}
    head = "".join(f"<th>{esc(h)}</th>" for _, h in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = formats[key](value) if key in formats else fmt(value, key)
            cells.append(f"<td{num_class(value)}>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# -- the shell --------------------------------------------------------------------------------
def page(title, body, source):
    """A complete HTML document.

    Parameters
    ----------
    title : str
        The document's title.
    body : str
        The HTML inside ``<main>``.
    source : str
        The JSON file the page was made from (named in the footer, with the time of writing).
    """
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<footer>Written by <code>snnmap.report</code> on {esc(created)} from <code>{esc(source)}</code>. "
            f"Self-contained: figures are embedded; the SVG versions lie next to the PNG files.</footer>\n"
            f"</main>\n</body>\n</html>\n")


def nav(items):
    """The navigation line of a page header; ``items`` is [(anchor, text)]."""
    return "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in items) + "</nav>"


def _data(d):
    return d.get("data") if isinstance(d.get("data"), dict) else {}


def data_callout(d):
    """The data description of results ``d``, prominent, with a warning when it is not a full test set.

    Parameters
    ----------
    d : dict
        A run's results or a sweep: ``data_description`` or ``data["description"]``, and
        ``data["full"]`` (False: a subset or a sample).
    """
    data = _data(d)
    description = d.get("data_description") or data.get("description")
    parts = []
    if description:
        parts.append(f'<div class="callout"><b>Data:</b> {esc(description)}</div>')
    if data.get("full") is False:
        parts.append('<div class="callout warn">Measured on a subset or sample of the data set, not on its full '
                     "test set: read the numbers accordingly.</div>")
    return "".join(parts)


def data_section(d):
    """The Data section of results ``d`` (a run's or a sweep's): name, source, description, the rest of ``data``."""
    data = _data(d)
    description = d.get("data_description") or data.get("description")
    parts = ['<section id="data"><h2>Data</h2>']
    pairs = [("data set", d.get("data_name") or data.get("name")),
             ("source", d.get("data_source") or data.get("source")), ("description", description)]
    pairs += [(k, v) for k, v in data.items() if k not in ("name", "source", "description")]
    pairs = [(k, v) for k, v in pairs if v is not None]
    if pairs:
        parts.append(kv_table(pairs))
    parts.append("</section>")
    return "".join(parts)


# -- figures ----------------------------------------------------------------------------------
def _png_description(path):
    try:
        with Image.open(path) as img:
            text = getattr(img, "text", {}) or {}
            return text.get("Description") or text.get("Title")
    except Exception:  # noqa: BLE001 - a caption is optional
        return None


def figure_kind(path, stem):
    """The kind of a figure file: ``<kind>`` of ``<dir>/<stem>_<kind>.png`` (else the file's name).

    Parameters
    ----------
    path : str
    stem : str
        The results file's name without ``.json``.
    """
    name = os.path.splitext(os.path.basename(path))[0]
    return name[len(stem) + 1:] if name.startswith(stem + "_") else name


def figure_order(path, stem):
    """Sort key of a figure file: the run figures in :data:`RUN_FIGURES` order, then by name.

    Parameters
    ----------
    path : str
        ``<dir>/<stem>_<kind>.png``.
    stem : str
        The results file's name without ``.json``.
    """
    kind = figure_kind(path, stem)
    kinds = list(RUN_FIGURES)
    return (kinds.index(kind) if kind in kinds else len(kinds), os.path.splitext(os.path.basename(path))[0])


def find_pngs(directory, stem, source=None):
    """The PNG figures in ``directory``, in page order.

    Parameters
    ----------
    directory : str
    stem : str
        See :func:`figure_order`.
    source : str, optional
        The file the figures are drawn from (a snapshot, a sweep JSON): if any figure is
        older than it, none is returned, so that stale figures are redrawn, not shown.
    """
    if not os.path.isdir(directory):
        return []
    pngs = glob.glob(os.path.join(glob.escape(directory), "*.png"))
    if source and os.path.isfile(source) and any(os.path.getmtime(p) < os.path.getmtime(source) for p in pngs):
        return []
    return sorted(pngs, key=lambda p: figure_order(p, stem))


def _figure(k, png, base_dir, page_caption):
    with open(png, "rb") as fh:
        data = base64.b64encode(fh.read()).decode("ascii")
    caption = _png_description(png) or os.path.basename(png)
    if page_caption and caption.endswith(page_caption) and caption != page_caption:
        # The run's caption is in the page header and in the figure's own title.
        caption = caption[: -len(page_caption)].rstrip()
    svg = os.path.splitext(png)[0] + ".svg"
    try:
        rel = os.path.relpath(png, base_dir)
    except ValueError:  # another drive (Windows): no relative path exists
        rel = png
    files = esc(rel) + (" (+ .svg)" if os.path.exists(svg) else "")
    return (f'<figure id="fig{k}"><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>Figure {k}.</b> {esc(caption)} <span class=\"file\">{files}</span></figcaption></figure>")


def figures_html(pngs, base_dir, page_caption=""):
    """Every figure embedded (base64 PNG) with a numbered caption read from the PNG's metadata.

    Parameters
    ----------
    pngs : list of str
        The PNG files, in page order.
    base_dir : str
        The page's folder: the caption names each file relative to it.
    page_caption : str
        The caption in the page header; a figure caption that ends with it drops it.
    """
    if not pngs:
        return "<p class=\"muted\">No figures: neither figure files nor a snapshot were found next to the results.</p>"
    return "\n".join(_figure(k, png, base_dir, page_caption) for k, png in enumerate(pngs, 1))
