"""Bounds of the potential before the last input: which neurons the event solver must see.

In local time (:mod:`snnmap.core.spiketime`) write the potential of neuron i on ``s >= -T_in``
as ``V(s) = alpha (s + T_in) + P(s) - N(s)`` with ``P(s) = sum_j J+_ij max(0, s - u_j)`` and
``N(s)`` the same with ``J-_ij = max(-J_ij, 0)``: both are non-decreasing and convex.  A
neuron whose upper bound of V stays below ``theta`` on ``[-T_in, tau]`` (``tau`` the last
arrival of its image, at least ``-T_in``) crosses after its last input, where the closed form
is exact; the others are *open* and go to the event solver.

* docs/method.md §3's certificate, ``U(tau) = max(alpha, 0) (tau + T_in) + P(tau) >= V(s)`` for
  ``s <= tau``: one product (:func:`certificate`).
* The grid bound: ``[-T_in, tau]`` cut at ``g_0 = -T_in < g_1 < ... < g_G = tau``
  (:mod:`snnmap.core.grid`).  On ``[g_{k-1}, g_k]`` convexity gives ``P`` below its chord and
  ``N`` above its tangents at both ends::

      V(s) <= alpha (s + T_in) + chord_P(s)
              - max(N(g_{k-1}) + c_{k-1} (s - g_{k-1}),  N(g_k) - d_k (g_k - s)),

  for any slopes ``c_{k-1} <= N'(g_{k-1}+)`` and ``d_k >= N'(g_k-)``: the secant of the
  interval before ``g_{k-1}`` (0 at ``g_0``) and the smaller of the secant after ``g_k`` and
  ``cap`` (an upper bound of ``N'`` before ``tau``, :func:`tau_bounds`).  The bound is concave
  and piecewise linear, largest where the two tangents cross or at an end
  (:func:`grid_top`).  Everything at ``g_0`` and ``tau`` is known without a product of its own
  (``P(tau)`` from the certificate, ``N(tau)`` from the closed form's product), so one interval
  costs no product; each inner point costs two (``P`` with ``J+``, ``N`` with ``J-``).  Unlike
  the certificate, the bound certifies neurons whose large excitatory and inhibitory sums
  cancel (common in networks with random weights).

Products come in float32 or bfloat16 and are rounded outward (:mod:`snnmap.core.products`); the
arithmetic after them, in float32 whatever the layer's dtype, gets a margin of 64 units of
float32 roundoff on the magnitudes involved: the bound stays a bound.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from keras import ops

from .products import product_bounds


class LastArrival(NamedTuple):
    """Per-call tensors the bounds start from; every field has the batch axis first."""

    tau: object  #: last arrival per image, at least ``-T_in``, shape ``(batch, 1, ...)``
    p: object  #: ``P(tau) = sum_j J+_ij (tau - u_j)`` (docs/method.md §3's certificate) as its product left it
    product: object  #: ``sum_j J_ij u_j``, the closed form's product
    before: object  #: whether an input of the image arrives before ``-T_in``, ``(batch, 1, ...)``
    start: object  #: the first arrival, at least ``-T_in``: ``V`` is ``alpha (s + T_in)`` before it
    #: inputs of each neuron that arrive before ``tau`` (``receptive_count``), once a caller
    #: that runs several grid bounds has counted them; ``None``: each bound counts
    count: object = None


class GridProducts(NamedTuple):
    """The synapse products of a grid bound at its inner points, as the products left them
    (bfloat16 or float32), for :func:`grid_bounds` to round outward where they are used and for
    a finer grid to reuse."""

    stacks: tuple  #: ``((P, N), ...)``: products with ``J+``, ``J-``, point-major ``(points, batch, ...)``
    order: tuple  #: ``((stack, index), ...)``: where each inner point's products are, in grid order
    points: tuple = ()  #: the inner points' quantiles (:func:`snnmap.core.grid.grid_points`), ascending


def certificate(alpha, tau, p, t_in, fan_in):
    """docs/method.md §3's ``U(tau) = max(alpha, 0) (tau + T_in) + P(tau) >= V(s)`` for ``s <= tau``.

    Parameters
    ----------
    alpha : tensor
        Constant input current per neuron.
    tau, p : tensor
        :class:`LastArrival` fields: the last arrival and ``P(tau)`` as computed (rounded up
        here, :func:`snnmap.core.products.product_bounds`).
    t_in : float
        ``T_in``.
    fan_in : int
        ``R``, the terms of each product.
    """
    return ops.relu(alpha) * (tau + t_in) + ops.cast(product_bounds(p, fan_in)[0], tau.dtype)


def tau_bounds(tau, p, product, count, alpha, stats, t_in, fan_in, dtype):
    """Bounds at the last arrival ``tau`` (elementwise: dense tensors or gathered pairs alike).

    * ``P(tau)`` between ``p_lo`` and ``p_up``, the bounds of its product ``p``;
    * ``V(tau) = alpha (tau + T_in) + tau sum_j J_ij - product``, no product of its own, with a
      bound on the rounding of ``product``: ``gamma_R sum_j |J_ij u_j| <= gamma_R (P + N +
      |tau| sum_j |J_ij|)``, and ``N <= |alpha| (tau + T_in) + P + |V|``;
    * hence ``N(tau) = alpha (tau + T_in) + P(tau) - V(tau)`` on both sides, for free;
    * ``cap >= N'(s) = sum_{u_j < s} J-_ij`` for every ``s < tau``: only the ``n = count``
      inputs of the neuron that arrive before ``tau`` count, so ``cap = min(sum_j J-_ij,
      n max_j J-_ij, sqrt(n) ||J-_i||_2)`` (the last by Cauchy-Schwarz).

    Parameters
    ----------
    tau, p, product : tensor
        :class:`LastArrival` fields (``p`` as computed; ``product`` is ``sum_j J_ij u_j``).
    count : tensor
        Inputs of each neuron that arrive before ``tau``.
    alpha : tensor
        Constant input current.
    stats : tensor (5, ...)
        :func:`snnmap.core.products.kernel_stats` rows of each neuron.
    t_in : float
        ``T_in``.
    fan_in : int
        ``R``.
    dtype : str
        The dtype ``product`` was computed in (its rounding is bounded).

    Returns
    -------
    tuple
        ``(p_up, n_lo, n_up, cap, tau, p_lo, n_tied)``: ``n_tied = alpha (tau + T_in) + p_lo -
        V(tau)_up``, the value ``N(tau)`` would have if ``P(tau)`` were ``p_lo`` (not clipped at 0:
        :func:`last_interval_top` pairs it with ``p_lo``).
    """
    p_up, p_lo = (ops.cast(v, tau.dtype) for v in product_bounds(p, fan_in))
    j_sum, neg_sum, neg_max, neg_norm, abs_sum = (stats[k] for k in range(5))
    rise = alpha * (tau + t_in)
    v_tau = rise + tau * j_sum - product
    terms = (fan_in + 4) * float(np.finfo(np.dtype(dtype)).eps) / 2
    gamma = 2 * terms / (1 - terms)
    err = gamma * (2 * p_up + ops.abs(rise) + ops.abs(v_tau) + ops.abs(tau) * abs_sum + ops.abs(product))
    n_up = rise + p_up - (v_tau - err)
    n_tied = rise + p_lo - (v_tau + err)
    count = ops.cast(count, tau.dtype)
    cap = ops.minimum(ops.minimum(neg_sum, neg_max * count), neg_norm * ops.sqrt(count)) * (1 + 2.0 ** -20)
    return p_up, ops.relu(n_tied), n_up, cap, tau, p_lo, n_tied


def grid_bounds(kept, fan_in):
    """``(P up, N down, N up)`` at the inner points of a grid, each a list in grid order of
    ``(batch,) + neuron_shape`` tensors, from its :class:`GridProducts` (rounded outward by
    :func:`snnmap.core.products.product_bounds`).

    Parameters
    ----------
    kept : GridProducts
    fan_in : int
        ``R``.
    """
    p_up, n_lo, n_up = [], [], []
    for stack, index in kept.order:
        y_p, y_n = kept.stacks[stack]
        p_up.append(product_bounds(y_p[index], fan_in)[0])
        up, lo = product_bounds(y_n[index], fan_in)
        n_up.append(up)
        n_lo.append(lo)
    return p_up, n_lo, n_up


def grid_top(inner, terms, before, alpha, theta, t_in, start=None):
    """Whether the grid bound reaches ``theta - slack`` on some interval: the open pairs.

    Elementwise, so it serves dense tensors and gathered pairs alike; float32 from here on (the
    products are float32 anyway: half the memory traffic of float64; the slack of 64 float32
    roundoffs of the magnitudes involved covers its rounding).  Written interval by interval on
    per-point tensors: compiled, that is one pass over the neurons with no point-stacked
    intermediate in memory.  ``P(g_0)``, ``N(g_0)`` are 0 unless an input arrives before
    ``-T_in`` (then the values at ``g_1`` bound them).

    Parameters
    ----------
    inner : tuple or None
        ``None`` (one interval) or ``(g, P_up, N_lo, N_up)``, lists in grid order of the inner
        points and of the values there (:func:`grid_bounds`).
    terms : tuple
        :func:`tau_bounds`.
    before : bool tensor
        :attr:`LastArrival.before`.
    alpha, theta : tensor
        Constant input current and threshold.
    t_in : float
        ``T_in``.
    """
    f32 = "float32"
    p_tau, n_tau_lo, n_tau_up, cap, tau, p_tau_lo, n_tied = (ops.cast(v, f32) for v in terms)
    alpha, theta = ops.cast(alpha, f32), ops.cast(theta, f32)
    g, p_in, n_in_lo, n_in_up = ([], [], [], []) if inner is None else inner
    zero = ops.zeros_like(p_tau)
    first = ops.full(ops.shape(tau), -t_in, f32) if start is None else ops.cast(start, f32) + ops.zeros_like(tau)
    pts = [first] + [ops.maximum(ops.cast(x, f32), first) for x in g] + [tau]
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
    # Before the first arrival V = alpha (s + T_in) lies between V(-T_in) = 0 and V(first).
    reached = zero >= level
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
            top = ops.minimum(top, last_interval_top(
                v_pts[k - 1], p_pts[k - 1], n_pts[k - 1], pts[k - 1], width[k], c_left, d_right,
                p_tau, p_tau_lo, n_tied, tau, alpha, t_in))
        hit = top >= level
        reached = ops.logical_or(reached, hit)
    return reached


def last_interval_top(v_a, p_a, n_a, a, width, c, d, p_up, p_lo, n_tied, tau, alpha, t_in):
    """A second bound of ``max V`` on the last interval ``[a, tau]`` of :func:`grid_top`, tight
    at ``tau`` where ``P(tau)`` is known only within ``[p_lo, p_up]`` but ``P(tau) - N(tau)`` is
    known from the closed form's product (:func:`tau_bounds`).

    With ``l = (s - a) / width``: ``h1(s) = alpha (s + T_in) + (1 - l) P(a) + l P(tau) - N(a) -
    c (s - a)`` grows with ``P(tau)``: ``p_up`` bounds it.  ``h2(s) = alpha (s + T_in) + (1 - l)
    P(a) + l P(tau) - N(tau) + d (tau - s)``, with ``N(tau) = P(tau) - (V(tau) - alpha (tau +
    T_in))``, falls as ``P(tau)`` grows: ``p_lo`` with ``n_tied`` bounds it, and ``h2(tau) =
    V(tau)`` (rounded up).  ``V <= min(h1, h2)``, two lines: the top is at an end or where they
    cross.

    Parameters
    ----------
    v_a, p_a, n_a : tensor
        Bounds of ``V(a)`` (upper), ``P(a)`` (upper), ``N(a)`` (lower).
    a, width : tensor
        The interval's start and length ``tau - a``.
    c, d : tensor
        Slopes ``c <= N'(a+)`` and ``d >= N'(tau-)``.
    p_up, p_lo, n_tied : tensor
        :func:`tau_bounds`.
    tau, alpha : tensor
        Last arrival and constant input current.
    t_in : float
        ``T_in``.
    """
    h1a, h2b = v_a, alpha * (tau + t_in) + p_lo - n_tied
    h1b = alpha * (tau + t_in) + p_up - n_a - c * width
    h2a = alpha * (a + t_in) + p_a - n_tied + d * width
    da, db = h1a - h2a, h1b - h2b
    crosses = da * db < 0
    share = da / ops.where(crosses, da - db, 1.0)
    ends = ops.maximum(ops.minimum(h1a, h2a), ops.minimum(h1b, h2b))
    return ops.where(crosses, ops.maximum(ends, h1a + share * (h1b - h1a)), ends)


def bound_open(t_in, inner, tau, p, product, count, before, alpha, theta, stats, fan_in, dtype, start=None):
    """:func:`grid_bounds`, :func:`tau_bounds` then :func:`grid_top`: the pairs a grid bound
    leaves open (the function the layers compile as one pass in large layers).

    Parameters
    ----------
    t_in : float
        ``T_in``.
    inner : tuple or None
        ``None`` (one interval) or ``(g, GridProducts)``, ``g`` the inner points point-major.
    tau, p, product, before : tensor
        :class:`LastArrival` fields.
    count : tensor
        Inputs of each neuron arriving before ``tau``.
    alpha, theta : tensor
        Constant input current and threshold.
    stats : tensor
        :func:`snnmap.core.products.kernel_stats`.
    fan_in : int
        ``R``.
    dtype : str
        The layer's compute dtype.
    """
    terms = tau_bounds(tau, p, product, count, alpha, stats, t_in, fan_in, dtype)
    if inner is not None:
        g = inner[0]
        inner = ([g[k] for k in range(int(g.shape[0]))],) + grid_bounds(inner[1], fan_in)
    return grid_top(inner, terms, before, alpha, theta, t_in, start)
