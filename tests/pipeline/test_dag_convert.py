"""Spiking networks of graphs (snnmap.pipeline.dag_convert), checked against the original network itself:
residual, pre-activation, concatenating and depthwise graphs, and keras.applications ResNet50,
ResNet50V2 and DenseNet121."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap import encode
from snnmap.layers import SpikingModel
from snnmap.pipeline import graph
from snnmap.pipeline.preprocess import PreprocessedGraph
from tests.pipeline.test_dag import _randomize_bn, branches, resnet_v1, resnet_v2


def _snn_and_reference(model, input_range=(0.0, 1.0), n=6, calib=48, seed=0, **kwargs):
    """The graph SNN's logits and the original float64 network's on the first ``n`` calibration images."""
    rng = np.random.default_rng(seed)
    _randomize_bn(model, rng)
    p, q = input_range
    x = p + (q - p) * rng.uniform(0.0, 1.0, (calib,) + graph.shape_of(model.inputs[0]))
    snn = snnmap.convert(model, x, input_range=input_range, verbose=0, **kwargs)
    reference = np.asarray(graph.logits_model(model)(x[:n]))
    out = np.asarray(snn(keras.ops.convert_to_tensor(encode(x[:n], input_range), "float64")))
    return snn, out, reference


def _assert_exact(out, reference, tol=1e-9):
    assert out.shape == reference.shape
    assert np.max(np.abs(out - reference)) <= tol * max(1.0, np.max(np.abs(reference)))
    assert np.array_equal(out.argmax(-1), reference.argmax(-1))


@pytest.mark.parametrize("build", [resnet_v1, resnet_v2, branches])
def test_graph_snn_gives_the_networks_logits(build):
    keras.utils.set_random_seed(3)
    snn, out, reference = _snn_and_reference(build(), input_range=(-1.0, 2.0))
    assert isinstance(snn, SpikingModel)
    assert tuple(snn.input_range) == (-1.0, 2.0)
    _assert_exact(out, reference)


def mobile():
    """Depthwise-separable blocks with 'same' max pooling, a strided 1x1 projection shortcut and
    global average pooling: the parts of MobileNet-like graphs not covered by the other graphs."""
    L = keras.layers
    x0 = keras.Input((12, 12, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same")(x0)))
    y = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same")(x)))
    y = L.BatchNormalization()(L.Conv2D(8, 1)(y))
    x = L.ReLU()(L.Add()([x, y]))
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    y = L.Conv2D(12, 1, strides=2)(x)
    x = L.ReLU()(L.Add()([y, L.Conv2D(12, 3, strides=2, padding="same", activation="relu")(x)]))
    return keras.Model(x0, L.Dense(6)(L.GlobalAveragePooling2D()(x)))


def test_depthwise_separable_graph_is_exact():
    keras.utils.set_random_seed(4)
    _, out, reference = _snn_and_reference(mobile())
    _assert_exact(out, reference)


def test_a_sequential_chain_converts_like_a_graph():
    """A plain chain is a graph with one source per ReLU: the same exactness."""
    keras.utils.set_random_seed(5)
    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                              L.Flatten(), L.Dense(7, activation="relu"), L.Dense(3, activation="softmax")])
    _, out, reference = _snn_and_reference(model)
    _assert_exact(out, reference)


def test_float32_graph_snn_keeps_float32_precision():
    keras.utils.set_random_seed(6)
    _, out, reference = _snn_and_reference(resnet_v1(), dtype="float32")
    _assert_exact(out, reference, tol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("ResNet50", 64), ("ResNet50V2", 64), ("DenseNet121", 32)])
def test_keras_applications_graphs_are_exact(name, size):
    """The issue's networks as Keras ships them (random weights and batch-norm statistics)."""
    keras.utils.set_random_seed(7)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    _, out, reference = _snn_and_reference(model, n=1, calib=8)
    _assert_exact(out, reference)


def test_convert_takes_graphs_and_evaluate_measures_them(tmp_path):
    """snnmap.convert sends a residual network to the graph conversion; snnmap.evaluate checks every
    spiking layer against the ReLU twin rebuilt from the SNN, and the logits against the original."""
    keras.utils.set_random_seed(8)
    model = resnet_v1()
    rng = np.random.default_rng(8)
    _randomize_bn(model, rng)
    x = rng.uniform(0.0, 1.0, (40, 12, 12, 2))
    snn = snnmap.convert(model, x, verbose=0)
    r = snnmap.evaluate(snn, x, relu_model=model, verbose=0)
    assert r["relu_twin"] == "rebuilt from the SNN"
    assert r["agreement"] == 1.0 and r["violations"] == 0
    assert r["max_abs_error_original"] <= 1e-9 and r["max_abs_error"] <= 1e-9
    assert r["spikes_per_neuron"] == 1.0
    # The first layer (3x3 'same' on 12x12x2 -> 6 channels) reads padded input: padding drives no
    # synaptic event, so its events are C_out * C_in * (3*12 - 2)^2, not its 12*12*6*3*3*2 MACs.
    first = r["operations"]["layers"][0]
    assert first["relu_macs"] == 12 * 12 * 6 * 9 * 2 and first["snn_events"] == 6 * 2 * 34 * 34
    # The first block's merge reads a 3x3 convolution (6 -> 6) and the identity shortcut, stacked into
    # one kernel: the shortcut's zeros are no synapses, so it costs one operation per element.
    merge = r["operations"]["layers"][2]
    assert merge["relu_macs"] == 12 * 12 * 6 * 9 * 6 + 12 * 12 * 6

    path = str(tmp_path / "graph_snn.keras")
    snn.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    t = keras.ops.convert_to_tensor(encode(x[:4]), "float64")
    assert np.array_equal(np.asarray(again(t)), np.asarray(snn(t)))


def test_phase1_of_a_graph_saves_loads_and_pairs_with_its_snn(tmp_path):
    """preprocess gives a PreprocessedGraph whose ReLU network computes the original function, pairs
    layer by layer with the SNN (the evaluation's oracle), and survives save/load bit for bit."""
    keras.utils.set_random_seed(9)
    model = resnet_v2()
    rng = np.random.default_rng(9)
    _randomize_bn(model, rng)
    x = rng.uniform(-1.0, 2.0, (32, 16, 16, 3))
    pre = snnmap.preprocess(model, x, input_range=(-1.0, 2.0), verbose=0)
    assert isinstance(pre, PreprocessedGraph) and len(pre.X_n) == len(pre.hidden_layer_names)
    assert pre.maxima.shape == (32, len(pre.X_n)) and np.allclose(pre.maxima.max(axis=0), pre.X_n)
    reference = np.asarray(graph.logits_model(model)(x[:4]))
    ours = np.asarray(graph.logits_model(pre.model)(pre.normalize(x[:4])))
    assert np.max(np.abs(ours - reference)) <= 1e-9

    snn = snnmap.to_snn(pre)
    r = snnmap.evaluate(snn, x, relu_model=pre.model, verbose=0)
    assert r["relu_twin"] == "preprocessed ReLU network"
    assert r["agreement"] == 1.0 and r["violations"] == 0 and r["max_abs_error"] <= 1e-9

    pre.save(str(tmp_path), "net")
    again = snnmap.Preprocessed.load(str(tmp_path), "net")
    assert isinstance(again, PreprocessedGraph) and again.X_n == pre.X_n
    assert again.hidden_layer_names == pre.hidden_layer_names
    t = keras.ops.convert_to_tensor(encode(x[:4], (-1.0, 2.0)), "float64")
    assert np.array_equal(np.asarray(snnmap.to_snn(again)(t)), np.asarray(snn(t)))
    with pytest.raises(ValueError, match="x_quantile"):
        snnmap.to_snn(pre, x_quantile=1.5)


def test_a_graph_snapshot_keeps_the_networks_own_input():
    """The first spiking layer of a graph reads its input explicitly padded; the snapshot (and the
    raster drawn from it) keeps the network's input apart, padding excluded."""
    from snnmap.pipeline import snapshot

    keras.utils.set_random_seed(10)
    x = np.random.default_rng(10).uniform(0.0, 1.0, (8, 12, 12, 2))
    snn = snnmap.convert(resnet_v1(), x, verbose=0)
    snap = snapshot.take_snapshot(snn, x[:2], n_images=2)
    first = str(snap["layer_names"][0])
    assert snap["t_input"].shape == (2, 12, 12, 2) and snap[f"t_in/{first}"].shape == (2, 14, 14, 2)
    np.testing.assert_allclose(snap["t_input"], encode(x[:2]))
