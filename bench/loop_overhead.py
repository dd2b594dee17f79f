"""Per-step overhead of ``jessl_lite.train.fit`` over a bare PyTorch loop, same model, data and views.

Both loops train the same small MLP SimSiam on MNIST on the CPU: the same views
(``jessl_lite.views.mnist_views`` with per-sample parameters), the same SGD with momentum and
cosine learning rate, the same batch order. The bare loop is what one would write by hand
(no logging, no checks, no checkpoints); ``fit`` runs with its defaults (progress bar off, a log
every 10 steps). The two are timed in alternation, several rounds, and the median per-step time
of each is compared. Goal (issue 11): fit's overhead stays within 5%.

    JESSL_DATA=../shared/data python bench/loop_overhead.py --out bench/results/loop_overhead_cpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from datetime import datetime, timezone

import torch

from jessl_lite.data import load_mnist
from jessl_lite.methods import SimSiam
from jessl_lite.nets import MLP
from jessl_lite.train import FitConfig, _git_commit, fit, learning_rate
from jessl_lite.views import mnist_views


def build(seed: int = 0) -> SimSiam:
    torch.manual_seed(seed)
    return SimSiam(MLP(784, [512], 256), dim=256, pred_dim=64, proj_layers=2)


def bare_loop(method: SimSiam, data, views, config: FitConfig) -> float:
    """The hand-written loop: seconds per step."""
    groups = method.param_groups()
    opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed * 1_000_003))
    method.train()
    start = time.perf_counter()
    for step in range(config.steps):
        batch = order[step * config.batch_size : (step + 1) * config.batch_size]
        images = data.images[batch]
        view1, view2 = views.apply(images, views.sample(config.batch_size, generator, tuple(images.shape[-2:])))
        lr = learning_rate(step, config.steps, config.lr)
        for group, fixed in zip(opt.param_groups, (False, True), strict=True):
            group["lr"] = config.lr if fixed else lr
        loss, _ = method(view1, view2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss.detach())
    return (time.perf_counter() - start) / config.steps


def fit_loop(method: SimSiam, data, views, config: FitConfig) -> float:
    run = fit(method, data, views, config)
    return run.seconds / config.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist("train")
    views = mnist_views()
    config = FitConfig(steps=args.steps, batch_size=args.batch_size, progress=False, eval_at_start=False)
    bare_loop(build(), data, views, config.replace(steps=5))  # warm up allocator and kernels
    times: dict[str, list[float]] = {"bare": [], "fit": []}
    for _ in range(args.rounds):
        times["bare"].append(bare_loop(build(), data, views, config))
        times["fit"].append(fit_loop(build(), data, views, config))
    medians = {name: statistics.median(values) for name, values in times.items()}
    overhead = medians["fit"] / medians["bare"] - 1
    result = {
        "what": "fit vs a bare PyTorch loop, MLP SimSiam (784-512-256, projector 2x256, predictor 64) on MNIST",
        "device": f"cpu ({platform.processor() or platform.machine()}), {args.threads} thread(s)",
        "torch": str(torch.__version__),
        "commit": _git_commit(),
        "date": datetime.now(timezone.utc).date().isoformat(),
        "steps": args.steps, "batch_size": args.batch_size, "rounds": args.rounds,
        "seconds_per_step": {name: [round(v, 5) for v in values] for name, values in times.items()},
        "median_seconds_per_step": {name: round(v, 5) for name, v in medians.items()},
        "overhead": round(overhead, 4),
        "goal": "overhead <= 0.05",
        "met": bool(overhead <= 0.05) and math.isfinite(overhead),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
