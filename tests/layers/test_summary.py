"""``snn.summary()`` says which of its parameters are the network's own (issue 27, item 11).

Keras counts every weight of the spiking layers; most are constants derived once from the
ReLU parameters (docs/solver.md, "What a spiking layer stores").  The own-parameter count is
checked against the ReLU network it came from, counted here from the ReLU layers alone.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import snnmap  # noqa: E402


@pytest.fixture(scope="module")
def converted():
    """A small CNN with a padded and an unpadded convolution, pooling and two dense layers."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Dense(3),
    ])
    x = np.random.default_rng(0).uniform(0.0, 1.0, (32, 8, 8, 1)).astype("float32")
    pre = snnmap.preprocess(model, x, input_range=(0.0, 1.0), verbose=0)
    return pre, snnmap.to_snn(pre, zeta=0.5)


def _relu_params(model):
    """Kernel and bias sizes of the ReLU network's weighted layers; hidden convolutions also
    their output size (positions x channels), where the SNN has one threshold per neuron."""
    params, per_position = 0, 0
    weighted = [layer for layer in model.layers if layer.weights]
    for layer in weighted:
        params += sum(int(np.prod(w.shape)) for w in layer.weights)
        if len(layer.output.shape) == 4 and layer is not weighted[-1]:
            per_position += int(np.prod(layer.output.shape[1:])) - int(layer.output.shape[-1])
    return params, per_position


def test_own_parameters_are_the_relu_networks(converted):
    pre, snn = converted
    params, per_position = _relu_params(pre.model)
    # Dense layers: kernel + theta (or alpha) per unit = kernel + bias.  A hidden convolution's
    # bias is per channel, its theta per position and channel (the bias folded into each).
    assert per_position > 0
    assert snn.count_own_params() == params + per_position
    assert snn.count_params() > snn.count_own_params()


def test_every_derived_weight_is_non_trainable(converted):
    _, snn = converted
    assert snn.trainable_weights == []
    own = {id(w) for layer in snn.layers if hasattr(layer, "own_weights") for w in layer.own_weights()}
    derived = [w for w in snn.weights if id(w) not in own]
    assert derived and not any(w.trainable for w in derived)
    names = {w.path.rsplit("/", 1)[-1] for w in derived}
    assert {"inv_slope", "offset", "kernel_pos", "kernel_neg"} <= names


def test_summary_explains_the_count(converted):
    _, snn = converted
    lines = []
    snn.summary(print_fn=lambda text, **kwargs: lines.append(text))
    last = lines[-1]
    assert f"Own parameters: {snn.count_own_params():,}" in last
    assert f"the other {snn.count_params() - snn.count_own_params():,} are constants" in last
    assert "What a spiking layer stores" in last
