"""Every chapter follows the book's conventions (DESIGN.md): checked on the stored notebooks."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def package_names() -> set[str]:
    """Names of the functions and classes defined at the top level of jessl_lite's modules."""
    names = set()
    for module in (ROOT / "jessl_lite").rglob("*.py"):
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                names.add(node.name)
    return names


def test_there_is_a_chapter():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped(path):
    for cell in cells(path):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and not cell.get("execution_count"), f"{path.name} has stored outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_structure(path):
    cs = cells(path)
    first = source(cs[0])
    assert first.startswith("# ") and "Learning goals" in first, "chapters open with a title and learning goals"
    code = [c for c in cs if c["cell_type"] == "code"]
    setup = source(code[0])
    url = CONFIG["repository"]["url"]
    assert "google.colab" in setup and f"git+{url}" in setup, "the setup cell installs from the repository URL"
    assert "parameters" in code[1]["metadata"].get("tags", []), "the second code cell is the parameters cell"
    assert re.search(r"^profile = None", source(code[1]), re.M)
    headings = [line for c in cs if c["cell_type"] == "markdown" for line in source(c).splitlines()]
    for title in ("## Exercises", "## Summary", "## References"):
        assert title in headings, f"{path.name} lacks '{title}'"
    assert sum("solution" in c["metadata"].get("tags", []) for c in cs) >= 3, "at least three exercises"
    assert any("check(" in source(c) for c in code), "exercises have checkers"
    assert any("interactive_figure(" in source(c) for c in code), "every chapter has an interactive figure"
    assert any("repro.glue_tables(" in source(c) for c in code), "every chapter glues its reproductions rows"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_does_not_redefine_the_package(path):
    defined = set()
    for cell in cells(path):
        if cell["cell_type"] != "code":
            continue
        # IPython magics (%pip) are not Python: parse them as `pass` at the same indentation.
        text = re.sub(r"^(\s*)[%!].*$", r"\1pass", source(cell), flags=re.M)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.add(node.name)
    clashes = defined & package_names()
    assert not clashes, f"{path.name} redefines jessl_lite's {sorted(clashes)}: import them instead"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_local_paths(path):
    text = path.read_text(encoding="utf-8")
    assert "/work/" not in text and "/root/" not in text and "shared/data" not in text


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"
