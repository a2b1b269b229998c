"""The import rule of docs/layout.md holds: no module imports from a part of the package above it."""

import ast
import os

from helpers import REPO

PACKAGE = os.path.join(REPO, "snnmap")
BASE = {"errors", "storage", "runtime", "solver", "quiet", "defaults"}
COMMANDS = {"cli", "phase1", "phase2", "sweep", "report", "compare", "__init__"}
# The parts each part may import from (besides itself).
ALLOWED = {
    "base": {"base"},
    "core": {"base"},
    "layers": {"base", "core"},
    "pipeline": {"base", "core", "layers"},
    "rate": {"base", "core", "layers", "pipeline"},
    "data": {"base"},
    "zoo": {"base"},
    "experiments": {"base", "core", "layers", "pipeline", "rate", "data", "zoo"},
    "reporting": {"base", "core", "layers", "pipeline", "rate", "experiments"},
    "beam": {"base", "core", "layers", "pipeline", "rate", "data", "zoo", "experiments"},
}


def part_of(dotted):
    """The part of ``snnmap.<dotted>``: a folder, ``base``, ``zoo`` or ``commands``."""
    head = dotted.split(".")[0]
    if head in BASE:
        return "base"
    if head in COMMANDS or head == "":
        return "commands"
    return head


def imports_of(path, module):
    """The ``snnmap`` modules that the file at ``path`` (module ``module``) imports, dotted below snnmap."""
    tree = ast.parse(open(path).read())
    package = module.split(".")[:-1] if not path.endswith("__init__.py") else module.split(".")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [alias.name] for alias in node.names] if not node.module else [target]
                found += [".".join(n) for n in names]
            elif node.module and node.module.split(".")[0] == "snnmap":
                found.append(".".join(node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            found += [".".join(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "snnmap"]
    return found


def modules():
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                yield path, rel


def test_no_module_imports_upward():
    bad = []
    for path, module in modules():
        part = part_of(module) if "." not in module else module.split(".")[0]
        if part == "commands":
            continue
        allowed = ALLOWED[part] | {part}
        for target in imports_of(path, module):
            if target and part_of(target) not in allowed:
                bad.append(f"{module} imports {target} ({part} -> {part_of(target)})")
    assert not bad, "\n".join(bad)


def test_checker_sees_an_upward_import(tmp_path):
    path = tmp_path / "fake.py"
    path.write_text("from ..pipeline import convert\nfrom . import mapping\n")
    parts = [part_of(target) for target in imports_of(str(path), "core.fake")]
    assert parts == ["pipeline", "core"]
    assert "pipeline" not in ALLOWED["core"]


def test_library_modules_do_not_import_absl_flags():
    bad = []
    for path, module in modules():
        if part_of(module) == "commands" and "." not in module:
            continue
        text = open(path).read()
        if "from absl import flags" in text or "absl.flags" in text:
            bad.append(module)
    assert not bad, bad


def test_rate_sits_beside_the_pipeline():
    # The rate-coded baselines run on phase 1's network: they may read the pipeline, never the experiments.
    assert ALLOWED["rate"] == ALLOWED["pipeline"] | {"pipeline"}
    assert "rate" in ALLOWED["experiments"] and "rate" not in ALLOWED["pipeline"]
