"""The one training loop of the book: :func:`fit`, configured by one :class:`FitConfig`, returning one :class:`Run`.

Every experiment of the book trains with it: the six joint-embedding methods (chapters 3, 4, 7),
chapter 5's InfoMax encoders, chapter 2's critics. How a run is configured, run, evaluated and
saved, once::

    config = FitConfig(steps=300, batch_size=256, lr=0.05, eval_every=100,
                       checkpoint_dir="runs/simsiam", checkpoint_every=100, resume=True)
    run = fit(method, train, mnist_views(), config, hooks=[knn_monitor(memory, queries)])
    run.curve("loss"), run.metric("knn"), run.to_json("simsiam.json")

Per optimizer step ``k`` of ``K`` (:func:`fit`'s named steps):

1. **batch**: the next ``batch_size`` indices of this epoch's permutation (fixed by ``seed`` and
   the epoch), per-sample view parameters for the global batch, the two views of this process's
   shard made on the device (:mod:`jessl_lite.views`); or ``data(k, generator)`` for a sampler;
2. **step**: ``loss, logs = method(view1, view2)`` under autocast (bf16, or fp16 with a gradient
   scaler on GPUs without bf16; float32 on CPUs), backward, optimizer step at the learning rate
   :func:`learning_rate` (warmup, then cosine decay or constant); every target network moves by
   :func:`ema_update` with BYOL's schedule :func:`byol_tau`;
3. **log**: every ``log_every`` steps, and only then, the losses are read back from the device
   into the run's curves, checked (:class:`NonFiniteLossError`), shown on the progress bar;
4. **evaluate**: every ``eval_every`` steps (and before training and at the end) each
   evaluation hook ``hook(method, step) -> {name: value}`` runs and its values become a row of
   ``run.evals``;
5. **checkpoint**: every ``checkpoint_every`` steps, at the end and on Ctrl-C, everything the rest
   of the run depends on (model with its target networks and BatchNorm buffers, optimizer, gradient
   scaler, step, every random generator, this epoch's data order, the run record so far) is
   written atomically; ``resume=True`` continues from it. On a CPU a resumed run ends bit-identical
   to one that was never interrupted.

Command line (also under ``torchrun --nproc_per_node=N``, data-parallel; flags are
:class:`FitConfig`'s field names)::

    python -m jessl_lite.train --method simsiam --data mnist --backbone convnet --steps 200 --eval-every 100
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed, profiles
from .checkpoints import (
    CHECKPOINT_NAME,
    CheckpointError,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from .data import ImageData
from .methods import ema_update
from .runs import Run
from .validation import (
    check_bool,
    check_callable,
    check_choice,
    check_device,
    check_instance,
    check_int,
    check_number,
    check_path,
)

__all__ = [
    "fit",
    "FitConfig",
    "Run",
    "Every",
    "NonFiniteLossError",
    "CheckpointError",
    "learning_rate",
    "byol_tau",
    "ema_update",
    "LARS",
    "make_optimizer",
    "load_checkpoint",
    "CHECKPOINT_NAME",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("sgd", "lars", "adamw", "adam")
LR_SCHEDULES = ("cosine", "constant")


class NonFiniteLossError(FloatingPointError):
    """The loss or the weights became NaN or infinite; the message names the step and the last good checkpoint."""


# --- the configuration ---------------------------------------------------------------------------


def _section(name: str, **kwargs):
    return field(metadata={"section": name}, **kwargs)


@dataclass
class FitConfig:
    """Everything :func:`fit` needs to know about a run, with the book's one set of defaults.

    Give only what differs: ``FitConfig(steps=300, lr=0.1)``; ``config.replace(lr=0.2)`` makes a
    changed copy; ``config.to_dict()`` groups the fields by section (what a :class:`Run` stores).
    On the command line each field is a flag of the same name (``--batch-size``, ``--eval-every``).

    **schedule** (what the optimizer does; a resumed run must use the same values):

    * ``steps``, ``epochs``: the length of training, exactly one of them (an epoch is
      ``len(data) // batch_size`` steps; the last partial batch is dropped). Samplers need ``steps``.
    * ``batch_size`` (256): the global batch; under torchrun each of ``N`` processes takes ``batch_size / N``.
    * ``optimizer`` (``"sgd"``): ``"sgd"`` (with momentum), ``"lars"`` (:class:`LARS`), ``"adamw"``, ``"adam"``.
    * ``lr`` (0.05): the base learning rate; scale it with the batch yourself (SimSiam: ``0.05 * batch / 256``).
    * ``lr_schedule`` (``"cosine"``): ``"cosine"`` decays to 0 at the last step, ``"constant"`` keeps ``lr``.
    * ``warmup_steps`` (0): linear warmup before the schedule (:func:`learning_rate`).
    * ``weight_decay`` (1e-4), ``momentum`` (0.9, SGD and LARS).
    * ``tau_base`` (0.996): first EMA decay of target networks (:func:`byol_tau`); unused without targets.
    * ``seed`` (0): the data order and the views. Seed the method's initialisation yourself
      (``torch.manual_seed(seed)`` before building it).
    * ``on_nonfinite`` (``"stop"``): a NaN/inf loss raises :class:`NonFiniteLossError`;
      ``"skip"`` leaves that step's update out, records the value and counts it in
      ``run.summary["skipped_steps"]`` (it reads the loss every step: for small models, such as
      the critics of chapter 2 whose NWJ exponential can overflow once).

    **precision**: ``precision`` (``"auto"``: bf16 autocast on GPUs that support it, fp16 with a
    gradient scaler on the others, float32 on CPUs; or ``"fp32"``, ``"bf16"``, ``"fp16"``, CUDA
    only); ``channels_last`` (``None``: on CUDA); ``compile`` (``torch.compile``, False);
    ``sync_batchnorm`` (SyncBatchNorm across processes, CUDA only, False).

    **evaluation**: ``log_every`` (10): steps between reads of the loss from the device;
    ``eval_every`` (0): steps between evaluation hooks (0: only before training and at the end);
    ``eval_at_start`` (True): evaluate the untrained method at step 0; ``progress`` (True): a
    ``tqdm`` bar.

    **checkpointing**: ``checkpoint_dir`` (None): where ``checkpoint.pt`` goes;
    ``checkpoint_every`` (0: only at the end and on Ctrl-C); ``resume`` (False): continue from
    ``checkpoint_dir/checkpoint.pt`` if it exists (else start).
    """

    steps: int | None = _section("schedule", default=None)
    epochs: int | None = _section("schedule", default=None)
    batch_size: int = _section("schedule", default=256)
    optimizer: str = _section("schedule", default="sgd")
    lr: float = _section("schedule", default=0.05)
    lr_schedule: str = _section("schedule", default="cosine")
    warmup_steps: int = _section("schedule", default=0)
    weight_decay: float = _section("schedule", default=1e-4)
    momentum: float = _section("schedule", default=0.9)
    tau_base: float = _section("schedule", default=0.996)
    seed: int = _section("schedule", default=0)
    on_nonfinite: str = _section("schedule", default="stop")
    precision: str = _section("precision", default="auto")
    channels_last: bool | None = _section("precision", default=None)
    compile: bool = _section("precision", default=False)
    sync_batchnorm: bool = _section("precision", default=False)
    log_every: int = _section("evaluation", default=10)
    eval_every: int = _section("evaluation", default=0)
    eval_at_start: bool = _section("evaluation", default=True)
    progress: bool = _section("evaluation", default=True)
    checkpoint_dir: str | None = _section("checkpointing", default=None)
    checkpoint_every: int = _section("checkpointing", default=0)
    resume: bool = _section("checkpointing", default=False)

    def __post_init__(self) -> None:
        for name in ("steps", "epochs"):  # each one's type first: the rule below names both
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1)
        if (self.steps is None) == (self.epochs is None):
            if self.steps is None:
                self.steps = 200  # neither given: the book's smallest useful run
            else:
                raise ValueError(f"give exactly one of steps and epochs; got steps={self.steps}, epochs={self.epochs}")
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.warmup_steps, "warmup_steps", minimum=0)
        check_int(self.seed, "seed", minimum=0)
        check_int(self.log_every, "log_every", minimum=1)
        check_int(self.eval_every, "eval_every", minimum=0)
        check_int(self.checkpoint_every, "checkpoint_every", minimum=0)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_choice(self.precision, "precision", PRECISIONS)
        check_choice(self.on_nonfinite, "on_nonfinite", ("stop", "skip"))
        check_number(self.lr, "lr", low=0.0, low_open=True)
        check_number(self.weight_decay, "weight_decay", low=0.0)
        check_number(self.momentum, "momentum", low=0.0, high=1.0)
        check_number(self.tau_base, "tau_base", low=0.0, high=1.0)
        for name in ("compile", "sync_batchnorm", "eval_at_start", "progress", "resume"):
            check_bool(getattr(self, name), name)
        if self.channels_last is not None:
            check_bool(self.channels_last, "channels_last")
        if self.steps is not None and self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps must be smaller than steps={self.steps}; got {self.warmup_steps}")
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = os.fspath(check_path(self.checkpoint_dir, "checkpoint_dir"))
        elif self.checkpoint_every or self.resume:
            raise ValueError("checkpoint_every and resume need a checkpoint_dir")

    @classmethod
    def sections(cls) -> dict[str, list[str]]:
        """Field names by section (``schedule``, ``precision``, ``evaluation``, ``checkpointing``)."""
        out: dict[str, list[str]] = {}
        for f in dataclasses.fields(cls):
            out.setdefault(f.metadata["section"], []).append(f.name)
        return out

    def replace(self, **changes) -> FitConfig:
        """A copy with ``changes`` (unknown names raise ``TypeError``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"FitConfig has no field {sorted(unknown)}; its fields are {_field_names()}")
        if "epochs" in changes and "steps" not in changes:
            changes["steps"] = None
        if "steps" in changes and "epochs" not in changes:
            changes["epochs"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{"schedule": {...}, "precision": {...}, "evaluation": {...}, "checkpointing": {...}}``."""
        return {section: {name: getattr(self, name) for name in names} for section, names in self.sections().items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FitConfig:
        """The inverse of :meth:`to_dict`; also takes a flat ``{field: value}`` mapping."""
        check_instance(values, "values", Mapping, "a mapping (FitConfig.to_dict() gives one)")
        flat: dict[str, Any] = {}
        for key, value in values.items():
            if key in cls.sections() and isinstance(value, Mapping):
                flat.update(value)
            else:
                flat[key] = value
        unknown = set(flat) - set(_field_names())
        if unknown:
            raise TypeError(f"FitConfig has no field {sorted(unknown)}; its fields are {_field_names()}")
        return cls(**flat)

    def trajectory(self) -> dict[str, Any]:
        """The fields that decide the numbers a run computes: those a resumed run must share."""
        return {name: getattr(self, name) for name in self.sections()["schedule"] + ["precision", "sync_batchnorm"]}


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(FitConfig)]


# --- evaluation hooks ----------------------------------------------------------------------------

Hook = Callable[[nn.Module, int], Mapping[str, float]]


@dataclass
class Every:
    """An evaluation hook on its own schedule: ``Every(hook, 500)`` runs ``hook`` every 500 steps
    (and before training and at the end) whatever the config's ``eval_every``."""

    hook: Hook
    every: int
    at_start: bool = True

    def __post_init__(self) -> None:
        check_callable(self.hook, "hook", "hook(method, step) -> dict")
        check_int(self.every, "every", minimum=0)
        check_bool(self.at_start, "at_start")

    def __call__(self, method: nn.Module, step: int) -> Mapping[str, float]:
        return self.hook(method, step)


# --- schedules and optimizers --------------------------------------------------------------------


def learning_rate(
    step: int, total_steps: int, base_lr: float, warmup_steps: int = 0, final_lr: float = 0.0,
    schedule: str = "cosine",
) -> float:
    r"""Linear warmup for ``warmup_steps``, then cosine decay to ``final_lr`` at ``total_steps``
    (``schedule="cosine"``) or the constant ``base_lr`` (``schedule="constant"``).

    .. math:: \eta_k = \eta \frac{k+1}{W} \ (k < W), \qquad
              \eta_k = \eta_{\min} + (\eta - \eta_{\min}) \tfrac12\Big(1 + \cos \pi \frac{k - W}{K - W}\Big) \ (k \ge W)
    """
    check_int(total_steps, "total_steps", minimum=1)
    check_int(step, "step", minimum=0, maximum=total_steps)
    check_number(base_lr, "base_lr", low=0.0)
    check_int(warmup_steps, "warmup_steps", minimum=0, maximum=total_steps - 1)
    check_number(final_lr, "final_lr", low=0.0)
    check_choice(schedule, "schedule", LR_SCHEDULES)
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return final_lr + (base_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def byol_tau(step: int, total_steps: int, tau_base: float = 0.996) -> float:
    r"""BYOL's target decay (Grill et al. 2020): :math:`\tau_k = 1 - (1 - \tau_{base}) (\cos(\pi k / K) + 1) / 2`.

    Starts at ``tau_base`` (k = 0) and rises to 1 (k = K): the target freezes as training ends.
    """
    check_int(total_steps, "total_steps", minimum=1)
    check_int(step, "step", minimum=0, maximum=total_steps)
    check_number(tau_base, "tau_base", low=0.0, high=1.0)
    return 1 - (1 - tau_base) * (math.cos(math.pi * step / total_steps) + 1) / 2


class LARS(torch.optim.Optimizer):
    r"""LARS (You et al. 2017) as SimCLR and BYOL use it: SGD with momentum where each weight
    matrix's update is scaled by the trust ratio :math:`\eta \lVert w \rVert / \lVert g + \lambda w \rVert`.

    Parameters with one dimension (biases, BatchNorm) get neither weight decay nor the trust
    ratio. Update: :math:`u = g + \lambda w`, :math:`u \leftarrow r u`, :math:`v \leftarrow m v + u`,
    :math:`w \leftarrow w - \text{lr}\, v`.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-6, eta: float = 1e-3):
        check_number(lr, "lr", low=0.0)
        check_number(momentum, "momentum", low=0.0, high=1.0)
        check_number(weight_decay, "weight_decay", low=0.0)
        check_number(eta, "eta", low=0.0, low_open=True)
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": eta})

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            check_callable(closure, "closure", "closure() -> loss")
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                update = w.grad
                if w.dim() > 1:
                    update = update.add(w, alpha=group["weight_decay"])
                    w_norm, u_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(update)
                    trust = torch.where((w_norm > 0) & (u_norm > 0), group["eta"] * w_norm / u_norm, 1.0)
                    update = update * trust
                state = self.state[w]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(w)
                buffer = state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                w.add_(buffer, alpha=-group["lr"])
        return loss


def make_optimizer(
    name: str, groups: list[dict], lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``"sgd"`` (momentum), ``"lars"``, ``"adamw"`` or ``"adam"`` over ``groups`` (each may carry ``fixed_lr``)."""
    check_choice(name, "name", OPTIMIZERS)
    if isinstance(groups, Mapping) or not isinstance(groups, Sequence) or not groups or not all(
        isinstance(g, Mapping) and "params" in g for g in groups
    ):
        raise TypeError("groups must be a non-empty list of parameter groups ({'params': [...], ...}), as "
                        f"method.param_groups() returns; got {type(groups).__name__}")
    check_number(lr, "lr", low=0.0, low_open=True)
    check_number(weight_decay, "weight_decay", low=0.0)
    check_number(momentum, "momentum", low=0.0, high=1.0)
    groups = [{**g, "fixed_lr": bool(g.get("fixed_lr", False))} for g in groups]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; got {name!r}")


# --- the loop ------------------------------------------------------------------------------------


def fit(
    method: nn.Module,
    data: ImageData | Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    views=None,
    config: FitConfig | None = None,
    *,
    hooks: Sequence[Hook] = (),
    callback: Callable[[int, dict[str, float]], None] | None = None,
    info: Mapping[str, Any] | None = None,
    until: int | None = None,
) -> Run:
    """Train ``method`` on two views of ``data``; return the :class:`Run` record.

    Args:
        method: a :class:`~jessl_lite.methods.JointEmbeddingMethod`, or any ``nn.Module`` with
            ``loss(view1, view2) -> (loss, logs)`` (``logs``: detached 0-dim tensors); optional
            ``target_pairs()`` (EMA targets) and ``param_groups()`` (a group with ``fixed_lr``
            keeps the base learning rate). Trained in place, on ``data``'s device.
        data: training images (:class:`~jessl_lite.data.ImageData`, uint8 on the training
            device; labels are not used), or a sampler ``data(step, generator) -> (view1, view2)``
            drawing fresh pairs every step (chapter 2's Gaussians; then ``views`` is None).
        views: for images, a :class:`~jessl_lite.views.TwoViews`/:class:`~jessl_lite.views.TopBottomViews`
            (``sample`` + ``apply`` + ``prepare``) or any ``views(images, generator) -> (v1, v2)``.
        config: a :class:`FitConfig` (default: ``FitConfig()``).
        hooks: evaluation hooks ``hook(method, step) -> {name: float}``, run on rank 0 before
            training (``eval_at_start``), every ``config.eval_every`` steps (or on their own
            schedule, wrapped in :class:`Every`) and at the end; their values become rows of
            ``run.evals``. :func:`jessl_lite.monitors.knn_monitor` and the other monitors of
            :mod:`jessl_lite.monitors` make them.
        callback: ``callback(step, logs)`` after each log (``logs``: the last step's values).
        info: JSON values to keep in ``run.info`` (data set name, method options, sizes).
        until: stop after this many steps of the configured schedule (the learning rate and EMA
            schedules stay those of the whole run): to re-check the first steps of a long run,
            or to smoke-test a configuration. No final evaluation or checkpoint is made early.

    Under the smoke setting (``JESSL_SMOKE=1``, :mod:`jessl_lite.profiles`) the run stops after
    :data:`~jessl_lite.profiles.SMOKE_STEPS` steps and treats that step as its last (final
    evaluation, checkpoint), with the batch capped at :data:`~jessl_lite.profiles.SMOKE_BATCH` and checkpoints in a
    ``smoke/`` subfolder of ``checkpoint_dir`` (never resumed); the schedules stay those of the whole run.

    Returns:
        The :class:`Run`: ``run.curve("loss")``, ``run.metric("knn")``, ``run.to_json(path)``.

    Raises:
        NonFiniteLossError: the loss became NaN/inf, or the weights did before a checkpoint (the
            message names the step and the last good checkpoint).
        CheckpointError: ``resume`` found a checkpoint that is unreadable or from a run with
            another configuration, data or method (the message names the differing fields).
        KeyboardInterrupt: after Ctrl-C, once the checkpoint (if ``checkpoint_dir``) is written.
        ValueError, TypeError: bad arguments.

    Resuming: run the same cell again with ``resume=True`` and the same ``checkpoint_dir``; the
    run continues from the last checkpoint and its record holds the steps before it too.
    """
    config = _as_config(config)
    _check_fit_arguments(hooks, callback, info, until)
    if profiles.smoke_enabled():
        config = _smoke_config(config)
    state = _setup(method, data, views, config, info)
    state.end = profiles.smoke_steps(state.total)
    _resume(state)
    with _interrupt_flag() as interrupted:
        if state.start == 0 and config.eval_at_start:
            _evaluate(state, hooks, 0, first=True)
        end = state.end if until is None else min(until, state.end)
        for step in range(state.start, end):
            _train_step(state, step)
            done = step + 1
            last = done == state.end
            if state.skip_nonfinite or done % config.log_every == 0 or last or _checkpoint_due(state, done):
                _log(state, callback)
            if _evaluation_due(hooks, config, done, last):
                _evaluate(state, hooks, done)
            if done == end and not last:
                _log(state, callback)
            if _checkpoint_due(state, done) or (interrupted() and state.ckpt_path is not None):
                _log(state, callback)  # a Ctrl-C between logs: flush what is pending first
                _checkpoint(state, done)
            if interrupted():
                state.bar.close()
                where = f"; the checkpoint {state.ckpt_path} holds step {done}" if state.ckpt_path else ""
                raise KeyboardInterrupt(f"training interrupted after step {done} of {state.total}{where}")
    return _finish(state)


@dataclass
class _State:
    """What the loop's steps share (internal)."""

    method: nn.Module
    model: nn.Module
    config: FitConfig
    data: Any
    views: Any
    device: torch.device
    total: int
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    scaler: Any
    generator: torch.Generator
    amp_dtype: torch.dtype | None
    run: Run
    ckpt_path: Path | None
    identity: dict[str, Any]
    bar: Any = None
    start: int = 0
    order_epoch: int = -1
    order: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    pending: list = field(default_factory=list)
    t_start: float = 0.0
    t_log: float = 0.0
    seconds_before: float = 0.0
    last_checkpoint_step: int | None = None
    channels_last: bool = False
    end: int = 0  # the run's last step: total, or fewer under the smoke setting

    def __post_init__(self) -> None:
        self.end = self.end or self.total

    @property
    def skip_nonfinite(self) -> bool:
        return self.config.on_nonfinite == "skip"


def _check_fit_arguments(hooks, callback, info, until) -> None:
    if isinstance(hooks, str | bytes | Mapping) or not isinstance(hooks, Sequence):
        raise TypeError(f"hooks must be a list of evaluation hooks hook(method, step) -> dict; got "
                        f"{type(hooks).__name__}")
    for i, hook in enumerate(hooks):
        check_callable(hook, f"hooks[{i}]", "hook(method, step) -> dict")
    if callback is not None:
        check_callable(callback, "callback", "callback(step, logs)")
    if info is not None:
        check_instance(info, "info", Mapping, "a dict of JSON values or None")
    if until is not None:
        check_int(until, "until", minimum=1)


def _smoke_config(config: FitConfig) -> FitConfig:
    # The smoke setting's caps: a smaller batch, checkpoints apart from a real run's (a smoke run
    # always starts over: an earlier smoke run may have had other caps).
    changes: dict[str, Any] = {"batch_size": min(config.batch_size, profiles.SMOKE_BATCH)}
    if config.checkpoint_dir is not None:
        changes["checkpoint_dir"] = os.fspath(Path(config.checkpoint_dir) / "smoke")
        changes["resume"] = False
    return config.replace(**changes)


def _as_config(config) -> FitConfig:
    if config is None:
        return FitConfig()
    if isinstance(config, Mapping):
        return FitConfig.from_dict(config)
    if not isinstance(config, FitConfig):
        raise TypeError(f"config must be a FitConfig; got {type(config).__name__}")
    return config


def _setup(method, data, views, config: FitConfig, info) -> _State:
    if not isinstance(method, nn.Module) or not callable(getattr(method, "loss", None)):
        raise TypeError(f"method must be an nn.Module with a loss(view1, view2) method; got {type(method).__name__}")
    world, rank = distributed.world_size(), distributed.rank()
    if config.batch_size % world:
        raise ValueError(f"batch_size ({config.batch_size}) must be divisible by the {world} processes")
    if isinstance(data, ImageData):
        if views is None:
            raise TypeError("views must be given for image data (e.g. jessl_lite.views.mnist_views())")
        if config.batch_size > len(data):
            raise ValueError(f"batch_size ({config.batch_size}) is larger than the data ({len(data)} images)")
        device, steps_per_epoch = data.device, len(data) // config.batch_size
    elif callable(data):
        if views is not None:
            raise TypeError("a sampler data(step, generator) makes its own pairs: views must be None")
        if config.epochs is not None:
            raise ValueError("a sampler has no epochs: give steps")
        device, steps_per_epoch = _module_device(method), 0
    else:
        raise TypeError(f"data must be an ImageData or a sampler data(step, generator); got {type(data).__name__}")
    total = config.steps if config.steps is not None else config.epochs * steps_per_epoch
    if config.warmup_steps >= total:
        raise ValueError(f"warmup_steps must be smaller than the {total} steps; got {config.warmup_steps}")
    method.to(device)
    amp_dtype, use_scaler = _autocast_dtype(config.precision, device)
    channels_last = device.type == "cuda" if config.channels_last is None else config.channels_last
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if config.sync_batchnorm and world > 1:
        if device.type != "cuda":
            raise ValueError("sync_batchnorm needs CUDA: torch's SyncBatchNorm has no CPU implementation")
        method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
    groups = method.param_groups() if hasattr(method, "param_groups") else [{"params": list(method.parameters())}]
    optimizer = make_optimizer(config.optimizer, groups, config.lr, config.weight_decay, config.momentum)
    model: nn.Module = method
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(method, device_ids=ids)
    if config.compile:
        model = torch.compile(model)
    run = Run(method=getattr(method, "name", type(method).__name__), seed=config.seed, config=config.to_dict(),
              info={"data": getattr(data, "name", getattr(data, "__name__", type(data).__name__)),
                    "world_size": world, **dict(info or {})},
              device=_describe(device), torch_version=str(torch.__version__), git_commit=_git_commit())
    ckpt_path = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir is not None else None
    if ckpt_path is not None and rank == 0:
        remove_stale_temporaries(ckpt_path)
    identity = {"config": config.trajectory(), "method": run.method, "world_size": world,
                "data": _fingerprint(data), "parameters": sum(p.numel() for p in method.parameters())}
    state = _State(method=method, model=model, config=config, data=data, views=views, device=device, total=total,
                   steps_per_epoch=steps_per_epoch, optimizer=optimizer, scaler=_grad_scaler(use_scaler),
                   generator=torch.Generator(device=device).manual_seed(config.seed), amp_dtype=amp_dtype,
                   run=run, ckpt_path=ckpt_path, identity=identity)
    state.channels_last = channels_last
    return state


def _resume(state: _State) -> None:
    """Load ``checkpoint.pt`` if ``resume`` and it exists; then open the progress bar."""
    path = state.ckpt_path
    if state.config.resume and path.is_file():
        saved = load_checkpoint(path)
        _check_same_run(path, saved["identity"], state.identity)
        try:
            state.method.load_state_dict(saved["model"])
            state.optimizer.load_state_dict(saved["optimizer"])
            if saved["scaler"]:
                state.scaler.load_state_dict(saved["scaler"])
            restore_rng_state(saved["rng"], state.generator)
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"{path} does not fit this method or optimizer ({err}); "
                                  "delete it to start over") from None
        state.start = state.last_checkpoint_step = saved["step"]
        state.order_epoch = saved["data_order"]["epoch"]
        state.order = saved["data_order"]["permutation"].to(state.device)
        state.run = Run.from_dict(saved["run"])
        state.seconds_before = state.run.seconds
    from tqdm.auto import tqdm

    state.bar = tqdm(total=state.total, initial=state.start, desc=f"fit {state.run.method}", unit="step",
                     disable=not state.config.progress or distributed.rank() != 0)
    state.method.train()
    state.t_start = state.t_log = time.perf_counter()


def _train_step(state: _State, step: int) -> None:
    """One optimizer step: a batch, the loss, backward, the update, the EMA targets."""
    view1, view2 = _batch(state, step)
    config = state.config
    current_lr = learning_rate(step, state.total, config.lr, config.warmup_steps, schedule=config.lr_schedule)
    for group in state.optimizer.param_groups:
        group["lr"] = config.lr if group.get("fixed_lr") else current_lr
    with torch.autocast(state.device.type, dtype=state.amp_dtype, enabled=state.amp_dtype is not None):
        # The method's loss; through DDP or torch.compile, its forward (which is the loss).
        loss, logs = (state.model if state.model is not state.method else state.method.loss)(view1, view2)
    values = {"loss": loss.detach(), **{k: v.detach() for k, v in logs.items() if k != "loss"}}
    state.pending.append((step, current_lr, values))
    if state.skip_nonfinite and not bool(torch.isfinite(loss.detach())):
        state.run.summary["skipped_steps"] = state.run.summary.get("skipped_steps", 0) + 1
    else:
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
        if hasattr(state.method, "target_pairs"):
            for online, target in state.method.target_pairs():
                ema_update(target, online, byol_tau(step, state.total, config.tau_base))
    state.bar.update(1)


def _batch(state: _State, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(state.data, ImageData):
        return state.data(step, state.generator)
    epoch, position = divmod(step, state.steps_per_epoch)
    if epoch != state.order_epoch:
        state.order_epoch = epoch
        # Drawn on the CPU (the same order on every device), then kept on the device so that
        # indexing a batch never waits for a host-to-device copy.
        seeded = torch.Generator().manual_seed(state.config.seed * 1_000_003 + epoch)
        order = torch.randperm(len(state.data), generator=seeded)
        state.order = order.to(state.device)
    size, world, rank = state.config.batch_size, distributed.world_size(), distributed.rank()
    batch = state.order[position * size : (position + 1) * size]
    mine = slice(rank * (size // world), (rank + 1) * (size // world))
    images = state.data.images[batch[mine]]
    if hasattr(state.views, "sample") and hasattr(state.views, "apply"):
        # Parameters for the whole global batch on every rank: N processes see one process's views.
        params = state.views.sample(size, state.generator, tuple(images.shape[-2:]))
        view1, view2 = state.views.apply(images, _shard(params, mine))
    else:
        view1, view2 = state.views(images, state.generator)
    if state.channels_last and view1.dim() == 4:
        view1, view2 = (v.contiguous(memory_format=torch.channels_last) for v in (view1, view2))
    return view1, view2


def _log(state: _State, callback) -> None:
    """Read the pending losses from the device (the loop's only regular synchronisation), check
    them, append them to the run's curves, update the bar, call ``callback``."""
    if not state.pending:
        return
    stacked = torch.stack([values["loss"].float() for _, _, values in state.pending])
    if state.config.on_nonfinite == "stop":
        bad = ~torch.isfinite(stacked)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            _raise_nonfinite(state, f"the loss became {float(stacked[i])} at step {state.pending[i][0]} (0-based)")
    now = time.perf_counter()
    for step, current_lr, values in state.pending:
        state.run.log_step(step, {"lr": current_lr, **{name: float(v) for name, v in values.items()}})
    throughput = len(state.pending) * state.config.batch_size / max(now - state.t_log, 1e-9)
    state.run.curves.setdefault("images_per_s", [math.nan] * len(state.run.curves["step"]))[-1] = throughput
    last = {name: column[-1] for name, column in state.run.curves.items()}
    state.pending, state.t_log = [], now
    state.bar.set_postfix(loss=f"{last['loss']:.4f}", img_s=f"{throughput:.0f}")
    if callback is not None:
        callback(int(last["step"]) + 1, last)


def _evaluation_due(hooks, config: FitConfig, done: int, last: bool) -> bool:
    return bool(hooks) and any(_hook_due(hook, config, done, last) for hook in hooks)


def _hook_due(hook, config: FitConfig, done: int, last: bool, first: bool = False) -> bool:
    every = hook.every if isinstance(hook, Every) else config.eval_every
    if first:
        return hook.at_start if isinstance(hook, Every) else True
    return last or bool(every and done % every == 0)


def _evaluate(state: _State, hooks, done: int, first: bool = False) -> None:
    """Run the hooks that are due (rank 0 only, float32, the method restored to training mode)."""
    if distributed.rank() != 0 or not hooks:
        return
    metrics: dict[str, float] = {}
    last = done == state.end
    for hook in hooks:
        if _hook_due(hook, state.config, done, last, first):
            values = hook(state.method, done)
            if not isinstance(values, Mapping):
                raise TypeError(f"an evaluation hook must return a dict of numbers; {hook!r} returned "
                                f"{type(values).__name__}")
            metrics.update(values)
    state.method.train()
    if metrics:
        state.run.log_eval(done, metrics)
        state.bar.set_postfix({k: f"{v:.3f}" for k, v in list(metrics.items())[:3] if isinstance(v, float)})


def _checkpoint_due(state: _State, done: int) -> bool:
    every = state.config.checkpoint_every
    return state.ckpt_path is not None and (done == state.end or bool(every and done % every == 0))


def _checkpoint(state: _State, done: int) -> None:
    """Write the checkpoint after step ``done`` (rank 0), only if every weight is finite."""
    if distributed.rank() == 0:
        tensors = list(state.method.state_dict().values()) + [
            v for s in state.optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
        if not all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point()):
            _raise_nonfinite(state, f"the weights or optimizer state became non-finite by step {done}; "
                                    "no checkpoint was written")
        state.run.seconds = state.seconds_before + time.perf_counter() - state.t_start
        save_checkpoint(state.ckpt_path, {
            "step": done,
            "identity": state.identity,
            # Target networks are submodules of the method: they travel in its state_dict.
            "model": state.method.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scaler": state.scaler.state_dict() if state.scaler.is_enabled() else {},
            "rng": rng_state(state.generator),
            "data_order": {"epoch": state.order_epoch, "permutation": state.order.cpu()},
            "run": state.run.to_dict(),
        })
    state.last_checkpoint_step = done
    if distributed.world_size() > 1:
        torch.distributed.barrier()


def _finish(state: _State) -> Run:
    state.bar.close()
    state.run.seconds = state.seconds_before + time.perf_counter() - state.t_start
    if state.ckpt_path is not None:
        state.run.summary["checkpoint"] = os.fspath(state.ckpt_path)
    return state.run


def _raise_nonfinite(state: _State, what: str) -> None:
    state.bar.close()
    if state.last_checkpoint_step is not None:
        where = f"the last good checkpoint is {state.ckpt_path} (step {state.last_checkpoint_step})"
    else:
        where = "no checkpoint was written yet"
    raise NonFiniteLossError(f"{what}; training stopped; {where}. "
                             "Lower the learning rate, add warmup, or check the inputs.")


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C (SIGINT) into a flag the loop checks after each step, so that the step
    finishes and a checkpoint is written before ``KeyboardInterrupt``; a second Ctrl-C stops at once."""
    hits = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if hits:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        hits.append(signum)

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


# --- helpers -------------------------------------------------------------------------------------


def _module_device(module: nn.Module) -> torch.device:
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


_GIT_COMMIT: list[str | None] = []


def _git_commit() -> str | None:
    """The commit of the package's checkout (``None`` when installed from a wheel or git is missing)."""
    if not _GIT_COMMIT:
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                 text=True, timeout=5)
            _GIT_COMMIT.append(out.stdout.strip() if out.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _GIT_COMMIT.append(None)
    return _GIT_COMMIT[0]


def _fingerprint(data) -> dict[str, Any]:
    """What a resumed run's data must share with the checkpoint's: size, shape and a pixel sum."""
    if not isinstance(data, ImageData):
        return {"sampler": getattr(data, "__qualname__", type(data).__qualname__)}
    # One reduction over a strided sample of the images: a different subset or data set changes it.
    sample = data.images[:: max(len(data) // 512, 1)]
    return {"images": len(data), "shape": list(data.images.shape[1:]), "pixel_sum": int(sample.sum(dtype=torch.int64))}


def _check_same_run(path: Path, saved: dict, current: dict) -> None:
    differences = []
    for key in ("method", "world_size", "data", "parameters"):
        if saved.get(key) != current.get(key):
            differences.append(f"{key}: {saved.get(key)!r} there, {current.get(key)!r} here")
    for key, value in current["config"].items():
        if saved["config"].get(key) != value:
            differences.append(f"{key}: {saved['config'].get(key)!r} there, {value!r} here")
    if differences:
        raise CheckpointError(
            f"the checkpoint {path} was written by another run ({'; '.join(differences)}). Resume with the "
            f"same settings, or delete {path} (or choose another checkpoint_dir) to start over."
        )


def _autocast_dtype(precision: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    if device.type != "cuda":
        if precision in ("bf16", "fp16"):
            raise ValueError(f"precision={precision!r} needs CUDA; mixed precision is used only on GPUs")
        return None, False
    if precision == "fp32":
        return None, False
    if precision == "bf16" or (precision == "auto" and native_bf16()):
        return torch.bfloat16, False
    return torch.float16, True  # a T4 has no native bf16: fp16 needs loss scaling


def native_bf16() -> bool:
    """Whether the current GPU computes bf16 natively (Ampere and later; a T4 only emulates it)."""
    if not torch.cuda.is_available():
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.4 has no including_emulation and reports native support only
        return torch.cuda.is_bf16_supported()


def _grad_scaler(enabled: bool):
    try:
        return torch.amp.GradScaler("cuda", enabled=enabled)
    except (AttributeError, TypeError):  # torch < 2.3
        return torch.cuda.amp.GradScaler(enabled=enabled)


def _shard(params, part: slice):
    if isinstance(params, dict):
        return {k: _shard(v, part) for k, v in params.items()}
    return params[part]


# --- command line --------------------------------------------------------------------------------


_METHOD_OPTIONS = {"dim": int, "hidden_dim": int, "pred_dim": int, "proj_layers": int, "temperature": float,
                   "num_prototypes": int}


_COMMAND_LINE_NAMES = ("method", "data", "backbone", "root", "device", "out")


def _in_flag_names(message: str) -> str:
    """An error message with the Python argument names in it written as flags.

    A name is rewritten where it starts the message (``log_every must be ...``), where a value
    follows it (``device='cuda' asks ...`` -> ``--device cuda asks ...``), and anywhere when it has
    an underscore (``checkpoint_dir``): plain words such as "steps" are left alone in the prose.
    """
    message = message.strip() or "an error with no message"
    names = sorted([*_field_names(), *_METHOD_OPTIONS, *_COMMAND_LINE_NAMES], key=len, reverse=True)
    for name in names:
        flag = "--" + name.replace("_", "-")
        message = re.sub(rf"(?<![\w-]){name}='([^']*)'", rf"{flag} \1", message)
        message = re.sub(rf"(?<![\w-]){name}=", f"{flag}=", message)
        if message.startswith(name + " "):
            message = flag + message[len(name):]
        if "_" in name:
            message = re.sub(rf"(?<![\w-]){name}\b", flag, message)
    return message


def build_parser() -> argparse.ArgumentParser:
    """The command line: the run's what (method, data, backbone) and every :class:`FitConfig` field."""
    from .methods import METHOD_NAMES, METHODS

    parser = argparse.ArgumentParser(
        prog="python -m jessl_lite.train",
        description="Train a joint-embedding method with jessl_lite's fit loop and print its kNN accuracy.",
        epilog="Example: python -m jessl_lite.train --method simsiam --data mnist --steps 200 --eval-every 100",
    )
    what = parser.add_argument_group("what to train")
    what.add_argument("--method", choices=sorted(METHODS), default="simsiam",
                      help="the joint-embedding method (default: simsiam): "
                           + ", ".join(f"{key} ({name})" for key, name in METHOD_NAMES.items()))
    what.add_argument("--data", choices=["mnist", "cifar10"], default="mnist",
                      help="trains on the training split, evaluates kNN on the test split")
    what.add_argument("--backbone", choices=["mlp", "convnet", "resnet18"], default=None,
                      help="default: convnet for mnist, resnet18 for cifar10")
    what.add_argument("--root", default=None, help="data root (default: $JESSL_DATA)")
    what.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: a GPU if there is one)")
    what.add_argument("--out", default=None, help="write the run record (JSON) here")
    what.add_argument("--debug", action="store_true", help="show the full traceback on an error")
    options = parser.add_argument_group("method options (an option the --method does not take is an error)")
    for name, kind in _METHOD_OPTIONS.items():
        options.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    defaults = FitConfig()
    for section, names in FitConfig.sections().items():
        group = parser.add_argument_group(f"FitConfig: {section}")
        for name in names:
            flag = "--" + name.replace("_", "-")
            value = getattr(defaults, name)
            choices = {"optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "precision": PRECISIONS,
                       "on_nonfinite": ("stop", "skip")}.get(name)
            if isinstance(value, bool) or name == "channels_last":
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
            else:
                kind = {"lr": float, "weight_decay": float, "momentum": float, "tau_base": float,
                        "checkpoint_dir": str, "optimizer": str, "lr_schedule": str, "precision": str,
                        "on_nonfinite": str}.get(name, int)
                words = _FLAG_HELP.get(name, "")
                default = "0.05 * batch_size / 256" if name == "lr" else value
                group.add_argument(flag, type=kind, default=value, choices=choices,
                                   help=f"{words}{'; ' if words else ''}default: {default}")
    parser.set_defaults(lr=None, steps=None)
    return parser


_FLAG_HELP = {
    "precision": "auto: bf16 autocast on GPUs that have it, fp16 with loss scaling on others, float32 on CPUs",
    "optimizer": "sgd has momentum; lars is You et al.'s",
    "on_nonfinite": "stop: a NaN/inf loss ends the run; skip: that step's update is left out",
}


def main(argv: list[str] | None = None) -> Run:
    """``python -m jessl_lite.train --method simsiam --data mnist ...`` (see ``--help``).

    Every error is printed as one line naming the flag, exit status 2 (``--debug`` shows the
    traceback instead); Ctrl-C prints one line too, exit status 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run_command_line(args)
    except KeyboardInterrupt as err:
        if args.debug:
            raise
        parser.exit(130, f"{parser.prog}: {err or 'interrupted'}\n")
    except Exception as err:
        if args.debug:
            raise
        # Our own errors say what to change; anything else is named by its type (--debug shows where).
        known = isinstance(err, ValueError | TypeError | FileNotFoundError | NonFiniteLossError)
        what = _in_flag_names(str(err))
        parser.exit(2, f"{parser.prog}: error: {what if known else f'{type(err).__name__}: {what}'} "
                       "(--debug shows the traceback)\n")


def _run_command_line(args: argparse.Namespace) -> Run:
    from .data import load_dataset
    from .methods import make_method
    from .monitors import knn_monitor
    from .nets import make_backbone
    from .views import cifar10_views, mnist_views

    fields_ = {name: getattr(args, name) for name in _field_names()}
    if fields_["steps"] is None and fields_["epochs"] is None:
        fields_["steps"] = 200
    if fields_["lr"] is None:
        fields_["lr"] = 0.05 * fields_["batch_size"] / 256
    config = FitConfig(**fields_)
    options = {name: getattr(args, name) for name in _METHOD_OPTIONS if getattr(args, name) is not None}
    _check_method_options(args.method, options)
    if args.device is not None:
        check_device(args.device, "device")
    device = distributed.setup_from_env()
    if device is None:
        from .profiles import choose_device

        device = choose_device(args.device)
    torch.manual_seed(config.seed)
    train = load_dataset(args.data, "train", root=args.root, device=device)
    test = load_dataset(args.data, "test", root=args.root, device=device)
    views = mnist_views() if args.data == "mnist" else cifar10_views()
    backbone_name = args.backbone or ("convnet" if args.data == "mnist" else "resnet18")
    backbone = make_backbone(backbone_name, train.images.shape[1], train.images.shape[-1])
    method = make_method(args.method, backbone, **options)
    run = fit(method, train, views, config, hooks=[knn_monitor(train, test, views.prepare)],
              info={"backbone": backbone_name, "method_options": options, "test": test.name})
    if distributed.rank() == 0:
        print(f"done: {run.steps} steps in {run.seconds:.1f} s, final loss {run.curve('loss')[1][-1]:.4f}, "
              f"kNN accuracy {run.final('knn'):.4f}")
        if args.out:
            run.to_json(args.out)
    if distributed.is_distributed():
        torch.distributed.destroy_process_group()
    return run


def _check_method_options(method: str, options: dict[str, Any]) -> None:
    # Before any data is loaded: --pred-dim with --method simclr is a mistake in the command.
    import inspect

    from .methods import METHODS

    accepted = set(inspect.signature(METHODS[method].__init__).parameters)
    unknown = [name for name in options if name not in accepted]
    if unknown:
        takes = [f"--{n.replace('_', '-')}" for n in _METHOD_OPTIONS if n in accepted]
        flags = ", ".join(f"--{n.replace('_', '-')}" for n in unknown)
        raise ValueError(f"--method {method} does not take {flags}; of the method options it takes {', '.join(takes)}")


if __name__ == "__main__":
    main()
