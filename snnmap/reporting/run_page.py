"""The HTML page of one run: phase 2's results JSON with its snapshot and figures.

Sections: a header with the run's caption, the data callout, the headline exactness (the
SNN against the user's original network, docs/method.md §7), the summary metrics of §7,
data and settings side by side, operations and the energy estimate of §8 (when the
results have them), the per-layer table, and every figure (or which are missing, and why).
"""

from __future__ import annotations

from ..experiments.phase2 import is_perturbed
from .artifacts import run_caption, run_figures
from .markup import (data_callout, data_section, energy, energy_unit, esc, figures_html, fmt, kv_table, nav, page,
                     percent, ratio, table)

#: The summary table: (results key, label, meaning); keys absent from the results are left out.
SUMMARY = (
    ("accuracy_relu", "accuracy (ReLU, original network)", "the original network's predictions, stored by phase 1"),
    ("accuracy_relu_preprocessed", "accuracy (ReLU, preprocessed)", "the phase-1 network the SNN was built from"),
    ("accuracy_snn", "accuracy (SNN)", "SNN argmax vs labels"),
    ("agreement", "agreement SNN / ReLU", None),
    ("max_abs_error_original", "max |error| vs your network", "largest |SNN logits - your original network's "
                                                              "pre-softmax logits| over the evaluated images"),
    ("max_abs_error", "max |error| of the spike codes (vs the preprocessed ReLU twin)",
     "largest |(t_max - t) - relu(y)| over hidden neurons without window violations, and |readout - y| of the "
     "output layer; y from the preprocessed network"),
    ("max_abs_error_end_to_end", "max |error| end to end (vs the preprocessed ReLU twin)",
     "against the preprocessed ReLU network run on the same images"),
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

#: The labels of the error figures of a perturbed run (noise, quantisation, ...): (results key, label, meaning).
#: There they measure the deviation the perturbation causes, not the exactness of the conversion.
PERTURBED_LABELS = {
    "max_abs_error_original": ("deviation from your network (caused by the perturbation)",
                               "largest |SNN logits - your original network's pre-softmax logits|: what the "
                               "perturbation changes, not an exactness figure"),
    "max_abs_error": ("deviation of the spike codes (caused by the perturbation)",
                      "largest |(t_max - t) - relu(y)| over hidden neurons without window violations, and "
                      "|readout - y| of the output layer, under the perturbation"),
    "max_abs_error_end_to_end": ("deviation end to end (vs the preprocessed ReLU twin)",
                                 "against the preprocessed ReLU network run on the same images, under the "
                                 "perturbation"),
}

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


#: Said where results hold no ``max_abs_error_original`` (written before snnmap recorded it).
NOT_RECORDED = ("these results predate the end-to-end check against your original network, so nothing here "
                "compares the SNN with the network you gave")

#: Said where ``max_abs_error_original`` is None: the run had nothing of the original network to compare with.
NOT_MEASURED = ("this run had neither your original network nor its stored logits to compare the SNN with "
                "(phase 1 stores them: run it again), so nothing here compares the SNN with the network you gave")


def _original_error(d):
    """``(shown value, note)`` of ``max_abs_error_original`` in results ``d``; the note is empty when measured."""
    if "max_abs_error_original" not in d:
        return "not recorded", NOT_RECORDED
    if d["max_abs_error_original"] is None:
        return "not measured", NOT_MEASURED
    return fmt(d["max_abs_error_original"], "error"), ""


def _perturbed_headline(d, shown, why):
    """The headline of a perturbed run: the deviation the perturbation causes, named as such."""
    found = d.get("perturbations") or []
    by = f" ({', '.join(found)})" if found else ""
    value = f'<b data-key="max_abs_error_original">{esc(shown)}</b>'
    parts = [f'<div class="callout estimate" id="exactness"><p class="big">deviation from your network caused by '
             f"the perturbation{esc(by)}: {value}</p>",
             f"<p>{esc(why[0].upper() + why[1:]) + '. ' if why else ''}This run perturbs the SNN on purpose "
             "(docs/method.md §6): the figures below measure what the perturbation changes, not the exactness "
             "of the conversion (an unperturbed run of the same network shows that).</p>"]
    if "max_abs_error" in d:
        parts.append(f"<p>{esc(PERTURBED_LABELS['max_abs_error'][0])}: "
                     f'<b>{esc(fmt(d["max_abs_error"], "error"))}</b></p>')
    return "".join(parts) + "</div>"


def exactness_headline(d):
    """The headline exactness of results ``d``: the SNN against the user's original network (§7).

    The spike codes' error against the preprocessed ReLU twin (``max_abs_error``) stands
    beside it under its own name.  Without ``max_abs_error_original`` (older results) the
    callout says that the end-to-end check was not recorded; with it None, that it was not
    measured and why.  For a perturbed run (noise, quantisation, ...) the same figures are
    named as the deviation the perturbation causes.  Empty for results with neither key.

    Parameters
    ----------
    d : dict
        A run's results.
    """
    if "max_abs_error_original" not in d and "max_abs_error" not in d:
        return ""
    shown, why = _original_error(d)
    if is_perturbed(d):
        return _perturbed_headline(d, shown, why)
    value = f'<b data-key="max_abs_error_original">{esc(shown)}</b>'
    if not why:
        n = f" over {fmt(d['n_test'])} images" if d.get("n_test") is not None else ""
        against = f", against the {d['exactness_reference']}" if d.get("exactness_reference") else ""
        parts = [f'<div class="callout headline" id="exactness"><p class="big">max |error| vs your network: {value}'
                 f"</p><p>largest |SNN logits - your original network's pre-softmax logits|{esc(n)}{esc(against)} "
                 "(docs/method.md §7)</p>"]
    else:
        parts = [f'<div class="callout warn" id="exactness"><p class="big">max |error| vs your network: {value}'
                 f"</p><p>{esc(why[0].upper() + why[1:])}.</p>"]
    if "max_abs_error" in d:
        parts.append("<p>max |error| of the spike codes (vs the preprocessed ReLU twin): "
                     f'<b>{esc(fmt(d["max_abs_error"], "error"))}</b></p>')
    return "".join(parts) + "</div>"


def summary_section(d):
    """The summary table of results ``d`` (see :data:`SUMMARY`; a perturbed run's error rows are named
    as deviations, :data:`PERTURBED_LABELS`); empty when it has none of the keys."""
    perturbed = is_perturbed(d)
    rows = []
    for key, label, note in SUMMARY:
        if perturbed and key in PERTURBED_LABELS:
            label, note = PERTURBED_LABELS[key]
        if key == "max_abs_error_original" and ("max_abs_error" in d or key in d):
            shown, why = _original_error(d)
            rows.append(f'<tr><th>{esc(label)}</th><td class="value" data-key="{esc(key)}">{esc(shown)}</td>'
                        f'<td class="note">{esc(why or note)}</td></tr>')
            continue
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
    """The energy estimate of a run's ``energy`` dict, in a callout that says it is an estimate (one unit)."""
    unit = energy_unit([en.get(k) for k in ("relu_pj_per_image", "snn_pj_per_image", "snn_informative_pj_per_image")])
    parts = ['<h3>Energy per image: an ESTIMATE</h3><div class="callout estimate">',
             "<p><b>Estimate</b>, not a measurement: operations x energy per operation"
             + (f" ({esc(en['counts'])})" if en.get("counts") else "") + ".</p>"]
    pairs = [("energy per multiply-accumulate (ReLU)", f"{en['mac_pj']} pJ" if "mac_pj" in en else None),
             ("energy per synaptic event (SNN, one add)", f"{en['add_pj']} pJ" if "add_pj" in en else None),
             ("source of the per-operation energies", en.get("source")),
             ("ReLU network", energy(en.get("relu_pj_per_image"), unit)),
             ("SNN, every spike", energy(en.get("snn_pj_per_image"), unit)),
             ("SNN, informative spikes only", energy(en.get("snn_informative_pj_per_image"), unit)),
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
    headers = dict(LAYER_COLUMNS, max_abs_error="deviation") if is_perturbed(d) else dict(LAYER_COLUMNS)
    columns = [(k, headers[k]) for k, _ in LAYER_COLUMNS if any(r.get(k) is not None for r in rows)]
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


def figures_section(figs, base_dir, caption):
    """The Figures section: every figure of ``figs``, and which are missing and why.

    Parameters
    ----------
    figs : snnmap.reporting.artifacts.RunFigures
    base_dir : str
        The folder of the page.
    caption : str
        The run's caption.
    """
    missing = (f'<div class="callout warn" id="missing-figures"><b>Missing figures:</b> {esc(figs.missing)}.</div>'
               if figs.missing else "")
    shown = figures_html(figs.pngs, base_dir, caption) if figs.pngs else '<p class="muted">No figures.</p>'
    return f'<section id="figures"><h2>Figures</h2>{missing}{figs.note}{shown}</section>'


def run_page(result, json_path, base_dir, figures=None):
    """The HTML of a run's page.

    Figures are those next to ``json_path`` (see :func:`snnmap.reporting.artifacts.artifact_paths`);
    when any the run should have is missing, or they are older than the snapshot, they are
    drawn from the snapshot; when they cannot be, the page says which are missing and why.

    Parameters
    ----------
    result : dict
        The run's results (phase 2's JSON).
    json_path : str
        Where the results lie.
    base_dir : str
        The folder of the page (figure files are named relative to it).
    figures : snnmap.reporting.artifacts.RunFigures, optional
        The figures, when already found (:func:`snnmap.reporting.artifacts.run_figures`).
    """
    figs = figures if figures is not None else run_figures(result, json_path)
    caption = run_caption(result)
    title = f"SNN run: {result.get('model_name', '?')} on {result.get('data_name', '?')}"
    sections = [
        f"<header><h1>{esc(title)}</h1><p class=\"sub\">{esc(caption)}</p>"
        f"<p class=\"sub\">results: <code>{esc(json_path)}</code></p>",
        nav([("summary", "Summary"), ("data", "Data"), ("settings", "Settings"), ("operations", "Operations"),
             ("layers", "Layers"), ("figures", "Figures")]) + "</header>",
        data_callout(result),
        exactness_headline(result),
        summary_section(result),
        '<div class="cols">' + data_section(result) + settings_section(result) + "</div>",
        operations_section(result), layers_section(result),
        figures_section(figs, base_dir, caption),
    ]
    return page(title, "\n".join(s for s in sections if s), json_path)
