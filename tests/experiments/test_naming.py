"""File names of an experiment: results files, sweep directories, the phase-1 files."""

import os

import pytest

from snnmap import Preprocessed
from snnmap.experiments import naming
from snnmap.experiments.grid import SweepError, parse_grid
from snnmap.experiments.settings import Experiment, RunSettings


def test_results_names_encode_every_setting_away_from_its_default():
    assert naming.results_name("m", RunSettings()) == "m_zeta0.5_noise0_alpha0_trial0.json"
    name = naming.results_name("m", RunSettings(zeta=0.0, noise=0.2, trial=1, seed=2, dtype="float32",
                                                solver="scan", time_bits=4, w_min=-1.5, x_quantile=0.99),
                               n_test=300, part=(1, 3))
    assert name == ("m_zeta0_noise0.2_alpha0_trial1_seed2_float32_scan_n300_part1of3_time_bits4_w_minm1.5_"
                    "x_quantile0.99.json")
    assert naming.results_path("dir", "m", RunSettings()) == os.path.join("dir", "results", naming.results_name(
        "m", RunSettings()))
    # Distinct settings, distinct names.
    names = {naming.results_name("m", RunSettings(noise=n, trial=t)) for n in (0.0, 0.1) for t in (0, 1)}
    assert len(names) == 4


def test_merged_path_never_takes_a_single_runs_name():
    # The merge of parts of the first 512 images must not replace the unsharded run of them (issue 26, item 5).
    single = naming.results_name("m", RunSettings(), n_test=512)
    part = naming.results_name("m", RunSettings(), n_test=512, part=(1, 3))
    merged = naming.merged_path("r/" + part)
    assert merged == "r/" + single[:-len(".json")] + "_merged.json" and merged != "r/" + single
    with pytest.raises(ValueError, match="merged file"):
        naming.merged_path("r/m_zeta0.5.json")


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", ".", "a\\b"])
def test_model_names_with_separators_or_dots_are_refused(name):
    # Names are names: a path would put phase 2's and the sweep's files outside the logging dir (item 9).
    with pytest.raises(ValueError, match="model_name .* must be a plain name"):
        naming.resolve(Experiment(model_name=name))
    with pytest.raises(SweepError, match="--sweep_name"):
        naming.sweep_dir("d", name)


def test_the_batch_size_names_noisy_runs_only():
    # The jitter is drawn batch by batch: two batch sizes of a noisy run never share a name (item 6).
    noisy, exact = RunSettings(noise=0.1), RunSettings()
    assert naming.results_name("m", noisy, batch_size=64) != naming.results_name("m", noisy, batch_size=256)
    assert naming.results_name("m", noisy, batch_size=256) == naming.results_name("m", noisy)
    assert naming.results_name("m", exact, batch_size=64) == naming.results_name("m", exact)
    assert naming.results_name("m", exact, clip=True) != naming.results_name("m", exact)
    grid = {"noise": [0.0, 0.1]}
    assert (naming.default_sweep_name("m", grid, RunSettings(), batch_size=64)
            != naming.default_sweep_name("m", grid, RunSettings(), batch_size=256))


def test_experiment_files_include_the_preprocessed_network_files():
    files = naming.paths("d", "m")
    for key, path in Preprocessed.paths("d", "m").items():
        assert files[key] == path
    assert files["original_weights"] == os.path.join("d", "m_original.weights.h5")
    assert files["results_dir"] == os.path.join("d", "results")


def test_resolve_fills_in_the_defaults():
    e = naming.resolve(Experiment(data_name="fashion-mnist", cnn=True, layers=5))
    assert (e.data_name, e.logging_dir, e.model_name) == (
        "FashionMNIST", os.path.join("models", "FashionMNIST", "LeNet5"), "fashionmnist_lenet5_relu")
    assert naming.resolve(Experiment(model_name="x_scaled", logging_dir="here")).model_name == "x"


def test_default_sweep_name_is_readable_and_distinct():
    fixed = RunSettings(trial=3)
    grid = parse_grid(["noise=0,0.05,0.1", "zeta=0,0.5"])
    assert naming.default_sweep_name("m", grid, fixed) == "m_noise0-0.05-0.1_zeta0-0.5"
    # Fixed settings away from their defaults and the test subset are part of the name; trial is not.
    assert (naming.default_sweep_name("m", grid, RunSettings(trial=3, alpha_noise=0.01, seed=2, w_min=-1.5), 300)
            == "m_noise0-0.05-0.1_zeta0-0.5_alpha_noise0.01_seed2_w_minm1.5_n300")
    # Knobs in the grid are named by the grid, not by their (overridden) fixed value.
    assert naming.default_sweep_name("m", grid, RunSettings(trial=3, noise=0.3)) == "m_noise0-0.05-0.1_zeta0-0.5"
    long_a = parse_grid(["noise=" + ",".join(str(v / 100) for v in range(0, 51, 5))])
    long_b = parse_grid(["noise=" + ",".join(str(v / 100) for v in [0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50])])
    name_a, name_b = (naming.default_sweep_name("m", g, fixed) for g in (long_a, long_b))
    assert name_a.startswith("m_noise0..0.5x11_") and name_b.startswith("m_noise0..0.5x11_") and name_a != name_b
    with pytest.raises(SweepError):
        naming.check_sweep_name("a/b")
    assert naming.sweep_dir("d", "s") == os.path.join("d", "sweeps", "s")
