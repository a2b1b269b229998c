"""Phase 1 on a folded graph: weight sums, their scaling, calibration, windows and delays
(docs/method.md §10).

The functions here take a :class:`snnmap.pipeline.dag.FoldedGraph` and never look at Keras
layers: a graph's populations get the treatment a chain's layers get in
:mod:`snnmap.pipeline.scaling` and :mod:`snnmap.core.mapping`, with several sources per
population and one delay per (population, source).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .dag import APPLY, FoldedGraph, Op, Term, run_folded
from .scaling import DEFAULT_LOWER_B, DEFAULT_UPPER_B
from ..layers import same_padding


def _pad_edge(x, padding):
    return np.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),), mode="edge")


def _same_as_valid(x, params, kernel_hw):
    """Explicit ``"same"`` padding, so that the operation can run ``"valid"``."""
    if params["padding"] != "same":
        return x, params
    pads = tuple(same_padding(size, k, s) for size, k, s in zip(x.shape[1:3], kernel_hw, params["strides"]))
    return _pad_edge(x, pads), dict(params, padding="valid")


def _ones_through(op, x):
    """``op`` on a batch of weight masses, where every padded position is a synapse (it spikes, coding 0)
    with the weight of its channel: the masses are the same for every position of a channel, and a
    padded position repeats its neighbour's."""
    if op.kind == "pad":
        return _pad_edge(x, op.params["padding"])
    if op.kind in ("conv", "depthwise"):
        x, params = _same_as_valid(x, op.params, op.params["W"].shape[:2])
        return APPLY[op.kind](x, params)
    return APPLY[op.kind](x, op.params)


def fan_in_sums(expr, sources):
    """``S_i = sum_j W_ji`` of every neuron of a population, over all its sources (method §3, §10).

    Zero padding counts as synapses (a padded position spikes, coding 0), as in the chain's
    convolution layers, so ``S`` is the same for every neuron of a convolution channel.

    Parameters
    ----------
    expr : Expr
        The population's pre-activation.
    sources : list of Source
        The graph's sources (for their shapes).

    Returns
    -------
    ndarray
        One weight sum per neuron, shaped like the population.
    """
    total = np.zeros(expr.shape)
    for term in expr.terms:
        x = np.ones((1,) + tuple(sources[term.source].shape))
        for op in term.ops:
            x = _ones_through(op, x)
        total = total + x[0]
    return total


def _per_channel(factor, name):
    """A per-element factor of a population as one value per channel (last axis)."""
    flat = factor.reshape(-1, factor.shape[-1])
    if not np.allclose(flat, flat[:1], rtol=1e-12, atol=0.0):
        raise ValueError(f"population '{name}': weight sums vary within a channel; cannot scale it per channel")
    return flat[0]


def _compensated(expr, comp):
    """``expr`` with every term from a scaled source divided by that source's factors."""
    terms = tuple(Term(t.source, (Op("scale", {"scale": 1.0 / comp[t.source]}),) + t.ops)
                  if comp.get(t.source) is not None else t for t in expr.terms)
    return dataclasses.replace(expr, terms=terms)


def scale_graph(folded, upper_b=DEFAULT_UPPER_B, lower_b=DEFAULT_LOWER_B):
    """Weight-sum scaling of every population into ``[lower_b, upper_b]`` (method §4, §10).

    Populations are visited in topological order.  A population's incoming terms are first
    compensated for the factors of their sources; then a channel with ``S > upper_b`` is
    multiplied by ``upper_b / S`` (``lower_b / S`` below ``lower_b``), pre-activation and bias
    alike.  Every consumer of it, and of max poolings of it (which commute with positive
    factors; their padding value is scaled too), divides by the same factor.  The output is only compensated.

    Parameters
    ----------
    folded : FoldedGraph
    upper_b : float
        In ``(0, 1)``.
    lower_b : float
        Negative.

    Returns
    -------
    (FoldedGraph, dict)
        The scaled graph (a new object) and, per scaled population name, ``above_upper_b``,
        ``below_lower_b`` and ``units`` (channels).
    """
    if not 0 < upper_b < 1:
        raise ValueError(f"upper_b must be in (0, 1), got {upper_b}")
    if not lower_b < 0:
        raise ValueError(f"lower_b must be negative, got {lower_b}")
    comp, sources, counts = {}, [], {}
    for index, source in enumerate(folded.sources):
        if source.kind == "maxpool":
            comp[index] = comp.get(source.of)
            if comp[index] is not None and "pad_value" in source.config:
                # its padding stands for a value of the scaled population: scaled alike
                config = dict(source.config, pad_value=source.config["pad_value"] * comp[index])
                source = dataclasses.replace(source, config=config)
        if source.kind != "relu":
            sources.append(source)
            continue
        expr = _compensated(source.expr, comp)
        s = _per_channel(fan_in_sums(expr, sources), source.name)
        f = np.ones_like(s)
        high, low = s > upper_b, s < lower_b
        f[high], f[low] = upper_b / s[high], lower_b / s[low]
        if high.any() or low.any():
            expr = expr.affine(f, 0.0)
            comp[index] = f
        counts[source.name] = {"above_upper_b": int(high.sum()), "below_lower_b": int(low.sum()), "units": int(s.size)}
        sources.append(dataclasses.replace(source, expr=expr))
    scaled = dataclasses.replace(folded, sources=sources, output=_compensated(folded.output, comp))
    return scaled, counts


def graph_maxima(folded, batches):
    """The largest value of every ReLU population on every calibration image.

    Parameters
    ----------
    folded : FoldedGraph
    batches : iterable of ndarray
        Calibration inputs ``x_hat`` in [0, 1], batch axis first.

    Returns
    -------
    ndarray
        ``(n_images, n_populations)``, populations in source order; ``X_n`` is its column maximum.
    """
    relu = [i for i, s in enumerate(folded.sources) if s.kind == "relu"]
    rows = []
    for x_hat in batches:
        _, values = run_folded(folded, x_hat)
        rows.append(np.stack([values[i].reshape(len(x_hat), -1).max(axis=1) for i in relu], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, len(relu)))


def calibrate_graph(folded, batches):
    """``X_n``: the largest value of every ReLU population over the calibration batches
    (``folded`` and ``batches`` as :func:`graph_maxima`).

    Returns
    -------
    dict
        Source index -> ``X_n`` (ReLU populations only).
    """
    relu = [i for i, s in enumerate(folded.sources) if s.kind == "relu"]
    maxima = graph_maxima(folded, batches)
    return {i: float(maxima[:, k].max()) if len(maxima) else 0.0 for k, i in enumerate(relu)}


@dataclasses.dataclass
class GraphWindows:
    """Windows of the sources and the timing of every population (method §10).

    Attributes
    ----------
    t_max : dict
        Source index -> ``t_max(s)``: a value ``a`` of source ``s`` spikes at ``t_max(s) - a``.
    width : dict
        Source index -> ``B_s`` (the input: 1; a max pooling: that of what it pools).
    t_in : dict
        Population index (``"output"`` for the readout) -> ``T_n``, the end of its input window.
    t_start : dict
        Population index -> when its neurons start integrating, ``T_n - max_s B_s``.
    delays : dict
        ``(population, source)`` -> ``T_n - t_max(s)``.
    """

    t_max: dict
    width: dict
    t_in: dict
    t_start: dict
    delays: dict

    @property
    def latency(self) -> float:
        """``T_N``: when the output potential is read."""
        return self.t_in["output"]


def graph_windows(folded: FoldedGraph, x_n, zeta=0.5):
    """Windows, integration starts and delays of a folded graph (method §10).

    Parameters
    ----------
    folded : FoldedGraph
    x_n : dict
        Source index -> ``X_n`` of every ReLU population (:func:`calibrate_graph`).
    zeta : float
        Window margin: ``B_n = (1 + zeta) X_n``.

    Returns
    -------
    GraphWindows
    """
    if not (np.isfinite(zeta) and zeta >= 0):
        raise ValueError(f"zeta must be a finite number >= 0, got {zeta}")
    w = GraphWindows({0: 1.0}, {0: 1.0}, {}, {}, {})
    for index, source in enumerate(folded.sources[1:], start=1):
        if source.kind == "maxpool":
            w.t_max[index], w.width[index] = w.t_max[source.of], w.width[source.of]
            continue
        x = float(x_n[index])
        if not (np.isfinite(x) and x > 0):
            raise ValueError(f"X_n of population '{source.name}' is {x}: it must be finite and > 0 (a population "
                             "whose ReLU outputs are all 0 on the calibration data cannot be given a window)")
        _inputs(w, index, source.expr)
        w.width[index] = (1.0 + zeta) * x
        w.t_max[index] = w.t_in[index] + w.width[index]
    _inputs(w, "output", folded.output)
    return w


def _inputs(w, key, expr):
    read = sorted({t.source for t in expr.terms})
    w.t_in[key] = max(w.t_max[s] for s in read)
    w.t_start[key] = w.t_in[key] - max(w.width[s] for s in read)
    for s in read:
        w.delays[(key, s)] = w.t_in[key] - w.t_max[s]
