"""Honest labels of phase 2 (issue 27, item 1): a perturbed run's error figures are named as the deviation
the perturbation causes, in its results, its summary and its report page; an unperturbed run keeps the
exactness wording.

Phase 1 runs once on the bundled MNIST sample (a small FC network trained for one epoch)."""

import re
import warnings

import pytest

from snnmap.errors import SampleDataWarning
from snnmap.experiments import naming
from snnmap.experiments.phase1 import run_phase1
from snnmap.experiments.phase2 import run_phase2, summary_lines
from snnmap.experiments.settings import Experiment, Phase1Settings, RunSettings
from snnmap.reporting.html import write_page


def _experiment(log_dir, **kw):
    return naming.resolve(Experiment(data_name="MNIST", logging_dir=str(log_dir), **{"test_samples": 60, **kw}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{name: Phase2Run}``: an unperturbed run and runs under noise and under time quantisation."""
    log_dir = tmp_path_factory.mktemp("labels") / "mnist"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)
        run_phase1(_experiment(log_dir, test_samples=None), Phase1Settings(epochs=1, calib_samples=300,
                                                                           train_samples=600),
                   log=lambda *a: None)
        settings = {"exact": RunSettings(), "noise": RunSettings(noise=0.3), "time_bits": RunSettings(time_bits=2)}
        return {name: run_phase2(_experiment(log_dir), s, log=lambda *a: None) for name, s in settings.items()}


def _page(done):
    with open(write_page(done.path).path, encoding="utf-8") as fh:
        return fh.read()


def test_an_unperturbed_run_keeps_the_exactness_wording(runs):
    done = runs["exact"]
    assert done.result["perturbed"] is False and done.result["perturbations"] == []
    assert done.result["max_abs_error_original"] <= 1e-9  # exact against the original network's own logits
    text = "\n".join(summary_lines(done.result))
    assert "max |error| vs original:" in text and "deviation" not in text
    page = _page(done)
    assert "max |error| vs your network" in page and "deviation" not in page


@pytest.mark.parametrize("name, knob", [("noise", "noise=0.3"), ("time_bits", "time_bits=2")])
def test_a_perturbed_run_names_its_error_as_the_deviation(runs, name, knob):
    done = runs[name]
    assert done.result["perturbed"] is True and done.result["perturbations"] == [knob]
    deviation = done.result["max_abs_error_original"]
    assert deviation > 1e-3  # what the perturbation changes: far above float64 rounding
    lines = summary_lines(done.result)
    text = "\n".join(lines)
    assert "max |error|" not in text and "exact" not in text.replace("exactness figure", "")
    line = next(line for line in lines if "deviation vs original:" in line)
    assert float(line.split(":")[1].split()[0]) == pytest.approx(deviation, rel=1e-3)
    assert any(line.strip().startswith("perturbed by:") and knob in line for line in lines)

    page = _page(done)
    assert "max |error|" not in page
    headline = re.search(r'<div class="callout[^"]*" id="exactness">(.*?)</div>', page, re.S).group(1)
    assert "deviation from your network caused by the perturbation" in headline and knob in headline
