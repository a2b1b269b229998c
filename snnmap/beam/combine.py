"""Combining per-record counts into one run's, and handing the result back to the driver.

:class:`TotalsCombineFn` merges the counts of the records with
:func:`snnmap.pipeline.evaluate.merge` (sums of integers, maxima of floats), so the combined
counts do not depend on how the runner grouped or ordered the records and equal those of the
single-machine run exactly.  :class:`WriteResult` writes the one combined value to a staging
file atomically; only the driver writes the results file, after the pipeline has finished.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np

from .. import storage
from ..pipeline import evaluate


class TotalsCombineFn(beam.CombineFn):
    """Merges per-record counts (:func:`snnmap.pipeline.evaluate.merge`); memory does not grow with the data."""

    def create_accumulator(self):
        return None

    def add_input(self, accumulator, totals):
        return totals if accumulator is None else evaluate.merge([accumulator, totals])

    def merge_accumulators(self, accumulators):
        found = [a for a in accumulators if a is not None]
        return evaluate.merge(found) if found else None

    def extract_output(self, accumulator):
        return accumulator


class WriteResult(beam.DoFn):
    """Writes the combined value to ``path`` (JSON, or ``.npz`` for a dict of arrays), atomically.

    Parameters
    ----------
    path : str
        In the staging directory, readable by the driver.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def process(self, value):
        if self.path.endswith(".npz"):
            with storage.atomic_path(self.path, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **value)
        else:
            storage.atomic_write_json(self.path, value)
        yield self.path
