"""How a Beam pipeline of snnmap runs: the runner, its options, and the local default.

The DirectRunner is the embedded default: it uses every core of the machine
(``direct_num_workers``) in ``multi_processing`` mode unless told otherwise.  Any other runner
(Flink, Spark, Dataflow, ...) takes its own pipeline options, passed through unchanged
(``--flink_master=host:8081``, ``--project=...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, WorkerOptions
from apache_beam.runners.runner import create_runner

DIRECT = "DirectRunner"
RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")
#: The workers' log level unless the options set one: their warnings and errors, not their INFO lines.
WORKER_LOG_LEVEL = "WARNING"
WORKER_LOG_OPTION = "default_sdk_harness_log_level"


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

    def __post_init__(self):
        pipeline_options(self)  # a wrong runner, mode or option is refused now, before any work


def _known_options(runner):
    """Every pipeline option Beam knows (with ``runner``'s own, whose module may define more)."""
    try:
        create_runner(runner)  # imports the runner's module, which may add its options
    except ValueError as err:  # Beam's message lists the runners it knows
        raise ValueError(f"runner {runner!r} is not a Beam runner: {err}") from None
    except Exception:  # noqa: BLE001 - a runner missing a dependency is reported by the pipeline, in Beam's words
        pass
    parsers = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    return parsers[0]


def check_options(beam_args, runner=DIRECT):
    """Refuse options in ``beam_args`` that no pipeline options class of Beam defines (typos).

    Beam itself only logs them and runs without them, so that ``--flink_mastr=...`` would run
    somewhere else than asked.

    Parameters
    ----------
    beam_args : sequence of str
        Pipeline options (``--flink_master=host:8081``, ``--project p``).
    runner : str
        The runner they are for.

    Raises
    ------
    ValueError
        Naming each unknown option and the known ones closest to it; or when ``runner`` is not a
        runner Beam knows.
    """
    parser = _known_options(runner)
    parser.exit_on_error = False  # a bad value is an error of ours, not an exit of the program
    try:
        _, unknown = parser.parse_known_args(list(beam_args))
    except argparse.ArgumentError as err:
        raise ValueError(f"beam_args: the pipeline option {err}") from None
    unknown = [arg for arg in unknown if arg.startswith("-")]
    if not unknown:
        return
    known = sorted({opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")})
    named = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], known, n=3)
        named.append(arg + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    raise ValueError(f"Beam knows no pipeline option {'; '.join(named)} (beam_args); it would run without "
                     f"{'it' if len(unknown) == 1 else 'them'}: spell options as your runner's documentation does "
                     "(https://beam.apache.org/releases/pydoc/current/apache_beam.options.pipeline_options.html)")


def pipeline_options(settings: BeamSettings) -> PipelineOptions:
    """The Beam ``PipelineOptions`` of ``settings``.

    Options given in ``settings.beam_args`` win over the defaults set here.

    Parameters
    ----------
    settings : BeamSettings
    """
    if not settings.runner:
        raise ValueError("runner must name a Beam runner (DirectRunner, FlinkRunner, ...), got an empty name")
    check_options(settings.beam_args, settings.runner)
    options = PipelineOptions(["--runner", settings.runner, *settings.beam_args])
    given = options.get_all_options(drop_default=True)
    if WORKER_LOG_OPTION not in given:
        options.view_as(WorkerOptions).default_sdk_harness_log_level = WORKER_LOG_LEVEL
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
