"""The HTML page of one run: phase 2's results JSON with its snapshot and figures.

Sections: a header with the run's caption, the data callout, the summary metrics of
docs/method.md §7, data and settings side by side, operations and the energy estimate of
§8 (when the results have them), the per-layer table, and every figure.
"""

from __future__ import annotations

import os

from .artifacts import artifact_paths, draw_run_figures, run_caption
from .markup import (data_callout, data_section, energy, esc, figure_order, figures_html, find_pngs, fmt, kv_table,
                     nav, page, percent, ratio, table)

#: The summary table: (results key, label, meaning); keys absent from the results are left out.
SUMMARY = (
    ("accuracy_relu", "accuracy (ReLU, original network)", "the original network's predictions, stored by phase 1"),
    ("accuracy_relu_preprocessed", "accuracy (ReLU, preprocessed)", "the phase-1 network the SNN was built from"),
    ("accuracy_snn", "accuracy (SNN)", "SNN argmax vs labels"),
    ("agreement", "agreement SNN / ReLU", None),
    ("max_abs_error", "max |error|", "largest |(t_max - t) - relu(y)| over hidden neurons without window "
                                     "violations, and |readout - y| of the output layer"),
    ("max_abs_error_end_to_end", "max |error| end to end", "against the ReLU network run on the same images"),
    ("violations", "window violations", "docs/method.md §3 (a) + (b)"),
    ("violations_a", "violations (a): beyond the window", "activation > B_n: the spike cannot code it"),
    ("violations_b", "violations (b): early crossing", "threshold reached while inputs still arrive"),
    ("latency", "latency (tau_c)", "t_min of the output layer: when the readout happens"),
    ("spikes_per_neuron", "spikes per hidden neuron", "every hidden neuron fires exactly once"),
    ("informative_spike_fraction", "informative spikes", "fraction of hidden spikes before t_max (not coding 0)"),
    ("n_hidden_neurons", "hidden neurons per image", None),
    ("n_test", "test images", None),
    ("n_labelled", "labelled test images", None),
)

#: Columns of the per-layer table: (key, header); columns no layer has are left out.
LAYER_COLUMNS = (("name", "layer"), ("role", "role"), ("t_min_prev", "t_min(n-1)"), ("t_min", "t_min(n)"),
                 ("t_max", "t_max(n)"), ("B_n", "B_n"), ("X_n", "X_n"), ("neurons", "neurons / image"),
                 ("informative_spike_fraction", "informative"), ("max_abs_error", "max |error|"),
                 ("violations_a", "violations (a)"), ("violations_b", "violations (b)"))

OPERATIONS_NOTE = ('<p class="muted">docs/method.md §8: a ReLU layer costs n_in x n_out (Dense) or '
                   "H_out W_out C_out k_h k_w C_in (Conv2D) MACs; a spike costs one event per synapse it "
                   "reaches (its fan-out). Spikes at the end of a window code 0 and can be skipped by hardware "
                   "with a global end-of-window event: hence the informative-only count.</p>")

LAYERS_NOTE = ('<p class="muted">Windows in units of tau_c (docs/method.md §1): a hidden layer integrates from '
               "t_min(n-1), its inputs arrive until t_min(n), it spikes in [t_min(n), t_max(n)], "
               "B_n = (1 + zeta) X_n.</p>")

_OPERATION_KEYS = ("per_image", "layers", "relu_macs", "snn_events", "snn_events_informative")
_ENERGY_KEYS = ("estimate", "counts", "mac_pj", "add_pj", "source", "relu_pj_per_image", "snn_pj_per_image",
                "snn_informative_pj_per_image", "snn_over_relu", "snn_informative_over_relu")


def summary_section(d):
    """The summary table of results ``d`` (see :data:`SUMMARY`); empty when it has none of the keys."""
    rows = []
    for key, label, note in SUMMARY:
        if key not in d:
            continue
        value = d[key]
        if key == "agreement" and d.get("agreement_reference"):
            note = f"argmax vs the {d['agreement_reference']}"
        text = percent(value) if key == "informative_spike_fraction" and value is not None else fmt(value, key)
        rows.append(f'<tr><th>{esc(label)}</th><td class="value" data-key="{esc(key)}">{esc(text)}</td>'
                    f'<td class="note">{esc(note or "")}</td></tr>')
    if not rows:
        return ""
    return ('<section id="summary"><h2>Summary</h2><table class="metrics kv"><thead><tr><th>metric</th><th>value'
            "</th><th>meaning</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>")


def _operations(ops):
    """Operation counts (network totals and per layer) of a run's ``operations`` dict."""
    per = " per image" if ops.get("per_image", True) else ""
    relu, events, info = ops.get("relu_macs"), ops.get("snn_events"), ops.get("snn_events_informative")
    pairs = [(f"ReLU network: multiply-accumulates{per}", relu),
             (f"SNN: synaptic events{per} (every spike)", events),
             (f"SNN: synaptic events{per} (informative spikes only)", info)]
    if relu and events is not None:
        pairs.append(("SNN events / ReLU MACs (every spike)", f"{events / relu:.4g}"))
    if relu and info is not None:
        pairs.append(("SNN events / ReLU MACs (informative only)", f"{info / relu:.4g}"))
    pairs += [(k, v) for k, v in ops.items() if k not in _OPERATION_KEYS]
    parts = [kv_table([(k, v) for k, v in pairs if v is not None]), OPERATIONS_NOTE]
    layers = ops.get("layers")
    if isinstance(layers, list) and layers:
        keys = list(dict.fromkeys(k for row in layers for k in row))
        headers = {"name": "layer", "relu_macs": "ReLU MACs", "snn_events": "SNN events (all)",
                   "snn_events_informative": "SNN events (informative)"}
        parts.append("<h3>Per layer</h3>")
        parts.append('<div class="scroll">' + table([(k, headers.get(k, k)) for k in keys], layers) + "</div>")
    return "".join(parts)


def _energy(en):
    """The energy estimate of a run's ``energy`` dict, in a callout that says it is an estimate."""
    parts = ['<h3>Energy per image: an ESTIMATE</h3><div class="callout estimate">',
             "<p><b>Estimate</b>, not a measurement: operations x energy per operation"
             + (f" ({esc(en['counts'])})" if en.get("counts") else "") + ".</p>"]
    pairs = [("energy per multiply-accumulate (ReLU)", f"{en['mac_pj']} pJ" if "mac_pj" in en else None),
             ("energy per synaptic event (SNN, one add)", f"{en['add_pj']} pJ" if "add_pj" in en else None),
             ("source of the per-operation energies", en.get("source")),
             ("ReLU network", energy(en.get("relu_pj_per_image"))),
             ("SNN, every spike", energy(en.get("snn_pj_per_image"))),
             ("SNN, informative spikes only", energy(en.get("snn_informative_pj_per_image"))),
             ("SNN / ReLU (every spike)", ratio(en.get("snn_over_relu"))),
             ("SNN / ReLU (informative only)", ratio(en.get("snn_informative_over_relu")))]
    pairs += [(k, v) for k, v in en.items() if k not in _ENERGY_KEYS]
    parts.append(kv_table([(k, v) for k, v in pairs if v is not None]))
    parts.append("</div>")
    return "".join(parts)


def operations_section(d):
    """Operations and the energy estimate (docs/method.md §8) of results ``d``; empty without either."""
    ops, en = d.get("operations"), d.get("energy")
    if not ops and not en:
        return ""
    parts = ['<section id="operations"><h2>Operations and energy (estimate)</h2>']
    if isinstance(ops, dict):
        parts.append(_operations(ops))
    if isinstance(en, dict):
        parts.append(_energy(en))
    parts.append("</section>")
    return "".join(parts)


def layers_section(d):
    """The per-layer table of results ``d`` (windows, B_n = t_max - t_min, X_n, errors, violations)."""
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
    formats = {"informative_spike_fraction": percent}
    return ('<section id="layers"><h2>Layers</h2><div class="scroll">' + table(columns, rows, formats)
            + "</div>" + LAYERS_NOTE + "</section>")


def settings_section(d):
    """The settings of results ``d``, with X_n, the model, where it ran from and the package versions."""
    pairs = list((d.get("settings") or {}).items())
    for key in ("X_n", "model_name", "logging_dir", "part", "merged_from", "created", "elapsed_s"):
        if d.get(key) is not None:
            pairs.append((key, d[key]))
    versions = d.get("versions")
    if isinstance(versions, dict):
        pairs.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if not pairs:
        return ""
    return '<section id="settings"><h2>Settings</h2>' + kv_table(pairs) + "</section>"


def run_page(result, json_path, base_dir):
    """The HTML of a run's page.

    Figures are those next to ``json_path`` (see :func:`snnmap.reporting.artifacts.artifact_paths`);
    when there are none, or they are older than the snapshot, they are drawn from the snapshot.

    Parameters
    ----------
    result : dict
        The run's results (phase 2's JSON).
    json_path : str
        Where the results lie.
    base_dir : str
        The folder of the page (figure files are named relative to it).
    """
    paths = artifact_paths(json_path)
    pngs = find_pngs(paths["figures_dir"], paths["stem"], paths["snapshot"])
    note = ""
    if not pngs and os.path.isfile(paths["snapshot"]):
        pngs, note = draw_run_figures(result, json_path)
        pngs = sorted(pngs, key=lambda p: figure_order(p, paths["stem"]))
    caption = run_caption(result)
    title = f"SNN run: {result.get('model_name', '?')} on {result.get('data_name', '?')}"
    sections = [
        f"<header><h1>{esc(title)}</h1><p class=\"sub\">{esc(caption)}</p>"
        f"<p class=\"sub\">results: <code>{esc(json_path)}</code></p>",
        nav([("summary", "Summary"), ("data", "Data"), ("settings", "Settings"), ("operations", "Operations"),
             ("layers", "Layers"), ("figures", "Figures")]) + "</header>",
        data_callout(result),
        summary_section(result),
        '<div class="cols">' + data_section(result) + settings_section(result) + "</div>",
        operations_section(result), layers_section(result),
        f'<section id="figures"><h2>Figures</h2>{note}{figures_html(pngs, base_dir, caption)}</section>',
    ]
    return page(title, "\n".join(s for s in sections if s), json_path)
