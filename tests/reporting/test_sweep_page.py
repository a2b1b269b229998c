"""The page of a sweep: any JSON with rows and a grid; its table, figures and their upkeep."""

import html
import json
import os

from snnmap.reporting import html as report
from snnmap.reporting import sweep_page


def _sweep():
    rows = []
    for noise, acc, agr in ((0.0, 0.9533, 1.0), (0.05, 0.9444, 0.9811), (0.1, 0.9289, 0.9667)):
        rows.append({"noise": noise, "zeta": 0.5, "n_trials": 3, "trials": [0, 1, 2], "accuracy_relu": 0.9533,
                     "accuracy_snn_mean": acc, "accuracy_snn_std": noise / 10, "agreement_mean": agr,
                     "agreement_std": noise / 20, "latency_mean": 9.7399, "latency_std": 0.0,
                     "settings": {"noise": noise, "zeta": 0.5}})
    return {"sweep_name": "noise_test", "model_name": "tiny_fc_relu", "data_name": "MNIST",
            "data_source": "sample", "data_description": "MNIST sample for a test sweep; NOT the full test set",
            "fixed_settings": {"zeta": 0.5, "alpha_noise": 0.0, "seed": 0}, "grid": {"noise": [0.0, 0.05, 0.1],
                                                                                     "zeta": [0.5]},
            "trials": 3, "rows": rows}


def test_sweep_page(tmp_path, check_page):
    sweep = _sweep()
    path = tmp_path / "sweep.json"
    with open(path, "w") as fh:
        json.dump(sweep, fh)
    page = report.write_report(path)
    assert page == str(tmp_path / "sweep.html")
    figures_dir = report.artifact_paths(path)["figures_dir"]
    assert sorted(os.listdir(figures_dir)) == ["sweep_noise.png", "sweep_noise.svg"]
    with open(page, encoding="utf-8") as fh:
        text = fh.read()
    check_page(text, 1)
    assert html.escape(sweep["data_description"]) in text
    assert "0.9444 ± 0.0050" in text and "0.9811 ± 0.0025" in text and "0.9533" in text
    assert "<th>noise</th>" in text and "alpha_noise" in text
    # Any JSON with rows + grid is a sweep; a second knob with several values gets its own figure.
    for row, zeta in zip(sweep["rows"], (0.5, 1.0, 1.0)):
        row["zeta"] = zeta
    sweep["grid"]["zeta"] = [0.5, 1.0]
    other = tmp_path / "other.json"
    with open(other, "w") as fh:
        json.dump(sweep, fh)
    with open(report.write_report(other), encoding="utf-8") as fh:
        check_page(fh.read(), 2)
    # A sweep file rewritten later: its figures are redrawn, and those of knobs gone are removed.
    sweep["grid"] = {"zeta": [0.5, 1.0]}
    with open(path, "w") as fh:
        json.dump(sweep, fh)
    later = os.path.getmtime(os.path.join(figures_dir, "sweep_noise.png")) + 10
    os.utime(path, (later, later))
    with open(report.write_report(path), encoding="utf-8") as fh:
        check_page(fh.read(), 1)
    assert sorted(os.listdir(figures_dir)) == ["sweep_zeta.png", "sweep_zeta.svg"]


def test_incomplete_sweep_says_so(tmp_path):
    sweep = _sweep()
    sweep.update(complete=False, evaluations="5 of 9")
    text = sweep_page.sweep_page(sweep, str(tmp_path / "s.json"), str(tmp_path))
    assert "INCOMPLETE" in text and "5 of 9" in text


def test_sweep_columns_merge_mean_and_std():
    rows = _sweep()["rows"]
    columns = sweep_page.sweep_columns(rows, ["noise", "zeta"])
    assert columns[:2] == [("plain", "noise"), ("plain", "zeta")]
    assert ("pm", "accuracy_snn") in columns and ("pm", "agreement") in columns
    keys = [k for _, k in columns]
    assert "settings" not in keys and "trials" not in keys and "accuracy_snn_std" not in keys


def test_mean_std_precision():
    assert sweep_page.mean_std(0.94444, 0.005, "accuracy_snn") == "0.9444 ± 0.0050"
    assert sweep_page.mean_std(1.5e-13, 0.0, "max_abs_error") == "1.50e-13"
    assert sweep_page.mean_std(0.5346, 0.01, "informative_spike_fraction") == "53.46% ± 1.00%"
    assert sweep_page.mean_std(9.7399, float("nan"), "latency") == "9.7399"
