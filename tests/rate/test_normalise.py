"""Normalisations: thresholds at the calibration maxima, biases scaled by their own layer, Diehl's bounds."""

import numpy as np
import pytest
from keras import ops

from helpers import needs_fashion
from snnmap.rate import RateSettings, calibrate
from snnmap.rate.network import Weights, operations, relu_forward
from snnmap.rate.normalise import model_bounds, scaled_weights, scales


def normalised_activations(op_list, lam, x):
    """Every weight layer's activation in the normalised network (thresholds 1), float64."""
    weights = [op for op in op_list if isinstance(op, Weights)]
    scaled = [Weights(op.name, op.kind, W, b, op.strides, op.padding, op.hidden, op.input_shape, op.output_shape)
              for op, (W, b) in zip(weights, scaled_weights(weights, lam))]
    it = iter(scaled)
    normalised = [next(it) if isinstance(op, Weights) else op for op in op_list]
    out = {}
    relu_forward(normalised, ops.convert_to_tensor(x, "float64"),
                 lambda k, a: out.__setitem__(k, ops.convert_to_numpy(a)))
    return [out[k] for k in range(len(out))]


def check_data_based(pre, x_calib):
    op_list = operations(pre.model)
    weights = [op for op in op_list if isinstance(op, Weights)]
    cal = calibrate(op_list, x_calib)
    lam, terms = scales(weights, RateSettings(normalisation="data"), cal)
    acts = normalised_activations(op_list, lam, x_calib)
    for k, (a, term) in enumerate(zip(acts, terms)):
        if term == "activation":
            # The calibration maximum of every layer sits exactly at its threshold, 1.
            assert a.max() == pytest.approx(1.0, rel=1e-9), k
        else:
            assert a.max() <= 1.0 + 1e-9 and lam[k] == pytest.approx(weights[k].W.max() * (lam[k - 1] if k else 1))
    return terms


@needs_fashion
def test_data_based_puts_each_calibration_maximum_at_the_threshold(fc_pre, fashion):
    terms = check_data_based(fc_pre, fc_pre.normalize(fashion.x_train[:1000]))
    assert terms[0] == "activation"


def test_data_based_on_a_cnn_with_pooling_padding_and_bias_maps(small_cnn_pre):
    pre, x = small_cnn_pre
    check_data_based(pre, pre.normalize(x[:200]))


def test_biases_are_scaled_by_their_own_layer(small_cnn_pre):
    # Every layer of the normalised network computes its ReLU activation divided by ITS scale: with the bias
    # divided by the previous layer's scale instead, this fails wherever the scales differ.
    pre, x = small_cnn_pre
    op_list = operations(pre.model)
    weights = [op for op in op_list if isinstance(op, Weights)]
    lam = [0.5, 3.0, 0.25, 7.0]
    assert len(weights) == len(lam)
    original = {}
    relu_forward(op_list, ops.convert_to_tensor(x[:50], "float64"),
                 lambda k, a: original.__setitem__(k, ops.convert_to_numpy(a)))
    for k, a in enumerate(normalised_activations(op_list, lam, x[:50])):
        np.testing.assert_allclose(a, original[k] / lam[k], rtol=1e-12, atol=1e-12)
    for op, scale, (_, b) in zip(weights, lam, scaled_weights(weights, lam)):
        np.testing.assert_allclose(b, op.b / scale)


def test_model_based_bounds_every_activation(small_cnn_pre):
    pre, x = small_cnn_pre
    op_list = operations(pre.model)
    weights = [op for op in op_list if isinstance(op, Weights)]
    lam = model_bounds(weights)
    # Any input in [0, 1] stays below the bound, even the worst one the data never show.
    worst = np.concatenate([pre.normalize(x), np.ones((1,) + x.shape[1:]), np.zeros((1,) + x.shape[1:])])
    for k, a in enumerate(normalised_activations(op_list, lam, worst)):
        assert a.max() <= 1.0 + 1e-12, k
    assert all(a > b for a, b in zip(lam[1:], [0] * 3))


def test_percentile_fraction_and_firing_rate(small_cnn_pre):
    pre, x = small_cnn_pre
    op_list = operations(pre.model)
    weights = [op for op in op_list if isinstance(op, Weights)]
    cal = calibrate(op_list, pre.normalize(x[:200]))
    p, _ = scales(weights, RateSettings(normalisation="percentile", percentile=99.0), cal)
    for k, value in enumerate(p):
        positives = cal.positives[k]
        assert np.mean(positives <= value) == pytest.approx(0.99, abs=0.01)
        assert value <= cal.maxima[k]
    f, _ = scales(weights, RateSettings(normalisation="fraction", fraction=0.25), cal)
    np.testing.assert_allclose(f, 0.25 * np.asarray(cal.maxima))
    r, _ = scales(weights, RateSettings(normalisation="firing_rate", firing_rate_scale=4.0))
    assert r == [0.25] * len(weights)
    with pytest.raises(ValueError, match="needs calibration activations"):
        scales(weights, RateSettings(normalisation="data"))
