"""SpikingConv2D, SpikingMaxPooling2D and SpikeTimePadding2D against independent references.

The reference of a convolutional spiking layer shares no code with ``snnmap``: this module
expands the convolution into per-neuron dense problems itself (explicit padding of the
input spike times with ``t_min``, i.e. code 0; TensorFlow's "same" rule; one receptive
field per output position) and hands them to the time-stepped simulator of
``tests/oracle.py``.  The expansion itself is checked against ``keras.ops.conv`` first
(:func:`test_reference_expansion_matches_keras_conv`), and the layer's parameters against
docs/method.md §3 computed here from the ReLU weights.

Tolerances as in tests/test_layers.py: spike times to ``TOL = 1e-9`` in float64 (the
oracle's own error is ~1e-13), readouts to 1e-12, float32 to 1e-4 of float64.
"""

from __future__ import annotations

import functools
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import snnmap  # noqa: E402
from snnmap.layers import SpikeTimePadding2D, SpikingConv2D, SpikingDense, SpikingMaxPooling2D  # noqa: E402

from oracle import readout  # noqa: E402
from conv_cases import (EARLY, GEOMETRIES, GEOMETRY_IDS, early_case, geometry, label,  # noqa: E402
                        keras_conv, layer_oracle, make_bias, make_conv, oracle_conv, pair,
                        random_kernel, receptive_fields, relu_pre, tf_same_pads)

TOL = 1e-9
SOLVERS = ("auto", "exact", "scan")


# --------------------------------------------------------------------------------------
# the independent reference: convolution expanded by hand
# --------------------------------------------------------------------------------------


def conv_by_hand(x, kernel, strides, padding):
    """``conv(x, kernel)`` with zero padding, through :func:`receptive_fields`."""
    fields = receptive_fields(x, kernel.shape[:2], strides, padding, 0.0)
    return np.einsum("byxr,rc->byxc", fields, kernel.reshape(-1, kernel.shape[-1]))


def expected_params(w, b, t_min_prev, t_min, t_max):
    """docs/method.md §3 with alpha = 1, written out here: J, theta of shape (h_out, w_out, F)."""
    s = w.reshape(-1, w.shape[-1]).sum(axis=0)
    j = w / (1.0 - s)
    j_sum = j.reshape(-1, w.shape[-1]).sum(axis=0)
    theta = (t_max - t_min_prev) + (t_max - t_min) * j_sum - (1.0 + j_sum) * b
    return j, theta


def oracle_readout(t, kernel, alpha, strides, padding, t_min_prev, t_min):
    """Readout potential ``V(t_min)`` of an output conv layer, position by position."""
    kernel = np.asarray(kernel, np.float64)
    fields = receptive_fields(t, kernel.shape[:2], strides, padding, t_min)
    j = kernel.reshape(-1, kernel.shape[-1])
    alpha = np.broadcast_to(np.asarray(alpha, np.float64), fields.shape[1:3] + (j.shape[1],))
    out = np.empty(fields.shape[:3] + (j.shape[1],))
    for y in range(fields.shape[1]):
        for x in range(fields.shape[2]):
            out[:, y, x] = readout(fields[:, y, x], j, alpha[y, x], t_min_prev, t_min)
    return out


# --------------------------------------------------------------------------------------
# layers and data
# --------------------------------------------------------------------------------------


def run(layer, t):
    return np.asarray(keras.ops.convert_to_numpy(layer(t)))


def open_count(layer, t, blocks):
    u = layer.arrange_inputs(keras.ops.convert_to_tensor(np.asarray(t) - layer.t_min, layer.compute_dtype))
    mask = layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, layer.window.input_length, blocks)
    return int(np.sum(keras.ops.convert_to_numpy(mask)))


# (seed, (H, W, C_in), filters, kernel, strides, padding, t_min_prev, t_min)


BATCH = 5


@functools.lru_cache(maxsize=None)
def random_case(index, bias_kind):
    """Weights, bias, activations and the (cached) reference of one geometry."""
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    rng = np.random.default_rng(1000 * seed + (bias_kind == "map"))
    _, out_hw = geometry(in_shape[:2], k, s, padding)
    w = random_kernel(rng, k, in_shape[2], filters)
    b = make_bias(rng, bias_kind, out_hw, filters)
    x = rng.uniform(0.0, t_min - t_min_prev, (BATCH,) + in_shape)
    x[rng.random(x.shape) < 0.2] = 0.0
    y = relu_pre(x, w, b, s, padding)
    X_n = float(np.max(y))
    t_max = t_min + 1.5 * X_n
    j, theta = expected_params(w, b, t_min_prev, t_min, t_max)
    t = t_min - x
    ref = oracle_conv(t, j, theta, 1.0, s, padding, t_min_prev, t_min, t_max)
    return w, b, x, y, X_n, ref


# --------------------------------------------------------------------------------------
# the reference itself
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(len(GEOMETRIES)), ids=GEOMETRY_IDS)
def test_reference_expansion_matches_keras_conv(index):
    """The hand-made receptive fields reproduce keras.ops.conv (so the oracle's geometry,
    padding rule and kernel order are right, independently of snnmap)."""
    seed, in_shape, filters, k, s, padding, _, _ = GEOMETRIES[index]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3,) + in_shape)
    w = rng.normal(size=pair(k) + (in_shape[2], filters))
    ref = keras_conv(x, w, s, padding)
    mine = conv_by_hand(x, w, s, padding)
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)
    layer = SpikingConv2D(filters, k, strides=s, padding=padding)
    assert layer.compute_output_shape((None,) + in_shape) == (None,) + ref.shape[1:]


def test_tf_same_padding_rule():
    assert tf_same_pads(9, 3, 1) == (1, 1)
    assert tf_same_pads(8, 3, 2) == (0, 1)
    assert tf_same_pads(8, 5, 2) == (1, 2)
    assert tf_same_pads(9, 5, 2) == (2, 2)
    assert tf_same_pads(7, 1, 2) == (0, 0)
    for size in range(3, 12):
        for k in (1, 2, 3, 4, 5):
            for s in (1, 2, 3):
                assert snnmap.layers.same_padding(size, k, s) == tf_same_pads(size, k, s)


# --------------------------------------------------------------------------------------
# spike times vs the oracle
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("bias_kind", ["channel", "map"])
@pytest.mark.parametrize("index", range(len(GEOMETRIES)), ids=GEOMETRY_IDS)
def test_random_conv_layers_match_oracle(index, bias_kind, solver):
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    w, b, x, y, X_n, ref = random_case(index, bias_kind)
    layer = make_conv(w, b, in_shape, s, padding, X_n, t_min_prev, t_min, solver=solver)
    # The stored parameters are docs/method.md §3's, per position (bias maps) and per filter.
    j, theta = expected_params(w, b, t_min_prev, t_min, layer.t_max)
    assert layer.threshold.shape == ref.shape[1:] and layer.alpha.shape == ref.shape[1:]
    np.testing.assert_allclose(layer.kernel.numpy(), j, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layer.threshold.numpy(), np.broadcast_to(theta, ref.shape[1:]), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(layer.alpha.numpy(), 1.0)

    out = run(layer, t_min - x)
    assert out.shape == ref.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)
    # The benign random layers have no violation: every neuron codes ReLU(y) exactly.
    assert np.all(out >= t_min - TOL)
    np.testing.assert_allclose(layer.t_max - out, np.maximum(y, 0.0), rtol=0, atol=1e-9)
    assert np.any(y < 0) and np.any(y > 0)


def test_bias_map_differs_from_channel_bias_at_the_border():
    """A per-position bias map really is per position: changing one corner entry of the
    map moves only that neuron's threshold and spike time."""
    index = 0
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    w, b, x, y, X_n, _ = random_case(index, "channel")
    bmap = np.broadcast_to(b, y.shape[1:]).copy()
    l1 = make_conv(w, bmap, in_shape, s, padding, X_n)
    bmap[0, 0, 1] -= 0.2
    l2 = make_conv(w, bmap, in_shape, s, padding, X_n)
    diff = l1.threshold.numpy() != l2.threshold.numpy()
    assert diff.sum() == 1 and diff[0, 0, 1]
    t = t_min - x
    o1, o2 = run(l1, t), run(l2, t)
    moved = np.any(np.abs(o1 - o2) > 1e-12, axis=0)
    assert moved[0, 0, 1] and moved.sum() == 1
    # 0.2 less bias: the spike comes 0.2 later (unless clipped at t_max).
    delta = o2[:, 0, 0, 1] - o1[:, 0, 0, 1]
    clipped = o2[:, 0, 0, 1] >= l2.t_max - 1e-12
    np.testing.assert_allclose(delta[~clipped], 0.2, rtol=0, atol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_alpha_noise_per_position_matches_oracle(solver):
    index = 1
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    w, b, x, y, X_n, _ = random_case(index, "map")
    layer = make_conv(w, b, in_shape, s, padding, X_n, alpha_noise=0.3, seed=3, solver=solver)
    alpha = layer.alpha.numpy()
    assert alpha.shape == y.shape[1:] and np.all(alpha != 1.0)
    t = t_min - x
    np.testing.assert_allclose(run(layer, t), layer_oracle(layer, t), rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------
# violations of (a) and (b)
# --------------------------------------------------------------------------------------


EARLY_IDS = [f"e{e[0]}-k{label(e[3])}-s{label(e[4])}-{e[5]}" for e in EARLY]


@functools.lru_cache(maxsize=None)
def early_reference(index, bias_kind):
    seed, hw, filters, k, s, padding = EARLY[index]
    w, b, x, y, X_n, zeta = early_case(index, bias_kind)
    t_max = 1.0 + (1.0 + zeta) * X_n
    j, theta = expected_params(w, b, 0.0, 1.0, t_max)
    return oracle_conv(1.0 - x, j, theta, 1.0, s, padding, 0.0, 1.0, t_max)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("index", range(len(EARLY)), ids=EARLY_IDS)
def test_early_crossings_condition_b(index, solver):
    seed, hw, filters, k, s, padding = EARLY[index]
    bias_kind = ("map", "channel")[index % 2]
    w, b, x, y, X_n, zeta = early_case(index, bias_kind)
    layer = make_conv(w, b, hw + (3,), s, padding, X_n, zeta=zeta, solver=solver)
    B = layer.t_max - layer.t_min
    assert np.all(y <= B)  # no (a): every early spike below is (b)
    ref = early_reference(index, bias_kind)
    early = ref < layer.t_min - TOL
    assert early.sum() >= 10, "the construction must produce early crossings"
    out = run(layer, 1.0 - x)
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)
    assert np.array_equal(out < layer.t_min - TOL, early)
    # Really early: before t_min and before the spike the ReLU value would give.
    assert np.all(out[early] < (layer.t_max - np.maximum(y, 0.0))[early] - 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("index", [0, 1, 5], ids=[GEOMETRY_IDS[i] for i in (0, 1, 5)])
def test_activations_beyond_window_condition_a(index, solver):
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    rng = np.random.default_rng(300 + seed)
    _, out_hw = geometry(in_shape[:2], k, s, padding)
    w = random_kernel(rng, k, in_shape[2], filters, scale=2.0)
    b = make_bias(rng, "map", out_hw, filters)
    x = rng.uniform(0.0, t_min - t_min_prev, (BATCH,) + in_shape)
    y = relu_pre(x, w, b, s, padding)
    X_n = 0.3 * float(np.max(y))  # short window: many y > B_n
    layer = make_conv(w, b, in_shape, s, padding, X_n, t_min_prev, t_min, zeta=0.0, solver=solver)
    B = layer.t_max - layer.t_min
    beyond = y > B + 1e-9
    assert beyond.sum() >= 10
    t = t_min - x
    out = run(layer, t)
    np.testing.assert_allclose(out, layer_oracle(layer, t), rtol=0, atol=TOL)
    assert np.all(out[beyond] < layer.t_min)


@pytest.mark.parametrize("kind", ["random", "early", "short_window"])
def test_relu_equivalence_and_violations(kind):
    """|(t_max - t) - relu(y)| <= 1e-9 wherever no window condition is violated, with y
    from keras.ops.conv on the decoded input; violations are exactly the spikes before
    t_min, in the layer and in the oracle."""
    rng = np.random.default_rng(400)
    if kind == "early":
        seed, hw, filters, k, s, padding = EARLY[0]
        w, b, x, y, X_n, zeta = early_case(0, "map")
        in_shape = hw + (3,)
    else:
        in_shape, filters, k, s, padding = (9, 7, 3), 4, 3, 1, "same"
        _, out_hw = geometry(in_shape[:2], k, s, padding)
        w = random_kernel(rng, k, in_shape[2], filters, scale=1.5 if kind == "random" else 2.0)
        b = make_bias(rng, "map", out_hw, filters)
        x = rng.uniform(0.0, 1.0, (BATCH,) + in_shape)
        y = relu_pre(x, w, b, s, padding)
        X_n, zeta = (float(np.max(y)), 0.5) if kind == "random" else (0.5 * float(np.max(y)), 0.0)
    layer = make_conv(w, b, in_shape, s, padding, X_n, zeta=zeta)
    t = 1.0 - x
    # y again, from the decoded spike times (x = t_min - t) through a Keras Conv2D layer.
    ref_layer = keras.layers.Conv2D(filters, k, strides=s, padding=padding, use_bias=False, dtype="float64")
    ref_layer.build((None,) + in_shape)
    ref_layer.set_weights([w])
    y2 = np.asarray(ref_layer(layer.t_min - t)) + b
    np.testing.assert_allclose(y2, y, rtol=0, atol=1e-12)

    out = run(layer, t)
    ref = early_reference(0, "map") if kind == "early" else layer_oracle(layer, t)
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)
    B = layer.t_max - layer.t_min
    viol_ref = ref < layer.t_min - TOL
    viol_out = out < layer.t_min - TOL
    assert np.array_equal(viol_out, viol_ref)
    cond_a = y > B
    assert np.all(viol_ref[cond_a])
    ok = ~viol_ref
    err = np.abs((layer.t_max - out[ok]) - np.maximum(y[ok], 0.0))
    assert err.max() <= 1e-9
    if kind == "random":
        assert viol_ref.sum() == 0
    elif kind == "early":
        assert viol_ref.sum() > 0 and cond_a.sum() == 0
    else:
        assert cond_a.sum() > 0
    neg = (y < 0) & ok
    assert neg.sum() > 0
    np.testing.assert_allclose(out[neg], layer.t_max, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", ["all_inputs_early", "late_input"])
def test_same_padding_inputs_arrive_at_t_min(case, solver):
    """Minimal cases: the synapses that read padding receive spikes at t_min, not before.

    "all_inputs_early": 1x1 input spiking at 0; before t_min only the centre synapse acts,
    V = 2 t reaches theta = 1.2 at t = 0.6 (y = 1.58 > B = 1.5, condition (a)).
    "late_input": 1x2 input, the second pixel jittered to t = 1.5; the 7 padded synapses of
    neuron (0, 0) start at t_min = 1 and carry V to theta = 3 at t = 1 + 1.8 / 5.4.
    """
    if case == "all_inputs_early":
        w, b, t, X_n, expected = np.full((3, 3, 1, 1), 0.1), np.array([1.48]), np.zeros((1, 1, 1, 1)), 1.0, 0.6
    else:
        w = np.full((3, 3, 1, 1), 0.3)
        w[1, 1], w[1, 2] = 0.1, -1.7
        b, t, X_n, expected = np.array([2.0]), np.array([0.0, 1.5]).reshape(1, 1, 2, 1), 2.0, 1.0 + 1.8 / 5.4
    layer = make_conv(w, b, t.shape[1:], 1, "same", X_n, solver=solver)
    ref = layer_oracle(layer, t)
    assert abs(ref[0, 0, 0, 0] - expected) <= 1e-12  # the oracle agrees with the hand calculation
    np.testing.assert_allclose(run(layer, t), ref, rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------
# output layer
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias_kind", ["channel", "map"])
@pytest.mark.parametrize("index", [0, 3, 4, 6], ids=[GEOMETRY_IDS[i] for i in (0, 3, 4, 6)])
def test_output_layer_readout(index, bias_kind):
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    rng = np.random.default_rng(500 + seed)
    _, out_hw = geometry(in_shape[:2], k, s, padding)
    w = rng.normal(0.0, 1.0, pair(k) + (in_shape[2], filters))  # no weight-sum limit
    b = make_bias(rng, bias_kind, out_hw, filters, scale=1.0)
    layer = SpikingConv2D(filters, k, strides=s, padding=padding, t_min_prev=t_min_prev, t_min=t_min,
                          output_layer=True)
    layer.build((None,) + in_shape)
    layer.set_relu_params(w, b)
    assert layer.threshold is None
    x = rng.uniform(0.0, t_min - t_min_prev, (BATCH,) + in_shape)
    x[:, :2] = 0.0
    t = t_min - x
    out = run(layer, t)
    np.testing.assert_allclose(out, relu_pre(x, w, b, s, padding), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        out, oracle_readout(t, w, np.broadcast_to(b, out.shape[1:]) / (t_min - t_min_prev), s, padding,
                            t_min_prev, t_min), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.alpha.numpy(), np.broadcast_to(b, out.shape[1:]) / (t_min - t_min_prev),
                               rtol=1e-15, atol=0)


# --------------------------------------------------------------------------------------
# inputs before t_min_prev and after t_min (what noise does)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("index", [0, 4], ids=[GEOMETRY_IDS[i] for i in (0, 4)])
def test_jittered_inputs(index, solver):
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    rng = np.random.default_rng(600 + seed)
    _, out_hw = geometry(in_shape[:2], k, s, padding)
    w = random_kernel(rng, k, in_shape[2], filters, scale=2.5)
    b = make_bias(rng, "map", out_hw, filters)
    x = rng.uniform(0.0, t_min - t_min_prev, (BATCH,) + in_shape)
    X_n = 0.5 * float(np.max(relu_pre(x, w, b, s, padding)))
    t = t_min - x + rng.normal(0.0, 0.3, x.shape)
    t[1] = t_min_prev - rng.uniform(0.01, 0.3, in_shape)   # everything before integration starts
    t[2] = t_min + rng.uniform(0.0, 3.0, in_shape)         # everything after t_min
    layer = make_conv(w, b, in_shape, s, padding, X_n, t_min_prev, t_min, zeta=0.0, solver=solver,
                      solver_elements=64 * int(np.prod(w.shape[:3])))
    assert np.any(t < t_min_prev) and np.any(t > layer.t_max) and np.any((t > t_min) & (t < layer.t_max))
    out = run(layer, t)
    np.testing.assert_allclose(out, layer_oracle(layer, t), rtol=0, atol=TOL)
    assert np.all(out >= t_min_prev) and np.all(out <= layer.t_max)

    head = SpikingConv2D(filters, k, strides=s, padding=padding, t_min_prev=t_min_prev, t_min=t_min,
                         output_layer=True)
    head.build((None,) + in_shape)
    head.set_relu_params(w, b)
    np.testing.assert_allclose(
        run(head, t), oracle_readout(t, head.kernel.numpy(), head.alpha.numpy(), s, padding, t_min_prev, t_min),
        rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# float32 and chunked exact solver
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_close_to_float64(solver):
    index = 3
    seed, in_shape, filters, k, s, padding, t_min_prev, t_min = GEOMETRIES[index]
    w, b, x, y, X_n, _ = random_case(index, "map")
    t = t_min - x
    l64 = make_conv(w, b, in_shape, s, padding, X_n, solver=solver)
    l32 = make_conv(w, b, in_shape, s, padding, X_n, solver=solver, dtype="float32")
    o32 = run(l32, t.astype(np.float32))
    assert o32.dtype == np.float32
    np.testing.assert_allclose(o32, run(l64, t), rtol=0, atol=1e-4)
    # Early crossings too (smooth crossings: float32 stays close).
    seed, hw, filters, k, s, padding = EARLY[2]
    w, b, x, y, X_n, zeta = early_case(2)
    l64 = make_conv(w, b, hw + (3,), s, padding, X_n, zeta=zeta, solver=solver)
    l32 = make_conv(w, b, hw + (3,), s, padding, X_n, zeta=zeta, solver=solver, dtype="float32")
    t = 1.0 - x
    o64 = run(l64, t)
    assert np.sum(o64 < l64.t_min - TOL) > 0
    np.testing.assert_allclose(run(l32, t.astype(np.float32)), o64, rtol=0, atol=1e-4)


@pytest.mark.parametrize("solver,blocks,index", [("exact", 8, 0), ("auto", 1, 3)])
def test_chunked_solver_matches_oracle(solver, blocks, index):
    """A small solver_elements: several chunks of open neurons, image-by-image block bounds."""
    seed, hw, filters, k, s, padding = EARLY[index]
    w, b, x, y, X_n, zeta = early_case(index)
    fan_in = int(np.prod(w.shape[:3]))
    chunk = 12
    layer = make_conv(w, b, hw + (3,), s, padding, X_n, zeta=zeta, solver=solver, solver_elements=chunk * fan_in)
    t = 1.0 - x
    assert open_count(layer, t, blocks) > 3 * chunk  # past the single-step path: several loop steps
    np.testing.assert_allclose(run(layer, t), early_reference(index, "map"), rtol=0, atol=TOL)


def test_spiking_model_predict_traced_with_early_crossings():
    """predict (tf.function, unknown batch size, a short last batch) agrees with the oracle."""
    seed, hw, filters, k, s, padding = EARLY[0]
    w, b, x, y, X_n, zeta = early_case(0)
    inputs = keras.Input(shape=hw + (3,), dtype="float64")
    layer = SpikingConv2D(filters, k, strides=s, padding=padding, X_n=X_n, zeta=zeta)
    model = snnmap.SpikingModel(inputs, layer(inputs))
    layer.set_relu_params(w, b)
    predicted = model.predict(1.0 - x, batch_size=4, verbose=0)
    assert predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, early_reference(0, "map"), rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------
# pooling and padding in the time code
# --------------------------------------------------------------------------------------
POOLS = [(p, s, pad) for p in (2, 3) for s in (1, 2) for pad in ("valid", "same")]


def keras_pool(a, pool, strides, padding):
    layer = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding, dtype="float64")
    return np.asarray(layer(a))


@pytest.mark.parametrize("pool,strides,padding", POOLS)
def test_max_pooling_is_earliest_spike(pool, strides, padding):
    rng = np.random.default_rng(700 + 10 * pool + strides)
    t_min = 2.5
    t = t_min - rng.uniform(0.0, 1.5, (3, 9, 7, 4))
    t[rng.random(t.shape) < 0.2] = t_min  # zeros
    layer = SpikingMaxPooling2D(pool_size=pool, strides=strides, padding=padding)
    out = run(layer, t)
    assert out.dtype == np.float64
    # Max pooling of the decoded activations a = t_min - t.
    np.testing.assert_array_equal(t_min - out, keras_pool(t_min - t, pool, strides, padding))
    # And, independently of Keras: the earliest spike of every window (pads never win).
    for c in range(t.shape[-1]):
        fields = receptive_fields(t[..., c:c + 1], pool, strides, padding, np.inf)
        np.testing.assert_array_equal(out[..., c], fields.min(axis=-1))


@pytest.mark.parametrize("pool,strides,padding", POOLS)
def test_signed_pooling_latest_spike_for_negative_channels(pool, strides, padding):
    rng = np.random.default_rng(800 + 10 * pool + strides)
    t_min = 1.0
    signs = [1, -1, 1, -1, -1]
    t = t_min - rng.uniform(0.0, 1.0, (3, 8, 7, 5))
    layer = SpikingMaxPooling2D(signs=signs, pool_size=pool, strides=strides, padding=padding)
    out = run(layer, t)
    a = t_min - t
    pos, neg = [0, 2], [1, 3, 4]
    np.testing.assert_array_equal((t_min - out)[..., pos], keras_pool(a, pool, strides, padding)[..., pos])
    # Negative channels: MIN pooling of activations = the LATEST spike.
    np.testing.assert_array_equal((t_min - out)[..., neg], -keras_pool(-a, pool, strides, padding)[..., neg])
    for c in range(len(signs)):
        fields = receptive_fields(t[..., c:c + 1], pool, strides, padding, np.inf if signs[c] > 0 else -np.inf)
        expected = fields.min(axis=-1) if signs[c] > 0 else fields.max(axis=-1)  # earliest / latest
        np.testing.assert_array_equal(out[..., c], expected)
    assert not np.array_equal(out[..., neg], -keras_pool(-t, pool, strides, padding)[..., neg])
    # Round trip of the config keeps the signs.
    clone = SpikingMaxPooling2D.from_config(layer.get_config())
    assert clone.signs == signs
    np.testing.assert_array_equal(run(clone, t), out)


@pytest.mark.parametrize("padding,t_pad", [(((1, 0), (2, 1)), 2.7), (((0, 2), (0, 0)), 1.0), (((1, 1), (1, 1)), 0.3)])
def test_spike_time_padding(padding, t_pad):
    rng = np.random.default_rng(900)
    t = rng.uniform(0.0, 3.0, (2, 5, 4, 3))
    layer = SpikeTimePadding2D(padding, t_pad)
    out = run(layer, t)
    ref = np.pad(t, ((0, 0),) + padding + ((0, 0),), mode="constant", constant_values=t_pad)
    assert out.shape == ref.shape == (2,) + tuple(layer.compute_output_shape(t.shape)[1:])
    assert out.dtype == np.float64
    # (t - t_pad) + t_pad is not always t bit for bit: compare to rounding.
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-14)
    (top, bottom), (left, right) = padding
    pad_mask = np.ones(ref.shape[1:3], bool)
    pad_mask[top:top + 5, left:left + 4] = False
    assert np.all(out[:, pad_mask] == t_pad)


@pytest.mark.parametrize("solver", ["auto", "scan"])
def test_spike_time_padding_then_valid_conv_matches_oracle(solver):
    """SpikeTimePadding2D(t_pad = t_min) + a valid conv = the oracle on the explicitly
    padded input (a ZeroPadding2D of the ReLU network)."""
    rng = np.random.default_rng(910)
    in_shape, padding = (7, 6, 2), ((1, 0), (2, 1))
    w = random_kernel(rng, 3, 2, 3)
    x = rng.uniform(0.0, 1.0, (BATCH,) + in_shape)
    xp = np.pad(x, ((0, 0),) + padding + ((0, 0),))
    b = make_bias(rng, "map", geometry(xp.shape[1:3], 3, 1, "valid")[1], 3)
    X_n = float(np.max(relu_pre(xp, w, b, 1, "valid")))
    pad = SpikeTimePadding2D(padding, t_pad=1.0)
    conv = make_conv(w, b, xp.shape[1:], 1, "valid", X_n, solver=solver)
    t = 1.0 - x
    out = run(conv, pad(t))
    np.testing.assert_allclose(out, layer_oracle(conv, 1.0 - xp), rtol=0, atol=TOL)
    np.testing.assert_allclose(conv.t_max - out, np.maximum(relu_pre(xp, w, b, 1, "valid"), 0), rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------------
# a small conv SNN: ReLU network equivalence and serialisation
# --------------------------------------------------------------------------------------
def small_conv_model(rng):
    in_shape, filters, n_out = (9, 7, 2), 4, 5
    w1 = random_kernel(rng, 3, 2, filters)
    b1 = make_bias(rng, "map", (9, 7), filters)
    signs = [1, -1, 1, 1]
    padding = ((1, 0), (0, 1))
    x = rng.uniform(0.0, 1.0, (12,) + in_shape)
    h = np.maximum(relu_pre(x, w1, b1, 1, "same"), 0.0)
    X_n = float(np.max(h))
    t_max1 = 1.0 + 1.5 * X_n
    # ReLU side: signed max pooling, zero padding, flatten, dense.
    pooled = keras_pool(h, 2, 2, "valid").copy()
    neg = np.array(signs) < 0
    pooled[..., neg] = -keras_pool(-h, 2, 2, "valid")[..., neg]
    flat = np.pad(pooled, ((0, 0),) + padding + ((0, 0),)).reshape(len(x), -1)
    w2 = rng.normal(0.0, 0.3, (flat.shape[1], n_out))
    b2 = rng.normal(0.0, 0.5, n_out)

    inputs = keras.Input(shape=in_shape, dtype="float64", name="spike_times")
    conv = SpikingConv2D(filters, 3, padding="same", t_min_prev=0.0, t_min=1.0, X_n=X_n, name="conv")
    z = conv(inputs)
    z = SpikingMaxPooling2D(signs=signs, pool_size=2, name="pool")(z)
    z = SpikeTimePadding2D(padding, t_pad=t_max1, name="pad")(z)
    z = keras.layers.Flatten(dtype="float64", name="flatten")(z)
    head = SpikingDense(n_out, t_min_prev=1.0, t_min=t_max1, output_layer=True, name="head")
    model = snnmap.SpikingModel(inputs, head(z))
    conv.set_relu_params(w1, b1)
    head.set_relu_params(w2, b2)
    return model, x, flat @ w2 + b2


def as_json(config):
    return json.loads(json.dumps(config, sort_keys=True))


def test_conv_model_matches_relu_network_and_roundtrips(tmp_path):
    model, x, logits = small_conv_model(np.random.default_rng(1100))
    t = snnmap.encode(x)
    direct = np.asarray(model(t))
    assert direct.dtype == np.float64
    np.testing.assert_allclose(direct, logits, rtol=0, atol=1e-9)
    predicted = model.predict(t, batch_size=5, verbose=0)
    assert predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, direct, rtol=0, atol=1e-12)

    path = tmp_path / "conv.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, snnmap.SpikingModel)
    np.testing.assert_array_equal(np.asarray(loaded(t)), direct)
    assert as_json(loaded.get_config()) == as_json(model.get_config())
    for a, b in zip(model.layers, loaded.layers):
        assert type(a) is type(b)
        assert as_json(a.get_config()) == as_json(b.get_config())
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    by_name = {layer.name: layer for layer in loaded.layers}
    assert by_name["pool"].signs == [1, -1, 1, 1]
    assert by_name["pad"].padding == ((1, 0), (0, 1)) and by_name["pad"].t_pad == model.get_layer("pad").t_pad
    assert by_name["conv"].threshold.shape == (9, 7, 4)
    assert by_name["head"].output_layer and not by_name["conv"].output_layer


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_wrong_input_rank():
    with pytest.raises(ValueError, match="shape"):
        SpikingConv2D(3, 3)(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"shape.*\(None, 5\)"):
        SpikingConv2D(3, 3).build((None, 5))
    with pytest.raises(ValueError, match="shape"):
        SpikingConv2D(3, 3).build((None, 5, 5))
    with pytest.raises(ValueError, match="shape"):
        SpikingConv2D(3, 3).build((None, None, 5, 1))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        SpikingConv2D(3, 5).build((None, 4, 8, 1))


@pytest.mark.parametrize("padding", ["full", "causal", "samee", "", None])
def test_invalid_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        SpikingConv2D(3, 3, padding=padding)


@pytest.mark.parametrize("kwargs", [
    dict(filters=0), dict(kernel_size=(3, 3, 3)), dict(strides=(1, 2, 1)), dict(solver="fast"),
    dict(zeta=-1.0), dict(X_n=0.0), dict(t_min_prev=1.0, t_min=1.0),
])
def test_invalid_constructor_arguments(kwargs):
    kwargs = {"filters": 3, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError):
        SpikingConv2D(**kwargs)


def test_bad_relu_params():
    layer = make_conv(np.full((3, 3, 2, 4), 0.01), np.zeros(4), (6, 6, 2), 1, "valid")
    with pytest.raises(ValueError, match="shape"):
        layer.set_relu_params(np.full((3, 3, 3, 4), 0.01), np.zeros(4))
    with pytest.raises(ValueError, match="S_i"):
        layer.set_relu_params(np.full((3, 3, 2, 4), 0.1), np.zeros(4))  # S = 1.8
    with pytest.raises(ValueError):
        layer.set_relu_params(np.full((3, 3, 2, 4), 0.01), np.zeros((3, 3, 4)))  # wrong bias map
    with pytest.raises(ValueError, match="NaN"):
        layer.set_relu_params(np.full((3, 3, 2, 4), 0.01), np.full((4, 4, 4), np.nan))
