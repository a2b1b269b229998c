"""What phase 1, phase 2 and the sweep read: an experiment's data set and phase 1's outputs."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from .. import storage
from ..data import DataSet, load
from ..errors import MissingPhase1Error, Phase1FileError
from ..pipeline.preprocess import Preprocessed
from . import manifest, naming
from .settings import Experiment


#: The canonical name of a data set (``"fMNIST"`` -> ``"FashionMNIST"``).
canonical_data_name = naming.canonical_data_name


def resolve(experiment: Experiment) -> Experiment:
    """``experiment`` with the canonical data name and the default directory and model name filled in.

    As :func:`snnmap.experiments.naming.resolve`; for a model of the user's (``model_path``) the
    defaults come from its file name: ``my_net.keras`` is ``models/<data_name>/my_net``, model
    name ``my_net``.

    Parameters
    ----------
    experiment : Experiment
    """
    if experiment.model_path is not None:
        stem = os.path.basename(experiment.model_path.rstrip(os.sep))
        stem = stem[:-len(".keras")] if stem.endswith(".keras") else os.path.splitext(stem)[0]
        experiment = dataclasses.replace(
            experiment, model_name=experiment.model_name or stem,
            logging_dir=experiment.logging_dir or os.path.join("models", canonical_data_name(experiment.data_name),
                                                               stem))
    return naming.resolve(experiment)


def is_flat(input_shape) -> bool:
    """Whether a model of ``input_shape`` (Keras', with the batch axis) takes flat vectors, not images."""
    return len(input_shape) == 2


def load_data(experiment: Experiment, part=None, num_parts=None, flat=None) -> DataSet:
    """The data set of ``experiment``.

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`resolve`).
    part, num_parts : int, optional
        Only shard ``part`` (0-based) of ``num_parts`` of the test set; phase 1 takes the
        whole test set (it needs the original network's predictions on all of it).
    flat : bool, optional
        Images as flat vectors; None: as the zoo network of ``experiment`` takes them (flat for FC).
    """
    flat = (not experiment.cnn) if flat is None else flat
    return load(experiment.data_name, source=experiment.data_source, data_dir=experiment.data_dir,
                flat=flat, max_test=experiment.test_samples, part=part, num_parts=num_parts,
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
    logits : ndarray or None
        The original network's float64 pre-softmax logits on the whole test set; None when
        phase 1 did not store them (a logging directory from before they were stored).
    fingerprint : str or None
        The fingerprint of phase 1's set of files (its manifest's); None without a manifest.
    n_selected : int
        The number of test images of the whole (unsharded) test set after ``test_samples``.
    """

    files: dict
    pre: Preprocessed
    reference: np.ndarray
    data: DataSet
    logits: np.ndarray | None = None
    fingerprint: str | None = None
    n_selected: int | None = None


def _phase1_record(path):
    """Phase 1's ``_accuracy.json``, or a clear error naming it."""
    try:
        record = storage.read_json(path)
    except ValueError as err:
        raise Phase1FileError(path, f"is not a readable JSON file ({err}); run phase 1 again") from None
    if not isinstance(record, dict):
        raise Phase1FileError(path, "does not hold phase 1's record (a JSON object); run phase 1 again")
    return record


def _check_data_name(record, experiment, log):
    recorded = record.get("data_name")
    if recorded is None:
        log(f"warning: phase 1 in {experiment.logging_dir} did not record its data set; snnmap cannot check that "
            f"it used {experiment.data_name}")
    elif naming.canonical_data_name(recorded) != experiment.data_name:
        raise ValueError(f"phase 1 in {experiment.logging_dir} used the data set {recorded}, not "
                         f"{experiment.data_name}: evaluate on {recorded} (data_name), or run phase 1 on "
                         f"{experiment.data_name} in another logging_dir")


def _original_logits(files, reference, log):
    """Phase 1's stored logits, checked against its predictions; None (with a note) when absent."""
    if not os.path.isfile(files["logits"]):
        log(f"note: {files['logits']} does not exist (phase 1 ran before it stored the original network's "
            "logits): the error against the original network is not measured; run phase 1 again to measure it")
        return None
    logits = storage.load_npy(files["logits"])
    # Not compared by argmax: the predictions come from the network's own dtype, ties may break otherwise.
    if logits.ndim != 2 or len(logits) != len(reference):
        raise Phase1FileError(files["logits"], f"does not match {os.path.basename(files['predictions'])} "
                              f"(shape {logits.shape}, {len(reference)} predictions); run phase 1 again")
    return logits


def load_phase1(experiment: Experiment, user: str, part=None, num_parts=None, log=print) -> Phase1Outputs:
    """Phase 1's outputs of ``experiment`` and its data set, checked to belong together.

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
    Phase1FileError
        When they are unreadable or do not belong together (:func:`snnmap.experiments.manifest.check`).
    ValueError
        When phase 1 used another data set, or fewer test images than ``user`` needs.
    """
    files = naming.paths(experiment.logging_dir, experiment.model_name)
    if not os.path.isdir(experiment.logging_dir):
        raise MissingPhase1Error(f"{experiment.logging_dir} does not exist: run phase 1 first "
                                 f"(python -m snnmap.phase1 --data_name {experiment.data_name} ...)")
    storage.require_files([files["predictions"], files["accuracy"]], "phase 1 (python -m snnmap.phase1)")
    record = manifest.check(experiment.logging_dir, experiment.model_name, log)
    accuracy = _phase1_record(files["accuracy"])
    _check_data_name(accuracy, experiment, log)
    pre = Preprocessed.load(experiment.logging_dir, experiment.model_name)
    reference = storage.load_npy(files["predictions"])
    logits = _original_logits(files, reference, log)

    # The stored network says how it takes its images (the zoo's FC or CNN, or a model of the user's).
    flat = is_flat(pre.model.input_shape)
    ds = load_data(experiment, part, num_parts, flat)
    if accuracy.get("data_source") != ds.source:
        log(f"warning: phase 1 used data source '{accuracy.get('data_source')}', {user} uses "
            f"'{ds.source}'; the agreement compares predictions on the same indices")
    stop = ds.test_indices[1] if ds.test_indices else ds.n_test
    if len(reference) < stop:
        raise ValueError(f"phase 1 stored {len(reference)} predictions but the test images used by {user} go up "
                         f"to index {stop}; run phase 1 again with the same data (and --test_samples)")
    # The size of the whole selection names the results; a shard alone does not tell it.
    n_selected = ds.n_test if part is None else load_data(experiment, flat=flat).n_test
    log(f"data: {ds.description}")
    return Phase1Outputs(files, pre, reference, ds, logits, None if record is None else record.get("fingerprint"),
                         n_selected)
