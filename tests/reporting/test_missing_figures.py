"""A page never shows part of a run's figures without a word (issue 26, item 8).

An interrupted report leaves some figures (each written atomically) and, when its process
was killed outright, hidden temporary files.  The next page redraws every missing figure
from the snapshot and removes stale temporary files; without a snapshot it says which
figures are missing and why, and the report command prints one line saying so.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import matplotlib.figure
import pytest

from snnmap import report as report_command
from snnmap.reporting import artifacts, html

from helpers import REPO

KINDS = ("spike_times", "raster", "potential", "exactness")


def _copy_run(run_dir, directory, figures=(), snapshot=True):
    """A copy of the fixture's run in ``directory``: its JSON, the figures of ``figures`` (kinds), the snapshot."""
    path, result, out = run_dir
    copy = directory / os.path.basename(path)
    shutil.copy(path, copy)
    paths = html.artifact_paths(copy)
    if snapshot:
        shutil.copy(out["snapshot"], paths["snapshot"])
    os.makedirs(paths["figures_dir"], exist_ok=True)
    source = html.artifact_paths(path)
    for kind in figures:
        for ext in ("png", "svg"):
            name = f"{source['stem']}_{kind}.{ext}"
            shutil.copy(os.path.join(source["figures_dir"], name), os.path.join(paths["figures_dir"], name))
    return str(copy), result


def _pngs(json_path):
    directory = html.artifact_paths(json_path)["figures_dir"]
    return sorted(f for f in os.listdir(directory) if f.endswith(".png"))


def _hidden(json_path):
    directory = html.artifact_paths(json_path)["figures_dir"]
    return sorted(f for f in os.listdir(directory) if f.startswith("."))


def _read(page):
    with open(page, encoding="utf-8") as fh:
        return fh.read()


def test_a_report_interrupted_midway_is_completed_by_the_next_page(run_dir, tmp_path, monkeypatch, check_page):
    path, result = _copy_run(run_dir, tmp_path)
    real_savefig = matplotlib.figure.Figure.savefig
    calls = []

    def interrupted_savefig(fig, fname, *args, **kwargs):
        calls.append(fname)
        if len(calls) == 3:  # the raster's PNG, half written, then Ctrl-C
            with open(fname, "wb") as fh:
                fh.write(b"\x89PNG half")
            raise KeyboardInterrupt
        return real_savefig(fig, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", interrupted_savefig)
    with pytest.raises(KeyboardInterrupt):
        artifacts.draw_run_figures(result, path)
    monkeypatch.undo()
    assert _hidden(path) == [], "an interrupted figure leaves no temporary file"
    assert _pngs(path) == [f"{os.path.basename(path)[:-5]}_spike_times.png"]

    text = _read(html.write_report(path))
    check_page(text, 4)
    assert "Missing figures" not in text
    assert len(_pngs(path)) == 4
    assert html.write_page(path).missing == ""


def _kill_while_drawing(json_path):
    """Draw the run's figures in a process that SIGKILLs itself while writing the third file."""
    script = textwrap.dedent(f"""
        import os, signal
        import matplotlib.figure
        from snnmap.storage import read_json
        from snnmap.reporting import artifacts
        real, calls = matplotlib.figure.Figure.savefig, []
        def savefig(fig, fname, *args, **kwargs):
            calls.append(fname)
            if len(calls) == 3:
                with open(fname, "wb") as fh:
                    fh.write(b"half a figure")
                os.kill(os.getpid(), signal.SIGKILL)
            return real(fig, fname, *args, **kwargs)
        matplotlib.figure.Figure.savefig = savefig
        artifacts.draw_run_figures(read_json({json_path!r}), {json_path!r})
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def test_a_killed_reports_temporary_files_are_removed(run_dir, tmp_path, check_page, capsys):
    path, result = _copy_run(run_dir, tmp_path)
    _kill_while_drawing(path)
    left = _hidden(path)
    assert len(left) == 1 and ".tmp.png" in left[0], left
    stale = os.path.join(html.artifact_paths(path)["figures_dir"], left[0])
    old = time.time() - 2 * artifacts.STALE_TEMPORARY_S
    os.utime(stale, (old, old))
    # A temporary file being written now (by another run) is left alone, and never shown.
    young = artifacts.temporaries(html.artifact_paths(path)["html"])
    assert young == []
    fresh = os.path.join(os.path.dirname(path), "." + os.path.basename(html.artifact_paths(path)["html"]) +
                         ".writing.tmp")
    with open(fresh, "w") as fh:
        fh.write("<html>")

    assert report_command.main([path]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"report: {html.artifact_paths(path)['html']}"], "nothing is missing: no note"
    assert _hidden(path) == []
    assert os.path.exists(fresh)
    check_page(_read(html.artifact_paths(path)["html"]), 4)


def test_without_a_snapshot_the_page_and_the_command_say_which_figures_are_missing(run_dir, tmp_path, capsys,
                                                                                   check_page):
    path, result = _copy_run(run_dir, tmp_path, figures=("spike_times", "raster"), snapshot=False)
    assert report_command.main([path]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("report: ")
    note = lines[0]
    assert note.startswith(f"note: {path}: 2 of 4 figures missing (potential, exactness): ")
    assert "no snapshot" in note and html.artifact_paths(path)["snapshot"] in note
    text = _read(html.artifact_paths(path)["html"])
    check_page(text, 2)
    assert 'id="missing-figures"' in text
    assert "2 of 4 figures missing (potential, exactness)" in text


def test_an_unreadable_snapshot_is_named_not_a_traceback(run_dir, tmp_path, check_page):
    path, result = _copy_run(run_dir, tmp_path, figures=("spike_times",), snapshot=False)
    snapshot = html.artifact_paths(path)["snapshot"]
    with open(snapshot, "wb") as fh:
        fh.write(b"PK\x03\x04 not a zip archive")
    old = time.time() - 60  # older than the figure, which therefore is not stale
    os.utime(snapshot, (old, old))
    written = html.write_page(path)
    assert written.missing.startswith("3 of 4 figures missing (raster, potential, exactness): the snapshot ")
    assert snapshot in written.missing and "cannot be read" in written.missing
    check_page(_read(written.path), 1)


def test_a_run_without_figures_or_snapshot_says_all_are_missing(run_dir, tmp_path, check_page):
    path, result = _copy_run(run_dir, tmp_path, snapshot=False)
    written = html.write_page(path)
    assert written.missing.startswith("4 of 4 figures missing (spike_times, raster, potential, exactness): "
                                      "no snapshot")
    text = _read(written.path)
    check_page(text, 0)
    assert "No figures" in text and 'id="missing-figures"' in text
