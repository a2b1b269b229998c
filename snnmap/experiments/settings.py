"""Typed settings of an experiment: which network on which data, phase 1's choices, and the
knobs of one SNN run.

Every default is written here once, or refers to the constant of :mod:`snnmap.defaults` it comes
from; the commands' flags (:mod:`snnmap.cli`) take their defaults from these classes.  This module
imports no Keras (the commands' ``--help`` reads it before TensorFlow is imported).
"""

from __future__ import annotations

import dataclasses
import math

from .. import defaults

#: Base seed of every random choice (training, noises).
DEFAULT_SEED = 0
#: Precisions the SNN may compute in.
DTYPES = ("float64", "float32")
#: Spike-time solvers (:mod:`snnmap.solver`), the default first.
SOLVERS = defaults.SOLVERS
#: Device placements of an evaluation (:func:`snnmap.runtime.distribute_scope`).
DISTRIBUTE = ("auto", "none", "mirrored")


def check_count(value, argument: str, optional: bool = True):
    """``value`` if it is a positive integer (or None when ``optional``); a ValueError naming ``argument`` otherwise.

    Parameters
    ----------
    value : int or None
    argument : str
        The setting's name, for the message.
    optional : bool
        Whether None (no limit) is allowed.
    """
    if value is None and optional:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive integer{' or None' if optional else ''}, got {value!r}")
    return value


def check_energy(value, argument: str):
    """``value`` if it is a finite number >= 0 (an energy in pJ); a ValueError naming ``argument`` otherwise.

    Parameters
    ----------
    value : float
    argument : str
        The setting's name, for the message.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{argument} must be a finite energy >= 0 (pJ), got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The settings of one SNN run (docs/method.md §6): each changes what the SNN computes.

    A results file records them under ``settings`` (the fields in this order) and its name
    encodes them (:func:`snnmap.experiments.naming.results_name`).

    Attributes
    ----------
    zeta : float
        Window margin, ``B_n = (1 + zeta) X_n``; dimensionless, ``>= 0``.
    noise : float
        Standard deviation of the Gaussian jitter of every spike time (input spikes
        included), in units of ``tau_c``.
    alpha_noise : float
        Standard deviation of the fixed per-neuron perturbation of ``alpha`` (the threshold
        keeps the nominal ``alpha``); dimensionless.
    trial : int
        Trial index: the noises are seeded by :attr:`noise_seed`.
    seed : int
        Base seed of the noises.
    dtype : {"float64", "float32"}
        Precision of the SNN.
    solver : {"auto", "exact", "scan"}
        Spike-time solver (all exact).
    time_bits : int
        Spike times entering layer ``n`` rounded to ``2**time_bits`` evenly spaced levels of
        ``[t_min(n-1), t_min(n)]``; 0 = off.
    weight_bits : int
        Weights of the spiking layers rounded to ``2**weight_bits`` evenly spaced levels of
        ``[w_min, w_max]`` (values outside clipped); 0 = off.
    w_min, w_max : float or None
        The range of ``weight_bits``; None: ``-max|J|`` and ``max|J|`` of each layer.
    x_quantile : float
        ``X_n`` as this quantile, in ``(0, 1]``, of the calibration images' largest
        activations in layer ``n`` (1 = their maximum).
    """

    zeta: float = defaults.ZETA
    noise: float = 0.0
    alpha_noise: float = 0.0
    trial: int = 0
    seed: int = DEFAULT_SEED
    dtype: str = DTYPES[0]
    solver: str = SOLVERS[0]
    time_bits: int = 0
    weight_bits: int = 0
    w_min: float | None = None
    w_max: float | None = None
    x_quantile: float = 1.0

    @property
    def noise_seed(self) -> int:
        """The seed of this trial's noises: ``derive_seed(seed, trial)``."""
        # Imported here: the pipeline imports Keras, and the commands read these settings before it.
        from ..pipeline.convert import derive_seed

        return derive_seed(self.seed, self.trial)

    def as_dict(self) -> dict:
        """The settings as a results file records them (the fields in order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values) -> RunSettings:
        """Settings from a dict of some of the fields (the others take their defaults).

        Parameters
        ----------
        values : dict
            Field name -> value.

        Raises
        ------
        ValueError
            For a key that is not a field.
        """
        unknown = sorted(set(values) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; settings: {', '.join(field_names())}")
        return cls(**values)


def field_names() -> tuple:
    """The names of :class:`RunSettings`' fields, in order."""
    return tuple(f.name for f in dataclasses.fields(RunSettings))


def default_of(cls, name: str):
    """The default of field ``name`` of the settings class ``cls``."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


#: Fields of :class:`RunSettings` a sweep may vary, and their types.
KNOBS = {"noise": float, "alpha_noise": float, "zeta": float, "time_bits": int, "weight_bits": int,
         "w_min": float, "w_max": float, "x_quantile": float}
#: Knobs that also take ``None`` (their default: the range of each layer's weights).
OPTIONAL_KNOBS = ("w_min", "w_max")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Which network on which data, and where its files live.

    Attributes
    ----------
    data_name : str
        Data set (canonical name once resolved by :func:`snnmap.experiments.naming.resolve`).
    cnn : bool
        Convolutional zoo network (True) or fully connected (False).
    layers : int
        Number of Dense/Conv2D layers of the zoo network (FC: 2 = 784-600-10).
    model_name : str or None
        Base name of the model files; None: ``<data>_<arch>_relu``.
    logging_dir : str or None
        Directory of the original weights and of every file phase 1 and 2 write; None:
        ``models/<data_name>/<arch>``.
    data_source : str
        Where the data come from (see :func:`snnmap.data.load`).
    data_dir : str or None
        Directory of the data set's files (see :func:`snnmap.data.load`).
    test_samples : int or None
        Only the first ``test_samples`` test images.
    batch_size : int
        Batch size of every pass over data.
    model_path : str or None
        A saved Keras model (``.keras``) of the user's to convert instead of the zoo network of
        ``cnn`` / ``layers``; its files are named after it (:func:`snnmap.experiments.inputs.resolve`).
    input_range : tuple of float or None
        ``(p, q)``, the range of the model's inputs; None: the data set's.
    """

    data_name: str = "MNIST"
    cnn: bool = False
    layers: int = 2
    model_name: str | None = None
    logging_dir: str | None = None
    data_source: str = "auto"
    data_dir: str | None = None
    test_samples: int | None = None
    batch_size: int = 256
    model_path: str | None = None
    input_range: tuple | None = None

    def __post_init__(self):
        # A batch size of 0 divides by zero deep inside; a negative limit silently drops images from the end.
        check_count(self.batch_size, "batch_size", optional=False)
        check_count(self.test_samples, "test_samples")
        if self.model_path is not None and (not isinstance(self.model_path, str) or not self.model_path):
            raise ValueError(f"model_path must be the path of a saved Keras model, got {self.model_path!r}")


@dataclasses.dataclass(frozen=True)
class Phase1Settings:
    """Phase 1's choices (docs/method.md §4).

    Attributes
    ----------
    epochs : int
        Training epochs when the original weights are missing.
    l1 : float
        L1 activity regularisation of the hidden layers when training.
    upper_b, lower_b : float
        Bounds on the weight sums ``S_i`` of hidden neurons.
    calib_samples : int or None
        Only the first ``calib_samples`` training images measure ``X_n``.
    train_samples : int or None
        Train (when weights are missing) on the first ``train_samples`` images only.
    seed : int
        Seed of the training.
    train_batch_size : int
        Batch size of the training.
    clip : bool
        Clip the images to the data set's input range instead of refusing images outside it.
    """

    epochs: int = 10
    l1: float = 0.0
    upper_b: float = defaults.UPPER_B
    lower_b: float = defaults.LOWER_B
    calib_samples: int | None = None
    train_samples: int | None = None
    seed: int = DEFAULT_SEED
    train_batch_size: int = 128
    clip: bool = False

    def __post_init__(self):
        # x_train[:-1] would silently take all images but one.
        check_count(self.calib_samples, "calib_samples")
        check_count(self.train_samples, "train_samples")
        check_count(self.train_batch_size, "train_batch_size", optional=False)
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs!r}")


@dataclasses.dataclass(frozen=True)
class Phase2Options:
    """How phase 2 evaluates a run; none of these changes what the SNN computes.

    Attributes
    ----------
    part, num_parts : int or None
        Evaluate only part ``part`` (0-based) of ``num_parts`` shards of the test set.
    distribute : {"auto", "none", "mirrored"}
        Devices of the evaluation (:func:`snnmap.runtime.distribute_scope`).
    mac_pj : float
        Energy of one multiply-accumulate of the ReLU network, pJ (docs/method.md §8).
    add_pj : float
        Energy of one synaptic event (an accumulate) of the SNN, pJ.
    clip : bool
        Clip test images to phase 1's input range instead of refusing images outside it (this
        changes what is evaluated, so it is recorded and named in the results).
    """

    part: int | None = None
    num_parts: int | None = None
    distribute: str = DISTRIBUTE[0]
    mac_pj: float = defaults.MAC_PJ
    add_pj: float = defaults.ADD_PJ
    clip: bool = False

    def __post_init__(self):
        # Checked here, before the evaluation, not when the estimate is made after it.
        check_energy(self.mac_pj, "mac_pj")
        check_energy(self.add_pj, "add_pj")
        if (self.part is None) != (self.num_parts is None):
            raise ValueError(f"part and num_parts go together (got part={self.part}, num_parts={self.num_parts})")
