"""Spiking Keras layers: every hidden neuron fires exactly one spike (MAPPING §2, §3).

A hidden spiking layer takes the spike times of its inputs and returns the spike times
of its neurons; the output layer returns the readout potential ``V_i(t_min(N))``, the
logits.  Computations use ``keras.ops`` only, so the layers run on any Keras backend.

The parameters are those of MAPPING §3, stored as weights:

* hidden layers: ``kernel`` = ``J`` (synaptic weights), ``threshold`` = ``theta`` and
  ``alpha`` (constant input current, 1 plus a fixed seeded perturbation of standard
  deviation ``alpha_noise``; the threshold keeps the nominal ``alpha = 1``);
* output layer: ``kernel`` = ``W`` and ``alpha`` = ``b / (t_min(N) - t_min(N-1))``.

:meth:`SpikingLayer.set_relu_params` sets them from a preprocessed ReLU layer.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from ..core import mapping, spiketime

#: Elements (neurons x inputs) handled per step by the exact solver; bounds its memory.
DEFAULT_SOLVER_ELEMENTS = 1 << 20

SOLVERS = ("auto", "exact", "scan")

#: Intervals of the grid bound of ``solver="exact"`` (see :meth:`SpikingLayer.open_neurons`).
EXACT_BLOCKS = 8

#: ``solver="auto"`` refines the one-interval certificate with grid bounds (GRID_POINTS)
#: while the neurons it leaves open have more than GRID_WORK inputs per neuron of
#: the batch (open neurons x fan-in > GRID_WORK x neurons x batch): then the event solver
#: would cost more than the grid's synapse products.
GRID_WORK = 1.0

#: Inner points of the refined certificates of ``solver="auto"`` in large layers, added one
#: per stage while the neurons left open are still many (see :meth:`SpikingLayer.open_neurons`);
#: a point ``f`` is the ``f`` quantile of each image's informative arrivals.  Every stage reuses
#: the products of the points before it, so it costs two products (``J+``, ``J-``) in the
#: channels that still hold an open neuron.  The order is measured (VGG16 at 224x224 with random
#: weights, bench/README.md): the bound fails mostly late in the window; with 0.35 and 0.7,
#: 0.28 % of block4_conv2's pairs stay open, with 1/2 and 3/4 9.7 %.
GRID_POINTS = (0.35, 0.7, 0.2, 0.5, 0.85)

#: The points used instead, stage for stage, on chunks of images where at most GRID_MANY_OPEN of
#: the pairs are open when the cascade starts (trained networks: their few open pairs mostly
#: close at the point 1/2).  Point ``k`` takes the rank among the first ``k`` that point ``k``
#: of GRID_POINTS takes (:func:`aligned_points`), so one traced cascade serves both.
GRID_POINTS_FEW = (0.5, 0.75, 0.25, 0.625, 0.875)

#: See GRID_POINTS_FEW (fraction of a chunk's (image, neuron) pairs).
GRID_MANY_OPEN = 0.25

#: The one grid of layers under GRID_LATER_WORK (intervals): two intervals settle trained
#: networks.
GRID_SMALL = 2

#: The one grid of dense layers of at least DENSE_DIRECT_WEIGHTS weights (intervals).
DENSE_DIRECT_BLOCKS = 8

#: The later ones run only while more than this fraction of the batch's neurons is still open:
#: below it the event solver costs less than the next stage (measured on the 16-layer VGG at 224x224,
#: where channel subsets make later stages cheap: 0.002 before them).
GRID_LATER = 0.0001

#: Layers with at least this many neurons evaluate the grid bound's arithmetic as one fused
#: computation where the backend offers it (:func:`snnmap.spiketime.fused`); smaller ones
#: are not worth a compilation.
FUSE_NEURONS = 4096

#: The free one-interval refinement runs on the open neurons (gathered) when they are at most
#: this fraction of the batch's neurons; beyond it the grid bounds (which imply it) take over.
FREE_OPEN = 0.02

#: Layers with fewer multiply-adds per image (fan-in x neurons) than this use only the grid of
#: GRID_SMALL intervals: the event solver is cheap for them, and every stage adds to the compiled graph
#: (tracing time, notably under JAX).
GRID_LATER_WORK = 1 << 20

#: Dense layers with at least this many weights go straight to DENSE_DIRECT_BLOCKS intervals: at the
#: small batches where such kernels are read from memory for every product, a grid of G points
#: costs about what one point does (each stage would read J+ and J- again).
DENSE_DIRECT_WEIGHTS = 1 << 22

#: Channel subsets of the grid stages (:meth:`SpikingLayer._open_channels`): sizes are multiples
#: of the larger of CHANNEL_STEP and 1/CHANNEL_BLOCKS of the layer's channels (oneDNN's
#: convolutions slow down between multiples of 32 output channels at 512: 400 channels cost
#: more than 416), and a subset must leave out at least the fraction CHANNEL_SPARE of the
#: layer's channels (else all are computed).
CHANNEL_STEP = 8
CHANNEL_BLOCKS = 16
CHANNEL_SPARE = 0.25

#: A subset's products are spread back to every channel by a one-hot matrix product below
#: this many channels, by a compiled gather from it on (cost in channels x width against width).
SPREAD_GATHER = 96

#: The grid bounds take as many images at a time as their products fit in GRID_CHUNK x
#: ``solver_elements`` values (64 MiB of float32 by default): small layers then run their
#: grids on several images at once (fewer, larger convolutions).
GRID_CHUNK = 16

#: The grid bound's points are quantiles of about this many inputs per image (a strided sample).
GRID_SAMPLE = 2048


class LastArrival(NamedTuple):
    """Per-call tensors the bounds start from (:meth:`SpikingLayer.last_arrival_terms`);
    every field has the batch axis first."""

    tau: object  #: last arrival per image, at least ``-T_in``, shape ``(batch, 1, ...)``
    p: object  #: ``P(tau) = sum_j J+_ij (tau - u_j)`` (MAPPING §3's certificate) as its product left it
    product: object  #: ``sum_j J_ij u_j``, the closed form's product
    before: object  #: whether an input of the image arrives before ``-T_in``, ``(batch, 1, ...)``


class GridProducts(NamedTuple):
    """The synapse products of a grid bound at its inner points, as the products left them
    (bfloat16 or float32), for :meth:`SpikingLayer.grid_bounds` to round outward where they
    are used (inside the fused bound) and for a finer grid to reuse."""

    stacks: tuple  #: ``((P, N), ...)``: products with ``J+``, ``J-``, point-major ``(points, batch, ...)``
    order: tuple  #: ``((stack, index), ...)``: where each inner point's products are, in grid order
    points: tuple = ()  #: the inner points' quantiles (:func:`grid_points`), ascending: grid order


class SpikingLayer(keras.layers.Layer):
    """Base class of single-spike layers with a linear synaptic operator.

    Subclasses say how inputs reach neurons (:meth:`synapse`, :meth:`fan_in_sum`,
    :meth:`receptive_fields`); this class owns the dynamics: input jitter, the closed
    form where :func:`snnmap.spiketime.upper_bound_margin` certifies it, the exact
    event-driven solver elsewhere, and the readout of the output layer.

    Parameters
    ----------
    t_min_prev : float
        ``t_min(n-1)``, start of integration (start of the input window).
    t_min : float
        ``t_min(n)``, end of the input window.
    X_n : float, optional
        Largest activation of this layer on the calibration data; with ``zeta`` it sets
        ``t_max(n) = t_min(n) + (1 + zeta) X_n``.  Ignored by the output layer.
    zeta : float
        Window margin (default 0.5).
    output_layer : bool
        If True the layer does not spike: it returns ``V_i(t_min(N))`` (the logits).
    noise : float
        Standard deviation of a Gaussian jitter added to every input spike time, in
        units of ``tau_c`` (MAPPING §6).  Fresh for every call, from ``seed``.
    alpha_noise : float
        Standard deviation of a fixed per-neuron perturbation of ``alpha`` (hidden
        layers), drawn once from ``seed`` when the layer is built.
    seed : int
        Seed of both noises.
    solver : {"auto", "exact", "scan"}
        All three give the exact spike times of the dynamics.  ``"auto"``: closed form
        where MAPPING §3's certificate holds (refined by grid bounds, one inner point of
        ``GRID_POINTS`` more per stage, while many neurons are left open), event-driven solver
        for the rest.  ``"exact"``: every neuron goes through the grid bound with
        ``EXACT_BLOCKS`` intervals per image, and its events are scanned one by one
        wherever the bound cannot exclude a crossing before its last input.
        ``"scan"``: every neuron's events scanned one by one (the plain algorithm; for
        checks and benchmarks).
    solver_elements : int
        Neurons x inputs handled per step of the exact solver (bounds its memory).
    time_bits : int
        If > 0, every input spike time is rounded to the nearest of ``2**time_bits``
        evenly spaced levels of the input window ``[t_min(n-1), t_min(n)]`` (after the
        jitter; times outside the window go to its nearest end), MAPPING §6.
    weight_bits : int
        If > 0, :meth:`set_relu_params` rounds the layer's weights (``J``, or ``W`` of the
        output layer) to ``2**weight_bits`` evenly spaced levels of ``[w_min, w_max]``,
        clipping values outside; the thresholds keep the unquantised values.
    w_min, w_max : float, optional
        The weight range of ``weight_bits``; default ``[-m, m]`` with ``m`` the layer's
        largest absolute weight.
    input_origin, output_origin : float
        The global times that input and output value 0 stand for: the layer reads
        ``t - input_origin`` and returns ``t - output_origin`` (the output layer returns
        logits, which have no origin).  Default 0: global times.  :func:`snnmap.to_snn`
        sets ``output_origin = t_max(n)`` and ``input_origin = t_min(n)`` (the previous
        layer's ``t_max``): values then are ``-x``, minus the activations they code, small
        whatever the depth, and float32 keeps the relative precision of the ReLU network.
    dtype : str
        Defaults to ``"float64"``; ``"float32"`` is allowed.
    """

    #: Whether the layer keeps bfloat16 copies of ``J+`` and ``J-`` for the grid bounds'
    #: products (used where :func:`snnmap.spiketime.bf16_products` allows): convolutions,
    #: where the grids cost most; dense layers are cheap, and their kernels large.
    bf16_grid = False

    def __init__(
        self,
        t_min_prev: float = 0.0,
        t_min: float = 1.0,
        X_n: float = 1.0,
        zeta: float = mapping.DEFAULT_ZETA,
        output_layer: bool = False,
        noise: float = 0.0,
        alpha_noise: float = 0.0,
        seed: int = 0,
        solver: str = "auto",
        solver_elements: int = DEFAULT_SOLVER_ELEMENTS,
        time_bits: int = 0,
        weight_bits: int = 0,
        w_min=None,
        w_max=None,
        input_origin: float = 0.0,
        output_origin: float = 0.0,
        dtype=None,
        **kwargs,
    ):
        super().__init__(dtype=dtype or "float64", **kwargs)
        # On TensorFlow the event solver takes exactly the open pairs, a shape XLA cannot fix.
        self.supports_jit = not spiketime.shapes_may_vary()
        for name, value in (("time_bits", time_bits), ("weight_bits", weight_bits)):
            if int(value) != value or not 0 <= int(value) <= 52:
                raise ValueError(f"{name} must be an integer in [0, 52] (0 = off), got {value}")
        if (w_min is None) != (w_max is None) or (w_min is not None and not float(w_max) > float(w_min)):
            raise ValueError(f"w_min and w_max must both be given, with w_max > w_min (got {w_min}, {w_max})")
        self.time_bits = int(time_bits)
        self.weight_bits = int(weight_bits)
        self.w_min = None if w_min is None else float(w_min)
        self.w_max = None if w_max is None else float(w_max)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        for name, value in (("noise", noise), ("alpha_noise", alpha_noise), ("zeta", zeta)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not t_min > t_min_prev:
            raise ValueError(f"t_min ({t_min}) must be later than t_min_prev ({t_min_prev})")
        if not output_layer and not (math.isfinite(X_n) and X_n > 0):
            raise ValueError(f"X_n must be finite and > 0, got {X_n}")
        self.t_min_prev = float(t_min_prev)
        self.t_min = float(t_min)
        self.X_n = float(X_n)
        self.zeta = float(zeta)
        self.output_layer = bool(output_layer)
        self.noise = float(noise)
        self.alpha_noise = float(alpha_noise)
        self.seed = int(seed)
        self.solver = solver
        self.solver_elements = int(solver_elements)
        self.input_origin = float(input_origin)
        self.output_origin = float(output_origin)
        self._noise_seed = keras.random.SeedGenerator(self.seed) if self.noise > 0 else None

    # -- windows -------------------------------------------------------------------
    @property
    def window(self) -> mapping.Window:
        """The layer's :class:`snnmap.mapping.Window`."""
        if self.output_layer:
            return mapping.Window(self.t_min_prev, self.t_min, self.t_min)
        return mapping.Window(self.t_min_prev, self.t_min, self.t_min + (1.0 + self.zeta) * self.X_n)

    @property
    def t_max(self) -> float:
        return self.window.t_max

    @property
    def time_shift(self) -> float:
        """Output value minus local time ``s``: ``t_min(n) - output_origin``."""
        return self.t_min - self.output_origin

    def global_times(self, inputs, outputs):
        """``(inputs, outputs)`` of this layer as float64 global times (outputs of the output
        layer, the logits, are returned as they are)."""
        t_in = np.asarray(inputs, np.float64) + self.input_origin
        return t_in, np.asarray(outputs, np.float64) + (0.0 if self.output_layer else self.output_origin)

    def local_inputs(self, t):
        """``u = t - t_min(n)``, the local input times of MAPPING §2 as the synapse operator
        reads them (:meth:`arrange_inputs`), from inputs ``t`` in this layer's frame."""
        return self.arrange_inputs(t - (self.window.t_min - self.input_origin))

    # -- what subclasses provide ------------------------------------------------------
    def arrange_inputs(self, u):
        """Local input times as the synapse operator reads them (e.g. explicitly padded)."""
        return u

    def kernel_shape(self, input_shape):
        raise NotImplementedError

    def neuron_shape(self, input_shape):
        """Shape of the layer's neurons without the batch axis."""
        raise NotImplementedError

    def synapse(self, x, kernel):
        """``sum_j kernel_ij x_j`` for every neuron i: shape ``(batch,) + neuron_shape``."""
        raise NotImplementedError

    def fan_in_sum(self, kernel):
        """``sum_j kernel_ij``, broadcastable against ``neuron_shape``."""
        raise NotImplementedError

    def receptive_fields(self, u, kernel, index):
        """Inputs and weights of the neurons with flat indices ``index``.

        Returns ``(u_pairs, j_pairs)``, both ``(len(index), R)``, where the flat index
        runs over ``batch x neuron_shape`` in row-major order.
        """
        raise NotImplementedError

    # -- Keras -----------------------------------------------------------------------
    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_shape(input_shape), initializer="zeros", trainable=False
        )
        shape = self.neuron_shape(input_shape)
        if self.output_layer:
            self.alpha = self.add_weight(name="alpha", shape=shape, initializer="zeros", trainable=False)
            self.threshold = None
        else:
            self.threshold = self.add_weight(
                name="threshold", shape=shape, initializer="ones", trainable=False
            )
            perturbation = np.random.default_rng(self.seed).normal(0.0, 1.0, size=shape)
            alpha0 = 1.0 + self.alpha_noise * perturbation
            self.alpha = self.add_weight(
                name="alpha",
                shape=shape,
                initializer=lambda shape, dtype=None: ops.convert_to_tensor(alpha0, dtype=dtype),
                trainable=False,
            )
            # Derived by set_relu_params, in float64 (spiketime.crossing_params): 1 / a with
            # a = alpha + sum_j J, and the closed form's intercept c = (theta - alpha T_in) / a
            # as an output value, c + time_shift (0 and B + time_shift where a <= 0).
            self.inv_slope = self.add_weight(name="inv_slope", shape=shape, initializer="ones", trainable=False)
            self.offset = self.add_weight(name="offset", shape=shape, initializer="zeros", trainable=False)
            # Kernels derived by set_relu_params once instead of in every call (for deep layers
            # with small batches, kernel-sized passes would cost more than the synapse products),
            # in float32 for the bounds: J+ for the certificate, J+ and J- for the grid bound.
            k_shape = self.kernel_shape(input_shape)
            self.kernel_pos = self.add_weight(name="kernel_pos", shape=k_shape, initializer="zeros",
                                              trainable=False, dtype="float32")
            self.kernel_neg = self.add_weight(name="kernel_neg", shape=k_shape, initializer="zeros",
                                              trainable=False, dtype="float32")
            if self.bf16_grid:
                # bfloat16 copies for the grid bounds' products (spiketime.bf16_products).
                self.kernel_pos16 = self.add_weight(name="kernel_pos16", shape=k_shape, initializer="zeros",
                                                    trainable=False, dtype="bfloat16")
                self.kernel_neg16 = self.add_weight(name="kernel_neg16", shape=k_shape, initializer="zeros",
                                                    trainable=False, dtype="bfloat16")
            # Per neuron (last axis of the neuron shape): sum_j J, and for the bounds sum_j J-,
            # max_j J-, ||J-||_2 and sum_j |J| (rounded up where they bound).
            self.kernel_stats = self.add_weight(name="kernel_stats", shape=(5, k_shape[-1]), initializer="zeros",
                                                trainable=False)
        self._n_neurons = int(np.prod(shape))
        self._fan_in = int(np.prod(self.kernel_shape(input_shape)[:-1]))
        self.built = True

    def set_relu_params(self, w, b):
        """Set the spiking parameters from a preprocessed ReLU layer ``y = W^T x + b``.

        Hidden layers get ``J`` and ``theta`` of MAPPING §3 (nominal ``alpha = 1``; a
        perturbed ``alpha`` from ``alpha_noise`` is kept); the output layer gets
        ``W`` and ``alpha = b / (t_min(N) - t_min(N-1))``.

        Parameters
        ----------
        w : ndarray
            Kernel in the layout of the matching Keras layer.
        b : ndarray
            Bias, broadcastable to the neuron shape (per unit, per channel, or a
            per-position bias map).
        """
        if not self.built:
            raise RuntimeError(f"layer {self.name!r} must be built before its parameters are set")
        w = np.asarray(w, dtype=np.float64)
        if tuple(w.shape) != tuple(self.kernel.shape):
            raise ValueError(
                f"layer {self.name!r}: kernel of shape {w.shape} does not match {tuple(self.kernel.shape)}"
            )
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), tuple(self.alpha.shape))
        for name, value in (("kernel", w), ("bias", b)):
            if not np.all(np.isfinite(value)):
                raise ValueError(f"layer {self.name!r}: {name} contains NaN or infinite values")
        if self.output_layer:
            kernel, alpha = mapping.output_params(w, b, self.window)
            self.alpha.assign(alpha)
        else:
            kernel, theta = mapping.hidden_params(w, b, self.window)
            self.threshold.assign(theta)
        if self.weight_bits:
            kernel = mapping.quantize_weights(kernel, self.weight_bits, self.w_min, self.w_max)
        self.kernel.assign(kernel)
        if not self.output_layer:
            alpha = np.asarray(ops.convert_to_numpy(self.alpha), np.float64)  # with its perturbation
            j_sum = np.asarray(ops.convert_to_numpy(self.fan_in_sum(ops.convert_to_tensor(kernel))), np.float64)
            inv_slope, offset = spiketime.crossing_params(alpha, j_sum, theta, self.window.input_length,
                                                          self.window.length)
            self.inv_slope.assign(ops.convert_to_numpy(inv_slope))
            self.offset.assign(ops.convert_to_numpy(offset) + self.time_shift)
            j_pos, j_neg = np.maximum(kernel, 0.0), np.maximum(-kernel, 0.0)
            self.kernel_pos.assign(j_pos.astype(np.float32))
            self.kernel_neg.assign(j_neg.astype(np.float32))
            if self.bf16_grid:  # rounded to nearest
                self.kernel_pos16.assign(j_pos.astype(np.float32))
                self.kernel_neg16.assign(j_neg.astype(np.float32))
            self.kernel_stats.assign(kernel_stats(kernel, self.compute_dtype))

    def _perturb(self, t):
        """Input spike times as the neurons receive them: jittered, then quantised."""
        if self._noise_seed is not None:
            t = t + keras.random.normal(ops.shape(t), stddev=self.noise, dtype=t.dtype, seed=self._noise_seed)
        if self.time_bits:
            window = self.window
            step = window.input_length / (2 ** self.time_bits - 1)
            start = window.t_min_prev - self.input_origin
            level = ops.clip(ops.round((t - start) / step), 0, 2 ** self.time_bits - 1)
            t = start + level * step
        return t

    def call(self, inputs):
        t = self._perturb(ops.cast(inputs, self.compute_dtype))
        window = self.window
        t_in = window.input_length
        u = self.local_inputs(t)
        if self.output_layer:
            # V(t_min(N)) = alpha T_in + sum_j W_ij max(0, t_min(N) - t_j).
            return self.synapse(ops.relu(-u), self.kernel) + self.alpha * t_in

        kernel, alpha, theta = self.kernel, self.alpha, self.threshold
        b = window.length
        product = self.synapse(u, kernel)
        # Closed form directly in the output frame: no large shift after it (float32).
        s = self._closed_form(product, b + self.time_shift)
        if self.solver == "scan":
            return self.scan_all(u, kernel, alpha, theta, t_in, b, s)
        ends = self.last_arrival_terms(u, t_in, product)
        if self.solver == "exact":
            open_ = self.block_open(u, ends, theta, t_in, EXACT_BLOCKS)
        else:
            open_ = self.certified_open(ends, theta, t_in)
            open_ = self._refine_free(open_, u, ends, theta, t_in)
            open_ = self.cascade_open(open_, u, ends, theta, t_in)
        return self.solve_open(u, kernel, alpha, theta, t_in, b, s, open_)

    def _compiled(self, key, make):
        """The elementwise function ``make()``, made once per layer (under ``key``) and compiled
        as one pass (:func:`snnmap.spiketime.fused`) in layers of at least FUSE_NEURONS
        neurons: op by op, every operation is a pass over the batch's neurons."""
        fn = self.__dict__.get(key)
        if fn is None:
            fn = make()
            if self._n_neurons >= FUSE_NEURONS:
                fn = spiketime.fused(fn)
            self.__dict__[key] = fn
        return fn

    def _closed_form(self, product, window):
        """:func:`snnmap.spiketime.closed_form` of the layer's neurons (:meth:`_compiled`)."""
        fn = self._compiled("_closed_form_fn", lambda: spiketime.closed_form)
        return fn(_tensor(self.inv_slope), _tensor(self.offset), product, window)

    @property
    def grid_stages(self):
        """The stages :meth:`cascade_open` tries in ``solver="auto"``: one point of GRID_POINTS
        each, or the one grid of GRID_SMALL intervals for layers under GRID_LATER_WORK
        multiply-adds per image."""
        if self._fan_in * self._n_neurons >= GRID_LATER_WORK:
            return tuple((f,) for f in GRID_POINTS)
        return (GRID_SMALL,)

    @property
    def grid_stages_few(self):
        """The stages :meth:`cascade_open` takes instead of :attr:`grid_stages` where few pairs
        are open (GRID_POINTS_FEW), or ``None``."""
        # Compared with the stages themselves, so a subclass's own grid_stages (SpikingDense's
        # direct grid) takes no alternative.
        main = tuple((f,) for f in GRID_POINTS)
        return tuple((f,) for f in GRID_POINTS_FEW) if self.grid_stages == main else None

    def _refine_free(self, open_, u, ends, theta, t_in):
        """``open_`` and the one-interval bound of :meth:`open_neurons` (no product), for the
        open neurons only (gathered), when they are at most FREE_OPEN of the batch's neurons;
        more open neurons go to the grid bounds, which imply it."""
        pairs = float(self._n_neurons) * ops.cast(ops.shape(u)[0], "float32")
        n_open = ops.sum(ops.cast(open_, "float32"))
        return ops.cond(n_open > FREE_OPEN * pairs, lambda: open_,
                        lambda: self._free_open_pairs(open_, u, ends, theta, t_in))

    def _free_open_pairs(self, open_, u, ends, theta, t_in):
        """The one-interval bound of :meth:`open_neurons` for the (image, neuron) pairs where
        ``open_`` holds, from their gathered terms; the others stay closed."""
        n, channels = self._n_neurons, int(self.alpha.shape[-1])
        count = ops.reshape(self.receptive_count(ops.cast(u < ends.tau, "float32")), (-1,))
        flat = lambda x: ops.reshape(x, (-1,))  # noqa: E731
        p, product = flat(ends.p), flat(ends.product)
        tau, before = flat(ends.tau), flat(ends.before)
        alpha, theta_f = flat(self.alpha), flat(theta)
        stats = ops.convert_to_tensor(self.kernel_stats)
        dtype = u.dtype

        def solve(index):
            image, neuron = index // n, index % n
            terms = self._tau_bounds(ops.take(tau, image), ops.take(p, index), ops.take(product, index),
                                     ops.take(count, index // channels), ops.take(alpha, neuron),
                                     ops.take(stats, neuron % channels, axis=1), t_in)
            return ops.cast(self._grid_top(None, terms, ops.take(before, image), ops.take(alpha, neuron),
                                           ops.take(theta_f, neuron), t_in), dtype)

        chunk = max(1, self.solver_elements // 16)
        mask = flat(open_)
        return ops.reshape(spiketime.solve_pairs(mask, ops.cast(mask, dtype), solve, chunk) > 0.5, ops.shape(open_))

    def cascade_open(self, open_, u, ends, theta, t_in, stages=None, few=None):
        """``open_`` refined by the grid bounds of :meth:`open_neurons`, stage by stage, a
        bounded number of images at a time.

        Each stage adds inner points to the grid of the one before (:func:`cascade_grids`): an
        int ``G`` the points ``k/G``, a sequence its own quantiles; ``(2, 4, 8)`` are the grids
        of 2, 4 and 8 intervals, ``((0.35,), (0.7,))`` adds one point per stage.  ``few``: the
        stages used instead on chunks where at most GRID_MANY_OPEN of the pairs are open in
        ``open_`` (:func:`aligned_points`).  Without ``stages``: the layer's own,
        :attr:`grid_stages` and :attr:`grid_stages_few`.

        On each chunk of images the first stage runs if the event solver would otherwise
        read more inputs than the chunk has neurons (times GRID_WORK), and each later one
        while that still holds and more than GRID_LATER of the chunk's neurons are open
        (:func:`grid_needed`).  A stage reuses the products of the points before it and
        computes two (``J+``, ``J-``) per new point (float32, or bfloat16:
        :meth:`_raw_products`): 2, 4 and 8 intervals cost 2, 6 and 14 synapse products in all.
        The products live inside the chunk only: between stages nothing larger than the
        chunk's mask is carried.

        Where shapes may vary (:func:`snnmap.spiketime.shapes_may_vary`), each stage computes
        its new products only in the output channels that still have an open neuron in the
        chunk (:meth:`_open_channels`): in networks with random weights the neurons the
        certificate leaves open crowd into a few channels."""
        if stages is None:
            stages, few = self.grid_stages, self.grid_stages_few
        grids = cascade_grids(stages)
        swap = None if few is None else aligned_points(stages, few)
        pairs_per_image = float(self._n_neurons)
        subsets = spiketime.shapes_may_vary()

        def refine(mask, sub, part):
            pairs = pairs_per_image * ops.cast(ops.shape(sub)[0], "float32")
            use_few = None if swap is None else ops.sum(ops.cast(mask, "float32")) <= GRID_MANY_OPEN * pairs

            def needed(mask, later):
                return grid_needed(ops.sum(ops.cast(mask, "float32")), self._fan_in, pairs, later)

            def stage(k, mask, prior):
                last = k == len(grids) - 1
                out = self.open_neurons(sub, self.kernel, self.alpha, theta, t_in, grids[k], part,
                                        prior=prior, keep=not last,
                                        channels=self._open_channels(mask) if subsets else None,
                                        alternative=None if swap is None else
                                        (tuple(swap[f] for f in grids[k]), use_few))
                if last:
                    return ops.logical_and(mask, out)
                mask = ops.logical_and(mask, out[0])
                return ops.cond(needed(mask, True), lambda: stage(k + 1, mask, out[1]), lambda: mask)

            return ops.cond(needed(mask, False), lambda: stage(0, mask, None), lambda: mask)

        return self._by_images(open_, u, ends, len(grids[-1]) + 1, refine)

    def _open_channels(self, mask):
        """Ascending indices of the output channels (last axis) with an open neuron in ``mask``,
        padded with closed ones to a multiple of ``max(CHANNEL_STEP, width // CHANNEL_BLOCKS)``;
        all channels where that would leave out less than CHANNEL_SPARE of them (the subset's
        gathers would not pay)."""
        width = int(mask.shape[-1])
        step = max(CHANNEL_STEP, width // CHANNEL_BLOCKS)
        active = ops.any(ops.reshape(mask, (-1, width)), axis=0)
        size = (ops.sum(ops.cast(active, "int32")) + step - 1) // step * step
        size = ops.where(size > int((1 - CHANNEL_SPARE) * width), width, size)
        _, picked = ops.top_k(ops.cast(active, "float32"), size, sorted=True)
        return ops.sort(picked)

    def block_open(self, u, ends, theta, t_in, blocks):
        """:meth:`open_neurons` with the grid ``blocks`` (intervals, or inner points' quantiles:
        :func:`grid_points`) for every neuron, a bounded number of images at a time."""
        def refine(mask, sub, part):
            return self.open_neurons(sub, self.kernel, self.alpha, theta, t_in, blocks, part)

        every = ops.ones((ops.shape(u)[0],) + tuple(self.alpha.shape), "bool")
        return self._by_images(every, u, ends, len(inner_points(blocks)) + 1, refine)

    def _by_images(self, open_, u, ends, blocks, refine):
        """``refine(mask, u, ends)`` on chunks of the images that have open neurons (the
        others keep ``open_``), as many per chunk as a grid of ``blocks`` intervals fits in
        ``GRID_CHUNK solver_elements`` values (its stacked inputs and outputs)."""
        per_image = 3 * blocks * (int(np.prod(u.shape[1:])) + self._n_neurons)
        rows = max(1, (GRID_CHUNK * self.solver_elements) // per_image)
        if u.shape[0] is not None:
            rows = min(rows, int(u.shape[0]))

        def solve(index):
            part = LastArrival(*(ops.take(v, index, axis=0) for v in ends))
            mask = refine(ops.take(open_, index, axis=0), ops.take(u, index, axis=0), part)
            return ops.cast(mask, "float32")

        images = ops.any(open_, axis=tuple(range(1, len(open_.shape))))
        values = spiketime.solve_pairs(images, ops.cast(open_, "float32"), solve, rows, small_chunk=1)
        return values > 0.5

    def _nonnegative_bounds(self, y, dtype):
        """``(upper, lower)`` bounds, in ``dtype``, of the exact synapse product of a
        non-negative input with a non-negative kernel whose float32 value is ``y``: twice the
        worst-case relative error of a float32 sum of ``R`` such terms, in any order."""
        terms = (self._fan_in + 2) * 2.0 ** -24
        gamma = 2 * terms / (1 - terms)
        y = ops.cast(y, dtype)
        return y * (1 + gamma), y * (1 - gamma)

    def _raw_products(self, ramps, kernels, channels=None):
        """``[y, ...]``: the synapse products of non-negative ``ramps`` with each of
        ``kernels`` (``"pos"`` for ``J+``, ``"neg"`` for ``J-``), in :meth:`_product_dtype`
        (the ramps are cast once for all kernels, unless :meth:`_ramps` made them so).
        ``channels``: only these output channels are computed (:meth:`_channel_product`).
        :meth:`_product_bounds` rounds them outward."""
        dtype = self._product_dtype()
        bf16 = dtype == "bfloat16"
        x = ramps
        if x.dtype != dtype:
            x = ops.cast(ops.cast(x, "float32"), dtype)
        kernels = [getattr(self, f"kernel_{name}{'16' if bf16 else ''}") for name in kernels]
        if channels is None:
            return [self.synapse(x, kernel) for kernel in kernels]
        return [self._channel_product(x, kernel, channels) for kernel in kernels]

    def _product_dtype(self):
        """The bounds' products' dtype: bfloat16 where :attr:`bf16_grid` and
        :func:`snnmap.spiketime.bf16_products` allow it, else float32."""
        return "bfloat16" if self.bf16_grid and spiketime.bf16_products() else "float32"

    def _ramps(self, points, u):
        """``max(0, g - u_j)`` for each point ``g`` of ``points`` (``(batch, 1, ...)``, or
        point-major ``(m, batch, 1, ...)``), point-major ``(-1,) + u.shape[1:]``, rounded once
        to the dtype of :meth:`_raw_products`; one compiled pass over the inputs in large layers
        (:func:`snnmap.spiketime.fused`), where op by op it would take three."""
        dtype = self._product_dtype()
        in_shape = tuple(u.shape[1:])  # u: (batch, ...), the layer's inputs

        def make():
            def fn(points, u):
                x = ops.cast(ops.reshape(ops.relu(points - u), (-1,) + in_shape), "float32")
                return x if dtype == "float32" else ops.cast(x, dtype)
            return fn

        return self._compiled(f"_ramps_fn_{dtype}", make)(points, u)

    def _channel_product(self, x, kernel, channels):
        """``synapse(x, kernel)`` in the output channels ``channels`` (ascending indices) and 0 in
        the others, at the cost of those channels: the kernel's columns are gathered by one
        compiled gather (TensorFlow's own gather along the last axis is several times slower),
        and their product is spread back to every channel (:func:`_spread_one_hot`, or
        :func:`_spread_gather` from SPREAD_GATHER channels on), which copies each value exactly.
        All channels (``len(channels)`` = the layer's) take the plain product."""
        width = int(kernel.shape[-1])
        count = ops.shape(channels)[0]

        def some():
            y = self.synapse(x, _compiled_once("take_last", _take_last)(_tensor(kernel), channels))
            flat = ops.reshape(y, (-1, count))
            spread = ops.cond(count < SPREAD_GATHER, lambda: _spread_one_hot(flat, channels, width),
                              lambda: _compiled_once("spread", _spread_gather, width)(flat, channels))
            return ops.reshape(spread, tuple(ops.shape(y)[:-1]) + (width,))

        return ops.cond(count < width, some, lambda: self.synapse(x, kernel))

    def _product_bounds(self, y):
        """``(upper, lower)`` float32 bounds of the exact product whose :meth:`_raw_products`
        value is ``y``: :meth:`_bf16_bounds` for a bfloat16 product, else
        :meth:`_nonnegative_bounds`."""
        if keras.backend.standardize_dtype(y.dtype) == "bfloat16":
            return self._bf16_bounds(y)
        return self._nonnegative_bounds(y, "float32")

    def grid_bounds(self, kept):
        """``(P up, N down, N up)`` at the inner points of a grid, each a list in grid order of
        ``(batch,) + neuron_shape`` tensors, from its :class:`GridProducts`."""
        p_up, n_lo, n_up = [], [], []
        for stack, index in kept.order:
            y_p, y_n = kept.stacks[stack]
            p_up.append(self._product_bounds(y_p[index])[0])
            up, lo = self._product_bounds(y_n[index])
            n_up.append(up)
            n_lo.append(lo)
        return p_up, n_lo, n_up

    def _bf16_bounds(self, y):
        """``(upper, lower)`` float32 bounds of the exact product of non-negative inputs and
        kernel whose bfloat16 product (float32 accumulation) is ``y``.

        Each input and weight was rounded to bfloat16 and the result rounded again: three
        factors ``1 +- u`` (``u`` = :data:`snnmap.spiketime.BF16_ROUNDOFF`); the float32 sum of
        ``R`` non-negative products (exact in float32) is within ``gamma_R = (R + 2) 2**-24 /
        (1 - (R + 2) 2**-24)`` of theirs in any order; products flushed to zero as subnormals
        lose less than ``1e-25`` in all.  The float32 arithmetic here gets ``2**-20`` more."""
        u = spiketime.BF16_ROUNDOFF
        terms = (self._fan_in + 2) * 2.0 ** -24
        gamma = terms / (1 - terms)
        up = (1 + 2.0 ** -20) / ((1 - u) ** 3 * (1 - gamma))
        lo = (1 - 2.0 ** -20) / ((1 + u) ** 3 * (1 + gamma))
        y = ops.cast(y, "float32")
        return y * up + 1e-25, y * lo

    def receptive_count(self, mask):
        """``sum_j mask_j`` over the inputs of the neurons at each position: shape ``(batch,)
        + neuron_shape[:-1] + (1,)``; ``mask`` has the shape of :meth:`arrange_inputs`' output."""
        raise NotImplementedError

    def last_arrival_terms(self, u, t_in, product=None):
        """The per-call tensors every bound of :meth:`open_neurons` starts from.

        ``u`` are the local input times after :meth:`arrange_inputs`; ``tau`` is the last
        arrival of each image (at least ``-T_in``); ``p`` MAPPING §3's certificate product
        ``P(tau) = sum_j J+_ij (tau - u_j)`` as :meth:`_raw_products` leaves it (bfloat16 where
        the grid bounds' products are; :meth:`_product_bounds` rounds it outward where it is used);
        ``product`` the closed form's own ``sum_j J_ij u_j`` (computed here if not given).  See
        :meth:`_tau_bounds`.
        """
        axes = tuple(range(1, len(u.shape)))
        tau = ops.maximum(ops.max(u, axis=axes, keepdims=True), -t_in)
        if product is None:
            product = self.synapse(u, self.kernel)
        # bfloat16's wider rounding of P(tau) costs the grid bounds little: their last interval
        # is tight at tau whatever P(tau)'s bracket (_last_interval_top).  On the 16-layer VGG
        # at 224x224 it saves 4 % of the SNN's time against a float32 product.
        (p,) = self._raw_products(self._ramps(tau, u), ("pos",))
        before = ops.min(u, axis=axes, keepdims=True) < -t_in
        return LastArrival(tau, p, product, before)

    def certificate(self, ends, t_in):
        """MAPPING §3's ``U(tau) = max(alpha, 0) (tau + T_in) + P(tau) >= V(s)`` for ``s <= tau``,
        ``P(tau)`` rounded up."""
        return ops.relu(self.alpha) * (ends.tau + t_in) + ops.cast(self._product_bounds(ends.p)[0], ends.tau.dtype)

    def certified_open(self, ends, theta, t_in):
        """``certificate(ends, t_in) >= theta``: the neurons MAPPING §3's certificate leaves open;
        one pass in large layers (:meth:`_compiled`)."""
        def make():
            def fn(tau, p, alpha, theta):
                return self.certificate(LastArrival(tau, p, None, None), t_in) >= theta
            return fn

        return self._compiled("_certified_open_fn", make)(ends.tau, ends.p, _tensor(self.alpha), _tensor(theta))

    def _tau_bounds(self, tau, p, product, count, alpha, stats, t_in):
        """Bounds at the last arrival ``tau`` (elementwise; dense tensors or gathered pairs).

        With ``V(s) = alpha (s + T_in) + P(s) - N(s)`` (see :meth:`open_neurons`):

        * ``P(tau)`` between ``p_lo`` and ``p_up``, the bounds of its product ``p`` (:meth:`_product_bounds`);
        * ``V(tau) = alpha (tau + T_in) + tau sum_j J_ij - product``, no product of its own,
          with a bound on the rounding of ``product``: ``gamma_R sum_j |J_ij u_j| <= gamma_R
          (P + N + |tau| sum_j |J_ij|)``, and ``N <= |alpha| (tau + T_in) + P + |V|``;
        * hence ``N(tau) = alpha (tau + T_in) + P(tau) - V(tau)`` on both sides, for free;
        * ``cap >= N'(s) = sum_{u_j < s} J-_ij`` for every ``s < tau``: only the ``n = count``
          inputs of the neuron that arrive before ``tau`` count, so ``cap = min(sum_j J-_ij,
          n max_j J-_ij, sqrt(n) ||J-_i||_2)`` (the last by Cauchy-Schwarz).

        ``stats`` are the rows of ``kernel_stats``.  Returns ``(p_up, n_lo, n_up, cap, tau, p_lo,
        n_tied)``: ``n_tied = alpha (tau + T_in) + p_lo - V(tau)_up``, the value N(tau) would
        have if P(tau) were ``p_lo`` (not clipped at 0: :meth:`_grid_top` pairs it with ``p_lo``).
        """
        dtype = tau.dtype
        p_up, p_lo = (ops.cast(v, dtype) for v in self._product_bounds(p))
        j_sum, neg_sum, neg_max, neg_norm, abs_sum = (stats[k] for k in range(5))
        rise = alpha * (tau + t_in)
        v_tau = rise + tau * j_sum - product
        terms = (self._fan_in + 4) * float(np.finfo(np.dtype(self.compute_dtype)).eps) / 2
        gamma = 2 * terms / (1 - terms)
        err = gamma * (2 * p_up + ops.abs(rise) + ops.abs(v_tau) + ops.abs(tau) * abs_sum + ops.abs(product))
        n_up = rise + p_up - (v_tau - err)
        n_tied = rise + p_lo - (v_tau + err)
        cap = ops.minimum(ops.minimum(neg_sum, neg_max * ops.cast(count, dtype)),
                          neg_norm * ops.sqrt(ops.cast(count, dtype))) * (1 + 2.0 ** -20)
        return p_up, ops.relu(n_tied), n_up, cap, tau, p_lo, n_tied

    def open_neurons(self, u, kernel, alpha, theta, t_in, blocks=1, ends=None, prior=None, keep=False,
                     channels=None, alternative=None):
        """Neurons that may reach theta before their last input: they need the event solver.

        ``blocks``: the grid's intervals (an int), or its inner points' quantiles
        (:func:`grid_points`).

        ``u`` are the local input times after :meth:`arrange_inputs`, ``tau`` the last
        arrival of each image (at least ``-T_in``).  Write the potential on ``s >= -T_in``
        as ``V(s) = alpha (s + T_in) + P(s) - N(s)`` with ``P(s) = sum_j J+_ij max(0, s - u_j)``
        and ``N(s)`` the same with ``J-_ij = max(-J_ij, 0)``: both are non-decreasing and
        convex.  A neuron whose upper bound of V stays below theta on ``[-T_in, tau]``
        crosses after its last input, where the closed form is exact.

        The bound cuts ``[-T_in, tau]`` at a grid ``g_0 = -T_in < g_1 < ... < g_G = tau``
        (the inner points are the ``k/G`` quantiles, ``G = blocks``, or the given ones, of
        each image's inputs that arrive before ``tau``, the informative ones: in ReLU
        networks most inputs code 0 and all arrive at ``tau``; taken from an evenly strided
        sample of about :data:`GRID_SAMPLE` inputs).  On ``[g_{k-1}, g_k]`` convexity gives
        ``P`` below its chord and ``N`` above its tangents at both ends:

            V(s) <= alpha (s + T_in) + chord_P(s)
                    - max(N(g_{k-1}) + c_{k-1} (s - g_{k-1}),  N(g_k) - d_k (g_k - s)),

        for any slopes ``c_{k-1} <= N'(g_{k-1}+)`` and ``d_k >= N'(g_k-)``: the secant of the
        interval before ``g_{k-1}`` (0 at ``g_0``) and the smaller of the secant after
        ``g_k`` and ``cap`` (an upper bound of ``N'`` before ``tau``, see
        :meth:`_tau_bounds`).  The bound is concave and piecewise linear, largest where the
        two tangents cross (or at an end).  Everything at ``g_0`` and ``tau`` is known
        without a product of its own (``P(tau)`` from MAPPING §3's certificate, ``N(tau)``
        from the closed form's product), so ``blocks=1`` costs no synapse product and already
        follows the inhibition that arrives before ``tau``; each inner point costs two
        (``P`` with ``J+``, ``N`` with ``J-``), stacked into one product per kernel.  Unlike
        MAPPING §3's certificate the bound certifies neurons whose large excitatory and
        inhibitory sums cancel (common in networks with random weights).  ``P(g_0)``,
        ``N(g_0)`` are 0 unless an input arrives before ``-T_in`` (then the values at
        ``g_1`` bound them).

        Products are taken in float32 (several times faster than float64 on CPUs), rounded
        outward (``P`` up, ``N`` down or up as each use needs) by twice the worst-case
        relative error of a sum of ``R`` non-negative float32 terms, ``gamma_R = (R + 2) u /
        (1 - (R + 2) u)``, ``u = 2**-24``, in any summation order; in convolutions, where
        :func:`snnmap.spiketime.bf16_products` allows, in bfloat16 with float32 accumulation
        (twice as fast again), rounded outward by :meth:`_bf16_bounds`; the arithmetic after them,
        in float32 whatever the layer's dtype, gets a margin of 64 units of float32 roundoff
        on the magnitudes involved: the bound stays a bound.  ``kernel`` must be the layer's
        kernel (the float32 ``J+``, ``J-`` and per-neuron constants are derived from it by
        :meth:`set_relu_params`).  ``ends``: :meth:`last_arrival_terms` of ``u`` if the
        caller has them already.  ``prior``: the products kept by a grid whose inner points
        are among this one's, reused instead of computed again; ``keep``: also return this
        grid's products (:class:`GridProducts`, rounded outward only where they are used, by
        :meth:`grid_bounds`): the result is then ``(mask, products)``.  ``channels``: the new products are computed in these output
        channels only (:meth:`_channel_product`; 0 elsewhere): the mask is then valid only
        there (the caller's neurons elsewhere must be closed already).  ``alternative``:
        ``(points, use)``, quantiles taken instead of the grid's inner points (ascending, one
        for each), where the boolean ``use`` holds (their ranks must be the same: :func:`aligned_points`);
        a ``prior`` grid must have been picked the same way.
        """
        if ends is None:
            ends = self.last_arrival_terms(u, t_in)
        count = self.receptive_count(ops.cast(u < ends.tau, "float32"))
        inner = None
        points = inner_points(blocks)
        m = len(points)
        if m:
            batch = ops.shape(u)[0]
            in_shape = tuple(u.shape[1:])
            size = int(np.prod(in_shape))
            # Any grid gives a bound: quantiles of an evenly strided sample of the inputs are
            # as good and spare sorting them all.
            stride = max(1, size // GRID_SAMPLE)
            flat = ops.reshape(u, (batch, -1))[:, ::stride]
            size = -(-size // stride)
            tau_flat = ops.reshape(ends.tau, (batch, 1))
            # Informative arrivals first (ascending), then the ones at tau.
            early = ops.sum(ops.cast(flat < tau_flat, "int32"), axis=-1, keepdims=True)
            ordered = ops.sort(flat, axis=-1)
            picks = [(early * f.numerator) // f.denominator for f in points]
            if alternative is not None:
                # Same ranks (aligned_points): the grid stays in order whichever is picked.
                other, use = grid_points(alternative[0]), alternative[1]
                if len(other) != m or list(other) != sorted(set(other)):
                    raise ValueError(f"alternative points {[float(f) for f in other]}: need {m}, ascending")
                picks = [ops.where(use, (early * f.numerator) // f.denominator, pick)
                         for f, pick in zip(other, picks)]
            grid = ops.take_along_axis(ordered, ops.minimum(ops.concatenate(picks, axis=-1), size - 1), axis=-1)
            grid = ops.clip(grid, -t_in, tau_flat)  # (B, G-1); no informative input: every point at tau
            g = ops.reshape(ops.transpose(grid), (m, batch) + (1,) * len(in_shape))  # point-major stacks
            # A prior grid's points are picked by the same rule: only the others need products.
            known = () if prior is None else prior.points
            if not set(known) <= set(points):
                raise ValueError(f"the prior grid's points {known} are not among this grid's {points}")
            new = [i for i, f in enumerate(points) if f not in known]
            stacks = () if prior is None else prior.stacks
            if new:
                ramps = self._ramps(g if len(new) == m else ops.take(g, new, axis=0), u)
                out_shape = (len(new), batch) + tuple(ends.p.shape[1:])
                ys = self._raw_products(ramps, ("pos", "neg"), channels=channels)
                stacks += (tuple(ops.reshape(y, out_shape) for y in ys),)
            order = tuple((len(stacks) - 1, new.index(i)) if i in new else prior.order[known.index(f)]
                          for i, f in enumerate(points))
            inner = (g, GridProducts(stacks, order, points))
        evaluate = self._compiled("_fused_bound_fn", lambda: self._bound_open)
        mask = evaluate(t_in, inner, ends.tau, ends.p, ends.product, count, ends.before, _tensor(alpha),
                        _tensor(theta))
        if not keep:
            return mask
        return mask, (GridProducts((), (), ()) if inner is None else inner[1])

    def _bound_open(self, t_in, inner, tau, p, product, count, before, alpha, theta):
        """:meth:`grid_bounds`, :meth:`_tau_bounds` then :meth:`_grid_top` (what
        ``_compiled`` fuses in large layers); ``inner``: ``None`` or ``(g, GridProducts)``."""
        terms = self._tau_bounds(tau, p, product, count, alpha, ops.convert_to_tensor(self.kernel_stats),
                                 t_in)
        if inner is not None:
            g = inner[0]
            inner = ([g[k] for k in range(int(g.shape[0]))],) + self.grid_bounds(inner[1])
        return self._grid_top(inner, terms, before, alpha, theta, t_in)

    def _grid_top(self, inner, terms, before, alpha, theta, t_in):
        """Whether the bound of :meth:`open_neurons` reaches ``theta - slack`` on some interval.

        ``inner``: ``None`` (one interval) or ``(g, P_up, N_lo, N_up)``, lists in grid order of
        the inner points' values; ``terms``: :meth:`_tau_bounds`.  Elementwise, so it serves
        dense tensors and gathered pairs alike; float32 from here on (the products are float32
        anyway: half the memory traffic of float64; the slack covers its rounding).  Written
        interval by interval on per-point tensors: compiled (:meth:`_compiled`), that is one
        pass over the neurons with no point-stacked intermediate in memory."""
        f32 = "float32"
        p_tau, n_tau_lo, n_tau_up, cap, tau, p_tau_lo, n_tied = (ops.cast(v, f32) for v in terms)
        alpha, theta = ops.cast(alpha, f32), ops.cast(theta, f32)
        g, p_in, n_in_lo, n_in_up = ([], [], [], []) if inner is None else inner
        # P (upper), N (lower and upper) at g_0..g_G.  Inputs before -T_in make P(g_0),
        # N(g_0) > 0: the values at g_1 bound them from above.
        zero = ops.zeros_like(p_tau)
        pts = [ops.full(ops.shape(tau), -t_in, f32)] + [ops.cast(x, f32) for x in g] + [tau]
        p_pts = [ops.where(before, p_in[0] if p_in else p_tau, zero)] + list(p_in) + [p_tau]
        n_pts = [zero] + list(n_in_lo) + [n_tau_lo]
        n_pts_up = [ops.where(before, n_in_up[0] if n_in_up else n_tau_up, zero)] + list(n_in_up) + [n_tau_up]
        intervals = range(1, len(pts))
        width = {k: pts[k] - pts[k - 1] for k in intervals}
        positive = {k: width[k] > 0 for k in intervals}
        safe = {k: ops.where(positive[k], width[k], 1.0) for k in intervals}
        # Tangent slopes from secants (N is convex): the secant of [g_{k-1}, g_k] is at most
        # N'(g_k-) <= N'(g_k+) and at least N'(g_{k-1}+) >= N'(g_{k-1}-), so a lower secant
        # serves the tangent to the right of g_k and an upper one the tangent to the left of
        # g_{k-1}; cap >= N'(s) for every s < tau caps the latter.
        sec_lo = {k: ops.where(positive[k], ops.relu(n_pts[k] - n_pts_up[k - 1]) / safe[k], 0.0) for k in intervals}
        v_pts = [alpha * (pts[k] + t_in) + p_pts[k] - n_pts[k] for k in range(len(pts))]
        scale = ops.abs(alpha) * (tau + t_in) + p_tau + n_tau_up + cap * (tau + t_in) + ops.abs(theta)
        level = theta - 64.0 * float(np.finfo(np.float32).eps) * scale
        reached = None
        for k in intervals:
            c_left = sec_lo[k - 1] if k > 1 else zero  # slope of the tangent at g_{k-1}
            d_right = cap  # ... at g_k
            if k + 1 in width:
                sec_up = ops.where(positive[k + 1], (n_pts_up[k + 1] - n_pts[k]) / safe[k + 1], cap)
                d_right = ops.minimum(sec_up, cap)
            # On the interval the bound is min(h1(s), h2(s)), h1 from the tangent at g_{k-1} and
            # h2 from the one at g_k: h1 = V(g_{k-1}) <= h2 at g_{k-1}, h2 = V(g_k) <= h1 at g_k
            # (c <= secant <= d), so its maximum is where they cross, at the share e1 / (e1 + e2)
            # of the way from V(g_{k-1}) to h1(g_k) = V(g_k) + e2.
            rise = n_pts[k] - n_pts[k - 1]
            e1 = ops.relu(d_right * width[k] - rise)
            e2 = ops.relu(rise - c_left * width[k])
            total = e1 + e2
            share = e1 / ops.where(total > 0, total, 1.0)
            cross = v_pts[k - 1] + share * (v_pts[k] - v_pts[k - 1] + e2)
            top = ops.maximum(ops.maximum(v_pts[k - 1], v_pts[k]), cross)
            if k == len(pts) - 1:
                top = ops.minimum(top, self._last_interval_top(
                    v_pts[k - 1], p_pts[k - 1], n_pts[k - 1], pts[k - 1], width[k], c_left, d_right,
                    p_tau, p_tau_lo, n_tied, tau, alpha, t_in))
            hit = top >= level
            reached = hit if reached is None else ops.logical_or(reached, hit)
        return reached

    @staticmethod
    def _last_interval_top(v_a, p_a, n_a, a, width, c, d, p_up, p_lo, n_tied, tau, alpha, t_in):
        """A second bound of ``max V`` on the last interval ``[a, tau]`` of :meth:`_grid_top`, tight
        at ``tau`` where ``P(tau)`` is known only within ``[p_lo, p_up]`` but ``P(tau) - N(tau)``
        is known from the closed form's product (:meth:`_tau_bounds`).

        With ``l = (s - a) / width``: ``h1(s) = alpha (s + T_in) + (1 - l) P(a) + l P(tau) - N(a)
        - c (s - a)`` grows with ``P(tau)``: ``p_up`` bounds it.  ``h2(s) = alpha (s + T_in) + (1 -
        l) P(a) + l P(tau) - N(tau) + d (tau - s)``, with ``N(tau) = P(tau) - (V(tau) - alpha (tau
        + T_in))``, falls as ``P(tau)`` grows: ``p_lo`` with ``n_tied`` bounds it, and ``h2(tau) =
        V(tau)`` (rounded up).  ``V <= min(h1, h2)``, two lines: the top is at an end or where
        they cross."""
        h1a, h2b = v_a, alpha * (tau + t_in) + p_lo - n_tied
        h1b = alpha * (tau + t_in) + p_up - n_a - c * width
        h2a = alpha * (a + t_in) + p_a - n_tied + d * width
        da, db = h1a - h2a, h1b - h2b
        crosses = da * db < 0
        share = da / ops.where(crosses, da - db, 1.0)
        ends = ops.maximum(ops.minimum(h1a, h2a), ops.minimum(h1b, h2b))
        return ops.where(crosses, ops.maximum(ends, h1a + share * (h1b - h1a)), ends)

    def solve_open(self, u, kernel, alpha, theta, t_in, window, s, open_):
        """Exact event-driven spike times for the neurons where ``open_`` holds, in chunks.

        ``s`` (closed-form values) and the result are output values (local time plus
        :attr:`time_shift`); ``window`` is ``B`` in local time."""
        alpha_flat = ops.reshape(alpha, (-1,))
        theta_flat = ops.reshape(theta, (-1,))
        n = self._n_neurons

        sort = spiketime.sort_early_inputs if spiketime.shapes_may_vary() else spiketime.sort_inputs

        s_flat = ops.reshape(s, (-1,))
        shift = self.time_shift

        def solve(index):
            e, j = sort(*self.receptive_fields(u, kernel, index))
            neuron = index % n
            r = spiketime.first_crossing(
                e, j, ops.take(alpha_flat, neuron), ops.take(theta_flat, neuron), t_in, window
            )
            # A crossing after the last input is the closed form's, which is better
            # conditioned (float32): most neurons left open were open by a loose bound.
            return ops.where(r > ops.maximum(e[:, -1], -t_in), ops.take(s_flat, index), r + shift)

        chunk = max(1, self.solver_elements // max(1, self._fan_in))
        flat = spiketime.solve_pairs(ops.reshape(open_, (-1,)), s_flat, solve, chunk)
        return ops.reshape(flat, ops.shape(s))

    def scan_all(self, u, kernel, alpha, theta, t_in, window, s):
        """Every neuron's input events scanned one by one (``solver="scan"``)."""
        return self.solve_open(u, kernel, alpha, theta, t_in, window, s, ops.ones_like(s, dtype="bool"))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.neuron_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            t_min_prev=self.t_min_prev,
            t_min=self.t_min,
            X_n=self.X_n,
            zeta=self.zeta,
            output_layer=self.output_layer,
            noise=self.noise,
            alpha_noise=self.alpha_noise,
            seed=self.seed,
            solver=self.solver,
            solver_elements=self.solver_elements,
            time_bits=self.time_bits,
            weight_bits=self.weight_bits,
            w_min=self.w_min,
            w_max=self.w_max,
            input_origin=self.input_origin,
            output_origin=self.output_origin,
        )
        return config


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingDense(SpikingLayer):
    """Fully connected single-spike layer (the spiking twin of ``keras.layers.Dense``).

    Input: spike times ``(batch, n_in)``.  Output: spike times ``(batch, units)`` of the
    hidden neurons in ``[t_min_prev, t_max]`` (``t_max - t`` codes ``ReLU(W^T x + b)``
    exactly where MAPPING §3 (a) and (b) hold; elsewhere the spike the dynamics really
    produce), or, with ``output_layer=True``, the readout ``V(t_min)`` = the logits.

    Parameters
    ----------
    units : int
        Number of neurons.
    **kwargs
        See :class:`SpikingLayer` (windows, ``X_n``, ``zeta``, ``noise``,
        ``alpha_noise``, ``seed``, ``solver``, ``dtype``).
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        if self.units <= 0:
            raise ValueError(f"units must be a positive integer, got {units}")

    def kernel_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"SpikingDense {self.name!r} expects inputs of shape (batch, n_in), got "
                f"{tuple(input_shape)}; flatten spike times first"
            )
        return (int(input_shape[-1]), self.units)

    def neuron_shape(self, input_shape):
        return (self.units,)

    def synapse(self, x, kernel):
        return ops.matmul(x, kernel)

    def fan_in_sum(self, kernel):
        return ops.sum(kernel, axis=0)

    def receptive_count(self, mask):
        return ops.sum(mask, axis=-1, keepdims=True)

    @property
    def grid_stages(self):
        """As :attr:`SpikingLayer.grid_stages`, but kernels of at least DENSE_DIRECT_WEIGHTS
        weights take one grid of DENSE_DIRECT_BLOCKS intervals."""
        stages = super().grid_stages
        return (DENSE_DIRECT_BLOCKS,) if self._fan_in * self.units >= DENSE_DIRECT_WEIGHTS else stages

    def receptive_fields(self, u, kernel, index):
        sample = index // self.units
        return ops.take(u, sample, axis=0), ops.transpose(ops.take(kernel, index % self.units, axis=1))

    def scan_all(self, u, kernel, alpha, theta, t_in, window, s):
        """Every neuron of a sample shares its inputs: sort them once per sample.

        Sample by sample (a bounded number at a time), the weights are gathered in the
        order the inputs arrive and scanned along that axis for all neurons at once.
        Inputs that arrive together with the sample's last input add one aggregate
        breakpoint instead of one each; on TensorFlow, whose shapes may vary, the scan
        covers only the earlier inputs (the informative ones, in the noise-free case).
        """
        n_in = int(kernel.shape[0])
        dynamic = spiketime.shapes_may_vary()
        j_sum = ops.sum(kernel, axis=0)

        def solve(index):
            batch = ops.take(u, index, axis=0)
            order = ops.argsort(batch, axis=-1)
            us = ops.take_along_axis(batch, order, axis=-1)
            last = us[:, -1:]
            if dynamic:
                m = ops.maximum(ops.max(ops.sum(ops.cast(us < last, "int32"), axis=-1)), 1)
                us, order = us[:, :m], order[:, :m]
            j = ops.take(kernel, order, axis=0)  # (c, m, units)
            rest = j_sum - ops.sum(j, axis=1)
            e = ops.concatenate([us, last], axis=-1)[:, :, None]
            j = ops.concatenate([j, rest[:, None, :]], axis=1)
            return spiketime.first_crossing(e, j, alpha, theta, t_in, window, axis=1) + self.time_shift

        rows = max(1, (4 * self.solver_elements) // max(1, n_in * self.units))
        return spiketime.solve_pairs(ops.ones((ops.shape(s)[0],), "bool"), s, solve, rows, small_chunk=1)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


_COMPILED = {}


def _tensor(v):
    """A Keras variable's value as a tensor (what compiled functions are traced with)."""
    return v.value if isinstance(v, keras.Variable) else v


def _compiled_once(name, fn, *static):
    """``fn`` with its trailing arguments fixed to ``static``, compiled once per process
    (:func:`snnmap.spiketime.fused`)."""
    key = (name,) + static
    if key not in _COMPILED:
        _COMPILED[key] = spiketime.fused(lambda *args: fn(*args, *static))
    return _COMPILED[key]


def _take_last(x, index):
    """``x[..., index]``."""
    return ops.take(x, index, axis=-1)


def _spread_one_hot(y, channels, width):
    """``(rows, width)`` with the columns of ``y`` (``(rows, len(channels))``) at ``channels``
    and zeros elsewhere: a matrix product with the one-hot rows of ``channels``, which copies
    each value exactly (one nonzero term per sum)."""
    return ops.matmul(y, ops.one_hot(channels, width, dtype=y.dtype))


def _spread_gather(y, channels, width):
    """:func:`_spread_one_hot` as a gather: column ``c`` of the result is the column of ``y``
    at ``c``'s position in ``channels``, or a zero column.  Compiled, it costs one pass over
    the result, where the matrix product costs ``len(channels)`` multiply-adds per value."""
    count = ops.shape(channels)[0]
    slot = ops.scatter_update(ops.full((width,), count, "int32"), ops.expand_dims(channels, -1),
                              ops.arange(count, dtype="int32"))
    padded = ops.concatenate([y, ops.zeros((ops.shape(y)[0], 1), y.dtype)], axis=-1)
    return ops.take(padded, slot, axis=-1)


def grid_points(stage):
    """The inner points a grid stage names, as quantiles (exact fractions in (0, 1)): an int
    ``G`` the ``G``-interval grid's ``k/G``, a sequence its own (floats are read to the
    nearest fraction with a denominator up to 1000: 0.35 is 7/20)."""
    if isinstance(stage, (int, np.integer)):
        if stage < 1:
            raise ValueError(f"a grid needs at least one interval, got {stage}")
        return tuple(Fraction(k, int(stage)) for k in range(1, int(stage)))
    points = tuple(f if isinstance(f, Fraction) else Fraction(float(f)).limit_denominator(1000) for f in stage)
    bad = [float(f) for f in points if not 0 < f < 1]
    if bad:
        raise ValueError(f"grid points are quantiles strictly between 0 and 1, got {bad}")
    return points


def inner_points(stage):
    """The distinct points of :func:`grid_points` ``(stage)``, ascending: the grid's inner points."""
    return tuple(sorted(set(grid_points(stage))))


def aligned_points(stages, few):
    """``{point of stages: point of few}``, matching the points each stage adds in turn; checks
    that every grid of the cascade keeps its order when its points are swapped (so one traced
    cascade serves both)."""
    if len(stages) != len(few):
        raise ValueError(f"the alternative cascade has {len(few)} stages, not {len(stages)}")
    swap = {}
    for main, alt in zip(stages, few):
        main, alt = inner_points(main), inner_points(alt)
        if len(main) != len(alt):
            raise ValueError(f"stages {main} and {alt} add different numbers of points")
        swap.update(zip(main, alt))
    for grid in cascade_grids(stages):
        mapped = [swap[f] for f in grid]
        if mapped != sorted(set(mapped)):
            raise ValueError(f"the alternative points {[float(f) for f in mapped]} are not in the order of "
                             f"{[float(f) for f in grid]}")
    return swap


def cascade_grids(stages):
    """The inner points (ascending) of each stage's grid in a cascade: stage ``k`` holds the
    points of :func:`grid_points` ``(stages[k])`` and every earlier stage's."""
    grids, points = [], set()
    for stage in stages:
        points |= set(grid_points(stage))
        grids.append(tuple(sorted(points)))
    if not grids:
        raise ValueError("a cascade needs at least one stage")
    return tuple(grids)


def grid_needed(n_open, fan_in, pairs, later=False):
    """Whether a grid bound pays for its products on ``pairs`` (image, neuron) pairs of which
    ``n_open`` are open: the event solver would read more than GRID_WORK inputs per pair and,
    for a ``later`` stage of a cascade, more than GRID_LATER of the pairs are open.  Takes
    tensors or numbers."""
    many = n_open * float(fan_in) > GRID_WORK * pairs
    return many & (n_open > GRID_LATER * pairs) if later else many


def kernel_stats(kernel, dtype):
    """Rows ``sum_j J_ij``, ``sum_j J-_ij``, ``max_j J-_ij``, ``||J-_i||_2`` and ``sum_j |J_ij|``
    of a kernel whose last axis holds the neurons (channels); every row but the first
    rounded up to ``dtype``, so that the bounds built on them stay bounds."""
    k = np.asarray(kernel, np.float64).reshape(-1, np.shape(kernel)[-1])
    neg = np.maximum(-k, 0.0)
    bounds = np.stack([neg.sum(0), neg.max(0), np.sqrt((neg ** 2).sum(0)), np.abs(k).sum(0)]) * (1 + 1e-12)
    low = bounds.astype(dtype)
    up = np.where(low < bounds, np.nextafter(low, np.asarray(np.inf, dtype)), low)
    return np.concatenate([k.sum(0).astype(dtype)[None], up], axis=0)


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value}")
    return value


def same_padding(size, kernel, stride):
    """(before, after) zero padding of Keras/TensorFlow ``padding="same"`` along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingConv2D(SpikingLayer):
    """Convolutional single-spike layer (the spiking twin of ``keras.layers.Conv2D``).

    Input: spike times ``(batch, height, width, channels)``.  Every output position and
    filter is one neuron with its own threshold, so per-position bias maps (MAPPING §4)
    are exact at the borders for any kernel size and stride.  ``padding="same"`` adds
    inputs that spike at ``t_min(n)`` (activation 0, not jittered by ``noise``): in the
    layer's local time that is literally zero padding.

    Parameters
    ----------
    filters : int
    kernel_size : int or (int, int)
    strides : int or (int, int)
    padding : {"valid", "same"}
    **kwargs
        See :class:`SpikingLayer`.
    """

    bf16_grid = True

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if self.filters <= 0:
            raise ValueError(f"filters must be a positive integer, got {filters}")

    def _check(self, input_shape):
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"SpikingConv2D {self.name!r} expects inputs of shape (batch, height, width, channels) "
                f"with known sizes, got {tuple(input_shape)}"
            )

    def kernel_shape(self, input_shape):
        self._check(input_shape)
        return self.kernel_size + (int(input_shape[-1]), self.filters)

    def neuron_shape(self, input_shape):
        self._check(input_shape)
        sizes = []
        for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides):
            out = -(-int(size) // s) if self.padding == "same" else (int(size) - k) // s + 1
            if out <= 0:
                raise ValueError(f"SpikingConv2D {self.name!r}: input {tuple(input_shape)} is smaller than the kernel")
            sizes.append(out)
        return (sizes[0], sizes[1], self.filters)

    def build(self, input_shape):
        super().build(input_shape)
        h, w, c_in = (int(d) for d in input_shape[1:])
        out_h, out_w, _ = self.neuron_shape(input_shape)
        if self.padding == "same":
            self._pads = (same_padding(h, self.kernel_size[0], self.strides[0]),
                          same_padding(w, self.kernel_size[1], self.strides[1]))
        else:
            self._pads = ((0, 0), (0, 0))
        self._padded = (h + sum(self._pads[0]), w + sum(self._pads[1]), c_in)
        kh, kw = self.kernel_size
        dy, dx, ci = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c_in), indexing="ij")
        # Offsets of a receptive field in the flattened padded input, in kernel order.
        self._offsets = ((dy * self._padded[1] + dx) * c_in + ci).reshape(-1).astype("int32")

    def arrange_inputs(self, u):
        # Padded positions are inputs that spike at t_min(n), i.e. at local time 0.  They
        # are made explicit so that every bound and the event solver see them arrive.
        if self._pads == ((0, 0), (0, 0)):
            return u
        return ops.pad(u, ((0, 0),) + self._pads + ((0, 0),))

    def synapse(self, x, kernel):
        return ops.conv(x, kernel, strides=self.strides, padding="valid")

    def fan_in_sum(self, kernel):
        return ops.sum(kernel, axis=(0, 1, 2))

    def receptive_count(self, mask):
        # Summed over channels first: a box filter with the layer's own geometry then counts
        # every receptive field at (C_in + kh kw) operations per position.
        kh, kw = self.kernel_size
        summed = ops.sum(mask, axis=-1, keepdims=True)
        return ops.conv(summed, ops.ones((kh, kw, 1, 1), summed.dtype), strides=self.strides, padding="valid")

    def receptive_fields(self, u, kernel, index):
        hp, wp, c_in = self._padded
        out_h, out_w = (int(d) for d in self.alpha.shape[:2])
        flat = ops.reshape(u, (-1,))
        per_sample = out_h * out_w * self.filters
        sample = index // per_sample
        rest = index % per_sample
        pos = rest // self.filters
        y, x = pos // out_w, pos % out_w
        base = ((sample * hp + y * self.strides[0]) * wp + x * self.strides[1]) * c_in
        fields = ops.take(flat, base[:, None] + ops.convert_to_tensor(self._offsets)[None, :])
        # Columns of the (R, filters) kernel: no kernel-sized transpose for a few pairs.
        weights = ops.take(ops.reshape(kernel, (-1, self.filters)), rest % self.filters, axis=1)
        return fields, ops.transpose(weights)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding)
        return config


@keras.saving.register_keras_serializable(package="snnmap")
class SpikingMaxPooling2D(keras.layers.MaxPooling2D):
    """Max pooling of activations in the time code: the EARLIEST spike of each window wins.

    For channels whose preprocessed network uses min pooling (a negative batch-norm scale
    moved past the pool, ``signs[c] = -1``) the LATEST spike wins instead.

    Parameters
    ----------
    signs : sequence of {1, -1}, optional
        Per channel: 1 = max pooling of activations (earliest spike), -1 = min pooling
        (latest spike).  Default: all 1.
    **kwargs
        ``MaxPooling2D`` arguments.
    """

    def __init__(self, signs=None, dtype=None, **kwargs):
        super().__init__(dtype=dtype or "float64", **kwargs)
        self.signs = None if signs is None else [1 if float(s) > 0 else -1 for s in np.ravel(signs)]

    def call(self, inputs):
        if self.signs is None:
            return -super().call(-inputs)
        flip = ops.convert_to_tensor(-np.asarray(self.signs), dtype=inputs.dtype)
        return flip * super().call(flip * inputs)

    def get_config(self):
        config = super().get_config()
        config["signs"] = self.signs
        return config


@keras.saving.register_keras_serializable(package="snnmap")
class SpikeTimePadding2D(keras.layers.Layer):
    """``ZeroPadding2D`` in the time code: padded inputs spike at ``t_pad`` (= code 0).

    Parameters
    ----------
    padding : ((int, int), (int, int))
        (top, bottom), (left, right), as in ``ZeroPadding2D``.
    t_pad : float
        ``t_min`` of the consuming layer (the end of the window these spikes belong to),
        in the frame of the spike times it pads (0 when they are measured from it).
    """

    def __init__(self, padding, t_pad, dtype=None, **kwargs):
        super().__init__(dtype=dtype or "float64", **kwargs)
        self.padding = tuple(tuple(int(v) for v in p) for p in padding)
        self.t_pad = float(t_pad)

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),), constant_values=self.t_pad)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        (t, bo), (l, r) = self.padding
        return (b, None if h is None else h + t + bo, None if w is None else w + l + r, c)

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, t_pad=self.t_pad)
        return config
