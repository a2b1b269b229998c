"""Issue 26: the exactness figure compares with the user's own network, and what cannot be mapped is refused.

The oracle of every exactness check here is the user's original Keras model itself, run in float64
(its pre-softmax logits), independently of snnmap's preprocessing.
"""

import os

import keras
import numpy as np
import pytest

import snnmap
from snnmap.pipeline import fold, graph

from pipeline import nets

RANGE = (-1.0, 3.0)


def original_logits(model, x):
    """The oracle: the original model's pre-softmax logits in float64 (softmax removed by hand)."""
    copy = graph.with_dtype(model, "float64")
    copy.layers[-1].activation = keras.activations.linear
    return np.asarray(copy.predict_on_batch(np.asarray(x, np.float64)), np.float64)


@pytest.fixture(scope="module")
def fc_run():
    rng = np.random.default_rng(26)
    model = nets.fc_model(bn_after=True)
    nets.randomize_bn(model, rng)
    x_calib, x = rng.uniform(*RANGE, (200, 12)), rng.uniform(*RANGE, (40, 12))
    snn = snnmap.convert(model, x_calib, input_range=RANGE, verbose=0)
    pre = snnmap.preprocess(model, x_calib, input_range=RANGE, verbose=0)
    return model, pre, snn, x, rng.integers(0, 4, 40)


# -- item 1: exactness against the ORIGINAL network ------------------------------------------------

def test_evaluate_with_the_original_model_measures_its_logits(fc_run):
    model, _, snn, x, y = fc_run
    result = snnmap.evaluate(snn, x, y, relu_model=model, verbose=0)
    snn_logits = np.asarray(snn.predict(snnmap.encode(x, RANGE), verbose=0))
    reference = original_logits(model, x)
    assert result["exactness_reference"] == "original ReLU network"
    assert result["max_abs_error_original"] == pytest.approx(np.max(np.abs(snn_logits - reference)), abs=1e-12)
    assert result["max_abs_error_original"] <= 1e-9
    assert result["accuracy_relu"] == np.mean(np.argmax(reference, 1) == y)
    assert result["agreement"] == 1.0 and result["max_abs_error"] <= 1e-9


def test_evaluate_with_another_network_is_not_called_exact(fc_run):
    model, _, snn, x, y = fc_run
    changed = keras.models.clone_model(model)
    changed.set_weights([w * 1.1 for w in model.get_weights()])
    result = snnmap.evaluate(snn, x, y, relu_model=changed, verbose=0)
    assert result["max_abs_error_original"] > 1e-3  # before issue 26: paired as the twin, "exact"


def test_evaluate_needs_no_reference_and_knows_the_range(fc_run):
    _, pre, snn, x, y = fc_run
    alone = snnmap.evaluate(snn, x, y, verbose=0)  # the SNN carries input_range and its twin
    with_pre = snnmap.evaluate(snn, x, y, relu_model=pre.model, verbose=0)
    assert alone["input_range"] == list(RANGE) and alone["max_abs_error_original"] is None
    assert alone["max_abs_error"] <= 1e-9 and alone["violations"] == 0
    assert with_pre["relu_twin"] == "preprocessed ReLU network" and alone["relu_twin"] == "rebuilt from the SNN"
    assert alone["accuracy_relu_preprocessed"] == with_pre["accuracy_relu_preprocessed"]
    with pytest.raises(snnmap.InputRangeError, match="differs from the range the SNN was built for"):
        snnmap.evaluate(snn, x, y, input_range=(0, 3), verbose=0)


def test_reference_logits_give_the_headline(fc_run):
    model, _, snn, x, y = fc_run
    reference = original_logits(model, x)
    good = snnmap.evaluate(snn, x, y, reference_logits=reference, verbose=0)
    assert good["max_abs_error_original"] <= 1e-9 and good["exactness_reference"] == "reference logits"
    bad = snnmap.evaluate(snn, x, y, reference_logits=reference + 0.5, verbose=0)
    assert bad["max_abs_error_original"] == pytest.approx(0.5, abs=1e-9)
    with pytest.raises(snnmap.ShapeError, match="reference_logits"):
        snnmap.evaluate(snn, x, reference_logits=reference[:10], verbose=0)


def test_saved_snn_keeps_its_input_range(tmp_path, fc_run):
    _, _, snn, x, _ = fc_run
    path = os.path.join(tmp_path, "snn.keras")
    snn.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.input_range == RANGE
    assert snnmap.evaluate(loaded, x, verbose=0)["input_range"] == list(RANGE)


def test_convert_refuses_an_snn_that_is_not_the_model(monkeypatch):
    """A lookalike the fold would not catch (simulated by mapping one as a plain Dense) is refused end to end."""
    class Doubling(keras.layers.Dense):
        def call(self, inputs):
            return 2.0 * super().call(inputs)

    inputs = keras.Input((6,))
    h = Doubling(5, activation="relu", name="doubling")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(h))
    real = fold.handler_for
    monkeypatch.setattr(fold, "handler_for",
                        lambda layer: fold.HANDLERS[keras.layers.Dense] if type(layer) is Doubling else real(layer))
    with pytest.raises(snnmap.InexactConversionError, match="does not reproduce the model's logits"):
        snnmap.convert(model, np.random.default_rng(0).uniform(0, 1, (30, 6)), verbose=0)


# -- item 2: lookalike layers and activations ------------------------------------------------------

def _chain(*layers, n_in=6):
    inputs = keras.Input((n_in,))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def test_dense_subclass_with_its_own_call_is_refused():
    class MyDense(keras.layers.Dense):
        def call(self, inputs):
            return keras.ops.tanh(super().call(inputs))

    model = _chain(MyDense(5, activation="relu", name="my_dense"), keras.layers.Dense(2))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'my_dense'.*subclass of Dense \\(MyDense\\) with its own "
                       "call.*only keras.layers.Dense itself"):
        snnmap.convert(model, np.zeros((4, 6)), verbose=0)


def test_activation_named_relu_that_is_not_relu_is_refused():
    def relu(x):  # a sigmoid under ReLU's name
        return keras.ops.sigmoid(x)

    model = _chain(keras.layers.Dense(5, activation=relu, name="fake"), keras.layers.Dense(2))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'fake'.*'relu'.*is not keras.activations.relu itself"):
        snnmap.convert(model, np.zeros((4, 6)), verbose=0)


@pytest.mark.parametrize("layer", [keras.layers.LeakyReLU(name="act"), keras.layers.ReLU(max_value=6.0, name="act"),
                                   keras.layers.ReLU(negative_slope=0.1, name="act"),
                                   keras.layers.ReLU(threshold=0.5, name="act")])
def test_relu_variants_are_refused(layer):
    model = _chain(keras.layers.Dense(5), layer, keras.layers.Dense(2))
    with pytest.raises(snnmap.UnsupportedLayerError, match="'act'"):
        snnmap.preprocess(model, np.zeros((4, 6)), verbose=0)


# -- item 3: quantized and LoRA layers -------------------------------------------------------------

@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_quantized_layers_are_refused(mode):
    model = _chain(keras.layers.Dense(8, activation="relu", name="hidden"), keras.layers.Dense(3, name="out"))
    with pytest.warns(UserWarning):  # Keras: "InputLayer does not have a quantize method"
        model.quantize(mode)
    with pytest.raises(snnmap.UnsupportedLayerError, match=f"'hidden'.*quantized \\({mode}\\).*float model"):
        snnmap.convert(model, np.random.default_rng(0).uniform(0, 1, (10, 6)), verbose=0)


def test_lora_layers_convert_exactly():
    rng = np.random.default_rng(3)
    model = _chain(keras.layers.Dense(8, activation="relu", name="hidden"), keras.layers.Dense(3, name="out"))
    model.layers[1].enable_lora(2)
    lora_b = model.layers[1].lora_kernel_b
    lora_b.assign(rng.normal(0, 0.5, lora_b.shape))  # Keras starts it at 0: make the adapter matter
    x = rng.uniform(0, 1, (30, 6))
    snn = snnmap.convert(model, x, verbose=0)
    logits = np.asarray(snn.predict(snnmap.encode(x), verbose=0))
    own = np.asarray(model.predict_on_batch(x.astype("float32")), np.float64)  # what Keras computes
    plain = model.layers[1]
    without = np.maximum(x @ np.asarray(plain._kernel) + np.asarray(plain.bias), 0)  # noqa: SLF001 - the base kernel
    assert np.max(np.abs(logits - own)) <= 1e-4
    assert np.max(np.abs(np.asarray(model.layers[1](x.astype("float32"))) - without)) > 1e-2
    assert snnmap.evaluate(snn, x, relu_model=model, verbose=0)["max_abs_error_original"] <= 1e-9


# -- item 4: inputs outside input_range ------------------------------------------------------------

def test_uint8_images_with_the_default_range_are_refused(fc_run):
    model, _, snn, _, _ = fc_run
    images = np.random.default_rng(0).integers(0, 256, (20, 12)).astype(np.uint8)
    plain = nets.fc_model()
    with pytest.raises(snnmap.InputRangeError, match="values in \\[0, 2\\d\\d\\], outside input_range=\\(0, 1\\)"):
        snnmap.convert(plain, images, verbose=0)
    with pytest.raises(snnmap.InputRangeError, match="input_range="):
        snnmap.evaluate(snn, images, verbose=0)
    with pytest.raises(snnmap.InputRangeError, match="clip=True"):
        snnmap.encode(images)


def test_clip_clips_before_normalising(fc_run):
    _, _, snn, x, y = fc_run
    wide = x * 2.0
    clipped = snnmap.evaluate(snn, wide, y, clip=True, verbose=0)
    by_hand = snnmap.evaluate(snn, np.clip(wide, *RANGE), y, verbose=0)
    assert clipped["accuracy_snn"] == by_hand["accuracy_snn"] and clipped["agreement"] == by_hand["agreement"]
    pre = snnmap.preprocess(nets.fc_model(), wide, input_range=RANGE, clip=True, verbose=0)
    assert pre.report["clip"] is True


@pytest.mark.parametrize("bad", [(0.0, 1.0, 2.0), (1.0, 1.0), (0.0, np.inf), "01"])
def test_input_range_must_be_a_pair(bad):
    with pytest.raises(snnmap.InputRangeError, match="input_range="):
        snnmap.preprocess(nets.fc_model(), np.zeros((4, 12)), input_range=bad, verbose=0)


# -- item 10: clear errors -------------------------------------------------------------------------

def test_subclassed_model_is_refused_by_name():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4, activation="relu")
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.hidden(x))

    net = Net()
    net(np.zeros((1, 6)))
    with pytest.raises(snnmap.UnsupportedLayerError, match="subclassed keras.Model.*functional or Sequential"):
        snnmap.convert(net, np.zeros((4, 6)), verbose=0)


def test_tiny_weights_name_the_silent_layer():
    model = _chain(keras.layers.Dense(4, activation="relu", name="silent"), keras.layers.Dense(2))
    w, b = model.layers[1].get_weights()
    model.layers[1].set_weights([np.abs(w) * 1e-20, b * 0])
    with pytest.raises(ValueError, match="hidden layer 1 .*too small.*never\\s+activates.*1: 'silent'"):
        snnmap.convert(model, np.random.default_rng(0).uniform(0, 1, (10, 6)), verbose=0)


@pytest.fixture
def saved(tmp_path, fc_run):
    _, pre, _, _, _ = fc_run
    return pre.save(str(tmp_path), "m"), str(tmp_path)


def _rewrite(path, text):
    with open(path, "w") as fh:
        fh.write(text)


@pytest.mark.parametrize("content, message", [
    ("{\"X_n\": ", "not a readable JSON file"), ("", "not a readable JSON file"),
    ("{\"input_range\": [-1, 3]}", "X_n and input_range"), ("[1, 2]", "X_n and input_range"),
    ("{\"X_n\": [1.0], \"input_range\": [-1, 3]}", "X_n must be a list of 2 numbers"),
    ("{\"X_n\": [1.0, 0.0], \"input_range\": [-1, 3]}", "X_n of hidden layer 2 is 0.0"),
    ("{\"X_n\": [1.0, 1e300], \"input_range\": [-1, 3]}", "latency"),
    ("{\"X_n\": [1.0, 2.0], \"input_range\": [3, -1]}", "q > p"),
])
def test_bad_x_n_files_are_named(saved, content, message):
    paths, directory = saved
    _rewrite(paths["X_n"], content)
    with pytest.raises(snnmap.Phase1FileError, match=f"m_X_n.json.*{message}"):
        snnmap.Preprocessed.load(directory, "m")


def test_garbage_architecture_and_truncated_weights_are_named(saved):
    paths, directory = saved
    with open(paths["weights"], "rb") as fh:
        data = fh.read()
    with open(paths["weights"], "wb") as fh:
        fh.write(data[:len(data) // 2])
    with pytest.raises(snnmap.Phase1FileError, match="weights.h5.*not a readable weights file \\(truncated\\?\\)"):
        snnmap.Preprocessed.load(directory, "m")
    _rewrite(paths["architecture"], "{\"class_name\": \"Nonsense\", \"config\": 3}")
    with pytest.raises(snnmap.Phase1FileError, match="_scaled.json.*not a Keras model architecture"):
        snnmap.Preprocessed.load(directory, "m")
