"""Phase 2 on Beam: the SNN evaluated by RunInference over the test set, combined into the results file.

The results file is the single-machine one (:func:`snnmap.experiments.phase2.run_phase2`), key
for key and value for value (timings aside), plus ``runner``: where it ran.
"""

from __future__ import annotations

import os
import time

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from .. import storage
from ..experiments import naming
from ..experiments.inputs import load_phase1
from ..experiments.phase2 import Phase2Run, build_snn, results_record
from ..experiments.settings import Experiment, Phase2Options, RunSettings
from ..pipeline.evaluate import summarize
from . import runner
from .combine import TotalsCombineFn, WriteResult
from .handler import SnnModelHandler
from .options import BeamSettings
from .sources import ArrayReader, DataSetReader, read_records


def evaluate(snn, relu_model, reader, batch_size=256, reference_predictions=None, reference_logits=None,
             clip=False, beam_settings=BeamSettings(), log=print, near=None):
    """:func:`snnmap.pipeline.evaluate.evaluate` as a Beam pipeline; ``(metrics, runner)``.

    Parameters
    ----------
    snn : keras.Model
        The SNN (saved to the staging folder; every worker loads it once).
    relu_model : keras.Model
        The preprocessed network it was built from.
    reader : ArrayReader, DataSetReader, NpyReader or TFRecordReader, or array_like
        The test images (an array is wrapped in an :class:`ArrayReader`, without labels).
    batch_size : int
        Images per record: the single-machine run's batch size, so that the figures are computed on
        the same batches.
    reference_predictions, reference_logits : array_like, optional
        The original network's predictions and float64 logits on the images, in order.
    clip : bool
        Clip the images to the input range instead of refusing values outside it.
    beam_settings : BeamSettings
    log : callable
        Receives the lines to print.
    near : str, optional
        A directory on the file system of the results (for the staging folder).

    Returns
    -------
    (dict, dict)
        The figures (:func:`snnmap.pipeline.evaluate.summarize`) and the runner's description.
    """
    reader = reader if hasattr(reader, "read") else ArrayReader(reader)
    size = min(int(batch_size), len(reader))
    with runner.staging(beam_settings, near) as folder:
        paths = {name: os.path.join(folder, name) for name in ("snn.keras", "relu.keras", "totals.json")}
        storage.atomic_save_model(snn, paths["snn.keras"])
        storage.atomic_save_model(relu_model, paths["relu.keras"])
        handler = SnnModelHandler(paths["snn.keras"], paths["relu.keras"], size, clip,
                                  reference_predictions is not None, reference_logits is not None,
                                  beam_settings.verbose)

        def build(pipeline):
            (read_records(pipeline, reader, batch_size, reference_predictions, reference_logits)
             | "SNN" >> RunInference(handler)
             | "combine" >> beam.CombineGlobally(TotalsCombineFn())
             | "hand back" >> beam.ParDo(WriteResult(paths["totals.json"])))

        described = runner.run(build, beam_settings, log)
        totals = storage.read_json(paths["totals.json"])
    return summarize(totals), described


def run_phase2(experiment: Experiment, settings: RunSettings = RunSettings(),
               options: Phase2Options = Phase2Options(), beam_settings: BeamSettings = BeamSettings(),
               log=print) -> Phase2Run:
    """Phase 2 on Beam: :func:`snnmap.experiments.phase2.run_phase2` with the evaluation as a pipeline.

    Every worker reads the experiment's test set itself (:class:`DataSetReader`); the driver
    writes the results file once the pipeline has finished, atomically.

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`); phase 1 has run on it.
    settings : RunSettings
    options : Phase2Options
        As for the single-machine run; ``distribute`` does not apply (the runner spreads the work).
    beam_settings : BeamSettings
        The runner and its options.
    log : callable
        Receives the lines to print.
    """
    started = time.time()
    if options.part is not None:
        raise ValueError("part/num_parts split the test set by hand; a Beam run spreads the whole test set over "
                         "its workers: leave part and num_parts out")
    loaded = load_phase1(experiment, "phase 2", log=log)
    pre, ds = loaded.pre, loaded.data
    path = naming.results_path(experiment.logging_dir, experiment.model_name, settings,
                               n_test=None if experiment.test_samples is None else loaded.n_selected, part=None,
                               batch_size=experiment.batch_size, clip=options.clip)
    storage.check_writable(os.path.dirname(path), "the results")  # before the evaluation, not after it
    logits = None if loaded.logits is None else loaded.logits[:ds.n_test]
    snn = build_snn(pre, settings)
    metrics, described = evaluate(snn, pre.model, DataSetReader(experiment, ds.n_test), experiment.batch_size,
                                  loaded.reference[:ds.n_test], logits, options.clip, beam_settings, log,
                                  near=os.path.dirname(path))
    result = results_record(experiment, settings, options, loaded, metrics, None, started)
    result["runner"] = described
    result["elapsed_s"] = round(time.time() - started, 2)
    storage.atomic_write_json(path, result)
    return Phase2Run(result, path, snn, pre, ds)
