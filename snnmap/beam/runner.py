"""Running a pipeline from the driver: staging folder, options, failures turned into clear errors."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

import apache_beam as beam
from apache_beam.runners.runner import PipelineState

from .failures import BeamRunError, run_failed
from .options import DIRECT, WORKER_LOG_OPTION, BeamSettings, describe, pipeline_options
from .quiet import beam_lines_dropped


@contextlib.contextmanager
def staging(settings: BeamSettings, near=None):
    """A fresh staging folder for one pipeline, removed afterwards (whatever happened).

    Parameters
    ----------
    settings : BeamSettings
        Its ``staging_dir`` (shared by the workers on a cluster), else a folder beside ``near``.
    near : str, optional
        A directory on the same file system as the results.
    """
    parent = settings.staging_dir or near or None
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".snnmap-beam-", dir=parent)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(build, settings: BeamSettings, log=print) -> dict:
    """Build a pipeline with ``build(pipeline)``, run it to the end; the runner's description.

    Parameters
    ----------
    build : callable
        Adds the transforms to the pipeline it is given.
    settings : BeamSettings
    log : callable
        Receives the lines to print.

    Raises
    ------
    BeamRunError
        When a worker raised (the message names the record) or the pipeline did not finish.
    """
    options = pipeline_options(settings)
    runner = describe(options)
    log("beam: " + ", ".join(f"{k}={v}" for k, v in runner.items()))
    started = time.time()
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    # Locally, the workers write to this terminal: Beam's lines are dropped unless asked for by their level.
    asked = any(arg.split("=", 1)[0] == f"--{WORKER_LOG_OPTION}" for arg in settings.beam_args)
    quiet = runner["runner"] == DIRECT and not asked
    try:
        with beam_lines_dropped(quiet):
            state = pipeline.run().wait_until_finish()
    except Exception as err:  # noqa: BLE001 - every runner wraps a worker's error its own way (in_memory: not at all)
        raise run_failed(runner["runner"], err) from None
    if state is not None and state != PipelineState.DONE:
        raise BeamRunError(f"the Beam pipeline on {runner['runner']} ended in state {state}; nothing was written")
    runner["elapsed_s"] = round(time.time() - started, 2)
    return runner
