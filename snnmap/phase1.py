"""Phase 1 command: preprocess the original ReLU network (docs/method.md §4).

    python -m snnmap.phase1 --data_name MNIST
    python -m snnmap.phase1 --flagfile flags/fashionmnist_fc.txt

Loads the data and the zoo model's original weights from ``--logging_dir`` (training them
first, with a progress bar, if they are missing), records the original network's test
predictions and accuracy, preprocesses it (:func:`snnmap.preprocess`, one streamed pass
over the training images for ``X_n``), checks that the preprocessed network computes the
same function, and writes everything atomically into ``--logging_dir``
(:func:`snnmap.experiments.phase1.run_phase1`).
"""

from __future__ import annotations

from absl import app

from . import cli
from .experiments.phase1 import run_phase1, summary_lines

cli.define_common_flags()


def main(argv):
    del argv
    report = run_phase1(cli.experiment(), cli.phase1_settings())
    print("\n".join(summary_lines(report)))


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
