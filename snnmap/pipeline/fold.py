"""Folding a trained ReLU chain into the stages of the preprocessed network (docs/method.md §4).

:func:`fold` walks the model's graph (:func:`snnmap.pipeline.graph.chain`) and hands
every node to the handler registered for its Keras layer class in :data:`HANDLERS`
(its exact class: a subclass, which may compute something else, is refused by name, and so
are Keras-quantized layers).  A handler first checks the layer's configuration, then folds it into the
:class:`Folder` state: the stages emitted so far and a pending per-element affine map

    z = scale * a + shift

on the current activations, which stands for what the original network does to them and
the preprocessed network does not (the input range, batch norms after a ReLU) until the
next Dense/Conv2D absorbs it: ``W' = W * scale``, ``b' = b + W . shift``.

Everything is folded in float64 NumPy.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from . import graph
from ..errors import ShapeError, UnsupportedLayerError
from ..layers import same_padding
from ..runtime import check_input_range


@dataclasses.dataclass
class Stage:
    """One layer of the preprocessed network (a plain record, float64 arrays).

    Attributes
    ----------
    kind : str
        ``"dense"``, ``"conv"``, ``"maxpool"``, ``"flatten"``, ``"reshape"`` or ``"zeropad"``.
    name : str
        Name of the original layer it comes from.
    input_shape, output_shape : tuple
        Shapes without the batch axis.
    W, b : ndarray, optional
        Kernel and bias of a dense or conv stage (``b`` may be a per-position bias map).
    activation : str
        ``"relu"`` for hidden linear stages; ``"linear"`` or ``"softmax"`` for the output.
    config : dict
        Strides, padding, pool size or target shape, as the Keras layer takes them.
    signs : ndarray, optional
        Max pooling: +1 (max) or -1 (min pooling) per channel.
    notes : list of str
        What folding did to it.
    """

    kind: str
    name: str
    input_shape: tuple
    output_shape: tuple
    W: np.ndarray | None = None
    b: np.ndarray | None = None
    activation: str = "linear"
    config: dict = dataclasses.field(default_factory=dict)
    signs: np.ndarray | None = None
    notes: list = dataclasses.field(default_factory=list)


class Shift:
    """A pending per-element affine map ``z = scale * a + shift`` on the current activations.

    Parameters
    ----------
    shape : tuple
        Shape of the activations (without the batch axis).
    scale, shift : float or ndarray
        Broadcast to ``shape``.
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
        """The shift as one value per channel (last axis); it must not vary with position."""
        per_channel = self.shift.reshape(-1, self.shift.shape[-1])
        if not np.all(per_channel == per_channel[:1]):
            raise UnsupportedLayerError(layer, f"{what} follows a shift that varies with position")
        return per_channel[0]

    def reshaped(self, shape):
        """The same map on activations reshaped to ``shape``."""
        return Shift(shape, self.scale.reshape(shape), self.shift.reshape(shape))


def bn_affine(layer):
    """Batch norm at inference as ``g * z + beta'`` per channel, float64.

    ``g = gamma / sqrt(var + epsilon)`` and ``beta' = beta - mean * g``, with ``gamma = 1``
    without ``scale`` and ``beta = 0`` without ``center``.

    Parameters
    ----------
    layer : keras.layers.BatchNormalization
    """
    def value(weight):
        return np.asarray(ops.convert_to_numpy(weight), np.float64)

    mean, var = value(layer.moving_mean), value(layer.moving_variance)
    gamma = value(layer.gamma) if layer.scale else np.ones_like(mean)
    beta = value(layer.beta) if layer.center else np.zeros_like(mean)
    g = gamma / np.sqrt(var + float(layer.epsilon))
    return g, beta - mean * g


def _conv(x, w, strides, padding):
    """``conv(x, W)`` in float64 with Keras's own padding rule (x: H, W, C_in)."""
    out = ops.conv(ops.convert_to_tensor(x[None], "float64"), ops.convert_to_tensor(w, "float64"),
                   strides=strides, padding=padding)
    return np.asarray(ops.convert_to_numpy(out))[0]


def _average_pool(x, config):
    out = ops.average_pool(ops.convert_to_tensor(x[None], "float64"), config["pool_size"], config["strides"],
                           config["padding"])
    return np.asarray(ops.convert_to_numpy(out))[0]


def kernel_and_bias(layer):
    w = graph.effective_kernel(layer)
    b = np.asarray(ops.convert_to_numpy(layer.bias), np.float64) if layer.use_bias else np.zeros(w.shape[-1])
    return w, b


def linear_stage(layer, input_shape, output_shape, pending, w, b, kind, config):
    """Fold the pending map into a Dense/Conv2D: ``W' = W * scale``, ``b' = b + W . shift``.

    Parameters
    ----------
    layer : keras.layers.Layer
        The original layer (for its name and for error messages).
    input_shape, output_shape : tuple
    pending : Shift
        The map on the layer's inputs.
    w, b : ndarray
        Kernel and bias, float64.
    kind : {"dense", "conv"}
    config : dict
        ``strides`` and ``padding`` of a convolution.
    """
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
    return Stage(kind, layer.name, input_shape, output_shape, w_new, b_new, config=config, notes=notes)


class Folder:
    """The state of a fold: stages so far, the pending map, and where the last hidden layer stands.

    Parameters
    ----------
    input_shape : tuple
        Shape of one input.
    input_range : (float, float)
        ``(p, q)``: the input map ``x = (q - p) x_hat + p`` is the first pending map.
    """

    def __init__(self, input_shape, input_range):
        p, q = input_range
        self.pending = Shift(input_shape, q - p, p)
        self.stages, self.report = [], []
        self.last_linear = None  # the last dense/conv stage
        self.relu_done = False  # whether last_linear has its ReLU
        self.since_linear = []  # pooling stages after last_linear, before its ReLU
        self.gap = None  # (h, w) of a global average pooling waiting for its Dense

    @property
    def open_linear(self):
        """The last linear stage if it still waits for its ReLU, else None."""
        return self.last_linear if self.last_linear is not None and not self.relu_done else None

    def log(self, node, what):
        self.report.append({"layer": node.name, "type": type(node.layer).__name__, "became": what})

    def require_relu_done(self, node):
        """Refuse a linear layer that follows another without a ReLU in between."""
        if self.open_linear is not None:
            raise UnsupportedLayerError(
                node.layer, f"it follows '{self.last_linear.name}' without a ReLU in between; "
                "consecutive linear layers are not supported"
            )

    def add_linear(self, node, stage):
        """Emit a dense/conv stage; its outputs start with no pending map."""
        self.stages.append(stage)
        self.last_linear, self.relu_done, self.since_linear = stage, False, []
        self.pending = Shift(node.output_shape)
        self.log(node, f"{stage.kind} layer" + ("; " + "; ".join(stage.notes) if stage.notes else ""))

    def relu(self, node):
        """Give the open linear stage its ReLU; max pooling in between moves after it."""
        if self.open_linear is None:
            raise UnsupportedLayerError(
                node.layer, "a ReLU must follow a Dense or Conv2D layer (possibly through max pooling)"
            )
        if any(s.kind != "maxpool" for s in self.since_linear):
            raise UnsupportedLayerError(node.layer, "a ReLU after average pooling is not supported")
        # relu(maxpool(y)) == maxpool(relu(y)): the ReLU moves up to its linear layer.
        for s in self.since_linear:
            self.stages.remove(s)
        self.last_linear.activation = "relu"
        self.relu_done = True
        self.pending = Shift(self.last_linear.output_shape)
        for s in self.since_linear:
            self.stages.append(s)
            self.pending = Shift(s.output_shape, self.pending.channel_scale(s, "pooling"), 0.0)
        self.log(node, f"ReLU of '{self.last_linear.name}'")

    def softmax(self, node):
        if self.open_linear is None or self.since_linear:
            raise UnsupportedLayerError(node.layer, "softmax is only supported on the output layer")
        self.last_linear.activation = "softmax"
        self.log(node, f"softmax on the output of '{self.last_linear.name}'")

    def activation(self, node, name):
        """What a layer's ``activation`` argument does after the layer itself."""
        if name == "relu":
            self.relu(node)
        elif name == "softmax":
            self.softmax(node)

    def add_structural(self, node, stage, pending):
        """Emit a stage that only moves values (pooling, flatten, reshape, zero padding)."""
        self.stages.append(stage)
        self.pending = pending
        if self.open_linear is not None:
            if stage.kind != "maxpool":
                raise UnsupportedLayerError(
                    node.layer, f"'{self.last_linear.name}' has no ReLU before this layer; only max pooling "
                    "may come between a hidden layer and its ReLU"
                )
            self.since_linear.append(stage)
        self.log(node, stage.kind + ("; " + "; ".join(stage.notes) if stage.notes else ""))

    def finish(self, model):
        """The stages, once the whole chain is folded; refuses an unfinished or unmappable end."""
        linear = [s for s in self.stages if s.kind in ("dense", "conv")]
        if not linear:
            raise UnsupportedLayerError(model, "it has no Dense or Conv2D layer")
        out = linear[-1]
        if out.activation == "relu" or self.stages[-1] is not out:
            raise UnsupportedLayerError(
                model, f"its last layer must be a Dense/Conv2D with linear or softmax output (got "
                f"'{self.stages[-1].name}'{' with ReLU' if out.activation == 'relu' else ''}); the SNN reads its "
                "logits out of the membrane potential"
            )
        if not self.pending.identity:
            raise UnsupportedLayerError(model, "a batch normalisation after the output layer cannot be folded")
        if self.gap is not None:
            raise UnsupportedLayerError(model, "global average pooling must be followed by a Dense layer")
        return self.stages


# -- handlers: one per Keras layer type ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Handler:
    """How one Keras layer type is folded.

    Attributes
    ----------
    check : callable
        ``check(node)``: raises :class:`UnsupportedLayerError` for a configuration the exact
        mapping does not support; all nodes are checked before any is folded.
    fold : callable
        ``fold(folder, node)``: folds the node into the :class:`Folder`.
    """

    check: object
    fold: object


def no_check(node):
    del node


def check_activation(node):
    graph.activation_name(node.layer, node.layer.activation)


def check_dense(node):
    if len(node.input_shape) != 1:
        raise UnsupportedLayerError(node.layer, f"Dense on inputs of shape {node.input_shape}: add a Flatten before it")
    check_activation(node)


def _fold_dense(folder, node):
    folder.require_relu_done(node)
    layer = node.layer
    w, b = kernel_and_bias(layer)
    if folder.gap is None:
        stage = linear_stage(layer, node.input_shape, node.output_shape, folder.pending, w, b, "dense", {})
    else:
        # Dense(GAP(x)) == Dense'(Flatten(x)) with W' = W / (h w) repeated per position.
        h, w_ = folder.gap
        w = np.tile(w / (h * w_), (h * w_, 1))
        stage = linear_stage(layer, (w.shape[0],), node.output_shape, folder.pending, w, b, "dense", {})
        stage.notes.append("global average pooling folded in")
        folder.gap = None
    folder.add_linear(node, stage)
    folder.activation(node, graph.activation_name(layer, layer.activation))


def check_conv(node):
    layer = node.layer
    if layer.data_format != "channels_last":
        raise UnsupportedLayerError(layer, "only data_format='channels_last' is supported")
    if tuple(layer.dilation_rate) != (1, 1):
        raise UnsupportedLayerError(layer, f"dilation_rate {layer.dilation_rate} is not supported")
    if layer.groups != 1:
        raise UnsupportedLayerError(layer, "grouped convolutions are not supported")
    check_activation(node)


def _fold_conv(folder, node):
    folder.require_relu_done(node)
    layer = node.layer
    if folder.gap is not None:
        raise UnsupportedLayerError(layer, "only a Dense layer may follow global average pooling")
    w, b = kernel_and_bias(layer)
    config = {"strides": tuple(layer.strides), "padding": layer.padding}
    folder.add_linear(node, linear_stage(layer, node.input_shape, node.output_shape, folder.pending, w, b, "conv",
                                         config))
    folder.activation(node, graph.activation_name(layer, layer.activation))


def check_bn(node):
    layer = node.layer
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    if axis not in (-1, len(node.input_shape), [-1], [len(node.input_shape)]):
        raise UnsupportedLayerError(layer, f"batch normalisation over axis {layer.axis}; only the last axis is "
                                    "supported")


def _fold_bn(folder, node):
    g, beta = bn_affine(node.layer)
    if folder.open_linear is not None and not folder.since_linear:
        folder.last_linear.W = folder.last_linear.W * g
        folder.last_linear.b = folder.last_linear.b * g + beta
        folder.log(node, f"folded into '{folder.last_linear.name}' (batch norm before ReLU)")
    elif folder.open_linear is not None:
        raise UnsupportedLayerError(node.layer, "batch normalisation between a pooling layer and its ReLU is not "
                                    "supported")
    else:
        pending = folder.pending
        folder.pending = Shift(pending.scale.shape, pending.scale * g, pending.shift * g + beta)
        folder.log(node, "folded into the next Dense/Conv2D (batch norm after ReLU)")


def check_relu(node):
    layer = node.layer
    if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
        raise UnsupportedLayerError(layer, "ReLU with max_value, negative_slope or threshold is not a plain ReLU")


def _fold_activation_layer(folder, node):
    name = graph.activation_name(node.layer, node.layer.activation)
    if name == "linear":
        _fold_identity(folder, node)
    else:
        folder.activation(node, name)


def _fold_identity(folder, node):
    folder.log(node, "dropped (identity at inference)")


def check_pool(node):
    if len(node.input_shape) != 3:
        raise UnsupportedLayerError(node.layer, "pooling needs (height, width, channels) inputs")


def _fold_maxpool(folder, node):
    check_pool(node)
    layer = node.layer
    config = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides), "padding": layer.padding}
    scale = folder.pending.channel_scale(layer, "pooling")
    # max pooling commutes with a positive per-channel scale; a negative one turns it
    # into min pooling of the activations.
    shift = folder.pending.channel_shift(layer, "max pooling")
    signs = np.where(scale < 0, -1.0, 1.0)
    stage = Stage("maxpool", layer.name, node.input_shape, node.output_shape, config=config, signs=signs)
    if np.any(signs < 0):
        stage.notes.append(f"min pooling on {int(np.sum(signs < 0))} channel(s) with a negative batch-norm scale")
    folder.add_structural(node, stage, Shift(node.output_shape, scale, shift))


def _average_pool_stage(node):
    """Average pooling as a convolution with a fixed diagonal kernel ``1/(kh kw)`` and a ReLU.

    Its inputs are ReLU outputs, so its outputs are non-negative and the ReLU changes
    nothing; as a hidden layer it gets its own window and its weight sums (1) are scaled
    like any other.  The pending map of its inputs passes through it unchanged (linear).
    """
    layer = node.layer
    (kh, kw), strides = tuple(layer.pool_size), tuple(layer.strides)
    h, w, c = node.input_shape
    if layer.padding == "same" and (same_padding(h, kh, strides[0]) != (0, 0)
                                    or same_padding(w, kw, strides[1]) != (0, 0)):
        raise UnsupportedLayerError(
            layer, "average pooling with padding='same' that actually pads divides border windows by "
            "fewer elements; use padding='valid' or an input size that needs no padding"
        )
    kernel = np.zeros((kh, kw, c, c))
    kernel[:, :, np.arange(c), np.arange(c)] = 1.0 / (kh * kw)
    return Stage("conv", layer.name, node.input_shape, node.output_shape, kernel, np.zeros(c),
                 activation="relu", config={"strides": strides, "padding": layer.padding},
                 notes=["average pooling as a fixed-weight convolution (its own spiking layer)"])


def _fold_avgpool(folder, node):
    check_pool(node)
    if not folder.relu_done:
        raise UnsupportedLayerError(node.layer, "average pooling must follow a ReLU")
    stage = _average_pool_stage(node)
    scale = folder.pending.channel_scale(node.layer, "average pooling")
    shift = _average_pool(folder.pending.shift, stage.config | {"pool_size": tuple(node.layer.pool_size)})
    folder.stages.append(stage)
    folder.last_linear, folder.relu_done, folder.since_linear = stage, True, []
    folder.pending = Shift(node.output_shape, scale, shift)
    folder.log(node, "fixed-weight convolution with ReLU (its own spiking layer)")


def check_gap(node):
    if node.layer.keepdims:
        raise UnsupportedLayerError(node.layer, "keepdims=True is not supported")


def _fold_gap(folder, node):
    check_pool(node)
    if folder.open_linear is not None:
        raise UnsupportedLayerError(node.layer, f"'{folder.last_linear.name}' needs its ReLU before this pooling")
    h, w, c = node.input_shape
    shape = (h * w * c,)
    folder.stages.append(Stage("flatten", node.name, node.input_shape, shape,
                               notes=["global average pooling, folded into the next Dense"]))
    folder.pending = folder.pending.reshaped(shape)
    folder.gap = (h, w)
    folder.log(node, "flatten; the averaging is folded into the next Dense")


def _fold_flatten(folder, node):
    stage = Stage("flatten", node.name, node.input_shape, node.output_shape)
    folder.add_structural(node, stage, folder.pending.reshaped(node.output_shape))


def _fold_reshape(folder, node):
    stage = Stage("reshape", node.name, node.input_shape, node.output_shape,
                  config={"target_shape": node.output_shape})
    folder.add_structural(node, stage, folder.pending.reshaped(node.output_shape))


def _fold_zeropad(folder, node):
    pad = tuple(tuple(int(v) for v in p) for p in node.layer.padding)
    stage = Stage("zeropad", node.name, node.input_shape, node.output_shape, config={"padding": pad})
    widths = (pad[0], pad[1], (0, 0))
    pending = folder.pending
    # A padded position is 0 in the original network: scale kept, shift 0 there.
    folder.add_structural(node, stage, Shift(node.output_shape, np.pad(pending.scale, widths, mode="edge"),
                                             np.pad(pending.shift, widths)))


#: The folding handler of every supported Keras layer type.
HANDLERS = {
    keras.layers.Dense: Handler(check_dense, _fold_dense),
    keras.layers.Conv2D: Handler(check_conv, _fold_conv),
    keras.layers.BatchNormalization: Handler(check_bn, _fold_bn),
    keras.layers.ReLU: Handler(check_relu, lambda folder, node: folder.relu(node)),
    keras.layers.Softmax: Handler(no_check, lambda folder, node: folder.softmax(node)),
    keras.layers.Activation: Handler(check_activation, _fold_activation_layer),
    keras.layers.MaxPooling2D: Handler(no_check, _fold_maxpool),
    keras.layers.AveragePooling2D: Handler(no_check, _fold_avgpool),
    keras.layers.GlobalAveragePooling2D: Handler(check_gap, _fold_gap),
    keras.layers.Flatten: Handler(no_check, _fold_flatten),
    keras.layers.Reshape: Handler(no_check, _fold_reshape),
    keras.layers.ZeroPadding2D: Handler(no_check, _fold_zeropad),
    **{cls: Handler(no_check, _fold_identity) for cls in graph.INFERENCE_IDENTITY},
}

SUPPORTED = ("the exact mapping supports Dense, Conv2D, BatchNormalization, ReLU/relu, softmax output, "
             "MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, ZeroPadding2D and "
             "inference-time identities (Dropout, ActivityRegularization, ...)")


def _refuse_lookalike(layer, handlers):
    """Refuse a subclass of a mapped layer class: its own code may compute something else."""
    mro = type(layer).__mro__
    for cls in mro[1:]:
        if cls in handlers:
            own_call = any("call" in vars(c) for c in mro[:mro.index(cls)])
            how = "with its own call()" if own_call else "(it may change what the layer computes)"
            raise UnsupportedLayerError(
                layer, f"it is a subclass of {cls.__name__} ({type(layer).__name__}) {how}; snnmap maps only "
                f"keras.layers.{cls.__name__} itself: use keras.layers.{cls.__name__}, or a model without this layer")


def check_float(layer):
    """Refuse a Keras-quantized layer (``quantize("int8")``, int4, float8, ...): its stored kernel is not
    the weights it computes with, and snnmap maps float weights only."""
    policy = getattr(layer, "dtype_policy", None)
    mode = getattr(layer, "quantization_mode", None) or getattr(policy, "quantization_mode", None)
    if mode:
        raise UnsupportedLayerError(
            layer, f"it is quantized ({mode}); snnmap converts float models: convert the float model, or "
            "dequantize it first")


def handler_for(layer, handlers=None):
    """The handler registered for ``layer``'s own class (subclasses are refused, not mapped as their base).

    Parameters
    ----------
    layer : keras.layers.Layer
    handlers : dict, optional
        Registry to look in (default :data:`HANDLERS`).
    """
    handlers = HANDLERS if handlers is None else handlers
    check_float(layer)
    handler = handlers.get(type(layer))
    if handler is not None:
        return handler
    _refuse_lookalike(layer, handlers)
    raise UnsupportedLayerError(layer, SUPPORTED)


def fold(model, input_range=(0.0, 1.0)):
    """Fold the original model into a list of :class:`Stage` (no weight-sum scaling yet).

    Parameters
    ----------
    model : keras.Model
        Trained ReLU network, a chain of supported layers.
    input_range : (float, float)
        ``(p, q)`` with ``q > p``: the first layer absorbs ``x = (q - p) x_hat + p``.

    Returns
    -------
    (stages, report) : (list of Stage, list of dict)
        ``report`` says, for every original layer, what became of it.
    """
    p, q = check_input_range(input_range)
    graph.check_finite_weights(model)
    nodes = graph.chain(model)
    if not nodes:
        raise UnsupportedLayerError(model, "it has no layers")
    handlers = []
    for node in nodes:
        handlers.append(handler_for(node.layer))
        handlers[-1].check(node)
    input_shape = graph.shape_of(model.inputs[0])
    if any(d is None for d in input_shape):
        raise ShapeError(f"the model's input shape {input_shape} must be fully known")
    folder = Folder(input_shape, (p, q))
    for node, handler in zip(nodes, handlers):
        handler.fold(folder, node)
    return folder.finish(model), folder.report
