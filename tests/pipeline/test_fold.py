"""Folding (one handler per layer type) and weight-sum scaling keep the network function
(to 1e-9 in float64) and refuse what they cannot map, naming the layer.

The oracle is the original Keras model itself, run in float64 on the raw inputs.
"""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline import fold
from snnmap.pipeline.preprocess import hidden_layers

from pipeline import nets


@pytest.mark.parametrize("style", ["dense_act", "relu_layer", "activation"])
@pytest.mark.parametrize("bn", [None, "before", "after"])
@pytest.mark.parametrize("input_range", [(0.0, 1.0), (-3.0, 3.0), (2.0, 5.0)])
def test_preprocessing_preserves_the_function(style, bn, input_range, rng):
    model = nets.fc_model(bn_before=bn == "before", bn_after=bn == "after", style=style)
    nets.randomize_bn(model, rng)
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
    assert nets.max_function_difference(model, pre, x) <= 1e-9
    # Only Dense layers remain; every hidden weight sum is now within [lower_b, upper_b].
    assert all(isinstance(l, keras.layers.Dense) for l in pre.model.layers[1:])
    for layer in hidden_layers(pre.model):
        s = np.asarray(layer.kernel).sum(axis=0)
        assert s.max() <= 0.99 + 1e-12 and s.min() >= -10.0 - 1e-9


def test_sequential_and_nested_models_are_walked(rng):
    inner = keras.Sequential([keras.Input((12,)), keras.layers.Dense(9, activation="relu")], name="inner")
    model = keras.Sequential([keras.Input((12,)), inner, keras.layers.Dropout(0.1), keras.layers.Dense(3)])
    x = rng.uniform(0, 1, (50, 12))
    pre = snnmap.preprocess(model, x, verbose=0)
    assert nets.max_function_difference(model, pre, x) <= 1e-9


def test_batch_norm_without_center_or_scale_folds(rng):
    """BN weights are read by role (gamma, beta, moving statistics), honouring center/scale."""
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5)(inputs)
    x = keras.layers.BatchNormalization(center=False)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.BatchNormalization(scale=False)(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, n))
            layer.moving_variance.assign(rng.uniform(0.2, 2.0, n))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 2.0, n))
            if layer.center:
                layer.beta.assign(rng.normal(0, 0.5, n))
    x = rng.uniform(0, 1, (50, 6))
    pre = snnmap.preprocess(model, x, verbose=0)
    assert nets.max_function_difference(model, pre, x) <= 1e-9


def test_subclasses_of_mapped_layers_are_refused():
    class MyDense(keras.layers.Dense):
        pass

    class Squashing(keras.layers.Dense):
        def call(self, inputs):
            return keras.ops.sigmoid(super().call(inputs))

    assert fold.handler_for(keras.layers.Dense(3)) is fold.HANDLERS[keras.layers.Dense]
    with pytest.raises(snnmap.UnsupportedLayerError, match="'plain'.*subclass of Dense \\(MyDense\\)"):
        fold.handler_for(MyDense(3, name="plain"))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'squash'.*subclass of Dense.*its own call"):
        fold.handler_for(Squashing(3, name="squash"))
    with pytest.raises(snnmap.UnsupportedLayerError, match="LayerNormalization"):
        fold.handler_for(keras.layers.LayerNormalization(name="ln"))


# -- refused input ------------------------------------------------------------------

def test_unsupported_activation_is_named():
    inputs = keras.Input((5,))
    x = keras.layers.Dense(4, activation="sigmoid", name="squash")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'squash'.*sigmoid"):
        snnmap.preprocess(model, np.zeros((4, 5)), verbose=0)


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
    model = nets.fc_model()
    layer = model.layers[2]
    w, b = layer.get_weights()
    w[0, 0] = np.nan
    layer.set_weights([w, b])
    with pytest.raises(snnmap.InvalidWeightsError, match=f"'{layer.name}'.*NaN"):
        snnmap.preprocess(model, rng.uniform(0, 1, (10, 12)), verbose=0)


def test_bad_input_range(rng):
    with pytest.raises(ValueError, match="q > p"):
        snnmap.preprocess(nets.fc_model(), rng.uniform(0, 1, (10, 12)), input_range=(1.0, 0.0), verbose=0)
