"""Sample-based entropy estimators: Gaussian kernels in R^d, von Mises-Fisher kernels on the sphere.

Taught in chapter 2 (``notebooks/02_mi_bounds.ipynb``); the entropy and reconstruction (ER)
terms are the ones Rodriguez-Galvez et al. (2023), "The Role of Entropy and Reconstruction in
Multi-View Self-Supervised Learning", ICML, train with (chapter 7).

The estimator is the *resubstitution* kernel density estimate (Ahmad & Lin 1976): fit a kernel
density to the samples, then average the surprise of the same samples under it,

.. math::
    \\hat p(z) = \\frac1N \\sum_{m=1}^N k_h(z - z_m), \\qquad
    \\hat H = -\\frac1N \\sum_{n=1}^N \\log \\hat p(z_n).

Each sample weighs ``1/N`` because the samples are draws from ``p``: the average is a Monte
Carlo estimate of :math:`H = \\mathbb E_p[-\\log p(Z)]`. With ``leave_one_out=True`` the point
itself is left out of its own density, :math:`\\hat p_{-n}(z_n) = \\frac1{N-1}\\sum_{m \\ne n}
k_h(z_n - z_m)`, which removes the self-term :math:`k_h(0)/N`. The self-term can only add
density, so the plain (resubstitution) estimate is never above the leave-one-out one on the same
samples; against the true entropy its bias has either sign, depending on the bandwidth (chapter 2
measures it), while leave-one-out's is upwards.

Everything is computed in log space (log-kernels combined with ``logsumexp``), works on batches
of sample sets ``(..., N, d)``, and is differentiable in the samples and in ``bandwidth`` /
``kappa``.

The samples are checked for NaN and infinities (and, for the sphere, unit norm), which reads
them: one host synchronisation per call, negligible next to the :math:`O(N^2)` kernel matrix.
These estimators measure a representation; none of them is on the training loop's hot path.

Example::

    >>> z = torch.randn(2000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(float(kde_entropy(z, leave_one_out=True)), 1)   # h(N(0, 1)) = 1.419 nats
    1.4
"""

from __future__ import annotations

import math

import torch

from .validation import as_float64, check_bool, check_generator, check_int, check_number, check_same_device

__all__ = [
    "scott_bandwidth",
    "silverman_bandwidth",
    "gaussian_kde_log_density",
    "kde_entropy",
    "sphere_log_area",
    "log_bessel_iv",
    "vmf_log_normalizer",
    "vmf_kde_log_density",
    "vmf_kde_entropy",
    "vmf_reconstruction_loss",
    "vmf_kde_entropy_ceiling",
    "vmf_entropy",
    "sample_vmf",
    "sample_uniform_sphere",
    "er_bound",
    "er_loss",
    "categorical_entropy_of_mean",
    "categorical_reconstruction_loss",
]

BANDWIDTH_RULES = ("scott", "silverman")


# --- Gaussian kernels in R^d ----------------------------------------------------------------


def scott_bandwidth(z: torch.Tensor) -> torch.Tensor:
    r"""Scott's rule :math:`h = \hat\sigma\, N^{-1/(d+4)}` for samples ``z: (..., N, d)``.

    :math:`\hat\sigma^2` is the unbiased variance averaged over the ``d`` coordinates (one
    isotropic bandwidth per sample set). For a standard normal this rule is close to the
    bandwidth that minimizes the mean integrated squared error of :math:`\hat p`.

    Returns:
        ``(...)`` tensor of bandwidths.
    """
    x = _check_samples(z, "z", min_n=2)
    n, d = x.shape[-2], x.shape[-1]
    return _pooled_std(x) * n ** (-1.0 / (d + 4))


def silverman_bandwidth(z: torch.Tensor) -> torch.Tensor:
    r"""Silverman's rule :math:`h = \hat\sigma\, \big(N (d + 2) / 4\big)^{-1/(d+4)}` for ``z: (..., N, d)``.

    Same :math:`\hat\sigma` as :func:`scott_bandwidth`; the two agree up to the factor
    :math:`((d+2)/4)^{-1/(d+4)}` (1.06 in one dimension, 1 in two).
    """
    x = _check_samples(z, "z", min_n=2)
    n, d = x.shape[-2], x.shape[-1]
    return _pooled_std(x) * (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))


def gaussian_kde_log_density(points: torch.Tensor, samples: torch.Tensor, bandwidth) -> torch.Tensor:
    r"""Log of the Gaussian kernel density estimate of ``samples``, evaluated at ``points``.

    .. math::
        \log \hat p(z) = \log \frac1N \sum_{m=1}^N \mathcal N\!\big(z;\, z_m,\, h^2 I_d\big)

    Args:
        points: ``(..., M, d)``.
        samples: ``(..., N, d)`` (leading dimensions broadcast with ``points``).
        bandwidth: ``h > 0``: a number, a ``(...)`` tensor, or ``"scott"`` / ``"silverman"``
            (computed from ``samples``).

    Returns:
        ``(..., M)`` tensor of log densities.
    """
    p = _check_samples(points, "points", min_n=1)
    s = _check_samples(samples, "samples", min_n=1)
    p, s = _matching_pair(p, "points", s, "samples")
    h = _resolve_bandwidth(bandwidth, s)
    log_k = _gaussian_log_kernel(p, s, h)
    return torch.logsumexp(log_k, dim=-1) - math.log(s.shape[-2])


def kde_entropy(z: torch.Tensor, bandwidth="scott", *, leave_one_out: bool = False) -> torch.Tensor:
    r"""Resubstitution estimate of the differential entropy of samples ``z``, Gaussian kernel.

    .. math::
        \hat H = -\frac1N \sum_{n=1}^N \log \frac1N \sum_{m=1}^N \mathcal N(z_n; z_m, h^2 I_d)

    With ``leave_one_out=True`` the inner sum skips :math:`m = n` and divides by :math:`N-1`.
    As :math:`N \to \infty` at a fixed ``h`` the estimate tends to the cross-entropy of ``p``
    with the smoothed density :math:`p * k_h`, which is :math:`\ge H(p)`; Scott's and
    Silverman's rules shrink ``h`` with ``N`` so that this smoothing bias vanishes.

    Args:
        z: ``(..., N, d)`` samples, ``N >= 2``.
        bandwidth: ``h > 0`` (number or ``(...)`` tensor), or ``"scott"`` (default) or
            ``"silverman"``.
        leave_one_out: leave each point out of its own density estimate.

    Returns:
        ``(...)`` tensor, in nats.

    Example::

        >>> z = torch.tensor([[0.0], [1.0], [3.0]])
        >>> round(float(kde_entropy(z, bandwidth=1.0)), 4)
        1.6267
    """
    x = _check_samples(z, "z", min_n=2)
    check_bool(leave_one_out, "leave_one_out")
    h = _resolve_bandwidth(bandwidth, x)
    log_k = _gaussian_log_kernel(x, x, h)
    return -_resubstitution_log_density(log_k, leave_one_out).mean(dim=-1)


# --- von Mises-Fisher kernels on the sphere --------------------------------------------------


def sphere_log_area(dim: int) -> float:
    r"""Log surface area of the unit sphere :math:`S^{d-1} \subset \mathbb R^d`, :math:`\log(2\pi^{d/2}/\Gamma(d/2))`.

    It is the differential entropy (with respect to surface area) of the uniform distribution
    on the sphere, the largest entropy any distribution on it can have.
    """
    check_int(dim, "dim", minimum=2)
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)


def log_bessel_iv(order, x: torch.Tensor) -> torch.Tensor:
    r"""Log of the modified Bessel function of the first kind, :math:`\log I_\nu(x)`, stable for any size.

    :math:`I_\nu(x)` underflows to 0 for large orders (:math:`I_{1023}(10) \approx 10^{-2000}`)
    and overflows for large arguments, so it is never formed. Two exact-in-the-limit routes:

    * :math:`\sqrt{\nu^2 + x^2} < 40`: the power series
      :math:`I_\nu(x) = \sum_{k \ge 0} \frac{(x/2)^{2k+\nu}}{k!\,\Gamma(k+\nu+1)}`, summed with
      ``logsumexp`` over 160 terms (the rest are below :math:`10^{-40}` of the sum);
    * otherwise Debye's uniform asymptotic expansion (Abramowitz & Stegun 9.7.7, DLMF 10.41.3)
      with the corrections :math:`u_1 \dots u_4`, written with :math:`s = \sqrt{\nu^2+x^2}` so that
      it also holds at :math:`\nu = 0`:
      :math:`\log I_\nu(x) \approx s + \nu\log\frac{x}{\nu + s} - \tfrac12\log(2\pi s)
      + \log\big(1 + \sum_{k=1}^{4} u_k(\nu/s)/\nu^k\big)`. The first neglected term is
      :math:`O(s^{-5})`: a few times :math:`10^{-9}` at the switch, less beyond it.

    Computed in float64 and returned in the dtype of ``x`` (float64 for Python numbers);
    differentiable in ``x``.

    Args:
        order: :math:`\nu \ge 0` (a number).
        x: argument, ``> 0``, any shape.
    """
    nu = check_number(order, "order", low=0.0)
    xt = _as_positive(x, "x")
    out_dtype = xt.dtype
    z = xt.to(torch.float64)
    s = torch.sqrt(nu * nu + z * z)
    use_series = s < _SERIES_RADIUS
    # Each branch sees only arguments inside its own region, so neither produces inf or NaN
    # (whose gradients would leak through torch.where).
    z_series = torch.where(use_series, z, torch.full_like(z, 1.0))
    z_debye = torch.where(use_series, torch.full_like(z, 2.0 * _SERIES_RADIUS), z)
    value = torch.where(use_series, _log_iv_series(nu, z_series), _log_iv_debye(nu, z_debye))
    return value.to(out_dtype)


def vmf_log_normalizer(kappa, dim: int) -> torch.Tensor:
    r"""Log normalizer :math:`\log C_d(\kappa)` of the von Mises-Fisher density on :math:`S^{d-1}`.

    .. math::
        f(z; \mu, \kappa) = C_d(\kappa)\, e^{\kappa \mu^\top z}, \qquad
        \log C_d(\kappa) = \Big(\frac d2 - 1\Big)\log\kappa - \frac d2 \log(2\pi) - \log I_{d/2-1}(\kappa)

    (density with respect to surface area). Uses :func:`log_bessel_iv`, so it stays finite for
    ``d`` in the thousands; the naive ``log(I_v(kappa) + 1e-7)`` is wrong by tens of nats as soon
    as :math:`I_v(\kappa) < 10^{-7}`. As :math:`\kappa \to 0` it tends to
    ``-sphere_log_area(dim)`` (the uniform distribution); for ``d = 3`` it equals
    :math:`\log\frac{\kappa}{4\pi\sinh\kappa}`.

    Args:
        kappa: concentration ``> 0``, number or tensor of any shape.
        dim: ambient dimension ``d >= 2`` (the sphere is :math:`S^{d-1}`).

    Returns:
        tensor of the shape of ``kappa`` (float64 for a Python number), differentiable in ``kappa``.
    """
    check_int(dim, "dim", minimum=2)
    k = _as_positive(kappa, "kappa")
    nu = 0.5 * dim - 1.0
    k64 = k.to(torch.float64)
    value = nu * torch.log(k64) - 0.5 * dim * math.log(2.0 * math.pi) - log_bessel_iv(nu, k64)
    return value.to(k.dtype)


def vmf_kde_log_density(points: torch.Tensor, samples: torch.Tensor, kappa, *, atol: float = 1e-4) -> torch.Tensor:
    r"""Log of the von Mises-Fisher kernel density estimate of unit-norm ``samples`` at unit-norm ``points``.

    .. math::
        \log \hat p(z) = \log C_d(\kappa) + \log \frac1N \sum_{m=1}^N e^{\kappa z^\top z_m}

    Args:
        points: ``(..., M, d)``, unit norm (within ``atol``).
        samples: ``(..., N, d)``, unit norm.
        kappa: concentration ``> 0`` (number or ``(...)`` tensor); larger is narrower.
        atol: tolerance on ``| ||z|| - 1 |``, in ``[0, 0.1]``.

    Returns:
        ``(..., M)`` log densities with respect to surface area on :math:`S^{d-1}`.
    """
    p = _check_unit(points, "points", atol, min_n=1)
    s = _check_unit(samples, "samples", atol, min_n=1)
    p, s = _matching_pair(p, "points", s, "samples")
    k = _kappa_like(kappa, s)
    log_k = _vmf_log_kernel(p, s, k)
    return torch.logsumexp(log_k, dim=-1) - math.log(s.shape[-2])


def vmf_kde_entropy(z: torch.Tensor, kappa, *, leave_one_out: bool = False, atol: float = 1e-4) -> torch.Tensor:
    r"""Resubstitution entropy estimate on the sphere with a von Mises-Fisher kernel.

    .. math::
        \hat H = -\frac1N \sum_{n=1}^N \Big[\log C_d(\kappa) + \log\frac1N\sum_{m=1}^N e^{\kappa z_n^\top z_m}\Big]

    The entropy term of the ER bound (Rodriguez-Galvez et al. 2023). For samples from the
    uniform distribution the large-``N`` limit is exactly ``sphere_log_area(d)`` at any
    ``kappa`` (smoothing a uniform density leaves it uniform); only the finite-``N`` self-term
    biases it, which ``leave_one_out=True`` removes.

    Args:
        z: ``(..., N, d)`` unit-norm embeddings, ``N >= 2``.
        kappa: concentration ``> 0``.
        leave_one_out: leave each point out of its own density estimate.
        atol: tolerance on ``| ||z_n|| - 1 |``, in ``[0, 0.1]`` (NaN is refused: it would switch
            the unit-norm check off).

    Returns:
        ``(...)`` tensor, in nats.
    """
    x = _check_unit(z, "z", atol, min_n=2)
    check_bool(leave_one_out, "leave_one_out")
    k = _kappa_like(kappa, x)
    log_k = _vmf_log_kernel(x, x, k)
    return -_resubstitution_log_density(log_k, leave_one_out).mean(dim=-1)


def vmf_reconstruction_loss(z1: torch.Tensor, z2: torch.Tensor, kappa, *, atol: float = 1e-4) -> torch.Tensor:
    r"""The ER reconstruction term for a von Mises-Fisher decoder, as a loss.

    .. math::
        \mathcal L_{\mathrm{rec}} = \frac1N\sum_{n=1}^N \big[-\kappa\, z_{1,n}^\top z_{2,n} - \log C_d(\kappa)\big]
        = -\frac1N\sum_n \log q(z_{1,n} \mid z_{2,n})

    with :math:`q(\cdot \mid z_2)` the vMF density centred on :math:`z_2`. It estimates a
    cross-entropy, so it upper-bounds :math:`H(Z_1 \mid Z_2)`, and
    :math:`I(Z_1; Z_2) \ge H(Z_1) - \mathcal L_{\mathrm{rec}}` in expectation: entropy and
    reconstruction must be of the same variable :math:`Z_1`.

    Args:
        z1, z2: ``(..., N, d)`` unit-norm embeddings of the two views.
        kappa: concentration ``> 0``.
        atol: tolerance on ``| ||z|| - 1 |``, in ``[0, 0.1]``.

    Returns:
        ``(...)`` tensor, in nats.
    """
    a = _check_unit(z1, "z1", atol, min_n=1)
    b = _check_unit(z2, "z2", atol, min_n=1)
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"z1 and z2 must have the same (N, d); got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = _matching_pair(a, "z1", b, "z2")
    k = _kappa_like(kappa, a)
    log_c = vmf_log_normalizer(k, a.shape[-1]).to(a.dtype)
    return -(k[..., None] * (a * b).sum(-1)).mean(dim=-1) - log_c


def vmf_kde_entropy_ceiling(n: int, kappa, dim: int) -> torch.Tensor:
    r"""The most the resubstitution vMF-KDE entropy of ``n`` samples can report: :math:`\log N - \log k(0)`.

    With the kernel :math:`C_d(\kappa) e^{\kappa z^\top z_m}` and its peak
    :math:`k(0) = C_d(\kappa) e^{\kappa}`, each sample's density includes its own kernel,
    :math:`\hat p(z_n) \ge k(0)/N`, so :math:`\hat H \le \log N - \log k(0)`; exactly,
    :math:`\hat H = \log N - \log k(0) - \frac1N\sum_n \log\big(1 + \sum_{m \ne n}
    e^{\kappa (z_n^\top z_m - 1)}\big)`, so the ceiling is approached when
    :math:`\kappa (1 - z_n^\top z_m) \gg 1` for every pair. The entropy analogue of InfoNCE's
    :math:`\log K`: an estimate from a batch of ``n`` cannot report more than this, whatever the
    true entropy.

    Args:
        n: number of samples ``>= 1``. kappa: concentration ``> 0``. dim: ``d >= 2``.

    Returns:
        ``log(n) - log k(0)`` in nats (float64 tensor of the shape of ``kappa``).

    Example::

        >>> z = torch.nn.functional.normalize(torch.randn(64, 8, dtype=torch.float64), dim=1)
        >>> bool(vmf_kde_entropy(z, 10.0) <= vmf_kde_entropy_ceiling(64, 10.0, 8))
        True
    """
    check_int(n, "n", minimum=1)
    k = _as_positive(kappa, "kappa").to(torch.float64)
    return math.log(n) - vmf_log_normalizer(k, dim) - k


def vmf_entropy(kappa, dim: int) -> torch.Tensor:
    r"""Differential entropy of the von Mises-Fisher distribution on :math:`S^{d-1}` (closed form).

    .. math::
        H = -\log C_d(\kappa) - \kappa A_d(\kappa), \qquad A_d(\kappa) = \frac{I_{d/2}(\kappa)}{I_{d/2-1}(\kappa)}
        = \mathbb E[\mu^\top Z]

    (with respect to surface area). As :math:`\kappa \to 0` it tends to ``sphere_log_area(dim)``.

    Args:
        kappa: concentration ``> 0``. dim: ``d >= 2``.

    Returns:
        nats, float64 tensor of the shape of ``kappa``.
    """
    check_int(dim, "dim", minimum=2)
    k = _as_positive(kappa, "kappa").to(torch.float64)
    mean_cos = torch.exp(log_bessel_iv(0.5 * dim, k) - log_bessel_iv(0.5 * dim - 1.0, k))
    return -vmf_log_normalizer(k, dim) - k * mean_cos


def sample_uniform_sphere(n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points drawn uniformly on :math:`S^{d-1}` (normalised Gaussian vectors), ``(n, dim)``, float64."""
    check_int(n, "n", minimum=1)
    check_int(dim, "dim", minimum=2)
    if generator is not None:
        check_generator(generator, "generator")
    return torch.nn.functional.normalize(torch.randn(n, dim, generator=generator, dtype=torch.float64), dim=1)


def sample_vmf(mu: torch.Tensor, kappa: float, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""``n`` draws from the von Mises-Fisher distribution with mean direction ``mu`` and concentration ``kappa``.

    Wood's (1994) rejection sampler for the cosine :math:`w = \mu^\top z`, whose density is
    proportional to :math:`e^{\kappa w}(1 - w^2)^{(d-3)/2}`, then a uniform direction orthogonal
    to ``mu``. Float64.

    Args:
        mu: ``(d,)`` unit vector, ``d >= 2``. kappa: ``> 0``. n: number of draws.

    Returns:
        ``(n, d)`` unit vectors.
    """
    m = _as_tensor(mu, "mu")
    if m.ndim != 1:
        raise ValueError(f"mu must be a (d,) unit vector; got shape {tuple(m.shape)}")
    m = _check_unit(m.to(torch.float64)[None], "mu", 1e-6, min_n=1)[0]
    k = float(check_number(kappa, "kappa", low=0.0, low_open=True))
    check_int(n, "n", minimum=1)
    if generator is not None:
        check_generator(generator, "generator")
    d = m.shape[0]
    b = (d - 1) / (2 * k + math.sqrt(4 * k * k + (d - 1) ** 2))
    x0 = (1 - b) / (1 + b)
    c = k * x0 + (d - 1) * math.log(1 - x0 * x0)
    shape = 0.5 * (d - 1)  # the proposal is Beta(shape, shape)
    w = torch.empty(0, dtype=torch.float64)
    while w.numel() < n:
        # Beta draws through two Gamma draws from the generator, so the sample is reproducible.
        size = 2 * (n - w.numel()) + 16
        g1, g0 = _gamma(shape, size, generator), _gamma(shape, size, generator)
        e = g1 / (g1 + g0)
        u = torch.rand(size, generator=generator, dtype=torch.float64)
        cand = (1 - (1 + b) * e) / (1 - (1 - b) * e)
        keep = k * cand + (d - 1) * torch.log(1 - x0 * cand) - c >= torch.log(u)
        w = torch.cat([w, cand[keep]])
    w = w[:n]
    v = torch.randn(n, d, generator=generator, dtype=torch.float64)
    v = torch.nn.functional.normalize(v - (v @ m)[:, None] * m, dim=1)  # orthogonal to mu
    return w[:, None] * m + torch.sqrt((1 - w * w).clamp_min(0))[:, None] * v


def er_bound(z1: torch.Tensor, z2: torch.Tensor, kappa, *, leave_one_out: bool = False,
             atol: float = 1e-4) -> torch.Tensor:
    r"""The entropy-and-reconstruction (ER) estimate of :math:`I(Z_1; Z_2)` (Rodriguez-Galvez et al. 2023).

    .. math::
        I(Z_1; Z_2) = H(Z_1) - H(Z_1 \mid Z_2) \ge H(Z_1) + \mathbb E\big[\log q(Z_1 \mid Z_2)\big]
        \approx \hat H(Z_1) - \mathcal L_{\mathrm{rec}}(z_1 \mid z_2)

    for any conditional density ``q`` (here a vMF centred on :math:`z_2`), with the entropy
    estimated by :func:`vmf_kde_entropy` and the reconstruction by
    :func:`vmf_reconstruction_loss`, both at the same ``kappa``. The normalizer
    :math:`\log C_d(\kappa)` enters both terms and cancels:

    .. math::
        \hat I_{\mathrm{ER}} = \log N + \frac1N \sum_n \Big[\kappa z_{1,n}^\top z_{2,n}
        - \log \sum_m e^{\kappa z_{1,n}^\top z_{1,m}}\Big]

    (resubstitution; leave-one-out drops :math:`m = n` and uses :math:`N - 1`). This is InfoNCE
    with the negatives taken from the anchor's own view: the only difference is which samples
    enter the denominator (chapter 7). The entropy and the reconstruction must be of the same
    variable: pairing :math:`H(Z_2)` with :math:`q(z_1 \mid z_2)` is a bound only when
    :math:`H(Z_2) \le H(Z_1)`.

    Args:
        z1, z2: ``(..., N, d)`` unit-norm embeddings of the two views, row ``n`` of each from sample ``n``.
        kappa: concentration ``> 0`` (for both terms).
        leave_one_out: leave each point out of its own density (see :func:`vmf_kde_entropy`).

    Returns:
        ``(...)`` tensor in nats.

    Example (identical views of four orthogonal directions: each anchor's own kernel is its
    only large term, so the estimate is near its ``log N`` limit)::

        >>> z = torch.eye(4, dtype=torch.float64)
        >>> round(float(er_bound(z, z, 20.0)), 4) == round(math.log(4) - math.log1p(3 * math.exp(-20.0)), 4)
        True
    """
    _check_unit(z1, "z1", atol, min_n=2)  # named as the caller wrote it, before vmf_kde_entropy calls it z
    return vmf_kde_entropy(z1, kappa, leave_one_out=leave_one_out, atol=atol) - vmf_reconstruction_loss(
        z1, z2, kappa, atol=atol)


def er_loss(z1: torch.Tensor, z2: torch.Tensor, kappa, *, entropy_weight: float = 1.0,
            leave_one_out: bool = False, return_terms: bool = False, atol: float = 1e-4):
    r"""The symmetric ER training loss on the sphere: minus entropy (weighted) plus reconstruction.

    .. math::
        \mathcal L_{\mathrm{ER}} = -\lambda\,\tfrac12\big[\hat H(Z_1) + \hat H(Z_2)\big]
        + \mathcal L_{\mathrm{rec}}(z_1, z_2)

    (:func:`vmf_kde_entropy`, :func:`vmf_reconstruction_loss`, which is symmetric in its two
    arguments). With :math:`\lambda = 1` it is minus the average of :func:`er_bound` over the two
    directions. The embeddings are normalised here (rows of any norm are accepted).

    Args:
        z1, z2: ``(N, d)`` embeddings of the two views.
        kappa: concentration ``> 0``. entropy_weight: :math:`\lambda \ge 0`.
        leave_one_out: for the entropy estimates.
        return_terms: also return the two terms.

    Returns:
        a 0-dim tensor (nats), differentiable in both embeddings; with ``return_terms``,
        ``(loss, entropy, reconstruction)``, the entropy being the two views' mean.

    Example::

        >>> z1, z2 = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
        >>> u1, u2 = (torch.nn.functional.normalize(z, dim=1) for z in (z1, z2))
        >>> bool(torch.isclose(er_loss(z1, z2, 5.0), -(er_bound(u1, u2, 5.0) + er_bound(u2, u1, 5.0)) / 2))
        True
    """
    a, b = _check_samples(z1, "z1", min_n=2), _check_samples(z2, "z2", min_n=2)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"z1 and z2 must be (N, d) of the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    weight = check_number(entropy_weight, "entropy_weight", low=0.0)
    check_bool(return_terms, "return_terms")
    u1, u2 = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    # Both views' entropies in one batched call: (2, N, d) -> (2,).
    entropy = vmf_kde_entropy(torch.stack([u1, u2]), kappa, leave_one_out=leave_one_out, atol=atol).mean()
    reconstruction = vmf_reconstruction_loss(u1, u2, kappa, atol=atol)
    loss = -weight * entropy + reconstruction
    return (loss, entropy, reconstruction) if return_terms else loss


def categorical_entropy_of_mean(p: torch.Tensor) -> torch.Tensor:
    r"""Plug-in entropy of a discrete code: :math:`H(\bar p)`, :math:`\bar p = \frac1N\sum_n p_n`.

    The ER entropy term for clustering methods (SwAV, DINO), whose embedding is a distribution
    :math:`p_n` over ``K`` prototypes: the marginal of the code ``W`` over the batch is
    :math:`\bar p`, so :math:`\hat H(W) = -\sum_k \bar p_k \log \bar p_k \le \log K`, equal to
    :math:`\log K` exactly when the batch uses every prototype equally (SwAV's equipartition).

    Args:
        p: ``(N, K)`` rows on the probability simplex (softmax outputs).

    Returns:
        a 0-dim tensor (nats).

    Example::

        >>> round(float(categorical_entropy_of_mean(torch.eye(3))), 4) == round(math.log(3), 4)
        True
    """
    x = _check_simplex(p, "p")
    mean = x.mean(dim=0)
    return -(mean * torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))).sum()


def categorical_reconstruction_loss(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    r"""The ER reconstruction term for discrete codes: the symmetric cross-entropy of the two views' codes.

    .. math::
        \mathcal L_{\mathrm{rec}} = \frac1{2N}\sum_n \Big[-\sum_k p_{1,nk} \log p_{2,nk}
        - \sum_k p_{2,nk}\log p_{1,nk}\Big]

    (each direction estimates :math:`-\mathbb E \log q(W_1 \mid W_2)` with :math:`q(\cdot\mid w_2) = p_2`,
    an upper bound on :math:`H(W_1 \mid W_2)`).

    Args:
        p1, p2: ``(N, K)`` codes of the two views (rows on the simplex).

    Returns:
        a 0-dim tensor (nats).
    """
    a, b = _check_simplex(p1, "p1"), _check_simplex(p2, "p2")
    if a.shape != b.shape:
        raise ValueError(f"p1 and p2 must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    tiny = torch.finfo(a.dtype).tiny
    return -0.5 * ((a * torch.log(b.clamp_min(tiny))).sum(-1) + (b * torch.log(a.clamp_min(tiny))).sum(-1)).mean()


# --- helpers -------------------------------------------------------------------------------

_SERIES_RADIUS = 40.0
_SERIES_TERMS = 160

# Debye's polynomials u_k(t) = t^k Q_k(t^2) (DLMF 10.41.10), as coefficients of Q_k in t^2.
_DEBYE = (
    (torch.tensor([3.0, -5.0], dtype=torch.float64) / 24.0),
    (torch.tensor([81.0, -462.0, 385.0], dtype=torch.float64) / 1152.0),
    (torch.tensor([30375.0, -369603.0, 765765.0, -425425.0], dtype=torch.float64) / 414720.0),
    (torch.tensor([4465125.0, -94121676.0, 349922430.0, -446185740.0, 185910725.0], dtype=torch.float64) / 39813120.0),
)


def _log_iv_series(nu: float, x: torch.Tensor) -> torch.Tensor:
    k = torch.arange(_SERIES_TERMS, dtype=torch.float64, device=x.device)
    log_terms = (2.0 * k + nu) * torch.log(0.5 * x)[..., None] - torch.lgamma(k + 1.0) - torch.lgamma(k + nu + 1.0)
    return torch.logsumexp(log_terms, dim=-1)


def _log_iv_debye(nu: float, x: torch.Tensor) -> torch.Tensor:
    s = torch.sqrt(nu * nu + x * x)
    tau = (nu / s) ** 2
    correction = torch.zeros_like(x)
    for power, coefficients in enumerate(_DEBYE, start=1):
        q = torch.zeros_like(x)
        for c in reversed(coefficients.tolist()):
            q = q * tau + c
        correction = correction + q / s**power
    return s + nu * torch.log(x / (nu + s)) - 0.5 * torch.log(2.0 * math.pi * s) + torch.log1p(correction)


def _gaussian_log_kernel(a: torch.Tensor, b: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    # Squared distances by expansion (no (..., M, N, d) tensor); centring first keeps the
    # cancellation in |a|^2 + |b|^2 - 2 a.b small when the data sit far from the origin.
    centre = b.mean(dim=-2, keepdim=True)
    a, b = a - centre, b - centre
    sq = (a * a).sum(-1)[..., :, None] + (b * b).sum(-1)[..., None, :] - 2.0 * a @ b.transpose(-1, -2)
    sq = sq.clamp_min(0.0)
    d = a.shape[-1]
    h2 = (h * h)[..., None, None]
    return -sq / (2.0 * h2) - 0.5 * d * torch.log(2.0 * math.pi * h2)


def _vmf_log_kernel(a: torch.Tensor, b: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    log_c = vmf_log_normalizer(kappa, a.shape[-1]).to(a.dtype)
    return kappa[..., None, None] * (a @ b.transpose(-1, -2)) + log_c[..., None, None]


def _resubstitution_log_density(log_k: torch.Tensor, leave_one_out: bool) -> torch.Tensor:
    n = log_k.shape[-1]
    if leave_one_out:
        eye = torch.eye(n, dtype=torch.bool, device=log_k.device)
        return torch.logsumexp(log_k.masked_fill(eye, -math.inf), dim=-1) - math.log(n - 1)
    return torch.logsumexp(log_k, dim=-1) - math.log(n)


def _pooled_std(x: torch.Tensor) -> torch.Tensor:
    return x.var(dim=-2, unbiased=True).mean(dim=-1).sqrt()


def _resolve_bandwidth(bandwidth, samples: torch.Tensor) -> torch.Tensor:
    if isinstance(bandwidth, str):
        if bandwidth not in BANDWIDTH_RULES:
            raise ValueError(
                f"bandwidth must be a positive number, a tensor, or one of {BANDWIDTH_RULES}; got {bandwidth!r}"
            )
        h = scott_bandwidth(samples) if bandwidth == "scott" else silverman_bandwidth(samples)
        if bool((h <= 0).any()):
            # All samples equal: the rule gives h = 0, and the kernel would divide 0 by 0.
            raise ValueError(f"bandwidth={bandwidth!r} gives h = 0 for a sample set without spread (all samples "
                             "equal); pass a positive number")
        return h
    return _positive_per_batch(bandwidth, samples, "bandwidth")


def _kappa_like(kappa, samples: torch.Tensor) -> torch.Tensor:
    return _positive_per_batch(kappa, samples, "kappa")


def _positive_per_batch(value, samples: torch.Tensor, name: str) -> torch.Tensor:
    # A positive scalar, or one per batch element of samples (..., N, D).
    out = _as_positive(value, name).to(device=samples.device, dtype=samples.dtype)
    batch = samples.shape[:-2]
    try:
        fits = torch.broadcast_shapes(out.shape, batch) == batch
    except RuntimeError:
        fits = False
    if not fits:
        # Not only a clash: a (3,) bandwidth for one sample set would silently make three estimates.
        raise ValueError(
            f"{name} must be a number or broadcast to the batch shape {tuple(batch)} of the samples; "
            f"got shape {tuple(out.shape)}"
        )
    return out


def _as_tensor(x, name: str) -> torch.Tensor:
    # Floating tensors keep their dtype (float32 embeddings stay float32); anything else is float64.
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x
    return as_float64(x, name)


def _matching_pair(a: torch.Tensor, name_a: str, b: torch.Tensor, name_b: str) -> tuple[torch.Tensor, torch.Tensor]:
    check_same_device(a, name_a, b, name_b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{name_a} and {name_b} must have the same dimension d; got {a.shape[-1]} and {b.shape[-1]}")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def _as_positive(x, name: str) -> torch.Tensor:
    t = _as_tensor(x, name)
    if not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
        raise ValueError(f"{name} must be finite and > 0; got {t.detach().flatten()[:4].tolist()}")
    return t


def _check_samples(z, name: str, *, min_n: int) -> torch.Tensor:
    x = _as_tensor(z, name)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (..., N, d); got {tuple(x.shape)}")
    if x.shape[-2] < min_n or x.shape[-1] < 1:
        raise ValueError(f"{name} must hold at least {min_n} sample(s) of dimension >= 1; got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return x


def _check_unit(z, name: str, atol: float, *, min_n: int) -> torch.Tensor:
    atol = check_number(atol, "atol", low=0.0, high=0.1)
    x = _check_samples(z, name, min_n=min_n)
    if x.shape[-1] < 2:
        raise ValueError(f"{name} must have dimension d >= 2 to lie on a sphere S^(d-1); got d = {x.shape[-1]}")
    worst = float((x.detach().norm(dim=-1) - 1.0).abs().max())
    if worst > atol:
        raise ValueError(
            f"{name} must have unit-norm rows (the vMF kernel lives on the sphere); the largest "
            f"| ||z|| - 1 | is {worst:.3g} > atol = {atol:g}. Normalize with torch.nn.functional.normalize"
        )
    return x


def _check_simplex(p, name: str) -> torch.Tensor:
    x = _check_samples(p, name, min_n=1)
    if x.ndim != 2:
        raise ValueError(f"{name} must be (N, K) rows on the probability simplex; got shape {tuple(x.shape)}")
    if bool((x < 0).any()) or not torch.allclose(x.sum(-1), torch.ones((), dtype=x.dtype), atol=1e-4):
        raise ValueError(f"{name} must hold probability rows (>= 0, summing to 1, e.g. softmax outputs)")
    return x


def _gamma(shape: float, size: int, generator: torch.Generator | None) -> torch.Tensor:
    # Marsaglia & Tsang's Gamma(shape, 1) sampler, from the generator's normals and uniforms; for
    # shape < 1 (d = 2) through Gamma(shape + 1) * U^(1 / shape).
    if shape < 1.0:
        boost = torch.rand(size, generator=generator, dtype=torch.float64) ** (1.0 / shape)
        return _gamma(shape + 1.0, size, generator) * boost
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(0, dtype=torch.float64)
    while out.numel() < size:
        x = torch.randn(2 * size, generator=generator, dtype=torch.float64)
        u = torch.rand(2 * size, generator=generator, dtype=torch.float64)
        v = (1 + c * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out = torch.cat([out, (d * v)[ok]])
    return out[:size]
