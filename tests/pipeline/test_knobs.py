"""Robustness and hardware knobs of the SNN (docs/method.md §6)."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.core import mapping
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
    q = np.asarray(layer.perturb(keras.ops.convert_to_tensor(t)))  # what the neurons receive
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
