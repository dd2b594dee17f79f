r"""Barlow Twins' information-bottleneck view with Gaussian embeddings: log-determinants.

Taught in chapter 6 (``notebooks/06_information_bottleneck.ipynb``). Zbontar et al. (2021,
appendix A) write the IB objective of a deterministic embedding :math:`Z` of a distorted image
:math:`Y` of an image :math:`X` as :math:`I(Z; Y) - \beta I(Z; X)`, drop :math:`h(Z \mid Y)`
because the encoder is deterministic, divide by :math:`\beta`, and with Gaussian entropies
:math:`h = \tfrac12\log\det(2\pi e\, C)` obtain

.. math:: \mathrm{IB} = h(Z \mid X) + \frac{1-\beta}{\beta}\, h(Z)
          = \tfrac12 \log\det C_{Z\mid X} + \frac{1-\beta}{\beta}\,\tfrac12 \log\det C_Z + \text{const}.

The linear-Gaussian two-view world makes every term exact: :math:`X \sim \mathcal N(0, \Sigma_x)`
in :math:`\mathbb R^d`, two views :math:`Y_k = X + N_k` with independent noise
:math:`N_k \sim \mathcal N(0, \Sigma_n)`, and embeddings :math:`Z_k = W Y_k` with
:math:`W \in \mathbb R^{m \times d}`. Then

.. math:: C_Z = W(\Sigma_x + \Sigma_n)W^\top, \quad C_{Z\mid X} = W \Sigma_n W^\top, \quad
          \mathrm{Cov}(Z_1, Z_2) = W \Sigma_x W^\top.

Entropies and MIs come from :func:`jessl_lite.info.gaussian_entropy` and
:func:`jessl_lite.info.gaussian_mutual_information`.

Example::

    >>> import torch
    >>> views = linear_gaussian_views(torch.eye(2), 3.0 * torch.eye(2), torch.eye(2))
    >>> round(float(views.mutual_information_zx()), 4)      # 2 * 1/2 log(1 + 3/1)
    1.3863
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import info, losses
from ..validation import (
    as_float64,
    check_covariance,
    check_finite_tensor,
    check_generator,
    check_int,
    check_number,
    check_same_device,
    check_same_shape,
)

__all__ = [
    "GaussianViews",
    "linear_gaussian_views",
    "sample_linear_gaussian_views",
    "covariance",
    "conditional_covariance_from_views",
    "gaussian_ib_objective",
    "cross_correlation",
    "barlow_twins_terms",
]


@dataclass(frozen=True)
class GaussianViews:
    r"""Closed-form covariances of the linear-Gaussian two-view world (float64).

    Attributes:
        w: (m, d) the linear encoder.
        cov_x: (d, d) covariance of the image X.
        cov_noise: (d, d) covariance of each view's distortion.
        cov_z: (m, m) :math:`C_Z = W(\Sigma_x + \Sigma_n)W^\top`, the covariance of one embedding.
        cov_z_given_x: (m, m) :math:`C_{Z\mid X} = W\Sigma_n W^\top`.
        cross_cov: (m, m) :math:`\mathrm{Cov}(Z_1, Z_2) = W\Sigma_x W^\top`.
    """

    w: torch.Tensor
    cov_x: torch.Tensor
    cov_noise: torch.Tensor
    cov_z: torch.Tensor
    cov_z_given_x: torch.Tensor
    cross_cov: torch.Tensor

    def __post_init__(self) -> None:
        # Built directly (not by linear_gaussian_views), the shapes are checked: the entropies read them.
        for name in ("w", "cov_x", "cov_noise", "cov_z", "cov_z_given_x", "cross_cov"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.ndim != 2:
                raise TypeError(f"{name} must be a 2-D float tensor (linear_gaussian_views builds them); got "
                                f"{getattr(value, 'shape', type(value).__name__)}")
        m, d = self.w.shape
        if m == 0 or d == 0:
            raise ValueError(f"w must have shape (m, d) with m, d >= 1; got {tuple(self.w.shape)}")
        for name, size in (("cov_x", d), ("cov_noise", d), ("cov_z", m), ("cov_z_given_x", m), ("cross_cov", m)):
            if tuple(getattr(self, name).shape) != (size, size):
                raise ValueError(f"{name} must have shape ({size}, {size}); got {tuple(getattr(self, name).shape)}")

    def entropy_z(self) -> torch.Tensor:
        r""":math:`h(Z) = \tfrac12\log\det(2\pi e\, C_Z)`, nats."""
        return info.gaussian_entropy(self.cov_z)

    def entropy_z_given_x(self) -> torch.Tensor:
        r""":math:`h(Z \mid X) = \tfrac12\log\det(2\pi e\, C_{Z\mid X})`, nats (the same for every x)."""
        return info.gaussian_entropy(self.cov_z_given_x)

    def mutual_information_zx(self) -> torch.Tensor:
        r""":math:`I(Z; X)` from the joint covariance of :math:`(Z, X)`, nats."""
        wx = self.w @ self.cov_x
        joint = torch.cat([torch.cat([self.cov_z, wx], 1), torch.cat([wx.T, self.cov_x], 1)], 0)
        return info.gaussian_mutual_information(_symmetrize(joint), dim_x=self.cov_z.shape[0])

    def mutual_information_views(self) -> torch.Tensor:
        r""":math:`I(Z_1; Z_2)` from the joint covariance of the two embeddings, nats."""
        joint = torch.cat([torch.cat([self.cov_z, self.cross_cov], 1), torch.cat([self.cross_cov.T, self.cov_z], 1)], 0)
        return info.gaussian_mutual_information(_symmetrize(joint), dim_x=self.cov_z.shape[0])

    def cross_correlation(self) -> torch.Tensor:
        r"""(m, m) population cross-correlation of the two views, Barlow Twins' matrix :math:`\mathcal C`."""
        scale = self.cov_z.diagonal().rsqrt()
        return scale[:, None] * self.cross_cov * scale[None, :]


def linear_gaussian_views(w, cov_x, cov_noise) -> GaussianViews:
    r"""The closed-form covariances of :math:`Z_k = W(X + N_k)`; see the module docstring.

    Args:
        w: (m, d) encoder with full row rank (so that every covariance is positive definite).
        cov_x: (d, d) symmetric positive-definite covariance of X.
        cov_noise: (d, d) symmetric positive-definite covariance of each distortion.
    """
    sigma_x = check_covariance(cov_x, "cov_x")
    sigma_n = check_covariance(cov_noise, "cov_noise")
    if sigma_x.shape != sigma_n.shape:
        raise ValueError(f"cov_noise must have the shape of cov_x {tuple(sigma_x.shape)}; got {tuple(sigma_n.shape)}")
    weights = as_float64(w, "w")
    if weights.ndim != 2 or weights.shape[1] != sigma_x.shape[0] or weights.shape[0] == 0:
        raise ValueError(f"w must have shape (m, d) with m >= 1 and d = {sigma_x.shape[0]}; got {tuple(weights.shape)}")
    check_finite_tensor(weights, "w")
    if weights.device != sigma_x.device or sigma_n.device != sigma_x.device:
        raise ValueError(f"w, cov_x and cov_noise must be on one device; got {weights.device}, {sigma_x.device} "
                         f"and {sigma_n.device}")
    if int(torch.linalg.matrix_rank(weights)) < weights.shape[0]:
        raise ValueError("w must have full row rank (m independent rows), or C_Z is singular")
    return GaussianViews(
        w=weights,
        cov_x=sigma_x,
        cov_noise=sigma_n,
        cov_z=_symmetrize(weights @ (sigma_x + sigma_n) @ weights.T),
        cov_z_given_x=_symmetrize(weights @ sigma_n @ weights.T),
        cross_cov=_symmetrize(weights @ sigma_x @ weights.T),
    )


def sample_linear_gaussian_views(
    views: GaussianViews, n: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` images and the embeddings of two independent distortions of each.

    Returns:
        ``(x, z1, z2)`` of shapes (n, d), (n, m), (n, m), float64.
    """
    if not isinstance(views, GaussianViews):
        raise TypeError(f"views must be a GaussianViews (from linear_gaussian_views); got {type(views).__name__}")
    n = check_int(n, "n", minimum=2)
    check_generator(generator, "generator", optional=True)
    d = views.cov_x.shape[0]
    chol_x = torch.linalg.cholesky(views.cov_x)
    chol_n = torch.linalg.cholesky(views.cov_noise)

    def gaussian(chol: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, d, generator=generator, dtype=torch.float64) @ chol.T

    x = gaussian(chol_x)
    z1 = (x + gaussian(chol_n)) @ views.w.T
    z2 = (x + gaussian(chol_n)) @ views.w.T
    return x, z1, z2


def covariance(z) -> torch.Tensor:
    r"""Unbiased sample covariance of the rows of ``z``: (n, m) -> (m, m), float64."""
    samples = _samples(z, "z")
    centered = samples - samples.mean(0, keepdim=True)
    return _symmetrize(centered.T @ centered / (samples.shape[0] - 1))


def conditional_covariance_from_views(z1, z2) -> torch.Tensor:
    r"""Estimate :math:`\mathbb E_X[C_{Z\mid X}]` from two views of each image.

    When :math:`Z_1, Z_2` are independent given :math:`X` and equally distributed,
    :math:`\mathrm{Cov}(Z_1 - Z_2) = 2\,\mathbb E_X[C_{Z\mid X}]`, so half the sample covariance of the
    view differences estimates the conditional covariance without knowing :math:`X`.

    Args:
        z1, z2: (n, m) embeddings of two distortions of the same n images, row by row.
    """
    a = _samples(z1, "z1")
    b = _samples(z2, "z2")
    check_same_shape(a, "z1", b, "z2")
    check_same_device(a, "z1", b, "z2")
    return 0.5 * covariance(a - b)


def gaussian_ib_objective(cov_z, cov_z_given_x, beta: float) -> torch.Tensor:
    r"""Barlow Twins' Gaussian IB objective, :math:`h(Z\mid X) + \frac{1-\beta}{\beta} h(Z)`, nats.

    Zbontar et al. (2021), appendix A, with :math:`h(Z \mid Y)` dropped as they do; chapter 6
    shows why that term is really :math:`-\infty` for a deterministic continuous encoder.

    Args:
        cov_z: (m, m) covariance of the embedding.
        cov_z_given_x: (m, m) conditional covariance given the image.
        beta: trade-off, > 0.
    """
    beta = check_number(beta, "beta", low=0.0, low_open=True)
    sigma_z = check_covariance(cov_z, "cov_z")
    sigma_z_given_x = check_covariance(cov_z_given_x, "cov_z_given_x")
    # Both are covariances of the same m-dimensional embedding: a 2 x 2 and a 3 x 3 would add
    # entropies of different variables and return a number that means nothing.
    if sigma_z_given_x.shape != sigma_z.shape:
        raise ValueError(
            f"cov_z_given_x must have the shape of cov_z {tuple(sigma_z.shape)}; got {tuple(sigma_z_given_x.shape)}"
        )
    return info.gaussian_entropy(sigma_z_given_x) + (1 - beta) / beta * info.gaussian_entropy(sigma_z)


def cross_correlation(z1, z2, *, eps: float = 1e-12) -> torch.Tensor:
    r"""Barlow Twins' cross-correlation matrix of two batches of embeddings (Zbontar et al. 2021, eq. 2).

    .. math:: \mathcal C_{ij} = \frac1N \sum_{b=1}^{N} \tilde z^{(1)}_{b,i}\, \tilde z^{(2)}_{b,j}

    where :math:`\tilde z` is each feature standardized over the batch (mean 0, biased variance 1,
    as the official code's ``BatchNorm1d(affine=False)`` does); so :math:`\mathcal C_{ij}` is the
    sample Pearson correlation of feature i of view 1 with feature j of view 2. This is
    :func:`jessl_lite.losses.cross_correlation`, the function Barlow Twins trains with, applied in
    float64 to any array-like with a tiny default ``eps``.

    Args:
        z1, z2: (N, D) embeddings of two views of the same N images, row by row.
        eps: added to each variance before the square root, for constant features.

    Returns:
        (D, D) float64 tensor.
    """
    a = _samples(z1, "z1")
    b = _samples(z2, "z2")
    check_same_shape(a, "z1", b, "z2")
    check_same_device(a, "z1", b, "z2")
    eps = check_number(eps, "eps", low=0.0)
    # The one implementation of Barlow Twins' matrix is the loss's (chapter 3), here in float64.
    return losses.cross_correlation(a, b, eps)


def barlow_twins_terms(c) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two terms of Barlow Twins' loss for a cross-correlation matrix :math:`\mathcal C`.

    .. math:: \text{invariance} = \sum_i (1 - \mathcal C_{ii})^2, \qquad
              \text{redundancy} = \sum_{i \ne j} \mathcal C_{ij}^2

    The loss is ``invariance + lambd * redundancy`` with :math:`\lambda = 5\cdot10^{-3}` in the
    paper (Zbontar et al. 2021, eq. 1). This is :func:`jessl_lite.losses.barlow_twins_terms` for
    any array-like, in float64.

    Args:
        c: (D, D) cross-correlation matrix, from :func:`cross_correlation` or
            :meth:`GaussianViews.cross_correlation`.
    """
    matrix = as_float64(c, "c")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"c must be a square (D, D) matrix; got shape {tuple(matrix.shape)}")
    return losses.barlow_twins_terms(check_finite_tensor(matrix, "c"))


def _samples(z, name: str) -> torch.Tensor:
    samples = as_float64(z, name)
    if samples.ndim != 2 or samples.shape[0] < 2 or samples.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, m) with n >= 2 and m >= 1; got {tuple(samples.shape)}")
    return check_finite_tensor(samples, name)


def _symmetrize(matrix: torch.Tensor) -> torch.Tensor:
    # Products like W S W^T are symmetric in exact arithmetic; rounding is removed so that the
    # symmetry check of info.gaussian_entropy does not trip on 1e-17 differences.
    return 0.5 * (matrix + matrix.T)
