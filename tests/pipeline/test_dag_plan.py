"""Weight sums, scaling, calibration, windows and delays of folded graphs (docs/method.md §10),
checked by simulating every population's neurons with the time-stepped oracle and reading the
logits out as the output layer would: they must be the original network's."""

import keras
import numpy as np
import pytest

from snnmap.pipeline import dag, dag_plan, graph
from tests import oracle

L = keras.layers


def _dense_matrix(term, source_shape):
    """The term's linear map as a (source neurons, population neurons) matrix (no padding involved)."""
    n = int(np.prod(source_shape))
    x = np.eye(n).reshape((n,) + tuple(source_shape))
    for op in term.ops:
        x = dag.apply_op(op, x)
    return x.reshape(n, -1)


def _pool_times(t, source):
    """Max (min) pooling of values as the earliest (latest) spike of each window ('valid' pools only)."""
    c = source.config
    assert c["padding"] == "valid" and c.get("pad", ((0, 0), (0, 0))) == ((0, 0), (0, 0))
    (ph, pw), (sh, sw) = c["pool_size"], c["strides"]
    h, w = source.shape[:2]
    out = np.empty((t.shape[0], h, w, t.shape[-1]))
    for i in range(h):
        for j in range(w):
            window = t[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :]
            earliest, latest = window.min(axis=(1, 2)), window.max(axis=(1, 2))
            out[:, i, j, :] = np.where(c["signs"] > 0, earliest, latest)
    return out


def _inputs(folded, windows, times, key, expr):
    """Delayed input spike times and the stacked weights of one population (or the output)."""
    t_in, rows = [], []
    for term in expr.terms:
        source = folded.sources[term.source]
        t_in.append((times[term.source] + windows.delays[(key, term.source)]).reshape(len(times[0]), -1))
        rows.append(_dense_matrix(term, source.shape))
    return np.concatenate(t_in, axis=1), np.concatenate(rows, axis=0)


def spiking_logits(folded, windows, x_hat, upper_b, times_out=None):
    """Every population simulated by the oracle (method §3 with §10's windows), then the readout
    (``times_out``, a dict, receives every source's global spike times)."""
    times = {0: windows.t_max[0] - x_hat}
    for index, source in enumerate(folded.sources[1:], start=1):
        if source.kind == "maxpool":
            times[index] = _pool_times(times[source.of], source)
            continue
        t_in, w = _inputs(folded, windows, times, index, source.expr)
        s = w.sum(axis=0)
        assert np.all(s <= upper_b + 1e-12)
        assert np.allclose(s, dag_plan.fan_in_sums(source.expr, folded.sources).reshape(-1))
        b = source.expr.bias.reshape(-1)
        j = w / (1.0 - s)
        big_b = windows.width[index]
        theta = (windows.t_max[index] - windows.t_start[index]) + big_b * j.sum(axis=0) - (1.0 + j.sum(axis=0)) * b
        spikes = oracle.simulate_layer(t_in, j, theta, np.ones_like(b), windows.t_start[index],
                                       windows.t_max[index], dt=1e-2)
        times[index] = spikes.reshape((len(x_hat),) + source.shape)
    if times_out is not None:
        times_out.update(times)
    t_in, w = _inputs(folded, windows, times, "output", folded.output)
    b = folded.output.bias.reshape(-1)
    alpha = b / (windows.latency - windows.t_start["output"])
    return oracle.readout(t_in, w, alpha, windows.t_start["output"], windows.latency)


def fc_graph():
    """An identity shortcut from an earlier window, BN after the merge, and a Concatenate of sources
    whose windows end at different times."""
    init = keras.initializers.RandomNormal(0.2, 0.5, seed=3)
    x0 = keras.Input((6,))
    a = L.Dense(8, activation="relu", kernel_initializer=init)(x0)
    b = L.Dense(8, activation="relu", kernel_initializer=init)(a)
    c = L.ReLU()(L.BatchNormalization()(L.Add()([L.Dense(8, kernel_initializer=init)(b), a])))
    d = L.Dense(5, activation="relu", kernel_initializer=init)(L.Concatenate()([a, c]))
    return keras.Model(x0, L.Dense(3)(d))


def conv_graph():
    """Convolutions ('valid'), a 1x1 projection added to an identity shortcut, max pooling of the merge."""
    init = keras.initializers.RandomNormal(0.1, 0.4, seed=4)
    x0 = keras.Input((6, 6, 2))
    a = L.Conv2D(3, 3, activation="relu", kernel_initializer=init)(x0)
    b = L.Conv2D(3, 1, activation="relu", kernel_initializer=init)(a)
    c = L.ReLU()(L.Add()([L.Conv2D(3, 1, kernel_initializer=init)(b), a]))
    p = L.MaxPooling2D(2)(c)
    return keras.Model(x0, L.Dense(2)(L.Flatten()(L.Concatenate()([p, L.MaxPooling2D(2)(a)]))))


@pytest.mark.parametrize("build", [fc_graph, conv_graph])
def test_spiking_graph_reproduces_the_network(build):
    keras.utils.set_random_seed(5)
    model = build()
    rng = np.random.default_rng(6)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.3, c))
            layer.gamma.assign(rng.normal(1.5, 0.3, c))
    folded, counts = dag_plan.scale_graph(dag.fold_graph(model), upper_b=0.9)
    assert sum(c["above_upper_b"] for c in counts.values()) > 0  # the scaling has work to do
    shape = graph.shape_of(model.inputs[0])
    calib = rng.uniform(0, 1, (64,) + shape)
    windows = dag_plan.graph_windows(folded, dag_plan.calibrate_graph(folded, [calib[:32], calib[32:]]), zeta=0.5)
    assert any(d > 0 for d in windows.delays.values())  # some source really is delayed
    x_hat = calib[:3]  # inside the calibration range: no window is exceeded
    logits = spiking_logits(folded, windows, x_hat, upper_b=0.9)
    reference = np.asarray(graph.logits_model(model)(x_hat))
    assert np.max(np.abs(logits - reference)) < 1e-8


def test_windows_follow_the_longest_path():
    folded = dag.fold_graph(fc_graph())
    relu = [i for i, s in enumerate(folded.sources) if s.kind == "relu"]
    x_n = {i: float(k + 1) for k, i in enumerate(relu)}  # widths 1.5, 3, 4.5, 6 with zeta 0.5
    w = dag_plan.graph_windows(folded, x_n, zeta=0.5)
    a, b, c, d = relu
    assert w.t_max[a] == 1.0 + 1.5 and w.t_max[b] == w.t_max[a] + 3.0
    # c reads b and (through the shortcut) a: it waits for b, a is delayed by b's width.
    assert w.t_in[c] == w.t_max[b] and w.delays[(c, a)] == 3.0 and w.delays[(c, b)] == 0.0
    assert w.t_start[c] == w.t_in[c] - 3.0
    assert w.latency == w.t_max[d]
    with pytest.raises(ValueError, match="X_n of population"):
        dag_plan.graph_windows(folded, {**x_n, d: 0.0})


def test_scaling_keeps_the_function_of_padded_max_pools():
    """A max pool whose padding stands for relu(BN(0)) > 0 of a population that the scaling shrinks:
    the scaled graph must compute the same logits (the padding's value scales with the population)."""
    x0 = keras.Input((8, 8, 2))
    y = L.MaxPooling2D(3, 2)(L.ZeroPadding2D(1)(L.Conv2D(3, 3, padding="same", kernel_initializer="ones")(x0)))
    bn = L.BatchNormalization(beta_initializer=keras.initializers.Constant(0.7))  # moved before the pool
    model = keras.Model(x0, L.Dense(2)(L.Flatten()(L.ReLU()(bn(y)))))
    folded = dag.fold_graph(model)
    pools = [s for s in folded.sources if s.kind == "maxpool"]
    assert pools and np.all(pools[0].config["pad_value"] > 0)
    scaled, counts = dag_plan.scale_graph(folded)
    assert sum(c["above_upper_b"] for c in counts.values()) > 0  # the convolution's sums are 18 > upper_b
    x_hat = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 2))
    reference = np.asarray(graph.logits_model(model)(x_hat))
    assert np.max(np.abs(dag.run_folded(scaled, x_hat)[0] - reference)) < 1e-9


@pytest.mark.parametrize("build", [fc_graph, conv_graph])
def test_the_graph_snns_spike_times_are_the_oracles(build):
    """The spiking layers snnmap builds for a graph (stacked sources, local frames) fire when the
    independent time-stepped simulation of their populations, with §10's delays, says they do."""
    import snnmap
    from snnmap.pipeline.evaluate import spiking_layers

    keras.utils.set_random_seed(5)
    model = build()
    rng = np.random.default_rng(7)
    calib = rng.uniform(0, 1, (64,) + graph.shape_of(model.inputs[0]))
    pre = snnmap.preprocess(model, calib, upper_b=0.9, verbose=0)
    x_n = pre.x_n_of_sources()
    windows = dag_plan.graph_windows(pre.folded, x_n, zeta=0.5)
    assert any(d > 0 for d in windows.delays.values())
    times = {}
    spiking_logits(pre.folded, windows, calib[:3], upper_b=0.9, times_out=times)
    snn = snnmap.to_snn(pre)
    layers = [layer for layer in spiking_layers(snn) if not layer.output_layer]
    probe = keras.Model(snn.inputs, [layer.output for layer in layers])
    outs = probe(keras.ops.convert_to_tensor(snnmap.encode(calib[:3]), "float64"))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    for layer, out in zip(layers, outs):
        index = next(k for k, s in enumerate(pre.folded.sources) if s.name == layer.name)
        _, t_out = layer.global_times(np.zeros(1), np.asarray(out))
        assert np.max(np.abs(t_out - times[index].reshape(t_out.shape))) < 1e-8, layer.name
