"""Command-line plumbing shared by ``python -m snnmap.phase1`` and ``python -m snnmap.phase2``.

Flag names follow the original exact-mapping code (``data_name``, ``model_name``,
``logging_dir``, ``CNN``, ``layers``, ...); ``--flagfile`` (absl) reads them from a file,
one per line, as in ``flags/*.txt``.
"""

from __future__ import annotations

import logging
import sys

logging.getLogger("tensorflow").setLevel(logging.ERROR)

from absl import flags  # noqa: E402

FLAGS = flags.FLAGS


def define_common_flags():
    """Flags both phases understand (defined once per process)."""
    if "data_name" in FLAGS:
        return
    flags.DEFINE_string("data_name", "MNIST", "Data set: MNIST, FashionMNIST, CIFAR10, CIFAR100, PLACES365 or PASS.")
    flags.DEFINE_string("data_source", "auto", "Where the data come from: auto, tfds, idx, sample, npz or arrays.")
    flags.DEFINE_string("data_dir", None, "Directory of IDX files (MNIST, Fashion-MNIST) or of a CIFAR npz/npy copy.")
    flags.DEFINE_string("places_data_path", None, "PLACES365: directory of preprocessed arrays (x_test.npy, y_test.npy, x_train.npy).")
    flags.DEFINE_string("pass_data_path", None, "PASS: directory of preprocessed arrays (x_test.npy, x_train.npy).")
    flags.DEFINE_integer("part", None, "Evaluate only part PART (0-based) of --num_parts shards of the test set.")
    flags.DEFINE_integer("num_parts", None, "Number of shards of the test set (with --part).")
    flags.DEFINE_string("model_name", None,
                        "Base name of the model files (default: <data>_<arch>_relu); a trailing "
                        "_original or _scaled, as in the original code, is ignored.")
    flags.DEFINE_string("logging_dir", None,
                        "Directory of the original weights and of everything phase 1/2 write "
                        "(default: models/<data_name>/<arch>).")
    flags.DEFINE_boolean("CNN", False, "Convolutional network (True) or fully connected (False).")
    flags.DEFINE_integer("layers", 2, "Number of Dense/Conv2D layers of the zoo model (FC: 2 = 784-600-10).")
    flags.DEFINE_integer("batch_size", 256, "Batch size of every pass over data.")
    flags.DEFINE_integer("test_samples", None, "Use only the first N test images (quick runs).")
    flags.DEFINE_integer("seed", 0, "Base seed of every random choice.")
    # Phase 1.  Both commands know every flag, so one flag file serves both phases.
    flags.DEFINE_integer("epochs", 10, "Phase 1: training epochs when the original weights are missing.")
    flags.DEFINE_float("l1", 0.0, "Phase 1: L1 activity regularisation of the hidden layers when training.")
    flags.DEFINE_float("upper_b", 0.99, "Phase 1: upper bound on the weight sums S_i of hidden neurons.")
    flags.DEFINE_float("lower_b", -10.0, "Phase 1: lower bound on the weight sums S_i of hidden neurons.")
    flags.DEFINE_integer("calib_samples", None, "Phase 1: use only the first N training images for X_n.")
    flags.DEFINE_integer("train_samples", None, "Phase 1: train (when weights are missing) on the first N training images only.")
    # Phase 2.
    flags.DEFINE_float("noise", 0.0, "Phase 2: std of the Gaussian jitter of every spike time (units of tau_c).")
    flags.DEFINE_float("alpha_noise", 0.0, "Phase 2: std of the fixed per-neuron perturbation of alpha.")
    flags.DEFINE_float("zeta", 0.5, "Phase 2: window margin, B_n = (1 + zeta) X_n.")
    flags.DEFINE_integer("trial", 0, "Phase 2: trial index; with --seed it seeds the noises.")
    flags.DEFINE_integer("time_bits", 0, "Phase 2: spike times quantised to 2**time_bits levels per window (0 = off).")
    flags.DEFINE_integer("weight_bits", 0, "Phase 2: weights quantised to 2**weight_bits levels of [w_min, w_max] (0 = off).")
    flags.DEFINE_float("w_min", None, "Phase 2: lower end of the weight range of --weight_bits (default -max|J| per layer).")
    flags.DEFINE_float("w_max", None, "Phase 2: upper end of the weight range of --weight_bits (default max|J| per layer).")
    flags.DEFINE_float("x_quantile", 1.0, "Phase 2: X_n from this quantile of the per-image layer maxima (1 = maximum).")
    flags.DEFINE_enum("dtype", "float64", ["float64", "float32"], "Phase 2: precision of the SNN.")
    flags.DEFINE_enum("solver", "auto", ["auto", "exact", "scan"], "Phase 2: spike-time solver (all exact).")
    flags.DEFINE_float("energy_mac_pj", 4.6, "Phase 2: energy of one multiply-accumulate of the ReLU network, pJ "
                       "(default: Horowitz ISSCC 2014, 45 nm, 32-bit float).")
    flags.DEFINE_float("energy_add_pj", 0.9, "Phase 2: energy of one synaptic event (an accumulate) of the SNN, pJ "
                       "(default: Horowitz ISSCC 2014, 45 nm, 32-bit float add).")
    flags.DEFINE_enum("distribute", "auto", ["auto", "none", "mirrored"],
                      "Phase 2: tf.distribute over several devices (auto: MirroredStrategy when there are >= 2 GPUs).")
    flags.DEFINE_boolean("report", False, "Phase 2 / sweep: also write figures (PNG + SVG) and one self-contained "
                         "HTML report next to the results JSON.")
    flags.DEFINE_string("save_snn", None, "Phase 2: also save the SNN as a .keras file at this path.")
    # Sweep (python -m snnmap.sweep); defined here so that one flag file serves all three commands.
    flags.DEFINE_multi_string("sweep", [], "Sweep: KNOB=v1,v2,... (repeatable; the grid is the cartesian product). "
                              "Knobs: noise, alpha_noise, zeta, time_bits, weight_bits, w_min, w_max, x_quantile.")
    flags.DEFINE_integer("trials", 1, "Sweep: trials 0..N-1 per grid point (each its own noise seed).")
    flags.DEFINE_string("sweep_name", None, "Sweep: name of the sweep directory <logging_dir>/sweeps/<name> "
                        "(default: derived from the model, the grid, the fixed settings and --test_samples).")
    flags.DEFINE_integer("max_evaluations", None, "Sweep: stop after this many new evaluations (resume by running "
                         "the same command again).")


def snn_settings():
    """The SNN knobs of phase 2 (and of a sweep's fixed settings) from the flags."""
    return {"zeta": FLAGS.zeta, "noise": FLAGS.noise, "alpha_noise": FLAGS.alpha_noise, "trial": FLAGS.trial,
            "seed": FLAGS.seed, "dtype": FLAGS.dtype, "solver": FLAGS.solver, "time_bits": FLAGS.time_bits,
            "weight_bits": FLAGS.weight_bits, "w_min": FLAGS.w_min, "w_max": FLAGS.w_max,
            "x_quantile": FLAGS.x_quantile}


def experiment_names():
    """(data_name, logging_dir, model_name) from the flags, with the defaults filled in."""
    from .experiments import naming as experiment

    data_name = experiment.canonical_data_name(FLAGS.data_name)
    logging_dir = FLAGS.logging_dir or experiment.default_logging_dir(data_name, FLAGS.CNN, FLAGS.layers)
    model_name = experiment.base_model_name(
        FLAGS.model_name or experiment.default_model_name(data_name, FLAGS.CNN, FLAGS.layers))
    return data_name, logging_dir, model_name


def load_data(data_name, parts=True):
    """The data set named by the flags; ``parts=False`` ignores ``--part`` (phase 1 needs the
    original network's predictions on the whole test set)."""
    from .data import sources as datasets

    part, num_parts = (FLAGS.part, FLAGS.num_parts) if parts else (None, None)
    data_dir = {"PLACES365": FLAGS.places_data_path, "PASS": FLAGS.pass_data_path}.get(data_name, FLAGS.data_dir)
    return datasets.load(data_name, source=FLAGS.data_source, data_dir=data_dir, flat=not FLAGS.CNN,
                         max_test=FLAGS.test_samples, part=part, num_parts=num_parts,
                         part_align=FLAGS.batch_size)


def load_phase1_outputs(user):
    """What phase 2 and the sweep need from phase 1, named by the flags.

    Parameters
    ----------
    user : str
        Who reads them ("phase 2", "the sweep"), for the messages.

    Returns
    -------
    dict
        ``data_name``, ``logging_dir``, ``model_name``, ``files`` (experiment.paths), ``pre``
        (Preprocessed), ``reference`` (the original network's test predictions) and ``ds``
        (the data set of the flags, sharded by ``--part`` when given).
    """
    import os

    from .experiments import naming as experiment
    from . import storage
    from .errors import MissingPhase1Error
    from .pipeline.preprocess import Preprocessed

    data_name, logging_dir, model_name = experiment_names()
    files = experiment.paths(logging_dir, model_name)
    if not os.path.isdir(logging_dir):
        raise MissingPhase1Error(f"{logging_dir} does not exist: run phase 1 first "
                                 f"(python -m snnmap.phase1 --data_name {data_name} ...)")
    storage.require_files([files["predictions"], files["accuracy"]], "phase 1 (python -m snnmap.phase1)")
    pre = Preprocessed.load(logging_dir, model_name)
    accuracy = storage.read_json(files["accuracy"])
    reference = storage.load_npy(files["predictions"])

    ds = load_data(data_name)
    if accuracy.get("data_source") != ds.source:
        print(f"warning: phase 1 used data source '{accuracy.get('data_source')}', {user} uses "
              f"'{ds.source}'; the agreement compares predictions on the same indices")
    stop = ds.test_indices[1] if ds.test_indices else ds.n_test
    if len(reference) < stop:
        raise ValueError(f"phase 1 stored {len(reference)} predictions but the test images used by {user} go up "
                         f"to index {stop}; run phase 1 again with the same data (and --test_samples)")
    print(f"data: {ds.description}")
    return {"data_name": data_name, "logging_dir": logging_dir, "model_name": model_name, "files": files,
            "pre": pre, "reference": reference, "ds": ds}


def guarded(main):
    """Run ``main``; print snnmap's input errors as one clear line and exit with status 2."""
    from .data import sources as datasets
    from .errors import SnnmapError

    def wrapper(argv):
        try:
            return main(argv)
        except (SnnmapError, datasets.DataSourceError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper
