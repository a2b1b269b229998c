"""One self-contained HTML page for a run (phase 2's results JSON) or for a sweep.

    python -m snnmap.report models/MNIST/FC/results/X.json [--out page.html]

The last line of standard output is ``report: <path>``.

File naming next to a run's results file ``results/X.json`` (see :func:`artifact_paths`):

* ``results/X.snapshot.npz``: the snapshot (:func:`snnmap.snapshot.save_snapshot`);
* ``results/X_figures/X_<kind>.png`` and ``.svg``: the figures
  (:func:`snnmap.figures.all_run_figures` with ``stem = "X"``; kinds ``spike_times``,
  ``raster``, ``potential``, ``exactness``); a sweep's figures are ``X_<knob>``
  (``sweep.json`` -> ``sweep_figures/sweep_noise.png``);
* ``results/X.html``: the page (default of ``--out``).

A run's page has the data source and description, the settings, the summary metrics of
MAPPING §7, the operations and energy estimate of §8 when the JSON has them, a per-layer
table and every figure (PNG, base64 in an ``<img>``).  Missing figures are drawn from the
snapshot when there is one.  A sweep is any JSON with a ``rows`` list (one dict per
setting, e.g. ``accuracy_snn_mean``/``_std``, ``agreement_mean``/``_std``,
``accuracy_relu``, ``trials``) and a ``grid`` dict of knob -> values; its page has the
fixed settings, the grid, the table and one figure per knob that takes several values.

Nothing on the page refers to anything outside it (no CDN, no web fonts, no linked
images); the page is written atomically.
"""

from __future__ import annotations

import base64
import datetime
import glob
import html
import math
import os
import tempfile

from .. import storage

#: Keys that are not settings of a sweep (shown elsewhere on its page).
_SWEEP_SPECIAL = ("rows", "grid", "title", "data_description", "data_source", "data", "fixed", "settings",
                  "fixed_settings", "model_name", "data_name", "created")


# -- names --------------------------------------------------------------------------------
def artifact_paths(json_path):
    """Where a results file's companions live: ``snapshot``, ``figures_dir``, ``stem``, ``html``."""
    json_path = os.fspath(json_path)
    root = json_path[:-5] if json_path.endswith(".json") else json_path
    stem = os.path.basename(root)
    return {"snapshot": root + ".snapshot.npz", "figures_dir": root + "_figures", "stem": stem,
            "html": root + ".html"}


def is_sweep(data):
    return isinstance(data, dict) and isinstance(data.get("rows"), list) and isinstance(data.get("grid"), dict)


def _settings_text(settings):
    return " ".join(f"{k}={v}" for k, v in (settings or {}).items() if v is not None)


def run_caption(result):
    """The caption of a run's figures: model, data, settings."""
    parts = [f"{result.get('model_name', 'SNN')} on {result.get('data_description') or result.get('data_name', '?')}"]
    if result.get("n_test") is not None:
        parts.append(f"{result['n_test']:,} test images")
    settings = _settings_text(result.get("settings"))
    if settings:
        parts.append(settings)
    return "; ".join(parts)


def sweep_caption(sweep):
    """The caption of a sweep's figures: model, data, fixed settings."""
    what = sweep.get("model_name") or sweep.get("title") or "sweep"
    data = sweep.get("data_description") or sweep.get("data_name") or ""
    text = f"{what} on {data}" if data else str(what)
    fixed = _settings_text({k: v for k, v in _fixed(sweep).items() if k not in sweep.get("grid", {})})
    return f"{text}; fixed: {fixed}" if fixed else text


def _fixed(sweep):
    for key in ("fixed", "fixed_settings", "settings"):
        if isinstance(sweep.get(key), dict):
            return sweep[key]
    return {}


# -- what phase 2 / a sweep call ------------------------------------------------------------
def write_run_artifacts(json_path, snn, x, relu_model=None, input_range=(0.0, 1.0), result=None, n_images=16,
                        report=True, **snapshot_kwargs):
    """Snapshot, figures and page of a run whose results are (or will be) at ``json_path``.

    Call it after the results JSON is written (``result`` defaults to its content).
    ``snapshot_kwargs`` go to :func:`snnmap.snapshot.take_snapshot` (``trace_layer``,
    ``trace_neurons``, ``image``).  Returns a dict with ``snapshot``, ``figures`` (paths)
    and ``report`` (the page, or None with ``report=False``).
    """
    from . import figures
    from ..pipeline import snapshot

    paths = artifact_paths(json_path)
    if result is None:
        result = storage.read_json(json_path)
    snap = snapshot.take_snapshot(snn, x, input_range=input_range, relu_model=relu_model, n_images=n_images,
                                  **snapshot_kwargs)
    snapshot.save_snapshot(paths["snapshot"], snap)
    figs = figures.all_run_figures(snap, paths["figures_dir"], paths["stem"], run_caption(result))
    _prune(paths["figures_dir"], paths["stem"], figs)
    page = write_report(json_path) if report else None
    return {"snapshot": paths["snapshot"], "figures": figs, "report": page}


def write_sweep_figures(json_path, sweep=None):
    """The figures of a sweep file (one per knob with several values); returns the paths."""
    if sweep is None:
        sweep = storage.read_json(json_path)
    paths = artifact_paths(json_path)
    return _sweep_figures(sweep, paths["figures_dir"], paths["stem"])


def _prune(directory, stem, keep):
    """Remove figures ``<stem>_*.png|svg`` of ``directory`` that are not in ``keep`` (left from
    an earlier run or sweep of the same name), so the page never shows them."""
    keep = {os.path.abspath(p) for p in keep}
    for ext in ("png", "svg"):
        for path in glob.glob(os.path.join(glob.escape(directory), f"{glob.escape(stem)}_*.{ext}")):
            if os.path.abspath(path) not in keep:
                os.remove(path)


def _sweep_figures(sweep, out_dir, stem):
    from . import figures

    grid = sweep["grid"]
    varying = [k for k, v in grid.items() if isinstance(v, list) and len(v) > 1]
    knobs = varying or [k for k in grid if any(k in r for r in sweep["rows"])][:1]
    out = []
    for knob in knobs:
        group = [k for k in varying if k != knob]
        out += figures.sweep_plot(sweep["rows"], knob, os.path.join(out_dir, f"{stem}_{knob}"),
                                  sweep_caption(sweep), group_by=group)
    _prune(out_dir, stem, out)
    return out


# -- formatting -----------------------------------------------------------------------------
def _esc(value):
    return html.escape(str(value), quote=True)


def fmt(value, key=""):
    """A value as shown on the page (``key`` picks the format of floats)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        key = key.lower()
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
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, key) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v, k)}" for k, v in value.items())
    return str(value)


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _energy(pj):
    if pj is None:
        return "n/a"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def _ratio(value):
    return None if value is None else f"{value:.4g}"


def _num_class(value):
    return ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _kv_table(pairs, cls="kv"):
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(fmt(v, str(k)))}</td></tr>" for k, v in pairs)
    return f'<table class="{cls}">{rows}</table>'


def _table(columns, rows, formats=None):
    """An HTML table: ``columns`` = [(key, header)], ``rows`` = list of dicts."""
    formats = formats or {}
    head = "".join(f"<th>{_esc(h)}</th>" for _, h in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = formats[key](value) if key in formats else fmt(value, key)
            cells.append(f"<td{_num_class(value)}>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# -- figures --------------------------------------------------------------------------------
def _png_description(path):
    try:
        from PIL import Image

        with Image.open(path) as img:
            text = getattr(img, "text", {}) or {}
            return text.get("Description") or text.get("Title")
    except Exception:  # noqa: BLE001 - a caption is optional
        return None


def _figure_order(path, stem):
    from .figures import RUN_FIGURES

    name = os.path.splitext(os.path.basename(path))[0]
    kind = name[len(stem) + 1:] if name.startswith(stem + "_") else name
    kinds = list(RUN_FIGURES)
    return (kinds.index(kind) if kind in kinds else len(kinds), name)


def _find_pngs(directory, stem, source=None):
    """The PNG figures in ``directory``, in report order; none if any is older than ``source``
    (figures drawn from an earlier snapshot or table are redrawn, not shown)."""
    if not os.path.isdir(directory):
        return []
    pngs = glob.glob(os.path.join(glob.escape(directory), "*.png"))
    if source and os.path.isfile(source) and any(os.path.getmtime(p) < os.path.getmtime(source) for p in pngs):
        return []
    return sorted(pngs, key=lambda p: _figure_order(p, stem))


def _figures_html(pngs, base_dir, page_caption=""):
    if not pngs:
        return "<p class=\"muted\">No figures: neither figure files nor a snapshot were found next to the results.</p>"
    out = []
    for k, png in enumerate(pngs, 1):
        with open(png, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        caption = _png_description(png) or os.path.basename(png)
        if page_caption and caption.endswith(page_caption) and caption != page_caption:
            # The run's caption is in the page header and in the figure's own title.
            caption = caption[: -len(page_caption)].rstrip()
        svg = os.path.splitext(png)[0] + ".svg"
        try:
            rel = os.path.relpath(png, base_dir)
        except ValueError:
            rel = png
        files = _esc(rel) + (" (+ .svg)" if os.path.exists(svg) else "")
        out.append(
            f'<figure id="fig{k}"><img alt="{_esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>Figure {k}.</b> {_esc(caption)} <span class=\"file\">{files}</span></figcaption></figure>"
        )
    return "\n".join(out)


# -- pages ----------------------------------------------------------------------------------
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


def _page(title, body, source):
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<footer>Written by <code>snnmap.report</code> on {_esc(created)} from <code>{_esc(source)}</code>. "
            f"Self-contained: figures are embedded; the SVG versions lie next to the PNG files.</footer>\n"
            f"</main>\n</body>\n</html>\n")


def _data_callout(d):
    """The data description, prominent, with a warning when it is not a full test set."""
    data = d.get("data") if isinstance(d.get("data"), dict) else {}
    description = d.get("data_description") or data.get("description")
    parts = []
    if description:
        parts.append(f'<div class="callout"><b>Data:</b> {_esc(description)}</div>')
    if data.get("full") is False:
        parts.append('<div class="callout warn">Measured on a subset or sample of the data set, not on its full '
                     "test set: read the numbers accordingly.</div>")
    return "".join(parts)


def _data_section(d):
    data = d.get("data") if isinstance(d.get("data"), dict) else {}
    description = d.get("data_description") or data.get("description")
    parts = ['<section id="data"><h2>Data</h2>']
    pairs = [("data set", d.get("data_name") or data.get("name")),
             ("source", d.get("data_source") or data.get("source")), ("description", description)]
    pairs += [(k, v) for k, v in data.items() if k not in ("name", "source", "description")]
    pairs = [(k, v) for k, v in pairs if v is not None]
    if pairs:
        parts.append(_kv_table(pairs))
    parts.append("</section>")
    return "".join(parts)


SUMMARY = (
    ("accuracy_relu", "accuracy (ReLU, original network)", "the original network's predictions, stored by phase 1"),
    ("accuracy_relu_preprocessed", "accuracy (ReLU, preprocessed)", "the phase-1 network the SNN was built from"),
    ("accuracy_snn", "accuracy (SNN)", "SNN argmax vs labels"),
    ("agreement", "agreement SNN / ReLU", None),
    ("max_abs_error", "max |error|", "largest |(t_max - t) - relu(y)| over hidden neurons without window "
                                     "violations, and |readout - y| of the output layer"),
    ("max_abs_error_end_to_end", "max |error| end to end", "against the ReLU network run on the same images"),
    ("violations", "window violations", "MAPPING §3 (a) + (b)"),
    ("violations_a", "violations (a): beyond the window", "activation > B_n: the spike cannot code it"),
    ("violations_b", "violations (b): early crossing", "threshold reached while inputs still arrive"),
    ("latency", "latency (tau_c)", "t_min of the output layer: when the readout happens"),
    ("spikes_per_neuron", "spikes per hidden neuron", "every hidden neuron fires exactly once"),
    ("informative_spike_fraction", "informative spikes", "fraction of hidden spikes before t_max (not coding 0)"),
    ("n_hidden_neurons", "hidden neurons per image", None),
    ("n_test", "test images", None),
    ("n_labelled", "labelled test images", None),
)


def _summary_section(d):
    rows = []
    for key, label, note in SUMMARY:
        if key not in d:
            continue
        value = d[key]
        if key == "agreement" and d.get("agreement_reference"):
            note = f"argmax vs the {d['agreement_reference']}"
        text = _pct(value) if key == "informative_spike_fraction" and value is not None else fmt(value, key)
        rows.append(f'<tr><th>{_esc(label)}</th><td class="value" data-key="{_esc(key)}">{_esc(text)}</td>'
                    f'<td class="note">{_esc(note or "")}</td></tr>')
    if not rows:
        return ""
    return ('<section id="summary"><h2>Summary</h2><table class="metrics kv"><thead><tr><th>metric</th><th>value'
            "</th><th>meaning</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>")


def _operations_section(d):
    ops, en = d.get("operations"), d.get("energy")
    if not ops and not en:
        return ""
    parts = ['<section id="operations"><h2>Operations and energy (estimate)</h2>']
    if isinstance(ops, dict):
        per = " per image" if ops.get("per_image", True) else ""
        relu, events, info = ops.get("relu_macs"), ops.get("snn_events"), ops.get("snn_events_informative")
        pairs = [(f"ReLU network: multiply-accumulates{per}", relu),
                 (f"SNN: synaptic events{per} (every spike)", events),
                 (f"SNN: synaptic events{per} (informative spikes only)", info)]
        if relu and events is not None:
            pairs.append(("SNN events / ReLU MACs (every spike)", f"{events / relu:.4g}"))
        if relu and info is not None:
            pairs.append(("SNN events / ReLU MACs (informative only)", f"{info / relu:.4g}"))
        pairs += [(k, v) for k, v in ops.items()
                  if k not in ("per_image", "layers", "relu_macs", "snn_events", "snn_events_informative")]
        parts.append(_kv_table([(k, v) for k, v in pairs if v is not None]))
        parts.append('<p class="muted">MAPPING §8: a ReLU layer costs n_in x n_out (Dense) or '
                     "H_out W_out C_out k_h k_w C_in (Conv2D) MACs; a spike costs one event per synapse it "
                     "reaches (its fan-out). Spikes at the end of a window code 0 and can be skipped by hardware "
                     "with a global end-of-window event: hence the informative-only count.</p>")
        layers = ops.get("layers")
        if isinstance(layers, list) and layers:
            keys = list(dict.fromkeys(k for row in layers for k in row))
            headers = {"name": "layer", "relu_macs": "ReLU MACs", "snn_events": "SNN events (all)",
                       "snn_events_informative": "SNN events (informative)"}
            parts.append("<h3>Per layer</h3>")
            parts.append('<div class="scroll">' + _table([(k, headers.get(k, k)) for k in keys], layers) + "</div>")
    if isinstance(en, dict):
        parts.append('<h3>Energy per image: an ESTIMATE</h3><div class="callout estimate">')
        parts.append("<p><b>Estimate</b>, not a measurement: operations x energy per operation"
                     + (f" ({_esc(en['counts'])})" if en.get("counts") else "") + ".</p>")
        pairs = [("energy per multiply-accumulate (ReLU)", f"{en['mac_pj']} pJ" if "mac_pj" in en else None),
                 ("energy per synaptic event (SNN, one add)", f"{en['add_pj']} pJ" if "add_pj" in en else None),
                 ("source of the per-operation energies", en.get("source")),
                 ("ReLU network", _energy(en.get("relu_pj_per_image"))),
                 ("SNN, every spike", _energy(en.get("snn_pj_per_image"))),
                 ("SNN, informative spikes only", _energy(en.get("snn_informative_pj_per_image"))),
                 ("SNN / ReLU (every spike)", _ratio(en.get("snn_over_relu"))),
                 ("SNN / ReLU (informative only)", _ratio(en.get("snn_informative_over_relu")))]
        known = {"estimate", "counts", "mac_pj", "add_pj", "source", "relu_pj_per_image", "snn_pj_per_image",
                 "snn_informative_pj_per_image", "snn_over_relu", "snn_informative_over_relu"}
        pairs += [(k, v) for k, v in en.items() if k not in known]
        parts.append(_kv_table([(k, v) for k, v in pairs if v is not None]))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


LAYER_COLUMNS = (("name", "layer"), ("role", "role"), ("t_min_prev", "t_min(n-1)"), ("t_min", "t_min(n)"),
                 ("t_max", "t_max(n)"), ("B_n", "B_n"), ("X_n", "X_n"), ("neurons", "neurons / image"),
                 ("informative_spike_fraction", "informative"), ("max_abs_error", "max |error|"),
                 ("violations_a", "violations (a)"), ("violations_b", "violations (b)"))


def _layers_section(d):
    layers = d.get("layers")
    if not isinstance(layers, list) or not layers:
        return ""
    rows = []
    for entry in layers:
        row = dict(entry)
        row["role"] = "output (readout)" if entry.get("output_layer") else "hidden"
        if not entry.get("output_layer") and entry.get("t_max") is not None and entry.get("t_min") is not None:
            row["B_n"] = entry["t_max"] - entry["t_min"]
        rows.append(row)
    columns = [(k, h) for k, h in LAYER_COLUMNS if any(r.get(k) is not None for r in rows)]
    extra = [k for r in rows for k in r if k not in dict(LAYER_COLUMNS) and k != "output_layer"]
    columns += [(k, k) for k in dict.fromkeys(extra)]
    formats = {"informative_spike_fraction": _pct}
    return ('<section id="layers"><h2>Layers</h2><div class="scroll">' + _table(columns, rows, formats)
            + '</div><p class="muted">Windows in units of tau_c (MAPPING §1): a hidden layer integrates from '
            "t_min(n-1), its inputs arrive until t_min(n), it spikes in [t_min(n), t_max(n)], "
            "B_n = (1 + zeta) X_n.</p></section>")


def _settings_section(d):
    pairs = list((d.get("settings") or {}).items())
    for key in ("X_n", "model_name", "logging_dir", "part", "merged_from", "created", "elapsed_s"):
        if d.get(key) is not None:
            pairs.append((key, d[key]))
    versions = d.get("versions")
    if isinstance(versions, dict):
        pairs.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if not pairs:
        return ""
    return '<section id="settings"><h2>Settings</h2>' + _kv_table(pairs) + "</section>"


def _nav(items):
    return "<nav>" + "".join(f'<a href="#{a}">{_esc(t)}</a>' for a, t in items) + "</nav>"


def run_page(result, json_path, base_dir):
    """The HTML of a run's page (figures found or drawn next to ``json_path``)."""
    paths = artifact_paths(json_path)
    pngs = _find_pngs(paths["figures_dir"], paths["stem"], paths["snapshot"])
    note = ""
    if not pngs and os.path.isfile(paths["snapshot"]):
        pngs, note = _draw_run_figures(paths, result)
    title = f"SNN run: {result.get('model_name', '?')} on {result.get('data_name', '?')}"
    sections = [
        f"<header><h1>{_esc(title)}</h1><p class=\"sub\">{_esc(run_caption(result))}</p>"
        f"<p class=\"sub\">results: <code>{_esc(json_path)}</code></p>",
        _nav([("summary", "Summary"), ("data", "Data"), ("settings", "Settings"), ("operations", "Operations"),
              ("layers", "Layers"), ("figures", "Figures")]) + "</header>",
        _data_callout(result),
        _summary_section(result),
        '<div class="cols">' + _data_section(result) + _settings_section(result) + "</div>",
        _operations_section(result), _layers_section(result),
        f'<section id="figures"><h2>Figures</h2>{note}{_figures_html(pngs, base_dir, run_caption(result))}</section>',
    ]
    return _page(title, "\n".join(s for s in sections if s), json_path)


def _draw_run_figures(paths, result):
    from . import figures
    from ..pipeline import snapshot

    snap = snapshot.load_snapshot(paths["snapshot"])
    caption = run_caption(result)
    try:
        figs = figures.all_run_figures(snap, paths["figures_dir"], paths["stem"], caption)
        _prune(paths["figures_dir"], paths["stem"], figs)
        note = ""
    except OSError:
        out = tempfile.mkdtemp(prefix="snnmap_figures_")
        figs = figures.all_run_figures(snap, out, paths["stem"], caption)
        note = ('<p class="muted">Figures drawn from the snapshot for this page only (the results folder is not '
                "writable).</p>")
    return sorted((p for p in figs if p.endswith(".png")), key=lambda p: _figure_order(p, paths["stem"])), note


def _sweep_columns(rows, knobs):
    """Columns of a sweep table: knobs first, ``m_mean`` + ``m_std`` merged into ``m (mean ± std)``;
    dict-valued columns (a row's full settings) left out."""
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


def _sweep_cell(row, kind, key):
    if kind == "pm":
        mean, std = row.get(key + "_mean"), row.get(key + "_std")
        if mean is None:
            return "n/a", False
        return _pm(_as_float(mean), _as_float(std), key), True
    value = row.get(key)
    if isinstance(value, list) and len(str(value)) > 60:
        return f"{len(value)} items", False
    return fmt(value, key), isinstance(value, (int, float)) and not isinstance(value, bool)


def _pm(mean, std, key):
    """``mean ± std`` with a precision that suits the metric."""
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


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _sweep_table(rows, knobs):
    columns = _sweep_columns(rows, knobs)
    head = "".join(f"<th>{_esc(k.replace('_', ' '))}</th>" for kind, k in columns)
    body = []
    for row in rows:
        cells = []
        for kind, key in columns:
            text, num = _sweep_cell(row, kind, key)
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="grid sweep"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def sweep_page(sweep, json_path, base_dir):
    """The HTML of a sweep's page (figures found or drawn next to ``json_path``)."""
    paths = artifact_paths(json_path)
    pngs = _find_pngs(paths["figures_dir"], paths["stem"], json_path)
    note = ""
    if not pngs and sweep["rows"]:
        try:
            figs = _sweep_figures(sweep, paths["figures_dir"], paths["stem"])
        except OSError:
            figs = _sweep_figures(sweep, tempfile.mkdtemp(prefix="snnmap_figures_"), paths["stem"])
            note = "<p class=\"muted\">Figures drawn for this page only (the folder is not writable).</p>"
        pngs = [p for p in figs if p.endswith(".png")]
    grid = sweep["grid"]
    knobs = list(grid)
    name = sweep.get("sweep_name")
    title = sweep.get("title") or ("Sweep " + (f"{name}: " if name else "of ") + ", ".join(knobs))
    fixed = {k: v for k, v in _fixed(sweep).items() if k not in knobs}
    other = [(k, v) for k, v in sweep.items() if k not in _SWEEP_SPECIAL and k != "sweep_name"
             and (not isinstance(v, (list, dict)) or len(str(v)) < 400)]
    warn = ""
    if sweep.get("complete") is False:
        warn = ('<div class="callout warn">This sweep is INCOMPLETE: some evaluations are missing '
                f"({_esc(fmt(sweep.get('evaluations')))}); rows average over the trials that ran.</div>")
    sections = [
        f"<header><h1>{_esc(title)}</h1><p class=\"sub\">{_esc(sweep_caption(sweep))}</p>"
        f"<p class=\"sub\">sweep: <code>{_esc(json_path)}</code></p>",
        _nav([("table", "Results"), ("figures", "Figures"), ("data", "Data"), ("settings", "Settings"),
              ("grid", "Grid")]) + "</header>",
        warn, _data_callout(sweep),
        '<section id="table"><h2>Results</h2><p class="muted">One row per grid point (knobs first); metrics are '
        "mean ± std over the trials of that point.</p><div class=\"scroll\">" + _sweep_table(sweep["rows"], knobs)
        + "</div></section>",
        f'<section id="figures"><h2>Figures</h2>{note}{_figures_html(pngs, base_dir, sweep_caption(sweep))}</section>',
        '<div class="cols">' + _data_section(sweep)
        + '<section id="settings"><h2>Fixed settings</h2>'
        + (_kv_table(list(fixed.items())) if fixed else '<p class="muted">none given</p>') + "</section></div>",
        '<section id="grid"><h2>Grid</h2>' + _kv_table([(k, v) for k, v in grid.items()])
        + (("<h3>Other</h3>" + _kv_table(other)) if other else "") + "</section>",
    ]
    return _page(title, "\n".join(s for s in sections if s), json_path)


def write_report(path, out=None):
    """Write the HTML page of a run's or a sweep's JSON ``path``; returns the page's path.

    ``out`` defaults to ``<path without .json>.html``.
    """
    path = os.fspath(path)
    data = storage.read_json(path)
    out = os.fspath(out) if out else artifact_paths(path)["html"]
    base_dir = os.path.dirname(os.path.abspath(out))
    if is_sweep(data):
        text = sweep_page(data, path, base_dir)
    elif isinstance(data, dict):
        text = run_page(data, path, base_dir)
    else:
        raise ValueError(f"{path} is neither a run's results (a JSON object) nor a sweep (rows + grid)")
    storage.atomic_write_text(out, text)
    return out
