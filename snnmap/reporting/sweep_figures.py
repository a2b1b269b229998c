"""The figure of a sweep: SNN accuracy and agreement against one knob, mean ± std over trials.

Drawn from a sweep table (the ``rows`` of a sweep JSON, or a ``sweep.csv`` read with
``csv.DictReader``) on the canvas of :mod:`snnmap.reporting.canvas`.
"""

from __future__ import annotations

import numpy as np

from .canvas import COLOURS, headline, new_figure, save


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


#: The axis label of each knob, with its unit (docs/method.md §6).
KNOB_LABELS = {"noise": "noise σ (τ_c)", "alpha_noise": "alpha noise σ (relative)", "zeta": "ζ (window margin)",
               "time_bits": "time bits", "weight_bits": "weight bits", "w_min": "w_min (weight units)",
               "w_max": "w_max (weight units)", "x_quantile": "x_quantile (quantile of the activations)",
               "rate_T": "time steps T (rate SNN)", "rate_normalisation": "normalisation (rate SNN)"}


def knob_label(knob):
    """The axis label of a sweep's knob, with its unit (the knob's name for an unknown column).

    Parameters
    ----------
    knob : str
    """
    return KNOB_LABELS.get(knob, knob)


def error_bars_text(rows):
    """What a sweep figure's error bars are: the sample std over N trials, or none (one trial).

    Parameters
    ----------
    rows : list of dict
        The sweep's rows (``n_trials`` or ``trials``).
    """
    trials = np.asarray([_trial_count(r) for r in rows], np.float64)
    trials = trials[np.isfinite(trials)]
    if not trials.size:
        return "error bars: std over trials (count not given)"
    lo, hi = int(trials.min()), int(trials.max())
    if hi < 2:
        return "one trial per point: no error bars"
    tr = f"{lo}" if lo == hi else f"{lo}-{hi}"
    none = "; none where a point has one trial" if lo < 2 else ""
    return f"error bars: sample std (ddof=1) over {tr} trials per point{none}"


def _knob_values(rows, knob):
    raw = [row.get(knob) for row in rows]
    nums = np.asarray([_num(v) for v in raw])
    if np.all(np.isfinite(nums)):
        return nums, None
    labels = [str(v) for v in raw]
    order = list(dict.fromkeys(labels))
    return np.asarray([order.index(label) for label in labels], np.float64), order


def _sweep_panel(ax, rows, groups, knob, group_by, metric, label):
    """One panel of :func:`sweep_plot`: ``metric`` (mean ± std) against ``knob``, one line per group.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    rows : list of dict
        Every row of the table (the ReLU accuracy lines come from all of them).
    groups : dict of tuple -> list of dict
        The rows by their values of ``group_by``.
    knob : str
    group_by : list of str
    metric : str
        ``accuracy_snn`` (drawn with the ReLU network's accuracy, dashed) or ``agreement``
        (drawn with the line of full agreement).
    label : str
        The y axis label and panel title.

    Returns
    -------
    int
        The number of points drawn.
    """
    x_all, cats = _knob_values(rows, knob)
    drawn = 0
    for g, (key, grows) in enumerate(groups.items()):
        x, _ = _knob_values(grows, knob)
        if cats is not None:
            x = np.asarray([cats.index(str(r.get(knob))) for r in grows], np.float64)
        mean = _column(grows, f"{metric}_mean", metric)
        std = _column(grows, f"{metric}_std")
        # One trial has no spread to show: no bar, rather than a bar of 0 that reads as a measurement.
        single = np.asarray([_trial_count(r) < 2 for r in grows])
        std = np.where(single, np.nan, std)
        order = np.argsort(x, kind="stable")
        ok = np.isfinite(mean[order])
        if not np.any(ok):
            continue
        name = ", ".join(f"{k}={v}" for k, v in zip(group_by, key)) if group_by else "SNN"
        yerr = std[order][ok]
        ax.errorbar(x[order][ok], mean[order][ok], yerr=None if np.all(np.isnan(yerr)) else np.nan_to_num(yerr),
                    marker="o", ms=5, capsize=4, lw=1.5, color=COLOURS[g % len(COLOURS)], label=name)
        drawn += int(ok.sum())
    if metric == "accuracy_snn":
        relu = _column(rows, "accuracy_relu")
        for r, value in enumerate(sorted({float(v) for v in relu[np.isfinite(relu)]})):
            ax.axhline(value, color="black", ls="--", lw=1.2, label=f"ReLU network: {value:.4f}" if r == 0 else None)
    else:
        ax.axhline(1.0, color="black", ls=":", lw=1.0, label="full agreement")
    if cats is not None:
        ax.set_xticks(range(len(cats)), cats)
    else:
        pos = x_all[np.isfinite(x_all)]
        if pos.size and np.all(pos > 0) and pos.max() / pos.min() >= 100:
            ax.set_xscale("log")
    ax.set_xlabel(knob_label(knob))
    ax.set_ylabel(label)
    ax.set_title(label, fontsize=10)
    ax.grid(True, color="#e5e5e5", lw=0.6)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    return drawn


def sweep_plot(table, knob, path, caption="", group_by=None):
    """SNN accuracy and agreement against one knob, error bars = sample std over trials (none for one trial).

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
        The column on the x axis.
    path : str or os.PathLike
        Basename (``.png``/``.svg`` added).
    caption : str
        The sweep's caption (model, data, fixed settings).
    group_by : list of str, optional
        Other columns: one line per combination of their values.

    Returns
    -------
    list of str
        ``[png_path, svg_path]``.
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
    fig = new_figure(12.0, 5.0)
    axes = fig.subplots(1, 2)
    panels = (("accuracy_snn", "accuracy (SNN vs labels)"), ("agreement", "agreement (SNN vs original ReLU argmax)"))
    drawn = 0
    for ax, (metric, label) in zip(axes, panels):
        drawn += _sweep_panel(ax, rows, groups, knob, group_by, metric, label)
    bars = error_bars_text(rows)
    what = f"Accuracy and agreement against {knob_label(knob)}"
    headline(fig, what, "")
    return save(fig, path, what, f"SNN accuracy and agreement with the original ReLU network against "
                f"{knob_label(knob)}; {bars}; dashed line: accuracy of the ReLU network. {caption}".strip(), drawn)
