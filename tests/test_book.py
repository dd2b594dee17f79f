"""The whole book builds with execution and warnings as errors, and its HTML is self-contained."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Tags that load something from another host. A <link rel="canonical"> (from html.baseurl) names the
# published address and loads nothing.
EXTERNAL = re.compile(
    r"""<(?:script|link(?![^>]*\brel=["']canonical["'])|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//(?!127\.0\.0\.1)""",
    re.I)

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]


def chapter_pages(html: Path) -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [html / f"{f}.html" for f in files]


def test_every_page_of_the_table_of_contents_is_built(built_book):
    assert (built_book / "index.html").is_file()
    for page in chapter_pages(built_book):
        assert page.is_file(), f"missing {page}"


def test_no_page_loads_anything_from_another_host(built_book):
    for page in built_book.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        match = EXTERNAL.search(text)
        assert match is None, f"{page.relative_to(built_book)} loads {text[match.start():match.start() + 160]}"
        # MathJax and the widget-embedding scripts come from CDNs out of the box; not here.
        assert "cdn.jsdelivr" not in text and "require.min.js" not in text


def test_executed_pages_show_no_errors_and_every_glue_resolved(built_book):
    for page in chapter_pages(built_book):
        text = page.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, f"{page.name} shows a traceback"
        assert 'class="output traceback' not in text
        assert "{glue:" not in text, f"{page.name} has an unresolved glue role"


def test_first_chapter_shows_computed_numbers(built_book):
    text = (built_book / "notebooks" / "01_entropy.html").read_text(encoding="utf-8")
    # log2(6) and 1/2 log(2 pi e), glued from cells: their digits must appear in the prose.
    assert "2.585" in text and "1.4189" in text
    assert "jessl-interactive" in text and 'type="range"' in text
    assert "colab.research.google.com" in text  # the launch button


def test_the_reproductions_page_shows_every_chapters_computed_rows(built_book):
    from bs4 import BeautifulSoup  # the book theme's own dependency

    from jessl_lite.reproductions import VERDICTS

    soup = BeautifulSoup((built_book / "book" / "reproductions.html").read_text(encoding="utf-8"), "html.parser")
    tables = []
    for table in soup.find_all("table"):
        header_rows = table.find("thead").find_all("tr")
        assert len(header_rows) == 1, "a table's header spans two rows"
        header = [th.get_text(strip=True) for th in header_rows[0].find_all("th")]
        body = table.find("tbody").find_all("tr")
        rows = [[td.get_text(strip=True) for td in tr.find_all(["th", "td"])] for tr in body]
        tables.append((header, rows))
    claims = [(h, r) for h, r in tables if "verdict" in h]
    corrections = [(h, r) for h, r in tables if "computed correctly" in h]
    assert len(claims) == 7 and len(corrections) == 3, "one claims table per chapter, three of corrections"
    verdicts = []
    for header, rows in claims + corrections:
        assert rows and all(len(row) == len(rows[0]) and all(row) for row in rows), "an empty cell on the page"
        if "verdict" in header:
            assert header[0] == "claim" and len(header) == len(rows[0]), header
            verdicts += [row[header.index("verdict")] for row in rows]
    assert set(verdicts) <= set(VERDICTS) and len(verdicts) >= 30, sorted(set(verdicts))
    # Both outcomes occur: the page reports what did not hold as well as what did.
    assert "holds" in verdicts and set(verdicts) & {"holds in part", "does not hold", "not tested at scale"}


def test_a_failing_cell_fails_the_build(tmp_path):
    """Our _config.yml plus -W turns a notebook error into a failed build (plain JB exits 0)."""
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    (book / "book" / "intro.md").write_text("# Intro\n\nA page.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "broken.ipynb")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: broken\n")
    jupyter_book = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    result = subprocess.run(
        [jupyter_book, "build", str(book), "-W", "--keep-going"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode != 0, "a notebook with a failing cell built without error"
    report = book / "_build" / "html" / "reports" / "broken.err.log"
    assert "ZeroDivisionError" in report.read_text(), "the execution report names the error"
