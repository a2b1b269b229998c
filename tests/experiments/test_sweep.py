"""The robustness sweep: grid parsing, the ``run_sweep`` API on a tiny network, and the
``python -m snnmap.sweep`` command end to end on Fashion-MNIST (subprocesses, as a user runs it)."""

import csv
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import FASHION_FC_WEIGHTS, REPO, needs_fashion, results_of, run_module as run

from snnmap import sweep
from snnmap.sweep import SweepError, parse_grid

# --------------------------------------------------------------------------- grid (fast)


def test_grid_is_the_cartesian_product_in_order():
    grid = parse_grid(["noise=0,0.05,0.1", "zeta = 0, 0.5", "time_bits=4,8", "w_min=none,-1"])
    assert grid == {"noise": [0.0, 0.05, 0.1], "zeta": [0.0, 0.5], "time_bits": [4, 8], "w_min": [None, -1.0]}
    assert all(type(v) is int for v in grid["time_bits"])
    points = sweep.grid_points(grid)
    assert len(points) == 3 * 2 * 2 * 2
    assert points[0] == {"noise": 0.0, "zeta": 0.0, "time_bits": 4, "w_min": None}
    assert points[1] == {"noise": 0.0, "zeta": 0.0, "time_bits": 4, "w_min": -1.0}  # last knob fastest
    assert points[-1] == {"noise": 0.1, "zeta": 0.5, "time_bits": 8, "w_min": -1.0}


@pytest.mark.parametrize("specs, message", [
    (["foo=1,2"], "unknown sweep knob 'foo'"),
    (["trial=0,1"], "--trials"),
    (["seed=1,2"], "--trials"),
    (["dtype=float32"], "unknown sweep knob 'dtype'"),
    (["noise"], "KNOB=v1,v2"),
    (["noise="], "empty value"),
    (["noise=0,,0.1"], "empty value"),
    (["noise=a"], "not a number"),
    (["noise=nan"], "not a finite number"),
    (["noise=-0.1"], ">= 0"),
    (["time_bits=2.5"], "not an integer"),
    (["x_quantile=0"], "(0, 1]"),
    (["zeta=none"], "only allowed"),
    (["noise=0,0.1", "noise=0.2"], "given twice"),
    (["noise=0.1,0.10"], "repeated value"),
    (["w_min=1", "w_max=0.5"], "below"),
    ([], "nothing to sweep"),
])
def test_bad_grids_are_refused_clearly(specs, message):
    with pytest.raises(SweepError, match=re.escape(message)):
        parse_grid(specs)


def test_default_sweep_name_is_readable_and_distinct():
    fixed = dict(sweep.DEFAULT_SETTINGS, trial=3)
    grid = parse_grid(["noise=0,0.05,0.1", "zeta=0,0.5"])
    assert sweep.default_sweep_name("m", grid, fixed) == "m_noise0-0.05-0.1_zeta0-0.5"
    # Fixed settings away from their defaults and the test subset are part of the name; trial is not.
    assert (sweep.default_sweep_name("m", grid, dict(fixed, alpha_noise=0.01, seed=2, w_min=-1.5), 300)
            == "m_noise0-0.05-0.1_zeta0-0.5_alpha_noise0.01_seed2_w_minm1.5_n300")
    # Knobs in the grid are named by the grid, not by their (overridden) fixed value.
    assert sweep.default_sweep_name("m", grid, dict(fixed, noise=0.3)) == "m_noise0-0.05-0.1_zeta0-0.5"
    long_a = parse_grid(["noise=" + ",".join(str(v / 100) for v in range(0, 51, 5))])
    long_b = parse_grid(["noise=" + ",".join(str(v / 100) for v in [0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50])])
    name_a, name_b = (sweep.default_sweep_name("m", g, fixed) for g in (long_a, long_b))
    assert name_a.startswith("m_noise0..0.5x11_") and name_b.startswith("m_noise0..0.5x11_") and name_a != name_b
    with pytest.raises(SweepError):
        sweep.check_sweep_name("a/b")


SWEEP_FLAG_FILES = sorted(f for f in glob.glob(os.path.join(REPO, "flags", "*.txt")) if "--sweep" in open(f).read())

PARSE = """
import json, sys
from snnmap import cli
from snnmap import phase1, phase2, sweep  # all three commands' flags
out = {}
for path in sys.argv[1:]:
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["prog", "--flagfile=" + path])
    out[path] = list(cli.experiment_names()) + [cli.FLAGS.CNN, cli.FLAGS.trials,
                                                sweep.parse_grid(cli.FLAGS.sweep)]
print(json.dumps(out))
"""


def test_sweep_flag_files():
    names = {os.path.basename(f)[:-4] for f in SWEEP_FLAG_FILES}
    assert {"fashionmnist_fc_noise", "fashionmnist_fc_alpha_noise", "fashionmnist_fc_zeta",
            "fashionmnist_fc_time_bits", "fashionmnist_lenet5_noise"} <= names
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", PARSE, *SWEEP_FLAG_FILES], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    for path in SWEEP_FLAG_FILES:
        data_name, logging_dir, model_name, cnn, trials, grid = parsed[path]
        base = os.path.basename(path)
        network = base.split("_")[1]  # fc, lenet5
        assert data_name == "FashionMNIST" and logging_dir.startswith("models/FashionMNIST/"), path
        assert model_name == f"fashionmnist_{network}_relu", path
        assert cnn == (network != "fc"), path
        knob = base[len(f"fashionmnist_{network}_"):-4]
        assert list(grid) == [knob], path
    grids = {os.path.basename(p)[:-4]: parsed[p] for p in SWEEP_FLAG_FILES}
    for name in ("fashionmnist_fc_noise", "fashionmnist_lenet5_noise"):
        noise, trials = grids[name][-1]["noise"], grids[name][-2]
        assert min(noise) == 0 and max(noise) == 0.5 and len(noise) >= 6 and trials == 5
    zeta = grids["fashionmnist_fc_zeta"][-1]["zeta"]
    assert min(zeta) == 0 and max(zeta) == 1
    assert grids["fashionmnist_fc_time_bits"][-1]["time_bits"] == list(range(2, 11))


# --------------------------------------------------------------------------- API (tiny network)

@pytest.fixture(scope="module")
def tiny():
    """A random 12-10-3 ReLU network, preprocessed, and 40 labelled random test images."""
    import keras

    import snnmap
    from snnmap.data import DataSet

    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(10, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")], name="tiny")
    rng = np.random.default_rng(3)
    x_train = rng.uniform(0, 1, (200, 12)).astype("float32")
    x_test = rng.uniform(0, 1, (40, 12)).astype("float32")
    y_test = np.argmax(model.predict(x_test, verbose=0), axis=1)
    y_test[:5] = (y_test[:5] + 1) % 3  # some errors, so that accuracy differs from agreement
    pre = snnmap.preprocess(model, x_train, input_range=(0.0, 1.0), verbose=0)
    data = DataSet(name="random", source="arrays", description="40 random test images (tiny API test)",
                   location=None, full=False, x_train=x_train, y_train=np.zeros(200, np.int64),
                   x_test=x_test, y_test=y_test.astype(np.int64), num_classes=3)
    reference = np.argmax(model.predict(x_test, verbose=0), axis=1)
    return pre, data, reference


def test_run_sweep_api_resumes_and_tabulates(tiny, tmp_path):
    pre, data, reference = tiny
    lines = []
    kwargs = dict(reference_predictions=reference, batch_size=16, verbose=0, log=lines.append)
    grid = {"noise": [0.0, 0.3]}
    part = sweep.run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "a", max_evaluations=3, **kwargs)
    assert part["evaluations"] == {"total": 4, "reused": 0, "computed": 3, "missing": 1}
    assert not part["complete"] and [r["n_trials"] for r in part["rows"]] == [2, 1]
    full = sweep.run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "a", **kwargs)
    assert full["evaluations"] == {"total": 4, "reused": 3, "computed": 1, "missing": 0} and full["complete"]
    assert any("reused 3, computed 1" in line for line in lines)

    exact, noisy = full["rows"]
    assert exact["noise"] == 0.0 and exact["agreement_mean"] == 1.0 and exact["agreement_std"] == 0.0
    assert exact["accuracy_snn_mean"] == exact["accuracy_relu"] == 35 / 40
    assert exact["max_abs_error_mean"] < 1e-9
    runs = [json.load(open(tmp_path / "a" / "runs" / name)) for name in noisy["runs"]]
    assert [r["settings"]["trial"] for r in runs] == [0, 1]
    assert runs[0]["totals"] != runs[1]["totals"]  # independent noise per trial
    for row in full["rows"]:
        for metric in sweep.TABLE_METRICS:
            assert math.isfinite(row[f"{metric}_mean"]) and math.isfinite(row[f"{metric}_std"])

    # A different batch size draws different noise: nothing is reused (one recomputed here).
    lines.clear()
    other = sweep.run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "a", max_evaluations=1,
                            **dict(kwargs, batch_size=8))
    assert other["evaluations"] == {"total": 4, "reused": 0, "computed": 1, "missing": 3}
    assert sum("batch_size differs" in line for line in lines) == 4


# --------------------------------------------------------------------------- command (Fashion-MNIST)

def counts(proc):
    m = re.search(r"evaluations: (\d+) in all; reused (\d+), computed (\d+), missing (\d+)", proc.stdout)
    assert m, proc.stdout
    return tuple(int(v) for v in m.groups())


GRID = ["--sweep", "noise=0,0.2", "--sweep", "zeta=0,0.5", "--trials", "2"]


@pytest.fixture(scope="module")
def fm(tmp_path_factory):
    """A logging dir with the shipped Fashion-MNIST FC weights, after phase 1 (300 test images)."""
    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        pytest.skip("Fashion-MNIST IDX files not installed")
    log = tmp_path_factory.mktemp("sweep") / "fm"
    log.mkdir()
    shutil.copy(FASHION_FC_WEIGHTS, log / "fashionmnist_fc_relu_original.weights.h5")
    common = ["--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir", str(log),
              "--test_samples", "300"]
    run("snnmap.phase1", *common, "--calib_samples", "2000")
    return log, common


@pytest.fixture(scope="module")
def grid_sweep(fm):
    log, common = fm
    proc = run("snnmap.sweep", *common, *GRID)
    path, table = results_of(proc)
    return proc, path, table


@pytest.mark.slow
@needs_fashion
def test_grid_sweep_writes_the_table(fm, grid_sweep):
    log, _ = fm
    proc, path, table = grid_sweep
    assert counts(proc) == (8, 0, 8, 0)
    sweep_dir = log / "sweeps" / "fashionmnist_fc_relu_noise0-0.2_zeta0-0.5_n300"
    assert path == str(sweep_dir / "sweep.json")
    assert sorted(os.listdir(sweep_dir)) == ["runs", "sweep.csv", "sweep.json"]
    assert len(os.listdir(sweep_dir / "runs")) == 8
    assert table["complete"] and table["trials"] == 2 and table["grid"] == {"noise": [0.0, 0.2], "zeta": [0.0, 0.5]}
    assert table["data_source"] == "idx" and "first 300" in table["data_description"]
    assert table["data"]["n_test"] == 300 and table["fixed_settings"]["alpha_noise"] == 0.0
    assert [(r["noise"], r["zeta"]) for r in table["rows"]] == [(0.0, 0.0), (0.0, 0.5), (0.2, 0.0), (0.2, 0.5)]
    for row in table["rows"]:
        assert row["n_trials"] == 2 and len(row["runs"]) == 2
        for metric in sweep.TABLE_METRICS:
            assert math.isfinite(row[f"{metric}_mean"]) and math.isfinite(row[f"{metric}_std"]), metric
        assert row["accuracy_relu"] == table["accuracy_relu"]
    for row in table["rows"][:2]:  # noise 0: the exact SNN, the same in every trial
        assert row["agreement_mean"] == 1.0 and row["agreement_std"] == 0.0
        assert row["accuracy_snn_mean"] == row["accuracy_relu"] and row["max_abs_error_mean"] < 1e-9
    # Different trials at noise > 0 draw different noise.
    for row in table["rows"][2:]:
        a, b = (json.load(open(sweep_dir / "runs" / name)) for name in row["runs"])
        assert (a["settings"]["trial"], b["settings"]["trial"]) == (0, 1)
        assert a["totals"] != b["totals"] and a["max_abs_error"] != b["max_abs_error"]
        assert a["data"]["description"] == table["data_description"] and a["settings"]["noise"] == 0.2

    with open(sweep_dir / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and rows[3]["noise"] == "0.2" and rows[3]["zeta"] == "0.5"
    assert float(rows[3]["accuracy_snn_mean"]) == table["rows"][3]["accuracy_snn_mean"]
    assert rows[0]["data_source"] == "idx" and rows[0]["data_description"] == table["data_description"]
    # The printed table: one line per grid point.
    assert "accuracy SNN" in proc.stdout and proc.stdout.count(" +- ") >= 4 * 3


@pytest.mark.slow
@needs_fashion
def test_exact_point_equals_a_phase2_run(fm, grid_sweep):
    log, common = fm
    _, _, table = grid_sweep
    _, r = results_of(run("snnmap.phase2", *common, "--zeta", "0.5"))
    row = next(row for row in table["rows"] if row["noise"] == 0.0 and row["zeta"] == 0.5)
    assert row["accuracy_snn_mean"] == r["accuracy_snn"] and row["agreement_mean"] == r["agreement"]
    assert row["accuracy_relu"] == r["accuracy_relu"]
    # The sweep's run of these settings holds the same counts as the phase-2 run.
    run0 = json.load(open(os.path.dirname(table_path(log)) + "/runs/" + row["runs"][0]))
    assert run0["totals"] == r["totals"] and run0["settings"] == r["settings"]


def table_path(log):
    return str(log / "sweeps" / "fashionmnist_fc_relu_noise0-0.2_zeta0-0.5_n300" / "sweep.json")


@pytest.mark.slow
@needs_fashion
def test_interrupted_sweep_resumes_to_the_same_table(fm, grid_sweep):
    """The noisy half of the grid (4 evaluations), interrupted after 3, then resumed: only the
    missing one is computed, and the table equals the uninterrupted sweep's rows of those points."""
    log, common = fm
    _, _, whole = grid_sweep
    args = ["snnmap.sweep", *common, "--sweep", "noise=0.2", "--sweep", "zeta=0,0.5", "--trials", "2",
            "--sweep_name", "resumed"]
    first = run(*args, "--max_evaluations", "3")
    assert counts(first) == (4, 0, 3, 1)
    assert "run the same command again" in first.stdout
    _, partial = results_of(first)
    assert not partial["complete"] and partial["evaluations"]["missing"] == 1
    assert [r["n_trials"] for r in partial["rows"]] == [2, 1]
    assert len(os.listdir(log / "sweeps" / "resumed" / "runs")) == 3

    second = run(*args)
    assert counts(second) == (4, 3, 1, 0)
    _, resumed = results_of(second)
    assert resumed["complete"] and resumed["evaluations"] == {"total": 4, "reused": 3, "computed": 1, "missing": 0}
    assert resumed["rows"] == whole["rows"][2:]
    whole_dir = os.path.dirname(table_path(log))
    with open(log / "sweeps" / "resumed" / "sweep.csv") as a, open(os.path.join(whole_dir, "sweep.csv")) as b:
        mine, theirs = a.read().splitlines(), b.read().splitlines()
    assert mine == [theirs[0]] + theirs[3:]
    # Re-running noisy trials in another process reproduces them bit for bit.
    for row in whole["rows"][2:]:
        for name in row["runs"]:
            again = json.load(open(log / "sweeps" / "resumed" / "runs" / name))
            before = json.load(open(os.path.join(whole_dir, "runs", name)))
            assert again["settings"]["noise"] == 0.2
            for key in sweep.TABLE_METRICS + ("totals", "layers", "max_abs_error_end_to_end"):
                assert again[key] == before[key], key


@pytest.mark.slow
def test_bad_sweeps_are_clear_errors(tmp_path):
    proc = run("snnmap.sweep", "--data_name", "MNIST", "--logging_dir", str(tmp_path / "none"),
               "--sweep", "noise=0,0.1", "--sweep", "foo=1,2", ok=False)
    assert proc.returncode == 2 and "unknown sweep knob 'foo'" in proc.stderr and "noise" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("snnmap.sweep", "--data_name", "MNIST", "--logging_dir", str(tmp_path / "none"),
               "--sweep", "noise=0,0.1", ok=False)
    assert proc.returncode == 2 and "run phase 1" in proc.stderr and "Traceback" not in proc.stderr
