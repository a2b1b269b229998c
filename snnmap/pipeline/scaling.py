"""Weight-sum scaling of the folded stages (docs/method.md §4).

The weight sum of hidden neuron ``i`` is ``S_i = sum_j W_ji``.  The mapping needs
``lower_b <= S_i <= upper_b``; ReLU is positively homogeneous, so a neuron outside the
bounds is multiplied by a positive factor ``f_i`` (``upper_b / S_i`` or ``lower_b / S_i``)
and the next Dense/Conv2D divides its incoming weights from it by ``f_i``: the network
function is unchanged.
"""

from __future__ import annotations

import numpy as np

#: Default upper bound on hidden weight sums, ``S_i <= upper_b < 1``.
DEFAULT_UPPER_B = 0.99
#: Default lower bound on hidden weight sums, ``S_i >= lower_b``.
DEFAULT_LOWER_B = -10.0


def _carry_reshape(comp, stage):
    return comp.reshape(stage.output_shape)


def _carry_zeropad(comp, stage):
    return np.pad(comp, stage.config["padding"] + ((0, 0),), mode="edge")


def _carry_per_channel(comp, stage):
    return np.broadcast_to(comp.reshape(-1, comp.shape[-1])[0], stage.output_shape).copy()


#: How a per-element factor on the activations passes through each stage that only moves
#: values: Flatten and Reshape reshape it, zero padding extends it, pooling keeps it per channel.
CARRY = {
    "flatten": _carry_reshape,
    "reshape": _carry_reshape,
    "zeropad": _carry_zeropad,
    "maxpool": _carry_per_channel,
}


def _compensate(stage, comp):
    """Divide a linear stage's incoming weights by the factors ``comp`` of its inputs."""
    if stage.kind == "dense":
        stage.W = stage.W / comp.reshape(-1)[:, None]
    else:
        per_channel = comp.reshape(-1, comp.shape[-1])[0]
        stage.W = stage.W / per_channel[None, None, :, None]


def _scale(stage, upper_b, lower_b):
    """Scale one hidden stage's neurons into the bounds; returns the factors and the counts."""
    s = stage.W.reshape(-1, stage.W.shape[-1]).sum(axis=0)
    f = np.ones_like(s)
    high, low = s > upper_b, s < lower_b
    f[high] = upper_b / s[high]
    f[low] = lower_b / s[low]
    stage.W = stage.W * f
    stage.b = stage.b * f
    return f, {"above_upper_b": int(high.sum()), "below_lower_b": int(low.sum()), "units": int(s.size)}


def scale_weight_sums(stages, upper_b=DEFAULT_UPPER_B, lower_b=DEFAULT_LOWER_B):
    """Scale every hidden neuron's weight sum into ``[lower_b, upper_b]``, in place.

    A hidden neuron (channel) with ``S_i > upper_b`` is multiplied by ``upper_b / S_i``,
    one with ``S_i < lower_b`` by ``lower_b / S_i``; the next Dense/Conv2D's incoming
    weights from it are divided by the same positive factor (ReLU is positively
    homogeneous, max/min pooling and Flatten commute with it).  The output layer is only
    compensated.

    Parameters
    ----------
    stages : list of Stage
        Output of :func:`snnmap.pipeline.fold.fold`.
    upper_b : float
        In ``(0, 1)``.
    lower_b : float
        Negative.

    Returns
    -------
    dict
        Per scaled stage: ``above_upper_b``, ``below_lower_b`` and ``units``.
    """
    if not (upper_b < 1.0 and upper_b > 0):
        raise ValueError(f"upper_b must be in (0, 1), got {upper_b}")
    if not lower_b < 0:
        raise ValueError(f"lower_b must be negative, got {lower_b}")
    counts = {}
    comp = None  # per-element factor on the current activations: x_new = x_old * comp
    for stage in stages:
        if stage.kind in ("dense", "conv"):
            if comp is not None:
                _compensate(stage, comp)
            comp = None
            if stage.activation == "relu":
                f, counts[stage.name] = _scale(stage, upper_b, lower_b)
                comp = np.broadcast_to(f, stage.output_shape).copy()
        elif comp is not None:
            comp = CARRY[stage.kind](comp, stage)
    return counts
