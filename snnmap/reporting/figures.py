"""Pictures of a run: spike-time histograms, a raster, potential traces, exactness, sweeps.

Every function draws from a snapshot (:mod:`snnmap.snapshot`) or a sweep table, writes the
figure twice with one basename, ``<path>.png`` and ``<path>.svg`` (each atomically), and
returns both paths.  Every figure is titled with what it shows and with ``caption``, the
data description and settings of the run, and the same text is stored in the files'
metadata (``Title``, ``Description``), where :mod:`snnmap.report` reads it back.

matplotlib is used without ``pyplot``: figures are ``matplotlib.figure.Figure`` objects on
an Agg canvas, so nothing global (the current figure, the backend, ``rcParams``) is
touched and nothing needs a display.  A figure in which nothing was drawn is an error.
Dense and convolutional layers are handled alike: neuron axes are flattened.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np

from .. import storage
from ..pipeline.snapshot import hidden_layer_names

#: Colours (matplotlib's tab10), so that no global colour cycle is consulted.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
GREY = "#9a9a9a"
WINDOW_SHADES = ("#e8eef7", "#f6efe2")

#: Largest number of neurons of one layer drawn in a raster, and of points in a scatter.
RASTER_NEURONS = 300
SCATTER_POINTS = 20000

#: Names of the figures of a run, in report order, and what they show.
RUN_FIGURES = {
    "spike_times": "Histograms of the hidden layers' spike times over the snapshot images, "
                   "with each layer's window [t_min, t_max].",
    "raster": "One image's spikes through all layers (time on x, neurons on y), each layer's "
              "output window shaded.",
    "potential": "Exact membrane potential V(t) of a few neurons of one hidden layer (MAPPING §2), "
                 "threshold dashed, spike marked where V reaches theta.",
    "exactness": "ReLU activation relu(y) of the preprocessed network against the SNN's decoded "
                 "spike code t_max - t, hidden layers; window violations marked.",
}


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _wrap(text, width_in, size=10):
    chars = max(40, int(width_in * 130 / size))
    return "\n".join(textwrap.fill(line, chars) for line in str(text).splitlines() if line.strip())


def _title(fig, what, caption):
    """What the figure shows (bold) and the run's caption (data, settings) below it."""
    width = fig.get_figwidth()
    text = _wrap(what, width, 12)
    if caption:
        text += "\n" + _wrap(caption, width, 11)
    fig.suptitle(text, fontsize=11)


def _base(path):
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    return root if ext.lower() in (".png", ".svg") else path


def _save(fig, path, title, description, drawn):
    """Check that something was drawn, then write ``<base>.png`` and ``<base>.svg``.

    The PNG is rendered first (with the constrained layout); its pixels must not be
    uniform.  The layout is then frozen, so the SVG has the same geometry and costs no
    second layout pass.
    """
    if not drawn:
        raise RuntimeError(f"figure {title!r} would be blank: nothing was drawn")
    base = _base(path)
    out = []
    for fmt in ("png", "svg"):
        target = f"{base}.{fmt}"
        meta = {"Title": title, "Description": description}
        if fmt == "svg":
            meta["Date"] = None
        with storage.atomic_path(target, suffix="." + fmt) as tmp:
            fig.savefig(tmp, format=fmt, metadata=meta, dpi=100)
            if fmt == "png":
                pixels = np.asarray(fig.canvas.buffer_rgba())
                if not float(np.std(pixels[..., :3])) > 0:
                    raise RuntimeError(f"figure {title!r} rendered blank")
                fig.set_layout_engine("none")
        out.append(target)
    return out


def _grid(n, ncols=3):
    ncols = max(1, min(ncols, n))
    return (n + ncols - 1) // ncols, ncols


def _axes(fig, n, ncols=3, **kw):
    nrows, ncols = _grid(n, ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, **kw)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _window(snap, name):
    t0, t_min, t_max = (float(v) for v in snap[f"window/{name}"])
    return t0, t_min, t_max


def _tol(t):
    return 1e-9 * max(1.0, abs(float(t)))


def _hidden(snap):
    names = hidden_layer_names(snap)
    if not names:
        raise ValueError("the snapshot has no hidden spiking layer")
    return names


def _n_images(snap):
    return int(snap["meta/n_images"]) if "meta/n_images" in snap else len(snap[f"t_out/{snap['layer_names'][0]}"])


# -- spike-time histograms ----------------------------------------------------------------
def spike_time_histograms(snap, path, caption=""):
    """One panel per hidden layer: histogram of its spike times over its output window.

    The x axis spans the layer's window ``[t_min, t_max]`` (and earlier, shaded, if a
    neuron crossed threshold before ``t_min``: MAPPING §3 (b)).

    Spikes before ``t_max`` (informative) and spikes at ``t_max`` (code 0) are drawn in
    different colours; the counts use a log scale so that both show.  Returns
    ``[png_path, svg_path]``.
    """
    names = _hidden(snap)
    n_img = _n_images(snap)
    nrows, ncols = _grid(len(names))
    fig = _figure(max(10.0, 4.2 * ncols), 1.6 + 3.2 * nrows)
    drawn = 0
    for k, (ax, name) in enumerate(zip(_axes(fig, len(names)), names)):
        t0, t_min, t_max = _window(snap, name)
        t = np.asarray(snap[f"t_out/{name}"], np.float64).ravel()
        at_end = t >= t_max - _tol(t_max)
        lo = min(t_min, float(t.min())) if t.size else t_min
        bins = np.linspace(lo, t_max, 61)
        width = bins[1] - bins[0]
        if lo < t_min:
            ax.axvspan(lo, t_min, color="#eeeeee", zorder=0, label="before t_min: early crossings")
        if np.any(~at_end):
            ax.hist(t[~at_end], bins=bins, color=COLOURS[k % len(COLOURS)], label="before t_max (informative)")
        if np.any(at_end):
            ax.bar([t_max - width / 2], [int(at_end.sum())], width=width, color=GREY,
                   label="at t_max (codes 0)")
        drawn += t.size
        ax.axvline(t_min, color="black", lw=1.2, label=f"t_min = {t_min:.4g}")
        ax.axvline(t_max, color=COLOURS[3], lw=1.2, ls="--", label=f"t_max = {t_max:.4g}")
        ax.set_yscale("log")
        ax.set_xlim(lo - 0.03 * (t_max - lo), t_max + 2 * width)
        ax.set_xlabel("spike time t (units of tau_c)")
        ax.set_ylabel("spikes (log scale)")
        frac = float(np.mean(~at_end)) if t.size else 0.0
        per_image = t.size // max(n_img, 1)
        ax.set_title(f"{name}: {per_image:,} neurons x {n_img} images\n{100 * frac:.1f}% fire before t_max",
                     fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    what = "Spike times of the hidden layers (histogram per layer)"
    _title(fig, what, caption)
    return _save(fig, path, what, f"{RUN_FIGURES['spike_times']} {caption}".strip(), drawn)


# -- raster -------------------------------------------------------------------------------
def _subsample(n, limit):
    if n <= limit:
        return np.arange(n), None
    idx = np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))
    return idx, f"{len(idx)} of {n:,} shown"


def raster(snap, path, caption="", image=0, max_neurons=RASTER_NEURONS):
    """One image's spikes through all layers: input spikes, then every hidden layer's.

    x = time, y = neuron index (flattened) within one band per layer; layers with more
    than ``max_neurons`` neurons are subsampled evenly (said on the band).  Each layer's
    window is shaded and labelled; spikes at the end of their window (code 0) are grey;
    the readout time of the output layer is marked.  Returns ``[png_path, svg_path]``.
    """
    names = [str(n) for n in snap["layer_names"]]
    n_img = _n_images(snap)
    if not 0 <= image < n_img:
        raise ValueError(f"image {image} is not in the snapshot ({n_img} images)")
    hidden = hidden_layer_names(snap)
    first = names[0]
    bands = [("input", np.asarray(snap[f"t_in/{first}"][image], np.float64).ravel(), _window(snap, first)[:2])]
    for name in hidden:
        t0, t_min, t_max = _window(snap, name)
        bands.append((name, np.asarray(snap[f"t_out/{name}"][image], np.float64).ravel(), (t_min, t_max)))
    fig = _figure(12.0, 1.6 + 1.5 * len(bands) + 0.6)
    ax = fig.subplots()
    drawn = 0
    ticks, labels = [], []
    for b, (name, t, (w_lo, w_hi)) in enumerate(bands):
        colour = COLOURS[b % len(COLOURS)]
        idx, note = _subsample(t.size, max_neurons)
        y = b + 0.05 + 0.9 * (np.arange(len(idx)) + 0.5) / len(idx)
        times = t[idx]
        silent = times >= w_hi - _tol(w_hi)
        big = len(idx) > 1000
        if np.any(~silent):
            ax.scatter(times[~silent], y[~silent], marker="|", s=30, linewidths=1.0, color=colour,
                       rasterized=big)
        if np.any(silent):
            ax.scatter(times[silent], y[silent], marker="|", s=30, linewidths=1.0, color=GREY, rasterized=big)
        drawn += len(idx)
        ticks.append(b + 0.5)
        what = f"{name}\n{t.size:,} neurons" + (f"\n({note})" if note else "")
        labels.append(what)
        ax.text(w_hi, b + 0.02, f"  neuron 0 .. {t.size - 1:,}  ({100 * np.mean(~silent):.0f}% before end)",
                fontsize=7, va="bottom", ha="left", color="#444444")
        if b:
            ax.axhline(b, color="#cccccc", lw=0.8)
    # Windows: input window, then each hidden layer's output window.
    spans = [("input", *_window(snap, first)[:2])] + [(n, *_window(snap, n)[1:]) for n in hidden]
    top = len(bands)
    for k, (name, lo, hi) in enumerate(spans):
        ax.axvspan(lo, hi, color=WINDOW_SHADES[k % 2], zorder=0)
        ax.text((lo + hi) / 2, top + 0.02, f"{name}\n[{lo:.3g}, {hi:.3g}]", ha="center", va="bottom", fontsize=8)
    out = [n for n in names if bool(snap[f"output_layer/{n}"])]
    if out:
        t_read = _window(snap, out[-1])[1]
        ax.axvline(t_read, color=COLOURS[3], lw=1.5, ls="--")
        ax.text(t_read, -0.05, f" readout of {out[-1]}\n t_min(N) = {t_read:.4g}", color=COLOURS[3],
                fontsize=8, va="top", ha="right")
    ax.set_ylim(-0.45, top + 0.45)
    ax.set_yticks(ticks, labels, fontsize=8)
    lo = spans[0][1]
    hi = max(s[2] for s in spans)
    ax.set_xlim(lo - 0.02 * (hi - lo), hi + 0.18 * (hi - lo))
    ax.set_xlabel("time t (units of tau_c); grey: spike at the end of its window (codes 0)")
    what = f"Spike raster of image {image} through all layers"
    _title(fig, what, caption)
    return _save(fig, path, what, f"{RUN_FIGURES['raster']} {caption}".strip(), drawn)


# -- potential traces ---------------------------------------------------------------------
def _neuron_label(index, shape):
    shape = tuple(int(d) for d in np.ravel(shape))
    if len(shape) <= 1:
        return f"neuron {index}"
    pos = np.unravel_index(int(index), shape)
    return f"neuron {index} (" + ", ".join(str(int(p)) for p in pos) + ")"


def potential_traces(snap, path, caption=""):
    """V(t) of the traced neurons: threshold dashed, window marked, spike where V reaches theta.

    One panel per neuron.  V is drawn solid up to the neuron's spike and faint after it
    (the neuron has fired; the potential is not used any more).  A neuron that never
    reaches theta fires at ``t_max`` (codes 0): marked with a cross at ``t_max``.
    Returns ``[png_path, svg_path]``.
    """
    if "trace/V" not in snap:
        raise ValueError("the snapshot has no potential traces (no hidden layer was traced)")
    t = np.asarray(snap["trace/t"], np.float64)
    v_all = np.atleast_2d(np.asarray(snap["trace/V"], np.float64))
    theta = np.asarray(snap["trace/theta"], np.float64)
    spikes = np.asarray(snap["trace/spike"], np.float64)
    neurons = np.asarray(snap["trace/neurons"])
    t0, t_min, t_max = (float(x) for x in snap["trace/window"])
    layer = str(snap["trace/layer"])
    shape = snap.get("trace/neuron_shape", np.asarray([len(neurons)]))
    nrows, ncols = _grid(len(neurons))
    fig = _figure(max(10.0, 4.2 * ncols), 1.8 + 3.0 * nrows)
    drawn = 0
    for k, ax in enumerate(_axes(fig, len(neurons))):
        colour = COLOURS[k % len(COLOURS)]
        v, th, s = v_all[k], theta[k], spikes[k]
        fired = s < t_max - _tol(t_max)
        ax.axvspan(t0, t_min, color="#eeeeee", zorder=0, label="inputs arrive")
        ax.axvspan(t_min, t_max, color="#eaf4ea", zorder=0, label="output window")
        before = t <= s
        ax.plot(t[before], v[before], color=colour, lw=1.6, label="V(t)")
        if np.any(~before):
            ax.plot(t[~before], v[~before], color=colour, lw=1.0, alpha=0.35)
        drawn += int(before.sum())
        ax.axhline(th, color=colour, ls="--", lw=1.2, label=f"theta = {th:.4g}")
        for x in (t_min, t_max):
            ax.axvline(x, color="#555555", lw=0.8)
        if fired:
            ax.plot([s], [th], marker="*", ms=14, color=COLOURS[3], mec="black", mew=0.6, ls="none",
                    label=f"spike t = {s:.4g}")
            status = f"spike at {s:.4g} (theta {th:.4g}), code t_max - t = {t_max - s:.4g}"
            if s < t_min - _tol(t_min):
                status += " (early: before t_min)"
        else:
            v_end = float(np.interp(t_max, t, v))
            ax.plot([t_max], [v_end], marker="X", ms=10, color=GREY, mec="black", mew=0.6, ls="none",
                    label="no crossing: fires at t_max")
            status = f"no crossing of theta {th:.4g}: fires at t_max (codes 0)"
        seen = v[before] if fired else v
        lo = min(0.0, float(seen.min()))
        hi = max(th, float(seen.max()))
        pad = 0.08 * (hi - lo if hi > lo else 1.0)
        ax.set_ylim(lo - pad, hi + 2.5 * pad)
        ax.set_xlim(t0, t_max + 0.02 * (t_max - t0))
        ax.set_title(f"{_neuron_label(neurons[k], shape)}\n{status}", fontsize=9)
        ax.set_xlabel("t (units of tau_c)", fontsize=8)
        ax.set_ylabel("V(t)", fontsize=8)
        ax.tick_params(labelsize=8)
        if k == 0 or not fired:
            ax.legend(fontsize=6.5, loc="lower right")
    note = str(snap.get("trace/note", ""))
    what = (f"Membrane potential of {len(neurons)} neurons of layer {layer}, image {int(snap['trace/image'])}; "
            f"window [{t0:.4g}, {t_min:.4g}] inputs, [{t_min:.4g}, {t_max:.4g}] output; {note}")
    _title(fig, what, caption)
    return _save(fig, path, what, f"{RUN_FIGURES['potential']} {caption}".strip(), drawn)


# -- exactness ----------------------------------------------------------------------------
def exactness_data(snap, name):
    """``relu(y)``, the spike code ``t_max - t``, and the masks of violations (a), (b) and OK."""
    t0, t_min, t_max = _window(snap, name)
    y = np.asarray(snap[f"y/{name}"], np.float64).ravel()
    t = np.asarray(snap[f"t_out/{name}"], np.float64).ravel()
    code = t_max - t
    tol = _tol(t_max)
    beyond = y > (t_max - t_min)
    early = (t < t_min - tol) & ~beyond
    ok = ~(beyond | early)
    return np.maximum(y, 0.0), code, beyond, early, ok


def exactness(snap, path, caption=""):
    """ReLU activation against the decoded spike code, per hidden layer, with the identity line.

    Top row: ``t_max - t`` against ``relu(y)`` (``y`` from the preprocessed ReLU layer on
    the decoded inputs); neurons violating MAPPING §3 (a) or (b) are marked and left out
    of the max |error|, as in :func:`snnmap.evaluate.evaluate`.  Bottom row: |error| on a
    log scale.  Returns ``[png_path, svg_path]``.
    """
    names = [n for n in _hidden(snap) if f"y/{n}" in snap]
    if not names:
        raise ValueError("the snapshot has no ReLU pre-activations y/...: take it with relu_model")
    fig = _figure(max(9.0, 4.4 * len(names)), 8.2)
    axes = fig.subplots(2, len(names), squeeze=False)
    rng = np.random.default_rng(0)
    drawn, overall = 0, 0.0
    for k, name in enumerate(names):
        relu, code, beyond, early, ok = exactness_data(snap, name)
        err = np.abs(code - relu)
        max_err = float(err[ok].max()) if np.any(ok) else float("nan")
        if np.any(ok):
            overall = max(overall, max_err)
        idx = np.arange(relu.size)
        note = ""
        if relu.size > SCATTER_POINTS:
            idx = np.sort(rng.choice(relu.size, SCATTER_POINTS, replace=False))
            note = f"\n{SCATTER_POINTS:,} of {relu.size:,} points drawn"
        sel_ok, sel_a, sel_b = ok[idx], beyond[idx], early[idx]
        top, bottom = axes[0, k], axes[1, k]
        colour = COLOURS[k % len(COLOURS)]
        big = len(idx) > 1000
        top.scatter(relu[idx][sel_ok], code[idx][sel_ok], s=6, color=colour, alpha=0.6, label="neurons",
                    rasterized=big)
        if np.any(sel_a):
            top.scatter(relu[idx][sel_a], code[idx][sel_a], s=14, marker="^", color=COLOURS[3],
                        label=f"(a) beyond window: {int(beyond.sum())}")
        if np.any(sel_b):
            top.scatter(relu[idx][sel_b], code[idx][sel_b], s=14, marker="v", color=COLOURS[1],
                        label=f"(b) early crossing: {int(early.sum())}")
        drawn += len(idx)
        hi = max(float(relu.max()), float(code.max()), 1e-12)
        lo = min(0.0, float(code.min()))
        top.plot([lo, hi], [lo, hi], color="black", lw=1.0, ls="--", label="identity")
        top.set_xlabel("relu(y): ReLU network")
        top.set_ylabel("t_max - t: SNN spike code")
        top.set_title(f"{name}: max |error| = {max_err:.3g}{note}", fontsize=10)
        top.legend(fontsize=7, loc="upper left")
        floor = 1e-18
        shown = np.maximum(err[idx][sel_ok], floor)
        bottom.scatter(relu[idx][sel_ok], shown, s=5, color=colour, alpha=0.6, rasterized=big)
        bottom.set_yscale("log")
        bottom.set_ylim(floor / 3, max(1e-12, float(shown.max()) * 30 if shown.size else 1.0))
        bottom.axhline(floor, color=GREY, lw=0.8, ls=":")
        bottom.set_xlabel("relu(y)")
        bottom.set_ylabel("|(t_max - t) - relu(y)|")
        bottom.set_title(f"|error| per neuron (0 drawn at {floor:g})", fontsize=9)
    what = (f"Exactness: ReLU activation vs decoded spike code, hidden layers; max |error| = {overall:.3g} "
            f"({_n_images(snap)} images)")
    noise = float(snap.get("meta/noise", 0.0))
    if noise > 0 or int(snap.get("meta/time_bits", 0)):
        what += (f"; y from the spikes each layer received BEFORE jitter/quantisation (noise={noise:g}, "
                 f"time_bits={int(snap.get('meta/time_bits', 0))}): the error shows their effect")
    _title(fig, what, caption)
    return _save(fig, path, what, f"{RUN_FIGURES['exactness']} {caption}".strip(), drawn)


# -- sweeps -------------------------------------------------------------------------------
def _num(value):
    if value is None:
        return float("nan")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return float("nan")


def _column(rows, key, fallback=None):
    out = []
    for row in rows:
        value = row.get(key)
        if (value is None or value == "") and fallback is not None:
            value = row.get(fallback)
        out.append(_num(value))
    return np.asarray(out, np.float64)


def _trial_count(row):
    """Trials behind a row: ``n_trials``, or ``trials`` as a count or a list of trial ids."""
    value = row.get("n_trials")
    if value in (None, ""):
        value = row.get("trials")
    if isinstance(value, (list, tuple)):
        return float(len(value))
    return _num(value)


def _knob_values(rows, knob):
    raw = [row.get(knob) for row in rows]
    nums = np.asarray([_num(v) for v in raw])
    if np.all(np.isfinite(nums)):
        return nums, None
    labels = [str(v) for v in raw]
    order = list(dict.fromkeys(labels))
    return np.asarray([order.index(label) for label in labels], np.float64), order


def sweep_plot(table, knob, path, caption="", group_by=None):
    """SNN accuracy and agreement against one knob, error bars = std over trials.

    Parameters
    ----------
    table : list of dict
        One row per setting, with keys ``knob``, ``accuracy_snn_mean``,
        ``accuracy_snn_std``, ``agreement_mean``, ``agreement_std``, ``accuracy_relu``
        and ``trials`` (a count or the list of trial ids; ``n_trials`` also counts).
        Values may be numbers or strings (a table read with ``csv.DictReader``);
        ``accuracy_snn`` / ``agreement`` stand in for missing means, a missing std counts
        as 0.  A knob with non-numeric values is drawn as categories.
    knob : str
    path : str
        Basename (``.png``/``.svg`` added).
    caption : str
    group_by : list of str, optional
        Other columns: one line per combination of their values.

    Returns ``[png_path, svg_path]``.
    """
    rows = [dict(r) for r in table]
    if not rows:
        raise ValueError("the sweep table is empty")
    if not any(knob in r for r in rows):
        raise ValueError(f"no column {knob!r} in the sweep table")
    rows = [r for r in rows if r.get(knob) not in (None, "")]
    group_by = [g for g in (group_by or []) if g != knob]
    groups = {}
    for row in rows:
        groups.setdefault(tuple(str(row.get(g)) for g in group_by), []).append(row)
    fig = _figure(12.0, 5.0)
    axes = fig.subplots(1, 2)
    panels = (("accuracy_snn", "accuracy (SNN vs labels)"), ("agreement", "agreement (SNN vs original ReLU argmax)"))
    x_all, cats = _knob_values(rows, knob)
    drawn = 0
    for p, (metric, label) in enumerate(panels):
        ax = axes[p]
        for g, (key, grows) in enumerate(groups.items()):
            x, _ = _knob_values(grows, knob)
            if cats is not None:
                x = np.asarray([cats.index(str(r.get(knob))) for r in grows], np.float64)
            mean = _column(grows, f"{metric}_mean", metric)
            std = np.nan_to_num(_column(grows, f"{metric}_std"), nan=0.0)
            order = np.argsort(x, kind="stable")
            ok = np.isfinite(mean[order])
            if not np.any(ok):
                continue
            name = ", ".join(f"{k}={v}" for k, v in zip(group_by, key)) if group_by else "SNN"
            ax.errorbar(x[order][ok], mean[order][ok], yerr=std[order][ok], marker="o", ms=5, capsize=4,
                        lw=1.5, color=COLOURS[g % len(COLOURS)], label=name)
            drawn += int(ok.sum())
        if metric == "accuracy_snn":
            relu = _column(rows, "accuracy_relu")
            for r, value in enumerate(sorted({float(v) for v in relu[np.isfinite(relu)]})):
                ax.axhline(value, color="black", ls="--", lw=1.2,
                           label=f"ReLU network: {value:.4f}" if r == 0 else None)
        else:
            ax.axhline(1.0, color="black", ls=":", lw=1.0, label="full agreement")
        if cats is not None:
            ax.set_xticks(range(len(cats)), cats)
        else:
            pos = x_all[np.isfinite(x_all)]
            if pos.size and np.all(pos > 0) and pos.max() / pos.min() >= 100:
                ax.set_xscale("log")
        ax.set_xlabel(knob)
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=10)
        ax.grid(True, color="#e5e5e5", lw=0.6)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    trials = np.asarray([_trial_count(r) for r in rows], np.float64)
    trials = trials[np.isfinite(trials)]
    if trials.size:
        lo, hi = int(trials.min()), int(trials.max())
        tr = f"{lo}" if lo == hi else f"{lo}-{hi}"
        bars = f"error bars: std over {tr} trial(s) per point"
    else:
        bars = "error bars: std over trials (count not given)"
    what = f"Accuracy and agreement against {knob}; {bars}"
    _title(fig, what, caption)
    return _save(fig, path, what, f"SNN accuracy and agreement with the original ReLU network against "
                 f"{knob}; {bars}; dashed line: accuracy of the ReLU network. {caption}".strip(), drawn)


# -- all figures of a run -----------------------------------------------------------------
def all_run_figures(snap, out_dir, stem, caption=""):
    """Every figure a snapshot supports, as ``<out_dir>/<stem>_<kind>.png|svg``.

    Kinds (see :data:`RUN_FIGURES`): ``spike_times`` and ``raster`` (if the model has a
    hidden layer), ``potential`` (if the snapshot has traces), ``exactness`` (if it has
    ``y``).  Returns the list of written paths (PNG and SVG of each).
    """
    os.makedirs(os.fspath(out_dir), exist_ok=True)
    base = lambda kind: os.path.join(os.fspath(out_dir), f"{stem}_{kind}")  # noqa: E731
    paths = []
    hidden = hidden_layer_names(snap)
    if hidden:
        paths += spike_time_histograms(snap, base("spike_times"), caption)
        paths += raster(snap, base("raster"), caption, image=int(snap.get("trace/image", 0)))
    if "trace/V" in snap:
        paths += potential_traces(snap, base("potential"), caption)
    if any(f"y/{n}" in snap for n in hidden):
        paths += exactness(snap, base("exactness"), caption)
    if not paths:
        raise ValueError("the snapshot supports no figure (no hidden spiking layer)")
    return paths
