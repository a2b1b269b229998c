"""Phase 1: turn a trained ReLU network into the canonical ReLU network the mapping needs.

docs/method.md §4.  The result computes the same function as the original (to float64 rounding)
but on normalised inputs ``x_hat = (x - p) / (q - p)`` in ``[0, 1]`` and with

* no inference-time identities (Dropout, ActivityRegularization, ...);
* batch normalisation folded away: before a ReLU into the preceding Dense/Conv2D, after a
  ReLU into the following one (across max/average pooling, zero padding and Flatten),
  with per-position bias maps where zero padding makes the fused bias position dependent,
  and min pooling for channels whose folded scale is negative;
* the input range folded into the first layer the same way;
* weight sums ``S_i <= upper_b`` (and ``>= lower_b``) by positive rescaling of hidden
  neurons, compensated in the next layer;
* ``X_n``, the largest ReLU output of every hidden layer on the calibration data.

The steps live in their own modules: :mod:`.graph` (the walk), :mod:`.fold` (one handler
per layer type), :mod:`.scaling` (weight sums), :mod:`.build` (the Keras model) and
:mod:`.calibrate` (``X_n``); this module chains them and holds :class:`Preprocessed`.
Everything is folded in float64 NumPy; the preprocessed Keras model is float64.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np

from . import graph
from .. import storage
from ..core import mapping
from ..errors import InputRangeError, InvalidWeightsError, Phase1FileError
from ..runtime import check_input_range, normalise, num_batches, progress, stream
from .build import build_model, hidden_layers
from .calibrate import layer_maxima
from .dag import fold_graph
from .dag_convert import relu_graph_model
from .dag_plan import graph_maxima, scale_graph
from .fold import fold
from .scaling import DEFAULT_LOWER_B, DEFAULT_UPPER_B, scale_weight_sums

__all__ = ["DEFAULT_LOWER_B", "DEFAULT_UPPER_B", "Preprocessed", "PreprocessedGraph", "describe", "hidden_layers",
           "is_graph_record", "layer_maxima", "preprocess", "preprocess_graph"]


@dataclasses.dataclass
class Preprocessed:
    """Output of phase 1.

    Attributes
    ----------
    model : keras.Model
        The preprocessed float64 ReLU network; its input is ``x_hat = (x - p) / (q - p)``.
    X_n : list of float
        Largest ReLU output of each hidden layer on the calibration data, in order.
    input_range : (float, float)
        ``(p, q)`` of the original inputs.
    report : dict
        What phase 1 did: per-layer fate, scaled neuron counts, ``X_n`` by layer, settings.
    maxima : ndarray, optional
        Largest activation of every calibration image in every hidden layer,
        ``(n_images, n_hidden)``: ``X_n`` is its column maximum, :meth:`window_scales`
        takes quantiles of it.
    """

    model: keras.Model
    X_n: list
    input_range: tuple
    report: dict
    maxima: np.ndarray | None = None

    def window_scales(self, x_quantile=1.0):
        """``X_n`` per hidden layer, or its ``x_quantile`` version (docs/method.md §6).

        With ``x_quantile < 1`` each layer's ``X_n`` is that quantile of the calibration
        images' largest activations in the layer: shorter windows and lower latency, and
        activations beyond the window (condition (a)) that the dynamics then clip.
        """
        q = float(x_quantile)
        if not 0.0 < q <= 1.0:
            raise ValueError(f"x_quantile must be in (0, 1], got {x_quantile}")
        if q == 1.0:
            return list(self.X_n)
        if self.maxima is None:
            raise ValueError("x_quantile < 1 needs the per-image maxima of phase 1 (run phase 1 again)")
        return [float(v) for v in np.quantile(self.maxima, q, axis=0)]

    @property
    def hidden_layer_names(self):
        """Names of the hidden (ReLU) layers of :attr:`model`, in order."""
        return [layer.name for layer in hidden_layers(self.model)]

    def normalize(self, x):
        """``x_hat = (x - p) / (q - p)``, float64 (see :func:`snnmap.runtime.normalise`)."""
        return normalise(x, self.input_range, check_finite=False)

    # -- files -------------------------------------------------------------------------
    @staticmethod
    def paths(directory, name):
        """The files of phase 1 for model ``name`` in ``directory``: weights, architecture, ``X_n``, maxima."""
        base = os.path.join(directory, name)
        return {
            "weights": base + "_scaled.weights.h5",
            "architecture": base + "_scaled.json",
            "X_n": base + "_X_n.json",
            "maxima": base + "_maxima.npy",
            "graph": base + "_graph.keras",
        }

    def save(self, directory, name):
        """Write weights (``.weights.h5``), architecture and ``X_n`` (JSON), atomically.

        Parameters
        ----------
        directory : str
        name : str
            The model's name; the files are named after it (see :meth:`paths`).
        """
        paths = self.paths(directory, name)
        storage.atomic_write_text(paths["architecture"], self.model.to_json(indent=1))
        storage.atomic_save_weights(self.model, paths["weights"])
        self._save_record(paths)
        return paths

    def _save_record(self, paths, **marks):
        """The maxima (when measured) and the ``X_n`` record, with ``marks`` first."""
        if self.maxima is not None:
            storage.atomic_save_npy(paths["maxima"], self.maxima)
        storage.atomic_write_json(paths["X_n"], {
            **marks,
            "X_n": self.X_n,
            "hidden_layers": self.hidden_layer_names,
            "input_range": list(self.input_range),
            "report": self.report,
        })

    @classmethod
    def load(cls, directory, name):
        """Read what :meth:`save` wrote; a missing file raises ``MissingPhase1Error``.

        Every file is checked: an unreadable or hand-edited one raises
        :class:`~snnmap.errors.Phase1FileError` naming it (garbage architecture, truncated
        weights, ``X_n`` missing, not finite, not positive or so large that float64 spike times
        lose the precision exactness needs (:data:`snnmap.core.mapping.MAX_LATENCY`), a reversed
        ``input_range``).

        Parameters
        ----------
        directory : str
        name : str
        """
        paths = cls.paths(directory, name)
        if cls is Preprocessed and is_graph_record(paths["X_n"]):
            return PreprocessedGraph.load(directory, name)
        storage.require_files([p for k, p in paths.items() if k not in ("maxima", "graph")],
                              "phase 1 (python -m snnmap.phase1)")
        model = _read_architecture(paths["architecture"])
        _read_weights(model, paths["weights"])
        x_n, input_range, report = _read_meta(paths["X_n"], len(hidden_layers(model)))
        maxima = storage.load_npy(paths["maxima"]) if os.path.isfile(paths["maxima"]) else None
        return cls(model, x_n, input_range, report, maxima)


_AGAIN = "run phase 1 again (python -m snnmap.phase1)"


def _read_architecture(path):
    """The preprocessed model of a ``_scaled.json`` file (safe mode: no code from the file)."""
    try:
        with open(path, encoding="utf-8") as fh:
            model = keras.models.model_from_json(fh.read())
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds for a bad file; all mean the same
        raise Phase1FileError(path, f"is not a Keras model architecture (JSON) ({type(err).__name__}: {err}); "
                              + _AGAIN) from None
    if not isinstance(model, keras.Model):
        raise Phase1FileError(path, f"holds a {type(model).__name__}, not a Keras model; " + _AGAIN)
    return model


def _read_weights(model, path):
    """Load a ``.weights.h5`` file into ``model``, naming the file when it cannot be read."""
    try:
        model.load_weights(path)
    except OSError as err:
        raise Phase1FileError(path, f"is not a readable weights file (truncated?) ({err}); " + _AGAIN) from None
    except ValueError as err:
        raise Phase1FileError(path, f"does not fit the architecture next to it ({err}); " + _AGAIN) from None


def is_graph_record(path):
    """Whether an ``_X_n.json`` file is a graph's phase 1 (False when it is missing or unreadable:
    the chain's checks then name the problem).

    Parameters
    ----------
    path : str
        ``Preprocessed.paths(directory, name)["X_n"]``.
    """
    try:
        meta = storage.read_json(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("graph") is True


def _read_meta(path, n_hidden, chain=True):
    """``(X_n, input_range, report)`` of an ``_X_n.json`` file, checked (a chain's latency too)."""
    try:
        meta = storage.read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise Phase1FileError(path, f"is not a readable JSON file ({err}); " + _AGAIN) from None
    if not isinstance(meta, dict) or "X_n" not in meta or "input_range" not in meta:
        raise Phase1FileError(path, "does not hold phase 1's record (a JSON object with X_n and input_range); "
                              + _AGAIN)
    x_n = meta["X_n"]
    if not isinstance(x_n, list) or len(x_n) != n_hidden or not all(_is_number(v) for v in x_n):
        raise Phase1FileError(path, f"X_n must be a list of {n_hidden} numbers (one per hidden layer of the "
                              f"architecture), got {x_n!r}; " + _AGAIN)
    x_n = [float(v) for v in x_n]
    bad = [k for k, v in enumerate(x_n) if not (np.isfinite(v) and v > 0)]
    if bad:
        raise Phase1FileError(path, f"X_n of hidden layer {bad[0] + 1} is {x_n[bad[0]]}: it must be finite and "
                              "> 0; " + _AGAIN)
    latency = 1.0 + (1.0 + mapping.DEFAULT_ZETA) * sum(x_n)
    if chain and latency > mapping.MAX_LATENCY:
        raise Phase1FileError(path, f"X_n {x_n} imply a latency of {latency:.3g} (> {mapping.MAX_LATENCY:g}), where "
                              "float64 spike times cannot keep the 1e-9 precision exactness needs; " + _AGAIN)
    try:
        input_range = check_input_range(meta["input_range"])
    except InputRangeError as err:
        raise Phase1FileError(path, f"{err}; " + _AGAIN) from None
    report = meta.get("report")
    return x_n, input_range, report if isinstance(report, dict) else {}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def preprocess(model, x_calib, input_range=(0.0, 1.0), upper_b=DEFAULT_UPPER_B,
               lower_b=DEFAULT_LOWER_B, batch_size=256, verbose="auto", maxima_dtype="float32", clip=False,
               maxima=None):
    """Phase 1 (docs/method.md §4): preprocess a trained ReLU network.

    Parameters
    ----------
    model : keras.Model
        Trained ReLU network: a chain of supported layers (see :mod:`snnmap.pipeline.fold`).
    x_calib : array_like, ``tf.data.Dataset`` or iterable
        Calibration inputs in the model's own input range (typically the training set);
        ``X_n`` is measured on them in one streamed pass (arrays and memory maps are read
        a batch at a time; a dataset yields batches ``x`` or ``(x, y)``).
    input_range : (float, float)
        ``(p, q)``: every input value lies in ``[p, q]``; calibration data outside it are refused
        (:class:`~snnmap.errors.InputRangeError`) unless ``clip``.
    upper_b, lower_b : float
        Bounds on the weight sums ``S_i`` of hidden neurons (defaults 0.99 and -10).
    batch_size : int
        Batch size of the calibration pass.
    verbose : "auto", 0, 1 or 2
        Progress display of the calibration pass (a tqdm bar).
    maxima_dtype : "float32" or "float64"
        Precision of the calibration pass; float32 re-measures the few candidate images
        in float64 (see :func:`layer_maxima`), so ``X_n`` is the float64 maximum either way.
    clip : bool
        Clip the calibration data to ``input_range`` (before normalising them) instead of refusing
        values outside it.
    maxima : callable, optional
        Measures ``X_n`` instead of :func:`layer_maxima`, called as it is and returning what it
        returns (e.g. ``functools.partial(snnmap.beam.layer_maxima, beam_settings=...)``: the
        calibration pass as an Apache Beam pipeline).

    Returns
    -------
    Preprocessed
        A :class:`PreprocessedGraph` for a network that is not a chain (residual ``Add``,
        ``Concatenate``, branches; docs/method.md §10).
    """
    input_range = check_input_range(input_range)
    if not graph.is_chain(model):
        if maxima is not None:
            raise ValueError(f"model '{model.name}' is a graph (not a chain): its calibration pass runs in this "
                             "process only, not through maxima= (e.g. Beam) yet")
        return preprocess_graph(model, x_calib, input_range, upper_b, lower_b, batch_size, verbose, clip)
    stages, layer_report = fold(model, input_range)
    counts = scale_weight_sums(stages, upper_b, lower_b)
    for stage in stages:
        for arr in (stage.W, stage.b):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise InvalidWeightsError(f"layer '{stage.name}': folding produced non-finite weights "
                                          "(a batch norm with zero variance and epsilon?)")
    input_shape = graph.shape_of(model.inputs[0])
    pre_model = build_model(stages, input_shape, name=f"{model.name}_preprocessed")
    measure = layer_maxima if maxima is None else maxima
    x_n, per_image, how = measure(pre_model, x_calib, input_range, batch_size=batch_size, verbose=verbose,
                                  dtype=maxima_dtype, clip=clip)
    n_calib = len(per_image)
    names = [layer.name for layer in hidden_layers(pre_model)]
    report = {
        "original_model": model.name,
        "input_range": [float(v) for v in input_range],
        "upper_b": float(upper_b),
        "lower_b": float(lower_b),
        "n_calibration": int(n_calib),
        "layers": layer_report,
        "scaled_neurons": counts,
        "X_n": dict(zip(names, x_n)),
        "X_n_measured": how,
        "clip": bool(clip),
    }
    return Preprocessed(pre_model, x_n, (float(input_range[0]), float(input_range[1])), report, per_image)


@dataclasses.dataclass
class PreprocessedGraph(Preprocessed):
    """Output of phase 1 for a graph: residual, branching or concatenating (docs/method.md §10).

    Attributes
    ----------
    model : keras.Model
        The preprocessed float64 ReLU network on ``x_hat``: one Dense/Conv2D per spiking layer,
        stacked over the sources each population reads.
    X_n : list of float
        Largest value of each ReLU population on the calibration data, in topological order.
    input_range, report, maxima
        As :class:`Preprocessed` (``report["graph"]`` is True).
    original : keras.Model
        The user's network; phase 1's files keep it (``_graph.keras``) and :meth:`load` folds it again.
    folded : FoldedGraph
        The folded and scaled graph (:mod:`snnmap.pipeline.dag`) the SNN is built from.
    """

    original: keras.Model | None = None
    folded: object = None

    @property
    def hidden_layer_names(self):
        """Names of the ReLU populations (their original layers), in order."""
        return [source.name for source in self.folded.sources if source.kind == "relu"]

    def x_n_of_sources(self, x_quantile=1.0):
        """``X_n`` (or its quantile version) per ReLU population, keyed by source index."""
        relu = [k for k, source in enumerate(self.folded.sources) if source.kind == "relu"]
        return dict(zip(relu, self.window_scales(x_quantile)))

    def save(self, directory, name):
        """Write the original network (``_graph.keras``), ``X_n`` (JSON) and the maxima, atomically."""
        paths = self.paths(directory, name)
        storage.atomic_save_model(self.original, paths["graph"])
        self._save_record(paths, graph=True)
        return paths

    @classmethod
    def load(cls, directory, name):
        """Read what :meth:`save` wrote and fold the network again (the same graph, bit for bit)."""
        paths = cls.paths(directory, name)
        storage.require_files([paths["graph"], paths["X_n"]], "phase 1 (python -m snnmap.phase1)")
        try:
            original = keras.saving.load_model(paths["graph"], safe_mode=True)
        except Exception as err:  # Keras raises many types for a damaged or foreign file
            raise Phase1FileError(paths["graph"], f"is not a readable Keras model ({err}); " + _AGAIN) from None
        meta = storage.read_json(paths["X_n"])
        report = meta.get("report") if isinstance(meta.get("report"), dict) else {}
        input_range = check_input_range(meta.get("input_range", (0.0, 1.0)))
        folded, _ = scale_graph(fold_graph(original, input_range), report.get("upper_b", DEFAULT_UPPER_B),
                                report.get("lower_b", DEFAULT_LOWER_B))
        names = [source.name for source in folded.sources if source.kind == "relu"]
        x_n, input_range, report = _read_meta(paths["X_n"], len(names), chain=False)
        if meta.get("hidden_layers") != names:
            raise Phase1FileError(paths["X_n"], f"names the populations {meta.get('hidden_layers')}, but the network "
                                  f"in {os.path.basename(paths['graph'])} has {names}; " + _AGAIN)
        maxima = storage.load_npy(paths["maxima"]) if os.path.isfile(paths["maxima"]) else None
        model = relu_graph_model(folded, name=f"{original.name}_preprocessed")
        return cls(model, x_n, input_range, report, maxima, original=original, folded=folded)


def preprocess_graph(model, x_calib, input_range=(0.0, 1.0), upper_b=DEFAULT_UPPER_B, lower_b=DEFAULT_LOWER_B,
                     batch_size=256, verbose="auto", clip=False):
    """Phase 1 of a graph (docs/method.md §10): fold, scale the weight sums, measure ``X_n``.

    Parameters
    ----------
    model, x_calib, input_range, upper_b, lower_b, batch_size, verbose, clip
        As :func:`preprocess`.

    Returns
    -------
    PreprocessedGraph
    """
    input_range = check_input_range(input_range)
    folded, counts = scale_graph(fold_graph(model, input_range), upper_b, lower_b)
    shape = tuple(folded.sources[0].shape)
    batches = progress(stream(x_calib, shape, input_range, batch_size=batch_size, clip=clip),
                       num_batches(x_calib, batch_size), "calibration", verbose)
    per_image = graph_maxima(folded, (x_hat for x_hat, _ in batches))
    names = [source.name for source in folded.sources if source.kind == "relu"]
    x_n = [float(v) for v in per_image.max(axis=0)] if len(per_image) else [0.0] * len(names)
    report = {
        "graph": True,
        "original_model": model.name,
        "input_range": [float(v) for v in input_range],
        "upper_b": float(upper_b),
        "lower_b": float(lower_b),
        "n_calibration": int(len(per_image)),
        "layers": folded.report,
        "scaled_neurons": counts,
        "X_n": dict(zip(names, x_n)),
        "X_n_measured": {"dtype": "float64"},
        "clip": bool(clip),
    }
    pre_model = relu_graph_model(folded, name=f"{model.name}_preprocessed")
    return PreprocessedGraph(pre_model, x_n, (float(input_range[0]), float(input_range[1])), report, per_image,
                             original=model, folded=folded)


def describe(report) -> str:
    """A few readable lines about a phase-1 report.

    Parameters
    ----------
    report : dict
        ``Preprocessed.report``.
    """
    lines = [f"phase 1 of '{report['original_model']}': input range {tuple(report['input_range'])}, "
             f"{report['n_calibration']} calibration images"]
    for entry in report["layers"]:
        lines.append(f"  {entry['layer']:<24} {entry['type']:<22} {entry['became']}")
    for name, c in report["scaled_neurons"].items():
        lines.append(f"  scaled '{name}': {c['above_upper_b']} of {c['units']} above upper_b, "
                     f"{c['below_lower_b']} below lower_b")
    lines.append("  X_n: " + json.dumps({k: round(v, 6) for k, v in report["X_n"].items()}))
    how = report.get("X_n_measured", {})
    if how.get("dtype") == "float32":
        raised = sum(how["raised_for_near_ties"])
        lines.append(f"  X_n measured by a float32 pass; {how['rechecked_float64']} candidate images re-measured in "
                     f"float64" + (f"; {raised} layer(s) raised by {how['float32_tolerance']:g} for near ties"
                                   if raised else ""))
    return "\n".join(lines)
