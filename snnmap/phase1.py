"""Phase 1 command: preprocess the original ReLU network (docs/method.md §4).

    python -m snnmap.phase1 --data_name MNIST
    python -m snnmap.phase1 --flagfile flags/fashionmnist_fc.txt
    python -m snnmap.phase1 --data_name FashionMNIST --model_path my.keras --input_range 0,1
    python -m snnmap.phase1 --flagfile flags/fashionmnist_fc.txt --runner DirectRunner

Loads the data and the original network: the zoo model's weights from ``--logging_dir``
(training them first, with a progress bar, if they are missing), or your own saved Keras model
(``--model_path``).  Records the original network's test predictions and accuracy, preprocesses it
(:func:`snnmap.preprocess`, one streamed pass over the training images for ``X_n``), checks that
the preprocessed network computes the same function, and writes everything atomically into
``--logging_dir`` (:func:`snnmap.experiments.phase1.run_phase1`).  With ``--runner`` the
calibration pass and the original network's pass over the test set are Apache Beam pipelines on
that runner (:func:`snnmap.beam.run_phase1`: the same ``X_n``, predictions and logits, bit for bit).
"""

from __future__ import annotations

import importlib

from . import cli

cli.define_common_flags()


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]} (phase 1 takes flags only)")
    # Imported after the flags are parsed: the library imports TensorFlow, which --help must not wait for.
    phase1 = importlib.import_module("snnmap.experiments.phase1")
    beam = cli.beam_settings()
    if beam is None:
        report = phase1.run_phase1(cli.experiment(), cli.phase1_settings())
    else:  # both passes over data (calibration, the original network on the test set) as Beam pipelines
        report = importlib.import_module("snnmap.beam").run_phase1(cli.experiment(), cli.phase1_settings(), beam)
    print("\n".join(phase1.summary_lines(report)))


def run():
    cli.run_command(main, "phase1", __doc__)


if __name__ == "__main__":
    run()
