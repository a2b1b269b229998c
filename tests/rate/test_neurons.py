"""IF neurons alone: the closed form of reset by subtraction, reset to zero, several spikes a step, the filter."""

import numpy as np
import pytest
from keras import ops

from snnmap.rate import neurons


def run(current, T, threshold, reset="subtract", multi=False):
    v = ops.zeros_like(current)
    count = ops.zeros_like(current)
    for _ in range(T):
        v, s = neurons.if_step(v, current, threshold, reset, multi)
        count = count + s
    return ops.convert_to_numpy(count), ops.convert_to_numpy(v)


@pytest.mark.parametrize("T", [1, 7, 64, 257])
def test_constant_current_fires_floor_of_I_T_over_theta_with_subtraction(T):
    rng = np.random.default_rng(T)
    theta = 0.7
    current = rng.uniform(0, theta, 2000)
    current = current[np.abs(current * T / theta - np.round(current * T / theta)) > 1e-6]  # clear of ties
    count, v = run(ops.convert_to_tensor(current, "float64"), T, theta)
    np.testing.assert_array_equal(count, np.floor(current * T / theta))
    # What is left is the rest of the division: the charge is conserved.
    np.testing.assert_allclose(v, current * T - count * theta, atol=1e-12)


def test_reset_to_zero_loses_the_rest():
    current = ops.convert_to_tensor(np.array([0.4, 0.6, 1.0]), "float64")
    count, _ = run(current, 10, 1.0, reset="zero")
    # 0.4: fires every 3rd step (0.4, 0.8, 1.2 -> 0); 0.6: every 2nd; 1.0: every step.
    np.testing.assert_array_equal(count, [3, 5, 10])
    sub, _ = run(current, 10, 1.0)
    assert np.all(count <= sub) and count[0] < sub[0]


def test_several_spikes_in_one_step_when_allowed():
    current = ops.convert_to_tensor(np.array([2.5, 0.3, -1.0]), "float64")
    count, _ = run(current, 4, 1.0, multi=True)
    np.testing.assert_array_equal(count, [10, 1, 0])
    capped, _ = run(current, 4, 1.0)
    np.testing.assert_array_equal(capped, [4, 1, 0])


def test_low_pass_keeps_the_rate_and_smooths():
    decay = neurons.filter_decay(5.0)
    assert decay == pytest.approx(np.exp(-0.2))
    assert neurons.filter_decay(0) == 0.0
    state, outs = 0.0, []
    for t in range(400):
        state = neurons.low_pass(state, float(t % 4 == 0), decay)
        outs.append(state)
    assert np.mean(outs[200:]) == pytest.approx(0.25, abs=0.01)
    assert np.max(outs[200:]) < 1.0
    with pytest.raises(ValueError, match="tau must be >= 0"):
        neurons.filter_decay(-1)
