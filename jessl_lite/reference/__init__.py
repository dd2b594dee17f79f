"""Reference runs: the experiments whose results the book interprets, at the papers' protocol
(or the largest the machine allows), for several seeds, stored as :class:`~jessl_lite.runs.Run`
records that ship with the package.

Each experiment is registered under a name (``"ch04/collapse"``) with its variants (the arms
being compared) and a ``setup(variant, seed)`` that builds everything one run needs. One command
makes any of them, with a progress bar, resumable from checkpoints::

    python -m jessl_lite.reference list
    python -m jessl_lite.reference run ch04/collapse --seeds 0 1 2
    python -m jessl_lite.reference verify ch04/collapse

The records live in ``jessl_lite/reference/records/<name>/<variant>-seed<seed>.json``; a chapter
reads them with :func:`load` and summarises them with :func:`spread`. The tests re-run the first
steps of every stored record from its stored seed with the code as it is now and compare them
with the stored curve (:func:`verify`): bit-exact for records made on a CPU of the same kind
(the same vector instructions: ``torch.backends.cpu.get_cpu_capability()``, stored in the
record), within a relative ``1e-4`` (absolute ``1e-6``) on another CPU, whose matrix kernels
round differently. (Measured: chapter 3's records, made on an AVX-512 machine, re-run on an AVX2
one differ by up to 2.5e-5 relative at the fifth step, 1e-6 at the fourth; a changed learning
rate or loss moves them by far more.)
Records are written by :func:`run` only, never by hand.

Runs use one CPU thread unless told otherwise (``torch.set_num_threads``): the same numbers on
every machine of the same CPU kind with the same torch build, and a bit-exact re-check there.
(Measured: the records of ``ch04/collapse``, made on a machine of another CPU kind, re-run on an
AVX-512 machine to within 2e-7 of each stored loss after 3 steps, but not bit for bit.)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..runs import Run
from ..train import FitConfig, fit
from ..validation import (
    check_bool,
    check_callable,
    check_instance,
    check_int,
    check_number,
    check_path,
    check_str,
)

__all__ = ["Setup", "Experiment", "EXPERIMENTS", "register", "experiment", "records_dir", "record_path",
           "run", "load", "verify", "spread", "compare", "cpu_kind", "CHECK_STEPS", "CPU_RTOL", "CPU_ATOL"]

#: The tolerance of a re-check on a CPU of another kind than the record's: each of the first losses
#: within ``CPU_RTOL`` times the largest of them (plus ``CPU_ATOL``). Kernels of another vector width
#: round differently and training amplifies it: BYOL at batch 256, recorded on an AVX2 machine and
#: re-run on an AVX-512 one, differs by 1.2e-4 of its loss scale at the fifth step; relative to each
#: loss the difference is unbounded where a loss crosses 0 (BYOL+ER's do). A code change moves the
#: losses by far more (a changed learning rate: percents).
CPU_RTOL, CPU_ATOL = 1e-3, 1e-6

#: Steps of each stored record that the tests re-run and compare.
CHECK_STEPS = 5

# Fields of the configuration that the runner sets and that do not change the numbers.
_RUNNER_FIELDS = ("progress", "checkpoint_dir", "checkpoint_every", "resume")


@dataclass
class Setup:
    """Everything one run of a reference experiment needs (what ``setup(variant, seed)`` returns).

    ``finish(method, run)``, if given, adds final results to ``run.summary`` after training.
    ``info`` goes to the record (data sets, sizes, the evaluation protocol in words).

    An experiment whose training is not :func:`~jessl_lite.train.fit` (chapter 5's two-player
    adversarial game) gives ``train``: ``train(until=None, progress=False, checkpoint_dir=None,
    checkpoint_every=0, resume=False) -> Run``, which trains ``method`` (``until``: stop after that
    many steps, without the final evaluation), and ``config``: the dict of its settings (with
    ``"seed"`` and ``"steps"``, the run's total number of steps), stored in the record as it is.
    ``curve`` names the training curve :func:`verify` compares (``"loss"`` for ``fit``)."""

    method: nn.Module
    data: Any
    views: Any
    config: FitConfig | dict[str, Any]
    hooks: Sequence[Callable] = ()
    info: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[nn.Module, Run], None] | None = None
    train: Callable[..., Run] | None = None
    curve: str = "loss"

    def __post_init__(self) -> None:
        check_instance(self.method, "method", nn.Module, "an nn.Module")
        if self.train is None:
            check_instance(self.config, "config", FitConfig, "a FitConfig")
        else:
            check_callable(self.train, "train", "as train(until=None, progress=False, checkpoint_dir=None, "
                           "checkpoint_every=0, resume=False) -> Run")
            check_instance(self.config, "config", dict, "the dict of train's settings (with 'seed' and 'steps')")
            for key in ("seed", "steps"):
                if not isinstance(self.config.get(key), int) or isinstance(self.config.get(key), bool):
                    raise ValueError(f"config must hold the int {key!r} of train's settings; got {self.config!r}")
        check_str(self.curve, "curve", nonempty=True)
        if isinstance(self.hooks, str | bytes) or not isinstance(self.hooks, Sequence):
            raise TypeError(f"hooks must be a sequence of evaluation hooks; got {self.hooks!r}")
        for i, hook in enumerate(self.hooks):
            check_callable(hook, f"hooks[{i}]", "as hook(method, step) -> dict")
        check_instance(self.info, "info", dict, "a dict")
        if self.finish is not None:
            check_callable(self.finish, "finish", "as finish(method, run)")


@dataclass(frozen=True)
class Experiment:
    """A registered reference experiment.

    Attributes:
        name: ``"chNN/what"``. title: one line. protocol: what the paper did, what we do, and
            why the scale differs where it does (shown on the chapter's page).
        variants: the arms compared. setup: ``setup(variant, seed) -> Setup``.
        seeds: the seeds stored (at least 3). threads: CPU threads the runs use.
    """

    name: str
    title: str
    protocol: str
    variants: tuple[str, ...]
    setup: Callable[[str, int], Setup]
    seeds: tuple[int, ...] = (0, 1, 2)
    threads: int = 1

    def __post_init__(self) -> None:
        name = check_str(self.name, "name", nonempty=True)
        if "/" not in name or name.startswith("/") or name.endswith("/"):
            raise ValueError(f"name must read 'chNN/what'; got {name!r}")
        check_str(self.title, "title", nonempty=True)
        check_str(self.protocol, "protocol", nonempty=True)
        _check_names(self.variants, "variants")
        check_callable(self.setup, "setup", "as setup(variant, seed) -> Setup")
        _check_seeds(self.seeds, "seeds")
        check_int(self.threads, "threads", minimum=1)


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment, registry: dict[str, Experiment] | None = None) -> Experiment:
    """Add ``experiment`` to ``registry`` (default :data:`EXPERIMENTS`; a name may be registered once)."""
    check_instance(experiment, "experiment", Experiment, "an Experiment")
    if registry is None:
        registry = EXPERIMENTS
    check_instance(registry, "registry", dict, "a dict of experiments by name")
    if experiment.name in registry:
        raise ValueError(f"a reference experiment named {experiment.name!r} is registered already")
    if len(experiment.seeds) < 3:
        raise ValueError(f"{experiment.name}: a reference experiment needs at least 3 seeds")
    registry[experiment.name] = experiment
    return experiment


def experiment(name: str) -> Experiment:
    """The registered experiment called ``name`` (``"ch04/collapse"``)."""
    check_str(name, "name", nonempty=True)
    _load_definitions()
    if name not in EXPERIMENTS:
        raise ValueError(f"no reference experiment {name!r}: name must be one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def records_dir() -> Path:
    """Where the records live: ``$JESSL_REFERENCE_RECORDS`` if set, else the package's ``records/``."""
    return Path(os.environ.get("JESSL_REFERENCE_RECORDS", Path(__file__).parent / "records"))


def record_path(name: str, variant: str, seed: int, *, root: str | os.PathLike | None = None) -> Path:
    """Where the record of ``variant`` and ``seed`` of experiment ``name`` is stored (under ``root``,
    default :func:`records_dir`)."""
    check_str(name, "name", nonempty=True)
    check_str(variant, "variant", nonempty=True)
    check_int(seed, "seed", minimum=0)
    return (records_dir() if root is None else Path(check_path(root, "root"))) / name / f"{variant}-seed{seed}.json"


def run(
    name: str,
    variants: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    *,
    checkpoint_root: str | os.PathLike | None = None,
    progress: bool = True,
    records_root: str | os.PathLike | None = None,
) -> list[Run]:
    """Run (or resume) experiment ``name`` for ``variants`` x ``seeds`` and write each record.

    A record that exists already is kept (delete it to re-run). Checkpoints go to
    ``checkpoint_root/<name>/<variant>-seed<seed>/`` (default: the package's cache folder), every
    tenth of the run, so an interrupted command continues where it stopped. ``records_root``
    writes the records elsewhere than :func:`records_dir` (to try an experiment without touching
    the package's records)."""
    spec = experiment(name)
    _refuse_smoke("run")
    variants = list(spec.variants if variants is None else _check_names(variants, "variants"))
    check_bool(progress, "progress")
    if checkpoint_root is not None:
        check_path(checkpoint_root, "checkpoint_root")
    if records_root is not None:
        check_path(records_root, "records_root")
    unknown = set(variants) - set(spec.variants)
    if unknown:
        raise ValueError(f"{name} has no variants {sorted(unknown)}; it has {list(spec.variants)}")
    seeds = list(spec.seeds if seeds is None else _check_seeds(seeds, "seeds"))
    if checkpoint_root is None:
        from ..data import cache_dir

        checkpoint_root = cache_dir() / "reference-checkpoints"
    records = []
    for variant in variants:
        for seed in seeds:
            path = record_path(name, variant, seed, root=records_root)
            if path.is_file():
                records.append(Run.load(path))
                continue
            setup = _setup(spec, variant, seed)
            runner = {"progress": progress, "resume": True, "checkpoint_every": max(_total_steps(setup) // 10, 1),
                      "checkpoint_dir": str(Path(checkpoint_root) / name / f"{variant}-seed{seed}")}
            if setup.train is None:
                record = fit(setup.method, setup.data, setup.views, setup.config.replace(**runner),
                             hooks=setup.hooks, info=setup.info)
            else:
                record = setup.train(**runner)
                record.info.update(setup.info)
            if setup.finish is not None:
                setup.finish(setup.method, record)
            record.config = _config_dict(setup)  # as the experiment defines it, without the runner's fields
            record.info.update({"reference": name, "variant": variant, "threads": torch.get_num_threads()})
            if record.device == "cpu":
                record.info["cpu_kind"] = cpu_kind()
            record.to_json(path)
            records.append(record)
    return records


def load(name: str, variants: Sequence[str] | None = None) -> dict[str, list[Run]]:
    """The stored records of ``name``: ``{variant: [run for each seed]}`` (variants without records are left out)."""
    spec = experiment(name)
    if variants is not None:
        _check_names(variants, "variants")
        unknown = set(variants) - set(spec.variants)
        if unknown:
            raise ValueError(f"{name} has no variants {sorted(unknown)}; it has {list(spec.variants)}")
    out: dict[str, list[Run]] = {}
    for variant in spec.variants if variants is None else variants:
        runs = [Run.load(record_path(name, variant, s)) for s in spec.seeds if record_path(name, variant, s).is_file()]
        if runs:
            out[variant] = runs
    return out


def verify(record: Run, steps: int = CHECK_STEPS, *, atol: float | None = None) -> list[str]:
    """What differs between a stored record and the code as it is now (an empty list: nothing).

    Checks that the experiment would run the same configuration and protocol (``config``, the
    setup's ``info``), then re-runs the first ``steps`` steps from the record's seed (with its
    thread count) and compares the losses: bit-exact for a record made on a CPU of this machine's
    kind (:func:`cpu_kind`), within :data:`CPU_RTOL` of the losses' scale (plus :data:`CPU_ATOL`) for
    one made on another CPU kind or on one of unknown kind, within ``atol`` (default 1e-3) for one made on a GPU."""
    check_instance(record, "record", Run, "a Run")
    check_int(steps, "steps", minimum=1)
    if atol is not None:
        check_number(atol, "atol", low=0.0)
    _refuse_smoke("verify")
    name, variant = record.info.get("reference"), record.info.get("variant")
    if name is None or variant is None:
        return ["the record names no reference experiment and variant"]
    spec = experiment(name)
    if variant not in spec.variants:
        return [f"{name} has no variant {variant!r} any more"]
    problems = []
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(record.info.get("threads", spec.threads)))
    try:
        setup = _setup(spec, variant, record.seed)
        stored, current = _without_runner_fields(record.config), _without_runner_fields(_config_dict(setup))
        if stored != current:
            problems.append(f"configuration: stored {stored}, the code now runs {current}")
        for key, value in setup.info.items():
            if record.info.get(key) != value:
                problems.append(f"info[{key!r}]: stored {record.info.get(key)!r}, the code now has {value!r}")
        k = min(steps, record.steps)
        if setup.train is None:
            rerun = fit(setup.method, setup.data, setup.views, setup.config.replace(progress=False), until=k)
        else:
            rerun = setup.train(until=k)
    finally:
        torch.set_num_threads(previous_threads)
    if setup.curve not in record.curves or setup.curve not in rerun.curves:
        return [*problems, f"the curve {setup.curve!r} is not in the stored record or the re-run"]
    stored_loss = np.asarray(record.curves[setup.curve][:k])
    new_loss = np.asarray(rerun.curves[setup.curve][:k])
    if record.curves["step"][:k] != list(range(k)):
        problems.append("the stored curve does not hold its first steps")
    elif record.device == "cpu" and atol is None:
        if record.info.get("cpu_kind") == cpu_kind():
            if not np.array_equal(stored_loss, new_loss):
                problems.append(f"first {k} losses: stored {stored_loss.tolist()}, now {new_loss.tolist()}")
        elif np.abs(stored_loss - new_loss).max() > CPU_RTOL * np.abs(stored_loss).max() + CPU_ATOL:
            problems.append(f"first {k} losses beyond {CPU_RTOL:g} of their scale (record made on CPU kind "
                            f"{record.info.get('cpu_kind', 'unknown')}, this is {cpu_kind()}): stored "
                            f"{stored_loss.tolist()}, now {new_loss.tolist()}")
    elif not np.allclose(stored_loss, new_loss, atol=1e-3 if atol is None else atol, rtol=0):
        problems.append(f"first {k} losses beyond tolerance: stored {stored_loss.tolist()}, now {new_loss.tolist()}")
    return problems


def cpu_kind() -> str:
    """This CPU's kind for bit-exact re-checks: the vector instructions torch's kernels use
    (``"AVX512"``, ``"AVX2"``, ...)."""
    return str(torch.backends.cpu.get_cpu_capability())


def spread(runs: Sequence[Run], metric: str) -> dict[str, float]:
    """Mean, min, max and number of seeds of a final metric over the seeds' records."""
    if isinstance(runs, str | bytes) or not isinstance(runs, Sequence):
        raise TypeError(f"runs must be a sequence of Run records; got {type(runs).__name__}")
    for i, record in enumerate(runs):
        check_instance(record, f"runs[{i}]", Run, "a Run")
    check_str(metric, "metric", nonempty=True)
    for i, record in enumerate(runs):
        known = set(record.metric_names()) | set(record.curves)
        if metric not in known:
            raise ValueError(f"metric must be an evaluation or curve of every run; runs[{i}] has {sorted(known)}, "
                             f"not {metric!r}")
    values = np.array([r.final(metric) for r in runs], dtype=np.float64)
    if values.size == 0:
        raise ValueError("runs must hold at least one record")
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()),
            "seeds": int(values.size), "std": float(values.std(ddof=1)) if values.size > 1 else math.nan}


def compare(high: Any, low: Any) -> dict[str, Any]:
    """How far the seeds of arm ``high`` lie above those of arm ``low``, and whether that is a verdict.

    ``high`` and ``low`` are one value per seed (or one number: a fixed baseline). Returns the
    difference of the means (``effect``), the least and most difference the seeds allow
    (``least``: lowest of ``high`` minus highest of ``low``; ``most`` the other way round), and
    ``verdict``: ``"holds"`` when every seed of ``high`` is above every seed of ``low``,
    ``"reversed"`` when every one is below, ``"unresolved"`` when the ranges overlap. The book
    states a claim only where it ``"holds"``.

    >>> compare([0.9, 0.92, 0.91], [0.85, 0.88, 0.86])["verdict"]
    'holds'
    """
    high, low = _check_arm(high, "high"), _check_arm(low, "low")
    verdict = "holds" if high.min() > low.max() else "reversed" if high.max() < low.min() else "unresolved"
    return {"effect": float(high.mean() - low.mean()), "least": float(high.min() - low.max()),
            "most": float(high.max() - low.min()), "verdict": verdict}


def _refuse_smoke(what: str) -> None:
    # The smoke setting shortens every run and caps its batch: no record can be made or checked under it.
    from ..profiles import SMOKE_VAR, smoke_enabled

    if smoke_enabled():
        raise ValueError(f"reference.{what} cannot run under the smoke setting ({SMOKE_VAR}=1 caps steps and "
                         f"batches); unset {SMOKE_VAR}")


def _check_arm(values: Any, name: str) -> np.ndarray:
    # One number (a fixed baseline) or one finite number per seed.
    if isinstance(values, int | float | np.number) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
        raise TypeError(f"{name} must be a number or a non-empty sequence of numbers (one per seed); got {values!r}")
    return np.array([check_number(v, f"{name}[{i}]") for i, v in enumerate(values)])


def _check_names(values: Any, name: str) -> tuple[str, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence of names; got {values!r}")
    return tuple(check_str(v, f"{name}[{i}]", nonempty=True) for i, v in enumerate(values))


def _check_seeds(values: Any, name: str) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence of seeds (ints >= 0); got {values!r}")
    return tuple(check_int(v, f"{name}[{i}]", minimum=0) for i, v in enumerate(values))


def _setup(spec: Experiment, variant: str, seed: int) -> Setup:
    setup = spec.setup(variant, seed)
    if not isinstance(setup, Setup):
        raise TypeError(f"{spec.name}: setup must return a Setup; got {type(setup).__name__}")
    setup_seed = setup.config["seed"] if isinstance(setup.config, dict) else setup.config.seed
    if setup_seed != seed:
        raise ValueError(f"{spec.name}: setup({variant!r}, {seed}) returned a config with seed {setup_seed}")
    return setup


def _total_steps(setup: Setup) -> int:
    if isinstance(setup.config, dict):
        return setup.config["steps"]
    if setup.config.steps is not None:
        return setup.config.steps
    return setup.config.epochs * (len(setup.data) // setup.config.batch_size)


def _config_dict(setup: Setup) -> dict:
    return dict(setup.config) if isinstance(setup.config, dict) else setup.config.to_dict()


def _without_runner_fields(config: dict) -> dict:
    # A fit configuration (nested by section) is compared field by field; another loop's settings as they are.
    flat = vars(FitConfig.from_dict(config)) if {"schedule", "checkpointing"} <= set(config) else config
    return {k: v for k, v in flat.items() if k not in _RUNNER_FIELDS}


_LOADED: list[bool] = []


def _load_definitions() -> None:
    # The experiments' definitions import data sets and experiment code: load them on first use.
    if not _LOADED:
        _LOADED.append(True)
        from . import ch02, ch03, ch04, ch05, ch07  # noqa: F401
