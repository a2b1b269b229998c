"""Phase 1's reference pass on Beam: the original network's predictions and float64 logits on the test set.

The same figures as :func:`snnmap.experiments.phase1.compare`, bit for bit: each record is one
batch of the single-machine pass (same boundaries, the last one padded to the first one's
length as :func:`snnmap.runtime.predict_on` pads it), computed by the same networks (the
original in its own dtype, its float64 copy and float64 logits, the preprocessed network);
a combine puts the records back in order and keeps the largest output difference.
"""

from __future__ import annotations

import os

import apache_beam as beam
import keras
import numpy as np

from .. import storage
from ..pipeline import graph
from ..runtime import check_shape, normalise, predict_on
from . import runner
from .combine import WriteResult
from .failures import record_error
from .options import BeamSettings
from .sources import ArrayReader, read_records, report_done

WHAT = "input"  # what the single-machine pass calls a test image in its messages
ORIGINAL_RANGE = (0.0, 1.0)  # the original network takes the images as they are (predict_batches' default)


class ReferenceRows(beam.DoFn):
    """A record -> the original network's predictions and float64 logits on it, the preprocessed
    network's predictions, and the largest output difference.

    Parameters
    ----------
    model_path, pre_path : str
        The original and the preprocessed network (``.keras``), readable by every worker.
    input_range : (float, float)
        The preprocessed network's input range.
    size : int
        The single-machine pass's batch size (its first batch's length).
    clip : bool
        Clip the images to ``input_range`` first, as :func:`snnmap.experiments.phase1.compare` does.
    verbose : bool
        Print a line per finished record.
    """

    def __init__(self, model_path, pre_path, input_range, size, clip, verbose=False):
        super().__init__()
        self.model_path, self.pre_path, self.input_range, self.size, self.clip = (model_path, pre_path, input_range,
                                                                                  size, clip)
        self.nets, self.verbose = None, verbose

    def setup(self):
        model = keras.saving.load_model(self.model_path, compile=False, safe_mode=True)
        pre = keras.saving.load_model(self.pre_path, compile=False, safe_mode=True)
        self.nets = (model, graph.with_dtype(model, "float64"), graph.logits_model(model), pre)
        self.shape = tuple(model.inputs[0].shape[1:])

    def process(self, record):
        model, original64, logits64, pre = self.nets
        try:
            x = record["x"]
            if self.clip:
                x = np.clip(np.asarray(x, np.float64), *self.input_range)
            check_shape(x, self.shape, WHAT)
            x_orig, x_pre = normalise(x, ORIGINAL_RANGE, WHAT), normalise(x, self.input_range, WHAT)
            p_orig = predict_on(model, x_orig, self.size)
            p64, z64 = predict_on(original64, x_orig, self.size), predict_on(logits64, x_orig, self.size)
            p_pre = predict_on(pre, x_pre, self.size)
        except Exception as err:  # noqa: BLE001 - reported with the record's name
            raise record_error(record, err) from err
        report_done(record, "original network", self.verbose)
        yield {"start": record["start"], "predictions": np.argmax(p_orig, axis=-1).astype(np.int64),
               "predictions_preprocessed": np.argmax(p_pre, axis=-1).astype(np.int64),
               "logits": np.asarray(z64, np.float64), "max_diff": float(np.max(np.abs(p64 - p_pre)))}


class InOrderCombineFn(beam.CombineFn):
    """Records' arrays concatenated in the order of their first image; the largest ``max_diff``."""

    def create_accumulator(self):
        return {"parts": {}, "max_diff": 0.0}

    def add_input(self, acc, row):
        part = {k: v for k, v in row.items() if k not in ("start", "max_diff")}
        return {"parts": {**acc["parts"], row["start"]: part}, "max_diff": max(acc["max_diff"], row["max_diff"])}

    def merge_accumulators(self, accumulators):
        out = self.create_accumulator()
        for acc in accumulators:
            out = {"parts": {**out["parts"], **acc["parts"]}, "max_diff": max(out["max_diff"], acc["max_diff"])}
        return out

    def extract_output(self, acc):
        starts = sorted(acc["parts"])
        keys = acc["parts"][starts[0]].keys() if starts else ()
        out = {k: np.concatenate([acc["parts"][s][k] for s in starts]) for k in keys}
        out["max_diff"] = np.float64(acc["max_diff"])
        return out


def compare(model, pre, x_test, batch_size, clip=False, beam_settings=BeamSettings(), log=print):
    """:func:`snnmap.experiments.phase1.compare` as a Beam pipeline: the same four results, bit for bit.

    Parameters
    ----------
    model : keras.Model
        The original network (saved to the staging folder for the workers).
    pre : snnmap.Preprocessed
        Its preprocessing.
    x_test : ArrayReader, DataSetReader, NpyReader, TFRecordReader or array_like
        Test images in the original input range.
    batch_size : int
        The single-machine pass's batch size (same batches, same figures).
    clip : bool
        Clip the images to ``pre.input_range`` first.
    beam_settings : BeamSettings
    log : callable
        Receives the lines to print.

    Returns
    -------
    (ndarray, ndarray, float, ndarray)
        As :func:`snnmap.experiments.phase1.compare`.
    """
    reader = x_test if hasattr(x_test, "read") else ArrayReader(x_test, origin="test arrays")
    input_range = (float(pre.input_range[0]), float(pre.input_range[1]))
    with runner.staging(beam_settings) as folder:
        paths = {name: os.path.join(folder, name) for name in ("original.keras", "pre.keras", "references.npz")}
        storage.atomic_save_model(model, paths["original.keras"])
        storage.atomic_save_model(pre.model, paths["pre.keras"])
        rows = ReferenceRows(paths["original.keras"], paths["pre.keras"], input_range,
                             min(int(batch_size), len(reader)), clip, beam_settings.verbose)

        def build(pipeline):
            (read_records(pipeline, reader, batch_size, label="references")
             | "original network" >> beam.ParDo(rows)
             | "in order" >> beam.CombineGlobally(InOrderCombineFn())
             | "hand back" >> beam.ParDo(WriteResult(paths["references.npz"])))

        runner.run(build, beam_settings, log)
        with np.load(paths["references.npz"], allow_pickle=False) as found:
            found = dict(found)
    return found["predictions"], found["predictions_preprocessed"], float(found["max_diff"]), found["logits"]
