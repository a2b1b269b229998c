"""The HTML page of a comparison: the exact SNN beside rate-coded baselines, figures and table."""

from __future__ import annotations

import os

from .. import storage
from ..experiments.compare import silent_notes
from . import markup
from .compare_figures import FIGURES

#: The table's columns: (key, header).
COLUMNS = (("method", "method"), ("variant", "variant"), ("T", "T"), ("accuracy", "accuracy"),
           ("agreement", "agreement"), ("spikes_per_neuron", "spikes / neuron"),
           ("synaptic_events", "synaptic events / image"), ("macs", "MACs / image"),
           ("energy", "energy / image (pJ)"), ("energy_over_relu", "energy / ReLU"),
           ("no_output_spike", "images with no output spike"))
#: The T shown in the page's table (every T is in the JSON and CSV).
TABLE_T = (4, 8, 16, 32, 64, 128, 256, 512, 1024)


def table_rows(rows):
    """The rows of the page's table: the ReLU and exact rows, and each rate variant at :data:`TABLE_T`
    (and its last T).

    Parameters
    ----------
    rows : list of dict
    """
    last = {}
    for r in rows:
        if r.get("method") == "rate":
            last[r["variant"]] = max(last.get(r["variant"], 0), r["T"])
    return [r for r in rows if r.get("method") != "rate" or r["T"] in TABLE_T or r["T"] == last[r["variant"]]]


def caption_of(result):
    """Model, data and number of test images of a comparison."""
    return (f"{result.get('model_name')} on {result.get('data_description') or result.get('data_name')}, "
            f"{result.get('n_test')} test images")


def write_compare_page(json_path):
    """Draw the figures of a comparison's JSON next to it and write its page (``.html``, atomically).

    Parameters
    ----------
    json_path : str
        From :func:`snnmap.experiments.compare.run_compare`.

    Returns
    -------
    str
        The page's path.
    """
    result = storage.read_json(json_path)
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
        raise ValueError(f"{json_path} is not a comparison's results (no rows): run python -m snnmap.compare")
    base = os.path.splitext(json_path)[0]
    caption = caption_of(result)
    pngs = [draw(result["rows"], base + suffix, caption)[0] for suffix, draw in FIGURES]
    energy = result.get("energy", {})
    # A silent output layer reads as a tie (class 0): say so next to the table rather than show a bare 0.10.
    notes = "".join(f"<p class=\"note\">{markup.esc(line)}</p>" for line in silent_notes(result["rows"]))
    body = (f"<header><h1>Exact single-spike SNN vs rate-coded SNNs</h1><p>{markup.esc(caption)}</p></header>\n"
            "<section><h2>Figures</h2>" + markup.figures_html(pngs, os.path.dirname(json_path), caption)
            + "</section>\n<section><h2>Table</h2>"
            "<p>Agreement: the share of test images whose class equals the original ReLU network's. "
            "Rate rows: every variant at a few T (all T are in the CSV and JSON). "
            f"Energy: {markup.esc(energy.get('counts', ''))}; mac_pj {markup.esc(energy.get('mac_pj'))}, "
            f"add_pj {markup.esc(energy.get('add_pj'))} ({markup.esc(energy.get('source', ''))}).</p>"
            + notes + markup.table(list(COLUMNS), table_rows(result["rows"])) + "</section>")
    path = base + ".html"
    storage.atomic_write_text(path, markup.page(f"Comparison: {caption}", body, os.path.basename(json_path)))
    return path
