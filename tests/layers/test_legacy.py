"""A spiking model saved before the layers were split by concept (snnmap 0.1 layout) still loads
and predicts what it predicted then: registered names and ``get_config`` keys are a file format.

tests/layers/fixtures/legacy_snn.keras is a small convolutional SNN (conv "same", max pooling,
conv "valid", dense, dense readout) converted and saved by the old code;
legacy_snn_io.npz holds its inputs ``x`` (in [0, 1]), its logits ``snn_out`` and those of its
ReLU network ``relu_out``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import snnmap  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def test_legacy_model_loads_and_predicts_identically():
    model = keras.saving.load_model(os.path.join(FIXTURES, "legacy_snn.keras"))
    io = np.load(os.path.join(FIXTURES, "legacy_snn_io.npz"))
    assert isinstance(model, snnmap.SpikingModel)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"SpikingConv2D", "SpikingMaxPooling2D", "SpikingDense"} <= kinds
    out = np.asarray(model.predict_on_batch(snnmap.encode(io["x"], (0, 1))), np.float64)
    np.testing.assert_allclose(out, io["snn_out"], rtol=0, atol=1e-12)
    # The SNN was exact when saved: its logits are the ReLU network's.
    np.testing.assert_allclose(out, io["relu_out"], rtol=0, atol=1e-4)
