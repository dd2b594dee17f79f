"""Chapter 3's reference runs: the six methods on MNIST-60k, and the batch size at a fixed number of epochs.

The chapter's quick cells compare SimCLR, SwAV, BYOL, SimSiam, Barlow Twins and VICReg on a few
thousand digits for 150 steps, one seed. Here each method trains on all 60,000 MNIST training
digits with the chapter's backbone (a 3-block ConvNet of width 16), heads and learning rates,
SGD with momentum, batch 128, a linear warm-up over the first tenth of the steps and cosine
decay, for 2 epochs; it is evaluated before training and at the end by kNN accuracy (k = 200,
T = 0.1: the 10,000 test digits classified by the 60,000 training digits), a linear probe
(logistic regression on the training digits' features, scored on the test digits) and the
collapse diagnostics of the test features; 3 seeds per method. The papers' linear evaluation
trains a linear classifier with SGD on frozen features of all labels; a regularised logistic
regression (lbfgs, C = 1) on standardised features of all 60,000 labels stands in for it here. The batch-size comparison
trains SimCLR, BYOL and Barlow Twins with batch 32 for the same 2 epochs (4 times the steps,
the learning rate scaled linearly with the batch), as the published comparisons do: same
images seen, not same steps. The papers train ResNets on ImageNet or CIFAR-10 for hundreds of
epochs; this length is what fits an hour of two CPU cores for each of the two experiments.
"""

from __future__ import annotations

import functools

import torch

from ..data import load_mnist
from ..methods import METHOD_NAMES, make_method
from ..monitors import embedding_monitor, knn_monitor, linear_probe_monitor
from ..nets import ConvNet
from ..train import FitConfig
from ..views import mnist_views
from . import Experiment, Setup, register

#: The chapter's quick heads (each paper's shape at a small width) and learning rates (SGD, batch 128):
#: the notebook's quick cells read them from here, so the quick and the reference runs agree.
HEADS = {
    "simclr": dict(dim=64, hidden_dim=256, temperature=0.5),
    "swav": dict(dim=64, hidden_dim=256, num_prototypes=64),
    "byol": dict(dim=64, hidden_dim=256, pred_dim=256),
    "simsiam": dict(dim=256, pred_dim=64, proj_layers=2),
    "barlow_twins": dict(dim=256, hidden_dim=256, proj_layers=2),
    "vicreg": dict(dim=256, hidden_dim=256, proj_layers=2),
}
LEARNING_RATES = {"simclr": 0.3, "swav": 0.6, "byol": 0.6, "simsiam": 0.3, "barlow_twins": 0.01, "vicreg": 0.1}

#: The full profile's heads and learning rates (CIFAR-10, ResNet-18, SGD at batch 512): each paper's
#: CIFAR-10 shape, for the chapters' GPU runs (chapters 3 and 7); no reference run uses them.
FULL_HEADS = {
    "simclr": dict(dim=128, hidden_dim=2048, temperature=0.5),
    "swav": dict(dim=128, hidden_dim=2048, num_prototypes=1000, queue_length=3840),
    "byol": dict(dim=256, hidden_dim=4096, pred_dim=4096),
    "simsiam": dict(dim=2048, pred_dim=512, proj_layers=2),
    "barlow_twins": dict(dim=2048, hidden_dim=2048, proj_layers=3),
    "vicreg": dict(dim=2048, hidden_dim=2048, proj_layers=3),
}
FULL_LEARNING_RATES = {"simclr": 0.6, "swav": 0.6, "byol": 0.6, "simsiam": 0.1, "barlow_twins": 0.02, "vicreg": 0.1}

BATCH_SIZE = 128
EPOCHS = 2
#: The methods and the small batch of the batch-size comparison.
BATCH_METHODS = ("simclr", "byol", "barlow_twins")
SMALL_BATCH = 32


@functools.cache
def _data():
    return load_mnist("train"), load_mnist("test")


def _config(n_images: int, batch_size: int, lr: float, seed: int) -> FitConfig:
    steps = EPOCHS * (n_images // batch_size)
    return FitConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=5e-4, warmup_steps=steps // 10,
                     tau_base=0.99, eval_every=0, seed=seed, progress=True)


def _setup(name: str, batch_size: int, seed: int) -> Setup:
    train, test = _data()
    views = mnist_views()
    torch.manual_seed(seed)
    method = make_method(name, ConvNet(1, width=16, depth=3), **HEADS[name])
    hooks = [knn_monitor(train, test, views.prepare, k=200, temperature=0.1),
             linear_probe_monitor(train, test, views.prepare), embedding_monitor(test.images, views.prepare)]
    info = {"data": "mnist-train (60000)", "evaluation": "kNN k=200 T=0.1 and a linear probe (C=1): mnist-test "
            "by mnist-train features; collapse diagnostics of the mnist-test features",
            "backbone": "ConvNet(1, width=16, depth=3)", "method_options": dict(HEADS[name])}
    lr = LEARNING_RATES[name] * batch_size / BATCH_SIZE
    return Setup(method, train, views, _config(len(train), batch_size, lr, seed), hooks, info)


def methods(variant: str, seed: int) -> Setup:
    if variant not in METHOD_NAMES:
        raise ValueError(f"variant must be one of {sorted(METHOD_NAMES)}; got {variant!r}")
    return _setup(variant, BATCH_SIZE, seed)


BATCH_VARIANTS = tuple(f"{name}-batch{SMALL_BATCH}" for name in BATCH_METHODS)


def batch(variant: str, seed: int) -> Setup:
    if variant not in BATCH_VARIANTS:
        raise ValueError(f"variant must be one of {BATCH_VARIANTS}; got {variant!r}")
    return _setup(variant.removesuffix(f"-batch{SMALL_BATCH}"), SMALL_BATCH, seed)


_PROTOCOL = __doc__.split("\n\n", 1)[1].strip()

register(Experiment(
    name="ch03/methods", title="Six joint-embedding methods on MNIST-60k, one backbone and budget",
    protocol=_PROTOCOL, variants=tuple(METHOD_NAMES), setup=methods,
))
register(Experiment(
    name="ch03/batch", title="Batch 32 against batch 128 at the same number of epochs",
    protocol=_PROTOCOL, variants=BATCH_VARIANTS, setup=batch,
))
