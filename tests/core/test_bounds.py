"""The bounds that decide which neurons the event solver must see (snnmap.layers).

Each bound must stay a bound: every (sample, neuron) pair that the independent time-stepped
oracle (tests/oracle.py) sees reach theta before the sample's last input must stay open.
Besides soundness this file checks the pieces the bounds are built from against values
computed here with NumPy: the per-neuron kernel constants, the receptive-field counts, the
products a grid keeps for the next stage of the cascade; and that the paths that compute the
same bound (gathered pairs or all neurons, fused or not, products reused or recomputed)
agree.
"""

from __future__ import annotations

import os
from fractions import Fraction

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import sys

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from snnmap.layers import spiking as sl  # noqa: E402
from snnmap.core import spiketime  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "layers"))  # FIXME(H1)
import test_conv_layers as tc  # noqa: E402
import test_layers as td  # noqa: E402


def local(layer, t):
    return layer.local_inputs(keras.ops.convert_to_tensor(np.asarray(t), layer.compute_dtype))


def mask_of(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def early_pairs(layer, t, oracle):
    """Pairs whose oracle spike time comes before the sample's last input (local ``tau``)."""
    u = np.asarray(keras.ops.convert_to_numpy(local(layer, t)))
    tau = np.maximum(u.reshape(len(u), -1).max(axis=1), -layer.window.input_length)
    spikes = oracle - layer.window.t_min  # local times
    return spikes < tau.reshape((-1,) + (1,) * (spikes.ndim - 1)) - 1e-9


def dense_case(seed=81):
    w, b, x, X_n = td.mixed_case(seed, batch=40, n_early_neurons=5)
    layer = td.make_layer(w, b, X_n, zeta=0.1)
    t = 1.0 - x
    return layer, t, td.oracle_times(layer, t)


def conv_case(index=0):
    seed, hw, filters, k, s, padding = tc.EARLY[index]
    w, b, x, _, X_n, zeta = tc.early_case(index)
    layer = tc.make_conv(w, b, x.shape[1:], s, padding, X_n=X_n, zeta=zeta)
    t = 1.0 - x
    return layer, t, tc.layer_oracle(layer, t)


CASES = {"dense": dense_case, "conv": conv_case}


# --------------------------------------------------------------------------------------
# the pieces
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(30, 7), (3, 3, 4, 5)])
def test_kernel_stats_rows(shape, dtype):
    """sum J, sum J-, max J-, ||J-||_2, sum |J| per neuron (last axis); the bounding rows
    never below their exact value when rounded to float32."""
    rng = np.random.default_rng(3)
    k = rng.normal(0.0, 1.0, shape)
    stats = sl.kernel_stats(k, dtype)
    flat = k.reshape(-1, shape[-1])
    neg = np.maximum(-flat, 0.0)
    exact = np.stack([flat.sum(0), neg.sum(0), neg.max(0), np.sqrt((neg ** 2).sum(0)), np.abs(flat).sum(0)])
    assert stats.dtype == np.dtype(dtype) and stats.shape == (5, shape[-1])
    rtol = 2e-12 if dtype == "float64" else 2e-7  # bounding rows are inflated by 1e-12
    np.testing.assert_allclose(stats.astype(np.float64), exact, rtol=rtol)
    assert np.all(stats[1:].astype(np.float64) >= exact[1:])


@pytest.mark.parametrize("index", range(len(tc.GEOMETRIES)), ids=tc.GEOMETRY_IDS)
def test_receptive_count_matches_fields(index):
    """Informative inputs per receptive field: the layer's box filter against the fields
    expanded by hand (padding counts as not informative: it arrives at tau)."""
    seed, in_shape, filters, k, s, pad, t_min_prev, t_min = tc.GEOMETRIES[index]
    rng = np.random.default_rng(seed)
    w = tc.random_kernel(rng, tc.pair(k), in_shape[-1], filters)
    layer = tc.make_conv(w, np.zeros(filters), in_shape, s, pad)
    mask = (rng.random((3,) + in_shape) < 0.4).astype(np.float64)
    count = mask_of(layer.receptive_count(layer.arrange_inputs(keras.ops.convert_to_tensor(mask, "float32"))))
    fields = tc.receptive_fields(mask, tc.pair(k), tc.pair(s), pad, 0.0)  # (B, h, w, R)
    np.testing.assert_array_equal(count[..., 0], fields.sum(axis=-1))


# --------------------------------------------------------------------------------------
# one bound, several paths
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_free_bound_gathered_equals_dense(kind):
    """The free one-interval bound on gathered pairs (what the auto solver runs when few
    neurons are open) equals the same bound on all neurons at once, and is sound."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    dense = mask_of(layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, t_in, 1, ends))
    everything = keras.ops.ones_like(ends.product, dtype="bool")
    gathered = mask_of(layer._free_open_pairs(everything, u, ends, layer.threshold, t_in))  # noqa: SLF001
    np.testing.assert_array_equal(gathered, dense)
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(dense[early])
    cert = mask_of(layer.certificate(ends, t_in) >= layer.threshold)
    assert not np.any(dense & ~cert) and dense.sum() < cert.sum()


@pytest.mark.parametrize("blocks", [1, 2, 4])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_fused_bound_is_sound(kind, blocks, monkeypatch):
    """The bound's arithmetic compiled as one computation (spiketime.fused: XLA on
    TensorFlow) stays a bound and agrees with the op-by-op evaluation but for pairs at the
    edge of its rounding slack."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    plain = mask_of(layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, t_in, blocks))
    monkeypatch.setattr(sl, "FUSE_NEURONS", 0)
    fused = mask_of(layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, t_in, blocks))
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(fused[early])
    assert np.sum(fused != plain) <= max(2, 0.01 * plain.size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_last_interval_top_bounds_the_potential(seed):
    """The last interval's tied bound (SpikingLayer._last_interval_top) against V(s) sampled
    finely, for random neurons: P, N from random arrivals and weights, P(tau) known only
    within a random bracket, P(tau) - N(tau) exact, the slopes as loose as the bound allows."""
    rng = np.random.default_rng(seed)
    n, r, t_in = 400, 60, 1.0
    u = rng.uniform(-t_in, 1.0, (n, r)) * (rng.random((n, r)) < 0.7)
    j = rng.normal(0.0, 1.0, (n, r))
    alpha = rng.normal(0.0, 1.0, n)
    tau = u.max(axis=1)
    a = -t_in + (tau + t_in) * rng.uniform(0.0, 0.9, n)
    s = a[:, None] + (tau - a)[:, None] * np.linspace(0.0, 1.0, 2001)[None, :]

    def part(x, s):
        return (x[:, None, :] * np.maximum(s[:, :, None] - u[:, None, :], 0.0)).sum(-1)

    pos, neg = np.maximum(j, 0.0), np.maximum(-j, 0.0)
    v = alpha[:, None] * (s + t_in) + part(pos, s) - part(neg, s)
    p_a, n_a = part(pos, a[:, None])[:, 0], part(neg, a[:, None])[:, 0]
    p_tau, n_tau = part(pos, tau[:, None])[:, 0], part(neg, tau[:, None])[:, 0]
    v_tau = alpha * (tau + t_in) + p_tau - n_tau
    band = p_tau * rng.uniform(0.0, 0.05, n)
    p_lo, p_up = p_tau - band * rng.random(n), p_tau + band * rng.random(n)
    n_tied = alpha * (tau + t_in) + p_lo - v_tau
    # c <= N'(a+) and d >= N'(tau-): the weights of the inputs before a, and all early ones.
    c = (neg * (u <= a[:, None])).sum(1) * rng.uniform(0.0, 1.0, n)
    d = (neg * (u < tau[:, None])).sum(1) * rng.uniform(1.0, 1.5, n)
    v_a = alpha * (a + t_in) + p_a - n_a
    top = np.asarray(keras.ops.convert_to_numpy(sl.SpikingLayer._last_interval_top(
        *(keras.ops.convert_to_tensor(x, "float64") for x in (v_a, p_a, n_a, a, tau - a, c, d, p_up, p_lo, n_tied, tau,
                                                                alpha)), t_in)))
    assert np.all(v.max(axis=1) <= top + 1e-9 * (1 + np.abs(top)))



def grid_points(u, t_in, blocks):
    """The grid's inner points as MAPPING's quantile rule gives them, in NumPy (inputs
    fewer than the sample size of the bound: no striding); ``blocks``: intervals, or the
    points' quantiles as fractions."""
    flat = u.reshape(len(u), -1)
    assert flat.shape[1] <= sl.GRID_SAMPLE
    tau = np.maximum(flat.max(axis=1), -t_in)
    ordered = np.sort(flat, axis=1)
    early = (flat < tau[:, None]).sum(axis=1)
    quantiles = [Fraction(g, blocks) for g in range(1, blocks)] if isinstance(blocks, int) else blocks
    picks = np.stack([(early * f.numerator) // f.denominator for f in quantiles], axis=1)
    return np.clip(np.take_along_axis(ordered, np.minimum(picks, flat.shape[1] - 1), axis=1), -t_in, tau[:, None])


def products_in(monkeypatch, bf16):
    """Run the grid bounds' products in bfloat16 (where the layer keeps bfloat16 kernels) or
    in float32, whatever :func:`spiketime.bf16_products` would decide on this machine."""
    if bf16 and keras.backend.backend() != "tensorflow":
        pytest.skip("bfloat16 products are used on TensorFlow (oneDNN) only")
    if bf16 and not spiketime._accumulates_in_float32():  # noqa: SLF001
        pytest.skip("this TensorFlow's bfloat16 convolutions do not accumulate in float32: never used")
    monkeypatch.setattr(spiketime, "_BF16", {"ok": bf16})


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_cascade_keeps_and_reuses_products(kind, bf16, monkeypatch):
    """A grid of 2 intervals keeps P (up) and N (down, up) at its inner point; the grid of
    4 reuses them for its middle point and gives the same mask as computing all three
    points; every kept value brackets P, N computed here at the same points in float64
    (products in float32, or in bfloat16 with float32 accumulation)."""
    products_in(monkeypatch, bf16)
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    two, kept = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, 2, ends, keep=True)
    four_reused, kept4 = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, 4, ends, prior=kept,
                                            keep=True)
    four = layer.block_open(u, ends, theta, t_in, 4)
    np.testing.assert_array_equal(mask_of(four_reused), mask_of(four))
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(mask_of(four)[early]) and np.all(mask_of(two)[early])

    # Kept products against P(g), N(g) computed here: points from the quantile rule,
    # ramps max(0, g - u) through the kernel's positive / negative parts, in float64.
    un = np.asarray(keras.ops.convert_to_numpy(u), np.float64)
    kernel = np.asarray(layer.kernel.numpy(), np.float64)
    points = grid_points(un, t_in, 4)  # (B, 3)
    # (9, B, ...): P up, N down, N up at the 3 inner points, rounded outward as the bound uses them.
    kept4 = np.stack([np.asarray(keras.ops.convert_to_numpy(v), np.float64)
                      for values in layer.grid_bounds(kept4) for v in values])
    for k in range(3):
        ramps = np.maximum(points[:, k].reshape((-1,) + (1,) * (un.ndim - 1)) - un, 0.0)
        for row, part in ((k, np.maximum(kernel, 0.0)), (3 + k, np.maximum(-kernel, 0.0)), (6 + k, None)):
            exact = np.asarray(keras.ops.convert_to_numpy(layer.synapse(
                keras.ops.convert_to_tensor(ramps), keras.ops.convert_to_tensor(
                    part if part is not None else np.maximum(-kernel, 0.0)))), np.float64)
            got = kept4[row]
            if row < 3 or row >= 6:  # upper bounds: P up, N up
                assert np.all(got >= exact * (1 - 1e-12) - 1e-12)
            else:  # N down
                assert np.all(got <= exact * (1 + 1e-12) + 1e-12)
            # bfloat16: three roundings of 2**-8 and the bound's own margin, about 1.2 %.
            rtol = 3e-2 if bf16 and layer.bf16_grid else 1e-3
            np.testing.assert_allclose(got, exact, rtol=rtol, atol=1e-9)


def test_grid_points_and_cascade_grids():
    """Stages name inner points as exact quantiles: an int the grid of that many intervals, a
    sequence its own points; a cascade's grids accumulate them, ascending."""
    assert sl.grid_points(4) == (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))
    assert sl.grid_points(1) == ()
    assert sl.grid_points((0.35, 1 / 3)) == (Fraction(7, 20), Fraction(1, 3))
    assert sl.cascade_grids(((0.35,), (0.7,), (0.2,))) == (
        (Fraction(7, 20),), (Fraction(7, 20), Fraction(7, 10)), (Fraction(1, 5), Fraction(7, 20), Fraction(7, 10)))
    assert sl.cascade_grids((2, 4)) == ((Fraction(1, 2),), sl.grid_points(4))
    for bad in (0, (0.0,), (1.0,), (0.5, 1.5)):
        with pytest.raises(ValueError, match="interval|quantiles"):
            sl.grid_points(bad)
    with pytest.raises(ValueError, match="at least one stage"):
        sl.cascade_grids(())
    assert all(0 < f < 1 for f in sl.GRID_POINTS) and len(set(sl.GRID_POINTS)) == len(sl.GRID_POINTS)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_single_point_stages_reuse_products(kind, monkeypatch):
    """Stages of one new point each (``GRID_POINTS``): the grid of the points 0.35 and 0.7
    that reuses the products kept at 0.35 gives the mask of computing both, and its kept
    products bracket P, N computed here in float64 at the points of the quantile rule; a
    prior grid with a point this one lacks is refused; the cascade with every stage forced
    on, a few images per chunk, equals the separate grids and keeps every pair the oracle
    sees fire early open."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    first, kept = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.35,), ends, keep=True)
    both_reused, kept2 = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.7, 0.35), ends,
                                            prior=kept, keep=True)
    assert kept2.points == (Fraction(7, 20), Fraction(7, 10))
    np.testing.assert_array_equal(mask_of(both_reused), mask_of(layer.block_open(u, ends, theta, t_in, (0.35, 0.7))))
    with pytest.raises(ValueError, match="prior grid"):
        layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.7,), ends, prior=kept)

    un = np.asarray(keras.ops.convert_to_numpy(u), np.float64)
    kernel = np.asarray(layer.kernel.numpy(), np.float64)
    points = grid_points(un, t_in, list(kept2.points))  # (B, 2)
    p_up, n_lo, n_up = ([np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in values]
                        for values in layer.grid_bounds(kept2))
    for k in range(2):
        ramps = keras.ops.convert_to_tensor(np.maximum(points[:, k].reshape((-1,) + (1,) * (un.ndim - 1)) - un, 0.0))
        p = np.asarray(keras.ops.convert_to_numpy(layer.synapse(ramps, np.maximum(kernel, 0.0))), np.float64)
        n = np.asarray(keras.ops.convert_to_numpy(layer.synapse(ramps, np.maximum(-kernel, 0.0))), np.float64)
        assert np.all(p_up[k] >= p * (1 - 1e-12) - 1e-12) and np.all(n_up[k] >= n * (1 - 1e-12) - 1e-12)
        assert np.all(n_lo[k] <= n * (1 + 1e-12) + 1e-12)
        # Products in this machine's dtype: bfloat16 (CPUs with bfloat16 dot products) is
        # within three roundings of 2**-8 and the bound's own margin, about 1.2 %.
        rtol = 3e-2 if layer._product_dtype() == "bfloat16" else 1e-3  # noqa: SLF001
        for got, exact in ((p_up[k], p), (n_lo[k], n), (n_up[k], n)):
            np.testing.assert_allclose(got, exact, rtol=rtol, atol=1e-9)

    stages = tuple((f,) for f in sl.GRID_POINTS)
    open_ = layer.certificate(ends, t_in) >= theta
    monkeypatch.setattr(sl, "GRID_WORK", 0.0)
    monkeypatch.setattr(sl, "GRID_LATER", -1.0)
    per_image = 3 * (len(stages) + 1) * (int(np.prod(u.shape[1:])) + layer._n_neurons)  # noqa: SLF001
    layer.solver_elements = max(1, (3 * per_image) // sl.GRID_CHUNK)  # 3 images per chunk
    forced = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, stages))
    separate = mask_of(open_)
    for points in sl.cascade_grids(stages):
        separate &= mask_of(layer.block_open(u, ends, theta, t_in, points))
    np.testing.assert_array_equal(forced, separate)
    assert separate.sum() < mask_of(open_).sum()
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(forced[early])


def test_aligned_points():
    """The alternative cascade matches point for point and must keep every grid's order."""
    stages, few = tuple((f,) for f in sl.GRID_POINTS), tuple((f,) for f in sl.GRID_POINTS_FEW)
    swap = sl.aligned_points(stages, few)
    assert swap[Fraction(7, 20)] == Fraction(1, 2) and swap[Fraction(7, 10)] == Fraction(3, 4)
    with pytest.raises(ValueError, match="not in the order"):
        sl.aligned_points(((0.35,), (0.7,)), ((0.5,), (0.25,)))
    with pytest.raises(ValueError, match="stages"):
        sl.aligned_points(((0.35,), (0.7,)), ((0.5,),))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_alternative_points_where_few_are_open(kind, monkeypatch):
    """A grid whose points are swapped for their alternatives gives the mask of the
    alternative grid itself; the forced cascade with ``few`` stages gives the separate grids of
    the stages or of ``few``, whichever GRID_MANY_OPEN picks, and keeps the early pairs open."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    for use in (True, False):
        swapped = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.35, 0.7), ends,
                                     alternative=((0.5, 0.75), keras.ops.convert_to_tensor(use)))
        direct = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.5, 0.75) if use else (0.35, 0.7),
                                    ends)
        np.testing.assert_array_equal(mask_of(swapped), mask_of(direct))
    stages, few = ((0.35,), (0.7,), (0.2,)), ((0.5,), (0.75,), (0.25,))
    open_ = layer.certificate(ends, t_in) >= theta
    monkeypatch.setattr(sl, "GRID_WORK", 0.0)
    monkeypatch.setattr(sl, "GRID_LATER", -1.0)
    early = early_pairs(layer, t, oracle)
    for many_open, used in ((-1.0, stages), (2.0, few)):
        monkeypatch.setattr(sl, "GRID_MANY_OPEN", many_open)
        forced = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, stages, few))
        separate = mask_of(open_)
        for points in sl.cascade_grids(used):
            separate &= mask_of(layer.block_open(u, ends, theta, t_in, points))
        np.testing.assert_array_equal(forced, separate)
        assert early.any() and np.all(forced[early])


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_every_stage_forced_matches_oracle(kind, bf16, monkeypatch):
    """With every grid stage forced on (the layer's own: one point of GRID_POINTS more per
    stage, each reusing the products before) the layer still gives the oracle's spike times,
    with the products in float32 or bfloat16."""
    products_in(monkeypatch, bf16)
    monkeypatch.setattr(sl, "GRID_WORK", 0.0)
    monkeypatch.setattr(sl, "GRID_LATER", -1.0)
    monkeypatch.setattr(sl, "GRID_LATER_WORK", 0)
    monkeypatch.setattr(sl, "FREE_OPEN", 1.0)
    layer, t, oracle = CASES[kind]()
    np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(t)))),
                               oracle, rtol=0, atol=td.TOL)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_cascade_chunks_equal_separate_grids(kind, monkeypatch):
    """``cascade_open`` with every stage forced on, a few images per chunk, gives exactly
    the open mask AND the separate 2-, 4- and 8-interval grids (each computed on the whole
    batch, without reuse); with the default thresholds it only ever closes pairs, and never
    one the oracle sees fire before the last input."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    open_ = layer.certificate(ends, t_in) >= theta
    default = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    opened = mask_of(open_)
    assert not np.any(default & ~opened)
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(default[early])

    monkeypatch.setattr(sl, "GRID_WORK", 0.0)
    monkeypatch.setattr(sl, "GRID_LATER", -1.0)
    per_image = 3 * 8 * (int(np.prod(u.shape[1:])) + layer._n_neurons)  # noqa: SLF001
    layer.solver_elements = max(1, (3 * per_image) // sl.GRID_CHUNK)  # 3 images per chunk
    forced = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    separate = opened.copy()
    for blocks in (2, 4, 8):
        separate &= mask_of(layer.block_open(u, ends, theta, t_in, blocks))
    np.testing.assert_array_equal(forced, separate)
    assert separate.sum() < opened.sum()  # the grids closed something: the comparison means something


@pytest.mark.skipif(not spiketime.shapes_may_vary(), reason="channel subsets need shapes that vary")
@pytest.mark.parametrize("spread", ["one_hot", "gather"])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_channel_subsets_change_nothing(kind, spread, monkeypatch):
    """Grid stages that compute their products only in the channels with open neurons
    (SpikingLayer._open_channels, every subset size allowed here; products spread back to all
    channels by either method) give the mask of stages that compute them in all channels, and
    keep every pair the oracle sees fire early open."""
    monkeypatch.setattr(sl, "SPREAD_GATHER", 1 << 30 if spread == "one_hot" else 0)
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    width = int(layer.alpha.shape[-1])
    # Every other channel closed beforehand: any subset of the open pairs may be refined.
    kept = np.arange(width) % 2 == 0
    open_ = keras.ops.logical_and(layer.certificate(ends, t_in) >= theta, kept)
    monkeypatch.setattr(sl, "GRID_WORK", 0.0)
    monkeypatch.setattr(sl, "GRID_LATER", -1.0)
    monkeypatch.setattr(sl, "CHANNEL_STEP", 1)
    monkeypatch.setattr(sl, "CHANNEL_SPARE", 0.0)
    picked = mask_of(layer._open_channels(open_))  # noqa: SLF001
    assert 0 < len(picked) < width  # the subset path runs
    assert np.all(np.diff(picked) > 0)
    active = np.flatnonzero(mask_of(open_).reshape(-1, width).any(axis=0))
    np.testing.assert_array_equal(picked, active)
    subsets = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    monkeypatch.setattr(sl, "CHANNEL_SPARE", 1.0)
    assert len(mask_of(layer._open_channels(open_))) == width  # noqa: SLF001
    every = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    np.testing.assert_array_equal(subsets, every)
    early = early_pairs(layer, t, oracle) & kept
    assert early.any() and np.all(subsets[early])
    assert subsets.sum() < mask_of(open_).sum()  # the grids closed something


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="bfloat16 products: TensorFlow only")
def test_bf16_products_gate(monkeypatch):
    """On a CPU with bfloat16 dot products this TensorFlow's bfloat16 convolutions
    accumulate in float32 (the probe the gate relies on); SNNMAP_BF16=0 turns the bfloat16
    products off, =1 leaves only the probe."""
    probe = spiketime._accumulates_in_float32()  # noqa: SLF001
    if spiketime._cpu_has_bf16():  # noqa: SLF001
        assert probe
    monkeypatch.setattr(spiketime, "_BF16", {})
    monkeypatch.setenv("SNNMAP_BF16", "0")
    assert not spiketime.bf16_products()
    monkeypatch.setattr(spiketime, "_BF16", {})
    monkeypatch.setenv("SNNMAP_BF16", "1")
    assert spiketime.bf16_products() == probe


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="bfloat16 products: TensorFlow only")
@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_bounds_bracket_exact_products(seed, monkeypatch):
    """The bfloat16 products' bounds bracket the float64 products of non-negative ramps
    (spanning six orders of magnitude, some exactly 0) with J+ and J-, and stay within
    3 % of them."""
    products_in(monkeypatch, True)
    layer, _, _ = conv_case()
    rng = np.random.default_rng(seed)
    in_shape = tuple(int(d) for d in layer._padded)  # noqa: SLF001
    ramps = rng.uniform(0, 1, (3,) + in_shape) * 10.0 ** rng.uniform(-3, 3, (3,) + in_shape)
    ramps[rng.uniform(size=ramps.shape) < 0.3] = 0.0
    (p_up, _), (n_up, n_lo) = ((np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in pair)
                               for pair in (layer._product_bounds(y) for y in layer._raw_products(  # noqa: SLF001
                                   keras.ops.convert_to_tensor(ramps, "float32"), ("pos", "neg"))))
    kernel = np.asarray(layer.kernel.numpy(), np.float64)
    exact = [np.asarray(keras.ops.convert_to_numpy(layer.synapse(keras.ops.convert_to_tensor(ramps),
                                                                 keras.ops.convert_to_tensor(part))), np.float64)
             for part in (np.maximum(kernel, 0.0), np.maximum(-kernel, 0.0))]
    assert np.all(p_up >= exact[0]) and np.all(n_up >= exact[1]) and np.all(n_lo <= exact[1])
    for got, ref in ((p_up, exact[0]), (n_up, exact[1]), (n_lo, exact[1])):
        np.testing.assert_allclose(got, ref, rtol=3e-2, atol=1e-20)


@pytest.mark.skipif(not spiketime.shapes_may_vary(), reason="channel subsets need shapes that vary")
@pytest.mark.parametrize("width, count", [(16, 5), (512, 416), (64, 64)])
def test_channel_spreads_copy_exactly(width, count):
    """Both ways of spreading a channel subset's products back (a one-hot matrix product and a
    compiled gather) put every value, bit for bit, in its channel and zeros elsewhere; the
    compiled column gather takes the kernel's columns."""
    rng = np.random.default_rng(width + count)
    channels = np.sort(rng.choice(width, count, replace=False)).astype("int32")
    y = rng.standard_normal((37, count)).astype("float32") * 10.0 ** rng.integers(-30, 30, (37, count))
    expected = np.zeros((37, width), "float32")
    expected[:, channels] = y
    index = keras.ops.convert_to_tensor(channels)
    spreads = (lambda y, index: sl._spread_one_hot(y, index, width),  # noqa: SLF001
               sl._compiled_once("spread", sl._spread_gather, width))  # noqa: SLF001
    for dtype in ("float32", "bfloat16"):
        want = mask_of(keras.ops.cast(keras.ops.cast(expected, dtype), "float32"))
        for spread in spreads:
            got = spread(keras.ops.cast(y, dtype), index)
            np.testing.assert_array_equal(mask_of(keras.ops.cast(got, "float32")), want)
    kernel = rng.standard_normal((3, 3, 2, width)).astype("float32")
    taken = sl._compiled_once("take_last", sl._take_last)(keras.ops.convert_to_tensor(kernel), index)  # noqa: SLF001
    np.testing.assert_array_equal(mask_of(taken), kernel[..., channels])
