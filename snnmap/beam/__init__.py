"""snnmap on Apache Beam: phase 1's calibration, phase 2 and sweeps as pipelines (docs/layout.md).

Local by default (the DirectRunner on every core); any runner Beam knows with its own options
(Flink, Spark, Dataflow).  Needs the ``beam`` extra: ``pip install -e ".[beam]"``; ``import
snnmap`` alone never imports Beam.
"""

from . import quiet  # noqa: F401 - first: it imports Beam without Beam's import-time log lines
from .failures import BeamRunError
from .options import BeamSettings, pipeline_options
from .phase1 import layer_maxima, run_phase1
from .phase2 import evaluate, run_phase2
from .references import compare
from .sources import ArrayReader, DataSetReader, NpyReader
from .sweep import run_sweep
from .tfrecord import TFRecordReader, write_tfrecord_shards

__all__ = ["ArrayReader", "BeamRunError", "BeamSettings", "DataSetReader", "NpyReader", "TFRecordReader", "compare",
           "evaluate", "layer_maxima", "pipeline_options", "run_phase1", "run_phase2", "run_sweep",
           "write_tfrecord_shards"]
