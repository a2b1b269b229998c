"""The canvas: a figure is written as PNG and SVG with its metadata, and a blank one is refused."""

import os

import pytest
from PIL import Image

from snnmap.reporting import canvas


def test_save_writes_png_and_svg(tmp_path, check_picture):
    fig = canvas.new_figure(4.0, 3.0)
    ax = fig.subplots()
    ax.plot([0, 1, 2], [0, 1, 0], color=canvas.COLOURS[0])
    canvas.headline(fig, "what it shows", "the caption")
    paths = canvas.save(fig, tmp_path / "f.png", "a title", "a description", drawn=3)
    assert paths == [str(tmp_path / "f.png"), str(tmp_path / "f.svg")]
    for path in paths:
        check_picture(path)
    with Image.open(paths[0]) as img:
        assert img.text["Title"] == "a title" and img.text["Description"] == "a description"
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")], "temporary files left"


def test_blank_figure_is_refused(tmp_path):
    fig = canvas.new_figure(4.0, 3.0)
    fig.subplots()
    with pytest.raises(RuntimeError, match="blank"):
        canvas.save(fig, tmp_path / "f", "t", "d", drawn=0)
    assert not os.listdir(tmp_path)


def test_axes_grid_hides_unused_cells():
    fig = canvas.new_figure(6.0, 4.0)
    axes = canvas.axes_grid(fig, 4, ncols=3)
    assert len(axes) == 4 and canvas.grid_shape(4, 3) == (2, 3)
    assert sum(ax.get_visible() for ax in fig.axes) == 4 and len(fig.axes) == 6
