"""jessl_lite.entropy: KDE densities against scipy, KDE entropy against Gaussian closed forms, the vMF
normalizer against scipy, mpmath and closed forms, vMF entropy against the uniform sphere, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jessl_lite.entropy import (
    gaussian_kde_log_density,
    kde_entropy,
    log_bessel_iv,
    scott_bandwidth,
    silverman_bandwidth,
    sphere_log_area,
    vmf_kde_entropy,
    vmf_kde_log_density,
    vmf_log_normalizer,
    vmf_reconstruction_loss,
)

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")


def normal_samples(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def uniform_on_sphere(n: int, d: int, seed: int = 0) -> torch.Tensor:
    z = normal_samples(n, d, seed)
    return z / z.norm(dim=-1, keepdim=True)


def gaussian_entropy_closed_form(d: int) -> float:
    return 0.5 * d * math.log(2 * math.pi * math.e)


# --- Gaussian kernels: densities and bandwidths ------------------------------------------------


@pytest.mark.parametrize("rule", ["scott", "silverman", 0.3])
def test_kde_log_density_matches_scipy_in_one_dimension(rule):
    z = normal_samples(300, 1)
    points = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None]
    # scipy's gaussian_kde takes a scalar bw_method as the factor multiplying the data's std.
    bw = rule if isinstance(rule, str) else rule / float(z.std())
    ref = scipy_stats.gaussian_kde(z.T.numpy(), bw_method=bw).logpdf(points.T.numpy())
    ours = gaussian_kde_log_density(points, z, rule).numpy()
    assert np.allclose(ours, ref, atol=1e-12)


def test_kde_log_density_matches_a_sum_of_scipy_normals_in_three_dimensions():
    z = normal_samples(40, 3, seed=1)
    points = normal_samples(5, 3, seed=2) * 2.0
    h = 0.7
    densities = np.stack(
        [scipy_stats.multivariate_normal(mean=m, cov=h**2 * np.eye(3)).pdf(points.numpy()) for m in z.numpy()]
    )
    ref = np.log(densities.mean(0))
    assert np.allclose(gaussian_kde_log_density(points, z, h).numpy(), ref, atol=1e-10)


def test_bandwidth_rules_are_scotts_and_silvermans_factors():
    z = normal_samples(500, 4) * torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    sigma = math.sqrt(float(z.var(dim=0, unbiased=True).mean()))
    assert float(scott_bandwidth(z)) == pytest.approx(sigma * 500 ** (-1 / 8), rel=1e-12)
    assert float(silverman_bandwidth(z)) == pytest.approx(sigma * (500 * 6 / 4) ** (-1 / 8), rel=1e-12)
    # In one dimension scipy's factors times the sample std are the same bandwidths.
    z1 = z[:, :1]
    kde = scipy_stats.gaussian_kde(z1.T.numpy(), bw_method="silverman")
    assert float(silverman_bandwidth(z1)) == pytest.approx(kde.factor * float(z1.std()), rel=1e-12)


def test_kde_is_unbiased_for_the_smoothed_density():
    # E over an independent point z ~ N(0, I) of p_hat(z) is E_p[(p * k_h)(Z)] = N(0; 0, (2 + h^2) I)
    # exactly. (p * k_h)(Z) has relative spread 0.5 over points here (a Gaussian integral), so
    # 4000 points give a relative SE of 0.8%, and the 4000 samples add less than as much again:
    # 7.5% is more than 5 SE.
    d, h = 2, 0.5
    samples, points = normal_samples(4000, d, seed=3), normal_samples(4000, d, seed=4)
    mean_density = float(torch.exp(gaussian_kde_log_density(points, samples, h)).mean())
    assert mean_density == pytest.approx((2 * math.pi * (2 + h**2)) ** (-d / 2), rel=0.075)


# --- Gaussian kernels: entropy ---------------------------------------------------------------


@pytest.mark.parametrize("d, final_tol", [(1, 0.005), (2, 0.02), (5, 0.17)])
def test_kde_entropy_of_gaussian_samples_converges_to_the_closed_form(d, final_tol):
    """Ĥ -> d/2 log(2 pi e) as N grows, with Scott's bandwidth.

    The estimator's error is separated from the Monte Carlo error of the sample itself by
    subtracting the oracle estimate -mean log p(z_n) (the true density at the same points),
    which has the same sampling noise and no estimator bias. Theory for what remains:
    leave-one-out is biased *upwards* for every N (Jensen + Gibbs: E[-log p_hat_{-n}(z_n)] >=
    -E log (p * k_h)(z_n) >= H); resubstitution is pulled *down* by its self-term k_h(0)/N.
    Both biases shrink with N, slowly in high dimension (like N^{-4/(d+4)} for the smoothing
    part). The sample sizes are nested prefixes of one sample, so that the errors move only
    because N does; the final tolerances are about 1.5x the largest leave-one-out error
    measured at N = 3200 over seeds 0-3 (0.0026, 0.013, 0.11 nats for d = 1, 2, 5).
    """
    true_h = gaussian_entropy_closed_form(d)
    errors = {"resub": [], "loo": []}
    everything = normal_samples(3200, d, seed=0)
    for n in (200, 800, 3200):
        z = everything[:n]
        oracle = float((0.5 * d * math.log(2 * math.pi) + 0.5 * (z * z).sum(-1)).mean())
        assert oracle == pytest.approx(true_h, abs=5 * math.sqrt(d / 2 / n))  # the sample itself: 5 SE
        errors["resub"].append(float(kde_entropy(z, "scott")) - oracle)
        errors["loo"].append(float(kde_entropy(z, "scott", leave_one_out=True)) - oracle)
    assert all(e < 0 for e in errors["resub"]) and all(e > 0 for e in errors["loo"])
    for errs in errors.values():
        assert abs(errs[0]) > abs(errs[1]) > abs(errs[2])
    assert abs(errors["loo"][-1]) < final_tol


def test_kde_entropy_at_a_fixed_bandwidth_tends_to_the_smoothed_cross_entropy():
    # For fixed h and N -> infinity, Ĥ -> -E_p log (p * k_h) with p * k_h = N(0, (1 + h^2) I):
    # d/2 log(2 pi (1 + h^2)) + d / (2 (1 + h^2)). With h = 1, d = 1 that is 1.5155, not
    # h(N(0,1)) = 1.4189. SE of the estimate at N = 3000: sqrt(Var(Z^2/4) / N) = 0.0065; 4 SE.
    h, n = 1.0, 3000
    limit = 0.5 * math.log(2 * math.pi * (1 + h**2)) + 1 / (2 * (1 + h**2))
    estimate = float(kde_entropy(normal_samples(n, 1, seed=5), h, leave_one_out=True))
    assert estimate == pytest.approx(limit, abs=0.026)
    assert abs(estimate - gaussian_entropy_closed_form(1)) > 0.06


def test_kde_entropy_by_hand():
    # z = 0, 1, 3 with h = 1: p_hat(z_n) = (phi(0) + phi(1) + phi(3)) / 3, etc.
    phi = [math.exp(-(u**2) / 2) / math.sqrt(2 * math.pi) for u in range(4)]
    p = [(phi[0] + phi[1] + phi[3]) / 3, (phi[1] + phi[0] + phi[2]) / 3, (phi[3] + phi[2] + phi[0]) / 3]
    p_loo = [(phi[1] + phi[3]) / 2, (phi[1] + phi[2]) / 2, (phi[3] + phi[2]) / 2]
    z = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    assert float(kde_entropy(z, 1.0)) == pytest.approx(-sum(map(math.log, p)) / 3, abs=1e-12)
    assert float(kde_entropy(z, 1.0, leave_one_out=True)) == pytest.approx(-sum(map(math.log, p_loo)) / 3, abs=1e-12)


def test_kde_entropy_is_batched_and_shifts_by_log_a_under_scaling():
    z = normal_samples(3 * 50, 2).reshape(3, 50, 2)
    h = torch.tensor([0.3, 0.5, 0.8], dtype=torch.float64)
    batched = kde_entropy(z, h)
    assert batched.shape == (3,)
    assert torch.allclose(batched, torch.stack([kde_entropy(z[i], float(h[i])) for i in range(3)]), atol=1e-12)
    # h(aZ) = h(Z) + d log a holds exactly for the estimator when h scales with the data (Scott does).
    assert float(kde_entropy(3.0 * z[0])) == pytest.approx(float(kde_entropy(z[0])) + 2 * math.log(3.0), abs=1e-10)


def test_kde_entropy_is_differentiable():
    z = normal_samples(6, 2).requires_grad_(True)
    h = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: kde_entropy(a, b), (z, h))
    assert torch.autograd.gradcheck(lambda a: kde_entropy(a, leave_one_out=True), (z,))


# --- the vMF normalizer ----------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 4, 5, 8, 10])
def test_vmf_log_normalizer_matches_scipy_for_small_d(d):
    v = d / 2 - 1
    for kappa in [1e-3, 0.1, 1.0, 7.5, 39.0, 41.0, 150.0, 3000.0]:
        # log I_v(kappa) = log ive(v, kappa) + kappa: scipy's scaled Bessel function.
        ref = v * math.log(kappa) - d / 2 * math.log(2 * math.pi) - (math.log(scipy_special.ive(v, kappa)) + kappa)
        assert float(vmf_log_normalizer(kappa, d)) == pytest.approx(ref, rel=1e-10, abs=1e-9)


def test_log_bessel_matches_mpmath_where_scipy_underflows():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    for v in [0.0, 30.0, 511.0, 1023.0]:
        for x in [0.01, 1.0, 20.0, 39.9, 40.1, 500.0, 5000.0]:
            ref = float(mpmath.log(mpmath.besseli(v, x)))
            ours = float(log_bessel_iv(v, torch.tensor(x, dtype=torch.float64)))
            # The Debye expansion's first neglected term is O((v^2 + x^2)^{-5/2}) <= 1e-8 here.
            assert ours == pytest.approx(ref, rel=1e-10, abs=1e-8)


def test_vmf_log_normalizer_is_finite_at_d_2048_and_tends_to_the_uniform():
    kappa = torch.tensor([1e-4, 1.0, 10.0, 100.0, 1e4], dtype=torch.float64, requires_grad=True)
    log_c = vmf_log_normalizer(kappa, 2048)
    assert torch.isfinite(log_c).all()
    log_c.sum().backward()
    assert torch.isfinite(kappa.grad).all()
    # C_d(kappa) -> 1 / |S^{d-1}| as kappa -> 0; the correction is O(kappa^2 / d).
    assert float(log_c[0].detach()) == pytest.approx(-sphere_log_area(2048), abs=1e-9)
    # d/dkappa log C_d = -I_{d/2}(kappa) / I_{d/2-1}(kappa), which is in (-1, 0).
    assert ((kappa.grad < 0) & (kappa.grad > -1)).all()
    # The naive log(I_v(kappa) + 1e-7) is off by tens of nats once I_v < 1e-7 (d = 64, kappa = 10).
    naive = 31 * math.log(10.0) - 32 * math.log(2 * math.pi) - math.log(scipy_special.iv(31, 10.0) + 1e-7)
    assert abs(naive - float(vmf_log_normalizer(10.0, 64))) > 10


def test_vmf_log_normalizer_closed_forms():
    kappa = torch.tensor([0.01, 0.5, 2.0, 30.0, 300.0], dtype=torch.float64)
    # d = 3: C_3 = kappa / (4 pi sinh kappa); sinh in log form to avoid overflow.
    log_sinh = kappa + torch.log(-torch.expm1(-2 * kappa) / 2)
    assert torch.allclose(vmf_log_normalizer(kappa, 3), torch.log(kappa / (4 * math.pi)) - log_sinh, atol=1e-10)
    # d = 2: C_2 = 1 / (2 pi I_0(kappa)), with torch's own scaled I_0.
    ref2 = -math.log(2 * math.pi) - (torch.log(torch.special.i0e(kappa)) + kappa)
    assert torch.allclose(vmf_log_normalizer(kappa, 2), ref2, atol=1e-10)
    assert sphere_log_area(3) == pytest.approx(math.log(4 * math.pi), abs=1e-14)


def test_vmf_log_normalizer_gradcheck():
    kappa = torch.tensor([0.3, 5.0, 39.5, 40.5, 200.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: vmf_log_normalizer(k, 6), (kappa,))


# --- vMF kernel density and entropy ----------------------------------------------------------


def test_vmf_kde_density_integrates_to_one_on_the_circle():
    # On S^1 a trapezoid rule over equally spaced angles converges exponentially for smooth
    # periodic integrands: 4000 nodes integrate exp(kappa cos) to ~1e-12 at kappa = 20.
    samples = uniform_on_sphere(7, 2, seed=6)
    theta = torch.linspace(0, 2 * math.pi, 4001, dtype=torch.float64)[:-1]
    circle = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    density = torch.exp(vmf_kde_log_density(circle, samples, 20.0))
    assert float(density.sum() * (2 * math.pi / 4000)) == pytest.approx(1.0, abs=1e-10)


def test_vmf_kde_matches_scipy_von_mises_fisher():
    samples, points = uniform_on_sphere(5, 4, seed=7), uniform_on_sphere(3, 4, seed=8)
    ref = np.log(np.mean([scipy_stats.vonmises_fisher(m, 6.0).pdf(points.numpy()) for m in samples.numpy()], axis=0))
    assert np.allclose(vmf_kde_log_density(points, samples, 6.0).numpy(), ref, atol=1e-10)


@pytest.mark.parametrize("d", [3, 8])
def test_vmf_kde_entropy_of_uniform_samples_is_the_log_area(d):
    # Smoothing the uniform distribution on the sphere leaves it uniform, so at any kappa
    # E[p_hat_{-n}(z_n)] = 1/|S| exactly, and Ĥ_loo -> log |S^{d-1}| as N grows. With N = 2000,
    # kappa = 5 one p_hat(z_n) has relative spread sqrt((|S| C_d(kappa)^2 / C_d(2 kappa) - 1) / N)
    # = 0.045 (d = 3 and 8), so the Jensen bias (relative variance / 2) is 0.001, and the N terms
    # are only weakly correlated (any two share one kernel of 2000), so their mean errs by far
    # less than 0.045; 0.02 covers both. Resubstitution adds the self-term C_d(kappa) e^kappa / N
    # to every density: it lies below by about log(1 + C_d(kappa) e^kappa |S| / N).
    n, kappa = 2000, 5.0
    z = uniform_on_sphere(n, d, seed=d)
    log_area = sphere_log_area(d)
    assert float(vmf_kde_entropy(z, kappa, leave_one_out=True)) == pytest.approx(log_area, abs=0.02)
    self_term = math.log1p(math.exp(float(vmf_log_normalizer(kappa, d)) + kappa + log_area) / n)
    assert float(vmf_kde_entropy(z, kappa)) == pytest.approx(log_area - self_term, abs=0.03)


def test_vmf_reconstruction_loss_is_minus_the_mean_vmf_log_likelihood():
    z1, z2 = uniform_on_sphere(6, 5, seed=9), uniform_on_sphere(6, 5, seed=10)
    ref = -np.mean([scipy_stats.vonmises_fisher(b, 3.0).logpdf(a) for a, b in zip(z1.numpy(), z2.numpy(), strict=True)])
    assert float(vmf_reconstruction_loss(z1, z2, 3.0)) == pytest.approx(ref, abs=1e-10)
    z1.requires_grad_(True)
    kappa = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    vmf_reconstruction_loss(z1, z2, kappa).backward()
    assert torch.isfinite(z1.grad).all() and torch.isfinite(kappa.grad)


def test_vmf_entropy_is_batched_and_differentiable():
    z = uniform_on_sphere(2 * 30, 3).reshape(2, 30, 3)
    kappa = torch.tensor([2.0, 9.0], dtype=torch.float64)
    batched = vmf_kde_entropy(z, kappa)
    assert batched.shape == (2,)
    assert torch.allclose(batched, torch.stack([vmf_kde_entropy(z[i], float(kappa[i])) for i in range(2)]))
    w = normal_samples(5, 3).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, k: vmf_kde_entropy(a / a.norm(dim=-1, keepdim=True), k, leave_one_out=True),
        (w, torch.tensor(4.0, dtype=torch.float64, requires_grad=True)),
    )


# --- bad input -----------------------------------------------------------------------------


def test_bad_inputs_name_the_argument():
    z = normal_samples(10, 2)
    with pytest.raises(ValueError, match="bandwidth"):
        kde_entropy(z, 0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        kde_entropy(z, -1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        kde_entropy(z, "wide")
    with pytest.raises(ValueError, match="bandwidth"):
        kde_entropy(z.reshape(2, 5, 2), torch.ones(3))
    with pytest.raises(ValueError, match="z"):
        kde_entropy(z[:1])
    with pytest.raises(ValueError, match="z"):
        kde_entropy(torch.tensor([[0.0, math.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="z"):
        kde_entropy(torch.zeros(5))
    with pytest.raises(TypeError, match="leave_one_out"):
        kde_entropy(z, leave_one_out=1)
    with pytest.raises(ValueError, match="points and samples"):
        gaussian_kde_log_density(torch.zeros(3, 3), z, 1.0)
    u = uniform_on_sphere(10, 3)
    with pytest.raises(ValueError, match="kappa"):
        vmf_kde_entropy(u, 0.0)
    with pytest.raises(ValueError, match="kappa"):
        vmf_log_normalizer(-1.0, 3)
    with pytest.raises(ValueError, match="unit-norm"):
        vmf_kde_entropy(2.0 * u, 1.0)
    with pytest.raises(ValueError, match="z2"):
        vmf_reconstruction_loss(u, 1.5 * u, 1.0)
    with pytest.raises(ValueError, match="dim"):
        vmf_log_normalizer(1.0, 1)
    with pytest.raises(ValueError, match="order"):
        log_bessel_iv(-0.5, torch.tensor(1.0))
    with pytest.raises(TypeError, match="z"):
        kde_entropy("samples")


VMF_WITH_ATOL = {
    "vmf_kde_entropy": lambda z, atol: vmf_kde_entropy(z, 1.0, atol=atol),
    "vmf_kde_log_density": lambda z, atol: vmf_kde_log_density(z, z, 1.0, atol=atol),
    "vmf_reconstruction_loss": lambda z, atol: vmf_reconstruction_loss(z, z, 1.0, atol=atol),
}


@pytest.mark.parametrize("function", sorted(VMF_WITH_ATOL))
@pytest.mark.parametrize("atol", [math.nan, -1e-4, 0.5, math.inf])
def test_a_nan_or_absurd_unit_norm_tolerance_is_refused(function, atol):
    # A NaN atol made `worst > atol` false: rows of norm 3 passed as points on the sphere.
    z = 3.0 * uniform_on_sphere(10, 3)
    with pytest.raises(ValueError, match="atol must be a finite number >= 0 and <= 0.1"):
        VMF_WITH_ATOL[function](z, atol)


def test_scalar_arguments_are_checked_for_type():
    u = uniform_on_sphere(10, 3)
    with pytest.raises(TypeError, match="dim"):
        vmf_log_normalizer(1.0, 3.0)
    with pytest.raises(TypeError, match="dim"):
        sphere_log_area(True)
    with pytest.raises(ValueError, match="order"):
        log_bessel_iv(math.nan, torch.tensor(1.0))
    with pytest.raises(TypeError, match="leave_one_out"):
        vmf_kde_entropy(u, 1.0, leave_one_out=None)
    with pytest.raises(TypeError, match="kappa"):
        vmf_kde_entropy(u, True)
    with pytest.raises(TypeError, match="bandwidth"):
        kde_entropy(normal_samples(10, 2), torch.tensor([True]))
    with pytest.raises(TypeError, match="atol"):
        vmf_kde_entropy(u, 1.0, atol="1e-4")


def test_points_and_samples_of_different_float_dtypes_are_promoted():
    z = normal_samples(20, 2)
    reference = gaussian_kde_log_density(z.double(), z.double(), 0.5)
    mixed = gaussian_kde_log_density(z.float(), z.double(), 0.5)
    assert mixed.dtype == torch.float64
    torch.testing.assert_close(mixed, reference, rtol=1e-6, atol=1e-6)
    u = uniform_on_sphere(10, 3)
    loss = vmf_reconstruction_loss(u.float(), u.double(), 2.0)
    torch.testing.assert_close(loss, vmf_reconstruction_loss(u.double(), u.double(), 2.0), rtol=1e-5, atol=1e-5)



def test_a_rule_bandwidth_of_zero_is_refused():
    # Equal samples have no spread: Scott's h = 0, and the kernel would compute 0 / 0.
    with pytest.raises(ValueError, match="bandwidth='scott' gives h = 0"):
        kde_entropy(torch.ones(5, 2))


@pytest.mark.parametrize("bad", [torch.ones(3), torch.ones(0), (1.0, 2.0)])
def test_a_parameter_may_not_add_batch_dimensions(bad):
    # A (3,) bandwidth for one sample set made three estimates; an empty one made none.
    with pytest.raises(ValueError, match=r"must be a number or broadcast to the batch shape \(\)"):
        kde_entropy(normal_samples(10, 2), bad)
    with pytest.raises(ValueError, match="kappa must be a number or broadcast"):
        vmf_kde_entropy(uniform_on_sphere(10, 3), bad)
