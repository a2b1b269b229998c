"""What phase 1, phase 2 and the sweep read: an experiment's data set and phase 1's outputs."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from .. import storage
from ..data import DataSet, load
from ..errors import MissingPhase1Error
from ..pipeline.preprocess import Preprocessed
from . import naming
from .settings import Experiment


def load_data(experiment: Experiment, part=None, num_parts=None) -> DataSet:
    """The data set of ``experiment``.

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`).
    part, num_parts : int, optional
        Only shard ``part`` (0-based) of ``num_parts`` of the test set; phase 1 takes the
        whole test set (it needs the original network's predictions on all of it).
    """
    return load(experiment.data_name, source=experiment.data_source, data_dir=experiment.data_dir,
                flat=not experiment.cnn, max_test=experiment.test_samples, part=part, num_parts=num_parts,
                part_align=experiment.batch_size)


@dataclasses.dataclass
class Phase1Outputs:
    """What phase 2 and the sweep need from phase 1.

    Attributes
    ----------
    files : dict
        :func:`snnmap.experiments.naming.paths` of the experiment.
    pre : Preprocessed
        The preprocessed network.
    reference : ndarray
        The original network's predictions on the whole test set (class ids).
    data : DataSet
        The data set of the experiment (one shard when a part is asked for).
    """

    files: dict
    pre: Preprocessed
    reference: np.ndarray
    data: DataSet


def load_phase1(experiment: Experiment, user: str, part=None, num_parts=None, log=print) -> Phase1Outputs:
    """Phase 1's outputs of ``experiment`` and its data set.

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`).
    user : str
        Who reads them ("phase 2", "the sweep"), for the messages.
    part, num_parts : int, optional
        Only shard ``part`` of ``num_parts`` of the test set.
    log : callable
        Receives the lines to print.

    Raises
    ------
    MissingPhase1Error
        When phase 1 has not written its outputs.
    """
    files = naming.paths(experiment.logging_dir, experiment.model_name)
    if not os.path.isdir(experiment.logging_dir):
        raise MissingPhase1Error(f"{experiment.logging_dir} does not exist: run phase 1 first "
                                 f"(python -m snnmap.phase1 --data_name {experiment.data_name} ...)")
    storage.require_files([files["predictions"], files["accuracy"]], "phase 1 (python -m snnmap.phase1)")
    pre = Preprocessed.load(experiment.logging_dir, experiment.model_name)
    accuracy = storage.read_json(files["accuracy"])
    reference = storage.load_npy(files["predictions"])

    ds = load_data(experiment, part, num_parts)
    if accuracy.get("data_source") != ds.source:
        log(f"warning: phase 1 used data source '{accuracy.get('data_source')}', {user} uses "
            f"'{ds.source}'; the agreement compares predictions on the same indices")
    stop = ds.test_indices[1] if ds.test_indices else ds.n_test
    if len(reference) < stop:
        raise ValueError(f"phase 1 stored {len(reference)} predictions but the test images used by {user} go up "
                         f"to index {stop}; run phase 1 again with the same data (and --test_samples)")
    log(f"data: {ds.description}")
    return Phase1Outputs(files, pre, reference, ds)
