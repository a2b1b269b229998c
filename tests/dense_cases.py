"""Dense spiking layers and the cases the tests build them from (shared by tests/layers and
tests/core): random ReLU weights, weights and inputs whose neurons cross before their last
input, and the oracle's spike times (tests/oracle.py) of a built layer."""

from __future__ import annotations

import numpy as np

from snnmap.layers import SpikingDense

from oracle import simulate_layer


TOL = 1e-9


def random_relu(rng, n_in, n_out, s_max=0.9, scale=1.5, bias=0.3):
    """Random Dense ReLU weights whose column sums are all < 1."""
    w = rng.normal(0.0, scale / np.sqrt(n_in), (n_in, n_out))
    s = w.sum(axis=0)
    w[:, s > s_max] *= s_max / s[s > s_max]
    b = rng.normal(0.0, bias, n_out)
    return w, b


def early_relu(rng, n_out, n_early=8, n_mid=12, n_late=10, ratio=(1.5, 1.9)):
    """Weights that make V rise, dip and rise again before t_min (condition (b)).

    V can only cross theta before t_min while y <= B_n if it is non-monotone there
    (V(t_min) is on the final line, which crosses at t_max - y >= t_min): strong
    excitation from the early inputs, stronger inhibition from the middle ones (slope
    < 0) and excitation from the late ones (final slope > 0, column sum S in (0.3, 0.8)).
    Returns ``(w, b, n_in)``; use :func:`early_inputs` for matching activations.
    """
    def group(n, total):
        g = rng.uniform(0.5, 1.5, (n, n_out))
        return g / g.sum(axis=0) * total

    w_e = rng.uniform(3.0, 8.0, n_out)
    w_i = -rng.uniform(*ratio, n_out) * w_e
    s = rng.uniform(0.3, 0.8, n_out)
    w = np.concatenate([group(n_early, w_e), group(n_mid, w_i), group(n_late, s - w_e - w_i)])
    b = rng.normal(0.0, 0.3, n_out)
    return w, b, n_early + n_mid + n_late


def early_inputs(rng, batch, n_early=8, n_mid=12, n_late=10):
    """Activations in [0, 1]: early inputs large, middle ones medium, late ones small."""
    return np.concatenate([
        rng.uniform(0.85, 1.0, (batch, n_early)),
        rng.uniform(0.35, 0.65, (batch, n_mid)),
        rng.uniform(0.0, 0.15, (batch, n_late)),
    ], axis=1)


def make_layer(w, b, X_n, t_min_prev=0.0, t_min=1.0, **kwargs):
    layer = SpikingDense(w.shape[1], t_min_prev=t_min_prev, t_min=t_min, X_n=X_n, **kwargs)
    layer.build((None, w.shape[0]))
    layer.set_relu_params(w, b)
    return layer


def params(layer):
    return (np.asarray(layer.kernel.numpy(), np.float64), np.asarray(layer.threshold.numpy(), np.float64),
            np.asarray(layer.alpha.numpy(), np.float64))


def oracle_times(layer, t):
    j, theta, alpha = params(layer)
    return simulate_layer(t, j, theta, alpha, layer.t_min_prev, layer.t_max)


def mixed_case(seed, batch, n_early_neurons):
    """A benign random layer whose first neurons have the early-crossing weights."""
    rng = np.random.default_rng(seed)
    w_e, b_e, n_in = early_relu(rng, n_early_neurons)
    w_r, b_r = random_relu(rng, n_in, 20 - n_early_neurons, scale=0.5)
    w, b = np.concatenate([w_e, w_r], axis=1), np.concatenate([b_e, b_r])
    x = early_inputs(rng, batch)
    return w, b, x, float(np.max(x @ w + b))
