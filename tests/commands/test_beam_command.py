"""``python -m snnmap.phase2 --runner ...``: phase 2 as an Apache Beam pipeline, run as a user runs it."""

import json
import os
import shutil

import numpy as np
import pytest

from helpers import FASHION_FC_WEIGHTS, REPO, needs_fashion, results_of, run_module as run

from snnmap.experiments.phase2 import METRIC_KEYS

pytest.importorskip("apache_beam")

IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


@pytest.fixture(scope="module")
def fm(tmp_path_factory):
    """A logging dir with the shipped Fashion-MNIST FC weights, after phase 1 (300 test images)."""
    log = tmp_path_factory.mktemp("beam") / "fm"
    log.mkdir()
    shutil.copy(FASHION_FC_WEIGHTS, log / "fashionmnist_fc_relu_original.weights.h5")
    common = ["--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir", str(log),
              "--test_samples", "300", "--noise", "0.05"]
    run("snnmap.phase1", *common, "--calib_samples", "2000")
    return log, common


@pytest.mark.slow
@needs_fashion
def test_phase2_on_the_direct_runner_writes_the_plain_commands_results(fm):
    _, common = fm
    plain_path, plain = results_of(run("snnmap.phase2", *common))
    proc = run("snnmap.phase2", *common, *IN_PROCESS)
    path, ours = results_of(proc)
    assert path == plain_path  # the same settings name the same file
    assert "BatchElements" not in proc.stdout + proc.stderr  # Beam's INFO lines stay out of the output
    for key in METRIC_KEYS:
        assert ours[key] == plain[key], key
    assert plain["n_test"] == 300 and plain["max_abs_error"] is not None and "runner" not in plain
    assert ours["runner"]["runner"] == "DirectRunner" and ours["runner"]["direct_running_mode"] == "in_memory"
    assert ours["runner"]["direct_num_workers"] == 1


def test_unknown_flags_go_to_beam_only_with_a_runner(tmp_path):
    # Each is refused before phase 1's files are looked for (there are none in tmp_path).
    common = ["--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir", str(tmp_path)]
    refused = run("snnmap.phase2", *common, "--flink_master=host:8081", ok=False)
    assert refused.returncode != 0 and "Unknown command line flag 'flink_master'" in refused.stderr
    alone = run("snnmap.phase2", *common, "--direct_num_workers", "2", ok=False)
    assert alone.returncode == 2 and "--direct_num_workers applies only with --runner" in alone.stderr
    # With --runner, a worker count below one is refused, naming the flag, before anything is loaded.
    bad = run("snnmap.phase2", *common, *IN_PROCESS, "--direct_num_workers", "0", ok=False)
    assert bad.returncode == 2 and "--direct_num_workers must be at least 1, got 0" in bad.stderr


@pytest.mark.parametrize("command", ["snnmap.phase1", "snnmap.phase2", "snnmap.sweep"])
def test_help_lists_the_beam_flags(command):
    proc = run(command, "--help")
    assert "Apache Beam:" in proc.stdout and "--runner:" in proc.stdout and "--direct_running_mode:" in proc.stdout


@pytest.mark.slow
@needs_fashion
def test_phase1_on_the_direct_runner_gives_the_plain_commands_x_n(fm, tmp_path):
    log, common = fm
    shutil.copy(FASHION_FC_WEIGHTS, tmp_path / "fashionmnist_fc_relu_original.weights.h5")
    ours = [*common, "--logging_dir", str(tmp_path)]  # the later --logging_dir wins
    proc = run("snnmap.phase1", *ours, "--calib_samples", "2000", *IN_PROCESS)
    with open(log / "fashionmnist_fc_relu_X_n.json") as fh, open(tmp_path / "fashionmnist_fc_relu_X_n.json") as gh:
        plain, beam = json.load(fh), json.load(gh)
    assert beam == plain  # X_n bit for bit (JSON keeps every digit of a float64)
    for part in ("predictions.npy", "logits.npy"):  # the original network's pass ran on Beam too, bit for bit
        mine, single = (np.load(d / f"fashionmnist_fc_relu_{part}", allow_pickle=False) for d in (tmp_path, log))
        assert mine.dtype == single.dtype and np.array_equal(mine, single), part
    assert "snnmap beam: original network: images 0..255 of 300 done" in proc.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "staging or temporary files left"


@pytest.mark.slow
@needs_fashion
def test_sweep_on_the_direct_runner_resumes(fm):
    _, common = fm
    grid = ["--sweep", "zeta=0.5,1", "--sweep_name", "beam_cmd", *IN_PROCESS]
    first = run("snnmap.sweep", *common, *grid, "--max_evaluations", "1")
    assert "evaluations: 2 in all; reused 0, computed 1, missing 1" in first.stdout
    second = run("snnmap.sweep", *common, *grid)
    assert "evaluations: 2 in all; reused 1, computed 1, missing 0" in second.stdout
    _, table = results_of(second)
    assert table["complete"] and table["runner"] == "DirectRunner"
