"""Every flag file under flags/ is read by every command and names a known experiment; the flags'
defaults are the settings' defaults; importing a library module defines no flag."""

import glob
import json
import os
import subprocess
import sys

from helpers import REPO

FILES = sorted(glob.glob(os.path.join(REPO, "flags", "*.txt")))
SWEEP_FLAG_FILES = [f for f in FILES if "--sweep" in open(f).read()]

SCRIPT = """
import json, sys
from snnmap import cli
from snnmap import phase1, phase2, sweep  # all three commands' flags
from snnmap.experiments.grid import parse_grid
out = {}
for path in sys.argv[1:]:
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["prog", "--flagfile=" + path])
    out[path] = list(cli.experiment_names()) + [cli.FLAGS.CNN, cli.FLAGS.layers, cli.FLAGS.trials,
                                                parse_grid(cli.FLAGS.sweep) if cli.FLAGS.sweep else None]
print(json.dumps(out))
"""


def _run(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_flag_files():
    names = {os.path.basename(f)[:-4] for f in FILES}
    for expected in ["mnist_fc", "fashionmnist_fc", "mnist_lenet5", "fashionmnist_lenet5", "mnist_vgg16",
                     "fashionmnist_vgg16", "cifar10_vgg15", "cifar100_vgg15", "places365_vgg16", "pass_vgg16"]:
        assert expected in names
    parsed = _run(SCRIPT, *FILES)
    for path in FILES:
        data_name, logging_dir, model_name, cnn, layers, _, _ = parsed[path]
        assert logging_dir.startswith("models/" + data_name + "/"), path
        assert model_name.startswith(data_name.lower()), path
        assert cnn == ("_fc" not in os.path.basename(path)), path

    # The sweep's flag files: one knob each, named by the file.
    sweep_names = {os.path.basename(f)[:-4] for f in SWEEP_FLAG_FILES}
    assert {"fashionmnist_fc_noise", "fashionmnist_fc_alpha_noise", "fashionmnist_fc_zeta",
            "fashionmnist_fc_time_bits", "fashionmnist_lenet5_noise"} <= sweep_names
    for path in SWEEP_FLAG_FILES:
        data_name, logging_dir, model_name, cnn, _, trials, grid = parsed[path]
        base = os.path.basename(path)
        network = base.split("_")[1]  # fc, lenet5
        assert data_name == "FashionMNIST" and logging_dir.startswith("models/FashionMNIST/"), path
        assert model_name == f"fashionmnist_{network}_relu", path
        assert cnn == (network != "fc"), path
        knob = base[len(f"fashionmnist_{network}_"):-4]
        assert list(grid) == [knob], path
    grids = {os.path.basename(p)[:-4]: parsed[p] for p in SWEEP_FLAG_FILES}
    for name in ("fashionmnist_fc_noise", "fashionmnist_lenet5_noise"):
        noise, trials = grids[name][-1]["noise"], grids[name][-2]
        assert min(noise) == 0 and max(noise) == 0.5 and len(noise) >= 6 and trials == 5
    zeta = grids["fashionmnist_fc_zeta"][-1]["zeta"]
    assert min(zeta) == 0 and max(zeta) == 1
    assert grids["fashionmnist_fc_time_bits"][-1]["time_bits"] == list(range(2, 11))


DEFAULTS = """
import json
from snnmap import cli
from snnmap.experiments.settings import Experiment, Phase1Settings, Phase2Options, RunSettings
from snnmap.experiments import naming
cli.define_common_flags()
cli.FLAGS(["prog"])
print(json.dumps([cli.run_settings() == RunSettings(), cli.phase1_settings() == Phase1Settings(),
                  cli.phase2_options() == Phase2Options(),
                  cli.experiment() == naming.resolve(Experiment())]))
"""


def test_flag_defaults_are_the_settings_defaults():
    assert _run(DEFAULTS) == [True, True, True, True]


NO_FLAGS = """
import importlib, json, pkgutil
import snnmap
from absl import flags
COMMANDS = {"snnmap.cli", "snnmap.phase1", "snnmap.phase2", "snnmap.sweep", "snnmap.report", "snnmap.compare"}
names = sorted(m.name for m in pkgutil.walk_packages(snnmap.__path__, "snnmap.") if m.name not in COMMANDS)
for name in names:
    importlib.import_module(name)
print(json.dumps([names, sorted(flags.FLAGS)]))
"""


def test_importing_the_library_defines_no_flag():
    modules, defined = _run(NO_FLAGS)
    assert "snnmap.experiments.sweep" in modules and "snnmap.experiments.phase2" in modules
    assert not {"data_name", "zeta", "sweep", "merge"} & set(defined), defined
