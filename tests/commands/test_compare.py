"""python -m snnmap.compare as a user runs it: flags and flag files like phase 2, bad options named by flag."""

import os
import subprocess
import sys
import time

import pytest

from helpers import FASHION_FC_WEIGHTS, needs_fashion, phase1_of, REPO, results_of, run_module as run


@pytest.mark.slow
@needs_fashion
def test_compare_command_end_to_end(tmp_path):
    common, _ = phase1_of(tmp_path / "fm", "fashionmnist_fc.txt", FASHION_FC_WEIGHTS, "--test_samples", "200")
    proc = run("snnmap.compare", *common, "--rate_normalisation", "data,model", "--rate_input", "constant",
               "--rate_T", "16,128", "--report")
    path, r = results_of(proc)
    assert [row["method"] for row in r["rows"]] == ["relu", "exact"] + ["rate"] * 4
    assert {row["variant"] for row in r["rows"][2:]} == {"data/constant/subtract/spikes",
                                                         "model/constant/subtract/spikes"}
    assert r["rows"][1]["agreement"] == 1.0 and r["n_test"] == 200
    out = proc.stdout
    assert "table: " in out and os.path.isfile(path[:-5] + ".csv") and os.path.isfile(path[:-5] + ".html")
    assert "exact  single spike" in out


@pytest.mark.parametrize("flag, value, words", [
    ("--rate_T", "0,8", "--rate_T (checkpoints) must be positive integers"),
    ("--rate_T", "eight", "--rate_T: 'eight' is not a number"),
    ("--rate_normalisation", "maxnorm", "--rate_normalisation (normalisation) must be one of model, data"),
    ("--rate_percentile", "101", "--rate_percentile (percentile) must be in (0, 100]"),
    ("--rate_input", "rank", "--rate_input (input) must be one of constant, poisson"),
])
def test_bad_options_name_their_flag(tmp_path, flag, value, words):
    proc = run("snnmap.compare", "--data_name", "MNIST", "--logging_dir", str(tmp_path / "none"), flag, value,
               ok=False)
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_help_lists_the_rate_flags_grouped_without_tensorflow():
    # -X importtime lists every module imported; --help must answer before TensorFlow or Keras load.
    env = dict(os.environ, PYTHONPATH=REPO)
    started = time.time()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "snnmap.compare", "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and time.time() - started < 5  # about 0.6 s here; generous for a loaded machine
    out = proc.stdout
    group = out.index("compare (rate baselines):")
    assert group < out.index("  --rate_normalisation:", group) < out.index("\ndata:", group)
    for name in ("rate_T", "rate_input", "rate_reset", "rate_readout", "rate_percentile", "rate_synapse_tau",
                 "zeta", "batch_size", "[no]report"):
        assert f"--{name}" in out
    imported = proc.stderr
    assert "tensorflow" not in imported and "keras" not in imported and "snnmap.rate" not in imported


def test_help_names_every_choice_of_the_library():
    from snnmap.rate.settings import INPUTS, NORMALISATIONS, READOUTS, RESETS
    from snnmap.compare import FLAGS  # noqa: F401  (defines the flags)
    from absl import flags
    helps = {name: flags.FLAGS[name].help for name in ("rate_normalisation", "rate_input", "rate_reset",
                                                       "rate_readout")}
    for name, choices in (("rate_normalisation", NORMALISATIONS), ("rate_input", INPUTS), ("rate_reset", RESETS),
                          ("rate_readout", READOUTS)):
        assert all(choice in helps[name] for choice in choices), name
