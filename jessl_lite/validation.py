"""Checks for the arguments of public functions: one copy of each, with messages that name the argument.

Every message says which argument was wrong, what was expected and what was given, e.g.
``batch_size must be an int >= 1; got 0``. Booleans are not accepted where a number is expected
(``True`` is an int in Python, and a silent ``steps=True`` is a bug). These checks look at Python
values and tensor metadata only: none of them reads a tensor's data, so none of them
synchronises with a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["check_int", "check_number", "check_choice", "check_bool"]


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``; ``TypeError``/``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | _numpy_int()):
        raise TypeError(f"{name} must be an int{_range(minimum, maximum)}; got {value!r} ({type(value).__name__})")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int{_range(minimum, maximum)}; got {value}")
    return value


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval given (``low_open``: ``> low`` instead of ``>=``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | _numpy_number()):
        raise TypeError(f"{name} must be a number{_interval(low, high, low_open, high_open)}; "
                        f"got {value!r} ({type(value).__name__})")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        raise ValueError(f"{name} must be a finite number{_interval(low, high, low_open, high_open)}; got {value}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a ``bool`` (``None``, 0 and 1 are refused: they hide mistakes)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return value


def _range(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _interval(low, high, low_open, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return (" " + " and ".join(parts)) if parts else ""


def _numpy_int():
    import numpy as np

    return np.integer


def _numpy_number():
    import numpy as np

    return np.integer | np.floating
