"""RateSettings: bad options are refused with messages that name them."""

import pytest

from snnmap.errors import RateSettingsError, SnnmapError
from snnmap.rate import RateSettings
from snnmap.rate.settings import checkpoints_of


@pytest.mark.parametrize("kwargs, words", [
    ({"checkpoints": [0]}, "checkpoints must be positive integers"),
    ({"checkpoints": [8, -4]}, "checkpoints must be positive integers"),
    ({"checkpoints": [2.5]}, "checkpoints must be positive integers"),
    ({"checkpoints": []}, "checkpoints must name at least one"),
    ({"checkpoints": ["eight"]}, "checkpoints must be positive integers"),
    ({"normalisation": "maxnorm"}, "normalisation must be one of model, data, percentile"),
    ({"input": "rank"}, "input must be one of constant, poisson"),
    ({"reset": "leak"}, "reset must be one of subtract, zero"),
    ({"readout": "first"}, "readout must be one of spikes, current"),
    ({"percentile": 100.5}, "percentile must be in (0, 100]"),
    ({"percentile": 0}, "percentile must be in (0, 100]"),
    ({"fraction": 1.5}, "fraction must be in (0, 1]"),
    ({"firing_rate_scale": 0}, "firing_rate_scale must be finite and > 0"),
    ({"synapse_tau": -1}, "synapse_tau must be finite and >= 0"),
])
def test_bad_options_give_clear_errors(kwargs, words):
    with pytest.raises(RateSettingsError) as err:
        RateSettings(**kwargs)
    assert words in str(err.value)
    # One class for every bad rate setting, still a ValueError and an SnnmapError for existing handlers.
    assert isinstance(err.value, ValueError) and isinstance(err.value, SnnmapError)


def test_checkpoints_of_refuses_a_text_with_the_library_error():
    with pytest.raises(RateSettingsError, match="got 'x'"):
        checkpoints_of(["x"])


def test_checkpoints_are_sorted_and_T_is_the_last():
    s = RateSettings(checkpoints=[64, 8, 8, 32])
    assert s.checkpoints == (8, 32, 64) and s.T == 64
    assert RateSettings().checkpoints[0] == 4 and RateSettings().T == 256


def test_labels_name_the_variant():
    s = RateSettings(normalisation="percentile", percentile=99.9, input="poisson", synapse_tau=5)
    assert s.normalisation_label == "percentile-99.9"
    assert s.label == "percentile-99.9/poisson/subtract/spikes/tau5"
    assert s.as_dict()["checkpoints"][-1] == 256
