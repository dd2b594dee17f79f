"""Barlow Twins' Gaussian IB view (chapter 6): log-determinants vs closed forms and samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from jessl_lite.experiments.gaussian_ib import (
    GaussianViews,
    barlow_twins_terms,
    conditional_covariance_from_views,
    covariance,
    cross_correlation,
    gaussian_ib_objective,
    linear_gaussian_views,
    sample_linear_gaussian_views,
)


def random_views(seed: int, d: int = 5, m: int = 3, noise: float = 0.4):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov_x = mix @ mix.T / d + 0.2 * torch.eye(d, dtype=torch.float64)
    w = torch.randn(m, d, generator=g, dtype=torch.float64)
    return linear_gaussian_views(w, cov_x, noise * torch.eye(d, dtype=torch.float64)), g


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_log_det_entropies_match_scipy_and_the_schur_identity(seed):
    views, _ = random_views(seed)
    # Closed-form covariances, entropies against scipy's Gaussian entropy.
    assert float(views.entropy_z()) == pytest.approx(multivariate_normal(cov=views.cov_z.numpy()).entropy(), abs=1e-9)
    assert float(views.entropy_z_given_x()) == pytest.approx(
        multivariate_normal(cov=views.cov_z_given_x.numpy()).entropy(), abs=1e-9
    )
    # I(Z;X) from the joint covariance of (Z, X) equals h(Z) - h(Z|X) (Schur complement of the joint).
    assert float(views.mutual_information_zx()) == pytest.approx(
        float(views.entropy_z() - views.entropy_z_given_x()), abs=1e-9
    )
    # I(Z1;Z2) <= I(Z;X): data processing on Z1 - X - Z2.
    assert float(views.mutual_information_views()) <= float(views.mutual_information_zx()) + 1e-12


def test_closed_form_of_the_one_dimensional_world():
    views = linear_gaussian_views([[2.0]], [[3.0]], [[1.0]])
    assert float(views.cov_z) == pytest.approx(16.0)
    assert float(views.cross_correlation()[0, 0]) == pytest.approx(0.75, abs=1e-12)
    assert float(views.mutual_information_zx()) == pytest.approx(math.log(2.0), abs=1e-12)  # scale-free
    assert float(views.mutual_information_views()) == pytest.approx(-0.5 * math.log(1 - 0.75**2), abs=1e-12)
    # Per-feature invariance relation: I(Z;X) = -1/2 log(1 - C).
    assert float(views.mutual_information_zx()) == pytest.approx(-0.5 * math.log(1 - 0.75), abs=1e-12)


def test_gaussian_ib_objective_is_barlow_twins_formula():
    views, _ = random_views(1)
    h_z, h_zx = float(views.entropy_z()), float(views.entropy_z_given_x())
    for beta in (0.5, 1.0, 4.0):
        value = float(gaussian_ib_objective(views.cov_z, views.cov_z_given_x, beta))
        assert value == pytest.approx(h_zx + (1 - beta) / beta * h_z, abs=1e-12)
    # In log-determinants: 1/2 log det C_{Z|X} + (1-beta)/beta 1/2 log det C_Z + constant.
    m, beta = views.cov_z.shape[0], 4.0
    const = (1 + (1 - beta) / beta) * 0.5 * m * math.log(2 * math.pi * math.e)
    logdets = 0.5 * float(torch.logdet(views.cov_z_given_x)) + (1 - beta) / beta * 0.5 * float(
        torch.logdet(views.cov_z)
    )
    assert float(gaussian_ib_objective(views.cov_z, views.cov_z_given_x, beta)) == pytest.approx(
        logdets + const, abs=1e-12
    )


def test_sampled_log_dets_converge_to_the_closed_form():
    views, g = random_views(2)
    _, z1, z2 = sample_linear_gaussian_views(views, 200_000, generator=g)
    # The log-determinant of a sample covariance has standard error about sqrt(2 m / n) = 0.0055 here.
    assert float(torch.logdet(covariance(z1))) == pytest.approx(float(torch.logdet(views.cov_z)), abs=0.03)
    assert float(torch.logdet(conditional_covariance_from_views(z1, z2))) == pytest.approx(
        float(torch.logdet(views.cov_z_given_x)), abs=0.03
    )
    torch.testing.assert_close(cross_correlation(z1, z2), views.cross_correlation(), atol=0.01, rtol=0)


def test_covariance_matches_numpy():
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    np.testing.assert_allclose(covariance(z).numpy(), np.cov(z.numpy(), rowvar=False), atol=1e-12)


def test_cross_correlation_is_pearson_correlation():
    g = torch.Generator().manual_seed(4)
    z1 = torch.randn(100, 3, generator=g, dtype=torch.float64)
    z2 = z1 @ torch.randn(3, 3, generator=g, dtype=torch.float64) + torch.randn(
        100, 3, generator=g, dtype=torch.float64
    )
    reference = np.corrcoef(z1.numpy(), z2.numpy(), rowvar=False)[:3, 3:]
    np.testing.assert_allclose(cross_correlation(z1, z2).numpy(), reference, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_barlow_twins_terms_are_invariant_to_per_feature_affine_maps(seed):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(64, 4, generator=g, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(64, 4, generator=g, dtype=torch.float64)
    scale = torch.rand(4, generator=g, dtype=torch.float64) * 10 + 0.1
    shift = torch.randn(4, generator=g, dtype=torch.float64) * 5
    before = barlow_twins_terms(cross_correlation(z1, z2))
    after = barlow_twins_terms(cross_correlation(z1 * scale + shift, z2 * scale + shift))
    for a, b in zip(before, after, strict=True):
        assert float(a) == pytest.approx(float(b), abs=1e-9)


def test_barlow_twins_terms_of_known_matrices():
    invariance, redundancy = barlow_twins_terms(torch.eye(3))
    assert float(invariance) == 0.0 and float(redundancy) == 0.0
    c = torch.tensor([[0.5, 0.2], [-0.1, 1.0]])
    invariance, redundancy = barlow_twins_terms(c)
    assert float(invariance) == pytest.approx(0.25)
    assert float(redundancy) == pytest.approx(0.05)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="w"):
        linear_gaussian_views(torch.ones(2, 3), torch.eye(3), torch.eye(3))  # rank 1
    with pytest.raises(ValueError, match="cov_noise"):
        linear_gaussian_views(torch.eye(2), torch.eye(2), torch.eye(3))
    with pytest.raises(ValueError, match="beta"):
        gaussian_ib_objective(torch.eye(2), torch.eye(2), 0.0)
    with pytest.raises(ValueError, match="z2"):
        cross_correlation(torch.randn(5, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="z"):
        covariance(torch.randn(1, 2))
    with pytest.raises(ValueError, match="c"):
        barlow_twins_terms(torch.ones(2, 3))
    views, _ = random_views(0)
    with pytest.raises(ValueError, match="n"):
        sample_linear_gaussian_views(views, 1)


def test_covariances_of_different_sizes_are_refused():
    # A 2 x 2 and a 3 x 3 covariance are not of the same embedding; the sum of their entropies
    # (11.19 at beta = 0.5) meant nothing.
    with pytest.raises(ValueError, match=r"cov_z_given_x must have the shape of cov_z \(2, 2\); got \(3, 3\)"):
        gaussian_ib_objective(torch.eye(2), torch.eye(3), 0.5)
    with pytest.raises(ValueError, match="cov_z must be finite"):
        gaussian_ib_objective(torch.tensor([[1.0, math.nan], [math.nan, 1.0]]), torch.eye(2), 0.5)
    with pytest.raises(ValueError, match="cov_z_given_x must be positive definite"):
        gaussian_ib_objective(torch.eye(2), -torch.eye(2), 0.5)


@pytest.mark.parametrize("beta", [math.nan, math.inf, 0.0, -1.0])
def test_beta_must_be_finite_and_positive(beta):
    with pytest.raises(ValueError, match="beta"):
        gaussian_ib_objective(torch.eye(2), torch.eye(2), beta)


def test_nan_in_any_input_is_refused_not_propagated():
    z = torch.randn(6, 2, dtype=torch.float64)
    bad = z.clone()
    bad[2, 1] = math.nan
    with pytest.raises(ValueError, match="z must be finite"):
        covariance(bad)
    with pytest.raises(ValueError, match="z2 must be finite"):
        cross_correlation(z, bad)
    with pytest.raises(ValueError, match="z1 must be finite"):
        conditional_covariance_from_views(bad, z)
    with pytest.raises(ValueError, match="c must be finite"):
        barlow_twins_terms(torch.tensor([[1.0, math.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="w must be finite"):
        linear_gaussian_views(torch.tensor([[1.0, math.nan]]), torch.eye(2), torch.eye(2))


def test_other_bad_arguments_name_themselves():
    z = torch.randn(6, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="eps"):
        cross_correlation(z, z, eps=math.nan)
    with pytest.raises(ValueError, match=r"c must be a square \(D, D\) matrix"):
        barlow_twins_terms(torch.ones(3))
    with pytest.raises(TypeError, match="views must be a GaussianViews"):
        sample_linear_gaussian_views("views", 10)
    views, _ = random_views(0)
    with pytest.raises(TypeError, match="n must be an int"):
        sample_linear_gaussian_views(views, 10.0)
    with pytest.raises(TypeError, match="generator"):
        sample_linear_gaussian_views(views, 10, generator=0)
    with pytest.raises(ValueError, match="w must have shape"):
        linear_gaussian_views(torch.zeros(0, 2), torch.eye(2), torch.eye(2))


def test_gaussian_views_built_directly_check_their_shapes():
    good = linear_gaussian_views(torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64),
                                 torch.eye(2, dtype=torch.float64))
    fields = dict(vars(good))
    with pytest.raises(ValueError, match=r"^cov_z must have shape \(2, 2\)"):
        GaussianViews(**{**fields, "cov_z": torch.eye(3, dtype=torch.float64)})
    with pytest.raises(TypeError, match="^w must be a 2-D float tensor"):
        GaussianViews(**{**fields, "w": "identity"})
