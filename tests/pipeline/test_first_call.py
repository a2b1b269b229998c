"""What an SNN's first call costs, and what is paid only once (issue 27, item 10).

Most of an SNN's first call is tracing its layers into a graph.  A second evaluation of the
same SNN reuses the probe models (and their traced functions) of the first; a short last
batch is padded, so it is not traced again.  Traces are counted, not timed: every trace of a
network calls each spiking layer's ``call`` once on graph tensors.
"""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest

import snnmap
from snnmap.layers import SpikingLayer
from snnmap.pipeline import evaluate as evaluation

from pipeline import nets


@pytest.fixture(scope="module")
def converted():
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    model = nets.lenet_like(rng)
    x = rng.uniform(0.0, 1.0, (40, 12, 12, 1))
    pre = snnmap.preprocess(model, x, verbose=0)
    return pre, x


@pytest.fixture(scope="module")
def dense():
    """A small dense network: cheap to trace, for the tests that build several SNNs."""
    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    model = nets.fc_model()
    model.set_weights([rng.normal(0, 0.6, w.shape) for w in model.get_weights()])
    x = rng.uniform(0.0, 1.0, (24, 12))
    return snnmap.preprocess(model, x, verbose=0), x


def spiking_names(snn):
    return [layer.name for layer in snn.layers if isinstance(layer, SpikingLayer)]


def test_second_evaluate_reuses_the_trace(converted, traces):
    pre, x = converted
    snn = snnmap.to_snn(pre)
    # 40 images in batches of 16: the short last batch (8) is padded, not traced again.
    first = snnmap.evaluate(snn, x, relu_model=pre.model, batch_size=16, verbose=0)
    assert sorted(traces) == sorted(spiking_names(snn))
    traces.clear()
    second = snnmap.evaluate(snn, x, relu_model=pre.model, batch_size=16, verbose=0)
    assert traces == []  # before the probe cache: every spiking layer traced again
    assert first["max_abs_error"] < 1e-9  # exact against the ReLU twin, both times, with the same figures
    for key in ("max_abs_error", "max_abs_error_end_to_end", "accuracy_snn", "agreement", "violations"):
        assert second[key] == first[key]


def test_each_snn_gets_its_own_probe(dense, traces):
    """A new SNN (a sweep's next point) is traced: the cache never serves another SNN's graph."""
    pre, x = dense
    noisy = snnmap.to_snn(pre, noise=0.05, seed=1)
    plain = snnmap.to_snn(pre)
    jittered = snnmap.evaluate(noisy, x, relu_model=pre.model, batch_size=16, verbose=0)
    exact = snnmap.evaluate(plain, x, relu_model=pre.model, batch_size=16, verbose=0)
    assert sorted(traces) == sorted(spiking_names(noisy) + spiking_names(plain))
    assert exact["max_abs_error"] < 1e-9 < jittered["max_abs_error_end_to_end"]


def test_probe_is_freed_with_its_snn(dense):
    pre, x = dense
    snn = snnmap.to_snn(pre)
    snnmap.evaluate(snn, x[:8], relu_model=pre.model, verbose=0)
    assert snn in evaluation.PROBES
    ref = weakref.ref(snn)
    del snn
    gc.collect()
    assert ref() is None  # the cached probe does not keep a sweep's SNNs alive
    assert all(probe is not None for probe in evaluation.PROBES.values())
