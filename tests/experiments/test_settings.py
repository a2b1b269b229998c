"""RunSettings and the other typed settings: defaults given once, the pipeline's where they belong."""

import dataclasses

import pytest

from snnmap.core.mapping import DEFAULT_ZETA
from snnmap.experiments.settings import (KNOBS, OPTIONAL_KNOBS, Experiment, Phase1Settings, Phase2Options,
                                         RunSettings, field_names)
from snnmap.pipeline.convert import derive_seed
from snnmap.pipeline.energy import DEFAULT_ENERGY
from snnmap.pipeline.preprocess import DEFAULT_LOWER_B, DEFAULT_UPPER_B

#: The keys (and order) of ``settings`` in every results file written before RunSettings existed.
RESULTS_SETTINGS_KEYS = ["zeta", "noise", "alpha_noise", "trial", "seed", "dtype", "solver", "time_bits",
                         "weight_bits", "w_min", "w_max", "x_quantile"]


def test_settings_record_the_keys_of_the_results_files_in_order():
    assert list(RunSettings().as_dict()) == RESULTS_SETTINGS_KEYS
    assert list(field_names()) == RESULTS_SETTINGS_KEYS
    assert RunSettings().as_dict() == {"zeta": 0.5, "noise": 0.0, "alpha_noise": 0.0, "trial": 0, "seed": 0,
                                       "dtype": "float64", "solver": "auto", "time_bits": 0, "weight_bits": 0,
                                       "w_min": None, "w_max": None, "x_quantile": 1.0}


def test_defaults_that_belong_to_the_pipeline_are_the_pipeline_constants():
    assert RunSettings().zeta == DEFAULT_ZETA
    assert (Phase1Settings().upper_b, Phase1Settings().lower_b) == (DEFAULT_UPPER_B, DEFAULT_LOWER_B)
    assert (Phase2Options().mac_pj, Phase2Options().add_pj) == (DEFAULT_ENERGY["mac_pj"], DEFAULT_ENERGY["add_pj"])


def test_trials_are_seeded_by_derive_seed():
    s = RunSettings(seed=5, trial=3)
    assert s.noise_seed == derive_seed(5, 3)
    assert RunSettings(seed=5, trial=4).noise_seed != s.noise_seed


def test_settings_are_frozen_and_built_from_dicts():
    s = RunSettings.from_dict({"noise": 0.1, "time_bits": 4})
    assert s == RunSettings(noise=0.1, time_bits=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.noise = 0.2
    with pytest.raises(ValueError, match="unknown settings"):
        RunSettings.from_dict({"nosie": 0.1})


def test_sweep_knobs_are_fields():
    assert set(KNOBS) <= set(field_names()) and set(OPTIONAL_KNOBS) <= set(KNOBS)
    assert "trial" not in KNOBS and "seed" not in KNOBS
    for knob, kind in KNOBS.items():
        default = getattr(RunSettings(), knob)
        assert default is None and knob in OPTIONAL_KNOBS or type(default) is kind, knob


@pytest.mark.parametrize("cls, field, value", [
    (Experiment, "batch_size", 0), (Experiment, "batch_size", -8), (Experiment, "test_samples", -1),
    (Experiment, "test_samples", 0), (Phase1Settings, "calib_samples", -1), (Phase1Settings, "train_samples", -5),
    (Phase2Options, "add_pj", float("nan")), (Phase2Options, "mac_pj", -1.0), (Phase2Options, "add_pj", float("inf")),
])
def test_settings_that_would_give_a_wrong_number_are_refused_when_made(cls, field, value):
    # --batch_size 0 divided by zero deep inside; --calib_samples -1 silently took all images but one;
    # --energy_* nan or -1 were refused only after the whole evaluation (issue 26, item 10).
    with pytest.raises(ValueError, match=f"^{field} must be"):
        cls(**{field: value})
    cls(**{field: 1 if isinstance(value, int) else 0.5})  # a sensible value is kept


def test_light_defaults_equal_the_constants_they_stand_for():
    from snnmap import defaults, solver
    from snnmap.core.mapping import DEFAULT_ZETA
    from snnmap.pipeline.energy import DEFAULT_ENERGY
    from snnmap.pipeline.scaling import DEFAULT_LOWER_B, DEFAULT_UPPER_B

    assert defaults.ZETA == DEFAULT_ZETA and defaults.SOLVERS == solver.SOLVERS
    assert (defaults.MAC_PJ, defaults.ADD_PJ) == (DEFAULT_ENERGY["mac_pj"], DEFAULT_ENERGY["add_pj"])
    assert (defaults.UPPER_B, defaults.LOWER_B) == (DEFAULT_UPPER_B, DEFAULT_LOWER_B)
