"""The graph walk: topological order with inbound nodes; chains, and what is not one."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline import graph


def _residual():
    inputs = keras.Input((6,))
    a = keras.layers.Dense(6, activation="relu", name="a")(inputs)
    b = keras.layers.Dense(6, activation="relu", name="b")(a)
    s = keras.layers.Add(name="skip")([a, b])
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(s))


def test_walk_gives_each_node_its_inbound_nodes_in_topological_order():
    nodes = graph.walk(_residual())
    names = [n.name for n in nodes]
    assert names == ["a", "b", "skip", "out"]
    index = {name: k for k, name in enumerate(names)}
    assert nodes[index["a"]].inbound == (graph.INPUT,)
    assert nodes[index["b"]].inbound == (index["a"],)
    assert sorted(nodes[index["skip"]].inbound) == sorted((index["a"], index["b"]))
    assert nodes[index["out"]].inbound == (index["skip"],)
    assert nodes[index["skip"]].input_shapes == ((6,), (6,)) and nodes[index["out"]].output_shape == (2,)


def test_walk_opens_nested_models():
    inner = keras.Sequential([keras.Input((12,)), keras.layers.Dense(9, activation="relu", name="d1"),
                              keras.layers.Dense(7, name="d2")], name="inner")
    model = keras.Sequential([keras.Input((12,)), inner, keras.layers.Dropout(0.1, name="drop"),
                              keras.layers.Dense(3, name="d3")])
    nodes = graph.walk(model)
    assert [n.name for n in nodes] == ["d1", "d2", "drop", "d3"]
    assert [n.inbound for n in nodes] == [(graph.INPUT,), (0,), (1,), (2,)]


def test_chain_refuses_a_residual_connection_naming_the_merge():
    with pytest.raises(snnmap.UnsupportedLayerError, match="'skip'.*combines 2 tensors"):
        graph.chain(_residual())


def test_a_residual_connection_takes_the_graph_path_of_preprocess(rng):
    """Not a chain: preprocess folds it as a graph (docs/method.md §10), same function."""
    model = _residual()
    assert graph.is_chain(keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)]))
    assert not graph.is_chain(model)
    x = rng.uniform(0, 1, (8, 6))
    pre = snnmap.preprocess(model, x, verbose=0)
    assert type(pre).__name__ == "PreprocessedGraph"
    np.testing.assert_allclose(pre.model.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_side_by_side_branches_are_refused():
    inputs = keras.Input((6,))
    a = keras.layers.Dense(4, activation="relu", name="left")(inputs)
    b = keras.layers.Dense(4, activation="relu", name="right")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(snnmap.UnsupportedLayerError, match="branches.*'left', 'right'"):
        graph.chain(model)


def test_several_inputs_are_refused():
    i1, i2 = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([i1, i2], keras.layers.Dense(2)(keras.layers.Add()([i1, i2])))
    with pytest.raises(snnmap.UnsupportedLayerError, match="2 inputs"):
        graph.walk(model)


def test_unbuilt_model_and_non_model():
    with pytest.raises(ValueError, match="not built"):
        graph.walk(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(TypeError, match="keras.Model"):
        graph.walk(keras.layers.Dense(2))


def test_with_dtype_copies_weights_in_the_new_dtype(rng):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    copy = graph.with_dtype(model, "float64")
    assert all(np.asarray(w).dtype == np.float64 for w in copy.get_weights())
    x = rng.uniform(0, 1, (5, 4))
    np.testing.assert_allclose(copy.predict_on_batch(x), model.predict_on_batch(x.astype(np.float32)), rtol=1e-5)
    assert copy.predict_on_batch(x).dtype == np.float64
