"""The grid of a sweep: parsing ``--sweep`` specs, checking values, the cartesian product."""

import re

import pytest

from snnmap.experiments.grid import SweepError, check_grid, grid_points, parse_grid


def test_grid_is_the_cartesian_product_in_order():
    grid = parse_grid(["noise=0,0.05,0.1", "zeta = 0, 0.5", "time_bits=4,8", "w_min=none,-1"])
    assert grid == {"noise": [0.0, 0.05, 0.1], "zeta": [0.0, 0.5], "time_bits": [4, 8], "w_min": [None, -1.0]}
    assert all(type(v) is int for v in grid["time_bits"])
    points = grid_points(grid)
    assert len(points) == 3 * 2 * 2 * 2
    assert points[0] == {"noise": 0.0, "zeta": 0.0, "time_bits": 4, "w_min": None}
    assert points[1] == {"noise": 0.0, "zeta": 0.0, "time_bits": 4, "w_min": -1.0}  # last knob fastest
    assert points[-1] == {"noise": 0.1, "zeta": 0.5, "time_bits": 8, "w_min": -1.0}


def test_a_grid_given_as_a_dict_is_typed():
    assert check_grid({"time_bits": [2.0, "4"], "w_max": [None, 1]}) == {"time_bits": [2, 4], "w_max": [None, 1.0]}
    assert check_grid({"noise": 0.1}) == {"noise": [0.1]}


@pytest.mark.parametrize("specs, message", [
    (["foo=1,2"], "unknown sweep knob 'foo'"),
    (["trial=0,1"], "--trials"),
    (["seed=1,2"], "--trials"),
    (["dtype=float32"], "unknown sweep knob 'dtype'"),
    (["noise"], "KNOB=v1,v2"),
    (["noise="], "empty value"),
    (["noise=0,,0.1"], "empty value"),
    (["noise=a"], "not a number"),
    (["noise=nan"], "not a finite number"),
    (["noise=-0.1"], ">= 0"),
    (["time_bits=2.5"], "not an integer"),
    (["x_quantile=0"], "(0, 1]"),
    (["zeta=none"], "only allowed"),
    (["noise=0,0.1", "noise=0.2"], "given twice"),
    (["noise=0.1,0.10"], "repeated value"),
    (["w_min=1", "w_max=0.5"], "below"),
    ([], "nothing to sweep"),
])
def test_bad_grids_are_refused_clearly(specs, message):
    with pytest.raises(SweepError, match=re.escape(message)):
        parse_grid(specs)


@pytest.mark.parametrize("grid, message", [
    ({"zeta": [None]}, "only allowed"),
    ({"noise": [float("inf")]}, "not a finite number"),
    ({"weight_bits": [1.5]}, "not an integer"),
    ({"noise": []}, "no values"),
])
def test_bad_dict_grids_are_refused_clearly(grid, message):
    with pytest.raises(SweepError, match=re.escape(message)):
        check_grid(grid)
