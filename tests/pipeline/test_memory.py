"""Phase 2 streams: its peak memory does not grow with the number of test images.

Measured, not timed: the peak RSS of a subprocess that evaluates an SNN on a stream of N
synthetic images (generated batch by batch, never held together), for a small and a 10x
larger N.
"""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO

SCRIPT = r"""
import json, resource, sys
import numpy as np
import keras
import snnmap
n_images, batch = int(sys.argv[1]), 250
rng = np.random.default_rng(0)
inputs = keras.Input((784,))
x = keras.layers.Dense(400, activation="relu")(inputs)
model = keras.Model(inputs, keras.layers.Dense(10)(x))
pre = snnmap.preprocess(model, rng.uniform(0, 1, (500, 784)), verbose=0)
snn = snnmap.to_snn(pre)

def images():
    for _ in range(n_images // batch):
        yield rng.uniform(0, 1, (batch, 784)), rng.integers(0, 10, batch)

snnmap.evaluate(snn, images(), relu_model=pre.model, batch_size=batch, verbose=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = snnmap.evaluate(snn, images(), relu_model=pre.model, batch_size=batch, verbose=0)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": r["n_test"], "peak_kib_before": before, "peak_kib_after": after}))
"""


def peak(n_images):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n_images)], capture_output=True, text=True, env=env,
                         timeout=900, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_phase2_memory_is_flat_in_the_number_of_images():
    small, large = peak(1000), peak(10000)
    assert small["n"] == 1000 and large["n"] == 10000
    # 10x the images (the 10,000 would take 63 MB as float64 if they were ever held
    # together); the second pass may not raise the peak by more than 30 MB.
    growth_kib = large["peak_kib_after"] - large["peak_kib_before"]
    assert growth_kib < 30 * 1024, f"peak RSS grew by {growth_kib / 1024:.1f} MB over 10,000 streamed images"
    assert large["peak_kib_after"] - small["peak_kib_after"] < 60 * 1024
