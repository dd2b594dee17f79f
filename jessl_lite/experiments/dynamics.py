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
    _check(W, Wp, Wa, sigma2)
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
    _check(W, Wp, Wa, sigma2)
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
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    if not 0 <= ema_decay <= 1:
        raise ValueError(f"ema_decay must be in [0, 1]; got {ema_decay}")
    if lr <= 0:
        raise ValueError(f"lr must be positive; got {lr}")
    W, Wp = W.double().clone(), Wp.double().clone()
    Wa = W.clone()
    _check(W, Wp, Wa, sigma2)
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
    if sigma2 < 0:
        raise ValueError(f"sigma2 must be >= 0; got {sigma2}")
    p, s = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)
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
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    if dt <= 0:
        raise ValueError(f"dt must be positive; got {dt}")
    kw = {"sigma2": sigma2, "alpha_p": alpha_p, "eta": eta, "tau": tau}
    p, s = torch.as_tensor(p0, dtype=torch.float64), torch.as_tensor(s0, dtype=torch.float64)
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
    if sigma2 < 0 or eta < 0 or alpha_p <= 0:
        raise ValueError(f"need sigma2 >= 0, eta >= 0, alpha_p > 0; got {sigma2}, {eta}, {alpha_p}")
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
    k = 1 + sigma2
    for name, value in (("p", p), ("p0", p0)):
        if not 0 < value < 1 / k:
            raise ValueError(f"{name} must lie in (0, 1/(1+sigma2)) = (0, {1 / k:.4g}); got {value}")

    def antiderivative(x: float) -> float:
        return -1 / x + k * math.log(x / (1 - k * x))

    return antiderivative(p) - antiderivative(p0)


def _check(W: torch.Tensor, Wp: torch.Tensor, Wa: torch.Tensor, sigma2: float) -> None:
    for name, x in (("W", W), ("Wp", Wp), ("Wa", Wa)):
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise TypeError(f"{name} must be a 2-D tensor")
    if Wp.shape != (W.shape[0], W.shape[0]):
        raise ValueError(f"Wp must be ({W.shape[0]}, {W.shape[0]}); got {tuple(Wp.shape)}")
    if Wa.shape != W.shape:
        raise ValueError(f"Wa must have W's shape {tuple(W.shape)}; got {tuple(Wa.shape)}")
    if sigma2 < 0:
        raise ValueError(f"sigma2 must be >= 0; got {sigma2}")
