"""The fit loop every method trains with: one :func:`fit` for SimSiam, BYOL, SimCLR and the rest.

Per optimizer step ``k`` of ``K``:

1. take the next ``batch_size`` indices of this epoch's permutation (fixed by ``seed`` and the
   epoch), draw per-sample view parameters for the whole global batch, make the two views of
   this process's shard on the device (:mod:`jessl_lite.views`);
2. ``loss, logs = method(view1, view2)`` under autocast (bf16, or fp16 with a gradient scaler
   on GPUs without bf16; float32 on CPUs), backward, optimizer step with the learning rate
   :func:`learning_rate` (linear warmup, then cosine decay);
3. move every target network of the method towards its online network with BYOL's schedule
   :func:`byol_tau` (:func:`ema_update`);
4. every ``log_every`` steps, and only then, read the losses back from the device: update the
   progress bar, stop on a NaN or infinite loss (:class:`NonFiniteLossError`), call ``callback``;
   every ``knn_every`` steps, a kNN monitor; every ``checkpoint_every`` steps, a checkpoint.

A checkpoint holds everything the rest of the run depends on (model with its target networks
and BatchNorm buffers, optimizer, gradient scaler, step, every random generator's state, this
epoch's data order) and is written atomically, so ``resume=True`` continues a killed run; on a
CPU the resumed run ends bit-identical to one that was never interrupted. Checkpoints load with
``torch.load(path, weights_only=True)``.

Command line (also under ``torchrun --nproc_per_node=N``, data-parallel)::

    python -m jessl_lite.train --method simsiam --data mnist --backbone convnet --steps 200

Chapters 3, 4, 5 and 7 train with this loop.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import distributed
from .data import ImageData
from .evaluate import embeddings, knn_accuracy
from .methods import ema_update

__all__ = [
    "fit",
    "FitResult",
    "NonFiniteLossError",
    "learning_rate",
    "byol_tau",
    "ema_update",
    "LARS",
    "make_optimizer",
    "load_checkpoint",
    "CHECKPOINT_NAME",
]

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 1


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclass
class FitResult:
    """What :func:`fit` returns (the method itself is trained in place).

    Attributes:
        steps: optimizer steps done in total (``K``).
        history: one dict per step: ``step``, ``loss``, ``lr`` and the method's logs as Python
            floats (read from the device every ``log_every`` steps); the last step of each read
            also has ``images_per_s``.
        knn: ``(step, accuracy)`` pairs from the kNN monitor.
        seconds: wall time of this call (a resumed run counts only its own part).
        checkpoint: path of the last checkpoint written, if any.
    """

    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    knn: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None


def learning_rate(step: int, total_steps: int, base_lr: float, warmup_steps: int = 0, final_lr: float = 0.0) -> float:
    r"""Linear warmup for ``warmup_steps``, then cosine decay to ``final_lr`` at ``total_steps``.

    .. math:: \eta_k = \eta \frac{k+1}{W} \ (k < W), \qquad
              \eta_k = \eta_{\min} + (\eta - \eta_{\min}) \tfrac12\Big(1 + \cos \pi \frac{k - W}{K - W}\Big) \ (k \ge W)
    """
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must be in [0, total_steps={total_steps}]; got {step}")
    if not 0 <= warmup_steps < max(total_steps, 1):
        raise ValueError(f"warmup_steps must be in [0, total_steps); got {warmup_steps}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return final_lr + (base_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def byol_tau(step: int, total_steps: int, tau_base: float = 0.996) -> float:
    r"""BYOL's target decay (Grill et al. 2020): :math:`\tau_k = 1 - (1 - \tau_{base}) (\cos(\pi k / K) + 1) / 2`.

    Starts at ``tau_base`` (k = 0) and rises to 1 (k = K): the target freezes as training ends.
    """
    if not 0 <= step <= total_steps or total_steps < 1:
        raise ValueError(f"step must be in [0, total_steps] with total_steps >= 1; got {step}, {total_steps}")
    if not 0 <= tau_base <= 1:
        raise ValueError(f"tau_base must be in [0, 1]; got {tau_base}")
    return 1 - (1 - tau_base) * (math.cos(math.pi * step / total_steps) + 1) / 2


class LARS(torch.optim.Optimizer):
    r"""LARS (You et al. 2017) as SimCLR and BYOL use it: SGD with momentum where each weight
    matrix's update is scaled by the trust ratio :math:`\eta \lVert w \rVert / \lVert g + \lambda w \rVert`.

    Parameters with one dimension (biases, BatchNorm) get neither weight decay nor the trust
    ratio. Update: :math:`u = g + \lambda w`, :math:`u \leftarrow r u`, :math:`v \leftarrow m v + u`,
    :math:`w \leftarrow w - \text{lr}\, v`.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-6, eta: float = 1e-3):
        if lr < 0 or momentum < 0 or weight_decay < 0 or eta <= 0:
            raise ValueError("lr, momentum and weight_decay must be >= 0 and eta > 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": eta})

    @torch.no_grad()
    def step(self, closure=None):
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
    """``"sgd"`` (momentum), ``"lars"`` or ``"adamw"`` over ``groups`` (each may carry ``fixed_lr``)."""
    groups = [{**g, "fixed_lr": bool(g.get("fixed_lr", False))} for g in groups]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd', 'lars' or 'adamw'; got {name!r}")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint written by :func:`fit`, loaded with ``weights_only=True`` onto the CPU."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def fit(
    method: nn.Module,
    data: ImageData,
    views,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 256,
    optimizer: str = "sgd",
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    momentum: float = 0.9,
    warmup_steps: int = 0,
    tau_base: float = 0.996,
    seed: int = 0,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
    sync_batchnorm: bool = False,
    log_every: int = 10,
    knn_data: tuple[ImageData, ImageData] | None = None,
    knn_every: int = 0,
    knn_k: int = 200,
    knn_temperature: float = 0.1,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``method`` on ``data`` with two views per image from ``views``.

    Args:
        method: a :class:`~jessl_lite.methods.JointEmbeddingMethod` (any module with ``loss``,
            ``embed``, ``target_pairs``, ``param_groups``). It is moved to ``data``'s device.
        data: training images (uint8, on the training device); labels are not used.
        views: a :class:`~jessl_lite.views.TwoViews`/:class:`~jessl_lite.views.TopBottomViews`
            (``sample`` + ``apply`` + ``prepare``), or any ``views(images, generator) -> (v1, v2)``
            (under torchrun such a callable sees only its shard, with the same generator seed on
            every rank, so data-parallel runs no longer equal one process exactly).
        steps, epochs: length of training, exactly one of them (an epoch drops the last partial batch).
        batch_size: the global batch; under torchrun each of ``N`` processes takes ``batch_size / N``.
        optimizer: ``"sgd"``, ``"lars"`` or ``"adamw"``. lr: base learning rate (scale it with the
            batch yourself; SimSiam: ``0.05 * batch_size / 256``). weight_decay, momentum: as named.
        warmup_steps: linear warmup before the cosine decay (:func:`learning_rate`).
        tau_base: first EMA decay of target networks (:func:`byol_tau`); unused without targets.
        seed: fixes initialisation-independent randomness: data order and views.
        precision: ``"auto"`` (bf16 autocast on GPUs that support it, fp16 with a gradient scaler
            on the others, float32 on CPUs), ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
        channels_last: NHWC memory format (default: on CUDA). compile: ``torch.compile`` the method.
        sync_batchnorm: SyncBatchNorm across processes (CUDA only; torch has no CPU version).
        log_every: steps between reads of the loss from the device (and NaN checks).
        knn_data: ``(memory, queries)`` labelled sets for the kNN monitor; knn_every: its period
            in steps (0: only at the end when ``knn_data`` is given). knn_k, knn_temperature: its k and T.
        checkpoint_dir: where ``checkpoint.pt`` goes; checkpoint_every: its period in steps
            (0: only at the end). resume: continue from ``checkpoint_dir/checkpoint.pt`` if present.
        progress: show a ``tqdm.auto`` bar. callback: ``callback(step, logs)`` after each log.

    Raises:
        NonFiniteLossError: the loss became NaN/inf (the message names the step and checkpoint).
        ValueError, TypeError: bad arguments, or a checkpoint from a differently configured run.
    """
    if not isinstance(data, ImageData):
        raise TypeError(f"data must be an ImageData; got {type(data).__name__}")
    if not isinstance(method, nn.Module) or not hasattr(method, "loss"):
        raise TypeError("method must be an nn.Module with a loss(view1, view2) method")
    world, rank = distributed.world_size(), distributed.rank()
    if not isinstance(batch_size, int) or batch_size < 1 or batch_size % world:
        raise ValueError(f"batch_size must be a positive int divisible by the {world} processes; got {batch_size}")
    if batch_size > len(data):
        raise ValueError(f"batch_size ({batch_size}) is larger than the data ({len(data)} images)")
    steps_per_epoch = len(data) // batch_size
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps and epochs")
    total = steps if steps is not None else epochs * steps_per_epoch
    if not isinstance(total, int) or total < 1:
        raise ValueError(f"steps/epochs must give at least one step; got steps={steps}, epochs={epochs}")
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1; got {log_every}")
    if (checkpoint_every or resume) and checkpoint_dir is None:
        raise ValueError("checkpoint_every and resume need a checkpoint_dir")

    device = data.device
    method.to(device)
    amp_dtype, use_scaler = _autocast_dtype(precision, device)
    if channels_last is None:
        channels_last = device.type == "cuda"
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if sync_batchnorm and world > 1:
        if device.type != "cuda":
            raise ValueError("sync_batchnorm needs CUDA: torch's SyncBatchNorm has no CPU implementation")
        method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
    opt = make_optimizer(optimizer, method.param_groups(), lr, weight_decay, momentum)
    scaler = _grad_scaler(use_scaler)
    model: nn.Module = method
    if world > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(method, device_ids=device_ids)
    if compile:
        model = torch.compile(model)

    generator = torch.Generator(device=device).manual_seed(seed)
    config = {"steps": total, "batch_size": batch_size, "seed": seed, "world_size": world}
    start, order_epoch, order = 0, -1, torch.empty(0, dtype=torch.long)
    result = FitResult(steps=total)
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        saved = {k: state["config"][k] for k in config}
        if saved != config:
            raise ValueError(f"the checkpoint {ckpt_path} is from a run with {saved}, not {config}")
        method.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], generator)
        start, order_epoch = state["step"], state["data_order"]["epoch"]
        order = state["data_order"]["permutation"].to(device)
        result.history, result.checkpoint = list(state["history"]), ckpt_path
        result.knn = [(int(s), float(a)) for s, a in state["knn"]]

    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=start, disable=not progress or rank != 0, desc="fit", unit="step")
    pending: list[tuple[int, dict[str, torch.Tensor]]] = []
    local = batch_size // world
    t_start = t_log = time.perf_counter()
    method.train()
    for step in range(start, total):
        epoch, position = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            order_epoch = epoch
            # Drawn on the CPU (the same order on every device), then kept on the device so that
            # indexing a batch never waits for a host-to-device copy.
            order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
            order = order.to(device)
        batch = order[position * batch_size : (position + 1) * batch_size]
        mine = slice(rank * local, (rank + 1) * local)
        images = data.images[batch[mine]]
        if hasattr(views, "sample") and hasattr(views, "apply"):
            # Parameters for the whole global batch on every rank: N processes see one process's views.
            params = views.sample(batch_size, generator, tuple(images.shape[-2:]))
            view1, view2 = views.apply(images, _shard(params, mine))
        else:
            view1, view2 = views(images, generator)
        if channels_last and view1.dim() == 4:
            view1, view2 = (v.contiguous(memory_format=torch.channels_last) for v in (view1, view2))

        current_lr = learning_rate(step, total, lr, warmup_steps)
        for group in opt.param_groups:
            group["lr"] = lr if group.get("fixed_lr") else current_lr
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss, logs = model(view1, view2)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        for online, target in method.target_pairs():
            ema_update(target, online, byol_tau(step, total, tau_base))

        pending.append((step, {"loss": loss.detach(), **{k: v.detach() for k, v in logs.items() if k != "loss"}}))
        bar.update(1)
        done = step + 1
        last = done == total
        checkpoint_due = ckpt_path is not None and ((checkpoint_every and done % checkpoint_every == 0) or last)
        if done % log_every == 0 or last or checkpoint_due:
            # The only host synchronisation of the loop: read the pending losses, check them.
            _check_finite(pending, result.checkpoint)
            now = time.perf_counter()
            entry = {}
            for k, values in pending:
                entry = {"step": float(k), "lr": learning_rate(k, total, lr, warmup_steps)}
                entry.update({name: float(v) for name, v in values.items()})
                result.history.append(entry)
            entry["images_per_s"] = len(pending) * batch_size / max(now - t_log, 1e-9)
            pending, t_log = [], now
            bar.set_postfix(loss=f"{entry['loss']:.4f}", img_s=f"{entry['images_per_s']:.0f}")
            if callback is not None:
                callback(done, entry)
        if knn_data is not None and ((knn_every and done % knn_every == 0) or last) and rank == 0:
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                accuracy = _knn_monitor(method, views, knn_data, knn_k, knn_temperature)
            result.knn.append((done, accuracy))
            bar.set_postfix(loss=f"{result.history[-1]['loss']:.4f}", knn=f"{accuracy:.3f}")
        if checkpoint_due:
            if rank == 0:
                _save_checkpoint(ckpt_path, method, opt, scaler, generator, done, order_epoch, order, config, result)
            result.checkpoint = ckpt_path
            if world > 1:
                torch.distributed.barrier()
    bar.close()
    result.seconds = time.perf_counter() - t_start
    return result


# --- helpers -------------------------------------------------------------------------------------


def _autocast_dtype(precision: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16'; got {precision!r}")
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


def _check_finite(pending: list[tuple[int, dict[str, torch.Tensor]]], checkpoint: Path | None) -> None:
    if not pending:
        return
    losses = torch.stack([values["loss"].float() for _, values in pending])
    bad = ~torch.isfinite(losses)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        step, value = pending[i][0], float(losses[i])
        where = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"the loss became {value} at step {step} (0-based); training stopped; {where}. "
            "Lower the learning rate, add warmup, or check the inputs."
        )


@torch.no_grad()
def _knn_monitor(method, views, knn_data, k: int, temperature: float) -> float:
    memory, queries = knn_data
    prepare = getattr(views, "prepare", None)
    train_features = embeddings(method.embed, memory.images, prepare)
    test_features = embeddings(method.embed, queries.images, prepare)
    return knn_accuracy(train_features, memory.labels, test_features, queries.labels, k=k, temperature=temperature,
                        num_classes=len(memory.classes))


def _rng_state(generator: torch.Generator) -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        # weights_only loading accepts tensors, not numpy arrays: store the key as a tensor.
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "views": generator.get_state(),
    }


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    generator.set_state(state["views"])


def _save_checkpoint(path: Path, method, opt, scaler, generator, step, epoch, order, config, result) -> None:
    state = {
        "format": _FORMAT,
        "step": step,
        "config": config,
        # Target networks are submodules of the method: they travel in its state_dict.
        "model": method.state_dict(),
        "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "rng": _rng_state(generator),
        "data_order": {"epoch": epoch, "permutation": order.cpu()},
        "history": result.history,
        "knn": [[s, a] for s, a in result.knn],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic on POSIX: a kill leaves the old checkpoint or the new one


# --- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> FitResult:
    """``python -m jessl_lite.train --method simsiam --data mnist ...`` (see ``--help``)."""
    from .data import load_dataset
    from .methods import make_method
    from .nets import make_backbone
    from .views import cifar10_views, mnist_views

    parser = argparse.ArgumentParser(prog="python -m jessl_lite.train", description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="simsiam")
    parser.add_argument("--data", choices=["mnist", "cifar10"], default="mnist")
    parser.add_argument("--backbone", choices=["mlp", "convnet", "resnet18"], default=None,
                        help="default: convnet for mnist, resnet18 for cifar10")
    parser.add_argument("--root", default=None, help="data root (default: $JESSL_DATA)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--optimizer", choices=["sgd", "lars", "adamw"], default="sgd")
    parser.add_argument("--lr", type=float, default=None, help="default: 0.05 * batch / 256 (SimSiam's rule)")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--dim", type=int, default=2048, help="projector width")
    parser.add_argument("--pred-dim", type=int, default=512, help="predictor bottleneck")
    parser.add_argument("--proj-layers", type=int, default=None, help="default: 2 (the paper's CIFAR setting)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--sync-batchnorm", action="store_true")
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--knn-every", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.steps is None and args.epochs is None:
        args.steps = 200

    device = distributed.setup_from_env()
    if device is None:
        from .profiles import choose_device

        device = choose_device(args.device)
    torch.manual_seed(args.seed)
    if args.data == "mnist":
        # The offline copy has only MNIST's test images: pretrain on 80% of them, probe on the rest.
        full = load_dataset("mnist", "test", root=args.root, device=device)
        train, heldout = full.split([0.8, 0.2], seed=args.seed)
        knn_data, views = (train, heldout), mnist_views()
    else:
        train = load_dataset("cifar10", "train", root=args.root, device=device)
        knn_data, views = (train, load_dataset("cifar10", "test", root=args.root, device=device)), cifar10_views()
    backbone_name = args.backbone or ("convnet" if args.data == "mnist" else "resnet18")
    backbone = make_backbone(backbone_name, train.images.shape[1], train.images.shape[-1])
    method = make_method(args.method, backbone, dim=args.dim, pred_dim=args.pred_dim, proj_layers=args.proj_layers or 2)
    lr = args.lr if args.lr is not None else 0.05 * args.batch_size / 256
    result = fit(
        method, train, views, steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        seed=args.seed, precision=args.precision, compile=args.compile, sync_batchnorm=args.sync_batchnorm,
        log_every=args.log_every, knn_data=knn_data, knn_every=args.knn_every,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, resume=args.resume,
        progress=not args.no_progress,
    )
    if distributed.rank() == 0:
        knn = f", kNN accuracy {result.knn[-1][1]:.4f}" if result.knn else ""
        print(f"done: {result.steps} steps in {result.seconds:.1f} s, final loss {result.history[-1]['loss']:.4f}{knn}")
    if distributed.is_distributed():
        torch.distributed.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
