"""The spiking model class: a functional Keras model that keeps its input dtype and knows its input range."""

from __future__ import annotations

import keras
import numpy as np

from ..runtime import check_input_range, floatx


#: Default batch size of :meth:`SpikingModel.predict`: the batch size snnmap's own evaluations use
#: (``Experiment.batch_size``); memory grows with it roughly as for the ReLU network it came from.
PREDICT_BATCH_SIZE = 256


class PaddedBatches(keras.utils.PyDataset):
    """An array's batches for ``predict``, the last one padded to the full batch size (its last
    row repeated), in ``dtype``.

    Keras traces a model once per batch shape: the short last batch of ``predict`` on an array
    would trace the whole SNN a second time (seconds for a convolutional one).  The caller
    drops the padded rows' outputs.

    Parameters
    ----------
    x : array_like
        The inputs; sliced one batch at a time (memory maps stay on disk).
    batch_size : int
    dtype : str
        The model's input dtype (what Keras's own cast would give under :func:`snnmap.runtime.floatx`).
    """

    def __init__(self, x, batch_size, dtype):
        super().__init__()
        self.x, self.batch_size, self.dtype = x, int(batch_size), dtype

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        batch = np.asarray(self.x[index * self.batch_size:(index + 1) * self.batch_size], dtype=self.dtype)
        if len(batch) < self.batch_size:
            batch = np.concatenate([batch, np.repeat(batch[-1:], self.batch_size - len(batch), axis=0)])
        return batch


def pads_last_batch(x, batch_size, args, kwargs):
    """Whether ``SpikingModel.predict(x, batch_size, *args, **kwargs)`` should go through
    :class:`PaddedBatches`: ``x`` is an array with more than one batch, the last one short, and
    nothing else in the call (``steps``, positional arguments) depends on Keras's own batching."""
    is_array = isinstance(x, np.ndarray) or (hasattr(x, "__array__") and hasattr(x, "shape")
                                             and not hasattr(x, "as_numpy_iterator"))
    if not is_array or args or kwargs.get("steps") is not None or np.ndim(x) == 0:
        return False
    n = len(x)
    return n > batch_size and n % batch_size != 0


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

    def predict(self, x, batch_size=None, *args, **kwargs):
        """Keras's ``predict`` in the model's input dtype; ``batch_size`` defaults to :data:`PREDICT_BATCH_SIZE`.

        Parameters
        ----------
        x : array_like
            Encoded inputs (:func:`snnmap.encode`).
        batch_size : int, optional
            Images per call; None: :data:`PREDICT_BATCH_SIZE` (Keras's own default of 32 makes
            many small calls, each paying the spiking layers' per-call overhead).
        *args, **kwargs
            Passed to ``keras.Model.predict``.

        An array whose last batch is short has that batch padded to ``batch_size``
        (:class:`PaddedBatches`; the padded rows' outputs are dropped), so the model is traced
        once, not twice.
        """
        batch_size = PREDICT_BATCH_SIZE if batch_size is None else batch_size
        with floatx(self._input_dtype()):
            if not pads_last_batch(x, batch_size, args, kwargs):
                return super().predict(x, batch_size, *args, **kwargs)
            out = super().predict(PaddedBatches(x, batch_size, self._input_dtype()), None, **kwargs)
        return out[:len(x)]

    def count_own_params(self):
        """How many of :meth:`count_params` are the network's own parameters.

        A spiking layer's own parameters are its kernel and one value per neuron (``theta``,
        or ``alpha`` for the output layer; ``own_weights`` of each layer); the rest are
        constants derived from them (docs/solver.md, "What a spiking layer stores").  For a
        dense network the count equals the preprocessed ReLU network's (kernel and bias of
        each layer); a hidden convolution adds one ``theta`` per output position and channel
        where the ReLU layer has one bias per channel.

        Returns
        -------
        int
        """
        return sum(int(np.prod(w.shape)) for layer in self.layers
                   for w in (layer.own_weights() if hasattr(layer, "own_weights") else []))

    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        """Keras's table, then a line saying how many of its parameters are the network's own.

        Parameters
        ----------
        line_length, positions, print_fn, **kwargs
            As for ``keras.Model.summary``; ``print_fn`` (default ``print``) also prints the
            last line.
        """
        super().summary(line_length=line_length, positions=positions, print_fn=print_fn, **kwargs)
        total, own = self.count_params(), self.count_own_params()
        (print_fn or print)(
            f" Own parameters: {own:,} (kernels, thresholds, output currents: docs/method.md §3); the other "
            f"{total - own:,} are constants: hidden neurons' unit input currents and values derived from the "
            "parameters (docs/solver.md, What a spiking layer stores)")

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
