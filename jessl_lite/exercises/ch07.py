"""Chapter 7's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import math

import torch

from ..entropy import vmf_entropy, vmf_kde_entropy, vmf_kde_entropy_ceiling, vmf_log_normalizer
from ..experiments.er import repository_vmf_log_normalizer
from . import register, register_function

#: Exercise 7.1: the batch size, concentration and dimension of the ceiling.
N_7_1, KAPPA_7_1, DIM_7_1 = 256, 10.0, 16

#: Exercise 7.2: Z2 ~ N(0, 1) and Z1 = SLOPE Z2 + noise of variance NOISE_VAR (all scalars).
SLOPE_7_2, NOISE_VAR_7_2 = 0.1, 1e-4

#: Exercise 7.3: the dimension and concentration at which to measure the repository's error.
DIM_7_3, KAPPA_7_3 = 96, 10.0

#: Exercise 7.4: a vMF distribution on the sphere S^2 (d = 3).
KAPPA_7_4 = 4.0


@register("7.1", "the most a resubstitution vMF-KDE entropy of N_7_1 samples can report, in nats")
def _ex_7_1() -> tuple[float, ...]:
    return (float(vmf_kde_entropy_ceiling(N_7_1, KAPPA_7_1, DIM_7_1)),)


@register("7.2", "(H(Z2) + E log q(Z1 | Z2), I(Z1; Z2)) in nats, q the true conditional")
def _ex_7_2() -> tuple[float, ...]:
    # H(Z2) - H(Z1 | Z2) = 1/2 log(1 / noise); I = 1/2 log(1 + slope^2 / noise).
    return (0.5 * math.log(1.0 / NOISE_VAR_7_2), 0.5 * math.log(1.0 + SLOPE_7_2**2 / NOISE_VAR_7_2))


@register("7.3", "how many nats the repository's entropy estimate lies above the correct one")
def _ex_7_3() -> tuple[float, ...]:
    return (float(vmf_log_normalizer(KAPPA_7_3, DIM_7_3)) - repository_vmf_log_normalizer(KAPPA_7_3, DIM_7_3),)


@register("7.4", "the differential entropy of vMF(kappa = KAPPA_7_4) on S^2, in nats")
def _ex_7_4() -> tuple[float, ...]:
    return (float(vmf_entropy(KAPPA_7_4, 3)),)


def _size(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


@register_function("7.5", "my_vmf_kde_entropy(z, kappa): the resubstitution vMF-KDE entropy of unit rows, nats",
                   vmf_kde_entropy)
def _inputs_7_5(g: torch.Generator) -> tuple:
    z = torch.randn(_size(g, 2, 16), _size(g, 2, 8), generator=g, dtype=torch.float64)
    return z / z.norm(dim=1, keepdim=True), float(0.5 + 19.5 * torch.rand((), generator=g))
