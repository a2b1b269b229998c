"""How the spiking layers pick their solver stages: the tuning constants and the auto policy.

Every spiking layer gives the exact spike times of its dynamics; what this module decides is
only how much work that takes.  The layers (:mod:`snnmap.layers`) run the closed form of
docs/method.md §3 for every neuron, and hand to the event solver only the (image, neuron) pairs that
no bound can certify (they may reach ``theta`` before their last input).  Between the two sit
bounds of increasing cost (:mod:`snnmap.core.bounds`): docs/method.md §3's certificate, the free
one-interval bound, then grid bounds whose inner points cost two synapse products each.
:class:`SolverConfig` holds the constants that steer this cascade; the functions below are the
policy, in terms of those constants; :func:`bf16_products` decides whether the grid bounds'
products may run in bfloat16 on this machine.

This module depends on nothing else in snnmap (a base module): :mod:`snnmap.core` and
:mod:`snnmap.layers` read it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Optional

import keras
import numpy as np

#: The layers' ``solver`` argument (see :class:`snnmap.layers.SpikingLayer`).
SOLVERS = ("auto", "exact", "scan")

#: Elements (neurons x inputs) handled per step by the exact solver; bounds its memory.
DEFAULT_SOLVER_ELEMENTS = 1 << 20


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """The tuning constants of the spiking layers' solvers (none changes a spike time).

    Notation: a layer has ``neurons`` neurons per image, each with ``fan_in`` inputs
    (``R``); a batch holds ``pairs = neurons x batch`` (image, neuron) pairs, of which
    ``n_open`` are left open by the bounds so far.

    Parameters
    ----------
    exact_blocks : int
        Intervals of the one grid bound of ``solver="exact"``.
    grid_work : float
        ``solver="auto"`` refines the certificate with grid bounds while
        ``n_open x fan_in > grid_work x pairs``: then the event solver would read more inputs
        than the grid's synapse products cost.
    grid_points : tuple of float
        Inner points of the grid stages of large layers, one more per stage while many pairs
        are open; a point ``f`` is the ``f`` quantile of each image's informative arrivals
        (:func:`snnmap.core.grid.quantile_grid`, with ``grid_time_share``).  Every stage reuses
        the products of the points before it, so it costs two products (``J+``, ``J-``) in the
        channels that still hold an open neuron.  The order needs the fewest products on
        VGG16-224 with random weights (docs/solver.md, bench/README.md).
    grid_points_few : tuple of float
        The points used instead, stage for stage, on images where at most
        ``grid_many_open`` of the pairs are open when the cascade starts (trained networks:
        their few open pairs mostly close at the point 1/2).  Point ``k`` takes the rank among
        the first ``k`` that point ``k`` of ``grid_points`` takes
        (:func:`snnmap.core.grid.aligned_points`), so one traced cascade serves both.
    grid_many_open : float
        See ``grid_points_few`` (a fraction of an image's pairs; trained networks leave a few
        percent open, random ones 10-60 %).
    grid_small : int
        Intervals of the one grid of layers under ``grid_later_work``: two settle trained
        networks.
    dense_direct_blocks : int
        Intervals of the one grid of dense layers of at least ``dense_direct_weights`` weights.
    grid_later : float
        Later stages of the cascade run only while more than this fraction of the pairs is
        still open: below it the event solver costs less than the next stage.
    fuse_neurons : int
        Layers with at least this many neurons evaluate the bounds' elementwise arithmetic as
        one compiled computation where the backend offers it
        (:func:`snnmap.core.spiketime.fused`); smaller ones are not worth a compilation.
    free_open : float
        The free one-interval bound runs on the open pairs (gathered) when they are at most
        this fraction of the pairs; beyond it the grid bounds, which imply it, take over.
    grid_later_work : int
        Layers with fewer multiply-adds per image (``fan_in x neurons``) use only the grid of
        ``grid_small`` intervals: the event solver is cheap for them, and every stage adds to
        the compiled graph (tracing time, notably under JAX).
    dense_direct_weights : int
        Dense layers with at least this many weights go straight to ``dense_direct_blocks``
        intervals: at small batches such kernels are read from memory for every product, so
        a grid of ``G`` points costs about what one point does.
    channel_step, channel_blocks : int
        Channel subsets of the grid stages (:func:`snnmap.core.products.open_channels`) have
        sizes that are multiples of ``max(channel_step, channels // channel_blocks)``
        (oneDNN's convolutions slow down between multiples of 32 output channels).
    channel_spare : float
        A channel subset must leave out at least this fraction of the layer's channels, else
        all channels are computed.
    spread_gather : int
        A subset's products are spread back to every channel by a one-hot matrix product below
        this many channels, by a compiled gather from it on (cost ``channels x width`` against
        ``width``).
    position_share : float
        In convolutions, a grid stage computes its products only at the output positions that
        hold an open pair (their receptive fields times the kernel as a matrix) when they are at
        most this share of the chunk's positions (:func:`snnmap.core.products.position_product`);
        0 turns it off.  On VGG16-224 a matrix product over up to nine tenths of the positions
        costs less than the float32 convolution, even on the whole batch; where the products run
        in bfloat16 (:func:`bf16_products`) the convolutions are twice as fast and the share is
        halved (bench/README.md).
    grid_chunk : int
        The grid bounds take as many images at a time as their products fit in
        ``grid_chunk x solver_elements`` values (64 MiB of float32 by default): small layers
        then run their grids on several images at once.
    grid_first_chunk : int
        The first grid stage of a cascade takes as many images at a time as its ramps and its
        two products fit in ``grid_first_chunk x solver_elements`` values (512 MiB of float32 by
        default), when that is more than ``grid_chunk`` allows; the later stages then go
        through those images ``grid_chunk`` at a time.  oneDNN's float32 convolutions cost up
        to twice as much per image at batch 1 as at batch 8 (bench/README.md), and the first
        stage computes nearly every channel, while later stages compute only the channels
        that hold an open pair, fewest on one image.
    grid_sample : int
        The grid's points are quantiles of about this many inputs per image (a strided sample).
    grid_time_share : float
        How much a grid point's quantile follows time rather than the rank of distinct arrival
        times (:func:`snnmap.core.grid.quantile_grid`): 0 ranks only, 1 time only.  Ranks alone
        leave the early, heavy inputs in one wide interval (bench/README.md).
    grid_time_share_few : float
        The same for ``grid_points_few``.  Ranks alone (0) failed on images with large uniform
        regions: on VGG16-224 with inputs in the Caffe range, images with under a tenth of the
        pairs open kept up to 105,000 of them (3 %) through every stage, while trained networks
        take the same time either way (bench/README.md).
    bf16 : bool, optional
        Whether the grid bounds' products of convolutions run in bfloat16: ``None`` (default)
        decides from the machine (:func:`bf16_products`); True or False forces it (True only
        where bfloat16 convolutions accumulate in float32, or the bounds are not bounds).
    """

    exact_blocks: int = 8
    grid_work: float = 1.0
    grid_points: tuple = (0.4, 0.75, 0.2, 0.55, 0.9)
    grid_points_few: tuple = (0.5, 0.75, 0.25, 0.625, 0.875)
    grid_many_open: float = 0.1
    grid_small: int = 2
    dense_direct_blocks: int = 8
    grid_later: float = 0.0001
    fuse_neurons: int = 4096
    free_open: float = 0.02
    grid_later_work: int = 1 << 20
    dense_direct_weights: int = 1 << 22
    channel_step: int = 8
    channel_blocks: int = 16
    channel_spare: float = 0.25
    spread_gather: int = 96
    position_share: float = 0.9
    grid_chunk: int = 16
    grid_first_chunk: int = 128
    grid_sample: int = 2048
    grid_time_share: float = 0.3
    grid_time_share_few: float = 0.3
    bf16: Optional[bool] = None

    def replace(self, **changes) -> "SolverConfig":
        """A copy with ``changes`` (field names and values)."""
        return dataclasses.replace(self, **changes)


#: The configuration layers use unless given one.
DEFAULT_CONFIG = SolverConfig()


def grid_needed(n_open, fan_in, pairs, config: SolverConfig = DEFAULT_CONFIG, later=False):
    """Whether a grid bound pays for its products on ``pairs`` (image, neuron) pairs of which
    ``n_open`` are open: ``n_open x fan_in > grid_work x pairs`` (the event solver would read
    more inputs than the products cost) and, for a ``later`` stage of a cascade,
    ``n_open > grid_later x pairs``.  Takes tensors or numbers.

    Parameters
    ----------
    n_open : tensor or float
        Open pairs.
    fan_in : int
        Inputs per neuron, ``R``.
    pairs : tensor or float
        (image, neuron) pairs of the chunk.
    config : SolverConfig
        ``grid_work`` and ``grid_later``.
    later : bool
        Whether the stage follows another one of the cascade.
    """
    many = n_open * float(fan_in) > config.grid_work * pairs
    return many & (n_open > config.grid_later * pairs) if later else many


def free_bound_pays(n_open, pairs, config: SolverConfig = DEFAULT_CONFIG):
    """Whether the free one-interval bound runs on the gathered open pairs:
    ``n_open <= free_open x pairs`` (beyond it the grid bounds, which imply it, take over).

    Parameters
    ----------
    n_open, pairs : tensor
        Open pairs and all (image, neuron) pairs of the batch.
    config : SolverConfig
        ``free_open``.
    """
    return n_open <= config.free_open * pairs


def cascade_stages(fan_in, neurons, config: SolverConfig = DEFAULT_CONFIG, dense=False):
    """The grid stages ``solver="auto"`` tries, and the alternative stages for chunks where few
    pairs are open (or ``None``).

    Large layers (``fan_in x neurons >= grid_later_work``) add one point of ``grid_points`` per
    stage, with ``grid_points_few`` as the alternative; smaller ones take the one grid of
    ``grid_small`` intervals; dense layers of at least ``dense_direct_weights`` weights the one
    grid of ``dense_direct_blocks`` intervals.

    Parameters
    ----------
    fan_in, neurons : int
        Inputs per neuron and neurons per image (for a dense layer, ``fan_in x neurons`` is its
        number of weights).
    config : SolverConfig
    dense : bool
        Whether the layer is dense (its kernel is read whole for every product).

    Returns
    -------
    (stages, few)
        ``stages`` as :func:`snnmap.core.grid.cascade_grids` takes them; ``few`` the same
        number of stages, or ``None``.
    """
    if dense and fan_in * neurons >= config.dense_direct_weights:
        return (config.dense_direct_blocks,), None
    if fan_in * neurons >= config.grid_later_work:
        return tuple((f,) for f in config.grid_points), tuple((f,) for f in config.grid_points_few)
    return (config.grid_small,), None


def fuse(neurons, config: SolverConfig = DEFAULT_CONFIG):
    """Whether a layer of ``neurons`` neurons compiles its bounds' arithmetic as one pass."""
    return neurons >= config.fuse_neurons


def bf16_products(config: SolverConfig = DEFAULT_CONFIG):
    """Whether the grid bounds' synapse products may run in bfloat16.

    ``config.bf16`` decides when it is set.  Otherwise: only where a bfloat16 product is sound
    to bound: TensorFlow with oneDNN, whose bfloat16 convolutions accumulate in float32
    (oneDNN's default "strict" accumulation mode), so a sum of ``R`` non-negative terms is off
    by at most three bfloat16 roundings (input, kernel, output) and a float32 sum; and worth
    it: on CPUs with native bfloat16 dot products (``avx512_bf16`` or ``amx_bf16``,
    :func:`cpu_has_bf16`), where they run twice as fast as float32.  A probe
    (:func:`accumulates_in_float32`) checks the accumulation once per process.  The
    environment variable ``SNNMAP_BF16`` set to ``0`` turns them off; ``1`` skips the CPU
    check (the probe still runs).

    Parameters
    ----------
    config : SolverConfig
        ``bf16``.
    """
    if config.bf16 is not None:
        return bool(config.bf16)
    return _bf16_default(os.environ.get("SNNMAP_BF16", "auto"), keras.backend.backend(),
                         os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1"))


@functools.lru_cache(maxsize=None)
def _bf16_default(setting, backend, onednn):
    """:func:`bf16_products` for one environment (cached: the probe runs a convolution)."""
    ok = setting != "0" and backend == "tensorflow" and onednn != "0" and (setting == "1" or cpu_has_bf16())
    return bool(ok and accumulates_in_float32())


def cpu_has_bf16():
    """Whether the CPU has native bfloat16 dot products (``avx512_bf16`` or ``amx_bf16`` in
    /proc/cpuinfo; False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def accumulates_in_float32():
    """Whether TensorFlow's bfloat16 convolutions accumulate in float32.

    A bfloat16 convolution of 4,608 ones with one weight 1 and the others ``2**-9`` gives
    ``1 + 4607 2**-9 = 9.998`` with float32 accumulation, close to 1 or 2 if partial sums were
    rounded to bfloat16 (whose spacing above 1 is ``2**-7``).  Needs TensorFlow.
    """
    import tensorflow as tf  # a heavy dependency, needed only where it is the backend

    kernel = np.full((3, 3, 512, 1), 2.0 ** -9, np.float32)
    kernel[1, 1, 7, 0] = 1.0
    exact = 1.0 + (kernel.size - 1) * 2.0 ** -9
    with tf.init_scope():  # eager, even while a graph is traced
        y = tf.nn.conv2d(tf.ones((1, 3, 3, 512), tf.bfloat16), tf.cast(kernel, tf.bfloat16), 1, "VALID")
        value = float(tf.cast(tf.reshape(y, []), tf.float32))
    return abs(value - exact) <= 2.0 ** -6 * exact
