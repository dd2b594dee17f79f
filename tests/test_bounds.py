"""jessl_lite.bounds: ceilings and identities of the bounds, the optimal critics against the closed-form MI,
brute-force sums, critics' shapes and gradients, the trainer, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from jessl_lite.bounds import (
    BilinearCritic,
    BoundObjective,
    ConcatCritic,
    GaussianStaircase,
    SeparableCritic,
    dv_bound,
    exponential_moving_average,
    gaussian_log_conditional,
    gaussian_log_density_ratio,
    infonce_bound,
    nwj_bound,
    optimal_infonce_critic,
    optimal_nwj_critic,
    rho_for_mi,
    sample_correlated_gaussian,
)
from jessl_lite.info import correlated_gaussian_mi
from jessl_lite.train import FitConfig, fit

BOUNDS = [infonce_bound, nwj_bound, dv_bound]


def score_matrices(max_k: int = 12, scale: float = 30.0):
    """Square float64 matrices with K in [2, max_k] and entries in [-scale, scale]."""
    return st.integers(2, max_k).flatmap(
        lambda k: st.lists(
            st.floats(-scale, scale, allow_nan=False, allow_infinity=False), min_size=k * k, max_size=k * k
        ).map(lambda v: torch.tensor(v, dtype=torch.float64).reshape(k, k))
    )


# --- ceilings and identities that hold for every score matrix --------------------------------


@settings(max_examples=60, deadline=None)
@given(score_matrices())
def test_infonce_never_exceeds_log_k(scores):
    k = scores.shape[0]
    # Each row's term is log K + a log-softmax, and a log-softmax is <= 0 (rounding: 1e-12).
    assert float(infonce_bound(scores)) <= math.log(k) + 1e-12


@pytest.mark.parametrize("k", [2, 64, 1000])
def test_infonce_reaches_log_k_for_a_perfect_critic(k):
    # Diagonal 50 nats above every negative: the softmax puts 1 - (K-1)e^-50 on the positive.
    scores = 50.0 * torch.eye(k, dtype=torch.float64)
    assert float(infonce_bound(scores)) == pytest.approx(math.log(k), abs=k * math.exp(-50))


@settings(max_examples=60, deadline=None)
@given(score_matrices(), st.data())
def test_infonce_ignores_any_function_of_x(scores, data):
    # InfoNCE's optimum is log p(y|x)/p(y) + c(x): adding c(x_i) to row i changes nothing.
    k = scores.shape[0]
    c = torch.tensor(data.draw(st.lists(st.floats(-20, 20), min_size=k, max_size=k)), dtype=torch.float64)
    assert float(infonce_bound(scores + c[:, None])) == pytest.approx(float(infonce_bound(scores)), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(score_matrices(), st.floats(-20, 20))
def test_dv_ignores_a_constant_and_is_at_least_nwj(scores, c):
    # log u <= u / e (the tangent of log at u = e) turns DV into NWJ: DV(f) >= NWJ(f) for every f.
    assert float(dv_bound(scores + c)) == pytest.approx(float(dv_bound(scores)), abs=1e-9)
    assert float(dv_bound(scores)) >= float(nwj_bound(scores)) - 1e-9


def test_bounds_agree_with_brute_force_sums():
    scores = torch.tensor([[1.5, -0.3, 0.2], [0.0, 2.0, -1.0], [0.7, 0.4, 0.9]], dtype=torch.float64)
    f = scores.tolist()
    k = 3
    diag = sum(f[i][i] for i in range(k)) / k
    off = [f[i][j] for i in range(k) for j in range(k) if i != j]
    infonce = math.log(k) + sum(f[i][i] - math.log(sum(math.exp(v) for v in f[i])) for i in range(k)) / k
    nwj = 1 + sum(f[i][i] - 1 for i in range(k)) / k - sum(math.exp(v - 1) for v in off) / len(off)
    dv = diag - math.log(sum(math.exp(v) for v in off) / len(off))
    assert float(infonce_bound(scores)) == pytest.approx(infonce, abs=1e-12)
    assert float(nwj_bound(scores)) == pytest.approx(nwj, abs=1e-12)
    assert float(dv_bound(scores)) == pytest.approx(dv, abs=1e-12)


def test_bounds_are_batched():
    scores = torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for bound in BOUNDS:
        batched = bound(scores)
        assert batched.shape == (3,)
        assert torch.allclose(batched, torch.stack([bound(s) for s in scores]), atol=1e-12)


# --- the optimal critics of correlated Gaussians -------------------------------------------


def test_log_conditional_and_ratio_match_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rho, d = 0.6, 3
    x, y = sample_correlated_gaussian(4, d, rho, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cond = gaussian_log_conditional(x, y, rho)
    ratio = gaussian_log_density_ratio(x, y, rho)
    for i in range(4):
        for j in range(4):
            ref = scipy_stats.multivariate_normal(mean=(rho * x[i]).numpy(), cov=(1 - rho**2) * np.eye(d)).logpdf(
                y[j].numpy()
            )
            marginal = scipy_stats.multivariate_normal(mean=[0.0] * d, cov=np.eye(d)).logpdf(y[j].numpy())
            assert float(cond[i, j]) == pytest.approx(ref, abs=1e-10)
            assert float(ratio[i, j]) == pytest.approx(ref - marginal, abs=1e-10)
    # The InfoNCE critic log p(x|y) differs from the ratio by log p(x_i), a function of the row only.
    assert float(infonce_bound(optimal_infonce_critic(x, y, rho))) == pytest.approx(float(infonce_bound(ratio)))


@pytest.mark.parametrize("dim, mi", [(1, 0.5), (4, 1.0)])
def test_bounds_at_the_optimal_critic_match_the_true_mi(dim, mi):
    """Each bound at its optimal critic estimates I(X;Y) = -d/2 log(1 - rho^2) within a derived tolerance.

    The tolerance is 4 standard deviations of the estimate plus InfoNCE's bias bound, all in
    closed form for this Gaussian pair (r = p(x,y)/(p(x)p(y)), K = batch size):
      * the diagonal average of log r has variance d rho^2 / K (log r is I plus
        (|y|^2 - |e|^2)/2 with e the standardized noise, and Var((y_k^2 - e_k^2)/2) = rho^2);
      * the off-diagonal average of r has mean 1 and variance at most 2 (e^{2I} - 1) / (K(K-1))
        (Var r = E_p[r] - 1 = e^{2I} - 1 under p(x)p(y); terms sharing one index are uncorrelated
        because E[r | x] = E[r | y] = 1, and the (i,j),(j,i) pairs add at most as much again);
      * InfoNCE's gap I - I_NCE lies in [0, log(1 + (e^{2I} - 1)/K)] (Jensen on the softmax
        denominator, whose mean is (E_p[r] + K - 1)/K).
    """
    k = 2048
    rho = rho_for_mi(mi, dim)
    true_mi = float(correlated_gaussian_mi(rho, dim))
    assert true_mi == pytest.approx(mi, abs=1e-12)
    x, y = sample_correlated_gaussian(k, dim, rho, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    sd_diag = math.sqrt(dim * rho**2 / k)
    sd_off = math.sqrt(2 * math.expm1(2 * mi) / (k * (k - 1)))
    gap = math.log1p(math.expm1(2 * mi) / k)
    tol = 4 * (sd_diag + sd_off)
    nwj = float(nwj_bound(optimal_nwj_critic(x, y, rho)))
    dv = float(dv_bound(optimal_nwj_critic(x, y, rho)))
    nce = float(infonce_bound(optimal_infonce_critic(x, y, rho)))
    assert nwj == pytest.approx(true_mi, abs=tol)
    assert dv == pytest.approx(true_mi, abs=tol)
    assert true_mi - gap - tol <= nce <= true_mi + tol
    # The seed's NWJ critic 1 + log p(y|x) (no division by p(y)) is far from tight in 4 dimensions.
    if dim == 4:
        wrong = float(nwj_bound(1.0 + gaussian_log_conditional(x, y, rho)))
        assert wrong < true_mi - 1.0


@pytest.mark.parametrize("k", [16, 256])
def test_infonce_at_the_optimum_stays_below_log_k(k):
    # 10 nats of MI, far above log K: even the optimal critic cannot certify more than log K.
    rho = rho_for_mi(10.0, 20)
    x, y = sample_correlated_gaussian(k, 20, rho, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    nce = float(infonce_bound(optimal_infonce_critic(x, y, rho)))
    assert nce <= math.log(k) + 1e-12
    assert nce > math.log(k) - 1.0  # and it gets close to the ceiling


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 5.0), st.integers(1, 64))
def test_rho_for_mi_inverts_the_closed_form(mi_per_dim, dim):
    # Up to 5 nats per coordinate, 1 - rho^2 >= e^-10: rounding rho costs < 1e-11 relative.
    mi = mi_per_dim * dim
    rho = rho_for_mi(mi, dim)
    assert float(correlated_gaussian_mi(rho, dim)) == pytest.approx(mi, rel=1e-9, abs=1e-12)


def test_sampler_has_the_promised_moments():
    rho = 0.7
    x, y = sample_correlated_gaussian(20000, 3, rho, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    # Standard errors with 20000 samples: 0.007 for a mean, 0.01 for a variance, 0.004 for this
    # correlation ((1 - rho^2)/sqrt(N)); the tolerances are 5 SE or more.
    assert x.mean(0).abs().max() < 0.035 and y.mean(0).abs().max() < 0.035
    assert (y.var(0) - 1).abs().max() < 0.05
    corr = ((x * y).mean(0) - x.mean(0) * y.mean(0)) / (x.std(0) * y.std(0))
    assert (corr - rho).abs().max() < 0.035


def test_staircase_schedule_and_batches():
    stairs = GaussianStaircase(dim=5, batch_size=8, levels=(1.0, 3.0), steps_per_level=4)
    assert stairs.steps == 8
    assert stairs.true_mi().tolist() == [1.0] * 4 + [3.0] * 4
    assert stairs.mi_at(3) == 1.0 and stairs.mi_at(4) == 3.0
    x, y = stairs.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 5) and x.dtype == torch.float32


# --- critics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: SeparableCritic(3, 2, hidden_dim=8),
        lambda: BilinearCritic(3, 2),
        lambda: ConcatCritic(3, 2, hidden_dim=8),
    ],
)
def test_critics_give_pairwise_scores_and_gradients(make):
    torch.manual_seed(0)
    critic = make()
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    scores = critic(x, y)
    assert scores.shape == (5, 5)
    # scores[i, j] is f(x_i, y_j): scoring one pair alone gives the same number.
    for i, j in [(0, 0), (1, 3), (4, 2)]:
        pair = critic(torch.stack([x[i], x[i]]), torch.stack([y[j], y[j]]))
        assert float(pair[0, 0].detach()) == pytest.approx(float(scores[i, j].detach()), abs=1e-5)
    infonce_bound(scores).backward()
    grads = [p.grad for p in critic.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_bilinear_critic_is_x_w_y():
    critic = BilinearCritic(2, 2)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0]]))
    scores = critic(torch.tensor([[1.0, 1.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [1.0, 1.0]]))
    # x W = [1, 1] and [0, -2]; dotted with y = [3, 0] and [1, 1].
    assert scores.tolist() == [[3.0, 2.0], [0.0, -2.0]]


# --- the trainer and the smoother ------------------------------------------------------------


class QuadraticCritic(nn.Module):
    """f(x, y) = a x.y + b |y|^2: exactly the family of InfoNCE's optimal critics for this pair."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x, y):
        return self.a * x @ y.T + self.b * (y * y).sum(-1)[None, :]


#: Chapter 2's training: Adam, constant rate, no weight decay, every step logged, NaN/inf steps skipped.
CRITIC_CONFIG = FitConfig(optimizer="adam", lr=5e-4, lr_schedule="constant", weight_decay=0.0, precision="fp32",
                          on_nonfinite="skip", log_every=1, progress=False)


def test_fit_of_a_bound_objective_finds_the_optimal_critic():
    # log r(x, y) = c(x) + rho/(1-rho^2) x.y - rho^2/(2(1-rho^2)) |y|^2, and InfoNCE ignores c(x),
    # so maximizing InfoNCE over (a, b) must drive them to those two closed-form numbers.
    rho = rho_for_mi(1.0, 2)
    stairs = GaussianStaircase(dim=2, batch_size=128, levels=(1.0,), steps_per_level=300)
    torch.manual_seed(0)
    critic = QuadraticCritic()
    config = CRITIC_CONFIG.replace(steps=stairs.steps, lr=0.05)
    run = fit(BoundObjective(critic, infonce_bound), stairs.sample, None, config)
    steps, estimates = run.curve("bound")
    assert steps.tolist() == list(range(300)) and run.summary.get("skipped_steps", 0) == 0
    # The loss is the negated bound, logged at every step.
    assert np.array_equal(run.curve("loss")[1], -estimates)
    # Adam with lr 0.05 keeps jittering by a few hundredths around the optimum, and each batch
    # of 128 moves the empirical optimum by ~1/sqrt(128) relative: 12% covers both.
    assert float(critic.a.detach()) == pytest.approx(rho / (1 - rho**2), rel=0.12)
    assert float(critic.b.detach()) == pytest.approx(-(rho**2) / (2 * (1 - rho**2)), rel=0.12)
    # The last 100 batch estimates average within 4 SD (sqrt(d rho^2 / K / 100) = 0.01) of
    # [I - gap, I], gap = log(1 + (e^2 - 1)/128) = 0.049 (see the test above).
    late = float(estimates[-100:].mean())
    assert 1.0 - 0.049 - 0.04 <= late <= 1.0 + 0.04
    assert float(estimates[:5].mean()) < 0.5  # it started far below


def test_bound_is_recorded_before_each_update():
    # Step k's estimate is the bound of batch k under the critic after k updates: replaying the
    # same batches and Adam steps by hand must give the same numbers, to the last bit.
    stairs = GaussianStaircase(dim=3, batch_size=8, levels=(1.0, 2.0), steps_per_level=4)
    torch.manual_seed(0)
    critic = BilinearCritic(3, 3)
    replica = BilinearCritic(3, 3)
    replica.load_state_dict(critic.state_dict())
    run = fit(BoundObjective(critic, nwj_bound), stairs.sample, None, CRITIC_CONFIG.replace(steps=stairs.steps, seed=7))
    optimizer = torch.optim.Adam(replica.parameters(), lr=5e-4)
    batches = torch.Generator().manual_seed(7)
    expected = []
    for step in range(stairs.steps):
        value = nwj_bound(replica(*stairs.sample(step, batches)))
        expected.append(float(value.detach()))
        optimizer.zero_grad()
        (-value).backward()
        optimizer.step()
    assert run.curve("bound")[1].tolist() == expected
    assert torch.equal(critic.weight, replica.weight)


def test_fit_of_a_bound_objective_skips_non_finite_steps():
    critic = BilinearCritic(2, 2)
    before = critic.weight.detach().clone()
    objective = BoundObjective(critic, lambda s: s.abs().sum() * math.inf)
    run = fit(objective, lambda step, generator: (torch.randn(4, 2), torch.randn(4, 2)), None,
              CRITIC_CONFIG.replace(steps=3))
    assert run.summary["skipped_steps"] == 3 and np.isinf(run.curve("bound")[1]).all()
    assert torch.equal(critic.weight.detach(), before)


def test_staircase_sample_is_a_sampler():
    stairs = GaussianStaircase(dim=2, batch_size=5, levels=(1.0, 3.0), steps_per_level=2)
    x, y = stairs.sample(3, torch.Generator().manual_seed(0))
    again = stairs.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 2) and torch.equal(x, again[0]) and torch.equal(y, again[1])


def test_exponential_moving_average_matches_pandas():
    pd = pytest.importorskip("pandas")
    values = torch.randn(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64).cumsum(0)
    ours = exponential_moving_average(values, span=20)
    ref = pd.Series(values.numpy()).ewm(span=20).mean().to_numpy().copy()
    assert torch.allclose(ours, torch.from_numpy(ref), atol=1e-10)
    assert exponential_moving_average(torch.tensor([math.nan, 1.0, 3.0]), span=1).tolist()[1:] == [1.0, 3.0]


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("bound", BOUNDS)
def test_bounds_reject_bad_score_matrices(bound):
    with pytest.raises(ValueError, match="scores"):
        bound(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scores"):
        bound(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="scores"):
        bound(torch.tensor([[0.0, math.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="scores"):
        bound(torch.zeros(4))
    with pytest.raises(TypeError, match="scores"):
        bound([[0.0, 1.0], [1.0, 0.0]])


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="rho"):
        sample_correlated_gaussian(4, 2, 1.0)
    with pytest.raises(ValueError, match="batch_size"):
        sample_correlated_gaussian(0, 2, 0.5)
    with pytest.raises(ValueError, match="mi"):
        rho_for_mi(-1.0, 2)
    with pytest.raises(ValueError, match="y must have the dimension d = 2 of x"):
        gaussian_log_conditional(torch.zeros(3, 2), torch.zeros(3, 4), 0.5)
    with pytest.raises(ValueError, match="x"):
        SeparableCritic(3, 3)(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"y must hold as many samples K as x \(4\); got 5"):
        ConcatCritic(2, 2, hidden_dim=4)(torch.zeros(4, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="batch_size"):
        GaussianStaircase(batch_size=1)
    with pytest.raises(ValueError, match="step"):
        GaussianStaircase(steps_per_level=2).mi_at(10)
    with pytest.raises(TypeError, match="critic"):
        BoundObjective(lambda x, y: x @ y.T, infonce_bound)
    with pytest.raises(TypeError, match="bound"):
        BoundObjective(BilinearCritic(2, 2), "infonce")
    with pytest.raises(ValueError, match="steps"):
        CRITIC_CONFIG.replace(steps=0)
    with pytest.raises(ValueError, match="epochs"):
        fit(BoundObjective(BilinearCritic(2, 2), infonce_bound), GaussianStaircase(dim=2).sample, None,
            CRITIC_CONFIG.replace(epochs=1))
    with pytest.raises(ValueError, match="span"):
        exponential_moving_average(torch.zeros(3), 0)


def test_messages_use_the_callers_names():
    # The critics build their encoders with mlp(in_dim, ...): a bad dim_x must not be called in_dim.
    for critic in (SeparableCritic, BilinearCritic, ConcatCritic):
        with pytest.raises(ValueError, match=r"^dim_x must be an int >= 1; got 0$"):
            critic(0, 3)
    with pytest.raises(ValueError, match="embed_dim"):
        SeparableCritic(3, 3, embed_dim=0)
    # optimal_infonce_critic swaps x and y inside: a bad x is still called x.
    for critic in (optimal_infonce_critic, optimal_nwj_critic, gaussian_log_density_ratio):
        with pytest.raises(TypeError, match="^x must be a torch.Tensor"):
            critic("abc", torch.zeros(3, 2), 0.5)
        with pytest.raises(TypeError, match="^y must be a torch.Tensor"):
            critic(torch.zeros(3, 2), [[0.0, 0.0]], 0.5)


@pytest.mark.parametrize("bad", [True, math.nan, math.inf, "0.5", torch.tensor(0.5)])
def test_scalars_are_checked_for_type_and_finiteness(bad):
    with pytest.raises((TypeError, ValueError), match="^rho must be"):
        sample_correlated_gaussian(4, 2, bad)
    with pytest.raises((TypeError, ValueError), match="^mi must be"):
        rho_for_mi(bad, 2)
    with pytest.raises((TypeError, ValueError), match=r"^levels\[1\] must be"):
        GaussianStaircase(levels=(2.0, bad))
    with pytest.raises(TypeError, match="^batch_size must be an int"):
        sample_correlated_gaussian(True, 2, 0.5)


def test_bad_samplers_and_trajectories_name_themselves():
    with pytest.raises(TypeError, match="generator"):
        sample_correlated_gaussian(4, 2, 0.5, generator=0)
    with pytest.raises(TypeError, match="dtype"):
        sample_correlated_gaussian(4, 2, 0.5, dtype=torch.int64)
    with pytest.raises(ValueError, match="device"):
        sample_correlated_gaussian(4, 2, 0.5, device="nowhere")
    with pytest.raises(TypeError, match="values"):
        exponential_moving_average("abc", 3)
    with pytest.raises(ValueError, match=r"values must be a 1-D trajectory"):
        exponential_moving_average(torch.zeros(2, 2), 3)
    with pytest.raises(TypeError, match="scores must be a floating-point"):
        infonce_bound(torch.zeros(3, 3, dtype=torch.long))
