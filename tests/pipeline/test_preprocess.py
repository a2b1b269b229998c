"""Phase 1 keeps the network function (to 1e-9 in float64) and refuses what it cannot map.

The oracle is the original Keras model itself, run in float64 on the raw inputs.
"""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline import graph
from snnmap.pipeline.preprocess import hidden_layers


def _float64(model):
    return graph.with_dtype(model, "float64")


def _max_function_difference(model, pre, x):
    reference = np.asarray(_float64(model).predict_on_batch(np.asarray(x, np.float64)))
    got = np.asarray(pre.model.predict_on_batch(pre.normalize(x)))
    return float(np.max(np.abs(reference - got)))


def _randomize_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            gamma = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n, p=[0.3, 0.7])
            layer.set_weights([gamma, rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.uniform(0.2, 2.0, n)])


def _fc_model(bn_before=False, bn_after=False, style="dense_act", dims=(12, 9, 7, 4)):
    inputs = keras.Input((dims[0],))
    x = keras.layers.Dropout(0.3)(inputs)
    for units in dims[1:-1]:
        if style == "dense_act" and not bn_before:
            x = keras.layers.Dense(units, activation="relu")(x)
        else:
            x = keras.layers.Dense(units)(x)
            if bn_before:
                x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x) if style == "relu_layer" else keras.layers.Activation("relu")(x)
        x = keras.layers.ActivityRegularization(l1=0.01)(x)
        if bn_after:
            x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(dims[-1], activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("style", ["dense_act", "relu_layer", "activation"])
@pytest.mark.parametrize("bn", [None, "before", "after"])
@pytest.mark.parametrize("input_range", [(0.0, 1.0), (-3.0, 3.0), (2.0, 5.0)])
def test_preprocessing_preserves_the_function(style, bn, input_range, rng):
    model = _fc_model(bn_before=bn == "before", bn_after=bn == "after", style=style)
    _randomize_bn(model, rng)
    # Large weights so that weight-sum scaling really acts (sums above 0.99 and below -10).
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            w, b = layer.get_weights()
            layer.set_weights([rng.normal(0, 3.0, w.shape), rng.normal(0, 1.0, b.shape)])
    p, q = input_range
    x_calib = rng.uniform(p, q, (300, 12))
    pre = snnmap.preprocess(model, x_calib, input_range=input_range, verbose=0)
    scaled = pre.report["scaled_neurons"]
    assert sum(c["above_upper_b"] for c in scaled.values()) > 0
    assert sum(c["below_lower_b"] for c in scaled.values()) > 0
    x = rng.uniform(p, q, (200, 12))
    assert _max_function_difference(model, pre, x) <= 1e-9
    # Only Dense layers remain; every hidden weight sum is now within [lower_b, upper_b].
    assert all(isinstance(l, keras.layers.Dense) for l in pre.model.layers[1:])
    for layer in hidden_layers(pre.model):
        s = np.asarray(layer.kernel).sum(axis=0)
        assert s.max() <= 0.99 + 1e-12 and s.min() >= -10.0 - 1e-9


def test_x_n_is_the_largest_hidden_activation(rng):
    model = _fc_model()
    x_calib = rng.uniform(0, 1, (257, 12))  # not a multiple of the batch size
    pre = snnmap.preprocess(model, x_calib, batch_size=64, verbose=0)
    x_hat = pre.normalize(x_calib)
    expected = []
    h = x_hat
    for layer in pre.model.layers[1:-1]:
        w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
        h = np.maximum(h @ w + b, 0.0)
        expected.append(h.max())
    np.testing.assert_allclose(pre.X_n, expected, rtol=0, atol=1e-12)
    assert list(pre.report["X_n"]) == [layer.name for layer in hidden_layers(pre.model)]


def _lenet_like(rng):
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.set_weights([rng.normal(0, 0.6, w.shape) for w in model.get_weights()])
    return model


def test_float32_calibration_pass_gives_the_float64_x_n(rng):
    """The float32 pass with its float64 recheck finds the float64 maxima (the oracle: every
    hidden layer's whole float64 output on every image, maximised here)."""
    model = _lenet_like(rng)
    x_calib = rng.uniform(0, 1, (300, 12, 12, 1))
    pre = snnmap.preprocess(model, x_calib, batch_size=64, verbose=0)
    assert pre.report["X_n_measured"]["dtype"] == "float32"
    probe = keras.Model(pre.model.inputs, [layer.output for layer in hidden_layers(pre.model)])
    outputs = probe.predict_on_batch(pre.normalize(x_calib))
    expected = [float(np.max(o)) for o in outputs]
    np.testing.assert_allclose(pre.X_n, expected, rtol=0, atol=1e-12)
    per_image = np.stack([np.asarray(o).reshape(len(x_calib), -1).max(axis=1) for o in outputs], axis=1)
    np.testing.assert_allclose(pre.maxima, per_image, rtol=1e-5, atol=1e-6)
    measured = pre.report["X_n_measured"]
    assert 1 <= measured["rechecked_float64"] <= measured["recheck_per_layer"] * len(expected)
    assert not any(measured["raised_for_near_ties"])
    again = snnmap.preprocess(model, x_calib, batch_size=64, verbose=0, maxima_dtype="float64")
    np.testing.assert_allclose(again.maxima, per_image, rtol=0, atol=1e-12)
    assert again.X_n == pre.X_n


def test_near_ties_raise_x_n_to_a_safe_bound(rng):
    """When more images than are re-measured tie for the maximum, float32 cannot tell which
    is largest: X_n is raised (slightly) above it instead of possibly falling below."""
    model = _lenet_like(rng)
    x_calib = np.repeat(rng.uniform(0, 1, (1, 12, 12, 1)), 20, axis=0)
    pre = snnmap.preprocess(model, x_calib, batch_size=8, verbose=0)
    exact = snnmap.preprocess(model, x_calib, batch_size=8, verbose=0, maxima_dtype="float64").X_n
    assert all(pre.report["X_n_measured"]["raised_for_near_ties"])
    got, exact = np.array(pre.X_n), np.array(exact)
    assert np.all(got >= exact) and np.all(got <= exact * 1.0011)


def test_calibration_pass_dtype_is_checked(rng):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        snnmap.preprocess(_fc_model(), rng.uniform(0, 1, (10, 12)), verbose=0, maxima_dtype="float16")


def test_real_fashion_mnist_network(fashion, fashion_fc):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:3000], verbose=0)
    assert _max_function_difference(fashion_fc, pre, fashion.x_test[:1000]) <= 1e-9


def test_save_and_load_round_trip(tmp_path, rng):
    model = _fc_model(bn_after=True)
    _randomize_bn(model, rng)
    pre = snnmap.preprocess(model, rng.uniform(0, 1, (100, 12)), verbose=0)
    pre.save(str(tmp_path), "net")
    again = snnmap.Preprocessed.load(str(tmp_path), "net")
    x = pre.normalize(rng.uniform(0, 1, (20, 12)))
    np.testing.assert_array_equal(pre.model.predict_on_batch(x), again.model.predict_on_batch(x))
    assert again.X_n == pre.X_n and again.input_range == pre.input_range
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_missing_phase1_files(tmp_path):
    with pytest.raises(snnmap.MissingPhase1Error, match="run phase 1"):
        snnmap.Preprocessed.load(str(tmp_path), "nothing")


# -- refused input ------------------------------------------------------------------

def test_unsupported_activation_is_named():
    inputs = keras.Input((5,))
    x = keras.layers.Dense(4, activation="sigmoid", name="squash")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'squash'.*sigmoid"):
        snnmap.preprocess(model, np.zeros((4, 5)), verbose=0)


def test_residual_connection_is_refused():
    inputs = keras.Input((6,))
    a = keras.layers.Dense(6, activation="relu")(inputs)
    b = keras.layers.Dense(6, activation="relu")(a)
    s = keras.layers.Add(name="skip")([a, b])
    model = keras.Model(inputs, keras.layers.Dense(2)(s))
    with pytest.raises(snnmap.UnsupportedLayerError) as info:
        snnmap.preprocess(model, np.zeros((4, 6)), verbose=0)
    assert "branches" in str(info.value) or "skip" in str(info.value)


def test_unknown_layer_type_is_named():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.LayerNormalization(name="ln"), keras.layers.Dense(2)])
    with pytest.raises(snnmap.UnsupportedLayerError, match="'ln' \\(LayerNormalization\\)"):
        snnmap.preprocess(model, np.zeros((4, 8)), verbose=0)


def test_output_relu_is_refused():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="relu")])
    with pytest.raises(snnmap.UnsupportedLayerError, match="last layer"):
        snnmap.preprocess(model, np.zeros((4, 8)), verbose=0)


def test_nan_weights_are_refused(rng):
    model = _fc_model()
    layer = model.layers[2]
    w, b = layer.get_weights()
    w[0, 0] = np.nan
    layer.set_weights([w, b])
    with pytest.raises(snnmap.InvalidWeightsError, match=f"'{layer.name}'.*NaN"):
        snnmap.preprocess(model, rng.uniform(0, 1, (10, 12)), verbose=0)


def test_wrong_calibration_shape(rng):
    with pytest.raises(snnmap.ShapeError, match=r"\(10, 13\).*\(12,\)"):
        snnmap.preprocess(_fc_model(), rng.uniform(0, 1, (10, 13)), verbose=0)


def test_bad_input_range(rng):
    with pytest.raises(ValueError, match="q > p"):
        snnmap.preprocess(_fc_model(), rng.uniform(0, 1, (10, 12)), input_range=(1.0, 0.0), verbose=0)


def test_sequential_and_nested_models_are_walked(rng):
    inner = keras.Sequential([keras.Input((12,)), keras.layers.Dense(9, activation="relu")], name="inner")
    model = keras.Sequential([keras.Input((12,)), inner, keras.layers.Dropout(0.1), keras.layers.Dense(3)])
    x = rng.uniform(0, 1, (50, 12))
    pre = snnmap.preprocess(model, x, verbose=0)
    assert _max_function_difference(model, pre, x) <= 1e-9
