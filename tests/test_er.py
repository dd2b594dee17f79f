"""Chapter 7's ER pieces: the vMF entropy against scipy and closed forms, the sampler, the KDE
estimate against the uniform sphere and a vMF distribution, the batch-size ceiling as an identity,
the ER loss's exact relation to NT-Xent, gradients at d = 2048, the ER variants of the methods,
the ER monitor and the repository's constant."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jessl_lite.entropy import (
    categorical_entropy_of_mean,
    categorical_reconstruction_loss,
    er_bound,
    er_loss,
    log_bessel_iv,
    sample_uniform_sphere,
    sample_vmf,
    sphere_log_area,
    vmf_entropy,
    vmf_kde_entropy,
    vmf_kde_entropy_ceiling,
    vmf_log_normalizer,
    vmf_reconstruction_loss,
)
from jessl_lite.experiments.er import repository_vmf_kde_entropy, repository_vmf_log_normalizer
from jessl_lite.losses import nt_xent_loss
from jessl_lite.methods import BYOL, ERBYOL, ERSimCLR, ERSwAV, SimCLR, make_er_method
from jessl_lite.nets import MLP

scipy_stats = pytest.importorskip("scipy.stats")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unit(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return sample_uniform_sphere(n, d, gen(seed))


# --- the vMF distribution ---------------------------------------------------------------------


@pytest.mark.parametrize(("kappa", "d"), [(0.5, 3), (5.0, 3), (10.0, 16), (30.0, 64), (2.0, 2)])
def test_vmf_entropy_matches_scipy(kappa, d):
    mu = torch.zeros(d, dtype=torch.float64)
    mu[0] = 1.0
    expected = scipy_stats.vonmises_fisher(mu.numpy(), kappa).entropy()
    assert float(vmf_entropy(kappa, d)) == pytest.approx(expected, abs=1e-8)


def test_vmf_entropy_closed_form_on_s2_and_its_uniform_limit():
    # d = 3: C = kappa / (4 pi sinh kappa), A = coth kappa - 1 / kappa.
    for kappa in (0.3, 2.0, 12.0):
        closed = -math.log(kappa / (4 * math.pi * math.sinh(kappa))) - kappa * (1 / math.tanh(kappa) - 1 / kappa)
        assert float(vmf_entropy(kappa, 3)) == pytest.approx(closed, rel=1e-10)
    for d in (3, 17, 256):
        assert float(vmf_entropy(1e-8, d)) == pytest.approx(sphere_log_area(d), abs=1e-6)


@pytest.mark.parametrize(("kappa", "d"), [(4.0, 2), (5.0, 3), (50.0, 20)])
def test_sample_vmf_has_the_mean_cosine_and_entropy_of_the_distribution(kappa, d):
    mu = F.normalize(torch.arange(1.0, d + 1, dtype=torch.float64), dim=0)
    z = sample_vmf(mu, kappa, 40000, gen(1))
    assert torch.allclose(z.norm(dim=1), torch.ones(40000, dtype=torch.float64), atol=1e-12)
    k = torch.tensor(kappa, dtype=torch.float64)
    mean_cos = float(torch.exp(log_bessel_iv(d / 2, k) - log_bessel_iv(d / 2 - 1, k)))
    cos = z @ mu
    assert float(cos.mean()) == pytest.approx(mean_cos, abs=4 * float(cos.std()) / 200)
    # Monte Carlo entropy -E log f(Z) against the closed form, within 4 standard errors.
    log_f = vmf_log_normalizer(k, d) + kappa * cos
    assert float(-log_f.mean()) == pytest.approx(float(vmf_entropy(kappa, d)), abs=4 * float(log_f.std()) / 200)
    # Directions orthogonal to mu are isotropic: the mean of the draws is A_d(kappa) mu.
    assert torch.allclose(z.mean(0), mean_cos * mu, atol=0.02)
    assert torch.equal(sample_vmf(mu, kappa, 10, gen(3)), sample_vmf(mu, kappa, 10, gen(3)))


# --- the KDE estimate and its ceiling ---------------------------------------------------------------


def test_the_kde_estimate_approaches_the_uniform_spheres_entropy_from_both_sides():
    # S^2, 4000 uniform points: resubstitution below, leave-one-out above the true log(4 pi), both close.
    z = unit(4000, 3)
    truth = math.log(4 * math.pi)
    resub, loo = float(vmf_kde_entropy(z, 20.0)), float(vmf_kde_entropy(z, 20.0, leave_one_out=True))
    assert resub < loo
    assert abs(resub - truth) < 0.02 and abs(loo - truth) < 0.02


def test_the_kde_estimate_of_a_vmf_sample_approaches_its_closed_form_entropy():
    # vMF(kappa = 10) on S^2; a narrow kernel (kappa = 200) estimates its entropy to 0.05 nats with 4000 draws.
    mu = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    z = sample_vmf(mu, 10.0, 4000, gen(2))
    truth = float(vmf_entropy(10.0, 3))
    assert abs(float(vmf_kde_entropy(z, 200.0, leave_one_out=True)) - truth) < 0.05


def test_the_ceiling_is_log_n_minus_log_k0_as_an_identity():
    # H_hat = ceiling - mean_n log(1 + sum_{m != n} exp(kappa (z_n . z_m - 1))), exactly.
    for n, d, kappa, seed in ((64, 8, 10.0, 0), (512, 128, 10.0, 1), (16, 3, 0.5, 2)):
        z = unit(n, d, seed)
        gram = kappa * (z @ z.T - 1.0)
        gram.fill_diagonal_(-math.inf)
        excess = torch.log1p(torch.exp(gram).sum(1)).mean()
        ceiling = vmf_kde_entropy_ceiling(n, kappa, d)
        assert float(vmf_kde_entropy(z, kappa)) == pytest.approx(float(ceiling - excess), abs=1e-9)
        assert float(vmf_kde_entropy(z, kappa)) < float(ceiling)
    # Two antipodal points: the excess is log(1 + e^{-2 kappa}); the ceiling is all but reached at kappa = 20.
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert float(vmf_kde_entropy_ceiling(2, 20.0, 2) - vmf_kde_entropy(z, 20.0)) == pytest.approx(
        math.log1p(math.exp(-40.0)), rel=1e-6)
    # The ceiling grows by log 8 from N = 512 to 4096.
    assert float(vmf_kde_entropy_ceiling(4096, 10.0, 128) - vmf_kde_entropy_ceiling(512, 10.0, 128)) == \
        pytest.approx(math.log(8), abs=1e-12)


def test_uniform_embeddings_in_128_dimensions_sit_at_the_ceiling_below_the_true_entropy():
    # The chapter's case: kappa = 10, d = 128; the estimates are within 0.25 nats of the ceiling.
    truth = sphere_log_area(128)
    assert truth == pytest.approx(-127.0535, abs=1e-4)
    for n, seed in ((512, 0), (4096, 1)):
        z = unit(n, 128, seed)
        estimate, ceiling = float(vmf_kde_entropy(z, 10.0)), float(vmf_kde_entropy_ceiling(n, 10.0, 128))
        assert 0 < ceiling - estimate < 0.25
        assert estimate < truth  # the estimator cannot reach the truth at these N


# --- the ER bound and loss ------------------------------------------------------------------------------


def test_the_er_bound_is_infonce_with_the_anchors_own_view_as_negatives():
    z1, z2 = unit(32, 6, 0), F.normalize(unit(32, 6, 0) + 0.3 * unit(32, 6, 1), dim=1)
    kappa = 4.0
    direct = math.log(32) + (kappa * (z1 * z2).sum(1) - torch.logsumexp(kappa * z1 @ z1.T, dim=1)).mean()
    assert float(er_bound(z1, z2, kappa)) == pytest.approx(float(direct), abs=1e-10)
    loo = math.log(31) + (kappa * (z1 * z2).sum(1)
                          - torch.logsumexp((kappa * z1 @ z1.T).fill_diagonal_(-math.inf), dim=1)).mean()
    assert float(er_bound(z1, z2, kappa, leave_one_out=True)) == pytest.approx(float(loo), abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nt_xent_is_exactly_log_2n_minus_1_minus_a_pooled_leave_one_out_er_bound(seed):
    # NT-Xent(tau) = log(2N - 1) - [H_loo(pooled 2N, kappa = 1/tau) - L_rec(z1, z2, kappa)], exactly.
    g = gen(seed)
    n, d, tau = 24, 10, 0.3
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    pooled = torch.cat([u1, u2])
    er = vmf_kde_entropy(pooled, 1 / tau, leave_one_out=True) - vmf_reconstruction_loss(u1, u2, 1 / tau)
    assert float(nt_xent_loss(z1, z2, tau)) == pytest.approx(math.log(2 * n - 1) - float(er), abs=1e-10)


def test_er_loss_is_minus_the_average_er_bound_and_weights_the_entropy():
    z1, z2 = torch.randn(20, 5, generator=gen(0), dtype=torch.float64), torch.randn(20, 5, generator=gen(1),
                                                                                  dtype=torch.float64)
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    mean_bound = 0.5 * (er_bound(u1, u2, 3.0) + er_bound(u2, u1, 3.0))
    assert float(er_loss(z1, z2, 3.0)) == pytest.approx(-float(mean_bound), abs=1e-10)
    entropy = 0.5 * (vmf_kde_entropy(u1, 3.0) + vmf_kde_entropy(u2, 3.0))
    assert float(er_loss(z1, z2, 3.0, entropy_weight=0.0) - er_loss(z1, z2, 3.0, entropy_weight=2.0)) == \
        pytest.approx(2 * float(entropy), abs=1e-10)


def test_er_gradients_are_finite_at_d_2048():
    z1 = torch.randn(64, 2048, generator=gen(0), requires_grad=True)
    z2 = torch.randn(64, 2048, generator=gen(1), requires_grad=True)
    loss = er_loss(z1, z2, 10.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
    assert float(z1.grad.abs().max()) > 0
    assert math.isfinite(float(vmf_kde_entropy_ceiling(64, 10.0, 2048)))


def test_categorical_terms():
    k = 6
    uniform_use = torch.eye(k, dtype=torch.float64).repeat(3, 1)  # every prototype used equally, one-hot
    assert float(categorical_entropy_of_mean(uniform_use)) == pytest.approx(math.log(k), abs=1e-12)
    collapsed = torch.zeros(10, k, dtype=torch.float64)
    collapsed[:, 2] = 1
    assert float(categorical_entropy_of_mean(collapsed)) == pytest.approx(0.0, abs=1e-12)
    p = torch.softmax(torch.randn(9, k, generator=gen(0), dtype=torch.float64), 1)
    q = torch.softmax(torch.randn(9, k, generator=gen(1), dtype=torch.float64), 1)
    by_hand = -0.5 * ((p * q.log()).sum(1) + (q * p.log()).sum(1)).mean()
    assert float(categorical_reconstruction_loss(p, q)) == pytest.approx(float(by_hand), abs=1e-12)
    # Against a code itself: the cross-entropy is the code's entropy, its minimum over the second code.
    assert float(categorical_reconstruction_loss(p, p)) == pytest.approx(float(-(p * p.log()).sum(1).mean()))
    with pytest.raises(ValueError, match="probability rows"):
        categorical_entropy_of_mean(torch.randn(4, 3))


# --- the methods ---------------------------------------------------------------------------------------


def _backbone():
    torch.manual_seed(0)
    return MLP(12, [16], 8)


def test_er_byol_reconstruction_is_byols_loss_rescaled():
    # Same initialisation: ER-BYOL's reconstruction = kappa/4 (BYOL loss - 4) - log C_d(kappa).
    options = dict(dim=6, hidden_dim=16, pred_dim=16)
    x1, x2 = torch.randn(10, 12, generator=gen(0)), torch.randn(10, 12, generator=gen(1))
    torch.manual_seed(3)
    byol = BYOL(_backbone(), **options)
    torch.manual_seed(3)
    er = ERBYOL(_backbone(), kappa=5.0, **options)
    er.load_state_dict(byol.state_dict())
    byol_value, er_logs = byol.loss(x1, x2)[0].detach(), er.loss(x1, x2)[1]
    expected = 5.0 / 4 * (float(byol_value) - 4) - float(vmf_log_normalizer(5.0, 6))
    assert float(er_logs["er_reconstruction"]) == pytest.approx(expected, abs=1e-4)


def test_er_simclr_loss_is_er_loss_of_simclrs_projections():
    torch.manual_seed(0)
    simclr = SimCLR(_backbone(), dim=6, hidden_dim=16)
    er = ERSimCLR(_backbone(), dim=6, hidden_dim=16, kappa=2.0, entropy_weight=0.5)
    er.load_state_dict(simclr.state_dict(), strict=True)
    x1, x2 = torch.randn(10, 12, generator=gen(0)), torch.randn(10, 12, generator=gen(1))
    simclr.eval(), er.eval()
    z1, z2 = simclr.projections(x1, x2)
    loss, logs = er.loss(x1, x2)
    assert float(loss.detach()) == pytest.approx(float(er_loss(z1, z2, 2.0, entropy_weight=0.5).detach()), abs=1e-5)
    assert float(loss.detach()) == pytest.approx(float(-0.5 * logs["er_entropy"] + logs["er_reconstruction"]), abs=1e-5)


def test_er_swav_rewards_equipartition_and_trains():
    torch.manual_seed(0)
    method = ERSwAV(_backbone(), dim=6, hidden_dim=16, num_prototypes=5)
    x1 = torch.randn(32, 12, generator=gen(0))
    loss, logs = method.loss(x1, x1 + 0.1 * torch.randn(32, 12, generator=gen(1)))
    loss.backward()
    assert 0 < float(logs["er_entropy"]) <= math.log(5) + 1e-6
    assert all(torch.isfinite(p.grad).all() for p in method.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match="queue_length"):
        ERSwAV(_backbone(), dim=6, hidden_dim=16, num_prototypes=5, queue_length=8)


def test_make_er_method_builds_the_variants_and_names_wrong_options():
    assert isinstance(make_er_method("byol", _backbone(), dim=6, hidden_dim=16, pred_dim=16, kappa=3.0), ERBYOL)
    with pytest.raises(ValueError, match="simclr does not take pred_dim"):
        make_er_method("simclr", _backbone(), pred_dim=3)
    with pytest.raises(ValueError, match="name"):
        make_er_method("simsiam", _backbone())


# --- the repository's constant ----------------------------------------------------------------------------


def test_the_repository_constant_agrees_where_the_bessel_value_is_large_and_not_beyond():
    # d = 8, kappa = 10: I_3(10) ~ 1.6e3 >> 1e-7, the two agree to 1e-9 relative.
    assert repository_vmf_log_normalizer(10.0, 8) == pytest.approx(float(vmf_log_normalizer(10.0, 8)), rel=1e-9)
    shifts = {d: float(vmf_log_normalizer(10.0, d)) - repository_vmf_log_normalizer(10.0, d)
              for d in (64, 128, 256, 512)}
    # The entropy is off by these (the issue's +11.31, +83, +271, +735 nats).
    assert [round(shifts[d], 2) for d in (64, 128, 256, 512)] == [11.31, 83.11, 270.84, 735.09]
    # For d >= 512 SciPy's iv underflows: only the 1e-7 is left.
    from scipy.special import iv

    assert iv(255, 10.0) == 0.0


def test_the_repository_entropy_of_uniform_128d_embeddings_is_the_papers_plateau():
    # kappa = 10, d = 128: -45.48 at batch 4096 and -47.35 at batch 512 with the repository's constant,
    # against -128.59 / -130.46 with the correct one and the truth log|S^127| = -127.05.
    for n, seed, buggy, correct in ((4096, 1, -45.48, -128.59), (512, 0, -47.35, -130.46)):
        z = unit(n, 128, seed)
        assert float(repository_vmf_kde_entropy(z, 10.0)) == pytest.approx(buggy, abs=0.02)
        assert float(vmf_kde_entropy(z, 10.0)) == pytest.approx(correct, abs=0.02)


def test_the_docstring_examples_run():
    import doctest

    from jessl_lite import entropy
    from jessl_lite.experiments import er

    for module in (entropy, er):
        failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0 and tried >= 1


def test_chapter_7_exercise_references_agree_with_pen_and_paper():
    from scipy.special import iv

    from jessl_lite.exercises import EXERCISES

    # 7.1: log N - log C_16(10) - 10, with SciPy's iv (accurate at this order).
    log_c = 7 * math.log(10) - 8 * math.log(2 * math.pi) - math.log(iv(7, 10.0))
    assert EXERCISES["7.1"].reference()[0] == pytest.approx(math.log(256) - log_c - 10, abs=1e-9)
    assert EXERCISES["7.2"].reference() == pytest.approx((0.5 * math.log(1e4), 0.5 * math.log(101)), abs=1e-12)
    # 7.3: log(I_47(10) + 1e-7) - log I_47(10); I_47(10) ~ 4.6e-27 is still a normal double.
    assert EXERCISES["7.3"].reference()[0] == pytest.approx(math.log(iv(47, 10.0) + 1e-7) - math.log(iv(47, 10.0)),
                                                           rel=1e-9)
    k = 4.0
    closed = math.log(4 * math.pi * math.sinh(k) / k) - k / math.tanh(k) + 1
    assert EXERCISES["7.4"].reference()[0] == pytest.approx(closed, abs=1e-10)


def test_the_er_monitor_refuses_an_encoder_it_cannot_switch_to_eval_mode():
    from jessl_lite.methods import make_method
    from jessl_lite.monitors import er_monitor
    from jessl_lite.nets import ConvNet
    from jessl_lite.views import mnist_views

    images = torch.randint(0, 256, (16, 1, 28, 28), generator=gen(0), dtype=torch.uint8)
    method = make_method("simclr", ConvNet(1, width=4, depth=2), dim=4, hidden_dim=8)
    ok = er_monitor(images, mnist_views(), encode=lambda m: nn.Sequential(m.backbone, m.projector))(method, 0)
    assert ok["er_entropy"] <= ok["er_ceiling"] + 1e-9 and ok["er_bound"] == ok["er_entropy"] - ok["er_reconstruction"]
    running = {k: v.clone() for k, v in method.projector.state_dict().items()}
    with pytest.raises(TypeError, match="nn.Module or a bound method"):
        er_monitor(images, mnist_views(), encode=lambda m: lambda x: m.projector(m.backbone(x)))(method, 0)
    # The refused call measured nothing: BatchNorm's running statistics are untouched.
    assert all(torch.equal(v, method.projector.state_dict()[k]) for k, v in running.items())
