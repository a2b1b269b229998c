"""Folding a ReLU network that is a graph (residual Add, Concatenate, branches) into its sources
(docs/method.md §10).

Every ReLU of the network becomes a population of neurons.  Its pre-activation is a sum, over
its *sources* (the input, earlier ReLU populations, or max pooling of one of them), of a linear
map of what the source codes, plus a bias:

    z_n = sum_s L_s(a_s) + b_n

:func:`fold_graph` walks the model's graph (:func:`snnmap.pipeline.graph.walk`) and carries,
for every tensor, such an affine expression (:class:`Expr`: a list of :class:`Term` — a source
and the linear operations applied to it — and a bias array).  The linear layers between ReLUs
(Dense, Conv2D, DepthwiseConv2D, BatchNormalization, Add, Subtract, Concatenate, average
pooling, global average pooling, ZeroPadding2D, Flatten, Reshape) act on every term and on the
bias; a ReLU closes an expression into a new source.  Max pooling stays a time-domain operation
of one source; max pooling of a pre-activation followed by its ReLU (batch norm may come
between) becomes max (or min) pooling of the ReLU population, ``relu(g max(y) + b) =
max(relu(g y + b))`` for ``g > 0`` (min for ``g < 0``).

A path from a source to the next ReLU may hold one kernel operation (Dense, Conv2D,
DepthwiseConv2D, AveragePooling2D, GlobalAveragePooling2D), or the pairs that compose into
one (global average pooling then Dense; a 1x1 convolution then average pooling): the
spiking layer of a population applies one synapse per source.  Two kernels in sequence
without a ReLU between them are refused, naming the layer, as are layers and activations the
mapping does not know.

Every layer type is handled by the function registered for its exact class in
:data:`HANDLERS`; no layer is recognised by its name.  Everything is folded in float64 NumPy.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from . import graph
from .fold import bn_affine, check_activation, check_bn, check_conv, check_dense, check_gap, check_relu, \
    handler_for, kernel_and_bias, no_check
from ..errors import ShapeError, UnsupportedLayerError
from ..layers import same_padding
from ..runtime import check_input_range

#: Operations that multiply by a kernel (at most one per path from a source to the next ReLU).
KERNEL_KINDS = ("dense", "conv", "depthwise", "avgpool", "gap")


@dataclasses.dataclass(frozen=True)
class Op:
    """One linear operation on a term: ``kind`` (a key of :data:`APPLY`) and its parameters."""

    kind: str
    params: dict

    @property
    def kernel(self) -> bool:
        return self.kind in KERNEL_KINDS


def _nchw_free(function, x, *args):
    out = function(ops.convert_to_tensor(x, "float64"), *args)
    return np.asarray(ops.convert_to_numpy(out), np.float64)


def _place(x, p):
    out = np.zeros(x.shape[:-1] + (p["channels"],))
    out[..., p["offset"]:p["offset"] + x.shape[-1]] = x
    return out


#: How each kind of operation acts on a batch of arrays (batch axis first, float64).
APPLY = {
    "scale": lambda x, p: x * p["scale"],
    "dense": lambda x, p: x @ p["W"],
    "conv": lambda x, p: _nchw_free(ops.conv, x, p["W"], p["strides"], p["padding"]),
    "depthwise": lambda x, p: _nchw_free(ops.depthwise_conv, x, p["W"], p["strides"], p["padding"]),
    "avgpool": lambda x, p: _nchw_free(ops.average_pool, x, p["pool_size"], p["strides"], p["padding"]),
    "gap": lambda x, p: x.mean(axis=(1, 2)),
    "pad": lambda x, p: np.pad(x, ((0, 0),) + p["padding"] + ((0, 0),)),
    "reshape": lambda x, p: x.reshape((x.shape[0],) + p["shape"]),
    "place": _place,
    "subsample": lambda x, p: x[:, ::p["strides"][0], ::p["strides"][1]],
}


def apply_op(op, x):
    """``op`` applied to a batch ``x`` (batch axis first)."""
    return APPLY[op.kind](x, op.params)


def _composable(kernels):
    """Whether a path's kernel operations compose into one synapse."""
    kinds = [k.kind for k in kernels]
    if len(kinds) <= 1 or kinds == ["gap", "dense"]:
        return True
    return kinds == ["conv", "avgpool"] and kernels[0].params["W"].shape[:2] == (1, 1) \
        and kernels[0].params["strides"] == (1, 1)


@dataclasses.dataclass(frozen=True)
class Term:
    """``L(a_source)``: source index and the operations of the linear map, in order."""

    source: int
    ops: tuple = ()


@dataclasses.dataclass(frozen=True)
class Expr:
    """An affine expression ``sum_terms L_t(a_t) + bias`` of the sources (one tensor, no batch axis)."""

    terms: tuple
    bias: np.ndarray

    @property
    def shape(self):
        return self.bias.shape

    def then(self, op, layer):
        """The expression after the linear ``op`` (applied to every term and to the bias)."""
        terms = []
        for term in self.terms:
            new = term.ops + (op,)
            if not _composable([o for o in new if o.kernel]):
                raise UnsupportedLayerError(
                    layer, "it applies a second kernel (Dense, Conv2D, pooling) to a value without a ReLU in "
                    "between; consecutive linear layers are not supported")
            terms.append(Term(term.source, new))
        return Expr(tuple(terms), apply_op(op, self.bias[None])[0])

    def affine(self, scale, shift):
        """``scale * self + shift`` (per-element or per-channel arrays)."""
        scaled = Expr(tuple(Term(t.source, t.ops + (Op("scale", {"scale": scale}),)) for t in self.terms),
                      self.bias * scale)
        return Expr(scaled.terms, scaled.bias + shift)

    def plus(self, other):
        return Expr(self.terms + other.terms, self.bias + other.bias)


@dataclasses.dataclass(frozen=True)
class Source:
    """A population of the spiking network, or the input.

    Attributes
    ----------
    kind : {"input", "relu", "maxpool"}
    name : str
        The original layer it comes from.
    shape : tuple
    expr : Expr, optional
        A ReLU population's pre-activation.
    of : int, optional
        Max pooling: the source it pools.
    config : dict
        Max pooling: ``pool_size``, ``strides``, ``padding`` (Keras's), ``pad`` (explicit zero
        padding first, ZeroPadding2D's form) and ``signs`` (+1 max, -1 min per channel).
    """

    kind: str
    name: str
    shape: tuple
    expr: Expr | None = None
    of: int | None = None
    config: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PendingMax:
    """``g * maxpool(pad(y)) + b`` of a pre-activation ``y``: only a ReLU may consume it.

    ``pad`` is zero padding of the pre-activation before the pool (ZeroPadding2D's form), whose
    positions hold the per-channel value ``pad_value`` (the padding's 0 after later per-channel maps).
    """

    y: Expr
    config: dict
    g: np.ndarray
    b: np.ndarray
    layer: object
    pad: tuple = ((0, 0), (0, 0))
    pad_value: np.ndarray | None = None

    def padded_shape(self):
        (t, b), (l, r) = self.pad
        h, w, c = self.y.shape
        return (h + t + b, w + l + r, c)

    def pooled(self, name, of, sign, value):
        """The max pooling source of population ``of`` (``sign`` per channel; ``value`` of its padding)."""
        config = dict(self.config, signs=np.broadcast_to(sign, self.y.shape[-1:]).astype(float), pad=self.pad,
                      pad_value=np.broadcast_to(value, self.y.shape[-1:]).astype(float))
        return Source("maxpool", name, _pooled_shape(self.padded_shape(), self.config), of=of, config=config)


@dataclasses.dataclass(frozen=True)
class Softmaxed:
    """A softmax of an expression: only the model's output may be one."""

    expr: Expr
    layer: object


@dataclasses.dataclass
class FoldedGraph:
    """A ReLU network as sources in topological order and its linear readout.

    Attributes
    ----------
    sources : list of Source
        ``sources[0]`` is the input ``x_hat`` (in [0, 1]); every other one comes after those it reads.
    output : Expr
        The logits as an expression of the sources.
    output_activation : {"linear", "softmax"}
    report : list of dict
        What became of every original layer.
    """

    sources: list
    output: Expr
    output_activation: str
    report: list


class GraphFolder:
    """The state of a graph fold: the sources so far and the value of every walked node."""

    def __init__(self, input_shape, input_range):
        p, q = input_range
        self.sources = [Source("input", "input", tuple(input_shape))]
        bias = np.full(input_shape, float(p))
        self.values = {graph.INPUT: Expr((Term(0),), np.zeros(input_shape)).affine(q - p, bias)}
        self.report = []

    def log(self, node, what):
        self.report.append({"layer": node.name, "type": type(node.layer).__name__, "became": what})

    def expr(self, node, position=0):
        """The affine expression node ``node`` reads (refusing a pending max pool or a softmax)."""
        value = self.values[node.inbound[position]]
        if isinstance(value, PendingMax):
            value = self.values[node.inbound[position]] = self.signed_max(node, value)
        if isinstance(value, Softmaxed):
            raise UnsupportedLayerError(value.layer, "softmax is only supported on the output layer")
        return value

    def new_source(self, source):
        self.sources.append(source)
        return Expr((Term(len(self.sources) - 1),), np.zeros(source.shape))

    def relu(self, node, value):
        """A ReLU closes ``value`` into a new population."""
        if isinstance(value, Softmaxed):
            raise UnsupportedLayerError(value.layer, "softmax is only supported on the output layer")
        if isinstance(value, PendingMax):
            y = value.y.affine(value.g, value.b)
            self.new_source(Source("relu", node.name, y.shape, expr=y))
            signs = np.where(value.g < 0, -1.0, 1.0)
            pad_value = np.maximum(value.g * value.pad_value + value.b, 0.0)
            pooled = self.new_source(value.pooled(value.layer.name, len(self.sources) - 1, signs, pad_value))
            self.log(node, f"ReLU population, then the max pooling '{value.layer.name}' of it")
            return pooled
        if not value.terms:
            raise UnsupportedLayerError(node.layer, "its input does not depend on the network's input")
        self.log(node, f"ReLU population of {len({t.source for t in value.terms})} source(s)")
        return self.new_source(Source("relu", node.name, value.shape, expr=value))

    def signed_max(self, node, value):
        """``g max(y) + b`` read as a value: ``max(y) = maxpool(relu(y)) - minpool(relu(-y))``, two populations."""
        parts = []
        for sign in (1.0, -1.0):
            y = value.y.affine(sign, 0.0)
            self.new_source(Source("relu", f"{value.layer.name}:{'+' if sign > 0 else '-'}", y.shape, expr=y))
            pad_value = np.maximum(sign * value.pad_value, 0.0)
            parts.append(self.new_source(value.pooled(value.layer.name, len(self.sources) - 1, sign, pad_value)))
        self.log(node, f"reads the max pooling '{value.layer.name}' of a pre-activation as the difference of "
                 "two populations")
        return parts[0].plus(parts[1].affine(-1.0, 0.0)).affine(value.g, value.b)

    def activate(self, node, value, name):
        if name == "relu":
            return self.relu(node, value)
        if name == "softmax":
            self.log(node, "softmax output")
            return Softmaxed(value, node.layer)
        return value


def _pooled_shape(shape, config):
    h, w, c = shape
    (ph, pw), (sh, sw) = config["pool_size"], config["strides"]
    if config["padding"] == "same":
        return (-(-h // sh), -(-w // sw), c)
    return ((h - ph) // sh + 1, (w - pw) // sw + 1, c)


# -- handlers: one per Keras layer type -------------------------------------------------------

def _dense(folder, node):
    layer = node.layer
    w, b = kernel_and_bias(layer)
    value = folder.expr(node).then(Op("dense", {"W": w}), layer)
    folder.log(node, "dense synapses")
    return folder.activate(node, Expr(value.terms, value.bias + b), graph.activation_name(layer, layer.activation))


def _conv(folder, node):
    layer = node.layer
    w, b = kernel_and_bias(layer)
    op = Op("conv", {"W": w, "strides": tuple(layer.strides), "padding": layer.padding})
    value = folder.expr(node).then(op, layer)
    folder.log(node, "convolution synapses")
    return folder.activate(node, Expr(value.terms, value.bias + b), graph.activation_name(layer, layer.activation))


def _check_depthwise(node):
    layer = node.layer
    if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1):
        raise UnsupportedLayerError(layer, "only channels_last, undilated depthwise convolutions are supported")
    check_activation(node)


def _depthwise(folder, node):
    layer = node.layer
    w = np.asarray(ops.convert_to_numpy(layer.kernel), np.float64)
    b = np.asarray(ops.convert_to_numpy(layer.bias), np.float64) if layer.use_bias else 0.0
    op = Op("depthwise", {"W": w, "strides": tuple(layer.strides), "padding": layer.padding})
    value = folder.expr(node).then(op, layer)
    folder.log(node, "depthwise convolution synapses")
    return folder.activate(node, Expr(value.terms, value.bias + b), graph.activation_name(layer, layer.activation))


def _bn(folder, node):
    g, beta = bn_affine(node.layer)
    value = folder.values[node.inbound[0]]
    if isinstance(value, PendingMax):
        folder.log(node, f"folded into the ReLU after the max pooling '{value.layer.name}'")
        return dataclasses.replace(value, g=value.g * g, b=value.b * g + beta)
    folder.log(node, "folded into the synapses of its consumers")
    return folder.expr(node).affine(g, beta)


def _add(folder, node):
    value = folder.expr(node, 0)
    for position in range(1, len(node.inbound)):
        value = value.plus(folder.expr(node, position))
    folder.log(node, f"sum of {len(node.inbound)} inputs")
    return value


def _subtract(folder, node):
    folder.log(node, "difference of 2 inputs")
    return folder.expr(node, 0).plus(folder.expr(node, 1).affine(-1.0, 0.0))


def _check_concatenate(node):
    rank = len(node.output_shape)
    if node.layer.axis not in (-1, rank):
        raise UnsupportedLayerError(node.layer, f"concatenation over axis {node.layer.axis}; only the last "
                                    "(channel) axis is supported")


def _concatenate(folder, node):
    channels, offset, value = node.output_shape[-1], 0, None
    for position in range(len(node.inbound)):
        part = folder.expr(node, position)
        placed = part.then(Op("place", {"offset": offset, "channels": channels}), node.layer)
        value = placed if value is None else value.plus(placed)
        offset += part.shape[-1]
    folder.log(node, f"concatenation of {len(node.inbound)} inputs")
    return value


def _activation_layer(folder, node):
    name = graph.activation_name(node.layer, node.layer.activation)
    return folder.activate(node, folder.values[node.inbound[0]] if name == "relu" else folder.expr(node), name)


def _identity(folder, node):
    folder.log(node, "dropped (identity at inference)")
    return folder.values[node.inbound[0]]


def _structural(kind, params_of):
    def handle(folder, node):
        folder.log(node, kind)
        return folder.expr(node).then(Op(kind, params_of(node)), node.layer)
    return handle


def _check_avgpool(node):
    layer = node.layer
    (kh, kw), (sh, sw) = tuple(layer.pool_size), tuple(layer.strides)
    h, w = node.input_shape[:2]
    if layer.padding == "same" and (same_padding(h, kh, sh) != (0, 0) or same_padding(w, kw, sw) != (0, 0)):
        raise UnsupportedLayerError(
            layer, "average pooling with padding='same' that actually pads divides border windows by fewer "
            "elements; use padding='valid' or an input size that needs no padding")


def _avgpool(folder, node):
    """Average pooling: a population of its own when it pools a population (as in a chain: its outputs are
    non-negative, so a ReLU changes nothing), else an operation of the synapses (a 1x1 convolution before
    it composes with it)."""
    value = folder.expr(node)
    op = Op("avgpool", _pool_config(node.layer))
    if len(value.terms) == 1 and not value.terms[0].ops and not np.any(value.bias) \
            and folder.sources[value.terms[0].source].kind != "input":
        pooled = value.then(op, node.layer)
        folder.log(node, "average pooling population (fixed weights)")
        return folder.new_source(Source("relu", node.name, pooled.shape, expr=pooled))
    folder.log(node, "average pooling, folded into the synapses")
    return value.then(op, node.layer)


def _pool_config(layer):
    return {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides), "padding": layer.padding}


def _maxpool(folder, node):
    """Max pooling of one source (optionally zero-padded, scaled per channel), or of a pre-activation."""
    value, config = folder.expr(node), _pool_config(node.layer)
    if config["pool_size"] == (1, 1):
        folder.log(node, "1x1 max pooling: subsampling, folded into the synapses")
        return value.then(Op("subsample", {"strides": config["strides"]}), node.layer)
    term = value.terms[0] if len(value.terms) == 1 else None
    kinds = [o.kind for o in term.ops] if term is not None else ["mixed"]
    pure = (term is not None and not np.any(value.bias) and set(kinds) <= {"scale", "pad"}
            and kinds.count("pad") <= 1)
    if not pure:
        c = value.shape[-1]
        folder.log(node, "max pooling of a pre-activation (moves after its ReLU)")
        y, pad, pad_value = _without_padding(value)
        return PendingMax(y, config, np.ones(c), np.zeros(c), node.layer, pad, pad_value)
    scale = np.ones(value.shape[-1])
    pad = ((0, 0), (0, 0))
    for op in term.ops:
        if op.kind == "pad":
            pad = op.params["padding"]
        else:
            scale = scale * np.broadcast_to(op.params["scale"], value.shape).reshape(-1, value.shape[-1])[0]
    signs = np.where(scale < 0, -1.0, 1.0)
    source = folder.sources[term.source]
    padded = (source.shape[0] + sum(pad[0]), source.shape[1] + sum(pad[1]), source.shape[2])
    pooled = folder.new_source(Source("maxpool", node.name, _pooled_shape(padded, config), of=term.source,
                                      config=dict(config, pad=pad, signs=signs)))
    folder.log(node, "max pooling of a population" + (" (min pooling on negative scales)" if np.any(signs < 0)
                                                      else ""))
    # maxpool(s a) = s maxpool(a) for s > 0 and s minpool(a) for s < 0: the pooled source codes the
    # max (or min) and its consumers multiply by s.
    return pooled.affine(scale, 0.0) if np.any(scale != 1.0) else pooled


def _without_padding(value):
    """``(y, padding, value of the padding)`` of a pre-activation whose terms all end in the same zero
    padding (then per-channel scales): pooling it pools populations built on ``y``, padded with constants."""
    c = value.shape[-1]
    none = (value, ((0, 0), (0, 0)), np.zeros(c))
    tails, where = [], []
    for term in value.terms:
        kinds = [op.kind for op in term.ops]
        last = len(kinds) - 1 - kinds[::-1].index("pad") if "pad" in kinds else -1
        if last < 0 or any(k != "scale" for k in kinds[last + 1:]):
            return none
        tails.append(term.ops[last].params["padding"])
        where.append(last)
    if not tails or any(t != tails[0] for t in tails):
        return none
    (top, bottom), (left, right) = tails[0]
    h, w = value.shape[0] - top - bottom, value.shape[1] - left - right
    terms = tuple(Term(t.source, t.ops[:k] + t.ops[k + 1:]) for t, k in zip(value.terms, where))
    y = Expr(terms, value.bias[top:top + h, left:left + w])
    return y, tails[0], value.bias.reshape(-1, c)[0]


def _check_zeropad(node):
    if len(node.input_shape) != 3:
        raise UnsupportedLayerError(node.layer, "zero padding needs (height, width, channels) inputs")


#: The folding function and configuration check of every supported Keras layer type.
HANDLERS = {
    keras.layers.Dense: (check_dense, _dense),
    keras.layers.Conv2D: (check_conv, _conv),
    keras.layers.DepthwiseConv2D: (_check_depthwise, _depthwise),
    keras.layers.BatchNormalization: (check_bn, _bn),
    keras.layers.ReLU: (check_relu, lambda folder, node: folder.relu(node, folder.values[node.inbound[0]])),
    keras.layers.Softmax: (no_check, lambda folder, node: folder.activate(node, folder.expr(node), "softmax")),
    keras.layers.Activation: (check_activation, _activation_layer),
    keras.layers.Add: (no_check, _add),
    keras.layers.Subtract: (no_check, _subtract),
    keras.layers.Concatenate: (_check_concatenate, _concatenate),
    keras.layers.MaxPooling2D: (no_check, _maxpool),
    keras.layers.AveragePooling2D: (_check_avgpool, _avgpool),
    keras.layers.GlobalAveragePooling2D: (check_gap, _structural("gap", lambda node: {})),
    keras.layers.Flatten: (no_check, _structural("reshape", lambda node: {"shape": node.output_shape})),
    keras.layers.Reshape: (no_check, _structural("reshape", lambda node: {"shape": node.output_shape})),
    keras.layers.ZeroPadding2D: (_check_zeropad, _structural("pad", lambda node: {
        "padding": tuple(tuple(int(v) for v in p) for p in node.layer.padding)})),
    **{cls: (no_check, _identity) for cls in graph.INFERENCE_IDENTITY},
}


def _finish(folder, value, model):
    activation = "linear"
    if isinstance(value, Softmaxed):
        value, activation = value.expr, "softmax"
    if isinstance(value, PendingMax):
        raise UnsupportedLayerError(model, "it ends in max pooling; the SNN reads logits out of a linear layer")
    readout = [t for t in value.terms if any(o.kernel for o in t.ops)]
    if len(readout) != len(value.terms) or not value.terms:
        raise UnsupportedLayerError(
            model, "its last layer must be a Dense/Conv2D (linear or softmax output) reading ReLU populations; "
            "the SNN reads its logits out of the membrane potential")
    return FoldedGraph(folder.sources, value, activation, folder.report)


def fold_graph(model, input_range=(0.0, 1.0)):
    """Fold a ReLU network (any functional graph of supported layers) into sources and a readout.

    Parameters
    ----------
    model : keras.Model
        Trained ReLU network with one input and one output.
    input_range : (float, float)
        ``(p, q)`` with ``q > p``: the input source codes ``x_hat`` and ``x = (q - p) x_hat + p``.

    Returns
    -------
    FoldedGraph
    """
    p, q = check_input_range(input_range)
    graph.check_finite_weights(model)
    nodes = graph.walk(model)
    if not nodes:
        raise UnsupportedLayerError(model, "it has no layers")
    handlers = []
    for node in nodes:
        if not isinstance(node.layer, keras.layers.Layer):
            raise UnsupportedLayerError(node.layer, "it is a bare operation, not a Keras layer; use the "
                                        "equivalent layer")
        check, fold_node = handler_for(node.layer, HANDLERS)
        check(node)
        handlers.append(fold_node)
    input_shape = graph.shape_of(model.inputs[0])
    if any(d is None for d in input_shape):
        raise ShapeError(f"the model's input shape {input_shape} must be fully known")
    folder = GraphFolder(input_shape, (p, q))
    for index, (node, fold_node) in enumerate(zip(nodes, handlers)):
        folder.values[index] = fold_node(folder, node)
    return _finish(folder, folder.values[len(nodes) - 1], model)


def _pool_source(source, a):
    c = source.config
    signs, pad = c["signs"], ((0, 0),) + c.get("pad", ((0, 0), (0, 0))) + ((0, 0),)
    mask = np.pad(np.zeros(a.shape[1:]), pad[1:], constant_values=1.0)
    x = (np.pad(a, pad) + mask * c.get("pad_value", 0.0)) * signs
    pooled = _nchw_free(ops.max_pool, x, c["pool_size"], c["strides"], c["padding"])
    return pooled * signs


def expression_value(expr, values):
    """The value of ``expr`` given the values of the sources (batch axis first)."""
    total = None
    for term in expr.terms:
        x = values[term.source]
        for op in term.ops:
            x = apply_op(op, x)
        total = x if total is None else total + x
    return total + expr.bias


def run_folded(folded, x_hat):
    """The folded network's logits on ``x_hat`` (float64 NumPy, batch axis first), source by source.

    Parameters
    ----------
    folded : FoldedGraph
    x_hat : ndarray
        Inputs in [0, 1].

    Returns
    -------
    (logits, values) : (ndarray, list of ndarray)
        ``values[i]`` is what source ``i`` codes.
    """
    values = []
    for source in folded.sources:
        if source.kind == "input":
            values.append(np.asarray(x_hat, np.float64))
        elif source.kind == "relu":
            values.append(np.maximum(expression_value(source.expr, values), 0.0))
        else:
            values.append(_pool_source(source, values[source.of]))
    return expression_value(folded.output, values), values
