"""snnmap.retune: one traced SNN serves the runs that differ in noise, alpha noise, seed or time bits.

The oracle is a fresh :func:`snnmap.to_snn` with the same knobs (itself checked against the
time-stepped simulation and the ReLU network elsewhere): a retuned SNN must give exactly its
outputs, without tracing its network again.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import snnmap
from snnmap.layers import SpikingLayer

from pipeline import nets


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    model = nets.lenet_like(rng)
    x = rng.uniform(0.0, 1.0, (16, 12, 12, 1))
    return snnmap.preprocess(model, x, verbose=0), snnmap.encode(x), x


def outputs(snn, t):
    return np.asarray(snn.predict_on_batch(t), np.float64)


def eager(snn, t):
    """The oracle's outputs, run eagerly (a fresh SNN need not be traced to be compared)."""
    return np.asarray(keras.ops.convert_to_numpy(snn(keras.ops.convert_to_tensor(t))), np.float64)


def same(got, want, dtype="float64"):
    """Equal but for the rounding of eager against compiled execution (another order of sums)."""
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.max(np.abs(want))))


def weights(snn):
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in snn.weights]


KNOBS = [dict(noise=0.05, seed=3), dict(noise=0.2, seed=3), dict(noise=0.05, seed=4),
         dict(noise=0.1, alpha_noise=0.1, seed=3), dict(noise=0.1, alpha_noise=0.0, seed=9)]


def test_retuned_snn_equals_a_fresh_one_without_tracing_again(small, traces):
    pre, t, _ = small
    snn = snnmap.to_snn(pre, noise=0.1, seed=0)
    outputs(snn, t)
    first = len(traces)
    assert first == len([layer for layer in snn.layers if isinstance(layer, SpikingLayer)])
    for knobs in KNOBS:
        fresh = snnmap.to_snn(pre, **knobs)
        assert snnmap.retune(snn, **knobs) is snn
        traces.clear()
        got = outputs(snn, t)
        assert traces == []  # the first call's trace served every setting
        same(got, eager(fresh, t))
        # The same draws on the next call too (the seed generator moved as the fresh one's did).
        same(outputs(snn, t), eager(fresh, t))
        for a, b in zip(weights(snn), weights(fresh)):
            np.testing.assert_array_equal(a, b)
    # Back to the first knobs: the first outputs again (no state left behind by the others).
    snnmap.retune(snn, noise=0.1, alpha_noise=0.0, seed=0)
    same(outputs(snn, t), eager(snnmap.to_snn(pre, noise=0.1, seed=0), t))


def test_retuned_time_bits_equal_a_fresh_build(small):
    pre, t, _ = small
    snn = snnmap.to_snn(pre, time_bits=3)
    for bits in (5, 2, 8):
        snnmap.retune(snn, time_bits=bits)
        same(outputs(snn, t), eager(snnmap.to_snn(pre, time_bits=bits), t))
        assert all(layer.time_bits == bits for layer in snn.layers if isinstance(layer, SpikingLayer))


def test_unperturbed_after_retune_is_exact_against_the_relu_network(small):
    pre, t, x = small
    snn = snnmap.to_snn(pre, alpha_noise=0.2, seed=1)
    perturbed = snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0)
    snnmap.retune(snn, alpha_noise=0.0)
    exact = snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0)
    assert exact["max_abs_error_end_to_end"] < 1e-9 < perturbed["max_abs_error_end_to_end"]


@pytest.mark.parametrize("change, words", [
    (dict(noise=0.1), "switch the jitter"),
    (dict(time_bits=4), "time quantisation"),
    (dict(noise=-1.0), "noise must be"),
])
def test_structural_changes_are_refused_and_leave_the_snn_as_it_was(small, change, words):
    pre, t, _ = small
    snn = snnmap.to_snn(pre, alpha_noise=0.1, seed=2)
    before = weights(snn)
    with pytest.raises(ValueError, match=words):
        snnmap.retune(snn, alpha_noise=0.3, **change)
    for a, b in zip(weights(snn), before):
        np.testing.assert_array_equal(a, b)
    assert all(layer.alpha_noise == 0.1 for layer in snn.layers if isinstance(layer, SpikingLayer)
               and not layer.output_layer)


def test_float32_alpha_redraw_is_refused_but_noise_is_retuned(small):
    pre, t, _ = small
    snn = snnmap.to_snn(pre, noise=0.1, seed=0, dtype="float32")
    with pytest.raises(ValueError, match="only in float64"):
        snnmap.retune(snn, alpha_noise=0.1)
    snnmap.retune(snn, noise=0.3, seed=5)
    same(outputs(snn, t.astype(np.float32)),
         eager(snnmap.to_snn(pre, noise=0.3, seed=5, dtype="float32"), t.astype(np.float32)), "float32")


def test_a_loaded_snn_is_refused(small, tmp_path):
    pre, t, _ = small
    path = str(tmp_path / "snn.keras")
    snnmap.to_snn(pre, noise=0.1).save(path)
    loaded = keras.saving.load_model(path)
    same(eager(loaded, t), eager(snnmap.to_snn(pre, noise=0.1), t))
    with pytest.raises(ValueError, match="not made by snnmap.to_snn in this process"):
        snnmap.retune(loaded, noise=0.2)
