"""jessl_lite.losses: every loss against a brute-force loop over its formula, its value on collapsed
and on random inputs (closed forms), its invariances and its gradient (gradcheck in float64)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jessl_lite.experiments import gaussian_ib
from jessl_lite.losses import (
    barlow_twins_loss,
    barlow_twins_terms,
    byol_loss,
    cross_correlation,
    negative_cosine_similarity,
    normalized_mse,
    nt_xent_loss,
    simsiam_loss,
    sinkhorn_knopp,
    swav_loss,
    vicreg_loss,
    vicreg_terms,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _randn(seed: int, *shape: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- brute-force references: plain Python/numpy loops over the papers' formulas -------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt((v**2).sum())


def brute_nt_xent(z1: np.ndarray, z2: np.ndarray, tau: float) -> float:
    n = len(z1)
    u = [_unit(v) for v in list(z1) + list(z2)]
    total = 0.0
    for i in range(2 * n):
        positive = i + n if i < n else i - n
        denominator = sum(math.exp(u[i] @ u[j] / tau) for j in range(2 * n) if j != i)
        total += -(u[i] @ u[positive] / tau - math.log(denominator))
    return total / (2 * n)


def brute_sinkhorn(scores: np.ndarray, eps: float, iterations: int) -> np.ndarray:
    b, k = scores.shape
    q = np.exp(scores / eps)  # (B, K); the reference code's Q is its transpose
    q = q / q.sum()
    for _ in range(iterations):
        for proto in range(k):  # every prototype gets total mass 1/K
            q[:, proto] = q[:, proto] / q[:, proto].sum() / k
        for sample in range(b):  # every sample gets total mass 1/B
            q[sample] = q[sample] / q[sample].sum() / b
    return q * b


def brute_swav(s1: np.ndarray, s2: np.ndarray, tau: float, eps: float, iterations: int) -> float:
    q1, q2 = brute_sinkhorn(s1, eps, iterations), brute_sinkhorn(s2, eps, iterations)
    total = 0.0
    for b in range(len(s1)):
        log_p1 = s1[b] / tau - math.log(sum(math.exp(v / tau) for v in s1[b]))
        log_p2 = s2[b] / tau - math.log(sum(math.exp(v / tau) for v in s2[b]))
        total += -(q2[b] @ log_p1 + q1[b] @ log_p2) / 2
    return total / len(s1)


def brute_barlow(z1: np.ndarray, z2: np.ndarray, lambd: float, eps: float) -> float:
    n, d = z1.shape

    def standardized(z, i):
        mean = sum(z[b, i] for b in range(n)) / n
        var = sum((z[b, i] - mean) ** 2 for b in range(n)) / n  # biased, as BatchNorm
        return [(z[b, i] - mean) / math.sqrt(var + eps) for b in range(n)]

    a = [standardized(z1, i) for i in range(d)]
    c = [[sum(a[i][b] * s for b, s in enumerate(standardized(z2, j))) / n for j in range(d)] for i in range(d)]
    on = sum((1 - c[i][i]) ** 2 for i in range(d))
    off = sum(c[i][j] ** 2 for i in range(d) for j in range(d) if i != j)
    return on + lambd * off


def brute_vicreg(z1: np.ndarray, z2: np.ndarray, eps: float = 1e-4) -> tuple[float, float, float]:
    n, d = z1.shape
    invariance = sum((z1[b, i] - z2[b, i]) ** 2 for b in range(n) for i in range(d)) / (n * d)
    variance = covariance = 0.0
    for z in (z1, z2):
        mean = [sum(z[b, i] for b in range(n)) / n for i in range(d)]
        cov = [[sum((z[b, i] - mean[i]) * (z[b, j] - mean[j]) for b in range(n)) / (n - 1) for j in range(d)]
               for i in range(d)]
        variance += sum(max(0.0, 1 - math.sqrt(cov[i][i] + eps)) for i in range(d)) / d / 2
        covariance += sum(cov[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d
    return invariance, variance, covariance


# --- NT-Xent (SimCLR) -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), d=st.integers(1, 5), tau=st.floats(0.05, 2.0))
def test_nt_xent_matches_the_brute_force_loop(seed, n, d, tau):
    z1, z2 = _randn(seed, n, d), _randn(seed + 1, n, d)
    assert float(nt_xent_loss(z1, z2, tau)) == pytest.approx(brute_nt_xent(z1.numpy(), z2.numpy(), tau), rel=1e-9)


@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_nt_xent_of_a_collapsed_batch_is_log_2n_minus_1(n):
    z = torch.ones(n, 5) * torch.tensor([1.0, -2.0, 0.5, 3.0, 1.0])
    for tau in (0.1, 0.5, 1.0):
        assert float(nt_xent_loss(z, z, tau)) == pytest.approx(math.log(2 * n - 1), abs=1e-5)


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_nt_xent_of_orthogonal_samples_with_identical_views(tau):
    # Positive logit 1/tau, the 2N - 2 negatives' logits 0: L = log(1 + (2N - 2) exp(-1/tau)).
    n = 6
    u = torch.eye(n, dtype=torch.float64)
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert float(nt_xent_loss(u, 3 * u, tau)) == pytest.approx(expected, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 16))
def test_nt_xent_of_random_inputs_is_within_twice_the_largest_logit_of_log_2n_minus_1(seed, n):
    # Every logit lies in [-m, m], so each anchor's cross-entropy lies within 2m of log(2N - 1).
    z1, z2, tau = _randn(seed, n, 256), _randn(seed + 1, n, 256), 0.5
    u = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    m = (u @ u.T).fill_diagonal_(0).abs().max() / tau
    assert abs(float(nt_xent_loss(z1, z2, tau)) - math.log(2 * n - 1)) <= 2 * float(m) + 1e-12


def test_nt_xent_ignores_scale_and_order_of_pairs():
    z1, z2 = _randn(0, 10, 4), _randn(1, 10, 4)
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(2))
    base = nt_xent_loss(z1, z2)
    torch.testing.assert_close(nt_xent_loss(7 * z1, 0.1 * z2), base)
    torch.testing.assert_close(nt_xent_loss(z1[permutation], z2[permutation]), base)
    torch.testing.assert_close(nt_xent_loss(z2, z1), base)


# --- Sinkhorn-Knopp and SwAV -------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), b=st.integers(1, 7), k=st.integers(1, 6), iterations=st.integers(1, 5))
def test_sinkhorn_matches_the_brute_force_loop(seed, b, k, iterations):
    scores = torch.nn.functional.normalize(_randn(seed, b, 3), dim=1) @ torch.nn.functional.normalize(
        _randn(seed + 1, k, 3), dim=1
    ).T
    codes = sinkhorn_knopp(scores, 0.05, iterations)
    np.testing.assert_allclose(codes.numpy(), brute_sinkhorn(scores.numpy(), 0.05, iterations), rtol=1e-9)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(b, dtype=torch.float64))  # each sample gives 1


def test_converged_sinkhorn_is_the_entropic_transport_plan():
    # Sinkhorn's theorem: the plan with marginals (1 per sample, B/K per prototype) that has the
    # form diag(a) exp(S / eps) diag(b) is unique, and it maximises <Q, S> + eps H(Q).
    b, k, eps = 12, 4, 0.05
    scores = torch.nn.functional.normalize(_randn(3, b, 5), dim=1) @ torch.nn.functional.normalize(
        _randn(4, k, 5), dim=1
    ).T
    codes = sinkhorn_knopp(scores, eps, iterations=2000)
    torch.testing.assert_close(codes.sum(dim=0), torch.full((k,), b / k, dtype=torch.float64), rtol=0, atol=1e-9)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(b, dtype=torch.float64))
    # log Q - S / eps = row term + column term: its double-centred residual vanishes.
    r = codes.log() - scores / eps
    residual = r - r.mean(0, keepdim=True) - r.mean(1, keepdim=True) + r.mean()
    assert float(residual.abs().max()) < 1e-9
    # Three iterations (the paper's) move the shares from the softmax's towards B/K, but on a
    # small batch with eps = 0.05 they stay far from equal: convergence is slow for small eps.
    def worst_share(q: torch.Tensor) -> float:
        return float((q.sum(dim=0) / (b / k) - 1).abs().max())

    softmax = torch.softmax(scores / eps, dim=1)
    assert 0.5 < worst_share(sinkhorn_knopp(scores, eps, iterations=3)) < worst_share(softmax)


def test_sinkhorn_codes_of_constant_scores_are_uniform_and_carry_no_gradient():
    scores = torch.full((5, 4), 0.3, requires_grad=True)
    codes = sinkhorn_knopp(scores)
    torch.testing.assert_close(codes, torch.full((5, 4), 0.25))
    assert not codes.requires_grad


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), b=st.integers(1, 6), k=st.integers(2, 6))
def test_swav_loss_matches_the_brute_force_loop(seed, b, k):
    s1, s2 = torch.tanh(_randn(seed, b, k)), torch.tanh(_randn(seed + 1, b, k))
    value = swav_loss(s1, s2, temperature=0.1, epsilon=0.05, iterations=3)
    assert float(value) == pytest.approx(brute_swav(s1.numpy(), s2.numpy(), 0.1, 0.05, 3), rel=1e-9)


@pytest.mark.parametrize("k", [2, 10, 3000])
def test_swav_loss_of_uniform_predictions_is_log_k(k):
    constant = torch.full((8, k), 0.7)
    assert float(swav_loss(constant, constant)) == pytest.approx(math.log(k), rel=1e-6)


def test_swav_loss_with_one_uniform_view_has_a_log_k_half():
    k, tau = 6, 0.1
    s1 = torch.full((5, k), 0.2, dtype=torch.float64)
    s2 = torch.tanh(_randn(7, 5, k))
    # The uniform view predicts the other's codes at cost log K; the other view predicts uniform codes.
    expected = 0.5 * math.log(k) + 0.5 * float(-(torch.log_softmax(s2 / tau, dim=1)).mean(dim=1).mean())
    assert float(swav_loss(s1, s2, temperature=tau)) == pytest.approx(expected, rel=1e-12)


def test_swav_gradient_is_softmax_minus_the_other_views_codes():
    b, k, tau = 6, 5, 0.1
    s1 = torch.tanh(_randn(8, b, k)).requires_grad_()
    s2 = torch.tanh(_randn(9, b, k))
    swav_loss(s1, s2, temperature=tau).backward()
    expected = (torch.softmax(s1.detach() / tau, dim=1) - sinkhorn_knopp(s2)) / (2 * b * tau)
    torch.testing.assert_close(s1.grad, expected)


def test_swav_queue_joins_the_sinkhorn_problem_of_its_view():
    b, k = 4, 5
    s1, s2 = torch.tanh(_randn(10, b, k)), torch.tanh(_randn(11, b, k))
    q1, q2 = torch.tanh(_randn(12, 7, k)), torch.tanh(_randn(13, 7, k))
    with_queue = swav_loss(s1, s2, queue_scores1=q1, queue_scores2=q2)
    codes1 = sinkhorn_knopp(torch.cat([q1, s1]))[-b:]
    codes2 = sinkhorn_knopp(torch.cat([q2, s2]))[-b:]
    log_p1, log_p2 = torch.log_softmax(s1 / 0.1, dim=1), torch.log_softmax(s2 / 0.1, dim=1)
    expected = -0.5 * ((codes2 * log_p1).sum(1).mean() + (codes1 * log_p2).sum(1).mean())
    torch.testing.assert_close(with_queue, expected)
    assert not torch.allclose(with_queue, swav_loss(s1, s2))


# --- BYOL's normalized MSE and SimSiam's negative cosine ----------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), d=st.integers(1, 5), scale=st.floats(0.01, 100.0))
def test_normalized_mse_matches_the_brute_force_loop_and_ignores_scale(seed, n, d, scale):
    p, z = _randn(seed, n, d), _randn(seed + 1, n, d)
    expected = sum(((_unit(a) - _unit(b)) ** 2).sum() for a, b in zip(p.numpy(), z.numpy(), strict=True)) / n
    assert float(normalized_mse(p, z)) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert float(normalized_mse(scale * p, z)) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert float(normalized_mse(p, z)) == pytest.approx(2 + 2 * float(negative_cosine_similarity(p, z)), abs=1e-12)


def test_normalized_mse_of_aligned_orthogonal_and_opposite_pairs():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(normalized_mse(p, 3 * p)) == pytest.approx(0.0, abs=1e-7)  # collapse-blind: the minimum
    assert float(normalized_mse(p, p.flip(1))) == pytest.approx(2.0)
    assert float(normalized_mse(p, -p)) == pytest.approx(4.0)


def _mean_cosine(p: np.ndarray, z: np.ndarray) -> float:
    return sum(_unit(a) @ _unit(b) for a, b in zip(p, z, strict=True)) / len(p)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), d=st.integers(1, 5))
def test_simsiam_and_byol_losses_match_the_hand_written_formulas(seed, n, d):
    p1, p2, z1, z2 = (_randn(seed + k, n, d) for k in range(4))
    a = [t.numpy() for t in (p1, p2, z1, z2)]
    # SimSiam: 1/2 D(p1, z2) + 1/2 D(p2, z1), D the negative mean cosine (Chen & He 2021, eq. 4).
    simsiam = -0.5 * _mean_cosine(a[0], a[3]) - 0.5 * _mean_cosine(a[1], a[2])
    assert float(simsiam_loss(p1, p2, z1, z2)) == pytest.approx(simsiam, rel=1e-9, abs=1e-12)
    assert float(simsiam_loss(p1, p2, z1, z2, stop_gradient=False)) == pytest.approx(simsiam, rel=1e-9, abs=1e-12)
    # BYOL: ||p1/|p1| - t2/|t2| ||^2 + ||p2/|p2| - t1/|t1| ||^2, averaged over the batch.
    byol = sum(((_unit(p) - _unit(t)) ** 2).sum() for p, t in zip(a[0], a[3], strict=True)) / n + sum(
        ((_unit(p) - _unit(t)) ** 2).sum() for p, t in zip(a[1], a[2], strict=True)) / n
    assert float(byol_loss(p1, p2, z1, z2)) == pytest.approx(byol, rel=1e-9, abs=1e-12)


def test_simsiam_and_byol_losses_of_aligned_and_opposite_pairs():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(simsiam_loss(p, p, 3 * p, 3 * p)) == pytest.approx(-1.0)  # collapse-blind: the minimum
    assert float(simsiam_loss(p, p, -p, -p)) == pytest.approx(1.0)
    assert float(byol_loss(p, p, 3 * p, 3 * p)) == pytest.approx(0.0, abs=1e-7)
    assert float(byol_loss(p, p, -p, -p)) == pytest.approx(8.0)


def test_stop_gradient_keeps_the_gradient_from_the_targets():
    p1, p2, z1, z2 = (_randn(50 + k, 5, 3).requires_grad_() for k in range(4))
    grads = torch.autograd.grad(simsiam_loss(p1, p2, z1, z2), (p1, p2, z1, z2), allow_unused=True)
    assert grads[0] is not None and grads[1] is not None and grads[2] is None and grads[3] is None
    grads = torch.autograd.grad(byol_loss(p1, p2, z1, z2), (p1, p2, z1, z2), allow_unused=True)
    assert grads[0] is not None and grads[1] is not None and grads[2] is None and grads[3] is None
    # Without stop-gradient, the target z2 gets D(p1, z2)'s gradient: -1/2 d/dz2 mean cos(p1, z2).
    _, _, g1, g2 = torch.autograd.grad(simsiam_loss(p1, p2, z1, z2, stop_gradient=False), (p1, p2, z1, z2))
    expected = torch.autograd.grad(-0.5 * torch.nn.functional.cosine_similarity(p1, z2).mean(), z2)[0]
    torch.testing.assert_close(g2, expected)
    assert g1.abs().sum() > 0


def test_barlow_twins_and_vicreg_return_their_terms_on_request():
    z1, z2 = _randn(60, 8, 4), _randn(61, 8, 4)
    loss, terms = barlow_twins_loss(z1, z2, 0.3, return_terms=True)
    invariance, redundancy = barlow_twins_terms(cross_correlation(z1, z2))
    assert set(terms) == {"invariance", "redundancy"}
    torch.testing.assert_close(terms["invariance"], invariance)
    torch.testing.assert_close(terms["redundancy"], redundancy)
    torch.testing.assert_close(loss, invariance + 0.3 * redundancy)
    torch.testing.assert_close(barlow_twins_loss(z1, z2, 0.3), loss)  # the plain call is unchanged
    loss, terms = vicreg_loss(z1, z2, 2.0, 3.0, 4.0, return_terms=True)
    s, v, c = brute_vicreg(z1.numpy(), z2.numpy())
    assert list(terms) == ["invariance", "variance", "covariance"]
    assert [float(t) for t in terms.values()] == pytest.approx([s, v, c], rel=1e-9)
    assert float(loss) == pytest.approx(2 * s + 3 * v + 4 * c, rel=1e-9)
    torch.testing.assert_close(vicreg_loss(z1, z2, 2.0, 3.0, 4.0), loss)


# --- Barlow Twins --------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 6), d=st.integers(1, 4), lambd=st.floats(0.0, 1.0))
def test_barlow_twins_matches_the_brute_force_loop(seed, n, d, lambd):
    z1, z2 = _randn(seed, n, d), _randn(seed + 1, n, d)
    expected = brute_barlow(z1.numpy(), z2.numpy(), lambd, 1e-5)
    assert float(barlow_twins_loss(z1, z2, lambd)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("d", [1, 4, 32])
def test_barlow_twins_of_a_collapsed_batch_is_d(d):
    z = torch.ones(16, d) * torch.arange(d)
    assert float(barlow_twins_loss(z, z)) == pytest.approx(d)
    torch.testing.assert_close(cross_correlation(z, z), torch.zeros(d, d))


def test_barlow_twins_is_zero_for_identical_decorrelated_views():
    centered = _randn(5, 32, 4) - _randn(5, 32, 4).mean(0)
    q, _ = torch.linalg.qr(centered - centered.mean(0))  # orthonormal columns, each of mean 0
    z = q * math.sqrt(32)  # biased variance 1 per column, correlation 0 across columns
    assert float(barlow_twins_loss(z, z, eps=0.0)) == pytest.approx(0.0, abs=1e-20)


def test_barlow_twins_of_independent_random_views_matches_its_expectation():
    # E[r^2] = 1/(N-1) for the Pearson correlation of N independent Gaussian pairs, so
    # E[L] = D (1 + 1/(N-1)) + lambda D (D-1) / (N-1).
    n, d, lambd, reps = 16, 4, 0.5, 2000
    g = torch.Generator().manual_seed(0)
    values = torch.stack([
        barlow_twins_loss(torch.randn(n, d, generator=g, dtype=torch.float64),
                          torch.randn(n, d, generator=g, dtype=torch.float64), lambd, eps=0.0)
        for _ in range(reps)
    ])
    expected = d * (1 + 1 / (n - 1)) + lambd * d * (d - 1) / (n - 1)
    standard_error = float(values.std()) / math.sqrt(reps)
    assert abs(float(values.mean()) - expected) < 4 * standard_error


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_barlow_twins_is_invariant_to_per_feature_affine_maps_of_either_input(seed):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(32, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.7 * torch.randn(32, 5, generator=g, dtype=torch.float64)
    scale1, scale2 = (torch.rand(5, generator=g, dtype=torch.float64) * 10 + 0.05 for _ in range(2))
    shift1, shift2 = (torch.randn(5, generator=g, dtype=torch.float64) * 5 for _ in range(2))
    before = barlow_twins_loss(z1, z2, eps=0.0)
    assert float(barlow_twins_loss(z1 * scale1 + shift1, z2, eps=0.0)) == pytest.approx(float(before), rel=1e-10)
    assert float(barlow_twins_loss(z1, z2 * scale2 + shift2, eps=0.0)) == pytest.approx(float(before), rel=1e-10)
    # ...but not to a sign flip of one feature of one view: C_ii changes sign.
    flip = torch.ones(5, dtype=torch.float64)
    flip[0] = -1
    assert float(barlow_twins_loss(z1 * flip, z2, eps=0.0)) > float(before) + 1.0


def test_barlow_twins_terms_and_gaussian_ib_share_one_implementation():
    z1, z2 = _randn(20, 50, 3), _randn(21, 50, 3)
    torch.testing.assert_close(gaussian_ib.cross_correlation(z1, z2), cross_correlation(z1, z2, eps=1e-12))
    c = torch.tensor([[0.5, 0.2], [-0.1, 1.0]])
    invariance, redundancy = barlow_twins_terms(c)
    assert (float(invariance), float(redundancy)) == pytest.approx((0.25, 0.05))
    assert barlow_twins_loss(z1, z2, 0.3).item() == pytest.approx(
        sum(t.item() * w for t, w in zip(barlow_twins_terms(cross_correlation(z1, z2)), (1, 0.3), strict=True))
    )


# --- VICReg --------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 6), d=st.integers(1, 4), spread=st.floats(0.1, 3.0))
def test_vicreg_terms_match_the_brute_force_loop(seed, n, d, spread):
    z1, z2 = spread * _randn(seed, n, d), spread * _randn(seed + 1, n, d)
    terms = vicreg_terms(z1, z2)
    for value, expected in zip(terms, brute_vicreg(z1.numpy(), z2.numpy()), strict=True):
        assert float(value) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    weighted = 25 * terms[0] + 25 * terms[1] + terms[2]
    assert float(vicreg_loss(z1, z2)) == pytest.approx(float(weighted), rel=1e-12)


@pytest.mark.parametrize("d", [1, 8, 64])
def test_vicreg_of_a_collapsed_batch_is_25_times_0_99(d):
    z = torch.ones(10, d) * 3.0
    invariance, variance, covariance = vicreg_terms(z, z)
    assert (float(invariance), float(covariance)) == (0.0, 0.0)
    assert float(variance) == pytest.approx(1 - math.sqrt(1e-4))
    assert float(vicreg_loss(z, z)) == pytest.approx(25 * 0.99)


def test_vicreg_variance_hinge_on_a_batch_of_known_spread():
    # Columns of +-a over an even batch have unbiased variance a^2 N / (N - 1).
    n, a = 8, 0.5
    signs = torch.tensor([1.0, -1.0] * (n // 2), dtype=torch.float64)[:, None]
    z = signs * torch.tensor([a, 2.0], dtype=torch.float64)  # feature 1 is spread enough: no hinge
    _, variance, covariance = vicreg_terms(z, z)
    std = math.sqrt(a**2 * n / (n - 1) + 1e-4)
    # Per view the hinge averages (1 - std, 0) over D = 2; the two views are alike and weigh 1/2 each.
    assert float(variance) == pytest.approx((1 - std) / 2, rel=1e-12)
    # The columns are perfectly correlated: Cov_12 = 2a N/(N-1), counted twice per view, / D, two views.
    cov_12 = 2 * a * n / (n - 1)
    assert float(covariance) == pytest.approx(2 * (2 * cov_12**2 / 2), rel=1e-12)


def test_vicreg_of_independent_random_views_matches_its_expectation():
    # z ~ N(0, s^2 I) with s = 3: the hinge is 0 (every std is far above 1), the MSE of two
    # independent views is 2 s^2, and E[Cov_ij^2] = s^4 / (N - 1) for i != j, so
    # E[L] = 25 * 2 s^2 + 2 s^4 (D - 1) / (N - 1).
    n, d, s, reps = 32, 6, 3.0, 400
    g = torch.Generator().manual_seed(1)
    values, hinges = [], []
    for _ in range(reps):
        z1 = s * torch.randn(n, d, generator=g, dtype=torch.float64)
        z2 = s * torch.randn(n, d, generator=g, dtype=torch.float64)
        invariance, variance, covariance = vicreg_terms(z1, z2)
        hinges.append(float(variance))
        values.append(float(25 * invariance + 25 * variance + covariance))
    expected = 25 * 2 * s**2 + 2 * s**4 * (d - 1) / (n - 1)
    assert max(hinges) == 0.0
    assert abs(np.mean(values) - expected) < 4 * np.std(values) / math.sqrt(reps)


# --- gradients, precision, bad input ----------------------------------------------------------------


def test_gradcheck_in_float64():
    z1 = _randn(30, 5, 3).requires_grad_()
    z2 = _randn(31, 5, 3).requires_grad_()
    for loss in (
        lambda a, b: nt_xent_loss(a, b, 0.3),
        normalized_mse,
        negative_cosine_similarity,
        lambda a, b: barlow_twins_loss(a, b, 0.2),
        lambda a, b: vicreg_loss(a, b),
    ):
        assert torch.autograd.gradcheck(loss, (z1, z2), eps=1e-6, atol=1e-6)
    p1, p2 = _randn(32, 5, 3).requires_grad_(), _randn(33, 5, 3).requires_grad_()
    free_simsiam = functools.partial(simsiam_loss, stop_gradient=False)
    assert torch.autograd.gradcheck(free_simsiam, (p1, p2, z1, z2), eps=1e-6, atol=1e-6)
    # With stop-gradient the targets are constants of the gradient: check it with respect to p only.
    for loss in (byol_loss, simsiam_loss):
        assert torch.autograd.gradcheck(lambda a, b, loss=loss: loss(a, b, z1, z2), (p1, p2), eps=1e-6, atol=1e-6)


def test_losses_compute_in_full_precision_inside_autocast():
    z1, z2 = _randn(40, 64, 32, dtype=torch.float32), _randn(41, 64, 32, dtype=torch.float32)
    exact = [nt_xent_loss(z1, z2), barlow_twins_loss(z1, z2), vicreg_loss(z1, z2)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = [nt_xent_loss(z1, z2), barlow_twins_loss(z1, z2), vicreg_loss(z1, z2)]
    for a, b in zip(exact, mixed, strict=True):
        assert b.dtype == torch.float32
        torch.testing.assert_close(a, b)


def test_bad_arguments_name_themselves():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="z2"):
        nt_xent_loss(z, torch.randn(4, 2))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(z, z, temperature=0.0)
    with pytest.raises(TypeError, match="z1"):
        nt_xent_loss(z.numpy(), z)
    with pytest.raises(TypeError, match="z1"):
        barlow_twins_loss(torch.ones(4, 3, dtype=torch.long), z)
    with pytest.raises(ValueError, match="z1"):
        barlow_twins_loss(torch.randn(4), torch.randn(4))
    with pytest.raises(ValueError, match="lambd"):
        barlow_twins_loss(z, z, lambd=-1.0)
    with pytest.raises(ValueError, match="c"):
        barlow_twins_terms(torch.ones(2, 3))
    with pytest.raises(ValueError, match="N >= 2"):
        vicreg_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="std_coeff"):
        vicreg_loss(z, z, std_coeff=float("nan"))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_knopp(z, epsilon=0)
    with pytest.raises(ValueError, match="iterations"):
        sinkhorn_knopp(z, iterations=0)
    with pytest.raises(ValueError, match="queue_scores2"):
        swav_loss(z, z, queue_scores2=torch.randn(5, 4))
    with pytest.raises(ValueError, match="z must have the shape of p"):
        normalized_mse(z, torch.randn(3, 3))
    with pytest.raises(ValueError, match="z2 must have the shape of p1"):
        simsiam_loss(z, z, z, torch.randn(4, 2))
    with pytest.raises(TypeError, match="p2"):
        byol_loss(z, z.numpy(), z, z)
    for bad in (None, 1, "yes"):
        with pytest.raises(TypeError, match="stop_gradient"):
            simsiam_loss(z, z, z, z, stop_gradient=bad)
        with pytest.raises(TypeError, match="return_terms"):
            vicreg_loss(z, z, return_terms=bad)
        with pytest.raises(TypeError, match="return_terms"):
            barlow_twins_loss(z, z, return_terms=bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0, True, "0.5", torch.tensor(0.5)])
def test_temperatures_and_epsilons_are_finite_positive_numbers(bad):
    z = torch.randn(4, 3)
    with pytest.raises((TypeError, ValueError), match="^temperature must be"):
        nt_xent_loss(z, z, temperature=bad)
    with pytest.raises((TypeError, ValueError), match="^temperature must be"):
        swav_loss(z, z, temperature=bad)
    with pytest.raises((TypeError, ValueError), match="^epsilon must be"):
        swav_loss(z, z, epsilon=bad)
    with pytest.raises((TypeError, ValueError), match="^eps must be"):
        negative_cosine_similarity(z, z, eps=bad)


@pytest.mark.parametrize("bad", [math.nan, -math.inf, -1.0, True])
def test_weights_are_finite_and_non_negative(bad):
    z = torch.randn(4, 3)
    with pytest.raises((TypeError, ValueError), match="^lambd must be"):
        barlow_twins_loss(z, z, lambd=bad)
    for name in ("sim_coeff", "std_coeff", "cov_coeff", "eps"):
        with pytest.raises((TypeError, ValueError), match=f"^{name} must be"):
            vicreg_loss(z, z, **{name: bad})
    with pytest.raises((TypeError, ValueError), match="^eps must be"):
        cross_correlation(z, z, eps=bad)


def test_empty_batches_and_integer_embeddings_are_refused():
    # An empty batch would make every loss NaN (a mean over nothing); integers cannot be normalised.
    for loss in (nt_xent_loss, barlow_twins_loss, vicreg_loss, normalized_mse, negative_cosine_similarity):
        with pytest.raises(ValueError, match="must not be empty"):
            loss(torch.zeros(0, 3), torch.zeros(0, 3))
        with pytest.raises(TypeError, match="floating-point"):
            loss(torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="scores"):
        sinkhorn_knopp(torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="c must be a floating-point"):
        barlow_twins_terms(torch.eye(3, dtype=torch.long))
    with pytest.raises(TypeError, match="queue_scores1"):
        swav_loss(torch.randn(4, 3), torch.randn(4, 3), queue_scores1=[[0.0] * 3])
    with pytest.raises(TypeError, match="iterations"):
        swav_loss(torch.randn(4, 3), torch.randn(4, 3), iterations=2.0)


def test_a_correlation_over_one_sample_is_refused():
    # With N = 1 every standardised feature is 0: the loss would read D, as if collapsed.
    with pytest.raises(ValueError, match="N >= 2"):
        cross_correlation(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="N >= 2"):
        barlow_twins_loss(torch.randn(1, 3), torch.randn(1, 3))
