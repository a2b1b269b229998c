"""How a Beam pipeline of snnmap runs: the runner, its options, and the local default.

The DirectRunner is the embedded default: it uses every core of the machine
(``direct_num_workers``) in ``multi_processing`` mode unless told otherwise.  Any other runner
(Flink, Spark, Dataflow, ...) takes its own pipeline options, passed through unchanged
(``--flink_master=host:8081``, ``--project=...``).
"""

from __future__ import annotations

import dataclasses
import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

DIRECT = "DirectRunner"
RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")


@dataclasses.dataclass(frozen=True)
class BeamSettings:
    """Where and how a Beam pipeline runs.

    Attributes
    ----------
    runner : str
        A runner Beam knows: ``DirectRunner`` (default), ``FlinkRunner``, ``SparkRunner``,
        ``DataflowRunner``, ...
    num_workers : int or None
        DirectRunner only: worker processes (``direct_num_workers``); None: every core.
    running_mode : str or None
        DirectRunner only: ``multi_processing`` (default), ``multi_threading`` or ``in_memory``.
    beam_args : tuple of str
        Further pipeline options, passed to Beam unchanged (``--flink_master=host:8081``).
    staging_dir : str or None
        A directory every worker can read and write (on a cluster: a shared file system), for
        the saved networks and the combined result; None: a temporary folder beside the results.
    verbose : bool
        Print a line per finished record (progress).
    """

    runner: str = DIRECT
    num_workers: int | None = None
    running_mode: str | None = None
    beam_args: tuple = ()
    staging_dir: str | None = None
    verbose: bool = True


def pipeline_options(settings: BeamSettings) -> PipelineOptions:
    """The Beam ``PipelineOptions`` of ``settings``.

    Options given in ``settings.beam_args`` win over the defaults set here.

    Parameters
    ----------
    settings : BeamSettings
    """
    if not settings.runner:
        raise ValueError("runner must name a Beam runner (DirectRunner, FlinkRunner, ...), got an empty name")
    options = PipelineOptions(["--runner", settings.runner, *settings.beam_args])
    given = options.get_all_options(drop_default=True)
    if options.view_as(StandardOptions).runner in (DIRECT, "BundleBasedDirectRunner", "SwitchingDirectRunner"):
        direct = options.view_as(DirectOptions)
        if settings.running_mode is not None and settings.running_mode not in RUNNING_MODES:
            raise ValueError(f"running_mode must be one of {RUNNING_MODES}, got {settings.running_mode!r}")
        if settings.num_workers is not None and settings.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {settings.num_workers}")
        if "direct_num_workers" not in given:
            direct.direct_num_workers = settings.num_workers or os.cpu_count() or 1
        if "direct_running_mode" not in given:
            direct.direct_running_mode = settings.running_mode or RUNNING_MODES[0]
    return options


def describe(options: PipelineOptions) -> dict:
    """What a results file records of the runner: its name and, locally, workers and mode.

    Parameters
    ----------
    options : PipelineOptions
    """
    runner = options.view_as(StandardOptions).runner
    out = {"runner": runner}
    if runner == DIRECT:
        direct = options.view_as(DirectOptions)
        out.update(direct_num_workers=direct.direct_num_workers, direct_running_mode=direct.direct_running_mode)
    return out
