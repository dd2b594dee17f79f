"""The run record: what every training run of the book returns, stores and plots.

A :class:`Run` holds everything needed to read, plot and re-check a run later: its configuration,
the method's name, the seed, the device and versions it ran with, the git commit of the code,
the wall time, the training curves (one value per optimizer step) and the evaluations (a row per
scheduled evaluation). It serializes to small JSON (long curves are subsampled
deterministically), it is what a checkpoint's history holds, and it is what the chapters plot.

Example::

    >>> run = Run(method="SimSiam", seed=0)
    >>> run.log_step(0, {"loss": -0.10, "lr": 0.05})
    >>> run.log_step(1, {"loss": -0.20, "lr": 0.05})
    >>> run.log_eval(2, {"knn": 0.81})
    >>> steps, loss = run.curve("loss")
    >>> steps.tolist(), loss.tolist()
    ([0, 1], [-0.1, -0.2])
    >>> Run.from_json(run.to_json()).final("knn")
    0.81
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .validation import check_int, check_number, check_path, check_str

__all__ = ["Run", "RUN_FORMAT"]

#: Version of the JSON layout; :meth:`Run.from_dict` refuses layouts it does not know.
RUN_FORMAT = 1


@dataclass
class Run:
    """The record of one training run (:func:`jessl_lite.train.fit` returns one).

    Attributes:
        method: the method's name (``"SimSiam"``; for other loops, what was trained).
        seed: the seed of the run's randomness (data order, views, initialisation where the
            caller seeded it with the same number).
        config: the configuration, as :meth:`jessl_lite.train.FitConfig.to_dict` gives it.
        info: anything else worth keeping (data set name, method options, sizes), JSON values only.
        device: where it ran (``"cpu"``, ``"cuda:0 (NVIDIA H100 80GB HBM3)"``).
        torch_version: ``torch.__version__``. git_commit: the package's commit, where it is a git checkout.
        seconds: wall time of training and evaluation (a resumed run adds up all its parts).
        curves: per-step training curves, by name, each a list as long as ``curves["step"]``;
            ``step`` ``k`` is the loss computed before the ``k``-th update (0-based). Missing
            values are NaN.
        evals: one dict per evaluation, with ``"step"`` (the number of updates done: 0 is
            before training) and the metrics the evaluation hooks returned.
        summary: final results that are not curves (a spectrum, a fitted coefficient), JSON values only.
    """

    method: str = ""
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    torch_version: str = ""
    git_commit: str | None = None
    seconds: float = 0.0
    curves: dict[str, list[float]] = field(default_factory=lambda: {"step": []})
    evals: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("method", "device", "torch_version"):
            check_str(getattr(self, name), name)
        check_str(self.git_commit, "git_commit", optional=True)
        check_int(self.seed, "seed")
        for name in ("config", "info", "summary", "curves"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a dict; got {type(getattr(self, name)).__name__}")
        if "step" not in self.curves:
            raise ValueError(f"curves must hold a 'step' column; got {sorted(self.curves)}")
        if not isinstance(self.evals, list):
            raise TypeError(f"evals must be a list of dicts; got {type(self.evals).__name__}")
        check_number(self.seconds, "seconds", low=0.0)

    # --- filling it ------------------------------------------------------------------------------

    def log_step(self, step: int, values: dict[str, float]) -> None:
        """Append one training step's values (new names are padded with NaN before this step)."""
        check_int(step, "step", minimum=0)
        _check_values(values, "values")
        n = len(self.curves["step"])
        self.curves["step"].append(int(step))
        for name, value in values.items():
            if name == "step":
                continue
            column = self.curves.setdefault(name, [math.nan] * n)
            column.append(float(value))
        for column in self.curves.values():
            if len(column) == n:
                column.append(math.nan)

    def log_eval(self, step: int, metrics: dict[str, float]) -> None:
        """Append (or extend, when the last row has the same step) an evaluation row."""
        check_int(step, "step", minimum=0)
        _check_values(metrics, "metrics")
        row = {name: _json_number(value) for name, value in metrics.items()}
        if self.evals and self.evals[-1]["step"] == int(step):
            self.evals[-1].update(row)
        else:
            self.evals.append({"step": int(step), **row})

    # --- reading it ------------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Optimizer steps taken: the last recorded step + 1 (a stored record's curves may be
        subsampled, so their length can be smaller)."""
        steps = self.curves["step"]
        return int(steps[-1]) + 1 if len(steps) else 0

    def curve(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of a training curve, as numpy arrays."""
        check_str(name, "name")
        if name not in self.curves:
            raise ValueError(f"name must be a curve of this run, one of {sorted(self.curves)}; got {name!r}")
        return np.asarray(self.curves["step"], dtype=np.int64), np.asarray(self.curves[name], dtype=np.float64)

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of an evaluated metric, over the evaluations that have it."""
        check_str(name, "name")
        rows = [row for row in self.evals if name in row]
        if not rows:
            names = sorted({k for row in self.evals for k in row} - {"step"})
            raise ValueError(f"name must be a metric of this run's evaluations, one of {names}; got {name!r}")
        values = [math.nan if row[name] is None else row[name] for row in rows]
        return np.asarray([row["step"] for row in rows], dtype=np.int64), np.asarray(values, dtype=np.float64)

    def final(self, name: str) -> float:
        """The last evaluated value of ``name`` (or, if no evaluation has it, the curve's last value)."""
        check_str(name, "name")
        if any(name in row for row in self.evals):
            return float(self.metric(name)[1][-1])
        return float(self.curve(name)[1][-1])

    def metric_names(self) -> list[str]:
        return sorted({k for row in self.evals for k in row} - {"step"})

    # --- JSON ------------------------------------------------------------------------------------

    def subsampled(self, max_points: int = 1000, *, head: int | None = None) -> Run:
        """A copy whose curves keep at most ``max_points`` steps: the first ``head`` steps whole
        (default ``min(50, max_points // 2)``: what a re-check of the run's first steps compares),
        then evenly spaced steps, the last included. Deterministic: the same record gives the same
        subsample. Evaluations are kept."""
        check_int(max_points, "max_points", minimum=2)
        head = min(50, max_points // 2) if head is None else check_int(head, "head", minimum=0, maximum=max_points - 1)
        n = len(self.curves["step"])  # points recorded (a subsampled record has fewer than its steps)
        if n <= max_points:
            keep = np.arange(n)
        else:
            rest = np.linspace(head, n - 1, max_points - head).round().astype(int)
            keep = np.unique(np.concatenate([np.arange(head), rest]))
        curves = {name: [column[i] for i in keep] for name, column in self.curves.items()}
        copy = Run.from_dict(self.to_dict())
        copy.curves = curves
        return copy

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (NaN kept as float NaN): what a checkpoint stores."""
        out = asdict(self)
        out["format"] = RUN_FORMAT
        return out

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Run:
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict; got {type(state).__name__}")
        version = state.get("format", RUN_FORMAT)
        if version != RUN_FORMAT:
            raise ValueError(f"this is a run record of format {version}; this jessl_lite reads format {RUN_FORMAT}")
        names = {f.name for f in fields(cls)}
        unknown = set(state) - names - {"format"}
        if unknown:
            raise ValueError(f"unknown fields in the run record: {sorted(unknown)}")
        kwargs = {k: v for k, v in state.items() if k in names}
        run = cls(**json.loads(json.dumps(kwargs, default=_not_json)))
        run.curves = {k: [math.nan if v is None else float(v) for v in column] if k != "step" else
                      [int(v) for v in column] for k, column in run.curves.items()}
        run.evals = [{k: (math.nan if v is None else v) for k, v in row.items()} for row in run.evals]
        return run

    def to_json(self, path: str | os.PathLike | None = None, *, max_points: int | None = 1000) -> str:
        """JSON text (NaN and infinities written as ``null``), curves subsampled to ``max_points``
        steps (``None``: all); written to ``path`` too when given."""
        check_path(path, "path", optional=True)
        record = self.subsampled(max_points) if max_points is not None else self
        text = json.dumps(_nan_to_none(record.to_dict()), indent=1, sort_keys=False, allow_nan=False)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, text: str) -> Run:
        if not isinstance(text, str | bytes):
            raise TypeError(f"text must be a str of JSON (Run.to_json's); got {type(text).__name__}")
        try:
            state = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"text is not JSON: {err}") from None
        return cls.from_dict(state)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Run:
        """A record written by :meth:`to_json`."""
        path = Path(check_path(path, "path"))
        try:
            return cls.from_json(path.read_text())
        except (json.JSONDecodeError, ValueError, TypeError) as err:
            raise ValueError(f"{path} is not a readable run record: {err}") from None


def _check_values(values, name: str) -> None:
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise TypeError(f"{name} must be a dict of numbers by name; got {type(values).__name__}")


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | np.floating | np.integer):
        return float(value)
    if hasattr(value, "item") and getattr(value, "numel", lambda: 0)() == 1:  # a 0-dim tensor
        return float(value.item())
    raise TypeError(f"evaluation values must be numbers; got {type(value).__name__}")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def _not_json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"a run record holds JSON values only; got {type(value).__name__}")
