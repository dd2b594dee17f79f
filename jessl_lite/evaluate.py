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

from .validation import (
    check_callable,
    check_finite_tensor,
    check_int,
    check_matching_tensors,
    check_number,
    check_tensor,
)

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

    Without ``prepare`` the encoder sees ``images`` as they are: uint8 images are refused (pass
    ``prepare=views.prepare``), and so are float images on the CPU that look like pixels in
    0..255 (no negative value, some above 1); on a GPU that check would wait for the device, and
    is left out.
    """
    check_callable(encoder, "encoder", "encoder(x) -> (n, D) features")
    check_tensor(images, "images", min_ndim=1, dims="(N, ...)", nonempty=True)
    if prepare is not None:
        check_callable(prepare, "prepare", "prepare(images) -> float inputs of the encoder")
    else:
        _check_unprepared(images)
    check_int(batch_size, "batch_size", minimum=1)
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

    Raises ``ValueError`` for a NaN or infinite feature (a NaN similarity would win or lose every
    comparison of ``topk`` and decide the prediction by accident) and for labels outside
    ``0..num_classes-1``; these checks read the data once (this runs at evaluation, not in a
    training step).
    """
    _check_features(train_features, "train_features")
    _check_features(test_features, "test_features")
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(f"test_features must have the width D = {train_features.shape[1]} of train_features; "
                         f"got shape {tuple(test_features.shape)}")
    _check_labels(train_labels, "train_labels", train_features, "train_features")
    check_int(k, "k", minimum=1)
    check_number(temperature, "temperature", low=0.0, low_open=True)
    if num_classes is not None:
        check_int(num_classes, "num_classes", minimum=1)
    check_int(chunk_size, "chunk_size", minimum=1)
    for features, name in ((train_features, "train_features"), (test_features, "test_features")):
        check_finite_tensor(features, name, hint=": check the encoder (a NaN embedding has no neighbours)")
    largest = int(train_labels.max())
    if int(train_labels.min()) < 0 or (num_classes is not None and largest >= num_classes):
        classes = f"in 0..{num_classes - 1}" if num_classes is not None else ">= 0"
        raise ValueError(f"train_labels must be class indices {classes}; they range over "
                         f"[{int(train_labels.min())}, {largest}]")
    num_classes = num_classes if num_classes is not None else largest + 1
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
    _check_features(test_features, "test_features")
    _check_labels(test_labels, "test_labels", test_features, "test_features")
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
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(f"test_features must have the width D = {train_features.shape[1]} of train_features; "
                         f"got shape {tuple(test_features.shape)}")
    _check_labels(train_labels, "train_labels", train_features, "train_features")
    _check_labels(test_labels, "test_labels", test_features, "test_features")
    check_number(C, "C", low=0.0, low_open=True)
    check_int(max_iter, "max_iter", minimum=1)
    for features, name in ((train_features, "train_features"), (test_features, "test_features")):
        check_finite_tensor(features, name, hint=": check the encoder")
    if int(train_labels.min()) < 0:
        raise ValueError(f"train_labels must be class indices >= 0; the smallest is {int(train_labels.min())}")
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
    _check_features(z, "z", min_rows=2)
    return F.normalize(z.float(), dim=1).std(dim=0).mean()


def effective_rank(z: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    r"""Effective rank (Roy & Vetterli 2007; RankMe, Garrido et al. 2023) of embeddings ``(N, D)``.

    .. math:: \operatorname{erank}(Z) = \exp\Big(-\sum_k p_k \log p_k\Big),
              \quad p_k = \sigma_k / \textstyle\sum_j \sigma_j

    with :math:`\sigma_k` the singular values of ``Z`` (not centred). It is ``r`` when ``Z`` has
    ``r`` equal non-zero singular values: 1 for embeddings collapsed onto one direction.
    A NaN or infinite entry is a ``ValueError`` (the SVD cannot converge on it).
    """
    _check_features(z, "z")
    check_number(eps, "eps", low=0.0, low_open=True)
    check_finite_tensor(z, "z", hint=": check the encoder")
    sigma = torch.linalg.svdvals(z.double())
    p = sigma / sigma.sum().clamp_min(eps)
    return torch.exp(-(p * torch.log(p.clamp_min(eps))).sum())


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    r"""Wang & Isola's (2020) alignment of positive pairs: :math:`\mathbb{E}\,\lVert f(x) - f(y)\rVert_2^\alpha`
    over paired rows, after L2 normalisation. 0 when every pair coincides; lower is better."""
    check_matching_tensors({"z1": z1, "z2": z2}, ndim=2, dims="(N, D)", floating=True, nonempty=True)
    check_number(alpha, "alpha", low=0.0, low_open=True)
    diff = F.normalize(z1.float(), dim=1) - F.normalize(z2.float(), dim=1)
    return diff.norm(dim=1).pow(alpha).mean()


def uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    r"""Wang & Isola's (2020) uniformity: :math:`\log \mathbb{E}_{i<j} \exp(-t \lVert f_i - f_j\rVert_2^2)`
    over distinct pairs of L2-normalised rows. 0 for full collapse, about -4 for well-spread points
    on a high-dimensional sphere at ``t = 2``; lower is more uniform."""
    _check_features(z, "z", min_rows=2)
    check_number(t, "t", low=0.0, low_open=True)
    sq = torch.pdist(F.normalize(z.double(), dim=1)).pow(2)
    return torch.logsumexp(-t * sq, dim=0) - torch.log(torch.tensor(float(sq.numel()), dtype=torch.float64))


def _check_features(z, name: str, *, min_rows: int = 1) -> None:
    check_tensor(z, name, ndim=2, dims="(N, D)", floating=True, nonempty=True)
    if z.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows; got shape {tuple(z.shape)}")


def _check_labels(labels, name: str, features: torch.Tensor, features_name: str) -> None:
    check_tensor(labels, name, ndim=1, dims="(N,)")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class indices; got dtype {labels.dtype}")
    if labels.shape[0] != features.shape[0]:
        raise ValueError(f"{name} must hold one label per row of {features_name} ({features.shape[0]}); "
                         f"got shape {tuple(labels.shape)}")


def _check_unprepared(images: torch.Tensor) -> None:
    # Without prepare the encoder sees the tensor as it is: integer pixels would fail deep inside the
    # first layer, and float pixels in 0..255 would pass as if they were scaled (and saturate).
    if not images.is_floating_point():
        raise TypeError(f"images of dtype {images.dtype} need prepare= (e.g. views.prepare) to become the "
                        "encoder's float inputs")
    if images.ndim == 4 and images.device.type == "cpu" and images.numel() > 0:
        smallest, largest = (v.item() for v in torch.aminmax(images.detach()))
        if smallest >= 0 and largest > 1:
            raise ValueError(f"images look like pixels in 0..255 (float, values in [{smallest:g}, {largest:g}]) "
                             "and prepare is None: pass uint8 images with prepare=views.prepare, or divide by "
                             "255 and normalise them first")
