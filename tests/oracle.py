"""Independent reference simulator of single-spike neurons (docs/method.md §2), plain NumPy.

(Sums over inputs use ``np.einsum``, not ``@``: the small products would otherwise go to
a multi-threaded BLAS, which is ten times slower on a busy two-core machine.)

This module deliberately shares no code and no algorithm with ``snnmap``: it steps the
potential on a fine time grid instead of solving the dynamics event by event.

Neuron i integrates from ``t_min_prev`` on::

    V_i(t) = alpha_i * (t - t_min_prev) + sum_j J_ji * max(0, t - t_j),   t >= t_min_prev

and fires at the first ``t`` with ``V_i(t) >= theta_i``, or at ``t_max`` if there is none
before ``t_max``.  (``J`` has the Dense layout ``(n_in, n_out)``.)

How the first crossing is found
-------------------------------
1. ``V`` is evaluated on the grid ``t_min_prev, t_min_prev + dt, ..., t_max`` together with
   every input spike time that falls inside ``[t_min_prev, t_max]``.
2. ``V`` is continuous and piecewise linear; its slope only changes at input spike times.
   Because all of those are evaluation points, ``V`` is linear between two consecutive
   evaluation points, so if it is below ``theta`` at both ends it is below ``theta`` in
   between: the first evaluation point with ``V >= theta`` closes the segment that holds
   the first crossing (no crossing-and-recrossing can hide between grid points).
3. On that segment ``V`` is linear, so the crossing is found by linear interpolation
   between the segment's two end points, which is exact up to rounding.

Accuracy: the returned times are exact up to the rounding of ``V`` itself (about
``1e-15 * |V|`` absolute), divided by the slope of ``V`` at the crossing, i.e. ~1e-13 or
better for the O(1) slopes of the test layers.  ``dt`` only sets how many points are
evaluated, not the accuracy (test_spiketime.py checks both claims).
"""

from __future__ import annotations

import numpy as np


def potential(t, t_in, J, alpha, t_min_prev):
    """``V(t)`` of every neuron for ONE sample.

    Parameters
    ----------
    t : ndarray (k,) or (k, n_out)
        Times; a 1-D ``t`` is shared by all neurons, a 2-D ``t`` gives one time per neuron.
    t_in : ndarray (n_in,)
        Input spike times of the sample.
    J : ndarray (n_in, n_out)
    alpha : ndarray (n_out,)

    Returns
    -------
    ndarray (k, n_out)
    """
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == 1:
        ramps = np.maximum(0.0, t[:, None] - t_in[None, :])           # (k, n_in)
        return alpha[None, :] * (t[:, None] - t_min_prev) + np.einsum("kj,ji->ki", ramps, J)
    # One time per (row, neuron): ramps (k, n_in, n_out).
    ramps = np.maximum(0.0, t[:, None, :] - t_in[None, :, None])
    return alpha[None, :] * (t - t_min_prev) + np.sum(ramps * J[None, :, :], axis=1)


def simulate_sample(t_in, J, theta, alpha, t_min_prev, t_max, dt=1e-3):
    """First threshold-crossing times ``(n_out,)`` of one sample (see the module doc)."""
    t_in = np.asarray(t_in, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    n_out = J.shape[1]

    # Evaluation points: a regular grid, the window end, and every input spike time in
    # range (the only places where the slope of V changes).
    grid = np.arange(t_min_prev, t_max, dt)
    inside = t_in[(t_in >= t_min_prev) & (t_in <= t_max)]
    points = np.unique(np.concatenate([grid, inside, [t_min_prev, t_max]]))

    v = potential(points, t_in, J, alpha, t_min_prev)                  # (k, n_out)
    reached = v >= theta[None, :]
    fired = reached.any(axis=0)
    first = np.argmax(reached, axis=0)                                 # first point with V >= theta

    out = np.full(n_out, float(t_max))
    # V >= theta already when integration starts: the neuron fires at t_min_prev.
    at_start = fired & (first == 0)
    out[at_start] = t_min_prev

    refine = fired & (first > 0)
    if np.any(refine):
        idx = np.flatnonzero(refine)
        lo = points[first[idx] - 1]          # V(lo) < theta
        hi = points[first[idx]]              # V(hi) >= theta
        v_lo = v[first[idx] - 1, idx]
        v_hi = v[first[idx], idx]
        # V is linear on [lo, hi] (no input spike strictly inside), so linear
        # interpolation is exact up to rounding; the clip keeps the root in [lo, hi].
        frac = np.clip((theta[idx] - v_lo) / (v_hi - v_lo), 0.0, 1.0)
        out[idx] = lo + frac * (hi - lo)
    return np.minimum(out, t_max)


def simulate_layer(t_in, J, theta, alpha, t_min_prev, t_max, dt=1e-3):
    """First threshold-crossing times of a Dense spiking layer, ``(batch, n_out)``.

    ``t_in`` is ``(batch, n_in)`` (or ``(n_in,)`` for one sample); inputs may arrive
    before ``t_min_prev`` (they contribute ``J * (t - t_j)`` from ``t_min_prev`` on) or
    after ``t_max`` (they never contribute).  Neurons that do not reach ``theta`` before
    ``t_max`` fire at ``t_max``.
    """
    t_in = np.asarray(t_in, dtype=np.float64)
    if t_in.ndim == 1:
        return simulate_sample(t_in, J, theta, alpha, t_min_prev, t_max, dt)
    return np.stack([simulate_sample(row, J, theta, alpha, t_min_prev, t_max, dt) for row in t_in])


def readout(t_in, W, alpha, t_min_prev, t_min):
    """Readout potential ``V_i(t_min)`` of the output layer, ``(batch, n_out)``.

    ``V_i(t_min) = alpha_i (t_min - t_min_prev) + sum_j W_ji max(0, t_min - t_j)``.
    """
    t_in = np.atleast_2d(np.asarray(t_in, dtype=np.float64))
    W = np.asarray(W, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    ramps = np.maximum(0.0, t_min - t_in)
    return alpha[None, :] * (t_min - t_min_prev) + np.einsum("bj,ji->bi", ramps, W)
