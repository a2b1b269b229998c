"""snnmap on Apache Beam: phase 1's calibration, phase 2 and sweeps as pipelines (docs/layout.md).

Local by default (the DirectRunner on every core); any runner Beam knows with its own options
(Flink, Spark, Dataflow).  Needs the ``beam`` extra: ``pip install -e ".[beam]"``; ``import
snnmap`` alone never imports Beam.
"""

from .failures import BeamRunError
from .options import BeamSettings, pipeline_options
from .phase1 import layer_maxima
from .phase2 import evaluate, run_phase2
from .sources import ArrayReader, DataSetReader, NpyReader
from .sweep import run_sweep

__all__ = ["ArrayReader", "BeamRunError", "BeamSettings", "DataSetReader", "NpyReader", "evaluate",
           "layer_maxima", "pipeline_options", "run_phase2", "run_sweep"]
