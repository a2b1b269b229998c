"""The helpers that the Beam sweep shares with the single-machine sweep are public and documented (issue 30)."""

import ast
import inspect
import os

from helpers import REPO
from snnmap.experiments import sweep

#: What snnmap.beam.sweep takes from snnmap.experiments.sweep.
SHARED = ("checked_grid", "check_trials", "sweep_references", "plan_runs", "reusable_runs", "table_content",
          "settings_without_trial", "fixed_run_settings", "table_rows", "csv_text", "run_record", "PlannedRun")


def _attributes_used(path, module_alias):
    tree = ast.parse(open(path).read())
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == module_alias}


def test_the_beam_sweep_uses_only_public_helpers_of_the_sweep():
    used = _attributes_used(os.path.join(REPO, "snnmap", "beam", "sweep.py"), "single")
    assert used, "snnmap.beam.sweep no longer imports snnmap.experiments.sweep as single"
    private = sorted(name for name in used if name.startswith("_"))
    assert not private, f"snnmap.beam.sweep uses private helpers {private}"
    assert used <= set(sweep.__all__), sorted(used - set(sweep.__all__))


def test_the_shared_helpers_are_documented_numpy_style():
    for name in SHARED:
        obj = getattr(sweep, name)
        doc = inspect.getdoc(obj) or ""
        assert doc, name
        params = [p for p in inspect.signature(obj).parameters if p != "self"]
        if inspect.isfunction(obj) and params:
            assert "Parameters\n----------" in doc, name
            for param in params:
                assert param in doc, (name, param)
        assert name in sweep.__all__, name
