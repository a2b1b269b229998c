"""The rate-coded sweep (``rate_*`` knobs) as a library function on a tiny network: one simulation per variant
fills every T row, resuming, shared simulations, and clear errors for bad knobs."""

import os

import keras
import numpy as np
import pytest

import snnmap
from snnmap.data import DataSet
from snnmap.experiments.grid import SweepError, split_specs
from snnmap.experiments.rate_sweep import parse_rate_grid, rate_table_lines, run_rate_sweep
from snnmap.experiments.sweep import run_sweep
from snnmap.rate import RateSettings, calibrate, rate_network, simulate, summarise
from snnmap.rate.network import operations


@pytest.fixture(scope="module")
def tiny():
    """A random 12-10-3 ReLU network, preprocessed, 40 random test images labelled by the network itself."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(10, activation="relu"),
                              keras.layers.Dense(3)], name="tiny")
    rng = np.random.default_rng(3)
    x_train = rng.uniform(0, 1, (200, 12)).astype("float32")
    x_test = rng.uniform(0, 1, (40, 12)).astype("float32")
    y_test = np.argmax(model.predict(x_test, verbose=0), axis=1)
    pre = snnmap.preprocess(model, x_train, input_range=(0.0, 1.0), verbose=0)
    data = DataSet(name="random", source="arrays", description="40 random test images", location=None, full=False,
                   x_train=x_train, y_train=np.zeros(200, np.int64), x_test=x_test, y_test=y_test.astype(np.int64),
                   num_classes=3)
    return pre, data, y_test


def _quiet(lines):
    return dict(batch_size=16, log=lines.append)


def test_every_T_row_comes_from_one_simulation_equal_to_separate_runs(tiny, tmp_path):
    pre, data, reference = tiny
    lines = []
    table = run_rate_sweep(pre, data, ["rate_T=64,8,16", "rate_input=poisson"], 1, tmp_path / "s",
                           reference_predictions=reference, **_quiet(lines))
    assert table["method"] == "rate" and table["evaluations"]["total"] == 1  # one simulation, three rows
    assert [r["rate_T"] for r in table["rows"]] == [8, 16, 64]
    # Oracle: a separate simulation of each T alone, from the public rate API.
    calib = calibrate(operations(pre.model), pre.normalize(data.x_train[:1000]))
    x_hat = pre.normalize(data.x_test).astype(np.float32)
    for row in table["rows"]:
        net = rate_network(pre.model, RateSettings(input="poisson", checkpoints=[row["rate_T"]]), calibration=calib)
        alone = summarise(simulate(net, x_hat, batch_size=16), net, data.y_test, reference)[0]
        assert row["accuracy_snn_mean"] == alone["accuracy"] and row["agreement_mean"] == alone["agreement"]
        assert row["spikes_per_neuron_mean"] == pytest.approx(alone["spikes_per_neuron"], rel=1e-12)
        assert row["synaptic_events_mean"] == pytest.approx(alone["synaptic_events"], rel=1e-12)
        assert row["settings"]["T"] == row["rate_T"] and row["variant"] == "data/poisson/subtract/spikes"
    assert "rate-coded sweep" in rate_table_lines(table)[0]
    assert os.path.isfile(tmp_path / "s" / "sweep.csv")


def test_the_rate_sweep_resumes_and_reruns_a_variant_for_a_new_T(tiny, tmp_path):
    pre, data, reference = tiny
    lines = []
    grid = ["rate_T=8,32", "rate_normalisation=data,percentile", "rate_percentile=99,99.9"]
    part = run_rate_sweep(pre, data, grid, 1, tmp_path / "r", reference_predictions=reference, max_evaluations=2,
                          **_quiet(lines))
    # data ignores the percentile: 2 x 2 variants are 3 simulations (data, percentile-99, percentile-99.9).
    assert part["evaluations"] == {"total": 3, "reused": 0, "computed": 2, "missing": 1} and not part["complete"]
    full = run_rate_sweep(pre, data, grid, 1, tmp_path / "r", reference_predictions=reference, **_quiet(lines))
    assert full["evaluations"] == {"total": 3, "reused": 2, "computed": 1, "missing": 0} and full["complete"]
    data_rows = [r for r in full["rows"] if r["rate_normalisation"] == "data"]
    assert len(data_rows) == 4 and data_rows[0]["runs"] == data_rows[1]["runs"]
    assert data_rows[0]["accuracy_snn_mean"] == data_rows[1]["accuracy_snn_mean"]
    longer = run_rate_sweep(pre, data, ["rate_T=8,32,64"] + grid[1:], 1, tmp_path / "r",
                            reference_predictions=reference, **_quiet(lines))
    assert longer["evaluations"] == {"total": 3, "reused": 0, "computed": 3, "missing": 0}
    assert any("some T missing" in line for line in lines)
    again = run_rate_sweep(pre, data, grid, 1, tmp_path / "r", reference_predictions=reference, **_quiet(lines))
    assert again["evaluations"]["reused"] == 3  # its files now hold T = 8, 32 and 64
    assert [r["accuracy_snn_mean"] for r in again["rows"]] == [r["accuracy_snn_mean"] for r in full["rows"]]


def test_poisson_trials_are_seeded_and_a_constant_current_is_simulated_once(tiny, tmp_path):
    pre, data, reference = tiny
    table = run_rate_sweep(pre, data, ["rate_T=8", "rate_input=constant,poisson"], 3, tmp_path / "t",
                           reference_predictions=reference, **_quiet([]))
    constant, poisson = table["rows"]
    assert table["evaluations"]["total"] == 1 + 3
    assert constant["n_trials"] == 3 and constant["accuracy_snn_std"] == 0.0 and len(constant["runs"]) == 1
    assert poisson["n_trials"] == 3 and len(poisson["runs"]) == 3 and poisson["spikes_per_neuron_std"] > 0


@pytest.mark.parametrize("specs, words", [
    (["rate_T=0,8"], "--sweep rate_T: '0' is not a number of time steps T > 0"),
    (["rate_T=8.5"], "--sweep rate_T: '8.5' is not a number of time steps T"),
    (["rate_T=8", "rate_normalisation=maxnorm"], "'maxnorm' is not one of model, data, percentile"),
    (["rate_T=8", "rate_percentile=101"], "--sweep rate_percentile: percentile must be in (0, 100]"),
    (["rate_T=8,8"], "repeated value"),
    (["rate_normalisation=data"], "needs the time steps: give --sweep rate_T="),
    (["rate_T=8", "noise=0,0.1"], "noise=0,0.1: the exact SNN's knobs cannot be swept with the rate knobs"),
    (["rate_T=8", "rate_T=16"], "--sweep rate_T is given twice"),
])
def test_bad_rate_knobs_are_clear_errors(specs, words):
    with pytest.raises(SweepError) as err:
        parse_rate_grid(specs)
    assert words in str(err.value)


def test_rate_knobs_are_refused_by_the_exact_sweep(tiny, tmp_path):
    pre, data, _ = tiny
    assert split_specs(["noise=0", "rate_T=8", "zeta=1"]) == (["noise=0", "zeta=1"], ["rate_T=8"])
    with pytest.raises(SweepError, match="rate knobs run on the single-machine sweep"):
        run_sweep(pre, data, {"rate_T": [8]}, 1, None, tmp_path / "x", verbose=0, log=lambda line: None)
    with pytest.raises(SweepError, match="rate knobs run on the single-machine sweep"):
        run_sweep(pre, data, ["noise=0", "rate_T=8"], 1, None, tmp_path / "x", verbose=0, log=lambda line: None)
