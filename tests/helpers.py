"""Constants and helpers the tests share (conftest.py holds the fixtures and hooks)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FC_WEIGHTS = os.path.join(REPO, "models", "FashionMNIST", "FC", "fashionmnist_fc_relu_original.weights.h5")
FASHION_RESNET_WEIGHTS = os.path.join(REPO, "models", "FashionMNIST", "ResNet",
                                      "fashionmnist_resnet_relu_original.weights.h5")

needs_fashion = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason=f"Fashion-MNIST IDX files not installed in {FASHION_DIR} (apt-get install dataset-fashion-mnist)",
)


def bench_module(name):
    """The module ``name`` of bench/ (its scripts import each other by plain name)."""
    import importlib

    sys.path.insert(0, os.path.join(REPO, "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def run_module(*args, ok=True):
    """``python -m *args`` in the repository, as a user runs it; asserts success when ``ok``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def phase1_of(directory, flag_file, weights, *flags):
    """Phase 1 of ``flags/<flag_file>`` in ``directory`` with the shipped ``weights`` copied there first;
    returns the flags every later command of the same experiment takes (``flags`` among them)."""
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(weights)
    shutil.copy(weights, os.path.join(directory, name))
    common = ["--flagfile", os.path.join(REPO, "flags", flag_file), "--logging_dir", str(directory), *flags]
    return common, run_module("snnmap.phase1", *common, "--calib_samples", "2000")


def results_of(proc):
    """(absolute path, contents) of the results file named by a command's last line ``results: PATH``."""
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("results: "), last
    path = last[len("results: "):]
    path = path if os.path.isabs(path) else os.path.join(REPO, path)
    with open(path) as fh:
        return path, json.load(fh)


def numpy_grid(u, tau, quantiles, t_in, time_share=0.0):
    """The grid points of :func:`snnmap.core.grid.quantile_grid` in numpy: the latest distinct
    informative time whose level ``(1 - w) r / d + w (time - a) / (tau - a)`` is at most f (r its
    rank among the image's d distinct informative times, a the first arrival clipped at -T_in),
    clipped to [-T_in, tau]; every point at tau in an image with no informative input."""
    from snnmap.core.grid import LEVEL_SLACK
    rows = []
    for row, last in zip(u, tau):
        times = np.unique(row[row < last])
        if not len(times):
            rows.append([last] * len(quantiles))
            continue
        first = max(times[0], -t_in)
        level = (1 - time_share) * np.arange(len(times)) / len(times) + time_share * (times - first) / (last - first)
        picks = [max(np.sum(level <= float(f) + LEVEL_SLACK) - 1, 0) for f in quantiles]
        rows.append([np.clip(times[k], -t_in, last) for k in picks])
    return np.array(rows)
