"""DataSet and the selection of examples (snnmap.data.dataset): parts of the test split."""

import numpy as np
import pytest

from snnmap import data as D


@pytest.mark.parametrize("n", [0, 1, 5, 7, 10, 100, 10001])
@pytest.mark.parametrize("num_parts", [1, 2, 3, 4, 9])
def test_part_bounds_match_array_split(n, num_parts):
    pieces = np.array_split(np.arange(n), num_parts)
    for part, piece in enumerate(pieces):
        start, stop = D.part_bounds(n, part, num_parts)
        np.testing.assert_array_equal(np.arange(start, stop), piece)


def test_aligned_part_bounds_start_at_multiples():
    bounds = [D.part_bounds(10, part, 3, align=4) for part in range(3)]
    assert bounds == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ValueError, match="align"):
        D.part_bounds(10, 0, 3, align=0)


def test_invalid_part_arguments(tmp_path):
    # validated before any data is read (PASS without data_dir would
    # otherwise raise DataSourceError)
    for kwargs, expected in (
            ({"part": 0}, "together"),
            ({"num_parts": 2}, "together"),
            ({"part": 0, "num_parts": 0}, "num_parts"),
            ({"part": 0, "num_parts": -3}, "num_parts"),
            ({"part": 0, "num_parts": 2.0}, "num_parts"),
            ({"part": -1, "num_parts": 2}, r"part must be .* \[0, 2\)"),
            ({"part": 2, "num_parts": 2}, r"part must be .* \[0, 2\)"),
            ({"part": 1.0, "num_parts": 2}, "part must be"),
            ({"part": True, "num_parts": 2}, "part must be")):
        with pytest.raises(ValueError, match=expected):
            D.load("PASS", **kwargs)
    with pytest.raises(ValueError, match="part must be"):
        D.part_bounds(10, 5, 5)


def test_summary_without_arrays():
    x = np.zeros((3, 4), np.float32)
    ds = D.DataSet("MNIST", "idx", "three images", None, False, x, np.zeros(3, np.int64), x[:2],
                   np.zeros(2, np.int64), preprocessing={"clip": (np.float64(-3.0), 3.0)}, test_indices=(0, 2))
    assert ds.summary() == {
        "name": "MNIST", "source": "idx", "description": "three images", "location": None, "full": False,
        "n_train": 3, "n_test": 2, "input_shape": [4], "input_range": [0.0, 1.0], "num_classes": 10,
        "preprocessing": {"clip": [-3.0, 3.0]}, "test_indices": [0, 2]}
    assert "x_train" not in repr(ds)
    assert ds != D.DataSet(**{f: getattr(ds, f) for f in ds.__dataclass_fields__})  # compares by identity
