"""The page of a run (phase 2's results JSON): metrics, operations, energy, layers, figures."""

import html
import re

from snnmap.reporting import markup


def test_run_page(run_dir, check_page):
    path, result, out = run_dir
    with open(out["report"], encoding="utf-8") as fh:
        text = fh.read()
    check_page(text, 4)
    assert html.escape(result["data_description"]) in text
    for key, shown in (("accuracy_snn", f"{result['accuracy_snn']:.4f}"), ("agreement", f"{result['agreement']:.4f}"),
                       ("max_abs_error", f"{result['max_abs_error']:.3e}"), ("latency", f"{result['latency']:.6g}")):
        assert re.search(rf'data-key="{key}">{re.escape(shown)}<', text), key
    assert "Operations and energy (estimate)" in text and "ESTIMATE" in text
    assert "Horowitz, ISSCC 2014 (test)" in text and "4.6 pJ" in text and "901.6 pJ" in text
    ops = result["operations"]
    for key in ("relu_macs", "snn_events", "snn_events_informative"):  # per image, network totals
        assert f"<td>{markup.fmt(ops[key], key)}</td>" in text, key
    for layer in result["layers"]:
        assert f"<td>{layer['name']}</td>" in text
    for kind in ("Spike times", "raster", "Membrane potential", "Exactness"):
        assert kind.lower() in text.lower()
    assert "docs/method.md §" in text and "MAPPING" not in text
