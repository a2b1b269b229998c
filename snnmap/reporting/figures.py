"""Pictures of a run: spike-time histograms, a raster, potential traces, exactness.

Every function draws from a snapshot (:mod:`snnmap.pipeline.snapshot`) on the canvas of
:mod:`snnmap.reporting.canvas`, writes the figure as ``<path>.png`` and ``<path>.svg`` and
returns both paths.  Every figure is titled with what it shows and with ``caption``, the
data description and settings of the run; the same text is stored in the files'
metadata, where :mod:`snnmap.reporting.markup` reads it back for the page.  Dense and
convolutional layers are handled alike: neuron axes are flattened.  The figure of a sweep
is :func:`sweep_plot` (from :mod:`snnmap.reporting.sweep_figures`).
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from ..pipeline.snapshot import hidden_layer_names
from .canvas import COLOURS, GREY, WINDOW_SHADES, axes_grid, grid_shape, headline, new_figure, save
from .sweep_figures import sweep_plot

__all__ = ["DRAW_RUN_FIGURE", "RUN_FIGURES", "all_run_figures", "exactness", "exactness_data", "potential_traces",
           "raster", "run_figure_kinds", "spike_time_histograms", "step", "sweep_plot"]

#: Largest number of neurons of one layer drawn in a raster, and of points in a scatter.
RASTER_NEURONS = 300
SCATTER_POINTS = 20000

#: Names of the figures of a run, in report order, and what they show.
RUN_FIGURES = {
    "spike_times": "Histograms of the hidden layers' spike times over the snapshot images, "
                   "with each layer's window [t_min, t_max].",
    "raster": "One image's spikes through all layers (time on x, neurons on y), each layer's "
              "output window shaded.",
    "potential": "Exact membrane potential V(t) of a few neurons of one hidden layer (docs/method.md §2), "
                 "threshold dashed, spike marked where V reaches theta.",
    "exactness": "ReLU activation relu(y) of the preprocessed network against the SNN's decoded "
                 "spike code t_max - t, hidden layers; window violations marked.",
}


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
    neuron crossed threshold before ``t_min``: docs/method.md §3 (b)).

    Spikes before ``t_max`` (informative) and spikes at ``t_max`` (code 0) are drawn in
    different colours; the counts use a log scale so that both show.

    Parameters
    ----------
    snap : dict
        A snapshot (:func:`snnmap.pipeline.snapshot.take_snapshot` or ``load_snapshot``).
    path : str or os.PathLike
        The basename of the two files (``.png``/``.svg`` added).
    caption : str
        The run's caption (data, settings), under the figure's title and in its metadata.

    Returns
    -------
    list of str
        ``[png_path, svg_path]``.
    """
    names = _hidden(snap)
    n_img = _n_images(snap)
    nrows, ncols = grid_shape(len(names))
    fig = new_figure(max(10.0, 4.2 * ncols), 1.6 + 3.2 * nrows)
    drawn = 0
    for k, (ax, name) in enumerate(zip(axes_grid(fig, len(names)), names)):
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
        ax.set_xlabel("spike time t (τ_c)")
        ax.set_ylabel("spikes (log scale)")
        frac = float(np.mean(~at_end)) if t.size else 0.0
        per_image = t.size // max(n_img, 1)
        ax.set_title(f"{name}: {per_image:,} neurons x {n_img} images\n{100 * frac:.1f}% fire before t_max",
                     fontsize=10)
        # Below the axes: inside, the legend covered the t_min line at the left edge.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    what = "Spike times per hidden layer"
    headline(fig, what)
    return save(fig, path, what, f"{RUN_FIGURES['spike_times']} {caption}".strip(), drawn)


# -- raster -------------------------------------------------------------------------------
def _subsample(n, limit):
    if n <= limit:
        return np.arange(n), None
    idx = np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))
    return idx, f"{len(idx)} of {n:,} shown"


def _raster_windows(ax, snap, names, top):
    """Shade the input window and each hidden layer's output window above band ``top``, and mark
    the readout; returns the spans ``[(name, start, end)]``."""
    first = names[0]
    hidden = hidden_layer_names(snap)
    spans = [("input", *_window(snap, first)[:2])] + [(n, *_window(snap, n)[1:]) for n in hidden]
    for k, (name, lo, hi) in enumerate(spans):
        ax.axvspan(lo, hi, color=WINDOW_SHADES[k % 2], zorder=0)
        ax.text((lo + hi) / 2, top + 0.02, f"{name}\n[{lo:.3g}, {hi:.3g}]", ha="center", va="bottom", fontsize=8)
    out = [n for n in names if bool(snap[f"output_layer/{n}"])]
    if out:
        t_read = _window(snap, out[-1])[1]
        ax.axvline(t_read, color=COLOURS[3], lw=1.5, ls="--")
        # Left of the line, clear of it: the dashed line no longer runs through the last letters.
        ax.text(t_read, -0.05, f"readout of {out[-1]}  \nt_min(N) = {t_read:.4g}  ", color=COLOURS[3],
                fontsize=8, va="top", ha="right")
    return spans


def raster(snap, path, caption="", image=0, max_neurons=RASTER_NEURONS):
    """One image's spikes through all layers: input spikes, then every hidden layer's.

    x = time, y = neuron index (flattened) within one band per layer; layers with more
    than ``max_neurons`` neurons are subsampled evenly (said on the band).  Each layer's
    window is shaded and labelled; spikes at the end of their window (code 0) are grey;
    the readout time of the output layer is marked.

    Parameters
    ----------
    snap : dict
        A snapshot (:func:`snnmap.pipeline.snapshot.take_snapshot` or ``load_snapshot``).
    path : str or os.PathLike
        The basename of the two files (``.png``/``.svg`` added).
    caption : str
        The run's caption (data, settings), under the figure's title and in its metadata.
    image : int
        Which snapshot image.
    max_neurons : int
        The most neurons drawn per layer.

    Returns
    -------
    list of str
        ``[png_path, svg_path]``.
    """
    names = [str(n) for n in snap["layer_names"]]
    n_img = _n_images(snap)
    if not 0 <= image < n_img:
        raise ValueError(f"image {image} is not in the snapshot ({n_img} images)")
    hidden = hidden_layer_names(snap)
    first = names[0]
    t_input = snap["t_input"] if "t_input" in snap else snap[f"t_in/{first}"]  # older snapshots: the first layer's
    bands = [("input", np.asarray(t_input[image], np.float64).ravel(), _window(snap, first)[:2])]
    for name in hidden:
        t0, t_min, t_max = _window(snap, name)
        bands.append((name, np.asarray(snap[f"t_out/{name}"][image], np.float64).ravel(), (t_min, t_max)))
    fig = new_figure(12.0, 1.6 + 1.5 * len(bands) + 0.6)
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
        # On a white box: at the last layer's t_max the readout line and the grey spikes meet the note.
        ax.text(w_hi, b + 0.02, f" neuron 0 .. {t.size - 1:,}  ({100 * np.mean(~silent):.0f}% before end)",
                fontsize=7, va="bottom", ha="left", color="#444444",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        if b:
            ax.axhline(b, color="#cccccc", lw=0.8)
    top = len(bands)
    spans = _raster_windows(ax, snap, names, top)
    ax.set_ylim(-0.45, top + 0.45)
    ax.set_yticks(ticks, labels, fontsize=8)
    lo = spans[0][1]
    hi = max(s[2] for s in spans)
    ax.set_xlim(lo - 0.02 * (hi - lo), hi + 0.18 * (hi - lo))
    ax.set_xlabel("time t (τ_c); grey: spike at the end of its window (codes 0)")
    what = f"Spike raster, image {image}"
    headline(fig, what)
    return save(fig, path, what, f"{RUN_FIGURES['raster']} {caption}".strip(), drawn)


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

    Parameters
    ----------
    snap : dict
        A snapshot (:func:`snnmap.pipeline.snapshot.take_snapshot` or ``load_snapshot``).
    path : str or os.PathLike
        The basename of the two files (``.png``/``.svg`` added).
    caption : str
        The run's caption (data, settings), under the figure's title and in its metadata.
        The snapshot must hold traces (``trace/V``, ``trace/t``, ``trace/theta``, ...).

    Returns
    -------
    list of str
        ``[png_path, svg_path]``.
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
    nrows, ncols = grid_shape(len(neurons))
    fig = new_figure(max(10.0, 4.2 * ncols), 1.8 + 3.0 * nrows)
    drawn = 0
    for k, ax in enumerate(axes_grid(fig, len(neurons))):
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
        ax.set_xlabel("t (τ_c)", fontsize=8)
        ax.set_ylabel("V(t)", fontsize=8)
        ax.tick_params(labelsize=8)
        if k == 0 or not fired:
            ax.legend(fontsize=6.5, loc="best")  # a fixed corner covered traces that stay low
    note = str(snap.get("trace/note", ""))
    what = f"Membrane potential V(t), layer {layer}, image {int(snap['trace/image'])}"
    details = (f"{len(neurons)} neurons; inputs in [{t0:.4g}, {t_min:.4g}] τ_c, output window [{t_min:.4g}, "
               f"{t_max:.4g}] τ_c; {note}").strip().rstrip(";")
    headline(fig, what)
    return save(fig, path, what, f"{RUN_FIGURES['potential']} {details}. {caption}".strip(), drawn)


# -- exactness ----------------------------------------------------------------------------
def exactness_data(snap, name):
    """``relu(y)``, the spike code ``t_max - t``, and the masks of violations (a), (b) and OK.

    Parameters
    ----------
    snap : dict
        A snapshot taken with the ReLU network (it holds ``y/<name>``).
    name : str
        A hidden layer.

    Returns
    -------
    tuple of numpy.ndarray
        ``relu(y)``, ``t_max - t``, then boolean masks: (a) ``y > B_n``, (b) a spike before
        ``t_min`` without (a), and neither (docs/method.md §3); all flattened over images and neurons.
    """
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
    the decoded inputs); neurons violating docs/method.md §3 (a) or (b) are marked and left out
    of the max |error|, as in :func:`snnmap.evaluate`.  Bottom row: |error| on a
    log scale.

    Parameters
    ----------
    snap : dict
        A snapshot (:func:`snnmap.pipeline.snapshot.take_snapshot` or ``load_snapshot``).
    path : str or os.PathLike
        The basename of the two files (``.png``/``.svg`` added).
    caption : str
        The run's caption (data, settings), under the figure's title and in its metadata.

    Returns
    -------
    list of str
        ``[png_path, svg_path]``.
    """
    names = [n for n in _hidden(snap) if f"y/{n}" in snap]
    if not names:
        raise ValueError("the snapshot has no ReLU pre-activations y/...: take it with relu_model")
    perturbed = snapshot_perturbations(snap)
    measure = "max deviation" if perturbed else "max |error|"
    fig = new_figure(max(9.0, 4.4 * len(names)), 8.2)
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
        top.set_title(f"{name}: {measure} = {max_err:.3g}{note}", fontsize=10)
        top.legend(fontsize=7, loc="upper left")
        floor = 1e-18
        shown = np.maximum(err[idx][sel_ok], floor)
        bottom.scatter(relu[idx][sel_ok], shown, s=5, color=colour, alpha=0.6, rasterized=big)
        bottom.set_yscale("log")
        bottom.set_ylim(floor / 3, max(1e-12, float(shown.max()) * 30 if shown.size else 1.0))
        bottom.axhline(floor, color=GREY, lw=0.8, ls=":")
        bottom.set_xlabel("relu(y)")
        bottom.set_ylabel("|(t_max - t) - relu(y)|")
        bottom.set_title(f"|{'deviation' if perturbed else 'error'}| per neuron (0 drawn at {floor:g})", fontsize=9)
    if perturbed:
        what = f"Deviation caused by {', '.join(perturbed)}: ReLU vs SNN spike code"
        details = (f"max deviation = {overall:.3g} over {_n_images(snap)} images; y from the spikes each layer "
                   "received BEFORE the perturbation: the difference is the perturbation's effect, not an "
                   "exactness figure.")
    else:
        what = "Exactness: ReLU vs SNN spike code"
        details = f"max |error| = {overall:.3g} over {_n_images(snap)} images."
    headline(fig, what)
    return save(fig, path, what, f"{RUN_FIGURES['exactness']} {details} {caption}".strip(), drawn)


def snapshot_perturbations(snap):
    """The perturbations a snapshot's SNN ran with, as ``"knob=value"`` (empty: none).

    Parameters
    ----------
    snap : dict
        A snapshot (its ``meta/noise``, ``meta/alpha_noise``, ``meta/time_bits``, ``meta/weight_bits``).
    """
    found = []
    for key in ("noise", "alpha_noise", "time_bits", "weight_bits"):
        value = snap.get(f"meta/{key}")
        if value is not None and float(value) != 0:
            found.append(f"{key}={float(value):g}" if "noise" in key else f"{key}={int(value)}")
    return found


# -- all figures of a run -----------------------------------------------------------------
def run_figure_kinds(snap):
    """The kinds of :data:`RUN_FIGURES` a snapshot supports, in page order.

    ``spike_times`` and ``raster`` need a hidden layer, ``potential`` the traces
    (``trace/V``), ``exactness`` the ReLU pre-activations ``y`` of a hidden layer.

    Parameters
    ----------
    snap : dict
        A snapshot.
    """
    hidden = hidden_layer_names(snap)
    kinds = ["spike_times", "raster"] if hidden else []
    if "trace/V" in snap:
        kinds.append("potential")
    if any(f"y/{n}" in snap for n in hidden):
        kinds.append("exactness")
    return kinds


#: How each kind of :data:`RUN_FIGURES` is drawn: ``(snap, basename, caption) -> paths``.
DRAW_RUN_FIGURE = {
    "spike_times": spike_time_histograms,
    "raster": lambda snap, path, caption: raster(snap, path, caption, image=int(snap.get("trace/image", 0))),
    "potential": potential_traces,
    "exactness": exactness,
}


@contextlib.contextmanager
def step(label, verbose="auto"):
    """Say what a report is writing, then how long it took: ``report: <label> ... 1.2 s``.

    Figures and pages take seconds each (tens for a run's report), so each step is a line of
    its own, printed as it starts.

    Parameters
    ----------
    label : str
        What the step writes.
    verbose : "auto", 0, 1 or 2
        0: say nothing.
    """
    start = time.perf_counter()
    if verbose != 0:
        print(f"report: {label} ...", end="", flush=True)
    try:
        yield
    finally:
        if verbose != 0:
            print(f" {time.perf_counter() - start:.1f} s", flush=True)


def all_run_figures(snap, out_dir, stem, caption="", verbose=0):
    """Every figure a snapshot supports, as ``<out_dir>/<stem>_<kind>.png|svg``.

    Kinds (see :data:`RUN_FIGURES` and :func:`run_figure_kinds`): ``spike_times`` and
    ``raster`` (if the model has a hidden layer), ``potential`` (if the snapshot has
    traces), ``exactness`` (if it has ``y``).  Each file is written atomically, so an
    interrupted call leaves whole figures (some of them) and no temporary file; the page
    (:func:`snnmap.reporting.artifacts.run_figures`) redraws the missing ones.

    Parameters
    ----------
    snap : dict
        A snapshot.
    out_dir : str or os.PathLike
        Created if missing.
    stem : str
        The results file's name without ``.json``.
    caption : str
        The run's caption, on every figure.
    verbose : "auto", 0, 1 or 2
        Not 0: one line per figure as it is drawn (:func:`step`).

    Returns
    -------
    list of str
        The written paths (PNG and SVG of each figure).
    """
    kinds = run_figure_kinds(snap)
    if not kinds:
        raise ValueError("the snapshot supports no figure (no hidden spiking layer)")
    os.makedirs(os.fspath(out_dir), exist_ok=True)
    paths = []
    for number, kind in enumerate(kinds, 1):
        with step(f"figure {number} of {len(kinds)}, {kind}", verbose):
            paths += DRAW_RUN_FIGURE[kind](snap, os.path.join(os.fspath(out_dir), f"{stem}_{kind}"), caption)
    return paths
