"""Two-view training throughput of SimSiam with a CIFAR ResNet-18 on CIFAR-10.

Compares, in one run, on the same model, batch and precision:

(a) this engine: the whole training set as a uint8 tensor on the device, views made there by
    ``jessl_lite.views`` with per-sample parameters, trained by ``jessl_lite.train.fit``;
(b) the usual reference: torchvision per-image transforms on PIL images in a ``DataLoader``,
    with 2 worker processes and with one per CPU core.

It prints images/s (an image = one source image, i.e. two views), the ratio (a)/(b), the FLOPs
of one training step counted by ``torch.utils.flop_counter`` and the achieved TFLOP/s (and the
fraction of the GPU's dense bf16 peak when the GPU is known). It also times the input
pipelines alone (no model), which is what the engine changes. Results go to a JSON file.

    python bench/throughput.py                          # GPU: batch 512; CPU: batch 64
    python bench/throughput.py --batch-size 512 --steps 20 --out bench/results/h100.json

Goals (issue 4): on a GPU, (a) >= 5x (b) with all workers and >= 30% of bf16 peak; on a CPU,
(a) no slower than (b).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone

import numpy as np
import torch

from jessl_lite.data import load_cifar10
from jessl_lite.methods import SimSiam
from jessl_lite.nets import resnet18_cifar
from jessl_lite.profiles import choose_device
from jessl_lite.train import FitConfig, fit, native_bf16
from jessl_lite.views import CIFAR10_MEAN, CIFAR10_STD, cifar10_views

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s.
BF16_PEAK_TFLOPS = {"H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H200": 989.0, "A100": 312.0, "L4": 121.0,
                    "A10G": 125.0, "Tesla T4": 65.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 512 on a GPU, 64 on a CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per pipeline (default: 20 GPU, 3 CPU)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--device", default=None)
    parser.add_argument("--root", default=None, help="data root (default: $JESSL_DATA)")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args()

    device = choose_device(args.device)
    on_gpu = device.type == "cuda"
    batch = args.batch_size or (512 if on_gpu else 64)
    steps = args.steps or (20 if on_gpu else 3)
    all_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    amp = (torch.bfloat16 if native_bf16() else torch.float16) if on_gpu else None
    data = load_cifar10("train", root=args.root, device=device)
    print(f"device {device} ({_device_name(device)}), batch {batch}, {steps} timed steps, precision "
          f"{amp or torch.float32}, {all_cores} CPU cores")

    results: dict = {"device": _device_name(device), "batch_size": batch, "timed_steps": steps,
                     "precision": str(amp or torch.float32), "cpu_cores": all_cores, "torch": torch.__version__,
                     "python": platform.python_version(), "when": datetime.now(timezone.utc).isoformat(),
                     # Other jobs on the machine slow everything down: record how busy it was.
                     "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    views = cifar10_views()

    # Input pipelines alone: images/s of two-view batches arriving on the device.
    results["pipeline_only"] = {"engine": _engine_pipeline_speed(data, views, batch, steps + args.warmup, device)}
    for workers in sorted({2, all_cores}):
        results["pipeline_only"][f"dataloader_{workers}_workers"] = _loader_speed(
            data, batch, workers, steps + args.warmup, device, model_step=None)

    # Training: (a) the engine through fit, (b) the DataLoader reference, same model and precision.
    method = _model(device)
    flops = _flops_per_step(method, views, data, batch, device, amp)
    results["flops_per_step"] = flops
    config = FitConfig(steps=args.warmup, batch_size=batch, lr=0.1, precision=_precision(amp), progress=False,
                       log_every=args.warmup, eval_at_start=False)
    fit(method, data, views, config)
    method = _model(device)
    timed = fit(method, data, views, config.replace(steps=steps, log_every=steps))
    training = {"engine": batch * steps / timed.seconds}
    for workers in sorted({2, all_cores}):
        method = _model(device)
        training[f"dataloader_{workers}_workers"] = _loader_speed(
            data, batch, workers, steps, device, model_step=_step_fn(method, device, amp), warmup=args.warmup)
    results["training"] = training
    best_reference = training[f"dataloader_{all_cores}_workers"]
    results["ratio_engine_over_all_workers"] = training["engine"] / best_reference
    results["tflops_engine"] = flops * training["engine"] / batch / 1e12
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in results["device"]), None)
    results["fraction_of_bf16_peak"] = results["tflops_engine"] / peak if peak else None

    print(json.dumps(results, indent=2))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


def _model(device: torch.device) -> SimSiam:
    torch.manual_seed(0)
    # SimSiam's CIFAR setting: 2-layer projector of 2048, predictor 2048 -> 512 -> 2048.
    method = SimSiam(resnet18_cifar(), dim=2048, pred_dim=512, proj_layers=2).to(device)
    if device.type == "cuda":
        method.to(memory_format=torch.channels_last)
    return method


def _precision(amp: torch.dtype | None) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[amp]


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _engine_pipeline_speed(data, views, batch: int, steps: int, device: torch.device) -> float:
    generator = torch.Generator(device=device).manual_seed(0)
    order = torch.randperm(len(data), device=device)
    _sync(device)
    start = time.perf_counter()
    for k in range(steps):
        images = data.images[order[k * batch : (k + 1) * batch]]
        view1, view2 = views(images, generator)
    _sync(device)
    return batch * steps / (time.perf_counter() - start)


class _TwoViewDataset(torch.utils.data.Dataset):
    """CIFAR-10 as PIL images with two torchvision views each (SimSiam's reference code)."""

    def __init__(self, images: np.ndarray) -> None:
        import torchvision.transforms as T

        self.images = images
        self.transform = T.Compose([
            T.RandomResizedCrop(32, scale=(0.2, 1.0)),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        image = Image.fromarray(self.images[i])
        return self.transform(image), self.transform(image)


def _loader_speed(data, batch, workers, steps, device, model_step, warmup: int = 2) -> float:
    images = data.images.permute(0, 2, 3, 1).cpu().numpy()
    loader = torch.utils.data.DataLoader(_TwoViewDataset(images), batch_size=batch, shuffle=True,
                                         num_workers=workers, drop_last=True, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    it = iter(loader)
    for k in range(warmup + steps):
        if k == warmup:
            _sync(device)
            start = time.perf_counter()
        view1, view2 = next(it)
        view1, view2 = view1.to(device, non_blocking=True), view2.to(device, non_blocking=True)
        if model_step is not None:
            model_step(view1, view2)
    _sync(device)
    speed = batch * steps / (time.perf_counter() - start)
    del it, loader
    return speed


def _step_fn(method, device, amp):
    opt = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp is torch.float16)  # the bench assumes a recent torch

    def step(view1, view2):
        if device.type == "cuda":
            view1, view2 = (v.contiguous(memory_format=torch.channels_last) for v in (view1, view2))
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss, _ = method(view1, view2)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    return step


def _flops_per_step(method, views, data, batch, device, amp) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    view1, view2 = views(data.images[:batch], torch.Generator(device=device).manual_seed(0))
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss, _ = method(view1, view2)
        loss.backward()
    method.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


if __name__ == "__main__":
    main()
