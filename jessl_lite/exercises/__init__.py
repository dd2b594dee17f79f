"""Checkers for the book's exercises, and the tool that makes a student version of a chapter.

A student answers an exercise in a notebook and calls :func:`check`, which says whether the
answer is right without printing the reference answer. The references are computed here from
the problem data with the package's own functions, never typed in, so a wrong formula in the
package would show up as a failing solution cell in the book build.

Solution cells in the chapters carry the tag ``solution`` (hidden behind a toggle in the book).
``python -m jessl_lite.exercises strip notebooks/01_entropy.ipynb student.ipynb`` writes a copy
without them, for a lecturer to hand out; ``python -m jessl_lite.exercises strip notebooks
_build/student`` writes every chapter's (CI does, and the tests execute them). It never writes
onto its source, overwrites an existing file only with ``--force``, and matches the tag exactly
(a cell tagged ``"no-solution"`` is kept).

A *coding* exercise (:func:`register_function`) takes the student's function instead of a
number, and runs it against the package's own on random inputs::

    >>> check("3.2", my_nt_xent)   # doctest: +SKIP
    Exercise 3.2: correct (agrees with the package on 5 random inputs).
    True

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
from typing import Any

import torch

from ..validation import check_bool, check_callable, check_int, check_number, check_path, check_str

__all__ = ["check", "EXERCISES", "Exercise", "register", "CODING_EXERCISES", "CodingExercise", "register_function",
           "strip_solutions", "strip_folder"]


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


# --- coding exercises ----------------------------------------------------------------------


@dataclass(frozen=True)
class CodingExercise:
    """A coding exercise: the student's function is run against the package's on random inputs.

    ``inputs(generator)`` draws one tuple of arguments; the checker calls the student's function
    and ``reference`` on copies of the same arguments, ``trials`` times, and compares the results
    (and, with ``gradients``, the gradients of their sums with respect to every floating-point
    tensor argument: a stop-gradient in the wrong place changes them and not the value).
    """

    key: str
    title: str
    reference: Callable[..., Any]
    inputs: Callable[[torch.Generator], tuple]
    trials: int = 5
    rtol: float = 1e-5
    atol: float = 1e-6
    gradients: bool = False

    def __post_init__(self) -> None:
        check_str(self.key, "key")
        check_str(self.title, "title")
        check_callable(self.reference, "reference", "the package's function")
        check_callable(self.inputs, "inputs", "inputs(generator) -> tuple of arguments")
        check_int(self.trials, "trials", minimum=1)
        check_number(self.rtol, "rtol", low=0.0)
        check_number(self.atol, "atol", low=0.0)
        check_bool(self.gradients, "gradients")


CODING_EXERCISES: dict[str, CodingExercise] = {}


def register_function(
    key: str,
    title: str,
    reference: Callable[..., Any],
    *,
    trials: int = 5,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    gradients: bool = False,
):
    """Decorator: register ``inputs(generator) -> tuple`` as the random inputs of coding exercise ``key``.

    ``reference`` is the package's function that the student's must agree with.
    """
    check_str(key, "key", nonempty=True)
    check_str(title, "title", nonempty=True)
    # Every other argument is checked now, where the exercise is declared, not at its first use.
    CodingExercise(key, title, reference, lambda generator: (), trials, rtol, atol, gradients)

    def decorate(inputs: Callable[[torch.Generator], tuple]) -> Callable[[torch.Generator], tuple]:
        if key in EXERCISES or key in CODING_EXERCISES:
            raise ValueError(f"exercise {key!r} is registered twice")
        CODING_EXERCISES[key] = CodingExercise(key, title, reference, inputs, trials, rtol, atol, gradients)
        return inputs

    return decorate



def _copies(args: tuple, gradients: bool) -> tuple:
    # Fresh leaves for each caller, so neither function can change the other's inputs.
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            a = a.detach().clone()
            if gradients and a.is_floating_point():
                a.requires_grad_(True)
        out.append(a)
    return tuple(out)


def _describe(args: tuple) -> str:
    parts = []
    for a in args:
        if isinstance(a, torch.Tensor):
            parts.append(f"tensor of shape {tuple(a.shape)}")
        elif isinstance(a, torch.nn.Module):
            parts.append(type(a).__name__)
        else:
            parts.append(repr(a))
    return "(" + ", ".join(parts) + ")"


def _check_function(ex: CodingExercise, fn: Callable[..., Any]) -> bool:
    key = ex.key
    for trial in range(ex.trials):
        args = ex.inputs(torch.Generator().manual_seed(1000 * trial + 7))
        mine_args, ref_args = _copies(args, ex.gradients), _copies(args, ex.gradients)
        try:
            mine = fn(*mine_args)
        except NotImplementedError:
            mine = None
        except Exception as err:  # a student's bug is a message, not a traceback
            print(f"Exercise {key}: not yet. Your function raised {type(err).__name__}: {err} "
                  f"on the input {_describe(args)}.")
            return False
        if mine is None:
            print(f"Exercise {key}: not answered yet (your function returns None: write its body; {ex.title}).")
            return False
        reference = ex.reference(*ref_args)
        try:
            mine_t = torch.as_tensor(mine, dtype=reference.dtype) if not isinstance(mine, torch.Tensor) else mine
        except (TypeError, ValueError, RuntimeError):
            print(f"Exercise {key}: not yet. Your function returned {type(mine).__name__}, not a number or tensor.")
            return False
        if tuple(mine_t.shape) != tuple(reference.shape):
            print(f"Exercise {key}: not yet. On the input {_describe(args)} your function returned shape "
                  f"{tuple(mine_t.shape)}; expected {tuple(reference.shape)}.")
            return False
        if not torch.allclose(mine_t.detach().to(reference.dtype), reference.detach(), rtol=ex.rtol, atol=ex.atol):
            print(f"Exercise {key}: not yet. On random input {trial + 1} {_describe(args)} your function's value "
                  "differs from the package's.")
            return False
        if ex.gradients and not _same_gradients(key, args, mine_t, mine_args, reference, ref_args, ex):
            return False
    print(f"Exercise {key}: correct (agrees with the package on {ex.trials} random inputs"
          f"{', values and gradients' if ex.gradients else ''}).")
    return True


def _same_gradients(key, args, mine, mine_args, reference, ref_args, ex) -> bool:
    leaves = [i for i, a in enumerate(ref_args) if isinstance(a, torch.Tensor) and a.requires_grad]
    ref_grads = torch.autograd.grad(reference.sum(), [ref_args[i] for i in leaves], allow_unused=True)
    if mine.requires_grad:
        my_grads = torch.autograd.grad(mine.sum(), [mine_args[i] for i in leaves], allow_unused=True)
    else:
        my_grads = [None] * len(leaves)
    for i, r, m in zip(leaves, ref_grads, my_grads, strict=True):
        r = torch.zeros_like(ref_args[i]) if r is None else r
        m = torch.zeros_like(mine_args[i]) if m is None else m
        if not torch.allclose(m.to(r.dtype), r, rtol=ex.rtol, atol=ex.atol):
            print(f"Exercise {key}: not yet. The values agree, but the gradient with respect to argument {i + 1} "
                  "differs from the package's (is a stop-gradient missing, or in the wrong place?).")
            return False
    return True


# --- the checker ---------------------------------------------------------------------------


def check(key: str, answer) -> bool:
    """Say whether ``answer`` solves exercise ``key``; return True when it does.

    Args:
        key: the exercise number as printed in the book, e.g. ``"1.2"``.
        answer: a number, or a tuple of numbers in the order the exercise asks for them; for a
            coding exercise, the student's function, which is run against the package's on
            random inputs. ``...`` (Ellipsis), ``None``, or a function whose body is still
            ``...`` (it returns ``None``) means "not answered yet".
    """
    if not isinstance(key, str) or (key not in EXERCISES and key not in CODING_EXERCISES):
        raise ValueError(f"key must name an exercise, one of {sorted([*EXERCISES, *CODING_EXERCISES])}; got {key!r}")
    if key in CODING_EXERCISES:
        coding = CODING_EXERCISES[key]
        if answer is None or answer is Ellipsis:
            print(f"Exercise {key}: not answered yet (write the function and pass it to check; {coding.title}).")
            return False
        if not callable(answer):
            print(f"Exercise {key}: the answer must be your function itself (check({key!r}, my_function)); "
                  f"got {type(answer).__name__}.")
            return False
        return _check_function(coding, answer)
    ex = EXERCISES[key]
    if answer is None or answer is Ellipsis:
        print(f"Exercise {key}: not answered yet (replace ... with your answer: {ex.title}).")
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
    strip.add_argument("source", type=Path, help="a chapter notebook (.ipynb), or a folder of them (every chapter)")
    strip.add_argument("target", type=Path, help="where to write the student version (not the source); a folder, "
                                                 "created if need be, when source is a folder")
    strip.add_argument("--force", action="store_true", help="overwrite target files that exist")
    args = parser.parse_args(argv)
    try:
        written = strip_folder(args.source, args.target, force=args.force) if args.source.is_dir() else {
            args.target: _strip_file(args.source, args.target, force=args.force)}
    except (OSError, ValueError, TypeError) as err:
        # One line in the words of the command line, not a traceback.
        parser.exit(2, f"{parser.prog} strip: error: {err}\n")
    for target, removed in written.items():
        print(f"wrote {target}: {removed} solution cell(s) removed")


def strip_folder(source: Path, target: Path, *, force: bool = False) -> dict[Path, int]:
    """Write the student version of every notebook in folder ``source`` into folder ``target``.

    ``target`` is created if it does not exist and must not be ``source``. Returns each written
    path with the number of solution cells removed from it.
    """
    source, target = Path(check_path(source, "source")), Path(check_path(target, "target"))
    check_bool(force, "force")
    if not source.is_dir():
        raise ValueError(f"source {source} is not a folder of notebooks")
    chapters = sorted(source.glob("*.ipynb"))
    if not chapters:
        raise ValueError(f"source {source} holds no notebook (*.ipynb)")
    if target.exists() and not target.is_dir():
        raise ValueError(f"target {target} is a file; give a folder such as _build/student")
    if target.exists() and os.path.samefile(source, target):
        raise ValueError(f"target {target} is the source folder itself; writing there would delete its solutions")
    target.mkdir(parents=True, exist_ok=True)
    return {target / chapter.name: _strip_file(chapter, target / chapter.name, force=force) for chapter in chapters}


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
