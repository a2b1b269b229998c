"""Phase 1: turn a trained ReLU network into the canonical ReLU network the mapping needs.

MAPPING §4.  The result computes the same function as the original (to float64 rounding)
but on normalised inputs ``x_hat = (x - p) / (q - p)`` in ``[0, 1]`` and with

* no inference-time identities (Dropout, ActivityRegularization, ...);
* batch normalisation folded away: before a ReLU into the preceding Dense/Conv2D, after a
  ReLU into the following one (across max/average pooling, zero padding and Flatten),
  with per-position bias maps where zero padding makes the fused bias position dependent,
  and min pooling for channels whose folded scale is negative;
* the input range folded into the first layer the same way;
* weight sums ``S_i <= upper_b`` (and ``>= lower_b``) by positive rescaling of hidden
  neurons, compensated in the next layer;
* ``X_n``, the largest ReLU output of every hidden layer on the calibration data, from ONE
  streamed float32 pass with running maxima, the few images that attain them re-measured in
  float64 (so ``X_n`` is the float64 maximum).

Everything is folded in float64 NumPy; the preprocessed Keras model is float64.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
from keras import ops

from . import graph
from .. import storage
from ..errors import InvalidWeightsError, ShapeError, UnsupportedLayerError
from ..layers.relu import BiasMapConv2D, SignedMaxPooling2D
from ..runtime import num_batches, predict_on, progress, stream

DEFAULT_UPPER_B = 0.99
DEFAULT_LOWER_B = -10.0


@dataclasses.dataclass
class Stage:
    """One layer of the preprocessed network (a plain record, float64 arrays)."""

    kind: str  # dense | conv | maxpool | flatten | reshape | zeropad
    name: str
    input_shape: tuple
    output_shape: tuple
    W: np.ndarray | None = None
    b: np.ndarray | None = None
    activation: str = "linear"  # relu for hidden linear layers; linear / softmax for the output
    config: dict = dataclasses.field(default_factory=dict)
    signs: np.ndarray | None = None  # maxpool: +1 max, -1 min pooling per channel
    notes: list = dataclasses.field(default_factory=list)


class _Shift:
    """A pending per-element affine map ``z = scale * a + shift`` on the current activations.

    It stands for what the original network does to the activations that the
    preprocessed network does not (the input range, batch norms after a ReLU, the inverse
    of a weight-sum rescaling) until the next Dense/Conv2D absorbs it.
    """

    def __init__(self, shape, scale=1.0, shift=0.0):
        self.scale = np.broadcast_to(np.asarray(scale, np.float64), shape).copy()
        self.shift = np.broadcast_to(np.asarray(shift, np.float64), shape).copy()

    @property
    def identity(self):
        return bool(np.all(self.scale == 1.0) and np.all(self.shift == 0.0))

    def channel_scale(self, layer, what):
        """The scale as one value per channel (last axis); it must not vary with position."""
        per_channel = self.scale.reshape(-1, self.scale.shape[-1])
        if not np.all(per_channel == per_channel[:1]):
            raise UnsupportedLayerError(layer, f"{what} would need a scale that varies with position")
        return per_channel[0]

    def channel_shift(self, layer, what):
        per_channel = self.shift.reshape(-1, self.shift.shape[-1])
        if not np.all(per_channel == per_channel[:1]):
            raise UnsupportedLayerError(layer, f"{what} follows a shift that varies with position")
        return per_channel[0]


def _bn_affine(layer):
    """Batch norm at inference as ``gamma' * z + beta'`` per channel, float64."""
    weights = {w.path.split("/")[-1]: np.asarray(ops.convert_to_numpy(w), np.float64) for w in layer.weights}
    mean, var = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(mean)) if layer.scale else np.ones_like(mean)
    beta = weights.get("beta", np.zeros_like(mean)) if layer.center else np.zeros_like(mean)
    g = gamma / np.sqrt(var + float(layer.epsilon))
    return g, beta - mean * g


def _conv(x, w, strides, padding):
    """``conv(x, W)`` in float64 with Keras's own padding rule (x: H, W, C_in)."""
    out = ops.conv(
        ops.convert_to_tensor(x[None], "float64"),
        ops.convert_to_tensor(w, "float64"),
        strides=strides,
        padding=padding,
    )
    return np.asarray(ops.convert_to_numpy(out))[0]


def _average_pool(x, config):
    out = ops.average_pool(ops.convert_to_tensor(x[None], "float64"), config["pool_size"], config["strides"], config["padding"])
    return np.asarray(ops.convert_to_numpy(out))[0]


def _linear_stage(op, pending, w=None, b=None, kind=None, config=None):
    """Fold the pending map into a Dense/Conv2D: ``W' = W * scale``, ``b' = b + W . shift``.

    ``w``, ``b``, ``kind`` and ``config`` default to the layer's own (a Dense after global
    average pooling, or an average pooling turned into a convolution, pass their own).
    """
    layer = op.layer
    if w is None:
        w = np.asarray(ops.convert_to_numpy(layer.kernel), np.float64)
        b = (np.asarray(ops.convert_to_numpy(layer.bias), np.float64) if layer.use_bias
             else np.zeros(w.shape[-1]))
        kind = "dense" if isinstance(layer, keras.layers.Dense) else "conv"
        config = {} if kind == "dense" else {"strides": tuple(layer.strides), "padding": layer.padding}
    notes = []
    if kind == "dense":
        w_new = w * pending.scale.reshape(-1)[:, None]
        b_new = b + pending.shift.reshape(-1) @ w
    else:
        w_new = w * pending.channel_scale(layer, "folding into this convolution")[None, None, :, None]
        b_new = b
        if np.any(pending.shift != 0):
            b_map = b + _conv(pending.shift, w, config["strides"], config["padding"])
            per_channel = b_map.reshape(-1, b_map.shape[-1])
            uniform = bool(np.all(per_channel == per_channel[:1]))
            b_new = per_channel[0] if uniform else b_map
            if not uniform:
                notes.append("per-position bias map (zero padding does not carry the folded shift)")
    if not pending.identity:
        notes.append("absorbed the input range / batch norm / rescaling of its inputs")
    return Stage(kind, layer.name, op.input_shape, op.output_shape, w_new, b_new, config=config, notes=notes)


def _average_pool_stage(op):
    """Average pooling as a convolution with a fixed diagonal kernel ``1/(kh kw)`` and a ReLU.

    Its inputs are ReLU outputs, so its outputs are non-negative and the ReLU changes
    nothing; as a hidden layer it gets its own window and its weight sums (1) are scaled
    like any other.  The pending map of its inputs passes through it unchanged (linear).
    """
    layer = op.layer
    (kh, kw), strides = tuple(layer.pool_size), tuple(layer.strides)
    h, w, c = op.input_shape
    if layer.padding == "same":
        from ..layers.spiking import same_padding

        if same_padding(h, kh, strides[0]) != (0, 0) or same_padding(w, kw, strides[1]) != (0, 0):
            raise UnsupportedLayerError(
                layer, "average pooling with padding='same' that actually pads divides border windows by "
                "fewer elements; use padding='valid' or an input size that needs no padding"
            )
    kernel = np.zeros((kh, kw, c, c))
    kernel[:, :, np.arange(c), np.arange(c)] = 1.0 / (kh * kw)
    return Stage("conv", layer.name, op.input_shape, op.output_shape, kernel, np.zeros(c),
                 activation="relu", config={"strides": strides, "padding": layer.padding},
                 notes=["average pooling as a fixed-weight convolution (its own spiking layer)"])


def _structural_stage(op, pending):
    """Flatten / Reshape / ZeroPadding2D / max pooling: new stage and the pending map carried across."""
    layer, kind = op.layer, op.kind
    out_shape = op.output_shape
    if kind == "flatten" or kind == "reshape":
        stage = Stage(kind, layer.name, op.input_shape, out_shape,
                      config={"target_shape": out_shape} if kind == "reshape" else {})
        return stage, _Shift(out_shape, pending.scale.reshape(out_shape), pending.shift.reshape(out_shape))
    if kind == "zeropad":
        pad = tuple(tuple(int(v) for v in p) for p in layer.padding)
        stage = Stage(kind, layer.name, op.input_shape, out_shape, config={"padding": pad})
        widths = (pad[0], pad[1], (0, 0))
        # A padded position is 0 in the original network: scale kept, shift 0 there.
        return stage, _Shift(out_shape, np.pad(pending.scale, widths, mode="edge"), np.pad(pending.shift, widths))
    config = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides), "padding": layer.padding}
    scale = pending.channel_scale(layer, "pooling")
    # max pooling commutes with a positive per-channel scale; a negative one turns it
    # into min pooling of the activations.
    shift = pending.channel_shift(layer, "max pooling")
    signs = np.where(scale < 0, -1.0, 1.0)
    stage = Stage(kind, layer.name, op.input_shape, out_shape, config=config, signs=signs)
    if np.any(signs < 0):
        stage.notes.append(f"min pooling on {int(np.sum(signs < 0))} channel(s) with a negative batch-norm scale")
    return stage, _Shift(out_shape, scale, shift)


def fold(model, input_range=(0.0, 1.0)):
    """Fold the original model into a list of :class:`Stage` (no weight-sum scaling yet).

    Returns
    -------
    (stages, report) : (list of Stage, list of dict)
        ``report`` says, for every original layer, what became of it.
    """
    p, q = (float(v) for v in input_range)
    if not (np.isfinite(p) and np.isfinite(q) and q > p):
        raise ValueError(f"input_range must be (p, q) with q > p, got {input_range}")
    graph.check_finite_weights(model)
    chain = graph.chain(model)
    if not chain:
        raise UnsupportedLayerError(model, "it has no layers")
    input_shape = graph._shape(model.inputs[0])  # noqa: SLF001
    if any(d is None for d in input_shape):
        raise ShapeError(f"the model's input shape {input_shape} must be fully known")
    pending = _Shift(input_shape, q - p, p)
    stages, report = [], []
    since_linear = []  # pooling stages emitted after the last linear stage, before its ReLU
    last_linear = None
    relu_done = False
    gap = None  # (h, w) of a global average pooling waiting for its Dense

    def log(op, what):
        report.append({"layer": op.name, "type": type(op.layer).__name__, "became": what})

    for op in chain:
        kind = op.kind
        if kind == "identity":
            log(op, "dropped (identity at inference)")
        elif kind == "linear":
            if last_linear is not None and not relu_done:
                raise UnsupportedLayerError(
                    op.layer, f"it follows '{last_linear.name}' without a ReLU in between; "
                    "consecutive linear layers are not supported"
                )
            if gap is not None:
                if not isinstance(op.layer, keras.layers.Dense):
                    raise UnsupportedLayerError(op.layer, "only a Dense layer may follow global average pooling")
                # Dense(GAP(x)) == Dense'(Flatten(x)) with W' = W / (h w) repeated per position.
                w = np.asarray(ops.convert_to_numpy(op.layer.kernel), np.float64)
                b = (np.asarray(ops.convert_to_numpy(op.layer.bias), np.float64) if op.layer.use_bias
                     else np.zeros(w.shape[-1]))
                w = np.tile(w / (gap[0] * gap[1]), (gap[0] * gap[1], 1))
                flat_op = graph.Op(op.kind, op.layer, (w.shape[0],), op.output_shape)
                stage = _linear_stage(flat_op, pending, w, b, "dense", {})
                stage.notes.append("global average pooling folded in")
                gap = None
            else:
                stage = _linear_stage(op, pending)
            stages.append(stage)
            last_linear, relu_done, since_linear = stage, False, []
            pending = _Shift(op.output_shape)
            log(op, f"{stage.kind} layer" + ("; " + "; ".join(stage.notes) if stage.notes else ""))
        elif kind == "bn":
            g, beta = _bn_affine(op.layer)
            if last_linear is not None and not relu_done and not since_linear:
                last_linear.W = last_linear.W * g
                last_linear.b = last_linear.b * g + beta
                log(op, f"folded into '{last_linear.name}' (batch norm before ReLU)")
            elif last_linear is not None and not relu_done:
                raise UnsupportedLayerError(
                    op.layer, "batch normalisation between a pooling layer and its ReLU is not supported"
                )
            else:
                pending = _Shift(pending.scale.shape, pending.scale * g, pending.shift * g + beta)
                log(op, "folded into the next Dense/Conv2D (batch norm after ReLU)")
        elif kind == "relu":
            if last_linear is None or relu_done:
                raise UnsupportedLayerError(
                    op.layer, "a ReLU must follow a Dense or Conv2D layer (possibly through max pooling)"
                )
            if any(s.kind != "maxpool" for s in since_linear):
                raise UnsupportedLayerError(op.layer, "a ReLU after average pooling is not supported")
            # relu(maxpool(y)) == maxpool(relu(y)): the ReLU moves up to its linear layer.
            for s in since_linear:
                stages.remove(s)
            last_linear.activation = "relu"
            relu_done = True
            pending = _Shift(last_linear.output_shape)
            for s in since_linear:
                stages.append(s)
                pending = _Shift(s.output_shape, pending.channel_scale(s, "pooling"), 0.0)
            log(op, f"ReLU of '{last_linear.name}'")
        elif kind == "softmax":
            if last_linear is None or relu_done or since_linear:
                raise UnsupportedLayerError(op.layer, "softmax is only supported on the output layer")
            last_linear.activation = "softmax"
            log(op, f"softmax on the output of '{last_linear.name}'")
        elif kind == "gap" or (kind == "avgpool" and relu_done):
            if len(op.input_shape) != 3:
                raise UnsupportedLayerError(op.layer, "pooling needs (height, width, channels) inputs")
            if last_linear is not None and not relu_done:
                raise UnsupportedLayerError(op.layer, f"'{last_linear.name}' needs its ReLU before this pooling")
            if kind == "gap":
                h, w, c = op.input_shape
                shape = (h * w * c,)
                stages.append(Stage("flatten", op.name, op.input_shape, shape,
                                    notes=["global average pooling, folded into the next Dense"]))
                pending = _Shift(shape, pending.scale.reshape(shape), pending.shift.reshape(shape))
                gap = (h, w)
                log(op, "flatten; the averaging is folded into the next Dense")
            else:
                stage = _average_pool_stage(op)
                scale = pending.channel_scale(op.layer, "average pooling")
                shift = _average_pool(pending.shift, stage.config | {"pool_size": tuple(op.layer.pool_size)})
                stages.append(stage)
                last_linear, relu_done, since_linear = stage, True, []
                pending = _Shift(op.output_shape, scale, shift)
                log(op, "fixed-weight convolution with ReLU (its own spiking layer)")
        else:
            if kind in ("maxpool", "avgpool") and len(op.input_shape) != 3:
                raise UnsupportedLayerError(op.layer, "pooling needs (height, width, channels) inputs")
            if kind == "avgpool":
                raise UnsupportedLayerError(op.layer, "average pooling must follow a ReLU")
            stage, pending = _structural_stage(op, pending)
            stages.append(stage)
            if last_linear is not None and not relu_done:
                if kind != "maxpool":
                    raise UnsupportedLayerError(
                        op.layer, f"'{last_linear.name}' has no ReLU before this layer; only max pooling "
                        "may come between a hidden layer and its ReLU"
                    )
                since_linear.append(stage)
            log(op, kind + ("; " + "; ".join(stage.notes) if stage.notes else ""))

    linear = [s for s in stages if s.kind in ("dense", "conv")]
    if not linear:
        raise UnsupportedLayerError(model, "it has no Dense or Conv2D layer")
    out = linear[-1]
    if out.activation == "relu" or stages[-1] is not out:
        raise UnsupportedLayerError(
            model, f"its last layer must be a Dense/Conv2D with linear or softmax output (got '{stages[-1].name}'"
            f"{' with ReLU' if out.activation == 'relu' else ''}); the SNN reads its logits out of the membrane potential"
        )
    if not pending.identity:
        raise UnsupportedLayerError(model, "a batch normalisation after the output layer cannot be folded")
    if gap is not None:
        raise UnsupportedLayerError(model, "global average pooling must be followed by a Dense layer")
    return stages, report


def scale_weight_sums(stages, upper_b=DEFAULT_UPPER_B, lower_b=DEFAULT_LOWER_B):
    """MAPPING §4 weight-sum scaling, in place; returns per-layer counts of scaled neurons.

    A hidden neuron (channel) with ``S_i > upper_b`` is multiplied by ``upper_b / S_i``,
    one with ``S_i < lower_b`` by ``lower_b / S_i``; the next Dense/Conv2D's incoming
    weights from it are divided by the same positive factor (ReLU is positively
    homogeneous, max/min pooling and Flatten commute with it).  The output layer is only
    compensated.
    """
    if not (upper_b < 1.0 and upper_b > 0):
        raise ValueError(f"upper_b must be in (0, 1), got {upper_b}")
    if not lower_b < 0:
        raise ValueError(f"lower_b must be negative, got {lower_b}")
    counts = {}
    comp = None  # per-element factor on the current activations: x_new = x_old * comp
    for stage in stages:
        if stage.kind in ("dense", "conv"):
            if comp is not None:
                if stage.kind == "dense":
                    stage.W = stage.W / comp.reshape(-1)[:, None]
                else:
                    per_channel = comp.reshape(-1, comp.shape[-1])[0]
                    stage.W = stage.W / per_channel[None, None, :, None]
            if stage.activation != "relu":
                comp = None
                continue
            s = stage.W.reshape(-1, stage.W.shape[-1]).sum(axis=0)
            f = np.ones_like(s)
            high, low = s > upper_b, s < lower_b
            f[high] = upper_b / s[high]
            f[low] = lower_b / s[low]
            stage.W = stage.W * f
            stage.b = stage.b * f
            counts[stage.name] = {"above_upper_b": int(high.sum()), "below_lower_b": int(low.sum()),
                                  "units": int(s.size)}
            comp = np.broadcast_to(f, stage.output_shape).copy()
        elif comp is not None:
            if stage.kind in ("flatten", "reshape"):
                comp = comp.reshape(stage.output_shape)
            elif stage.kind == "zeropad":
                comp = np.pad(comp, stage.config["padding"] + ((0, 0),), mode="edge")
            else:  # pools: comp is per channel
                comp = np.broadcast_to(comp.reshape(-1, comp.shape[-1])[0], stage.output_shape).copy()
    return counts


def build_model(stages, input_shape, name="preprocessed"):
    """The float64 Keras model of the preprocessed network (input ``x_hat``)."""
    inputs = keras.Input(shape=input_shape, dtype="float64", name="x_hat")
    x = inputs
    for stage in stages:
        kw = {"name": stage.name, "dtype": "float64"}
        act = None if stage.activation == "linear" else stage.activation
        if stage.kind == "dense":
            layer = keras.layers.Dense(stage.W.shape[-1], activation=act, **kw)
            x = layer(x)
            layer.set_weights([stage.W, stage.b])
        elif stage.kind == "conv":
            cls = BiasMapConv2D if stage.b.ndim == 3 else keras.layers.Conv2D
            layer = cls(stage.W.shape[-1], stage.W.shape[:2], strides=stage.config["strides"],
                        padding=stage.config["padding"], activation=act, **kw)
            x = layer(x)
            layer.set_weights([stage.W, stage.b])
        elif stage.kind == "maxpool":
            if np.all(stage.signs > 0):
                x = keras.layers.MaxPooling2D(**stage.config, **kw)(x)
            else:
                x = SignedMaxPooling2D(stage.signs, **stage.config, **kw)(x)
        elif stage.kind == "flatten":
            x = keras.layers.Flatten(**kw)(x)
        elif stage.kind == "reshape":
            x = keras.layers.Reshape(stage.config["target_shape"], **kw)(x)
        elif stage.kind == "zeropad":
            x = keras.layers.ZeroPadding2D(stage.config["padding"], **kw)(x)
        else:  # pragma: no cover - fold() emits nothing else
            raise AssertionError(stage.kind)
    return keras.Model(inputs, x, name=name)


def hidden_layers(model):
    """The hidden (ReLU) Dense/Conv2D layers of a preprocessed model, in order."""
    return [layer for layer in model.layers
            if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))
            and graph._activation_name(layer, layer.activation) == "relu"]  # noqa: SLF001


#: Images per hidden layer whose float32 maxima are re-measured in float64 (see :func:`layer_maxima`).
RECHECK_IMAGES = 8
#: Relative error a float32 pass may make in an image's largest activation, with a wide margin
#: (measured: 1e-6 for LeNet5, 1e-5 for the 16-layer VGG).
FLOAT32_TOLERANCE = 1e-3


def _maxima_probe(model):
    """A model returning every image's largest output of each hidden layer, ``[(N,), ...]``."""
    hidden = hidden_layers(model)
    axes = lambda t: tuple(range(1, len(t.shape)))  # noqa: E731
    return keras.Model(model.inputs, [ops.max(layer.output, axis=axes(layer.output)) for layer in hidden]
                       or [model.outputs[0]]), len(hidden)


def _probe_rows(probe, x_hat, n_hidden, size=None):
    """``(len(x_hat), n_hidden)`` float64 per-image maxima of one batch."""
    outputs = predict_on(probe, x_hat, size)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return np.stack([np.asarray(o, np.float64).reshape(len(x_hat), -1).max(axis=1)
                     for o in outputs], axis=1)[:, :n_hidden]


class _TopImages:
    """The ``k`` images with the largest value in each column, and the largest value left out."""

    def __init__(self, k, n_columns):
        self.k = k
        self.values = np.full((n_columns, 0), -np.inf)
        self.ids = np.zeros((n_columns, 0), np.int64)
        self.dropped = np.full(n_columns, -np.inf)
        self.images = {}

    def add(self, first_id, rows, x_hat):
        ids = np.concatenate([self.ids, np.broadcast_to(first_id + np.arange(len(rows)), (len(self.ids), len(rows)))], 1)
        values = np.concatenate([self.values, rows.T], axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        keep, drop = order[:, :self.k], order[:, self.k:]
        if drop.shape[1]:
            self.dropped = np.maximum(self.dropped, np.take_along_axis(values, drop, 1).max(axis=1))
        self.values, self.ids = np.take_along_axis(values, keep, 1), np.take_along_axis(ids, keep, 1)
        wanted = set(self.ids.ravel().tolist())
        self.images = {i: img for i, img in self.images.items() if i in wanted}
        for j in range(len(rows)):
            if first_id + j in wanted:
                self.images[first_id + j] = x_hat[j]


def layer_maxima(model, x, input_range=(0.0, 1.0), batch_size=256, verbose="auto", dtype="float32",
                 recheck=RECHECK_IMAGES):
    """``X_n``: the largest output of every hidden ReLU layer over ``x``, in one streamed pass.

    The probe model returns per-image maxima only and a running maximum is kept batch by
    batch, so memory depends neither on the layer sizes nor on the amount of data.

    With ``dtype="float32"`` (default) the pass runs a float32 copy of the network (several
    times faster than float64 on CPU) and keeps, per hidden layer, the ``recheck`` images
    with the largest float32 maxima; after the pass those few images are run again in
    float64 and ``X_n`` is the largest float64 value among them. That is the float64
    maximum over all of ``x`` whenever float32 errs by less than
    :data:`FLOAT32_TOLERANCE` (relative) and the best image left out is at least that far
    below it; otherwise (near ties) ``X_n`` is raised to ``(1 + FLOAT32_TOLERANCE)`` times
    the best float32 value left out, which still bounds every activation (a slightly
    longer window, never a violation). ``dtype="float64"`` measures everything in float64.

    Parameters
    ----------
    model : keras.Model
        Preprocessed network (input ``x_hat``).
    x : array_like, ``tf.data.Dataset`` or iterable
        Calibration inputs in their original range (see :func:`snnmap.runtime.stream`).
    input_range : (float, float)
    batch_size : int
    verbose : "auto", 0, 1 or 2
    dtype : "float32" or "float64"
        Precision of the streamed pass.
    recheck : int
        Images per hidden layer re-measured in float64 after a float32 pass.

    Returns
    -------
    (list of float, ndarray, dict)
        ``X_n`` per hidden layer; every image's largest activation per hidden layer,
        ``(n_images, n_hidden)`` (float32 precision except for the re-measured images; for
        windows from a quantile, ``x_quantile``); and how ``X_n`` was measured.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if recheck < 1:
        raise ValueError(f"recheck must be at least 1, got {recheck}")
    probe64, n_hidden = _maxima_probe(model)
    probe = probe64 if dtype == "float64" else _maxima_probe(graph.with_dtype(model, "float32"))[0]
    top = _TopImages(recheck, n_hidden) if dtype == "float32" else None
    shape = tuple(model.inputs[0].shape[1:])
    source = stream(x, shape, input_range, batch_size=batch_size)
    per_image, size, seen = [], None, 0
    for x_hat, _ in progress(source, num_batches(x, batch_size), "X_n", verbose):
        size = size or len(x_hat)
        rows = _probe_rows(probe, x_hat, n_hidden, size)
        if top is not None:
            top.add(seen, rows, x_hat)
        per_image.append(rows)
        seen += len(x_hat)
    if not per_image:
        raise ValueError("the calibration data are empty: X_n needs at least one input")
    per_image = np.concatenate(per_image)
    how = {"dtype": dtype, "n_images": int(seen)}
    if top is None:
        return [float(v) for v in per_image.max(axis=0)], per_image, how
    ids = np.array(sorted(top.images), np.int64)
    images = np.stack([top.images[i] for i in ids]) if len(ids) else np.zeros((0,) + shape)
    for start in range(0, len(ids), batch_size):
        per_image[ids[start:start + batch_size]] = _probe_rows(probe64, images[start:start + batch_size], n_hidden)
    x_n, margin = [], []
    for col in range(n_hidden):
        best = float(per_image[ids, col].max())
        left_out = float(top.dropped[col]) * (1.0 + FLOAT32_TOLERANCE)
        margin.append(left_out > best)
        x_n.append(max(best, left_out))
    how.update(rechecked_float64=int(len(ids)), recheck_per_layer=int(recheck),
               float32_tolerance=FLOAT32_TOLERANCE, raised_for_near_ties=[bool(m) for m in margin])
    return x_n, per_image, how


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
        """``X_n`` per hidden layer, or its ``x_quantile`` version (MAPPING §6).

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
        return [layer.name for layer in hidden_layers(self.model)]

    def normalize(self, x):
        """``x_hat = (x - p) / (q - p)``, float64."""
        p, q = self.input_range
        return (np.asarray(x, np.float64) - p) / (q - p)

    # -- files -------------------------------------------------------------------------
    @staticmethod
    def paths(directory, name):
        base = os.path.join(directory, name)
        return {
            "weights": base + "_scaled.weights.h5",
            "architecture": base + "_scaled.json",
            "X_n": base + "_X_n.json",
            "maxima": base + "_maxima.npy",
        }

    def save(self, directory, name):
        """Write weights (``.weights.h5``), architecture and ``X_n`` (JSON), atomically."""
        paths = self.paths(directory, name)
        storage.atomic_write_text(paths["architecture"], self.model.to_json(indent=1))
        storage.atomic_save_weights(self.model, paths["weights"])
        if self.maxima is not None:
            storage.atomic_save_npy(paths["maxima"], self.maxima)
        storage.atomic_write_json(paths["X_n"], {
            "X_n": self.X_n,
            "hidden_layers": self.hidden_layer_names,
            "input_range": list(self.input_range),
            "report": self.report,
        })
        return paths

    @classmethod
    def load(cls, directory, name):
        """Read what :meth:`save` wrote; a missing file raises ``MissingPhase1Error``."""
        paths = cls.paths(directory, name)
        storage.require_files([p for k, p in paths.items() if k != "maxima"], "phase 1 (python -m snnmap.phase1)")
        with open(paths["architecture"]) as fh:
            model = keras.models.model_from_json(fh.read())
        model.load_weights(paths["weights"])
        meta = storage.read_json(paths["X_n"])
        maxima = storage.load_npy(paths["maxima"]) if os.path.isfile(paths["maxima"]) else None
        return cls(model, list(meta["X_n"]), tuple(meta["input_range"]), meta["report"], maxima)


def preprocess(model, x_calib, input_range=(0.0, 1.0), upper_b=DEFAULT_UPPER_B,
               lower_b=DEFAULT_LOWER_B, batch_size=256, verbose="auto", maxima_dtype="float32"):
    """Phase 1 (MAPPING §4): preprocess a trained ReLU network.

    Parameters
    ----------
    model : keras.Model
        Trained ReLU network: a chain of supported layers (see :mod:`snnmap.graph`).
    x_calib : array_like, ``tf.data.Dataset`` or iterable
        Calibration inputs in the model's own input range (typically the training set);
        ``X_n`` is measured on them in one streamed pass (arrays and memory maps are read
        a batch at a time; a dataset yields batches ``x`` or ``(x, y)``).
    input_range : (float, float)
        ``(p, q)``: every input value lies in ``[p, q]``.
    upper_b, lower_b : float
        Bounds on the weight sums ``S_i`` of hidden neurons (defaults 0.99 and -10).
    batch_size : int
        Batch size of the calibration pass.
    verbose : "auto", 0, 1 or 2
        Progress display of the calibration pass (a tqdm bar).
    maxima_dtype : "float32" or "float64"
        Precision of the calibration pass; float32 re-measures the few candidate images
        in float64 (see :func:`layer_maxima`), so ``X_n`` is the float64 maximum either way.

    Returns
    -------
    Preprocessed
    """
    stages, layer_report = fold(model, input_range)
    counts = scale_weight_sums(stages, upper_b, lower_b)
    for stage in stages:
        for arr in (stage.W, stage.b):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise InvalidWeightsError(f"layer '{stage.name}': folding produced non-finite weights "
                                          "(a batch norm with zero variance and epsilon?)")
    input_shape = graph._shape(model.inputs[0])  # noqa: SLF001
    pre_model = build_model(stages, input_shape, name=f"{model.name}_preprocessed")
    x_n, maxima, how = layer_maxima(pre_model, x_calib, input_range, batch_size=batch_size, verbose=verbose,
                                    dtype=maxima_dtype)
    n_calib = len(maxima)
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
    }
    return Preprocessed(pre_model, x_n, (float(input_range[0]), float(input_range[1])), report, maxima)


def describe(report) -> str:
    """A few readable lines about a phase-1 report."""
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
