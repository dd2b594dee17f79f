"""Checkers for the book's exercises, and the tool that makes a student version of a chapter.

A student answers an exercise in a notebook and calls :func:`check`, which says whether the
answer is right without printing the reference answer. The references are computed here from
the problem data with the package's own functions, never typed in, so a wrong formula in the
package would show up as a failing solution cell in the book build.

Solution cells in the chapters carry the tag ``solution`` (hidden behind a toggle in the book).
``python -m jessl_lite.exercises strip notebooks/01_entropy.ipynb student.ipynb`` writes a copy
without them, for a lecturer to hand out. It never writes onto its source, overwrites an
existing file only with ``--force``, and matches the tag exactly (a cell tagged
``"no-solution"`` is kept).

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
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..validation import check_callable, check_number, check_str

__all__ = ["check", "EXERCISES", "Exercise", "register", "strip_solutions"]


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise: a name, the reference answer's recipe, and a tolerance."""

    key: str
    title: str
    reference: Callable[[], tuple[float, ...]]
    rtol: float = 1e-3
    atol: float = 1e-3

    def __post_init__(self) -> None:
        check_str(self.key, "key")
        check_str(self.title, "title")
        check_callable(self.reference, "reference", "reference() -> tuple of floats")
        check_number(self.rtol, "rtol", low=0.0)
        check_number(self.atol, "atol", low=0.0)


EXERCISES: dict[str, Exercise] = {}


def register(key: str, title: str, *, rtol: float = 1e-3, atol: float = 1e-3):
    """Decorator: register ``fn() -> tuple of floats`` as the reference answer of exercise ``key``.

    Each chapter's exercises live in a module ``chNN.py`` of this package, loaded below.
    """

    if not isinstance(key, str) or not isinstance(title, str):
        raise TypeError(f"key and title must be strings; got {type(key).__name__} and {type(title).__name__}")
    rtol = check_number(rtol, "rtol", low=0.0)
    atol = check_number(atol, "atol", low=0.0)

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
    if not isinstance(key, str) or key not in EXERCISES:
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
        if any(isinstance(v, bool | str) for v in given):  # True is 1.0 and "0.5" parses: neither is an answer
            raise TypeError
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
    """A copy of a notebook (as JSON dict) without the cells tagged ``tag``.

    A cell is removed when its ``metadata.tags`` list holds ``tag`` itself (not a longer tag
    containing it). ``tags`` that is not a list of strings is an error naming the cell: nbformat
    requires a list, and guessing could leave a solution in the student's copy.
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("notebook must be a notebook's JSON as a dict with a 'cells' list")
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"tag must be a non-empty str; got {tag!r}")
    kept = []
    for number, cell in enumerate(notebook["cells"]):
        metadata = cell.get("metadata", {}) if isinstance(cell, dict) else None
        if not isinstance(metadata, dict):
            raise ValueError(f"notebook cell {number} is not a cell with a metadata dict: {str(cell)[:80]!r}")
        tags = metadata.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError(
                f"notebook cell {number} has metadata.tags = {tags!r}; nbformat wants a list of strings such as "
                f"[{tag!r}]. Fix the notebook and run again"
            )
        if tag not in tags:
            kept.append(cell)
    return {**notebook, "cells": kept}


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m jessl_lite.exercises",
        description="Write a student version of a chapter: the same notebook without its solution cells.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    strip = sub.add_parser("strip", help="remove the cells tagged 'solution'")
    strip.add_argument("source", type=Path, help="the chapter notebook (.ipynb)")
    strip.add_argument("target", type=Path, help="where to write the student version (not the source)")
    strip.add_argument("--force", action="store_true", help="overwrite target if it exists")
    args = parser.parse_args(argv)
    try:
        removed = _strip_file(args.source, args.target, force=args.force)
    except (OSError, ValueError, TypeError) as err:
        # One line in the words of the command line, not a traceback.
        parser.exit(2, f"{parser.prog} strip: error: {err}\n")
    print(f"wrote {args.target}: {removed} solution cell(s) removed")


def _strip_file(source: Path, target: Path, *, force: bool) -> int:
    if not source.is_file():
        raise FileNotFoundError(f"source {source} is not a file")
    if target.exists() and (target.resolve() == source.resolve() or os.path.samefile(source, target)):
        raise ValueError(f"target {target} is the source itself; writing there would delete its solutions. "
                         "Give another file name")
    if target.is_dir():
        raise ValueError(f"target {target} is a folder; give a file name such as {target / source.name}")
    if target.exists() and not force:
        raise FileExistsError(f"target {target} exists; pass --force to overwrite it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder of target {target} does not exist")
    try:
        notebook = json.loads(source.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"source {source} is not a notebook (not JSON: {err})") from err
    student = strip_solutions(notebook)
    # Write beside the target, then rename: an interrupted run never leaves half a notebook.
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return len(notebook["cells"]) - len(student["cells"])


def _load_chapters() -> None:
    # Every module chNN.py registers its chapter's exercises on import.
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{module.name}")


_load_chapters()
