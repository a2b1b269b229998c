"""Phase 2 command: convert the preprocessed network into the SNN, evaluate it, report.

    python -m snnmap.phase2                      # MNIST FC, after phase 1
    python -m snnmap.phase2 --flagfile flags/fashionmnist_fc.txt --noise 0.1 --trial 3
    python -m snnmap.phase2 --merge results/*_partKofN.json

Reads phase 1's outputs from ``--logging_dir`` (a clear error says to run phase 1 if they
are missing), builds the SNN with the robustness knobs (docs/method.md §6), runs it on the test
set batch by batch, prints a summary, and writes a JSON results file whose name encodes
every setting, so runs never overwrite each other (:func:`snnmap.experiments.phase2.run_phase2`).
With ``--merge`` it combines the results of the parts of one test set
(:func:`snnmap.experiments.merge.merge_results`).  The LAST line of standard output is
``results: <path>``.
"""

from __future__ import annotations

import json

from absl import app, flags

from . import cli, storage
from .experiments.merge import merge_results
from .experiments.phase2 import run_phase2, summary_lines
from .reporting.html import write_page, write_run_artifacts

cli.define_common_flags()
flags.DEFINE_boolean("merge", False, "Merge the phase-2 results files given as arguments (the parts of one "
                     "test set) into one results file.")
flags.DEFINE_string("merged_path", None, "With --merge: where to write the merged file (default: the parts' "
                    "name with _merged instead of _partKofN; an existing file that no merge wrote is never "
                    "overwritten).")
FLAGS = flags.FLAGS


def _print_report(path):
    """Write the page of ``path`` and say so; first, in one line, which figures it lacks."""
    written = write_page(path)
    if written.missing:
        print(f"note: {path}: {written.missing}")
    print(f"report: {written.path}")


def phase2():
    """Phase 2 from the parsed flags, with its report and saved SNN when asked for; returns ``(result, path)``."""
    done = run_phase2(cli.experiment(), cli.run_settings(), cli.phase2_options())
    if FLAGS.report:
        write_run_artifacts(done.path, done.snn, done.data.x_test, relu_model=done.pre.model,
                            input_range=done.pre.input_range, result=done.result, n_images=16,
                            clip=FLAGS.clip_inputs)
        _print_report(done.path)
    if FLAGS.save_snn:
        storage.atomic_save_model(done.snn, FLAGS.save_snn)
    return done.result, done.path


def main(argv):
    if FLAGS.merge:
        result, path = merge_results(argv[1:], FLAGS.merged_path)
        if FLAGS.report:
            _print_report(path)
    else:
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments {argv[1:]} (results files are only taken with --merge)")
        result, path = phase2()
    print("\n".join(summary_lines(result)))
    keys = ("accuracy_snn", "agreement", "max_abs_error_original", "max_abs_error", "violations")
    print(json.dumps({k: result.get(k) for k in keys}))
    print(f"results: {path}")


def run():
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
