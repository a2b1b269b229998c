"""Reading a Keras model as a graph of layers in topological order.

:func:`walk` returns the layers of a ``Sequential`` or functional model (nested models
opened up) as :class:`Node` records, each with the indices of the nodes it reads.  The
exact mapping applies to chains, where every layer reads the one before: :func:`chain`
is the walk refused unless it is one (residual ``Add``, branches, a shared layer) with an
:class:`~snnmap.errors.UnsupportedLayerError` naming the layer.  Which layer types the
mapping knows is decided by the folding registry of :mod:`snnmap.pipeline.fold`; no layer
is ever recognised by its name.
"""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np

from ..errors import InvalidWeightsError, UnsupportedLayerError

#: The ``inbound`` index that stands for the model's input.
INPUT = -1

#: Layers that do nothing at inference time.
INFERENCE_IDENTITY = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)


@dataclasses.dataclass
class Node:
    """One layer of the walked graph.

    Attributes
    ----------
    layer : keras.Operation
        The Keras layer (or bare operation, which :func:`chain` refuses).
    inbound : tuple of int
        Indices, in the walk, of the nodes whose outputs it reads (:data:`INPUT` for the
        model's input).
    input_shapes : tuple of tuple
        Shape of each input, without the batch axis (in the order of ``inbound``).
    output_shape : tuple
        Shape of the output, without the batch axis.
    group : tuple
        ``(id of the model it belongs to, its depth there)``: Keras's depth, the longest
        path from the node to the model's output; two nodes of one group run side by side.
    """

    layer: object
    inbound: tuple
    input_shapes: tuple
    output_shape: tuple
    group: tuple

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def input_shape(self) -> tuple:
        """The shape of the (first) input."""
        return self.input_shapes[0]


#: The Keras activation functions the mapping knows, by object identity (a function of another
#: module that merely has one of these names is not one of them).
ACTIVATIONS = {
    "relu": keras.activations.relu,
    "softmax": keras.activations.softmax,
    "linear": keras.activations.linear,
}


def activation_name(layer, activation):
    """``"relu"``, ``"softmax"`` or ``"linear"`` for a layer's activation; anything else is refused.

    The activation must BE Keras's own function (``keras.activations.relu`` with its default
    arguments, ...), not a callable that is merely named like it.

    Parameters
    ----------
    layer : keras.layers.Layer
        The layer, for the message.
    activation : callable or None
        Its ``activation`` attribute.
    """
    if activation is None:
        return "linear"
    for name, function in ACTIVATIONS.items():
        if activation is function:
            return name
    name = getattr(activation, "__name__", type(activation).__name__)
    module = getattr(activation, "__module__", "?")
    lookalike = name in ACTIVATIONS
    what = f"is not keras.activations.{name} itself" if lookalike else "cannot be mapped exactly"
    raise UnsupportedLayerError(
        layer, f"activation '{name}' ({module}) {what}; use keras.activations.relu for hidden layers and linear "
        "or softmax for the output layer")


def shape_of(tensor_or_shape):
    """The shape of a tensor (or a shape) without its batch axis, as a tuple of int/None.

    Parameters
    ----------
    tensor_or_shape : tensor or tuple
    """
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    return tuple(None if d is None else int(d) for d in shape[1:])


def _optional_shapes(layer):
    """``(input shapes, output shape)`` of a Sequential's layer, None where Keras cannot say."""
    try:
        return (shape_of(layer.input),), shape_of(layer.output)
    except (AttributeError, ValueError):
        return (None,), None


def _check_graph_model(model):
    """Refuse a subclassed ``keras.Model``: its ``call()`` is Python code, not a graph of layers."""
    if not isinstance(model, keras.Sequential) and not hasattr(model, "_nodes_by_depth"):
        raise UnsupportedLayerError(
            model, f"it is a subclassed keras.Model ({type(model).__name__}) whose call() snnmap cannot read; "
            "snnmap converts functional or Sequential models: build your subclassed model as a functional one "
            "(keras.Input, then the layers, then keras.Model(inputs, outputs))")


def _walk(model, input_index, nodes):
    """Append the nodes of ``model`` (reading node ``input_index``) to ``nodes``; returns the
    index of the node that gives the model's output."""
    _check_graph_model(model)
    if isinstance(model, keras.Sequential):
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        last = input_index
        for position, layer in enumerate(layers):
            in_shapes, out_shape = _optional_shapes(layer)
            last = _add(layer, (last,), in_shapes, out_shape, (id(model), len(layers) - 1 - position), nodes)
        return last
    if len(model.inputs) != 1:
        raise UnsupportedLayerError(model, f"it has {len(model.inputs)} inputs; the mapping needs one")
    if len(model.outputs) != 1:
        raise UnsupportedLayerError(model, f"it has {len(model.outputs)} outputs; the mapping needs one")
    produced = {}
    nodes_by_depth = model._nodes_by_depth  # noqa: SLF001 - Keras keeps the DAG here
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if isinstance(node.operation, keras.layers.InputLayer):
                produced[id(node.outputs[0])] = input_index
                continue
            inputs = node.arguments.keras_tensors
            index = _add(node.operation, tuple(produced.get(id(t)) for t in inputs),
                         tuple(shape_of(t) for t in inputs), shape_of(node.outputs[0]), (id(model), depth), nodes)
            for tensor in node.outputs:
                produced[id(tensor)] = index
    return produced.get(id(model.outputs[0]), input_index)


def _add(layer, inbound, in_shapes, out_shape, group, nodes):
    """Append one node (a nested model: its own nodes); returns the index of its output node."""
    if isinstance(layer, keras.Model):
        if len(inbound) != 1:
            raise UnsupportedLayerError(layer, f"it combines {len(inbound)} tensors; a nested model must read one")
        return _walk(layer, inbound[0], nodes)
    nodes.append(Node(layer, inbound, in_shapes, out_shape, group))
    return len(nodes) - 1


def walk(model) -> list:
    """The layers of ``model`` as :class:`Node` records in topological order.

    Every node comes after the nodes it reads; nested models are opened up, so the walk
    holds layers only.  Models with several inputs or outputs are refused.

    Parameters
    ----------
    model : keras.Model
        A built ``Sequential`` or functional model.

    Returns
    -------
    list of Node
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    _check_graph_model(model)
    if not model.built:
        raise ValueError("the model is not built: call it on data or give it an Input first")
    nodes = []
    _walk(model, INPUT, nodes)
    return nodes


def _check_chain_node(nodes, index):
    """Refuse node ``index`` unless it reads exactly the node before it."""
    node = nodes[index]
    side_by_side = [n for n in nodes if n.group == node.group]
    if len(side_by_side) != 1:
        names = ", ".join(f"'{n.layer.name}'" for n in side_by_side)
        raise UnsupportedLayerError(
            side_by_side[0].layer,
            f"the model branches (layers {names} run side by side); only chains of layers can be mapped",
        )
    if len(node.inbound) != 1:
        raise UnsupportedLayerError(
            node.layer,
            f"it combines {len(node.inbound)} tensors (e.g. a residual connection); only chains of layers "
            "can be mapped",
        )
    if node.inbound[0] != index - 1:
        raise UnsupportedLayerError(node.layer, "its input is not the output of the layer before it")
    if not isinstance(node.layer, keras.layers.Layer):
        raise UnsupportedLayerError(node.layer, "it is a bare operation, not a Keras layer; use the equivalent layer")


def chain(model) -> list:
    """The walk of ``model`` (see :func:`walk`), refused unless it is a single chain.

    Raises
    ------
    UnsupportedLayerError
        For a model that is not a chain of layers: branches, residual merges, a shared
        layer or a bare operation; the error names the layer.
    """
    nodes = walk(model)
    for index in range(len(nodes)):
        _check_chain_node(nodes, index)
    for node in nodes:
        layer = node.layer
        try:
            node.input_shapes, node.output_shape = (shape_of(layer.input),), shape_of(layer.output)
        except (AttributeError, ValueError) as err:
            raise UnsupportedLayerError(layer, f"its input/output shapes are not defined ({err})") from err
    return nodes


def is_chain(model) -> bool:
    """Whether ``model`` is a single chain of layers (what :func:`chain` accepts, shapes aside).

    Parameters
    ----------
    model : keras.Model
    """
    nodes = walk(model)
    try:
        for index in range(len(nodes)):
            _check_chain_node(nodes, index)
    except UnsupportedLayerError:
        return False
    return True


def check_finite_weights(model):
    """Raise :class:`InvalidWeightsError` naming the first layer with NaN/inf weights.

    Parameters
    ----------
    model : keras.Model or keras.layers.Layer
        Nested models are searched too.
    """
    for layer in model.layers if hasattr(model, "layers") else [model]:
        if isinstance(layer, keras.Model):
            check_finite_weights(layer)
            continue
        for weight in layer.weights:
            value = keras.ops.convert_to_numpy(weight)
            if not np.all(np.isfinite(value)):
                bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
                raise InvalidWeightsError(
                    f"layer '{layer.name}': weight '{weight.name}' has {bad} NaN or infinite "
                    "value(s); the network cannot be converted"
                )


def _retype(config, dtype):
    """Replace every dtype policy in a (nested) model config by ``dtype``."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key == "dtype" and value is not None and not (isinstance(value, str) and "int" in value):
                out[key] = dtype
            else:
                out[key] = _retype(value, dtype)
        return out
    if isinstance(config, list):
        return [_retype(v, dtype) for v in config]
    return config


def with_dtype(model, dtype: str = "float64"):
    """A copy of ``model`` whose layers (and Input) compute in ``dtype``, same weights.

    docs/method.md §9: a float32 ``keras.Input`` casts whatever enters it, so a float64 copy of a
    model needs its whole config retyped, not just its weights cast.

    Parameters
    ----------
    model : keras.Model
    dtype : str
        The compute dtype of the copy.
    """
    config = _retype(json.loads(model.to_json()), dtype)
    copy = keras.models.model_from_json(json.dumps(config))
    copy.set_weights([np.asarray(w, dtype=dtype) if np.issubdtype(np.asarray(w).dtype, np.floating) else w
                      for w in model.get_weights()])
    return copy


def effective_kernel(layer):
    """The kernel a Dense/Conv2D layer computes with, float64.

    With LoRA enabled that is ``kernel + (lora_alpha / lora_rank) lora_kernel_a @ lora_kernel_b``, as
    Keras's own ``kernel`` property has it, but summed in float64 (Keras sums in the layer's dtype).

    Parameters
    ----------
    layer : keras.layers.Dense or keras.layers.Conv2D
    """
    if not getattr(layer, "lora_enabled", False):
        return np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    a, b = (np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in (layer.lora_kernel_a, layer.lora_kernel_b))
    base = np.asarray(keras.ops.convert_to_numpy(layer._kernel), np.float64)  # noqa: SLF001 - kernel without LoRA
    return base + (float(layer.lora_alpha) / float(layer.lora_rank)) * np.matmul(a, b)


def _merge_lora(copy):
    """Fold every LoRA adapter of ``copy`` into its float64 kernel (Keras keeps the adapters in float32)."""
    for node in walk(copy):
        layer = node.layer
        if getattr(layer, "lora_enabled", False):
            kernel = effective_kernel(layer)
            layer._kernel.assign(kernel)  # noqa: SLF001 - the copy is ours; Keras has no public setter
            layer.lora_kernel_b.assign(np.zeros(tuple(layer.lora_kernel_b.shape)))


def _clone_float64(model):
    """A float64 copy of ``model`` made with the layers' own classes (for classes Keras cannot look up)."""
    def retyped(layer):
        return type(layer).from_config(dict(layer.get_config(), dtype="float64"))

    inputs = keras.Input(shape=shape_of(model.inputs[0]), dtype="float64")
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=retyped)
    copy.set_weights([np.asarray(w, np.float64) if np.issubdtype(np.asarray(w).dtype, np.floating) else w
                      for w in model.get_weights()])
    return copy


def _identity_call(inputs, mask=None):
    del mask
    return inputs


def logits_model(model):
    """A float64 copy of ``model`` (see :func:`with_dtype`) that returns its pre-softmax logits.

    A softmax at the end (the last layer's ``activation``, a trailing ``Softmax`` layer or
    ``Activation("softmax")``) is removed from the copy, and LoRA adapters are merged into
    float64 kernels (:func:`effective_kernel`); the model itself is not touched.  Other
    endings are kept as they are.  Layer classes Keras cannot look up by name are cloned by
    their class.

    Parameters
    ----------
    model : keras.Model
        A functional or Sequential model of stock Keras layers.
    """
    try:
        copy = with_dtype(model, "float64")
    except (TypeError, ValueError):  # a custom layer class its config cannot name: clone it by its class
        copy = _clone_float64(model)
    _merge_lora(copy)
    last = walk(copy)[-1].layer
    if getattr(last, "activation", None) is keras.activations.softmax:
        last.activation = keras.activations.linear
    elif type(last) is keras.layers.Softmax:
        # The copy is ours alone: its last layer may pass its inputs through.
        last.call = _identity_call
    return copy
