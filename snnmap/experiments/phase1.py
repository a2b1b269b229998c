"""Phase 1 of an experiment (docs/method.md §4): the original network, its preprocessing, and the check
that the preprocessed network computes the same function."""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from .. import storage, zoo
from ..errors import InvalidWeightsError, MissingPhase1Error, Phase1FileError
from ..pipeline import graph
from ..pipeline.preprocess import describe, preprocess
from ..runtime import predict_batches
from . import manifest, naming
from .inputs import is_flat, load_data
from .settings import Experiment, Phase1Settings


def _imagenet_vgg16(path, log):
    """The ImageNet VGG16 of Keras, as the paper's PASS experiment uses it; saved at ``path``."""
    log("no original weights: loading keras.applications.VGG16(weights='imagenet')")
    try:
        model = keras.applications.VGG16(weights="imagenet")
    except Exception as err:  # noqa: BLE001 - any download failure
        raise MissingPhase1Error(
            f"the ImageNet weights of keras.applications.VGG16 could not be downloaded ({err}); on a "
            f"machine with network access run phase 1 once, or save them to {path}"
        ) from err
    storage.atomic_save_weights(model, path)
    return model


def load_original_weights(model, path, experiment: Experiment):
    """``model.load_weights(path)``, with errors that name the file and say what to do.

    Parameters
    ----------
    model : keras.Model
        The zoo network of ``experiment``.
    path : str
        Its original weights file.
    experiment : Experiment
        Names the architecture in the messages.

    Raises
    ------
    Phase1FileError
        When ``path`` is not a readable HDF5 file (truncated, garbage).
    InvalidWeightsError
        When its weights do not fit the architecture.
    """
    arch = f"{naming.architecture(experiment.cnn, experiment.layers)} (cnn={experiment.cnn}, " \
           f"layers={experiment.layers})"
    try:
        model.load_weights(path)
    except OSError as err:  # h5py: truncated or not HDF5
        raise Phase1FileError(path, f"is not a readable weights file (truncated or not HDF5: {err}); restore it, "
                              "or delete it to train the network again") from None
    except ValueError as err:
        # Keras' message dumps every weight; the first line says which layer does not fit.
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise InvalidWeightsError(f"the weights file {path} does not match the architecture {arch}: {first}; "
                                  "give the cnn/layers the weights were trained with, or another "
                                  "logging_dir/model_name") from None


def load_user_model(path: str):
    """The user's saved Keras model at ``path`` (``model_path``), loaded with ``safe_mode=True``.

    Parameters
    ----------
    path : str
        A ``.keras`` file (``model.save("my.keras")``).

    Raises
    ------
    Phase1FileError
        When ``path`` does not exist, or is not a Keras model that loads safely (a weights-only
        file, a truncated archive, a Lambda layer, a custom class Keras does not know).
    """
    if not os.path.isfile(path):
        raise Phase1FileError(path, "no such file (model_path): save your trained model with "
                              "model.save('my.keras') and give that path")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises ValueError, TypeError, OSError, zipfile errors
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise Phase1FileError(path, f"cannot be loaded as a Keras model (model_path, safe_mode=True): {first}; "
                              "give a model saved with model.save('my.keras') whose layers are Keras' own") from None
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Phase1FileError(path, "is not a Keras model with one input and one output (model_path); snnmap "
                              "converts classifiers of one image")
    return model


def _check_classes(model, ds, experiment):
    """Refuse a model of the user's whose number of outputs is not the data set's number of classes."""
    outputs = model.outputs[0].shape[-1]
    if outputs != ds.num_classes:
        raise ValueError(f"model_path {experiment.model_path} has {outputs} outputs but {experiment.data_name} has "
                         f"{ds.num_classes} classes: give a model trained on this data set (data_name)")


def original_network(experiment: Experiment, settings: Phase1Settings, ds, log=print):
    """The original ReLU network: its stored weights, or trained (and stored) when they are missing.

    Parameters
    ----------
    experiment : Experiment
        Resolved; names the zoo network and its weights file.
    settings : Phase1Settings
        Training choices.
    ds : snnmap.data.DataSet
        The data set (its training split trains the network).
    log : callable
        Receives the lines to print.

    Returns
    -------
    (keras.Model, bool)
        The network and whether it was trained (or downloaded) now.
    """
    weights = naming.paths(experiment.logging_dir, experiment.model_name)["original_weights"]
    build = lambda: zoo.build(experiment.cnn, experiment.layers, ds.input_shape, ds.num_classes,  # noqa: E731
                              l1=settings.l1, name=experiment.model_name)
    model = build()
    if os.path.isfile(weights):
        load_original_weights(model, weights, experiment)
        log(f"original weights: {weights}")
        return model, False
    if experiment.data_name == "PASS":
        return _imagenet_vgg16(weights, log), True
    if experiment.data_name == "PLACES365":
        raise MissingPhase1Error(
            f"no original weights at {weights}: convert the Places365 VGG16 (Caffe model "
            "vgg16_places365.caffemodel) into keras.applications.VGG16 layout with 365 classes and save it "
            "there with model.save_weights(); training on 224x224 images is not done by phase 1"
        )
    n_train = len(ds.x_train) if settings.train_samples is None else min(settings.train_samples, len(ds.x_train))
    log(f"no original weights at {weights}: training {experiment.model_name} for "
        f"{settings.epochs} epoch(s) on {n_train:,} training images of {ds.description}")
    zoo.train(model, ds.x_train[:n_train], ds.y_train[:n_train], epochs=settings.epochs,
              batch_size=settings.train_batch_size, seed=settings.seed)
    # An uncompiled copy stores the network's weights only, not the optimizer's state.
    plain = build()
    plain.set_weights(model.get_weights())
    storage.atomic_save_weights(plain, weights)
    return model, True


def compare(model, pre, x_test, batch_size, clip=False):
    """Predictions and logits of the original network, predictions of the preprocessed one, and how
    far their outputs differ.

    The original network runs in its own dtype for its predictions; float64 copies of it give its
    pre-softmax logits (the reference of phase 2's exactness) and measure how closely the two
    functions agree (the preprocessed network computes in float64).

    Parameters
    ----------
    model : keras.Model
        The original network.
    pre : Preprocessed
        Its preprocessing.
    x_test : array_like
        Test images in the original input range.
    batch_size : int
    clip : bool
        Clip the images to ``pre.input_range`` first (every network sees the same clipped images).

    Returns
    -------
    (ndarray, ndarray, float, ndarray)
        Class ids of the original and of the preprocessed network, the largest absolute output
        difference between the float64 original and the preprocessed network, and the float64
        logits of the original network.
    """
    if clip:
        x_test = np.clip(np.asarray(x_test, np.float64), *pre.input_range)
    original64, logits64 = graph.with_dtype(model, "float64"), graph.logits_model(model)
    pred_orig, pred_pre, logits, max_diff = [], [], [], 0.0
    for p_orig, p64, z64, p_pre in zip(
        predict_batches(model, x_test, batch_size, desc="original"),
        predict_batches(original64, x_test, batch_size, verbose=0),
        predict_batches(logits64, x_test, batch_size, verbose=0),
        predict_batches(pre.model, x_test, batch_size, verbose=0, input_range=pre.input_range),
    ):
        pred_orig.append(np.argmax(p_orig, axis=-1))
        pred_pre.append(np.argmax(p_pre, axis=-1))
        logits.append(np.asarray(z64, np.float64))
        max_diff = max(max_diff, float(np.max(np.abs(p64 - p_pre))))
    return (np.concatenate(pred_orig).astype(np.int64), np.concatenate(pred_pre).astype(np.int64), max_diff,
            np.concatenate(logits))


def _accuracy(predictions, labels):
    labelled = labels >= 0  # PASS has no labels (-1)
    return float(np.mean(predictions[labelled] == labels[labelled])) if labelled.any() else None


def run_phase1(experiment: Experiment, settings: Phase1Settings = Phase1Settings(), log=print,
               maxima=None, references=None) -> dict:
    """Phase 1: preprocess the experiment's original network and write its outputs atomically.

    Parameters
    ----------
    experiment : Experiment
        Resolved (:func:`snnmap.experiments.naming.resolve`).
    settings : Phase1Settings
    log : callable
        Receives the lines to print.
    maxima : callable, optional
        Measures ``X_n`` (:func:`snnmap.pipeline.preprocess.preprocess`'s ``maxima``; e.g. the
        calibration pass on Apache Beam).
    references : callable, optional
        Computes what :func:`compare` computes, with its arguments (e.g. the pass on Apache Beam,
        :func:`snnmap.beam.references.compare`); None: :func:`compare`.

    Returns
    -------
    dict
        The report written to ``<model>_phase1.json``.
    """
    started = time.time()
    logging_dir, model_name = experiment.logging_dir, experiment.model_name
    files = naming.paths(logging_dir, model_name)
    storage.check_writable(logging_dir, "phase 1's outputs")
    if experiment.model_path is not None:
        model, trained_now = load_user_model(experiment.model_path), False
        ds = load_data(experiment, flat=is_flat(model.inputs[0].shape))
        log(f"data: {ds.description}")
        _check_classes(model, ds, experiment)
        log(f"original network: {experiment.model_path}")
    else:
        ds = load_data(experiment)
        log(f"data: {ds.description}")
        model, trained_now = original_network(experiment, settings, ds, log)

    x_calib = ds.x_train if settings.calib_samples is None else ds.x_train[:settings.calib_samples]
    input_range = ds.input_range if experiment.input_range is None else tuple(experiment.input_range)
    pre = preprocess(model, x_calib, input_range=input_range, upper_b=settings.upper_b,
                     lower_b=settings.lower_b, batch_size=experiment.batch_size, clip=settings.clip, maxima=maxima)
    log(describe(pre.report))
    pred_orig, pred_pre, max_diff, logits = (references or compare)(model, pre, ds.x_test, experiment.batch_size,
                                                                    settings.clip)

    # From here on the set is being replaced: mark it so, until the manifest of the new set is written.
    manifest.begin(logging_dir, model_name)
    saved = pre.save(logging_dir, model_name)
    storage.atomic_save_npy(files["predictions"], pred_orig)
    storage.atomic_save_npy(files["logits"], logits)
    accuracy = {
        "data_name": experiment.data_name,
        "data_source": ds.source,
        "data": ds.summary(),
        "n_test": int(ds.n_test),
        "accuracy_relu": _accuracy(pred_orig, ds.y_test),
        "accuracy_relu_preprocessed": _accuracy(pred_pre, ds.y_test),
        "predictions_agree": float(np.mean(pred_orig == pred_pre)),
        "max_abs_output_difference_float64": max_diff,
        "clip_inputs": bool(settings.clip),
        "model_path": experiment.model_path,
    }
    storage.atomic_write_json(files["accuracy"], accuracy)
    report = {
        **accuracy,
        "model_name": model_name,
        "logging_dir": logging_dir,
        "trained_now": trained_now,
        "epochs": settings.epochs if trained_now else None,
        "X_n": pre.X_n,
        "preprocessing": pre.report,
        "files": {**saved, "predictions": files["predictions"], "logits": files["logits"],
                  "accuracy": files["accuracy"], "manifest": files["manifest"]},
        "elapsed_s": round(time.time() - started, 2),
    }
    storage.atomic_write_json(files["phase1_report"], report)
    report["fingerprint"] = manifest.finish(logging_dir, model_name, experiment.data_name,
                                            pre.input_range)["fingerprint"]
    return report


def summary_lines(report) -> list:
    """The readable summary of a phase-1 report (:func:`run_phase1`).

    Parameters
    ----------
    report : dict
    """
    fmt = lambda a: "n/a (no labels)" if a is None else f"{a:.4f}"  # noqa: E731
    return [
        f"accuracy (original ReLU):     {fmt(report['accuracy_relu'])} on {report['n_test']} test images",
        f"accuracy (preprocessed ReLU): {fmt(report['accuracy_relu_preprocessed'])}; same predictions on "
        f"{100 * report['predictions_agree']:.2f}% of them; max |output difference| (float64) "
        f"{report['max_abs_output_difference_float64']:.2e}",
        f"phase 1 outputs in {report['logging_dir']} (report: "
        f"{naming.paths(report['logging_dir'], report['model_name'])['phase1_report']})",
    ]
