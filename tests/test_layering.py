"""Layer boundaries at module level: who may import whom (resolved relative imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module (or module attribute) ``path`` imports."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _prefixed(names: set[str], prefixes: set[str]) -> set[str]:
    return {n for n in names for p in prefixes if n == p or n.startswith(p + ".")}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("channels", {"aircomp_agc"}),
        ("aircomp_agc.coding", {"channels", "tensorflow", "sionna", "aircomp_agc.aggregation",
                                "aircomp_agc.learning", "aircomp_agc.engine",
                                "aircomp_agc.experiments"}),
        ("aircomp_agc.aggregation", {"aircomp_agc.learning", "aircomp_agc.engine",
                                     "aircomp_agc.experiments", "tensorflow"}),
        ("aircomp_agc.learning", {"aircomp_agc.engine", "aircomp_agc.experiments"}),
    ],
)
def test_dependencies_run_one_way_at_module_level(package, forbidden):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_prefixed(_imports(p), forbidden))
        for p in _files(package)
        if _prefixed(_imports(p), forbidden)
    }
    assert not offenders, f"{package} must not import {sorted(forbidden)}: {offenders}"


def test_nobody_imports_another_packages_private_module():
    offenders = {}
    for top in ("aircomp_agc", "channels"):
        for path in _files(top):
            importer = _module_name(path)
            for name in _imports(path):
                parts = name.split(".")
                for i, part in enumerate(parts):
                    target = ROOT.joinpath(*parts[: i + 1])
                    is_module = target.with_suffix(".py").exists() or target.is_dir()
                    if not is_module:
                        break  # an attribute (a private name of a module), not a module
                    if part.startswith("_") and not part.startswith("__"):
                        owner = ".".join(parts[:i])  # the package holding the private module
                        if owner and not (importer == owner or importer.startswith(owner + ".")):
                            offenders.setdefault(str(path.relative_to(ROOT)), []).append(name)
                        break
    assert not offenders, f"private modules imported from outside their package: {offenders}"


def test_the_resolver_sees_relative_imports():
    names = _imports(ROOT / "aircomp_agc" / "aggregation" / "round.py")
    assert "aircomp_agc.coding" in names and "aircomp_agc._checks" in names
