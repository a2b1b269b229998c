"""What the solver stages of a spiking layer do on a batch: open fractions and eager timings.

:func:`solver_report` runs the stages of ``solver="auto"`` one by one, eagerly, on one batch of
a layer's inputs, and says how many (image, neuron) pairs each leaves open and how long each
took: the figures behind the speed of the exact SNN (bench/bench_cnn.py prints them).
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import ops

from ..core.grid import cascade_grids
from ..solver import grid_needed


def _timed(fn):
    """``(fn(), seconds)``, the result made concrete before the clock stops."""
    t0 = time.perf_counter()
    out = fn()
    for part in keras.tree.flatten(out):
        ops.convert_to_numpy(part)
    return out, time.perf_counter() - t0


def _count(mask):
    return int(np.sum(ops.convert_to_numpy(mask)))


def _stages_run(layer, free_open, u, ends, t_in, n_free, pairs):
    """The grids' interval counts that the whole batch would run, stage after stage (the layer
    decides per chunk of images): each prefix of the cascade once."""
    cascade, few = layer.grid_stages, layer.grid_stages_few
    stages, n_open = [], n_free
    for k, points in enumerate(cascade_grids(cascade)):
        if not grid_needed(n_open, layer.fan_in, pairs, layer.solver_config, later=k > 0):
            break
        stages.append(len(points) + 1)
        if k + 1 < len(cascade):  # the last stage's count is not needed
            prefix = layer.cascade_open(free_open, u, ends, layer.threshold, t_in, cascade[:k + 1],
                                        None if few is None else few[:k + 1])
            n_open = _count(prefix)
    return stages


def _hidden_stages(layer, u, keep):
    """The stages of ``solver="auto"`` on local inputs ``u``, timed through ``keep``; returns
    the fractions and counts of :func:`solver_report`."""
    win = layer.window
    t_in = win.input_length
    product, s_ = _timed(lambda: layer.synapse(u, layer.kernel))
    s, s2 = _timed(lambda: layer.closed_form(product))
    keep("closed_form_s", s_ + s2)
    ends, s_ = _timed(lambda: layer.last_arrival_terms(u, t_in, product))
    open1, s2 = _timed(lambda: layer.certificate(ends, t_in) >= layer.threshold)
    keep("certificate_s", s_ + s2)
    open_, s_ = _timed(lambda: layer.refine_free(open1, u, ends, layer.threshold, t_in))
    keep("free_s", s_)
    n_free = _count(open_)
    free_open = open_
    open_, s_ = _timed(lambda: layer.cascade_open(free_open, u, ends, layer.threshold, t_in))
    pairs = layer.n_neurons * int(u.shape[0])
    stages = _stages_run(layer, free_open, u, ends, t_in, n_free, pairs)
    if stages:
        keep("grid_bound_s", s_)
    n_solver = _count(open_)
    exact, s_ = _timed(lambda: layer.solve_open(u, layer.kernel, layer.alpha, layer.threshold, t_in, win.length,
                                                s, open_))
    keep("event_solver_s", s_)
    # Pairs whose spike time the event solver changed: those that really needed it.
    exact, closed = ops.convert_to_numpy(exact), ops.convert_to_numpy(s)
    tol = 64 * float(np.finfo(exact.dtype).eps) * max(1.0, win.length + t_in)
    n_needed = int(np.sum(np.abs(exact - closed) > tol))
    return dict(open_1block=_count(open1) / pairs, open_free=n_free / pairs, grid_bound=bool(stages),
                grid_stages=stages, to_solver=n_solver / pairs, n_to_solver=n_solver,
                solver_changed=n_needed / pairs, n_solver_changed=n_needed)


def solver_report(layer, inputs, repeat=1):
    """Open fractions and an eager time breakdown of a spiking layer's solver stages.

    Parameters
    ----------
    layer : snnmap.layers.SpikingLayer
        A built layer with its parameters set.
    inputs : array (batch, ...)
        Its input spike times, in its frame (what the layer is called with).
    repeat : int
        Each timing is the best of ``repeat`` runs.

    Returns
    -------
    dict
        For a hidden layer, over the batch's (image, neuron) pairs: ``open_1block`` the fraction
        docs/method.md §3's certificate leaves open; ``open_free`` the fraction the free one-interval
        bound still leaves open; ``grid_bound`` whether ``solver="auto"`` refines it with grid
        bounds on this batch and ``grid_stages`` the interval counts of the grids it runs in
        turn (:func:`snnmap.solver.grid_needed`); ``to_solver`` (``n_to_solver``) the fraction
        (number) handed to the event solver; ``solver_changed`` (``n_solver_changed``) those
        whose spike time it changed (they crossed before their last input).  Then the best
        eager seconds: ``synapse_s`` (one synapse product), ``layer_call_s`` (the whole call),
        and for a hidden layer ``closed_form_s``, ``certificate_s``, ``free_s``,
        ``grid_bound_s`` (when grids run) and ``event_solver_s``.  Indicative only: eager calls,
        outside any compiled graph.
    """
    t = ops.convert_to_tensor(np.asarray(inputs), layer.compute_dtype)
    best = {}

    def keep(key, seconds):
        best[key] = min(best.get(key, float("inf")), seconds)

    figures = {}
    for _ in range(repeat):
        u, _s = _timed(lambda: layer.local_inputs(t))
        _, s_ = _timed(lambda: layer.synapse(u, layer.kernel))
        keep("synapse_s", s_)
        _, s_ = _timed(lambda: layer(t))
        keep("layer_call_s", s_)
        if not layer.output_layer:
            figures = _hidden_stages(layer, u, keep)
    return {**figures, **best}
