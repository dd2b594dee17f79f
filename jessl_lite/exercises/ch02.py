"""Chapter 2's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import math

import torch

from .. import bounds, entropy
from . import register, register_function

# --- chapter 2 -----------------------------------------------------------------------------

#: Exercise 2.1's batch size.
BATCH_2_1 = 256

#: Exercise 2.1's MI (nats) to be certified by InfoNCE.
TARGET_MI_2_1 = 10.0

#: Exercise 2.2's correlation and point (x, y) of a one-dimensional Gaussian pair.
RHO_2_2, POINT_2_2 = 0.5, (1.0, 1.0)

#: Exercise 2.3's score matrix, scores[i, j] = f(x_i, y_j) for a batch of K = 2.
SCORES_2_3 = [[2.0, 0.0], [0.0, 2.0]]

#: Exercise 2.4's three one-dimensional samples and bandwidth.
SAMPLES_2_4, BANDWIDTH_2_4 = [0.0, 1.0, 3.0], 1.0

#: Exercise 2.5's concentration, on the sphere S^2 in R^3.
KAPPA_2_5 = 2.0


@register("2.1", "the largest InfoNCE at batch 256, and the smallest batch that can certify 10 nats")
def _ex_2_1() -> tuple[float, ...]:
    # A critic that is sure of every positive: the diagonal 50 nats above the rest.
    ceiling = bounds.infonce_bound(50.0 * torch.eye(BATCH_2_1, dtype=torch.float64))
    smallest = math.ceil(math.exp(TARGET_MI_2_1))
    return (float(ceiling), float(smallest))


@register("2.2", "the NWJ optimal critic and the seed's critic 1 + log p(y|x) at (1, 1), rho = 0.5")
def _ex_2_2() -> tuple[float, ...]:
    x = torch.tensor([[POINT_2_2[0]]], dtype=torch.float64)
    y = torch.tensor([[POINT_2_2[1]]], dtype=torch.float64)
    optimal = bounds.optimal_nwj_critic(x, y, RHO_2_2)
    seed = 1.0 + bounds.gaussian_log_conditional(x, y, RHO_2_2)
    return (float(optimal[0, 0]), float(seed[0, 0]))


@register("2.3", "InfoNCE, NWJ and DV of SCORES_2_3, in nats")
def _ex_2_3() -> tuple[float, ...]:
    s = torch.tensor(SCORES_2_3, dtype=torch.float64)
    return (float(bounds.infonce_bound(s)), float(bounds.nwj_bound(s)), float(bounds.dv_bound(s)))


@register("2.4", "resubstitution and leave-one-out KDE entropy of SAMPLES_2_4 with h = 1, in nats")
def _ex_2_4() -> tuple[float, ...]:
    z = torch.tensor(SAMPLES_2_4, dtype=torch.float64)[:, None]
    return (
        float(entropy.kde_entropy(z, BANDWIDTH_2_4)),
        float(entropy.kde_entropy(z, BANDWIDTH_2_4, leave_one_out=True)),
    )


@register("2.5", "entropy of the uniform distribution on S^2 and log C_3(2), in nats")
def _ex_2_5() -> tuple[float, ...]:
    return (entropy.sphere_log_area(3), float(entropy.vmf_log_normalizer(KAPPA_2_5, 3)))


def _size(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


@register_function("2.6", "my_infonce(scores): the InfoNCE bound of a K x K score matrix, in nats",
                   bounds.infonce_bound)
def _inputs_2_6(g: torch.Generator) -> tuple:
    k = _size(g, 2, 16)
    return (3.0 * torch.randn(k, k, generator=g, dtype=torch.float64),)
