"""Backbones: MLP, a small ConvNet and the CIFAR ResNet-18.

Every backbone maps images ``(N, C, H, W)`` to features ``(N, out_dim)`` and says its width in
``out_dim``. The projectors and predictors that map features to the embeddings a loss compares
are in :mod:`jessl_lite.heads`, one class per paper, each built from :class:`MLP` (chapters 3
and 4).

Example::

    >>> backbone = resnet18_cifar()
    >>> backbone(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 512])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .validation import check_bool, check_choice, check_int, check_int_sequence, check_sizes, check_tensor

__all__ = ["MLP", "ConvNet", "resnet18_cifar", "make_backbone", "BACKBONES"]


class MLP(nn.Module):
    """``Linear -> [BatchNorm] -> ReLU`` for each hidden width, then a final ``Linear`` (+ optional BN).

    Images are flattened first, so an MLP is also a backbone (``MLP(784, [512], 128)`` on MNIST).

    Args:
        in_dim: input width (``C*H*W`` for images).
        hidden_dims: widths of the hidden layers (may be empty: a linear map).
        out_dim: output width, stored as ``self.out_dim``.
        batchnorm: BatchNorm after each hidden linear layer.
        last_batchnorm: BatchNorm on the output too (SimSiam's projector); ``True``/``False``, or
            ``"no_affine"`` for a BatchNorm without scale and shift.
        bias: bias in the linear layers that are followed by BatchNorm is redundant; kept by default.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        *,
        batchnorm: bool = True,
        last_batchnorm: bool | str = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_int(in_dim, "in_dim", minimum=1)
        hidden_dims = check_int_sequence(hidden_dims, "hidden_dims", minimum=1)
        check_int(out_dim, "out_dim", minimum=1)
        check_bool(batchnorm, "batchnorm")
        check_bool(bias, "bias")
        # Compared by identity: 1 == True, and a 1 here is a mistake, not a choice.
        if not (last_batchnorm is True or last_batchnorm is False or last_batchnorm == "no_affine"):
            raise ValueError(f"last_batchnorm must be True, False or 'no_affine'; got {last_batchnorm!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for hidden in hidden_dims:
            layers.append(nn.Linear(width, hidden, bias=bias))
            if batchnorm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU(inplace=True))
            width = hidden
        layers.append(nn.Linear(width, out_dim, bias=bias))
        if last_batchnorm:
            layers.append(nn.BatchNorm1d(out_dim, affine=last_batchnorm is True))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Metadata only (every training step): a batch of floats; Flatten then checks the width.
        check_tensor(x, "x", min_ndim=2, dims=f"(N, {self.in_dim}) or images (N, C, H, W)", floating=True)
        return self.net(x)


class ConvNet(nn.Module):
    """A small ConvNet: ``depth`` blocks of ``3x3 conv -> BatchNorm -> ReLU``, each halving the
    resolution (stride 2) and doubling the channels from ``width``; global average pool.

    Args:
        in_channels: 1 for MNIST, 3 for CIFAR-10.
        width: channels of the first block; the last has ``width * 2**(depth-1)`` = ``out_dim``.
        depth: number of blocks.
    """

    def __init__(self, in_channels: int = 1, width: int = 32, depth: int = 3) -> None:
        super().__init__()
        check_sizes(in_channels=in_channels, width=width, depth=depth)
        layers: list[nn.Module] = []
        channels = in_channels
        for block in range(depth):
            out = width * 2**block
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.out_dim = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Metadata only: conv2d would take a 3-D tensor as one unbatched image.
        check_tensor(x, "x", ndim=4, dims="(N, C, H, W)", floating=True)
        return self.net(x)


def resnet18_cifar(in_channels: int = 3) -> nn.Module:
    """ResNet-18 (He et al. 2016) with the CIFAR stem: a 3x3 stride-1 first convolution and no
    max-pool, so 32x32 inputs keep their resolution into the first stage (as in SimCLR's and
    SimSiam's CIFAR experiments). The classifier is removed: output ``(N, 512)``, ``out_dim = 512``.
    """
    from torchvision.models import resnet18

    check_int(in_channels, "in_channels", minimum=1)
    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.out_dim = 512
    return net


def _mlp_backbone(in_channels: int, image_size: int) -> MLP:
    return MLP(in_channels * image_size * image_size, [512, 512], 512, last_batchnorm=False)


BACKBONES = {
    "mlp": _mlp_backbone,
    "convnet": lambda in_channels, image_size: ConvNet(in_channels),
    "resnet18": lambda in_channels, image_size: resnet18_cifar(in_channels),
}


def make_backbone(name: str, in_channels: int, image_size: int) -> nn.Module:
    """A backbone by name (``"mlp"``, ``"convnet"``, ``"resnet18"``), for the command line."""
    check_choice(name, "name", sorted(BACKBONES))
    check_int(in_channels, "in_channels", minimum=1)
    check_int(image_size, "image_size", minimum=1)
    return BACKBONES[name](in_channels, image_size)
