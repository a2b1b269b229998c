"""Operation counts (docs/method.md §8): the oracle is a count by hand."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.layers import SpikingDense
from snnmap.pipeline import energy
from snnmap.pipeline.evaluate import spiking_layers


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


def test_counters_are_registered_per_layer_type():
    class WideDense(SpikingDense):
        pass

    layer = WideDense(3, t_min_prev=0.0, t_min=1.0, X_n=1.0)
    layer.build((None, 5))
    w = np.full((5, 3), 0.1)
    w[0, 1] = 0.0  # a zero weight is no synapse
    layer.set_relu_params(w, np.zeros(3))
    assert energy.relu_macs(layer) == 14 and energy.fan_out(layer).tolist() == [2, 3, 3, 3, 3]
    with pytest.raises(TypeError, match="no operation count for Dense"):
        energy.relu_macs(keras.layers.Dense(3))


def test_energy_defaults_and_custom_energies():
    ops = {"relu_macs": 100, "snn_events": 40, "snn_events_informative": 10.0}
    default = energy.estimate(ops)
    assert default["mac_pj"] == energy.DEFAULT_ENERGY["mac_pj"] and default["source"] == energy.DEFAULT_ENERGY["source"]
    assert default["snn_over_relu"] == pytest.approx(40 * 0.9 / (100 * 4.6))
    assert energy.estimate(ops, mac_pj=1.0, add_pj=1.0)["source"] == "user-supplied per-operation energies"
    with pytest.raises(ValueError, match=">= 0"):
        energy.estimate(ops, mac_pj=-1.0)
