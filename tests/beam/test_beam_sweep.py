"""The sweep on Beam resumes after an interruption without recomputing finished runs."""

import os

import keras
import numpy as np
import pytest

pytest.importorskip("apache_beam")

import snnmap  # noqa: E402
from snnmap import beam  # noqa: E402
from snnmap.data import DataSet  # noqa: E402
from snnmap.experiments.grid import SweepError  # noqa: E402
from snnmap.experiments.sweep import run_sweep  # noqa: E402

IN_PROCESS = beam.BeamSettings(running_mode="in_memory", num_workers=1, verbose=False)


def test_beam_sweep_resumes_and_equals_the_single_machine_sweep(tmp_path):
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(10, activation="relu"),
                              keras.layers.Dense(3)], name="tiny")
    rng = np.random.default_rng(3)
    x_train, x_test = rng.uniform(0, 1, (200, 12)), rng.uniform(0, 1, (40, 12))
    y_test = np.argmax(model.predict(x_test, verbose=0), axis=1)
    pre = snnmap.preprocess(model, x_train, verbose=0)
    data = DataSet(name="random", source="arrays", description="40 random images", location=None, full=False,
                   x_train=x_train, y_train=np.zeros(200, np.int64), x_test=x_test, y_test=y_test, num_classes=3)
    grid, quiet = {"noise": [0.0, 0.3]}, dict(batch_size=16, log=lambda line: None)
    part = beam.run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "b", max_evaluations=3,
                          beam_settings=IN_PROCESS, **quiet)
    assert part["evaluations"] == {"total": 4, "reused": 0, "computed": 3, "missing": 1}
    runs = tmp_path / "b" / "runs"
    before = {name: os.stat(runs / name).st_mtime_ns for name in os.listdir(runs)}
    full = beam.run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "b", beam_settings=IN_PROCESS, **quiet)
    assert full["evaluations"] == {"total": 4, "reused": 3, "computed": 1, "missing": 0} and full["complete"]
    assert all(os.stat(runs / name).st_mtime_ns == t for name, t in before.items())  # not rewritten
    single = run_sweep(pre, data, grid, 2, {"zeta": 0.5}, tmp_path / "s", verbose=0, **quiet)
    for ours, theirs in zip(full["rows"], single["rows"]):
        for key in ("accuracy_snn_mean", "agreement_mean", "max_abs_error_mean", "violations_mean"):
            assert ours[key] == theirs[key], key


def test_rate_knobs_are_refused_on_beam(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    x = np.random.default_rng(0).uniform(0, 1, (20, 4))
    pre = snnmap.preprocess(model, x, verbose=0)
    data = DataSet(name="random", source="arrays", description="20 random images", location=None, full=False,
                   x_train=x, y_train=np.zeros(20, np.int64), x_test=x, y_test=np.zeros(20, np.int64), num_classes=2)
    with pytest.raises(SweepError, match="rate knobs run on the single-machine sweep"):
        beam.run_sweep(pre, data, {"rate_T": [8, 16]}, 1, None, tmp_path / "b", beam_settings=IN_PROCESS,
                       log=lambda line: None)
    assert not os.path.exists(tmp_path / "b")
