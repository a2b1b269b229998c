"""The converted SNN reproduces the ReLU network: the oracle is the Keras ReLU network itself."""

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline.evaluate import spiking_layers


@pytest.fixture(scope="module")
def fashion_pre(fashion, fashion_fc):
    return snnmap.preprocess(fashion_fc, fashion.x_train[:5000], verbose=0)


def _relu_hidden_and_logits(pre, x):
    """Hidden ReLU outputs and logits of the preprocessed network (plain NumPy on its weights)."""
    h = pre.normalize(x)
    hidden = []
    dense = [l for l in pre.model.layers if isinstance(l, keras.layers.Dense)]
    for layer in dense[:-1]:
        w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
        h = np.maximum(h @ w + b, 0.0)
        hidden.append(h)
    w, b = (np.asarray(v, np.float64) for v in dense[-1].get_weights())
    return hidden, h @ w + b


def test_relu_equivalence_on_real_fashion_mnist(fashion, fashion_pre):
    """max |(t_max - t) - ReLU(y)| <= 1e-9 for every hidden neuron of 2,000 real test images."""
    snn = snnmap.to_snn(fashion_pre)
    x = fashion.x_test[:2000]
    hidden_relu, logits_relu = _relu_hidden_and_logits(fashion_pre, x)
    layers = spiking_layers(snn)
    probe = keras.Model(snn.inputs, [l.output for l in layers])
    outputs = probe.predict_on_batch(snnmap.encode(x))
    for layer, t, relu in zip(layers[:-1], outputs[:-1], hidden_relu):
        assert t.dtype == np.float64
        assert np.all(t <= 0) and np.all(t >= -layer.window.length)  # measured from t_max: minus the code
        _, t = layer.global_times(t, t)
        assert np.all(t >= layer.window.t_min)  # no window violation on these data
        assert np.max(np.abs((layer.window.t_max - t) - relu)) <= 1e-9
    assert np.max(np.abs(outputs[-1] - logits_relu)) <= 1e-9


def test_predict_on_encoded_numpy_keeps_float64(fashion, fashion_pre):
    """docs/method.md §9: the user's path `snn.predict(encode(x))` must stay exact."""
    snn = snnmap.to_snn(fashion_pre)
    x = fashion.x_test[:600]
    logits = snn.predict(snnmap.encode(x), batch_size=128, verbose=0)
    assert logits.dtype == np.float64
    _, logits_relu = _relu_hidden_and_logits(fashion_pre, x)
    assert np.max(np.abs(logits - logits_relu)) <= 1e-9
    assert keras.config.floatx() == "float32"  # restored afterwards


def test_evaluate_reports_exactness(fashion, fashion_fc, fashion_pre):
    snn = snnmap.to_snn(fashion_pre)
    x, y = fashion.x_test[:1500], fashion.y_test[:1500]
    original = np.argmax(fashion_fc.predict(x, verbose=0), axis=-1)
    r = snnmap.evaluate(snn, x, y, relu_model=fashion_pre.model, reference_predictions=original,
                        batch_size=256, verbose=0)
    assert r["n_test"] == 1500
    assert r["agreement"] == 1.0
    assert r["accuracy_snn"] == pytest.approx(np.mean(original == y))
    assert r["max_abs_error"] <= 1e-9 and r["max_abs_error_end_to_end"] <= 1e-9
    assert r["violations"] == 0
    assert r["spikes_per_neuron"] == 1.0 and 0 < r["informative_spike_fraction"] < 1
    assert r["latency"] == pytest.approx(1 + 1.5 * fashion_pre.X_n[0])


def test_zero_margin_produces_counted_violations(fashion, fashion_pre):
    """Windows shorter than the activations (zeta < 0 is not allowed, so shrink X_n): the
    spikes that leave the window are counted, and every other neuron stays exact."""
    short = snnmap.Preprocessed(fashion_pre.model, [0.3 * v for v in fashion_pre.X_n],
                                fashion_pre.input_range, fashion_pre.report)
    snn = snnmap.to_snn(short, zeta=0.0)
    r = snnmap.evaluate(snn, fashion.x_test[:300], fashion.y_test[:300], relu_model=short.model, verbose=0)
    assert r["violations_a"] > 0
    assert r["max_abs_error"] <= 1e-9


def test_convert_is_both_phases(fashion, fashion_fc):
    snn = snnmap.convert(fashion_fc, fashion.x_train[:2000], input_range=(0.0, 1.0), verbose=0)
    x = fashion.x_test[:300]
    ref = np.argmax(fashion_fc.predict(x, verbose=0), axis=-1)
    assert np.array_equal(np.argmax(snn.predict(snnmap.encode(x), verbose=0), axis=-1), ref)


def test_saved_snn_round_trip(tmp_path, fashion, fashion_pre):
    snn = snnmap.to_snn(fashion_pre, alpha_noise=0.05, seed=3)
    path = str(tmp_path / "snn.keras")
    snn.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, snnmap.SpikingModel)
    t = snnmap.encode(fashion.x_test[:64])
    np.testing.assert_array_equal(snn.predict_on_batch(t), again.predict_on_batch(t))
    for a, b in zip(spiking_layers(snn), spiking_layers(again)):
        assert a.get_config() == b.get_config()


def test_float32_snn_agrees(fashion, fashion_pre):
    snn = snnmap.to_snn(fashion_pre, dtype="float32")
    x = fashion.x_test[:1000]
    logits = snn.predict(snnmap.encode(x), verbose=0)
    assert logits.dtype == np.float32
    _, logits_relu = _relu_hidden_and_logits(fashion_pre, x)
    assert np.max(np.abs(logits - logits_relu)) < 1e-3
    assert np.mean(np.argmax(logits, -1) == np.argmax(logits_relu, -1)) == 1.0


def test_snn_input_shape_is_checked(fashion_pre):
    snn = snnmap.to_snn(fashion_pre)
    with pytest.raises(snnmap.ShapeError, match=r"\(5, 28, 28\)"):
        snnmap.evaluate(snn, np.zeros((5, 28, 28)), verbose=0)


def test_encode():
    np.testing.assert_array_equal(snnmap.encode([0.0, 0.5, 1.0]), [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(snnmap.encode([-3.0, 3.0], (-3, 3)), [1.0, 0.0])
    with pytest.raises(ValueError):
        snnmap.encode([0.0], (1.0, 1.0))


def test_float32_keeps_precision_in_a_deep_network():
    """14 hidden layers whose spike times reach t ~ 700: measured from t_max(n) (the
    default), float32 keeps errors near the ReLU network's own float32 rounding; global
    times lose two orders of magnitude.  float64 is exact either way, and the two frames
    give the same global spike times."""
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((20,))
    h = inputs
    for _ in range(14):
        h = keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")(h)
    model = keras.Model(inputs, keras.layers.Dense(5)(h))
    x_calib, x = rng.uniform(0, 40, (500, 20)), rng.uniform(0, 40, (200, 20))
    pre = snnmap.preprocess(model, x_calib, input_range=(0, 40), verbose=0)
    errors = {}
    for local in (True, False):
        r = snnmap.evaluate(snnmap.to_snn(pre, dtype="float32", local_times=local), x, relu_model=pre.model,
                            input_range=(0, 40), verbose=0)
        assert r["latency"] > 500 and r["agreement"] == 1.0
        errors[local] = r["max_abs_error_end_to_end"]
    assert errors[True] < 2e-4 and errors[True] < errors[False] / 20
    t = snnmap.encode(x, (0, 40))
    runs, logits = {}, {}
    for local in (True, False):
        snn = snnmap.to_snn(pre, local_times=local)
        layers = spiking_layers(snn)
        out = keras.Model(snn.inputs, [l.output for l in layers]).predict_on_batch(t)
        runs[local] = [l.global_times(o, o)[1] for l, o in zip(layers, out)]
        logits[local] = np.asarray(out[-1])
    for a, b in zip(*runs.values()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # float64 is exact end to end: the output layer's V(t_min) against the ReLU network's logits
    # (one SNN fewer to trace than snnmap.evaluate, which would build its own probe).
    relu_logits = np.asarray(pre.model.predict_on_batch(x / 40.0))
    for local in (True, False):
        assert float(np.max(np.abs(logits[local] - relu_logits))) <= 1e-9


def test_end_to_end_check_shrinks_for_large_networks(fashion_pre):
    """convert's check runs CHECK_IMAGES images of a small network and fewer, at least 2, of a
    network whose ReLU pass costs more multiply-accumulates than the budget allows."""
    from snnmap.pipeline import convert, energy

    snn = snnmap.to_snn(fashion_pre)
    per_image = sum(energy.relu_macs(layer) for layer in spiking_layers(snn))
    assert convert.check_images(snn) == convert.CHECK_IMAGES
    assert convert.check_images(snn, macs=5 * per_image) == 5
    assert convert.check_images(snn, macs=per_image / 10) == 2
