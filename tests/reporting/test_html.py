"""write_report: the page of a results JSON, with figures found, redrawn or missing; the report command."""

import json
import os
import re
import shutil

import keras
import numpy as np
import pytest

import snnmap

from snnmap import report as report_command
from snnmap.reporting import html


def test_page_regenerates_missing_figures_from_the_snapshot(run_dir, tmp_path, check_page):
    path, result, out = run_dir
    copy = tmp_path / os.path.basename(path)
    shutil.copy(path, copy)
    shutil.copy(out["snapshot"], html.artifact_paths(copy)["snapshot"])
    page = html.write_report(copy, tmp_path / "page.html")
    assert page == str(tmp_path / "page.html")
    figures_dir = html.artifact_paths(copy)["figures_dir"]
    assert len([f for f in os.listdir(figures_dir) if f.endswith(".png")]) == 4
    assert len([f for f in os.listdir(figures_dir) if f.endswith(".svg")]) == 4
    with open(page, encoding="utf-8") as fh:
        check_page(fh.read(), 4)


def test_page_without_figures_or_snapshot(run_dir, tmp_path, check_page):
    path, result, out = run_dir
    copy = tmp_path / "bare.json"
    shutil.copy(path, copy)
    with open(html.write_report(copy), encoding="utf-8") as fh:
        text = fh.read()
    check_page(text, 0)
    assert "No figures" in text


def test_a_json_that_is_no_object_is_refused(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="neither"):
        html.write_report(path)
    assert not (tmp_path / "list.html").exists()


def test_command_line(run_dir, tmp_path, capsys):
    path, result, out = run_dir
    target = tmp_path / "cli.html"
    assert report_command.main([path, "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {target}"
    assert target.exists()


def test_writing_a_run_report_shows_progress(tmp_path, capsys):
    # Figures and page take seconds each: one line per step, with its time; verbose=0 says nothing.
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)])
    x = np.random.default_rng(1).uniform(0.0, 1.0, (12, 6))
    pre = snnmap.preprocess(model, x, input_range=(0.0, 1.0), verbose=0)
    snn = snnmap.to_snn(pre)
    result = {"model_name": "tiny", "data_description": "random", "n_test": 12}
    path = str(tmp_path / "tiny.json")
    html.write_run_artifacts(path, snn, x, relu_model=pre.model, result=result, n_images=4, report=False, verbose=0)
    assert capsys.readouterr().out == ""
    (tmp_path / "tiny.json").write_text(json.dumps(result))
    out = html.write_run_artifacts(path, snn, x, relu_model=pre.model, result=result, n_images=4)
    lines = capsys.readouterr().out.splitlines()
    kinds = [os.path.basename(p)[len("tiny_"):-len(".png")] for p in out["figures"] if p.endswith(".png")]
    expected = (["snapshot of 4 images"] + [f"figure {i} of {len(kinds)}, {k}" for i, k in enumerate(kinds, 1)]
                + ["page"])
    assert [re.fullmatch(r"report: (.*) \.\.\. \d+\.\d s", line).group(1) for line in lines] == expected
