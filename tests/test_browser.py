"""Open every page of the built book in headless Chromium, offline, and look at it as a reader would.

Requires Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``) and the
``playwright`` Python package; never ``playwright install``. In CI (``CI=true``) a missing
browser is an error, not a skip.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
# Known harmless console noise of sphinx-thebe and the theme.
ALLOWED_CONSOLE = ("THEBE_JS_URL", "invalid theme mode", "Identifier 'THEBE")

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("book")]


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    return sync_playwright


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def pages(built_book: Path) -> list[str]:
    found = []
    for page in sorted(built_book.rglob("*.html")):
        rel = page.relative_to(built_book).as_posix()
        if rel.startswith(("_static/", "_sources/", "_images/")):
            continue
        # index.html only redirects (meta refresh) to the root page, which is checked itself:
        # checking it raced the redirect (the new page's math counted before MathJax had run).
        if re.search(r"<meta[^>]+http-equiv=.refresh", page.read_text(errors="replace"), flags=re.I):
            continue
        found.append(rel)
    return found


def test_every_page_reads_correctly_offline(built_book, server, tmp_path):
    sync_playwright = _browser_or_skip()
    shots = Path(os.environ.get("JESSL_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        outside: list[str] = []

        def guard(route):
            host = urlparse(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        checked_math = 0
        for rel in pages(built_book):
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m, c=console: c.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, c=console: c.append(str(e)))
            page.goto(f"{server}/{rel}", wait_until="load")
            # MathJax loads asynchronously: where the page includes it, wait for its typesetting.
            if page.locator("script[src*='mathjax']").count():
                page.wait_for_function(
                    "() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise"
                )
                page.evaluate("() => window.MathJax.startup.promise")
            n_math = page.locator(".math").count()
            n_typeset = page.locator("mjx-container").count()
            if n_math:
                checked_math += 1
                if n_typeset < n_math:
                    problems.append(f"{rel}: {n_math} math elements but only {n_typeset} typeset")
                untypeset = page.evaluate(
                    "() => [...document.querySelectorAll('.math')]"
                    ".filter(e => !e.querySelector('mjx-container')).length"
                )
                if untypeset:
                    problems.append(f"{rel}: {untypeset} math elements left as raw TeX")
                errors = page.locator("mjx-merror").all_inner_texts()
                if errors:
                    problems.append(f"{rel}: MathJax could not typeset: {errors}")
            body = page.inner_text("article") if page.locator("article").count() else page.inner_text("body")
            # Prose only: code listings (package docstrings included) legitimately show TeX source.
            prose = page.evaluate(
                "() => { const root = (document.querySelector('article') || document.body).cloneNode(true);"
                " root.querySelectorAll('pre, code, .highlight').forEach(e => e.remove());"
                " return root.innerText; }"
            )
            for raw in ("$$", "\\begin{", "\\frac{"):
                if raw in prose:
                    problems.append(f"{rel}: raw TeX {raw!r} visible")
            broken = page.evaluate(
                "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                ".map(i => i.src.slice(0, 80))"
            )
            if broken:
                problems.append(f"{rel}: images that did not load: {broken}")
            if page.locator(".output.traceback, .output.error").count() or "Traceback (most recent call last)" in body:
                problems.append(f"{rel}: a cell shows an error traceback")
            bad_console = [m for m in console if not any(a in m for a in ALLOWED_CONSOLE)]
            if bad_console:
                problems.append(f"{rel}: console errors {bad_console}")
            if rel.startswith("notebooks/"):
                page.screenshot(path=str(shots / (rel.replace("/", "_") + ".png")), full_page=True)
            page.close()
        browser.close()
    assert checked_math >= 1, "no page with math was found"
    assert not outside, f"requests left the machine: {sorted(set(outside))}"
    assert not problems, "\n".join(problems)


def test_interactive_figure_scrubs_without_a_kernel(built_book, server):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(f"{server}/notebooks/01_entropy.html", wait_until="load")
        figure = page.locator(".jessl-interactive").first
        figure.scroll_into_view_if_needed()
        img = figure.locator("img")
        before = img.get_attribute("src")
        slider = figure.locator('input[type="range"]').last
        slider.evaluate("(el) => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
        after = img.get_attribute("src")
        label = figure.locator("output").last.inner_text()
        browser.close()
    assert before != after, "moving a slider did not change the figure"
    assert label == "0.5"
