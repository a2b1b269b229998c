"""``python -m snnmap.sweep`` with the rate knobs, as a user runs it: the numbers of ``snnmap.compare``, clear
refusals."""

import csv
import os

import pytest

from helpers import FASHION_FC_WEIGHTS, needs_fashion, phase1_of, results_of, run_module as run


@pytest.mark.slow
@needs_fashion
def test_a_rate_T_sweep_equals_the_comparison_table(tmp_path):
    common, _ = phase1_of(tmp_path / "fm", "fashionmnist_fc.txt", FASHION_FC_WEIGHTS, "--test_samples", "200")
    _, compared = results_of(run("snnmap.compare", *common, "--rate_normalisation", "data,percentile",
                                 "--rate_percentile", "99.9", "--rate_input", "constant,poisson", "--rate_T", "8,32"))
    proc = run("snnmap.sweep", *common, "--sweep", "rate_T=8,32", "--sweep", "rate_normalisation=data,percentile",
               "--sweep", "rate_percentile=99.9", "--sweep", "rate_input=constant,poisson")
    path, table = results_of(proc)
    assert table["method"] == "rate" and table["complete"] and len(table["rows"]) == 8
    assert "evaluations: 4 in all; reused 0, computed 4, missing 0" in proc.stdout
    by_key = {(r["variant"], r["T"]): r for r in compared["rows"] if r["method"] == "rate"}
    for row in table["rows"]:
        theirs = by_key[(row["variant"], row["rate_T"])]
        for ours, key in (("accuracy_snn", "accuracy"), ("agreement", "agreement"),
                          ("spikes_per_neuron", "spikes_per_neuron"), ("synaptic_events", "synaptic_events"),
                          ("energy", "energy"), ("no_output_spike", "no_output_spike")):
            assert row[f"{ours}_mean"] == theirs[key], (row["variant"], row["rate_T"], key)
    with open(os.path.join(os.path.dirname(path), "sweep.csv")) as fh:
        assert len(list(csv.DictReader(fh))) == 8
    again = run("snnmap.sweep", *common, "--sweep", "rate_T=8,32", "--sweep", "rate_normalisation=data,percentile",
                "--sweep", "rate_percentile=99.9", "--sweep", "rate_input=constant,poisson", "--report")
    assert "reused 4, computed 0" in again.stdout and "rate-coded sweep" in again.stdout
    assert os.path.isfile(os.path.join(os.path.dirname(path), "sweep_figures", "sweep_rate_T.png"))


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["--sweep", "rate_T=8,16", "--sweep", "noise=0,0.1"], "the exact SNN's knobs cannot be swept with the rate knobs"),
    (["--sweep", "rate_T=0"], "--sweep rate_T: '0' is not a number of time steps T > 0"),
    (["--sweep", "rate_T=8", "--runner", "DirectRunner"], "rate knobs (rate_T=8) run on the single-machine sweep"),
])
def test_bad_rate_sweeps_are_clear_errors(tmp_path, args, words):
    proc = run("snnmap.sweep", "--data_name", "MNIST", "--logging_dir", str(tmp_path / "none"), *args, ok=False)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
