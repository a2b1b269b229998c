"""Bad flags and files on the command line: one clear line naming the flag or file, exit status 2, no
traceback, and nothing computed first (issue 26, items 9 and 10)."""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO, run_module

pytestmark = pytest.mark.slow

#: Runs each command's main, as `python -m` does, on several command lines in one process (TensorFlow is
#: imported once); prints [exit status, standard error] per command line.
SCRIPT = """
import contextlib, io, json, sys
from absl import flags
from snnmap import cli, phase1, phase2, sweep
commands = {"phase1": phase1.main, "phase2": phase2.main, "sweep": sweep.main}
out = []
for line in json.loads(sys.argv[1]):
    name, argv = line[0], ["prog"] + line[1:]
    flags.FLAGS.unparse_flags()
    rest = flags.FLAGS(argv)
    err, status = io.StringIO(), 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.guarded(commands[name])(rest)
        except SystemExit as exit:
            status = exit.code
        except BaseException as exc:
            import traceback
            traceback.print_exc(file=err)
            status = -1
    out.append([status, err.getvalue()])
print(json.dumps(out))
"""


def _run_all(lines):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(lines)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_bad_flags_and_files_get_one_clear_line(tmp_path):
    log = str(tmp_path / "nothing_here")  # no phase 1: every error must come before phase 1 is even looked for
    missing = str(tmp_path / "m_zeta0.5_noise0_alpha0_trial0_part0of2.json")
    cases = [
        (["phase2", "--logging_dir", log, "--batch_size", "0"], "--batch_size (batch_size) must be a positive"),
        (["phase2", "--logging_dir", log, "--batch_size", "-3"], "--batch_size (batch_size) must be a positive"),
        (["phase2", "--logging_dir", log, "--test_samples", "-1"], "--test_samples (test_samples) must be"),
        (["phase1", "--logging_dir", log, "--calib_samples", "-1"], "--calib_samples (calib_samples) must be"),
        (["phase1", "--logging_dir", log, "--train_samples", "-2"], "--train_samples (train_samples) must be"),
        (["phase2", "--logging_dir", log, "--energy_add_pj", "nan"], "--energy_add_pj (add_pj) must be a finite"),
        (["phase2", "--logging_dir", log, "--energy_mac_pj", "-1"], "--energy_mac_pj (mac_pj) must be a finite"),
        (["phase2", "--logging_dir", log, "--model_name", "../../x"], "--model_name (model_name) '../../x' must be"),
        (["phase1", "--logging_dir", log, "--model_name", "/tmp/x"], "--model_name (model_name) '/tmp/x' must be"),
        (["sweep", "--logging_dir", log, "--sweep", "noise=0,0.1", "--model_name", "a/b"], "'a/b' must be a plain"),
        (["sweep", "--logging_dir", log, "--sweep", "noise=0,0.1", "--sweep_name", ".."], "--sweep_name '..'"),
        (["phase2", "--merge", missing], f"cannot merge {missing}: the file does not exist"),
    ]
    results = _run_all([argv for argv, _ in cases])
    for (argv, expected), (status, err) in zip(cases, results):
        assert status == 2, (argv, status, err)
        assert expected in err, (argv, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not os.path.exists(log), "a refused command wrote something"


def test_a_refused_flag_exits_2_without_traceback_as_a_user_runs_it(tmp_path):
    proc = run_module("snnmap.phase2", "--logging_dir", str(tmp_path), "--batch_size", "0", ok=False)
    assert proc.returncode == 2
    assert "error: --batch_size (batch_size) must be a positive integer, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr and "ZeroDivisionError" not in proc.stderr
