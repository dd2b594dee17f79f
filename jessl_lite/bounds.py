"""Variational lower bounds on mutual information, the critics they train, and their Gaussian benchmark.

Taught in chapter 2 (``notebooks/02_mi_bounds.ipynb``), following Poole et al. (2019), "On
Variational Bounds of Mutual Information", ICML.

A *critic* ``f(x, y)`` scores how likely ``y`` is to have been drawn together with ``x``. For a
batch of ``K`` pairs ``(x_i, y_i)`` drawn from ``p(x, y)`` it produces the ``K x K`` score
matrix ``scores[i, j] = f(x_i, y_j)``: the diagonal holds the ``K`` joint pairs, the
off-diagonal entries stand in for ``K (K - 1)`` pairs from the product of marginals
``p(x) p(y)``. Every bound here is a function of that matrix alone:

* :func:`infonce_bound` (van den Oord et al. 2018), never above ``log K``;
* :func:`nwj_bound` (Nguyen, Wainwright & Jordan 2010), unbiased but high-variance;
* :func:`dv_bound` (Donsker & Varadhan 1983), the log of an average: biased as an estimate.

The benchmark is a pair of ``d``-dimensional Gaussians whose coordinates are correlated pairwise
with coefficient ``rho``, so that ``I(X; Y) = -d/2 log(1 - rho^2)``
(:func:`jessl_lite.info.correlated_gaussian_mi`); the analytic optimal critics of that pair
show each bound at its best.

Example::

    >>> x, y = sample_correlated_gaussian(512, dim=2, rho=0.8, generator=torch.Generator().manual_seed(2))
    >>> scores = optimal_nwj_critic(x, y, rho=0.8)
    >>> round(float(nwj_bound(scores)), 1)          # true MI: -log(1 - 0.64) = 1.02 nats
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .validation import (
    as_float64,
    check_callable,
    check_device,
    check_finite_tensor,
    check_instance,
    check_int,
    check_number,
    check_same_device,
    check_sizes,
    check_tensor,
)

__all__ = [
    "mlp",
    "SeparableCritic",
    "BilinearCritic",
    "ConcatCritic",
    "infonce_bound",
    "nwj_bound",
    "dv_bound",
    "rho_for_mi",
    "sample_correlated_gaussian",
    "GaussianStaircase",
    "gaussian_log_conditional",
    "gaussian_log_density_ratio",
    "optimal_infonce_critic",
    "optimal_nwj_critic",
    "BoundObjective",
    "exponential_moving_average",
]


# --- critics --------------------------------------------------------------------------------


def mlp(in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ``Linear + ReLU`` blocks of width ``hidden_dim``, then a ``Linear`` to ``out_dim``.

    Poole et al.'s critics use ``layers=2, hidden_dim=256``.
    """
    check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim)
    check_int(layers, "layers", minimum=0)
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden_dim), nn.ReLU()]
        width = hidden_dim
    blocks.append(nn.Linear(width, out_dim))
    return nn.Sequential(*blocks)


class SeparableCritic(nn.Module):
    r"""Separable critic :math:`f(x, y) = g(x)^\top h(y)` with two MLP encoders.

    The whole ``K x K`` score matrix costs two encoder passes and one matrix product, which is
    why contrastive learning (SimCLR, chapter 3) uses this form: ``g`` and ``h`` are the
    encoders, the score is a dot product of embeddings.

    Args:
        dim_x, dim_y: input dimensions.
        hidden_dim, layers: size of each encoder (:func:`mlp`).
        embed_dim: dimension of the embeddings whose dot product is the score.

    Shapes: ``forward(x: (K, dim_x), y: (K, dim_y)) -> (K, K)`` with ``[i, j] = f(x_i, y_j)``.

    Example::

        >>> critic = SeparableCritic(20, 20, hidden_dim=64, embed_dim=16)
        >>> critic(torch.randn(8, 20), torch.randn(8, 20)).shape
        torch.Size([8, 8])
    """

    def __init__(self, dim_x: int, dim_y: int, *, hidden_dim: int = 256, layers: int = 2, embed_dim: int = 32):
        super().__init__()
        # Checked here, under the names the caller wrote (mlp would call them in_dim and out_dim).
        check_int(dim_x, "dim_x", minimum=1)
        check_int(dim_y, "dim_y", minimum=1)
        check_int(embed_dim, "embed_dim", minimum=1)
        self.g = mlp(dim_x, hidden_dim, embed_dim, layers)
        self.h = mlp(dim_y, hidden_dim, embed_dim, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_batch_pair(x, y, self.g[0].in_features, self.h[0].in_features)
        return self.g(x) @ self.h(y).T


class BilinearCritic(nn.Module):
    r"""Bilinear critic :math:`f(x, y) = x^\top W y`.

    The smallest critic that sees how ``x`` and ``y`` interact. For correlated Gaussians it
    captures the cross term :math:`\tfrac{\rho}{1-\rho^2} x^\top y` of the optimal critic
    :math:`\log p(y \mid x)/p(y)` but not its term :math:`-\tfrac{\rho^2}{2(1-\rho^2)}\lVert y\rVert^2`,
    so it stays below the optimum even for InfoNCE (which forgives terms in :math:`x` alone,
    not terms in :math:`y`).

    Shapes: ``forward(x: (K, dim_x), y: (K, dim_y)) -> (K, K)``.
    """

    def __init__(self, dim_x: int, dim_y: int):
        super().__init__()
        check_int(dim_x, "dim_x", minimum=1)
        check_int(dim_y, "dim_y", minimum=1)
        # Small random start: W = 0 would make every score equal (the bound would start at 0).
        self.weight = nn.Parameter(torch.randn(dim_x, dim_y) / math.sqrt(dim_x * dim_y))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_batch_pair(x, y, self.weight.shape[0], self.weight.shape[1])
        return x @ self.weight @ y.T


class ConcatCritic(nn.Module):
    r"""Concatenation ("joint") critic :math:`f(x, y) = \mathrm{MLP}([x, y])`.

    The most expressive of the three: it can represent any score function, including the
    optimal :math:`1 + \log p(y \mid x) / p(y)`. It runs its MLP on all :math:`K^2` pairs of a
    batch, so it costs :math:`K` times more than :class:`SeparableCritic`. The first layer is
    computed once per row and once per column, since :math:`W [x; y] + b = (W_x x + b) + W_y y`:
    only the layers after it see all :math:`K^2` pairs.

    Shapes: ``forward(x: (K, dim_x), y: (K, dim_y)) -> (K, K)`` with ``[i, j] = f(x_i, y_j)``.
    """

    def __init__(self, dim_x: int, dim_y: int, *, hidden_dim: int = 256, layers: int = 2):
        super().__init__()
        check_int(dim_x, "dim_x", minimum=1)
        check_int(dim_y, "dim_y", minimum=1)
        self.dim_x, self.dim_y = dim_x, dim_y
        self.f = mlp(dim_x + dim_y, hidden_dim, 1, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_batch_pair(x, y, self.dim_x, self.dim_y)
        first = self.f[0]
        w_x, w_y = first.weight[:, : self.dim_x], first.weight[:, self.dim_x :]
        pairs = F.linear(x, w_x, first.bias)[:, None, :] + F.linear(y, w_y)[None, :, :]  # (K, K, hidden)
        return self.f[1:](pairs).squeeze(-1)


# --- bounds ---------------------------------------------------------------------------------


def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""InfoNCE lower bound on :math:`I(X; Y)` from a score matrix (van den Oord et al. 2018).

    .. math::
        I_{\mathrm{NCE}} = \log K + \frac1K \sum_{i=1}^K \Big[f(x_i, y_i)
            - \log \sum_{j=1}^K e^{f(x_i, y_j)}\Big] \;\le\; \log K

    Each bracket is a log-softmax, hence :math:`\le 0`: the bound can never exceed
    :math:`\log K` whatever the critic. Its optimal critic is
    :math:`\log p(y \mid x)/p(y) + c(x)` for any function :math:`c(x)`.

    Args:
        scores: ``(..., K, K)`` with ``scores[..., i, j] = f(x_i, y_j)``; ``K >= 2``; finite.

    Returns:
        ``(...)`` tensor (0-dim for one matrix), in nats.

    Example::

        >>> float(infonce_bound(torch.zeros(4, 4)))        # a critic that knows nothing
        0.0
    """
    s = _check_scores(scores)
    k = s.shape[-1]
    return math.log(k) + (torch.diagonal(s, dim1=-2, dim2=-1) - torch.logsumexp(s, dim=-1)).mean(dim=-1)


def nwj_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""NWJ lower bound on :math:`I(X; Y)` from a score matrix (Nguyen, Wainwright & Jordan 2010).

    .. math::
        I_{\mathrm{NWJ}} = \mathbb E_{p(x,y)}[f] - \mathbb E_{p(x)p(y)}\big[e^{f - 1}\big]
        \approx 1 + \frac1K\sum_i \big(f_{ii} - 1\big) - \frac{1}{K(K-1)}\sum_{i \ne j} e^{f_{ij} - 1}

    Both averages are unbiased, so the estimate is an unbiased estimate of a lower bound, but
    the second term averages exponentials: its variance grows like :math:`e^{2I}` near the
    optimal critic :math:`f^* = 1 + \log p(y \mid x)/p(y)`, where the bound equals :math:`I`.

    Args:
        scores: ``(..., K, K)``, ``K >= 2``, finite.

    Returns:
        ``(...)`` tensor, in nats.
    """
    s = _check_scores(scores)
    joint = torch.diagonal(s, dim1=-2, dim2=-1).mean(dim=-1)
    # exp(logmeanexp) rather than mean(exp): the same number, without overflowing an intermediate sum.
    marginal = torch.exp(_logmeanexp_off_diagonal(s - 1.0))
    return joint - marginal


def dv_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""Donsker-Varadhan bound on :math:`I(X; Y)` from a score matrix (as in MINE, Belghazi et al. 2018).

    .. math::
        I_{\mathrm{DV}} = \mathbb E_{p(x,y)}[f] - \log \mathbb E_{p(x)p(y)}\big[e^{f}\big]
        \approx \frac1K\sum_i f_{ii} - \log \frac{1}{K(K-1)}\sum_{i \ne j} e^{f_{ij}}

    Tighter than NWJ for every critic (:math:`\log u \le u/e` gives
    :math:`I_{\mathrm{DV}}(f) \ge I_{\mathrm{NWJ}}(f)`), and invariant to adding a constant to
    ``f``. The plug-in estimate takes the log of a sample mean, so it is biased upwards
    (Jensen) and is not a lower bound in expectation at finite ``K``.

    Args:
        scores: ``(..., K, K)``, ``K >= 2``, finite.

    Returns:
        ``(...)`` tensor, in nats.
    """
    s = _check_scores(scores)
    return torch.diagonal(s, dim1=-2, dim2=-1).mean(dim=-1) - _logmeanexp_off_diagonal(s)


# --- the correlated-Gaussian benchmark -------------------------------------------------------


def rho_for_mi(mi: float, dim: int) -> float:
    r"""The correlation whose ``dim`` coordinate pairs share ``mi`` nats: :math:`\rho = \sqrt{1 - e^{-2I/d}}`.

    Inverse of :func:`jessl_lite.info.correlated_gaussian_mi`.
    """
    check_int(dim, "dim", minimum=1)
    check_number(mi, "mi", low=0.0)
    return math.sqrt(-math.expm1(-2.0 * mi / dim))


def sample_correlated_gaussian(
    batch_size: int,
    dim: int,
    rho: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw ``batch_size`` pairs :math:`x \sim \mathcal N(0, I_d)`, :math:`y = \rho x + \sqrt{1-\rho^2}\,\varepsilon`.

    Every coordinate of ``x`` and ``y`` is standard normal, :math:`\mathrm{corr}(x_k, y_k) = \rho`,
    and :math:`I(X; Y) = -\tfrac d2 \log(1 - \rho^2)`. This is Poole et al.'s benchmark.

    Returns:
        ``(x, y)``, each ``(batch_size, dim)``.
    """
    check_int(batch_size, "batch_size", minimum=1)
    check_int(dim, "dim", minimum=1)
    r = _check_rho(rho)
    if generator is not None:
        check_instance(generator, "generator", torch.Generator, "a torch.Generator or None")
    if device is not None:
        device = check_device(device, "device")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")
    gen_device = generator.device if generator is not None else (device or "cpu")
    x = torch.randn(batch_size, dim, generator=generator, device=gen_device, dtype=dtype)
    eps = torch.randn(batch_size, dim, generator=generator, device=gen_device, dtype=dtype)
    y = r * x + math.sqrt(1.0 - r * r) * eps
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


@dataclass(frozen=True)
class GaussianStaircase:
    """Poole et al.'s staircase: the true MI steps through ``levels`` every ``steps_per_level`` steps.

    At training step ``t`` a batch comes from :func:`sample_correlated_gaussian` with the
    ``rho`` of the current level (:func:`rho_for_mi`). Poole et al. use ``dim=20``,
    ``batch_size=64``, levels 2, 4, 6, 8, 10 nats and 4000 steps per level.

    Example::

        >>> stairs = GaussianStaircase(steps_per_level=3)
        >>> stairs.steps, stairs.true_mi()[:4].tolist()
        (15, [2.0, 2.0, 2.0, 4.0])
    """

    dim: int = 20
    batch_size: int = 64
    levels: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0)
    steps_per_level: int = 4000

    def __post_init__(self) -> None:
        check_int(self.dim, "dim", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=2)  # a bound needs negatives
        check_int(self.steps_per_level, "steps_per_level", minimum=1)
        if isinstance(self.levels, str | bytes) or not isinstance(self.levels, tuple | list) or not self.levels:
            raise ValueError(f"levels must be a non-empty tuple of MI values (nats); got {self.levels!r}")
        for i, level in enumerate(self.levels):
            check_number(level, f"levels[{i}]", low=0.0)

    @property
    def steps(self) -> int:
        return len(self.levels) * self.steps_per_level

    def mi_at(self, step: int) -> float:
        """True MI (nats) of the batches drawn at ``step``."""
        check_int(step, "step", minimum=0, maximum=self.steps - 1)
        return float(self.levels[step // self.steps_per_level])

    def true_mi(self) -> torch.Tensor:
        """``(steps,)`` float64 tensor: the true MI at every step."""
        return torch.tensor(self.levels, dtype=torch.float64).repeat_interleave(self.steps_per_level)

    def sample(
        self,
        step: int,
        generator: torch.Generator | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch ``(x, y)``, each ``(batch_size, dim)``, at the MI of ``step``.

        ``sample(step, generator)`` is the signature of a sampler for :func:`jessl_lite.train.fit`:
        pass ``stairs.sample`` as its data (the batches land on the generator's device).
        """
        rho = rho_for_mi(self.mi_at(step), self.dim)
        return sample_correlated_gaussian(
            self.batch_size, self.dim, rho, generator=generator, device=device, dtype=dtype
        )


def gaussian_log_conditional(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    r"""``(K, K)`` matrix of :math:`\log p(y_j \mid x_i)` for the correlated-Gaussian pair.

    .. math::
        \log p(y \mid x) = -\tfrac d2 \log\big(2\pi(1-\rho^2)\big) - \frac{\lVert y - \rho x\rVert^2}{2(1-\rho^2)}

    Because the pair is symmetric, ``gaussian_log_conditional(y, x, rho).T`` is
    :math:`\log p(x_i \mid y_j)`.

    Args:
        x: ``(K, d)``; y: ``(M, d)``; rho: correlation in (-1, 1).

    Returns:
        ``(K, M)`` tensor in the dtype of ``x``.
    """
    r = _check_gaussian_pair(x, y, rho)
    return _log_conditional(x, y, r)


def gaussian_log_density_ratio(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    r"""``(K, K)`` matrix of :math:`\log r(x_i, y_j) = \log p(y_j \mid x_i) - \log p(y_j)`.

    The pointwise mutual information: :math:`I(X;Y) = \mathbb E_{p(x,y)}[\log r]`, and
    :math:`\mathbb E_{p(x)p(y)}[r] = 1`.
    """
    return _log_density_ratio(x, y, _check_gaussian_pair(x, y, rho))


def optimal_nwj_critic(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    r"""The NWJ optimal critic :math:`f^*(x, y) = 1 + \log \dfrac{p(y \mid x)}{p(y)}`, as a ``(K, K)`` matrix.

    Setting the derivative of :math:`\mathbb E_p[f] - \mathbb E_{p(x)p(y)}[e^{f-1}]` with
    respect to :math:`f(x, y)` to zero gives :math:`p(x,y) = p(x)p(y)e^{f-1}`. (Not
    :math:`1 + \log p(y \mid x)`: without the division by :math:`p(y)` the bound is loose.)
    """
    return 1.0 + _log_density_ratio(x, y, _check_gaussian_pair(x, y, rho))


def optimal_infonce_critic(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    r"""An InfoNCE optimal critic, :math:`f^*(x, y) = \log p(x \mid y)`, as a ``(K, K)`` matrix.

    InfoNCE's log-softmax over :math:`j` ignores any :math:`c(x_i)` added to row :math:`i`, so
    every :math:`\log p(y\mid x)/p(y) + c(x)` is optimal; this one takes :math:`c(x) = \log p(x)`,
    which turns the ratio into :math:`\log p(x \mid y)`. :math:`\log p(y \mid x)` is *not*
    optimal (it adds :math:`\log p(y_j)`, a function of the softmax's own index).
    """
    # Checked as (x, y) before the swap, so that a bad x is called x.
    return _log_conditional(y, x, _check_gaussian_pair(x, y, rho)).T


# --- training a critic ----------------------------------------------------------------------


class BoundObjective(nn.Module):
    r"""A critic trained to maximize a variational bound: the objective :func:`jessl_lite.train.fit` trains.

    Poole et al. (2019) train a critic ``f`` by gradient ascent on a bound computed from each
    batch's score matrix; the book's one training loop minimizes a loss, so the loss is

    .. math::
        \mathcal L(x_{1:K}, y_{1:K}) = -I_{\text{bound}}\big(S\big), \qquad S_{ij} = f(x_i, y_j),

    and the bound itself, the running estimate of :math:`I(X; Y)` on that batch (before the step's
    update), is logged as ``"bound"``. Chapter 2 trains with Adam at ``lr=5e-4``, a constant rate,
    no weight decay, float32 scores (``precision="fp32"``, also on a GPU), and
    ``on_nonfinite="skip"`` (one overflow of NWJ's exponential skips one step instead of stopping
    the run).

    Args:
        critic: maps ``(x: (K, dim_x), y: (K, dim_y))`` to the ``(K, K)`` score matrix
            (:class:`SeparableCritic`, :class:`BilinearCritic`, :class:`ConcatCritic`, ...).
        bound: :func:`infonce_bound`, :func:`nwj_bound`, :func:`dv_bound`, or any function of the
            score matrix returning a 0-dim tensor in nats.

    Shapes: ``loss(x: (K, dim_x), y: (K, dim_y)) -> (loss: (), {"bound": ()})``.

    Example::

        >>> from jessl_lite.train import FitConfig, fit
        >>> stairs = GaussianStaircase(levels=(2.0,), steps_per_level=50)
        >>> config = FitConfig(steps=stairs.steps, optimizer="adam", lr=5e-4, lr_schedule="constant",
        ...                    weight_decay=0.0, on_nonfinite="skip", log_every=1, progress=False)
        >>> objective = BoundObjective(SeparableCritic(20, 20, hidden_dim=32), infonce_bound)
        >>> run = fit(objective, stairs.sample, None, config)
        >>> steps, estimates = run.curve("bound")   # nats, one per step
        >>> estimates.shape
        (50,)
    """

    def __init__(self, critic: nn.Module, bound: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        check_instance(critic, "critic", nn.Module, "a torch.nn.Module")
        check_callable(bound, "bound", "bound(scores) -> 0-dim tensor")
        self.critic = critic
        self.bound = bound
        self.name = f"{getattr(bound, '__name__', type(bound).__name__)} with {type(critic).__name__}"

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        value = self.bound(self.critic(x, y))
        return -value, {"bound": value.detach()}

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.loss(x, y)


def exponential_moving_average(values: torch.Tensor, span: int) -> torch.Tensor:
    r"""Smooth a trajectory as ``pandas.Series(values).ewm(span=span).mean()`` does (``adjust=True``).

    .. math::
        \bar v_t = \frac{\sum_{s \le t} (1-\alpha)^{t-s} v_s}{\sum_{s \le t} (1-\alpha)^{t-s}},
        \qquad \alpha = \frac{2}{\mathrm{span} + 1}

    Non-finite entries are left out of both sums (they keep their place in time). Poole et
    al. plot their estimates smoothed this way with ``span=200``.

    Args:
        values: ``(T,)`` trajectory.
        span: the smoothing span, ``>= 1``.

    Returns:
        ``(T,)`` float64 tensor; NaN until the first finite value.
    """
    check_int(span, "span", minimum=1)
    v = as_float64(values, "values")
    if v.ndim != 1:
        raise ValueError(f"values must be a 1-D trajectory of shape (T,); got shape {tuple(v.shape)}")
    v = v.detach().cpu()
    decay = 1.0 - 2.0 / (span + 1.0)
    out = torch.empty_like(v)
    num = den = 0.0
    for t, value in enumerate(v.tolist()):
        num *= decay
        den *= decay
        if math.isfinite(value):
            num += value
            den += 1.0
        out[t] = num / den if den > 0 else math.nan
    return out


# --- helpers -------------------------------------------------------------------------------


def _logmeanexp_off_diagonal(s: torch.Tensor) -> torch.Tensor:
    k = s.shape[-1]
    eye = torch.eye(k, dtype=torch.bool, device=s.device)
    off = s.masked_fill(eye, -math.inf)
    return torch.logsumexp(off.flatten(-2), dim=-1) - math.log(k * (k - 1))


def _log_conditional(x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    d = x.shape[1]
    one_minus = 1.0 - r * r
    # ||y - rho x||^2 expanded, so that no (K, M, d) tensor is ever formed.
    sq = (y * y).sum(-1)[None, :] - 2.0 * r * (x @ y.T) + (r * r) * (x * x).sum(-1)[:, None]
    return -0.5 * d * math.log(2.0 * math.pi * one_minus) - sq.clamp_min(0.0) / (2.0 * one_minus)


def _log_density_ratio(x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    log_marginal_y = -0.5 * y.shape[1] * math.log(2.0 * math.pi) - 0.5 * (y * y).sum(-1)
    return _log_conditional(x, y, r) - log_marginal_y[None, :]


def _check_gaussian_pair(x, y, rho) -> float:
    check_tensor(x, "x", ndim=2, dims="(K, d)", floating=True)
    check_tensor(y, "y", ndim=2, dims="(M, d)", floating=True)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"y must have the dimension d = {x.shape[1]} of x; got shape {tuple(y.shape)}")
    check_same_device(x, "x", y, "y")
    return _check_rho(rho)


def _check_scores(scores) -> torch.Tensor:
    check_tensor(scores, "scores", min_ndim=2, dims="(..., K, K)", floating=True)
    if scores.shape[-1] != scores.shape[-2]:
        raise ValueError(f"scores must be square, of shape (..., K, K); got shape {tuple(scores.shape)}")
    if scores.shape[-1] < 2:
        raise ValueError(f"scores must have K >= 2 (a bound needs at least one negative); got K = {scores.shape[-1]}")
    # Read on the CPU only: on a GPU this runs in every training step, and a NaN score there gives a
    # NaN bound, which fit's NaN guard catches without a host synchronisation here.
    return check_finite_tensor(scores, "scores", cpu_only=True, hint=": check the critic")


def _check_rho(rho) -> float:
    return check_number(rho, "rho", low=-1.0, high=1.0, low_open=True, high_open=True)


def _check_batch_pair(x, y, dim_x: int, dim_y: int) -> None:
    check_tensor(x, "x", ndim=2, dims=f"(K, {dim_x})", floating=True)
    check_tensor(y, "y", ndim=2, dims=f"(K, {dim_y})", floating=True)
    for name, t, dim in (("x", x, dim_x), ("y", y, dim_y)):
        if t.shape[1] != dim:
            raise ValueError(f"{name} must have shape (K, {dim}); got shape {tuple(t.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"y must hold as many samples K as x ({x.shape[0]}); got {y.shape[0]}")
