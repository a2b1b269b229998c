"""The base of the single-spike layers: parameters, windows, Keras plumbing (docs/method.md §2, §3).

A hidden spiking layer takes the spike times of its inputs and returns the spike times
of its neurons; the output layer returns the readout potential ``V_i(t_min(N))``, the
logits.  Computations use ``keras.ops`` only, so the layers run on any Keras backend.

The parameters are those of docs/method.md §3, stored as weights:

* hidden layers: ``kernel`` = ``J`` (synaptic weights), ``threshold`` = ``theta`` and
  ``alpha`` (constant input current, 1 plus a fixed seeded perturbation of standard
  deviation ``alpha_noise``; the threshold keeps the nominal ``alpha = 1``);
* output layer: ``kernel`` = ``W`` and ``alpha`` = ``b / (t_min(N) - t_min(N-1))``.

:meth:`SpikingLayer.set_relu_params` sets them from a preprocessed ReLU layer.  The spike
math is in :mod:`snnmap.core`; the bounds and the solver stages the layer runs on it are in
:mod:`.bounds` and :mod:`.solve`, steered by :class:`snnmap.solver.SolverConfig`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..core import mapping, spiketime
from ..solver import DEFAULT_CONFIG, DEFAULT_SOLVER_ELEMENTS, SOLVERS, SolverConfig
from .bounds import BoundsMixin
from .solve import SolveMixin


def check_arguments(t_min_prev, t_min, X_n, zeta, output_layer, noise, alpha_noise, solver, time_bits,
                    weight_bits, w_min, w_max):
    """Raise ``ValueError`` unless the arguments of :class:`SpikingLayer` (same names) are valid."""
    for name, value in (("time_bits", time_bits), ("weight_bits", weight_bits)):
        if int(value) != value or not 0 <= int(value) <= 52:
            raise ValueError(f"{name} must be an integer in [0, 52] (0 = off), got {value}")
    if (w_min is None) != (w_max is None) or (w_min is not None and not float(w_max) > float(w_min)):
        raise ValueError(f"w_min and w_max must both be given, with w_max > w_min (got {w_min}, {w_max})")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    for name, value in (("noise", noise), ("alpha_noise", alpha_noise), ("zeta", zeta)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if not t_min > t_min_prev:
        raise ValueError(f"t_min ({t_min}) must be later than t_min_prev ({t_min_prev})")
    if not output_layer and not (math.isfinite(X_n) and X_n > 0):
        raise ValueError(f"X_n must be finite and > 0, got {X_n}")


class SpikingLayer(SolveMixin, BoundsMixin, keras.layers.Layer):
    """Base class of single-spike layers with a linear synaptic operator.

    Subclasses say how inputs reach neurons (:meth:`synapse`, :meth:`fan_in_sum`,
    :meth:`receptive_fields`); this class owns the dynamics: input jitter, the closed
    form (:func:`snnmap.core.spiketime.closed_form`) where the bounds of
    :mod:`snnmap.core.bounds` certify it (:class:`~snnmap.layers.bounds.BoundsMixin`), the
    exact event-driven solver elsewhere (:class:`~snnmap.layers.solve.SolveMixin`), and the
    readout of the output layer.

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
        units of ``tau_c`` (docs/method.md §6).  Fresh for every call, from ``seed``.
    alpha_noise : float
        Standard deviation of a fixed per-neuron perturbation of ``alpha`` (hidden
        layers), drawn once from ``seed`` when the layer is built.
    seed : int
        Seed of both noises.
    solver : {"auto", "exact", "scan"}
        All three give the exact spike times of the dynamics.  ``"auto"``: closed form
        where docs/method.md §3's certificate holds (refined by grid bounds, one inner point of
        ``SolverConfig.grid_points`` more per stage, while many neurons are left open),
        event-driven solver for the rest.  ``"exact"``: every neuron goes through the grid
        bound with ``SolverConfig.exact_blocks`` intervals per image, and its events are scanned one by one
        wherever the bound cannot exclude a crossing before its last input.
        ``"scan"``: every neuron's events scanned one by one (the plain algorithm; for
        checks and benchmarks).
    solver_elements : int
        Neurons x inputs handled per step of the exact solver (bounds its memory).
    time_bits : int
        If > 0, every input spike time is rounded to the nearest of ``2**time_bits``
        evenly spaced levels of the input window ``[t_min(n-1), t_min(n)]`` (after the
        jitter; times outside the window go to its nearest end), docs/method.md §6.
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
    solver_config : SolverConfig, optional
        The solvers' tuning constants (:class:`snnmap.solver.SolverConfig`; default
        ``snnmap.solver.DEFAULT_CONFIG``).  They change the work, never a spike time; not
        serialised (a loaded layer takes the default).
    """

    #: Whether the layer keeps bfloat16 copies of ``J+`` and ``J-`` for the grid bounds'
    #: products (used where :func:`snnmap.solver.bf16_products` allows): convolutions,
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
        solver_config: SolverConfig = None,
        **kwargs,
    ):
        super().__init__(dtype=dtype or "float64", **kwargs)
        # On TensorFlow the event solver takes exactly the open pairs, a shape XLA cannot fix.
        self.supports_jit = not spiketime.shapes_may_vary()
        check_arguments(t_min_prev, t_min, X_n, zeta, output_layer, noise, alpha_noise, solver, time_bits,
                        weight_bits, w_min, w_max)
        self.time_bits = int(time_bits)
        self.weight_bits = int(weight_bits)
        self.w_min = None if w_min is None else float(w_min)
        self.w_max = None if w_max is None else float(w_max)
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
        self.solver_config = DEFAULT_CONFIG if solver_config is None else solver_config

    # -- noise state -----------------------------------------------------------------
    @property
    def noisy(self) -> bool:
        """Whether the layer jitters its input spike times (``noise > 0``)."""
        return self._noise_seed is not None

    def noise_state(self):
        """The state of the jitter's seed generator (a NumPy array), or None without noise.

        Saving it before a call and restoring it with :meth:`set_noise_state` replays that
        call's draws exactly (the snapshot's potential traces do this).
        """
        if self._noise_seed is None:
            return None
        return np.array(keras.ops.convert_to_numpy(self._noise_seed.state))

    def set_noise_state(self, state):
        """Restore a state returned by :meth:`noise_state`."""
        if self._noise_seed is not None and state is not None:
            self._noise_seed.state.assign(state)

    # -- windows -------------------------------------------------------------------
    @property
    def window(self) -> mapping.Window:
        """The layer's :class:`snnmap.core.mapping.Window`."""
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
        """``u = t - t_min(n)``, the local input times of docs/method.md §2 as the synapse operator
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

    def receptive_count(self, mask):
        """``sum_j mask_j`` over the inputs of the neurons at each position: shape ``(batch,)
        + neuron_shape[:-1] + (1,)``; ``mask`` has the shape of :meth:`arrange_inputs`' output."""
        raise NotImplementedError

    def receptive_fields(self, u, kernel, index):
        """Inputs and weights of the neurons with flat indices ``index``.

        Returns ``(u_pairs, j_pairs)``, both ``(len(index), R)``, where the flat index
        runs over ``batch x neuron_shape`` in row-major order.
        """
        return self.fields_of(u, self.field_keys(index)), self.weights_of(kernel, index)

    def field_keys(self, index):
        """For flat neuron indices ``index``: which receptive field each reads (neurons with one
        key share their inputs: one position of a convolution, one image of a dense layer),
        non-decreasing where ``index`` ascends."""
        raise NotImplementedError

    def fields_of(self, u, keys):
        """The inputs ``(len(keys), R)`` of the receptive fields ``keys`` (:meth:`field_keys`)."""
        raise NotImplementedError

    def weights_of(self, kernel, index):
        """The weights ``(len(index), R)`` of the neurons with flat indices ``index``."""
        raise NotImplementedError

    #: Whether the neurons sit at positions that share one kernel (convolutions): grid products
    #: may then be computed at some positions only, from their receptive fields (:meth:`patches`).
    has_positions = False

    def patches(self, x, positions):
        """The receptive fields ``(len(positions), R)`` of the output positions ``positions``
        (flat over the batch and the neuron shape without its channel axis), in the kernel's
        order, from ``x`` shaped as :meth:`arrange_inputs`' output (layers with
        :attr:`has_positions`)."""
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
            alpha0 = self._alpha_values(shape)
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
            self.build_bound_weights(self.kernel_shape(input_shape))
        # The perturbation knobs that retune() changes, where the layer has them.
        if self.noisy:
            self.noise_std = self.add_weight(name="noise_std", shape=(), initializer="zeros", trainable=False)
            self.noise_std.assign(self.noise)
        if self.time_bits:
            self.time_step = self.add_weight(name="time_step", shape=(), initializer="ones", trainable=False)
            self.time_levels = self.add_weight(name="time_levels", shape=(), initializer="ones", trainable=False)
            self._assign_time_levels()
        self.n_neurons = int(np.prod(shape))
        self.fan_in = int(np.prod(self.kernel_shape(input_shape)[:-1]))
        self.built = True

    def own_weights(self):
        """The weights that define the layer in docs/method.md §3: the kernel (``J``, or ``W``
        for the output layer) and one value per neuron, ``theta`` (hidden) or ``alpha`` (output).

        Every other weight is a constant: a hidden neuron's input current ``alpha`` (1, or its
        seeded perturbation) and the values ``set_relu_params`` derives from the parameters
        (docs/solver.md, "What a spiking layer stores").  All of them are non-trainable.

        Returns
        -------
        list of keras.Variable
        """
        return [self.kernel, self.alpha if self.output_layer else self.threshold]

    def set_relu_params(self, w, b):
        """Set the spiking parameters from a preprocessed ReLU layer ``y = W^T x + b``.

        Hidden layers get ``J`` and ``theta`` of docs/method.md §3 (nominal ``alpha = 1``; a
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
            self._derive_crossing(kernel, theta)
            self.set_bound_weights(kernel)

    def _derive_crossing(self, kernel, theta):
        """Set ``inv_slope`` and ``offset`` from ``J``, ``theta`` and the current ``alpha`` (with its
        perturbation), in float64 (:func:`snnmap.core.spiketime.crossing_params`)."""
        alpha = np.asarray(ops.convert_to_numpy(self.alpha), np.float64)
        j_sum = np.asarray(ops.convert_to_numpy(self.fan_in_sum(ops.convert_to_tensor(kernel))), np.float64)
        inv_slope, offset = spiketime.crossing_params(alpha, j_sum, theta, self.window.input_length,
                                                      self.window.length)
        self.inv_slope.assign(ops.convert_to_numpy(inv_slope))
        self.offset.assign(ops.convert_to_numpy(offset) + self.time_shift)

    def perturb(self, t):
        """Input spike times as the neurons receive them: jittered by ``noise`` (fresh in every
        call), then rounded to the ``2**time_bits`` levels of the input window (docs/method.md §6)."""
        # The std and the levels are read from weights, not baked in: :meth:`retune` changes them
        # without tracing the network again.
        if self._noise_seed is not None:
            t = t + self.noise_std * keras.random.normal(ops.shape(t), dtype=t.dtype, seed=self._noise_seed)
        if self.time_bits:
            step, levels = self.time_step, self.time_levels
            start = self.window.t_min_prev - self.input_origin
            t = start + ops.clip(ops.round((t - start) / step), 0, levels) * step
        return t

    def retune(self, noise=None, alpha_noise=None, seed=None, time_bits=None, check_only=False):
        """Change the perturbation knobs of a built layer in place, as if it had been made with them.

        The compiled functions of a network that holds the layer keep working (they read these
        values from weights), so one trace serves every sweep point of the same shapes.  The
        knobs that shape the traced computation cannot change: whether there is any jitter
        (``noise > 0``) and any time quantisation (``time_bits > 0``).

        Parameters
        ----------
        noise : float, optional
            New jitter std (> 0 if the layer jitters, else 0).
        alpha_noise : float, optional
            New std of the perturbation of ``alpha`` (hidden layers; redrawn from ``seed``).
        seed : int, optional
            New seed of both noises: the jitter's generator restarts from it.
        time_bits : int, optional
            New number of bits (> 0 if the layer quantises, else 0).
        check_only : bool
            Only raise ``ValueError`` if the knobs cannot be changed; change nothing.
        """
        noise = self.noise if noise is None else float(noise)
        alpha_noise = self.alpha_noise if alpha_noise is None else float(alpha_noise)
        seed = self.seed if seed is None else int(seed)
        time_bits = self.time_bits if time_bits is None else time_bits
        check_arguments(self.t_min_prev, self.t_min, self.X_n, self.zeta, self.output_layer, noise, alpha_noise,
                        self.solver, time_bits, self.weight_bits, self.w_min, self.w_max)
        if (noise > 0) != self.noisy or (int(time_bits) > 0) != (self.time_bits > 0):
            raise ValueError(f"layer {self.name!r}: retune cannot switch the jitter (noise {self.noise:g} -> "
                             f"{noise:g}) or the time quantisation (time_bits {self.time_bits} -> {time_bits}) "
                             "on or off: they change the traced computation; build a new SNN")
        if not self.built:
            raise RuntimeError(f"layer {self.name!r} must be built before it is retuned")
        redraw = not self.output_layer and (alpha_noise != self.alpha_noise or (alpha_noise and seed != self.seed))
        if redraw and self.variable_dtype != "float64":
            # The crossing constants are derived in float64 from J and theta, which a float32
            # layer keeps only rounded: a retuned alpha would not give a fresh build's values.
            raise ValueError(f"layer {self.name!r}: retune changes alpha (alpha_noise {self.alpha_noise:g} -> "
                             f"{alpha_noise:g}, seed {self.seed} -> {seed}) only in float64 layers; build a new SNN")
        if check_only:
            return
        self.noise, self.alpha_noise, self.seed, self.time_bits = noise, alpha_noise, seed, int(time_bits)
        if self.noisy:
            self.noise_std.assign(noise)
            # SeedGenerator(seed) starts at [seed, 0].
            self._noise_seed.state.assign(ops.cast(ops.convert_to_tensor([seed, 0]), self._noise_seed.state.dtype))
        if self.time_bits:
            self._assign_time_levels()
        if redraw:
            self.alpha.assign(self._alpha_values(tuple(self.alpha.shape)))
            self._derive_crossing(np.asarray(ops.convert_to_numpy(self.kernel), np.float64),
                                  np.asarray(ops.convert_to_numpy(self.threshold), np.float64))

    def _alpha_values(self, shape):
        """``alpha = 1 + alpha_noise * z``, ``z`` standard normal from the layer's seed."""
        return 1.0 + self.alpha_noise * np.random.default_rng(self.seed).normal(0.0, 1.0, size=shape)

    def _assign_time_levels(self):
        levels = 2 ** self.time_bits - 1
        self.time_levels.assign(float(levels))
        self.time_step.assign(self.window.input_length / levels)

    def call(self, inputs):
        t = self.perturb(ops.cast(inputs, self.compute_dtype))
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
        s = self.closed_form(product)
        if self.solver == "scan":
            return self.scan_all(u, kernel, alpha, theta, t_in, b, s)
        ends = self.last_arrival_terms(u, t_in, product)
        if self.solver == "exact":
            open_ = self.block_open(u, ends, theta, t_in, self.solver_config.exact_blocks)
        else:
            open_ = self.certified_open(ends, theta, t_in)
            open_ = self.refine_free(open_, u, ends, theta, t_in)
            open_ = self.cascade_open(open_, u, ends, theta, t_in)
        return self.solve_open(u, kernel, alpha, theta, t_in, b, s, open_)

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
