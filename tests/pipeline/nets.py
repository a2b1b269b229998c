"""Small networks and comparisons the phase-1 tests share.

The oracle of phase 1 is the original Keras model itself, run in float64 on the raw inputs.
"""

import keras
import numpy as np

from snnmap.pipeline import graph


def float64_copy(model):
    return graph.with_dtype(model, "float64")


def max_function_difference(model, pre, x):
    """Largest ``|original(x) - preprocessed(normalised x)|``, both in float64."""
    reference = np.asarray(float64_copy(model).predict_on_batch(np.asarray(x, np.float64)))
    got = np.asarray(pre.model.predict_on_batch(pre.normalize(x)))
    return float(np.max(np.abs(reference - got)))


def randomize_bn(model, rng):
    """Random batch-norm statistics, 30 % of the scales negative."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            gamma = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n, p=[0.3, 0.7])
            layer.set_weights([gamma, rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.uniform(0.2, 2.0, n)])


def fc_model(bn_before=False, bn_after=False, style="dense_act", dims=(12, 9, 7, 4)):
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


def lenet_like(rng):
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.set_weights([rng.normal(0, 0.6, w.shape) for w in model.get_weights()])
    return model


def small_conv():
    """Conv2D (stride 2, same padding) - Flatten - Dense."""
    i = keras.Input((5, 4, 2))
    x = keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu")(i)
    x = keras.layers.Flatten()(x)
    return keras.Model(i, keras.layers.Dense(4)(x))


def renamed(model, prefix="twin_"):
    """A copy of ``model`` (same weights) whose layers all have other names."""
    text = model.to_json()
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            text = text.replace(f'"{layer.name}"', f'"{prefix}{layer.name}"')
    copy = keras.models.model_from_json(text)
    copy.set_weights(model.get_weights())
    return copy
