"""Direct tests of snnmap.core.spiketime: first_crossing / sort_inputs against the oracle,
solve_pairs against a trivial solve function; plus a few hand-checked oracle cases.

first_crossing works in local time (integration starts at ``-T_in``, window ``[0, B]``),
so the oracle is run with ``t_min_prev = -T_in`` and ``t_max = B``.  Tolerance 1e-9 as
in test_layers.py (the oracle is exact to ~1e-13).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402

from snnmap.core import spiketime  # noqa: E402

from oracle import potential, readout, simulate_layer, simulate_sample  # noqa: E402

TOL = 1e-9


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# --------------------------------------------------------------------------------------
# the oracle on cases solved by hand
# --------------------------------------------------------------------------------------
def test_oracle_hand_examples():
    # Excitation at t=0 (J=1), inhibition at t=1 (J=-0.9), alpha=1: V = 2t on [0, 1],
    # then slope 1 + 1 - 0.9 = 1.1.  theta=1.5 -> 0.75; theta=2.11 -> 1 + 0.11/1.1 = 1.1;
    # theta=10 > V(4) = 5.3 -> t_max.
    t_in = np.array([0.0, 1.0])
    J = np.array([[1.0, 1.0, 1.0], [-0.9, -0.9, -0.9]])
    out = simulate_sample(t_in, J, np.array([1.5, 2.11, 10.0]), np.ones(3), 0.0, 4.0, dt=0.01)
    np.testing.assert_allclose(out, [0.75, 1.1, 4.0], rtol=0, atol=1e-13)

    # A peak between two coarse grid points: V rises (slope 1 + 9 = 10) until the
    # inhibition at t=0.35, then falls (slope 1 + 9 - 20 = -10).  V(0.35) = 3.5 >= 3,
    # first crossing at 0.3; a grid of step 0.5 alone would miss it entirely.
    J = np.array([[9.0], [-20.0]])
    out = simulate_sample(np.array([0.0, 0.35]), J, np.array([3.0]), np.ones(1), 0.0, 1.0, dt=0.5)
    np.testing.assert_allclose(out, [0.3], rtol=0, atol=1e-13)

    # An input before integration starts (t_min_prev = 1): contributes J (t - t_j) from 1 on.
    # V(t) = (t - 1) + 2 (t - 0.5); V(1) = 1 -> theta = 0.5 fires at 1, theta = 4 at 1 + 3/3.
    J = np.array([[2.0, 2.0]])
    out = simulate_sample(np.array([0.5]), J, np.array([0.5, 4.0]), np.ones(2), 1.0, 3.0)
    np.testing.assert_allclose(out, [1.0, 2.0], rtol=0, atol=1e-13)

    # Readout: alpha T_in + sum_j W_j max(0, t_min - t_j).
    r = readout(np.array([[0.2, 1.5]]), np.array([[1.0], [5.0]]), np.array([0.5]), 0.0, 1.0)
    np.testing.assert_allclose(r, [[0.5 + 0.8]], rtol=0, atol=1e-15)


def test_oracle_grid_step_does_not_matter():
    rng = np.random.default_rng(0)
    t_in = rng.uniform(-0.2, 1.0, (5, 20))
    J = rng.normal(0.0, 1.0, (20, 15))
    theta = rng.uniform(0.0, 2.0, 15)
    alpha = np.ones(15)
    fine = simulate_layer(t_in, J, theta, alpha, 0.0, 3.0, dt=1e-4)
    coarse = simulate_layer(t_in, J, theta, alpha, 0.0, 3.0, dt=0.7)
    np.testing.assert_allclose(coarse, fine, rtol=0, atol=1e-12)
    # A crossing inside the window is a root of V - theta, and V < theta just before it.
    for k in range(5):
        inside = (fine[k] > 0.0) & (fine[k] < 3.0)
        t_star = fine[k][inside]
        v = potential(t_star[None, :], t_in[k], J[:, inside], alpha[inside], 0.0)[0]
        np.testing.assert_allclose(v, theta[inside], rtol=0, atol=1e-12)
        before = potential(t_star[None, :] - 1e-6, t_in[k], J[:, inside], alpha[inside], 0.0)[0]
        assert np.all(before < theta[inside])


# --------------------------------------------------------------------------------------
# first_crossing
# --------------------------------------------------------------------------------------
def crossing_problem(rng, n, r, t_in=1.0, window=2.0):
    """Unsorted local input times with ties and pre-start inputs, and mixed thresholds."""
    u = rng.uniform(-t_in, 0.0, (n, r))
    u[:, :3] = u[:, 3:6]                                   # tied arrival times
    pre = rng.random((n, r)) < 0.1
    u = np.where(pre, -t_in - rng.uniform(0.0, 0.4, (n, r)), u)   # before integration starts
    u[0, :] = 0.0                                          # everything at t_min
    j = rng.normal(0.0, 1.5 / np.sqrt(r), (n, r))
    j[1, :] = -np.abs(j[1, :])                             # never fires (theta[1] = 10)
    u[2, :] = np.abs(u[2, :]) % t_in - t_in                # no pre-start input in row 2,
    alpha = rng.normal(1.0, 0.2, n)
    theta = rng.uniform(-0.1, 1.5 + 1.5 * t_in, n)
    theta[1] = 10.0 * t_in
    theta[2] = -0.5                                        # so it fires at integration start
    return u, j, alpha, theta


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_crossing_unsorted_via_sort_inputs(seed):
    rng = np.random.default_rng(seed)
    t_in, window = 1.0 + 0.5 * seed, 2.0
    u, j, alpha, theta = crossing_problem(rng, 40, 25, t_in, window)
    e, js = spiketime.sort_inputs(ops.convert_to_tensor(u), ops.convert_to_tensor(j))
    assert np.all(np.diff(np_(e), axis=-1) >= 0)
    out = np_(spiketime.first_crossing(e, js, ops.convert_to_tensor(alpha), ops.convert_to_tensor(theta),
                                       t_in, window))
    ref = np.array([simulate_sample(u[i], j[i][:, None], theta[i:i + 1], alpha[i:i + 1], -t_in, window)[0]
                    for i in range(u.shape[0])])
    assert out.shape == (40,)
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)
    assert out[1] == window and out[2] == -t_in
    # All kinds of outcome occur: crossings while inputs arrive, after them, and none.
    assert np.sum(ref < 0.0) >= 3 and np.sum((ref >= 0.0) & (ref < window)) >= 3
    assert np.sum(ref == window) >= 2


@pytest.mark.parametrize("seed", [0, 1])
def test_first_crossing_axis1_layout(seed):
    """Inputs shared by all neurons of a sample: e (c, R, 1), j (c, R, units)."""
    rng = np.random.default_rng(10 + seed)
    c, r, units, t_in, window = 6, 20, 12, 1.0, 2.5
    u = np.sort(rng.uniform(-t_in - 0.2, 0.0, (c, r)), axis=1)
    u[:, 5] = u[:, 4]                                       # a tie
    j = rng.normal(0.0, 0.6, (c, r, units))
    alpha = rng.normal(1.0, 0.1, units)
    theta = rng.uniform(0.0, 3.0, units)
    out = np_(spiketime.first_crossing(ops.convert_to_tensor(u[:, :, None]), ops.convert_to_tensor(j),
                                       ops.convert_to_tensor(alpha), ops.convert_to_tensor(theta),
                                       t_in, window, axis=1))
    assert out.shape == (c, units)
    ref = np.stack([simulate_sample(u[k], j[k], theta, alpha, -t_in, window) for k in range(c)])
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)


def test_closed_form_agrees_when_no_early_crossing():
    rng = np.random.default_rng(3)
    n, r, t_in, window = 30, 15, 1.0, 3.0
    u = rng.uniform(-t_in, 0.0, (n, r))
    j = np.abs(rng.normal(0.0, 0.1, (n, r)))               # excitatory only: V increasing
    alpha = np.ones(n)
    theta = rng.uniform(0.5, 4.0, n)
    # Certified when theta exceeds the (increasing) potential at the last input.
    tau = u.max(axis=1)
    # theta - U(tau), U(tau) = alpha (tau + T_in) + sum_j J+_ij (tau - u_j) (docs/method.md §3).
    margin = theta - (alpha * (tau + t_in) + (np.maximum(j, 0.0) * (tau[:, None] - u)).sum(1))
    inv_slope, offset = spiketime.crossing_params(alpha, j.sum(1), theta, t_in, window)
    cf = np_(spiketime.closed_form(inv_slope, offset, (j * u).sum(1), window))
    ref = np.array([simulate_sample(u[i], j[i][:, None], theta[i:i + 1], alpha[i:i + 1], -t_in, window)[0]
                    for i in range(n)])
    ok = margin > 0
    assert ok.sum() > 5
    np.testing.assert_allclose(cf[ok], ref[ok], rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------
# solve_pairs
# --------------------------------------------------------------------------------------
def trivial(calls=None):
    def solve(idx):
        if calls is not None:
            calls.append(int(idx.shape[0]))
        return ops.cast(idx, "float64")
    return solve


def run_pairs(mask, values, solve, chunk, small_chunk=16, static=None):
    """:func:`spiketime.solve_pairs`, or with ``static`` its static-shape path
    (:func:`spiketime.solve_padded`, True) or its exact one (:func:`spiketime.solve_selected`)."""
    mask, values = ops.convert_to_tensor(mask), ops.convert_to_tensor(values)
    if static is None:
        return np_(spiketime.solve_pairs(mask, values, solve, chunk, small_chunk))
    if static:
        return np_(spiketime.solve_padded(mask, values, solve, chunk, small_chunk))
    return np_(spiketime.solve_selected(mask, values, solve, chunk))


MASKS = {  # name -> (N, selected indices, chunk, small_chunk)
    "none": (100, [], 32, 16),
    "one": (100, [37], 32, 16),
    "few": (100, [3, 17, 18, 64, 99], 32, 16),
    "sixteen": (100, list(range(0, 80, 5)), 32, 16),
    "many": (200, list(range(1, 200, 3)), 8, 4),           # 67 > chunk: compacted loop
    "many_equal_chunks": (200, list(range(2, 200, 7)), 8, 8),
    "all": (50, list(range(50)), 16, 16),
    "many_with_zero": (200, [0] + list(range(5, 200, 4)), 8, 4),
}


@pytest.mark.parametrize("name", list(MASKS))
def test_solve_pairs_replaces_exactly_the_masked_entries(name):
    n, sel, chunk, small = MASKS[name]
    mask = np.zeros(n, bool)
    mask[sel] = True
    values = -1.0 - np.arange(n, dtype=np.float64)        # never equal to any index
    calls = []
    out = run_pairs(mask, values, trivial(calls), chunk, small)
    np.testing.assert_array_equal(out[mask], np.flatnonzero(mask).astype(np.float64))
    np.testing.assert_array_equal(out[~mask], values[~mask])


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("name", list(MASKS))
def test_solve_pairs_with_an_exact_solve(name, static):
    """The documented contract of ``solve``: exact for ANY index.  Then the result is
    exactly ``truth`` whatever the padding does, and the chunks have the stated sizes
    (static path) or hold exactly the selected entries (exact path)."""
    if not static and keras.backend.backend() != "tensorflow":
        pytest.skip("the exact path needs shapes that vary (TensorFlow)")
    n, sel, chunk, small = MASKS[name]
    mask = np.zeros(n, bool)
    mask[sel] = True
    truth = np.random.default_rng(n).normal(size=n)
    values = np.where(mask, 1e6, truth)
    calls = []

    def solve(idx):
        calls.append(int(idx.shape[0]))
        return ops.take(ops.convert_to_tensor(truth), idx)

    out = run_pairs(mask, values, solve, chunk, small, static=static)
    np.testing.assert_array_equal(out, truth)
    count = int(mask.sum())
    if keras.backend.backend() != "tensorflow":
        return  # JAX traces both branches of every cond: the calls do not say what ran
    if count == 0:
        assert calls == []
    elif not static:
        assert sum(calls) == count and max(calls) <= chunk
    else:
        assert set(calls) <= {chunk, small}
        assert count <= sum(calls) < count + max(chunk, small)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="shapes that vary: TensorFlow")
@pytest.mark.parametrize("dtype", ["float32", "bool"])
@pytest.mark.parametrize("graph", [False, True])
def test_solve_selected_whole_rows_in_many_chunks(dtype, graph):
    """Rows of several values (as the grid bounds hand whole images), bools (as the free bound
    writes into its mask), seven chunks, in a traced graph where the count is known only at run
    time: every selected row is its solve's, every other row is untouched."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    n = 60
    mask = rng.random(n) < 0.45
    mask[[0, n - 1]] = True
    values = rng.random((n, 2, 3)) < 0.5 if dtype == "bool" else rng.normal(size=(n, 2, 3)).astype(dtype)
    truth = rng.random((n, 2, 3)) < 0.5 if dtype == "bool" else rng.normal(size=(n, 2, 3)).astype(dtype)
    table = ops.convert_to_tensor(truth)
    sizes = []

    def solve(idx):
        sizes.append(idx.shape[0])
        return ops.take(table, idx, axis=0)

    run = lambda m, v: spiketime.solve_selected(m, v, solve, 4)  # noqa: E731
    if graph:
        run = tf.function(run, input_signature=[tf.TensorSpec([n], tf.bool), tf.TensorSpec([n, 2, 3], dtype)])
    out = np_(run(ops.convert_to_tensor(mask), ops.convert_to_tensor(values)))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out[mask], truth[mask])
    np.testing.assert_array_equal(out[~mask], values[~mask])
    assert int(mask.sum()) > 6 * 4  # at least seven chunks of 4
    if not graph:
        assert sizes == [4] * (int(mask.sum()) // 4) + ([int(mask.sum()) % 4] if mask.sum() % 4 else [])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA fusion: TensorFlow only")
def test_fused_compiles_in_graphs_only():
    """Eager calls (convert's check) run ``fn`` op by op and compile nothing; a traced graph
    (``predict``) calls the XLA-compiled function, once per input shape; both give ``fn``'s values."""
    import tensorflow as tf

    fn = lambda a, b: ops.maximum(a * b - 1.0, 0.0)  # noqa: E731
    fused = spiketime.fused(fn)
    a, b = (ops.convert_to_tensor(np.arange(8.0).reshape(4, 2) * step - 2.0) for step in (0.5, 0.25))  # exact products
    want = np_(fn(a, b))
    np.testing.assert_array_equal(np_(fused(a, b)), want)
    assert fused.compiled.experimental_get_tracing_count() == 0
    graph = tf.function(lambda a, b: fused(a, b) + 0.0, autograph=False)
    np.testing.assert_array_equal(np_(graph(a, b)), want)
    assert fused.compiled.experimental_get_tracing_count() == 1


def test_solve_pairs_fewer_entries_than_small_chunk():
    """N = 10 entries (< small_chunk = 16) with 3 selected: must not ask for 16 of 10."""
    mask = np.zeros(10, bool)
    mask[[2, 5, 7]] = True
    truth = np.arange(10, dtype=np.float64)
    out = run_pairs(mask, np.where(mask, -1.0, truth), trivial(), chunk=64)
    np.testing.assert_array_equal(out, truth)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="shapes that vary: TensorFlow")
def test_sort_early_inputs_gives_the_crossings_of_the_full_sort():
    """Inputs tied with the last arrival collapse into one event: same first crossings
    as the fully sorted inputs, rows with no, some and only tied inputs alike."""
    rng = np.random.default_rng(3)
    u = rng.uniform(-1.0, 1.0, size=(64, 40))
    u[rng.random(u.shape) < 0.6] = 1.0   # ReLU zeros: they all arrive last
    u[0] = 1.0                            # every input tied
    u[1] = rng.uniform(-1.0, 1.0, 40)     # none tied
    j = rng.normal(0.0, 0.5, size=u.shape)
    alpha = rng.uniform(-0.5, 1.0, 64)
    theta = rng.uniform(0.5, 2.0, 64)
    e_full, j_full = spiketime.sort_inputs(ops.convert_to_tensor(u), ops.convert_to_tensor(j))
    e_early, j_early = spiketime.sort_early_inputs(ops.convert_to_tensor(u), ops.convert_to_tensor(j))
    assert e_early.shape[1] < u.shape[1] + 1
    assert np.all(np.diff(np_(e_early), axis=1) >= 0)
    full = np_(spiketime.first_crossing(e_full, j_full, alpha, theta, 1.0, 3.0))
    early = np_(spiketime.first_crossing(e_early, j_early, alpha, theta, 1.0, 3.0))
    np.testing.assert_allclose(early, full, rtol=0, atol=1e-12)
    assert np.any(full < 1.0) and np.any(full >= 1.0)  # both early and late crossings occur


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="shapes that vary: TensorFlow")
@pytest.mark.parametrize("size,share", [(0, 0.5), (1000, 0.3), (1 << 18, 0.0), (1 << 18, 1.0), (1 << 18, 1e-4),
                                        ((1 << 18) + 32, 0.01), (3 << 20, 0.2)])
def test_flat_nonzero_is_numpys(size, share):
    """The two-step search of large masks (rows with a hit, then their entries) finds exactly
    NumPy's indices, ascending, whatever the share of hits and the row size the length allows."""
    mask = np.random.default_rng(size).random(size) < share
    found = np_(spiketime.flat_nonzero(ops.convert_to_tensor(mask)))
    assert found.dtype == np.int32
    np.testing.assert_array_equal(found, np.flatnonzero(mask))
