"""The HTML report of a run (phase 2's results JSON) and of a sweep: one self-contained page."""

import json
import os
import re
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import html  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import snnmap  # noqa: E402
from snnmap import storage
from snnmap.pipeline import snapshot
from snnmap.reporting import html as report  # noqa: E402

DESCRIPTION = "random 10-pixel images (tests), 40 test images; NOT a real data set"


def _relative_to_web(text):
    """Everything on the page that could load something from outside it."""
    return re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)[^"']*|@import|url\(\s*["']?(?!data:)""", text)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A phase-2-like results file with its snapshot and figures, from a tiny dense network."""
    rng = np.random.default_rng(7)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(14, activation="relu"),
                              keras.layers.Dense(4, activation="softmax")])
    x = rng.uniform(0.0, 1.0, (40, 10))
    y = rng.integers(0, 4, 40)
    pre = snnmap.preprocess(model, x, input_range=(0.0, 1.0), verbose=0)
    snn = snnmap.to_snn(pre, zeta=0.5)
    metrics = snnmap.evaluate(snn, x, y, relu_model=pre.model, verbose=0)
    metrics.pop("totals")
    metrics["accuracy_relu"] = metrics["accuracy_relu_preprocessed"]
    metrics.setdefault("operations", {
        "per_image": True, "relu_macs": 196, "snn_events": 196, "snn_events_informative": 101.5,
        "layers": [{"name": "dense", "relu_macs": 140, "snn_events": 140, "snn_events_informative": 70.0},
                   {"name": "dense_1", "relu_macs": 56, "snn_events": 56, "snn_events_informative": 31.5}]})
    result = {
        "data_name": "random", "data_source": "numpy", "data_description": DESCRIPTION,
        "data": {"name": "random", "source": "numpy", "description": DESCRIPTION, "full": False, "n_test": 40},
        "model_name": "tiny_dense_relu", **metrics,
        "energy": {"estimate": True, "mac_pj": 4.6, "add_pj": 0.9, "source": "Horowitz, ISSCC 2014 (test)",
                   "counts": "arithmetic only", "relu_pj_per_image": 901.6, "snn_pj_per_image": 176.4,
                   "snn_informative_pj_per_image": 91.35, "snn_over_relu": 0.1957,
                   "snn_informative_over_relu": 0.1013},
        "settings": {"zeta": 0.5, "noise": 0.0, "alpha_noise": 0.0, "trial": 0, "seed": 0},
    }
    directory = tmp_path_factory.mktemp("results")
    path = str(directory / "tiny_dense_relu_zeta0.5_noise0_alpha0_trial0.json")
    storage.atomic_write_json(path, result)
    out = report.write_run_artifacts(path, snn, x, relu_model=pre.model, input_range=(0.0, 1.0), n_images=8)
    return path, result, out


def test_artifact_names(run_dir):
    path, result, out = run_dir
    root = path[:-5]
    names = report.artifact_paths(path)
    assert names == {"snapshot": root + ".snapshot.npz", "figures_dir": root + "_figures",
                     "stem": os.path.basename(root), "html": root + ".html"}
    assert out["snapshot"] == names["snapshot"] and out["report"] == names["html"]
    assert sorted(out["figures"]) == sorted(
        os.path.join(names["figures_dir"], f"{names['stem']}_{kind}.{ext}")
        for kind in ("spike_times", "raster", "potential", "exactness") for ext in ("png", "svg"))
    snap = snapshot.load_snapshot(names["snapshot"])
    assert int(snap["meta/n_images"]) == 8
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".")], "temporary files left"


def _check_page(text, n_figures):
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<img ") + len(re.findall(r"<svg[\s>]", text)) == n_figures
    assert text.count('src="data:image/png;base64,') == n_figures
    assert _relative_to_web(text) == [], "the page must not load anything from outside"
    assert "<link" not in text and "<script" not in text


def test_run_page(run_dir):
    path, result, out = run_dir
    with open(out["report"], encoding="utf-8") as fh:
        text = fh.read()
    _check_page(text, 4)
    assert html.escape(DESCRIPTION) in text
    for key, shown in (("accuracy_snn", f"{result['accuracy_snn']:.4f}"), ("agreement", f"{result['agreement']:.4f}"),
                       ("max_abs_error", f"{result['max_abs_error']:.3e}"), ("latency", f"{result['latency']:.6g}")):
        assert re.search(rf'data-key="{key}">{re.escape(shown)}<', text), key
    assert "Operations and energy (estimate)" in text and "ESTIMATE" in text
    assert "Horowitz, ISSCC 2014 (test)" in text and "4.6 pJ" in text and "901.6 pJ" in text
    ops = result["operations"]
    for key in ("relu_macs", "snn_events", "snn_events_informative"):  # per image, network totals
        assert f"<td>{report.fmt(ops[key], key)}</td>" in text, key
    for layer in result["layers"]:
        assert f"<td>{layer['name']}</td>" in text
    for kind in ("Spike times", "raster", "Membrane potential", "Exactness"):
        assert kind.lower() in text.lower()


def test_page_regenerates_missing_figures_from_the_snapshot(run_dir, tmp_path):
    path, result, out = run_dir
    copy = tmp_path / os.path.basename(path)
    shutil.copy(path, copy)
    shutil.copy(out["snapshot"], report.artifact_paths(copy)["snapshot"])
    page = report.write_report(copy, tmp_path / "page.html")
    assert page == str(tmp_path / "page.html")
    figures_dir = report.artifact_paths(copy)["figures_dir"]
    assert len([f for f in os.listdir(figures_dir) if f.endswith(".png")]) == 4
    assert len([f for f in os.listdir(figures_dir) if f.endswith(".svg")]) == 4
    with open(page, encoding="utf-8") as fh:
        _check_page(fh.read(), 4)


def test_page_without_figures_or_snapshot(run_dir, tmp_path):
    path, result, out = run_dir
    copy = tmp_path / "bare.json"
    shutil.copy(path, copy)
    with open(report.write_report(copy), encoding="utf-8") as fh:
        text = fh.read()
    _check_page(text, 0)
    assert "No figures" in text


def test_command_line(run_dir, tmp_path, capsys):
    path, result, out = run_dir
    target = tmp_path / "cli.html"
    assert report.main([path, "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {target}"
    assert target.exists()


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


def test_sweep_page(tmp_path):
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
    _check_page(text, 1)
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
        _check_page(fh.read(), 2)
    # A sweep file rewritten later: its figures are redrawn, and those of knobs gone are removed.
    sweep["grid"] = {"zeta": [0.5, 1.0]}
    with open(path, "w") as fh:
        json.dump(sweep, fh)
    later = os.path.getmtime(os.path.join(figures_dir, "sweep_noise.png")) + 10
    os.utime(path, (later, later))
    with open(report.write_report(path), encoding="utf-8") as fh:
        _check_page(fh.read(), 1)
    assert sorted(os.listdir(figures_dir)) == ["sweep_zeta.png", "sweep_zeta.svg"]
