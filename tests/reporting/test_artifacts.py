"""The companions of a results file: names, what write_run_artifacts writes, captions."""

import os

from snnmap.pipeline import snapshot
from snnmap.reporting import artifacts


def test_artifact_names(run_dir):
    path, result, out = run_dir
    root = path[:-5]
    names = artifacts.artifact_paths(path)
    assert names == {"snapshot": root + ".snapshot.npz", "figures_dir": root + "_figures",
                     "stem": os.path.basename(root), "html": root + ".html"}
    assert out["snapshot"] == names["snapshot"] and out["report"] == names["html"]
    assert sorted(out["figures"]) == sorted(
        os.path.join(names["figures_dir"], f"{names['stem']}_{kind}.{ext}")
        for kind in ("spike_times", "raster", "potential", "exactness") for ext in ("png", "svg"))
    snap = snapshot.load_snapshot(names["snapshot"])
    assert int(snap["meta/n_images"]) == 8
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".")], "temporary files left"


def test_is_sweep():
    assert artifacts.is_sweep({"rows": [], "grid": {}})
    assert not artifacts.is_sweep({"rows": [], "grid": []})
    assert not artifacts.is_sweep({"rows": {}, "grid": {}})
    assert not artifacts.is_sweep([{"rows": [], "grid": {}}])


def test_captions():
    result = {"model_name": "m", "data_name": "MNIST", "n_test": 1000, "settings": {"zeta": 0.5, "seed": None}}
    assert artifacts.run_caption(result) == "m on MNIST; 1,000 test images; zeta=0.5"
    result["data_description"] = "MNIST sample"
    assert artifacts.run_caption(result).startswith("m on MNIST sample;")
    sweep = {"model_name": "m", "data_name": "MNIST", "rows": [], "grid": {"noise": [0, 1]},
             "fixed_settings": {"noise": 0, "zeta": 0.5}}
    assert artifacts.sweep_caption(sweep) == "m on MNIST; fixed: zeta=0.5"
    assert artifacts.sweep_caption({"rows": [], "grid": {}}) == "sweep"
