"""Chapter 4's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import torch
from torch import nn

from ..evaluate import std_of_normalized
from ..experiments.dynamics import fixed_points, linear_ssl_gradients
from ..losses import simsiam_loss
from ..methods import ema_update
from . import register, register_function

# --- chapter 4 -----------------------------------------------------------------------------

#: Exercise 4.1: isotropic Gaussian embeddings in D = 64 dimensions.
DIM_4_1 = 64

#: Exercise 4.2: the scalar linear model w = 1, predictor p = 0.5, augmentation variance 0.5.
W_4_2, P_4_2, SIGMA2_4_2 = 1.0, 0.5, 0.5

#: Exercise 4.3: SimSiam's mode dynamics with sigma^2 = 0.5, weight decay 0.05, alpha_p = 1.
SIGMA2_4_3, ETA_4_3 = 0.5, 0.05

#: Exercise 4.4: BYOL's target decay, and the fraction of the initial gap that may remain.
DECAY_4_4, GAP_4_4 = 0.996, 0.01


@register("4.1", "std of L2-normalised isotropic Gaussian embeddings, D = 64", atol=2e-4)
def _ex_4_1() -> tuple[float, ...]:
    g = torch.Generator().manual_seed(0)
    return (float(std_of_normalized(torch.randn(200_000, DIM_4_1, generator=g, dtype=torch.float64))),)


@register("4.2", "dJ/dw of the scalar linear model: (with stop-gradient, without)")
def _ex_4_2() -> tuple[float, ...]:
    w, p = torch.tensor([[W_4_2]], dtype=torch.float64), torch.tensor([[P_4_2]], dtype=torch.float64)
    with_sg = linear_ssl_gradients(w, p, w, SIGMA2_4_2, stop_gradient=True)[0]
    without = linear_ssl_gradients(w, p, w, SIGMA2_4_2, stop_gradient=False)[0]
    return (float(with_sg), float(without))


@register("4.3", "the stable non-collapsed fixed point (p*, s*) of SimSiam's mode ODE")
def _ex_4_3() -> tuple[float, ...]:
    return fixed_points(SIGMA2_4_3, alpha_p=1.0, eta=ETA_4_3)[0]


@register("4.4", "EMA steps until a target is within 1% of a fixed online network (decay 0.996)")
def _ex_4_4() -> tuple[float, ...]:
    online, target = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        online.weight.fill_(1.0)
        target.weight.fill_(0.0)
    steps = 0
    while float((online.weight - target.weight).abs().detach()) > GAP_4_4:
        ema_update(target, online, DECAY_4_4)
        steps += 1
    return (float(steps),)


def _size(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


@register_function("4.5", "my_simsiam_loss(p1, p2, z1, z2): SimSiam's symmetric loss, its gradients included",
                   simsiam_loss, gradients=True)
def _inputs_4_5(g: torch.Generator) -> tuple:
    n, d = _size(g, 2, 10), _size(g, 2, 8)
    return tuple(torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(4))
