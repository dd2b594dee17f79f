"""Data-parallel helpers for ``torchrun``: process-group set-up and an all-gather that carries gradients.

Under ``torchrun --nproc_per_node=N`` each process sees ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; :func:`setup_from_env` joins the process group (NCCL on GPUs, gloo on CPUs).
Losses that compare a sample with the other samples of the *global* batch (SimCLR's negatives,
Barlow Twins' and VICReg's batch statistics) call :func:`gather_with_grad`, so their gradient
flows back to the rank that produced each row. Chapter 3 explains why batch size matters.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .validation import check_tensor

__all__ = ["is_distributed", "rank", "world_size", "setup_from_env", "gather_with_grad"]


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def setup_from_env() -> torch.device | None:
    """Join the process group described by torchrun's variables; returns this process's device.

    Returns ``None`` (and does nothing) when ``WORLD_SIZE`` is unset or 1.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return device


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # Every rank's loss may depend on this rank's rows: sum the gradients from all ranks,
        # then keep the slice that belongs to the local rows.
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (``(n, ...)``, the same ``n`` on every rank) from all ranks in rank order.

    Returns ``(world_size * n, ...)``; gradients flow back to each rank's own rows. With DDP
    averaging gradients over ranks, a loss that is the mean over the local rows of a function
    of the gathered batch gets exactly the single-process gradient of the global batch.
    Without a process group this returns ``x`` itself.
    """
    check_tensor(x, "x", min_ndim=1, dims="(n, ...)")
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)
