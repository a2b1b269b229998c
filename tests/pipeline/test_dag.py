"""Folding graphs into sources (snnmap.pipeline.dag), checked against the original network itself."""

import keras
import numpy as np
import pytest

from snnmap.errors import UnsupportedLayerError
from snnmap.pipeline import dag, graph

L = keras.layers


def _randomize_bn(model, rng):
    """Batch norms with non-trivial statistics (some negative scales), so every fold does something."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.5, c))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c))
            if layer.scale:
                layer.gamma.assign(rng.normal(0.5, 0.8, c))
            if layer.center:
                layer.beta.assign(rng.normal(0.0, 0.3, c))


def _assert_exact(model, input_range=(0.0, 1.0), n=4, seed=0, randomize=True):
    """The folded network's logits equal the original network's (float64) to 1e-9."""
    rng = np.random.default_rng(seed)
    if randomize:
        _randomize_bn(model, rng)
    folded = dag.fold_graph(model, input_range)
    x_hat = rng.uniform(0.0, 1.0, (n,) + graph.shape_of(model.inputs[0]))
    p, q = input_range
    reference = np.asarray(graph.logits_model(model)((q - p) * x_hat + p))
    logits, _ = dag.run_folded(folded, x_hat)
    assert logits.shape == reference.shape
    assert np.max(np.abs(logits - reference)) <= 1e-9 * max(1.0, np.max(np.abs(reference)))
    return folded


def _bn_relu(x):
    return L.ReLU()(L.BatchNormalization()(x))


def resnet_v1():
    """Post-activation blocks: identity and projection shortcuts, BN after conv, ReLU after the merge."""
    x0 = keras.Input((12, 12, 2))
    x = _bn_relu(L.Conv2D(6, 3, padding="same")(x0))
    for filters, stride in ((6, 1), (8, 2)):
        y = _bn_relu(L.Conv2D(filters, 3, strides=stride, padding="same")(x))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        shortcut = x if stride == 1 else L.BatchNormalization()(L.Conv2D(filters, 1, strides=stride)(x))
        x = L.ReLU()(L.Add()([y, shortcut]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(x0, L.Dense(5, activation="softmax")(x))


def resnet_v2():
    """Pre-activation blocks (BN -> ReLU after the merge), a linear stem with max pooling, and a 1x1
    strided max pooling on the residual stream."""
    x0 = keras.Input((16, 16, 3))
    x = L.MaxPooling2D(3, 2)(L.ZeroPadding2D(1)(L.Conv2D(6, 3, padding="same")(x0)))
    for stride in (1, 2):
        preact = _bn_relu(x)
        y = L.Conv2D(4, 3, strides=stride, padding="same", activation="relu")(preact)
        y = L.Conv2D(6, 1)(y)
        shortcut = x if stride == 1 else L.MaxPooling2D(1, strides=2)(x)
        x = L.Add()([shortcut, y])
    x = _bn_relu(x)
    return keras.Model(x0, L.Dense(4)(L.Flatten()(x)))


def branches():
    """Concatenate of sources from different depths, BN after the merge, max pooling with negative BN
    scales, Subtract, depthwise convolution, average pooling, and a pooled linear stream read as a value."""
    x0 = keras.Input((10, 10, 2))
    a = L.Conv2D(4, 3, padding="same", activation="relu")(x0)
    b = L.Conv2D(3, 3, padding="same", activation="relu")(a)
    c = L.BatchNormalization()(L.Concatenate()([a, b, L.Conv2D(2, 1)(x0)]))
    c = L.ReLU()(c)
    d = L.MaxPooling2D()(L.BatchNormalization()(c))
    e = L.DepthwiseConv2D(3, padding="same", activation="relu")(d)
    pooled_linear = L.MaxPooling2D()(L.Conv2D(9, 3, padding="same")(c))
    f = L.Subtract()([L.Conv2D(9, 1)(e), pooled_linear])
    f = L.AveragePooling2D(2)(L.ReLU()(f))
    return keras.Model(x0, L.Dense(3)(L.Flatten()(f)))


@pytest.mark.parametrize("build", [resnet_v1, resnet_v2, branches])
def test_graphs_fold_exactly(build):
    keras.utils.set_random_seed(1)
    folded = _assert_exact(build(), input_range=(-1.0, 2.0))
    assert folded.sources[0].kind == "input"
    assert all(source.kind in ("relu", "maxpool") for source in folded.sources[1:])


def test_identity_shortcut_is_a_second_source():
    keras.utils.set_random_seed(2)
    folded = _assert_exact(resnet_v1())
    merged = [s for s in folded.sources if s.kind == "relu" and len({t.source for t in s.expr.terms}) == 2]
    # Two residual merges, each reading the block's conv population and the block's input.
    assert len(merged) == 2
    identity = [t for s in merged for t in s.expr.terms if not any(op.kernel for op in t.ops)]
    assert len(identity) == 1  # the identity shortcut; the other merge has a projection


def test_chain_folds_like_the_network():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                              L.BatchNormalization(), L.Flatten(), L.Dense(6, activation="relu"),
                              L.Dropout(0.5), L.Dense(3)])
    folded = _assert_exact(model)
    assert [s.kind for s in folded.sources] == ["input", "relu", "maxpool", "relu"]


def test_max_pooling_moves_after_relu_with_signs():
    keras.utils.set_random_seed(4)
    x0 = keras.Input((6, 6, 3))
    y = L.MaxPooling2D()(L.Conv2D(3, 3, padding="same")(x0))
    model = keras.Model(x0, L.Dense(2)(L.Flatten()(_bn_relu(y))))
    _randomize_bn(model, np.random.default_rng(5))
    model.layers[-4].gamma.assign([1.0, -1.0, 0.5])  # one channel becomes a min pooling
    folded = _assert_exact(model, seed=6, randomize=False)
    pool = [s for s in folded.sources if s.kind == "maxpool"]
    assert len(pool) == 1 and list(pool[0].config["signs"]) == [1.0, -1.0, 1.0]


@pytest.mark.parametrize("layer, why", [
    (L.Activation("sigmoid"), "cannot be mapped exactly"),
    (L.Conv2D(4, 1), "second kernel"),
])
def test_refusals_name_the_layer(layer, why):
    x0 = keras.Input((6, 6, 2))
    a = L.Conv2D(4, 3, padding="same")(x0)
    b = layer(a)
    model = keras.Model(x0, L.Dense(2)(L.Flatten()(L.ReLU()(L.Add()([a, b])))))
    with pytest.raises(UnsupportedLayerError, match=why) as err:
        dag.fold_graph(model)
    assert layer.name in str(err.value)


def test_softmax_before_the_end_is_refused():
    x0 = keras.Input((5,))
    h = L.Dense(4, activation="softmax")(x0)
    model = keras.Model(x0, L.Dense(2)(L.Add()([h, L.Dense(4, activation="relu")(x0)])))
    with pytest.raises(UnsupportedLayerError, match="softmax is only supported on the output"):
        dag.fold_graph(model)


def test_several_inputs_are_refused():
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], L.Dense(2)(L.Dense(4, activation="relu")(L.Add()([a, b]))))
    with pytest.raises(UnsupportedLayerError, match="2 inputs"):
        dag.fold_graph(model)


def test_relu_output_is_refused():
    x0 = keras.Input((5,))
    model = keras.Model(x0, L.Dense(3, activation="relu")(L.Dense(4, activation="relu")(x0)))
    with pytest.raises(UnsupportedLayerError, match="last layer must be a Dense"):
        dag.fold_graph(model)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "ResNet50V2", "DenseNet121"])
def test_keras_applications_fold_exactly(name):
    keras.utils.set_random_seed(7)
    model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=10)
    folded = _assert_exact(model, n=2)
    assert sum(s.kind == "relu" for s in folded.sources) >= 49
