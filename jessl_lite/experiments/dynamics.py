r"""Learning dynamics of linear non-contrastive SSL (Tian, Chen & Ganguli 2021), chapter 4.

The model: inputs :math:`x \sim \mathcal N(0, I_n)`, two views :math:`x_k = x + e_k` with
:math:`e_k \sim \mathcal N(0, \sigma^2 I_n)`, a linear online network :math:`W` (``(m, n)``),
a linear predictor :math:`W_p` (``(m, m)``) and a target network :math:`W_a` (``(m, n)``):

.. math:: J(W, W_p) = \tfrac12\,\mathbb E\,\lVert W_p W x_1 - \mathrm{sg}(W_a x_2)\rVert^2
          = \tfrac12\big[(1+\sigma^2)\lVert W_p W\rVert_F^2 - 2\operatorname{tr}(W_p W W_a^\top)
          + (1+\sigma^2)\lVert W_a\rVert_F^2\big]

Gradient flow with weight decay :math:`\eta` and predictor rate :math:`\alpha_p`:

.. math:: \dot W_p = \alpha_p\,[W_a - (1+\sigma^2) W_p W]\,W^\top - \eta W_p, \qquad
          \dot W = W_p^\top\,[W_a - (1+\sigma^2) W_p W] - \eta W

and the target follows :math:`W_a \leftarrow \lambda W_a + (1-\lambda) W` (BYOL; SimSiam is
:math:`\lambda = 0`, i.e. :math:`W_a = W`). When :math:`W_p` is symmetric and shares its
eigenvectors with :math:`F = W W^\top`, and :math:`W_a = \tau W`, every eigen-mode ``j`` evolves
on its own (:func:`eigen_ode`):

.. math:: \dot p_j = \alpha_p\, s_j\,[\tau - (1+\sigma^2) p_j] - \eta\, p_j, \qquad
          \dot s_j = 2 s_j\,[p_j(\tau - (1+\sigma^2) p_j) - \eta]

with :math:`p_j` the eigenvalues of :math:`W_p` and :math:`s_j` those of :math:`F`. The collapsed
mode :math:`s_j = 0` is always a fixed point; it repels when :math:`p_j(\tau - (1+\sigma^2)p_j) > \eta`.

Example::

    >>> p, s = integrate_eigen_ode(0.1, 0.01, sigma2=0.5, steps=2000, dt=0.05)
    >>> round(float(p[-1]), 3)   # the predictor eigenvalue settles at 1 / (1 + sigma^2)
    0.667
"""

from __future__ import annotations

import math
import time

import torch

from ..runs import Run
from ..validation import (
    as_float64,
    check_bool,
    check_instance,
    check_int,
    check_matching_tensors,
    check_number,
    check_same_device,
    check_tensor,
)

__all__ = [
    "linear_ssl_loss",
    "linear_ssl_gradients",
    "simulate_linear_ssl",
    "eigenvalue_curves",
    "eigen_ode",
    "integrate_eigen_ode",
    "fixed_points",
    "balanced_time",
]


def linear_ssl_loss(W: torch.Tensor, Wp: torch.Tensor, Wa: torch.Tensor, sigma2: float) -> torch.Tensor:
    r"""The expected loss :math:`J` of the module docstring in closed form (a 0-dim tensor).

    ``W, Wa: (m, n)``, ``Wp: (m, m)``; ``sigma2``: the augmentation variance :math:`\sigma^2 \ge 0`.
    """
    _check_model(W, Wp, Wa, sigma2)
    A = Wp @ W
    return 0.5 * ((1 + sigma2) * (A * A).sum() - 2 * (A * Wa).sum() + (1 + sigma2) * (Wa * Wa).sum())


def linear_ssl_gradients(
    W: torch.Tensor, Wp: torch.Tensor, Wa: torch.Tensor, sigma2: float, *, stop_gradient: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(dJ/dW, dJ/dWp)`` of :func:`linear_ssl_loss`.

    With ``stop_gradient`` the target :math:`W_a` is a constant:
    :math:`\partial J/\partial W = W_p^\top[(1+\sigma^2) W_p W - W_a]`. Without it, :math:`W_a`
    *is* :math:`W` (SimSiam without sg) and the target branch adds
    :math:`(1+\sigma^2) W - W_p W`: the gradient then also pulls the target towards the
    prediction, and the only minimiser for :math:`\sigma^2 > 0` is :math:`W = 0`.
    """
    _check_model(W, Wp, Wa, sigma2)
    check_bool(stop_gradient, "stop_gradient")
    residual = (1 + sigma2) * Wp @ W - Wa
    grad_W = Wp.T @ residual
    if not stop_gradient:
        grad_W = grad_W + (1 + sigma2) * Wa - Wp @ W
    return grad_W, residual @ W.T


def simulate_linear_ssl(
    W: torch.Tensor,
    Wp: torch.Tensor,
    *,
    sigma2: float,
    steps: int,
    lr: float = 0.01,
    alpha_p: float = 1.0,
    eta: float = 0.0,
    ema_decay: float = 0.0,
    stop_gradient: bool = True,
    train_predictor: bool = True,
) -> Run:
    r"""Gradient descent on the linear model: the full matrices, no eigen-decomposition assumed.

    Each step: :math:`W \mathrel{-}= \text{lr}(\partial_W J + \eta W)`,
    :math:`W_p \mathrel{-}= \text{lr}(\alpha_p \partial_{W_p} J + \eta W_p)` (unless
    ``train_predictor=False``: a fixed predictor, e.g. the identity or a random matrix), then
    :math:`W_a \leftarrow \lambda W_a + (1-\lambda) W` with :math:`\lambda` = ``ema_decay``
    (0: SimSiam; 1: a frozen target). :math:`W_a` starts at ``W``. Without ``stop_gradient`` the
    target is :math:`W` itself.

    Why not :func:`jessl_lite.train.fit`: there are no data and no views here. :math:`J` is the
    *expected* loss in closed form (:func:`linear_ssl_loss`), so each step is an exact gradient
    step on it (:func:`linear_ssl_gradients`): an Euler step of the gradient flow that
    :func:`eigen_ode` describes, which is what the chapter compares with the mode equations.
    ``fit`` would draw batches of views and add an optimizer's momentum and learning-rate
    schedule, and it cannot scale the predictor's loss gradient by :math:`\alpha_p` without
    scaling its weight decay too. So this loop builds its own :class:`~jessl_lite.runs.Run`.

    Returns a :class:`~jessl_lite.runs.Run` (float64 values) with one curve entry per state,
    ``step`` ``k`` = after ``k`` updates (``steps + 1`` entries, the start included):

    * ``"loss"``: :math:`J` (with the target the step used);
    * ``"s_1"`` ... ``"s_m"``: the eigenvalues of :math:`W W^\top`, largest first
      (:func:`eigenvalue_curves` stacks them into a ``(steps + 1, m)`` array);
    * ``"p_1"`` ... ``"p_m"``: those of the symmetric part of :math:`W_p`, largest first;

    ``run.config``: the arguments; ``run.summary["W"]``, ``["Wp"]``, ``["Wa"]``: the final
    matrices as nested lists (``torch.tensor(run.summary["W"], dtype=torch.float64)``), so that
    the record stays JSON.
    """
    _check_model(W, Wp, W, sigma2)
    check_int(steps, "steps", minimum=0)
    check_number(lr, "lr", low=0.0, low_open=True)
    check_number(alpha_p, "alpha_p", low=0.0, low_open=True)
    check_number(eta, "eta", low=0.0)
    check_number(ema_decay, "ema_decay", low=0.0, high=1.0)
    check_bool(stop_gradient, "stop_gradient")
    check_bool(train_predictor, "train_predictor")
    W, Wp = W.double().clone(), Wp.double().clone()
    Wa = W.clone()
    m = W.shape[0]
    config = {"sigma2": sigma2, "steps": steps, "lr": lr, "alpha_p": alpha_p, "eta": eta, "ema_decay": ema_decay,
              "stop_gradient": stop_gradient, "train_predictor": train_predictor}
    run = Run(method="linear SSL", config=config, info={"m": m, "n": W.shape[1]}, device=str(W.device),
              torch_version=str(torch.__version__))
    start = time.perf_counter()

    def record(step: int) -> None:
        s = torch.linalg.eigvalsh(W @ W.T).flip(0)
        p = torch.linalg.eigvalsh(0.5 * (Wp + Wp.T)).flip(0)
        loss = linear_ssl_loss(W, Wp, W if not stop_gradient else Wa, sigma2)
        run.log_step(step, {"loss": float(loss), **{f"s_{j + 1}": float(s[j]) for j in range(m)},
                            **{f"p_{j + 1}": float(p[j]) for j in range(m)}})

    record(0)
    for step in range(steps):
        target = Wa if stop_gradient else W
        grad_W, grad_Wp = linear_ssl_gradients(W, Wp, target, sigma2, stop_gradient=stop_gradient)
        W = W - lr * (grad_W + eta * W)
        if train_predictor:
            Wp = Wp - lr * (alpha_p * grad_Wp + eta * Wp)
        Wa = ema_decay * Wa + (1 - ema_decay) * W
        record(step + 1)
    run.seconds = time.perf_counter() - start
    run.summary.update({"W": W.tolist(), "Wp": Wp.tolist(), "Wa": Wa.tolist()})
    return run


def eigenvalue_curves(run: Run, name: str) -> torch.Tensor:
    """The curves ``name_1`` ... ``name_m`` of a :func:`simulate_linear_ssl` run, stacked:
    float64 ``(steps + 1, m)``, row ``k`` after ``k`` updates. ``name``: ``"s"`` or ``"p"``."""
    check_instance(run, "run", Run, "a Run from simulate_linear_ssl")
    if name not in ("s", "p"):
        raise ValueError(f"name must be 's' (eigenvalues of W W^T) or 'p' (of W_p); got {name!r}")
    m = run.info.get("m") if isinstance(run.info, dict) else None
    if not isinstance(m, int) or f"{name}_{m}" not in run.curves:
        raise ValueError("run must be a record from simulate_linear_ssl (with info['m'] and curves s_j, p_j)")
    return torch.tensor([run.curves[f"{name}_{j}"] for j in range(1, m + 1)], dtype=torch.float64).T


def eigen_ode(
    p: torch.Tensor | float,
    s: torch.Tensor | float,
    *,
    sigma2: float,
    alpha_p: float = 1.0,
    eta: float = 0.0,
    tau: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The decoupled mode dynamics :math:`(\dot p, \dot s)` of the module docstring (elementwise).

    ``tau``: the target's scale relative to the online network (:math:`W_a = \tau W`; 1 for SimSiam).
    """
    p, s = _check_modes(p, "p", s, "s")
    _check_rates(sigma2, alpha_p, eta, tau)
    gap = tau - (1 + sigma2) * p
    return alpha_p * s * gap - eta * p, 2 * s * (p * gap - eta)


def integrate_eigen_ode(
    p0: torch.Tensor | float,
    s0: torch.Tensor | float,
    *,
    sigma2: float,
    steps: int,
    dt: float = 0.01,
    alpha_p: float = 1.0,
    eta: float = 0.0,
    tau: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Integrate :func:`eigen_ode` with classical 4th-order Runge-Kutta; returns ``p, s`` of shape
    ``(steps + 1, *p0.shape)`` (time ``k * dt`` in row ``k``)."""
    p, s = _check_modes(p0, "p0", s0, "s0")
    _check_rates(sigma2, alpha_p, eta, tau)
    check_int(steps, "steps", minimum=0)
    check_number(dt, "dt", low=0.0, low_open=True)
    kw = {"sigma2": sigma2, "alpha_p": alpha_p, "eta": eta, "tau": tau}
    ps, ss = [p], [s]
    for _ in range(steps):
        k1 = eigen_ode(p, s, **kw)
        k2 = eigen_ode(p + dt / 2 * k1[0], s + dt / 2 * k1[1], **kw)
        k3 = eigen_ode(p + dt / 2 * k2[0], s + dt / 2 * k2[1], **kw)
        k4 = eigen_ode(p + dt * k3[0], s + dt * k3[1], **kw)
        p = p + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        s = s + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        ps.append(p)
        ss.append(s)
    return torch.stack(ps), torch.stack(ss)


def fixed_points(sigma2: float, alpha_p: float = 1.0, eta: float = 0.0, tau: float = 1.0) -> list[tuple[float, float]]:
    r"""The non-collapsed fixed points :math:`(p^*, s^*)` of :func:`eigen_ode` (besides :math:`s = p = 0`).

    :math:`p^*` solves :math:`(1+\sigma^2) p^2 - \tau p + \eta = 0`, and :math:`s^* = p^{*2}/\alpha_p`
    (from :math:`\dot p = 0` with :math:`\tau - (1+\sigma^2)p^* = \eta/p^*`). With :math:`\eta = 0`
    only :math:`p^* = \tau/(1+\sigma^2)` remains, on a line of fixed points (any :math:`s`).
    Empty when :math:`\tau^2 < 4\eta(1+\sigma^2)`: weight decay then wins and every mode collapses.
    Returned largest :math:`p^*` first (the stable one).
    """
    _check_rates(sigma2, alpha_p, eta, tau)
    k = 1 + sigma2
    if eta == 0:
        p = tau / k
        return [(p, p * p / alpha_p)]
    disc = tau * tau - 4 * eta * k
    if disc < 0:
        return []
    roots = sorted({(tau + math.sqrt(disc)) / (2 * k), (tau - math.sqrt(disc)) / (2 * k)}, reverse=True)
    return [(p, p * p / alpha_p) for p in roots if p > 0]


def balanced_time(p: float, p0: float, sigma2: float) -> float:
    r"""Time for :math:`p` to go from ``p0`` to ``p`` in SimSiam's mode ODE with :math:`\eta = 0`,
    :math:`\alpha_p = 1`, :math:`\tau = 1` on the balanced manifold :math:`s = p^2`.

    There :math:`\dot p = p^2(1 - kp)`, :math:`k = 1+\sigma^2`, and partial fractions give
    :math:`t = \big[-1/p + k \log\frac{p}{1 - kp}\big]_{p_0}^{p}` for :math:`0 < p_0, p < 1/k`.
    (:math:`s - p^2/\alpha_p` is conserved when :math:`\eta = 0`, so :math:`s_0 = p_0^2` stays balanced.)
    """
    k = 1 + check_number(sigma2, "sigma2", low=0.0)
    for name, value in (("p", p), ("p0", p0)):
        if not 0 < check_number(value, name) < 1 / k:
            raise ValueError(f"{name} must lie in (0, 1/(1+sigma2)) = (0, {1 / k:.4g}); got {value}")

    def antiderivative(x: float) -> float:
        return -1 / x + k * math.log(x / (1 - k * x))

    return antiderivative(p) - antiderivative(p0)


def _check_model(W, Wp, Wa, sigma2) -> None:
    check_tensor(W, "W", ndim=2, dims="(m, n)", floating=True, nonempty=True)
    check_tensor(Wp, "Wp", ndim=2, dims=f"({W.shape[0]}, {W.shape[0]})", floating=True)
    if Wp.shape != (W.shape[0], W.shape[0]):
        raise ValueError(f"Wp must be ({W.shape[0]}, {W.shape[0]}); got {tuple(Wp.shape)}")
    check_matching_tensors({"W": W, "Wa": Wa}, ndim=2, floating=True)
    check_same_device(W, "W", Wp, "Wp")
    check_number(sigma2, "sigma2", low=0.0)


def _check_modes(p, p_name: str, s, s_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    p, s = as_float64(p, p_name), as_float64(s, s_name)
    try:
        torch.broadcast_shapes(p.shape, s.shape)
    except RuntimeError:
        raise ValueError(f"{s_name} must broadcast with {p_name} {tuple(p.shape)}; "
                         f"got shape {tuple(s.shape)}") from None
    # One shape for both, so that every mode's trajectory stacks (p0 = 0.1 with s0 of shape (m,)).
    p, s = torch.broadcast_tensors(p, s)
    return p, s


def _check_rates(sigma2, alpha_p, eta, tau) -> None:
    check_number(sigma2, "sigma2", low=0.0)
    check_number(alpha_p, "alpha_p", low=0.0, low_open=True)
    check_number(eta, "eta", low=0.0)
    check_number(tau, "tau")
