"""The readable table of a sweep, as printed by ``python -m snnmap.sweep`` (:func:`table_lines`)."""

from __future__ import annotations

from . import naming


def _show(value):
    """A value as it is printed: ``0.05``, ``-1``, ``none``."""
    if value is None:
        return "none"
    return format(value, "g") if isinstance(value, float) else str(value)


def _pm(row, metric, fmt, scale=1.0):
    """``mean +- std``; the mean alone where there is no std (one trial)."""
    mean, std = row[f"{metric}_mean"], row.get(f"{metric}_std")
    if mean is None:
        return "n/a"
    if std is None:
        return format(mean * scale, fmt)
    return f"{format(mean * scale, fmt)} +- {format(std * scale, fmt)}"


def _perturbed(row) -> bool:
    return bool(naming.perturbations(row.get("settings")))


def _error_names(rows):
    """Headers of the two error columns: exactness for unperturbed rows, deviation for perturbed ones
    (marked ``*`` when the table mixes both)."""
    kinds = {_perturbed(r) for r in rows}
    if kinds == {True}:
        return "deviation vs original", "deviation of codes"
    if kinds == {True, False}:
        return "max |error| / deviation* vs original", "max |error| / deviation*"
    return "max |error| vs original", "max |error|"


def _error_cell(row, key, mixed):
    value = row.get(f"{key}_mean")
    if value is None:
        return "n/a"
    return f"{value:.2e}" + ("*" if mixed and _perturbed(row) else "")


def _columns(knobs, rows=()):
    """(header, cell of a row) of the printed table; ``rows`` name the error columns (:func:`_error_names`)."""
    original, codes = _error_names(rows)
    mixed = "*" in original
    cols = [(_knob_header(k), lambda r, k=k: _show(r[k])) for k in knobs]
    return cols + [
        ("n", lambda r: str(r["n_trials"])),
        ("accuracy SNN", lambda r: _pm(r, "accuracy_snn", ".4f")),
        ("agreement", lambda r: _pm(r, "agreement", ".4f")),
        ("violations (a/b)", lambda r: "n/a" if r["violations_mean"] is None else
         f"{r['violations_mean']:g} ({r['violations_a_mean']:g}/{r['violations_b_mean']:g})"),
        ("latency (tau_c)", lambda r: "n/a" if r["latency_mean"] is None else f"{r['latency_mean']:.3f}"),
        ("informative %", lambda r: _pm(r, "informative_spike_fraction", ".2f", 100.0)),
        (original, lambda r: _error_cell(r, "max_abs_error_original", mixed)),
        (codes, lambda r: _error_cell(r, "max_abs_error", mixed)),
    ]


#: Units of the knobs, in table headers (docs/method.md §6).
KNOB_UNITS = {"noise": "tau_c", "w_min": "weight", "w_max": "weight", "time_bits": "bits", "weight_bits": "bits"}


def _knob_header(knob):
    unit = KNOB_UNITS.get(knob)
    return f"{knob} ({unit})" if unit else knob


def aligned_rows(columns, rows) -> list:
    """A header, a rule and one line per row, each column right-aligned to its widest cell.

    Parameters
    ----------
    columns : list of (str, callable)
        Each column's header and the function that gives a row's cell (a string).
    rows : list of dict
    """
    cells = [[name for name, _ in columns]] + [[f(row) for _, f in columns] for row in rows]
    widths = [max(len(c[j]) for c in cells) for j in range(len(columns))]
    lines = []
    for k, c in enumerate(cells):
        lines.append("  " + "  ".join(v.rjust(w) for v, w in zip(c, widths)))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def table_lines(table) -> list:
    """The readable table of a sweep.

    Parameters
    ----------
    table : dict
        What :func:`run_sweep` returns (or ``sweep.json``'s content).
    """
    knobs = list(table["grid"])
    fixed = {k: v for k, v in table["fixed_settings"].items() if k not in knobs and v is not None}
    relu = table.get("accuracy_relu")
    lines = [
        f"sweep {table['sweep_name']}: SNN of {table['model_name']} on {table['data_description']}",
        "  fixed: " + " ".join(f"{k}={v}" for k, v in fixed.items()),
        "  grid: " + "; ".join(f"{k} = {', '.join(_show(v) for v in vals)}" for k, vals in table["grid"].items())
        + f"; {table['trials']} trial(s) per point "
        + ("(mean +- sample std, ddof=1, over trials)" if table["trials"] >= 2 else "(one trial: no std)"),
        f"  accuracy (ReLU): {'n/a' if relu is None else format(relu, '.4f')} (original network, same images)",
    ]
    lines += aligned_rows(_columns(knobs, table["rows"]), table["rows"])
    lines.append("  (violations: mean count per run of hidden neurons beyond the window (a) / crossing early (b); "
                 "latency in tau_c; vs original: max |SNN logits - the original network's| (n/a: phase 1 "
                 "stored no logits, run it again); codes: vs the preprocessed ReLU, neurons without violations)")
    if any(_perturbed(r) for r in table["rows"]):
        lines.append("  (deviation: on a perturbed point (noise, alpha_noise, time_bits, weight_bits or x_quantile "
                     "< 1) the same measures are the deviation the perturbation causes, not exactness)")
    return lines
