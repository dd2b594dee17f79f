"""The publishing workflow builds the book with the README's command; the suite does not need it.

These checks read files only: they pass or skip without the workflow, and nothing here runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_the_readme_has_two_commands_build_then_test():
    build, test = readme_commands()
    assert "jupyter-book build . --all -W" in build and build.startswith("pip install -r requirements.txt")
    assert test.startswith("apt-get update && apt-get install -y chromium") and test.endswith("pytest")


def test_the_workflow_runs_the_readmes_build_command_and_publishes_the_html():
    if not WORKFLOW.exists():
        pytest.skip("no publishing workflow in this checkout")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step.get("run", "") for step in steps]
    build, _ = readme_commands()
    assert build in runs, "the workflow's build step must be the README's build command, word for word"
    assert any("jessl_lite.exercises strip notebooks _build/html/student" in r for r in runs)
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in workflow["jobs"]["deploy"]["steps"])


def test_the_published_address_is_set_in_one_place():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["html"]["baseurl"]
    assert url.startswith("https://") and url.endswith("/")
    readme = (ROOT / "README.md").read_text()
    assert "html.baseurl" in readme and url in readme
