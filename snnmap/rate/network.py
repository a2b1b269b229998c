"""Phase 1's preprocessed network read as the layers of a rate-coded network.

Every layer of the preprocessed Keras model becomes one operation, found through
:data:`OPERATIONS` by its class (subclasses included, so ``BiasMapConv2D`` is a ``Conv2D`` and
``SignedMaxPooling2D`` a ``MaxPooling2D``):

* a weight operation (Dense, Conv2D): synapses into a layer of integrate-and-fire neurons;
* a pooling operation (max pooling): applied to the accumulated spike counts (see
  :class:`Pooling`);
* a shape operation (Flatten, Reshape, ZeroPadding2D): moves spikes without touching them.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from ..errors import UnsupportedLayerError
from ..layers.conv import same_padding
from ..pipeline import graph
from ..pipeline.build import is_hidden


@dataclasses.dataclass
class Weights:
    """Synapses into a layer of neurons: ``z = W x + b`` (dense) or ``conv(x, W) + b``.

    Attributes
    ----------
    name : str
        The preprocessed layer's name.
    kind : {"dense", "conv"}
    W, b : ndarray
        Float64 kernel and bias (a bias map ``(h, w, c)`` for ``BiasMapConv2D``).
    strides : tuple
    padding : str
    hidden : bool
        A ReLU layer (False for the linear output layer).
    input_shape, output_shape : tuple
        Without the batch axis.
    """

    name: str
    kind: str
    W: np.ndarray
    b: np.ndarray
    strides: tuple = (1, 1)
    padding: str = "valid"
    hidden: bool = True
    input_shape: tuple = ()
    output_shape: tuple = ()

    def apply(self, x, W, b):
        """``W x + b`` on a batch with the given (possibly rescaled) tensors."""
        if self.kind == "dense":
            return ops.matmul(x, W) + b
        return ops.conv(x, W, strides=self.strides, padding=self.padding) + b

    def macs(self) -> int:
        """Multiply-accumulates per image of one pass (as :mod:`snnmap.pipeline.energy` counts them)."""
        if self.kind == "dense":
            return int(self.W.shape[0] * self.W.shape[1])
        kh, kw, c_in, _ = self.W.shape
        return int(np.prod(self.output_shape)) * int(kh * kw * c_in)

    def fan_out(self) -> np.ndarray:
        """Synapses each input neuron drives, shaped like one input (padding adds none)."""
        if self.kind == "dense":
            return np.full(self.input_shape, self.W.shape[1], dtype=np.float64)
        h, w, c_in = self.input_shape
        h_out, w_out, c_out = self.output_shape
        kh, kw = self.W.shape[:2]
        sh, sw = self.strides
        top, left = (same_padding(h, kh, sh)[0], same_padding(w, kw, sw)[0]) if self.padding == "same" else (0, 0)
        rows = np.zeros(h)
        cols = np.zeros(w)
        # The kernel window of output row r covers input rows r*sh - top ... + kh - 1.
        for r in range(h_out):
            lo = r * sh - top
            rows[max(lo, 0):min(lo + kh, h)] += 1
        for c in range(w_out):
            lo = c * sw - left
            cols[max(lo, 0):min(lo + kw, w)] += 1
        return np.repeat((np.outer(rows, cols) * c_out)[:, :, None], c_in, axis=2)


@dataclasses.dataclass
class Pooling:
    """Max pooling of spikes by their accumulated counts.

    The rule: each step the pooled output fires as often as the running maximum (over the window) of
    the accumulated input spike counts grew, so after ``t`` steps the pooled unit has fired the
    maximum count of its window: the max of the rates, as the ReLU network's max of activations
    (Rueckauer et al.'s rate max, gated by counts as in SpikingJelly's advice).  It costs a pooling
    of the counts each step, and early on the unit that leads may not be the one with the largest
    activation.  ``SignedMaxPooling2D`` takes the minimum count in its min-pooled channels.
    """

    fn: object

    def __call__(self, x):
        return self.fn(x)


@dataclasses.dataclass
class Shape:
    """A layer that moves spikes without changing them (Flatten, Reshape, ZeroPadding2D)."""

    fn: object

    def __call__(self, x):
        return self.fn(x)


# The layers are applied through keras.ops, not called: a float64 Keras layer would cast the
# float32 spikes of the simulation to float64.
def _maxpool(node, hidden_fn):
    config = node.layer.get_config()
    if config.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(node.layer, "the rate simulation takes channels_last pooling only")
    size, strides, padding = config["pool_size"], config["strides"] or config["pool_size"], config["padding"]
    signs = getattr(node.layer, "signs", None)
    if signs is None or all(s > 0 for s in signs):
        return Pooling(lambda x: ops.max_pool(x, size, strides, padding))
    signs = np.asarray(signs, dtype=np.float64)

    def signed(x):
        sign = ops.cast(signs, x.dtype)
        return sign * ops.max_pool(sign * x, size, strides, padding)

    return Pooling(signed)


def _reshape(node, hidden_fn):
    shape = tuple(int(d) for d in node.output_shape)
    return Shape(lambda x: ops.reshape(x, (-1,) + shape))


def _zeropad(node, hidden_fn):
    (top, bottom), (left, right) = node.layer.get_config()["padding"]
    return Shape(lambda x: ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]))


def _weights(node, hidden_fn):
    layer = node.layer
    config = layer.get_config()
    if config.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(layer, "the rate simulation takes channels_last convolutions only")
    if isinstance(layer, keras.layers.Conv2D):
        if tuple(config.get("dilation_rate", (1, 1))) != (1, 1) or config.get("groups", 1) != 1:
            raise UnsupportedLayerError(layer, "the rate simulation takes undilated, ungrouped convolutions")
        kind, strides, padding = "conv", tuple(config["strides"]), config["padding"]
    else:
        kind, strides, padding = "dense", (1, 1), "valid"
    W = np.asarray(layer.kernel.numpy(), dtype=np.float64)
    b = (np.asarray(layer.bias.numpy(), dtype=np.float64) if layer.use_bias
         else np.zeros(W.shape[-1], dtype=np.float64))
    return Weights(layer.name, kind, W, b, strides, padding, hidden_fn(layer), tuple(node.input_shape),
                   tuple(node.output_shape))


#: The operation of every layer class of a preprocessed network.
OPERATIONS = {
    keras.layers.Dense: _weights,
    keras.layers.Conv2D: _weights,
    keras.layers.MaxPooling2D: _maxpool,
    keras.layers.Flatten: _reshape,
    keras.layers.Reshape: _reshape,
    keras.layers.ZeroPadding2D: _zeropad,
    keras.layers.InputLayer: lambda node, hidden_fn: None,
}


def _builder(layer):
    for cls in type(layer).__mro__:
        if cls in OPERATIONS:
            return OPERATIONS[cls]
    raise UnsupportedLayerError(layer, "the rate-coded simulation has no rule for this layer type "
                                       f"(it takes {', '.join(c.__name__ for c in OPERATIONS)})")


def operations(model):
    """The operations of a preprocessed network, in order.

    Parameters
    ----------
    model : keras.Model
        ``Preprocessed.model``: a chain whose hidden Dense/Conv2D layers are ReLU and whose last
        weight layer is linear.
    """
    out = []
    for node in graph.walk(model):
        op = _builder(node.layer)(node, is_hidden)
        if op is not None:
            out.append(op)
    weights = [op for op in out if isinstance(op, Weights)]
    if not weights or weights[-1].hidden or any(not op.hidden for op in weights[:-1]):
        raise UnsupportedLayerError(model, "the rate simulation needs ReLU hidden layers and a linear output "
                                           "layer (a preprocessed network from phase 1)")
    return out


def relu_forward(ops_list, x_hat, each=None):
    """The ReLU network of ``ops_list`` on a batch; ``each(index, activation)`` sees every weight layer's output.

    Parameters
    ----------
    ops_list : list
        From :func:`operations`.
    x_hat : tensor
        A normalised batch.
    each : callable, optional
        Called with the index of the weight operation and its activation (ReLU for hidden layers,
        the logits for the output layer).
    """
    x, k = x_hat, 0
    for op in ops_list:
        if isinstance(op, Weights):
            x = op.apply(x, ops.convert_to_tensor(op.W, x.dtype), ops.convert_to_tensor(op.b, x.dtype))
            x = ops.relu(x) if op.hidden else x
            if each is not None:
                each(k, x)
            k += 1
        else:
            x = op(x)
    return x
