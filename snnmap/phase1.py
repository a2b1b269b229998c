"""Phase 1 command: preprocess the original ReLU network (MAPPING §4).

    python -m snnmap.phase1 --data_name MNIST
    python -m snnmap.phase1 --flagfile flags/fashionmnist_fc.txt

Loads the data and the zoo model's original weights from ``--logging_dir`` (training them
first, with a progress bar, if they are missing), records the original network's test
predictions and accuracy, preprocesses it (:func:`snnmap.preprocess`, one streamed pass
over the training images for ``X_n``), checks that the preprocessed network computes the
same function, and writes everything atomically into ``--logging_dir``.
"""

from __future__ import annotations

import os
import time

from absl import app, flags

from . import cli

cli.define_common_flags()
FLAGS = flags.FLAGS


def run_phase1():
    """Phase 1 from the parsed flags; returns the dict written to ``<model>_phase1.json``."""
    import keras
    import numpy as np

    from .experiments import naming as experiment
    from .pipeline import graph
    from . import storage, zoo
    from .errors import MissingPhase1Error
    from .pipeline.preprocess import describe, preprocess
    from .runtime import predict_batches

    started = time.time()
    data_name, logging_dir, model_name = cli.experiment_names()
    files = experiment.paths(logging_dir, model_name)
    ds = cli.load_data(data_name, parts=False)
    print(f"data: {ds.description}")

    model = zoo.build(FLAGS.CNN, FLAGS.layers, ds.input_shape, ds.num_classes, l1=FLAGS.l1,
                      name=model_name)
    trained_now = False
    if os.path.isfile(files["original_weights"]):
        model.load_weights(files["original_weights"])
        print(f"original weights: {files['original_weights']}")
    elif data_name == "PASS":
        # The paper's PASS experiment uses the ImageNet VGG16 of Keras as it is.
        print("no original weights: loading keras.applications.VGG16(weights='imagenet')")
        try:
            model = keras.applications.VGG16(weights="imagenet")
        except Exception as err:  # noqa: BLE001 - any download failure
            raise MissingPhase1Error(
                f"the ImageNet weights of keras.applications.VGG16 could not be downloaded ({err}); on a "
                f"machine with network access run phase 1 once, or save them to {files['original_weights']}"
            ) from err
        storage.atomic_save_weights(model, files["original_weights"])
        trained_now = True
    elif data_name == "PLACES365":
        raise MissingPhase1Error(
            f"no original weights at {files['original_weights']}: convert the Places365 VGG16 (Caffe model "
            "vgg16_places365.caffemodel) into keras.applications.VGG16 layout with 365 classes and save it "
            "there with model.save_weights(); training on 224x224 images is not done by phase 1"
        )
    else:
        n_train = len(ds.x_train) if FLAGS.train_samples is None else min(FLAGS.train_samples, len(ds.x_train))
        print(f"no original weights at {files['original_weights']}: training {model_name} for "
              f"{FLAGS.epochs} epoch(s) on {n_train:,} training images of {ds.description}")
        zoo.train(model, ds.x_train[:n_train], ds.y_train[:n_train], epochs=FLAGS.epochs, batch_size=128,
                  seed=FLAGS.seed)
        # An uncompiled copy stores the network's weights only, not the optimizer's state.
        plain = zoo.build(FLAGS.CNN, FLAGS.layers, ds.input_shape, ds.num_classes, l1=FLAGS.l1, name=model_name)
        plain.set_weights(model.get_weights())
        storage.atomic_save_weights(plain, files["original_weights"])
        trained_now = True

    x_calib = ds.x_train if FLAGS.calib_samples is None else ds.x_train[:FLAGS.calib_samples]
    pre = preprocess(model, x_calib, input_range=ds.input_range, upper_b=FLAGS.upper_b,
                     lower_b=FLAGS.lower_b, batch_size=FLAGS.batch_size)
    print(describe(pre.report))

    # Original network (its own dtype) and preprocessed network (float64) on the test set;
    # the float64 copy of the original measures how closely the two functions agree.
    original64 = graph.with_dtype(model, "float64")
    pred_orig, pred_pre, max_diff = [], [], 0.0
    for p_orig, p64, p_pre in zip(
        predict_batches(model, ds.x_test, FLAGS.batch_size, desc="original"),
        predict_batches(original64, ds.x_test, FLAGS.batch_size, verbose=0),
        predict_batches(pre.model, ds.x_test, FLAGS.batch_size, verbose=0, input_range=pre.input_range),
    ):
        pred_orig.append(np.argmax(p_orig, axis=-1))
        pred_pre.append(np.argmax(p_pre, axis=-1))
        max_diff = max(max_diff, float(np.max(np.abs(p64 - p_pre))))
    pred_orig = np.concatenate(pred_orig).astype(np.int64)
    pred_pre = np.concatenate(pred_pre).astype(np.int64)
    labelled = ds.y_test >= 0  # PASS has no labels (-1)
    acc_orig = float(np.mean(pred_orig[labelled] == ds.y_test[labelled])) if labelled.any() else None
    acc_pre = float(np.mean(pred_pre[labelled] == ds.y_test[labelled])) if labelled.any() else None

    paths = pre.save(logging_dir, model_name)
    storage.atomic_save_npy(files["predictions"], pred_orig)
    accuracy = {
        "data_name": data_name,
        "data_source": ds.source,
        "data": ds.summary(),
        "n_test": int(ds.n_test),
        "accuracy_relu": acc_orig,
        "accuracy_relu_preprocessed": acc_pre,
        "predictions_agree": float(np.mean(pred_orig == pred_pre)),
        "max_abs_output_difference_float64": max_diff,
    }
    storage.atomic_write_json(files["accuracy"], accuracy)
    report = {
        **accuracy,
        "model_name": model_name,
        "logging_dir": logging_dir,
        "trained_now": trained_now,
        "epochs": FLAGS.epochs if trained_now else None,
        "X_n": pre.X_n,
        "preprocessing": pre.report,
        "files": {**paths, "predictions": files["predictions"], "accuracy": files["accuracy"]},
        "elapsed_s": round(time.time() - started, 2),
    }
    storage.atomic_write_json(files["phase1_report"], report)
    fmt = lambda a: "n/a (no labels)" if a is None else f"{a:.4f}"  # noqa: E731
    print(f"accuracy (original ReLU):     {fmt(acc_orig)} on {ds.n_test} test images")
    print(f"accuracy (preprocessed ReLU): {fmt(acc_pre)}; same predictions on "
          f"{100 * accuracy['predictions_agree']:.2f}% of them; max |output difference| (float64) {max_diff:.2e}")
    print(f"phase 1 outputs in {logging_dir} (report: {files['phase1_report']})")
    return report


def main(argv):
    del argv
    run_phase1()


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
