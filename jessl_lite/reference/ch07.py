"""Chapter 7's reference runs: entropy and reconstruction along training, ER variants, and their robustness.

Rodriguez-Galvez et al. (ICML 2023) track the entropy and the reconstruction term of the ER bound
while training SimCLR, SwAV/DINO and BYOL on ImageNet, train ER variants of them, and compare
accuracy and robustness (a batch of 512 instead of 4096; BYOL with an EMA decay of 0.8). Here
every run uses chapter 3's reference protocol: all 60,000 MNIST training digits, chapter 3's
ConvNet (3 blocks, width 16), heads and learning rates, SGD with momentum, a warm-up over the
first tenth and cosine decay, kNN (k = 200, T = 0.1) and a linear probe (C = 1) on the 10,000
test digits; 3 seeds per arm.

* ``ch07/families``: the six methods and the ER variants of SimCLR, BYOL and SwAV, batch 128,
  2 epochs. Twenty times during training the ER terms are measured on two fixed views of 512
  test digits with a vMF kernel at kappa = 10 (the repository's default): on the backbone's
  features (the representation, the same width for every method) and on the projections
  (where each loss acts; ``proj_`` names), with the estimator's ceiling log N - log k(0).
* ``ch07/batch``: SimCLR, BYOL, SwAV and their ER variants at batch 256 and batch 32 (a factor 8,
  the paper's 4096 against 512), 1 epoch each (the same images seen; the learning rate scaled
  linearly with the batch); evaluated at the end only (kNN and probe).
* ``ch07/ema``: BYOL and BYOL+ER with a constant EMA decay of 0.8 (the paper's "EMA 0.8"),
  batch 128, 2 epochs, to set against ``ch07/families``' BYOL runs (BYOL's schedule from 0.99);
  evaluated at the end only.

The ER variants' weights (the paper's code gives none): the entropy weight is 1 (the ER bound
itself); SimCLR+ER uses kappa = 1 / tau = 2, at which its loss differs from NT-Xent only in the
samples of each denominator; BYOL+ER uses kappa = 4, at which its reconstruction term is BYOL's
own loss plus a constant, so BYOL+ER is BYOL with an entropy bonus; SwAV+ER uses SwAV's softmax
temperature (0.1) for its discrete codes. The chapter's quick cells show how the results move
with the entropy weight.
"""

from __future__ import annotations

import torch
from torch import nn

from ..methods import make_er_method, make_method
from ..monitors import embedding_monitor, er_monitor, knn_monitor, linear_probe_monitor
from ..nets import ConvNet
from ..train import Every
from ..views import mnist_views
from . import Experiment, Setup, register
from .ch03 import BATCH_SIZE, EPOCHS, HEADS, LEARNING_RATES, _config, _data

#: The ER variants' options (see the module's text for why these).
ER_OPTIONS = {"simclr": dict(kappa=2.0, entropy_weight=1.0), "byol": dict(kappa=4.0, entropy_weight=1.0),
              "swav": dict(kappa=10.0, entropy_weight=1.0)}
#: The monitor's kernel and sample size, and how many times it runs in a run.
MONITOR_KAPPA, MONITOR_IMAGES, MONITOR_TIMES = 10.0, 512, 20
FAMILY_METHODS = ("simclr", "swav", "byol", "simsiam", "barlow_twins", "vicreg")
ER_BASES = ("simclr", "byol", "swav")
BATCHES, BATCH_EPOCHS = (256, 32), 1
EMA_DECAY = 0.8


def _method(variant: str, **extra):
    # "byol" -> BYOL; "byol-er" -> BYOL+ER, with the chapter 3 heads of the method it is built from.
    base, er = variant.removesuffix("-er"), variant.endswith("-er")
    options = {**HEADS[base], **extra}
    backbone = ConvNet(1, width=16, depth=3)
    return make_er_method(base, backbone, **options, **ER_OPTIONS[base]) if er else make_method(base, backbone,
                                                                                               **options)


def _setup(variant: str, seed: int, batch_size: int, epochs: int, *, trajectories: bool = True, **extra) -> Setup:
    train, test = _data()
    views = mnist_views()
    torch.manual_seed(seed)
    method = _method(variant, **extra)
    base = variant.removesuffix("-er")
    lr = LEARNING_RATES[base] * batch_size / BATCH_SIZE
    steps = epochs * (len(train) // batch_size)
    config = _config(len(train), batch_size, lr, seed).replace(steps=steps, warmup_steps=steps // 10)
    hooks = [knn_monitor(train, test, views.prepare, k=200, temperature=0.1),
             linear_probe_monitor(train, test, views.prepare)]
    evaluation = "kNN k=200 T=0.1 and a linear probe (C=1): mnist-test by mnist-train features"
    if trajectories:
        sample = test.images[:MONITOR_IMAGES]
        every = max(steps // MONITOR_TIMES, 1)
        hooks += [embedding_monitor(test.images, views.prepare),
                  Every(er_monitor(sample, views, kappa=MONITOR_KAPPA), every),
                  Every(er_monitor(sample, views, kappa=MONITOR_KAPPA, prefix="proj_",
                                   encode=lambda m: nn.Sequential(m.backbone, m.projector)), every)]
        evaluation += ("; collapse diagnostics of the mnist-test features; ER terms (vMF, kappa "
                       f"{MONITOR_KAPPA:g}) of features and projections of two fixed views of the first "
                       f"{MONITOR_IMAGES} mnist-test digits")
    else:
        config = config.replace(eval_at_start=False)  # the arms' untrained networks are ch07/families'
    info = {"data": "mnist-train (60000)", "evaluation": evaluation, "backbone": "ConvNet(1, width=16, depth=3)",
            "method_options": {**HEADS[base], **extra, **(ER_OPTIONS[base] if variant.endswith("-er") else {})},
            "epochs": epochs}
    return Setup(method, train, views, config, hooks, info)


FAMILY_VARIANTS = (*FAMILY_METHODS, *(f"{b}-er" for b in ER_BASES))


def families(variant: str, seed: int) -> Setup:
    if variant not in FAMILY_VARIANTS:
        raise ValueError(f"variant must be one of {FAMILY_VARIANTS}; got {variant!r}")
    return _setup(variant, seed, BATCH_SIZE, EPOCHS)


BATCH_VARIANTS = tuple(f"{m}-batch{b}" for b in BATCHES for base in ER_BASES for m in (base, f"{base}-er"))


def batch(variant: str, seed: int) -> Setup:
    if variant not in BATCH_VARIANTS:
        raise ValueError(f"variant must be one of {BATCH_VARIANTS}; got {variant!r}")
    name, size = variant.rsplit("-batch", 1)
    return _setup(name, seed, int(size), BATCH_EPOCHS, trajectories=False)


EMA_VARIANTS = (f"byol-ema{EMA_DECAY:g}", f"byol-er-ema{EMA_DECAY:g}")


def ema(variant: str, seed: int) -> Setup:
    if variant not in EMA_VARIANTS:
        raise ValueError(f"variant must be one of {EMA_VARIANTS}; got {variant!r}")
    return _setup(variant.rsplit("-ema", 1)[0], seed, BATCH_SIZE, EPOCHS, trajectories=False, ema_decay=EMA_DECAY)


_PROTOCOL = __doc__.split("\n\n", 1)[1].strip()

register(Experiment(
    name="ch07/families", title="Entropy and reconstruction while training six methods and three ER variants",
    protocol=_PROTOCOL, variants=FAMILY_VARIANTS, setup=families,
))
register(Experiment(
    name="ch07/batch", title="SimCLR, BYOL, SwAV and their ER variants at batch 256 and batch 32, one epoch",
    protocol=_PROTOCOL, variants=BATCH_VARIANTS, setup=batch,
))
register(Experiment(
    name="ch07/ema", title="BYOL and BYOL+ER with a constant target decay of 0.8",
    protocol=_PROTOCOL, variants=EMA_VARIANTS, setup=ema,
))
