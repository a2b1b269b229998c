"""The ``python -m snnmap.sweep`` command end to end on Fashion-MNIST (subprocesses, as a user runs it)."""

import csv
import json
import math
import os
import re
import shutil

import pytest

from helpers import FASHION_FC_WEIGHTS, REPO, needs_fashion, results_of, run_module as run

from snnmap.experiments.sweep import TABLE_METRICS


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
        for metric in TABLE_METRICS:
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
            for key in TABLE_METRICS + ("totals", "layers", "max_abs_error_end_to_end"):
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
