"""Phase 2 command: convert the preprocessed network into the SNN, evaluate it, report.

    python -m snnmap.phase2                      # MNIST FC, after phase 1
    python -m snnmap.phase2 --flagfile flags/fashionmnist_fc.txt --noise 0.1 --trial 3
    python -m snnmap.phase2 --merge results/*_partKofN.json
    python -m snnmap.phase2 --data_name FashionMNIST --model_path my.keras --input_range 0,1
    python -m snnmap.phase2 --flagfile flags/fashionmnist_fc.txt --runner DirectRunner --direct_num_workers 2

Reads phase 1's outputs from ``--logging_dir`` (a clear error says to run phase 1 if they
are missing), builds the SNN with the robustness knobs (docs/method.md §6), runs it on the test
set batch by batch, prints a summary, and writes a JSON results file whose name encodes
every setting, so runs never overwrite each other (:func:`snnmap.experiments.phase2.run_phase2`).
With ``--runner`` the evaluation is an Apache Beam pipeline on that runner
(:func:`snnmap.beam.run_phase2`; the same results, plus ``runner``).
With ``--merge`` it combines the results of the parts of one test set
(:func:`snnmap.experiments.merge.merge_results`).  The LAST line of standard output is
``results: <path>``.
"""

from __future__ import annotations

import importlib
import json

from absl import flags

from . import cli

cli.define_common_flags()
cli.define(cli.SHARDS, "boolean", "merge", False, "Merge the phase-2 results files given as arguments (the parts "
           "of one test set) into one results file.")
cli.define(cli.SHARDS, "string", "merged_path", None, "With --merge: where to write the merged file (default: the "
           "parts' name with _merged instead of _partKofN; an existing file that no merge wrote is never "
           "overwritten).")
FLAGS = flags.FLAGS


def _library(name):
    """``snnmap.<name>``, imported after the flags are parsed (it imports TensorFlow; --help does not wait)."""
    return importlib.import_module(f"snnmap.{name}")


def _print_report(path):
    """Write the page of ``path`` and say so; first, in one line, which figures it lacks."""
    written = _library("reporting.html").write_page(path)
    if written.missing:
        print(f"note: {path}: {written.missing}")
    print(f"report: {written.path}")


def phase2():
    """Phase 2 from the parsed flags, with its report and saved SNN when asked for; returns ``(result, path)``."""
    beam = cli.beam_settings()
    if beam is None:
        done = _library("experiments.phase2").run_phase2(cli.experiment(), cli.run_settings(), cli.phase2_options())
    else:
        done = _library("beam").run_phase2(cli.experiment(), cli.run_settings(), cli.phase2_options(), beam)
    if FLAGS.report:
        _library("reporting.html").write_run_artifacts(
            done.path, done.snn, done.data.x_test, relu_model=done.pre.model, input_range=done.pre.input_range,
            result=done.result, n_images=16, clip=FLAGS.clip_inputs, report=False)
        _print_report(done.path)  # the page, once, with the note on missing figures
    if FLAGS.save_snn:
        _library("storage").atomic_save_model(done.snn, FLAGS.save_snn)
    return done.result, done.path


def main(argv):
    if FLAGS.merge:
        if FLAGS.runner:
            raise ValueError("--merge combines finished results files and runs no pipeline: leave --runner out")
        result, path = _library("experiments.merge").merge_results(argv[1:], FLAGS.merged_path)
        if FLAGS.report:
            _print_report(path)
    else:
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments {argv[1:]} (results files are only taken with --merge)")
        result, path = phase2()
    print("\n".join(_library("experiments.phase2").summary_lines(result)))
    keys = ("accuracy_snn", "agreement", "max_abs_error_original", "max_abs_error", "violations")
    print(json.dumps({k: result.get(k) for k in keys}))
    print(f"results: {path}")


def run():
    cli.run_command(main, "phase2", __doc__)


if __name__ == "__main__":
    run()
