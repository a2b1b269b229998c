"""Property: every small chain of supported layers converts exactly, and every lookalike is refused by name.

Hypothesis draws small architectures from the layers snnmap maps (Dense, Conv2D, BatchNormalization
before or after the ReLU, ReLU as an activation or as a layer, MaxPooling2D, AveragePooling2D,
ZeroPadding2D, Flatten, GlobalAveragePooling2D, Dropout, a softmax at the end) and, in some draws,
one lookalike (a Dense subclass with its own call(), a sigmoid named ``relu``, LeakyReLU, an
int8-quantized model).  Each model either converts with ``snnmap.convert`` and then reproduces the
ORIGINAL network's float64 pre-softmax logits (the oracle: the Keras model itself) to 1e-9 on fresh
inputs, or is refused with an error that names one of its layers; a lookalike is always refused.
"""

import warnings

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import snnmap
from snnmap.pipeline import graph

#: Bounded so the property runs in the default suite in well under a minute.
MAX_EXAMPLES = 50


class OwnCallDense(keras.layers.Dense):
    """Looks like a Dense, computes tanh of it."""

    def call(self, inputs):
        return keras.ops.tanh(super().call(inputs))


def relu(x):
    """A sigmoid that calls itself relu."""
    return keras.ops.sigmoid(x)


LOOKALIKES = ("own_call_dense", "fake_relu", "leaky_relu", "int8")


def _activation(x, how, name, lookalike):
    """A ReLU after the layer just added, as a layer (``how``) unless the layer carries it."""
    if lookalike == "leaky_relu":
        return keras.layers.LeakyReLU(name=name)(x)
    if how == "layer":
        return keras.layers.ReLU(name=name)(x)
    if how == "activation":
        return keras.layers.Activation("relu", name=name)(x)
    return x


def _block(x, draw, k, conv, lookalike):
    """One hidden layer with its ReLU, batch norms, and what may follow it."""
    how = draw(st.sampled_from(["argument", "layer", "activation"]))
    bn_before, bn_after = draw(st.booleans()), draw(st.booleans())
    inline = how == "argument" and not bn_before and lookalike not in ("leaky_relu",)
    act = (relu if lookalike == "fake_relu" else "relu") if inline else None
    name = f"hidden{k}"
    if conv:
        if draw(st.booleans()):
            x = keras.layers.ZeroPadding2D(1, name=f"pad{k}")(x)
        size = draw(st.integers(1, min(3, x.shape[1], x.shape[2])))  # never larger than its input
        x = keras.layers.Conv2D(draw(st.integers(2, 3)), size, strides=draw(st.integers(1, 2)),
                                padding=draw(st.sampled_from(["same", "valid"])), activation=act, name=name)(x)
    else:
        cls = OwnCallDense if lookalike == "own_call_dense" else keras.layers.Dense
        x = cls(draw(st.integers(3, 8)), activation=act, name=name)(x)
    if bn_before:
        x = keras.layers.BatchNormalization(name=f"bn_before{k}")(x)
    if not inline:
        if lookalike == "fake_relu":
            x = keras.layers.Activation(relu, name=f"relu{k}")(x)
        else:
            x = _activation(x, "layer" if how == "argument" else how, f"relu{k}", lookalike)
    if bn_after:
        x = keras.layers.BatchNormalization(name=f"bn_after{k}")(x)
    if conv and x.shape[1] >= 2 and x.shape[2] >= 2:
        pool = draw(st.sampled_from(["none", "max", "average"]))
        if pool == "max":
            x = keras.layers.MaxPooling2D(2, name=f"maxpool{k}")(x)
        elif pool == "average":
            x = keras.layers.AveragePooling2D(2, name=f"avgpool{k}")(x)
    if draw(st.booleans()):
        x = keras.layers.Dropout(0.3, name=f"dropout{k}")(x)
    return x


@st.composite
def networks(draw):
    """``(model, input_range, lookalike or None)``."""
    conv = draw(st.booleans())
    lookalike = draw(st.sampled_from((None,) * 4 + LOOKALIKES))
    # Where the lookalike goes: one hidden layer (Dense ones for own_call_dense).
    shape = (draw(st.integers(4, 6)), draw(st.integers(4, 6)), 2) if conv else (draw(st.integers(3, 8)),)
    inputs = keras.Input(shape)
    x = inputs
    n_hidden = draw(st.integers(1, 2))
    for k in range(n_hidden):
        which = lookalike if lookalike in ("fake_relu", "leaky_relu") and k == 0 else None
        x = _block(x, draw, k, conv, which)
    if conv:
        x = (keras.layers.GlobalAveragePooling2D(name="gap")(x) if draw(st.booleans())
             else keras.layers.Flatten(name="flatten")(x))
    if lookalike == "own_call_dense" or (conv and draw(st.booleans())):
        x = _block(x, draw, n_hidden, False, lookalike if lookalike == "own_call_dense" else None)
    softmax = draw(st.sampled_from(["none", "argument", "layer"]))
    x = keras.layers.Dense(3, activation="softmax" if softmax == "argument" else None, name="logits")(x)
    if softmax == "layer":
        x = keras.layers.Softmax(name="softmax")(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    model.set_weights([rng.normal(0.1, 0.5, w.shape) for w in model.get_weights()])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            gamma = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n, p=[0.3, 0.7])
            layer.set_weights([gamma, rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.uniform(0.2, 2.0, n)])
    if lookalike == "int8":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "InputLayer does not have a quantize method"
            model.quantize("int8")
    return model, draw(st.sampled_from([(0.0, 1.0), (-1.0, 3.0)])), lookalike


def _names_a_layer(err, model):
    text = str(err)
    return any(f"'{layer.name}'" in text for layer in model.layers) or f"'{model.name}'" in text


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_converts_exactly_or_refuses_by_name(net):
    model, input_range, lookalike = net
    rng = np.random.default_rng(0)
    x_calib = rng.uniform(*input_range, (64,) + graph.shape_of(model.inputs[0]))
    try:
        snn = snnmap.convert(model, x_calib, input_range=input_range, verbose=0)
    except (snnmap.SnnmapError, ValueError) as err:
        event(f"refused ({lookalike or 'supported layers'}): {type(err).__name__}: {str(err)[:150]}")
        assert _names_a_layer(err, model), f"refused without naming a layer: {err}"
        if lookalike is not None:
            assert isinstance(err, snnmap.UnsupportedLayerError), err
        return
    event("converted")
    assert lookalike is None, f"the lookalike {lookalike} was converted"
    x = rng.uniform(*input_range, (16,) + graph.shape_of(model.inputs[0]))
    # Called eagerly: a compiled predict per drawn model would cost more than the conversion.
    reference = np.asarray(graph.logits_model(model)(keras.ops.convert_to_tensor(x, "float64")), np.float64)
    logits = np.asarray(snn(keras.ops.convert_to_tensor(snnmap.encode(x, input_range), "float64")))
    scale = max(1.0, float(np.max(np.abs(reference))))
    assert np.max(np.abs(logits - reference)) <= 1e-9 * scale
