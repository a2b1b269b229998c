import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import FASHION_DIR, FASHION_FC_WEIGHTS  # noqa: E402


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (flat), from Debian's IDX files."""
    if not os.path.isdir(FASHION_DIR):
        pytest.skip(f"Fashion-MNIST IDX files not installed in {FASHION_DIR}")
    from snnmap import datasets

    return datasets.load("FashionMNIST", source="idx", data_dir=FASHION_DIR, flat=True)


@pytest.fixture(scope="session")
def fashion_fc(fashion):
    """The shipped 784-600-10 network trained on Fashion-MNIST."""
    from snnmap import zoo

    model = zoo.fc()
    model.load_weights(FASHION_FC_WEIGHTS)
    return model


@pytest.fixture
def traces(monkeypatch):
    """A list that gets the name of each spiking layer traced (its ``call`` on graph tensors): every
    trace of a network calls each spiking layer once, so traces are counted, not timed."""
    import tensorflow as tf
    from snnmap.layers import SpikingLayer

    seen = []
    original = SpikingLayer.call

    def call(layer, inputs, *args, **kwargs):
        if not tf.executing_eagerly() and isinstance(inputs, tf.Tensor):
            seen.append(layer.name)
        return original(layer, inputs, *args, **kwargs)

    monkeypatch.setattr(SpikingLayer, "call", call)
    return seen


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The JAX-backend run (``test_jax_backend.py``) starts in the background once it is selected
    (after ``-k``/``-m``), and its test, which waits for it, moves to the end of the session."""
    jax = [item for item in items if item.name == "test_layer_and_equivalence_tests_pass_under_jax"]
    if not jax:
        return
    items[:] = [item for item in items if item not in jax] + jax
    jax[0].module.start(config)
