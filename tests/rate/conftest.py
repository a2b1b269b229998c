"""Networks the rate-coded tests share: the shipped Fashion-MNIST FC after phase 1, and a small CNN."""

import keras
import numpy as np
import pytest

import snnmap


@pytest.fixture(scope="session")
def fc_pre(fashion, fashion_fc):
    """Phase 1 of the shipped FC network on 2,000 real training images."""
    return snnmap.preprocess(fashion_fc, fashion.x_train[:2000], verbose=0)


@pytest.fixture(scope="session")
def small_cnn_pre():
    """Phase 1 of a small random CNN (conv, zero padding, max pooling, flatten, dense) on random images."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.ZeroPadding2D(1),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(5),
    ])
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([w + 0.05 * (i == 1) for i, w in enumerate(layer.get_weights())])
    x = np.random.default_rng(0).random((300, 12, 12, 1)).astype("float32")
    return snnmap.preprocess(model, x[:200], verbose=0), x
