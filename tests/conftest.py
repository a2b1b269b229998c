import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FC_WEIGHTS = os.path.join(REPO, "models", "FashionMNIST", "FC", "fashionmnist_fc_relu_original.weights.h5")

needs_fashion = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason=f"Fashion-MNIST IDX files not installed in {FASHION_DIR} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (flat), from Debian's IDX files."""
    if not os.path.isdir(FASHION_DIR):
        pytest.skip(f"Fashion-MNIST IDX files not installed in {FASHION_DIR}")
    from snnmap import datasets

    return datasets.load("FashionMNIST", source="idx", data_dir=FASHION_DIR, flat=True)


@pytest.fixture(scope="session")
def fashion_fc(fashion):
    """The shipped 784-600-10 network trained on Fashion-MNIST."""
    from snnmap import zoo

    model = zoo.fc()
    model.load_weights(FASHION_FC_WEIGHTS)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def run_module(*args, ok=True):
    """``python -m *args`` in the repository, as a user runs it; asserts success when ``ok``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def results_of(proc):
    """(absolute path, contents) of the results file named by a command's last line ``results: PATH``."""
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("results: "), last
    path = last[len("results: "):]
    path = path if os.path.isabs(path) else os.path.join(REPO, path)
    with open(path) as fh:
        return path, json.load(fh)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The JAX-backend run (``test_jax_backend.py``) starts in the background once it is selected
    (after ``-k``/``-m``), and its test, which waits for it, moves to the end of the session."""
    jax = [item for item in items if item.name == "test_layer_and_equivalence_tests_pass_under_jax"]
    if not jax:
        return
    items[:] = [item for item in items if item not in jax] + jax
    jax[0].module.start(config)
