"""Fixtures of the reporting tests: one small run with its results, snapshot, figures and page,
and checks that a file is a real picture."""

import os
import re
import xml.etree.ElementTree as ET

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import snnmap  # noqa: E402
from snnmap import storage  # noqa: E402
from snnmap.reporting import html  # noqa: E402

DESCRIPTION = "random 10-pixel images (tests), 40 test images; NOT a real data set"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A phase-2-like results file with its snapshot, figures and page, from a tiny dense network:
    (results path, results, what :func:`write_run_artifacts` returned)."""
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
    # The headline exactness, from an oracle of its own: the original network in NumPy, pre-softmax.
    (w1, b1), (w2, b2) = [[np.asarray(v, np.float64) for v in layer.get_weights()] for layer in model.layers]
    logits = np.asarray(snn.predict(snnmap.encode(x, (0.0, 1.0)), verbose=0), np.float64)
    if metrics.get("max_abs_error_original") is None:  # evaluate had the preprocessed network only
        metrics["max_abs_error_original"] = float(np.max(np.abs(logits - (np.maximum(x @ w1 + b1, 0.0) @ w2 + b2))))
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
    out = html.write_run_artifacts(path, snn, x, relu_model=pre.model, input_range=(0.0, 1.0), n_images=8)
    return path, result, out


def _check_png(path):
    with open(path, "rb") as fh:
        assert fh.read(8) == PNG_MAGIC
    img = matplotlib.image.imread(path)
    rgb = img[..., :3].reshape(-1, 3)
    assert float(np.var(rgb)) > 0
    colours = np.unique(np.round(rgb * 255).astype(np.uint8), axis=0)
    assert len(colours) >= 8, f"{path}: only {len(colours)} colours"


def _check_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert sum(1 for _ in root.iter()) > 50


@pytest.fixture
def check_picture():
    """A check that a file is a real picture: a PNG with at least 8 colours, or an SVG of more than 50 elements."""
    def check(path):
        (_check_png if os.fspath(path).endswith(".png") else _check_svg)(path)
    return check


def _reaches_outside(text):
    """Everything on a page that could load something from outside it."""
    return re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)[^"']*|@import|url\(\s*["']?(?!data:)""", text)


@pytest.fixture
def check_page():
    """A check that a page is a self-contained HTML document embedding ``n_figures`` PNG figures."""
    def check(text, n_figures):
        assert text.startswith("<!DOCTYPE html>")
        assert text.count("<img ") + len(re.findall(r"<svg[\s>]", text)) == n_figures
        assert text.count('src="data:image/png;base64,') == n_figures
        assert _reaches_outside(text) == [], "the page must not load anything from outside"
        assert "<link" not in text and "<script" not in text
    return check
