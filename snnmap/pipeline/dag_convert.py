"""Phase 2 on a folded graph: the spiking network of a residual, branching or concatenating ReLU
network (docs/method.md §10).

Every source's spikes travel in its own local frame, ``t - t_max(s)`` (minus the value it codes),
so the delays of method §10 need no layer: a population that reads sources from windows ending
at different times reads them all as ``T_n - a_s`` by taking ``T_n`` as its input origin.

Each term of a population's pre-activation becomes a :class:`Synapse`: structural operations on
the source's spike times (zero padding, subsampling, flattening) and ONE kernel, a convolution
or a dense matrix, in which every per-channel scale, channel placement, depthwise structure,
1x1 convolution before average pooling and global average pooling before Dense is folded.
Terms with the same geometry are stacked into one :class:`~snnmap.layers.SpikingConv2D` (or
:class:`~snnmap.layers.SpikingDense`) over the concatenated spike times of their sources (an
identity shortcut becomes a diagonal 1x1 kernel, embedded in the larger kernel); terms that feed
disjoint blocks of channels (DenseNet's concatenations) become separate layers whose spikes are
concatenated.  The layers, their closed form, certificate and event solver are those of chains.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from ..errors import UnsupportedLayerError
from ..layers import (BiasMapConv2D, ConstantPadding2D, SignedMaxPooling2D, SpikeTimePadding2D, SpikingConv2D,
                      SpikingDense, SpikingMaxPooling2D, SpikingModel, same_padding)
from ..runtime import derive_seed


class Population:
    """A population of the spiking graph, named in errors as a layer is."""

    def __init__(self, name):
        self.name = name


@dataclasses.dataclass
class Synapse:
    """One term of a population as a spiking synapse.

    Attributes
    ----------
    source : int
    prep : tuple
        Structural operations on the source's spike times, in order: ``("pad", ((t, b), (l, r)))``,
        ``("subsample", (sh, sw))``, ``("flatten",)``.
    kind : {"conv", "dense"}
    W : ndarray
        ``(kh, kw, source channels, population channels)`` or ``(source units, population units)``.
    strides : tuple
        Convolution strides, ``(1, 1)`` for dense.
    """

    source: int
    prep: tuple
    kind: str
    W: np.ndarray
    strides: tuple = (1, 1)


class _Pre:
    """The operations before a term's kernel, as a channel map of the source and spatial preparation."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.channel = np.arange(shape[-1])  # source channel of each current channel (-1: none)
        self.scale = np.ones(shape[-1])
        self.prep = []

    def apply(self, op, name):
        kind, p = op.kind, op.params
        if kind == "scale":
            flat = np.broadcast_to(np.asarray(p["scale"], np.float64), self.shape).reshape(-1, self.shape[-1])
            if not np.all(flat == flat[:1]):
                raise UnsupportedLayerError(name, "a scale that varies with position before a convolution")
            self.scale = self.scale * flat[0]
        elif kind == "place":
            channel, scale = np.full(p["channels"], -1), np.zeros(p["channels"])
            channel[p["offset"]:p["offset"] + len(self.channel)] = self.channel
            scale[p["offset"]:p["offset"] + len(self.scale)] = self.scale
            self.channel, self.scale = channel, scale
            self.shape = self.shape[:-1] + (p["channels"],)
        elif kind == "pad":
            self.prep.append(("pad", p["padding"]))
            (t, b), (l, r) = p["padding"]
            self.shape = (self.shape[0] + t + b, self.shape[1] + l + r, self.shape[2])
        elif kind == "subsample":
            self.prep.append(("subsample", tuple(p["strides"])))
            (sh, sw) = p["strides"]
            self.shape = (-(-self.shape[0] // sh), -(-self.shape[1] // sw), self.shape[2])
        else:
            raise UnsupportedLayerError(name, f"a '{kind}' before a convolution is not supported yet")

    def rows(self, w, n_source_channels):
        """Kernel ``w`` over the current channels, pulled back onto the source's channels."""
        out = np.zeros(w.shape[:-2] + (n_source_channels, w.shape[-1]))
        for k in np.flatnonzero(self.channel >= 0):
            out[..., self.channel[k], :] += self.scale[k] * w[..., k, :]
        return out


def _conv_kernel(ops_, pre, name):
    """The kernel ops of a convolutional term as ``(W over the current channels, strides)``."""
    first, rest = ops_[0], ops_[1:]
    p, c = first.params, pre.shape[-1]
    if first.kind == "conv":
        w, strides, padding, hw = p["W"], tuple(p["strides"]), p["padding"], p["W"].shape[:2]
    elif first.kind == "depthwise":
        kh, kw, cin, mult = p["W"].shape
        w = np.zeros((kh, kw, cin, cin * mult))
        for m in range(mult):
            w[:, :, np.arange(cin), np.arange(cin) * mult + m] = p["W"][:, :, :, m]
        strides, padding, hw = tuple(p["strides"]), p["padding"], (kh, kw)
    elif first.kind == "avgpool":
        hw, strides, padding = tuple(p["pool_size"]), tuple(p["strides"]), p["padding"]
        w = np.zeros(hw + (c, c))
        w[:, :, np.arange(c), np.arange(c)] = 1.0 / (hw[0] * hw[1])
    else:
        raise UnsupportedLayerError(name, f"a '{first.kind}' kernel in a convolutional population")
    if padding == "same":
        pads = tuple(same_padding(size, k, s) for size, k, s in zip(pre.shape[:2], hw, strides))
        if any(pads[0]) or any(pads[1]):
            pre.apply(_Op("pad", {"padding": pads}), name)
    for op in rest:  # a 1x1 convolution, then average pooling: one k x k convolution with stride k
        q = op.params
        if op.kind != "avgpool" or w.shape[:2] != (1, 1) or strides != (1, 1) or q["padding"] != "valid":
            raise UnsupportedLayerError(name, "two kernels in sequence")
        kh, kw = q["pool_size"]
        w = np.tile(w / (kh * kw), (kh, kw, 1, 1))
        strides = tuple(q["strides"])
    return w, strides


@dataclasses.dataclass(frozen=True)
class _Op:
    kind: str
    params: dict


def _split(ops_, name):
    """``(before, kernel ops, after)`` of a term's operations."""
    kernel = [i for i, op in enumerate(ops_) if op.kernel]
    if not kernel:
        return ops_, (), ()
    between = {op.kind for op in ops_[kernel[0]:kernel[-1]] if not op.kernel}
    if not between <= {"scale", "place"}:  # these commute with average pooling; others do not
        raise UnsupportedLayerError(name, f"operations {sorted(between)} between two kernels")
    return ops_[:kernel[0]], tuple(ops_[i] for i in kernel), \
        tuple(op for op in ops_[kernel[0] + 1:] if not op.kernel)


def _conv_synapse(term, source, name):
    before, kernel, after = _split(term.ops, name)
    pre = _Pre(source.shape)
    for op in before:
        pre.apply(op, name)
    if kernel:
        w, strides = _conv_kernel(kernel, pre, name)
    else:
        c = pre.shape[-1]
        w, strides = np.eye(c)[None, None], (1, 1)
    w = pre.rows(w, source.shape[-1])
    for op in after:
        if op.kind == "scale":
            flat = np.broadcast_to(np.asarray(op.params["scale"], np.float64),
                                   (1,) * (len(source.shape) - 1) + (w.shape[-1],)).reshape(-1, w.shape[-1])
            w = w * flat[0]
        elif op.kind == "place":
            placed = np.zeros(w.shape[:-1] + (op.params["channels"],))
            placed[..., op.params["offset"]:op.params["offset"] + w.shape[-1]] = w
            w = placed
        elif op.kind == "subsample" and kernel:
            strides = tuple(s * t for s, t in zip(strides, op.params["strides"]))
        elif op.kind == "pad" and kernel:
            # Padded outputs read only padded inputs (code 0): pad the input by as many strides.
            (t, b), (l, r) = op.params["padding"]
            pre.apply(_Op("pad", {"padding": ((t * strides[0], b * strides[0]), (l * strides[1], r * strides[1]))}),
                      name)
        else:
            raise UnsupportedLayerError(name, f"a '{op.kind}' after a convolution is not supported yet")
    if w.shape[:2] == (1, 1) and strides != (1, 1):
        # A strided 1x1 kernel reads a subsampled source: it then stacks with kernels at that resolution.
        pre.apply(_Op("subsample", {"strides": strides}), name)
        strides = (1, 1)
    return Synapse(term.source, tuple(pre.prep), "conv", w, strides)


def _dense_synapse(term, source, name):
    """A term of a dense population: every operation before the Dense pulled back onto the source's units."""
    before, kernel, after = _split(term.ops, name)
    index = np.arange(int(np.prod(source.shape))).reshape(source.shape)
    scale = np.ones(source.shape)
    for op in before:
        if op.kind == "scale":
            scale = scale * np.broadcast_to(op.params["scale"], scale.shape)
        elif op.kind == "reshape":
            index, scale = index.reshape(op.params["shape"]), scale.reshape(op.params["shape"])
        elif op.kind == "place":
            shape = index.shape[:-1] + (op.params["channels"],)
            new_index, new_scale = np.full(shape, -1), np.zeros(shape)
            block = slice(op.params["offset"], op.params["offset"] + index.shape[-1])
            new_index[..., block], new_scale[..., block] = index, scale
            index, scale = new_index, new_scale
        elif op.kind == "subsample":
            s = op.params["strides"]
            index, scale = index[:, ::s[0], ::s[1]], scale[:, ::s[0], ::s[1]]
        else:
            raise UnsupportedLayerError(name, f"a '{op.kind}' before a Dense layer is not supported yet")
    kinds = [op.kind for op in kernel]
    if kinds == ["gap", "dense"]:
        h, w_ = index.shape[:2]
        w = np.tile(kernel[1].params["W"] / (h * w_), (h * w_, 1))
    elif kinds == ["dense"]:
        w = kernel[0].params["W"]
    elif not kinds:
        w = np.eye(index.shape[-1]) if index.ndim == 1 else None
    else:
        w = None
    if w is None:
        raise UnsupportedLayerError(name, f"kernels {kinds} in a dense population are not supported yet")
    flat, keep = index.reshape(-1), index.reshape(-1) >= 0
    rows = np.zeros((int(np.prod(source.shape)), w.shape[-1]))
    np.add.at(rows, flat[keep], scale.reshape(-1)[keep, None] * w[keep])
    for op in after:
        if op.kind == "scale":
            rows = rows * np.asarray(op.params["scale"], np.float64)
        elif op.kind == "place":
            placed = np.zeros((rows.shape[0], op.params["channels"]))
            placed[:, op.params["offset"]:op.params["offset"] + rows.shape[1]] = rows
            rows = placed
        else:
            raise UnsupportedLayerError(name, f"a '{op.kind}' after a Dense layer is not supported yet")
    prep = (("flatten",),) if len(source.shape) > 1 else ()
    return Synapse(term.source, prep, "dense", rows)


def synapses_of(expr, sources, name):
    """Every term of ``expr`` (a population's pre-activation or the readout) as a :class:`Synapse`."""
    population = Population(name)
    conv = len(expr.shape) == 3
    return [(_conv_synapse if conv else _dense_synapse)(term, sources[term.source], population)
            for term in expr.terms]


def _base_and_pad(prep):
    """``(structural operations, trailing zero padding)``, consecutive paddings merged."""
    merged = []
    for op in prep:
        if op[0] == "pad" and merged and merged[-1][0] == "pad":
            (a, b), (c, d) = merged[-1][1]
            (e, f), (g, h) = op[1]
            merged[-1] = ("pad", ((a + e, b + f), (c + g, d + h)))
        else:
            merged.append(op)
    if merged and merged[-1][0] == "pad":
        return tuple(merged[:-1]), merged[-1][1]
    return tuple(merged), ((0, 0), (0, 0))


def _spatial(shape, prep):
    h, w = shape[:2]
    for op in prep:
        if op[0] == "pad":
            (t, b), (l, r) = op[1]
            h, w = h + t + b, w + l + r
        elif op[0] == "subsample":
            h, w = -(-h // op[1][0]), -(-w // op[1][1])
    return h, w


def stack_conv(synapses, sources, name):
    """Convolutional synapses of one population on one geometry: every kernel embedded in the largest
    and every source padded alike, so that they stack along the input channels.

    Returns
    -------
    (list of (source, prep, W), strides)
    """
    items = []
    for syn in synapses:
        base, pad = _base_and_pad(syn.prep)
        items.append((syn, base, pad, _spatial(sources[syn.source].shape, base)))
    strides, sizes = {i[0].strides for i in items}, {i[3] for i in items}
    if len(strides) != 1 or len(sizes) != 1:
        raise UnsupportedLayerError(Population(name), "it reads sources at different resolutions or strides "
                                    f"({sorted(sizes)}, {sorted(strides)}); not supported yet")
    (s,), (size,) = strides, sizes
    before = [max(i[2][axis][0] for i in items) for axis in (0, 1)]
    k = [max(before[axis] - i[2][axis][0] + i[0].W.shape[axis] for i in items) for axis in (0, 1)]
    outs = {tuple((size[a] + i[2][a][0] + i[2][a][1] - i[0].W.shape[a]) // s[a] + 1 for a in (0, 1)) for i in items}
    if len(outs) != 1:
        raise UnsupportedLayerError(Population(name), f"its synapses give outputs of sizes {sorted(outs)}")
    (out,) = outs
    after = [(out[a] - 1) * s[a] + k[a] - size[a] - before[a] for a in (0, 1)]
    # Rows and columns no output reads (a 'valid' window that does not fit) are cropped.
    crop = ((0, max(-after[0], 0)), (0, max(-after[1], 0)))
    pad = ((before[0], max(after[0], 0)), (before[1], max(after[1], 0)))
    stacked = []
    for syn, base, own, _ in items:
        w = np.zeros((k[0], k[1]) + syn.W.shape[2:])
        o = [before[a] - own[a][0] for a in (0, 1)]
        w[o[0]:o[0] + syn.W.shape[0], o[1]:o[1] + syn.W.shape[1]] = syn.W
        extra = ((("crop", crop),) if crop[0][1] or crop[1][1] else ()) + \
            ((("pad", pad),) if any(pad[0]) or any(pad[1]) else ())
        stacked.append((syn.source, base + extra, w))
    return stacked, s


def channel_groups(synapses, channels):
    """Contiguous blocks of a population's channels that disjoint sets of synapses feed.

    Returns
    -------
    list of (lo, hi, list of Synapse)
    """
    spans = []
    for syn in synapses:
        used = np.flatnonzero(np.any(syn.W.reshape(-1, syn.W.shape[-1]) != 0, axis=0))
        spans.append((int(used[0]), int(used[-1]) + 1, syn) if used.size else (0, channels, syn))
    spans.sort(key=lambda item: item[0])
    groups = []
    for lo, hi, syn in spans:
        if groups and lo < groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], hi)
            groups[-1][2].append(syn)
        else:
            groups.append([lo, hi, [syn]])
    for left, right in zip(groups, groups[1:]):  # channels no synapse feeds go with the block before
        left[1] = right[0]
    groups[0][0], groups[-1][1] = 0, channels
    return [tuple(g) for g in groups]


class _GraphBuilder:
    """The Keras tensors of a folded graph's network, source by source (the walk both networks share).

    Subclasses say what a structural operation, a block of a population and a max pooling become:
    spike-time layers (:class:`_SpikingBuilder`) or the ReLU network on values
    (:class:`_ReluBuilder`), whose Dense/Conv2D layers pair one to one, in the same order, with
    the spiking layers.
    """

    def __init__(self, folded, dtype):
        self.folded, self.dtype = folded, dtype
        self.tensors, self.prepared, self.hidden = {}, {}, 0
        self.names = set()

    def name(self, wanted):
        base = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in wanted)
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def prepare(self, source, prep):
        """The tensor of ``source`` after the structural operations ``prep`` (built once)."""
        if not prep:
            return self.tensors[source]
        key = (source, tuple(prep))
        if key not in self.prepared:
            x = self.prepare(source, prep[:-1])
            op = prep[-1]
            if op[0] == "crop":
                x = keras.layers.Cropping2D(op[1], dtype=self.dtype, name=self.name("crop"))(x)
            elif op[0] == "flatten":
                x = keras.layers.Flatten(dtype=self.dtype, name=self.name("flatten"))(x)
            else:
                x = self.structural(op)(x)
            self.prepared[key] = x
        return self.prepared[key]

    def layer(self, key, label, synapses, shape, bias, output=False):
        """One layer over the stacked synapses (a block of a population's channels, or the readout)."""
        if len(shape) == 3:
            stacked, strides = stack_conv(synapses, self.folded.sources, label)
        else:
            stacked, strides = [(syn.source, syn.prep, syn.W) for syn in synapses], None
        inputs = [self.prepare(source, prep) for source, prep, _ in stacked]
        x = inputs[0] if len(inputs) == 1 else \
            keras.layers.Concatenate(dtype=self.dtype, name=self.name(label + "_in"))(inputs)
        w = np.concatenate([w for _, _, w in stacked], axis=-2)
        return self.linear(key, label, x, w, np.asarray(bias, np.float64), strides, output)

    def population(self, index, source):
        syns = synapses_of(source.expr, self.folded.sources, source.name)
        channels = source.shape[-1]
        groups = channel_groups(syns, channels) if len(source.shape) == 3 else [(0, channels, syns)]
        outs = []
        for lo, hi, members in groups:
            block = [dataclasses.replace(s, W=s.W[..., lo:hi]) for s in members]
            label = source.name if len(groups) == 1 else f"{source.name}_{lo}_{hi}"
            outs.append(self.layer(index, label, block, source.shape[:-1] + (hi - lo,), source.expr.bias[..., lo:hi]))
        self.hidden += 1
        if len(outs) == 1:
            return outs[0]
        return keras.layers.Concatenate(dtype=self.dtype, name=self.name(source.name + "_concat"))(outs)

    def build(self, inputs):
        """The output tensor (logits, or the original activation for the ReLU network) of ``inputs``."""
        self.tensors[0] = self.start(inputs)
        for index, source in enumerate(self.folded.sources[1:], start=1):
            self.tensors[index] = (self.maxpool(source) if source.kind == "maxpool"
                                   else self.population(index, source))
        out = self.folded.output
        return self.layer("output", "readout", synapses_of(out, self.folded.sources, "output"), out.shape,
                          out.bias, output=True)


class _SpikingBuilder(_GraphBuilder):
    """Spike times, each source in its local frame ``t - t_max(s)``."""

    def __init__(self, folded, windows, x_n, settings, seed, alpha_noise):
        super().__init__(folded, settings["dtype"])
        self.windows, self.x_n = windows, x_n
        self.settings, self.seed, self.alpha_noise = settings, seed, alpha_noise

    def start(self, inputs):
        # Input spikes in their local frame: t - t_max(input) = t - 1.
        return keras.layers.Rescaling(1.0, offset=-1.0, dtype=self.dtype, name="input_frame")(inputs)

    def structural(self, op):
        if op[0] == "pad":  # padding codes 0: it spikes at the end of its source's window, local time 0
            return SpikeTimePadding2D(op[1], t_pad=0.0, dtype=self.dtype, name=self.name("pad"))
        return SpikingMaxPooling2D(pool_size=1, strides=op[1], dtype=self.dtype, name=self.name("subsample"))

    def linear(self, key, label, x, w, bias, strides, output):
        win = self.windows
        kwargs = dict(t_min_prev=win.t_start[key], t_min=win.t_in[key], input_origin=win.t_in[key],
                      name=self.name(label), seed=derive_seed(self.seed, self.hidden), **self.settings)
        if output:
            kwargs["output_layer"] = True
        else:
            kwargs.update(X_n=self.x_n[key], alpha_noise=self.alpha_noise, output_origin=win.t_max[key])
        if strides is None:
            layer = SpikingDense(w.shape[-1], **kwargs)
        else:
            layer = SpikingConv2D(w.shape[-1], w.shape[:2], strides=strides, padding="valid", **kwargs)
        out = layer(x)
        layer.set_relu_params(w, bias)
        layer.seed_slot = self.hidden  # as in to_snn: retune() reseeds it
        return out

    def maxpool(self, source):
        c = source.config
        x = self.tensors[source.of]
        if any(map(any, c.get("pad", ((0, 0),)))):
            # In the local frame, a padded position of value v spikes at -v.
            t_pad = -np.asarray(c.get("pad_value", 0.0), np.float64)
            x = SpikeTimePadding2D(c["pad"], t_pad=t_pad if np.any(t_pad) else 0.0, dtype=self.dtype,
                                   name=self.name(source.name + "_pad"))(x)
        return SpikingMaxPooling2D(signs=c["signs"], pool_size=c["pool_size"], strides=c["strides"],
                                   padding=c["padding"], dtype=self.dtype, name=self.name(source.name))(x)


class _ReluBuilder(_GraphBuilder):
    """The ReLU network on values ``x_hat`` (float64): the preprocessed network of a graph."""

    def __init__(self, folded):
        super().__init__(folded, "float64")

    def start(self, inputs):
        return inputs

    def structural(self, op):
        if op[0] == "pad":
            return keras.layers.ZeroPadding2D(op[1], dtype=self.dtype, name=self.name("pad"))
        return keras.layers.MaxPooling2D(1, strides=op[1], dtype=self.dtype, name=self.name("subsample"))

    def linear(self, key, label, x, w, bias, strides, output):
        act = self.folded.output_activation if output else "relu"
        act = None if act == "linear" else act
        kw = dict(activation=act, dtype=self.dtype, name=self.name(label))
        if strides is None:
            layer = keras.layers.Dense(w.shape[-1], **kw)
        else:
            per_channel = bias.reshape(-1, bias.shape[-1])
            if bias.ndim == 3 and np.all(per_channel == per_channel[:1]):
                bias = per_channel[0]
            cls = BiasMapConv2D if bias.ndim == 3 else keras.layers.Conv2D
            layer = cls(w.shape[-1], w.shape[:2], strides=strides, padding="valid", **kw)
        out = layer(x)
        layer.set_weights([w, np.broadcast_to(bias, tuple(layer.bias.shape)) if bias.ndim < 3 else bias])
        return out

    def maxpool(self, source):
        c = source.config
        x = self.tensors[source.of]
        if any(map(any, c.get("pad", ((0, 0),)))):
            values = np.asarray(c.get("pad_value", 0.0), np.float64)
            x = ConstantPadding2D(c["pad"], values=list(np.broadcast_to(values, source.shape[-1:])),
                                  dtype=self.dtype, name=self.name(source.name + "_pad"))(x)
        config = dict(pool_size=c["pool_size"], strides=c["strides"], padding=c["padding"], dtype=self.dtype,
                      name=self.name(source.name))
        if np.all(np.asarray(c["signs"]) > 0):
            return keras.layers.MaxPooling2D(**config)(x)
        return SignedMaxPooling2D(c["signs"], **config)(x)


def graph_snn(folded, windows, x_n, zeta=0.5, noise=0.0, alpha_noise=0.0, seed=0, dtype="float64", solver="auto",
              input_range=(0.0, 1.0), name="graph_snn", **knobs):
    """The spiking network of a folded, scaled and calibrated graph (method §10).

    Parameters
    ----------
    folded : FoldedGraph
        Scaled (:func:`~snnmap.pipeline.dag_plan.scale_graph`).
    windows : GraphWindows
        From :func:`~snnmap.pipeline.dag_plan.graph_windows` with the same ``zeta``.
    x_n : dict
        Source index -> ``X_n``.
    zeta, noise, alpha_noise, seed, dtype, solver
        As :func:`snnmap.to_snn`.
    input_range : (float, float)
        Recorded on the model.
    name : str
    **knobs
        ``time_bits``, ``weight_bits``, ``w_min``, ``w_max`` of every spiking layer, as :func:`snnmap.to_snn`.

    Returns
    -------
    SpikingModel
        Input: :func:`snnmap.encode`'s spike times; output: the logits.
    """
    settings = dict(zeta=zeta, noise=noise, dtype=dtype, solver=solver, **knobs)
    builder = _SpikingBuilder(folded, windows, x_n, settings, seed, alpha_noise)
    inputs = keras.Input(shape=folded.sources[0].shape, dtype=dtype, name="spike_times")
    return SpikingModel(inputs, builder.build(inputs), name=name, input_range=input_range)


def relu_graph_model(folded, name="preprocessed"):
    """The preprocessed ReLU network of a folded, scaled graph: float64, input ``x_hat``, one
    Dense/Conv2D per spiking layer of :func:`graph_snn`, in the same order (method §10).

    Parameters
    ----------
    folded : FoldedGraph
    name : str
    """
    inputs = keras.Input(shape=folded.sources[0].shape, dtype="float64", name="x_hat")
    return keras.Model(inputs, _ReluBuilder(folded).build(inputs), name=name)
