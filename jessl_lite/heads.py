r"""Projection and prediction heads: one class per paper, each an :class:`~jessl_lite.nets.MLP`.

A joint-embedding method puts a small MLP, the **projector** :math:`g`, on top of the backbone
:math:`f` and lets the loss compare :math:`z = g(f(x))`; BYOL and SimSiam add a **predictor**
:math:`h` on the online branch only (chapters 3 and 4). Every head below is built from
``MLP``'s block ``Linear -> BatchNorm -> ReLU`` and ends with a ``Linear``; the defaults are
the papers' ImageNet widths on a ResNet-50 (2048 features):

======================================  ===============================================  =========================
head                                    layout (paper defaults)                          paper
======================================  ===============================================  =========================
:class:`SimCLRProjectionHead`           2048 -> 2048 (BN, ReLU) -> 128                   Chen et al. 2020
:class:`SwAVProjectionHead`             2048 -> 2048 (BN, ReLU) -> 128                   Caron et al. 2020
:class:`SwAVPrototypes`                 128 -> 3000, no bias, unit rows                  Caron et al. 2020
:class:`BYOLProjectionHead`             2048 -> 4096 (BN, ReLU) -> 256                   Grill et al. 2020
:class:`BYOLPredictionHead`             256 -> 4096 (BN, ReLU) -> 256                    Grill et al. 2020
:class:`SimSiamProjectionHead`          2048 -> 2048 -> 2048 -> 2048, BN on every layer  Chen & He 2021
:class:`SimSiamPredictionHead`          2048 -> 512 (BN, ReLU) -> 2048                   Chen & He 2021
:class:`BarlowTwinsProjectionHead`      2048 -> 8192 -> 8192 -> 8192                     Zbontar et al. 2021
:class:`VICRegProjectionHead`           2048 -> 8192 -> 8192 -> 8192                     Bardes et al. 2022
======================================  ===============================================  =========================

Every head maps ``(N, in_dim)`` to ``(N, out_dim)`` and keeps ``MLP``'s attributes ``in_dim``
and ``out_dim`` and its parameter names, so checkpoints of a method do not depend on which
class built its head. The methods of :mod:`jessl_lite.methods` build their heads from here.

Example::

    >>> head = SimSiamProjectionHead(512, 2048, 2048, num_layers=2)   # SimSiam's CIFAR-10 setting
    >>> head(torch.randn(8, 512)).shape
    torch.Size([8, 2048])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .nets import MLP
from .validation import check_int, check_sizes

__all__ = [
    "SimCLRProjectionHead",
    "SwAVProjectionHead",
    "SwAVPrototypes",
    "BYOLProjectionHead",
    "BYOLPredictionHead",
    "SimSiamProjectionHead",
    "SimSiamPredictionHead",
    "BarlowTwinsProjectionHead",
    "VICRegProjectionHead",
]


class SimCLRProjectionHead(MLP):
    r"""SimCLR's projection head :math:`g` (Chen et al. 2020, Section 2.1).

    ``num_layers - 1`` blocks ``Linear -> BatchNorm -> ReLU`` of width ``hidden_dim``, then a
    ``Linear`` to ``out_dim``: :math:`g(h) = W^{(2)} \sigma(\mathrm{BN}(W^{(1)} h))` for the
    paper's two layers, 2048 -> 2048 -> 128 on a ResNet-50 (the formula has no BatchNorm; the
    official code has one on the hidden layer). The loss sees :math:`z = g(h)`; the
    representation kept for downstream tasks is :math:`h`, before the head.

    Args:
        in_dim: backbone features (2048). hidden_dim: (2048). out_dim: embedding width (128).
        num_layers: linear layers (2).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = SimCLRProjectionHead(512, 2048, 128)
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 128])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 2) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        super().__init__(in_dim, [hidden_dim] * (num_layers - 1), out_dim)


class SwAVProjectionHead(MLP):
    r"""SwAV's projection head (Caron et al. 2020, and its official code): the embeddings that are
    L2-normalised and scored against the :class:`SwAVPrototypes`.

    ``num_layers - 1`` blocks ``Linear -> BatchNorm -> ReLU``, then a ``Linear``; the paper's
    2048 -> 2048 -> 128 on a ResNet-50. The L2 normalisation is the method's, not the head's.

    Args:
        in_dim: backbone features (2048). hidden_dim: (2048). out_dim: embedding width (128).
        num_layers: linear layers (2).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = SwAVProjectionHead(512, 2048, 128)
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 128])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 2) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        super().__init__(in_dim, [hidden_dim] * (num_layers - 1), out_dim)


class SwAVPrototypes(nn.Linear):
    r"""SwAV's ``K`` prototypes :math:`C = (c_1, \dots, c_K)` (Caron et al. 2020, Section 3.1).

    A ``Linear(in_dim, num_prototypes, bias=False)`` whose weight rows are the prototypes: for
    L2-normalised embeddings ``z`` it returns the scores :math:`s = z C^\top`, cosines once the
    prototypes have unit rows. SwAV re-normalises them at every step; call :meth:`normalize_`
    before the step's forward passes (not inside them: the weight is then already part of the
    autograd graph). The paper uses 3000 prototypes of width 128 on ImageNet.

    Args:
        in_dim: embedding width (128). num_prototypes: ``K`` (3000).

    Shapes: ``(N, in_dim) -> (N, num_prototypes)``; ``weight``: ``(num_prototypes, in_dim)``.

    Example::

        >>> prototypes = SwAVPrototypes(128, 3000)
        >>> prototypes.normalize_()
        >>> prototypes(torch.nn.functional.normalize(torch.randn(4, 128), dim=1)).shape
        torch.Size([4, 3000])
    """

    def __init__(self, in_dim: int = 128, num_prototypes: int = 3000) -> None:
        check_int(in_dim, "in_dim", minimum=1)
        check_int(num_prototypes, "num_prototypes", minimum=1)
        super().__init__(in_dim, num_prototypes, bias=False)
        self.in_dim, self.num_prototypes = in_dim, num_prototypes

    @torch.no_grad()
    def normalize_(self) -> None:
        """Project every prototype back onto the unit sphere, in place."""
        self.weight.copy_(F.normalize(self.weight, dim=1))


class BYOLProjectionHead(MLP):
    r"""BYOL's projector :math:`g_\theta` (Grill et al. 2020, Section 3.3), online and target alike.

    ``num_layers - 1`` blocks ``Linear -> BatchNorm -> ReLU``, then a ``Linear``; the paper's
    2048 -> 4096 -> 256 on a ResNet-50 (its MLP has no BatchNorm at the output).

    Args:
        in_dim: backbone features (2048). hidden_dim: (4096). out_dim: projection width (256).
        num_layers: linear layers (2).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = BYOLProjectionHead(512, 4096, 256)
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 256])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 2) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        super().__init__(in_dim, [hidden_dim] * (num_layers - 1), out_dim)


class BYOLPredictionHead(MLP):
    r"""BYOL's predictor :math:`q_\theta` (Grill et al. 2020, Section 3.3), on the online branch only.

    ``Linear -> BatchNorm -> ReLU -> Linear``, the same architecture as the projector: the
    paper's 256 -> 4096 -> 256.

    Args:
        in_dim: projection width (256). hidden_dim: (4096). out_dim: (256; must equal the
            projection width, since the prediction is compared with the target's projection).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = BYOLPredictionHead(256, 4096, 256)
        >>> head(torch.randn(4, 256)).shape
        torch.Size([4, 256])
    """

    def __init__(self, in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim)
        super().__init__(in_dim, [hidden_dim], out_dim)


class SimSiamProjectionHead(MLP):
    r"""SimSiam's projection MLP :math:`g` (Chen & He 2021, "Baseline settings", and its official code).

    ``num_layers - 1`` blocks ``Linear -> BatchNorm -> ReLU``, then ``Linear -> BatchNorm``:
    BatchNorm on every layer, the output's without affine parameters and without ReLU. The linear
    layers have no bias (each is followed by a BatchNorm, which removes it; the official code
    freezes the last bias instead). The paper: 3 layers of 2048 on ImageNet, 2 on CIFAR-10.

    Args:
        in_dim: backbone features (2048). hidden_dim: (2048). out_dim: embedding width (2048).
        num_layers: linear layers (3).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = SimSiamProjectionHead(512, 2048, 2048, num_layers=2)
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 2048])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 2048, out_dim: int = 2048, num_layers: int = 3) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        super().__init__(in_dim, [hidden_dim] * (num_layers - 1), out_dim, last_batchnorm="no_affine", bias=False)


class SimSiamPredictionHead(MLP):
    r"""SimSiam's prediction MLP :math:`h` (Chen & He 2021, "Baseline settings"): a bottleneck.

    ``Linear -> BatchNorm -> ReLU -> Linear``, BatchNorm on the hidden layer only: the paper's
    2048 -> 512 -> 2048. (The official code drops the first bias, redundant before the
    BatchNorm; it is kept here.) The paper trains it with a fixed learning rate.

    Args:
        in_dim: embedding width (2048). hidden_dim: bottleneck (512). out_dim: (2048, the
            embedding width).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = SimSiamPredictionHead(2048, 512, 2048)
        >>> head(torch.randn(4, 2048)).shape
        torch.Size([4, 2048])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 512, out_dim: int = 2048) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim)
        super().__init__(in_dim, [hidden_dim], out_dim)


class BarlowTwinsProjectionHead(MLP):
    r"""Barlow Twins' projector (Zbontar et al. 2021, Section 2, "Implementation details").

    ``num_layers - 1`` blocks ``Linear -> BatchNorm -> ReLU``, then a ``Linear``: the paper's
    three layers of 8192 on a ResNet-50 (its loss improves with the projector's width). (The
    official code has no biases; they are kept here.)

    Args:
        in_dim: backbone features (2048). hidden_dim: (8192). out_dim: embedding width (8192).
        num_layers: linear layers (3).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = BarlowTwinsProjectionHead(512, 2048, 2048)
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 2048])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 8192, out_dim: int = 8192, num_layers: int = 3) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        super().__init__(in_dim, [hidden_dim] * (num_layers - 1), out_dim)


class VICRegProjectionHead(MLP):
    r"""VICReg's expander (Bardes et al. 2022, "Implementation details"): the embeddings its terms see.

    ``num_layers - 1`` blocks ``Linear -> BatchNorm -> ReLU``, then a ``Linear``: the paper's
    three layers of 8192 on a ResNet-50.

    Args:
        in_dim: backbone features (2048). hidden_dim: (8192). out_dim: embedding width (8192).
        num_layers: linear layers (3).

    Shapes: ``(N, in_dim) -> (N, out_dim)``.

    Example::

        >>> head = VICRegProjectionHead(512, 2048, 2048)
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 2048])
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 8192, out_dim: int = 8192, num_layers: int = 3) -> None:
        check_sizes(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        super().__init__(in_dim, [hidden_dim] * (num_layers - 1), out_dim)

