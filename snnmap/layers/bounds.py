"""The layer's side of the bounds: their synapse products and the grid bounds on its neurons.

The math of the bounds is in :mod:`snnmap.core.bounds` (functions of tensors); what needs the
layer is computing their products with its own synaptic operator (:meth:`synapse`), its
kernels' positive and negative parts (``kernel_pos``, ``kernel_neg``, and bfloat16 copies in
convolutions) and its receptive fields.  :class:`BoundsMixin` is part of
:class:`snnmap.layers.SpikingLayer`.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ..core import bounds, grid, products
from ..core.bounds import GridProducts, LastArrival
from ..core.spiketime import fused as fused_fn, solve_pairs
from ..solver import bf16_products, fuse


class BoundsMixin:
    """Products and bounds of a :class:`snnmap.layers.SpikingLayer` (see :mod:`snnmap.core.bounds`
    for the notation: ``V(s) = alpha (s + T_in) + P(s) - N(s)``, ``tau`` the last arrival)."""

    def compiled(self, key, make):
        """The elementwise function ``make()``, made once per layer (under ``key``) and, in
        layers of at least ``SolverConfig.fuse_neurons`` neurons, compiled as one pass
        (:func:`snnmap.core.spiketime.fused`): op by op, every operation is a pass over the
        batch's neurons.

        Parameters
        ----------
        key : str
            Names the function in the layer's cache.
        make : callable
            ``make()`` returns the function (of tensors; Python values are baked in).
        """
        fused = fuse(self.n_neurons, self.solver_config)
        cache = self.__dict__.setdefault("_compiled_fns", {})
        fn = cache.get((key, fused))
        if fn is None:
            fn = make()
            if fused:
                fn = fused_fn(fn)
            cache[(key, fused)] = fn
        return fn

    def build_bound_weights(self, k_shape):
        """The kernels and per-neuron constants the bounds read, as weights (``k_shape``: the
        kernel's); :meth:`set_bound_weights` derives them from the kernel once instead of in
        every call (for deep layers with small batches, kernel-sized passes would cost more
        than the synapse products)."""
        # J+ for the certificate, J+ and J- for the grid bound, in float32.
        self.kernel_pos = self.add_weight(name="kernel_pos", shape=k_shape, initializer="zeros",
                                          trainable=False, dtype="float32")
        self.kernel_neg = self.add_weight(name="kernel_neg", shape=k_shape, initializer="zeros",
                                          trainable=False, dtype="float32")
        if self.bf16_grid:
            # bfloat16 copies for the grid bounds' products (snnmap.solver.bf16_products).
            self.kernel_pos16 = self.add_weight(name="kernel_pos16", shape=k_shape, initializer="zeros",
                                                trainable=False, dtype="bfloat16")
            self.kernel_neg16 = self.add_weight(name="kernel_neg16", shape=k_shape, initializer="zeros",
                                                trainable=False, dtype="bfloat16")
        # Per neuron (last axis of the neuron shape): sum_j J, and for the bounds sum_j J-,
        # max_j J-, ||J-||_2 and sum_j |J| (rounded up where they bound).
        self.kernel_stats = self.add_weight(name="kernel_stats", shape=(5, k_shape[-1]), initializer="zeros",
                                            trainable=False)

    def set_bound_weights(self, kernel):
        """Derive the weights of :meth:`build_bound_weights` from the kernel.

        Parameters
        ----------
        kernel : ndarray
            ``J``, in float64.
        """
        j_pos, j_neg = np.maximum(kernel, 0.0), np.maximum(-kernel, 0.0)
        self.kernel_pos.assign(j_pos.astype(np.float32))
        self.kernel_neg.assign(j_neg.astype(np.float32))
        if self.bf16_grid:  # rounded to nearest
            self.kernel_pos16.assign(j_pos.astype(np.float32))
            self.kernel_neg16.assign(j_neg.astype(np.float32))
        self.kernel_stats.assign(products.kernel_stats(kernel, self.compute_dtype))

    def product_dtype(self):
        """The bounds' products' dtype: bfloat16 where the layer keeps bfloat16 kernels
        (``bf16_grid``) and :func:`snnmap.solver.bf16_products` allows it, else float32."""
        return "bfloat16" if self.bf16_grid and bf16_products(self.solver_config) else "float32"

    def raw_products(self, ramps, kernels, channels=None, positions=None):
        """``[y, ...]``: the synapse products of non-negative ``ramps`` with each of ``kernels``
        (``"pos"`` for ``J+``, ``"neg"`` for ``J-``), in :meth:`product_dtype`, as computed:
        :func:`snnmap.core.products.product_bounds` rounds them outward.

        Parameters
        ----------
        ramps : tensor
            Inputs as the synapse operator reads them (cast once for all kernels, unless
            :meth:`ramps` made them so).
        kernels : sequence of {"pos", "neg"}
        channels : int tensor, optional
            Only these output channels are computed
            (:func:`snnmap.core.products.channel_product`; 0 elsewhere).
        positions : int tensor, optional
            In layers with :attr:`has_positions`: only these output positions (flat over the
            batch of ``ramps``) are computed, from their receptive fields
            (:func:`snnmap.core.products.position_product`; 0 elsewhere), when they are at most
            ``SolverConfig.position_share`` of all (half that where the products run in
            bfloat16) and their fields fit in half the first stage's budget (``grid_first_chunk
            x solver_elements / 2`` values); otherwise every position is.
        """
        dtype = self.product_dtype()
        bf16 = dtype == "bfloat16"
        x = ramps
        if x.dtype != dtype:
            x = ops.cast(ops.cast(x, "float32"), dtype)
        kernels = [getattr(self, f"kernel_{name}{'16' if bf16 else ''}") for name in kernels]

        def every_position():
            if channels is None:
                return [self.synapse(x, kernel) for kernel in kernels]
            return [products.channel_product(self.synapse, x, kernel, channels, self.solver_config)
                    for kernel in kernels]

        if positions is None or not self.has_positions:
            return every_position()
        config = self.solver_config
        per_image = int(np.prod(self.alpha.shape[:-1]))
        rows = ops.shape(x)[0] * per_image
        count = ops.shape(positions)[0]
        # bfloat16 convolutions run twice as fast; the matrix product stays float32.
        share = config.position_share / 2 if bf16 else config.position_share
        few = ops.logical_and(ops.cast(count, "float32") <= share * ops.cast(rows, "float32"),
                              count * self.fan_in <= config.grid_first_chunk * self.solver_elements // 2)

        def some_positions():
            ys = products.position_product(self.patches, x, kernels, positions, rows, channels, config)
            return [ops.reshape(y, (-1,) + tuple(self.alpha.shape)) for y in ys]

        return list(ops.cond(few, some_positions, every_position))

    def ramps(self, points, u):
        """``max(0, g - u_j)`` for each point ``g`` of ``points`` (``(batch, 1, ...)``, or
        point-major ``(m, batch, 1, ...)``), point-major ``(-1,) + u.shape[1:]``, rounded once
        to the dtype of :meth:`raw_products`; one compiled pass over the inputs in large layers,
        where op by op it would take three.

        Parameters
        ----------
        points : tensor
            The points ``g``.
        u : tensor (batch, ...)
            Local input times after :meth:`arrange_inputs`.
        """
        dtype = self.product_dtype()
        in_shape = tuple(u.shape[1:])  # u: (batch, ...), the layer's inputs

        def make():
            def fn(points, u):
                x = ops.cast(ops.reshape(ops.relu(points - u), (-1,) + in_shape), "float32")
                return x if dtype == "float32" else ops.cast(x, dtype)
            return fn

        return self.compiled(f"ramps_{dtype}", make)(points, u)

    def last_arrival_terms(self, u, t_in, product=None):
        """The per-call tensors every bound starts from (:class:`snnmap.core.bounds.LastArrival`).

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        t_in : float
            ``T_in``.
        product : tensor, optional
            The closed form's ``sum_j J_ij u_j`` (computed here if not given).

        Returns
        -------
        LastArrival
            ``tau`` the last arrival of each image (at least ``-T_in``); ``p`` docs/method.md §3's
            certificate product ``P(tau) = sum_j J+_ij (tau - u_j)`` as :meth:`raw_products`
            leaves it (bfloat16 where the grid bounds' products are: their last interval is
            tight at ``tau`` whatever ``P(tau)``'s bracket, :func:`snnmap.core.bounds.last_interval_top`);
            ``product``; ``before``.
        """
        axes = tuple(range(1, len(u.shape)))

        def make():
            def fn(u):
                return ops.max(u, axis=axes, keepdims=True), ops.min(u, axis=axes, keepdims=True)
            return fn

        # Both reductions in one compiled pass in large layers (op by op: two slow ones).
        last, first = self.compiled("extremes", make)(u)
        tau = ops.maximum(last, -t_in)
        if product is None:
            product = self.synapse(u, self.kernel)
        (p,) = self.raw_products(self.ramps(tau, u), ("pos",))
        return LastArrival(tau, p, product, first < -t_in, ops.maximum(first, -t_in))

    def arrivals_before(self, u, ends):
        """``ends`` with its ``count`` (inputs of each neuron arriving before ``tau``), counted
        here unless it holds them already: a cascade counts once for all its stages.

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        ends : LastArrival
            :meth:`last_arrival_terms` of ``u``.
        """
        if ends.count is not None:
            return ends
        return ends._replace(count=self.receptive_count(ops.cast(u < ends.tau, "float32")))

    def certificate(self, ends, t_in):
        """docs/method.md §3's ``U(tau) >= V(s)`` for ``s <= tau`` (:func:`snnmap.core.bounds.certificate`).

        Parameters
        ----------
        ends : LastArrival
            :meth:`last_arrival_terms`.
        t_in : float
            ``T_in``.
        """
        return bounds.certificate(self.alpha, ends.tau, ends.p, t_in, self.fan_in)

    def certified_open(self, ends, theta, t_in):
        """``certificate(ends, t_in) >= theta``: the pairs docs/method.md §3's certificate leaves open;
        one pass in large layers (:meth:`compiled`).

        Parameters
        ----------
        ends : LastArrival
            :meth:`last_arrival_terms`.
        theta : tensor
            The thresholds.
        t_in : float
            ``T_in``.
        """
        fan_in = self.fan_in

        def make():
            def fn(tau, p, alpha, theta):
                return bounds.certificate(alpha, tau, p, t_in, fan_in) >= theta
            return fn

        return self.compiled("certified_open", make)(ends.tau, ends.p, products.tensor_of(self.alpha),
                                                     products.tensor_of(theta))

    def open_neurons(self, u, kernel, alpha, theta, t_in, blocks=1, ends=None, prior=None, keep=False,
                     channels=None, alternative=None, positions=None):
        """The pairs the grid bound of :mod:`snnmap.core.bounds` leaves open: they may reach theta
        before their last input and need the event solver.

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        kernel, alpha, theta : tensor
            The layer's (the float32 ``J+``, ``J-`` and per-neuron constants derived from its
            kernel by :meth:`set_relu_params` are used for the products).
        t_in : float
            ``T_in``.
        blocks : int or sequence
            The grid's intervals (an int), or its inner points' quantiles
            (:func:`snnmap.core.grid.grid_points`); 1 costs no synapse product.
        ends : LastArrival, optional
            :meth:`last_arrival_terms` of ``u`` if the caller has them already.
        prior : GridProducts, optional
            The products kept by a grid whose inner points are among this one's, reused
            instead of computed again.
        keep : bool
            Also return this grid's products (:class:`snnmap.core.bounds.GridProducts`): the
            result is then ``(mask, products)``.
        channels : int tensor, optional
            The new products are computed in these output channels only: the mask is then
            valid only there (the caller's pairs elsewhere must be closed already).
        positions : int tensor, optional
            Likewise for output positions (flat over the batch of ``u`` and the neuron shape
            without its channel axis; :meth:`raw_products`).
        alternative : (points, use), optional
            Quantiles taken instead of the grid's inner points where the boolean ``use`` holds
            (:func:`snnmap.core.grid.quantile_grid`); a ``prior`` grid must have been picked the
            same way.
        """
        if ends is None:
            ends = self.last_arrival_terms(u, t_in)
        count = self.arrivals_before(u, ends).count
        inner = None
        points = grid.inner_points(blocks)
        m = len(points)
        if m:
            batch = ops.shape(u)[0]
            config = self.solver_config
            g = grid.quantile_grid(u, ends.tau, points, t_in, config.grid_sample, alternative, config.grid_time_share,
                                   config.grid_time_share_few)
            # A prior grid's points are picked by the same rule: only the others need products.
            known = () if prior is None else prior.points
            if not set(known) <= set(points):
                raise ValueError(f"the prior grid's points {known} are not among this grid's {points}")
            new = [i for i, f in enumerate(points) if f not in known]
            stacks = () if prior is None else prior.stacks
            if new:
                ramps = self.ramps(g if len(new) == m else ops.take(g, new, axis=0), u)
                out_shape = (len(new), batch) + tuple(ends.p.shape[1:])
                if positions is not None and len(new) > 1:
                    # The ramps are point-major: the same positions in each point's images.
                    rows = batch * int(np.prod(self.alpha.shape[:-1]))
                    positions = ops.concatenate([positions + k * rows for k in range(len(new))], axis=0)
                ys = self.raw_products(ramps, ("pos", "neg"), channels=channels, positions=positions)
                stacks += (tuple(ops.reshape(y, out_shape) for y in ys),)
            order = tuple((len(stacks) - 1, new.index(i)) if i in new else prior.order[known.index(f)]
                          for i, f in enumerate(points))
            inner = (g, GridProducts(stacks, order, points))
        fan_in, dtype = self.fan_in, self.compute_dtype

        def make():
            def fn(t_in, inner, tau, p, product, count, before, alpha, theta, stats, start):
                return bounds.bound_open(t_in, inner, tau, p, product, count, before, alpha, theta, stats,
                                         fan_in, dtype, start)
            return fn

        mask = self.compiled("bound_open", make)(t_in, inner, ends.tau, ends.p, ends.product, count, ends.before,
                                                 products.tensor_of(alpha), products.tensor_of(theta),
                                                 products.tensor_of(self.kernel_stats), ends.start)
        if not keep:
            return mask
        return mask, (GridProducts((), (), ()) if inner is None else inner[1])

    def block_open(self, u, ends, theta, t_in, blocks):
        """:meth:`open_neurons` with the grid ``blocks`` (intervals, or inner points' quantiles)
        for every pair, a bounded number of images at a time.

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        ends : LastArrival
            :meth:`last_arrival_terms` of ``u``.
        theta : tensor
            The thresholds.
        t_in : float
            ``T_in``.
        blocks : int or sequence
            The grid (:func:`snnmap.core.grid.grid_points`).
        """
        def refine(mask, sub, part):
            return self.open_neurons(sub, self.kernel, self.alpha, theta, t_in, blocks, part)

        every = ops.ones((ops.shape(u)[0],) + tuple(self.alpha.shape), "bool")
        return self.by_images(every, u, ends, len(grid.inner_points(blocks)) + 1, refine)

    def chunk_rows(self, u, per_image, budget):
        """How many images a chunk of the grid bounds takes: as many as ``per_image`` values
        each fit in ``budget x solver_elements`` (at least one, at most the batch where known).

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs` (batch first).
        per_image : int
            Values one image holds in the chunk.
        budget : int
            ``SolverConfig.grid_chunk`` or ``grid_first_chunk``.
        """
        rows = max(1, (budget * self.solver_elements) // max(1, per_image))
        if u.shape[0] is not None:
            rows = min(rows, int(u.shape[0]))
        return rows

    def grid_rows(self, u, blocks):
        """Images per chunk of a grid of ``blocks`` intervals: its stacked inputs and outputs,
        ``3 x blocks x (inputs + neurons)`` values per image, in ``grid_chunk x
        solver_elements`` (:meth:`chunk_rows`)."""
        per_image = 3 * blocks * (int(np.prod(u.shape[1:])) + self.n_neurons)
        return self.chunk_rows(u, per_image, self.solver_config.grid_chunk)

    def by_images(self, open_, u, ends, blocks, refine, rows=None, extras=()):
        """``refine(mask, u, ends)`` on chunks of the images that have open pairs (the others
        keep ``open_``), as many per chunk as a grid of ``blocks`` intervals fits in
        ``grid_chunk x solver_elements`` values (its stacked inputs and outputs).

        Parameters
        ----------
        open_ : bool tensor
            Open pairs, ``(batch,) + neuron_shape``.
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        ends : LastArrival
            :meth:`last_arrival_terms` of ``u``.
        blocks : int
            Intervals of the largest grid ``refine`` runs (sizes the chunks).
        refine : callable
            ``refine(mask, u, ends) -> mask`` on one chunk's images; with ``extras``,
            ``refine(mask, u, ends, extras)`` with each extra tensor cut to the chunk.
        rows : int, optional
            Images per chunk, instead of the size ``blocks`` gives.
        extras : sequence of (tensor, axis)
            Further per-image tensors, with their batch axis, cut to each chunk for ``refine``.
        """
        if rows is None:
            rows = self.grid_rows(u, blocks)

        def solve(index):
            part = LastArrival(*(None if v is None else ops.take(v, index, axis=0) for v in ends))
            args = (ops.take(open_, index, axis=0), ops.take(u, index, axis=0), part)
            if extras:
                args += (tuple(ops.take(v, index, axis=axis) for v, axis in extras),)
            return ops.cast(refine(*args), "float32")

        if u.shape[0] is not None and rows >= int(u.shape[0]):
            # One chunk holds the batch: no copies of it in and out.
            args = (open_, u, ends) + ((tuple(v for v, _ in extras),) if extras else ())
            return ops.cond(ops.any(open_), lambda: refine(*args), lambda: open_)
        images = ops.any(open_, axis=tuple(range(1, len(open_.shape))))
        values = solve_pairs(images, ops.cast(open_, "float32"), solve, rows, small_chunk=1)
        return values > 0.5
