"""Shared fixtures: the data root, and one build of the whole book per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]

# Tests read real data from the shared folder beside the checkout unless JESSL_DATA says otherwise.
os.environ.setdefault("JESSL_DATA", str((ROOT.parent / "shared" / "data").resolve()))
# In CI, property tests draw the same examples every run: a red CI must be reproducible.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The book and the tests always run the quick profile, GPU or not.
os.environ.setdefault("JESSL_PROFILE", "quick")

# Under pytest-xdist (two workers, pyproject.toml) each worker, and every kernel or build it
# starts, uses one thread: two workers with two threads each on two cores would fight.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tests on one torch thread: tiny tensors on two shared cores gain nothing
    from a second thread but synchronisation (up to 10x slower). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole book once, executing every notebook, with Sphinx warnings as errors.

    Returns the folder holding ``index.html``. Set ``JESSL_BOOK_HTML`` to a finished build's
    ``_build/html`` to test it without building again.
    """
    prebuilt = os.environ.get("JESSL_BOOK_HTML")
    if prebuilt:
        html = Path(prebuilt)
        if not (html / "index.html").is_file():
            raise FileNotFoundError(f"JESSL_BOOK_HTML={prebuilt} has no index.html")
        return html
    out = tmp_path_factory.mktemp("book")
    jupyter_book = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    result = subprocess.run(
        [jupyter_book, "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        pytest.fail(
            f"the book build failed (exit {result.returncode})\n--- stdout (tail) ---\n{result.stdout[-8000:]}"
            f"\n--- stderr (tail) ---\n{result.stderr[-4000:]}"
        )
    return out / "_build" / "html"
