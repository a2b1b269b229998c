"""The figures of a comparison (:func:`snnmap.experiments.compare.run_compare`): the exact SNN against
rate-coded variants, by time steps, by spikes per neuron, and in synaptic events and energy per image.

The exact single-spike SNN has no time steps: it is drawn as its own point (a star at one spike per
neuron) or as a dashed line across the T axis; the ReLU network's accuracy and energy as grey lines.
"""

from __future__ import annotations

from .canvas import COLOURS, GREY, headline, new_figure, save


def _rows(rows, method):
    return [r for r in rows if r.get("method") == method]


def _by_variant(rows):
    out = {}
    for r in _rows(rows, "rate"):
        out.setdefault(r["variant"], []).append(r)
    return {k: sorted(v, key=lambda r: r["T"]) for k, v in out.items()}


def _style(i):
    # Ten colours, then dashes, so twenty variants stay apart.
    return {"color": COLOURS[i % len(COLOURS)], "linestyle": "-" if i < len(COLOURS) else "--"}


def _lines(ax, rows, x_key, y_key):
    drawn = 0
    for i, (variant, vrows) in enumerate(_by_variant(rows).items()):
        pts = [(r[x_key], r[y_key]) for r in vrows if r.get(x_key) is not None and r.get(y_key) is not None]
        if pts:
            ax.plot(*zip(*pts), marker=".", markersize=4, linewidth=1.2, label=variant, **_style(i))
            drawn += 1
    return drawn


def _exact_line(ax, rows, key, label):
    drawn = 0
    for r in _rows(rows, "exact"):
        if r.get(key) is not None:
            ax.axhline(r[key], color="black", linestyle="--", linewidth=1.5, label=label)
            drawn += 1
    return drawn


def _relu_line(ax, rows, key, label):
    for r in _rows(rows, "relu"):
        if r.get(key) is not None:
            ax.axhline(r[key], color=GREY, linestyle=":", linewidth=1.5, label=label)
            return 1
    return 0


def accuracy_against_T(rows, path, caption=""):
    """Accuracy and agreement of every rate variant against T, the exact SNN and the ReLU network as lines.

    Parameters
    ----------
    rows : list of dict
        The comparison's table (``result["rows"]``).
    path : str
        Basename of the PNG and SVG.
    caption : str
        Model, data and test images, for the figure's description.
    """
    fig = new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2)
    drawn = 0
    for ax, key, label in ((axes[0], "accuracy", "accuracy (vs labels)"),
                           (axes[1], "agreement", "agreement (vs original ReLU argmax)")):
        drawn += _lines(ax, rows, "T", key)
        drawn += _exact_line(ax, rows, key, "exact SNN (one spike per neuron)")
        if key == "accuracy":
            _relu_line(ax, rows, key, "ReLU network")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("time steps T")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    what = "Accuracy and agreement against time steps"
    headline(fig, what)
    return save(fig, path, what, f"{what}: rate-coded SNNs (one line per variant) and the exact SNN (dashed). "
                + caption, drawn)


def agreement_against_spikes(rows, path, caption=""):
    """Agreement against spikes per hidden neuron per image; the exact SNN is its own point at one spike.

    Parameters
    ----------
    rows : list of dict
    path : str
    caption : str
    """
    fig = new_figure(8.0, 5.2)
    ax = fig.subplots(1, 1)
    drawn = _lines(ax, rows, "spikes_per_neuron", "agreement")
    for r in _rows(rows, "exact"):
        if r.get("spikes_per_neuron") is not None and r.get("agreement") is not None:
            ax.plot([r["spikes_per_neuron"]], [r["agreement"]], marker="*", markersize=16, color="black",
                    linestyle="none", label="exact SNN")
            drawn += 1
    ax.set_xscale("log")
    ax.set_xlabel("spikes per hidden neuron per image")
    ax.set_ylabel("agreement (vs original ReLU argmax)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    what = "Agreement against spikes per neuron"
    headline(fig, what)
    return save(fig, path, what, f"{what}: each rate variant along its time steps; the exact SNN fires one spike "
                "per neuron. " + caption, drawn)


def cost_against_T(rows, path, caption=""):
    """Synaptic events and estimated energy per image against T; exact SNN and ReLU network as lines.

    Parameters
    ----------
    rows : list of dict
    path : str
    caption : str
    """
    fig = new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2)
    drawn = 0
    for ax, key, label in ((axes[0], "synaptic_events", "synaptic events per image"),
                           (axes[1], "energy", "energy estimate per image (pJ)")):
        drawn += _lines(ax, rows, "T", key)
        drawn += _exact_line(ax, rows, key, "exact SNN")
        if key == "energy":
            _relu_line(ax, rows, key, "ReLU network (MACs)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("time steps T")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=7, loc="lower right")
    what = "Synaptic events and energy per image against time steps"
    headline(fig, what)
    return save(fig, path, what, f"{what} (arithmetic only: MACs x mac_pj, synaptic events x add_pj; a constant "
                "input current costs the first layer's MACs once). " + caption, drawn)


#: The figures of a comparison page, in order: (file suffix, function).
FIGURES = (("_accuracy_T", accuracy_against_T), ("_agreement_spikes", agreement_against_spikes),
           ("_cost_T", cost_against_T))
