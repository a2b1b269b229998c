"""The spiking core runs unchanged on a second Keras backend: the layer and the
conversion-equivalence tests, run again under KERAS_BACKEND=jax in a subprocess.

The subprocess starts as soon as collection selects the test (``conftest.py`` calls
:func:`start`) and the test itself runs last, waiting for it: the JAX run, mostly XLA
compilation on one core, overlaps the rest of the suite instead of adding to it."""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from helpers import REPO

FILES = ["tests/core/test_spiketime.py", "tests/layers/test_layers.py", "tests/layers/test_conv_layers.py",
         "tests/core/test_bounds.py", "tests/layers/test_layer_bounds.py", "tests/layers/test_legacy.py",
         "tests/pipeline/test_convert.py"]
# JAX compiles every new shape, so the whole files would take tens of minutes: a selection
# covering every code path (dense and conv layers against the oracle, violations (a)/(b),
# readout, serialisation, a model saved by an older snnmap, predict in float64, the
# conversion-equivalence tests, the bounds and their cascade) runs instead.  The cascade's own
# tests of single-point stages, of the alternative points and of chunked against separate grids
# are left to TensorFlow: the forced cascade of the layer's own stages, both regimes' code
# included, runs here in test_every_stage_forced.  So is
# test_float32_keeps_precision_in_a_deep_network (five 15-layer SNNs to compile): the frames'
# float32 rounding is the same arithmetic on either backend, and test_float32_snn_agrees
# converts in float32 here.
SELECTION = ("not scan and not float32_keeps_precision and not cascade_chunks and "
             "(test_spiketime or test_convert or (random_layers_match_oracle and seed0) "
             "or (condition_b and 0-) or condition_a or output_layer_readout or model_matches or predict_keeps "
             "or few_open or (random_conv_layers_match_oracle and (g0- or g1-)) or same_padding_inputs "
             "or conv_model_matches or test_legacy "
             "or ((test_bounds or test_layer_bounds) and not fused and not single_point and not alternative_points))")
TIMEOUT_S = 1800


def runnable():
    """Whether the test runs here: JAX is installed and this is not the JAX run itself."""
    return importlib.util.find_spec("jax") is not None and os.environ.get("KERAS_BACKEND") != "jax"


def _run_dir():
    """Where the JAX run writes ``out``, ``err`` and ``rc`` (its exit status, last): one
    directory per pytest session, shared by pytest-xdist's workers."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        return tempfile.mkdtemp(prefix="snnmap-jax-")
    path = os.path.join(tempfile.gettempdir(), f"snnmap-jax-{run}")
    os.makedirs(path, exist_ok=True)
    return path


def start(config):
    """Start the JAX run in the background, once per pytest session: in the process itself,
    or under pytest-xdist in worker ``gw0`` only (every worker collects; any may run the
    test, which then reads the run's files).  Its exit status is written last, by a small
    wrapper that also kills it after TIMEOUT_S."""
    if getattr(config, "_snnmap_jax_run", None) is not None or not runnable() or config.option.collectonly:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    path = _run_dir()
    config._snnmap_jax_run = path
    if worker not in (None, "gw0"):
        return
    # These tests compile many small shapes and run each a few times: XLA's CPU compiler without
    # its expensive LLVM passes spends less time compiling than it loses running (conv layers'
    # selection: 232 s -> 174 s on a 2-core AVX2 machine; the whole run: about 23 -> 13 minutes).
    xla = " ".join([os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0",
                    "--xla_llvm_disable_expensive_passes=true"]).strip()
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, XLA_FLAGS=xla)
    for key in [k for k in env if k.startswith("PYTEST_XDIST") or k == "PYTEST_CURRENT_TEST"]:
        del env[key]
    wrapper = ("import subprocess, sys\n"
               "out, err, rc, timeout = sys.argv[1:5]\n"
               "with open(out, 'w') as o, open(err, 'w') as e:\n"
               "    p = subprocess.Popen(sys.argv[5:], stdout=o, stderr=e)\n"
               "    try:\n"
               "        code = p.wait(timeout=float(timeout))\n"
               "    except subprocess.TimeoutExpired:\n"
               "        p.kill(); p.wait(); code = 'timeout'\n"
               "open(rc + '.tmp', 'w').write(str(code))\n"
               "import os; os.replace(rc + '.tmp', rc)\n")
    files = [os.path.join(path, name) for name in ("out", "err", "rc")]
    proc = subprocess.Popen([sys.executable, "-c", wrapper, *files, str(TIMEOUT_S), sys.executable, "-m", "pytest",
                             "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-W", "ignore", "-k", SELECTION, *FILES],
                            cwd=REPO, env=env, start_new_session=True)
    if worker is None:
        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
            shutil.rmtree(path, ignore_errors=True)
        config.add_cleanup(stop)


def _read(path):
    """A file's text, or "" if it does not exist (yet)."""
    return open(path).read() if os.path.exists(path) else ""


@pytest.mark.slow
@pytest.mark.skipif(not runnable(), reason="needs jax (pip install 'jax[cpu]') and a run not itself under JAX")
def test_layer_and_equivalence_tests_pass_under_jax(request):
    start(request.config)  # already running unless collection was bypassed
    path = request.config._snnmap_jax_run
    rc_file = os.path.join(path, "rc")
    deadline = time.monotonic() + TIMEOUT_S + 60
    while not os.path.exists(rc_file) and time.monotonic() < deadline:
        time.sleep(2)
    rc, stdout, stderr = (_read(os.path.join(path, name)) for name in ("rc", "out", "err"))
    if rc:  # finished: only this test reads the files
        shutil.rmtree(path, ignore_errors=True)
    timed_out = {"timeout": f"the JAX run was still going {TIMEOUT_S} s after it began, killed\n",
                 "": f"the JAX run wrote no exit status within {TIMEOUT_S + 60} s\n"}.get(rc, "")
    summary = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    print("JAX backend:", summary)
    assert rc == "0", timed_out + stdout[-5000:] + stderr[-2000:]
    assert "passed" in summary and "failed" not in summary
