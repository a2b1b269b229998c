"""The ``run_sweep`` API on a tiny network: resuming, the table, the run files."""

import json
import math

import keras
import numpy as np
import pytest

import snnmap
from snnmap.data import DataSet
from snnmap.experiments.grid import SweepError
from snnmap.experiments.settings import RunSettings
from snnmap.experiments.sweep import TABLE_METRICS, run_sweep, table_lines


@pytest.fixture(scope="module")
def tiny():
    """A random 12-10-3 ReLU network, preprocessed, 40 labelled random test images, the original network's
    predictions on them and its float64 logits."""
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
    # Oracle of the original network's logits: its weights in float64 numpy, without the softmax.
    (w1, b1), (w2, b2) = [layer.get_weights() for layer in model.layers]
    x = x_test.astype(np.float64)
    logits = np.maximum(x @ w1.astype(np.float64) + b1, 0) @ w2.astype(np.float64) + b2
    return pre, data, reference, logits


def test_run_sweep_api_resumes_and_tabulates(tiny, tmp_path):
    pre, data, reference, logits = tiny
    lines = []
    kwargs = dict(reference_predictions=reference, reference_logits=logits, batch_size=16, verbose=0,
                  log=lines.append)
    grid = {"noise": [0.0, 0.3]}
    part = run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "a", max_evaluations=3, **kwargs)
    assert part["evaluations"] == {"total": 4, "reused": 0, "computed": 3, "missing": 1}
    assert not part["complete"] and [r["n_trials"] for r in part["rows"]] == [2, 1]
    full = run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "a", **kwargs)
    assert full["evaluations"] == {"total": 4, "reused": 3, "computed": 1, "missing": 0} and full["complete"]
    assert any("reused 3, computed 1" in line for line in lines)

    # The run files are named after the network pre was preprocessed from, as phase 2 names results.
    assert all(name.startswith("tiny_zeta0.5_") for row in full["rows"] for name in row["runs"])
    assert full["fixed_settings"] == {k: v for k, v in RunSettings(zeta=0.5).as_dict().items() if k != "trial"}

    exact, noisy = full["rows"]
    assert exact["noise"] == 0.0 and exact["agreement_mean"] == 1.0 and exact["agreement_std"] == 0.0
    assert exact["accuracy_snn_mean"] == exact["accuracy_relu"] == 35 / 40
    assert exact["max_abs_error_mean"] < 1e-9 and exact["max_abs_error_original_mean"] < 1e-9
    assert noisy["max_abs_error_original_mean"] > 1e-6  # the noise shows against the original network
    runs = [json.load(open(tmp_path / "a" / "runs" / name)) for name in noisy["runs"]]
    assert [r["settings"]["trial"] for r in runs] == [0, 1]
    assert runs[0]["totals"] != runs[1]["totals"]  # independent noise per trial
    for row in full["rows"]:
        for metric in TABLE_METRICS:
            assert math.isfinite(row[f"{metric}_mean"]) and math.isfinite(row[f"{metric}_std"])

    # A different batch size draws different noise: nothing is reused (one recomputed here).
    lines.clear()
    other = run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "a", max_evaluations=1,
                      **dict(kwargs, batch_size=8))
    assert other["evaluations"] == {"total": 4, "reused": 0, "computed": 1, "missing": 3}
    assert sum("batch_size differs" in line for line in lines) == 4


def test_fixed_settings_may_be_run_settings(tiny, tmp_path):
    pre, data, reference, logits = tiny
    kwargs = dict(reference_predictions=reference, batch_size=16, verbose=0, log=lambda line: None)
    a = run_sweep(pre, data, ["time_bits=4"], 1, RunSettings(zeta=0.5, trial=7), tmp_path / "a", **kwargs)
    b = run_sweep(pre, data, {"time_bits": [4]}, 1, {"zeta": 0.5}, tmp_path / "b", **kwargs)
    assert a["rows"][0]["settings"] == b["rows"][0]["settings"] and a["rows"][0]["runs"] == b["rows"][0]["runs"]
    assert a["rows"][0]["agreement_mean"] == b["rows"][0]["agreement_mean"]
    with pytest.raises(SweepError, match="unknown settings"):
        run_sweep(pre, data, {"noise": [0.0]}, 1, {"nosie": 0.1}, tmp_path / "c", **kwargs)
    with pytest.raises(SweepError, match="--trials"):
        run_sweep(pre, data, {"noise": [0.0]}, 0, None, tmp_path / "c", **kwargs)
    lines = table_lines(a)
    assert "accuracy SNN" in lines[4] and len(lines) == 4 + 2 + 1 + 2
    # time_bits perturbs the SNN: its error columns are the deviation, and without the original network's
    # logits that figure is n/a, and the legend says why.
    assert "deviation vs original" in lines[4] and "max |error|" not in lines[4] and lines[6].split()[-2] == "n/a"
    assert "phase 1 stored no logits" in lines[-2] and "not exactness" in lines[-1]


def test_the_headline_exactness_compares_with_the_original_logits(tiny, tmp_path):
    pre, data, reference, logits = tiny
    lines = []
    kwargs = dict(reference_predictions=reference, batch_size=16, verbose=0, log=lines.append)
    run_sweep(pre, data, {"zeta": [0.5]}, 1, None, tmp_path / "s", **kwargs)
    # Runs written without the logits are computed again once they are given: no mix of measured and not.
    table = run_sweep(pre, data, {"zeta": [0.5]}, 1, None, tmp_path / "s", reference_logits=logits, **kwargs)
    assert table["evaluations"]["computed"] == 1 and any("original_logits_sha256 differs" in line for line in lines)
    assert table["rows"][0]["max_abs_error_original_mean"] < 1e-9
    # Wrong logits are caught by the headline figure, not hidden.
    wrong = run_sweep(pre, data, {"zeta": [0.5]}, 1, None, tmp_path / "w", reference_logits=logits + 0.25,
                      **kwargs)
    assert abs(wrong["rows"][0]["max_abs_error_original_mean"] - 0.25) < 1e-9
    with pytest.raises(ValueError, match="reference_logits of shape"):
        run_sweep(pre, data, {"zeta": [0.5]}, 1, None, tmp_path / "x", reference_logits=logits[:5], **kwargs)


def test_the_std_over_trials_is_the_sample_std_and_one_trial_has_none(tiny, tmp_path):
    pre, data, reference, logits = tiny
    kwargs = dict(reference_predictions=reference, reference_logits=logits, batch_size=16, verbose=0,
                  log=lambda line: None)
    two = run_sweep(pre, data, {"noise": [0.4]}, 2, None, tmp_path / "two", **kwargs)
    row = two["rows"][0]
    runs = [json.load(open(tmp_path / "two" / "runs" / name)) for name in row["runs"]]
    for metric in ("accuracy_snn", "agreement", "max_abs_error_original"):
        values = [r[metric] for r in runs]
        # ddof=1: with two trials it is |a - b| / sqrt(2), where the population std would be |a - b| / 2.
        assert row[f"{metric}_std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2), rel=1e-12)
    assert row["max_abs_error_original_std"] > 0
    assert "sample std, ddof=1" in table_lines(two)[2] and " +- " in table_lines(two)[6]

    one = run_sweep(pre, data, {"noise": [0.0, 0.4]}, 1, None, tmp_path / "one", **kwargs)
    assert all(r[f"{m}_std"] is None for r in one["rows"] for m in TABLE_METRICS)
    lines = table_lines(one)
    assert "one trial: no std" in lines[2] and not any("+-" in line for line in lines)
    assert all(row.split(",")[4] == "" for row in open(tmp_path / "one" / "sweep.csv").read().splitlines()[1:])


def test_the_error_columns_of_perturbed_points_are_named_as_deviations(tiny, tmp_path):
    pre, data, reference, logits = tiny
    kwargs = dict(reference_predictions=reference, reference_logits=logits, batch_size=16, verbose=0,
                  log=lambda line: None)
    exact = table_lines(run_sweep(pre, data, {"zeta": [0.5, 1.0]}, 1, None, tmp_path / "e", **kwargs))
    assert "max |error| vs original" in exact[4] and "deviation" not in "".join(exact)
    mixed = run_sweep(pre, data, {"noise": [0.0, 0.5]}, 1, None, tmp_path / "m", **kwargs)
    lines = table_lines(mixed)
    assert "max |error| / deviation* vs original" in lines[4] and "noise (tau_c)" in lines[4]
    # Only the perturbed row is starred, and its figure is what the noise changes (not ~1e-15).
    assert not lines[6].rstrip().endswith("*") and lines[7].rstrip().endswith("*")
    assert mixed["rows"][1]["max_abs_error_original_mean"] > 1e-3
    assert "deviation the perturbation causes" in lines[-1]


def test_retuned_runs_give_the_results_of_fresh_snns(tiny, tmp_path, monkeypatch):
    """Runs that differ in noise, alpha noise, trial or time bits share one SNN, retuned; the
    oracle is the sweep that builds a new SNN for every run."""
    from snnmap.experiments import phase2

    built = []
    original = phase2.build_snn
    monkeypatch.setattr(phase2, "build_snn", lambda pre, settings: built.append(settings) or original(pre, settings))
    pre, data, reference, logits = tiny
    kwargs = dict(reference_predictions=reference, reference_logits=logits, batch_size=16, verbose=0,
                  log=lambda line: None)
    grid = {"noise": [0.0, 0.2, 0.4], "alpha_noise": [0.0, 0.1]}
    shared = run_sweep(pre, data, grid, 2, None, tmp_path / "shared", **kwargs)
    # One SNN for the noise-free points, one for the jittered ones (jitter changes the computation).
    assert [s.noise > 0 for s in built] == [False, True]
    built.clear()
    run_sweep(pre, data, grid, 2, None, tmp_path / "fresh", retune=False, **kwargs)
    assert len(built) == 12
    keys = ("agreement", "accuracy_snn", "max_abs_error", "max_abs_error_end_to_end", "violations",
            "spikes_per_neuron", "latency")
    deviations = []
    for row in shared["rows"]:
        for name in row["runs"]:
            ra = json.loads((tmp_path / "shared" / "runs" / name).read_text())
            rb = json.loads((tmp_path / "fresh" / "runs" / name).read_text())
            for key in keys:
                np.testing.assert_allclose(ra[key], rb[key], rtol=1e-12, atol=1e-12, err_msg=f"{name}: {key}")
            deviations.append(ra["max_abs_error_end_to_end"])
    # Every perturbed run (10 of the 12) deviates in its own way: the retuned knobs took effect.
    assert len(deviations) == 12 and len(set(deviations)) >= 11
