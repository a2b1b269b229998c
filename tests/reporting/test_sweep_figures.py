"""The figure of a sweep: accuracy and agreement against a knob, from rows or a CSV table."""

import csv
import os

import pytest

from snnmap.reporting import figures


def _sweep_rows():
    rows = []
    for noise, acc, agr in ((0.0, 0.95, 1.0), (0.05, 0.94, 0.98), (0.1, 0.92, 0.96), (0.2, 0.87, 0.91)):
        rows.append({"noise": noise, "accuracy_snn_mean": acc, "accuracy_snn_std": noise / 20,
                     "agreement_mean": agr, "agreement_std": noise / 25, "accuracy_relu": 0.95, "trials": 5})
    return rows


def test_sweep_plot_from_rows_and_csv(tmp_path, check_picture):
    rows = _sweep_rows()
    paths = figures.sweep_plot(rows, "noise", tmp_path / "sweep_noise", "synthetic table")
    assert [os.path.basename(p) for p in paths] == ["sweep_noise.png", "sweep_noise.svg"]
    for path in paths:
        check_picture(path)
    with open(tmp_path / "table.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(tmp_path / "table.csv", newline="") as fh:
        loaded = list(csv.DictReader(fh))
    assert isinstance(loaded[0]["noise"], str)
    paths = figures.sweep_plot(loaded, "noise", tmp_path / "csv_noise.png", "from CSV")
    for path in paths:
        check_picture(path)


def test_blank_figures_are_refused(tmp_path):
    rows = [{"noise": 0.1, "accuracy_snn_mean": None, "agreement_mean": None}]
    with pytest.raises(RuntimeError, match="blank"):
        figures.sweep_plot(rows, "noise", tmp_path / "blank", "")
    assert not os.path.exists(tmp_path / "blank.png")


def test_missing_knob_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no column"):
        figures.sweep_plot(_sweep_rows(), "zeta", tmp_path / "z", "")
