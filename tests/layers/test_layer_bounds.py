"""The bounds a spiking layer runs to decide which neurons the event solver must see.

Each bound must stay a bound: every (sample, neuron) pair that the independent time-stepped
oracle (tests/oracle.py) sees reach theta before the sample's last input must stay open.
Besides soundness this file checks what the layers compute the bounds from against values
computed here with NumPy: the receptive-field counts and the products a grid keeps for the
next stage of the cascade; and that the paths that compute the same bound (gathered pairs or
all neurons, fused or not, products reused or recomputed, channel subsets or all channels)
agree.  The solver's tuning is changed by giving a layer a :class:`snnmap.solver.SolverConfig`.
The bounds' own arithmetic is tested in tests/core/test_bounds.py.
"""

from __future__ import annotations

import os
from fractions import Fraction

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from snnmap import solver  # noqa: E402
from snnmap.core import bounds, grid, products, spiketime  # noqa: E402
from snnmap.solver import SolverConfig  # noqa: E402

from helpers import numpy_grid  # noqa: E402

from conv_cases import (EARLY, GEOMETRIES, GEOMETRY_IDS, early_case, layer_oracle, make_conv, pair,  # noqa: E402
                        random_kernel, receptive_fields, relu_pre)
from dense_cases import TOL, make_layer, mixed_case, oracle_times  # noqa: E402

#: Every grid stage of a cascade runs, whatever the open pairs.
FORCED = SolverConfig(grid_work=0.0, grid_later=-1.0)


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
    w, b, x, X_n = mixed_case(seed, batch=40, n_early_neurons=5)
    layer = make_layer(w, b, X_n, zeta=0.1)
    t = 1.0 - x
    return layer, t, oracle_times(layer, t)


def conv_case(index=0):
    seed, hw, filters, k, s, padding = EARLY[index]
    w, b, x, _, X_n, zeta = early_case(index)
    layer = make_conv(w, b, x.shape[1:], s, padding, X_n=X_n, zeta=zeta)
    t = 1.0 - x
    return layer, t, layer_oracle(layer, t)


CASES = {"dense": dense_case, "conv": conv_case}


def products_in(bf16, **changes):
    """A solver configuration whose grid bounds' products run in bfloat16 (where the layer keeps
    bfloat16 kernels) or in float32, whatever :func:`snnmap.solver.bf16_products` would decide
    on this machine; ``changes``: other fields."""
    if bf16 and keras.backend.backend() != "tensorflow":
        pytest.skip("bfloat16 products are used on TensorFlow (oneDNN) only")
    if bf16 and not solver.accumulates_in_float32():
        pytest.skip("this TensorFlow's bfloat16 convolutions do not accumulate in float32: never used")
    return SolverConfig(bf16=bf16, **changes)


def grid_points(u, t_in, blocks):
    """The grid's inner points as :func:`snnmap.core.grid.quantile_grid` picks them with the default
    time share, in NumPy (:func:`helpers.numpy_grid`; inputs fewer than the sample size of the
    bound: no striding); ``blocks``: intervals, or the points' quantiles as fractions."""
    flat = u.reshape(len(u), -1)
    assert flat.shape[1] <= SolverConfig().grid_sample
    tau = np.maximum(flat.max(axis=1), -t_in)
    quantiles = [Fraction(g, blocks) for g in range(1, blocks)] if isinstance(blocks, int) else blocks
    return numpy_grid(flat, tau, quantiles, t_in, SolverConfig().grid_time_share)


@pytest.mark.parametrize("index", range(len(GEOMETRIES)), ids=GEOMETRY_IDS)
def test_receptive_count_matches_fields(index):
    """Informative inputs per receptive field: the layer's box filter against the fields
    expanded by hand (padding counts as not informative: it arrives at tau)."""
    seed, in_shape, filters, k, s, pad, t_min_prev, t_min = GEOMETRIES[index]
    rng = np.random.default_rng(seed)
    w = random_kernel(rng, pair(k), in_shape[-1], filters)
    layer = make_conv(w, np.zeros(filters), in_shape, s, pad)
    mask = (rng.random((3,) + in_shape) < 0.4).astype(np.float64)
    count = mask_of(layer.receptive_count(layer.arrange_inputs(keras.ops.convert_to_tensor(mask, "float32"))))
    fields = receptive_fields(mask, pair(k), pair(s), pad, 0.0)  # (B, h, w, R)
    np.testing.assert_array_equal(count[..., 0], fields.sum(axis=-1))


@pytest.mark.skipif(not spiketime.shapes_may_vary(), reason="the shared sort needs shapes that vary")
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_event_inputs_sorted_once_per_field(kind):
    """The event solver sorts each receptive field once for all its open neurons: the events
    it hands to first_crossing are those of sorting every neuron's inputs on its own, and the
    crossings they give are the oracle's."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    rng = np.random.default_rng(5)
    pairs = int(np.prod(oracle.shape))
    # Several neurons per field (a whole image, or a position's channels), and lone ones.
    index = np.unique(np.concatenate([np.arange(layer.n_neurons // 3, layer.n_neurons // 3 + 40),
                                      rng.choice(pairs, 60, replace=False)])).astype(np.int32)
    index_t = keras.ops.convert_to_tensor(index)
    keys = mask_of(layer.field_keys(index_t))
    assert len(np.unique(keys)) < len(index)  # fields are shared
    e, j = layer.sorted_inputs(u, layer.kernel, index_t)
    e_own, j_own = spiketime.sort_early_inputs(*layer.receptive_fields(u, layer.kernel, index_t))
    np.testing.assert_array_equal(mask_of(e), mask_of(e_own))
    np.testing.assert_array_equal(mask_of(j), mask_of(j_own))
    flat_alpha = mask_of(layer.alpha).reshape(-1)
    flat_theta = mask_of(layer.threshold).reshape(-1)
    neuron = index % layer.n_neurons
    window = layer.window
    s = mask_of(spiketime.first_crossing(e, j, flat_alpha[neuron], flat_theta[neuron], window.input_length,
                                         window.length))
    np.testing.assert_allclose(s + window.t_min, oracle.reshape(-1)[index], rtol=0, atol=TOL)


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
    gathered = mask_of(layer.free_open_pairs(everything, u, ends, layer.threshold, t_in))
    np.testing.assert_array_equal(gathered, dense)
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(dense[early])
    cert = mask_of(layer.certificate(ends, t_in) >= layer.threshold)
    assert not np.any(dense & ~cert) and dense.sum() < cert.sum()


@pytest.mark.parametrize("blocks", [1, 2, 4])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_fused_bound_is_sound(kind, blocks):
    """The bound's arithmetic compiled as one computation (spiketime.fused: XLA on
    TensorFlow) stays a bound and agrees with the op-by-op evaluation but for pairs at the
    edge of its rounding slack."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    plain = mask_of(layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, t_in, blocks))
    layer.solver_config = SolverConfig(fuse_neurons=0)
    fused = mask_of(layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, t_in, blocks))
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(fused[early])
    assert np.sum(fused != plain) <= max(2, 0.01 * plain.size)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_cascade_keeps_and_reuses_products(kind, bf16):
    """A grid of 2 intervals keeps P (up) and N (down, up) at its inner point; the grid of
    4 reuses them for its middle point and gives the same mask as computing all three
    points; every kept value brackets P, N computed here at the same points in float64
    (products in float32, or in bfloat16 with float32 accumulation)."""
    config = products_in(bf16)
    layer, t, oracle = CASES[kind]()
    layer.solver_config = config
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
                      for values in bounds.grid_bounds(kept4, layer.fan_in) for v in values])
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


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_single_point_stages_reuse_products(kind):
    """Stages of one new point each (``SolverConfig.grid_points``): the grid of the points 0.35 and 0.7
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
                        for values in bounds.grid_bounds(kept2, layer.fan_in))
    for k in range(2):
        ramps = keras.ops.convert_to_tensor(np.maximum(points[:, k].reshape((-1,) + (1,) * (un.ndim - 1)) - un, 0.0))
        p = np.asarray(keras.ops.convert_to_numpy(layer.synapse(ramps, np.maximum(kernel, 0.0))), np.float64)
        n = np.asarray(keras.ops.convert_to_numpy(layer.synapse(ramps, np.maximum(-kernel, 0.0))), np.float64)
        assert np.all(p_up[k] >= p * (1 - 1e-12) - 1e-12) and np.all(n_up[k] >= n * (1 - 1e-12) - 1e-12)
        assert np.all(n_lo[k] <= n * (1 + 1e-12) + 1e-12)
        # Products in this machine's dtype: bfloat16 (CPUs with bfloat16 dot products) is
        # within three roundings of 2**-8 and the bound's own margin, about 1.2 %.
        rtol = 3e-2 if layer.product_dtype() == "bfloat16" else 1e-3
        for got, exact in ((p_up[k], p), (n_lo[k], n), (n_up[k], n)):
            np.testing.assert_allclose(got, exact, rtol=rtol, atol=1e-9)

    stages = tuple((f,) for f in SolverConfig().grid_points)
    open_ = layer.certificate(ends, t_in) >= theta
    layer.solver_config = FORCED
    per_image = 3 * (len(stages) + 1) * (int(np.prod(u.shape[1:])) + layer.n_neurons)
    layer.solver_elements = max(1, (3 * per_image) // FORCED.grid_chunk)  # 3 images per chunk
    forced = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, stages))
    separate = mask_of(open_)
    for points in grid.cascade_grids(stages):
        separate &= mask_of(layer.block_open(u, ends, theta, t_in, points))
    np.testing.assert_array_equal(forced, separate)
    assert separate.sum() < mask_of(open_).sum()
    early = early_pairs(layer, t, oracle)
    assert early.any() and np.all(forced[early])


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_alternative_points_where_few_are_open(kind):
    """A grid whose points are swapped for their alternatives gives the mask of the
    alternative grid itself (whose points take ``grid_time_share_few``); the forced cascade with
    ``few`` stages gives the separate grids of the stages or of ``few``, whichever
    ``grid_many_open`` picks, and keeps the early pairs open."""
    layer, t, oracle = CASES[kind]()
    config = layer.solver_config
    as_few = config.replace(grid_time_share=config.grid_time_share_few)
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    for use in (True, False):
        swapped = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.35, 0.7), ends,
                                     alternative=((0.5, 0.75), keras.ops.convert_to_tensor(use)))
        layer.solver_config = as_few if use else config
        direct = layer.open_neurons(u, layer.kernel, layer.alpha, theta, t_in, (0.5, 0.75) if use else (0.35, 0.7),
                                    ends)
        layer.solver_config = config
        np.testing.assert_array_equal(mask_of(swapped), mask_of(direct))
    stages, few = ((0.35,), (0.7,), (0.2,)), ((0.5,), (0.75,), (0.25,))
    open_ = layer.certificate(ends, t_in) >= theta
    early = early_pairs(layer, t, oracle)
    for many_open, used in ((-1.0, stages), (2.0, few)):
        layer.solver_config = FORCED.replace(grid_many_open=many_open)
        forced = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, stages, few))
        separate = mask_of(open_)
        if used is few:
            layer.solver_config = FORCED.replace(grid_time_share=config.grid_time_share_few)
        for points in grid.cascade_grids(used):
            separate &= mask_of(layer.block_open(u, ends, theta, t_in, points))
        np.testing.assert_array_equal(forced, separate)
        assert early.any() and np.all(forced[early])


@pytest.mark.parametrize("positions", [0.0, 1.0])
@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_every_stage_forced_matches_oracle(kind, bf16, positions):
    """With every grid stage forced on (the layer's own: one point of ``grid_points`` more per
    stage, each reusing the products before) the layer still gives the oracle's spike times,
    with the products in float32 or bfloat16, at every position or (convolutions, where shapes
    may vary) at the open positions only."""
    if positions and not spiketime.shapes_may_vary():
        pytest.skip("position subsets need shapes that vary")
    config = products_in(bf16, grid_work=0.0, grid_later=-1.0, grid_later_work=0, free_open=1.0,
                         position_share=positions)
    layer, t, oracle = CASES[kind]()
    layer.solver_config = config
    assert len(layer.grid_stages) == len(config.grid_points)
    np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(t)))),
                               oracle, rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_cascade_chunks_equal_separate_grids(kind):
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

    layer.solver_config = FORCED
    per_image = 3 * 8 * (int(np.prod(u.shape[1:])) + layer.n_neurons)
    layer.solver_elements = max(1, (3 * per_image) // FORCED.grid_chunk)  # 3 images per chunk
    forced = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    separate = opened.copy()
    for blocks in (2, 4, 8):
        separate &= mask_of(layer.block_open(u, ends, theta, t_in, blocks))
    np.testing.assert_array_equal(forced, separate)
    assert separate.sum() < opened.sum()  # the grids closed something: the comparison means something


@pytest.mark.skipif(not spiketime.shapes_may_vary(), reason="channel subsets need shapes that vary")
@pytest.mark.parametrize("spread", ["one_hot", "gather"])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_channel_subsets_change_nothing(kind, spread):
    """Grid stages that compute their products only in the channels with open neurons
    (snnmap.core.products.open_channels, every subset size allowed here; products spread back
    to all channels by either method) give the mask of stages that compute them in all
    channels, and keep every pair the oracle sees fire early open."""
    subsets = FORCED.replace(spread_gather=1 << 30 if spread == "one_hot" else 0, channel_step=1,
                             channel_spare=0.0)
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    width = int(layer.alpha.shape[-1])
    # Every other channel closed beforehand: any subset of the open pairs may be refined.
    kept = np.arange(width) % 2 == 0
    open_ = keras.ops.logical_and(layer.certificate(ends, t_in) >= theta, kept)
    picked = mask_of(products.open_channels(open_, subsets))
    assert 0 < len(picked) < width  # the subset path runs
    assert np.all(np.diff(picked) > 0)
    active = np.flatnonzero(mask_of(open_).reshape(-1, width).any(axis=0))
    np.testing.assert_array_equal(picked, active)
    layer.solver_config = subsets
    by_subsets = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    every_channel = subsets.replace(channel_spare=1.0)
    assert len(mask_of(products.open_channels(open_, every_channel))) == width
    layer.solver_config = every_channel
    every = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    np.testing.assert_array_equal(by_subsets, every)
    early = early_pairs(layer, t, oracle) & kept
    assert early.any() and np.all(by_subsets[early])
    assert by_subsets.sum() < mask_of(open_).sum()  # the grids closed something


def tied_images(rng, hw, channels):
    """Images where most inputs share one time, as in real images: a uniform non-zero
    background (one value per channel) around a small random patch; a large tied block beside
    random inputs; every input at one time; every input 0 (all at tau)."""
    x = np.empty((4,) + hw + (channels,))
    background = np.linspace(0.9, 0.1, channels)
    x[0] = background
    patch = x[0, 1:4, :3]
    patch[...] = rng.uniform(0.0, 1.0, patch.shape)
    x[1] = rng.uniform(0.0, 1.0, hw + (channels,))
    x[1, : hw[0] // 2 + 2] = background[::-1]
    x[2] = 0.6
    x[3] = 0.0
    return x


def tied_case(kind):
    """A layer (the early-crossing weights of :func:`conv_case` or :func:`dense_case`) on
    :func:`tied_images`, normalized on them, and its oracle."""
    rng = np.random.default_rng(17)
    if kind == "conv":
        seed, hw, filters, k, s, padding = EARLY[0]
        w, b, _, _, _, zeta = early_case(0)
        x = tied_images(rng, hw, w.shape[2])
        layer = make_conv(w, b, x.shape[1:], s, padding, X_n=float(np.max(relu_pre(x, w, b, s, padding))), zeta=zeta)
    else:
        w, b, x, _ = mixed_case(81, batch=4, n_early_neurons=5)
        # The early-crossing inputs come in groups of 8 early, 12 middle and 10 late ones.
        groups = np.repeat([0.92, 0.5, 0.08], [8, 12, 10])
        x[0] = groups
        x[1, ::2] = groups[::2]
        x[2] = 0.6
        x[3] = 0.0
        layer = make_layer(w, b, float(np.max(x @ w + b)), zeta=0.1)
    t = 1.0 - x
    return layer, t, (layer_oracle if kind == "conv" else oracle_times)(layer, t)


@pytest.mark.parametrize("forced", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_tied_inputs_match_oracle(kind, forced):
    """Uniform non-zero backgrounds, large tied blocks, every input at one time and every input
    at tau (docs/method.md's grids on distinct arrival times): the layer gives the oracle's
    spike times, with its own solver and with every grid stage forced on; in the forced
    cascade the grid bounds keep every pair the oracle sees fire early open."""
    layer, t, oracle = tied_case(kind)
    if forced:
        layer.solver_config = SolverConfig(grid_work=0.0, grid_later=-1.0, grid_later_work=0, free_open=1.0)
        assert len(layer.grid_stages) == len(layer.solver_config.grid_points)
        u = local(layer, t)
        t_in = layer.window.input_length
        ends = layer.last_arrival_terms(u, t_in)
        open_ = mask_of(layer.cascade_open(layer.certificate(ends, t_in) >= layer.threshold, u, ends,
                                           layer.threshold, t_in))
        early = early_pairs(layer, t, oracle)
        assert early.any() and np.all(open_[early])
        certified = mask_of(layer.certificate(ends, t_in) >= layer.threshold)
        assert open_.sum() < certified.sum()  # the grids closed pairs: the check means something
    np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(t)))),
                               oracle, rtol=0, atol=TOL)


def few_images_per_later_stage(layer, u, config, stages):
    """``config`` with ``solver_elements`` set on ``layer`` so that the cascade's later stages
    take one image at a time and its first stage the whole batch (``grid_first_chunk``)."""
    per_image = 3 * (len(grid.cascade_grids(stages)[-1]) + 1) * (int(np.prod(u.shape[1:])) + layer.n_neurons)
    layer.solver_elements = max(1, per_image // config.grid_chunk)
    assert layer.chunk_rows(u, per_image, config.grid_chunk) == 1
    return config.replace(grid_first_chunk=1 << 20)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_first_stage_on_the_batch_changes_nothing(kind):
    """A cascade whose first stage runs on the whole batch and whose later stages take one image
    at a time, with stage 0's products cut per image (and the alternative points picked per
    image, some images each way), gives the mask of the cascade that runs image by image
    throughout, and keeps every pair the oracle sees fire early open."""
    layer, t, oracle = CASES[kind]()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    certified = mask_of(layer.certificate(ends, t_in) >= theta)
    # Every other image keeps none of its open pairs but its first neuron's: images
    # differ in their open share.
    thinned = certified.copy().reshape(len(t), -1)
    thinned[::2, 1:] = False
    open_ = keras.ops.convert_to_tensor(thinned.reshape(certified.shape))
    stages, few = ((0.35,), (0.7,), (0.2,)), ((0.5,), (0.75,), (0.25,))
    shares = thinned.mean(axis=1)
    many_open = float(np.mean(shares))
    assert np.any(shares <= many_open) and np.any(shares > many_open)  # both kinds of image
    split = few_images_per_later_stage(layer, u, FORCED.replace(grid_many_open=many_open), stages)
    layer.solver_config = split
    assert layer.chunk_rows(u, int(np.prod(u.shape[1:])) + 3 * layer.n_neurons, split.grid_first_chunk) == len(t)
    on_batch = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, stages, few))
    layer.solver_config = split.replace(grid_first_chunk=0)  # every stage image by image
    by_image = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, stages, few))
    np.testing.assert_array_equal(on_batch, by_image)
    early = early_pairs(layer, t, oracle) & mask_of(open_)
    assert early.any() and np.all(on_batch[early])
    assert on_batch.sum() < mask_of(open_).sum()  # the grids closed something


@pytest.mark.skipif(not spiketime.shapes_may_vary(), reason="position subsets need shapes that vary")
@pytest.mark.parametrize("index", range(len(GEOMETRIES)), ids=GEOMETRY_IDS)
def test_position_products_are_the_convolution_there(index):
    """Products at a subset of output positions (receptive fields times the kernel as a matrix)
    equal the convolution's at those positions, to float32 rounding of the same sum, and are 0
    at the others; every stride, padding and kernel size of the geometries."""
    seed, in_shape, filters, k, s, pad, t_min_prev, t_min = GEOMETRIES[index]
    rng = np.random.default_rng(seed)
    w = random_kernel(rng, pair(k), in_shape[-1], filters)
    layer = make_conv(w, np.zeros(filters), in_shape, s, pad)
    layer.solver_config = SolverConfig(bf16=False, position_share=1.0)
    t = rng.uniform(0.0, 1.0, (3,) + in_shape)
    u = local(layer, t)
    ramps = keras.ops.relu(keras.ops.convert_to_tensor(np.float32(0.3)) - keras.ops.cast(u, "float32"))
    per_image = int(np.prod(layer.alpha.shape[:-1]))
    chosen = np.sort(rng.choice(len(t) * per_image, max(1, len(t) * per_image // 3), replace=False)).astype(np.int32)
    got = [mask_of(y) for y in layer.raw_products(ramps, ("pos", "neg"), positions=keras.ops.convert_to_tensor(chosen))]
    exact = [mask_of(y) for y in layer.raw_products(ramps, ("pos", "neg"))]
    width = int(layer.alpha.shape[-1])
    for y, ref in zip(got, exact):
        y, ref = y.reshape(-1, width), ref.reshape(-1, width)
        others = np.setdiff1d(np.arange(len(y)), chosen)
        assert np.all(y[others] == 0.0)
        np.testing.assert_allclose(y[chosen], ref[chosen], rtol=1e-5, atol=1e-6)
        assert np.any(ref[chosen] > 0)


@pytest.mark.skipif(not spiketime.shapes_may_vary(), reason="position subsets need shapes that vary")
def test_position_subsets_change_nothing():
    """A forced cascade whose stages compute their products at the open positions only (alone
    and together with channel subsets) gives the mask of the one that computes every
    position, and keeps every pair the oracle sees fire early open."""
    layer, t, oracle = conv_case()
    u = local(layer, t)
    t_in = layer.window.input_length
    ends = layer.last_arrival_terms(u, t_in)
    theta = layer.threshold
    # Positions on a checkerboard closed beforehand: any subset of the open pairs may be refined.
    h, w = (int(d) for d in layer.alpha.shape[:2])
    kept = ((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == 0)[..., None]
    open_ = keras.ops.logical_and(layer.certificate(ends, t_in) >= theta, kept)
    positions = mask_of(open_).any(axis=-1)
    assert 0 < positions.mean() < 1  # some positions are left out
    masks = {}
    for share in (0.0, 1.0):
        for spare in (0.0, 1.0):
            layer.solver_config = FORCED.replace(bf16=False, position_share=share, channel_step=1, channel_spare=spare)
            masks[share, spare] = mask_of(layer.cascade_open(open_, u, ends, theta, t_in, (2, 4, 8)))
    for key, mask in masks.items():
        np.testing.assert_array_equal(mask, masks[0.0, 1.0], err_msg=str(key))
    early = early_pairs(layer, t, oracle) & kept
    assert early.any() and np.all(masks[1.0, 0.0][early])
    assert masks[1.0, 0.0].sum() < mask_of(open_).sum()
