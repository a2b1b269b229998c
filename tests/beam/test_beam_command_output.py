"""What a user of ``--runner`` sees: snnmap's progress and results without Beam's log lines, and a typo in a
pipeline option refused by name."""

import os
import re
import shutil

import pytest

from helpers import FASHION_FC_WEIGHTS, REPO, needs_fashion, results_of, run_module as run

pytest.importorskip("apache_beam")

#: A log line of Beam's below ERROR, in the workers' format (INFO:logger:...) or absl's (I1205 19:06:53...).
BEAM_INFO = re.compile(r"^(?:(?:INFO|DEBUG):|[ID]\d{4} \d\d:\d\d:\d\d)", re.MULTILINE)


def _flags(log_dir):
    return ["--flagfile", os.path.join(REPO, "flags", "fashionmnist_fc.txt"), "--logging_dir", str(log_dir),
            "--test_samples", "300"]


def test_a_misspelt_pipeline_option_is_refused_naming_it(tmp_path):
    proc = run("snnmap.phase2", *_flags(tmp_path), "--runner", "FlinkRunner", "--flink_mastr=host:8081", ok=False)
    assert proc.returncode == 2
    assert "Beam knows no pipeline option --flink_mastr=host:8081 (did you mean --flink_master" in proc.stderr
    assert not os.path.exists(tmp_path / "results")


@pytest.mark.slow
@needs_fashion
def test_a_multi_process_phase2_prints_progress_and_results_without_beam_lines(tmp_path):
    shutil.copy(FASHION_FC_WEIGHTS, tmp_path / "fashionmnist_fc_relu_original.weights.h5")
    run("snnmap.phase1", *_flags(tmp_path), "--calib_samples", "1000")
    proc = run("snnmap.phase2", *_flags(tmp_path), "--runner", "DirectRunner", "--direct_num_workers", "2")
    output = proc.stdout + proc.stderr
    assert not BEAM_INFO.findall(output), output[-3000:]
    assert "Logging handler created" not in output and "BatchElements" not in output
    # The progress of both records (printed by the worker processes) and the results are there.
    assert "snnmap beam: SNN: images 0..255 of 300 done" in output and "SNN: images 256..299 of 300 done" in output
    _, results = results_of(proc)
    assert results["runner"] == {"runner": "DirectRunner", "direct_num_workers": 2,
                                 "direct_running_mode": "multi_processing", "elapsed_s": results["runner"]["elapsed_s"]}
    assert results["n_test"] == 300
