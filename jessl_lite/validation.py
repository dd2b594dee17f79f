"""Checks for the arguments of public functions: one copy of each, with messages that name the argument.

Every message says which argument was wrong, what was expected and what was given, e.g.
``batch_size must be an int >= 1; got 0``. Booleans are not accepted where a number is expected
(``True`` is an int in Python, and a silent ``steps=True`` is a bug). Call these at public
boundaries only, with the name the caller wrote (``dim_x``, not the helper's ``in_dim``).

Two kinds of tensor check, kept apart on purpose:

* :func:`check_tensor`, :func:`check_same_shape`, :func:`check_same_device` look at metadata
  only (type, rank, shape, dtype, device). They never read a tensor's data, so they never
  synchronise with a GPU and are safe on the training hot path. NaN *inside* a tensor passes
  through them, as it passes through torch; the training loop's NaN guard catches it.
* :func:`check_finite_tensor`, :func:`check_probability_table`, :func:`check_covariance` read the
  data (one host synchronisation each). They are for functions that return an exact answer on a
  small table (``info``, ``experiments.worlds``, ``experiments.gaussian_ib``), where a NaN in the
  input would otherwise become a plausible-looking wrong number.
* :func:`check_tensor_range` reads the data too; with ``cpu_only=True`` it checks CPU tensors
  (where reading costs no wait) and lets tensors on an accelerator through unread, for functions
  that also run inside a training step (``views``).

Example::

    >>> check_int(3, "steps", minimum=1)
    3
    >>> check_number(float("nan"), "temperature", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: temperature must be a finite number > 0; got nan
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "check_int",
    "check_number",
    "check_probability",
    "check_choice",
    "check_bool",
    "check_str",
    "check_path",
    "check_sizes",
    "check_int_sequence",
    "check_interval",
    "check_generator",
    "check_instance",
    "check_callable",
    "check_device",
    "check_tensor",
    "check_same_shape",
    "check_same_device",
    "check_matching_tensors",
    "check_finite_tensor",
    "check_tensor_range",
    "as_float64",
    "check_probability_table",
    "check_covariance",
]


# --- Python scalars --------------------------------------------------------------------------


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
    """``value`` as a finite ``float`` in the interval given (``low_open``: ``> low`` instead of ``>=``).

    NaN and infinities are always refused: a NaN compares false with everything, so a check
    written as ``if value < low: raise`` lets it through (a NaN tolerance disables the test it
    tunes).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | _numpy_number()):
        raise TypeError(f"{name} must be a number{_interval(low, high, low_open, high_open)}; "
                        f"got {value!r} ({type(value).__name__})")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        raise ValueError(f"{name} must be a finite number{_interval(low, high, low_open, high_open)}; got {value}")
    return value


def check_probability(value: Any, name: str) -> float:
    """``value`` as a ``float`` in ``[0, 1]``."""
    return check_number(value, name, low=0.0, high=1.0)


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


def check_str(value: Any, name: str, *, optional: bool = False, nonempty: bool = False) -> str | None:
    """``value`` if it is a ``str`` (non-empty if ``nonempty``; ``None`` too when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or (nonempty and not value):
        words = "a non-empty str" if nonempty else "a str"
        raise TypeError(f"{name} must be {words}{' or None' if optional else ''}; got {value!r}")
    return value


def check_path(value: Any, name: str, *, optional: bool = False) -> Any:
    """``value`` if it is a ``str`` or ``os.PathLike`` (or ``None`` when ``optional``)."""
    import os

    if value is None and optional:
        return None
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path (str or os.PathLike){' or None' if optional else ''}; "
                        f"got {type(value).__name__}")
    return value


def check_sizes(**sizes: Any) -> None:
    """Each ``name=value`` an int >= 1 (widths, numbers of layers), checked under the caller's names."""
    for name, value in sizes.items():
        check_int(value, name, minimum=1)


def check_int_sequence(
    value: Any, name: str, *, minimum: int | None = None, min_length: int = 0
) -> tuple[int, ...]:
    """``value`` (a list or tuple of ints, each ``>= minimum``) as a tuple; element ``i`` is named ``name[i]``."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of ints such as (512, 512); got {value!r} ({type(value).__name__})")
    if len(value) < min_length:
        raise ValueError(f"{name} must hold at least {min_length} int(s); got {len(value)}")
    return tuple(check_int(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(value))


def check_interval(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> tuple[float, float]:
    """``value`` as a pair ``(a, b)`` of finite numbers with ``low <= a <= b <= high`` (``low < a`` if ``low_open``)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high) of numbers; got {value!r}")
    bounds = _interval(low, high, low_open, False)
    a = check_number(value[0], f"{name}[0]", low=low, high=high, low_open=low_open)
    b = check_number(value[1], f"{name}[1]", low=low, high=high, low_open=low_open)
    if a > b:
        raise ValueError(f"{name} must be a pair (low, high) with low <= high{bounds and ', each' + bounds}; "
                         f"got {tuple(value)}")
    return a, b


def check_generator(value: Any, name: str, *, optional: bool = False) -> torch.Generator | None:
    """``value`` if it is a ``torch.Generator`` (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, torch.Generator):
        allowed = "a torch.Generator or None" if optional else "a torch.Generator"
        raise TypeError(f"{name} must be {allowed}; got {type(value).__name__}")
    return value


def check_instance(value: Any, name: str, kind: type | tuple[type, ...], words: str) -> Any:
    """``value`` if it is an instance of ``kind``; ``words`` says what was expected (``"an nn.Module"``)."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {words}; got {type(value).__name__}")
    return value


def check_callable(value: Any, name: str, how: str = "") -> Any:
    """``value`` if it is callable; ``how`` shows the expected call (``"hook(method, step) -> dict"``)."""
    if not callable(value):
        shape = f" as {how}" if how else ""
        raise TypeError(f"{name} must be callable{shape}; got {type(value).__name__}")
    return value


def check_device(value: Any, name: str) -> torch.device:
    """``value`` (``"cpu"``, ``"cuda:1"``, a ``torch.device``) as a device that exists on this machine.

    A GPU the machine lacks is named here, rather than by the first tensor moved there.
    """
    if not isinstance(value, str | torch.device):
        raise TypeError(f"{name} must be a str or a torch.device such as 'cpu' or 'cuda'; got {type(value).__name__}")
    try:
        device = torch.device(value)
    except RuntimeError as err:
        raise ValueError(f"{name} must name a torch device such as 'cpu' or 'cuda'; got {value!r}") from err
    given = f"{name}={value!r}" if isinstance(value, str) else f"{name}={device}"
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{given} asks for a CUDA GPU, but none is available here; use 'cpu'")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{given} asks for GPU {device.index}, but this machine has {count} "
                             f"(cuda:0 to cuda:{count - 1})")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{given} asks for Apple's MPS, which is not available here; use 'cpu'")
    return device


# --- tensors: metadata only, never the data -----------------------------------------------------


def check_tensor(
    value: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    min_ndim: int | None = None,
    dims: str | None = None,
    floating: bool = False,
    dtype: torch.dtype | Sequence[torch.dtype] | None = None,
    nonempty: bool = False,
) -> torch.Tensor:
    """``value`` if it is a tensor of the rank and dtype asked for; reads no data (no GPU sync).

    Args:
        value: the argument.
        name: its public name.
        ndim: the allowed rank(s).
        min_ndim: the smallest allowed rank.
        dims: the expected shape in words for messages, e.g. ``"(N, D)"``.
        floating: require a floating-point dtype.
        dtype: the allowed dtype(s).
        nonempty: refuse tensors with no elements.
    """
    shape_words = f" of shape {dims}" if dims else ""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor{shape_words}; got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype}")
    if dtype is not None:
        allowed = (dtype,) if isinstance(dtype, torch.dtype) else tuple(dtype)
        if value.dtype not in allowed:
            words = " or ".join(str(d) for d in allowed)
            raise TypeError(f"{name} must be a tensor of dtype {words}; got {value.dtype}")
    ranks = None if ndim is None else ((ndim,) if isinstance(ndim, int) else tuple(ndim))
    if (ranks is not None and value.ndim not in ranks) or (min_ndim is not None and value.ndim < min_ndim):
        if dims:
            expected = f"shape {dims}"
        elif ranks is not None:
            expected = f"{' or '.join(str(r) for r in ranks)} dimension(s)"
        else:
            expected = f"at least {min_ndim} dimension(s)"
        raise ValueError(f"{name} must have {expected}; got shape {tuple(value.shape)}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(value.shape)}")
    return value


def check_same_shape(first: torch.Tensor, first_name: str, second: torch.Tensor, second_name: str) -> None:
    """``second`` must have the shape of ``first`` (the message names ``second``, the one compared)."""
    check_tensor(first, first_name)
    check_tensor(second, second_name)
    if first.shape != second.shape:
        raise ValueError(
            f"{second_name} must have the shape of {first_name} {tuple(first.shape)}; got {tuple(second.shape)}"
        )


def check_same_device(first: torch.Tensor, first_name: str, second: torch.Tensor, second_name: str) -> None:
    """``second`` must be on the device of ``first``."""
    check_tensor(first, first_name)
    check_tensor(second, second_name)
    if first.device != second.device:
        raise ValueError(
            f"{second_name} must be on the device of {first_name} ({first.device}); got {second.device}. "
            f"Move it with .to({str(first.device)!r})"
        )


def check_matching_tensors(
    tensors: dict[str, Any],
    *,
    ndim: int | Sequence[int] | None = None,
    min_ndim: int | None = None,
    dims: str | None = None,
    floating: bool = False,
    nonempty: bool = False,
) -> None:
    """Each of ``{name: tensor}`` passes :func:`check_tensor`, and each has the shape and device of the first.

    The paired arguments of a loss (``z1, z2``; ``p1, p2, z1, z2``): metadata only, no GPU sync.
    """
    if not isinstance(tensors, dict) or not tensors:
        raise TypeError(f"tensors must be a non-empty dict of tensors by name; got {type(tensors).__name__}")
    items = list(tensors.items())
    for name, value in items:
        check_tensor(value, name, ndim=ndim, min_ndim=min_ndim, dims=dims, floating=floating, nonempty=nonempty)
    first_name, first = items[0]
    for name, value in items[1:]:
        check_same_shape(first, first_name, value, name)
        check_same_device(first, first_name, value, name)


# --- tensors: data checks, for small exact tables only ----------------------------------------


def check_finite_tensor(value: torch.Tensor, name: str, *, cpu_only: bool = False, hint: str = "") -> torch.Tensor:
    """``value`` if no entry is NaN or infinite; ``hint`` ends the message.

    Reads the data (one host synchronisation on a GPU): use it in functions that return an exact
    answer on a small table, never on the training hot path. With ``cpu_only`` a tensor on another
    device is returned unread (for functions that also run in every training step).
    """
    check_tensor(value, name)
    if cpu_only and value.device.type != "cpu":
        return value
    finite = torch.isfinite(value.detach())
    if not bool(finite.all()):
        n_nan = int(torch.isnan(value.detach()).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ValueError(f"{name} must be finite; it holds {n_nan} NaN and {n_inf} infinite value(s){hint}")
    return value


def check_tensor_range(
    value: torch.Tensor,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    cpu_only: bool = False,
    hint: str = "",
) -> torch.Tensor:
    """``value`` if every entry lies in ``[low, high]``; the message shows the range found and ``hint``.

    Reads the data. With ``cpu_only`` a tensor on another device is returned unread, so that a
    function called in every training step never makes the host wait for the GPU. NaN entries
    pass (as through torch): the training loop's NaN guard catches them.
    """
    check_tensor(value, name)
    if value.numel() == 0 or (cpu_only and value.device.type != "cpu"):
        return value
    data = value.detach()
    smallest, largest = torch.aminmax(data.to(torch.int64) if data.dtype == torch.bool else data)
    smallest, largest = smallest.item(), largest.item()
    if (low is not None and smallest < low) or (high is not None and largest > high):
        bounds = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
        raise ValueError(f"{name} must lie in {bounds}; its values range over [{smallest:g}, {largest:g}]{hint}")
    return value


def as_float64(value: Any, name: str) -> torch.Tensor:
    """A tensor, array, (nested) list or number as a float64 tensor; tensors keep their device and graph.

    Strings, booleans and complex numbers are refused (``True`` would silently be 1.0).
    """
    words = f"{name} must be numeric (real numbers: a tensor, array, list or number)"
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{words}; got a tensor of dtype {value.dtype}")
        return value.to(torch.float64)
    if isinstance(value, str | bytes | bool) or value is None:
        raise TypeError(f"{words}; got {type(value).__name__}")
    import numpy as np

    try:
        # Through numpy, not torch.as_tensor: that would round a list of Python floats to float32.
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{words}; got {type(value).__name__}") from err
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{words}; got {type(value).__name__} of {array.dtype} values")
    return torch.as_tensor(array, dtype=torch.float64)


def check_probability_table(value: Any, name: str, *, atol: float = 1e-6, min_ndim: int = 1) -> torch.Tensor:
    """``value`` as a float64 table of finite, non-negative numbers summing to 1 within ``atol``.

    ``atol`` itself must lie in ``[0, 0.01]``: a NaN tolerance would disable the test, and a table
    off by more than 1% is not a probability table (normalise it first).
    """
    atol = check_number(atol, "atol", low=0.0, high=0.01)
    table = as_float64(value, name)
    if table.ndim < min_ndim:
        raise ValueError(
            f"{name} must be a probability table with at least {min_ndim} axis(es); got shape {tuple(table.shape)}"
        )
    if table.numel() == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(table.shape)}")
    check_finite_tensor(table, name)
    if bool((table < 0).any()):
        raise ValueError(f"{name} must not contain negative probabilities; min is {table.min().item():.3g}")
    total = table.sum().item()
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1 (within atol={atol:g}); it sums to {total:.9g}")
    return table


def check_covariance(value: Any, name: str) -> torch.Tensor:
    """``value`` as a float64 symmetric positive-definite ``(d, d)`` matrix (a positive number is ``(1, 1)``)."""
    sigma = as_float64(value, name)
    if sigma.ndim == 0:
        sigma = sigma.reshape(1, 1)
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1] or sigma.shape[0] == 0:
        raise ValueError(f"{name} must be a positive number or a square matrix; got shape {tuple(sigma.shape)}")
    check_finite_tensor(sigma, name)
    if not torch.allclose(sigma, sigma.T, rtol=1e-9, atol=1e-12):
        raise ValueError(f"{name} must be symmetric")
    if torch.linalg.eigvalsh(sigma).min().item() <= 0:
        raise ValueError(f"{name} must be positive definite (all eigenvalues > 0)")
    return sigma


# --- message pieces --------------------------------------------------------------------------


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
