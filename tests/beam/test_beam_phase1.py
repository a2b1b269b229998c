"""X_n of the Beam calibration pass equal the single-machine X_n bit for bit."""

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import snnmap  # noqa: E402
from snnmap import beam  # noqa: E402
from snnmap.pipeline.calibrate import layer_maxima  # noqa: E402


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_beam_x_n_are_the_single_machine_x_n(fashion, fashion_fc, dtype):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:500], verbose=0)
    x = fashion.x_train[:3000]
    theirs = layer_maxima(pre.model, x, batch_size=256, verbose=0, dtype=dtype, recheck=3)
    ours = beam.layer_maxima(pre.model, x, batch_size=256, dtype=dtype, recheck=3,
                             beam_settings=beam.BeamSettings(running_mode="in_memory", num_workers=1,
                                                             verbose=False), log=lambda line: None)
    assert ours[0] == theirs[0]  # floats compared exactly
    assert np.array_equal(ours[1], theirs[1]) and ours[2] == theirs[2]


def test_preprocess_measures_x_n_through_the_beam_hook(fashion, fashion_fc):
    x = fashion.x_train[:1500]
    calls = []

    def on_beam(*args, **kwargs):
        calls.append(kwargs)
        return beam.layer_maxima(*args, **kwargs, log=lambda line: None,
                                 beam_settings=beam.BeamSettings(running_mode="in_memory", num_workers=1,
                                                                 verbose=False))

    ours = snnmap.preprocess(fashion_fc, x, batch_size=256, verbose=0, maxima=on_beam)
    theirs = snnmap.preprocess(fashion_fc, x, batch_size=256, verbose=0)
    assert len(calls) == 1  # the hook measured X_n, not the single-machine pass
    assert ours.X_n == theirs.X_n and np.array_equal(ours.maxima, theirs.maxima)  # bit for bit
    assert ours.report["n_calibration"] == 1500
