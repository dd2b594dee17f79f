"""Joint-embedding methods: one ``nn.Module`` each, with ``loss(view1, view2) -> (loss, logs)``.

The interface every method keeps, so that :func:`jessl_lite.train.fit` trains any of them:

* ``loss(view1, view2)`` (also ``forward``): a 0-dim loss and a dict of detached 0-dim tensors
  to log (never ``.item()``: the fit loop decides when to synchronise with the device);
* ``embed(x)``: the representation that is evaluated (the backbone's features);
* ``target_pairs()``: ``(online, target)`` module pairs that the fit loop moves by an
  exponential moving average after every optimizer step (BYOL); empty when there is no target;
* ``param_groups()``: optimizer parameter groups; a group with ``"fixed_lr": True`` keeps the
  base learning rate instead of following the schedule (SimSiam's predictor).

Chapter 3 introduces the methods side by side, chapter 4 studies SimSiam and BYOL.

Example::

    >>> from jessl_lite.nets import MLP
    >>> method = SimSiam(MLP(784, [256], 128), dim=64, pred_dim=16)
    >>> loss, logs = method(torch.randn(32, 1, 28, 28), torch.randn(32, 1, 28, 28))
    >>> sorted(logs)
    ['loss', 'std_of_normalized']
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses import negative_cosine_similarity
from .nets import predictor as make_predictor
from .nets import projector as make_projector

__all__ = ["JointEmbeddingMethod", "SimSiam", "METHODS", "make_method"]


class JointEmbeddingMethod(nn.Module):
    """The base class: a ``backbone`` and a two-view loss (see the module docstring)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be an nn.Module; got {type(backbone).__name__}")
        self.backbone = backbone

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # DistributedDataParallel synchronises gradients only through forward, so forward is the loss.
        return self.loss(view1, view2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, backbone.out_dim)`` of un-augmented inputs, for probes and kNN."""
        return self.backbone(x)

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]


class SimSiam(JointEmbeddingMethod):
    r"""SimSiam (Chen & He 2021): a symmetric negative cosine with a predictor and stop-gradient.

    .. math:: \mathcal{L} = \tfrac12 \mathcal{D}(p_1, \mathrm{sg}(z_2)) + \tfrac12 \mathcal{D}(p_2, \mathrm{sg}(z_1)),
       \quad z_i = g(f(x_i)),\ p_i = h(z_i)

    with :math:`\mathcal{D}` the negative cosine (:func:`~jessl_lite.losses.negative_cosine_similarity`),
    ``f`` the backbone, ``g`` the projector and ``h`` the predictor. The loss lies in [-1, 1].
    Without stop-gradient the embeddings collapse to a constant (chapter 4's experiment).

    Args:
        backbone: images ``(N, C, H, W)`` -> features ``(N, backbone.out_dim)``.
        projector: defaults to :func:`~jessl_lite.nets.projector` with ``proj_layers`` layers of ``dim``.
        predictor: defaults to :func:`~jessl_lite.nets.predictor` ``dim -> pred_dim -> dim``.
        dim: embedding width (2048 in the paper). pred_dim: predictor bottleneck (512).
        proj_layers: projector depth (3 on ImageNet, 2 on CIFAR in the paper).
        stop_gradient: detach the targets (turn off only to watch the collapse).
        fixed_predictor_lr: keep the predictor's learning rate constant, as the paper does.

    Logs: ``loss`` and ``std_of_normalized`` (mean per-dimension std of the L2-normalised
    projections: about ``1/sqrt(dim)`` when healthy, 0 when collapsed).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        predictor: nn.Module | None = None,
        *,
        dim: int = 2048,
        pred_dim: int = 512,
        proj_layers: int = 3,
        stop_gradient: bool = True,
        fixed_predictor_lr: bool = True,
    ) -> None:
        super().__init__(backbone)
        if projector is None:
            if not isinstance(getattr(backbone, "out_dim", None), int):
                raise ValueError("backbone must have an int attribute out_dim when projector is None")
            projector = make_projector(backbone.out_dim, dim, dim, proj_layers)
        self.projector = projector
        self.predictor = predictor if predictor is not None else make_predictor(dim, pred_dim)
        self.stop_gradient = stop_gradient
        self.fixed_predictor_lr = fixed_predictor_lr

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1 = self.projector(self.backbone(view1))
        z2 = self.projector(self.backbone(view2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        t1, t2 = (z1.detach(), z2.detach()) if self.stop_gradient else (z1, z2)
        loss = 0.5 * negative_cosine_similarity(p1, t2) + 0.5 * negative_cosine_similarity(p2, t1)
        with torch.no_grad():
            std = F.normalize(z1.float(), dim=1).std(dim=0).mean()
        return loss, {"loss": loss.detach(), "std_of_normalized": std}

    def param_groups(self) -> list[dict]:
        head = list(self.predictor.parameters())
        head_ids = {id(p) for p in head}
        rest = [p for p in self.parameters() if id(p) not in head_ids and p.requires_grad]
        return [{"params": rest}, {"params": head, "fixed_lr": self.fixed_predictor_lr}]


METHODS: dict[str, type[JointEmbeddingMethod]] = {"simsiam": SimSiam}


def make_method(name: str, backbone: nn.Module, **kwargs) -> JointEmbeddingMethod:
    """A method by name (``"simsiam"``; chapter 3 adds the others), for the command line."""
    if name not in METHODS:
        raise ValueError(f"name must be one of {sorted(METHODS)}; got {name!r}")
    return METHODS[name](backbone, **kwargs)
