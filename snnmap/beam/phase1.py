"""Phase 1's calibration pass on Beam: ``X_n``, bit for bit those of :func:`snnmap.pipeline.calibrate.layer_maxima`.

Each worker runs the maxima probe of the preprocessed network on its records (the same
batches as the single-machine pass); a combine keeps, per hidden layer, the ``recheck`` images
with the largest values (ties to the lower image index, as the sequential pass keeps them) and
the largest value left out, plus every image's maxima.  The driver re-measures the kept images
in float64 with the single-machine code, so ``X_n`` is identical, not merely close.
"""

from __future__ import annotations

import functools
import os

import apache_beam as beam
import keras
import numpy as np

from .. import storage
from ..experiments import phase1
from ..experiments.settings import Experiment, Phase1Settings
from ..pipeline import calibrate, graph
from ..runtime import check_shape, normalise
from . import runner
from .combine import WriteResult
from .failures import record_error
from .options import BeamSettings
from .references import compare
from .sources import ArrayReader, read_records, report_done

WHAT = "calibration input (x_calib)"


class MaximaRows(beam.DoFn):
    """A record -> its images' largest activation per hidden layer (and the normalised images).

    Parameters
    ----------
    model_path : str
        The preprocessed network (``.keras``).
    dtype : "float32" or "float64"
        Precision of the pass.
    input_range : (float, float)
    size : int
        The single-machine pass's batch size (its first batch's length).
    clip : bool
    verbose : bool
        Print a line per finished record.
    """

    def __init__(self, model_path, dtype, input_range, size, clip, verbose=False):
        super().__init__()
        self.model_path, self.dtype, self.input_range, self.size, self.clip = (model_path, dtype, input_range,
                                                                               size, clip)
        self.probe, self.verbose = None, verbose

    def setup(self):
        model = keras.saving.load_model(self.model_path, safe_mode=True)
        model = model if self.dtype == "float64" else graph.with_dtype(model, "float32")
        self.probe, self.n_hidden = calibrate.maxima_probe(model)
        self.shape = tuple(model.inputs[0].shape[1:])

    def process(self, record):
        try:
            check_shape(record["x"], self.shape, WHAT)
            x_hat = normalise(record["x"], self.input_range, WHAT, clip=self.clip)
            rows = calibrate.probe_rows(self.probe, x_hat, self.n_hidden, self.size)
        except Exception as err:  # noqa: BLE001 - reported with the record's name
            raise record_error(record, err) from err
        report_done(record, "calibration", self.verbose)
        yield {"start": record["start"], "rows": rows, "x_hat": x_hat}


class TopImagesCombineFn(beam.CombineFn):
    """Per column: the ``k`` largest values (ties to the lower image index), their images, the largest
    value left out; and every image's row.

    Parameters
    ----------
    k : int
        Images kept per column (0: keep none, only the rows).
    """

    def __init__(self, k):
        super().__init__()
        self.k = k

    def create_accumulator(self):
        return {"rows": {}, "values": None, "ids": None, "dropped": None, "images": {}}

    def _offer(self, acc, values, ids, images):
        """Keep the best ``k`` of ``acc``'s candidates and ``(values, ids)`` ``(n_columns, m)``."""
        if acc["values"] is not None:
            values = np.concatenate([acc["values"], values], axis=1)
            ids = np.concatenate([acc["ids"], ids], axis=1)
        dropped = np.full(len(values), -np.inf) if acc["dropped"] is None else acc["dropped"]
        keep = np.zeros(values.shape, bool)
        for col in range(len(values)):
            order = np.lexsort((ids[col], -values[col]))  # largest first, then lower index
            keep[col, order[:self.k]] = True
            if len(order) > self.k:
                dropped[col] = max(dropped[col], float(values[col, order[self.k:]].max()))
        kept_values = np.stack([values[c][keep[c]] for c in range(len(values))])
        kept_ids = np.stack([ids[c][keep[c]] for c in range(len(values))])
        wanted = set(kept_ids.ravel().tolist())
        merged = {**acc["images"], **images}
        return dict(acc, values=kept_values, ids=kept_ids, dropped=dropped,
                    images={i: img for i, img in merged.items() if i in wanted})

    def add_input(self, acc, batch):
        rows, start = batch["rows"], batch["start"]
        acc = dict(acc, rows={**acc["rows"], start: rows})
        if not self.k:
            return acc
        ids = np.broadcast_to(start + np.arange(len(rows)), (rows.shape[1], len(rows)))
        return self._offer(acc, rows.T, ids, {start + j: batch["x_hat"][j] for j in range(len(rows))})

    def merge_accumulators(self, accumulators):
        out = self.create_accumulator()
        for acc in accumulators:
            out = dict(out, rows={**out["rows"], **acc["rows"]})
            if acc["values"] is not None:
                out = self._offer(out, acc["values"], acc["ids"], acc["images"])
                out["dropped"] = np.maximum(out["dropped"], acc["dropped"])
        return out

    def extract_output(self, acc):
        starts = sorted(acc["rows"])
        out = {"per_image": np.concatenate([acc["rows"][s] for s in starts])}
        if acc["values"] is not None:
            ids = np.array(sorted(acc["images"]), np.int64)
            out.update(values=acc["values"], ids=acc["ids"], dropped=acc["dropped"], image_ids=ids,
                       images=np.stack([acc["images"][i] for i in ids]))
        return out


def _top_images(found, k):
    """A :class:`snnmap.pipeline.calibrate.TopImages` holding what the combine kept."""
    top = calibrate.TopImages(k, found["values"].shape[0])
    top.values, top.ids, top.dropped = found["values"], found["ids"], found["dropped"]
    top.images = {int(i): img for i, img in zip(found["image_ids"], found["images"])}
    return top


def layer_maxima(model, x, input_range=(0.0, 1.0), batch_size=256, dtype="float32", recheck=None,
                 config=calibrate.DEFAULT_CALIBRATION, clip=False, beam_settings=BeamSettings(), log=print,
                 verbose=None):
    """:func:`snnmap.pipeline.calibrate.layer_maxima` as a Beam pipeline: the same ``(X_n, maxima, how)``.

    Parameters
    ----------
    model : keras.Model
        The preprocessed network (saved to the staging folder for the workers).
    x : ArrayReader, DataSetReader, NpyReader, TFRecordReader or array_like
        Calibration inputs in their original range.
    input_range, batch_size, dtype, recheck, config, clip
        As :func:`snnmap.pipeline.calibrate.layer_maxima`.
    beam_settings : BeamSettings
    log : callable
        Receives the lines to print.
    verbose : any
        Accepted so that this function can replace the single-machine one
        (:func:`snnmap.pipeline.preprocess.preprocess`'s ``maxima``); the progress is
        ``beam_settings.verbose``'s.
    """
    recheck = config.recheck if recheck is None else recheck
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if recheck < 1:
        raise ValueError(f"recheck must be at least 1, got {recheck}")
    reader = x if hasattr(x, "read") else ArrayReader(x, origin="calibration arrays")
    input_range = (float(input_range[0]), float(input_range[1]))
    k = recheck if dtype == "float32" else 0
    with runner.staging(beam_settings) as folder:
        model_path, out_path = os.path.join(folder, "model.keras"), os.path.join(folder, "maxima.npz")
        storage.atomic_save_model(model, model_path)
        rows = MaximaRows(model_path, dtype, input_range, min(int(batch_size), len(reader)), clip,
                          beam_settings.verbose)

        def build(pipeline):
            (read_records(pipeline, reader, batch_size, label="calibration")
             | "maxima" >> beam.ParDo(rows)
             | "top images" >> beam.CombineGlobally(TopImagesCombineFn(k))
             | "hand back" >> beam.ParDo(WriteResult(out_path)))

        runner.run(build, beam_settings, log)
        with np.load(out_path, allow_pickle=False) as found:
            found = dict(found)
    per_image = found["per_image"]
    how = {"dtype": dtype, "n_images": int(len(per_image))}
    if not k:
        return [float(v) for v in per_image.max(axis=0)], per_image, how
    probe64, n_hidden = calibrate.maxima_probe(model)
    x_n, raised, n_rechecked = calibrate.recheck_candidates(probe64, _top_images(found, k), per_image,
                                                            tuple(model.inputs[0].shape[1:]), batch_size, n_hidden,
                                                            config)
    how.update(rechecked_float64=int(n_rechecked), recheck_per_layer=int(recheck),
               float32_tolerance=config.float32_tolerance, raised_for_near_ties=raised)
    return x_n, per_image, how


def run_phase1(experiment: Experiment, settings: Phase1Settings = Phase1Settings(),
               beam_settings: BeamSettings = BeamSettings(), log=print) -> dict:
    """Phase 1 with its two passes over data on Beam: the calibration (``X_n``) and the original
    network's predictions and logits on the test set (:func:`.references.compare`).

    The files written are those of :func:`snnmap.experiments.phase1.run_phase1`, bit for bit
    (timings aside).

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`).
    settings : Phase1Settings
    beam_settings : BeamSettings
        The runner and its options.
    log : callable
        Receives the lines to print.
    """
    return phase1.run_phase1(experiment, settings, log,
                             maxima=functools.partial(layer_maxima, beam_settings=beam_settings, log=log),
                             references=functools.partial(compare, beam_settings=beam_settings, log=log))
