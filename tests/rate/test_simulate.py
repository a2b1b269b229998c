"""The rate-coded simulation against the ReLU network it comes from: agreement rises with T and reaches 0.99."""

import numpy as np
import pytest
from keras import ops

from helpers import needs_fashion
from snnmap.rate import RateSettings, calibrate, rate_network, simulate, summarise
from snnmap.rate.network import Pooling, operations


@pytest.fixture(scope="module")
def fc_case(fc_pre, fashion):
    x = fc_pre.normalize(fashion.x_test[:300])
    reference = np.argmax(fc_pre.model.predict(x, verbose=0), axis=1)
    cal = calibrate(operations(fc_pre.model), fc_pre.normalize(fashion.x_train[:1000]))
    return x, reference, fashion.y_test[:300], cal


def rows_of(pre, cal, x, reference, labels=None, **kwargs):
    net = rate_network(pre.model, RateSettings(**kwargs), calibration=cal)
    run = simulate(net, x, batch_size=128)
    return {r["T"]: r for r in summarise(run, net, labels, reference)}, run, net


@needs_fashion
def test_agreement_rises_with_T_and_reaches_099_at_T256(fc_pre, fc_case):
    # Shipped FC on 300 real test images, data-based normalisation, constant input: 0.99 at T = 256.
    x, reference, labels, cal = fc_case
    rows, _, _ = rows_of(fc_pre, cal, x, reference, labels, checkpoints=[8, 32, 128, 256])
    agreement = [rows[t]["agreement"] for t in (8, 32, 128, 256)]
    assert agreement == sorted(agreement) and agreement[0] < 0.9 < agreement[-1]
    assert agreement[-1] >= 0.99
    spikes = [rows[t]["spikes_per_neuron"] for t in (8, 32, 128, 256)]
    assert spikes == sorted(spikes) and spikes[0] < spikes[-1]


@needs_fashion
def test_events_are_spikes_times_fan_out(fc_pre, fc_case):
    # 784-600-10 with a constant input: the only spikes that reach synapses are the 600 hidden neurons', each
    # driving 10 output synapses; the first layer's 784 x 600 products are made once (MACs).
    x, reference, _, cal = fc_case
    rows, _, net = rows_of(fc_pre, cal, x[:64], reference[:64], checkpoints=[16, 64])
    for row in rows.values():
        assert row["synaptic_events"] == pytest.approx(row["spikes_per_neuron"] * 600 * 10)
        assert row["macs"] == 784 * 600
    assert net.n_hidden_neurons == 600


@needs_fashion
def test_seeded_poisson_runs_reproduce(fc_pre, fc_case):
    x, reference, _, cal = fc_case
    _, a, _ = rows_of(fc_pre, cal, x[:100], reference[:100], input="poisson", seed=5, checkpoints=[16, 32])
    _, b, _ = rows_of(fc_pre, cal, x[:100], reference[:100], input="poisson", seed=5, checkpoints=[16, 32])
    _, c, _ = rows_of(fc_pre, cal, x[:100], reference[:100], input="poisson", seed=6, checkpoints=[16, 32])
    for key in ("predictions", "hidden_spikes", "events"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["events"], c["events"])
    assert a["macs"] == 0 and a["events"][-1].min() > 0  # Poisson input spikes are synaptic events, not MACs


def test_cnn_with_pooling_follows_the_relu_network(small_cnn_pre):
    pre, x = small_cnn_pre
    x_hat = pre.normalize(x[200:])
    reference = np.argmax(pre.model.predict(x_hat, verbose=0), axis=1)
    cal = calibrate(operations(pre.model), pre.normalize(x[:200]))
    for readout in ("spikes", "current"):
        rows, _, _ = rows_of(pre, cal, x_hat, reference, normalisation="data", readout=readout,
                             checkpoints=[4, 64, 512])
        assert rows[512]["agreement"] >= 0.95 and rows[512]["agreement"] > rows[4]["agreement"], readout
    tau, _, _ = rows_of(pre, cal, x_hat, reference, normalisation="firing_rate", firing_rate_scale=2.0,
                        synapse_tau=2.0, checkpoints=[256])
    assert tau[256]["agreement"] >= 0.8
    # Reset to zero drops the rest of every spike's charge: worse, yet far above chance (0.2).
    zero, _, _ = rows_of(pre, cal, x_hat, reference, normalisation="firing_rate", firing_rate_scale=2.0,
                         synapse_tau=2.0, reset="zero", checkpoints=[256])
    assert 0.5 <= zero[256]["agreement"] <= tau[256]["agreement"]


def test_max_pooling_of_counts_fires_the_window_maximum():
    # The pooled unit fires as often as the busiest input of its window, step by step.
    op = Pooling(lambda c: ops.max_pool(c, 2, 2, "valid"))
    rng = np.random.default_rng(0)
    spikes = (rng.random((20, 1, 4, 4, 1)) < rng.random((1, 1, 4, 4, 1))).astype("float32")
    counts, previous, fired = 0.0, 0.0, 0.0
    for s in spikes:
        counts = counts + s
        pooled = op(ops.convert_to_tensor(counts))
        out = ops.convert_to_numpy(pooled - previous)
        assert set(np.unique(out)) <= {0.0, 1.0}
        previous, fired = pooled, fired + out
    window_max = spikes.sum(axis=0).reshape(1, 2, 2, 2, 2, 1).max(axis=(2, 4))
    np.testing.assert_array_equal(fired, window_max)


def test_a_silent_output_layer_is_counted_not_hidden(small_cnn_pre):
    # With Diehl's model-based bound every layer's threshold
    # is the largest activation the weights allow, so on a deep net (LeNet5) the output neurons do not reach
    # it within T steps and the readout ties (class 0). Output weights cut a thousandfold force that here.
    pre, x = small_cnn_pre
    x_hat = pre.normalize(x[200:])
    net = rate_network(pre.model, RateSettings(normalisation="model", checkpoints=[8, 64]))
    run = simulate(net, x_hat, batch_size=64)
    rows = {r["T"]: r for r in summarise(run, net)}
    state_counts = run["silent"]
    assert state_counts.shape == (2, len(x_hat)) and state_counts.dtype == bool
    assert rows[64]["no_output_spike"] == float(np.mean(state_counts[1]))
    # Where no output neuron spiked, the class read is the tie's: 0.
    assert np.all(run["predictions"][1][state_counts[1]] == 0)
    net.params[-1] = (net.params[-1][0] / 1000.0, net.params[-1][1] / 1000.0)
    run = simulate(net, x_hat, batch_size=64)
    assert summarise(run, net)[-1]["no_output_spike"] == 1.0 and np.all(run["predictions"] == 0)
    current = rate_network(pre.model, RateSettings(normalisation="model", readout="current", checkpoints=[8]))
    assert summarise(simulate(current, x_hat, batch_size=64), current)[0]["no_output_spike"] == 0.0
