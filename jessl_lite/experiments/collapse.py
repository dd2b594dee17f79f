r"""Collapse experiments of chapter 4: SimSiam and BYOL ablations and the diagnostics that catch collapse.

* :func:`simsiam_variant`: SimSiam as published, without stop-gradient, without predictor
  (:math:`h = \mathrm{id}`), or with a predictor frozen at its random initialisation
  (Chen & He 2021, Table 1 and Fig. 2);
* BYOL with a *constant* target decay is :class:`~jessl_lite.methods.BYOL` with ``ema_decay``
  (:math:`\zeta \leftarrow \lambda\zeta + (1-\lambda)\theta` at every step; Grill et al. 2020,
  Table 5): :math:`\lambda = 0` makes the target the online network (SimSiam with BYOL's
  heads), :math:`\lambda = 1` freezes a random target;
* :func:`collapse_diagnostics` and :func:`covariance_spectrum`: the numbers the chapter compares;
* :func:`collapse_monitor`: an evaluation hook for :func:`~jessl_lite.train.fit` that measures
  them on the projector output during training, and :func:`track_collapse`, which trains one
  variant with it and returns the :class:`~jessl_lite.runs.Run` the chapter plots.

Complete collapse (every input mapped to one point) drives the per-dimension std of normalised
embeddings to 0, the effective rank to 1 and the uniformity to 0. Dimensional collapse (the
embeddings span a low-dimensional subspace) can leave the std near its healthy value
:math:`1/\sqrt{D}` (e.g. when a BatchNorm standardises every dimension), while the effective
rank and the spectrum of the covariance show it.

Example::

    >>> from jessl_lite.nets import MLP
    >>> method = simsiam_variant("no_predictor", MLP(784, [64], 32), dim=16, pred_dim=4, proj_layers=2)
    >>> method.predictor
    Identity()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ImageData
from ..evaluate import effective_rank, embeddings, std_of_normalized, uniformity
from ..methods import SimSiam
from ..monitors import knn_monitor
from ..runs import Run
from ..train import Every, FitConfig, fit
from ..validation import check_choice, check_finite_tensor, check_instance, check_int, check_tensor

__all__ = [
    "SIMSIAM_VARIANTS",
    "simsiam_variant",
    "collapse_diagnostics",
    "covariance_spectrum",
    "projector_output",
    "collapse_monitor",
    "track_collapse",
]

SIMSIAM_VARIANTS = ("simsiam", "no_stop_gradient", "no_predictor", "fixed_random_predictor")


def simsiam_variant(variant: str, backbone: nn.Module, **kwargs) -> SimSiam:
    """A :class:`~jessl_lite.methods.SimSiam` with one ingredient removed.

    ``variant``: ``"simsiam"`` (as published), ``"no_stop_gradient"`` (gradients also flow
    through the target branch: ``stop_gradient=False``), ``"no_predictor"`` (:math:`h` is the
    identity: ``predictor_mode="identity"``) or ``"fixed_random_predictor"`` (:math:`h` keeps its
    random initialisation: ``predictor_mode="fixed_random"``). ``kwargs`` go to SimSiam
    (``dim``, ``pred_dim``, ``proj_layers``, ...).
    """
    check_choice(variant, "variant", SIMSIAM_VARIANTS)
    options = {
        "simsiam": {},
        "no_stop_gradient": {"stop_gradient": False},
        "no_predictor": {"predictor_mode": "identity"},
        "fixed_random_predictor": {"predictor_mode": "fixed_random"},
    }[variant]
    return SimSiam(backbone, **options, **kwargs)


def collapse_diagnostics(z: torch.Tensor) -> dict[str, float]:
    r"""The chapter's collapse numbers for embeddings ``z: (N, D)``.

    ``std_of_normalized`` (:func:`~jessl_lite.evaluate.std_of_normalized`) and its ratio to the
    isotropic value :math:`1/\sqrt D` (``std_ratio``: about 1 healthy, 0 collapsed),
    ``effective_rank`` (between 1 and ``D``; :func:`~jessl_lite.evaluate.effective_rank`, not
    centred, so that a collapse onto one point reads 1 however small its jitter) and
    ``uniformity`` (:func:`~jessl_lite.evaluate.uniformity`, ``t = 2``: 0 collapsed, lower is more spread).
    """
    _check_embeddings(z)
    std = float(std_of_normalized(z))
    return {
        "std_of_normalized": std,
        "std_ratio": std * z.shape[1] ** 0.5,
        "effective_rank": float(effective_rank(z)),
        "uniformity": float(uniformity(z)),
    }


def covariance_spectrum(z: torch.Tensor) -> torch.Tensor:
    r"""Eigenvalues (descending, float64 ``(D,)``) of the covariance of the L2-normalised rows of
    ``z: (N, D)`` (Jing et al. 2022 plot them on a log scale: a cliff marks dimensional collapse).
    They sum to :math:`1 - \lVert \bar u\rVert^2`, with :math:`\bar u` the mean normalised row."""
    _check_embeddings(z)
    u = F.normalize(z.double(), dim=1)
    u = u - u.mean(dim=0)
    cov = u.T @ u / z.shape[0]
    return torch.linalg.eigvalsh(cov).flip(0).clamp_min(0)


def projector_output(method: nn.Module, images: torch.Tensor, views) -> torch.Tensor:
    """:math:`z = g(f(x))` of un-augmented ``images`` (``views.prepare``), BatchNorm in eval mode:
    the layer whose collapse the chapter measures (the loss compares its predictions)."""
    for part in ("backbone", "projector"):
        if not isinstance(getattr(method, part, None), nn.Module):
            raise TypeError(f"method must have a {part} module (a joint-embedding method such as SimSiam); "
                            f"got {type(method).__name__}")
    _check_views(views)
    return embeddings(nn.Sequential(method.backbone, method.projector), images, views.prepare)


def collapse_monitor(images: torch.Tensor, views) -> Callable[[nn.Module, int], dict[str, float]]:
    """An evaluation hook for :func:`~jessl_lite.train.fit`: :func:`collapse_diagnostics` of the
    :func:`projector_output` of the fixed ``images: (N, C, H, W)`` (held-out, un-augmented).

    The hook returns ``{"std_of_normalized", "std_ratio", "effective_rank", "uniformity"}``;
    ``fit`` stores them as rows of ``run.evals`` (read them with ``run.metric("std_ratio")``)::

        run = fit(method, train, views, FitConfig(steps=300, eval_every=50),
                  hooks=[collapse_monitor(queries.images, views)])
    """
    check_tensor(images, "images", ndim=4, dims="(N, C, H, W)")
    if images.shape[0] < 2:
        raise ValueError(f"images must hold N >= 2 images; got shape {tuple(images.shape)}")
    _check_views(views)
    views.prepare(images)  # once, now: wrong pixels are named here, not at the first evaluation

    def hook(method: nn.Module, step: int) -> dict[str, float]:
        return collapse_diagnostics(projector_output(method, images, views))

    return hook


def track_collapse(
    method: nn.Module,
    train: ImageData,
    views,
    memory: ImageData,
    queries: ImageData,
    config: FitConfig,
    *,
    knn_k: int = 20,
    info: Mapping[str, Any] | None = None,
) -> Run:
    """Train ``method`` on ``train`` with :func:`~jessl_lite.train.fit` and ``config``, watching collapse.

    Evaluation hooks: :func:`collapse_monitor` of ``queries.images`` (before training, every
    ``config.eval_every`` steps, at the end) and the kNN accuracy
    (:func:`~jessl_lite.monitors.knn_monitor`, ``k = knn_k``) of the queries' backbone features
    classified by the ``memory``'s, before training and at the end only. After training,
    ``run.summary["spectrum"]`` holds the :func:`covariance_spectrum` of the queries' projector
    output (a list, descending). ``info`` goes to ``run.info``.

    Returns the :class:`~jessl_lite.runs.Run`: ``run.curve("loss")``, ``run.metric("std_ratio")``,
    ``run.metric("knn")``, ``run.summary["spectrum"]``.
    """
    check_instance(config, "config", FitConfig, "a FitConfig")
    for name, data in (("train", train), ("memory", memory), ("queries", queries)):
        check_instance(data, name, ImageData, "an ImageData")
    _check_views(views)
    check_int(knn_k, "knn_k", minimum=1)
    hooks = [
        collapse_monitor(queries.images, views),
        Every(knn_monitor(memory, queries, views.prepare, k=knn_k), every=0),  # every=0: at start and end
    ]
    run = fit(method, train, views, config, hooks=hooks, info=info)
    run.summary["spectrum"] = covariance_spectrum(projector_output(method, queries.images, views)).tolist()
    return run


def _check_embeddings(z) -> None:
    # An evaluation, not a training step: the data are read (a NaN would stop the eigensolver).
    check_tensor(z, "z", ndim=2, dims="(N, D)", floating=True)
    if z.shape[0] < 2 or z.shape[1] < 1:
        raise ValueError(f"z must have shape (N, D) with N >= 2, D >= 1; got shape {tuple(z.shape)}")
    check_finite_tensor(z, "z", hint=": check the encoder")


def _check_views(views) -> None:
    if not callable(getattr(views, "prepare", None)):
        raise TypeError(f"views must have a prepare(images) method (e.g. mnist_views()); got {type(views).__name__}")
