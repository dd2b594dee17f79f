"""Chapter 3's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import math

import torch

from .. import losses
from . import register, register_function

# --- chapter 3 -----------------------------------------------------------------------------

#: Exercise 3.1: a collapsed batch of N embeddings of width D, and SwAV's K prototypes.
BATCH_3_1, DIM_3_1, PROTOTYPES_3_1 = 32, 64, 100

#: Exercise 3.2: two views' embeddings of a batch of 6 images (width 4) and a temperature, to try
#: a function on by hand (the checker draws its own random inputs).
VIEWS_3_2 = (
    torch.randn(6, 4, generator=torch.Generator().manual_seed(32), dtype=torch.float64),
    torch.randn(6, 4, generator=torch.Generator().manual_seed(33), dtype=torch.float64),
)
TEMPERATURE_3_2 = 0.2

#: Exercise 3.3: N orthonormal embeddings, the two views of each identical, at temperature 0.5.
BATCH_3_3, TEMPERATURE_3_3 = 128, 0.5

#: Exercise 3.4: both views of 8 images, three features; feature 3 is dead (constant).
FEATURES_3_4 = torch.tensor(
    [[1, 1, 2], [1, -1, 2], [-1, 1, 2], [-1, -1, 2], [1, 1, 2], [1, -1, 2], [-1, 1, 2], [-1, -1, 2]],
    dtype=torch.float64,
)


@register("3.1", "collapsed values of NT-Xent (tau 0.5), SwAV, Barlow Twins and VICReg, N=32, D=64, K=100")
def _ex_3_1() -> tuple[float, ...]:
    z = torch.full((BATCH_3_1, DIM_3_1), 0.3, dtype=torch.float64)
    # A collapsed embedding scores every (unit-norm, equal) prototype alike.
    scores = torch.full((BATCH_3_1, PROTOTYPES_3_1), 0.3, dtype=torch.float64)
    return (
        float(losses.nt_xent_loss(z, z, 0.5)),
        float(losses.swav_loss(scores, scores)),
        float(losses.barlow_twins_loss(z, z)),
        float(losses.vicreg_loss(z, z)),
    )


@register_function("3.2", "my_nt_xent(z1, z2, tau): NT-Xent of two views' embeddings, in nats",
                   losses.nt_xent_loss)
def _inputs_3_2(g: torch.Generator) -> tuple:
    n, d = int(torch.randint(2, 11, (1,), generator=g)), int(torch.randint(2, 9, (1,), generator=g))
    z1, z2 = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))
    return z1, z2, float(0.1 + 0.9 * torch.rand((), generator=g))


@register("3.3", "NT-Xent of 128 orthonormal embeddings with identical views at tau 0.5, and log(2N-1) - L")
def _ex_3_3() -> tuple[float, ...]:
    u = torch.eye(BATCH_3_3, dtype=torch.float64)
    loss = float(losses.nt_xent_loss(u, u, TEMPERATURE_3_3))
    return (loss, math.log(2 * BATCH_3_3 - 1) - loss)


@register("3.4", "Barlow Twins and VICReg losses of FEATURES_3_4 as both views (one dead feature)")
def _ex_3_4() -> tuple[float, ...]:
    z = FEATURES_3_4
    return (float(losses.barlow_twins_loss(z, z)), float(losses.vicreg_loss(z, z)))
