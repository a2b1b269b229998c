"""Names and places of an experiment's files: the one place the experiments name files.

An experiment is (data set, architecture).  Its directory (``--logging_dir``, by default
``models/<data_name>/<arch>/``) holds the shipped or trained original weights
``<model_name>_original.weights.h5`` and everything phase 1, phase 2 and the sweep write:

* the preprocessed network, named by :meth:`snnmap.Preprocessed.paths` (``_scaled.weights.h5``,
  ``_scaled.json``, ``_X_n.json``, ``_maxima.npy``),
* ``<model_name>_predictions.npy``: the original network's test predictions (class ids),
* ``<model_name>_logits.npy``: the original network's float64 pre-softmax logits on the same images,
* ``<model_name>_accuracy.json``: accuracies of the original and preprocessed networks and
  the data they were measured on; ``<model_name>_phase1.json``: phase 1's report,
* ``<model_name>_manifest.json``: written LAST by phase 1, the names, sizes and sha256 of the set
  above, so that phase 2 and the sweep can tell a complete set from a mix,
* ``results/<model_name>_<settings>.json``: one phase-2 results file per setting;
  ``results/<...>_merged.json``: the merge of the parts of one test set,
* ``sweeps/<sweep_name>/``: ``runs/<results name>``, ``sweep.json``, ``sweep.csv``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re

from ..data import canonical_name
from ..pipeline.preprocess import Preprocessed
from .grid import SweepError
from .settings import Experiment, RunSettings, default_of, field_names

ARCHITECTURES = {(False, None): "FC", (True, 5): "LeNet5", (True, 10): "ResNet", (True, 16): "VGG16",
                 (True, 15): "VGG15"}
#: Settings every results name spells out, in this order (the original code's names).
ALWAYS_NAMED = ("zeta", "noise", "alpha_noise", "trial")
#: Their prefixes in a name.
PREFIXES = {"zeta": "zeta", "noise": "noise", "alpha_noise": "alpha", "trial": "trial"}
#: Settings named only away from their default, right after ALWAYS_NAMED, in this order.
NAMED_AWAY_FROM_DEFAULT = ("seed", "dtype", "solver")
#: The files of a sweep directory.
SWEEP_TABLE, SWEEP_CSV, RUNS_DIR = "sweep.json", "sweep.csv", "runs"


#: Settings that make the SNN deviate from the ReLU network on purpose (docs/method.md §6), and the value
#: at which each is off: a run with any of them away from it is *perturbed*, and its error figures are the
#: deviation the perturbation causes, not the exactness of the conversion.
PERTURBING = {"noise": 0.0, "alpha_noise": 0.0, "time_bits": 0, "weight_bits": 0, "x_quantile": 1.0}


def perturbations(settings) -> list:
    """The perturbing settings of a run that are on, as ``"knob=value"`` (empty: an unperturbed run).

    Parameters
    ----------
    settings : dict, RunSettings or None
        A run's settings (a results file's ``settings``); absent knobs count as off.
    """
    if isinstance(settings, RunSettings):
        settings = settings.as_dict()
    out = []
    for knob, off in PERTURBING.items():
        value = (settings or {}).get(knob)
        if value is not None and value != off:
            out.append(f"{knob}={value:g}" if isinstance(value, float) else f"{knob}={value}")
    return out


def canonical_data_name(name: str) -> str:
    """The canonical name of a data set (``"fashion-mnist"`` -> ``"FashionMNIST"``)."""
    return canonical_name(name)


def architecture(cnn: bool, layers: int) -> str:
    """The zoo architecture of ``(cnn, layers)``: FC, LeNet5, ResNet, VGG16 or VGG15."""
    if not cnn:
        return "FC"
    try:
        return ARCHITECTURES[(True, int(layers))]
    except KeyError:
        raise ValueError(f"no convolutional zoo model with --layers={layers}; use 5 (LeNet5), 10 (small ResNet), "
                         "16 or 15 (VGG)") from None


def default_logging_dir(data_name: str, cnn: bool, layers: int, root: str = "models") -> str:
    """``<root>/<data_name>/<arch>``."""
    return os.path.join(root, canonical_data_name(data_name), architecture(cnn, layers))


def default_model_name(data_name: str, cnn: bool, layers: int) -> str:
    """``<data>_<arch>_relu`` in lower case."""
    return f"{canonical_data_name(data_name).lower()}_{architecture(cnn, layers).lower()}_relu"


def base_model_name(name: str) -> str:
    """Accept the original code's ``..._original`` / ``..._scaled`` names as well."""
    return re.sub(r"_(original|scaled)$", "", name)


def resolve(experiment: Experiment) -> Experiment:
    """``experiment`` with the canonical data name and the default directory and model name filled in."""
    data_name = canonical_data_name(experiment.data_name)
    logging_dir = experiment.logging_dir or default_logging_dir(data_name, experiment.cnn, experiment.layers)
    model_name = check_name(base_model_name(
        experiment.model_name or default_model_name(data_name, experiment.cnn, experiment.layers)), "model_name")
    return dataclasses.replace(experiment, data_name=data_name, logging_dir=logging_dir, model_name=model_name)


def paths(logging_dir: str, model_name: str) -> dict:
    """Every file of an experiment: the preprocessed network's (:meth:`Preprocessed.paths`),
    ``original_weights``, ``predictions``, ``accuracy``, ``phase1_report`` and ``results_dir``."""
    base = os.path.join(logging_dir, model_name)
    return {
        **Preprocessed.paths(logging_dir, model_name),
        "original_weights": base + "_original.weights.h5",
        "predictions": base + "_predictions.npy",
        "accuracy": base + "_accuracy.json",
        "phase1_report": base + "_phase1.json",
        "logits": base + "_logits.npy",
        "manifest": base + "_manifest.json",
        "results_dir": os.path.join(logging_dir, "results"),
    }


def _number(value) -> str:
    text = f"{float(value):g}"
    return text.replace("-", "m").replace("+", "")


def results_name(model_name: str, settings: RunSettings, n_test=None, part=None, batch_size=None,
                 clip=False) -> str:
    """A results file name that differs for every setting that changes the SNN or the data.

    Parameters
    ----------
    model_name : str
    settings : RunSettings
        zeta, noise, alpha_noise and trial always appear; seed, dtype and solver away from
        their defaults; every other setting away from its default, sorted by name with ``part``.
    n_test : int, optional
        The number of test images, when not the whole test set.
    part : (int, int), optional
        ``(part, num_parts)`` of a sharded run.
    batch_size : int, optional
        The batch size of the evaluation: named ``bs<N>`` when it differs from the default and
        the spike-time noise is on (its draws are made batch by batch, so they depend on it).
    clip : bool
        Inputs were clipped to the input range: named ``clip``.
    """
    parts = [model_name] + [f"{PREFIXES[k]}{_number(getattr(settings, k))}" for k in ALWAYS_NAMED[:3]]
    parts.append(f"trial{int(settings.trial)}")
    if settings.seed != default_of(RunSettings, "seed"):
        parts.append(f"seed{int(settings.seed)}")
    for key in ("dtype", "solver"):
        if getattr(settings, key) != default_of(RunSettings, key):
            parts.append(getattr(settings, key))
    if n_test is not None:
        parts.append(f"n{int(n_test)}")
    extra = {k: getattr(settings, k) for k in field_names()
             if k not in ALWAYS_NAMED + NAMED_AWAY_FROM_DEFAULT and getattr(settings, k) != default_of(RunSettings, k)}
    if part is not None:
        extra["part"] = f"{part[0]}of{part[1]}"
    if batch_size is not None and settings.noise > 0 and int(batch_size) != default_of(Experiment, "batch_size"):
        extra["bs"] = int(batch_size)
    if clip:
        extra["clip"] = ""
    for key in sorted(extra):
        value = extra[key]
        if value is not None:
            parts.append(f"{key}{_number(value) if isinstance(value, (int, float)) else value}")
    return "_".join(parts) + ".json"


def results_path(logging_dir: str, model_name: str, settings: RunSettings, n_test=None, part=None,
                 batch_size=None, clip=False) -> str:
    """Where phase 2 writes the results of ``settings``: ``results/`` + :func:`results_name`.

    Parameters
    ----------
    logging_dir, model_name : str
    settings, n_test, part, batch_size, clip
        As :func:`results_name`.
    """
    return os.path.join(paths(logging_dir, model_name)["results_dir"],
                        results_name(model_name, settings, n_test, part, batch_size, clip))


#: The ending of a merged results file; :func:`results_name` never ends a name with it.
MERGED_SUFFIX = "_merged.json"


def merged_path(part_path) -> str:
    """The name of the merged results of a part's file: ``_partKofN`` removed, ``_merged`` added,
    so a merge never takes the name of a single (unsharded) run.

    Parameters
    ----------
    part_path : str
        One part's results file.

    Raises
    ------
    ValueError
        When ``part_path`` names no part.
    """
    out = re.sub(r"_part\d+of\d+(?=\.json$)", "", str(part_path))
    if out == str(part_path):
        raise ValueError(f"cannot derive the merged file name from {part_path} (no _partKofN); pass the merged "
                         "file's path")
    return out[:-len(".json")] + MERGED_SUFFIX


def sweep_dir(logging_dir: str, sweep_name: str) -> str:
    """``<logging_dir>/sweeps/<sweep_name>``."""
    return os.path.join(logging_dir, "sweeps", check_sweep_name(sweep_name))


def _token(value) -> str:
    """A value as it appears in a sweep's name: ``0.05``, ``m1`` for -1, ``none``."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return format(value, "g").replace("-", "m").replace("+", "")
    return str(value).replace("-", "m")


def default_sweep_name(model_name, grid, fixed: RunSettings, n_test=None, batch_size=None, clip=False) -> str:
    """A readable sweep name: model, grid, the fixed settings that differ from their defaults, ``n<test>``.

    ``fashionmnist_fc_relu_noise0-0.05-0.1_zeta0-0.5`` ; a long list of values is shortened to
    ``noise0..0.5x11`` plus a short hash of the whole grid, so distinct grids never share a name.

    Parameters
    ----------
    model_name : str
    grid : dict
        A checked grid (:func:`snnmap.experiments.grid.check_grid`).
    fixed : RunSettings
        The settings of the knobs outside the grid (``trial`` is not part of the name).
    n_test : int, optional
        The number of test images, when not the whole test set.
    batch_size : int, optional
        Named ``bs<N>`` away from the default when spike-time noise is on (fixed or swept): the
        noise draws depend on it.
    clip : bool
        Inputs are clipped to the input range: named ``clip``.
    """
    parts, shortened = [model_name], False
    for knob, values in grid.items():
        text = "-".join(_token(v) for v in values)
        if len(text) > 40:
            numbers = [v for v in values if v is not None]
            text = f"{_token(min(numbers))}..{_token(max(numbers))}x{len(values)}" if numbers else f"x{len(values)}"
            shortened = True
        parts.append(knob + text)
    for key in field_names():
        value = getattr(fixed, key)
        if key != "trial" and key not in grid and value != default_of(RunSettings, key):
            parts.append(key + _token(value))
    if n_test is not None:
        parts.append(f"n{int(n_test)}")
    noisy = fixed.noise > 0 or any(v for v in grid.get("noise", []))
    if batch_size is not None and noisy and int(batch_size) != default_of(Experiment, "batch_size"):
        parts.append(f"bs{int(batch_size)}")
    if clip:
        parts.append("clip")
    if shortened:
        digest = hashlib.sha256(json.dumps(grid, sort_keys=True).encode()).hexdigest()[:8]
        parts.append(digest)
    return "_".join(parts)


def check_name(name: str, argument: str) -> str:
    """``name`` if it is a plain file or directory name (no path separator, not ``.`` or ``..``).

    Names become parts of paths inside the logging directory; a separator or ``..`` would put
    files outside it.

    Parameters
    ----------
    name : str
    argument : str
        The argument it was given as, for the message.

    Raises
    ------
    ValueError
        Naming ``argument`` and the value.
    """
    text = str(name)
    if (not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text
            or os.sep in text or (os.altsep and os.altsep in text)):
        raise ValueError(f"{argument} '{text}' must be a plain name (no path separator, not '.' or '..'); "
                         "the directory is set apart (logging_dir)")
    return text


def check_sweep_name(name: str) -> str:
    """``name`` if it is a plain directory name; raises :class:`SweepError` otherwise."""
    try:
        return check_name(name, "--sweep_name")
    except ValueError as err:
        raise SweepError(str(err)) from None
