"""Chapter 4's reference runs: SimSiam's and BYOL's ablations on MNIST-60k (collapse and kNN).

Chen & He (2021, Table 1 and Figure 2) remove SimSiam's stop-gradient or predictor and watch the
representation collapse; Grill et al. (2020, Table 5) vary BYOL's target decay. Both train
ResNets on ImageNet for 100+ epochs. Here: an MLP backbone on all 60,000 MNIST training digits,
kNN accuracy (k = 200, T = 0.1, the InstDisc protocol) of the backbone's features on the 10,000
test digits classified by the training digits, and the collapse diagnostics of the projector
output on 1,000 test digits, for every variant and 3 seeds. The length is what fits the budget
of one hour on two CPU cores for all runs (measured in the records).
"""

from __future__ import annotations

import functools

import torch

from ..data import load_mnist
from ..experiments.collapse import (
    SIMSIAM_VARIANTS,
    collapse_monitor,
    covariance_spectrum,
    projector_output,
    simsiam_variant,
)
from ..methods import BYOL
from ..monitors import knn_monitor
from ..nets import MLP
from ..train import Every, FitConfig
from ..views import mnist_views
from . import Experiment, Setup, register

#: BYOL's target decays compared (0: the online network itself, 1: a frozen random target).
EMA_DECAYS = (0.0, 0.99, 1.0)

WIDTHS = {"hidden": 1024, "features": 512, "dim": 256, "pred_dim": 64}

CONFIG = FitConfig(epochs=3, batch_size=256, lr=0.1, weight_decay=5e-4, warmup_steps=50, eval_every=0,
                   progress=True)

VARIANTS = tuple(SIMSIAM_VARIANTS) + tuple(f"byol-ema{decay:g}" for decay in EMA_DECAYS)


@functools.cache
def _data():
    train, test = load_mnist("train"), load_mnist("test")
    queries = test.split([1000, len(test) - 1000], seed=0)[0]
    return train, test, queries


def variant_method(variant: str) -> torch.nn.Module:
    """The method of ``variant`` at the reference widths (seed torch before calling)."""
    w = WIDTHS
    if variant in SIMSIAM_VARIANTS:
        return simsiam_variant(variant, MLP(784, [w["hidden"]], w["features"]), dim=w["dim"], pred_dim=w["pred_dim"],
                               proj_layers=2)
    if variant.startswith("byol-ema"):
        decay = float(variant.removeprefix("byol-ema"))
        return BYOL(MLP(784, [w["hidden"]], w["features"]), MLP(w["features"], [4 * w["dim"]], w["dim"]),
                    MLP(w["dim"], [4 * w["dim"]], w["dim"]), ema_decay=decay)
    raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")


def setup(variant: str, seed: int) -> Setup:
    train, test, queries = _data()
    views = mnist_views()
    torch.manual_seed(seed)
    method = variant_method(variant)
    hooks = [collapse_monitor(queries.images, views),
             Every(knn_monitor(train, test, views.prepare, k=200, temperature=0.1), every=0)]

    def finish(trained, record) -> None:
        record.summary["spectrum"] = covariance_spectrum(projector_output(trained, queries.images, views)).tolist()

    info = {"data": "mnist-train (60000)", "evaluation": "kNN k=200 T=0.1: mnist-test by mnist-train features; "
            "collapse diagnostics of the projector output on 1000 test digits", "widths": dict(WIDTHS)}
    return Setup(method, train, views, CONFIG.replace(seed=seed), hooks, info, finish)


register(Experiment(
    name="ch04/collapse",
    title="SimSiam ablations and BYOL's target decay on MNIST-60k",
    protocol=__doc__.split("\n\n", 1)[1].strip(),
    variants=VARIANTS,
    setup=setup,
))
