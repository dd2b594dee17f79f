"""The package's layout: the engine never imports the experiments built on it."""

from __future__ import annotations

import ast
from pathlib import Path

import jessl_lite

PACKAGE = Path(jessl_lite.__file__).parent
ENGINE = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, as absolute dotted names inside jessl_lite where relative."""
    here = ["jessl_lite"] + ([] if path.parent == PACKAGE else [path.parent.name])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_engine_modules_never_import_experiments():
    assert ENGINE, "no engine modules found"
    for path in ENGINE:
        bad = {name for name in _imported_modules(path) if name.startswith("jessl_lite.experiments")}
        assert not bad, f"{path.name} imports {sorted(bad)}: the engine must not depend on experiments"


def test_the_import_scanner_sees_relative_imports():
    # A test that could not fail is no test: the scanner must resolve an experiment's own imports.
    names = _imported_modules(PACKAGE / "experiments" / "collapse.py")
    assert "jessl_lite.train" in names and "jessl_lite.methods.SimSiam" in names
