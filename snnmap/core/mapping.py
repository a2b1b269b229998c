"""The parameters of the exact mapping (docs/method.md §1 and §3), in NumPy float64.

These are plain functions of a preprocessed ReLU layer's weights ``W`` and bias ``b``
and of the time windows; the spiking layers (:mod:`snnmap.layers`) only store what
they return.  Everything here is computed in float64, whatever dtype the spiking
model later runs in, so that rounding enters once, when the parameters are cast.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..runtime import normalise

#: Default safety margin of the windows, ``B_n = (1 + zeta) X_n`` (docs/method.md §1).
DEFAULT_ZETA = 0.5


@dataclasses.dataclass(frozen=True)
class Window:
    """Time window of spiking layer n: it spikes in ``[t_min, t_max]``.

    Parameters
    ----------
    t_min_prev : float
        ``t_min(n-1)``: start of the window of the layer's inputs, when its
        potential starts to integrate (0 for the first layer).
    t_min : float
        ``t_min(n) = t_max(n-1)``: all inputs have arrived by then.
    t_max : float
        ``t_max(n) = t_min(n) + B_n``; a neuron that has not fired by then fires at
        ``t_max`` (codes 0).  For the output layer ``t_max == t_min``: the readout
        happens at ``t_min(N)``.
    """

    t_min_prev: float
    t_min: float
    t_max: float

    @property
    def input_length(self) -> float:
        """``T_in = t_min(n) - t_min(n-1)``, the length of the input window."""
        return self.t_min - self.t_min_prev

    @property
    def length(self) -> float:
        """``B_n = t_max(n) - t_min(n)``."""
        return self.t_max - self.t_min


#: A window must span more than this many float64 spacings of its start time.
MIN_WINDOW_ULPS = 64

#: The largest latency ``t_min(N)`` a saved phase 1 may imply: float64 spike times then keep a
#: resolution ``2**-52 * 1e6 ~ 2.2e-10``, below the ``1e-9`` that exactness is checked to.
MAX_LATENCY = 1e6


def windows(x_n, zeta: float = DEFAULT_ZETA, input_window: float = 1.0):
    """Consecutive windows of the hidden layers and of the output layer.

    Implements docs/method.md §1: ``t_min(1) = input_window`` (inputs spike in ``[0, 1]``),
    ``B_n = (1 + zeta) X_n``, ``t_max(n) = t_min(n) + B_n``, ``t_min(n+1) = t_max(n)``.

    Parameters
    ----------
    x_n : sequence of float
        ``X_n`` of every hidden layer, in order (largest ReLU output on the
        calibration data of the preprocessed network).
    zeta : float
        Window margin, ``zeta >= 0`` (default 0.5).
    input_window : float
        Length of the input window (1 for the TTFS code of :func:`snnmap.encode`).

    Returns
    -------
    list of Window
        ``len(x_n) + 1`` windows: one per hidden layer, then the output layer's, whose
        ``t_max == t_min`` (the readout time, i.e. the latency).
    """
    x_n = [float(x) for x in x_n]
    if zeta < 0 or not np.isfinite(zeta):
        raise ValueError(f"zeta must be a finite number >= 0, got {zeta}")
    for k, x in enumerate(x_n):
        if not np.isfinite(x) or x <= 0:
            raise ValueError(
                f"X_n of hidden layer {k + 1} is {x}: it must be finite and > 0 "
                "(a layer whose ReLU outputs are all 0 on the calibration data cannot "
                "be given a window; check the calibration data and the model)"
            )
    out, t_prev, t_min = [], 0.0, float(input_window)
    for k, x in enumerate(x_n):
        t_max = t_min + (1.0 + zeta) * x
        if t_max - t_min <= MIN_WINDOW_ULPS * np.spacing(t_min):
            # Float64 times near t_min cannot tell the window's start from its end.
            raise ValueError(
                f"X_n of hidden layer {k + 1} is {x:.3g}, too small next to the time its window starts "
                f"({t_min:.6g}): float64 spike times cannot resolve such a window. The layer (almost) never "
                "activates on the calibration data: check that the calibration data are the model's real "
                "inputs in its input range, and the layer's weights (tiny or dead), or remove the layer"
            )
        out.append(Window(t_prev, t_min, t_max))
        t_prev, t_min = t_min, t_max
    out.append(Window(t_prev, t_min, t_min))
    return out


def fan_in_sums(w: np.ndarray) -> np.ndarray:
    """Column sums ``S_i = sum_j W_ji`` of a Dense ``(n_in, n_out)`` or Conv2D
    ``(kh, kw, c_in, c_out)`` kernel: one value per output unit / channel."""
    w = np.asarray(w, dtype=np.float64)
    return w.reshape(-1, w.shape[-1]).sum(axis=0)


def hidden_params(w, b, window: Window):
    """Synaptic weights ``J`` and thresholds ``theta`` of a hidden spiking layer (alpha = 1).

    docs/method.md §3 with ``alpha_i = 1``::

        J_ij    = W_ji / (1 - S_i)
        D_i     = B_n * sum_j J_ij - (1 + sum_j J_ij) * b_i
        theta_i = (t_max(n) - t_min(n-1)) + D_i

    Parameters
    ----------
    w : ndarray
        Kernel of the preprocessed ReLU layer, Dense ``(n_in, n_out)`` or Conv2D
        ``(kh, kw, c_in, c_out)``, with every column sum ``S_i < 1``.
    b : ndarray
        Bias: ``(n_out,)``, or a per-position bias map ``(h_out, w_out, c_out)`` for
        convolutions (docs/method.md §4).
    window : Window
        The layer's window.

    Returns
    -------
    (J, theta) : tuple of ndarray, float64
        ``J`` has the shape of ``w``; ``theta`` has the shape of ``b``.
    """
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = fan_in_sums(w)
    if np.any(s >= 1.0):
        bad = np.flatnonzero(s >= 1.0)
        raise ValueError(
            f"{bad.size} neuron(s) have weight sum S_i >= 1 (first: unit {bad[0]}, "
            f"S = {s[bad[0]]:.6g}); the mapping needs S_i < 1. Run phase 1 "
            "(snnmap.preprocess), whose weight-sum scaling guarantees it."
        )
    j = w / (1.0 - s)
    j_sum = s / (1.0 - s)
    d = window.length * j_sum - (1.0 + j_sum) * b
    theta = (window.t_max - window.t_min_prev) + d
    return j, theta


def output_params(w, b, window: Window):
    """Weights and constant current of the output (readout) layer.

    docs/method.md §3: ``J = W`` and ``alpha_i = b_i / (t_min(N) - t_min(N-1))``; the readout
    ``V_i(t_min(N))`` then equals ``W^T x + b``.

    Returns
    -------
    (W, alpha) : tuple of ndarray, float64
    """
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return w.copy(), b / window.input_length


def encode(x, input_range=(0.0, 1.0), clip=False):
    """Time-to-first-spike code of the input (docs/method.md §1).

    A pixel ``x`` in ``[p, q]`` is normalised to ``x_hat = (x - p) / (q - p)`` and spikes
    at ``t = 1 - x_hat`` in the input window ``[0, 1]``.

    Parameters
    ----------
    x : array_like
        Input values in ``input_range``.
    input_range : (float, float)
        ``(p, q)`` with ``q > p``; values outside it are refused.
    clip : bool
        Clip the values to ``input_range`` instead of refusing those outside it.

    Returns
    -------
    ndarray, float64
        Input spike times.
    """
    return 1.0 - normalise(x, input_range, check_finite=False, clip=clip)


def quantize_weights(w, bits, w_min=None, w_max=None):
    """Weights rounded to ``2**bits`` evenly spaced levels of ``[w_min, w_max]`` (docs/method.md §6).

    Values outside the interval are clipped to it.  Without ``w_min``/``w_max`` the interval
    is ``[-m, m]`` with ``m = max |w|`` (a symmetric range that keeps the sign of every
    weight).
    """
    w = np.asarray(w, dtype=np.float64)
    if w_min is None:
        m = float(np.max(np.abs(w))) if w.size else 0.0
        if m == 0.0:
            return w.copy()
        w_min, w_max = -m, m
    step = (w_max - w_min) / (2 ** int(bits) - 1)
    return w_min + np.round((np.clip(w, w_min, w_max) - w_min) / step) * step
