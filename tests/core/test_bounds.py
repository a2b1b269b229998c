"""The bounds' arithmetic, as functions of tensors (snnmap.core.bounds, .grid, .products) and
the solver's policy (snnmap.solver), checked against values computed here with NumPy.

How the layers run these bounds, and that they stay bounds against the independent oracle,
is tested in tests/layers/test_layer_bounds.py.
"""

from __future__ import annotations

import dataclasses
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


def mask_of(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(30, 7), (3, 3, 4, 5)])
def test_kernel_stats_rows(shape, dtype):
    """sum J, sum J-, max J-, ||J-||_2, sum |J| per neuron (last axis); the bounding rows
    never below their exact value when rounded to float32."""
    rng = np.random.default_rng(3)
    k = rng.normal(0.0, 1.0, shape)
    stats = products.kernel_stats(k, dtype)
    flat = k.reshape(-1, shape[-1])
    neg = np.maximum(-flat, 0.0)
    exact = np.stack([flat.sum(0), neg.sum(0), neg.max(0), np.sqrt((neg ** 2).sum(0)), np.abs(flat).sum(0)])
    assert stats.dtype == np.dtype(dtype) and stats.shape == (5, shape[-1])
    rtol = 2e-12 if dtype == "float64" else 2e-7  # bounding rows are inflated by 1e-12
    np.testing.assert_allclose(stats.astype(np.float64), exact, rtol=rtol)
    assert np.all(stats[1:].astype(np.float64) >= exact[1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_last_interval_top_bounds_the_potential(seed):
    """The last interval's tied bound (bounds.last_interval_top) against V(s) sampled
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
    args = (v_a, p_a, n_a, a, tau - a, c, d, p_up, p_lo, n_tied, tau, alpha)
    top = mask_of(bounds.last_interval_top(*(keras.ops.convert_to_tensor(x, "float64") for x in args), t_in))
    assert np.all(v.max(axis=1) <= top + 1e-9 * (1 + np.abs(top)))


def test_grid_points_and_cascade_grids():
    """Stages name inner points as exact quantiles: an int the grid of that many intervals, a
    sequence its own points; a cascade's grids accumulate them, ascending."""
    assert grid.grid_points(4) == (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))
    assert grid.grid_points(1) == ()
    assert grid.grid_points((0.35, 1 / 3)) == (Fraction(7, 20), Fraction(1, 3))
    assert grid.cascade_grids(((0.35,), (0.7,), (0.2,))) == (
        (Fraction(7, 20),), (Fraction(7, 20), Fraction(7, 10)), (Fraction(1, 5), Fraction(7, 20), Fraction(7, 10)))
    assert grid.cascade_grids((2, 4)) == ((Fraction(1, 2),), grid.grid_points(4))
    for bad in (0, (0.0,), (1.0,), (0.5, 1.5)):
        with pytest.raises(ValueError, match="interval|quantiles"):
            grid.grid_points(bad)
    with pytest.raises(ValueError, match="at least one stage"):
        grid.cascade_grids(())
    points = SolverConfig().grid_points
    assert all(0 < f < 1 for f in points) and len(set(points)) == len(points)


def test_aligned_points():
    """The alternative cascade matches point for point and must keep every grid's order."""
    config = SolverConfig()
    stages, few = tuple((f,) for f in config.grid_points), tuple((f,) for f in config.grid_points_few)
    swap = grid.aligned_points(stages, few)
    assert swap[Fraction(2, 5)] == Fraction(1, 2) and swap[Fraction(3, 4)] == Fraction(3, 4)
    with pytest.raises(ValueError, match="not in the order"):
        grid.aligned_points(((0.35,), (0.7,)), ((0.5,), (0.25,)))
    with pytest.raises(ValueError, match="stages"):
        grid.aligned_points(((0.35,), (0.7,)), ((0.5,),))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="bfloat16 products: TensorFlow only")
def test_bf16_products_gate(monkeypatch):
    """On a CPU with bfloat16 dot products this TensorFlow's bfloat16 convolutions
    accumulate in float32 (the probe the gate relies on); SNNMAP_BF16=0 turns the bfloat16
    products off, =1 leaves only the probe."""
    probe = solver.accumulates_in_float32()
    if solver.cpu_has_bf16():
        assert probe
    monkeypatch.setenv("SNNMAP_BF16", "0")
    assert not solver.bf16_products()
    monkeypatch.setenv("SNNMAP_BF16", "1")
    assert solver.bf16_products() == probe
    assert solver.bf16_products(SolverConfig(bf16=False)) is False


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="bfloat16 products: TensorFlow only")
@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_bounds_bracket_exact_products(seed):
    """The bounds of bfloat16 convolutions (float32 accumulation) bracket the float64 products of
    non-negative ramps (spanning six orders of magnitude, some exactly 0) with J+ and J-, and
    stay within 3 % of them."""
    if not solver.accumulates_in_float32():
        pytest.skip("this TensorFlow's bfloat16 convolutions do not accumulate in float32: never used")
    rng = np.random.default_rng(seed)
    in_shape = (9, 9, 6)
    kernel = rng.normal(0.0, 0.3, (3, 3, 6, 5))
    fan_in = 3 * 3 * 6
    ramps = rng.uniform(0, 1, (3,) + in_shape) * 10.0 ** rng.uniform(-3, 3, (3,) + in_shape)
    ramps[rng.uniform(size=ramps.shape) < 0.3] = 0.0

    def conv(x, k, dtype):
        x, k = (keras.ops.cast(keras.ops.convert_to_tensor(v, "float32"), dtype) for v in (x, k))
        return keras.ops.conv(x, k, padding="valid")

    parts = (np.maximum(kernel, 0.0), np.maximum(-kernel, 0.0))
    (p_up, _), (n_up, n_lo) = ((np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in
                                products.product_bounds(conv(ramps, part, "bfloat16"), fan_in)) for part in parts)
    exact = [np.asarray(keras.ops.convert_to_numpy(keras.ops.conv(keras.ops.convert_to_tensor(ramps),
                                                                  keras.ops.convert_to_tensor(part))), np.float64)
             for part in parts]
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
    spreads = (lambda y, index: products.spread_one_hot(y, index, width),
               products.compiled_once(products.spread_gather, width))
    for dtype in ("float32", "bfloat16"):
        want = mask_of(keras.ops.cast(keras.ops.cast(expected, dtype), "float32"))
        for spread in spreads:
            got = spread(keras.ops.cast(y, dtype), index)
            np.testing.assert_array_equal(mask_of(keras.ops.cast(got, "float32")), want)
    kernel = rng.standard_normal((3, 3, 2, width)).astype("float32")
    taken = products.compiled_once(products.take_last)(keras.ops.convert_to_tensor(kernel), index)
    np.testing.assert_array_equal(mask_of(taken), kernel[..., channels])


def test_quantile_grid_matches_numpy():
    """The grid's inner points: the distinct time at rank floor(f d) of each image's d distinct
    informative times (before tau), clipped to [-T_in, tau]; an alternative set where asked."""
    rng = np.random.default_rng(5)
    t_in = 1.0
    u = -rng.uniform(0.0, 1.3, (6, 40)) * (rng.random((6, 40)) < 0.6)
    u[2] = 0.0  # no informative input: every point at tau
    tau = np.maximum(u.max(axis=1), -t_in)
    points = grid.inner_points((0.35, 0.7))

    def got(**kwargs):
        g = grid.quantile_grid(keras.ops.convert_to_tensor(u), keras.ops.convert_to_tensor(tau[:, None]), points,
                               t_in, 2048, **kwargs)
        return mask_of(g).reshape(len(points), -1).T

    np.testing.assert_array_equal(got(), numpy_grid(u, tau, points, t_in))
    for share in (0.3, 1.0):
        np.testing.assert_array_equal(got(time_share=share), numpy_grid(u, tau, points, t_in, share))
    alt = grid.inner_points((0.5, 0.75))
    for use in (True, False):
        np.testing.assert_array_equal(got(alternative=(alt, keras.ops.convert_to_tensor(use))),
                                      numpy_grid(u, tau, alt if use else points, t_in))
    assert np.all(got()[2] == tau[2])


def test_quantile_grid_points_stay_apart_in_ties():
    """Images with one time shared by most inputs (a uniform background), every input at one
    time, and a few distinct times: the points are distinct wherever the image has as many
    distinct informative times, each one's place does not depend on the others (a cascade
    reuses them), and an image without informative input has every point at tau."""
    t_in = 1.0
    stages = (0.35, 0.7, 0.2, 0.5, 0.85)
    points = grid.inner_points(stages)
    rng = np.random.default_rng(3)
    u = np.zeros((5, 600))
    u[0] = np.where(rng.random(600) < 0.8, -0.4, -rng.uniform(0, 1, 600))  # 80% tied at -0.4
    u[1] = -0.3                                                             # all at one time: tau
    u[2, :500] = -0.6                                                       # one informative time
    u[3] = -rng.choice(np.arange(1, 12) / 12, 600)                          # eleven distinct times
    u[4, :300] = -1.5                                                       # before -T_in
    u[4, 300:400] = -rng.uniform(0, 1, 100)
    tau = np.maximum(u.max(axis=1), -t_in)

    def got(quantiles):
        g = grid.quantile_grid(keras.ops.convert_to_tensor(u), keras.ops.convert_to_tensor(tau[:, None]),
                               quantiles, t_in, 2048)
        return mask_of(g).reshape(len(quantiles), -1).T

    g = got(points)
    np.testing.assert_array_equal(g, numpy_grid(u, tau, points, t_in))
    for row in (0, 3, 4):
        assert len(np.unique(g[row])) == len(points), g[row]
        assert np.all((g[row] > -t_in - 1e-12) & (g[row] < tau[row]))
    # The old rule (rank floor(f n) among the inputs) put the points 0.35, 0.5 and 0.7 on the tie.
    assert np.sum(g[0] == -0.4) <= 1
    assert np.all(g[1] == tau[1]) and np.all(g[2] == -0.6)
    for k in range(1, len(stages) + 1):
        few = grid.cascade_grids([(f,) for f in stages])[k - 1]
        np.testing.assert_array_equal(got(few), g[:, [points.index(f) for f in few]])


def test_time_share_cuts_the_early_heavy_inputs():
    """Most informative inputs crowd just before tau (small activations) and a few arrive early:
    by ranks alone every point falls among the crowd, leaving the early ones in one interval as
    wide as nearly the whole window; a share of time puts points among them."""
    t_in = 1.0
    rng = np.random.default_rng(11)
    early = -rng.uniform(0.3, 1.0, 60)
    crowd = -rng.uniform(0.0, 0.02, 540)
    u = np.concatenate([early, crowd])[None, :]
    tau = np.zeros(1)
    points = grid.inner_points((0.35, 0.7, 0.2))
    ranks = numpy_grid(u, tau, points, t_in)[0]
    mixed = numpy_grid(u, tau, points, t_in, 0.3)[0]
    assert np.all(ranks > -0.3)  # the ranks' points are all in the crowd
    assert np.sum(mixed < -0.3) >= 2  # some of the blended ones among the early inputs
    for share, want in ((0.0, ranks), (0.3, mixed)):
        g = grid.quantile_grid(keras.ops.convert_to_tensor(u), keras.ops.convert_to_tensor(tau[:, None]), points,
                               t_in, 2048, time_share=share)
        np.testing.assert_array_equal(mask_of(g).reshape(-1), want)


def test_solver_policy():
    """grid_needed: the event solver would read more inputs than the grid's products cost (and,
    later, enough pairs are open); cascade_stages: one point per stage in large layers, the small
    grid in small ones, the direct grid in large dense kernels; free_bound_pays below free_open."""
    config = SolverConfig()
    assert solver.grid_needed(11, 100, 1000, config) and not solver.grid_needed(9, 100, 1000, config)
    assert not solver.grid_needed(0.05, 1e6, 1000, config, later=True)
    assert solver.grid_needed(1, 1e6, 1000, config.replace(grid_later=0.0), later=True)
    stages, few = solver.cascade_stages(1000, 1 << 11, config)
    assert stages == tuple((f,) for f in config.grid_points) and few == tuple((f,) for f in config.grid_points_few)
    assert solver.cascade_stages(10, 10, config) == ((config.grid_small,), None)
    assert solver.cascade_stages(1 << 12, 1 << 10, config, dense=True) == ((config.dense_direct_blocks,), None)
    assert solver.cascade_stages(1 << 12, 1 << 10, config) == (stages, few)
    assert solver.free_bound_pays(2, 100, config) and not solver.free_bound_pays(3, 100, config)
    assert solver.fuse(config.fuse_neurons, config) and not solver.fuse(config.fuse_neurons - 1, config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.grid_work = 2.0


def test_certificate_and_tau_bounds_bracket():
    """certificate >= the potential at tau; tau_bounds bracket N(tau) = sum_j J-_ij (tau - u_j)
    and cap bounds N'(s) before tau, for random neurons whose products are float32 sums."""
    rng = np.random.default_rng(9)
    n, r, t_in = 300, 50, 1.0
    u = -rng.uniform(0.0, 1.0, (n, r)) * (rng.random((n, r)) < 0.5)
    j = rng.normal(0.0, 1.0, (n, r))
    alpha = rng.normal(1.0, 0.3, n)
    tau = np.maximum(u.max(axis=1), -t_in)
    pos, neg = np.maximum(j, 0.0), np.maximum(-j, 0.0)
    ramp = np.maximum(tau[:, None] - u, 0.0)
    p_exact, n_exact = (pos * ramp).sum(1), (neg * ramp).sum(1)
    p32 = (pos.astype(np.float32) * ramp.astype(np.float32)).sum(1, dtype=np.float32)
    product = (j * u).sum(1)
    count = (u < tau[:, None]).sum(1).astype(np.float64)
    stats = products.kernel_stats(j.T, "float64")
    t = keras.ops.convert_to_tensor
    cert = mask_of(bounds.certificate(t(alpha), t(tau), t(p32), t_in, r))
    v_tau = alpha * (tau + t_in) + p_exact - n_exact
    assert np.all(cert >= v_tau - 1e-12)
    p_up, n_lo, n_up, cap, _, p_lo, _ = (mask_of(v) for v in bounds.tau_bounds(
        t(tau), t(p32), t(product), t(count), t(alpha), t(stats), t_in, r, "float64"))
    assert np.all(p_up >= p_exact) and np.all(p_lo <= p_exact)
    assert np.all(n_lo <= n_exact + 1e-12) and np.all(n_up >= n_exact - 1e-12)
    slope = (neg * (u < tau[:, None])).sum(1)
    assert np.all(cap >= slope)
