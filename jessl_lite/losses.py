r"""The loss functions of joint-embedding methods, as plain functions of tensors.

Each takes the embeddings (or prototype scores) of a batch, rows being samples, and returns a
0-dim tensor; the methods in :mod:`jessl_lite.methods` compute the embeddings, gather the global
batch under data-parallel training and call one loss each. BYOL's and SimSiam's symmetric
losses are built from the pairwise :func:`normalized_mse` and :func:`negative_cosine_similarity`.
Chapter 3 sets them side by side, chapter 4 studies the negative cosine of SimSiam and BYOL.
Every loss computes in float32 (or float64 when given float64, for ``gradcheck``), also inside a
mixed-precision autocast region.

=================================  ======================================  ===================================
loss                               method (paper)                          value at collapse
=================================  ======================================  ===================================
:func:`nt_xent_loss`               SimCLR (Chen et al. 2020)               :math:`\log(2N - 1)`
:func:`swav_loss`                  SwAV (Caron et al. 2020)                :math:`\log K` for uniform scores
:func:`byol_loss`                  BYOL (Grill et al. 2020)                0 (blind to collapse)
:func:`simsiam_loss`               SimSiam (Chen & He 2021)                -1 (blind to collapse)
:func:`barlow_twins_loss`          Barlow Twins (Zbontar et al. 2021)      :math:`D`
:func:`vicreg_loss`                VICReg (Bardes et al. 2022)             :math:`25 (1 - \sqrt{10^{-4}}) = 24.75`
=================================  ======================================  ===================================

Example::

    >>> z = torch.ones(8, 16)                     # a collapsed batch: every embedding equal
    >>> round(float(nt_xent_loss(z, z)), 4) == round(math.log(15), 4)
    True
    >>> float(barlow_twins_loss(z, z))            # C = 0: the D diagonal terms each cost 1
    16.0
"""

from __future__ import annotations

import contextlib
import math  # noqa: F401 (the examples in the docstrings use it)

import torch
import torch.nn.functional as F

from .validation import check_bool, check_int, check_matching_tensors, check_number, check_same_device, check_tensor

__all__ = [
    "negative_cosine_similarity",
    "simsiam_loss",
    "normalized_mse",
    "byol_loss",
    "nt_xent_loss",
    "sinkhorn_knopp",
    "swav_loss",
    "cross_correlation",
    "barlow_twins_terms",
    "barlow_twins_loss",
    "vicreg_terms",
    "vicreg_loss",
]


def negative_cosine_similarity(p: torch.Tensor, z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""The mean negative cosine similarity of paired rows (SimSiam's :math:`\mathcal{D}`, Chen & He 2021).

    .. math:: \mathcal{D}(p, z) = -\frac{1}{N} \sum_{i=1}^N
              \frac{p_i}{\lVert p_i \rVert_2} \cdot \frac{z_i}{\lVert z_i \rVert_2}

    It lies in [-1, 1] and equals -1 exactly when every ``p_i`` points along ``z_i``. BYOL's
    normalised mean squared error is ``2 + 2 D(p, z)``. Stop-gradient is the caller's choice:
    pass ``z.detach()`` for SimSiam's :math:`\mathcal{D}(p, \mathrm{stopgrad}(z))`.

    Args:
        p: ``(N, D)`` predictions. z: ``(N, D)`` targets.
        eps: guards the division for zero vectors.
    """
    _check_pair(p=p, z=z)
    check_number(eps, "eps", low=0.0, low_open=True)
    # Cosine in float32 even under autocast: bf16 norms of 2048-wide vectors lose digits.
    p, z = _full_precision(p), _full_precision(z)
    return -(F.normalize(p, dim=1, eps=eps) * F.normalize(z, dim=1, eps=eps)).sum(dim=1).mean()


def simsiam_loss(
    p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, stop_gradient: bool = True
) -> torch.Tensor:
    r"""SimSiam's symmetric loss (Chen & He 2021, eq. 2 with the stop-gradient of eq. 3).

    .. math:: \mathcal L = \tfrac12 \mathcal D(p_1, \mathrm{sg}(z_2)) + \tfrac12 \mathcal D(p_2, \mathrm{sg}(z_1))

    with :math:`\mathcal D` the :func:`negative_cosine_similarity`, :math:`z_k` the projections
    of the two views and :math:`p_k = h(z_k)` their predictions. It lies in [-1, 1]; a constant
    output with :math:`h = \mathrm{id}` scores -1, so the loss cannot see collapse: the
    stop-gradient prevents it (chapter 4). With ``stop_gradient=False`` the gradient also flows
    through the targets (chapter 4's collapse experiment).

    Args:
        p1, p2: ``(N, D)`` predictions of view 1 and view 2.
        z1, z2: ``(N, D)`` projections of view 1 and view 2 (the targets).
        stop_gradient: detach the targets (``True``, the paper's).

    Example::

        >>> p, z = torch.eye(3), 5 * torch.eye(3)        # every prediction along its target
        >>> float(simsiam_loss(p, p, z, z))
        -1.0
    """
    _check_pair(p1=p1, p2=p2, z1=z1, z2=z2)
    check_bool(stop_gradient, "stop_gradient")
    if stop_gradient:
        z1, z2 = z1.detach(), z2.detach()
    return 0.5 * negative_cosine_similarity(p1, z2) + 0.5 * negative_cosine_similarity(p2, z1)


def normalized_mse(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r"""BYOL's loss (Grill et al. 2020, eq. 2): the mean squared distance of L2-normalised rows.

    .. math:: \mathcal L(p, z) = \frac1N \sum_{i=1}^N \Big\lVert \frac{p_i}{\lVert p_i\rVert}
              - \frac{z_i}{\lVert z_i\rVert} \Big\rVert_2^2
              = \frac1N \sum_{i=1}^N \big(2 - 2\cos(p_i, z_i)\big)

    It lies in [0, 4]: 0 when each prediction points along its target, 2 for orthogonal pairs.
    BYOL symmetrises it, :math:`\mathcal L(p_1, \mathrm{sg}(z'_2)) + \mathcal L(p_2, \mathrm{sg}(z'_1))`
    with :math:`z'` from the EMA target; a constant output with ``p = z`` scores 0, so the loss
    itself cannot see collapse (chapter 4).

    Args:
        p: ``(N, D)`` predictions. z: ``(N, D)`` targets (detach them for BYOL's stop-gradient).

    Example::

        >>> float(normalized_mse(torch.eye(3), 5 * torch.eye(3)))           # aligned pairs
        0.0
        >>> float(normalized_mse(torch.eye(3), torch.eye(3).roll(1, dims=1)))  # orthogonal pairs
        2.0
    """
    _check_pair(p=p, z=z)
    return 2 + 2 * negative_cosine_similarity(p, z)


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    r"""BYOL's symmetrised loss (Grill et al. 2020, eq. 2 and its symmetric counterpart).

    .. math:: \mathcal L = \mathcal L_{\mathrm{nmse}}(p_1, \mathrm{sg}(t_2))
              + \mathcal L_{\mathrm{nmse}}(p_2, \mathrm{sg}(t_1))

    with :func:`normalized_mse` (:math:`2 - 2\cos` per pair), :math:`p_k` the online network's
    predictions and :math:`t_k` the EMA target network's projections of view ``k``. The targets
    are always detached (the paper's stop-gradient). It lies in [0, 8]; a constant output with
    :math:`p = t` scores 0, so the loss cannot see collapse (chapter 4).

    Args:
        p1, p2: ``(N, D)`` online predictions of view 1 and view 2.
        t1, t2: ``(N, D)`` target projections of view 1 and view 2.

    Example::

        >>> p = torch.eye(3)
        >>> float(byol_loss(p, p, 5 * p, 5 * p)), float(byol_loss(p, p, -p, -p))   # aligned, opposite
        (0.0, 8.0)
    """
    _check_pair(p1=p1, p2=p2, t1=t1, t2=t2)
    return normalized_mse(p1, t2.detach()) + normalized_mse(p2, t1.detach())


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    r"""SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1): InfoNCE over the 2N views of a batch.

    With :math:`u_1..u_{2N}` the L2-normalised rows of ``z1`` and ``z2`` stacked, and
    :math:`k(i)` the other view of sample ``i``,

    .. math:: \mathcal L = \frac{1}{2N} \sum_{i=1}^{2N}
              -\log \frac{\exp(u_i \cdot u_{k(i)} / \tau)}{\sum_{j \ne i} \exp(u_i \cdot u_j / \tau)} .

    Each anchor sees its positive and the :math:`2N - 2` other views: a softmax over
    :math:`K = 2N - 1` candidates, so :math:`\log(2N-1) - \mathcal L` is an InfoNCE-style
    estimate of the mutual information of the two views' embeddings, never above
    :math:`\log(2N-1)`. It is not a proven lower bound: the negatives include the anchor's own
    view of the other images and come in dependent pairs, not the independent draws InfoNCE's
    derivation assumes (chapter 3); scoring each anchor against the other view's ``N`` samples
    only is InfoNCE with :math:`K = N`, a bound (chapter 2). A collapsed batch (all rows equal)
    gives :math:`\mathcal L = \log(2N-1)`.

    Args:
        z1, z2: ``(N, D)`` embeddings of the two views, row ``i`` of each from image ``i``.
        temperature: :math:`\tau > 0`; 0.5 is SimCLR's CIFAR-10 value, 0.1 its ImageNet value
            at batch 4096.

    Example::

        >>> u = torch.eye(4)                      # orthogonal samples, identical views
        >>> round(float(nt_xent_loss(u, u, 0.5)), 4) == round(math.log(1 + 6 * math.exp(-2)), 4)
        True
    """
    _check_pair(z1=z1, z2=z2)
    check_number(temperature, "temperature", low=0.0, low_open=True)
    n = z1.shape[0]
    with _no_autocast(z1):
        u = F.normalize(_full_precision(torch.cat([z1, z2])), dim=1)
        logits = u @ u.T / temperature
        # A view is not its own candidate: -inf on the diagonal removes it from the softmax.
        self_pairs = torch.eye(2 * n, dtype=torch.bool, device=u.device)
        logits = logits.masked_fill(self_pairs, float("-inf"))
        positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(u.device)
        return F.cross_entropy(logits, positives)


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    r"""SwAV's codes: soft assignments of ``B`` samples to ``K`` prototypes with equal shares (Caron et al. 2020).

    The codes :math:`Q` maximise :math:`\operatorname{Tr}(Q^\top S) + \epsilon H(Q)` over the
    transportation polytope where every prototype receives :math:`B/K` samples' worth of mass and
    every sample gives away 1 (equipartition). Sinkhorn-Knopp (Cuturi 2013) approximates it by
    alternately normalising the rows and columns of :math:`\exp(S / \epsilon)`, starting with the
    prototypes and ending with the samples, as in SwAV's code:

    .. math:: Q \leftarrow \exp(S^\top/\epsilon) / \textstyle\sum;\quad
              \text{repeat: } Q_{k\cdot} \leftarrow \frac{Q_{k\cdot}}{K \sum_b Q_{kb}},\
              Q_{\cdot b} \leftarrow \frac{Q_{\cdot b}}{B \sum_k Q_{kb}};\quad \text{return } B\,Q^\top .

    Each returned row sums to 1; the column sums approach :math:`B/K` as ``iterations`` grows.
    No gradient flows through the codes (they are targets). Under data-parallel training pass
    the scores of the *global* batch.

    Args:
        scores: ``(B, K)`` similarities of L2-normalised embeddings to L2-normalised prototypes.
        epsilon: entropy weight (0.05 in the paper); smaller gives harder assignments.
        iterations: Sinkhorn iterations (3 in the paper).

    Returns:
        ``(B, K)`` codes, float32 (or float64 for float64 scores).
    """
    check_tensor(scores, "scores", ndim=2, dims="(B, K)", floating=True, nonempty=True)
    check_number(epsilon, "epsilon", low=0.0, low_open=True)
    check_int(iterations, "iterations", minimum=1)
    s = _full_precision(scores)
    # Subtracting the maximum changes Q by one factor, which the first normalisation removes:
    # it only keeps exp from overflowing.
    q = torch.exp((s - s.max()) / epsilon).T
    q = q / q.sum()
    num_prototypes, batch = q.shape
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / num_prototypes
        q = q / q.sum(dim=0, keepdim=True) / batch
    return (q * batch).T


def swav_loss(
    scores1: torch.Tensor,
    scores2: torch.Tensor,
    *,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    iterations: int = 3,
    queue_scores1: torch.Tensor | None = None,
    queue_scores2: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""SwAV's swapped prediction (Caron et al. 2020, eq. 1): each view predicts the other's code.

    .. math:: \mathcal L = -\frac{1}{2B} \sum_{b=1}^B \sum_{k=1}^K
              \Big( q^{(2)}_{bk} \log \operatorname{softmax}_k\big(s^{(1)}_b / \tau\big)
              + q^{(1)}_{bk} \log \operatorname{softmax}_k\big(s^{(2)}_b / \tau\big) \Big)

    with codes :math:`q^{(v)} =` :func:`sinkhorn_knopp` of :math:`s^{(v)}` (no gradient). Uniform
    scores (a collapsed encoder, or prototypes all alike) give :math:`\mathcal L = \log K`,
    whatever the codes. The gradient with respect to :math:`s^{(1)}_b` is
    :math:`(\operatorname{softmax}(s^{(1)}_b/\tau) - q^{(2)}_b) / (2B\tau)`.

    Args:
        scores1, scores2: ``(B, K)`` scores of the two views against the prototypes.
        temperature: :math:`\tau` of the softmax (0.1).
        epsilon, iterations: Sinkhorn-Knopp's (0.05, 3).
        queue_scores1, queue_scores2: optional ``(L, K)`` scores of earlier batches' embeddings
            (SwAV's queue for small batches): they join the Sinkhorn problem of their view, so
            equipartition is imposed over ``L + B`` samples, and only the batch's codes are used.
    """
    _check_pair(scores1=scores1, scores2=scores2)
    check_number(temperature, "temperature", low=0.0, low_open=True)
    check_number(epsilon, "epsilon", low=0.0, low_open=True)
    check_int(iterations, "iterations", minimum=1)
    for queue, name in ((queue_scores1, "queue_scores1"), (queue_scores2, "queue_scores2")):
        if queue is not None:
            check_tensor(queue, name, ndim=2, dims=f"(L, {scores1.shape[1]})", floating=True)
            if queue.shape[1] != scores1.shape[1]:
                raise ValueError(f"{name} must have K = {scores1.shape[1]} columns; got shape {tuple(queue.shape)}")
            check_same_device(scores1, "scores1", queue, name)
    with _no_autocast(scores1):
        codes = []
        for scores, queue in ((scores1, queue_scores1), (scores2, queue_scores2)):
            if queue is not None:
                scores = torch.cat([queue.to(scores.dtype), scores.detach()])
            codes.append(sinkhorn_knopp(scores, epsilon, iterations)[-scores1.shape[0] :])
        log_p1 = F.log_softmax(_full_precision(scores1) / temperature, dim=1)
        log_p2 = F.log_softmax(_full_precision(scores2) / temperature, dim=1)
        return -0.5 * ((codes[1] * log_p1).sum(dim=1).mean() + (codes[0] * log_p2).sum(dim=1).mean())


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r"""Barlow Twins' cross-correlation matrix (Zbontar et al. 2021, eq. 2).

    .. math:: \mathcal C_{ij} = \frac1N \sum_{b=1}^{N} \tilde z^{(1)}_{b,i}\, \tilde z^{(2)}_{b,j},
              \qquad \tilde z_{b,i} = \frac{z_{b,i} - \bar z_i}{\sqrt{\sigma_i^2 + \epsilon}}

    Each view is standardised along the batch **separately**, with the biased variance
    :math:`\sigma_i^2 = \frac1N \sum_b (z_{b,i} - \bar z_i)^2`, as the paper's
    ``BatchNorm1d(affine=False)`` does; so :math:`\mathcal C_{ij}` is the sample Pearson
    correlation of feature ``i`` of view 1 with feature ``j`` of view 2 (up to ``eps``), and it
    does not change under a per-feature affine map :math:`z_{\cdot i} \mapsto a_i z_{\cdot i} + c_i`
    (:math:`a_i > 0`) of either view. A constant feature standardises to 0.

    Args:
        z1, z2: ``(N, D)`` embeddings of two views of the same N images, row by row (the global
            batch under data-parallel training).
        eps: added to each variance (BatchNorm's default 1e-5).

    Returns:
        ``(D, D)`` matrix.
    """
    _check_pair(z1=z1, z2=z2)
    if z1.shape[0] < 2:
        raise ValueError(f"z1 must have N >= 2 rows (a correlation over the batch); got shape {tuple(z1.shape)}")
    check_number(eps, "eps", low=0.0)
    with _no_autocast(z1):

        def standardize(z: torch.Tensor) -> torch.Tensor:
            centered = z - z.mean(dim=0, keepdim=True)
            return centered / torch.sqrt(centered.pow(2).mean(dim=0, keepdim=True) + eps)

        return standardize(_full_precision(z1)).T @ standardize(_full_precision(z2)) / z1.shape[0]


def barlow_twins_terms(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two terms of Barlow Twins' loss for a cross-correlation matrix :math:`\mathcal C`.

    .. math:: \text{invariance} = \sum_i (1 - \mathcal C_{ii})^2, \qquad
              \text{redundancy} = \sum_{i \ne j} \mathcal C_{ij}^2

    Args:
        c: ``(D, D)`` cross-correlation matrix from :func:`cross_correlation`.
    """
    check_tensor(c, "c", ndim=2, dims="(D, D)", floating=True)
    if c.shape[0] != c.shape[1]:
        raise ValueError(f"c must be a square (D, D) matrix; got shape {tuple(c.shape)}")
    diagonal = c.diagonal()
    return (1 - diagonal).pow(2).sum(), c.pow(2).sum() - diagonal.pow(2).sum()


def barlow_twins_loss(
    z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3, eps: float = 1e-5, *, return_terms: bool = False
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""Barlow Twins' loss (Zbontar et al. 2021, eq. 1): invariance plus ``lambd`` times redundancy.

    .. math:: \mathcal L = \sum_i (1 - \mathcal C_{ii})^2 + \lambda \sum_{i \ne j} \mathcal C_{ij}^2

    with :math:`\mathcal C` from :func:`cross_correlation`. It is 0 exactly when the two views'
    standardised features are perfectly correlated feature by feature and uncorrelated across
    features. A collapsed batch (constant features) has :math:`\mathcal C = 0` and costs
    :math:`D`; independent random views cost :math:`D\,(1 + \frac1{N-1}) + \lambda\,\frac{D(D-1)}{N-1}`
    in expectation (a Pearson correlation of independent Gaussian samples has variance
    :math:`1/(N-1)`).

    Args:
        z1, z2: ``(N, D)`` embeddings of the two views. lambd: :math:`\lambda \ge 0` (5e-3).
        eps: :func:`cross_correlation`'s (1e-5).
        return_terms: also return the unweighted terms (:func:`barlow_twins_terms`).

    Returns:
        The 0-dim loss; with ``return_terms``, ``(loss, {"invariance": ..., "redundancy": ...})``.

    Example::

        >>> z1, z2 = torch.randn(64, 16), torch.randn(64, 16)
        >>> loss, terms = barlow_twins_loss(z1, z2, return_terms=True)
        >>> torch.allclose(loss, terms["invariance"] + 5e-3 * terms["redundancy"])
        True
    """
    check_number(lambd, "lambd", low=0.0)
    check_bool(return_terms, "return_terms")
    invariance, redundancy = barlow_twins_terms(cross_correlation(z1, z2, eps))
    loss = invariance + lambd * redundancy
    return (loss, {"invariance": invariance, "redundancy": redundancy}) if return_terms else loss


def vicreg_terms(
    z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""VICReg's three terms (Bardes et al. 2022, eqs. 1-5), unweighted, as in the paper's code.

    .. math::
        s &= \frac{1}{ND} \sum_{b,i} (z^{(1)}_{bi} - z^{(2)}_{bi})^2 \quad \text{(invariance)} \\
        v &= \frac12 \sum_{k=1,2} \frac1D \sum_i
             \max\Big(0,\ 1 - \sqrt{\mathrm{Var}(z^{(k)}_{\cdot i}) + \epsilon}\Big) \quad \text{(variance)} \\
        c &= \sum_{k=1,2} \frac1D \sum_{i \ne j} \big[\mathrm{Cov}(z^{(k)})\big]_{ij}^2 \quad \text{(covariance)}

    with the unbiased variance and covariance over the batch (``N - 1`` in the denominator).

    Args:
        z1, z2: ``(N, D)`` embeddings of the two views, ``N >= 2`` (the global batch under
            data-parallel training). eps: inside the square root (1e-4).

    Returns:
        ``(invariance, variance, covariance)``, three 0-dim tensors.
    """
    _check_pair(z1=z1, z2=z2)
    check_number(eps, "eps", low=0.0)
    if z1.shape[0] < 2:
        raise ValueError(f"z1 must have N >= 2 rows for a variance; got shape {tuple(z1.shape)}")
    with _no_autocast(z1):
        a, b = _full_precision(z1), _full_precision(z2)
        n, d = a.shape
        invariance = F.mse_loss(a, b)
        variance, covariance = a.new_zeros(()), a.new_zeros(())
        for z in (a, b):
            centered = z - z.mean(dim=0)
            std = torch.sqrt(centered.pow(2).sum(dim=0) / (n - 1) + eps)
            variance = variance + F.relu(1 - std).mean() / 2
            cov = centered.T @ centered / (n - 1)
            covariance = covariance + (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / d
        return invariance, variance, covariance


def vicreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    eps: float = 1e-4,
    *,
    return_terms: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""VICReg's loss (Bardes et al. 2022): :math:`\lambda s + \mu v + \nu c` with :func:`vicreg_terms`.

    Defaults :math:`\lambda = \mu = 25`, :math:`\nu = 1`. A collapsed batch has
    :math:`s = c = 0` and :math:`v = 1 - \sqrt{\epsilon} = 0.99`, so it costs 24.75.

    Args:
        z1, z2: ``(N, D)`` embeddings of the two views, ``N >= 2``.
        sim_coeff, std_coeff, cov_coeff: the weights :math:`\lambda, \mu, \nu` (25, 25, 1).
        eps: :func:`vicreg_terms`' (1e-4).
        return_terms: also return the unweighted terms.

    Returns:
        The 0-dim loss; with ``return_terms``,
        ``(loss, {"invariance": s, "variance": v, "covariance": c})``.

    Example::

        >>> z = torch.ones(8, 16)                       # collapsed: s = c = 0, v = 0.99
        >>> loss, terms = vicreg_loss(z, z, return_terms=True)
        >>> round(float(loss), 4), round(float(terms["variance"]), 4)
        (24.75, 0.99)
    """
    for value, name in ((sim_coeff, "sim_coeff"), (std_coeff, "std_coeff"), (cov_coeff, "cov_coeff")):
        check_number(value, name, low=0.0)
    check_bool(return_terms, "return_terms")
    invariance, variance, covariance = vicreg_terms(z1, z2, eps)
    loss = sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance
    if return_terms:
        return loss, {"invariance": invariance, "variance": variance, "covariance": covariance}
    return loss


# --- helpers -------------------------------------------------------------------------------------


def _full_precision(x: torch.Tensor) -> torch.Tensor:
    # float32 for half-precision inputs, float64 stays float64 (gradcheck).
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _no_autocast(x: torch.Tensor):
    # Inside an autocast region a matmul would run in bf16/fp16 whatever its inputs: batch
    # statistics and softmaxes over thousands of entries are computed in full precision instead.
    if x.device.type in ("cuda", "cpu"):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


def _check_pair(**tensors: torch.Tensor) -> None:
    # The embeddings a loss compares row by row: (N, D) floats, N, D >= 1, one shape, one device.
    check_matching_tensors(tensors, ndim=2, dims="(N, D)", floating=True, nonempty=True)
