"""Checkers for the book's exercises, and the tool that makes a student version of a chapter.

A student answers an exercise in a notebook and calls :func:`check`, which says whether the
answer is right without printing the reference answer. The references are computed here from
the problem data with the package's own functions, never typed in, so a wrong formula in the
package would show up as a failing solution cell in the book build.

Solution cells in the chapters carry the tag ``solution`` (hidden behind a toggle in the book).
``python -m jessl_lite.exercises strip notebooks/01_entropy.ipynb student.ipynb`` writes a copy
without them, for a lecturer to hand out.

Example::

    >>> check("1.3", 0.866)        # doctest: +SKIP
    Exercise 1.3: correct.
    True
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["check", "EXERCISES", "Exercise", "register", "strip_solutions"]


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise: a name, the reference answer's recipe, and a tolerance."""

    key: str
    title: str
    reference: Callable[[], tuple[float, ...]]
    rtol: float = 1e-3
    atol: float = 1e-3


EXERCISES: dict[str, Exercise] = {}


def register(key: str, title: str, *, rtol: float = 1e-3, atol: float = 1e-3):
    """Decorator: register ``fn() -> tuple of floats`` as the reference answer of exercise ``key``.

    Each chapter's exercises live in a module ``chNN.py`` of this package, loaded below.
    """

    def decorate(fn: Callable[[], tuple[float, ...]]) -> Callable[[], tuple[float, ...]]:
        if key in EXERCISES:
            raise ValueError(f"exercise {key!r} is registered twice")
        EXERCISES[key] = Exercise(key, title, fn, rtol, atol)
        return fn

    return decorate


# --- the checker ---------------------------------------------------------------------------


def check(key: str, answer) -> bool:
    """Say whether ``answer`` solves exercise ``key``; return True when it does.

    Args:
        key: the exercise number as printed in the book, e.g. ``"1.2"``.
        answer: a number, or a tuple of numbers in the order the exercise asks for them.
            ``...`` (Ellipsis) or ``None`` means "not answered yet".
    """
    if key not in EXERCISES:
        raise ValueError(f"key must name an exercise, one of {sorted(EXERCISES)}; got {key!r}")
    ex = EXERCISES[key]
    if answer is None or answer is Ellipsis:
        print(f"Exercise {key}: replace ... with your answer ({ex.title}).")
        return False
    given = answer if isinstance(answer, tuple | list) else (answer,)
    reference = ex.reference()
    if len(given) != len(reference):
        print(f"Exercise {key}: expected {len(reference)} number(s) ({ex.title}); got {len(given)}.")
        return False
    try:
        values = [float(v) for v in given]
    except (TypeError, ValueError):
        print(f"Exercise {key}: the answer must be numbers; got {answer!r}.")
        return False
    wrong = [
        i
        for i, (v, r) in enumerate(zip(values, reference, strict=True))
        if not math.isclose(v, r, rel_tol=ex.rtol, abs_tol=ex.atol)
    ]
    if not wrong:
        print(f"Exercise {key}: correct.")
        return True
    which = "" if len(reference) == 1 else f" (number(s) {', '.join(str(i + 1) for i in wrong)})"
    print(f"Exercise {key}: not yet{which}. Check your units and try again.")
    return False


# --- the student version -------------------------------------------------------------------


def strip_solutions(notebook: dict, tag: str = "solution") -> dict:
    """A copy of a notebook (as JSON dict) without the cells tagged ``tag``."""
    if not isinstance(notebook, dict) or "cells" not in notebook:
        raise ValueError("notebook must be a notebook's JSON as a dict with a 'cells' list")
    kept = [c for c in notebook["cells"] if tag not in c.get("metadata", {}).get("tags", [])]
    return {**notebook, "cells": kept}


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m jessl_lite.exercises",
        description="Write a student version of a chapter: the same notebook without its solution cells.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    strip = sub.add_parser("strip", help="remove the cells tagged 'solution'")
    strip.add_argument("source", type=Path)
    strip.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    notebook = json.loads(args.source.read_text(encoding="utf-8"))
    student = strip_solutions(notebook)
    args.target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    removed = len(notebook["cells"]) - len(student["cells"])
    print(f"wrote {args.target}: {removed} solution cell(s) removed")


def _load_chapters() -> None:
    # Every module chNN.py registers its chapter's exercises on import.
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{module.name}")


_load_chapters()
