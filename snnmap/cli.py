"""Command-line plumbing of ``python -m snnmap.phase1``, ``phase2`` and ``sweep``: the flags, their
grouped ``--help``, quiet start-up, and the typed settings built from the flags.

Flag names follow the original exact-mapping code (``data_name``, ``model_name``,
``logging_dir``, ``CNN``, ``layers``, ...); ``--flagfile`` (absl) reads them from a file,
one per line, as in ``flags/*.txt``.  Every command knows every flag, so one flag file serves
all of them.  The defaults are those of :mod:`snnmap.experiments.settings`.

A command defines its own flags with :func:`define` (a group name, then what
``flags.DEFINE_<kind>`` takes) and runs with :func:`run_command`, which answers ``--help`` with
the flags of the groups the command names, before anything heavy is imported (this module and
its imports load no TensorFlow), and otherwise runs ``main`` quietly (:mod:`snnmap.quiet`),
printing snnmap's input errors as one line.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
import warnings

from absl import app, flags

from . import quiet
from .errors import DataSourceError, SampleDataWarning, SnnmapError
from .experiments.settings import (DISTRIBUTE, DTYPES, SOLVERS, Experiment, Phase1Settings, Phase2Options,
                                   RunSettings, default_of)

FLAGS = flags.FLAGS

# The groups of flags, in the order --help lists them.
DATA, MODEL, PHASE1, SNN, OUTPUTS = "data", "model", "phase 1", "SNN knobs (phase 2, sweep)", "evaluation and outputs"
SHARDS, SWEEP = "shards of the test set (phase 2)", "sweep"
BEAM = "Apache Beam"
#: DirectRunner modes (``--direct_running_mode``), as Beam names them.
RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")
#: The flags left over after parsing, handed to Beam as pipeline options (only with ``--runner``).
BEAM_ARGS: list = []
#: Group name -> the names of its flags, in the order they were defined (see :func:`define`).
GROUPS: dict = {}


def define(group: str, kind: str, name: str, default, help_text: str, *args, **kwargs):
    """Define flag ``--name`` with ``flags.DEFINE_<kind>`` and list it under ``group`` in ``--help``.

    Parameters
    ----------
    group : str
        The heading it is listed under (e.g. :data:`DATA`, or a command's own).
    kind : str
        ``string``, ``integer``, ``float``, ``boolean``, ``enum``, ``list``, ``multi_string``, ...
    name, default, help_text
        As for ``flags.DEFINE_<kind>``; say the unit in ``help_text``.
    *args, **kwargs
        Passed on (e.g. ``enum_values=[...]`` of an enum).
    """
    getattr(flags, f"DEFINE_{kind}")(name, default, *args, help=help_text, **kwargs)
    GROUPS.setdefault(group, []).append(name)


def _experiment_flags():
    d = lambda name: default_of(Experiment, name)  # noqa: E731
    define(DATA, "string", "data_name", d("data_name"), "Data set: MNIST, FashionMNIST (alias fMNIST), CIFAR10, "
           "CIFAR100, PLACES365 or PASS.")
    define(DATA, "string", "data_source", d("data_source"),
           "Where the data come from: auto, tfds, idx, sample, npz or arrays.")
    define(DATA, "string", "data_dir", None,
           "Directory of IDX files (MNIST, Fashion-MNIST) or of a CIFAR npz/npy copy.")
    define(DATA, "string", "places_data_path", None,
           "PLACES365: directory of preprocessed arrays (x_test.npy, y_test.npy, x_train.npy).")
    define(DATA, "string", "pass_data_path", None, "PASS: directory of preprocessed arrays (x_test.npy, x_train.npy).")
    define(DATA, "integer", "test_samples", d("test_samples"), "Use only the first N test images (quick runs).")
    define(DATA, "integer", "batch_size", d("batch_size"), "Images per batch of every pass over data.")
    define(DATA, "boolean", "clip_inputs", default_of(Phase2Options, "clip"),
           "Clip images to the input range instead of refusing images outside it (recorded, and named in the "
           "results).")
    define(MODEL, "string", "model_path", d("model_path"),
           "Your own trained Keras model (.keras) instead of a zoo model; loaded with safe_mode=True. Its "
           "files go to models/<data_name>/<file name> and are named after the file unless --logging_dir / "
           "--model_name say otherwise.")
    define(MODEL, "list", "input_range", None, "p,q: the range of the model's inputs (with --model_path; default: "
           "the data set's, e.g. 0,1 for MNIST).")
    define(MODEL, "boolean", "CNN", d("cnn"), "Zoo model: convolutional (True) or fully connected (False).")
    define(MODEL, "integer", "layers", d("layers"), "Zoo model: number of Dense/Conv2D layers (FC: 2 = 784-600-10; "
           "CNN: 5 = LeNet5, 10 = small ResNet, 16 = VGG16, 15 = VGG for 32x32).")
    define(MODEL, "string", "model_name", d("model_name"),
           "Base name of the model files (default: <data>_<arch>_relu); a trailing _original or _scaled, as in "
           "the original code, is ignored.")
    define(MODEL, "string", "logging_dir", d("logging_dir"), "Directory of the original weights and of everything "
           "phase 1/2 write (default: models/<data_name>/<arch>).")
    define(MODEL, "integer", "seed", default_of(RunSettings, "seed"), "Base seed of every random choice.")


def _phase1_flags():
    d = lambda name: default_of(Phase1Settings, name)  # noqa: E731
    define(PHASE1, "integer", "epochs", d("epochs"), "Training epochs when the original weights are missing.")
    define(PHASE1, "float", "l1", d("l1"), "L1 activity regularisation of the hidden layers when training.")
    define(PHASE1, "float", "upper_b", d("upper_b"), "Upper bound on the weight sums S_i of hidden neurons.")
    define(PHASE1, "float", "lower_b", d("lower_b"), "Lower bound on the weight sums S_i of hidden neurons.")
    define(PHASE1, "integer", "calib_samples", d("calib_samples"),
           "Measure X_n on the first N training images only (default: all).")
    define(PHASE1, "integer", "train_samples", d("train_samples"),
           "Train (when the weights are missing) on the first N training images only.")


def _run_flags():
    d = lambda name: default_of(RunSettings, name)  # noqa: E731
    define(SNN, "float", "zeta", d("zeta"), "Window margin, B_n = (1 + zeta) X_n (dimensionless).")
    define(SNN, "float", "noise", d("noise"), "Std of the Gaussian jitter of every spike time (units of tau_c).")
    define(SNN, "float", "alpha_noise", d("alpha_noise"), "Std of the fixed per-neuron perturbation of alpha "
           "(dimensionless).")
    define(SNN, "integer", "trial", d("trial"), "Trial index; with --seed it seeds the noises.")
    define(SNN, "integer", "time_bits", d("time_bits"),
           "Spike times quantised to 2**time_bits levels per window (0 = off).")
    define(SNN, "integer", "weight_bits", d("weight_bits"),
           "Weights quantised to 2**weight_bits levels of [w_min, w_max] (0 = off).")
    define(SNN, "float", "w_min", d("w_min"), "Lower end of the weight range of --weight_bits (default -max|J| per "
           "layer).")
    define(SNN, "float", "w_max", d("w_max"), "Upper end of the weight range of --weight_bits (default max|J| per "
           "layer).")
    define(SNN, "float", "x_quantile", d("x_quantile"),
           "X_n from this quantile of the per-image layer maxima, in (0, 1] (1 = maximum).")
    define(SNN, "enum", "dtype", d("dtype"), "Precision of the SNN.", enum_values=list(DTYPES))
    define(SNN, "enum", "solver", d("solver"), "Spike-time solver (all exact).", enum_values=list(SOLVERS))


def _output_flags():
    d = lambda name: default_of(Phase2Options, name)  # noqa: E731
    define(OUTPUTS, "float", "energy_mac_pj", d("mac_pj"), "Energy of one multiply-accumulate of the ReLU network, "
           "pJ (Horowitz ISSCC 2014, 45 nm, 32-bit float).")
    define(OUTPUTS, "float", "energy_add_pj", d("add_pj"), "Energy of one synaptic event (an accumulate) of the SNN, "
           "pJ (Horowitz ISSCC 2014, 45 nm, 32-bit float add).")
    define(OUTPUTS, "enum", "distribute", d("distribute"), "tf.distribute over several devices (auto: "
           "MirroredStrategy when there are >= 2 GPUs).", enum_values=list(DISTRIBUTE))
    define(OUTPUTS, "boolean", "report", False, "Also write figures (PNG + SVG) and one self-contained HTML report "
           "next to the results JSON.")
    define(OUTPUTS, "string", "save_snn", None, "Phase 2: also save the SNN as a .keras file at this path.")
    define(SHARDS, "integer", "part", None, "Evaluate only part PART (0-based) of --num_parts shards of the test set.")
    define(SHARDS, "integer", "num_parts", None, "Number of shards of the test set (with --part).")


def _sweep_flags():
    define(SWEEP, "multi_string", "sweep", [], "KNOB=v1,v2,... (repeatable; the grid is the cartesian product). "
           "Knobs: noise, alpha_noise, zeta, time_bits, weight_bits, w_min, w_max, x_quantile; rate-coded "
           "sweep (without --runner): rate_T, rate_normalisation, rate_input, rate_reset, rate_readout, "
           "rate_percentile, rate_fraction, rate_firing_rate_scale, rate_synapse_tau, rate_seed, rate_calib_samples.")
    define(SWEEP, "integer", "trials", 1, "Trials 0..N-1 per grid point (each its own noise seed).")
    define(SWEEP, "string", "sweep_name", None, "Name of the sweep directory <logging_dir>/sweeps/<name> "
           "(default: derived from the model, the grid, the fixed settings and --test_samples).")
    define(SWEEP, "integer", "max_evaluations", None, "Stop after this many new evaluations (resume by running "
           "the same command again).")


def _beam_flags():
    define(BEAM, "string", "runner", None, "Run as an Apache Beam pipeline on this runner (DirectRunner: this "
           "machine, every core; FlinkRunner, SparkRunner, DataflowRunner, ...). Flags snnmap does not know "
           "(--flink_master=host:8081, --project=...) then go to Beam as pipeline options. Needs "
           "pip install -e \".[beam]\". Unset: no Beam.")
    define(BEAM, "integer", "direct_num_workers", None, "DirectRunner: worker processes (default: every core).")
    define(BEAM, "enum", "direct_running_mode", None, "DirectRunner: how the workers run (default: "
           "multi_processing).", enum_values=list(RUNNING_MODES))


def define_common_flags():
    """Define every flag of the commands (once per process)."""
    if "data_name" in FLAGS:
        return
    _experiment_flags()
    _phase1_flags()
    _run_flags()
    _output_flags()
    _sweep_flags()
    _beam_flags()


#: What ``--help`` of each command lists: command -> its groups.
COMMAND_GROUPS = {"phase1": (DATA, MODEL, PHASE1, BEAM), "phase2": (DATA, MODEL, SNN, OUTPUTS, SHARDS, BEAM),
                  "sweep": (SWEEP, DATA, MODEL, SNN, OUTPUTS, BEAM)}
HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")


def _default_text(flag) -> str:
    """`` (default: VALUE)`` as the user would type VALUE; nothing for a flag without default."""
    default = flag.default
    if default is None or default == []:
        return ""
    if isinstance(default, bool):
        return f" (default: {str(default).lower()})"
    return f" (default: {','.join(map(str, default)) if isinstance(default, list) else default})"


def _flag_lines(flag) -> list:
    """``--name: help (default: VALUE)``, wrapped; an enum's help starts with its choices (absl)."""
    name = f"--[no]{flag.name}" if flag.flag_type() == "bool" else f"--{flag.name}"
    return textwrap.wrap(f"{name}: {flag.help}{_default_text(flag)}", width=100, initial_indent="  ",
                         subsequent_indent="      ")


def help_text(command: str, doc: str, groups) -> str:
    """The ``--help`` of ``python -m snnmap.<command>``: the usage lines of ``doc`` and the flags of ``groups``.

    Parameters
    ----------
    command : str
        The command's module name (``phase1``).
    doc : str
        The command module's docstring: its first line and its example lines (``python -m ...``) are shown.
    groups : sequence of str
        The groups of flags (:data:`GROUPS`) the command uses, in the order shown.
    """
    lines = (doc or "").strip().splitlines()
    examples = [line.strip() for line in lines if line.strip().startswith("python -m")]
    out = [lines[0] if lines else f"python -m snnmap.{command}", "", "usage:"]
    out += [f"  {line}" for line in examples or [f"python -m snnmap.{command} [--flagfile FILE] [--FLAG=VALUE ...]"]]
    for group in groups:
        out += ["", f"{group}:"]
        for name in GROUPS.get(group, ()):
            out += _flag_lines(FLAGS[name])
    out += ["", "--flagfile FILE reads flags from FILE, one per line (see flags/*.txt). Every snnmap command accepts "
            "every other snnmap flag, so one flag file serves them all; flags a command does not use are ignored. "
            "--helpfull lists absl's own flags as well."]
    return "\n".join(out[:-1] + textwrap.wrap(out[-1], width=100))


def wants_help(argv) -> bool:
    """Whether the command-line arguments ``argv`` (without the program) ask for ``--help``."""
    args = list(argv)
    args = args[:args.index("--")] if "--" in args else args
    return any(arg in HELP_ARGS or arg.startswith("--help=") for arg in args)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """snnmap's own warnings as one ``warning: ...`` line (not the library line that raised them); others as usual."""
    if issubclass(category, SampleDataWarning):
        print(f"warning: {message}", file=sys.stderr if file is None else file)
    else:
        _DEFAULT_SHOW(message, category, filename, lineno, file, line)


_DEFAULT_SHOW = warnings.showwarning


def quiet_start():
    """Import Keras quietly (:func:`snnmap.quiet.import_keras`) and keep snnmap's info log lines (which the
    commands print in their own words) and warnings' source lines out of the output."""
    quiet.import_keras()
    logging.getLogger("snnmap").setLevel(logging.WARNING)
    warnings.showwarning = _show_warning


def run_command(main, command: str, doc: str, groups=None):
    """``python -m snnmap.<command>``: answer ``--help`` at once, otherwise run ``main`` through absl,
    quietly and :func:`guarded`.

    Parameters
    ----------
    main : callable
        ``main(argv)`` of the command; it imports what it needs (Keras, the library).
    command : str
        The command's name, for the help.
    doc : str
        The command module's docstring (:func:`help_text`).
    groups : sequence of str, optional
        The groups of flags its help lists (default: :data:`COMMAND_GROUPS` of ``command``).
    """
    groups = COMMAND_GROUPS[command] if groups is None else groups
    if wants_help(sys.argv[1:]):
        print(help_text(command, doc, groups))
        sys.exit(0)

    def started(argv):
        quiet_start()
        return main(argv)

    app.run(guarded(started), flags_parser=lambda argv: parse_flags(argv, BEAM in groups))


def parse_flags(argv, beam=True):
    """absl's parsing, except that with ``--runner`` the flags snnmap does not know are kept for Beam
    (:data:`BEAM_ARGS`) instead of refused; the arguments that are not flags are returned.

    Parameters
    ----------
    argv : list of str
        The program and its arguments.
    beam : bool
        Whether the command runs on Beam (lists :data:`BEAM` among its groups); if not, unknown
        flags are refused with or without ``--runner``.
    """
    if not beam:
        return app.parse_flags_with_usage(argv)
    try:
        rest = FLAGS(argv, known_only=True)
    except flags.Error:
        return app.parse_flags_with_usage(argv)  # absl's own message and exit status
    unknown = [arg for arg in rest[1:] if arg.startswith("-")]
    if not unknown or not FLAGS.runner:
        # Without --runner an unknown flag stays a typo: absl refuses it as usual.
        return app.parse_flags_with_usage(argv) if unknown else rest
    # A Beam option's value may follow it as its own argument (--flink_master host:8081): all of it goes to Beam.
    BEAM_ARGS[:] = rest[1 + rest[1:].index(unknown[0]):]
    return rest[:1 + rest[1:].index(unknown[0])]


def input_range():
    """``--input_range p,q`` as a pair of floats, or None."""
    if not FLAGS.input_range:
        return None
    try:
        values = tuple(float(v) for v in FLAGS.input_range)
    except ValueError:
        values = ()
    if len(values) != 2:
        raise ValueError(f"--input_range must be two numbers p,q (e.g. 0,1), got {','.join(FLAGS.input_range)!r}")
    return values


def experiment():
    """The :class:`Experiment` of the flags, resolved (canonical data name, default names filled in)."""
    # Imported here: resolving names imports the pipeline (TensorFlow), which --help must not wait for.
    inputs = importlib.import_module("snnmap.experiments.inputs")
    data_name = inputs.canonical_data_name(FLAGS.data_name)
    data_dir = {"PLACES365": FLAGS.places_data_path, "PASS": FLAGS.pass_data_path}.get(data_name, FLAGS.data_dir)
    return inputs.resolve(Experiment(
        data_name=data_name, cnn=FLAGS.CNN, layers=FLAGS.layers, model_name=FLAGS.model_name,
        logging_dir=FLAGS.logging_dir, data_source=FLAGS.data_source, data_dir=data_dir,
        test_samples=FLAGS.test_samples, batch_size=FLAGS.batch_size, model_path=FLAGS.model_path,
        input_range=input_range()))


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


def beam_settings():
    """The ``snnmap.beam.BeamSettings`` of the flags, or None without ``--runner`` (then Beam is not imported)."""
    if not FLAGS.runner:
        given = [f"--{name}" for name in ("direct_num_workers", "direct_running_mode") if FLAGS[name].present]
        if given:
            raise ValueError(f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with --runner "
                             "(e.g. --runner DirectRunner)")
        return None
    if FLAGS.direct_num_workers is not None and FLAGS.direct_num_workers < 1:
        raise ValueError(f"--direct_num_workers must be at least 1, got {FLAGS.direct_num_workers}")
    try:
        beam = importlib.import_module("snnmap.beam")
    except ImportError as err:
        raise SnnmapError(f"--runner {FLAGS.runner} needs Apache Beam, which is not installed ({err}): "
                          f"pip install -e \".[beam]\"") from None
    logging.getLogger("apache_beam").setLevel(logging.WARNING)  # its INFO lines (batch statistics) are noise here
    return beam.BeamSettings(runner=FLAGS.runner, num_workers=FLAGS.direct_num_workers,
                             running_mode=FLAGS.direct_running_mode, beam_args=tuple(BEAM_ARGS))


#: Library argument -> the flag that sets it, so that an error names what the user typed.
FLAG_OF = {"batch_size": "--batch_size", "test_samples": "--test_samples", "calib_samples": "--calib_samples",
           "train_samples": "--train_samples", "epochs": "--epochs", "mac_pj": "--energy_mac_pj",
           "add_pj": "--energy_add_pj", "model_name": "--model_name", "part": "--part", "num_parts": "--num_parts",
           "model_path": "--model_path", "input_range": "--input_range", "num_workers": "--direct_num_workers",
           "running_mode": "--direct_running_mode", "runner": "--runner"}


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
