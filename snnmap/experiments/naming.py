"""Names and places of an experiment's files, shared by the phase-1 and phase-2 commands.

An experiment is (data set, architecture).  Its directory (``--logging_dir``, by default
``models/<data_name>/<arch>/``) holds the shipped or trained original weights
``<model_name>_original.weights.h5`` and everything phase 1 and phase 2 write:

* ``<model_name>_scaled.weights.h5`` + ``<model_name>_scaled.json``: preprocessed network,
* ``<model_name>_X_n.json``: ``X_n`` per hidden layer (and phase 1's report),
* ``<model_name>_predictions.npy``: the original network's test predictions (class ids),
* ``<model_name>_accuracy.json``: accuracies of the original and preprocessed networks and
  the data they were measured on,
* ``results/<model_name>_<settings>.json``: one phase-2 results file per setting.
"""

from __future__ import annotations

import os
import re

from ..data import sources as datasets

ARCHITECTURES = {(False, None): "FC", (True, 5): "LeNet5", (True, 16): "VGG16", (True, 15): "VGG15"}


def canonical_data_name(name: str) -> str:
    return datasets.canonical_name(name)


def architecture(cnn: bool, layers: int) -> str:
    if not cnn:
        return "FC"
    try:
        return ARCHITECTURES[(True, int(layers))]
    except KeyError:
        raise ValueError(f"no convolutional zoo model with --layers={layers}; use 5 (LeNet5), 16 or 15 (VGG)") from None


def default_logging_dir(data_name: str, cnn: bool, layers: int, root: str = "models") -> str:
    return os.path.join(root, canonical_data_name(data_name), architecture(cnn, layers))


def default_model_name(data_name: str, cnn: bool, layers: int) -> str:
    return f"{canonical_data_name(data_name).lower()}_{architecture(cnn, layers).lower()}_relu"


def base_model_name(name: str) -> str:
    """Accept the original code's ``..._original`` / ``..._scaled`` names as well."""
    return re.sub(r"_(original|scaled)$", "", name)


def paths(logging_dir: str, model_name: str) -> dict:
    base = os.path.join(logging_dir, model_name)
    return {
        "original_weights": base + "_original.weights.h5",
        "predictions": base + "_predictions.npy",
        "accuracy": base + "_accuracy.json",
        "phase1_report": base + "_phase1.json",
        "results_dir": os.path.join(logging_dir, "results"),
    }


def _fmt(value) -> str:
    text = f"{float(value):g}"
    return text.replace("-", "m").replace("+", "")


def results_path(logging_dir: str, model_name: str, settings: dict) -> str:
    """A results file name that differs for every setting that changes the SNN or the data.

    ``settings`` keys used: zeta, noise, alpha_noise, trial, seed, dtype, solver, n_test,
    part (and any other key, appended sorted, so new knobs never collide).
    """
    s = dict(settings)
    parts = [model_name, f"zeta{_fmt(s.pop('zeta'))}", f"noise{_fmt(s.pop('noise'))}",
             f"alpha{_fmt(s.pop('alpha_noise'))}", f"trial{int(s.pop('trial'))}"]
    seed = s.pop("seed", 0)
    if seed:
        parts.append(f"seed{int(seed)}")
    dtype = s.pop("dtype", "float64")
    if dtype != "float64":
        parts.append(dtype)
    solver = s.pop("solver", "auto")
    if solver != "auto":
        parts.append(solver)
    n_test = s.pop("n_test", None)
    if n_test is not None:
        parts.append(f"n{int(n_test)}")
    for key in sorted(s):
        if s[key] is not None:
            parts.append(f"{key}{_fmt(s[key]) if isinstance(s[key], (int, float)) else s[key]}")
    return os.path.join(paths(logging_dir, model_name)["results_dir"], "_".join(parts) + ".json")
