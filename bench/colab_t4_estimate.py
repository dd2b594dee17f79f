"""Estimate each chapter's full-profile GPU time on a Colab T4 from FLOP counts (not a measurement).

For every cell whose size depends on the profile (``run.pick(quick=..., full=...)``,
``run.is_quick``, chapter 5's ``SIZES``), the script builds the full profile's model with the
package's own functions, exactly as the notebook does, and counts the FLOPs of one training step
(forward and backward of the loss, on the CPU) with ``torch.utils.flop_counter.FlopCounterMode``.
Models whose step costs a lot (the ResNet-18 runs) are counted at two small batches, 4 and 8, and
the count is extended to the full batch as ``a + b * batch`` (the constant ``a`` holds work that
does not grow with the batch, such as SwAV's queue of 3840 embeddings); small models are counted
at the full batch directly. The count is multiplied by the cell's steps and runs, the evaluation
passes that run on the GPU (embeddings for kNN and probes, the kNN similarity products) are
added, and the total is converted to minutes under the assumptions in ``ASSUMPTIONS``:

* mixed precision (``precision="auto"``, fp16 with a gradient scaler on a T4): 25% of the T4's
  dense fp16 tensor-core peak of 65 TFLOP/s, about 16 TFLOP/s sustained;
* float32 (chapters 2 and 5 train in ``precision="fp32"``, as their papers): 25% of the fp32
  peak of 8.1 TFLOP/s, about 2 TFLOP/s;
* float64 (chapter 2's estimation cells): 25% of 1/32 of the fp32 peak;
* a floor of 5 ms per optimizer step for kernel launches and Python on Colab's host CPU, used
  where it exceeds the FLOP time (small models are launch-bound, not FLOP-bound).

Not counted: the view-making (crops, flips, colour jitter), the optimizer's and the EMA's
element-wise updates, data loading, and the scikit-learn probes, which run on the CPU (their
number is reported). Cells with no matrix products (exact tables, closed forms) are listed as
under a minute.

    python bench/colab_t4_estimate.py --out bench/results/colab_t4_estimate.json

writes the JSON record and, beside it, ``colab_t4_estimate.md`` (a Markdown table that the
teaching guide includes). Runs in under a minute on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from jessl_lite.bounds import (
    BoundObjective,
    ConcatCritic,
    SeparableCritic,
    infonce_bound,
    nwj_bound,
    optimal_infonce_critic,
)
from jessl_lite.experiments.collapse import simsiam_variant
from jessl_lite.experiments.infomax import (
    HALF_DIM,
    SIZES,
    InfoMax,
    conv_encoder,
    flow_encoder,
    make_critic,
    mlp_encoder,
)
from jessl_lite.methods import BYOL, METHOD_NAMES, SimSiam, make_er_method, make_method
from jessl_lite.nets import MLP, resnet18_cifar
from jessl_lite.reference import ch03 as ch03_reference
from jessl_lite.reference import ch07 as ch07_reference
from jessl_lite.train import _git_commit

ASSUMPTIONS = {
    "gpu": "NVIDIA T4 (Colab)",
    "fp16_peak_flops": 65e12,
    "fp32_peak_flops": 8.1e12,
    "fp64_peak_flops": 8.1e12 / 32,
    "sustained_fraction": 0.25,
    "step_floor_seconds": 0.005,
}

#: CIFAR-10 training images, and steps of one epoch at the full profile's batch 512 (chapters 3, 4, 7).
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000
FULL_EPOCH = CIFAR_TRAIN // 512
CIFAR, MNIST, HALF = (3, 32, 32), (1, 28, 28), (1, 14, 28)


@dataclass
class Row:
    """One profile-dependent cell of a chapter at its full size."""

    chapter: str
    cell: str
    size: str
    precision: str  # "fp16" (mixed), "fp32", "fp64" or "cpu"
    runs: int = 0
    steps: int = 0  # optimizer steps over all runs
    step_gflop: list[float] = field(default_factory=list)  # per step, one value per distinct run
    train_flop: float = 0.0
    eval_flop: float = 0.0
    cpu_probe_fits: int = 0
    note: str = ""
    minutes_flops: float = 0.0
    minutes_floor: float = 0.0
    minutes: float = 0.0

    def finish(self) -> Row:
        rate = {"fp16": ASSUMPTIONS["fp16_peak_flops"], "fp32": ASSUMPTIONS["fp32_peak_flops"],
                "fp64": ASSUMPTIONS["fp64_peak_flops"]}.get(self.precision)
        if rate is None:  # CPU-only cells: listed, not estimated
            return self
        sustained = ASSUMPTIONS["sustained_fraction"] * rate
        self.minutes_flops = (self.train_flop + self.eval_flop) / sustained / 60
        self.minutes_floor = self.steps * ASSUMPTIONS["step_floor_seconds"] / 60
        self.minutes = max(self.minutes_flops, self.minutes_floor)
        return self


# --- counting -------------------------------------------------------------------------------------


def count(fn: Callable[[], object]) -> int:
    """FLOPs of the matrix products and convolutions ``fn`` runs (forward and any backward it calls)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def method_step(method: nn.Module, shape: tuple[int, ...], batch: int) -> int:
    """FLOPs of one training step of a joint-embedding method: ``loss(view1, view2)`` and its backward."""
    method.train()
    views = [torch.randn(batch, *shape) for _ in range(2)]

    def step() -> None:
        loss, _ = method.loss(*views)
        loss.backward()

    flops = count(step)
    method.zero_grad(set_to_none=True)
    return flops


def affine_step(method: nn.Module, shape: tuple[int, ...], batch: int, small: tuple[int, int] = (4, 8)) -> int:
    """One step's FLOPs at ``batch``, from counts at two small batches: ``a + b * batch``.

    Convolutions and linear layers grow linearly with the batch; a fixed part (SwAV's queue
    against the prototypes, the D x D matrices of Barlow Twins and VICReg) does not, and a plain
    proportional scaling from batch 4 would multiply it by 128. The terms quadratic in the batch
    (NT-Xent's 2N x 2N similarities) are left out by this fit; at batch 512 they are below 0.1%
    of a ResNet-18 step."""
    f1, f2 = (method_step(method, shape, b) for b in small)
    slope = (f2 - f1) / (small[1] - small[0])
    return int(f1 + slope * (batch - small[0]))


def forward_per_image(encoder: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], batch: int = 4) -> float:
    """Forward FLOPs per image of an encoder in evaluation mode (the passes of kNN and probes)."""
    owner = getattr(encoder, "__self__", encoder)
    if isinstance(owner, nn.Module):
        owner.eval()
    with torch.no_grad():
        flops = count(lambda: encoder(torch.randn(batch, *shape)))
    if isinstance(owner, nn.Module):
        owner.train()
    return flops / batch


def knn_flops(queries: int, memory: int, width: int) -> float:
    """The similarity product of a kNN evaluation: ``queries x memory`` cosines of ``width``-wide features."""
    return 2.0 * queries * memory * width


# --- chapter 1 and 6: exact computation, no GPU -------------------------------------------------


def chapter_1() -> list[Row]:
    return [Row("1", "1.2, 1.6: the chain rule on random tables; quantized Gaussian MI",
                "5000 random tables (quick: 200); bin widths down to 0.0125 (quick: 0.025)", "cpu",
                note="Exact sums over small tables on the CPU, no matrix products, no training: under a minute.")]


def chapter_6() -> list[Row]:
    return [Row("6", "6.4, 6.6, 6.8: identity checks, beta scans, Gaussian samples",
                "5000 random worlds (quick: 300); 5001 values of beta (quick: 501); 10^6 samples (quick: 20,000)",
                "cpu", note="Exact tables and closed forms on the CPU, no training: under a minute.")]


# --- chapter 2 ----------------------------------------------------------------------------------


def chapter_2() -> list[Row]:
    stairs_steps, batch, hidden = 5 * 4000, 64, 256
    row = Row("2", "2.4: Poole et al.'s staircase, separable and concatenation critics x InfoNCE and NWJ",
              f"critics of 2 hidden layers of {hidden} (separable: embeddings of 32); batch {batch}; "
              f"{stairs_steps} steps (5 stairs of 4000); 4 runs", "fp32", runs=4, steps=4 * stairs_steps)
    for make_critic_ in (lambda: SeparableCritic(20, 20, hidden_dim=hidden, embed_dim=32),
                         lambda: ConcatCritic(20, 20, hidden_dim=hidden)):
        for bound in (infonce_bound, nwj_bound):
            objective = BoundObjective(make_critic_(), bound)
            x, y = torch.randn(batch, 20), torch.randn(batch, 20)

            def step(objective=objective, x=x, y=y) -> None:
                objective.loss(x, y)[0].backward()

            flops = count(step)
            row.step_gflop.append(flops / 1e9)
            row.train_flop += flops * stairs_steps
    row.note = ("No evaluations. Tiny critics: the estimate is the 5 ms/step floor (80,000 steps). On one CPU "
                "core the four runs take about 25 minutes (from the reference runs' times in bench/README.md), "
                "so this chapter needs no GPU.")

    # The estimation cells (no training): optimal critics in float64 on the device, K up to 8192.
    # Their matrix product is 2 K^2 d; counted at K = 256 and scaled by K^2.
    x, y = (torch.randn(256, 20, dtype=torch.float64) for _ in range(2))
    per_pair = count(lambda: optimal_infonce_critic(x, y, 0.5)) / 256**2
    check = 16 * 6 * per_pair * 8192**2                      # 2.2: 16 batches of K = 8192, 6 critics
    sweep = 5 * sum(max(2, 2048 // k) * per_pair * k * k     # 2.5: K = 2 ... 8192, 5 MI levels
                    for k in (2**p for p in range(1, 14)))
    variance = 5 * 2000 * 2 * per_pair * 64**2               # 2.4: 2000 batches of 64, 5 levels
    estimation = Row("2", "2.2, 2.4 (optimal critics), 2.5, 2.6: bounds at the optimal critics; KDE entropies",
                     "16 batches of K = 8192 (quick: 4 of 1024); K up to 8192 (quick: 1024); 2000 batches of 64; "
                     "KDE samples up to 12,800", "fp64", runs=0, steps=0, eval_flop=check + sweep + variance,
                     note="No training; float64 matrix products (the KDE's pairwise kernels are element-wise "
                          "and not counted): under a minute.")
    return [row, estimation]


# --- chapter 3 ----------------------------------------------------------------------------------


def _ch3_method(name: str) -> nn.Module:
    torch.manual_seed(0)
    method = make_method(name, resnet18_cifar(3), **ch03_reference.FULL_HEADS[name])
    if name == "swav":
        method.queue_filled.fill_(method.queue_length)  # count the steps after the queue is full
    return method


def chapter_3(step_of: dict[str, int]) -> list[Row]:
    steps = 50 * FULL_EPOCH  # 50 epochs at batch 512
    evals, labelled = 10, 10_000
    backbone_fwd = forward_per_image(resnet18_cifar(3), CIFAR)
    per_eval = backbone_fwd * (labelled + CIFAR_TEST) + knn_flops(CIFAR_TEST, labelled, 512)
    six = Row("3", "3.3: six methods (SimCLR, SwAV, BYOL, SimSiam, Barlow Twins, VICReg) on CIFAR-10",
              f"ResNet-18 (CIFAR stem) with each paper's CIFAR heads; batch 512; {steps} steps (50 epochs); 6 runs",
              "fp16", runs=6, steps=6 * steps)
    for name in METHOD_NAMES:
        six.step_gflop.append(step_of[name] / 1e9)
        six.train_flop += step_of[name] * steps
    six.eval_flop = 6 * evals * per_eval + 2 * per_eval  # + the untrained backbone and the pixels, once
    six.eval_flop += 2 * CIFAR_TEST * backbone_fwd  # 3.4: SimCLR on two fresh views of the held-out set
    six.cpu_probe_fits = 6 * evals + 2
    six.note = (f"Evaluation {evals} times per run: {labelled + CIFAR_TEST} ResNet-18 passes and a kNN, counted; "
                "a scikit-learn probe on 10,000 x 512 features per evaluation runs on the CPU, not counted. "
                "Checkpointed: a rerun resumes.")

    small = Row("3", "3.4: SimCLR, BYOL and Barlow Twins at batch 128 and 256, same images seen",
                f"as 3.3; batch 128 ({steps * 4} steps) and 256 ({steps * 2} steps); 6 runs", "fp16", runs=6,
                steps=3 * (steps * 4 + steps * 2))
    for name in ("simclr", "byol", "barlow_twins"):
        for b in (128, 256):
            n_steps = steps * 512 // b
            # The same images seen: the batch-proportional part is the same as at 512; the fixed
            # part of a step (a) is paid more often.
            per_step = step_of[f"{name}@{b}"]
            small.step_gflop.append(per_step / 1e9)
            small.train_flop += per_step * n_steps
    small.eval_flop = 6 * evals * per_eval
    small.cpu_probe_fits = 6 * evals
    small.note = "Evaluated as 3.3 (10 times per run). Checkpointed."
    return [six, small]


# --- chapter 4 ----------------------------------------------------------------------------------


def chapter_4(step_of: dict[str, int]) -> list[Row]:
    hidden, features, dim, pred_dim = 1024, 512, 512, 128
    steps, batch = 3000, 128
    ablations = Row("4", "4.3: SimSiam ablations and BYOL at five EMA decays, MLP on MNIST",
                    f"MLP 784-{hidden}-{features}, projections of {dim}, predictor bottleneck {pred_dim} "
                    f"(BYOL: heads of {4 * dim}); batch {batch}; {steps} steps; 9 runs", "fp16",
                    runs=9, steps=9 * steps)
    for variant in ("simsiam", "no_stop_gradient", "no_predictor", "fixed_random_predictor"):
        torch.manual_seed(0)
        method = simsiam_variant(variant, MLP(784, [hidden], features), dim=dim, pred_dim=pred_dim, proj_layers=2)
        flops = method_step(method, MNIST, batch)
        ablations.step_gflop.append(flops / 1e9)
        ablations.train_flop += flops * steps
    for decay in (0.0, 0.9, 0.99, 0.996, 1.0):
        torch.manual_seed(0)
        method = BYOL(MLP(784, [hidden], features), MLP(features, [4 * dim], dim), MLP(dim, [4 * dim], dim),
                      ema_decay=decay)
        flops = method_step(method, MNIST, batch)
        ablations.step_gflop.append(flops / 1e9)
        ablations.train_flop += flops * steps
    torch.manual_seed(0)
    probe = simsiam_variant("simsiam", MLP(784, [hidden], features), dim=dim, pred_dim=pred_dim, proj_layers=2)
    projector_fwd = forward_per_image(nn.Sequential(probe.backbone, probe.projector), MNIST)
    # collapse_monitor on 1000 test digits every 250 steps (13 times), kNN of 1000 by 2000 at start and end.
    ablations.eval_flop = 9 * (13 * 1000 * projector_fwd + 2 * (3000 * projector_fwd + knn_flops(1000, 2000, features)))
    ablations.note = "Small MLPs: launch-bound, the 5 ms/step floor decides. Not checkpointed."

    steps_gpu = 200 * FULL_EPOCH
    evals = steps_gpu // (10 * FULL_EPOCH) + 1
    resnet = Row("4", "4.6: SimSiam and BYOL, ResNet-18 on CIFAR-10",
                 f"ResNet-18; SimSiam (projections of 2048, predictor 512), BYOL (256, heads of 4096); batch 512; "
                 f"{steps_gpu} steps (200 epochs); 2 runs", "fp16", runs=2, steps=2 * steps_gpu)
    for name in ("ch4_simsiam", "ch4_byol"):
        resnet.step_gflop.append(step_of[name] / 1e9)
        resnet.train_flop += step_of[name] * steps_gpu
    backbone_fwd = forward_per_image(resnet18_cifar(3), CIFAR)
    resnet.eval_flop = 2 * evals * (backbone_fwd * (CIFAR_TRAIN + CIFAR_TEST) + knn_flops(CIFAR_TEST, CIFAR_TRAIN, 512))
    resnet.note = (f"kNN every 10 epochs ({evals} times per run) on all 60,000 images, counted. "
                   "Checkpoint every 1000 steps: a rerun resumes.")
    return [ablations, resnet]


# --- chapter 5 ----------------------------------------------------------------------------------


def chapter_5() -> list[Row]:
    full = SIZES["full"]
    batch, steps, evals = full.batch_size, full.steps, full.steps // (full.steps // full.evals) + 1
    views = [torch.randn(batch, *HALF) for _ in range(2)]
    probe_images = full.train_size + full.test_size

    def infomax_step(method: InfoMax) -> int:
        method.train()

        def step() -> None:
            method.loss(*views)[0].backward()

        return count(step)

    def infomax_eval(method: InfoMax) -> float:
        # The probe embeds 60,000 + 10,000 top halves with g1; the held-out bound runs both encoders
        # and the critic on the 10,000 test pairs in batches of K.
        g1 = forward_per_image(method.g1, HALF)
        with torch.no_grad():
            bound = count(lambda: method.estimate(*views)) / batch
        return probe_images * g1 + full.test_size * bound

    rows = []
    # Evidence 1: two bijective encoders, a bilinear critic, InfoNCE and NWJ.
    e1 = Row("5", "5.4 Evidence 1: two 30-layer additive flows, bilinear critic, InfoNCE and NWJ",
             f"flows of {full.flow_layers} couplings of {full.flow_hidden[0]}-{full.flow_hidden[1]} MLPs; "
             f"batch {batch}; {steps} steps; 2 runs", "fp32", runs=2, steps=2 * steps)
    for bound in ("infonce", "nwj"):
        torch.manual_seed(0)
        method = InfoMax(flow_encoder(full.flow_layers, full.flow_hidden, seed=0),
                         flow_encoder(full.flow_layers, full.flow_hidden, seed=1),
                         make_critic("bilinear", HALF_DIM), bound)
        flops = infomax_step(method)
        e1.step_gflop.append(flops / 1e9)
        e1.train_flop += flops * steps
        e1.eval_flop += evals * infomax_eval(method)
    e1.cpu_probe_fits = 2 * evals + 2
    rows.append(e1)

    # Evidence 2a: the adversarial encoder, its own loop (train_adversarial).
    torch.manual_seed(0)
    encoder = flow_encoder(full.flow_layers, full.flow_hidden, affine=True, seed=0)
    classifier = nn.Linear(HALF_DIM, 10)
    x, labels = torch.randn(batch, HALF_DIM), torch.randint(10, (batch,))

    def classifier_step() -> None:
        with torch.no_grad():
            z = encoder(x)
        nn.functional.cross_entropy(classifier(z), labels).backward()

    def encoder_step() -> None:
        (-nn.functional.log_softmax(classifier(encoder(x)), dim=1).mean()).backward()

    c, e = count(classifier_step), count(encoder_step)
    k, warmup, adv_steps = full.adversarial_classifier_steps, full.adversarial_warmup, full.adversarial_steps
    # train_adversarial probes at every (adv_steps // evals)-th encoder step from 0, and once at the end.
    adv_evals = len(range(0, adv_steps, adv_steps // full.evals)) + 1
    adv = Row("5", "5.5 Evidence 2, adversarial: a bijective encoder (30 affine couplings) against a linear classifier",
              f"{warmup} classifier warm-up steps, then {adv_steps} encoder steps of {k} classifier steps + 1; "
              f"batch {batch}; 1 run", "fp32", runs=1, steps=warmup + adv_steps * (k + 1))
    adv.step_gflop = [(k * c + e) / 1e9]
    adv.train_flop = warmup * c + adv_steps * (k * c + e)
    adv.eval_flop = adv_evals * probe_images * forward_per_image(encoder, (HALF_DIM,))
    adv.cpu_probe_fits = adv_evals
    adv.note = "GFLOP per step: one encoder step with its 10 classifier steps."
    rows.append(adv)

    # Evidence 2b: critics of growing capacity on MLP encoders.
    critics = Row("5", "5.5 Evidence 2, critics: MLP encoders with bilinear, separable and MLP critics",
                  f"MLP 392-300-300-100 encoders; critic MLP of {full.critic_hidden}; batch {full.critic_batch_size}; "
                  f"{full.critic_steps} steps; 3 runs", "fp32", runs=3, steps=3 * full.critic_steps)
    for kind in ("bilinear", "separable", "concat"):
        torch.manual_seed(0)
        hidden = full.critic_hidden if kind == "concat" else 100
        method = InfoMax(mlp_encoder(), mlp_encoder(), make_critic(kind, 100, hidden_dim=hidden), "infonce")
        flops = infomax_step(method)
        critics.step_gflop.append(flops / 1e9)
        critics.train_flop += flops * full.critic_steps
        critics.eval_flop += evals * infomax_eval(method)
    critics.cpu_probe_fits = 3 * evals
    rows.append(critics)

    # Evidence 3: ConvNet and MLP encoders held at the same estimate.
    encoders = Row("5", "5.6 Evidence 3: ConvNet and MLP encoders held at t = 2 and t = 4 nats",
                   f"ConvNet of {full.conv_channels} channels, MLP 392-300-300-100; bilinear critic; batch {batch}; "
                   f"{full.encoder_steps} steps; 4 runs", "fp32", runs=4, steps=4 * full.encoder_steps)
    for target in full.targets:
        for make in (lambda: conv_encoder(full.conv_channels, 100), mlp_encoder):
            torch.manual_seed(0)
            method = InfoMax(make(), make(), make_critic("bilinear", 100), "infonce", target=target)
            flops = infomax_step(method)
            encoders.step_gflop.append(flops / 1e9)
            encoders.train_flop += flops * full.encoder_steps
            encoders.eval_flop += evals * infomax_eval(method)
    encoders.cpu_probe_fits = 4 * evals
    rows.append(encoders)
    for r in rows:
        every = f"{adv_steps // full.evals} encoder steps" if r is adv else f"{full.steps // full.evals} steps"
        r.note = " ".join(filter(None, [
            r.note, f"Probe every {every}: the encoder passes over 70,000 half digits are counted, the "
            "scikit-learn fit on 60,000 features (CPU) is not. Not checkpointed: a disconnect restarts the cell."]))
    return rows


# --- chapter 7 ----------------------------------------------------------------------------------


def _ch7_method(arm: str, **extra) -> nn.Module:
    torch.manual_seed(0)
    base = arm.removesuffix("-er")
    heads = ch03_reference.FULL_HEADS[base]
    if arm.endswith("-er"):
        options = {k: v for k, v in heads.items() if k != "queue_length"}
        return make_er_method(base, resnet18_cifar(3), **options, **{**ch07_reference.ER_OPTIONS[base], **extra})
    return _ch3_method(base)


def chapter_7(step_of: dict[str, int]) -> list[Row]:
    steps = 20 * FULL_EPOCH
    evals = steps // max(steps // 20, 1) + 1
    arms = [*METHOD_NAMES, *(f"{b}-er" for b in ch07_reference.ER_BASES)]
    backbone_fwd = forward_per_image(resnet18_cifar(3), CIFAR)
    # Two er_monitors (features, projections) on two views of 512 test images, 21 times; kNN of
    # 10,000 by 10,000 at the start and the end. The projector's share of a pass is small next to
    # the backbone's and is left out.
    per_run_eval = evals * 2 * 2 * 512 * backbone_fwd + 2 * (20_000 * backbone_fwd + knn_flops(10_000, 10_000, 512))
    families = Row("7", "7.4: six methods and three ER variants with the ER terms tracked, CIFAR-10",
                   f"ResNet-18 with chapter 3's full heads; batch 512; {steps} steps (20 epochs); 9 runs", "fp16",
                   runs=len(arms), steps=len(arms) * steps)
    for arm in arms:
        families.step_gflop.append(step_of[arm] / 1e9)
        families.train_flop += step_of[arm] * steps
    families.eval_flop = len(arms) * per_run_eval
    families.note = (f"ER terms measured {evals} times per run and kNN at start and end, counted. No CPU probes. "
                     "Checkpointed.")
    weights = Row("7", "7.5: SimCLR+ER at entropy weights 0, 0.5 and 2", f"as 7.4; {steps} steps; 3 runs", "fp16",
                  runs=3, steps=3 * steps)
    weights.step_gflop = [step_of["simclr-er"] / 1e9] * 3
    weights.train_flop = 3 * step_of["simclr-er"] * steps
    weights.eval_flop = 3 * per_run_eval
    weights.note = "Evaluated as 7.4. Checkpointed."
    return [families, weights]


# --- the ResNet-18 steps, counted once ------------------------------------------------------------


def resnet_steps() -> dict[str, int]:
    """FLOPs of one step at batch 512 (and 128, 256 where chapter 3 trains at them) for every ResNet-18 method."""
    out: dict[str, int] = {}
    for name in METHOD_NAMES:
        method = _ch3_method(name)
        f4, f8 = method_step(method, CIFAR, 4), method_step(method, CIFAR, 8)
        slope = (f8 - f4) / 4
        for b in (128, 256, 512):
            out[f"{name}@{b}"] = int(f4 + slope * (b - 4))
        out[name] = out[f"{name}@512"]
    # Chapter 4.6 builds SimSiam and BYOL itself; its heads are chapter 3's full ones.
    torch.manual_seed(0)
    out["ch4_simsiam"] = affine_step(SimSiam(resnet18_cifar(3), dim=2048, pred_dim=512, proj_layers=2), CIFAR, 512)
    torch.manual_seed(0)
    out["ch4_byol"] = affine_step(BYOL(resnet18_cifar(3), dim=256, hidden_dim=4096, pred_dim=4096), CIFAR, 512)
    for base in ch07_reference.ER_BASES:
        out[f"{base}-er"] = affine_step(_ch7_method(f"{base}-er"), CIFAR, 512)
    return out


# --- output ---------------------------------------------------------------------------------------


def _number(value: float, digits: int = 2) -> str:
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if value < 1 else f"{value:.{digits + 1}g}"


def _minutes(row: Row) -> str:
    if row.precision == "cpu" or row.minutes < 1:
        return "under 1"
    return f"{row.minutes:,.0f}"


def _gflop(row: Row) -> str:
    if not row.step_gflop:
        return "no training"
    low, high = min(row.step_gflop), max(row.step_gflop)
    return _number(low) if math.isclose(low, high, rel_tol=0.02) else f"{_number(low)} to {_number(high)}"


def markdown(rows: list[Row], record: dict) -> str:
    a = ASSUMPTIONS
    fp16 = a["sustained_fraction"] * a["fp16_peak_flops"] / 1e12
    fp32 = a["sustained_fraction"] * a["fp32_peak_flops"] / 1e12
    lines = [
        "**Estimated GPU time of the full profile on a Colab T4.** These minutes are estimates from FLOP counts, "
        "not measurements: no chapter's full profile has been timed on a T4. Each training step was built with "
        "`jessl_lite`'s own functions, exactly as the notebook builds it, and its FLOPs (forward and backward of "
        "the loss) counted on a CPU with `torch.utils.flop_counter.FlopCounterMode`, then multiplied by the "
        "cell's steps and runs; the evaluation passes that run on the GPU (embeddings for kNN and probes, the "
        "kNN similarity products) are added. Assumptions: mixed precision sustains "
        f"{a['sustained_fraction']:.0%} of the T4's dense fp16 tensor-core peak of "
        f"{a['fp16_peak_flops'] / 1e12:.0f} TFLOP/s (about {fp16:.0f} TFLOP/s); the cells that train in float32 "
        f"(chapters 2 and 5, as their papers) sustain {a['sustained_fraction']:.0%} of the fp32 peak of "
        f"{a['fp32_peak_flops'] / 1e12:.1f} TFLOP/s (about {fp32:.0f} TFLOP/s); and no step takes less than "
        f"{a['step_floor_seconds'] * 1000:.0f} ms (kernel launches and Python on Colab's host CPU), which decides "
        "the small models' time. Not counted: making the views, the optimizer's and the moving average's "
        "element-wise updates, loading data, and the scikit-learn probes, which run on Colab's CPU (their number "
        "is in the notes). A real run can take twice as long or more.",
        "",
        "| chapter | cell (what it trains) | full-profile size (model, batch, steps, runs) | GFLOP per step "
        "| total PFLOP | estimated T4 minutes |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        total = (r.train_flop + r.eval_flop) / 1e15
        total_text = "not counted" if r.precision == "cpu" else ("under 0.001" if total < 1e-3 else _number(total))
        lines.append(f"| {r.chapter} | {r.cell} | {r.size} | {_gflop(r)} | {total_text} | {_minutes(r)} |")
    lines += ["", "**Per chapter** (sum of the cells above; chapters 1 and 6 do not use the GPU):", "",
              "| chapter | estimated T4 minutes | scikit-learn probe fits on the CPU (not in the minutes) |",
              "|---|---|---|"]
    for chapter in sorted({r.chapter for r in rows}):
        mine = [r for r in rows if r.chapter == chapter]
        minutes = sum(r.minutes for r in mine)
        fits = sum(r.cpu_probe_fits for r in mine)
        minutes_text = "under 1" if minutes < 1 else f"{minutes:,.0f} (about {minutes / 60:.1f} h)" if minutes >= 90 \
            else f"{minutes:,.0f}"
        lines.append(f"| {chapter} | {minutes_text} | {fits if fits else 'none'} |")
    lines += ["", "**Notes.**", ""]
    for r in rows:
        extra = f" {r.cpu_probe_fits} probe fits on the CPU." if r.cpu_probe_fits else ""
        lines.append(f"* {r.chapter}, {r.cell.split(':')[0]}: {r.note}{extra}")
    lines += ["", f"Made by `python bench/colab_t4_estimate.py --out bench/results/colab_t4_estimate.json` on "
              f"{record['date']} (torch {record['torch']}, {record['seconds']:.0f} s on one CPU thread).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON record to write (the .md goes beside it)")
    args = parser.parse_args(argv)
    if not args.out.parent.is_dir():
        parser.error(f"the folder of --out, {args.out.parent}, does not exist")
    torch.set_num_threads(1)  # a light job beside others; the counts do not depend on it
    started = time.perf_counter()
    steps = resnet_steps()
    rows = [*chapter_1(), *chapter_2(), *chapter_3(steps), *chapter_4(steps), *chapter_5(), *chapter_6(),
            *chapter_7(steps)]
    rows = [r.finish() for r in rows]
    record = {
        "what": "Estimated Colab T4 GPU time of every chapter's full profile, from FLOP counts (not measured)",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "torch": str(torch.__version__),
        "machine": platform.processor() or platform.machine(),
        "git_commit": _git_commit(),
        "assumptions": ASSUMPTIONS,
        "resnet18_step_flops": steps,
        "rows": [asdict(r) for r in rows],
        "seconds": time.perf_counter() - started,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    md = args.out.with_suffix(".md")
    md.write_text(markdown(rows, record), encoding="utf-8")
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {args.out} and {md} in {record['seconds']:.0f} s")


if __name__ == "__main__":
    main()
