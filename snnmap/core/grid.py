"""The grids of the grid bounds: which inner points a stage names, and where they fall.

A grid bound (:mod:`snnmap.core.bounds`) cuts ``[-T_in, tau]`` of an image at points
``g_0 < g_1 < ... < g_G = tau`` (``g_0`` the first arrival, at least ``-T_in``).  Its inner
points are quantiles of the image's informative arrival times (of the inputs that arrive before
``tau``: in ReLU networks most inputs code 0 and all arrive at ``tau``), by the rank of their
distinct times blended with their place in time (:func:`quantile_grid`).  A stage names its
points as exact fractions, and a cascade of stages accumulates them, so that each stage reuses
the products of the points before it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from keras import ops

#: How far above ``f`` a level may lie and still count as "at most ``f``" in
#: :func:`quantile_grid`.  Levels such as ``r / d`` land exactly on a point (7 / 10 on 0.7), and
#: backends round them either way (XLA multiplies by ``1 / d``); the slack makes every backend pick
#: the same input.  It is far below the step between ranks (``1 / d``, ``d`` at most ``sample``).
LEVEL_SLACK = 1e-6


def grid_points(stage):
    """The inner points a grid stage names, as quantiles (exact fractions in (0, 1)).

    Parameters
    ----------
    stage : int or sequence of float
        An int ``G``: the ``G``-interval grid's points ``k/G``; a sequence: its own points
        (floats are read to the nearest fraction with a denominator up to 1000: 0.35 is 7/20).
    """
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


def cascade_grids(stages):
    """The inner points (ascending) of each stage's grid in a cascade: stage ``k`` holds the
    points of :func:`grid_points` ``(stages[k])`` and every earlier stage's.

    Parameters
    ----------
    stages : sequence
        Stages as :func:`grid_points` reads them; ``(2, 4, 8)`` are the grids of 2, 4 and 8
        intervals, ``((0.35,), (0.7,))`` adds one point per stage.
    """
    grids, points = [], set()
    for stage in stages:
        points |= set(grid_points(stage))
        grids.append(tuple(sorted(points)))
    if not grids:
        raise ValueError("a cascade needs at least one stage")
    return tuple(grids)


def aligned_points(stages, few):
    """``{point of stages: point of few}``, matching the points each stage adds in turn.

    Checks that every grid of the cascade keeps its order when its points are swapped, so that
    one traced cascade serves both (the grid of a chunk is picked per chunk, at run time).

    Parameters
    ----------
    stages, few : sequence
        Two cascades of the same number of stages (see :func:`cascade_grids`).
    """
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


def quantile_grid(u, tau, points, t_in, sample, alternative=None, time_share=0.0, alternative_share=0.0):
    """The inner points ``g_1 < ... < g_m`` of each image's grid, point-major.

    Each informative input (arriving before ``tau``) of an image gets a *level* in ``[0, 1)``:
    ``(1 - w) r / d + w (u_j - a) / (tau - a)``, with ``r`` the rank of its time among the
    image's ``d`` distinct informative arrival times, ``a`` the image's first arrival (at least
    ``-T_in``) and ``w`` = ``time_share``.  Point ``f`` is the latest input whose level is at most
    ``f`` (to within :data:`LEVEL_SLACK`), clipped to ``[-T_in, tau]`` (no informative input:
    every point is ``tau``); with ``w = 0``, the distinct time of rank ``floor(f d)``.  Levels come from an evenly
    strided sample of about ``sample`` inputs (any grid gives a bound: a sample's quantiles are as
    good and spare sorting them all).

    Why both parts: the bound on an interval is loose by about the inhibitory and excitatory
    weight arriving inside it times its width.  Ranks of *distinct* times spread the points over
    the inputs without stacking several on one tied time (in images whole regions arrive at one
    time, where a point cuts nothing); but in ReLU networks most informative inputs code small
    activations and crowd just before ``tau``, so ranks alone leave the few large activations,
    which arrive first and weigh most, in one wide first interval.  The share of time keeps
    every interval narrower than ``(tau - a) df / w``.  A point depends on its own ``f`` only, so
    a cascade's earlier points keep their places.

    Parameters
    ----------
    u : tensor (batch, ...)
        Local input times as the synapse operator reads them.
    tau : tensor (batch, 1, ...)
        Each image's last arrival (at least ``-T_in``).
    points : tuple of Fraction
        The quantiles, ascending (:func:`inner_points`).
    t_in : float
        ``T_in``.
    sample : int
        About how many inputs per image the quantiles are taken from.
    alternative : (points, use), optional
        Quantiles taken instead of ``points`` (one for each, ascending, of the same ranks:
        :func:`aligned_points`) where the boolean tensor ``use`` holds.
    time_share : float
        ``w`` above, in ``[0, 1]``; 0 takes the ranks of distinct times alone.
    alternative_share : float
        ``w`` for the alternative points.

    Returns
    -------
    tensor (m, batch, 1, ...)
        The points, one stack per inner point (broadcastable against ``u``).
    """
    m = len(points)
    batch = ops.shape(u)[0]
    in_shape = tuple(u.shape[1:])
    size = int(np.prod(in_shape))
    stride = max(1, size // sample)
    flat = ops.reshape(u, (batch, -1))[:, ::stride]
    size = -(-size // stride)
    tau_flat = ops.reshape(tau, (batch, 1))
    # Informative arrivals first (ascending), then the ones at tau.
    ordered = ops.sort(flat, axis=-1)
    # Where each distinct informative time first appears, and its rank among them.
    first = ops.concatenate([ops.ones_like(ordered[:, :1], dtype="bool"),
                             ops.not_equal(ordered[:, 1:], ordered[:, :-1])], axis=-1)
    first = ops.logical_and(first, ordered < tau_flat)
    rank = ops.cumsum(ops.cast(first, "int32"), axis=-1) - 1
    distinct = ops.sum(ops.cast(first, "int32"), axis=-1, keepdims=True)

    # Each informative input's level: its distinct rank's share of d, blended with its place in
    # time between the image's first arrival and tau.
    lo = ops.maximum(ordered[:, :1], -t_in)
    span = tau_flat - lo
    along = (ordered - lo) / ops.where(span > 0, span, ops.ones_like(span))
    share = ops.cast(rank, ordered.dtype) / ops.cast(ops.maximum(distinct, 1), ordered.dtype)

    def levels(w):
        return ops.where(ordered < tau_flat, (1.0 - w) * share + w * along, 2.0)

    def pick(f, level):
        # The last input whose level is at most f (ascending levels: those before it).
        return ops.maximum(ops.sum(ops.cast(level <= float(f) + LEVEL_SLACK, "int32"), axis=-1, keepdims=True) - 1, 0)

    level = levels(time_share)
    picks = [pick(f, level) for f in points]
    if alternative is not None:
        other, use = grid_points(alternative[0]), alternative[1]
        if len(other) != m or list(other) != sorted(set(other)):
            raise ValueError(f"alternative points {[float(f) for f in other]}: need {m}, ascending")
        if alternative_share != time_share:
            level = levels(alternative_share)
        picks = [ops.where(use, pick(f, level), p) for f, p in zip(other, picks)]
    grid = ops.take_along_axis(ordered, ops.minimum(ops.concatenate(picks, axis=-1), size - 1), axis=-1)
    grid = ops.clip(grid, -t_in, tau_flat)
    return ops.reshape(ops.transpose(grid), (m, batch) + (1,) * len(in_shape))
