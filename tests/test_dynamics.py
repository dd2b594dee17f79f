"""Linear non-contrastive dynamics (Tian, Chen & Ganguli 2021): closed forms, fixed points, identities."""

import math

import pytest
import torch

from jessl_lite.experiments.dynamics import (
    balanced_time,
    eigen_ode,
    eigenvalue_curves,
    fixed_points,
    integrate_eigen_ode,
    linear_ssl_gradients,
    linear_ssl_loss,
    simulate_linear_ssl,
)
from jessl_lite.runs import Run


def _random(m=4, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, n, generator=g, dtype=torch.float64), torch.randn(m, m, generator=g, dtype=torch.float64),
            torch.randn(m, n, generator=g, dtype=torch.float64))


def test_closed_form_loss_matches_monte_carlo():
    W, Wp, Wa = _random()
    sigma2 = 0.3
    g = torch.Generator().manual_seed(1)
    x = torch.randn(400_000, 6, generator=g, dtype=torch.float64)
    x1 = x + math.sqrt(sigma2) * torch.randn(x.shape, generator=g, dtype=torch.float64)
    x2 = x + math.sqrt(sigma2) * torch.randn(x.shape, generator=g, dtype=torch.float64)
    mc = 0.5 * ((x1 @ (Wp @ W).T - x2 @ Wa.T) ** 2).sum(1).mean()
    exact = linear_ssl_loss(W, Wp, Wa, sigma2)
    assert float(mc) == pytest.approx(float(exact), rel=1e-2)


@pytest.mark.parametrize("stop_gradient", [True, False])
def test_gradients_match_autograd(stop_gradient):
    W, Wp, Wa = _random(seed=2)
    sigma2 = 0.7
    W_, Wp_ = W.clone().requires_grad_(), Wp.clone().requires_grad_()
    target = Wa if stop_gradient else W_
    linear_ssl_loss(W_, Wp_, target, sigma2).backward()
    gW, gWp = linear_ssl_gradients(W, Wp, Wa if stop_gradient else W, sigma2, stop_gradient=stop_gradient)
    torch.testing.assert_close(gW, W_.grad)
    torch.testing.assert_close(gWp, Wp_.grad)


def test_fixed_points_are_zeros_of_the_ode():
    for eta in (0.0, 0.05):
        for p, s in fixed_points(0.5, alpha_p=2.0, eta=eta):
            dp, ds = eigen_ode(p, s, sigma2=0.5, alpha_p=2.0, eta=eta)
            assert abs(float(dp)) < 1e-12 and abs(float(ds)) < 1e-12
    assert fixed_points(0.5, eta=0.0)[0][0] == pytest.approx(1 / 1.5)
    assert fixed_points(1.0, eta=0.2) == []  # 1 < 4 * 0.2 * 2: weight decay wins


def test_stability_of_fixed_points_by_numerical_jacobian():
    sigma2, eta = 0.5, 0.05
    (p_hi, s_hi), (p_lo, s_lo) = fixed_points(sigma2, eta=eta)

    def jacobian(p, s, h=1e-6):
        cols = []
        for dp, ds in ((h, 0.0), (0.0, h)):
            plus = torch.stack(eigen_ode(p + dp, s + ds, sigma2=sigma2, eta=eta))
            minus = torch.stack(eigen_ode(p - dp, s - ds, sigma2=sigma2, eta=eta))
            cols.append((plus - minus) / (2 * h))
        return torch.stack(cols, dim=1)

    assert torch.linalg.eigvals(jacobian(p_hi, s_hi)).real.max() < 0  # stable
    assert torch.linalg.eigvals(jacobian(p_lo, s_lo)).real.max() > 0  # saddle: the basin boundary
    assert torch.linalg.eigvals(jacobian(0.0, 0.0)).real.max() < 0  # collapse: stable with weight decay


def test_conserved_quantity_and_balanced_closed_form():
    sigma2, p0, dt, steps = 0.5, 0.1, 0.01, 3000
    p, s = integrate_eigen_ode(p0, p0 ** 2 + 0.02, sigma2=sigma2, steps=steps, dt=dt)
    torch.testing.assert_close(s - p ** 2, torch.full_like(s, 0.02), atol=1e-9, rtol=0)
    p, s = integrate_eigen_ode(p0, p0 ** 2, sigma2=sigma2, steps=steps, dt=dt)
    k = steps // 3
    assert balanced_time(float(p[k]), p0, sigma2) == pytest.approx(k * dt, rel=1e-6)


def test_full_matrices_follow_the_eigen_ode_from_an_aligned_start():
    # W = U diag(sqrt(s)) V^T and Wp = U diag(p) U^T stay aligned; small-lr GD is Euler on the ODE.
    g = torch.Generator().manual_seed(3)
    U, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(5, 3, generator=g, dtype=torch.float64))
    p0, s0 = torch.tensor([0.3, 0.1, -0.2], dtype=torch.float64), torch.tensor([0.5, 0.2, 0.4], dtype=torch.float64)
    W, Wp = U @ torch.diag(s0.sqrt()) @ V.T, U @ torch.diag(p0) @ U.T
    lr, steps = 1e-3, 4000
    sim = simulate_linear_ssl(W, Wp, sigma2=0.5, steps=steps, lr=lr, eta=0.01)
    p, s = integrate_eigen_ode(p0, s0, sigma2=0.5, steps=400, dt=lr * 10, eta=0.01)
    order_p = torch.sort(p[-1], descending=True).values
    order_s = torch.sort(s[-1], descending=True).values
    torch.testing.assert_close(eigenvalue_curves(sim, "p")[-1], order_p, atol=2e-3, rtol=0)
    torch.testing.assert_close(eigenvalue_curves(sim, "s")[-1], order_s, atol=2e-3, rtol=0)
    # A negative predictor eigenvalue is pulled up (dp/dt = s (1 - k p) > 0): it changes sign.
    assert float(p[0][2]) < 0 < float(p[-1][2])


def test_ablations_of_the_linear_model():
    W, Wp, _ = _random(m=4, n=8, seed=4)
    W, Wp = 0.3 * W, 0.1 * torch.eye(4, dtype=torch.float64)
    kw = {"sigma2": 0.5, "steps": 3000, "lr": 0.02, "eta": 0.01}
    healthy = simulate_linear_ssl(W, Wp, **kw)
    no_sg = simulate_linear_ssl(W, Wp, stop_gradient=False, **kw)
    identity = simulate_linear_ssl(W, torch.eye(4, dtype=torch.float64), train_predictor=False, **kw)
    assert min(healthy.final(f"s_{j}") for j in range(1, 5)) > 0.1
    assert float(eigenvalue_curves(no_sg, "s")[-1].max()) < 1e-6
    assert float(eigenvalue_curves(identity, "s")[-1].max()) < 1e-6  # Wp = I: ds/dt = -2 s (sigma^2 + eta)


def test_simulation_record_holds_the_start_every_step_and_the_final_matrices():
    W, Wp, _ = _random(m=3, n=5, seed=5)
    lr, eta, alpha_p, sigma2 = 0.01, 0.1, 2.0, 0.4
    run = simulate_linear_ssl(W, Wp, sigma2=sigma2, steps=2, lr=lr, eta=eta, alpha_p=alpha_p, ema_decay=0.5)
    assert run.curves["step"] == [0, 1, 2]
    assert sorted(run.curves) == sorted(["step", "loss", "s_1", "s_2", "s_3", "p_1", "p_2", "p_3"])
    # Step 0 is the start: the loss of (W, Wp) against the target Wa = W, and the eigenvalues of W W^T.
    assert run.curves["loss"][0] == pytest.approx(float(linear_ssl_loss(W, Wp, W, sigma2)), rel=1e-12)
    torch.testing.assert_close(eigenvalue_curves(run, "s")[0], torch.linalg.eigvalsh(W @ W.T).flip(0))
    # Two hand-written steps of gradient descent with the EMA target give the stored final matrices.
    W_, Wp_, Wa_ = W.clone(), Wp.clone(), W.clone()
    for _ in range(2):
        gW, gWp = linear_ssl_gradients(W_, Wp_, Wa_, sigma2)
        W_, Wp_ = W_ - lr * (gW + eta * W_), Wp_ - lr * (alpha_p * gWp + eta * Wp_)
        Wa_ = 0.5 * Wa_ + 0.5 * W_
    for name, expected in (("W", W_), ("Wp", Wp_), ("Wa", Wa_)):
        torch.testing.assert_close(torch.tensor(run.summary[name], dtype=torch.float64), expected)
    # The last entry is that state, target included: the loss against the moved target.
    assert run.curves["loss"][-1] == pytest.approx(float(linear_ssl_loss(W_, Wp_, Wa_, sigma2)), rel=1e-12)
    # The record is JSON, the matrices too, bit for bit.
    again = Run.from_json(run.to_json())
    assert again.summary["W"] == run.summary["W"] and again.curves["s_2"] == run.curves["s_2"]
    assert again.config["ema_decay"] == 0.5 and not math.isnan(again.seconds)
    with pytest.raises(ValueError, match="name"):
        eigenvalue_curves(run, "W")
    with pytest.raises(ValueError, match="simulate_linear_ssl"):
        eigenvalue_curves(Run(), "s")


def test_bad_input():
    W, Wp, Wa = _random()
    with pytest.raises(ValueError, match="Wp"):
        linear_ssl_loss(W, Wp[:2], Wa, 0.1)
    with pytest.raises(ValueError, match="sigma2"):
        linear_ssl_loss(W, Wp, Wa, -1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        simulate_linear_ssl(W, Wp, sigma2=0.1, steps=1, ema_decay=1.5)
    with pytest.raises(ValueError, match="p0"):
        balanced_time(0.1, 0.9, 0.5)


@pytest.mark.parametrize("bad", [math.nan, math.inf, True, "0.1"])
def test_rates_are_finite_numbers(bad):
    # A NaN compares false with everything: `if sigma2 < 0: raise` let it through, and every curve was NaN.
    W, Wp, Wa = _random()
    with pytest.raises((TypeError, ValueError), match="^sigma2 must be"):
        linear_ssl_loss(W, Wp, Wa, bad)
    for name in ("lr", "alpha_p", "eta", "ema_decay"):
        with pytest.raises((TypeError, ValueError), match=f"^{name} must be"):
            simulate_linear_ssl(W, Wp, sigma2=0.1, steps=1, **{name: bad})
    for name in ("sigma2", "alpha_p", "eta", "tau"):
        with pytest.raises((TypeError, ValueError), match=f"^{name} must be"):
            eigen_ode(0.1, 0.1, **{"sigma2": 0.5, name: bad})
        with pytest.raises((TypeError, ValueError), match=f"^{name} must be"):
            fixed_points(**{"sigma2": 0.5, name: bad})
    with pytest.raises((TypeError, ValueError), match="^dt must be"):
        integrate_eigen_ode(0.1, 0.1, sigma2=0.5, steps=2, dt=bad)
    with pytest.raises((TypeError, ValueError), match="^p must be"):
        balanced_time(bad, 0.1, 0.5)


def test_matrices_and_modes_name_themselves():
    W, Wp, Wa = _random()
    with pytest.raises(TypeError, match="^W must be a torch.Tensor"):
        linear_ssl_loss(W.tolist(), Wp, Wa, 0.1)
    with pytest.raises(TypeError, match="^Wa must be a floating-point tensor"):
        linear_ssl_loss(W, Wp, Wa.long(), 0.1)
    with pytest.raises(ValueError, match=r"^Wa must have the shape of W"):
        linear_ssl_gradients(W, Wp, Wa[:, :1], 0.1)
    with pytest.raises(TypeError, match="^stop_gradient must be True or False"):
        simulate_linear_ssl(W, Wp, sigma2=0.1, steps=1, stop_gradient=None)
    with pytest.raises(TypeError, match="^steps must be an int"):
        simulate_linear_ssl(W, Wp, sigma2=0.1, steps=True)
    with pytest.raises(ValueError, match=r"^s0 must broadcast with p0 \(3,\)"):
        integrate_eigen_ode(torch.ones(3), torch.ones(2), sigma2=0.5, steps=1)
    with pytest.raises(TypeError, match="^p0 must be numeric"):
        integrate_eigen_ode("0.1", 0.1, sigma2=0.5, steps=1)
    with pytest.raises(TypeError, match="^run must be a Run"):
        eigenvalue_curves({"curves": {}}, "s")


def test_chapter_4_exercise_references_agree_with_pen_and_paper():
    from jessl_lite.exercises import EXERCISES

    assert EXERCISES["4.1"].reference()[0] == pytest.approx(1 / 8, abs=2e-4)  # 1/sqrt(64)
    # With sg: w p ((1 + s2) p - 1); without: w ((1 + s2)(1 + p^2) - 2 p); w = 1, p = 0.5, s2 = 0.5.
    assert EXERCISES["4.2"].reference() == pytest.approx((-0.125, 0.875), abs=1e-12)
    p = (1 + math.sqrt(1 - 4 * 0.05 * 1.5)) / 3
    assert EXERCISES["4.3"].reference() == pytest.approx((p, p * p), abs=1e-12)
    assert EXERCISES["4.4"].reference()[0] == math.ceil(math.log(0.01) / math.log(0.996))


def test_a_scalar_start_broadcasts_against_a_vector_of_modes():
    # p0 = 0.1 for every mode, one s0 per mode: the trajectories stack to (steps + 1, m).
    p, s = integrate_eigen_ode(0.1, torch.tensor([0.01, 0.02, 0.04]), sigma2=0.5, steps=3, dt=0.05)
    assert p.shape == s.shape == (4, 3)
    q, t = integrate_eigen_ode(0.1, 0.04, sigma2=0.5, steps=3, dt=0.05)
    torch.testing.assert_close(s[:, 2], t)
    torch.testing.assert_close(p[:, 2], q)
