"""Every flag file under flags/ is read by both commands and names a known experiment."""

import glob
import json
import os
import subprocess
import sys

from helpers import REPO

FILES = sorted(glob.glob(os.path.join(REPO, "flags", "*.txt")))

SCRIPT = """
import json, sys
from snnmap import cli
from snnmap import phase1, phase2  # both commands' flags
out = {}
for path in sys.argv[1:]:
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["prog", "--flagfile=" + path])
    out[path] = list(cli.experiment_names()) + [cli.FLAGS.CNN, cli.FLAGS.layers]
print(json.dumps(out))
"""


def test_flag_files():
    names = {os.path.basename(f)[:-4] for f in FILES}
    for expected in ["mnist_fc", "fashionmnist_fc", "mnist_lenet5", "fashionmnist_lenet5", "mnist_vgg16",
                     "fashionmnist_vgg16", "cifar10_vgg15", "cifar100_vgg15", "places365_vgg16", "pass_vgg16"]:
        assert expected in names
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *FILES], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    for path in FILES:
        data_name, logging_dir, model_name, cnn, layers = parsed[path]
        assert logging_dir.startswith("models/" + data_name + "/"), path
        assert model_name.startswith(data_name.lower()), path
        assert cnn == ("_fc" not in os.path.basename(path)), path
