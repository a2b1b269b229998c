"""Convolutional networks: phase 1 keeps the function, the SNN reproduces the ReLU network.

Oracles: the original Keras model run in float64 (phase 1), and the preprocessed ReLU
network's own layers (exactness of every spiking layer, via snnmap.evaluate).
"""

import keras
import numpy as np
import pytest

import snnmap
from snnmap import zoo
from snnmap.pipeline import graph
from snnmap.pipeline.evaluate import spiking_layers


def _randomize_bn(model, rng, negative=0.3):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            gamma = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n, p=[negative, 1 - negative])
            layer.set_weights([gamma, rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.3, 2.0, n)])


def _function_difference(model, pre, x):
    ref = np.asarray(graph.with_dtype(model, "float64").predict_on_batch(np.asarray(x, np.float64)))
    got = np.asarray(pre.model.predict_on_batch(pre.normalize(x)))
    return float(np.max(np.abs(ref - got)))


def small_vgg(input_shape=(28, 28, 1), bn=True):
    """A few layers of the paper's VGG pattern: Conv - ReLU - BN - (MaxPool)."""
    return zoo.vgg([8, "pool", 12, 12, "pool", 16], dense=(20,), input_shape=input_shape, bn=bn, name="small_vgg")


def odd_net(input_shape=(17, 15, 2)):
    """Kernel sizes 3 and 5, strides 1 and 2, both paddings, BN after ReLU through max
    pooling, zero padding, average pooling and global average pooling."""
    i = keras.Input(input_shape)
    x = keras.layers.Conv2D(5, 5, strides=2, padding="same", activation="relu")(i)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Conv2D(6, 3, padding="same")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = keras.layers.Conv2D(7, 3, strides=2, padding="valid", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.AveragePooling2D(1)(x)
    x = keras.layers.Conv2D(8, 3, strides=1, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(i, x)


@pytest.mark.parametrize("input_range", [(0.0, 1.0), (-1.0, 2.0)])
def test_lenet5_preprocessing(input_range, rng):
    model = zoo.lenet5()
    _randomize_bn(model, rng)
    p, q = input_range
    pre = snnmap.preprocess(model, rng.uniform(p, q, (64, 28, 28, 1)), input_range=input_range, verbose=0)
    assert _function_difference(model, pre, rng.uniform(p, q, (32, 28, 28, 1))) <= 1e-9
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in pre.model.layers)


@pytest.mark.parametrize("input_range", [(0.0, 1.0), (-3.0, 3.0)])
def test_vgg_with_bn_after_relu_and_negative_scales(input_range, rng):
    model = small_vgg()
    _randomize_bn(model, rng, negative=0.5)
    p, q = input_range
    pre = snnmap.preprocess(model, rng.uniform(p, q, (64, 28, 28, 1)), input_range=input_range, verbose=0)
    assert _function_difference(model, pre, rng.uniform(p, q, (32, 28, 28, 1))) <= 1e-9
    pools = [l for l in pre.model.layers if isinstance(l, keras.layers.MaxPooling2D)]
    assert any(getattr(l, "signs", None) and -1 in l.signs for l in pools), "expected min pooling channels"
    maps = [l for l in pre.model.layers if isinstance(l, snnmap.layers.relu.BiasMapConv2D)]
    assert maps, "BN after ReLU into a zero-padded conv needs per-position bias maps"


def test_odd_shapes_preprocessing_and_snn(rng):
    model = odd_net()
    _randomize_bn(model, rng, negative=0.4)
    x = rng.uniform(-1, 1, (40, 17, 15, 2))
    pre = snnmap.preprocess(model, x, input_range=(-1, 1), verbose=0)
    assert _function_difference(model, pre, x[:16]) <= 1e-9
    snn = snnmap.to_snn(pre)
    r = snnmap.evaluate(snn, x, relu_model=pre.model, input_range=(-1, 1), verbose=0)
    assert r["agreement"] == 1.0
    assert r["max_abs_error"] <= 1e-9
    assert r["violations"] == 0


def test_keras_applications_vgg16_preprocessing_and_snn(rng):
    """`keras.applications.VGG16(weights=None)` as it is (small input, its own classifier)."""
    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None, include_top=True, input_shape=(32, 32, 3), classes=7)
    x = rng.uniform(-120.0, 150.0, (6, 32, 32, 3))
    pre = snnmap.preprocess(model, x, input_range=(-123.68, 151.061), verbose=0)
    assert len(pre.X_n) == 15
    assert _function_difference(model, pre, x) <= 1e-9
    snn = snnmap.to_snn(pre)
    r = snnmap.evaluate(snn, x, relu_model=pre.model, input_range=(-123.68, 151.061), verbose=0)
    assert r["agreement"] == 1.0 and r["max_abs_error"] <= 1e-9


@pytest.fixture(scope="module")
def fashion_images(fashion):
    return (fashion.x_train.reshape(-1, 28, 28, 1), fashion.y_train,
            fashion.x_test.reshape(-1, 28, 28, 1), fashion.y_test)


@pytest.mark.parametrize("arch", ["lenet5", "small_vgg"])
def test_snn_reproduces_cnn_on_real_fashion_mnist(arch, fashion_images, rng):
    x_train, y_train, x_test, y_test = fashion_images
    model = zoo.lenet5() if arch == "lenet5" else small_vgg()
    zoo.train(model, x_train[:3000], y_train[:3000], epochs=1, batch_size=64, verbose=0, seed=1)
    pre = snnmap.preprocess(model, x_train[:2000], verbose=0)
    snn = snnmap.to_snn(pre)
    r = snnmap.evaluate(snn, x_test[:300], y_test[:300], relu_model=pre.model, verbose=0)
    assert r["agreement"] == 1.0
    assert r["max_abs_error"] <= 1e-9 and r["max_abs_error_end_to_end"] <= 1e-9
    assert r["violations"] == 0
    assert r["accuracy_snn"] == r["accuracy_relu_preprocessed"]
    # float32 keeps the predictions (docs/method.md §9: the code, not the dtype, is exact).
    r32 = snnmap.evaluate(snnmap.to_snn(pre, dtype="float32"), x_test[:300], y_test[:300], relu_model=pre.model,
                          verbose=0)
    assert r32["dtype"] == "float32" and r32["agreement"] == 1.0 and r32["max_abs_error"] < 1e-3
    # solver="exact" and "scan" give the same spike times.
    probe = {s: keras.Model(n.inputs, [l.output for l in spiking_layers(n)])
             for s, n in (("auto", snn), ("scan", snnmap.to_snn(pre, solver="scan")))}
    t = snnmap.encode(x_test[:20])
    a, b = probe["auto"].predict_on_batch(t), probe["scan"].predict_on_batch(t)
    assert max(float(np.max(np.abs(u - v))) for u, v in zip(a, b)) <= 1e-9


def test_unsupported_conv_configurations(rng):
    i = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, dilation_rate=2, activation="relu", name="dilated")(i)
    model = keras.Model(i, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'dilated'.*dilation"):
        snnmap.preprocess(model, rng.uniform(0, 1, (2, 8, 8, 2)), verbose=0)
    i = keras.Input((8, 8, 2))
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(i)
    model = keras.Model(i, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'depthwise'"):
        snnmap.preprocess(model, rng.uniform(0, 1, (2, 8, 8, 2)), verbose=0)


def test_wrong_image_shape(rng):
    model = zoo.lenet5()
    with pytest.raises(snnmap.ShapeError, match=r"\(4, 784\).*\(28, 28, 1\)"):
        snnmap.preprocess(model, rng.uniform(0, 1, (4, 784)), verbose=0)
