"""tf.distribute: evaluation over two (logical CPU) replicas equals the single-device run."""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO

SCRIPT = r"""
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np, keras, snnmap
from snnmap.runtime import distribute_scope, distribution
rng = np.random.default_rng(0)
i = keras.Input((6, 6, 2))
x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(i)
x = keras.layers.Flatten()(x)
model = keras.Model(i, keras.layers.Dense(3)(x))
x_cal, x_test, y = rng.uniform(0, 1, (50, 6, 6, 2)), rng.uniform(0, 1, (70, 6, 6, 2)), rng.integers(0, 3, 70)
pre = snnmap.preprocess(model, x_cal, verbose=0)
single = snnmap.evaluate(snnmap.to_snn(pre), x_test, y, relu_model=pre.model, batch_size=16, verbose=0)
with distribute_scope("mirrored"):
    replicas = distribution().num_replicas_in_sync
    multi = snnmap.evaluate(snnmap.to_snn(pre), x_test, y, relu_model=pre.model, batch_size=16, verbose=0)
keys = ["n_test", "accuracy_snn", "agreement", "violations", "informative_spike_fraction"]
print(json.dumps({"replicas": replicas, "single": {k: single[k] for k in keys}, "multi": {k: multi[k] for k in keys},
                  "errors": [single["max_abs_error"], multi["max_abs_error"]]}))
"""


@pytest.mark.slow
def test_mirrored_evaluation_equals_single_device():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, KERAS_BACKEND="tensorflow")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["replicas"] == 2
    assert r["single"] == r["multi"]
    assert max(r["errors"]) <= 1e-9
