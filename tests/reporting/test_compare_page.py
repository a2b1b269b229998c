"""The comparison page: three figures (by T, by spikes per neuron, cost), the exact SNN as its own point, a table."""

import json
import os

import pytest

from snnmap.reporting.compare_page import table_rows, write_compare_page


def result():
    rows = [{"method": "relu", "variant": "", "T": None, "accuracy": 0.9, "agreement": 1.0, "macs": 1000,
             "energy": 4600.0},
            {"method": "exact", "variant": "single spike", "T": None, "accuracy": 0.9, "agreement": 1.0,
             "spikes_per_neuron": 1.0, "synaptic_events": 900, "macs": 0, "energy": 810.0}]
    for variant, slope in (("data/constant/subtract/spikes", 1.0), ("percentile-99.9/poisson/subtract/spikes", 2.0)):
        for T in (4, 8, 12, 16, 256):
            rows.append({"method": "rate", "variant": variant, "T": T, "accuracy": min(0.9, 0.1 * slope * T ** 0.5),
                         "agreement": min(1.0, 0.12 * slope * T ** 0.5), "spikes_per_neuron": 0.02 * T * slope,
                         "synaptic_events": 30.0 * T * slope, "macs": 500, "energy": 30.0 * T + 2000})
    return {"model_name": "toy", "data_name": "Toy", "n_test": 10, "rows": rows,
            "energy": {"mac_pj": 4.6, "add_pj": 0.9, "counts": "arithmetic only", "source": "test"}}


def test_page_has_the_figures_and_the_table(tmp_path):
    path = tmp_path / "toy_compare.json"
    path.write_text(json.dumps(result()))
    page = write_compare_page(str(path))
    html = open(page).read()
    assert html.count("<figure") == 3 and "data:image/png;base64," in html
    for suffix in ("_accuracy_T", "_agreement_spikes", "_cost_T"):
        assert (tmp_path / f"toy_compare{suffix}.png").is_file() and (tmp_path / f"toy_compare{suffix}.svg").is_file()
    assert "single spike" in html and "percentile-99.9/poisson/subtract/spikes" in html
    assert "Agreement against spikes per neuron" in html
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_table_keeps_a_few_T_and_the_last():
    kept = table_rows(result()["rows"])
    assert [r["T"] for r in kept if r["variant"] == "data/constant/subtract/spikes"] == [4, 8, 16, 256]
    assert kept[1]["method"] == "exact"


def test_a_file_that_is_not_a_comparison_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"accuracy_snn": 1.0}))
    with pytest.raises(ValueError, match="is not a comparison's results"):
        write_compare_page(str(path))


def test_a_variant_whose_output_never_spiked_is_named_not_shown_as_a_bare_accuracy(tmp_path):
    # The model-based normalisation of LeNet5 on Fashion-MNIST: accuracy 0.10 because no output neuron spiked.
    data = result()
    for r in data["rows"][2:]:
        r["no_output_spike"] = 0.0
    data["rows"].append({"method": "rate", "variant": "model/constant/subtract/spikes", "T": 256, "accuracy": 0.1,
                         "agreement": 0.1, "spikes_per_neuron": 4.6, "synaptic_events": 1e5, "macs": 500,
                         "energy": 9e4, "no_output_spike": 1.0})
    path = tmp_path / "toy_compare.json"
    path.write_text(json.dumps(data))
    html = open(write_compare_page(str(path))).read()
    assert "model/constant/subtract/spikes: no output neuron spiked on 100.0% of the images at T=256" in html
    assert "data/constant/subtract/spikes: no output" not in html
    assert "images with no output spike" in html
