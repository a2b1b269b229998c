"""bench/bench_layers.py's A/B of one layer under two solver configurations (its VGG16-224 run
takes minutes: only the comparison it is built on is tested here, on a small convolution).

Timings are never asserted (they depend on the machine and on what else runs on it).
"""

import keras
import numpy as np
import pytest

from conv_cases import early_case, make_conv
from helpers import bench_module

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="bench_layers compiles tf.functions")


def test_ab_layer_times_both_and_compares_outputs():
    """Two configurations that change only the work give equal outputs and a time each; an
    unknown solver field is refused before anything is timed."""
    import tensorflow as tf

    module = bench_module("bench_layers")
    w, b, x, _, X_n, zeta = early_case(0)
    layer = make_conv(w, b, x.shape[1:], 1, "same", X_n=X_n, zeta=zeta, dtype="float32")
    t = tf.constant((1.0 - x).astype(np.float32))
    base = layer.solver_config
    best, same = module.ab_layer(layer, t, [{}, {"grid_work": 0.0, "grid_later": -1.0, "position_share": 0.0}], 2)
    assert same
    assert len(best) == 2 and all(0 < s < 60 for s in best)
    assert layer.solver_config is base  # restored
    with pytest.raises(TypeError):
        module.ab_layer(layer, t, [{"no_such_field": 1}], 1)
