"""Robustness and hardware knobs (MAPPING §6) and operation counts (§8)."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.core import mapping
from snnmap.pipeline import energy
from snnmap.pipeline.evaluate import spiking_layers
from snnmap.layers import SpikingDense

import oracle


@pytest.fixture(scope="module")
def small(fashion, fashion_fc):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:3000], verbose=0)
    return pre, fashion.x_test[:400], fashion.y_test[:400]


def _probe(snn):
    return keras.Model(snn.inputs, [l.output for l in spiking_layers(snn)])


def test_zero_knobs_reproduce_the_exact_run_bit_for_bit(small):
    pre, x, _ = small
    t = snnmap.encode(x)
    exact = _probe(snnmap.to_snn(pre)).predict_on_batch(t)
    off = _probe(snnmap.to_snn(pre, noise=0.0, alpha_noise=0.0, time_bits=0, weight_bits=0,
                               x_quantile=1.0, seed=123)).predict_on_batch(t)
    for a, b in zip(exact, off):
        np.testing.assert_array_equal(a, b)


def test_time_bits_move_spikes_by_at_most_half_a_step():
    layer = SpikingDense(3, t_min_prev=1.0, t_min=3.0, X_n=1.0, time_bits=4)
    layer.build((None, 50))
    t = np.random.default_rng(0).uniform(1.0, 3.0, (20, 50))
    q = np.asarray(layer._perturb(keras.ops.convert_to_tensor(t)))  # noqa: SLF001 - what the neurons receive
    step = 2.0 / (2 ** 4 - 1)
    assert np.max(np.abs(q - t)) <= step / 2 + 1e-12
    levels = (q - 1.0) / step
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert len(np.unique(np.round(levels))) <= 16


@pytest.mark.parametrize("bits", [4, 12])
def test_time_bits_accuracy(small, bits):
    pre, x, y = small
    r = snnmap.evaluate(snnmap.to_snn(pre, time_bits=bits), x, y, relu_model=pre.model, verbose=0)
    if bits == 12:
        assert r["agreement"] == 1.0  # large b keeps the predictions
    assert r["n_test"] == 400


def test_weight_bits_quantise_to_levels(small):
    pre, x, _ = small
    snn = snnmap.to_snn(pre, weight_bits=3, w_min=-0.05, w_max=0.05)
    for layer in spiking_layers(snn):
        w = np.asarray(layer.kernel)
        levels = np.unique(np.round((w + 0.05) / (0.1 / 7), 9))
        assert len(levels) <= 8 and w.min() >= -0.05 - 1e-12 and w.max() <= 0.05 + 1e-12
    big = snnmap.to_snn(pre, weight_bits=20)
    exact = snnmap.to_snn(pre)
    t = snnmap.encode(x)
    # Fine weights barely move the predictions (theta keeps the unquantised sums, so the
    # code shifts slightly: a handful of near-ties may flip).
    assert np.mean(np.argmax(big.predict_on_batch(t), -1) == np.argmax(exact.predict_on_batch(t), -1)) >= 0.98
    np.testing.assert_allclose(mapping.quantize_weights([-1.0, 0.2, 1.0], 1), [-1.0, 1.0, 1.0])


def test_seeded_noise_is_reproducible_and_trials_differ(small):
    pre, x, _ = small
    t = snnmap.encode(x[:64])
    a = snnmap.to_snn(pre, noise=0.1, alpha_noise=0.05, seed=7).predict_on_batch(t)
    b = snnmap.to_snn(pre, noise=0.1, alpha_noise=0.05, seed=7).predict_on_batch(t)
    c = snnmap.to_snn(pre, noise=0.1, alpha_noise=0.05, seed=8).predict_on_batch(t)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-6


def test_x_quantile_violations_follow_the_dynamics(small):
    """Shorter windows from a quantile of X_n: activations beyond the window really make
    neurons fire early, as an independent time-stepped simulation of V(t) says."""
    pre, x, y = small
    assert pre.window_scales(0.5)[0] < pre.X_n[0]
    snn = snnmap.to_snn(pre, x_quantile=0.5)
    r = snnmap.evaluate(snn, x, y, relu_model=pre.model, verbose=0)
    assert r["violations_a"] > 0
    assert r["max_abs_error"] <= 1e-9  # exact on every other neuron
    layer = spiking_layers(snn)[0]
    t_in = snnmap.encode(x[:3])
    _, t_out = layer.global_times(t_in, layer(t_in))  # to_snn's layers return t - t_max(n)
    win = layer.window
    ref = oracle.simulate_layer(t_in, np.asarray(layer.kernel), np.asarray(layer.threshold),
                                np.asarray(layer.alpha), win.t_min_prev, win.t_max, dt=1e-3)
    early = t_out < win.t_min
    assert early.any()
    np.testing.assert_allclose(t_out, ref, atol=1e-9)


def test_operation_counts_equal_a_hand_count():
    rng = np.random.default_rng(0)
    i = keras.Input((5, 4, 2))
    x = keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu")(i)
    x = keras.layers.Flatten()(x)
    model = keras.Model(i, keras.layers.Dense(4)(x))
    pre = snnmap.preprocess(model, rng.uniform(0, 1, (10, 5, 4, 2)), verbose=0)
    snn = snnmap.to_snn(pre)
    conv, dense = spiking_layers(snn)
    # Hand count: output 3x2 positions; TF "same" padding of 5 rows (stride 2, k 3) is 1 on
    # top, of 4 columns 0 left / 1 right.  Each output position's window holds the valid taps.
    taps = 0
    for oy in range(3):
        for ox in range(2):
            for dy in range(3):
                for dx in range(3):
                    r, c = oy * 2 + dy - 1, ox * 2 + dx
                    taps += 0 <= r < 5 and 0 <= c < 4
    assert energy.relu_macs(conv) == 3 * 2 * 3 * 3 * 3 * 2
    assert energy.static_counts([conv])[conv.name]["snn_events"] == taps * 2 * 3
    assert energy.relu_macs(dense) == 18 * 4 and energy.fan_out(dense).sum() == 18 * 4
    # Informative events: every input pixel > 0 spikes before t_min(1); zero pixels do not.
    x = rng.uniform(0, 1, (3, 5, 4, 2))
    x[0, 0, 0, :] = 0.0
    r = snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0)
    fan = energy.fan_out(conv)
    expected = sum(float(np.sum((xi > 0) * fan)) for xi in x) / 3
    row = next(l for l in r["operations"]["layers"] if l["name"] == conv.name)
    assert row["snn_events_informative"] == pytest.approx(expected)
    e = energy.estimate(r["operations"], mac_pj=2.0, add_pj=0.5)
    assert e["estimate"] and e["relu_pj_per_image"] == 2.0 * r["operations"]["relu_macs"]
    assert e["snn_pj_per_image"] == 0.5 * r["operations"]["snn_events"]
