"""``SpikingModel.predict`` traces the network once for an array whose last batch is short
(issue 27, item 10): the short batch is padded to the batch size and its padding dropped.

Traces are counted (each spiking layer's ``call`` on graph tensors), not timed; the outputs
are checked against the preprocessed ReLU network, the SNN's oracle.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import snnmap  # noqa: E402
from snnmap.layers import SpikingLayer  # noqa: E402


@pytest.fixture(scope="module")
def converted():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(6, activation="relu"),
        keras.layers.Dense(3),
    ])
    x = np.random.default_rng(7).uniform(0.0, 1.0, (21, 8, 8, 1))
    pre = snnmap.preprocess(model, x, verbose=0)
    return pre, x


def relu_logits(pre, x):
    """The preprocessed network's pre-softmax logits (its last Dense layer without activation)."""
    last = pre.model.layers[-1]
    features = keras.Model(pre.model.inputs, last.input).predict_on_batch(pre.normalize(x))
    w, b = (np.asarray(v, np.float64) for v in last.get_weights())
    return np.asarray(features, np.float64) @ w + b


def test_short_last_batch_is_not_traced_again(converted, traces):
    pre, x = converted
    snn = snnmap.to_snn(pre)
    out = snn.predict(snnmap.encode(x), batch_size=8, verbose=0)  # batches of 8, 8 and 5
    names = [layer.name for layer in snn.layers if isinstance(layer, SpikingLayer)]
    assert sorted(traces) == sorted(names)  # Keras alone traces again for the batch of 5
    assert out.shape == (21, 3) and out.dtype == np.float64
    assert np.max(np.abs(out - relu_logits(pre, x))) < 1e-9


def test_other_calls_keep_their_batches(converted):
    """One short batch, a multiple of the batch size, float32 spikes: the same values as before."""
    pre, x = converted
    snn = snnmap.to_snn(pre)
    expected = relu_logits(pre, x)
    for n, batch_size in ((5, 8), (16, 8)):
        out = snn.predict(snnmap.encode(x[:n]), batch_size=batch_size, verbose=0)
        assert out.shape == (n, 3) and np.max(np.abs(out - expected[:n])) < 1e-9
    out = snn.predict(snnmap.encode(x).astype(np.float32), batch_size=8, verbose=0)
    assert out.dtype == np.float64 and np.max(np.abs(out - expected)) < 1e-5
