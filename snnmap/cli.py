"""Command-line plumbing of ``python -m snnmap.phase1``, ``phase2`` and ``sweep``: the flags and
the typed settings built from them.

Flag names follow the original exact-mapping code (``data_name``, ``model_name``,
``logging_dir``, ``CNN``, ``layers``, ...); ``--flagfile`` (absl) reads them from a file,
one per line, as in ``flags/*.txt``.  Every command knows every flag, so one flag file serves
all three.  The defaults are those of :mod:`snnmap.experiments.settings`.
"""

from __future__ import annotations

import logging
import sys

logging.getLogger("tensorflow").setLevel(logging.ERROR)

from absl import flags  # noqa: E402

from .data import DataSourceError  # noqa: E402
from .errors import SnnmapError  # noqa: E402
from .experiments import naming  # noqa: E402
from .experiments.settings import (DISTRIBUTE, DTYPES, SOLVERS, Experiment, Phase1Settings,  # noqa: E402
                                   Phase2Options, RunSettings, default_of)

FLAGS = flags.FLAGS


def _experiment_flags():
    d = lambda name: default_of(Experiment, name)  # noqa: E731
    flags.DEFINE_string("data_name", d("data_name"),
                        "Data set: MNIST, FashionMNIST, CIFAR10, CIFAR100, PLACES365 or PASS.")
    flags.DEFINE_string("data_source", d("data_source"),
                        "Where the data come from: auto, tfds, idx, sample, npz or arrays.")
    flags.DEFINE_string("data_dir", None, "Directory of IDX files (MNIST, Fashion-MNIST) or of a CIFAR npz/npy copy.")
    flags.DEFINE_string("places_data_path", None,
                        "PLACES365: directory of preprocessed arrays (x_test.npy, y_test.npy, x_train.npy).")
    flags.DEFINE_string("pass_data_path", None, "PASS: directory of preprocessed arrays (x_test.npy, x_train.npy).")
    flags.DEFINE_integer("part", None, "Evaluate only part PART (0-based) of --num_parts shards of the test set.")
    flags.DEFINE_integer("num_parts", None, "Number of shards of the test set (with --part).")
    flags.DEFINE_string("model_name", d("model_name"),
                        "Base name of the model files (default: <data>_<arch>_relu); a trailing "
                        "_original or _scaled, as in the original code, is ignored.")
    flags.DEFINE_string("logging_dir", d("logging_dir"),
                        "Directory of the original weights and of everything phase 1/2 write "
                        "(default: models/<data_name>/<arch>).")
    flags.DEFINE_boolean("CNN", d("cnn"), "Convolutional network (True) or fully connected (False).")
    flags.DEFINE_integer("layers", d("layers"),
                         "Number of Dense/Conv2D layers of the zoo model (FC: 2 = 784-600-10).")
    flags.DEFINE_integer("batch_size", d("batch_size"), "Batch size of every pass over data.")
    flags.DEFINE_integer("test_samples", d("test_samples"), "Use only the first N test images (quick runs).")
    flags.DEFINE_integer("seed", default_of(RunSettings, "seed"), "Base seed of every random choice.")
    flags.DEFINE_boolean("clip_inputs", default_of(Phase2Options, "clip"),
                         "Clip images to the data's input range instead of refusing images outside it (recorded, "
                         "and named in the results).")


def _phase1_flags():
    d = lambda name: default_of(Phase1Settings, name)  # noqa: E731
    flags.DEFINE_integer("epochs", d("epochs"), "Phase 1: training epochs when the original weights are missing.")
    flags.DEFINE_float("l1", d("l1"), "Phase 1: L1 activity regularisation of the hidden layers when training.")
    flags.DEFINE_float("upper_b", d("upper_b"), "Phase 1: upper bound on the weight sums S_i of hidden neurons.")
    flags.DEFINE_float("lower_b", d("lower_b"), "Phase 1: lower bound on the weight sums S_i of hidden neurons.")
    flags.DEFINE_integer("calib_samples", d("calib_samples"), "Phase 1: use only the first N training images for X_n.")
    flags.DEFINE_integer("train_samples", d("train_samples"),
                         "Phase 1: train (when weights are missing) on the first N training images only.")


def _run_flags():
    d = lambda name: default_of(RunSettings, name)  # noqa: E731
    flags.DEFINE_float("noise", d("noise"), "Phase 2: std of the Gaussian jitter of every spike time (units of tau_c).")
    flags.DEFINE_float("alpha_noise", d("alpha_noise"), "Phase 2: std of the fixed per-neuron perturbation of alpha.")
    flags.DEFINE_float("zeta", d("zeta"), "Phase 2: window margin, B_n = (1 + zeta) X_n.")
    flags.DEFINE_integer("trial", d("trial"), "Phase 2: trial index; with --seed it seeds the noises.")
    flags.DEFINE_integer("time_bits", d("time_bits"),
                         "Phase 2: spike times quantised to 2**time_bits levels per window (0 = off).")
    flags.DEFINE_integer("weight_bits", d("weight_bits"),
                         "Phase 2: weights quantised to 2**weight_bits levels of [w_min, w_max] (0 = off).")
    flags.DEFINE_float("w_min", d("w_min"),
                       "Phase 2: lower end of the weight range of --weight_bits (default -max|J| per layer).")
    flags.DEFINE_float("w_max", d("w_max"),
                       "Phase 2: upper end of the weight range of --weight_bits (default max|J| per layer).")
    flags.DEFINE_float("x_quantile", d("x_quantile"),
                       "Phase 2: X_n from this quantile of the per-image layer maxima (1 = maximum).")
    flags.DEFINE_enum("dtype", d("dtype"), list(DTYPES), "Phase 2: precision of the SNN.")
    flags.DEFINE_enum("solver", d("solver"), list(SOLVERS), "Phase 2: spike-time solver (all exact).")


def _phase2_flags():
    d = lambda name: default_of(Phase2Options, name)  # noqa: E731
    flags.DEFINE_float("energy_mac_pj", d("mac_pj"), "Phase 2: energy of one multiply-accumulate of the ReLU "
                       "network, pJ (default: Horowitz ISSCC 2014, 45 nm, 32-bit float).")
    flags.DEFINE_float("energy_add_pj", d("add_pj"), "Phase 2: energy of one synaptic event (an accumulate) of the "
                       "SNN, pJ (default: Horowitz ISSCC 2014, 45 nm, 32-bit float add).")
    flags.DEFINE_enum("distribute", d("distribute"), list(DISTRIBUTE),
                      "Phase 2: tf.distribute over several devices (auto: MirroredStrategy when there are >= 2 GPUs).")
    flags.DEFINE_boolean("report", False, "Phase 2 / sweep: also write figures (PNG + SVG) and one self-contained "
                         "HTML report next to the results JSON.")
    flags.DEFINE_string("save_snn", None, "Phase 2: also save the SNN as a .keras file at this path.")


def _sweep_flags():
    flags.DEFINE_multi_string("sweep", [], "Sweep: KNOB=v1,v2,... (repeatable; the grid is the cartesian product). "
                              "Knobs: noise, alpha_noise, zeta, time_bits, weight_bits, w_min, w_max, x_quantile.")
    flags.DEFINE_integer("trials", 1, "Sweep: trials 0..N-1 per grid point (each its own noise seed).")
    flags.DEFINE_string("sweep_name", None, "Sweep: name of the sweep directory <logging_dir>/sweeps/<name> "
                        "(default: derived from the model, the grid, the fixed settings and --test_samples).")
    flags.DEFINE_integer("max_evaluations", None, "Sweep: stop after this many new evaluations (resume by running "
                         "the same command again).")


def define_common_flags():
    """Define every flag of the three commands (once per process)."""
    if "data_name" in FLAGS:
        return
    _experiment_flags()
    _phase1_flags()
    _run_flags()
    _phase2_flags()
    _sweep_flags()


def experiment():
    """The :class:`Experiment` of the flags, resolved (canonical data name, default names filled in)."""
    data_name = naming.canonical_data_name(FLAGS.data_name)
    data_dir = {"PLACES365": FLAGS.places_data_path, "PASS": FLAGS.pass_data_path}.get(data_name, FLAGS.data_dir)
    return naming.resolve(Experiment(
        data_name=data_name, cnn=FLAGS.CNN, layers=FLAGS.layers, model_name=FLAGS.model_name,
        logging_dir=FLAGS.logging_dir, data_source=FLAGS.data_source, data_dir=data_dir,
        test_samples=FLAGS.test_samples, batch_size=FLAGS.batch_size))


def experiment_names():
    """(data_name, logging_dir, model_name) from the flags, with the defaults filled in."""
    e = experiment()
    return e.data_name, e.logging_dir, e.model_name


def phase1_settings():
    """The :class:`Phase1Settings` of the flags."""
    return Phase1Settings(epochs=FLAGS.epochs, l1=FLAGS.l1, upper_b=FLAGS.upper_b, lower_b=FLAGS.lower_b,
                          calib_samples=FLAGS.calib_samples, train_samples=FLAGS.train_samples, seed=FLAGS.seed,
                          clip=FLAGS.clip_inputs)


def run_settings():
    """The :class:`RunSettings` of the flags (phase 2's run, a sweep's fixed settings)."""
    return RunSettings(zeta=FLAGS.zeta, noise=FLAGS.noise, alpha_noise=FLAGS.alpha_noise, trial=FLAGS.trial,
                       seed=FLAGS.seed, dtype=FLAGS.dtype, solver=FLAGS.solver, time_bits=FLAGS.time_bits,
                       weight_bits=FLAGS.weight_bits, w_min=FLAGS.w_min, w_max=FLAGS.w_max,
                       x_quantile=FLAGS.x_quantile)


def phase2_options():
    """The :class:`Phase2Options` of the flags."""
    return Phase2Options(part=FLAGS.part, num_parts=FLAGS.num_parts, distribute=FLAGS.distribute,
                         mac_pj=FLAGS.energy_mac_pj, add_pj=FLAGS.energy_add_pj, clip=FLAGS.clip_inputs)


#: Library argument -> the flag that sets it, so that an error names what the user typed.
FLAG_OF = {"batch_size": "--batch_size", "test_samples": "--test_samples", "calib_samples": "--calib_samples",
           "train_samples": "--train_samples", "epochs": "--epochs", "mac_pj": "--energy_mac_pj",
           "add_pj": "--energy_add_pj", "model_name": "--model_name", "part": "--part", "num_parts": "--num_parts"}


def _message(err) -> str:
    """The error's message with the argument it starts with spelled as its flag."""
    text = str(err)
    for argument, flag in FLAG_OF.items():
        if text.startswith(argument + " "):
            return f"{flag} ({argument}){text[len(argument):]}"
    return text


def guarded(main):
    """Run ``main``; print snnmap's input errors (and unreadable or unwritable files) as one clear line
    and exit with status 2."""
    def wrapper(argv):
        try:
            return main(argv)
        except (SnnmapError, DataSourceError, ValueError, OSError) as err:
            print(f"error: {_message(err)}", file=sys.stderr)
            sys.exit(2)

    return wrapper
