"""Chapter 6's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import torch

from ..experiments import worlds
from ..experiments.gaussian_ib import gaussian_ib_objective, linear_gaussian_views
from . import register, register_function

# --- chapter 6 -----------------------------------------------------------------------------

#: Exercise 6.1: two inputs a, b (equally likely), three transformations with d = (1/2, 1/4, 1/4).
#: Observations 0, 1, 2 are t0(a), t1(a), t2(a); observations 3, 4, 5 are t0(b), t1(b), t2(b).
WORLD_6_1 = worlds.make_world(
    p_x=[0.5, 0.5],
    d_t=[0.5, 0.25, 0.25],
    transform=[[0, 3], [1, 4], [2, 5]],
    y_labels=["t0(a)", "t1(a)", "t2(a)", "t0(b)", "t1(b)", "t2(b)"],
)
#: Exercise 6.1's encoder: it merges t1(a) with t2(a), and t0(b) with t1(b).
ENCODER_6_1 = torch.tensor([0, 1, 1, 2, 2, 3])

#: Exercise 6.2's ring: four positions, each view shifts by 0 (probability 0.7) or 1 step (0.3).
RING_6_2 = worlds.shifted_world([1.0], n_poses=4, d_t=[0.7, 0.3])

#: Exercise 6.3's one-dimensional Gaussian world: signal variance 3, distortion variance 1, w = 1.
SIGNAL_VAR_6_3, NOISE_VAR_6_3 = 3.0, 1.0

#: Exercise 6.4: the chapter's two-class world, and the target frozen at the class encoder.
CLASSES_6_4 = worlds.shifted_world([0.6, 0.4], n_poses=3, d_t=[0.7, 0.3])
FROZEN_TARGET_6_4 = worlds.class_encoder(CLASSES_6_4, n_poses=3)


@register("6.1", "H(V | X) and H(T | V, X) of WORLD_6_1 under ENCODER_6_1, in bits")
def _ex_6_1() -> tuple[float, ...]:
    terms = worlds.information_terms(WORLD_6_1, ENCODER_6_1, unit="bits")
    return (float(terms.h_v_given_x), float(terms.h_t_given_vx))


def _critical_beta(objective: str) -> float:
    # The optimum leaves the constant encoder (value 0, or -H(T) for the seed's form) at the
    # smallest beta where some encoder does better: beta = min ratio over encoders with I(V; V_hat) > 0.
    result = worlds.ib_search(RING_6_2, [1.0], objective=objective)
    terms = result.terms
    informative = terms.i_v_v_hat > 1e-12
    numerator = terms.i_xv if objective == "ib" else terms.h_v
    return float((numerator[informative] / terms.i_v_v_hat[informative]).min())


@register("6.2", "the beta at which the optimum of the ring leaves collapse: (true IB, the post's form)")
def _ex_6_2() -> tuple[float, ...]:
    return (_critical_beta("ib"), _critical_beta("blog"))


@register("6.3", "Barlow Twins' cross-correlation C and I(Z; X) in nats, one-dimensional Gaussian world")
def _ex_6_3() -> tuple[float, ...]:
    views = linear_gaussian_views([[1.0]], [[SIGNAL_VAR_6_3]], [[NOISE_VAR_6_3]])
    return (float(views.cross_correlation()[0, 0]), float(views.mutual_information_zx()))


@register("6.4", "minimal IB Lagrangian with the frozen class target, at beta = 0.5 and beta = 2, in nats")
def _ex_6_4() -> tuple[float, ...]:
    result = worlds.ib_search(CLASSES_6_4, [0.5, 2.0], target=FROZEN_TARGET_6_4)
    low, high = result.best_values().tolist()
    return (low, high)


def _size(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


@register_function("6.5", "my_gaussian_ib(cov_z, cov_z_given_x, beta): Barlow Twins' Gaussian IB objective, nats",
                   gaussian_ib_objective)
def _inputs_6_5(g: torch.Generator) -> tuple:
    m = _size(g, 1, 4)
    a, b = (torch.randn(m, m, generator=g, dtype=torch.float64) for _ in range(2))
    eye = torch.eye(m, dtype=torch.float64)
    return a @ a.T + m * eye, b @ b.T + 0.1 * eye, float(0.2 + 2.8 * torch.rand((), generator=g))
