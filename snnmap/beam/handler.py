"""The SNN in Beam's RunInference: a model handler that loads the saved SNN once per worker.

Each element is a record of consecutive test images (:mod:`.sources`); its result is the counts
of :mod:`snnmap.pipeline.evaluate` on those images (predictions against labels and against the
reference predictions, errors, violations, spike and operation counts), computed by the very
code of the single-machine run (``count_batch`` of its evaluation), so that combining them
(:mod:`.combine`) gives the single-machine figures exactly.
"""

from __future__ import annotations

import copy
import threading

import keras
import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from ..pipeline import evaluate
from ..runtime import check_shape, normalise
from .failures import record_error
from .sources import report_done


class RecordCounter:
    """The evaluation of one SNN, record by record (what a worker holds).

    Parameters
    ----------
    snn : keras.Model
        The SNN.
    relu_model : keras.Model
        The preprocessed network it was built from (the per-layer oracle).
    size : int
        The batch size the single-machine run traces its functions for (its first batch's length).
    clip : bool
        Clip the images to the input range instead of refusing values outside it.
    has_predictions, has_logits : bool
        Whether records carry the original network's predictions and logits.
    """

    def __init__(self, snn, relu_model, size, clip=False, has_predictions=False, has_logits=False):
        self.input_range = evaluate.resolve_input_range(snn)
        self.layers = evaluate.spiking_layers(snn)
        if not self.layers or not self.layers[-1].output_layer:
            raise ValueError("the SNN must end with a spiking output layer (output_layer=True)")
        probe_outputs = []
        for layer in self.layers:
            probe_outputs += [layer.input, layer.output]
        twin_model, twin_kind, original = evaluate.references(snn, self.layers, relu_model)
        # The single-machine evaluation's own batch step: one piece of code for both paths.
        self.run = evaluate.BatchCounter(snn, self.layers, keras.Model(snn.inputs, probe_outputs), twin_model,
                                         original, self.input_range)
        self.template = self._template(snn, twin_kind, original is not None or has_logits, has_predictions,
                                       has_logits)
        self.size, self.clip = int(size), bool(clip)
        self.shape = tuple(snn.inputs[0].shape[1:])
        self.noise0 = [layer.noise_state() for layer in self.layers]
        # A worker may run several bundles at once on its one model: the noise state is per model.
        self.lock = threading.Lock()

    def _template(self, snn, twin_kind, has_original, has_predictions, has_logits):
        """Empty counts with the keys :func:`snnmap.pipeline.evaluate.accumulate` sets before its loop."""
        totals = evaluate.new_totals(snn, self.run.masks)
        totals["agreement_reference"] = (evaluate.ORIGINAL if has_predictions or has_original
                                         else evaluate.PREPROCESSED)
        totals["exactness_reference"] = ("reference logits" if has_logits else
                                         evaluate.ORIGINAL if self.run.original is not None else None)
        totals["max_abs_error_original"] = 0.0 if has_original else None
        totals["relu_twin"] = twin_kind
        totals["input_range"] = [float(v) for v in self.input_range]
        totals["dtype"] = self.run.dtype
        totals["checked"] = True
        return totals

    def _replay_noise(self, batch_index):
        """Set each noisy layer's seed generator to where the single-machine run has it at this batch.

        A Keras seed generator's state is ``[seed, counter]`` and each call draws once, so batch
        ``k`` of the sequential run sees the counter advanced by ``k``.
        """
        for layer, state in zip(self.layers, self.noise0):
            if state is not None:
                layer.set_noise_state(state + np.array([0, batch_index], dtype=state.dtype))

    def count(self, record):
        """The counts of one record (see :func:`snnmap.pipeline.evaluate.new_totals`).

        Parameters
        ----------
        record : dict
            From :mod:`.sources`.
        """
        totals = copy.deepcopy(self.template)
        x, y = record["x"], record["y"]
        what = f"test image of {record['origin']}"
        check_shape(x, self.shape, what)
        x_hat = normalise(x, self.input_range, what, clip=self.clip)
        labels = None if y is None else np.asarray(y).reshape(-1)
        refs = evaluate.References(record["predictions"], record["logits"])
        with self.lock:
            self._replay_noise(record["start"] // self.size)
            self.run.count_batch(totals, x_hat, labels, refs, self.size)
        return totals


class SnnModelHandler(ModelHandler):
    """Loads the saved SNN (``.keras``, ``safe_mode=True``) and its preprocessed network once per worker.

    Parameters
    ----------
    snn_path, relu_path : str
        The saved SNN and preprocessed network (``.keras``), readable by every worker.
    size : int
        The single-machine run's batch size (its first batch's length).
    clip : bool
        Clip the images to the input range.
    has_predictions, has_logits : bool
        Whether records carry the original network's predictions and logits.
    verbose : bool
        Print a line per finished record.
    """

    def __init__(self, snn_path, relu_path, size, clip=False, has_predictions=False, has_logits=False,
                 verbose=True):
        super().__init__()
        self.snn_path, self.relu_path, self.size, self.clip = snn_path, relu_path, size, clip
        self.has_predictions, self.has_logits, self.verbose = has_predictions, has_logits, verbose

    def load_model(self):
        """The worker's :class:`RecordCounter` (networks read without running any code from the files)."""
        snn = keras.saving.load_model(self.snn_path, safe_mode=True)
        relu = keras.saving.load_model(self.relu_path, safe_mode=True)
        return RecordCounter(snn, relu, self.size, self.clip, self.has_predictions, self.has_logits)

    def run_inference(self, batch, model, inference_args=None):
        """The counts of each record of ``batch``; a failure names its record."""
        out = []
        for record in batch:
            try:
                out.append(model.count(record))
            except Exception as err:  # noqa: BLE001 - reported with the record's name, whatever it was
                raise record_error(record, err) from err
            report_done(record, "SNN", self.verbose)
        return out

    def batch_elements_kwargs(self):
        """One record per call: a record is already a batch of the run's batch size."""
        return {"min_batch_size": 1, "max_batch_size": 1}
