"""The project's promises about itself: two commands, CI, import cost, layer boundaries."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    install_run = [c for c in commands if "aircomp-agc run" in c or "aircomp-agc reproduce" in c]
    install_test = [c for c in commands if c.rstrip().endswith("pytest")]
    assert install_run and install_test, commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_test[0] in ci, "'.ci/run' must run exactly the README's test command"


@pytest.mark.parametrize("module", ["aircomp_agc", "aircomp_agc.coding", "channels"])
def test_import_does_not_import_tensorflow(module):
    code = f"import sys, {module}; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("channels", {"aircomp_agc"}),
        ("aircomp_agc/coding", {"channels", "tensorflow", "sionna"}),
    ],
)
def test_dependencies_run_one_way(layer, forbidden):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & forbidden)
        for p in (ROOT / layer).rglob("*.py")
        if _imports(p) & forbidden
    }
    assert not offenders, f"{layer} must not import {sorted(forbidden)}: {offenders}"


def test_validation_twins_are_identical():
    a = (ROOT / "aircomp_agc" / "_checks.py").read_bytes()
    b = (ROOT / "channels" / "_checks.py").read_bytes()
    assert a == b, "aircomp_agc/_checks.py and channels/_checks.py must stay byte-identical"


def test_readme_images_and_links_exist():
    text = (ROOT / "README.md").read_text()
    images = re.findall(r'<img src="([^"]+)"', text)
    links = [t for t in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
             if not t.startswith("http")]
    assert len(images) >= 12
    missing = [p for p in [*images, *links] if not (ROOT / p).exists()]
    assert not missing, missing
