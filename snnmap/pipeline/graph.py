"""Reading a Keras model as a chain of operations, dispatching on layer types.

The exact mapping applies to feed-forward chains: every layer takes the output of the one
before.  :func:`chain` walks a ``Sequential`` or functional model (nested models are
opened up) and returns that chain as :class:`Op` records; anything that is not a chain
(residual ``Add``, several inputs or outputs, a shared layer) or a layer the mapping does
not know is refused with an :class:`~snnmap.errors.UnsupportedLayerError` naming it.
No layer is ever recognised by its name.
"""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np

from ..errors import InvalidWeightsError, UnsupportedLayerError

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
class Op:
    """One step of the chain.

    Attributes
    ----------
    kind : str
        ``"linear"`` (Dense / Conv2D without its activation), ``"bn"``, ``"relu"``,
        ``"softmax"``, ``"identity"``, ``"maxpool"``, ``"avgpool"``, ``"gap"``,
        ``"flatten"``, ``"reshape"`` or ``"zeropad"``.
    layer : keras.layers.Layer
        The Keras layer it comes from (a Dense with ``activation="relu"`` gives two ops,
        ``linear`` then ``relu``, with the same layer).
    input_shape, output_shape : tuple
        Shapes without the batch axis.
    """

    kind: str
    layer: object
    input_shape: tuple
    output_shape: tuple

    @property
    def name(self) -> str:
        return self.layer.name


def _activation_name(layer, activation):
    if activation is None:
        return "linear"
    name = getattr(activation, "__name__", None)
    try:
        name = keras.activations.serialize(activation)
    except Exception:  # noqa: BLE001 - unknown callables keep their __name__
        pass
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    if name in ("relu", "softmax", "linear"):
        return name
    raise UnsupportedLayerError(
        layer,
        f"activation '{name}' cannot be mapped exactly; use relu for hidden layers "
        "and linear or softmax for the output layer",
    )


def _shape(tensor_or_shape):
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    return tuple(None if d is None else int(d) for d in shape[1:])


def _layers_in_order(model):
    """Layers of a (possibly nested) model in execution order, checking it is a chain."""
    if isinstance(model, keras.Sequential):
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    else:
        if len(model.inputs) != 1:
            raise UnsupportedLayerError(model, f"it has {len(model.inputs)} inputs; the mapping needs one")
        if len(model.outputs) != 1:
            raise UnsupportedLayerError(model, f"it has {len(model.outputs)} outputs; the mapping needs one")
        nodes_by_depth = model._nodes_by_depth  # noqa: SLF001 - Keras keeps the DAG here
        layers, previous = [], None
        for depth in sorted(nodes_by_depth, reverse=True):
            nodes = nodes_by_depth[depth]
            if len(nodes) != 1:
                names = ", ".join(f"'{n.operation.name}'" for n in nodes)
                raise UnsupportedLayerError(
                    nodes[0].operation,
                    f"the model branches (layers {names} run side by side); only chains of "
                    "layers can be mapped",
                )
            node = nodes[0]
            op = node.operation
            inputs = node.arguments.keras_tensors
            if isinstance(op, keras.layers.InputLayer):
                previous = node
                continue
            if len(inputs) != 1:
                raise UnsupportedLayerError(
                    op,
                    f"it combines {len(inputs)} tensors (e.g. a residual connection); only "
                    "chains of layers can be mapped",
                )
            if previous is not None and inputs[0] is not previous.outputs[0]:
                raise UnsupportedLayerError(op, "its input is not the output of the layer before it")
            if not isinstance(op, keras.layers.Layer):
                raise UnsupportedLayerError(
                    op, "it is a bare operation, not a Keras layer; use the equivalent layer"
                )
            layers.append(op)
            previous = node
    out = []
    for layer in layers:
        if isinstance(layer, keras.Model):
            out.extend(_layers_in_order(layer))
        else:
            out.append(layer)
    return out


def chain(model) -> list:
    """The model as a list of :class:`Op`, inference-time identities included.

    Raises
    ------
    UnsupportedLayerError
        For a layer type or configuration the exact mapping does not support, or a model
        that is not a single chain of layers.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("the model is not built: call it on data or give it an Input first")
    ops = []
    for layer in _layers_in_order(model):
        try:
            in_shape, out_shape = _shape(layer.input), _shape(layer.output)
        except (AttributeError, ValueError) as err:
            raise UnsupportedLayerError(layer, f"its input/output shapes are not defined ({err})") from err
        ops.extend(Op(kind, layer, in_shape, out_shape) for kind in _kinds(layer, in_shape, out_shape))
    return ops


def _kinds(layer, in_shape, out_shape):
    """The op kinds one layer stands for (a Dense with an activation is two ops)."""
    if isinstance(layer, INFERENCE_IDENTITY):
        return ["identity"]
    if isinstance(layer, keras.layers.Dense):
        if len(in_shape) != 1:
            raise UnsupportedLayerError(
                layer, f"Dense on inputs of shape {in_shape}: add a Flatten before it"
            )
        return ["linear"] + _activation_op(layer, layer.activation)
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, (keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    ):
        if layer.data_format != "channels_last":
            raise UnsupportedLayerError(layer, "only data_format='channels_last' is supported")
        if tuple(layer.dilation_rate) != (1, 1):
            raise UnsupportedLayerError(layer, f"dilation_rate {layer.dilation_rate} is not supported")
        if layer.groups != 1:
            raise UnsupportedLayerError(layer, "grouped convolutions are not supported")
        return ["linear"] + _activation_op(layer, layer.activation)
    if isinstance(layer, keras.layers.BatchNormalization):
        axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
        if axis not in (-1, len(in_shape), [-1], [len(in_shape)]):
            raise UnsupportedLayerError(layer, f"batch normalisation over axis {layer.axis}; only the last axis is supported")
        return ["bn"]
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            raise UnsupportedLayerError(
                layer, "ReLU with max_value, negative_slope or threshold is not a plain ReLU"
            )
        return ["relu"]
    if isinstance(layer, keras.layers.Softmax):
        return ["softmax"]
    if isinstance(layer, keras.layers.Activation):
        return _activation_op(layer, layer.activation) or ["identity"]
    if isinstance(layer, keras.layers.MaxPooling2D):
        return ["maxpool"]
    if isinstance(layer, keras.layers.AveragePooling2D):
        return ["avgpool"]
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        if layer.keepdims:
            raise UnsupportedLayerError(layer, "keepdims=True is not supported")
        return ["gap"]
    if isinstance(layer, keras.layers.Flatten):
        return ["flatten"]
    if isinstance(layer, keras.layers.Reshape):
        return ["reshape"]
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return ["zeropad"]
    raise UnsupportedLayerError(
        layer,
        "the exact mapping supports Dense, Conv2D, BatchNormalization, ReLU/relu, softmax "
        "output, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, "
        "ZeroPadding2D and inference-time identities (Dropout, ActivityRegularization, ...)",
    )


def _activation_op(layer, activation):
    name = _activation_name(layer, activation)
    return [] if name == "linear" else [name]


def check_finite_weights(model):
    """Raise :class:`InvalidWeightsError` naming the first layer with NaN/inf weights."""
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

    MAPPING §9: a float32 ``keras.Input`` casts whatever enters it, so a float64 copy of a
    model needs its whole config retyped, not just its weights cast.
    """
    config = _retype(json.loads(model.to_json()), dtype)
    copy = keras.models.model_from_json(json.dumps(config))
    copy.set_weights([np.asarray(w, dtype=dtype) if np.issubdtype(np.asarray(w).dtype, np.floating) else w
                      for w in model.get_weights()])
    return copy
