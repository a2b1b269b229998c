"""Evaluation pairs every spiking layer with its ReLU twin by structure, not by name.

The oracle is the preprocessed ReLU network's own Keras layers (activation removed)."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline import evaluate as evaluation

from pipeline import nets


@pytest.fixture(scope="module")
def conv_run():
    rng = np.random.default_rng(5)
    model = nets.small_conv()
    pre = snnmap.preprocess(model, rng.uniform(0, 1, (20, 5, 4, 2)), verbose=0)
    return pre, snnmap.to_snn(pre), rng.uniform(0, 1, (12, 5, 4, 2)), rng.integers(0, 4, 12)


def test_renamed_relu_layers_still_pair(conv_run):
    pre, snn, x, y = conv_run
    twin = nets.renamed(pre.model)
    assert not {l.name for l in twin.layers} & {l.name for l in snn.layers}
    by_name = snnmap.evaluate(snn, x, y, relu_model=pre.model, verbose=0)
    by_structure = snnmap.evaluate(snn, x, y, relu_model=twin, verbose=0)
    assert by_structure["max_abs_error"] <= 1e-9 and by_structure["violations"] == 0
    for key in ("max_abs_error", "max_abs_error_end_to_end", "agreement", "accuracy_relu_preprocessed",
                "violations"):
        assert by_structure[key] == by_name[key]
    layers = evaluation.spiking_layers(snn)
    assert [t.name for t in evaluation.relu_twins(layers, twin)] == ["twin_" + l.name for l in layers]


def test_a_network_that_is_not_the_twin_is_measured_as_the_original(conv_run):
    pre, snn, x, _ = conv_run
    inputs = keras.Input((5, 4, 2))
    layers = evaluation.spiking_layers(snn)
    other = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="1 Dense/Conv2D layers but the SNN has 2"):
        evaluation.relu_twins(layers, other)
    h = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu")(inputs)
    other = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(h)))
    with pytest.raises(ValueError, match="does not match its ReLU twin"):
        evaluation.relu_twins(layers, other)
    # Never paired with the SNN's layers: it is taken as the user's network, and the SNN does not compute it.
    result = snnmap.evaluate(snn, x, relu_model=other, verbose=0)
    logits = np.asarray(other.predict_on_batch(x.astype("float32")), np.float64)
    snn_logits = np.asarray(snn.predict(snnmap.encode(x), verbose=0))
    assert result["exactness_reference"] == "original ReLU network"
    assert result["max_abs_error_original"] == pytest.approx(np.max(np.abs(snn_logits - logits)), rel=1e-5)
    assert result["max_abs_error_original"] > 1e-3
    assert result["max_abs_error"] <= 1e-9  # its layers still match their own (rebuilt) twins


def test_oracle_is_the_pre_activation(conv_run):
    pre, _, x, _ = conv_run
    conv = pre.model.layers[1]
    x_hat = pre.normalize(x)
    y = np.asarray(evaluation.oracle(conv)(x_hat))
    relu = np.asarray(keras.Model(pre.model.inputs, conv.output).predict_on_batch(x_hat))
    np.testing.assert_allclose(np.maximum(y, 0.0), relu, rtol=0, atol=1e-12)
    assert np.any(y < 0)


def test_merged_parts_equal_one_run(conv_run):
    pre, snn, x, y = conv_run
    whole = snnmap.evaluate(snn, x, y, relu_model=pre.model, verbose=0)
    parts = [evaluation.accumulate(snn, x[s], y[s], relu_model=pre.model, verbose=0)
             for s in (slice(0, 5), slice(5, 12))]
    merged = evaluation.summarize(evaluation.merge(parts))
    for key in ("n_test", "accuracy_snn", "agreement", "max_abs_error", "informative_spike_fraction", "violations"):
        assert merged[key] == pytest.approx(whole[key], rel=0, abs=1e-12)
