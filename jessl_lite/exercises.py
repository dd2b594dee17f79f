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
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import info

__all__ = ["check", "EXERCISES", "strip_solutions"]


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise: a name, the reference answer's recipe, and a tolerance."""

    key: str
    title: str
    reference: Callable[[], tuple[float, ...]]
    rtol: float = 1e-3
    atol: float = 1e-3


EXERCISES: dict[str, Exercise] = {}


def _exercise(key: str, title: str, *, rtol: float = 1e-3, atol: float = 1e-3):
    def register(fn: Callable[[], tuple[float, ...]]) -> Callable[[], tuple[float, ...]]:
        EXERCISES[key] = Exercise(key, title, fn, rtol, atol)
        return fn

    return register


# --- chapter 1 -----------------------------------------------------------------------------

#: Exercise 1.1's die: each face half as likely as the one before, the last two tied.
DYADIC_DIE = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 32]

#: Exercise 1.2's joint table p(x, y): rows are x in {0, 1}, columns y in {0, 1, 2}.
TABLE_1_2 = [[1 / 4, 1 / 8, 1 / 8], [0.0, 1 / 4, 1 / 4]]


@_exercise("1.1", "entropy of the dyadic die, in bits")
def _ex_1_1() -> tuple[float, ...]:
    return (float(info.entropy(DYADIC_DIE, unit="bits")),)


@_exercise("1.2", "H(Y | X) and I(X; Y) of TABLE_1_2, in bits")
def _ex_1_2() -> tuple[float, ...]:
    h_y_given_x = info.conditional_entropy(TABLE_1_2, of=1, given=0, unit="bits")
    mi = info.mutual_information(TABLE_1_2, unit="bits")
    return (float(h_y_given_x), float(mi))


@_exercise("1.3", "the correlation rho > 0 whose Gaussian pair shares exactly 1 bit")
def _ex_1_3() -> tuple[float, ...]:
    # Invert I(rho) = -1/2 log2(1 - rho^2) by bisection on the package's own formula.
    lo, hi = 0.0, 1.0 - 1e-15
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(info.correlated_gaussian_mi(mid, unit="bits")) < 1.0:
            lo = mid
        else:
            hi = mid
    return (0.5 * (lo + hi),)


@_exercise("1.4", "h(3X) - h(X) for a scalar Gaussian X, in nats")
def _ex_1_4() -> tuple[float, ...]:
    return (float(info.gaussian_entropy(9.0) - info.gaussian_entropy(1.0)),)


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


if __name__ == "__main__":
    _main()
