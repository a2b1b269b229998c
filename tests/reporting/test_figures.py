"""Snapshots and figures: the plotted potential is the neuron's, the files are real pictures.

The potential traces are checked against an independent oracle (tests/oracle.py: plain
NumPy ``V(t)`` from the layer's weights and the spikes it received, receptive fields of
convolutions cut out by hand), and against the layer's own spike times: a neuron that
fires before ``t_max`` reaches theta exactly at its spike and stays below it before.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402  (matplotlib's own dependency: reads a figure's metadata)

import oracle  # noqa: E402
import snnmap  # noqa: E402
from snnmap.pipeline import snapshot  # noqa: E402
from snnmap.pipeline.evaluate import spiking_layers  # noqa: E402
from snnmap.reporting import figures  # noqa: E402


def tiny_dense(rng):
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    return model, rng.uniform(0.0, 1.0, (48, 12))


def tiny_conv(rng):
    model = keras.Sequential([
        keras.Input((7, 7, 2)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(4, 2, strides=1, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    return model, rng.uniform(0.0, 1.0, (48, 7, 7, 2))


def build(kind, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    model, x = (tiny_dense if kind == "dense" else tiny_conv)(rng)
    pre = snnmap.preprocess(model, x, input_range=(0.0, 1.0), verbose=0)
    snn = snnmap.to_snn(pre, noise=noise, seed=seed)
    return snn, pre, x


@pytest.fixture(scope="module", params=["dense", "conv"])
def run(request):
    snn, pre, x = build(request.param)
    snap = snapshot.take_snapshot(snn, x, relu_model=pre.model, n_images=8, trace_neurons=6, image=1)
    return request.param, snn, pre, x, snap


def _fields(layer, t_in_image, neuron):
    """Input spike times and weights of one neuron, cut out by hand (no snnmap code)."""
    kernel = np.asarray(layer.kernel, np.float64)
    if isinstance(layer, snnmap.SpikingDense):
        return t_in_image.ravel(), kernel[:, neuron]
    h_out, w_out, c_out = (int(d) for d in layer.alpha.shape)
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    t = t_in_image
    if layer.padding == "same":
        h, w = t.shape[:2]
        pads = []
        for size, k, s in ((h, kh, sh), (w, kw, sw)):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        # Padded inputs spike at t_min of the layer (they code 0).
        t = np.pad(t, (pads[0], pads[1], (0, 0)), constant_values=layer.window.t_min)
    y, x, c = np.unravel_index(neuron, (h_out, w_out, c_out))
    patch = t[y * sh:y * sh + kh, x * sw:x * sw + kw, :]
    return patch.ravel(), kernel[:, :, :, c].ravel()


def test_trace_is_the_exact_potential(run):
    kind, snn, pre, x, snap = run
    layer = next(layer for layer in spiking_layers(snn) if layer.name == str(snap["trace/layer"]))
    t0, t_min, t_max = snap["trace/window"]
    grid, v = snap["trace/t"], snap["trace/V"]
    image = int(snap["trace/image"])
    assert image == 1 and grid[0] == t0 and grid[-1] == t_max
    assert np.all(np.diff(grid) > 0)
    alpha = np.asarray(layer.alpha, np.float64).ravel()
    for k, neuron in enumerate(snap["trace/neurons"]):
        times, weights = _fields(layer, snap[f"t_in/{layer.name}"][image], int(neuron))
        expected = oracle.potential(grid, times, weights[:, None], alpha[neuron:neuron + 1], t0)[:, 0]
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(v[k], expected, rtol=0, atol=1e-12 * scale)
        # Every input arrival inside the window is a grid point (so straight lines ARE V).
        inside = times[(times > t0) & (times < t_max)]
        assert np.all(np.isin(inside, grid))


def test_trace_reaches_theta_at_the_spike(run):
    kind, snn, pre, x, snap = run
    grid, v = snap["trace/t"], snap["trace/V"]
    theta, spikes = snap["trace/theta"], snap["trace/spike"]
    t0, t_min, t_max = snap["trace/window"]
    image = int(snap["trace/image"])
    layer_out = snap[f"t_out/{snap['trace/layer']}"][image].ravel()
    np.testing.assert_array_equal(spikes, layer_out[snap["trace/neurons"]])
    np.testing.assert_array_equal(v[:, 0], 0.0)  # V(t_min_prev) = 0 without jitter
    fired = spikes < t_max - 1e-9
    assert fired.any()
    if np.any(layer_out >= t_max - 1e-9):
        assert (~fired).any(), "the chosen neurons mix firing and silent ones"
    for k in range(len(spikes)):
        tol = 1e-9 * max(1.0, abs(theta[k]))
        if fired[k]:
            at = np.flatnonzero(grid == spikes[k])
            assert len(at) == 1, "the spike time is a grid point"
            assert abs(v[k, at[0]] - theta[k]) < tol
            assert np.all(v[k, grid < spikes[k]] < theta[k])
        else:
            assert np.all(v[k, grid < t_max] < theta[k] + tol)
    np.testing.assert_allclose(snap["trace/crossing"], spikes, rtol=0, atol=1e-9 * t_max)


def _noise_states(snn):
    """The seed-generator states of a model's spiking layers (Keras variables), by path."""
    return {v.path: np.asarray(v).copy() for layer in spiking_layers(snn) for v in layer.variables
            if "seed_generator_state" in v.path}


def test_trace_with_noise_replays_the_draw():
    snn, pre, x = build("dense", noise=0.05, seed=3)
    layer = spiking_layers(snn)[0]
    states = _noise_states(snn)
    assert states, "a noisy SNN has seed-generator state"
    per_image = 8 * int(np.prod(snn.inputs[0].shape[1:])) + 8 * sum(
        int(np.prod(lay.input.shape[1:])) + 2 * int(np.prod(lay.output.shape[1:])) for lay in spiking_layers(snn))
    assert snapshot.images_that_fit(snn, 4, True, 3 * per_image - 1) == 2
    snap = snapshot.take_snapshot(snn, x, relu_model=pre.model, n_images=4, max_bytes=2 * per_image)
    assert int(snap["meta/n_images"]) == 2 and int(snap["meta/n_images_requested"]) == 4
    assert len(snap["t_out/" + layer.name]) == 2
    assert bool(snap["trace/noisy"]) and "ONE draw" in str(snap["trace/note"])
    # The trace's own first crossing is the spike the layer reported in the same run.
    np.testing.assert_allclose(snap["trace/crossing"], snap["trace/spike"], rtol=0, atol=1e-9)
    # Taking a snapshot leaves the SNN's noise state as it was (and a run of the SNN does not).
    after = _noise_states(snn)
    assert after.keys() == states.keys()
    for key in states:
        np.testing.assert_array_equal(after[key], states[key])
    snn(snnmap.encode(x[:4], (0.0, 1.0)))
    assert any(not np.array_equal(_noise_states(snn)[key], states[key]) for key in states)


def test_snapshot_contents_and_round_trip(run, tmp_path):
    kind, snn, pre, x, snap = run
    names = [str(n) for n in snap["layer_names"]]
    assert names == [layer.name for layer in spiking_layers(snn)]
    for layer in spiking_layers(snn):
        win = layer.window
        np.testing.assert_array_equal(snap[f"window/{layer.name}"], [win.t_min_prev, win.t_min, win.t_max])
        assert bool(snap[f"output_layer/{layer.name}"]) == layer.output_layer
        assert len(snap[f"t_in/{layer.name}"]) == len(snap[f"t_out/{layer.name}"]) == 8
        assert snap[f"y/{layer.name}"].shape == snap[f"t_out/{layer.name}"].shape
    path = snapshot.save_snapshot(tmp_path / "run.snapshot.npz", snap)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "no temporary file left"
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == set(snap)
    back = snapshot.load_snapshot(path)
    for key, value in snap.items():
        assert back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)
    with pytest.raises(TypeError):
        snapshot.save_snapshot(tmp_path / "bad.npz", {"x": np.array([{}], dtype=object)})


def test_run_figures_are_valid_pictures(run, tmp_path, check_picture):
    kind, snn, pre, x, snap = run
    rc = dict(matplotlib.rcParams)
    had_pyplot = "matplotlib.pyplot" in sys.modules
    paths = figures.all_run_figures(snap, tmp_path / "figs", "run", f"tiny {kind} net on random data; zeta=0.5")
    names = sorted(os.path.basename(p) for p in paths)
    assert names == sorted(f"run_{k}.{e}" for k in figures.RUN_FIGURES for e in ("png", "svg"))
    for p in paths:
        assert os.path.getsize(p) > 1000
        check_picture(p)
    # No global matplotlib state touched: no pyplot, same rcParams.
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    assert dict(matplotlib.rcParams) == rc


def test_exactness_needs_the_relu_oracle(tmp_path, run):
    kind, snn, pre, x, snap = run
    no_y = {k: v for k, v in snap.items() if not k.startswith("y/")}
    with pytest.raises(ValueError, match="relu_model"):
        figures.exactness(no_y, tmp_path / "e", "")


def _png_text(path):
    with Image.open(path) as img:
        return dict(img.text)


def test_exactness_figure_names_the_deviation_of_a_perturbed_run(run, tmp_path):
    kind, snn, pre, x, snap = run
    png = figures.exactness(snap, tmp_path / "exact", "tiny net on random data; zeta=0.5 noise=0.0")[0]
    meta = _png_text(png)
    # A short title; the settings are in the caption (the description), not in the title.
    assert meta["Title"] == "Exactness: ReLU vs SNN spike code" and "zeta=0.5" in meta["Description"]
    assert "max |error|" in meta["Description"]

    noisy, pre_n, x_n = build(kind, noise=0.2, seed=1)
    snap_n = snapshot.take_snapshot(noisy, x_n, relu_model=pre_n.model, n_images=8)
    meta = _png_text(figures.exactness(snap_n, tmp_path / "noisy", "tiny net; noise=0.2")[0])
    assert meta["Title"].startswith("Deviation caused by noise=0.2")
    assert "max |error|" not in meta["Title"] + meta["Description"] and "max deviation" in meta["Description"]


def test_spiking_model_predict_batches_256_by_default(run, monkeypatch):
    kind, snn, pre, x, snap = run
    seen = []
    original = keras.Model.predict

    def spy(self, data, batch_size=None, *args, **kwargs):
        seen.append(batch_size)
        return original(self, data, batch_size, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "predict", spy)
    out = snn.predict(snnmap.encode(x, (0.0, 1.0)), verbose=0)
    assert seen == [256] and out.dtype == np.float64
    snn.predict(snnmap.encode(x, (0.0, 1.0)), batch_size=8, verbose=0)
    assert seen[-1] == 8
