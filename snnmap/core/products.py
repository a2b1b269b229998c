"""Synapse products the bounds rely on: their rounding, bounded outward, and channel subsets.

The bounds (:mod:`snnmap.core.bounds`) need sums ``sum_j J+_ij x_j`` and ``sum_j J-_ij x_j`` of
non-negative ramps ``x_j = max(0, g - u_j)`` with the kernel's positive and negative parts.
They are computed in float32 (several times faster than float64 on CPUs) or, in convolutions
where :func:`snnmap.solver.bf16_products` allows, in bfloat16 with float32 accumulation; the
functions here turn such a value ``y`` into float32 bounds of the exact sum, so that a bound
built on them stays a bound.  With ``R`` terms (the fan-in) and ``u = 2**-24``, the float32
sum of ``R`` non-negative terms is within ``gamma_R = (R + 2) u / (1 - (R + 2) u)`` of the
exact one, in any summation order.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..solver import DEFAULT_CONFIG, SolverConfig
from .spiketime import flat_nonzero, fused

#: bfloat16's unit roundoff (8 significand bits, round to nearest), with room for a float64 ->
#: float32 -> bfloat16 double rounding.
BF16_ROUNDOFF = 2.0 ** -8 * (1 + 2.0 ** -10)


def tensor_of(v):
    """A Keras variable's value as a tensor (what compiled functions are traced with)."""
    return v.value if isinstance(v, keras.Variable) else v


def nonnegative_bounds(y, fan_in, dtype="float32"):
    """``(upper, lower)`` bounds, in ``dtype``, of the exact sum of ``R = fan_in`` non-negative
    terms whose float32 sum is ``y``: ``y (1 +- 2 gamma_R)``, twice the worst-case relative
    error of the sum in any order.

    Parameters
    ----------
    y : tensor
        The float32 product.
    fan_in : int
        ``R``, the number of terms of each sum.
    dtype : str
        The bounds' dtype.
    """
    terms = (fan_in + 2) * 2.0 ** -24
    gamma = 2 * terms / (1 - terms)
    y = ops.cast(y, dtype)
    return y * (1 + gamma), y * (1 - gamma)


def bf16_bounds(y, fan_in):
    """``(upper, lower)`` float32 bounds of the exact product of non-negative inputs and kernel
    whose bfloat16 product (float32 accumulation) is ``y``.

    Each input and weight was rounded to bfloat16 and the result rounded again: three factors
    ``1 +- u`` (``u`` = :data:`BF16_ROUNDOFF`); the float32 sum of ``R`` non-negative products
    (exact in float32) is within ``gamma_R`` of theirs in any order; products flushed to zero as
    subnormals lose less than ``1e-25`` in all.  The float32 arithmetic here gets ``2**-20``
    more: ``upper = y (1 + 2**-20) / ((1 - u)**3 (1 - gamma_R)) + 1e-25``, ``lower = y (1 -
    2**-20) / ((1 + u)**3 (1 + gamma_R))``.

    Parameters
    ----------
    y : tensor
        The bfloat16 product.
    fan_in : int
        ``R``.
    """
    u = BF16_ROUNDOFF
    terms = (fan_in + 2) * 2.0 ** -24
    gamma = terms / (1 - terms)
    up = (1 + 2.0 ** -20) / ((1 - u) ** 3 * (1 - gamma))
    lo = (1 - 2.0 ** -20) / ((1 + u) ** 3 * (1 + gamma))
    y = ops.cast(y, "float32")
    return y * up + 1e-25, y * lo


def product_bounds(y, fan_in):
    """``(upper, lower)`` float32 bounds of the exact product of non-negative inputs and kernel
    whose computed value is ``y``: :func:`bf16_bounds` for a bfloat16 ``y``, else
    :func:`nonnegative_bounds`.

    Parameters
    ----------
    y : tensor
        The product as computed (bfloat16 or float32).
    fan_in : int
        ``R``.
    """
    if keras.backend.standardize_dtype(y.dtype) == "bfloat16":
        return bf16_bounds(y, fan_in)
    return nonnegative_bounds(y, fan_in, "float32")


def kernel_stats(kernel, dtype):
    """Per neuron (last axis of ``kernel``): ``sum_j J_ij``, ``sum_j J-_ij``, ``max_j J-_ij``,
    ``||J-_i||_2`` and ``sum_j |J_ij|``, as rows; every row but the first rounded up to
    ``dtype``, so that the bounds built on them stay bounds.

    Parameters
    ----------
    kernel : ndarray
        ``J``, neurons (channels) on the last axis.
    dtype : str
        The rows' dtype.
    """
    k = np.asarray(kernel, np.float64).reshape(-1, np.shape(kernel)[-1])
    neg = np.maximum(-k, 0.0)
    bounds = np.stack([neg.sum(0), neg.max(0), np.sqrt((neg ** 2).sum(0)), np.abs(k).sum(0)]) * (1 + 1e-12)
    low = bounds.astype(dtype)
    up = np.where(low < bounds, np.nextafter(low, np.asarray(np.inf, dtype)), low)
    return np.concatenate([k.sum(0).astype(dtype)[None], up], axis=0)


def open_channels(mask, config: SolverConfig = DEFAULT_CONFIG):
    """Ascending indices of the output channels (last axis) with an open pair in ``mask``.

    Padded with closed channels to a multiple of ``max(channel_step, width // channel_blocks)``;
    all channels where that would leave out less than ``channel_spare`` of them (the subset's
    gathers would not pay).

    Parameters
    ----------
    mask : bool tensor (batch, ..., width)
        Open pairs.
    config : SolverConfig
        ``channel_step``, ``channel_blocks``, ``channel_spare``.
    """
    width = int(mask.shape[-1])
    step = max(config.channel_step, width // config.channel_blocks)
    if len(mask.shape) > 2:
        # Over an inner axis first: TensorFlow reduces a long outer axis several times slower
        # (bench/README.md).
        mask = ops.any(mask, axis=-2)
    active = ops.any(ops.reshape(mask, (-1, width)), axis=0)
    size = (ops.sum(ops.cast(active, "int32")) + step - 1) // step * step
    size = ops.where(size > int((1 - config.channel_spare) * width), width, size)
    _, picked = ops.top_k(ops.cast(active, "float32"), size, sorted=True)
    return ops.sort(picked)


def spread_one_hot(y, channels, width):
    """``(rows, width)`` with the columns of ``y`` (``(rows, len(channels))``) at ``channels``
    and zeros elsewhere: a matrix product with the one-hot rows of ``channels``, which copies
    each value exactly (one nonzero term per sum).

    Parameters
    ----------
    y : tensor (rows, len(channels))
    channels : int tensor
        Distinct channel indices.
    width : int
        Channels of the result.
    """
    return ops.matmul(y, ops.one_hot(channels, width, dtype=y.dtype))


def spread_gather(y, channels, width):
    """:func:`spread_one_hot` as a gather: column ``c`` of the result is the column of ``y`` at
    ``c``'s position in ``channels``, or a zero column.  Compiled, it costs one pass over the
    result, where the matrix product costs ``len(channels)`` multiply-adds per value.

    Parameters
    ----------
    y, channels, width
        As :func:`spread_one_hot`.
    """
    count = ops.shape(channels)[0]
    slot = ops.scatter_update(ops.full((width,), count, "int32"), ops.expand_dims(channels, -1),
                              ops.arange(count, dtype="int32"))
    padded = ops.concatenate([y, ops.zeros((ops.shape(y)[0], 1), y.dtype)], axis=-1)
    return ops.take(padded, slot, axis=-1)


def take_last(x, index):
    """``x[..., index]`` (the kernel's columns of a channel subset)."""
    return ops.take(x, index, axis=-1)


_COMPILED = {}


def compiled_once(fn, *static):
    """``fn`` with its trailing arguments fixed to ``static``, compiled once per process
    (:func:`snnmap.core.spiketime.fused`) and kept under ``(fn, static)``.

    Parameters
    ----------
    fn : callable
        A function of tensors, then of ``static``.
    *static
        Python values baked into the compilation.
    """
    key = (fn,) + static
    if key not in _COMPILED:
        _COMPILED[key] = fused(lambda *args: fn(*args, *static))
    return _COMPILED[key]


def channel_product(synapse, x, kernel, channels, config: SolverConfig = DEFAULT_CONFIG):
    """``synapse(x, kernel)`` in the output channels ``channels`` (ascending) and 0 in the others,
    at the cost of those channels.

    The kernel's columns are gathered by one compiled gather (TensorFlow's own gather along the
    last axis is several times slower), and their product is spread back to every channel
    (:func:`spread_one_hot`, or :func:`spread_gather` from ``spread_gather`` channels on), which
    copies each value exactly.  All channels take the plain product.

    Parameters
    ----------
    synapse : callable
        ``synapse(x, kernel)``, the layer's synaptic operator.
    x : tensor
        Its input.
    kernel : tensor or Variable
        Its kernel, output channels on the last axis.
    channels : int tensor
        :func:`open_channels`.
    config : SolverConfig
        ``spread_gather``.
    """
    width = int(kernel.shape[-1])
    count = ops.shape(channels)[0]

    def some():
        y = synapse(x, compiled_once(take_last)(tensor_of(kernel), channels))
        spread = spread_channels(ops.reshape(y, (-1, count)), channels, width, config)
        return ops.reshape(spread, tuple(ops.shape(y)[:-1]) + (width,))

    return ops.cond(count < width, some, lambda: synapse(x, kernel))


def spread_channels(y, channels, width, config: SolverConfig = DEFAULT_CONFIG):
    """``(rows, width)`` from the columns ``y`` of the channels ``channels``: by
    :func:`spread_one_hot` below ``spread_gather`` channels, by :func:`spread_gather` from there on.

    Parameters
    ----------
    y : tensor (rows, len(channels))
    channels : int tensor
        Distinct channel indices, ascending.
    width : int
        Channels of the result.
    config : SolverConfig
        ``spread_gather``.
    """
    count = ops.shape(channels)[0]
    return ops.cond(count < config.spread_gather, lambda: spread_one_hot(y, channels, width),
                    lambda: compiled_once(spread_gather, width)(y, channels))


def open_positions(mask):
    """Flat indices (over the batch and the neuron shape without its channel axis) of the
    positions where ``mask`` holds an open pair in some channel.

    Parameters
    ----------
    mask : bool tensor (batch, ..., channels)
        Open pairs.
    """
    return flat_nonzero(ops.reshape(ops.any(mask, axis=-1), (-1,)))


def position_product(patches, x, kernels, positions, rows, channels=None, config: SolverConfig = DEFAULT_CONFIG):
    """``[y, ...]``: the synapse products of ``x`` with each of ``kernels`` at the output
    positions ``positions`` only, 0 at the others, each ``(rows, channels)``.

    Each product is the matrix product of the positions' receptive fields (``patches(x,
    positions)``, ``(len(positions), R)``) with the kernel as an ``(R, channels)`` matrix,
    accumulated in float32 and rounded once to ``x``'s dtype: a sum of the same ``R``
    non-negative terms as the convolution's, so :func:`product_bounds` bounds it alike.  Its cost
    is the positions' share of the convolution's, plus one gather of their fields.

    Parameters
    ----------
    patches : callable
        The layer's :meth:`snnmap.layers.SpikingLayer.patches`.
    x : tensor
        The synapse operator's input (ramps), in the products' dtype.
    kernels : sequence of tensor or Variable
        Kernels, output channels on the last axis.
    positions : int tensor
        Distinct flat position indices (:func:`open_positions`, over the batch of ``x``).
    rows : int
        Positions of ``x`` in all (its batch times the output positions of one image).
    channels : int tensor, optional
        Only these output channels are computed (:func:`open_channels`; 0 elsewhere).
    config : SolverConfig
        ``spread_gather``.
    """
    dtype = x.dtype
    fields = ops.cast(patches(x, positions), "float32")
    out = []
    for kernel in kernels:
        width = int(kernel.shape[-1])
        matrix = ops.reshape(tensor_of(kernel), (-1, width))
        if channels is not None:
            matrix = compiled_once(take_last)(matrix, channels)
        y = ops.cast(ops.matmul(fields, ops.cast(matrix, "float32")), dtype)
        if channels is not None:
            y = ops.cond(ops.shape(channels)[0] < width, lambda y=y: spread_channels(y, channels, width, config),
                         lambda y=y: y)
        out.append(ops.scatter(ops.expand_dims(positions, -1), y, (rows, width)))
    return out
