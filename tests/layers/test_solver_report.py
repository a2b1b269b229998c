"""snnmap.layers.solver_report: the open fractions of the solver stages, against the oracle."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from snnmap.layers import solver_report  # noqa: E402

from dense_cases import make_layer, mixed_case, oracle_times  # noqa: E402


def test_solver_report_dense():
    """Each stage leaves open at most what the one before it did; the pairs whose spike time the
    event solver changed are those the oracle sees fire before their last input; the output
    layer reports timings only."""
    w, b, x, X_n = mixed_case(81, batch=40, n_early_neurons=5)
    layer = make_layer(w, b, X_n, zeta=0.1)
    t = 1.0 - x
    report = solver_report(layer, t, repeat=2)
    pairs = layer.n_neurons * len(t)
    assert 1 >= report["open_1block"] >= report["open_free"] >= report["to_solver"] >= report["solver_changed"]
    assert report["n_to_solver"] == round(report["to_solver"] * pairs)
    assert report["grid_bound"] == bool(report["grid_stages"])
    spikes = oracle_times(layer, t) - layer.window.t_min
    tau = np.maximum((-x).max(axis=1), -layer.window.input_length)
    early = spikes < tau[:, None] - 1e-9
    assert early.any() and report["n_solver_changed"] == int(early.sum())
    for key in ("synapse_s", "layer_call_s", "closed_form_s", "certificate_s", "free_s", "event_solver_s"):
        assert report[key] >= 0

    readout = make_layer(w, b, X_n, output_layer=True)
    assert set(solver_report(readout, t)) == {"synapse_s", "layer_call_s"}
