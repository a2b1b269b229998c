"""The spiking model class: a functional Keras model that keeps its input dtype."""

from __future__ import annotations

import keras

from ..runtime import floatx


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingModel(keras.Model):
    """A functional Keras model of spiking layers.

    Identical to ``keras.Model`` except that ``predict`` and ``evaluate`` run with
    ``keras.config.floatx()`` set to the model's input dtype, so that
    ``model.predict(snnmap.encode(x))`` keeps float64 spike times (docs/method.md §9: Keras
    otherwise casts NumPy float64 input to float32 before the model sees it, and the
    spike times lose the precision that makes the SNN exact).
    """

    def _input_dtype(self):
        return keras.backend.standardize_dtype(self.inputs[0].dtype)

    def predict(self, x, *args, **kwargs):
        with floatx(self._input_dtype()):
            return super().predict(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        with floatx(self._input_dtype()):
            return super().evaluate(x, *args, **kwargs)
