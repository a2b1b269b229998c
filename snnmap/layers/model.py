"""The spiking model class: a functional Keras model that keeps its input dtype and knows its input range."""

from __future__ import annotations

import keras

from ..runtime import check_input_range, floatx


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingModel(keras.Model):
    """A functional Keras model of spiking layers.

    Identical to ``keras.Model`` except that ``predict`` and ``evaluate`` run with
    ``keras.config.floatx()`` set to the model's input dtype, so that
    ``model.predict(snnmap.encode(x))`` keeps float64 spike times (docs/method.md §9: Keras
    otherwise casts NumPy float64 input to float32 before the model sees it, and the
    spike times lose the precision that makes the SNN exact).

    It also carries :attr:`input_range`, the ``(p, q)`` of the original inputs it was built
    for (``None`` for models saved before it existed), saved with the model.
    """

    def __init__(self, *args, input_range=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_range = None if input_range is None else check_input_range(input_range)

    def _input_dtype(self):
        return keras.backend.standardize_dtype(self.inputs[0].dtype)

    def predict(self, x, *args, **kwargs):
        with floatx(self._input_dtype()):
            return super().predict(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        with floatx(self._input_dtype()):
            return super().evaluate(x, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        if getattr(self, "input_range", None) is not None:
            config["input_range"] = list(self.input_range)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        input_range = config.pop("input_range", None)  # absent in models saved before it existed
        model = super().from_config(config, custom_objects=custom_objects)
        model.input_range = None if input_range is None else check_input_range(input_range)
        return model
