"""Pipeline options: a typo is refused naming it (Beam would only log it), the workers log warnings only, and
Beam's own log lines stay out of what a local run prints."""

import subprocess
import sys

import pytest

pytest.importorskip("apache_beam")

from snnmap import beam  # noqa: E402
from snnmap.beam.quiet import beam_lines_dropped  # noqa: E402


def test_an_unknown_pipeline_option_is_refused_naming_it_and_the_close_ones():
    with pytest.raises(ValueError, match=r"Beam knows no pipeline option --flink_mastr=host:8081 \(did you mean "
                                         r"--flink_master[ ?]"):
        beam.BeamSettings(runner="FlinkRunner", beam_args=("--flink_mastr=host:8081",))
    with pytest.raises(ValueError, match=r"--projet \(did you mean --project\?\).*--zone_x"):
        beam.BeamSettings(runner="DataflowRunner", beam_args=("--projet", "p", "--zone_x=1"))
    with pytest.raises(ValueError, match="runner 'FlinkRuner' is not a Beam runner.*FlinkRunner"):
        beam.BeamSettings(runner="FlinkRuner")
    with pytest.raises(ValueError, match="--direct_num_workers: invalid int value: 'abc'"):
        beam.BeamSettings(beam_args=("--direct_num_workers", "abc"))
    # Known options, with their values as separate arguments or not, pass.
    options = beam.pipeline_options(beam.BeamSettings(runner="FlinkRunner",
                                                      beam_args=("--flink_master", "host:8081", "--parallelism=2")))
    assert options.get_all_options()["flink_master"] == "host:8081"


def test_workers_log_warnings_only_unless_asked():
    quiet = beam.pipeline_options(beam.BeamSettings()).get_all_options()
    asked = beam.pipeline_options(beam.BeamSettings(beam_args=("--default_sdk_harness_log_level=DEBUG",)))
    assert quiet["default_sdk_harness_log_level"] == "WARNING"
    assert asked.get_all_options()["default_sdk_harness_log_level"] == "DEBUG"


CHILD = r"""
import sys
for line in ["INFO:__main__:Logging handler created.", "WARNING:root:Resource module is not available",
             "INFO:apache_beam.runners.worker.sdk_worker:Control channel established.",
             "W1205 19:06:59.001595 140190593042112 local_job_service.py:367] Worker: severity: WARN",
             "snnmap beam: SNN: images 0..255 of 300 done", "ERROR:apache_beam.runners.common:a worker failed",
             "WARNING:snnmap.data:ours"]:
    print(line, file=sys.stderr, flush=True)
"""


def test_beam_lines_of_worker_processes_are_dropped_and_ours_kept(capfd):
    with beam_lines_dropped():
        subprocess.run([sys.executable, "-c", CHILD], check=True)  # a worker writes to the inherited stderr
        print("driver line", file=sys.stderr)
    with beam_lines_dropped(active=False):
        subprocess.run([sys.executable, "-c", CHILD], check=True)
    err = capfd.readouterr().err.splitlines()
    kept = ["snnmap beam: SNN: images 0..255 of 300 done", "ERROR:apache_beam.runners.common:a worker failed",
            "WARNING:snnmap.data:ours", "driver line"]
    assert err[:4] == kept  # in order, nothing of Beam's below ERROR
    assert len(err) == 4 + 7 and err[4] == "INFO:__main__:Logging handler created."  # inactive: all of it
