"""The HTML page of a sweep: any JSON with a ``rows`` list and a ``grid`` dict.

A row is one setting of the grid (e.g. ``accuracy_snn_mean``/``_std``,
``agreement_mean``/``_std``, ``accuracy_relu``, ``trials``); the grid maps each knob to its
values.  The page has the results table (``m_mean`` and ``m_std`` shown as ``m (mean ± std)``),
one figure per knob that takes several values, the data, the fixed settings and the grid.
"""

from __future__ import annotations

import math

from ..experiments.naming import perturbations
from .artifacts import SWEEP_SPECIAL, artifact_paths, draw_sweep_figures, fixed_settings, sweep_caption
from .markup import data_callout, data_section, esc, figures_html, find_pngs, fmt, kv_table, nav, page
from .sweep_figures import error_bars_text, knob_label

#: Headers of the metrics of a sweep table that need a name or a unit beyond their key.
HEADERS = {"latency": "latency (τ_c)", "max_abs_error_original": "max |error| vs original",
           "max_abs_error": "max |error| of the codes", "n_trials": "trials",
           "informative_spike_fraction": "informative spikes"}
#: The same error metrics on perturbed rows: the deviation the perturbation causes.
DEVIATION_HEADERS = {"max_abs_error_original": "deviation vs original", "max_abs_error": "deviation of the codes"}
#: Said under a table that mixes unperturbed and perturbed rows.
MIXED_NOTE = ("* perturbed point (noise, alpha_noise, time_bits, weight_bits or x_quantile &lt; 1): there the error "
              "columns are the deviation the perturbation causes, not exactness.")


def sweep_columns(rows, knobs):
    """The columns of a sweep table, as ``(kind, key)``.

    Knobs come first; ``m_mean`` with ``m_std`` become one column ``("pm", m)``, any other
    key ``("plain", key)``; dict-valued keys (a row's full settings) are left out, and so is
    a list of trial ids when ``n_trials`` counts them.

    Parameters
    ----------
    rows : list of dict
    knobs : list of str
        The grid's knobs.
    """
    keys = list(dict.fromkeys(k for row in rows for k in row))
    keys = [k for k in keys if not any(isinstance(r.get(k), dict) for r in rows)]
    if "n_trials" in keys:
        keys = [k for k in keys if not (k in ("trials", "runs") and any(isinstance(r.get(k), list) for r in rows))]
    ordered = [k for k in knobs if k in keys] + [k for k in keys if k not in knobs]
    columns, merged = [], set()
    for key in ordered:
        if key in merged:
            continue
        if key.endswith("_mean") and key[:-5] + "_std" in keys:
            metric = key[:-5]
            columns.append(("pm", metric))
            merged.add(metric + "_std")
        elif key.endswith("_std") and key[:-4] + "_mean" in keys:
            continue
        else:
            columns.append(("plain", key))
    return columns


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def mean_std(mean, std, key):
    """``mean ± std`` with a precision that suits the metric ``key`` (no ``±`` when std is 0 or NaN).

    Parameters
    ----------
    mean, std : float or object
        A non-float ``mean`` is shown through :func:`snnmap.reporting.markup.fmt`.
    key : str
        The metric: errors in scientific notation, accuracy and agreement with 4 decimals,
        fractions in percent, anything else with 5 significant digits.
    """
    if not isinstance(mean, float):
        return fmt(mean, key)
    low = key.lower()
    if "error" in low:
        text, s = f"{mean:.2e}", (lambda v: f"{v:.1e}")
    elif "accuracy" in low or "agreement" in low:
        text, s = f"{mean:.4f}", (lambda v: f"{v:.4f}")
    elif "fraction" in low:
        text, s = f"{100 * mean:.2f}%", (lambda v: f"{100 * v:.2f}%")
    else:
        text, s = fmt(float(f"{mean:.5g}"), key), (lambda v: f"{v:.2g}")
    if isinstance(std, float) and std != 0 and not math.isnan(std):
        text += " ± " + s(std)
    return text


def _cell(row, kind, key):
    """The text of one cell and whether it is a number."""
    if kind == "pm":
        mean, std = row.get(key + "_mean"), row.get(key + "_std")
        if mean is None:
            return "n/a", False
        return mean_std(_as_float(mean), _as_float(std), key), True
    value = row.get(key)
    if isinstance(value, list) and len(str(value)) > 60:
        return f"{len(value)} items", False
    return fmt(value, key), isinstance(value, (int, float)) and not isinstance(value, bool)


def _perturbed(row):
    return bool(perturbations(row.get("settings")))


def _header(key, knobs, kinds):
    """A column's header: the knob with its unit, an error metric named by the rows' kinds, or the key."""
    if key in knobs:
        return knob_label(key)
    if key in DEVIATION_HEADERS and kinds == {True}:
        return DEVIATION_HEADERS[key]
    if key in DEVIATION_HEADERS and kinds == {True, False}:
        return f"{HEADERS[key]} / {DEVIATION_HEADERS[key]}*"
    return HEADERS.get(key, key.replace("_", " "))


def sweep_table(rows, knobs):
    """The results table of a sweep (see :func:`sweep_columns`).

    Error columns are named for what they measure: exactness on unperturbed rows, the deviation
    a perturbation causes on perturbed ones (marked ``*`` when the table mixes both).

    Parameters
    ----------
    rows : list of dict
    knobs : list of str
    """
    columns = sweep_columns(rows, knobs)
    kinds = {_perturbed(r) for r in rows}
    head = "".join(f"<th>{esc(_header(k, knobs, kinds))}</th>" for kind, k in columns)
    body = []
    for row in rows:
        cells = []
        for kind, key in columns:
            text, num = _cell(row, kind, key)
            if key in DEVIATION_HEADERS and len(kinds) == 2 and _perturbed(row) and text != "n/a":
                text += "*"
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="muted">{MIXED_NOTE}</p>' if len(kinds) == 2 else ""
    return f'<table class="grid sweep"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{note}'


def std_text(sweep):
    """What the ± of a sweep's table is: the sample std over N trials, or none for one trial.

    Parameters
    ----------
    sweep : dict
        A sweep (its ``rows``).
    """
    text = error_bars_text(sweep["rows"])
    return text.replace("error bars: ", "± ").replace("no error bars", "no ±")


def _incomplete(sweep):
    if sweep.get("complete") is not False:
        return ""
    return ('<div class="callout warn">This sweep is INCOMPLETE: some evaluations are missing '
            f"({esc(fmt(sweep.get('evaluations')))}); rows average over the trials that ran.</div>")


def sweep_page(sweep, json_path, base_dir):
    """The HTML of a sweep's page.

    Figures are those next to ``json_path``; when there are none, or they are older than
    ``json_path``, they are drawn (and figures of knobs no longer swept removed).

    Parameters
    ----------
    sweep : dict
        The sweep (``rows`` and ``grid``).
    json_path : str
        Where the sweep lies.
    base_dir : str
        The folder of the page (figure files are named relative to it).
    """
    paths = artifact_paths(json_path)
    pngs = find_pngs(paths["figures_dir"], paths["stem"], json_path)
    note = ""
    if not pngs and sweep["rows"]:
        pngs, note = draw_sweep_figures(sweep, json_path)
    grid = sweep["grid"]
    knobs = list(grid)
    name = sweep.get("sweep_name")
    title = sweep.get("title") or ("Sweep " + (f"{name}: " if name else "of ") + ", ".join(knobs))
    fixed = {k: v for k, v in fixed_settings(sweep).items() if k not in knobs}
    other = [(k, v) for k, v in sweep.items() if k not in SWEEP_SPECIAL and k != "sweep_name"
             and (not isinstance(v, (list, dict)) or len(str(v)) < 400)]
    caption = sweep_caption(sweep)
    sections = [
        f"<header><h1>{esc(title)}</h1><p class=\"sub\">{esc(caption)}</p>"
        f"<p class=\"sub\">sweep: <code>{esc(json_path)}</code></p>",
        nav([("table", "Results"), ("figures", "Figures"), ("data", "Data"), ("settings", "Settings"),
             ("grid", "Grid")]) + "</header>",
        _incomplete(sweep), data_callout(sweep),
        '<section id="table"><h2>Results</h2><p class="muted">One row per grid point (knobs first); metrics are '
        f"the mean over the trials of that point; {esc(std_text(sweep))}.</p><div class=\"scroll\">"
        + sweep_table(sweep["rows"], knobs)
        + "</div></section>",
        f'<section id="figures"><h2>Figures</h2>{note}{figures_html(pngs, base_dir, caption)}</section>',
        '<div class="cols">' + data_section(sweep)
        + '<section id="settings"><h2>Fixed settings</h2>'
        + (kv_table(list(fixed.items())) if fixed else '<p class="muted">none given</p>') + "</section></div>",
        '<section id="grid"><h2>Grid</h2>' + kv_table([(k, v) for k, v in grid.items()])
        + (("<h3>Other</h3>" + kv_table(other)) if other else "") + "</section>",
    ]
    return page(title, "\n".join(s for s in sections if s), json_path)
