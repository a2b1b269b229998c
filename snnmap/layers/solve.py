"""The layer's solver stages: the auto cascade of bounds, then the event solver on what stays open.

``solver="auto"`` (:meth:`snnmap.layers.SpikingLayer.call`) runs docs/method.md §3's certificate on
every pair, the free one-interval bound on the few pairs it leaves open (:meth:`refine_free`),
then grid bounds stage by stage while they pay (:meth:`cascade_open`, policy in
:mod:`snnmap.solver`), and hands the pairs still open to the exact event solver
(:meth:`solve_open`).  :class:`SolveMixin` is part of :class:`snnmap.layers.SpikingLayer`.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ..core import bounds, grid, products, spiketime
from ..solver import cascade_stages, free_bound_pays, grid_needed


class SolveMixin:
    """Solver stages of a :class:`snnmap.layers.SpikingLayer`."""

    #: Whether the layer's kernel is read whole for every product (dense layers: see
    #: :func:`snnmap.solver.cascade_stages`).
    dense_kernel = False

    @property
    def grid_stages(self):
        """The stages :meth:`cascade_open` tries in ``solver="auto"``
        (:func:`snnmap.solver.cascade_stages`)."""
        return cascade_stages(self.fan_in, self.n_neurons, self.solver_config, self.dense_kernel)[0]

    @property
    def grid_stages_few(self):
        """The stages :meth:`cascade_open` takes instead of :attr:`grid_stages` on chunks where
        few pairs are open, or ``None``."""
        return cascade_stages(self.fan_in, self.n_neurons, self.solver_config, self.dense_kernel)[1]

    def closed_form(self, product):
        """:func:`snnmap.core.spiketime.closed_form` of the layer's neurons as output values
        (local time plus :attr:`time_shift`).

        Parameters
        ----------
        product : tensor
            ``sum_j J_ij u_j`` for every neuron.
        """
        fn = self.compiled("closed_form", lambda: spiketime.closed_form)
        return fn(products.tensor_of(self.inv_slope), products.tensor_of(self.offset), product,
                  self.window.length + self.time_shift)

    def refine_free(self, open_, u, ends, theta, t_in):
        """``open_`` and the free one-interval bound (no product), for the open pairs only
        (gathered, :meth:`free_open_pairs`), when :func:`snnmap.solver.free_bound_pays`; more
        open pairs go to the grid bounds, which imply it.

        Parameters
        ----------
        open_ : bool tensor
            Pairs open so far, ``(batch,) + neuron_shape``.
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        ends : LastArrival
            :meth:`last_arrival_terms` of ``u``.
        theta : tensor
            The thresholds.
        t_in : float
            ``T_in``.
        """
        pairs = float(self.n_neurons) * ops.cast(ops.shape(u)[0], "float32")
        n_open = ops.sum(ops.cast(open_, "float32"))
        return ops.cond(free_bound_pays(n_open, pairs, self.solver_config),
                        lambda: self.free_open_pairs(open_, u, ends, theta, t_in), lambda: open_)

    def free_open_pairs(self, open_, u, ends, theta, t_in):
        """The one-interval bound of :meth:`open_neurons` for the (image, neuron) pairs where
        ``open_`` holds, from their gathered terms; the others stay closed.

        Parameters
        ----------
        open_, u, ends, theta, t_in
            As :meth:`refine_free`.
        """
        n, channels = self.n_neurons, int(self.alpha.shape[-1])
        count = ops.reshape(self.arrivals_before(u, ends).count, (-1,))
        flat = lambda x: ops.reshape(x, (-1,))  # noqa: E731
        p, product = flat(ends.p), flat(ends.product)
        tau, before, start = flat(ends.tau), flat(ends.before), flat(ends.start)
        alpha, theta_f = flat(self.alpha), flat(theta)
        stats = ops.convert_to_tensor(self.kernel_stats)

        def solve(index):
            image, neuron = index // n, index % n
            alpha_i = ops.take(alpha, neuron)
            terms = bounds.tau_bounds(ops.take(tau, image), ops.take(p, index), ops.take(product, index),
                                      ops.take(count, index // channels), alpha_i,
                                      ops.take(stats, neuron % channels, axis=1), t_in, self.fan_in,
                                      self.compute_dtype)
            return bounds.grid_top(None, terms, ops.take(before, image), alpha_i, ops.take(theta_f, neuron), t_in,
                                   ops.take(start, image))

        chunk = max(1, self.solver_elements // 16)
        mask = flat(open_)
        # The results are written into the mask itself: no float copy of every pair (passes
        # over all the batch's pairs cost more than the bound on the few open ones).
        return ops.reshape(spiketime.solve_pairs(mask, mask, solve, chunk), ops.shape(open_))

    def cascade_open(self, open_, u, ends, theta, t_in, stages=None, few=None):
        """``open_`` refined by grid bounds, stage by stage, a bounded number of images at a time.

        Each stage adds inner points to the grid of the one before
        (:func:`snnmap.core.grid.cascade_grids`).  ``few``: the stages used instead on images
        where at most ``grid_many_open`` of the pairs are open in ``open_``
        (:func:`snnmap.core.grid.aligned_points`).  Without ``stages``: the layer's own,
        :attr:`grid_stages` and :attr:`grid_stages_few`.

        On each chunk of images the first stage runs if :func:`snnmap.solver.grid_needed`, each
        later one while that still holds for a later stage.  A stage reuses the products of the
        points before it and computes two (``J+``, ``J-``) per new point: 2, 4 and 8 intervals
        cost 2, 6 and 14 synapse products in all.  The products live inside the chunk only:
        between stages nothing larger than the chunk's mask is carried.

        Where shapes may vary (:func:`snnmap.core.spiketime.shapes_may_vary`), each stage
        computes its new products only in the output channels that still have an open pair in
        the chunk (:func:`snnmap.core.products.open_channels`): in networks with random weights
        the pairs the certificate leaves open crowd into a few channels; in convolutions, also
        only at the output positions that do, where they are few
        (:func:`snnmap.core.products.position_product`).

        When the first stage fits many more images at once (``grid_first_chunk``) than the
        whole cascade does (``grid_chunk``), it runs on those images together and the later
        stages go through them ``grid_chunk`` at a time, each with its images' share of the
        first stage's products: the first stage computes nearly every channel, and convolutions
        cost more per image in small batches.

        Parameters
        ----------
        open_, u, ends, theta, t_in
            As :meth:`refine_free`.
        stages, few : sequence, optional
            The cascade (:func:`snnmap.core.grid.cascade_grids`) and its alternative.
        """
        if stages is None:
            stages, few = self.grid_stages, self.grid_stages_few
        config = self.solver_config
        grids = grid.cascade_grids(stages)
        swap = None if few is None else grid.aligned_points(stages, few)
        pairs_per_image = float(self.n_neurons)
        subsets = spiketime.shapes_may_vary()
        positions = subsets and self.has_positions and config.position_share > 0
        neuron_axes = tuple(range(1, len(open_.shape)))

        def few_open(mask):
            # Per image, as (images, 1): whether the alternative points serve it.
            if swap is None:
                return None
            share = ops.sum(ops.cast(mask, "float32"), axis=neuron_axes) / pairs_per_image
            return ops.reshape(share <= config.grid_many_open, (-1, 1))

        def needed(mask, later):
            pairs = pairs_per_image * ops.cast(ops.shape(mask)[0], "float32")
            return grid_needed(ops.sum(ops.cast(mask, "float32")), self.fan_in, pairs, config, later)

        def stage(k, mask, prior, sub, part, use_few, split=False):
            # Stage k on one chunk; with ``split``, stage 0 returns its mask and products.
            last = k == len(grids) - 1
            out = self.open_neurons(sub, self.kernel, self.alpha, theta, t_in, grids[k], part,
                                    prior=prior, keep=not last,
                                    channels=products.open_channels(mask, config) if subsets else None,
                                    alternative=None if swap is None else
                                    (tuple(swap[f] for f in grids[k]), use_few),
                                    positions=products.open_positions(mask) if positions else None)
            if last:
                return ops.logical_and(mask, out)
            mask = ops.logical_and(mask, out[0])
            if split:
                return mask, out[1]
            return ops.cond(needed(mask, True), lambda: stage(k + 1, mask, out[1], sub, part, use_few), lambda: mask)

        def refine(mask, sub, part):
            use_few = few_open(mask)
            return ops.cond(needed(mask, False),
                            lambda: stage(0, mask, None, sub, self.arrivals_before(sub, part), use_few), lambda: mask)

        later_rows = self.grid_rows(u, len(grids[-1]) + 1)
        first_rows = self.chunk_rows(u, int(np.prod(u.shape[1:])) + 3 * self.n_neurons, config.grid_first_chunk)
        if len(grids) == 1 or first_rows <= later_rows:
            return self.by_images(open_, u, ends, None, refine, rows=later_rows)

        def refine_first(mask, sub, part):
            # Stage 0 on many images at once (oneDNN's convolutions cost up to twice as much
            # per image at batch 1), the later stages image by image, where the channels
            # that still hold an open pair are fewest.
            use_few = few_open(mask)

            def run():
                counted = self.arrivals_before(sub, part)
                mask0, prior = stage(0, mask, None, sub, counted, use_few, split=True)
                (p, n), = prior.stacks
                flag = ops.zeros((ops.shape(mask)[0], 1), "bool") if use_few is None else use_few

                def later(mask, sub, part, extras):
                    # Stages 1, ... on a few images, with their share of stage 0's products.
                    p, n, flag = extras
                    few_here = None if use_few is None else flag
                    mine = prior._replace(stacks=((p, n),))
                    return ops.cond(needed(mask, True), lambda: stage(1, mask, mine, sub, part, few_here),
                                    lambda: mask)

                return ops.cond(needed(mask0, True),
                                lambda: self.by_images(mask0, sub, counted, None, later, rows=later_rows,
                                                       extras=((p, 1), (n, 1), (flag, 0))),
                                lambda: mask0)

            return ops.cond(needed(mask, False), run, lambda: mask)

        return self.by_images(open_, u, ends, None, refine_first, rows=first_rows)

    def solve_open(self, u, kernel, alpha, theta, t_in, window, s, open_):
        """Exact event-driven spike times for the pairs where ``open_`` holds, in chunks.

        ``s`` (closed-form values) and the result are output values (local time plus
        :attr:`time_shift`).

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        kernel, alpha, theta : tensor
            The layer's.
        t_in : float
            ``T_in``.
        window : float
            ``B``, in local time.
        s : tensor
            The closed form's output values, kept where ``open_`` does not hold.
        open_ : bool tensor
            The pairs to solve.
        """
        alpha_flat = ops.reshape(alpha, (-1,))
        theta_flat = ops.reshape(theta, (-1,))
        n = self.n_neurons
        s_flat = ops.reshape(s, (-1,))
        shift = self.time_shift

        def solve(index):
            e, j = self.sorted_inputs(u, kernel, index)
            neuron = index % n
            r = spiketime.first_crossing(
                e, j, ops.take(alpha_flat, neuron), ops.take(theta_flat, neuron), t_in, window
            )
            # A crossing after the last input is the closed form's, which is better
            # conditioned (float32): most pairs left open were open by a loose bound.
            return ops.where(r > ops.maximum(e[:, -1], -t_in), ops.take(s_flat, index), r + shift)

        chunk = max(1, self.solver_elements // max(1, self.fan_in))
        flat = spiketime.solve_pairs(ops.reshape(open_, (-1,)), s_flat, solve, chunk)
        return ops.reshape(flat, ops.shape(s))

    def sorted_inputs(self, u, kernel, index):
        """The input events of the neurons with flat indices ``index`` (ascending), time-sorted:
        ``(e, j)`` for :func:`snnmap.core.spiketime.first_crossing`.

        Where shapes may vary, only the inputs before each neuron's last arrival are sorted
        (:func:`snnmap.core.spiketime.sort_early_inputs`), and once per receptive field
        (:meth:`field_keys`), not once per neuron: the open neurons of one position share its
        field (in VGG16-224 on images, several per position), and the sort costs more than the
        rest of the event solver.

        Parameters
        ----------
        u : tensor
            Local input times after :meth:`arrange_inputs`.
        kernel : tensor
            The layer's.
        index : int tensor
            Flat neuron indices over ``batch x neuron_shape``, ascending.
        """
        if not spiketime.shapes_may_vary():
            return spiketime.sort_inputs(*self.receptive_fields(u, kernel, index))
        keys = self.field_keys(index)
        # Ascending indices: the neurons of one field are neighbours.
        first = ops.concatenate([ops.ones((1,), "bool"), ops.not_equal(keys[1:], keys[:-1])], axis=0)
        row_of = ops.cumsum(ops.cast(first, "int32")) - 1
        fields = self.fields_of(u, ops.take(keys, spiketime.flat_nonzero(first)))
        order = spiketime.early_order(fields)
        return spiketime.early_weights(self.weights_of(kernel, index), *(ops.take(v, row_of, axis=0) for v in order))

    def scan_all(self, u, kernel, alpha, theta, t_in, window, s):
        """Every neuron's input events scanned one by one (``solver="scan"``); arguments as
        :meth:`solve_open`."""
        return self.solve_open(u, kernel, alpha, theta, t_in, window, s, ops.ones_like(s, dtype="bool"))
