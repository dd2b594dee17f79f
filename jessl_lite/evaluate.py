"""How good is a representation? kNN and linear probes, and collapse diagnostics.

* :func:`knn_accuracy`: weighted k-nearest neighbours on cosine similarity (Wu et al. 2018,
  InstDisc; the protocol lightly and SimSiam's CIFAR monitor use: k = 200, temperature 0.1);
* :func:`linear_probe`: multinomial logistic regression on frozen features (scikit-learn);
* :func:`std_of_normalized`, :func:`effective_rank`, :func:`alignment`, :func:`uniformity`:
  collapse diagnostics (chapter 4) and Wang & Isola's (2020) two properties of contrastive
  embeddings (chapter 3).

Example::

    >>> z = torch.nn.functional.normalize(torch.randn(1000, 64), dim=1)
    >>> round(float(std_of_normalized(z)) * 64 ** 0.5, 1)   # healthy: 1/sqrt(d)
    1.0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "embeddings",
    "knn_predict",
    "knn_accuracy",
    "linear_probe",
    "std_of_normalized",
    "effective_rank",
    "alignment",
    "uniformity",
]


@torch.no_grad()
def embeddings(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """``encoder(prepare(images))`` in batches, without gradients, as float32 ``(N, D)``.

    Modules are put in eval mode for the call and restored afterwards (BatchNorm then uses its
    running statistics, so a sample's embedding does not depend on its batch).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError("images must be a tensor")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    owner = getattr(encoder, "__self__", encoder)  # a bound method such as method.embed
    module = owner if isinstance(owner, torch.nn.Module) else None
    mode = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        out = []
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size]
            out.append(encoder(prepare(x) if prepare is not None else x).float())
        return torch.cat(out)
    finally:
        if module is not None:
            module.train(mode)


def knn_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    r"""Weighted kNN class predictions (Wu et al. 2018).

    For a query ``q`` with its ``k`` most cosine-similar training points :math:`s_1..s_k`, class
    ``c`` scores :math:`\sum_j \exp(s_j / T)\,[y_j = c]`; the prediction is the best-scoring class.

    Args:
        train_features: ``(N, D)``. train_labels: ``(N,)`` ints in ``0..num_classes-1``.
        test_features: ``(M, D)``.
        k: neighbours (capped at ``N``). temperature: ``T``.
        num_classes: defaults to ``max(train_labels) + 1``.

    Returns:
        ``(M,)`` int64 predicted classes.
    """
    _check_features(train_features, "train_features")
    _check_features(test_features, "test_features")
    if train_labels.shape != train_features.shape[:1]:
        raise ValueError("train_labels must have shape (N,) matching train_features")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError("train_features and test_features must have the same width D")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive; got {temperature}")
    num_classes = num_classes or int(train_labels.max()) + 1
    bank = F.normalize(train_features.float(), dim=1)
    labels = train_labels.to(bank.device).long()
    k = min(k, bank.shape[0])
    predictions = []
    for start in range(0, test_features.shape[0], chunk_size):
        query = F.normalize(test_features[start : start + chunk_size].float().to(bank.device), dim=1)
        sims, idx = (query @ bank.T).topk(k, dim=1)
        weights = (sims / temperature).exp()
        scores = torch.zeros(query.shape[0], num_classes, device=bank.device)
        scores.scatter_add_(1, labels[idx], weights)
        predictions.append(scores.argmax(dim=1))
    return torch.cat(predictions)


def knn_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
) -> float:
    """Accuracy in [0, 1] of :func:`knn_predict` on ``(test_features, test_labels)``."""
    if test_labels.shape != test_features.shape[:1]:
        raise ValueError("test_labels must have shape (M,) matching test_features")
    predicted = knn_predict(train_features, train_labels, test_features, k=k, temperature=temperature,
                            num_classes=num_classes)
    return float((predicted.cpu() == test_labels.cpu()).float().mean())


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    C: float = 1.0,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of a multinomial logistic regression trained on frozen features.

    Features are standardised with the training set's mean and std, then scikit-learn's
    ``LogisticRegression(C=C)`` (L2 penalty ``1/(2C) ||W||^2``, lbfgs) is fitted.
    """
    from sklearn.linear_model import LogisticRegression

    _check_features(train_features, "train_features")
    _check_features(test_features, "test_features")
    x_train = train_features.detach().float().cpu().numpy().astype(np.float64)
    x_test = test_features.detach().float().cpu().numpy().astype(np.float64)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    model = LogisticRegression(C=C, max_iter=max_iter)
    model.fit((x_train - mean) / std, train_labels.cpu().numpy())
    return float(model.score((x_test - mean) / std, test_labels.cpu().numpy()))


def std_of_normalized(z: torch.Tensor) -> torch.Tensor:
    r"""Mean over dimensions of the per-dimension std of L2-normalised embeddings (Chen & He 2021).

    .. math:: \bar\sigma = \frac{1}{D}\sum_{d=1}^D \operatorname{std}_i\!\left(\frac{z_{id}}{\lVert z_i\rVert}\right)

    About :math:`1/\sqrt{D}` for healthy (isotropic) embeddings; 0 for complete collapse.
    ``z``: ``(N, D)``, ``N >= 2``; returns a 0-dim float32 tensor (the unbiased std over the batch).
    The checks look at the shape only and nothing is read back from the device, so every
    method of :mod:`jessl_lite.methods` logs it at every step (under ``torch.no_grad()``).
    """
    _check_features(z, "z")
    return F.normalize(z.float(), dim=1).std(dim=0).mean()


def effective_rank(z: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    r"""Effective rank (Roy & Vetterli 2007; RankMe, Garrido et al. 2023) of embeddings ``(N, D)``.

    .. math:: \operatorname{erank}(Z) = \exp\Big(-\sum_k p_k \log p_k\Big),
              \quad p_k = \sigma_k / \textstyle\sum_j \sigma_j

    with :math:`\sigma_k` the singular values of ``Z`` (not centred). It is ``r`` when ``Z`` has
    ``r`` equal non-zero singular values: 1 for embeddings collapsed onto one direction.
    """
    _check_features(z, "z")
    sigma = torch.linalg.svdvals(z.double())
    p = sigma / sigma.sum().clamp_min(eps)
    return torch.exp(-(p * torch.log(p.clamp_min(eps))).sum())


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    r"""Wang & Isola's (2020) alignment of positive pairs: :math:`\mathbb{E}\,\lVert f(x) - f(y)\rVert_2^\alpha`
    over paired rows, after L2 normalisation. 0 when every pair coincides; lower is better."""
    _check_features(z1, "z1")
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape; got {tuple(z1.shape)} and {tuple(z2.shape)}")
    diff = F.normalize(z1.float(), dim=1) - F.normalize(z2.float(), dim=1)
    return diff.norm(dim=1).pow(alpha).mean()


def uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    r"""Wang & Isola's (2020) uniformity: :math:`\log \mathbb{E}_{i<j} \exp(-t \lVert f_i - f_j\rVert_2^2)`
    over distinct pairs of L2-normalised rows. 0 for full collapse, about -4 for well-spread points
    on a high-dimensional sphere at ``t = 2``; lower is more uniform."""
    _check_features(z, "z")
    if z.shape[0] < 2:
        raise ValueError("z needs at least two rows")
    sq = torch.pdist(F.normalize(z.double(), dim=1)).pow(2)
    return torch.logsumexp(-t * sq, dim=0) - torch.log(torch.tensor(float(sq.numel()), dtype=torch.float64))


def _check_features(z: torch.Tensor, name: str) -> None:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{name} must be a tensor; got {type(z).__name__}")
    if z.dim() != 2 or z.shape[0] < 1:
        raise ValueError(f"{name} must have shape (N, D) with N >= 1; got {tuple(z.shape)}")
