"""Evaluation hooks for :func:`jessl_lite.train.fit`: functions ``hook(method, step) -> {name: value}``.

``fit`` calls each hook before training, every ``eval_every`` steps and at the end, and stores
what it returns as a row of the run's ``evals``. Any callable of that shape is a hook; these make
the book's usual ones::

    hooks = [knn_monitor(memory, queries, views.prepare), linear_probe_monitor(train, test, views.prepare)]
    run = fit(method, data, views, FitConfig(steps=500, eval_every=100), hooks=hooks)
    steps, accuracy = run.metric("knn")
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageData
from .entropy import sphere_log_area, vmf_kde_entropy, vmf_kde_entropy_ceiling, vmf_reconstruction_loss
from .evaluate import _check_unprepared, effective_rank, embeddings, knn_accuracy, linear_probe, std_of_normalized
from .validation import check_callable, check_instance, check_int, check_number, check_str, check_tensor

__all__ = ["knn_monitor", "linear_probe_monitor", "embedding_monitor", "er_monitor"]

Prepare = Callable[[torch.Tensor], torch.Tensor] | None


def knn_monitor(
    memory: ImageData, queries: ImageData, prepare: Prepare = None, *, k: int = 200, temperature: float = 0.1,
    name: str = "knn",
) -> Callable[[nn.Module, int], dict[str, float]]:
    """Weighted kNN accuracy (:func:`~jessl_lite.evaluate.knn_accuracy`) of ``method.embed`` features:
    ``queries`` classified by the labelled ``memory``, images passed through ``prepare`` first
    (``views.prepare``: to float and normalised). Returns ``{name: accuracy}``."""
    check_instance(memory, "memory", ImageData, "an ImageData (labelled images)")
    check_instance(queries, "queries", ImageData, "an ImageData (labelled images)")
    _check_prepare(prepare)
    check_int(k, "k", minimum=1)
    check_number(temperature, "temperature", low=0.0, low_open=True)
    check_str(name, "name")

    def hook(method: nn.Module, step: int) -> dict[str, float]:
        features = [embeddings(method.embed, d.images, prepare) for d in (memory, queries)]
        accuracy = knn_accuracy(features[0], memory.labels, features[1], queries.labels, k=min(k, len(memory)),
                                temperature=temperature, num_classes=len(memory.classes))
        return {name: accuracy}

    return hook


def linear_probe_monitor(
    train: ImageData, test: ImageData, prepare: Prepare = None, *, C: float = 1.0, name: str = "linear_probe",
) -> Callable[[nn.Module, int], dict[str, float]]:
    """Test accuracy of a logistic regression on frozen ``method.embed`` features
    (:func:`~jessl_lite.evaluate.linear_probe`, regularisation ``C``). Returns ``{name: accuracy}``."""
    check_instance(train, "train", ImageData, "an ImageData (labelled images)")
    check_instance(test, "test", ImageData, "an ImageData (labelled images)")
    _check_prepare(prepare)
    check_number(C, "C", low=0.0, low_open=True)
    check_str(name, "name")

    def hook(method: nn.Module, step: int) -> dict[str, float]:
        features = [embeddings(method.embed, d.images, prepare) for d in (train, test)]
        return {name: linear_probe(features[0], train.labels, features[1], test.labels, C=C)}

    return hook


def embedding_monitor(
    images: torch.Tensor, prepare: Prepare = None, *, encode: Callable[[nn.Module], Callable] | None = None,
    prefix: str = "",
) -> Callable[[nn.Module, int], dict[str, float]]:
    r"""Collapse diagnostics of embeddings of fixed ``images``: ``std_ratio`` (the std of the
    L2-normalised embeddings times :math:`\sqrt{D}`: about 1 when healthy, 0 when collapsed) and
    ``effective_rank``. ``encode(method)`` picks the layer (default: ``method.embed``)."""
    check_tensor(images, "images", min_ndim=2, dims="(N, C, H, W) or (N, D)", nonempty=True)
    _check_prepare(prepare)
    if encode is not None:
        check_callable(encode, "encode", "encode(method) -> encoder")
    check_str(prefix, "prefix")
    # Once, now: wrong pixels (float in 0..255, uint8 without prepare) are named here, not at the
    # first evaluation minutes into the run.
    if prepare is not None:
        prepare(images)
    else:
        _check_unprepared(images)

    def hook(method: nn.Module, step: int) -> dict[str, float]:
        z = embeddings(encode(method) if encode is not None else method.embed, images, prepare)
        return {f"{prefix}std_ratio": float(std_of_normalized(z)) * math.sqrt(z.shape[1]),
                f"{prefix}effective_rank": float(effective_rank(z))}

    return hook


def er_monitor(
    images: torch.Tensor, views: Callable, *, kappa: float = 10.0, seed: int = 0,
    encode: Callable[[nn.Module], Callable] | None = None, prefix: str = "",
) -> Callable[[nn.Module, int], dict[str, float]]:
    r"""The entropy-and-reconstruction terms of a representation, on two fixed views of fixed ``images``.

    The two views are drawn once, now (``views(images, generator)`` with a generator seeded by
    ``seed``), so that every evaluation measures the same pairs. The embeddings of each view
    (``encode(method)``, default ``method.embed``) are L2-normalised and the hook returns, with
    :math:`N` = ``len(images)`` and the vMF kernel at ``kappa`` (chapter 7):

    * ``er_entropy``: :math:`\hat H(Z_1)`, :func:`~jessl_lite.entropy.vmf_kde_entropy` (resubstitution);
    * ``er_reconstruction``: :math:`\mathcal L_{\mathrm{rec}}(z_1 \mid z_2)`,
      :func:`~jessl_lite.entropy.vmf_reconstruction_loss` (lower is better reconstruction);
    * ``er_bound``: their difference, :func:`~jessl_lite.entropy.er_bound`;
    * ``er_ceiling``: :func:`~jessl_lite.entropy.vmf_kde_entropy_ceiling`, the most
      ``er_entropy`` can be with :math:`N` samples, and ``er_uniform``: the entropy of the uniform
      distribution on the sphere of the embeddings' dimension (the most any distribution has).

    Names get ``prefix`` in front. In float64.
    """
    check_tensor(images, "images", min_ndim=2, dims="(N, C, H, W)", nonempty=True)
    check_callable(views, "views", "views(images, generator) -> (view1, view2)")
    check_number(kappa, "kappa", low=0.0, low_open=True)
    check_int(seed, "seed", minimum=0)
    if encode is not None:
        check_callable(encode, "encode", "encode(method) -> encoder")
    check_str(prefix, "prefix")
    if len(images) < 2:
        raise ValueError(f"images must hold at least 2 images for an entropy estimate; got {len(images)}")
    pair = views(images, torch.Generator(device=images.device).manual_seed(seed))

    def hook(method: nn.Module, step: int) -> dict[str, float]:
        encoder = encode(method) if encode is not None else method.embed
        # embeddings() switches a module (or the module of a bound method) to eval mode for the
        # measurement; a plain function would leave BatchNorm in training mode and change the run.
        if not isinstance(getattr(encoder, "__self__", encoder), nn.Module):
            raise TypeError("encode(method) must return an nn.Module or a bound method of one (e.g. "
                            f"nn.Sequential(method.backbone, method.projector)); got {type(encoder).__name__}")
        z1, z2 = (F.normalize(embeddings(encoder, v).double(), dim=1) for v in pair)
        entropy = float(vmf_kde_entropy(z1, kappa))
        reconstruction = float(vmf_reconstruction_loss(z1, z2, kappa))
        return {f"{prefix}er_entropy": entropy, f"{prefix}er_reconstruction": reconstruction,
                f"{prefix}er_bound": entropy - reconstruction,
                f"{prefix}er_ceiling": float(vmf_kde_entropy_ceiling(len(z1), kappa, z1.shape[1])),
                f"{prefix}er_uniform": sphere_log_area(z1.shape[1])}

    return hook


def _check_prepare(prepare) -> None:
    if prepare is not None:
        check_callable(prepare, "prepare", "prepare(images) -> float inputs (e.g. views.prepare)")
