"""The book's reproductions page: one row per claim a chapter tests, built from the chapter's own numbers.

Each chapter ends with a hidden cell that lists its claims with :func:`claim` (and the errors of
its sources that it corrects with :func:`correction`), from the values it computed from the
reference records or in closed form, and glues :func:`claims_table` as ``"reproductions"`` (and
:func:`corrections_table` as ``"corrections"``). ``book/reproductions.md`` pastes those tables,
so no number on that page is typed.

A verdict is one of :data:`VERDICTS`:

* ``"holds"``: every part of the claim holds in every seed (every seed of one arm beyond every
  seed of the other: :func:`jessl_lite.reference.compare`), or the exact computation agrees;
* ``"holds in part"``: some parts hold in every seed, others do not;
* ``"does not hold"``: no part holds in every seed (the seeds overlap, or the opposite holds);
* ``"not tested at scale"``: only a quick run or a smaller setting speaks to it (the scale
  column says what was run).

Example::

    >>> verdict([{"verdict": "holds"}, "unresolved"])
    'holds in part'
    >>> seeds([0.778, 0.80, 0.80], percent=True)
    '79.3% (77.8 to 80.0; 3 seeds)'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .validation import check_bool, check_str

__all__ = ["VERDICTS", "claim", "claims_table", "correction", "corrections_table", "glue_tables", "scale", "seeds",
           "verdict"]

VERDICTS = ("holds", "holds in part", "does not hold", "not tested at scale")

#: :func:`jessl_lite.reference.compare`'s words, as parts of a claim.
_PART = {"holds": True, "reversed": False, "unresolved": False}


def verdict(parts: Sequence[Any]) -> str:
    """The verdict of a claim from its parts: ``compare`` results, their ``"verdict"`` words, or bools.

    ``True`` or ``"holds"`` is a part that holds; ``False``, ``"reversed"`` and ``"unresolved"``
    are parts that do not.
    """
    if isinstance(parts, str | bytes | Mapping) or not isinstance(parts, Iterable):
        raise TypeError(f"parts must be a list of the claim's parts; got {type(parts).__name__}")
    parts = list(parts)
    if not parts:
        raise ValueError("parts must hold at least one part of the claim")
    held = []
    for i, part in enumerate(parts):
        if isinstance(part, Mapping):
            part = part.get("verdict")
        if isinstance(part, bool | np.bool_):
            held.append(bool(part))
        elif isinstance(part, str) and part in _PART:
            held.append(_PART[part])
        else:
            raise ValueError(
                f"parts[{i}] must be a bool, one of {sorted(_PART)}, or a compare() result; got {part!r}"
            )
    return "holds" if all(held) else "holds in part" if any(held) else "does not hold"


def seeds(values: Sequence[float] | Any, fmt: str = ".3f", *, percent: bool = False, unit: str = "") -> str:
    """``"mean (min to max; n seeds)"`` of per-seed values; ``percent`` prints fractions as percent."""
    check_str(fmt, "fmt", nonempty=True)
    check_bool(percent, "percent")
    check_str(unit, "unit")
    if isinstance(values, str | bytes) or (isinstance(values, Sequence) and any(
            isinstance(v, bool | np.bool_ | str) for v in values)):
        raise TypeError(f"values must be numbers, one per seed; got {values!r}")
    try:
        x = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise TypeError(f"values must be numbers, one per seed; got {values!r}") from err
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"values must be finite numbers, at least one; got {values!r}")
    scale, fmt_, suffix = (100.0, ".1f", "%") if percent else (1.0, fmt, unit)
    mean, low, high = (format(scale * v, fmt_) for v in (x.mean(), x.min(), x.max()))
    if x.size == 1:
        return f"{mean}{suffix} (one run)"
    return f"{mean}{suffix} ({low} to {high}; {x.size} seeds)"


def claim(text: str, source: str, ours: str, scale: str, verdict: str, *, source_value: str = "not given") -> dict:
    """One row of the reproductions table.

    Args:
        text: the claim, in one sentence.
        source: who makes it (a paper or a seed post, with the section or figure).
        ours: our number(s), e.g. from :func:`seeds`.
        scale: what was run: data, model, steps, seeds (or "exact").
        verdict: one of :data:`VERDICTS`, usually from :func:`verdict`.
        source_value: the source's own number, where it gives one.
    """
    for name, value in (("text", text), ("source", source), ("ours", ours), ("scale", scale),
                        ("source_value", source_value)):
        check_str(value, name, nonempty=True)
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}; got {verdict!r}")
    return {"claim": text, "source": source, "source's number": source_value, "ours": ours, "scale": scale,
            "verdict": verdict}


def correction(statement: str, source: str, what_goes_wrong: str, source_value: str, correct_value: str) -> dict:
    """One row of the corrections table: a formula or step of a source that is wrong, and the computation."""
    for name, value in (("statement", statement), ("source", source), ("what_goes_wrong", what_goes_wrong),
                        ("source_value", source_value), ("correct_value", correct_value)):
        check_str(value, name, nonempty=True)
    return {"the source's formula or step": statement, "source": source, "what goes wrong": what_goes_wrong,
            "computed with the source's": source_value, "computed correctly": correct_value}


def claims_table(rows: Iterable[Mapping[str, str]]):
    """The rows of :func:`claim` as a pandas DataFrame (what a chapter glues as ``"reproductions"``)."""
    return _table(rows, ("claim", "source", "source's number", "ours", "scale", "verdict"), "claim")


def corrections_table(rows: Iterable[Mapping[str, str]]):
    """The rows of :func:`correction` as a pandas DataFrame (glued as ``"corrections"``)."""
    return _table(rows, ("the source's formula or step", "source", "what goes wrong", "computed with the source's",
                         "computed correctly"), "correction")


def _table(rows, columns: tuple[str, ...], what: str):
    import pandas as pd

    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
        raise TypeError(f"rows must be an iterable of {what}() rows; got {type(rows).__name__}")
    rows = list(rows)
    if not rows:
        raise ValueError(f"rows must hold at least one {what}() row")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or tuple(row) != columns:
            raise ValueError(f"rows[{i}] must be a row made by {what}(); got {row!r}")
    table = pd.DataFrame(rows, columns=list(columns)).set_index(columns[0])
    # The first column's name on the columns' axis, not the index's: pandas then writes one header
    # row with the name in its corner, instead of a second header row holding only that name.
    table.columns.name, table.index.name = columns[0], None
    return table


def scale(experiment: str, what: str, *, show_batch: bool = True) -> str:
    """The scale column for claims tested on a reference experiment's stored records.

    ``what`` says the data and model in a few words (``"MNIST-60k, the chapter's ConvNet"``); the
    steps, batch sizes and seeds are read from the records themselves. ``show_batch=False`` leaves
    the batch out, for an experiment whose loop draws its own batches (``what`` then says it).
    """
    from . import reference

    check_str(experiment, "experiment", nonempty=True)
    check_str(what, "what", nonempty=True)
    check_bool(show_batch, "show_batch")
    arms = reference.load(experiment)
    if not arms:
        raise ValueError(f"experiment {experiment!r} has no stored records")
    runs = [r for records in arms.values() for r in records]
    steps = sorted({r.steps for r in runs})
    # fit's records keep the batch under "schedule"; an experiment's own loop at the top level.
    found = [(r.config.get("batch_size"), r.config.get("schedule", {}).get("batch_size")) for r in runs]
    batches = sorted({b for pair in found for b in pair if isinstance(b, int)})
    steps_text = " or ".join(f"{s:,}" for s in steps) + " steps"
    batch_text = f" at batch {' or '.join(str(b) for b in batches)}" if batches and show_batch else ""
    seeds = min(len(records) for records in arms.values())
    return f"{what}; {steps_text}{batch_text}; {seeds} seeds per arm ({len(runs)} records of {experiment})"


def glue_tables(rows: Iterable[Mapping[str, str]], corrections: Iterable[Mapping[str, str]] = ()) -> None:
    """Glue a chapter's rows as ``"reproductions"`` (and its corrections as ``"corrections"``) for
    ``book/reproductions.md``, with no cell shortened (pandas cuts cells at 50 characters by default)."""
    import pandas as pd

    from .plots import glue

    table = claims_table(rows)
    if isinstance(corrections, str | bytes | Mapping) or not isinstance(corrections, Iterable):
        raise TypeError(f"corrections must be an iterable of correction() rows; got {type(corrections).__name__}")
    fixes = list(corrections)
    fixes_table = corrections_table(fixes) if fixes else None
    with pd.option_context("display.max_colwidth", None):
        glue("reproductions", table)
        if fixes_table is not None:
            glue("corrections", fixes_table)
