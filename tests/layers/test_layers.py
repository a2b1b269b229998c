"""SpikingDense against an independent time-stepped simulator (tests/oracle.py).

Tolerance: the oracle locates the first crossing exactly (every input spike time is an
evaluation point, so V is linear between evaluation points, and the root on that segment
is found by linear interpolation), so its error is the rounding of V divided by the slope
at the crossing, about 1e-13 for these layers (at most 1e-14 here).  The layer's own rounding
is of the same order, so spike times are
compared to ``TOL = 1e-9`` in float64, leaving a wide margin and still catching any
algorithmic error (a wrong segment or a missed crossing is off by far more).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import snnmap  # noqa: E402
from snnmap.layers import SpikingDense  # noqa: E402

from oracle import readout  # noqa: E402
from dense_cases import (TOL, early_inputs, early_relu, make_layer, mixed_case, oracle_times,  # noqa: E402
                         random_relu)

SOLVERS = ("auto", "exact", "scan")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def run(layer, t):
    return np.asarray(keras.ops.convert_to_numpy(layer(t)))


def open_mask(layer, t, blocks):
    """The (sample, neuron) pairs the bound with ``blocks`` intervals leaves to the event solver."""
    u = layer.local_inputs(keras.ops.convert_to_tensor(np.asarray(t), layer.compute_dtype))
    w = layer.window
    mask = layer.open_neurons(u, layer.kernel, layer.alpha, layer.threshold, w.input_length, blocks)
    return np.asarray(keras.ops.convert_to_numpy(mask))


def certificate_mask(layer, t):
    """The pairs docs/method.md §3's one-interval certificate ``U(tau) >= theta`` leaves open."""
    u = layer.local_inputs(keras.ops.convert_to_tensor(np.asarray(t), layer.compute_dtype))
    t_in = layer.window.input_length
    cert = layer.certificate(layer.last_arrival_terms(u, t_in), t_in)
    return np.asarray(keras.ops.convert_to_numpy(cert >= layer.threshold))


def open_count(layer, t, blocks):
    """How many (sample, neuron) pairs the layer hands to the event-driven solver."""
    return int(np.sum(open_mask(layer, t, blocks)))


# --------------------------------------------------------------------------------------
# spike times vs the oracle
# --------------------------------------------------------------------------------------
CASES = [  # (seed, n_in, n_out, batch, t_min_prev, t_min)
    (0, 20, 10, 20, 0.0, 1.0),
    (1, 40, 30, 50, 0.0, 1.0),
    (2, 30, 20, 40, 1.0, 2.7),   # a second hidden layer: inputs in [1, 2.7]
    (3, 25, 16, 30, 0.0, 1.0),
]


def random_case(seed, n_in, n_out, batch, t_min_prev, t_min):
    rng = np.random.default_rng(seed)
    w, b = random_relu(rng, n_in, n_out)
    x = rng.uniform(0.0, t_min - t_min_prev, (batch, n_in))
    x[rng.random(x.shape) < 0.2] = 0.0  # zeros spike at t_min, as ReLU zeros do
    y = x @ w + b
    return w, b, x, float(np.max(y))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", CASES, ids=[f"seed{c[0]}" for c in CASES])
def test_random_layers_match_oracle(case, solver):
    seed, n_in, n_out, batch, t_min_prev, t_min = case
    w, b, x, X_n = random_case(*case)
    layer = make_layer(w, b, X_n, t_min_prev, t_min, solver=solver)
    t = t_min - x
    out = run(layer, t)
    ref = oracle_times(layer, t)
    assert out.shape == (batch, n_out) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=[f"seed{c[0]}" for c in CASES])
def test_scan_solver_matches_oracle_in_chunks(case):
    """solver="scan" with a small solver_elements: a few samples per while-loop step."""
    seed, n_in, n_out, batch, t_min_prev, t_min = case
    w, b, x, X_n = random_case(*case)
    layer = make_layer(w, b, X_n, t_min_prev, t_min, solver="scan", solver_elements=n_in * n_out)
    t = t_min - x
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------
# violations of (a) and (b): the layer must return what the dynamics do
# --------------------------------------------------------------------------------------
def early_case(seed, batch=30, n_out=20, zeta=0.1):
    rng = np.random.default_rng(100 + seed)
    w, b, n_in = early_relu(rng, n_out)
    x = early_inputs(rng, batch)
    X_n = float(np.max(x @ w + b))
    assert np.all(w.sum(axis=0) < 1)
    return w, b, x, X_n, zeta


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_early_crossings_condition_b(seed, solver):
    w, b, x, X_n, zeta = early_case(seed)
    layer = make_layer(w, b, X_n, zeta=zeta, solver=solver)
    t = 1.0 - x
    y = x @ w + b
    B = layer.t_max - layer.t_min
    assert np.all(y <= B)  # no (a): every early spike below is (b)
    ref = oracle_times(layer, t)
    early = ref < layer.t_min - TOL
    assert early.sum() >= 10, "the construction must produce early crossings"
    out = run(layer, t)
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL)
    # They really are early, i.e. before t_min AND before the ReLU prediction.
    assert np.array_equal(out < layer.t_min - TOL, early)
    assert np.all(out[early] < (layer.t_max - np.maximum(y, 0.0))[early] - 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_activations_beyond_window_condition_a(solver):
    rng = np.random.default_rng(7)
    w, b = random_relu(rng, 30, 20, scale=2.0)
    x = rng.uniform(0.0, 1.0, (40, 30))
    y = x @ w + b
    X_n = 0.3 * float(np.max(y))  # short window: many y > B_n
    layer = make_layer(w, b, X_n, zeta=0.0, solver=solver)
    B = layer.t_max - layer.t_min
    beyond = y > B + 1e-9
    assert beyond.sum() >= 20
    t = 1.0 - x
    out = run(layer, t)
    np.testing.assert_allclose(out, oracle_times(layer, t), rtol=0, atol=TOL)
    # Every neuron with y > B_n crosses before t_min (its final line is above theta there).
    assert np.all(out[beyond] < layer.t_min)


@pytest.mark.parametrize("kind", ["random", "early", "short_window"])
def test_relu_equivalence_and_violation_count(kind):
    rng = np.random.default_rng(11)
    if kind == "random":
        w, b = random_relu(rng, 30, 25)
        x = rng.uniform(0.0, 1.0, (50, 30))
        X_n, zeta = float(np.max(x @ w + b)), 0.5
    elif kind == "early":
        w, b, x, X_n, zeta = early_case(2, batch=40)
    else:
        w, b = random_relu(rng, 30, 25, scale=2.0)
        x = rng.uniform(0.0, 1.0, (50, 30))
        X_n, zeta = 0.5 * float(np.max(x @ w + b)), 0.0
    layer = make_layer(w, b, X_n, zeta=zeta)
    t = 1.0 - x
    y = x @ w + b
    out = run(layer, t)
    ref = oracle_times(layer, t)

    # Violations: (a) y > B_n, (b) an earlier crossing; both put the spike before t_min,
    # and a spike before t_min always means one of them.
    B = layer.t_max - layer.t_min
    viol_ref = ref < layer.t_min - TOL
    viol_out = out < layer.t_min - TOL
    assert viol_out.sum() == viol_ref.sum()
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
    # Negative y: no spike before t_max (codes 0) unless a violation.
    neg = (y < 0) & ok
    np.testing.assert_allclose(out[neg], layer.t_max, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# output layer
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("windows", [(0.0, 1.0), (2.5, 4.0)])
def test_output_layer_readout(windows):
    t_min_prev, t_min = windows
    rng = np.random.default_rng(5)
    n_in, n_out = 30, 10
    w = rng.normal(0.0, 1.0, (n_in, n_out))  # no column-sum limit for the output layer
    b = rng.normal(0.0, 1.0, n_out)
    layer = SpikingDense(n_out, t_min_prev=t_min_prev, t_min=t_min, output_layer=True)
    layer.build((None, n_in))
    layer.set_relu_params(w, b)
    x = rng.uniform(0.0, t_min - t_min_prev, (25, n_in))
    x[:, :5] = 0.0
    out = run(layer, t_min - x)
    np.testing.assert_allclose(out, x @ w + b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        out, readout(t_min - x, layer.kernel.numpy(), layer.alpha.numpy(), t_min_prev, t_min),
        rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# inputs before t_min_prev (what noise does)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("windows", [(0.0, 1.0), (1.0, 2.5)])
def test_inputs_before_integration_start(windows, solver):
    t_min_prev, t_min = windows
    rng = np.random.default_rng(21)
    n_in, n_out, batch = 30, 20, 30
    w, b = random_relu(rng, n_in, n_out)
    x = rng.uniform(0.0, t_min - t_min_prev, (batch, n_in))
    X_n = float(np.max(x @ w + b))
    t = t_min - x
    shift = rng.random(t.shape) < 0.3
    t = np.where(shift, t - rng.uniform(0.05, 0.5, t.shape), t)
    assert np.any(t < t_min_prev)
    # Also a sample whose inputs ALL arrive before integration starts.
    t[0] = t_min_prev - rng.uniform(0.01, 0.3, n_in)
    kwargs = dict(solver_elements=n_in * n_out) if solver == "scan" else {}
    layer = make_layer(w, b, X_n, t_min_prev, t_min, solver=solver, **kwargs)
    out = run(layer, t)
    np.testing.assert_allclose(out, oracle_times(layer, t), rtol=0, atol=TOL)
    assert np.all(out >= t_min_prev) and np.all(out <= layer.t_max)

    head = SpikingDense(n_out, t_min_prev=t_min_prev, t_min=t_min, output_layer=True)
    head.build((None, n_in))
    head.set_relu_params(w, b)
    np.testing.assert_allclose(
        run(head, t), readout(t, head.kernel.numpy(), head.alpha.numpy(), t_min_prev, t_min),
        rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_jittered_inputs_early_and_late(solver, zeta=0.0):
    """Input times jittered both ways: before t_min_prev, after t_min, even after t_max."""
    rng = np.random.default_rng(23)
    w, b = random_relu(rng, 30, 20, scale=2.5)
    x = rng.uniform(0.0, 1.0, (40, 30))
    X_n = 0.5 * float(np.max(x @ w + b))
    t = 1.0 - x + rng.normal(0.0, 0.3, x.shape)
    t[1] = 1.0 + rng.uniform(0.0, 3.0, 30)  # a sample whose inputs all come after t_min
    layer = make_layer(w, b, X_n, zeta=zeta, solver=solver, solver_elements=30 * 20)
    assert np.any(t > layer.t_max) and np.any(t < 0.0) and np.any(t > 1.0)
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------
# alpha_noise and noise
# --------------------------------------------------------------------------------------
def test_alpha_noise_fixed_seeded_and_simulated():
    rng = np.random.default_rng(31)
    w, b = random_relu(rng, 30, 40)
    x = rng.uniform(0.0, 1.0, (30, 30))
    X_n = float(np.max(x @ w + b))
    t = 1.0 - x
    nominal = make_layer(w, b, X_n)
    a1 = make_layer(w, b, X_n, alpha_noise=0.2, seed=4)
    a2 = make_layer(w, b, X_n, alpha_noise=0.2, seed=4)
    a3 = make_layer(w, b, X_n, alpha_noise=0.2, seed=5)

    alpha1 = a1.alpha.numpy()
    assert alpha1.shape == (40,)
    assert np.all(alpha1 != 1.0) and 0.1 < np.std(alpha1) < 0.3
    # The threshold keeps the nominal alpha = 1.
    np.testing.assert_array_equal(a1.threshold.numpy(), nominal.threshold.numpy())
    np.testing.assert_array_equal(nominal.alpha.numpy(), np.ones(40))

    out1 = run(a1, t)
    np.testing.assert_array_equal(out1, run(a1, t))           # fixed per neuron
    np.testing.assert_array_equal(alpha1, a2.alpha.numpy())   # same seed
    np.testing.assert_array_equal(out1, run(a2, t))
    assert not np.allclose(alpha1, a3.alpha.numpy())          # other seed
    assert np.max(np.abs(out1 - run(a3, t))) > 1e-3
    assert np.max(np.abs(out1 - run(nominal, t))) > 1e-3
    # The dynamics with the perturbed alpha are still solved exactly.
    for solver in SOLVERS:
        layer = make_layer(w, b, X_n, alpha_noise=0.2, seed=4, solver=solver,
                           solver_elements=30 * 40 if solver == "scan" else 1 << 20)
        np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


@pytest.mark.parametrize("solver", SOLVERS)
def test_alpha_noise_negative_alpha_matches_oracle(solver):
    """Large alpha_noise makes some alpha < 0: the certificates must not trust them."""
    rng = np.random.default_rng(32)
    w, b = random_relu(rng, 30, 40)
    x = rng.uniform(0.0, 1.0, (30, 30))
    X_n = float(np.max(x @ w + b))
    layer = make_layer(w, b, X_n, alpha_noise=1.5, seed=1, solver=solver, solver_elements=30 * 40)
    assert np.any(layer.alpha.numpy() < 0)
    t = 1.0 - x
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


@pytest.mark.parametrize("solver", SOLVERS)
def test_noise_varies_between_calls_and_stays_finite(solver):
    rng = np.random.default_rng(41)
    w, b = random_relu(rng, 30, 20)
    x = rng.uniform(0.0, 1.0, (30, 30))
    X_n = float(np.max(x @ w + b))
    t = 1.0 - x
    kwargs = dict(solver_elements=30 * 20) if solver == "scan" else {}
    layer = make_layer(w, b, X_n, noise=0.1, seed=3, solver=solver, **kwargs)
    o1, o2 = run(layer, t), run(layer, t)
    assert np.all(np.isfinite(o1)) and np.all(np.isfinite(o2))
    assert not np.array_equal(o1, o2)
    assert np.all(o1 >= layer.t_min_prev) and np.all(o1 <= layer.t_max)
    # Fresh jitter every call, but the sequence is fixed by the seed.
    same = make_layer(w, b, X_n, noise=0.1, seed=3, solver=solver, **kwargs)
    other = make_layer(w, b, X_n, noise=0.1, seed=4, solver=solver, **kwargs)
    np.testing.assert_array_equal(run(same, t), o1)
    assert not np.array_equal(run(other, t), o1)
    quiet = make_layer(w, b, X_n, noise=0.0, solver=solver, **kwargs)
    np.testing.assert_array_equal(run(quiet, t), run(quiet, t))
    # The jitter is small: most spike times move little.
    assert np.median(np.abs(o1 - run(quiet, t))) < 1.0

    head = SpikingDense(20, t_min_prev=0.0, t_min=1.0, output_layer=True, noise=0.1, seed=3)
    head.build((None, 30))
    head.set_relu_params(w, b)
    r1, r2 = run(head, t), run(head, t)
    assert np.all(np.isfinite(r1)) and not np.array_equal(r1, r2)


# --------------------------------------------------------------------------------------
# float32
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_close_to_float64(solver):
    rng = np.random.default_rng(51)
    w, b = random_relu(rng, 30, 20)
    x = rng.uniform(0.0, 1.0, (30, 30))
    X_n = float(np.max(x @ w + b))
    t = 1.0 - x
    kwargs = dict(solver_elements=30 * 20) if solver == "scan" else {}
    l64 = make_layer(w, b, X_n, solver=solver, **kwargs)
    l32 = make_layer(w, b, X_n, solver=solver, dtype="float32", **kwargs)
    o32 = run(l32, t.astype(np.float32))
    assert o32.dtype == np.float32
    np.testing.assert_allclose(o32, run(l64, t), rtol=0, atol=1e-4)
    # Also on the early-crossing construction (smooth crossings, so still close).
    w, b, x, X_n, zeta = early_case(3)
    l64 = make_layer(w, b, X_n, zeta=zeta, solver=solver, **kwargs)
    l32 = make_layer(w, b, X_n, zeta=zeta, solver=solver, dtype="float32", **kwargs)
    t = 1.0 - x
    np.testing.assert_allclose(run(l32, t.astype(np.float32)), run(l64, t), rtol=0, atol=1e-4)


# --------------------------------------------------------------------------------------
# model, serialisation, predict
# --------------------------------------------------------------------------------------
def small_model(rng):
    n_in, n_hidden, n_out = 20, 15, 5
    w1, b1 = random_relu(rng, n_in, n_hidden)
    w2 = rng.normal(0.0, 0.5, (n_hidden, n_out))
    b2 = rng.normal(0.0, 0.5, n_out)
    x = rng.uniform(0.0, 1.0, (64, n_in))
    h = np.maximum(x @ w1 + b1, 0.0)
    X_n = float(np.max(h))
    t_max1 = 1.0 + 1.5 * X_n
    inputs = keras.Input(shape=(n_in,), dtype="float64", name="spike_times")
    hidden = SpikingDense(n_hidden, t_min_prev=0.0, t_min=1.0, X_n=X_n, name="hidden")
    head = SpikingDense(n_out, t_min_prev=1.0, t_min=t_max1, output_layer=True, name="head")
    outputs = head(hidden(inputs))
    model = snnmap.SpikingModel(inputs, outputs)
    hidden.set_relu_params(w1, b1)
    head.set_relu_params(w2, b2)
    return model, x, h @ w2 + b2, (inputs, hidden, head)


def as_json(config):
    return json.loads(json.dumps(config, sort_keys=True))


def test_model_matches_relu_network_and_roundtrips(tmp_path):
    model, x, logits, _ = small_model(np.random.default_rng(61))
    t = snnmap.encode(x)
    direct = np.asarray(model(t))
    assert direct.dtype == np.float64
    np.testing.assert_allclose(direct, logits, rtol=0, atol=1e-9)

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, snnmap.SpikingModel)
    np.testing.assert_array_equal(np.asarray(loaded(t)), direct)
    # Compared as JSON: Keras itself turns tuples into lists on the way through the file.
    assert as_json(loaded.get_config()) == as_json(model.get_config())
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config()
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    spiking = [layer for layer in loaded.layers if isinstance(layer, SpikingDense)]
    assert [layer.output_layer for layer in spiking] == [False, True]


def test_predict_keeps_float64():
    # (A plain keras.Model with the same layers would cast the NumPy input to floatx
    # first, docs/method.md §9, so only SpikingModel is held to 1e-12.)
    model, x, _, _ = small_model(np.random.default_rng(62))
    t = snnmap.encode(x)
    direct = np.asarray(model(t))
    predicted = model.predict(t, batch_size=16, verbose=0)
    assert predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, direct, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_predict_with_early_crossings(solver):
    """predict (traced by tf.function, batch of unknown size, a last batch of 8) agrees
    with a direct call and with the oracle where the exact solver does the work."""
    w, b, x, X_n, zeta = early_case(5, batch=40)
    inputs = keras.Input(shape=(w.shape[0],), dtype="float64")
    layer = SpikingDense(w.shape[1], t_min_prev=0.0, t_min=1.0, X_n=X_n, zeta=zeta, solver=solver)
    model = snnmap.SpikingModel(inputs, layer(inputs))
    layer.set_relu_params(w, b)
    t = 1.0 - x
    predicted = model.predict(t, batch_size=16, verbose=0)
    assert predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, oracle_times(layer, t), rtol=0, atol=TOL)
    np.testing.assert_allclose(predicted, run(layer, t), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_wrong_input_rank():
    layer = SpikingDense(3)
    with pytest.raises(ValueError, match="shape"):
        layer(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="shape"):
        SpikingDense(3).build((None, 3, 4))


def test_bad_relu_params():
    layer = make_layer(np.full((4, 3), 0.1), np.zeros(3), 1.0)
    w = np.full((4, 3), 0.1)
    bad = w.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        layer.set_relu_params(bad, np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        layer.set_relu_params(w, np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError):
        layer.set_relu_params(np.full((4, 3), np.inf), np.zeros(3))
    with pytest.raises(ValueError, match="S_i"):
        layer.set_relu_params(np.full((4, 3), 0.25), np.zeros(3))  # S = 1 exactly
    with pytest.raises(ValueError):
        layer.set_relu_params(np.full((4, 3), 0.3), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        layer.set_relu_params(np.full((5, 3), 0.1), np.zeros(3))
    with pytest.raises(RuntimeError):
        SpikingDense(3).set_relu_params(w, np.zeros(3))


@pytest.mark.parametrize("kwargs", [
    dict(solver="fast"), dict(solver=None),
    dict(zeta=-0.1), dict(zeta=float("nan")), dict(zeta=float("inf")),
    dict(noise=-0.01), dict(noise=float("nan")),
    dict(alpha_noise=-1.0), dict(alpha_noise=float("inf")),
    dict(t_min_prev=1.0, t_min=1.0), dict(X_n=0.0), dict(X_n=float("nan")),
    dict(units=0),
])
def test_invalid_constructor_arguments(kwargs):
    kwargs = {"units": 3, **kwargs}
    with pytest.raises(ValueError):
        SpikingDense(**kwargs)


# --------------------------------------------------------------------------------------
# the exact solver's paths in spiketime.solve_pairs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver,blocks", [("auto", 1), ("exact", 8)])
def test_many_open_neurons_compacted_loop(solver, blocks):
    w, b, x, X_n, zeta = early_case(4, batch=80, n_out=20)
    n_in = w.shape[0]
    layer = make_layer(w, b, X_n, zeta=zeta, solver=solver, solver_elements=64 * n_in)
    t = 1.0 - x
    count = open_count(layer, t, blocks)
    assert count > 2 * 64 + 16  # several full chunks, then small ones
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


@pytest.mark.parametrize("solver,blocks", [("auto", 1), ("exact", 8)])
def test_few_open_neurons_top_k_path(solver, blocks):
    w, b, x, X_n = mixed_case(71, batch=4, n_early_neurons=2)
    layer = make_layer(w, b, X_n, zeta=0.1, solver=solver)
    t = 1.0 - x
    count = open_count(layer, t, blocks)
    assert 1 <= count <= 16
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


@pytest.mark.parametrize("solver,blocks", [("auto", 1), ("exact", 8)])
def test_no_open_neurons(solver, blocks):
    rng = np.random.default_rng(72)
    w, b = random_relu(rng, 30, 20, scale=0.5)
    x = rng.uniform(0.0, 1.0, (20, 30))
    layer = make_layer(w, b, float(np.max(x @ w + b)), solver=solver)
    t = 1.0 - x
    assert open_count(layer, t, blocks) == 0
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)


@pytest.mark.parametrize("blocks", [1, 2, 4, 8])
def test_grid_bound_is_sound_and_tighter(blocks):
    """Every neuron that the oracle sees cross before its sample's last input stays open
    under the grid bound (float32 products rounded outward; one interval: no product at
    all); the grid leaves open a subset of what docs/method.md §3's one-interval certificate
    leaves open (with 4 or more intervals, fewer in all)."""
    open_grid = open_one = 0
    for seed in range(5):
        w, b, x, X_n = mixed_case(80 + seed, batch=40, n_early_neurons=5)
        layer = make_layer(w, b, X_n, zeta=0.1)
        t = 1.0 - x
        early = oracle_times(layer, t) < t.max(axis=1, keepdims=True) - 1e-9
        grid, one = open_mask(layer, t, blocks), certificate_mask(layer, t)
        assert early.any() and np.all(grid[early])
        assert not np.any(grid & ~one)
        open_grid, open_one = open_grid + grid.sum(), open_one + one.sum()
    if blocks >= 4:  # fewer intervals do not help on these cases
        assert open_grid < open_one


def _assert_grid_sound(layer, t, blocks):
    """Every pair the oracle sees cross before the sample's last input stays open."""
    t = np.asarray(t, np.float64)
    early = oracle_times(layer, t) < t.max(axis=1, keepdims=True) - 1e-9
    grid = open_mask(layer, t, blocks)
    assert np.all(grid[early]), f"{int(np.sum(early & ~grid))} early crossings certified with {blocks} intervals"
    return early, grid


@pytest.mark.parametrize("blocks", [1, 2, 4, 8])
@pytest.mark.parametrize("case", ["before_start", "jitter", "negative_alpha"])
def test_grid_bound_sound_with_noise(case, blocks):
    """The grid bound stays a bound when inputs arrive before integration starts (its
    ``P(-T_in) > 0`` case), when they are jittered both ways and when alpha < 0."""
    rng = np.random.default_rng(90 + blocks)
    w, b, x, X_n = mixed_case(91, batch=40, n_early_neurons=6)
    kwargs = {"alpha_noise": 1.5, "seed": 2} if case == "negative_alpha" else {}
    layer = make_layer(w, b, X_n, zeta=0.1, **kwargs)
    t = 1.0 - x
    if case == "before_start":
        t = np.where(rng.random(t.shape) < 0.3, t - rng.uniform(0.05, 0.5, t.shape), t)
        assert np.any(t < 0.0)
    elif case == "jitter":
        t = t + rng.normal(0.0, 0.3, t.shape)
    else:
        assert np.any(layer.alpha.numpy() < 0)
    early, _ = _assert_grid_sound(layer, t, blocks)
    assert early.any()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_bound_follows_cancelling_inhibition(dtype):
    """Large excitatory and inhibitory weights that cancel (as in networks with random
    weights): docs/method.md §3's certificate, which ignores inhibition, leaves most neurons
    open; the free one-interval bound fewer; two intervals with chords and tangents certify
    nearly all of them, and every crossing before the last input (oracle) stays open."""
    rng = np.random.default_rng(95)
    n_in, n_out, batch = 200, 40, 30
    w = rng.normal(0.0, 1.0, (n_in, n_out))
    w -= (w.sum(axis=0) - rng.uniform(-1.0, 0.9, n_out)) / n_in  # sums in [-1, 0.9]
    b = rng.normal(0.0, 0.5, n_out)
    x = np.where(rng.random((batch, n_in)) < 0.5, 0.0, rng.uniform(0.0, 1.0, (batch, n_in)))
    layer = make_layer(w, b, float(np.max(x @ w + b)), zeta=0.1, dtype=dtype)
    t = 1.0 - x
    early, grid = _assert_grid_sound(layer, t, 2)
    _, free = _assert_grid_sound(layer, t, 1)
    one = certificate_mask(layer, t)
    assert one.mean() > 0.5
    assert free.sum() < one.sum()
    assert grid.sum() <= max(2 * early.sum(), 0.05 * one.sum())
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL if dtype == "float64" else 1e-4)


@pytest.mark.parametrize("solver", SOLVERS)
def test_tiny_batch_with_open_neuron(solver):
    """Fewer than 16 (sample, neuron) pairs in all, one of them open."""
    w, b, x, X_n = mixed_case(73, batch=1, n_early_neurons=1)
    w, b = w[:, :3], b[:3]
    layer = make_layer(w, b, X_n, zeta=0.1, solver=solver)
    t = 1.0 - x
    if solver != "scan":
        assert open_count(layer, t, 1 if solver == "auto" else 8) >= 1
    np.testing.assert_allclose(run(layer, t), oracle_times(layer, t), rtol=0, atol=TOL)
